// On-demand loading: TanStack DB's `loadSubset` options (where / orderBy /
// limit / offset / cursor) compiled to SQL over the collection's view on the
// leader (`__lockstep_row` is the row as JSON; fields are read from it, so a
// field no row ever had is simply null).
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
// - An ordered, limited request serves a prefix of its order: every matching
//   row up to the leading order value of the last row, ties included. That
//   prefix is loaded as one statement only when the filter is exact and the
//   order is one SQLite gives too (numbers and booleans; never text, which
//   TanStack sorts by locale). Whether a field ever held another kind of
//   value is read, in the same statement, from the kinds the store records
//   per field (`__lockstep_fields.types`), so the decision is never stale.
//   Otherwise, or when the prefix is larger than one answer may be, every
//   row matching the filter is loaded, page by page: the documented
//   fallback, correct and slower.
import type { LoadSubsetOptions } from '@tanstack/db';
import type { SubsetInput } from '../wasm/lockstep.js';

/** A TanStack expression (the IR `loadSubset` receives). */
type Expr = { type: 'ref'; path: string[] } | { type: 'val'; value: unknown } | { type: 'func'; name: string; args: Expr[] };

/** JSON kinds as the store records them per field (bit flags). */
export const KIND = { null: 1, boolean: 2, integer: 4, real: 8, text: 16, array: 32, object: 64 } as const;
const NUMBER = KIND.integer | KIND.real;

type Kind = 'text' | 'number' | 'boolean';
const kindBits: Record<Kind, number> = { text: KIND.text, number: NUMBER, boolean: KIND.boolean };
const kindJsonTypes: Record<Kind, string> = { text: `'text'`, number: `'integer', 'real'`, boolean: `'true', 'false'` };

interface Compiled {
  sql: string;
  params: unknown[];
  exact: boolean;
  /** Fields an ordering comparison reads, with the kind it compares them as. */
  ordered: Array<[string, Kind]>;
}

const TRUE: Compiled = { sql: '1', params: [], exact: false, ordered: [] };

/** The top-level field a ref names, or `null` for anything else. */
function field(expr: Expr | undefined): string | null {
  if (!expr || expr.type !== 'ref' || expr.path.length !== 1) return null;
  const [name] = expr.path;
  if (name === undefined || name === '' || name.includes('"') || name.includes('\\')) return null;
  return name;
}

/** The JSON path of a top-level field, as an SQL literal. */
const path = (name: string): string => `'$."${name.replaceAll("'", "''")}"'`;
/** A field's value as SQL (`true`/`false` read as 1/0; missing as NULL). */
const col = (name: string): string => `(__lockstep_row ->> ${path(name)})`;
/** `json_type` of a field (NULL when missing). */
const jsonType = (name: string): string => `json_type(__lockstep_row, ${path(name)})`;

/** A value and the kind SQL must compare it as; `null` for anything else. */
function scalar(value: unknown): { kind: Kind; param: unknown } | null {
  if (typeof value === 'string') return { kind: 'text', param: value };
  if (typeof value === 'number' && Number.isFinite(value)) return { kind: 'number', param: value };
  if (typeof value === 'boolean') return { kind: 'boolean', param: value ? 1 : 0 };
  return null;
}

/**
 * A test of one field in TanStack's three-valued logic, at the polarity it
 * appears (`negated` under an odd number of `not`s): unknown when the field is
 * null or missing; for a value of another kind, `otherKinds` (what TanStack
 * answers, or TRUE when it may answer either: the load widens, never narrows);
 * otherwise the test.
 */
