// Type tests of @lockstep/db, compiled by `cargo xtask test` with `tsc`
// against the built `.d.ts` (imported by the package's own name, as an app
// does). Lines marked @ts-expect-error must NOT compile: tsc fails if one does.
import { createCollection, createLiveQueryCollection, createTransaction, eq } from '@tanstack/db';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import {
  KeyExistsError,
  LockstepError,
  lockstepCollectionOptions,
  openDatabase,
  type InspectReport,
  type QueryResult,
  type Status,
} from '@lockstep/db';

interface Todo {
  id: string;
  title: string;
  done: boolean;
}

const db = await openDatabase({ app: 'todo-app', scope: 'user-1' });
const todos = createCollection(lockstepCollectionOptions({ db, id: 'todos', getKey: (t: Todo) => t.id }));

todos.insert({ id: 't1', title: 'write docs', done: false });
todos.update('t1', (draft) => {
  draft.done = true;
});
const first: Todo | undefined = todos.get('t1');
// On demand: nothing loads until a live query asks; its filter runs on the leader.
const notes = createCollection(lockstepCollectionOptions({ db, id: 'notes', getKey: (t: Todo) => t.id, syncMode: 'on-demand' }));
const open = createLiveQueryCollection((q) => q.from({ n: notes }).where(({ n }) => eq(n.done, false)).orderBy(({ n }) => n.title).limit(20));
const openTitles: string[] = open.toArray.map((n) => n.title);
// @ts-expect-error: TanStack's other sync modes are not Lockstep's
lockstepCollectionOptions({ db, id: 'notes', getKey: (t: Todo) => t.id, syncMode: 'progressive' });
const status: Status = db.status;
const leads: boolean = status.isLeader;
const storage: 'opfs' | 'memory' | null = status.storage;
const stop: () => void = db.onStatus((s) => void s.health);
const report: InspectReport = await db.inspect({ sampleRows: 3 });
const rows: number | undefined = report.collections[0]?.rows;
const droppedHere: number = report.tab.dropped.oversized + report.tab.dropped.malformed;
const resends: number = report.tab.resends;
const result: QueryResult = await db.query('select count(*) as n from todos where done = ?', [true]);
const columns: string[] = result.columns;
const theDb = todos.utils.database;
const tx = createTransaction({ mutationFn: ({ transaction }) => db.push(transaction.mutations) });
try {
  await tx.isPersisted.promise;
} catch (e) {
  if (e instanceof KeyExistsError) {
    const code: 'key-exists' | string = e.code;
    void code;
  }
  if (e instanceof LockstepError) void e.collection;
}
await db.close();

// A Standard Schema gives the item type.
const todoSchema: StandardSchemaV1<Todo, Todo> = {
  '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value: value as Todo }) },
};
const validated = createCollection(
  lockstepCollectionOptions({ db, id: 'validated', schema: todoSchema, getKey: (todo) => todo.id }),
);
validated.insert({ id: 'v', title: 'typed by the schema', done: false });

// Calls that must not compile:
// @ts-expect-error a todo needs a title
todos.insert({ id: 't2', done: false });
// @ts-expect-error done is a boolean
todos.update('t1', (draft) => { draft.done = 'yes'; });
// @ts-expect-error getKey must return a string or a number
lockstepCollectionOptions({ db, id: 'x', getKey: (t: Todo) => ({ key: t.id }) });
// @ts-expect-error the database is required
lockstepCollectionOptions({ id: 'x', getKey: (t: Todo) => t.id });
// @ts-expect-error query parameters are an array
await db.query('select 1', true);
// @ts-expect-error a schema's items are Todos: no such field
validated.insert({ id: 'w', title: 't', done: false, priority: 1 });
// @ts-expect-error openDatabase needs a scope
await openDatabase({ app: 'todo-app' });

void [first, leads, storage, stop, rows, columns, theDb, openTitles];
