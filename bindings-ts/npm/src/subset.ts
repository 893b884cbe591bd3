// On-demand loading: TanStack DB's `loadSubset` options (where / orderBy /
// limit / offset / cursor) compiled to one read-only SQL statement over the
// collection's view (a column per top-level field, plus `_key` and `_row`).
//
// Correctness rests on one rule: TanStack evaluates where, orderBy and limit
// itself over the rows it holds, so a load must bring a SUPERSET of the rows
// the query needs, never fewer.
// - Filters TanStack and SQL evaluate alike are compiled exactly: both use
//   three-valued logic (a comparison with null is unknown, `not unknown` is
//   unknown), and type guards (`json_type`) keep SQLite from comparing a
//   boolean, a number and a string the way JavaScript would not.
// - Anything else (an unknown operator, a nested field, a Date value) becomes
//   TRUE in the SQL (under De Morgan's rules, so negation cannot flip it into
//   FALSE): more rows, never fewer.
// - LIMIT / OFFSET are pushed down only when the filter is exact and the
//   order is one SQLite gives too. Whether a field may hold several kinds of
//   values (or text, which TanStack sorts by locale) is read, in the same
//   statement, from the types the store records for every field
//   (`__lockstep_fields.types`), so the decision is never stale: when in
//   doubt the statement runs with `LIMIT -1` (no limit), the documented
//   fallback that is correct and slower.
import type { LoadSubsetOptions } from '@tanstack/db';

/** A compiled load. */
export interface SubsetQuery {
  /** One SELECT returning `_row` (the row's JSON) of every row to load. */
  sql: string;
  /** Its `?` parameters. */
  params: unknown[];
  /** Whether the filter compiled exactly (LIMIT may then apply, per the field types). */
  exactFilter: boolean;
}

/** A TanStack expression (the IR `loadSubset` receives). */
type Expr = { type: 'ref'; path: string[] } | { type: 'val'; value: unknown } | { type: 'func'; name: string; args: Expr[] };

/** JSON types as the store records them per field (bit flags). */
export const TYPE = { null: 1, boolean: 2, integer: 4, real: 8, text: 16, array: 32, object: 64 } as const;
const NUMBER = TYPE.integer | TYPE.real;

type Kind = 'text' | 'number' | 'boolean';
const kindBits: Record<Kind, number> = { text: TYPE.text, number: NUMBER, boolean: TYPE.boolean };
const kindJsonTypes: Record<Kind, string> = { text: `'text'`, number: `'integer', 'real'`, boolean: `'true', 'false'` };

interface Compiled {
  sql: string;
  params: unknown[];
  exact: boolean;
  /** Fields an ordering comparison reads, with the kind it compares them as. */
  ordered: Array<[string, Kind]>;
}

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const TRUE: Compiled = { sql: '1', params: [], exact: false, ordered: [] };

/** The top-level field a ref names, or `null` for anything else. */
function field(expr: Expr | undefined): string | null {
  if (!expr || expr.type !== 'ref' || expr.path.length !== 1) return null;
  const [name] = expr.path;
  if (name === undefined || name === '' || name.includes('"') || name.includes('\\')) return null;
  return name;
}

/** A value and the kind SQL must compare it as; `null` for anything else. */
function scalar(value: unknown): { kind: Kind; param: unknown } | null {
  if (typeof value === 'string') return { kind: 'text', param: value };
  if (typeof value === 'number' && Number.isFinite(value)) return { kind: 'number', param: value };
  if (typeof value === 'boolean') return { kind: 'boolean', param: value ? 1 : 0 };
  return null;
}

/** `json_type` of a field of the row (null when absent: SQL NULL). */
const jsonType = (name: string): string => `json_type(_row, '$."${name.replaceAll("'", "''")}"')`;

/**
 * A test of one field in TanStack's three-valued logic, at the polarity it
 * appears (`negated` under an odd number of `not`s): unknown when the field is
 * null or missing; for a value of another kind, `otherKinds` (what TanStack
 * answers, or TRUE when it may answer either: the load widens, never narrows);
 * otherwise the test.
 */
