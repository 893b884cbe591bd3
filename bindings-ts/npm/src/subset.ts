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
export type Expr = { type: 'ref'; path: string[] } | { type: 'val'; value: unknown } | { type: 'func'; name: string; args: Expr[] };

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
  /** Fields every matching row equals a text or number to (worth an index). */
  equal: string[];
}

const TRUE: Compiled = { sql: '1', params: [], exact: false, ordered: [], equal: [] };

/** An exact test (reading `ordered` in an ordering comparison). */
const exact = (sql: string, params: unknown[], ordered: Array<[string, Kind]> = []): Compiled => ({ sql, params, exact: true, ordered, equal: [] });

/** The top-level field a ref names, or `null` for anything else. */
export function field(expr: Expr | undefined): string | null {
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
 * `test` (a guarded equality at positive polarity) behind the bare equality
 * it implies, which an index on the field answers: `field = ? AND (CASE …)`
 * has the CASE's value in three-valued logic, as the CASE is true only
 * through that equality and NULL only when the field is. A negated test
 * gets none (its CASE is true for rows the equality rejects).
 */
function indexable(name: string, bare: string, bareParams: unknown[], test: Compiled, negated: boolean): Compiled {
  if (negated) return test;
  return { ...test, sql: `(${col(name)} ${bare} AND ${test.sql})`, params: [...bareParams, ...test.params], equal: [name] };
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
      const test = exact(guarded(f, v.kind, `${col(f)} = ?`, 'false', negated), [v.param]);
      return v.kind === 'boolean' ? test : indexable(f, '= ?', [v.param], test, negated);
    }
    // An ordering comparison across kinds follows JavaScript's coercion in
    // TanStack: such rows are loaded, and a prefix needs the field to hold one kind.
    return exact(guarded(f, v.kind, `${col(f)} ${op} ?`, 'either', negated), [v.param], [[f, v.kind]]);
  }
  if (name === 'in' && rhs?.type === 'val' && Array.isArray(rhs.value)) {
    const values = rhs.value.filter((v) => v !== null && v !== undefined).map(scalar);
    if (values.some((v) => v === null)) return null;
    const groups = (['text', 'number', 'boolean'] as Kind[])
      .map((kind) => ({ kind, params: values.filter((v) => v?.kind === kind).map((v) => v?.param) }))
      .filter((g) => g.params.length > 0);
    const tests = groups.map((g) => `(${jsonType(f)} IN (${kindJsonTypes[g.kind]}) AND ${col(f)} IN (${g.params.map(() => '?').join(', ')}))`);
    const test = tests.length ? tests.join(' OR ') : '0';
    const params = groups.flatMap((g) => g.params);
    const compiled = exact(`(CASE WHEN ${col(f)} IS NULL THEN NULL ELSE ${negated ? `NOT (${test})` : `(${test})`} END)`, params);
    if (params.length === 0 || groups.some((g) => g.kind === 'boolean')) return compiled;
    return indexable(f, `IN (${params.map(() => '?').join(', ')})`, params, compiled, negated);
  }
  if (name === 'like' && rhs?.type === 'val' && typeof rhs.value === 'string') {
    // `like` of a non-string is false in TanStack.
    return exact(guarded(f, 'text', `${col(f)} GLOB ?`, 'false', negated), [likeToGlob(rhs.value)]);
  }
  if ((name === 'isNull' || name === 'isUndefined') && args.length === 1 && !negated) {
    // A missing field and JSON null both read as NULL: a superset of either.
    return { sql: `(${col(f)} IS NULL)`, params: [], exact: false, ordered: [], equal: [] };
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
      // A field every row of an OR equals a value of is not one field.
      equal: joiner === ' AND ' ? parts.flatMap((p) => p.equal) : [],
    };
  }
  if (expr.name === 'not' && expr.args.length === 1 && expr.args[0]) return compile(expr.args[0], !negated);
  return leaf(expr.name, expr.args, negated) ?? TRUE;
}

