// LiveCollection: a collection whose rows this tab keeps itself, with its
// own pending writes on top (the raw path, without TanStack DB).
import type { Key, Position, RawDatabase } from '../wasm/lockstep.js';
import { toLockstepError } from './errors.js';

/** What a LiveCollection needs of its database: the handle, while open. */
interface Owner {
  readonly raw: RawDatabase;
}

/** A change of a row this tab shows: before and after (`undefined`: no row). */
export interface RowChange<T> {
  key: Key;
  before?: T;
  after?: T;
}

/**
 * The rows of one collection as this tab shows them: committed rows with
 * this tab's pending writes on top. Writes show at once, resolve with the
 * commit's position once durable, and roll back (rejecting with a typed
 * `LockstepError`) when refused.
 */
export class LiveCollection<T extends object = Record<string, unknown>> {
  readonly id: string;
  readonly #db: Owner;

  /** @internal Use `LockstepDatabase.collection(id)`. */
  constructor(db: Owner, id: string) {
    this.#db = db;
    this.id = id;
    db.raw.openCollection(id);
  }

  /** The wasm handle; throws a `ClosedError` once the database is closed. */
  get #raw(): RawDatabase {
    return this.#db.raw;
  }

  /** Resolves once the rows are loaded and current. */
  ready(): Promise<void> {
    return this.#wrap(() => this.#raw.ready(this.id));
  }

  /** The row under `key`, or `undefined`. */
  get(key: Key): T | undefined {
    return this.#sync(() => this.#raw.get(this.id, key) as T | undefined);
  }

  /** How many rows the collection has (without reading them). */
  get size(): number {
    return this.#sync(() => this.#raw.len(this.id));
  }

  /** Every row, in key order. */
  rows(): Array<{ key: Key; value: T }> {
    return this.#sync(() => this.#raw.rows(this.id) as Array<{ key: Key; value: T }>);
  }

  /** Calls `listener` with every change (first call: every row); returns the unsubscribe function. */
  subscribe(listener: (changes: RowChange<T>[]) => void): () => void {
    const id = this.#sync(() => this.#raw.subscribe(this.id, (changes) => listener(changes as RowChange<T>[])));
    return () => {
      if (!this.#closed()) this.#raw.unsubscribe(id);
    };
  }

  /** Inserts a row (refused if the key exists). */
  insert(key: Key, value: T): Promise<Position> {
    return this.#write([{ op: 'insert', collection: this.id, key, value: value as Record<string, unknown> }]);
  }

  /** Inserts many rows in one transaction: all or nothing. */
  insertMany(items: Iterable<{ key: Key; value: T }>): Promise<Position> {
    const ops = Array.from(items, ({ key, value }) => ({ op: 'insert' as const, collection: this.id, key, value: value as Record<string, unknown> }));
    return this.#write(ops);
  }

  /** Replaces a row (refused if missing). */
  update(key: Key, value: T): Promise<Position> {
    return this.#write([{ op: 'update', collection: this.id, key, value: value as Record<string, unknown> }]);
  }

  /** Sets some fields of a row and keeps the others; merged by the leader when it commits. */
  patch(key: Key, fields: Partial<T>): Promise<Position> {
    return this.#write([{ op: 'patch', collection: this.id, key, fields: fields as Record<string, unknown> }]);
  }

  /** Deletes a row (refused if missing). */
  delete(key: Key): Promise<Position> {
    return this.#write([{ op: 'delete', collection: this.id, key }]);
  }

  #write(ops: Parameters<RawDatabase['mutate']>[0]): Promise<Position> {
    return this.#wrap(() => this.#raw.mutate(ops));
  }

  #closed(): boolean {
    try {
      return this.#db.raw.isClosed;
    } catch {
      return true;
    }
  }

  #sync<R>(run: () => R): R {
    try {
      return run();
    } catch (error) {
      throw toLockstepError(error, this.id);
    }
  }

  async #wrap<R>(run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw toLockstepError(error, this.id);
    }
  }
}
