// Lockstep through TanStack DB: createCollection(lockstepCollectionOptions(…)),
// written and read with TanStack's own API, as apps do.
import { createCollection } from '@tanstack/db';
import { lockstepCollectionOptions, openDatabase, wasmMemoryBytes } from '@lockstep/db';
import type { Row } from '../row';
import type { Lib } from './lib';

export async function lockstepTanstack(app: string, scope: string): Promise<Lib> {
  const db = await openDatabase({ app, scope });
  const items = createCollection(lockstepCollectionOptions({ db, id: 'items', getKey: (r: Row) => r.id, gcTime: 0 }));
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
  };
}
