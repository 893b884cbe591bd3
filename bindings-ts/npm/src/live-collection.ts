// LiveCollection: a collection whose rows this tab keeps itself, with its
// own pending writes on top (the raw path, without TanStack DB).
import type { Key, Position, RawDatabase } from '../wasm/lockstep.js';
import { toLockstepError } from './errors.js';

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
  readonly #raw: RawDatabase;

  /** @internal Use `LockstepDatabase.collection(id)`. */
  constructor(raw: RawDatabase, id: string) {
    this.#raw = raw;
    this.id = id;
    raw.openCollection(id);
  }

  /** Resolves once the rows are loaded and current. */
  ready(): Promise<void> {
    return this.#wrap(() => this.#raw.ready(this.id));
  }

  /** The row under `key`, or `undefined`. */
  get(key: Key): T | undefined {
    return this.#raw.get(this.id, key) as T | undefined;
  }

  /** Every row, in key order. */
  rows(): Array<{ key: Key; value: T }> {
    return this.#raw.rows(this.id) as Array<{ key: Key; value: T }>;
  }

  /** Calls `listener` with every change (first call: every row); returns the unsubscribe function. */
  subscribe(listener: (changes: RowChange<T>[]) => void): () => void {
    const id = this.#raw.subscribe(this.id, (changes) => listener(changes as RowChange<T>[]));
    return () => this.#raw.unsubscribe(id);
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

  async #wrap<R>(run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw toLockstepError(error, this.id);
    }
  }
}
