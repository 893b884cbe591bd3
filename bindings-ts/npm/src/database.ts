// openDatabase and LockstepDatabase: one tab's handle on a Lockstep
// database, its status, the inspector's reads (inspect, query) and close.
import {
  RawDatabase,
  type DatabaseReport,
  type Key,
  type PendingWrite,
  type Position,
  type QueryResult,
  type Status,
  type Storage,
  type TabCounters,
} from '../wasm/lockstep.js';
import { ClosedError, toLockstepError } from './errors.js';
import { LiveCollection } from './live-collection.js';
import { opsOf } from './mutations.js';
import type { PendingMutation } from '@tanstack/db';
import { loadWasm } from './wasm.js';

/** How to open a database in this tab. */
export interface OpenDatabaseOptions {
  /** The app's name. */
  app: string;
  /** The scope, usually the signed-in user's id: each scope is its own database (own file, lock and channel). */
  scope: string;
  /**
   * Keep the database in memory only (tests, throwaway sessions): it lives as
   * long as the leading tab. Give every tab of a database the same choice.
   */
  memoryOnly?: boolean;
  /**
   * This tab's leader worker. By default the package's own `worker.js`,
   * started with `new Worker(new URL('./worker.js', import.meta.url))`.
   */
  worker?: Worker;
}

/** One collection in the inspector's report. */
export interface InspectedCollection {
  /** The collection. */
  id: string;
  /** Its rows in the live database. */
  rows: number;
  /** The SQL table holding them (query it with `db.query`, or use the view named after the collection). */
  table: string | null;
  /** How this tab follows it: `rows` (kept here), `stream` (TanStack DB keeps them), `on-demand` (TanStack DB keeps the subsets it loaded), or not at all. */
  openHere: 'rows' | 'stream' | 'on-demand' | null;
  /** This tab's writes to it not yet confirmed. */
  pendingWrites: number;
  /** The first rows in key order, when asked for with `inspect({ sampleRows })`. */
  sample?: Array<{ key: Key; value: Record<string, unknown> }>;
}

/** What `db.inspect()` reports: the live database as the leader sees it, and this tab. */
export interface InspectReport {
  /** This tab. */
  tabId: string;
  /** The leading tab and its term. */
  leader: { tabId: string; term: number };
  /** The last committed transaction. */
  position: Position;
  /** Where the leader keeps the database. */
  storage: Storage;
  /** The incarnation of the database (a new in-memory database gets a new one). */
  epoch: string;
  /** Store failures outside writes, and the last one. */
  storeErrors: number;
  lastStoreError: string | null;
  /** Rows other code wrote with an invalid key or value (ignored), and why the last one is. */
  invalidRows: number;
  lastInvalidRow: string | null;
  /** The leader's counters since it took over. */
  counters: DatabaseReport['counters'];
  /** This tab's own counters since it opened the database: the messages it dropped, by reason, and its pulls, reloads and re-sends. */
  tab: TabCounters;
  /** Every collection of the database. */
  collections: InspectedCollection[];
  /** This tab's writes not yet confirmed. */
  pendingWrites: PendingWrite[];
}

/**
 * Opens database `(app, scope)` in this tab: starts the tab's leader worker
 * (it queues for leadership; the leader owns SQLite on OPFS) and joins the
 * other tabs. Resolves at once; collections load in the background.
 *
 * ```ts
 * const db = await openDatabase({ app: 'todo-app', scope: userId })
 * ```
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<LockstepDatabase> {
  // The worker starts first: it fetches and compiles its own copy of the
  // wasm module while this page compiles its copy, not after.
  const worker =
    options.worker ?? new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'lockstep-leader' });
  try {
    await loadWasm();
    const raw = RawDatabase.open({ app: options.app, scope: options.scope, memoryOnly: options.memoryOnly ?? false }, worker);
    return new LockstepDatabase(raw, options.app, options.scope);
  } catch (error) {
    if (options.worker === undefined) worker.terminate();
    throw toLockstepError(error);
  }
}

/** One tab's handle on a Lockstep database. Made by {@link openDatabase}. */
export class LockstepDatabase {
  /** The app's name. */
  readonly app: string;
  /** The database's scope. */
  readonly scope: string;
  #raw: RawDatabase | undefined;
  #status: Status;
  readonly #listeners = new Set<(status: Status) => void>();
  readonly #open = new Map<string, 'rows' | 'stream' | 'on-demand'>();

