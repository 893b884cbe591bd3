// Lockstep's raw path: the collection's rows live in the tab's wasm
// (`db.collection`), as for Rust and Leptos frontends.
import { openDatabase, wasmMemoryBytes } from '@lockstep/db';
import type { Row } from '../row';
import type { Lib } from './lib';

export async function lockstepRaw(app: string, scope: string): Promise<Lib> {
  const db = await openDatabase({ app, scope });
  const items = db.collection<Row>('items');
  addEventListener('pagehide', () => void db.close());
  return {
    ready: () => items.ready(),
    count: () => items.size,
    watch(seen) {
      items.subscribe((changes) => {
        for (const change of changes) if (change.after && !change.before) seen(String(change.key));
      });
    },
    insert: async (row) => void (await items.insert(row.id, row)),
    insertMany: async (rows) => void (await items.insertMany(rows.map((value) => ({ key: value.id, value })))),
    isLeader: () => db.status.isLeader,
    wasmBytes: () => wasmMemoryBytes(),
  };
}
