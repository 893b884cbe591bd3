// Shared helpers of the browser suites: real Chromium tabs (playwright-core)
// on the example pages (the React app at /, the vanilla page at /vanilla/),
// served by `cargo xtask test` at LOCKSTEP_URL. Each browser gets a fresh profile directory, so OPFS is real,
// empty at the start, and survives a relaunch with the same directory.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.LOCKSTEP_CHROMIUM || '/usr/bin/chromium';

// Quiet, and working as root, in a container without a GPU or a sandbox.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // For experiments only (never set by the suites or the bench): V8 flags,
  // e.g. LOCKSTEP_CHROMIUM_JS_FLAGS='--wasm-caching-hard-threshold=2000
  // --wasm-caching-timeout-ms=0' to have Chromium cache the wasm module's
  // optimised code as soon as there is any (README, the 10,000-row insert).
  ...(process.env.LOCKSTEP_CHROMIUM_JS_FLAGS ? [`--js-flags=${process.env.LOCKSTEP_CHROMIUM_JS_FLAGS}`] : []),
];

export const COLLECTION = 'todos';

/** The base URL of the served examples/browser/ directory. */
export function baseUrl() {
  const url = process.env.LOCKSTEP_URL;
  if (!url) {
    throw new Error(
      'LOCKSTEP_URL is not set: run `cargo xtask test`, or `cargo xtask serve` and ' +
        'LOCKSTEP_URL=http://127.0.0.1:PORT/ node --test tests/browser/',
    );
  }
  return url;
}

/**
 * A page for one (app, scope); give every test its own scope. By default the
 * vanilla page on the raw path (`vanilla/`); `page: ''` is the React app on
 * TanStack DB. Both are served from one origin, so they share databases.
 */
export function appUrl(scope, { app = 'lockstep-tests', page = 'vanilla/', memory = false } = {}) {
  const url = new URL(page, baseUrl());
  url.searchParams.set('app', app);
  url.searchParams.set('scope', scope);
  if (memory) url.searchParams.set('storage', 'memory');
  return url.href;
}

/** The React app (TanStack DB + @lockstep/db) for one (app, scope). */
export function reactUrl(scope, options = {}) {
  return appUrl(scope, { ...options, page: '' });
}

/** A scope no other test or run uses. */
export function uniqueScope(name) {
  return `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Milliseconds since `start`, for the timing lines. */
export function since(start) {
  return `${Math.round(performance.now() - start)} ms`;
}

export function log(...args) {
  console.log('  [browser]', ...args);
}

/**
 * Launches Chromium with a persistent profile: a fresh temporary one, or
 * `userDataDir` to reopen an earlier one. `close({ keepProfile })` closes the
 * browser and removes the profile unless asked to keep it.
 */
export async function launch({ userDataDir } = {}) {
  const dir = userDataDir ?? (await mkdtemp(join(tmpdir(), 'lockstep-chromium-')));
  const start = performance.now();
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  // The persistent context opens one blank page; it is not a Lockstep tab.
  for (const page of context.pages()) await page.close();
  log(`chromium up in ${since(start)} (profile ${dir})`);
  return {
    context,
    userDataDir: dir,
    async close({ keepProfile = false } = {}) {
      await context.close().catch(() => {});
      if (!keepProfile) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a tab on `url` and waits until the app set `window.lockstep.ready`
 * (the tab is open and `todos` is hydrated). Console errors, page errors and
 * failed requests of the tab (and its workers) are printed with its name.
 */
export async function openTab(context, url, { name = 'tab', timeoutMs = 20_000 } = {}) {
  const start = performance.now();
  const page = await context.newPage();
  page.tabName = name;
  page.consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      const line = `${message.type()}: ${message.text()}`;
      if (message.type() === 'error') page.consoleErrors.push(line);
      log(`${page.tabName} console ${line}`);
    }
  });
  page.on('pageerror', (error) => {
    page.consoleErrors.push(`pageerror: ${error.message}`);
    log(`${page.tabName} page error: ${error.stack ?? error.message}`);
  });
  page.on('requestfailed', (request) =>
    log(`${page.tabName} request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  page.on('worker', (worker) =>
    worker.on('close', () => log(`${page.tabName} worker closed: ${worker.url()}`)));
  await page.goto(url);
  await waitReady(page, timeoutMs);
  const s = await statusIfAny(page);
  page.tabId = s?.tabId ?? null;
  log(`${name} ready in ${since(start)}${s ? `: tab ${s.tabId}${s.isLeader ? ' (leader)' : ''}` : ''}`);
  return page;
}

async function waitReady(page, timeoutMs) {
  await page.waitForFunction(
    () => window.lockstep && (window.lockstep.ready || window.lockstep.error),
    null,
    { timeout: timeoutMs, polling: 25 },
  );
  const error = await page.evaluate(() => window.lockstep.error);
  if (error) throw new Error(`${page.tabName} could not open: ${error}`);
}

// Pages without `window.lockstep.db` (the bench's other libraries, the
// Leptos app, which shows its status in the DOM) have no status here.
function statusIfAny(page) {
  return page.evaluate((plain) => (window.lockstep.db ? (0, eval)(plain)(window.lockstep.db.status) : null), PLAIN);
}

/** Reloads a tab and waits until it is ready again. */
export async function reloadTab(page, { timeoutMs = 20_000 } = {}) {
  const start = performance.now();
  await page.reload();
  await waitReady(page, timeoutMs);
  page.tabId = (await statusIfAny(page))?.tabId ?? null;
  log(`${page.tabName} reloaded in ${since(start)}: tab ${page.tabId}`);
  return page;
}

// Runs in the page: wasm-bindgen may hand back Maps where JSON has objects.
const PLAIN = `(function plain(v) {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return typeof v === 'bigint' ? Number(v) : v;
})`;

