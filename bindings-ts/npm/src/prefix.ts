// Served prefixes: the boundary loads an ordered load has already answered.
//
// TanStack DB follows each ordered, limited load of a live query with a
// second one for the rows tied with the last value it saw:
// `where: and(W, eq(lead, v))`, no order, no limit. A load of `W` ordered by
// `lead` (no cursor, no offset) served every matching row from the start of
// its order through its boundary, the leading value of the last row it
// returned, ties included (`subset.ts`). Its rows reached the collection, and
// while it stays loaded every later commit of a row that may match `W` is
// kept (`on-demand.ts`). So the collection holds every row of
// `W and lead = v` for any `v` from the start of the order through the
// boundary, and such a request need not wait for the leader.
//
// The boundary is read from the rows the leader delivered for that load
// (rows a later commit touched were left out of it, which only moves the
// boundary earlier: a smaller claim). Only numbers are compared, within
// JavaScript's exact integers, where SQLite's order and JavaScript's agree;
// a load whose leading field held anything else but null serves no prefix
// here, and its boundary loads go to the leader as before.
import type { LoadSubsetOptions } from '@tanstack/db';
import { field, type Expr } from './subset.js';

/** What an ordered load served: rows of `where` through `boundary` in its order. */
export interface ServedPrefix {
  /** The load's filter (the very object TanStack passed). */
  where: unknown;
  /** The leading order field. */
  lead: string;
  /** Descending order. */
  desc: boolean;
  /** The leading value of the last row served, in that order. */
  boundary: number;
}

/** A number SQLite and JavaScript compare alike (finite, an exact integer if whole). */
const comparable = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER;

/** Whether `options` reads from the start of its order (no cursor, no offset). */
const fromStart = (options: LoadSubsetOptions): boolean => !options.cursor && (options.offset ?? 0) === 0;

/**
 * The prefix an ordered load served, from the rows the leader delivered for
 * it; `null` when it served none this module can reason about.
 */
export function servedPrefix(options: LoadSubsetOptions, rows: ReadonlyArray<Record<string, unknown>>): ServedPrefix | null {
  const first = options.orderBy?.[0];
  if (!first || !fromStart(options)) return null;
  const lead = field(first.expression as unknown as Expr);
  if (lead === null) return null;
  const desc = first.compareOptions.direction === 'desc';
  let boundary: number | undefined;
  for (const row of rows) {
    const v = row[lead];
    if (v === null || v === undefined) continue;
    if (!comparable(v)) return null;
    if (boundary === undefined || (desc ? v < boundary : v > boundary)) boundary = v;
  }
  return boundary === undefined ? null : { where: options.where, lead, desc, boundary };
}

/**
 * Whether `options` asks only for rows `prefix` served: `where` is
 * `and(prefix.where, eq(lead, v))` (or `eq(lead, v)` when the prefix had no
 * filter) with `v` at or before the boundary, and no order, limit, offset,
 * cursor or refetch.
 */
export function coveredBy(options: LoadSubsetOptions, prefix: ServedPrefix): boolean {
  if (options.refetch || options.orderBy?.length || options.limit !== undefined || !fromStart(options)) return false;
  const where = options.where as unknown as Expr | undefined;
  let tie: Expr | undefined;
  if (prefix.where === undefined) {
    tie = where;
  } else if (where?.type === 'func' && where.name === 'and' && where.args.length === 2 && where.args[0] === prefix.where) {
    tie = where.args[1];
  }
  if (tie?.type !== 'func' || tie.name !== 'eq' || tie.args.length !== 2) return false;
  const [ref, val] = tie.args;
  if (field(ref) !== prefix.lead || val?.type !== 'val' || !comparable(val.value)) return false;
  return prefix.desc ? val.value >= prefix.boundary : val.value <= prefix.boundary;
}