function guarded(name: string, kind: Kind, test: string, otherKinds: 'false' | 'either', negated: boolean): string {
  const other = otherKinds === 'either' || negated ? '1' : '0';
  return `(CASE WHEN ${quote(name)} IS NULL THEN NULL WHEN ${jsonType(name)} NOT IN (${kindJsonTypes[kind]}) THEN ${other} ELSE ${negated ? `NOT (${test})` : `(${test})`} END)`;
}

const comparisons: Record<string, string> = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' };

/** TanStack's `like` (case-sensitive `%` and `_`, no escapes) as an exact GLOB pattern. */
export function likeToGlob(pattern: string): string {
  let glob = '';
  for (const c of pattern) {
    if (c === '%') glob += '*';
    else if (c === '_') glob += '?';
    else if ('*?['.includes(c)) glob += `[${c}]`;
    else glob += c;
  }
  return glob;
}

function leaf(name: string, args: Expr[], negated: boolean): Compiled | null {
  const f = field(args[0]);
  if (!f) return null;
  const col = quote(f);
  const rhs = args[1];
  const op = comparisons[name];
  if (op && rhs?.type === 'val') {
    const v = scalar(rhs.value);
    if (!v) return null;
    if (name === 'eq') {
      // Equality across kinds is false in TanStack.
      return { sql: guarded(f, v.kind, `${col} = ?`, 'false', negated), params: [v.param], exact: true, ordered: [] };
    }
    // An ordering comparison across kinds follows JavaScript's coercion in
    // TanStack: such rows are loaded, and LIMIT needs the field to hold one kind.
    return { sql: guarded(f, v.kind, `${col} ${op} ?`, 'either', negated), params: [v.param], exact: true, ordered: [[f, v.kind]] };
  }
  if (name === 'in' && rhs?.type === 'val' && Array.isArray(rhs.value)) {
    const values = rhs.value.filter((v) => v !== null && v !== undefined).map(scalar);
    if (values.some((v) => v === null)) return null;
    const groups = (['text', 'number', 'boolean'] as Kind[])
      .map((kind) => ({ kind, params: values.filter((v) => v?.kind === kind).map((v) => v?.param) }))
      .filter((g) => g.params.length > 0);
    const tests = groups.map((g) => `(${jsonType(f)} IN (${kindJsonTypes[g.kind]}) AND ${col} IN (${g.params.map(() => '?').join(', ')}))`);
    const test = tests.length ? tests.join(' OR ') : '0';
    return {
      sql: `(CASE WHEN ${col} IS NULL THEN NULL ELSE ${negated ? `NOT (${test})` : `(${test})`} END)`,
      params: groups.flatMap((g) => g.params),
      exact: true,
      ordered: [],
    };
  }
  if (name === 'like' && rhs?.type === 'val' && typeof rhs.value === 'string') {
    // `like` of a non-string is false in TanStack.
    return { sql: guarded(f, 'text', `${col} GLOB ?`, 'false', negated), params: [likeToGlob(rhs.value)], exact: true, ordered: [] };
  }
  if ((name === 'isNull' || name === 'isUndefined') && args.length === 1 && !negated) {
    // A missing field and JSON null both read as NULL: a superset of either.
    return { sql: `(${col} IS NULL)`, params: [], exact: false, ordered: [] };
  }
  return null;
}

