// `cargo xtask bench --browser`: Lockstep's browser figures of
// /work/shared/TARGETS.md, measured in real headless Chromium tabs (fresh
// on-disk profile, OPFS) on examples/browser/bench.html, next to the raw
// SQLite baseline (same OPFS sahpool VFS, no Lockstep) measured in the same run.
//   node tests/browser/bench.mjs http://127.0.0.1:PORT/
// Progress goes to stderr; the figures go to stdout as one JSON object, and to
// $LOCKSTEP_BENCH_OUT (default target/browser-bench.json).
// Env: LOCKSTEP_BENCH_RUNS (default 3), LOCKSTEP_BENCH_SKIP_HYDRATION=1.
// Not a `*.test.mjs`: `node --test tests/browser/` leaves it alone.
import * as h from './harness.mjs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? process.env.LOCKSTEP_URL;
if (!base) {
  console.error('usage: node tests/browser/bench.mjs http://127.0.0.1:PORT/');
  process.exit(2);
}
process.env.LOCKSTEP_URL = base;

// Everything but the final JSON goes to stderr (the harness logs with console.log).
const printJson = (text) => process.stdout.write(text);
console.log = (...args) => console.error(...args);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = process.env.LOCKSTEP_BENCH_OUT || join(ROOT, 'target', 'browser-bench.json');
const RUNS = Number(process.env.LOCKSTEP_BENCH_RUNS || 3);
const APP = 'lockstep-bench';
const SAMPLES = 200;
const WARMUP = 10;
const AWAITED = 500;
const MANY = 10_000;
const HYDRATE = 100_000;
const CHUNK = 10_000;
const HYDRATION_BUDGET_MS = 180_000;

// ---------------------------------------------------------------- helpers

const say = (...args) => console.error('[bench]', ...args);
const round = (x, digits = 2) => (x == null || Number.isNaN(x) ? null : Number(x.toFixed(digits)));

/** Nearest-rank percentile of `values` (0 < p <= 100). */
function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}
const median = (values) => {
  const v = values.filter((x) => x != null);
  if (!v.length) return null;
  const sorted = [...v].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const stats = (values) => ({
  n: values.length,
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  max: round(Math.max(...values)),
});

const consoleErrors = [];
const pages = new Set();

function pageUrl(scope) {
  return h.appUrl(scope, { app: APP, page: 'bench.html' });
}

async function openBenchTab(context, scope, name, timeoutMs = 30_000) {
  const page = await h.openTab(context, pageUrl(scope), { name, timeoutMs });
  pages.add(page);
  return page;
}

async function closePage(page) {
  if (!page || page.isClosed()) return;
  await page.close().catch(() => {});
  collectErrors(page);
}

function collectErrors(page) {
  if (!pages.has(page)) return;
  pages.delete(page);
  for (const line of page.consoleErrors ?? []) consoleErrors.push(`${page.tabName}: ${line}`);
}

const visibility = (page) => page.evaluate(() => document.visibilityState);

// ---------------------------------------------------------------- measurements

/**
 * 200 samples of "sent in tab A → seen in tab B", one at a time: A's insert
 * (Lockstep) or A's BroadcastChannel message (the floor), B's subscription
 * callback or message handler; both stamped with timeOrigin + now().
 */
async function crossTab(context, run) {
  const scope = h.uniqueScope(`xtab${run}`);
  const a = await openBenchTab(context, scope, `xtab${run}-A`);
  const b = await openBenchTab(context, scope, `xtab${run}-B`);
  await b.evaluate(() => window.bench.watch());
  const aLeads = (await h.status(a)).isLeader;
  const vis = [await visibility(a), await visibility(b)];

  const rowLatency = [];
  const durable = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const key = `x${String(i).padStart(6, '0')}`;
    const arrival = b.evaluate((id) => window.bench.waitSeen(id), `row:${JSON.stringify(key)}`);
    const t0 = await a.evaluate(([k, n]) => window.bench.fire(k, window.bench.row(n)), [key, i]);
    const t1 = await arrival;
    const d = await a.evaluate(() => window.bench.settle());
    if (i >= WARMUP) {
      rowLatency.push(t1 - t0);
      durable.push(d);
    }
  }
  const bcLatency = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const id = `bc:${i}`;
    const arrival = b.evaluate((x) => window.bench.waitSeen(x), id);
    const t0 = await a.evaluate((n) => window.bench.bcSend(n), i);
    const t1 = await arrival;
    if (i >= WARMUP) bcLatency.push(t1 - t0);
  }
  await closePage(a);
  await closePage(b);
  const lockstep = { ...stats(rowLatency), writerWasLeader: aLeads, writerDurable: stats(durable) };
  const floor = stats(bcLatency);
  say(`run ${run} cross-tab: Lockstep p50 ${lockstep.p50} p99 ${lockstep.p99} ms (writer ${aLeads ? 'is' : 'is not'} the leader; its own insert durable p50 ${lockstep.writerDurable.p50} ms); BroadcastChannel p50 ${floor.p50} p99 ${floor.p99} ms; visibility ${vis.join('/')}`);
  return { lockstep, floor, visibility: vis };
}

