// On-demand sync (`syncMode: 'on-demand'`): the collection is ready once the
// tab has joined the leader, and holds only what its live queries asked for. Each `loadSubset` is
// compiled to SQL (`subset.ts`) and run by the leader; the tab delivers its
// rows at the point of the commit stream they were read at, so they are
// never older than a commit this collection already saw. Every commit of
// the collection reaches this tab; it keeps the changes of rows it holds,
// of its own writes, and of rows a loaded subset may match (`predicate.ts`),
// so loaded queries stay live, including rows that stop matching.
import type { LoadSubsetOptions, SyncConfig } from '@tanstack/db';
import type { StreamUpdate } from '../wasm/lockstep.js';
import type { LockstepDatabase } from './database.js';
import { toLockstepError } from './errors.js';
import { mayMatch } from './predicate.js';
import { follow } from './stream.js';
import { compileSubset, hasView, type CompileOptions } from './subset.js';

type Row = Record<string, unknown>;
type Key = string | number;

/** The sync of an on-demand collection, and the keys its own writes touch. */
export function onDemandSync(db: LockstepDatabase, id: string, compile: CompileOptions = {}): { sync: SyncConfig<Row, Key>; own: (keys: Iterable<Key>) => void } {
  if (!hasView(id)) {
    throw toLockstepError({ code: 'invalid', message: `on-demand loading needs a collection name SQLite does not reserve (not __lockstep_…, ls_… or sqlite_…); use syncMode 'eager'` }, id);
  }
  /** Keys whose synced rows the collection holds (or will, once its commit arrives). */
  const held = new Set<Key>();
  /** The filters of the subsets loading or loaded, by their options. */
  const active = new Map<LoadSubsetOptions, unknown>();
  /** Subset ids by their options, for unloading. */
  const loaded = new Map<LoadSubsetOptions, string>();
  /** Receipts of sync commits not yet visible. */
  const receipts = new Set<Promise<void>>();
  const sync: SyncConfig<Row, Key> = {
    rowUpdateMode: 'full',
    sync: ({ collection, begin, write, commit, markReady, markError }) => {
      const finish = (): void => {
        const receipt = commit();
        if (receipt !== true) {
          receipts.add(receipt);
          void receipt.then(
            () => receipts.delete(receipt),
            () => receipts.delete(receipt),
          );
        }
      };
      const keep = (key: Key, value: Row | null): boolean => {
        if (held.has(key)) return true;
        if (value === null) return false;
        for (const where of active.values()) if (mayMatch(where, value)) return true;
        return false;
      };
      const apply = (update: StreamUpdate): void => {
        switch (update.type) {
          case 'rows':
            begin();
            for (const value of update.values) {
              // Pages carry values only: a row's key is what `getKey` reads from it.
              held.add(collection.getKeyFromItem(value));
              write({ type: 'update', value });
            }
            finish();
            break;
          case 'commit': {
            const kept = update.changes.filter((change) => keep(change.key, change.value));
            if (kept.length === 0) break;
            begin();
            for (const change of kept) {
              if (change.value === null) {
                held.delete(change.key);
                write({ type: 'delete', key: change.key });
              } else {
                held.add(change.key);
                write({ type: 'update', value: change.value });
              }
            }
            finish();
            break;
          }
          case 'retain': {
            const keys = new Set<Key>(update.keys);
            const gone = [...held].filter((key) => !keys.has(key));
            if (gone.length === 0) break;
            begin();
            for (const key of gone) {
              held.delete(key);
              write({ type: 'delete', key });
            }
            finish();
            break;
          }
          case 'ready':
            markReady();
            break;
        }
      };
      const cleanup = follow(db, id, 'on-demand', apply, markError);
      const loadSubset = async (options: LoadSubsetOptions): Promise<void> => {
        // Registered first: commits after the read must reach the collection.
        active.set(options, options.where);
        try {
          const result = await db.raw.loadSubset(id, compileSubset(id, options, compile));
          loaded.set(options, result.id);
        } catch (error) {
          active.delete(options);
          throw toLockstepError(error, id);
        }
        await Promise.all([...receipts]);
      };
      const unloadSubset = (options: LoadSubsetOptions): void => {
        active.delete(options);
        const subset = loaded.get(options);
        loaded.delete(options);
        if (subset !== undefined && !db.closed) db.raw.unloadSubset(subset);
      };
      return { cleanup, loadSubset, unloadSubset };
    },
  };
  return {
    sync,
    own: (keys) => {
      for (const key of keys) held.add(key);
    },
  };
}