/** Parts joined with AND (`1` for none). */
function all(parts: Compiled[]): Compiled {
  if (parts.length === 0) return exact('1', []);
  return {
    sql: parts.map((p) => p.sql).join(' AND '),
    params: parts.flatMap((p) => p.params),
    exact: parts.every((p) => p.exact),
    ordered: parts.flatMap((p) => p.ordered),
    equal: parts.flatMap((p) => p.equal),
  };
}

/** Whether a collection has a view (names SQLite or Lockstep reserve have none). */
export function hasView(collection: string): boolean {
  const lower = collection.toLowerCase();
  return !['__lockstep_', 'ls_', 'sqlite_'].some((prefix) => lower.startsWith(prefix));
}


/** A piece of SQL and the values of its `?`s, in order. */
interface Sql {
  sql: string;
  params: unknown[];
}

/** SQL from template text and pieces (strings are spliced as they are). */
function sql(text: TemplateStringsArray, ...pieces: Array<Sql | string | number>): Sql {
  let out = text[0] ?? '';
  const params: unknown[] = [];
  pieces.forEach((piece, i) => {
    if (typeof piece === 'object') {
      out += piece.sql;
      params.push(...piece.params);
    } else {
      out += String(piece);
    }
    out += text[i + 1] ?? '';
  });
  return { sql: out, params };
}

const value = (v: unknown): Sql => ({ sql: '?', params: [v] });

/**
 * The ordered prefix a request serves, as one statement an index on the
 * leading order field answers without reading every row: the rows of
 * `counted` (filter and cursor) from the start of the order through row
 * `last` (0-based), every row tied with its leading value included, plus
 * the `tied` rows (those equal to the cursor). Each arm is one the planner
 * answers from the index: the nulls (`IS NULL`), the first values in index
 * order (`ORDER BY … LIMIT`), and the values equal to the boundary's
 * (`= ?`). Arms may overlap: a row can come twice, which loading tolerates.
 */
function prefix(view: string, counted: Sql, tied: Sql | null, lead: string, desc: boolean, nullsFirst: boolean, last: number): Sql {
  const L = col(lead);
  const rows = (where: Sql, tail: Sql = { sql: '', params: [] }): Sql => sql`SELECT * FROM (SELECT __lockstep_key, __lockstep_row FROM ${view} WHERE ${where}${tail})`;
  const order = ` ORDER BY ${L} ${desc ? 'DESC' : 'ASC'}`;
  // Values come after the nulls when nulls come first.
  const nulls = sql`(SELECT count(*) FROM ${view} WHERE ${counted} AND ${L} IS NULL)`;
  const skip = nullsFirst ? sql`max(0, ${value(last)} - ${nulls})` : value(last);
  const values = nullsFirst ? sql`max(0, ${value(last + 1)} - ${nulls})` : value(last + 1);
  const boundary = sql`(SELECT ${L} FROM ${view} WHERE ${counted} AND ${L} IS NOT NULL${order} LIMIT 1 OFFSET ${skip})`;
  const arms = [
    // The first values, and those tied with the last of them.
    rows(sql`${counted} AND ${L} IS NOT NULL`, sql`${order} LIMIT ${values}`),
    rows(sql`${counted} AND ${L} = ${boundary}`),
    // The nulls: all of them when they come first, or when the values run out before row `last`.
    rows(nullsFirst ? sql`${counted} AND ${L} IS NULL` : sql`${counted} AND ${L} IS NULL AND ${boundary} IS NULL`),
  ];
  if (tied) arms.push(rows(tied));
  return { sql: arms.map((a) => a.sql).join(' UNION ALL '), params: arms.flatMap((a) => a.params) };
}

/** The kinds recorded for a field, as SQL. */
const fieldKinds = (collection: string, name: string): Sql => sql`coalesce((SELECT types FROM __lockstep_fields WHERE collection = ${value(collection)} AND field = ${value(name)}), 0)`;

