// Helpers for the suites that drive the Leptos example (`/leptos/`). Its
// state is read from the DOM, as a user sees it: the status badge carries
// data- attributes, every todo is an `li[data-id]` of `ul.todos`.
// `window.lockstep` has `ready`, `error`, `insertTodo(id, title)` and
// `updateTitle(id, title)` (writes through the app's own UseCollection).
import * as h from './harness.mjs';

/** The Leptos app for one (app, scope); same origin as the React app, so they share databases. */
export function leptosUrl(scope, options = {}) {
  return h.appUrl(scope, { ...options, page: 'leptos/' });
}

/** The status badge's values: `{ tabId, isLeader, term, seq, pending, health, storage }`. */
export function status(page) {
  return page.evaluate(() => {
    const d = document.querySelector('.status')?.dataset ?? {};
    return {
      tabId: d.tab,
      isLeader: d.leader === 'true',
      term: Number(d.term),
      seq: d.seq === '' || d.seq === undefined ? null : Number(d.seq),
      pending: Number(d.pending),
      health: d.health,
      storage: d.storage,
    };
  });
}

/** The todos the page shows, in order: `[{ id, title, done }]`. */
export function todos(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('ul.todos > li')].map((li) => ({
      id: li.dataset.id,
      title: li.querySelector('.title')?.textContent ?? null,
      done: li.classList.contains('done'),
    })));
}

/** Waits until the page shows every id of `ids`. */
export function waitForIds(page, ids, timeoutMs = 15_000) {
  return h.waitFor(
    page,
    (want) => {
      const have = new Set([...document.querySelectorAll('ul.todos > li')].map((li) => li.dataset.id));
      return want.every((id) => have.has(id));
    },
    timeoutMs,
    { arg: ids, what: `all ${ids.length} ids on the Leptos page` },
  );
}

/** Waits until the page shows todo `id` titled `title`. */
export function waitForTitle(page, id, title, timeoutMs = 15_000) {
  return h.waitFor(
    page,
    ([key, want]) => document.querySelector(`ul.todos > li[data-id="${key}"] .title`)?.textContent === want,
    timeoutMs,
    { arg: [id, title], what: `todo ${id} titled ${JSON.stringify(title)} on the Leptos page` },
  );
}

/** Adds a todo through the page's form, as a user would. */
export async function addThroughForm(page, title) {
  await page.fill('form input[name="title"]', title);
  await page.press('form input[name="title"]', 'Enter');
}

/**
 * Inserts todo `id` through the app's UseCollection, optionally after
 * keeping the main thread busy for `blockMs` (what other tabs commit
 * meanwhile waits in the queue: a deterministic conflict). Resolves with
 * `{ ok: true, position }` or `{ ok: false, error }`.
 */
export function insertTodo(page, id, title, { blockMs = 0 } = {}) {
  return page.evaluate(async ([key, text, ms]) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* the tab sees nothing meanwhile */ }
    try {
      return { ok: true, position: await window.lockstep.insertTodo(key, text) };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e) };
    }
  }, [id, title, blockMs]);
}

/** The Leptos tab whose badge says it leads, among `pages`; waits for one. */
export function findLeader(pages, timeoutMs = 15_000) {
  return h.findLeader(pages, timeoutMs, status);
}
