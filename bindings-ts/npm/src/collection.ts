// lockstepCollectionOptions: a TanStack DB collection whose rows live in a
// Lockstep database, in lockstep across every tab.
//
// Sync is fed from the committed stream only: pages of the first load, then
// every commit (full rows), then, after a reload, the keys to keep. TanStack
// DB owns the rows and the optimistic state; the tab's wasm keeps no copy.
// Writes go as one envelope per TanStack transaction, and a handler resolves
// only once the leader committed it AND the commit's rows were handed to
// TanStack's `commit()`, so a row never vanishes between its optimistic and
// its synced state.
import type {
  BaseCollectionConfig,
  CollectionConfig,
  InferSchemaOutput,
  PendingMutation,
  SyncConfig,
  UtilsRecord,
} from '@tanstack/db';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { KeyedRow, Position, StreamUpdate } from '../wasm/lockstep.js';
import type { LockstepDatabase } from './database.js';
import { toLockstepError } from './errors.js';

type Row = Record<string, unknown>;

/** What a Lockstep collection adds to `collection.utils`. */
export interface LockstepCollectionUtils extends UtilsRecord {
  /** The database the collection lives in. */
  readonly database: LockstepDatabase;
  /** Every row of the collection in the live database, read through the leader. */
  readonly inspectRows: () => Promise<KeyedRow[]>;
}

/** The options of {@link lockstepCollectionOptions}. */
export interface LockstepCollectionConfig<
  T extends object = Row,
  TKey extends string | number = string | number,
  TSchema extends StandardSchemaV1 = never,
> extends Omit<
    BaseCollectionConfig<T, TKey, TSchema, LockstepCollectionUtils>,
    'onInsert' | 'onUpdate' | 'onDelete' | 'utils' | 'id' | 'syncMode'
  > {
  /** The database, from `openDatabase`. */
  db: LockstepDatabase;
  /** The collection's name in the database (and its SQL view's). */
  id: string;
}

/** What {@link lockstepCollectionOptions} returns, for `createCollection`. */
export type LockstepCollectionOptions<
  T extends object,
  TKey extends string | number,
  TSchema extends StandardSchemaV1,
> = CollectionConfig<T, TKey, TSchema, LockstepCollectionUtils> & {
  id: string;
  utils: LockstepCollectionUtils;
};

/**
 * Options for `createCollection` of `@tanstack/db` that keep the collection
 * in a Lockstep database: persisted in SQLite, the same in every tab.
 *
 * ```ts
 * const todos = createCollection(lockstepCollectionOptions({ db, id: 'todos', getKey: (t: Todo) => t.id }))
 * ```
 *
 * `getKey(row)` must return the row's key in the database (rows written by
 * other code into the collection's table must agree). Rows are JSON: a
 * `Date` comes back as a string. With a Standard Schema `schema`, TanStack
 * DB validates every insert and update and the item type is inferred.
 */
export function lockstepCollectionOptions<
  TSchema extends StandardSchemaV1,
  TKey extends string | number = string | number,
>(
  config: LockstepCollectionConfig<InferSchemaOutput<TSchema>, TKey, TSchema> & { schema: TSchema },
): LockstepCollectionOptions<InferSchemaOutput<TSchema>, TKey, TSchema> & { schema: TSchema };
export function lockstepCollectionOptions<T extends object, TKey extends string | number = string | number>(
  config: LockstepCollectionConfig<T, TKey> & { schema?: never },
): LockstepCollectionOptions<T, TKey, never> & { schema?: never };
export function lockstepCollectionOptions(
  config: LockstepCollectionConfig<Row, string | number, StandardSchemaV1>,
): LockstepCollectionOptions<Row, string | number, StandardSchemaV1> {
  const { db, id, ...rest } = config;
  const sync: SyncConfig<Row, string | number> = {
    rowUpdateMode: 'full',
    sync: ({ collection, begin, write, commit, markReady, markError }) => {
      const apply = (update: StreamUpdate): void => {
        switch (update.type) {
          case 'rows':
            begin();
            for (const row of update.rows) write({ type: 'update', value: row.value });
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
      try {
        db.raw.streamCollection(id, (update) => {
          try {
            apply(update);
          } catch (error) {
            markError(toLockstepError(error, id));
          }
        });
        db.markOpen(id, 'stream');
      } catch (error) {
        throw toLockstepError(error, id);
      }
      return () => {
        db.markOpen(id, null);
        if (!db.closed) db.raw.closeCollection(id);
      };
    },
  };
  const persist = async ({ transaction }: { transaction: { mutations: ReadonlyArray<PendingMutation<Row>> } }): Promise<Position> =>
    db.push(transaction.mutations, id);
  const utils: LockstepCollectionUtils = {
    database: db,
    inspectRows: async () => {
      try {
        return await db.raw.inspectRows(id);
      } catch (error) {
        throw toLockstepError(error, id);
      }
    },
  };
  return { ...rest, id, sync, onInsert: persist, onUpdate: persist, onDelete: persist, utils };
}
