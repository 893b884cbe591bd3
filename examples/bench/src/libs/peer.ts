// The peer: TanStack DB's own browser persistence (wa-sqlite on OPFS in a
// worker) with its multi-tab coordinator, used through the same TanStack API.
import { createCollection } from '@tanstack/db';
import {
  BrowserCollectionCoordinator,
  createBrowserWASQLitePersistence,
  openBrowserWASQLiteOPFSDatabase,
  persistedCollectionOptions,
} from '@tanstack/browser-db-sqlite-persistence';
import type { Row } from '../row';
import type { Lib } from './lib';

export async function peer(app: string, scope: string): Promise<Lib> {
  const name = `${app}-${scope}`;
  const database = await openBrowserWASQLiteOPFSDatabase({ databaseName: `${name}.sqlite` });
  const coordinator = new BrowserCollectionCoordinator({ dbName: name });
  const persistence = createBrowserWASQLitePersistence({ database, coordinator });
  const items = createCollection(
    persistedCollectionOptions({ id: 'items', getKey: (r: Row) => r.id, persistence, schemaVersion: 1 }),
  );
  addEventListener('pagehide', () => coordinator.dispose());
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
    isLeader: () => {
      const state = (items.utils as { getLeadershipState?: () => { isLeader?: boolean } }).getLeadershipState?.();
      return state?.isLeader ?? null;
    },
    wasmBytes: () => 0,
  };
}
