// lockstepCollectionOptions: a TanStack DB collection whose rows live in a
// Lockstep database, in lockstep across every tab.
//
// Sync is eager (`stream.ts`: every row, then every commit) or on demand
// (`on-demand.ts`: what live queries ask for, kept live). TanStack DB owns
// the rows and the optimistic state; the tab's wasm keeps no copy. Writes go as one envelope per TanStack transaction, and a handler resolves
// only once the leader committed it AND the commit's rows were handed to
// TanStack's `commit()`, so a row never vanishes between its optimistic and
// its synced state.
import type {
  BaseCollectionConfig,
  CollectionConfig,
  InferSchemaOutput,
  PendingMutation,
  UtilsRecord,
} from '@tanstack/db';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { KeyedRow, Position } from '../wasm/lockstep.js';
import type { LockstepDatabase } from './database.js';
import { toLockstepError } from './errors.js';
import { onDemandSync } from './on-demand.js';
import { eagerSync } from './stream.js';

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
  /**
   * `eager` (the default): every row is loaded when the collection starts.
   * `on-demand`: nothing is loaded until a live query asks; its `where`,
   * `orderBy` and `limit` run as SQL on the leader, and the rows it loaded
   * stay live. Filters Lockstep cannot compile load more rows, never fewer.
   */
  syncMode?: 'eager' | 'on-demand';
  /**
   * On demand: index, in SQLite on the leader (kept in the database), the
   * leading order field of each ordered, limited query and the fields a
   * filter compares for equality with a text or a number, so a load reads a
   * few rows instead of all of them. `'auto'` (the default) or `'off'`.
   */
  leaderIndexes?: 'auto' | 'off';
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
  const { db, id, syncMode = 'eager', leaderIndexes = 'auto', ...rest } = config;
  const onDemand = syncMode === 'on-demand' ? onDemandSync(db, id, { autoIndex: leaderIndexes === 'auto' }) : null;
  const persist = async ({ transaction }: { transaction: { mutations: ReadonlyArray<PendingMutation<Row>> } }): Promise<Position> => {
    // An on-demand collection keeps the rows it writes itself, whatever its queries.
    onDemand?.own(transaction.mutations.filter((m) => m.type !== 'delete' && m.collection.id === id).map((m) => m.key as string | number));
    return db.push(transaction.mutations, id);
  };
  const sync = onDemand?.sync ?? eagerSync(db, id);
  return { ...rest, id, syncMode, sync, onInsert: persist, onUpdate: persist, onDelete: persist, utils: utilsOf(db, id) };
}

/** `collection.utils` of a Lockstep collection. */
function utilsOf(db: LockstepDatabase, id: string): LockstepCollectionUtils {
  return {
    database: db,
    inspectRows: async () => {
      try {
        return await db.raw.inspectRows(id);
      } catch (error) {
        throw toLockstepError(error, id);
      }
    },
  };
}
