// The todo list: a live query over the Lockstep-backed collection. Writes
// show at once in this tab, reach every other tab, and roll back with the
// error shown if the database refuses them.
import { useState, type FormEvent } from 'react';
import { useLiveQuery } from '@tanstack/react-db';
import { todos } from './db';
import type { Todo } from './schema';
import { Inspector } from './Inspector';
import { StatusBadge } from './StatusBadge';

function newId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${crypto.randomUUID().slice(0, 8)}`;
}

export function App() {
  const [error, setError] = useState<string | null>(null);
  const { data, isLoading } = useLiveQuery({
    query: (q) => q.from({ todo: todos }).orderBy(({ todo }) => todo.createdAt),
  });

  // Runs a write; TanStack DB rolls it back if Lockstep refuses it.
  const write = async (run: () => { isPersisted: { promise: Promise<unknown> } }) => {
    setError(null);
    try {
      await run().isPersisted.promise;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const add = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem('title') as HTMLInputElement;
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    void write(() => todos.insert({ id: newId(), title, done: false, createdAt: Date.now() }));
  };

  return (
    <div className="layout">
      <main>
        <StatusBadge />
        <h1>todos</h1>
        <form onSubmit={add} autoComplete="off">
          <input name="title" placeholder="What needs doing?" aria-label="new todo" />
          <button type="submit">Add</button>
        </form>
        {error && <p className="error" role="alert">{error}</p>}
        {isLoading ? (
          <p className="hint">loading…</p>
        ) : (
          <ul className="todos">
            {data.map((todo) => (
              <TodoItem key={todo.id} todo={todo} write={write} />
            ))}
          </ul>
        )}
        <p className="hint">Open this page in more tabs: every tab shows the same todos. Close the leader tab and another takes over.</p>
      </main>
      <Inspector />
    </div>
  );
}

function TodoItem({ todo, write }: { todo: Todo; write: (run: () => { isPersisted: { promise: Promise<unknown> } }) => Promise<void> }) {
  const [title, setTitle] = useState(todo.title);
  const [editing, setEditing] = useState(false);
  const save = () => {
    setEditing(false);
    const text = title.trim();
    if (text && text !== todo.title) {
      void write(() => todos.update(todo.id, (draft) => { draft.title = text; }));
    } else {
      setTitle(todo.title);
    }
  };
  return (
    <li data-id={todo.id} className={todo.done ? 'done' : undefined}>
      <input
        type="checkbox"
        className="toggle"
        checked={todo.done}
        aria-label="done"
        onChange={(e) => void write(() => todos.update(todo.id, (draft) => { draft.done = e.target.checked; }))}
      />
      <input
        className="title"
        aria-label="title"
        value={editing ? title : todo.title}
        onFocus={() => { setTitle(todo.title); setEditing(true); }}
        onChange={(e) => setTitle(e.target.value)}
        onBlur={save}
        onKeyDown={(e) => { if (e.key === 'Enter') e.currentTarget.blur(); }}
      />
      <button className="delete" onClick={() => void write(() => todos.delete(todo.id))}>Delete</button>
    </li>
  );
}
