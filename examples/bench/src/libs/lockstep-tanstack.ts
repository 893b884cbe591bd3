// Lockstep through TanStack DB: createCollection(lockstepCollectionOptions(…)),
// written and read with TanStack's own API, as apps do; eager, or on demand
// (?sync=on-demand: only what live queries ask for).
import { createCollection, createLiveQueryCollection, eq } from '@tanstack/db';
import { lockstepCollectionOptions, openDatabase, wasmMemoryBytes } from '@lockstep/db';
import type { Row } from '../row';
import type { Lib } from './lib';

export async function lockstepTanstack(app: string, scope: string, syncMode: 'eager' | 'on-demand' = 'eager'): Promise<Lib> {
  const db = await openDatabase({ app, scope });
  const items = createCollection(lockstepCollectionOptions({ db, id: 'items', getKey: (r: Row) => r.id, gcTime: 0, syncMode }));
  addEventListener('pagehide', () => void db.close());
  return {
    ready: () => items.preload(),
    count: () => items.size,
    watch(seen) {
      items.subscribeChanges((changes) => {
        for (const change of changes) if (change.type === 'insert') seen(String(change.key));
      });
    },
    insert: async (row) => void (await items.insert(row).isPersisted.promise),
    insertMany: async (rows) => void (await items.insert(rows).isPersisted.promise),
    isLeader: () => db.status.isLeader,
    wasmBytes: () => wasmMemoryBytes(),
    async top(limit) {
      const open = createLiveQueryCollection((q) =>
        q.from({ i: items }).where(({ i }) => eq(i.done, false)).orderBy(({ i }) => i.n, 'desc').limit(limit),
      );
      await open.preload();
      return open.toArray.map((r) => r.id);
    },
  };
}
