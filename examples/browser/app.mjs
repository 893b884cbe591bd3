// The Lockstep browser demo without a framework or a bundler: one
// collection, `todos`, shared by every tab of the same (app, scope), on the
// raw path of @lockstep/db (`db.collection`), served as built into ./pkg.
//   ?app=lockstep-demo&scope=demo-user   (the defaults)
//   &storage=memory                      keep the database in memory only
import { openDatabase } from './pkg/dist/index.js';

const COLLECTION = 'todos';
const params = new URLSearchParams(location.search);
const app = params.get('app') || 'lockstep-demo';
const scope = params.get('scope') || 'demo-user';
const memoryOnly = params.get('storage') === 'memory';

const $ = (id) => document.getElementById(id);
const list = $('rows');
const items = new Map(); // JSON.stringify(key) -> <li>

function showError(error) {
  const message = error ? String(error.message ?? error) : '';
  $('error').textContent = message;
  $('error').hidden = !message;
  if (message) console.warn('lockstep:', message);
}

// Runs a write; the row shows at once (optimistic), and a refusal rolls it back.
async function write(action) {
  try {
    showError(null);
    await action();
  } catch (error) {
    showError(error);
  }
}

function renderStatus(status) {
  $('tab-id').textContent = status.tabId;
  $('leader-badge').hidden = !status.isLeader;
  $('term').textContent = status.term;
  $('seq').textContent = status.seq ?? '–';
  $('pending').textContent = status.pending;
  const note = status.error ?? status.warning;
  $('health').textContent = note ? `${status.health}: ${note}` : status.health;
  $('storage').textContent = status.storage ?? '–';
  document.title = `${status.isLeader ? '★ ' : ''}Lockstep demo · ${status.tabId}`;
}

function rowItem(todos, key) {
  const li = document.createElement('li');
  li.dataset.key = JSON.stringify(key);
  li.innerHTML = `<input type="checkbox" class="done" title="done">
    <input class="title" aria-label="title">
    <button class="delete" title="delete">Delete</button>`;
  const value = () => todos.get(key) ?? {};
  li.querySelector('.done').addEventListener('change', (event) =>
    write(() => todos.patch(key, { done: event.target.checked })));
  const title = li.querySelector('.title');
  const saveTitle = () => {
    const text = title.value.trim();
    if (text && text !== value().title) {
      write(() => todos.patch(key, { title: text }));
    }
  };
  title.addEventListener('change', saveTitle);
  title.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') title.blur();
    if (event.key === 'Escape') { title.value = value().title ?? ''; title.blur(); }
  });
  li.querySelector('.delete').addEventListener('click', () =>
    write(() => todos.delete(key)));
  return li;
}

// Keyed re-render: existing items are updated in place, so a title being
// edited keeps its focus while other tabs write.
function renderRows(todos) {
  const rows = todos.rows();
  const seen = new Set();
  let previous = null;
  for (const { key, value } of rows) {
    const id = JSON.stringify(key);
    seen.add(id);
    let li = items.get(id);
    if (!li) {
      li = rowItem(todos, key);
      items.set(id, li);
    }
    const title = li.querySelector('.title');
    if (document.activeElement !== title) title.value = value.title ?? '';
    li.querySelector('.done').checked = Boolean(value.done);
    li.classList.toggle('done', Boolean(value.done));
    const next = previous ? previous.nextSibling : list.firstChild;
    if (next !== li) list.insertBefore(li, next);
    previous = li;
  }
  for (const [id, li] of items) {
    if (!seen.has(id)) {
      li.remove();
      items.delete(id);
    }
  }
}

// Keys sort by creation time, so the list keeps the order things were added in.
function newKey() {
  return `${Date.now().toString(36).padStart(9, '0')}-${crypto.randomUUID().slice(0, 8)}`;
}

async function main() {
  const db = await openDatabase({ app, scope, memoryOnly });
  renderStatus(db.status);
  db.onStatus(renderStatus);
  const todos = db.collection(COLLECTION);
  await todos.ready();
  todos.subscribe(() => renderRows(todos));
  renderRows(todos);

  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('new-title');
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    write(() => todos.insert(newKey(), { title, done: false }));
  });
  addEventListener('pagehide', () => db.close());

  // For the console and the browser tests.
  window.lockstep = { ready: true, db, todos, app, scope };
}

main().catch((error) => {
  console.error('lockstep: cannot open the tab:', error);
  $('health').textContent = `failed: ${error?.message ?? error}`;
  showError(error);
  window.lockstep = { ready: false, error: String(error?.message ?? error) };
});
