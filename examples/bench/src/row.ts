// The rows every library writes: the same shape and size everywhere.
export interface Row {
  id: string;
  title: string;
  done: boolean;
  n: number;
}

export function row(prefix: string, i: number): Row {
  return { id: `${prefix}${String(i).padStart(6, '0')}`, title: `todo number ${i}`, done: i % 2 === 0, n: i };
}