/** 500 awaited inserts in a row from one tab (the leader: it is alone). */
async function awaited(context, run) {
  const scope = h.uniqueScope(`await${run}`);
  const a = await openBenchTab(context, scope, `await${run}`);
  const times = await h.within(
    a.evaluate((n) => window.bench.awaitedInserts('a', n), AWAITED),
    120_000,
    '500 awaited inserts',
  );
  await closePage(a);
  const s = stats(times);
  say(`run ${run} awaited insert x${AWAITED}: p50 ${s.p50} p99 ${s.p99} max ${s.max} ms`);
  return s;
}

/** One insertMany of 10,000 rows, until durable; checks the database has them. */
async function many(context, run) {
  const scope = h.uniqueScope(`many${run}`);
  const a = await openBenchTab(context, scope, `many${run}`);
  const ms = await h.within(
    a.evaluate((n) => window.bench.insertMany('m', 0, n), MANY),
    120_000,
    'insertMany of 10,000 rows',
  );
  const inDb = await a.evaluate(async () => (await window.lockstep.tab.inspect('todos')).length);
  await closePage(a);
  say(`run ${run} insertMany ${MANY}: ${round(ms)} ms (database holds ${inDb} rows)`);
  return { ms: round(ms), rowsInDatabase: inDb };
}

/**
 * Writes 100,000 rows (insertMany, chunks of 10,000), then opens a new tab
 * while the writer (the leader) is still open, then closes every tab and
 * opens one alone (it must take the lead and open the database itself).
 * Both: page start (timeOrigin) → ready('todos') with 100,000 rows.
 */
async function hydration(context, run) {
  const scope = h.uniqueScope(`hydrate${run}`);
  const started = performance.now();
  const w = await openBenchTab(context, scope, `hydrate${run}-writer`);
  const chunks = [];
  for (let from = 0; from < HYDRATE; from += CHUNK) {
    const ms = await h.within(
      w.evaluate(([f, n]) => window.bench.insertMany('h', f, n), [from, CHUNK]),
      120_000,
      `insertMany of rows ${from}..${from + CHUNK}`,
    );
    chunks.push(round(ms));
  }
  const writeMs = chunks.reduce((s, x) => s + x, 0);
  say(`run ${run} hydration: wrote ${HYDRATE} rows in ${round(writeMs)} ms (chunks: ${chunks.join(', ')})`);

  const measure = async (name) => {
    const page = await openBenchTab(context, scope, name, 180_000);
    const r = await page.evaluate(() => ({
      marks: window.bench.marks,
      progressEvents: window.bench.progress.length,
      lastProgress: window.bench.progress.at(-1) ?? null,
      rows: window.lockstep.tab.rows('todos').length,
    }));
    const s = await h.status(page);
    return { page, isLeader: s.isLeader, ...r };
  };
  const warm = await measure(`hydrate${run}-joiner`);
  await closePage(warm.page);
  say(`run ${run} hydration with the writer open: ready at ${round(warm.marks.readyMs)} ms after page start (wasm init ${round(warm.marks.initMs)} ms), ${warm.rows} rows, ${warm.progressEvents} progress events`);
  await closePage(w);
  const cold = await measure(`hydrate${run}-alone`);
  await closePage(cold.page);
  say(`run ${run} hydration alone (takes the lead, opens the database): ready at ${round(cold.marks.readyMs)} ms after page start (wasm init ${round(cold.marks.initMs)} ms), ${cold.rows} rows, ${cold.progressEvents} progress events, leader ${cold.isLeader}`);
  const shape = (x) => ({
    ms: round(x.marks.readyMs),
    wasmInitMs: round(x.marks.initMs),
    openToReadyMs: round(x.marks.readyMs - x.marks.openMs),
    rows: x.rows,
    progressEvents: x.progressEvents,
    isLeader: x.isLeader,
  });
  return {
    writeMs: round(writeMs),
    writeChunksMs: chunks,
    withWriterOpen: shape(warm),
    alone: shape(cold),
    runMs: Math.round(performance.now() - started),
  };
}

