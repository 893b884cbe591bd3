// Helpers for the suites that drive the React example through TanStack DB's
// own API (`window.lockstep.todos` is a TanStack collection made with
// lockstepCollectionOptions; `window.lockstep.db` the Lockstep database).
import * as h from './harness.mjs';

/** A todo row as the example's schema wants it. */
export function todo(id, title = id, extra = {}) {
  return { id, title, done: false, createdAt: Date.now(), ...extra };
}

/**
 * Inserts todos (one TanStack transaction) and waits until `isPersisted`
 * resolves. Resolves with `{ ok: true }` or `{ ok: false, error, name }`.
 */
export function insert(page, todos) {
  return page.evaluate(async (rows) => {
    try {
      await window.lockstep.todos.insert(rows).isPersisted.promise;
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e), name: e?.name ?? '', code: e?.code ?? e?.cause?.code ?? null };
    }
  }, Array.isArray(todos) ? todos : [todos]);
}

/**
 * Inserts `todos` in `page` after keeping its main thread busy for
 * `blockMs`: whatever the other tabs commit meanwhile waits in the tab's
 * queue, so the insert is checked against a view that does not have it yet
 * and reaches the leader after it (a deterministic conflict). Start it, give
 * the page a moment to start blocking, then write from another tab.
 */
export function insertAfterBlocking(page, todos, blockMs = 1_500) {
  return page.evaluate(async ([rows, ms]) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* the tab sees nothing meanwhile */ }
    try {
      await window.lockstep.todos.insert(rows).isPersisted.promise;
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e), name: e?.name ?? '', code: e?.code ?? e?.cause?.code ?? null };
    }
  }, [Array.isArray(todos) ? todos : [todos], blockMs]);
}

/** Updates one todo with `fields` through a draft, and waits for `isPersisted`. */
export function update(page, id, fields) {
  return page.evaluate(async ([key, set]) => {
    try {
      await window.lockstep.todos.update(key, (draft) => Object.assign(draft, set)).isPersisted.promise;
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e), name: e?.name ?? '' };
    }
  }, [id, fields]);
}

/** Deletes one todo and waits for `isPersisted`. */
export function remove(page, id) {
  return page.evaluate(async (key) => {
    try {
      await window.lockstep.todos.delete(key).isPersisted.promise;
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e), name: e?.name ?? '' };
    }
  }, id);
}

/** The todos the tab's TanStack collection shows, without virtual props, sorted by id. */
export function rows(page) {
  return page.evaluate(() =>
    [...window.lockstep.todos.values()]
      .map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('$'))))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
}

/** The ids of the rows TanStack holds as synced (committed), sorted. */
export function syncedIds(page) {
  return page.evaluate(() =>
    [...window.lockstep.todos.values()].filter((r) => r.$synced).map((r) => r.id).sort());
}

/** The rows of `todos` in the live database, read through the leader. */
export function liveRows(page) {
  return page.evaluate(async () => {
    const rows = await window.lockstep.db.raw.inspectRows('todos');
    return rows.map((r) => r.value).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  });
}

/** Opens the React app in a tab and waits until its todos collection is ready. */
export async function openApp(context, url, options) {
  const page = await h.openTab(context, url, options);
  await page.evaluate(() => window.lockstep.todos.preload());
  return page;
}

/** Waits until the tab's collection holds every id of `ids` (synced or not). */
export function waitForIds(page, ids, timeoutMs = 15_000) {
  return h.waitFor(
    page,
    (want) => {
      const have = new Set(window.lockstep.todos.keys());
      return want.every((id) => have.has(id));
    },
    timeoutMs,
    { arg: ids, what: `all ${ids.length} ids in the TanStack collection` },
  );
}

/** Waits until the tab has nothing pending and its rows equal `expected`. */
export function waitForRows(page, expected, timeoutMs = 15_000) {
  return h.waitFor(
    page,
    (want) => {
      const have = [...window.lockstep.todos.values()]
        .map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('$'))))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return window.lockstep.db.status.pending === 0 && JSON.stringify(have) === want;
    },
    timeoutMs,
    { arg: JSON.stringify(expected), what: `the same ${expected.length} rows` },
  );
}
