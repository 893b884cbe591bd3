// The page that tests/browser/bench.mjs (`cargo xtask bench --browser`)
// drives: one Lockstep tab on (app, scope), collection `todos`, plus the
// in-page helpers the benchmark calls through `window.bench`. Every time is
// `performance.timeOrigin + performance.now()`, comparable across tabs.
//   bench.html?app=A&scope=S   a Lockstep tab (sets window.lockstep like app.mjs)
//   bench.html?mode=raw        no tab: only the raw-SQLite baseline (bench-worker.mjs)
import init, { BrowserTab } from './pkg/lockstep_browser.js';

const COLLECTION = 'todos';
const params = new URLSearchParams(location.search);
const app = params.get('app') || 'lockstep-bench';
const scope = params.get('scope') || 'bench';
const mode = params.get('mode') || 'tab';

const now = () => performance.timeOrigin + performance.now();
const row = (i) => ({ title: `todo number ${i}`, done: i % 2 === 0, n: i });

// Arrival times by id ("row:<json key>" or "bc:<id>"), and who waits for one.
const seen = new Map();
const waiters = new Map();
function arrived(id, t) {
  if (seen.has(id)) return;
  seen.set(id, t);
  const waiting = waiters.get(id);
  if (waiting) {
    waiters.delete(id);
    for (const resolve of waiting) resolve(t);
  }
}

// The floor: a plain BroadcastChannel between the tabs of this scope.
const floor = new BroadcastChannel(`lockstep-bench-floor:${app}:${scope}`);
floor.onmessage = (event) => arrived(`bc:${event.data.id}`, now());

const bench = {
  row,
  now,
  /** Resolves with the arrival time of `id`, or rejects after `timeoutMs`. */
  waitSeen(id, timeoutMs = 10_000) {
    if (seen.has(id)) return Promise.resolve(seen.get(id));
    return new Promise((resolve, reject) => {
      const list = waiters.get(id) ?? [];
      list.push(resolve);
      waiters.set(id, list);
      setTimeout(() => reject(new Error(`${id} not seen within ${timeoutMs} ms`)), timeoutMs);
    });
  },
  /** Posts `{id}` on the floor channel; returns the send time. */
  bcSend(id) {
    const t0 = now();
    floor.postMessage({ id });
    return t0;
  },
  /** Records, from now on, when each newly inserted row becomes visible here. */
  watch() {
    if (bench.watching) return;
    bench.watching = window.lockstep.tab.subscribe(COLLECTION, (changes) => {
      const t = now();
      for (const change of changes) {
        const get = (k) => (change instanceof Map ? change.get(k) : change[k]);
        if (get('after') != null && get('before') == null) arrived(`row:${JSON.stringify(get('key'))}`, t);
      }
    });
  },
  /** Issues an insert without waiting; returns the issue time. `settle()` awaits it. */
  fire(key, value) {
    const t0 = now();
    bench.pending = window.lockstep.tab.insert(COLLECTION, key, value).then(() => now() - t0);
    return t0;
  },
  settle() {
    return bench.pending;
  },
  /** `count` awaited inserts in a row; returns each one's latency in ms. */
  async awaitedInserts(prefix, count) {
    const tab = window.lockstep.tab;
    const times = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await tab.insert(COLLECTION, `${prefix}${String(i).padStart(6, '0')}`, row(i));
      times.push(performance.now() - t0);
    }
    return times;
  },
  /** One insertMany of rows [from, from + count); returns ms until durable. */
  async insertMany(prefix, from, count) {
    const items = [];
    for (let i = from; i < from + count; i++) {
      items.push({ key: `${prefix}${String(i).padStart(6, '0')}`, value: row(i) });
    }
    const t0 = performance.now();
    await window.lockstep.tab.insertMany(COLLECTION, items);
    return performance.now() - t0;
  },
  /** Runs rawSqliteBench in a fresh dedicated worker; `{ totalMs, perTxMs }`. */
  raw(directory, rows, batch) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./bench-worker.mjs', import.meta.url), { type: 'module' });
      worker.onerror = (event) => {
        worker.terminate();
        reject(new Error(`bench worker: ${event.message}`));
      };
      worker.onmessage = (event) => {
        worker.terminate();
        if (event.data.ok) resolve(event.data);
        else reject(new Error(event.data.error));
      };
      worker.postMessage({ directory, rows, batch });
    });
  },
};
window.bench = bench;

async function main() {
  if (mode === 'raw') {
    await init();
    window.lockstep = { ready: true, raw: true };
    return;
  }
  // Page start is performance.timeOrigin: these marks are ms since then.
  const marks = {};
  await init();
  marks.initMs = performance.now();
  const tab = BrowserTab.open(app, scope, new URL('./worker.mjs', import.meta.url).href);
  marks.openMs = performance.now();
  const progress = [];
  tab.onProgress((collection, rowsLoaded) => progress.push([collection, Number(rowsLoaded), performance.now()]));
  tab.openCollection(COLLECTION);
  await tab.ready(COLLECTION);
  marks.readyMs = performance.now();
  bench.marks = marks;
  bench.progress = progress;
  addEventListener('pagehide', () => tab.close());
  window.lockstep = { ready: true, tab, app, scope };
  document.getElementById('out').textContent = `ready in ${Math.round(marks.readyMs)} ms`;
}

main().catch((error) => {
  console.error('lockstep bench: cannot open the tab:', error);
  window.lockstep = { ready: false, error: String(error?.message ?? error) };
});