/**
 * Two tabs; the leader's page is closed and the other tab awaits an insert.
 * `race: false`: the insert is issued as soon as Playwright reports the page
 * closed (its worker is going or gone: a real hand-over). `race: true`: the
 * insert is issued together with the close (the dying leader may still commit
 * it). In-page: insert issued -> durable; from node: close issued -> insert
 * resolved. Then both rows must be in the database (nothing lost).
 */
async function failover(context, run, { race }) {
  const name = `failover${race ? '-race' : ''}${run}`;
  const scope = h.uniqueScope(name);
  const a = await openBenchTab(context, scope, `${name}-A`);
  const b = await openBenchTab(context, scope, `${name}-B`);
  // A row through the leader first, so both tabs are warm.
  await h.insert(b, 'warm', { title: 'warm', done: false, n: -1 });
  const leader = await h.findLeader([a, b]);
  const other = leader === a ? b : a;
  const before = await h.status(other);
  const t0 = performance.now();
  const closing = closePage(leader);
  if (!race) await closing;
  const closedMs = performance.now() - t0;
  const inPage = await h.within(
    other.evaluate(async () => {
      const t = performance.now();
      await window.lockstep.tab.insert('todos', 'after-close', window.bench.row(1));
      return performance.now() - t;
    }),
    60_000,
    'the insert after the leader closed',
  );
  const nodeMs = performance.now() - t0;
  await closing;
  const after = await h.status(other);
  const inDb = await other.evaluate(async () => {
    const rows = await window.lockstep.tab.inspect('todos');
    return rows.map((r) => (r instanceof Map ? r.get('key') : r.key));
  });
  const afterInspect = await h.status(other);
  await closePage(other);
  const lost = ['warm', 'after-close'].filter((k) => !inDb.includes(k));
  say(`run ${run} failover${race ? ' (insert racing the close)' : ''}: page closed after ${round(closedMs)} ms; insert durable ${round(inPage)} ms after being issued, ${round(nodeMs)} ms after the close was issued; term ${before.term} -> ${after.term}, survivor leads: ${after.isLeader} (after inspect: ${afterInspect.isLeader}, term ${afterInspect.term}); lost: ${lost.length ? lost.join(', ') : 'none'}`);
  return {
    fromCloseMs: round(nodeMs),
    insertMs: round(inPage),
    pageClosedAfterMs: round(closedMs),
    termBefore: before.term,
    termAtCommit: after.term,
    survivorLeadsAtCommit: after.isLeader,
    lost,
  };
}

