// The Lockstep browser demo: one collection, `todos`, shared by every tab of
// the same (app, scope). Vanilla JS on the wasm package, no build step.
//   ?app=lockstep-demo&scope=demo-user   (the defaults)
import init, { BrowserTab } from './pkg/lockstep_browser.js';

const COLLECTION = 'todos';
const params = new URLSearchParams(location.search);
const app = params.get('app') || 'lockstep-demo';
const scope = params.get('scope') || 'demo-user';

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
  $('seq').textContent = status.applied ?? '–';
  $('pending').textContent = status.pending;
  $('health').textContent = status.error ? `${status.health}: ${status.error}` : status.health;
  document.title = `${status.isLeader ? '★ ' : ''}Lockstep demo · ${status.tabId}`;
}

function rowItem(tab, key) {
  const li = document.createElement('li');
  li.dataset.key = JSON.stringify(key);
  li.innerHTML = `<input type="checkbox" class="done" title="done">
    <input class="title" aria-label="title">
    <button class="delete" title="delete">Delete</button>`;
  const value = () => tab.get(COLLECTION, key) ?? {};
  li.querySelector('.done').addEventListener('change', (event) =>
    write(() => tab.update(COLLECTION, key, { ...value(), done: event.target.checked })));
  const title = li.querySelector('.title');
  const saveTitle = () => {
    const text = title.value.trim();
    if (text && text !== value().title) {
      write(() => tab.update(COLLECTION, key, { ...value(), title: text }));
    }
  };
  title.addEventListener('change', saveTitle);
  title.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') title.blur();
    if (event.key === 'Escape') { title.value = value().title ?? ''; title.blur(); }
  });
  li.querySelector('.delete').addEventListener('click', () =>
    write(() => tab.delete(COLLECTION, key)));
  return li;
}

// Keyed re-render: existing items are updated in place, so a title being
// edited keeps its focus while other tabs write.
function renderRows(tab) {
  const rows = tab.rows(COLLECTION);
  const seen = new Set();
  let previous = null;
  for (const { key, value } of rows) {
    const id = JSON.stringify(key);
    seen.add(id);
    let li = items.get(id);
    if (!li) {
      li = rowItem(tab, key);
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
  await init();
  const worker = new URL('./worker.mjs', import.meta.url).href;
  const tab = await BrowserTab.open(app, scope, worker);
  tab.onStatus(renderStatus);
  tab.openCollection(COLLECTION);
  await tab.ready(COLLECTION);
  tab.subscribe(COLLECTION, () => {
    renderRows(tab);
    renderStatus(tab.status());
  });
  renderRows(tab);
  renderStatus(tab.status());

  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('new-title');
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    write(() => tab.insert(COLLECTION, newKey(), { title, done: false }));
  });
  addEventListener('pagehide', () => tab.close());

  window.lockstep = { ready: true, tab, app, scope };
}

main().catch((error) => {
  console.error('lockstep: cannot open the tab:', error);
  $('health').textContent = `failed: ${error?.message ?? error}`;
  showError(error);
  window.lockstep = { ready: false, error: String(error?.message ?? error) };
});