  /** @internal Use {@link openDatabase}. */
  constructor(raw: RawDatabase, app: string, scope: string) {
    this.#raw = raw;
    this.app = app;
    this.scope = scope;
    this.#status = raw.status();
    raw.onStatus((status) => {
      this.#status = status;
      for (const listener of this.#listeners) listener(status);
    });
  }

  /** This tab's id. */
  get tabId(): string {
    return this.#status.tabId;
  }

  /** Where this tab's database stands: leader, term, seq, pending writes, health, storage. */
  get status(): Status {
    return this.#status;
  }

  /** Calls `listener` whenever the status changes; returns the function that stops it. */
  onStatus(listener: (status: Status) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#raw === undefined;
  }

  /**
   * The rows of collection `id`, kept in this tab (the raw path, without
   * TanStack DB). For TanStack DB use `lockstepCollectionOptions`.
   */
  collection<T extends object = Record<string, unknown>>(id: string): LiveCollection<T> {
    const raw = this.raw;
    const mode = this.#open.get(id);
    if (mode === 'stream' || mode === 'on-demand') {
      throw toLockstepError({ code: 'invalid', message: 'it is synced into a TanStack DB collection in this tab; read it there' }, id);
    }
    this.#open.set(id, 'rows');
    try {
      return new LiveCollection<T>(this, id);
    } catch (error) {
      throw toLockstepError(error, id);
    }
  }

  /**
   * Commits the mutations of a TanStack DB transaction, across the Lockstep
   * collections of this database, as one transaction: all or nothing.
   * Resolves once the leader committed it and this tab's collections got its
   * rows; rejects with a typed `LockstepError` when refused. Collections made
   * with `lockstepCollectionOptions` call it for you; use it in the
   * `mutationFn` of `createTransaction` / `createOptimisticAction`:
   *
   * ```ts
   * const tx = createTransaction({ mutationFn: ({ transaction }) => db.push(transaction.mutations) })
   * ```
   */
  async push(mutations: ReadonlyArray<PendingMutation<any>>, collection?: string): Promise<Position> {
    const context = collection ?? mutations[0]?.collection.id;
    try {
      if (mutations.length === 0) {
        return { term: this.#status.term, seq: this.#status.seq ?? 0 };
      }
      return await this.raw.submit(opsOf(mutations));
    } catch (error) {
      throw toLockstepError(error, context);
    }
  }

  /**
   * The live database as the leader sees it, and this tab's pending writes:
   * per collection its row count (and with `sampleRows`, its first rows).
   */
  async inspect(options: { sampleRows?: number } = {}): Promise<InspectReport> {
    const raw = this.raw;
    let report: DatabaseReport;
    try {
      report = await raw.describe();
    } catch (error) {
      throw toLockstepError(error);
    }
    const pending = raw.pendingWrites();
    const collections: InspectedCollection[] = [];
    const ids = new Set([...report.collections.map((c) => c.id), ...this.#open.keys()]);
    for (const id of ids) {
      const known = report.collections.find((c) => c.id === id);
      const entry: InspectedCollection = {
        id,
        rows: known?.rows ?? 0,
        table: known?.table ?? null,
        openHere: this.#open.get(id) ?? null,
        pendingWrites: pending.filter((p) => p.collections.includes(id)).length,
      };
      if (options.sampleRows !== undefined && options.sampleRows > 0 && known?.table) {
        entry.sample = await this.#sample(known.table, options.sampleRows);
      }
      collections.push(entry);
    }
    return {
      tabId: this.tabId,
      leader: { tabId: report.leaderTabId, term: report.term },
      position: report.position,
      storage: report.storage,
      epoch: report.epoch,
      storeErrors: report.storeErrors,
      lastStoreError: report.lastStoreError,
      invalidRows: report.invalidRows,
      lastInvalidRow: report.lastInvalidRow,
      counters: report.counters,
      tab: raw.tabCounters(),
      collections,
      pendingWrites: pending,
    };
  }

  /**
   * Runs one read-only SQL statement on the live database, from any tab.
   * Each collection is a view named after it, with a column per top-level
   * field plus `_key` and `_row`:
   *
   * ```ts
   * await db.query('select count(*) as n from todos where done = ?', [true])
   * ```
   *
   * Statements that would write (or change the connection) are refused with
   * a `QueryError`; write through the collections instead.
   */
  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    try {
      return await this.raw.query(sql, [...params]);
    } catch (error) {
      throw toLockstepError(error);
    }
  }

  /**
   * Closes the database in this tab: the worker stops (leadership moves to
   * another tab), pending promises reject with a `ClosedError`, listeners
   * stop, and the wasm memory of this handle is freed.
   */
  async close(): Promise<void> {
    const raw = this.#raw;
    if (raw === undefined) return;
    this.#raw = undefined;
    raw.close();
    this.#status = raw.status();
    for (const listener of this.#listeners) listener(this.#status);
    this.#listeners.clear();
    this.#open.clear();
    // Let the rejections of pending promises run before the handle goes.
    await Promise.resolve();
    raw.free();
  }

  /** @internal The wasm handle, for `lockstepCollectionOptions`. */
  get raw(): RawDatabase {
    if (this.#raw === undefined) {
      throw new ClosedError('closed', `the database ${this.app}/${this.scope} was closed in this tab`);
    }
    return this.#raw;
  }

  /** @internal Records how this tab follows a collection, for `inspect`. */
  markOpen(id: string, mode: 'rows' | 'stream' | 'on-demand' | null): void {
    if (mode === null) this.#open.delete(id);
    else this.#open.set(id, mode);
  }

  async #sample(table: string, limit: number): Promise<Array<{ key: Key; value: Record<string, unknown> }>> {
    const quoted = `"${table.replaceAll('"', '""')}"`;
    const result = await this.query(`select key, value from ${quoted} order by key limit ?`, [limit]);
    return result.rows.flatMap((row) => {
      try {
        return [{ key: JSON.parse(String(row[0])) as Key, value: JSON.parse(String(row[1])) as Record<string, unknown> }];
      } catch {
        return [];
      }
    });
  }
}
