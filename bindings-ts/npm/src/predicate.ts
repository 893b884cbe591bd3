// Whether a committed row may belong to a loaded subset of an on-demand
// collection, so that later commits keep the subsets live: TanStack's
// three-valued semantics for the operators `subset.ts` compiles, and `true`
// ("maybe") for anything else. A row wrongly kept costs memory, never
// correctness: TanStack applies the query's own filter to what it holds.

type Expr = { type: 'ref'; path: string[] } | { type: 'val'; value: unknown } | { type: 'func'; name: string; args: Expr[] };

/** A value, `undefined` when the expression is not one this file evaluates. */
const MAYBE = Symbol('maybe');

function value(expr: Expr | undefined, row: Record<string, unknown>): unknown {
  if (!expr) return MAYBE;
  if (expr.type === 'val') return expr.value;
  if (expr.type === 'ref') {
    let v: unknown = row;
    for (const part of expr.path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  }
  return MAYBE;
}

const unknown = (v: unknown) => v === null || v === undefined;
const orderable = (v: unknown) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';

/** `true`, `false`, `null` (unknown) or `MAYBE`. */
function evaluate(expr: Expr, row: Record<string, unknown>): boolean | null | typeof MAYBE {
  if (expr.type !== 'func') return MAYBE;
  const { name, args } = expr;
  if (name === 'and' || name === 'or') {
    let sawUnknown = false;
    let sawMaybe = false;
    for (const arg of args) {
      const r = evaluate(arg, row);
      if (r === (name === 'or')) return r;
      if (r === MAYBE) sawMaybe = true;
      else if (r === null) sawUnknown = true;
    }
    if (sawMaybe) return MAYBE;
    return sawUnknown ? null : name === 'and';
  }
  if (name === 'not') {
    const r = args[0] ? evaluate(args[0], row) : MAYBE;
    return r === MAYBE || r === null ? r : !r;
  }
  const a = value(args[0], row);
  const b = value(args[1], row);
  if (a === MAYBE || b === MAYBE) return MAYBE;
  switch (name) {
    case 'eq':
      if (unknown(a) || unknown(b)) return null;
      return orderable(a) && orderable(b) ? a === b : MAYBE;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (unknown(a) || unknown(b)) return null;
      if (!orderable(a) || !orderable(b)) return MAYBE;
      const x = a as number;
      const y = b as number;
      return name === 'gt' ? x > y : name === 'gte' ? x >= y : name === 'lt' ? x < y : x <= y;
    }
    case 'in':
      if (unknown(a)) return null;
      return Array.isArray(b) && orderable(a) ? b.includes(a) : MAYBE;
    case 'isNull':
      return a === null;
    case 'isUndefined':
      return a === undefined;
    default:
      return MAYBE;
  }
}

/** Whether `row` may satisfy `where` (a TanStack expression; none: every row). */
export function mayMatch(where: unknown, row: Record<string, unknown>): boolean {
  if (where === undefined || where === null) return true;
  const r = evaluate(where as Expr, row);
  return r === true || r === MAYBE;
}