/** Options of {@link compileSubset}. */
export interface CompileOptions {
  /** Have the leader index the leading order field of an ordered, limited request and the fields a filter compares for equality with a text or number (default true). */
  autoIndex?: boolean;
}

/**
 * The subset to load for `options` from collection `collection` (which must
 * have a view, see {@link hasView}): every row matching the filter (and the
 * cursor), plus, for an ordered and limited request, the prefix it serves as
 * one statement to try first.
 */
export function compileSubset(collection: string, options: LoadSubsetOptions, { autoIndex = true }: CompileOptions = {}): SubsetInput {
  const where = options.where ? compile(options.where as unknown as Expr) : null;
  const from = options.cursor?.whereFrom ? compile(options.cursor.whereFrom as unknown as Expr) : null;
  const current = options.cursor?.whereCurrent ? compile(options.cursor.whereCurrent as unknown as Expr) : null;
  // Rows after the cursor, and the rows tied with it.
  const cursor: Compiled | null = from
    ? current
      ? { sql: `(${from.sql} OR ${current.sql})`, params: [...from.params, ...current.params], exact: from.exact && current.exact, ordered: [...from.ordered, ...current.ordered], equal: [] }
      : from
    : null;
  const filter = all([where, cursor].filter((p): p is Compiled => p !== null));
  const subset: SubsetInput = { filter: filter.sql, params: filter.params, indexes: autoIndex ? indexes(filter.equal) : [] };
  if (options.limit === undefined || !options.orderBy?.length || !filter.exact) return subset;

  const fields: string[] = [];
  for (const o of options.orderBy) {
    const f = field(o.expression as unknown as Expr);
    if (!f) return subset;
    fields.push(f);
  }
  const first = options.orderBy[0];
  const lead = fields[0];
  if (!first || lead === undefined) return subset;
  const view = `"${collection.replaceAll('"', '""')}"`;
  // The prefix is counted among the rows after the cursor (ties with it are loaded whole).
  const counted = all([where, from].filter((p): p is Compiled => p !== null));
  const tied = current ? all([where, current].filter((p): p is Compiled => p !== null)) : null;
  const served = prefix(view, counted, tied, lead, first.compareOptions.direction === 'desc', first.compareOptions.nulls !== 'last', (options.offset ?? 0) + options.limit - 1);

  // When a field SQLite would compare or order unlike TanStack ever held
  // another kind, the statement loads every row of the filter instead.
  const irregular: Sql[] = [
    ...filter.ordered.map(([name, kind]) => sql`(${fieldKinds(collection, name)} & ${~(kindBits[kind] | KIND.null) & 127}) != 0`),
    ...fields.map((name) => sql`(${fieldKinds(collection, name)} & ${KIND.text | KIND.array | KIND.object}) != 0`),
    // Numbers and booleans of one order field must not mix either.
    ...fields.map((name) => sql`((${fieldKinds(collection, name)} & ${KIND.boolean}) != 0 AND (${fieldKinds(collection, name)} & ${NUMBER}) != 0)`),
  ];
  const anyIrregular: Sql = { sql: `(${irregular.map((i) => i.sql).join(' OR ')})`, params: irregular.flatMap((i) => i.params) };
  // One side or the other, chosen by a LIMIT (SQLite reads no row under LIMIT 0).
  const everything = sql`SELECT * FROM (SELECT __lockstep_key, __lockstep_row FROM ${view} WHERE ${filter} LIMIT (CASE WHEN ${anyIrregular} THEN -1 ELSE 0 END))`;
  const statement = sql`${everything} UNION ALL SELECT * FROM (SELECT * FROM (${served}) LIMIT (CASE WHEN ${anyIrregular} THEN 0 ELSE -1 END))`;
  subset.top = { sql: statement.sql, params: statement.params };
  // The order first: the prefix walks its index.
  if (autoIndex) subset.indexes = indexes([lead, ...filter.equal]);
  return subset;
}

/** `fields` without repeats, in order (the leader builds the first few). */
const indexes = (fields: string[]): string[] => [...new Set(fields)];
