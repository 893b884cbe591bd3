// What the bench needs of each library, so one driver measures them all.
import type { Row } from '../row';

export interface Lib {
  /** Resolves once the collection is loaded and current in this tab. */
  ready(): Promise<void>;
  /** Rows the tab's collection holds. */
  count(): number;
  /** Calls `seen(id)` for every row that newly appears in this tab. */
  watch(seen: (id: string) => void): void;
  /** Inserts one row; resolves once durable. */
  insert(row: Row): Promise<void>;
  /** Inserts rows in one transaction; resolves once durable. */
  insertMany(rows: Row[]): Promise<void>;
  /** Whether this tab leads (null when the library does not say). */
  isLeader(): boolean | null;
  /** Bytes of wasm memory the library's page-side instance holds (0 if none). */
  wasmBytes(): number;
  /** The ids of the `limit` open rows with the highest `n`, through a live query (TanStack only). */
  top?(limit: number): Promise<string[]>;
}
