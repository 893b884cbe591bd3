// On-demand sync (`syncMode: 'on-demand'`): the collection is ready once the
// tab has joined the leader, and holds only what its live queries asked for. Each `loadSubset` is
// compiled to SQL (`subset.ts`) and run by the leader; the tab delivers its
// rows at the point of the commit stream they were read at, so they are
// never older than a commit this collection already saw. Every commit of
// the collection reaches this tab; it keeps the changes of rows it holds,
// of its own writes, and of rows a loaded subset may match (`predicate.ts`),
// so loaded queries stay live, including rows that stop matching. A request
// for rows an ordered load already served (TanStack's load of the rows tied
// with a boundary) is answered at once (`prefix.ts`); the leader reads it
// too, in the background, so a reload reads it again like any subset.
import type { LoadSubsetOptions, SyncConfig } from '@tanstack/db';
import type { StreamUpdate } from '../wasm/lockstep.js';
import type { LockstepDatabase } from './database.js';
import { toLockstepError } from './errors.js';
import { mayMatch } from './predicate.js';
import { coveredBy, servedPrefix, type ServedPrefix } from './prefix.js';
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
  /** The prefixes ordered loads served, while they stay loaded. */
  const prefixes = new Map<LoadSubsetOptions, ServedPrefix>();
  /** Ordered loads in flight, and the rows delivered meanwhile, by subset id. */
  let ordered = 0;
  const answers = new Map<string, Row[]>();
  /** Reloads finished (a load that spans one serves no prefix here). */
  let reloads = 0;
  const sync: SyncConfig<Row, Key> = {
    rowUpdateMode: 'full',
    sync: ({ collection, begin, write, commit, markReady, markError, invalidateLoadedSubsets }) => {
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
      /** `true` once every sync commit made so far is visible, else a promise of it. */
      const visible = (): true | Promise<void> => (receipts.size === 0 ? true : Promise.all([...receipts]).then(() => undefined));
      const keep = (key: Key, value: Row | null): boolean => {
        if (held.has(key)) return true;
        if (value === null) return false;
        for (const where of active.values()) if (mayMatch(where, value)) return true;
        return false;
      };
      const apply = (update: StreamUpdate): void => {
        switch (update.type) {
          case 'rows':
            if (ordered > 0 && update.subset !== undefined) {
              const rows = answers.get(update.subset) ?? [];
              for (const value of update.values) rows.push(value);
              answers.set(update.subset, rows);
            }
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
            // Every subset was read again: what a prefix served before may be gone.
            prefixes.clear();
            reloads += 1;
            const keys = new Set<Key>(update.keys);
            const gone = [...held].filter((key) => !keys.has(key));
            if (gone.length > 0) {
              begin();
              for (const key of gone) {
                held.delete(key);
                write({ type: 'delete', key });
              }
              finish();
            }
            // Each subset was read again on its own, page by page, so a row
            // may now sort between two pages TanStack holds: TanStack asks an
            // adapter that refetches by itself to say so once the rows apply,
            // and each ordered window then repairs itself from its start.
            void Promise.allSettled([...receipts]).then(() => invalidateLoadedSubsets());
            break;
          }
          case 'ready':
            markReady();
            break;
        }
      };
      const cleanup = follow(db, id, 'on-demand', apply, markError);
      /**
       * Has the leader read `options` (a subset it then reads again after
       * every reload). In the `background`, a failure leaves the filter
       * active: the collection holds the rows already.
       */
      const load = async (options: LoadSubsetOptions, background = false): Promise<void> => {
        const counted = options.orderBy?.length ? 1 : 0;
        const before = reloads;
        ordered += counted;
        try {
          const result = await db.raw.loadSubset(id, compileSubset(id, options, compile));
          if (!active.has(options)) {
            // Unloaded while it was read.
            if (!db.closed) db.raw.unloadSubset(result.id);
            return;
          }
          loaded.set(options, result.id);
          const rows = answers.get(result.id) ?? [];
          answers.delete(result.id);
          const prefix = counted && reloads === before ? servedPrefix(options, rows) : null;
          if (prefix) prefixes.set(options, prefix);
        } catch (error) {
          if (!background) active.delete(options);
          throw toLockstepError(error, id);
        } finally {
          ordered -= counted;
          if (ordered === 0) answers.clear();
        }
        await visible();
      };
      const loadSubset = (options: LoadSubsetOptions): true | Promise<void> => {
        // Registered first: commits after the read must reach the collection.
        active.set(options, options.where);
        for (const prefix of prefixes.values()) {
          if (!coveredBy(options, prefix)) continue;
          // The rows are here already; the leader's answer only registers the subset.
          load(options, true).catch((error: unknown) => {
            if (db.closed) return;
            console.warn(`Lockstep: collection '${id}' could not register a loaded subset with the leader; its rows stay, but a reload will not read them again:`, error);
          });
          return visible();
        }
        return load(options);
      };
      const unloadSubset = (options: LoadSubsetOptions): void => {
        active.delete(options);
        prefixes.delete(options);
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
