// TanStack DB mutations as Lockstep ops: one envelope per TanStack
// transaction, committed in one SQLite transaction or not at all.
import type { PendingMutation } from '@tanstack/db';
import type { OpInput } from '../wasm/lockstep.js';

type Row = Record<string, unknown>;

/**
 * The ops of a transaction's mutations, in order:
 * - an insert carries the whole row;
 * - an update carries only `changes` (TanStack's top-level diff) as a patch the
 *   leader merges into the row as it is when it commits, so concurrent edits
 *   of different fields from different tabs all survive; a field deleted (or
 *   set to `undefined`) is sent as removed;
 * - a delete carries the key.
 */
export function opsOf(mutations: ReadonlyArray<PendingMutation<Row>>): OpInput[] {
  return mutations.map((mutation): OpInput => {
    const collection = mutation.collection.id;
    const key = mutation.key as string | number;
    switch (mutation.type) {
      case 'insert':
        return { op: 'insert', collection, key, value: mutation.modified };
      case 'update': {
        const fields: Row = {};
        const unset: string[] = [];
        for (const [name, value] of Object.entries(mutation.changes)) {
          if (value === undefined) unset.push(name);
          else fields[name] = value;
        }
        return { op: 'patch', collection, key, fields, unset };
      }
      case 'delete':
        return { op: 'delete', collection, key };
    }
  });
}
