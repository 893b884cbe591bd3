// TanStack DB's own cost, with no persistence at all: the floor any adapter
// that feeds TanStack pays. `syncApply(n)`: begin, n × write, commit (the
// eager hydration of n rows). `optimisticApply(n)`: one insert of n rows
// whose handler never settles (the optimistic apply alone).
import { createCollection } from '@tanstack/db';
import { row, type Row } from './row';

export async function syncApply(n: number): Promise<number> {
  let feed: ((rows: Row[]) => void) | undefined;
  const items = createCollection<Row, string>({
    id: `floor-sync-${Math.random()}`,
    getKey: (r) => r.id,
    sync: {
      rowUpdateMode: 'full',
      sync: ({ begin, write, commit, markReady }) => {
        feed = (rows) => {
          begin();
          for (const value of rows) write({ type: 'update', value });
          commit();
          markReady();
        };
      },
    },
  });
  const ready = items.preload();
  const rows = Array.from({ length: n }, (_, i) => row('f', i));
  const t0 = performance.now();
  feed?.(rows);
  await ready;
  const ms = performance.now() - t0;
  if (items.size !== n) throw new Error(`floor: ${items.size} rows instead of ${n}`);
  await items.cleanup();
  return ms;
}

export async function optimisticApply(n: number): Promise<number> {
  const items = createCollection<Row, string>({
    id: `floor-optimistic-${Math.random()}`,
    getKey: (r) => r.id,
    sync: { sync: ({ markReady }) => markReady() },
    onInsert: () => new Promise(() => {}),
  });
  await items.preload();
  const rows = Array.from({ length: n }, (_, i) => row('o', i));
  const t0 = performance.now();
  items.insert(rows);
  const ms = performance.now() - t0;
  if (items.size !== n) throw new Error(`floor: ${items.size} rows instead of ${n}`);
  return ms;
}
