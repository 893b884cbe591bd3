// Eager sync (the default): TanStack DB's collection is fed from the
// committed stream only: pages of the first load, then every commit (full
// rows), then, after a reload, the keys to keep. TanStack DB owns the rows
// and the optimistic state; the tab's wasm keeps no copy.
import type { SyncConfig } from '@tanstack/db';
import type { StreamUpdate } from '../wasm/lockstep.js';
import type { LockstepDatabase } from './database.js';
import { toLockstepError } from './errors.js';

type Row = Record<string, unknown>;
type Key = string | number;

/**
 * Follows collection `id` in `mode`, handing every update to `apply` (an
 * exception it throws goes to `markError`); returns the cleanup.
 */
export function follow(
  db: LockstepDatabase,
  id: string,
  mode: 'stream' | 'on-demand',
  apply: (update: StreamUpdate) => void,
  markError: (error: unknown) => void,
): () => void {
  const sink = (update: StreamUpdate): void => {
    try {
      apply(update);
    } catch (error) {
      markError(toLockstepError(error, id));
    }
  };
  try {
    if (mode === 'stream') db.raw.streamCollection(id, sink);
    else db.raw.streamCollectionOnDemand(id, sink);
    db.markOpen(id, mode);
  } catch (error) {
    throw toLockstepError(error, id);
  }
  return () => {
    db.markOpen(id, null);
    if (!db.closed) db.raw.closeCollection(id);
  };
}

/** The sync of an eager collection: every row, then every commit. */
export function eagerSync(db: LockstepDatabase, id: string): SyncConfig<Row, Key> {
  return {
    rowUpdateMode: 'full',
    sync: ({ collection, begin, write, commit, markReady, markError }) => {
      const apply = (update: StreamUpdate): void => {
        switch (update.type) {
          case 'rows':
            begin();
            for (const value of update.values) write({ type: 'update', value });
            commit();
            break;
          case 'commit':
            begin();
            for (const change of update.changes) {
              if (change.value === null) write({ type: 'delete', key: change.key });
              else write({ type: 'update', value: change.value });
            }
            commit();
            break;
          case 'retain': {
            const keep = new Set(update.keys);
            const gone = [...collection.keys()].filter((key) => !keep.has(key));
            begin();
            for (const key of gone) write({ type: 'delete', key });
            commit();
            break;
          }
          case 'ready':
            markReady();
            break;
        }
      };
      return follow(db, id, 'stream', apply, markError);
    },
  };
}