// Runs in the page: the LiveCollection of a collection (the demo opens `todos`).
const COLLECTION_OF = `(function collectionOf(c) {
  const l = window.lockstep;
  if (c === 'todos' && l.todos) return l.todos;
  l.collections ??= {};
  return (l.collections[c] ??= l.db.collection(c));
})`;

/**
 * The tab's rows of `collection`, in key order: `[{ key, value }]` (from a
 * LiveCollection on the vanilla page, or a TanStack collection in the React app).
 */
export function rows(page, collection = COLLECTION) {
  return page.evaluate(
    ([c, plain, of]) => {
      const live = (0, eval)(of)(c);
      const rows = typeof live.rows === 'function'
        ? live.rows()
        : [...live.entries()].map(([key, value]) => ({ key, value })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return (0, eval)(plain)(rows);
    },
    [collection, PLAIN, COLLECTION_OF],
  );
}

/** The tab's status: `{ tabId, leaderTabId, isLeader, term, seq, pending, health, storage, error, warning }`. */
export function status(page) {
  return page.evaluate((plain) => (0, eval)(plain)(window.lockstep.db.status), PLAIN);
}

/** Every row of `collection` in the live database, read through the leader (a debug page's view). */
export function liveRows(page, collection = COLLECTION) {
  return page.evaluate(
    async ([c, plain]) => (0, eval)(plain)(await window.lockstep.db.raw.inspectRows(c)),
    [collection, PLAIN],
  );
}

/**
 * Waits until `predicateSource` (a function, or the source of one, run in the
 * page with `arg`; `window.lockstep.db` is the database, `window.lockstep.todos` its todos) returns a truthy value.
 * Returns as soon as it holds; fails after `timeoutMs` with `what` and the
 * tab's rows and status.
 */
export async function waitFor(page, predicateSource, timeoutMs = 15_000, { arg = null, what } = {}) {
  const start = performance.now();
  const predicate = typeof predicateSource === 'function' ? predicateSource : `(${predicateSource})`;
  try {
    const handle = await page.waitForFunction(
      typeof predicate === 'function' ? predicate : `${predicate}(${JSON.stringify(arg)})`,
      typeof predicate === 'function' ? arg : undefined,
      { timeout: timeoutMs, polling: 25 },
    );
    await handle.dispose();
  } catch (error) {
    const detail = await describe(page).catch((e) => `(cannot read the tab: ${e.message})`);
    throw new Error(
      `${page.tabName}: ${what ?? 'condition'} did not hold within ${timeoutMs} ms: ${error.message.split('\n')[0]}\n${detail}`,
    );
  }
  const ms = performance.now() - start;
  if (what) log(`${page.tabName}: ${what} after ${Math.round(ms)} ms`);
  return ms;
}

/** Waits until the tab holds exactly `keys` (any order) with nothing pending. */
export function waitForKeys(page, keys, timeoutMs = 15_000, collection = COLLECTION) {
  return waitFor(
    page,
    ([c, want, of]) => {
      const have = (0, eval)(of)(c).rows().map((r) => JSON.stringify(r.key));
      return window.lockstep.db.status.pending === 0 && have.length === want.length &&
        want.every((k) => have.includes(k));
    },
    timeoutMs,
    { arg: [collection, keys.map((k) => JSON.stringify(k)), COLLECTION_OF], what: `${keys.length} expected rows` },
  );
}

/** Waits until the tab holds every one of `keys` (and maybe more). */
export function waitForAllKeys(page, keys, timeoutMs = 15_000, collection = COLLECTION) {
  return waitFor(
    page,
    ([c, want, of]) => {
      const have = new Set((0, eval)(of)(c).rows().map((r) => JSON.stringify(r.key)));
      return want.every((k) => have.has(k));
    },
    timeoutMs,
    { arg: [collection, keys.map((k) => JSON.stringify(k)), COLLECTION_OF], what: `all ${keys.length} keys present` },
  );
}

/** Inserts a row from a tab; resolves `{ term, seq }` once durable. */
export function insert(page, key, value, collection = COLLECTION) {
  return page.evaluate(
    async ([c, k, v, plain, of]) => (0, eval)(plain)(await (0, eval)(of)(c).insert(k, v)),
    [collection, key, value, PLAIN, COLLECTION_OF],
  );
}

export function update(page, key, value, collection = COLLECTION) {
  return page.evaluate(
    async ([c, k, v, of]) => { await (0, eval)(of)(c).update(k, v); },
    [collection, key, value, COLLECTION_OF],
  );
}

export function remove(page, key, collection = COLLECTION) {
  return page.evaluate(
    async ([c, k, of]) => { await (0, eval)(of)(c).delete(k); },
    [collection, key, COLLECTION_OF],
  );
}

/**
 * The tab whose status says it leads, among `pages`; waits for one.
 * `statusOf` reads a tab's status (the Leptos pages show theirs in the DOM).
 */
export async function findLeader(pages, timeoutMs = 15_000, statusOf = status) {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    for (const page of pages) {
      if (!page.isClosed() && (await statusOf(page)).isLeader) return page;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no tab became leader within ${timeoutMs} ms`);
}

/** Rows and status of a tab, for failure messages and reports. */
export async function describe(page) {
  const [s, r] = await Promise.all([status(page), rows(page)]);
  const leader = s.isLeader ? ' LEADER' : '';
  return `${page.tabName} (tab ${s.tabId}${leader}, term ${s.term}, seq ${s.seq}, pending ${s.pending}, ${s.health}${s.error ? `: ${s.error}` : ''}) ${r.length} rows: ${JSON.stringify(r)}`;
}

/** Rejects with `message` when `promise` takes longer than `ms`. */
export function within(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (no answer within ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