function guarded(name: string, kind: Kind, test: string, otherKinds: 'false' | 'either', negated: boolean): string {
  const other = otherKinds === 'either' || negated ? '1' : '0';
  return `(CASE WHEN ${col(name)} IS NULL THEN NULL WHEN ${jsonType(name)} NOT IN (${kindJsonTypes[kind]}) THEN ${other} ELSE ${negated ? `NOT (${test})` : `(${test})`} END)`;
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
  const rhs = args[1];
  const op = comparisons[name];
  if (op && rhs?.type === 'val') {
    const v = scalar(rhs.value);
    if (!v) return null;
    if (name === 'eq') {
      // Equality across kinds is false in TanStack.
      return { sql: guarded(f, v.kind, `${col(f)} = ?`, 'false', negated), params: [v.param], exact: true, ordered: [] };
    }
    // An ordering comparison across kinds follows JavaScript's coercion in
    // TanStack: such rows are loaded, and a prefix needs the field to hold one kind.
    return { sql: guarded(f, v.kind, `${col(f)} ${op} ?`, 'either', negated), params: [v.param], exact: true, ordered: [[f, v.kind]] };
  }
  if (name === 'in' && rhs?.type === 'val' && Array.isArray(rhs.value)) {
    const values = rhs.value.filter((v) => v !== null && v !== undefined).map(scalar);
    if (values.some((v) => v === null)) return null;
    const groups = (['text', 'number', 'boolean'] as Kind[])
      .map((kind) => ({ kind, params: values.filter((v) => v?.kind === kind).map((v) => v?.param) }))
      .filter((g) => g.params.length > 0);
    const tests = groups.map((g) => `(${jsonType(f)} IN (${kindJsonTypes[g.kind]}) AND ${col(f)} IN (${g.params.map(() => '?').join(', ')}))`);
    const test = tests.length ? tests.join(' OR ') : '0';
    return {
      sql: `(CASE WHEN ${col(f)} IS NULL THEN NULL ELSE ${negated ? `NOT (${test})` : `(${test})`} END)`,
      params: groups.flatMap((g) => g.params),
      exact: true,
      ordered: [],
    };
  }
  if (name === 'like' && rhs?.type === 'val' && typeof rhs.value === 'string') {
    // `like` of a non-string is false in TanStack.
    return { sql: guarded(f, 'text', `${col(f)} GLOB ?`, 'false', negated), params: [likeToGlob(rhs.value)], exact: true, ordered: [] };
  }
  if ((name === 'isNull' || name === 'isUndefined') && args.length === 1 && !negated) {
    // A missing field and JSON null both read as NULL: a superset of either.
    return { sql: `(${col(f)} IS NULL)`, params: [], exact: false, ordered: [] };
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

/** Parts joined with AND (`1` for none). */
function all(parts: Compiled[]): Compiled {
  if (parts.length === 0) return { sql: '1', params: [], exact: true, ordered: [] };
  return {
    sql: parts.map((p) => p.sql).join(' AND '),
    params: parts.flatMap((p) => p.params),
    exact: parts.every((p) => p.exact),
    ordered: parts.flatMap((p) => p.ordered),
  };
}

/** Whether a collection has a view (names SQLite or Lockstep reserve have none). */
export function hasView(collection: string): boolean {
  const lower = collection.toLowerCase();
  return !['__lockstep_', 'ls_', 'sqlite_'].some((prefix) => lower.startsWith(prefix));
}

/** SQL's +∞ and −∞ (numbers and booleans of an order field compare within them). */
const PLUS_INF = '9e999';
const MINUS_INF = '-9e999';

/**
 * The rows of the ordered prefix that `base` (filter) serves up to row
 * `offset + limit`, ties of its leading order value included: one condition
 * over the boundary row's leading value, read by one scalar subquery per use.
 */
function prefix(collection: string, base: Compiled, order: string[], lead: string, desc: boolean, nullsFirst: boolean, last: number): Compiled {
  const L = col(lead);
  // The boundary's leading value; a null one counts as the end of its side,
  // and no boundary row (fewer rows than asked) as "everything".
  const boundary = (nullValue: string, none: string) => ({
    sql: `coalesce((SELECT coalesce(${L}, ${nullValue}) FROM "${collection.replaceAll('"', '""')}" WHERE ${base.sql} ORDER BY ${order.join(', ')} LIMIT 1 OFFSET ?), ${none})`,
    params: [...base.params, last],
  });
  const cmp = desc ? '>=' : '<=';
  if (nullsFirst) {
    // Nulls come first: they are all in; then values up to the boundary (none past a null boundary).
    const b = boundary(desc ? PLUS_INF : MINUS_INF, desc ? MINUS_INF : PLUS_INF);
    return { sql: `(${L} IS NULL OR ${L} ${cmp} ${b.sql})`, params: b.params, exact: true, ordered: [] };
  }
  // Nulls come last: values up to the boundary, and nulls only if it reaches them.
  const b1 = boundary(desc ? MINUS_INF : PLUS_INF, desc ? MINUS_INF : PLUS_INF);
  const b2 = boundary(desc ? MINUS_INF : PLUS_INF, desc ? MINUS_INF : PLUS_INF);
  return {
    sql: `(${L} ${cmp} ${b1.sql} OR (${L} IS NULL AND ${b2.sql} ${desc ? '<=' : '>='} ${desc ? MINUS_INF : PLUS_INF}))`,
    params: [...b1.params, ...b2.params],
    exact: true,
    ordered: [],
  };
}

/** The kinds recorded for a field, as SQL. */
const fieldKinds = (collection: string, name: string) => ({
  sql: `coalesce((SELECT types FROM __lockstep_fields WHERE collection = ? AND field = ?), 0)`,
  params: [collection, name],
});

/**
 * The subset to load for `options` from collection `collection` (which must
 * have a view, see {@link hasView}): every row matching the filter (and the
 * cursor), plus, for an ordered and limited request, the prefix it serves as
 * one statement to try first.
 */
export function compileSubset(collection: string, options: LoadSubsetOptions): SubsetInput {
  const where = options.where ? compile(options.where as unknown as Expr) : null;
  const from = options.cursor?.whereFrom ? compile(options.cursor.whereFrom as unknown as Expr) : null;
  const current = options.cursor?.whereCurrent ? compile(options.cursor.whereCurrent as unknown as Expr) : null;
  // Rows after the cursor, and the rows tied with it.
  const cursor: Compiled | null = from
    ? current
      ? { sql: `(${from.sql} OR ${current.sql})`, params: [...from.params, ...current.params], exact: from.exact && current.exact, ordered: [...from.ordered, ...current.ordered] }
      : from
    : null;
  const filter = all([where, cursor].filter((p): p is Compiled => p !== null));
  const subset: SubsetInput = { filter: filter.sql, params: filter.params };
  if (options.limit === undefined || !options.orderBy?.length || !filter.exact) return subset;

  const order: string[] = [];
  const fields: string[] = [];
  for (const o of options.orderBy) {
    const f = field(o.expression as unknown as Expr);
    if (!f) return subset;
    const { direction, nulls } = o.compareOptions;
    order.push(`${col(f)} ${direction === 'desc' ? 'DESC' : 'ASC'} NULLS ${nulls === 'last' ? 'LAST' : 'FIRST'}`);
    fields.push(f);
  }
  const first = options.orderBy[0];
  const lead = fields[0];
  if (!first || lead === undefined) return subset;
  // The prefix is counted among the rows after the cursor (ties with it are loaded whole).
  const counted = all([where, from].filter((p): p is Compiled => p !== null));
  const served = prefix(collection, counted, order, lead, first.compareOptions.direction === 'desc', first.compareOptions.nulls !== 'last', (options.offset ?? 0) + options.limit - 1);
  const inPrefix = current ? { sql: `(${current.sql} OR ${served.sql})`, params: [...current.params, ...served.params] } : served;

  // When a field SQLite would compare or order unlike TanStack ever held
  // another kind, the statement loads every matching row instead.
  const irregular = [
    ...filter.ordered.map(([name, kind]) => ({ name, mask: ~(kindBits[kind] | KIND.null) & 127 })),
    ...fields.map((name) => ({ name, mask: KIND.text | KIND.array | KIND.object })),
  ].map(({ name, mask }) => {
    const k = fieldKinds(collection, name);
    return { sql: `(${k.sql} & ${mask}) != 0`, params: k.params };
  });
  for (const name of fields) {
    // Numbers and booleans of one order field must not mix either.
    const a = fieldKinds(collection, name);
    const b = fieldKinds(collection, name);
    irregular.push({ sql: `((${a.sql} & ${KIND.boolean}) != 0 AND (${b.sql} & ${NUMBER}) != 0)`, params: [...a.params, ...b.params] });
  }
  subset.top = {
    clause: `AND (${irregular.map((i) => i.sql).join(' OR ')} OR ${inPrefix.sql})`,
    params: [...irregular.flatMap((i) => i.params), ...inPrefix.params],
  };
  return subset;
}