/** A filter as SQL: exact, or a condition matching at least TanStack's rows. */
function compile(expr: Expr, negated = false): Compiled {
  if (expr.type !== 'func') return TRUE;
  if (expr.name === 'and' || expr.name === 'or') {
    const parts = expr.args.map((a) => compile(a, negated));
    // Every part is already at its polarity; under a `not`, `and` turns into
    // `or` (De Morgan), so an inexact part (TRUE) only ever widens the load.
    const joiner = (expr.name === 'and') !== negated ? ' AND ' : ' OR ';
    return {
      sql: `(${parts.map((p) => p.sql).join(joiner)})`,
      params: parts.flatMap((p) => p.params),
      exact: parts.every((p) => p.exact),
      ordered: parts.flatMap((p) => p.ordered),
    };
  }
  if (expr.name === 'not' && expr.args.length === 1 && expr.args[0]) return compile(expr.args[0], !negated);
  return leaf(expr.name, expr.args, negated) ?? TRUE;
}

/**
 * The SQL that loads `options` from collection `collection`'s view, or
 * `null` when the collection has no view (a name SQLite reserves): then the
 * whole collection is loaded.
 */
export function compileSubset(collection: string, options: LoadSubsetOptions): SubsetQuery | null {
  const lower = collection.toLowerCase();
  if (['__lockstep_', 'ls_', 'sqlite_'].some((prefix) => lower.startsWith(prefix))) return null;
  const parts: Compiled[] = [];
  if (options.where) parts.push(compile(options.where as unknown as Expr));
  if (options.cursor?.whereFrom) parts.push(compile(options.cursor.whereFrom as unknown as Expr));
  const exactFilter = parts.every((p) => p.exact);
  const params = parts.flatMap((p) => p.params);
  let sql = `SELECT _row FROM ${quote(collection)}`;
  if (parts.length) sql += ` WHERE ${parts.map((p) => p.sql).join(' AND ')}`;
  if (options.limit === undefined) return { sql, params, exactFilter };

  // The fields whose kinds decide whether SQLite orders and compares like
  // TanStack: those of ordering comparisons (one kind only), and the order
  // fields (numbers or booleans, never text: TanStack sorts text by locale).
  const order: string[] = [];
  const checks: Array<[string, number]> = parts.flatMap((p) => p.ordered.map(([f, kind]): [string, number] => [f, ~(kindBits[kind] | TYPE.null)]));
  let orderable = true;
  for (const o of options.orderBy ?? []) {
    const f = field(o.expression as unknown as Expr);
    if (!f) {
      orderable = false;
      break;
    }
    const { direction, nulls } = o.compareOptions;
    order.push(`${quote(f)} ${direction === 'desc' ? 'DESC' : 'ASC'} NULLS ${nulls === 'last' ? 'LAST' : 'FIRST'}`);
    checks.push([f, TYPE.text | TYPE.array | TYPE.object]);
  }
  if (!exactFilter || !orderable) return { sql, params, exactFilter };
  if (order.length) sql += ` ORDER BY ${order.join(', ')}`;
  // Numbers and booleans of one order field must not mix either.
  const mixed = (options.orderBy ?? []).map((o) => field(o.expression as unknown as Expr) as string);
  const fieldTypes = (name: string) =>
    `coalesce((SELECT types FROM __lockstep_fields WHERE collection = ? AND field = ?), 0)`;
  const irregular = [
    ...checks.map(([name, mask]) => ({ sql: `(${fieldTypes(name)} & ${mask}) != 0`, params: [collection, name] })),
    ...mixed.map((name) => ({
      sql: `((${fieldTypes(name)} & ${TYPE.boolean}) != 0 AND (${fieldTypes(name)} & ${NUMBER}) != 0)`,
      params: [collection, name, collection, name],
    })),
  ];
  const limit = irregular.length
    ? `CASE WHEN ${irregular.map((i) => i.sql).join(' OR ')} THEN -1 ELSE ? END`
    : '?';
  sql += ` LIMIT ${limit}`;
  params.push(...irregular.flatMap((i) => i.params), options.limit);
  if (options.offset) {
    sql += ` OFFSET CASE WHEN ${irregular.length ? irregular.map((i) => i.sql).join(' OR ') : '0'} THEN 0 ELSE ? END`;
    params.push(...irregular.flatMap((i) => i.params), options.offset);
  }
  return { sql, params, exactFilter };
}