/** rawSqliteBench in a dedicated worker: 500 rows batch 1, 10,000 rows batch 10,000. */
async function raw(context, run) {
  const page = await context.newPage();
  page.tabName = `raw${run}`;
  page.consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.consoleErrors.push(`error: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.consoleErrors.push(`pageerror: ${e.message}`));
  pages.add(page);
  await page.goto(new URL('bench.html?mode=raw', base).href);
  await page.waitForFunction(() => window.lockstep && (window.lockstep.ready || window.lockstep.error), null, { timeout: 30_000 });
  const tag = Date.now().toString(36);
  const single = await h.within(
    page.evaluate(([d, n]) => window.bench.raw(d, n, 1), [`raw-single-${run}-${tag}`, AWAITED]),
    120_000,
    'raw SQLite, 500 rows batch 1',
  );
  const batch = await h.within(
    page.evaluate(([d, n]) => window.bench.raw(d, n, n), [`raw-batch-${run}-${tag}`, MANY]),
    120_000,
    'raw SQLite, 10,000 rows in one transaction',
  );
  await closePage(page);
  const s = stats(single.perTxMs);
  say(`run ${run} raw SQLite: single-row tx p50 ${s.p50} p99 ${s.p99} ms (500 in ${round(single.totalMs)} ms); 10,000 rows in one tx ${round(batch.totalMs)} ms`);
  return { singleTx: { ...s, totalMs: round(single.totalMs) }, batch10kMs: round(batch.totalMs) };
}

// ---------------------------------------------------------------- main

const wallStart = performance.now();
const startedAt = new Date().toISOString();
const browser = await h.launch();
const { context } = browser;
let userAgent = null;
const runs = [];
const hydrations = [];
let failure = null;

try {
  for (let run = 1; run <= RUNS; run++) {
    say(`--- run ${run} of ${RUNS} (${h.since(wallStart)})`);
    const r = {};
    r.crossTab = await crossTab(context, run);
    r.awaited = await awaited(context, run);
    r.many = await many(context, run);
    r.failover = await failover(context, run, { race: false });
    r.failoverRace = await failover(context, run, { race: true });
    r.raw = await raw(context, run);
    runs.push(r);
  }
  if (process.env.LOCKSTEP_BENCH_SKIP_HYDRATION !== '1') {
    for (let run = 1; run <= RUNS; run++) {
      say(`--- hydration run ${run} of ${RUNS} (${h.since(wallStart)})`);
      const r = await hydration(context, run);
      hydrations.push(r);
      if (r.runMs > HYDRATION_BUDGET_MS / RUNS && run < RUNS) {
        say(`hydration run took ${r.runMs} ms: stopping after ${run} run(s) to stay within ${HYDRATION_BUDGET_MS / 1000} s`);
        break;
      }
    }
  }
} catch (error) {
  failure = String(error?.stack ?? error);
  say(`FAILED: ${failure}`);
} finally {
  try {
    const page = await context.newPage();
    userAgent = await page.evaluate(() => navigator.userAgent);
    await page.close();
  } catch {}
  for (const page of [...pages]) await closePage(page);
  await browser.close();
}

// ---------------------------------------------------------------- report

const pick = (list, f) => list.map(f).filter((x) => x != null);
const med = (list, f) => round(median(pick(list, f)));
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : round(a / b, 2));

const result = {
  meta: {
    startedAt,
    url: base,
    userAgent,
    runs: runs.length,
    hydrationRuns: hydrations.length,
    samples: { crossTab: SAMPLES, warmup: WARMUP, awaitedInserts: AWAITED },
    note: 'medians over runs of each run\'s figure (p50/p99 are per run, then the median of those)',
    visibility: runs.map((r) => r.crossTab.visibility),
    wallMs: null,
  },
  crossTabVisibilityMs: {
    p50: med(runs, (r) => r.crossTab.lockstep.p50),
    p99: med(runs, (r) => r.crossTab.lockstep.p99),
    writerDurableP50: med(runs, (r) => r.crossTab.lockstep.writerDurable.p50),
    runs: runs.map((r) => r.crossTab.lockstep),
  },
  broadcastChannelFloorMs: {
    p50: med(runs, (r) => r.crossTab.floor.p50),
    p99: med(runs, (r) => r.crossTab.floor.p99),
    runs: runs.map((r) => r.crossTab.floor),
  },
  awaitedInsertMs: {
    p50: med(runs, (r) => r.awaited.p50),
    p99: med(runs, (r) => r.awaited.p99),
    runs: runs.map((r) => r.awaited),
  },
  insertMany10kMs: {
    ms: med(runs, (r) => r.many.ms),
    runs: runs.map((r) => r.many),
  },
  hydration100kMs: {
    withWriterOpen: med(hydrations, (r) => r.withWriterOpen.ms),
    alone: med(hydrations, (r) => r.alone.ms),
    writeMs: med(hydrations, (r) => r.writeMs),
    runs: hydrations,
  },
  failoverMs: {
    note: 'close the leader page (await Playwright\'s close), then await an insert in the other tab; ms from the close command to the insert durable',
    fromCloseMs: med(runs, (r) => r.failover.fromCloseMs),
    insertMs: med(runs, (r) => r.failover.insertMs),
    lostRows: runs.reduce((n, r) => n + r.failover.lost.length, 0),
    runs: runs.map((r) => r.failover),
  },
  failoverRaceMs: {
    note: 'same, but the insert is issued together with the close (not after it completed)',
    fromCloseMs: med(runs, (r) => r.failoverRace.fromCloseMs),
    lostRows: runs.reduce((n, r) => n + r.failoverRace.lost.length, 0),
    runs: runs.map((r) => r.failoverRace),
  },
  rawSqliteMs: {
    singleTxP50: med(runs, (r) => r.raw.singleTx.p50),
    singleTxP99: med(runs, (r) => r.raw.singleTx.p99),
    batch10k: med(runs, (r) => r.raw.batch10kMs),
    runs: runs.map((r) => r.raw),
  },
  ratios: {},
  consoleErrors,
  failure,
};
result.ratios = {
  awaitedInsertP50_vs_rawSingleTxP50: ratio(result.awaitedInsertMs.p50, result.rawSqliteMs.singleTxP50),
  awaitedInsertP99_vs_rawSingleTxP99: ratio(result.awaitedInsertMs.p99, result.rawSqliteMs.singleTxP99),
  insertMany10k_vs_rawBatch10k: ratio(result.insertMany10kMs.ms, result.rawSqliteMs.batch10k),
  crossTabP50_vs_broadcastChannelP50: ratio(result.crossTabVisibilityMs.p50, result.broadcastChannelFloorMs.p50),
};

// Side by side with TARGETS.md (peer = TanStack DB browser persistence, measured there).
const table = [
  ['cross-tab visibility p50', result.crossTabVisibilityMs.p50, null, 8.7, '< 2'],
  ['cross-tab visibility p99', result.crossTabVisibilityMs.p99, null, 18.8, '< 8'],
  ['BroadcastChannel floor p50', result.broadcastChannelFloorMs.p50, null, 0.6, '-'],
  ['BroadcastChannel floor p99', result.broadcastChannelFloorMs.p99, null, 2.2, '-'],
  ['awaited insert p50', result.awaitedInsertMs.p50, result.rawSqliteMs.singleTxP50, 6.9, '< 2'],
  ['awaited insert p99', result.awaitedInsertMs.p99, result.rawSqliteMs.singleTxP99, 17.8, '-'],
  ['one insert of 10,000 rows', result.insertMany10kMs.ms, result.rawSqliteMs.batch10k, 7923, '< 100'],
  ['hydrate 100,000 (new tab, writer open)', result.hydration100kMs.withWriterOpen, null, 1732, '< 300'],
  ['hydrate 100,000 (tab alone, cold)', result.hydration100kMs.alone, null, 1732, '< 300'],
  ['leader closed -> write committed', result.failoverMs.fromCloseMs, null, 'lost (51 if waiting)', '< 100, nothing lost'],
  ['  same, insert racing the close', result.failoverRaceMs.fromCloseMs, null, 'lost', '< 100, nothing lost'],
];
const cell = (x, w) => String(x ?? '-').padStart(w);
say('');
say(`${'metric (ms)'.padEnd(40)}${cell('Lockstep', 10)}${cell('raw SQLite', 12)}${cell('ratio', 8)}${cell('peer', 22)}${cell('target', 22)}`);
for (const [name, ours, rawMs, peer, target] of table) {
  say(`${name.padEnd(40)}${cell(ours, 10)}${cell(rawMs, 12)}${cell(ratio(ours, rawMs), 8)}${cell(peer, 22)}${cell(target, 22)}`);
}
say(`failover rows lost: ${result.failoverMs.lostRows + result.failoverRaceMs.lostRows}; console errors: ${consoleErrors.length}`);

result.meta.wallMs = Math.round(performance.now() - wallStart);
say(`wall time ${result.meta.wallMs} ms`);
const json = JSON.stringify(result, null, 2);
await mkdir(dirname(OUT), { recursive: true });
await writeFile(OUT, `${json}\n`);
say(`written to ${OUT}`);
printJson(`${json}\n`);
process.exit(failure ? 1 : 0);
