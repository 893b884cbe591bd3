// `cargo xtask bench --browser`: the browser figures, measured in real
// headless Chromium tabs (fresh on-disk profile, so OPFS is real) on the
// bench page (examples/bench, served at /bench/), side by side in one run:
//   lockstep           Lockstep's raw path (rows kept in the tab's wasm)
//   lockstep-tanstack  Lockstep through TanStack DB (createCollection + lockstepCollectionOptions)
//   peer               TanStack DB's own browser persistence with its multi-tab coordinator
// and the floors: a plain BroadcastChannel, raw SQLite on the same OPFS VFS
// configured like Lockstep's store (writing, and read back into a new page),
// TanStack DB's own in-memory apply.
//   node tests/browser/bench.mjs http://127.0.0.1:PORT/
// Progress goes to stderr; the figures go to stdout as JSON and to
// $LOCKSTEP_BENCH_OUT. Env: LOCKSTEP_BENCH_RUNS (3), LOCKSTEP_BENCH_LIBS
// (comma list), LOCKSTEP_BENCH_HYDRATION_RUNS (3; the peer does 1: writing
// 100,000 rows through it takes over a minute).
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
const printJson = (text) => process.stdout.write(text);
console.log = (...args) => console.error(...args);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = process.env.LOCKSTEP_BENCH_OUT || join(ROOT, 'target', 'browser-bench.json');
const RUNS = Number(process.env.LOCKSTEP_BENCH_RUNS || 3);
const HYDRATION_RUNS = Number(process.env.LOCKSTEP_BENCH_HYDRATION_RUNS || 3);
const LIBS = (process.env.LOCKSTEP_BENCH_LIBS || 'lockstep,lockstep-tanstack,peer').split(',');
const APP = 'lockstep-bench';
const SAMPLES = 200;
const WARMUP = 10;
const AWAITED = 500;
const MANY = 10_000;
// After the first 10,000-row insert of a tab (its code cold), WARM more, each
// after WARM_PAUSE_MS of quiet, so one insert's tail (the commit's
// broadcast, garbage collection, V8 compiling what just ran hot) does not
// land in the next; the median of these is "the same again". The raw-SQLite
// floors write as many. The peer's inserts take seconds each: one.
const WARM = 5;
const WARM_PAUSE_MS = 150;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const HYDRATE = 100_000;
const CHUNK = 10_000;
const TOP = 100;
const BURST = 50;
const PEER_FAILOVER_TIMEOUT_MS = 35_000;
const FAILOVER_SETTLE_MS = 1_500;

const say = (...args) => console.error('[bench]', ...args);
const round = (x, digits = 2) => (x == null || Number.isNaN(x) ? null : Number(x.toFixed(digits)));
function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}
const median = (values) => {
  const v = values.filter((x) => x != null);
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const stats = (values) => ({ n: values.length, p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(Math.max(...values)) });

const consoleErrors = [];
const pages = new Set();
const benchUrl = (lib, scope, extra = {}) => {
  const url = new URL('bench/', base);
  url.searchParams.set('lib', lib);
  url.searchParams.set('app', APP);
  url.searchParams.set('scope', scope);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.href;
};
async function openBench(context, lib, scope, name, timeoutMs = 60_000, extra = {}) {
  const page = await h.openTab(context, benchUrl(lib, scope, extra), { name, timeoutMs });
  pages.add(page);
  return page;
}
async function closePage(page) {
  if (!page || page.isClosed()) return;
  await page.close().catch(() => {});
  if (pages.delete(page)) for (const line of page.consoleErrors ?? []) consoleErrors.push(`${page.tabName}: ${line}`);
}
const isLeader = (page) => page.evaluate(() => window.bench.isLeader());
async function leaderOf(pagesList, timeoutMs = 20_000) {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    for (const page of pagesList) if (!page.isClosed() && (await isLeader(page))) return page;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

// ------------------------------------------------------------ measurements

async function crossTab(context, lib, run, withFloor) {
  const scope = h.uniqueScope(`xtab-${lib}-${run}`);
  const a = await openBench(context, lib, scope, `${lib}-xtab${run}-A`);
  const b = await openBench(context, lib, scope, `${lib}-xtab${run}-B`);
  await b.evaluate(() => window.bench.watch());
  const writerLeads = await isLeader(a);
  const latency = [];
  const durable = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const r = { id: `x${String(i).padStart(6, '0')}`, title: `todo number ${i}`, done: false, n: i };
    const arrival = b.evaluate((id) => window.bench.waitSeen(`row:${id}`), r.id);
    const t0 = await a.evaluate((row) => window.bench.fire(row), r);
    const t1 = await arrival;
    const d = await a.evaluate(() => window.bench.settle());
    if (i >= WARMUP) {
      latency.push(t1 - t0);
      durable.push(d);
    }
  }
  let floor = null;
  if (withFloor) {
    const bc = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const arrival = b.evaluate((x) => window.bench.waitSeen(`bc:${x}`), String(i));
      const t0 = await a.evaluate((x) => window.bench.bcSend(x), String(i));
      const t1 = await arrival;
      if (i >= WARMUP) bc.push(t1 - t0);
    }
    // A durable write seen by the other tab, with no library: a raw-SQLite
    // worker in the writing tab inserts the row, then posts it on the channel.
    await a.evaluate((d) => window.bench.durableOpen(d), `raw-xtab-${run}-${Date.now().toString(36)}`);
    const sql = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const arrival = b.evaluate((x) => window.bench.waitSeen(`sql:${x}`), `d${i}`);
      const t0 = await a.evaluate((x) => window.bench.durableSend(x), `d${i}`);
      const t1 = await arrival;
      if (i >= WARMUP) sql.push(t1 - t0);
    }
    floor = { ...stats(bc), durable: stats(sql) };
  }
  await closePage(a);
  await closePage(b);
  const s = { ...stats(latency), writerLeads, writerDurable: stats(durable) };
  say(`${lib} run ${run} cross-tab p50 ${s.p50} p99 ${s.p99} ms (writer leads: ${writerLeads})${floor ? `; BroadcastChannel p50 ${floor.p50} p99 ${floor.p99}; raw SQLite durable insert + BroadcastChannel p50 ${floor.durable.p50} p99 ${floor.durable.p99}` : ''}`);
  return { ...s, floor };
}

async function awaited(context, lib, run) {
  const a = await openBench(context, lib, h.uniqueScope(`await-${lib}-${run}`), `${lib}-await${run}`);
  const times = await h.within(a.evaluate((n) => window.bench.awaitedInserts('a', n), AWAITED), 180_000, `${lib}: 500 awaited inserts`);
  await closePage(a);
  const s = stats(times);
  say(`${lib} run ${run} awaited insert x${AWAITED}: p50 ${s.p50} p99 ${s.p99} ms`);
  return s;
}

async function many(context, lib, run) {
  const a = await openBench(context, lib, h.uniqueScope(`many-${lib}-${run}`), `${lib}-many${run}`);
  const ms = await h.within(a.evaluate((n) => window.bench.insertMany('m', 0, n), MANY), 180_000, `${lib}: one insert of 10,000 rows`);
  // The same again in the same tab: its code (and its leader's) has run once.
  const warm = [];
  for (let i = 0; i < (lib === 'peer' ? 1 : WARM); i++) {
    await pause(WARM_PAUSE_MS);
    warm.push(await h.within(a.evaluate(([prefix, n]) => window.bench.insertMany(prefix, 0, n), [`m${i + 2}`, MANY]), 180_000, `${lib}: insert ${i + 2} of 10,000 rows`));
  }
  const againMs = median(warm);
  const count = await a.evaluate(() => window.bench.count());
  await closePage(a);
  say(`${lib} run ${run} one insert of ${MANY} rows: ${round(ms)} ms, the same again ${round(againMs)} ms (median of ${warm.map((x) => round(x, 0)).join(', ')}; ${count} rows)`);
  return { ms: round(ms), againMs: round(againMs), warmMs: warm.map((x) => round(x)), count };
}

/** Three tabs insert 50 rows each at once; when does every tab hold all 150 rows? */
async function concurrent(context, lib, run) {
  const scope = h.uniqueScope(`burst-${lib}-${run}`);
  const tabs = [];
  for (const n of ['A', 'B', 'C']) tabs.push(await openBench(context, lib, scope, `${lib}-burst${run}-${n}`));
  for (const tab of tabs) await tab.evaluate(() => window.bench.watch());
  const ids = tabs.flatMap((_, t) => Array.from({ length: BURST }, (_, i) => `${'ABC'[t]}${String(i).padStart(6, '0')}`));
  const seenBy = tabs.map((tab) => tab.evaluate((all) => Promise.all(all.map((id) => window.bench.waitSeen(`row:${id}`, 60_000))).then((t) => Math.max(...t)), ids));
  const commits = await Promise.all(tabs.map((tab, t) => tab.evaluate((p) => window.bench.burst(p, 50), 'ABC'[t])));
  const lastCommit = Math.max(...commits.flat());
  const allSeen = await Promise.all(seenBy.map((p) => p.then((t) => t, () => null)));
  const counts = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.bench.count())));
  for (const tab of tabs) await closePage(tab);
  const lags = allSeen.map((t) => (t == null ? null : round(t - lastCommit)));
  say(`${lib} run ${run} 3 tabs x ${BURST} inserts at once: rows per tab ${counts.join('/')}, every row in each tab ${lags.join('/')} ms after the last commit`);
  return { counts, lagsMs: lags, maxLagMs: lags.includes(null) ? null : Math.max(...lags) };
}

/**
 * The leading tab goes away (`how`: 'close', or 'crash': its renderer
 * crashes, by CDP's Page.crash, the leader worker with it) and the other
 * tab writes at once: the time from then until that write is durable.
 */
async function failover(context, lib, run, how = 'close') {
  const what = how === 'crash' ? 'crash' : 'failover';
  const scope = h.uniqueScope(`${what}-${lib}-${run}`);
  const a = await openBench(context, lib, scope, `${lib}-${what}${run}-A`);
  const b = await openBench(context, lib, scope, `${lib}-${what}${run}-B`);
  await b.evaluate(() => window.bench.insertMany('w', 0, 1));
  // Both tabs open for a moment, as tabs are when one closes (a waiting
  // Lockstep worker warms up 1 s after it starts).
  await new Promise((r) => setTimeout(r, FAILOVER_SETTLE_MS));
  const leader = (await leaderOf([a, b])) ?? a;
  const other = leader === a ? b : a;
  const t0 = performance.now();
  if (how === 'crash') {
    const cdp = await leader.context().newCDPSession(leader);
    cdp.send('Page.crash').catch(() => {});
  } else {
    await closePage(leader);
  }
  const timeout = lib === 'peer' ? PEER_FAILOVER_TIMEOUT_MS : 60_000;
  let outcome;
  try {
    const inPage = await h.within(other.evaluate(async () => {
      const t = performance.now();
      await window.bench.insertMany('after-close', 0, 1);
      return performance.now() - t;
    }), timeout, `${lib}: the insert after the leader's ${how}`);
    outcome = { fromCloseMs: round(performance.now() - t0), insertMs: round(inPage), lost: false };
  } catch (error) {
    outcome = { fromCloseMs: null, insertMs: null, lost: true, error: error.message.split('\n')[0] };
  }
  await closePage(other);
  await closePage(leader);
  say(`${lib} run ${run} failover (${how}): ${outcome.lost ? `write lost (${outcome.error})` : `write durable ${outcome.fromCloseMs} ms after the leader's ${how}`}`);
  return outcome;
}

/**
 * Page start → ready in a new tab of a collection with no rows (writer open):
 * loading the page, the wasm and the database and joining the leader, the
 * part of every page start → ready that no row adds to.
 */
async function startup(context, lib, scope, run) {
  const page = await openBench(context, lib, scope, `${lib}-empty${run}`, 120_000);
  const r = await page.evaluate(() => ({ marks: window.bench.marks, count: window.bench.count() }));
  await closePage(page);
  if (r.count !== 0) throw new Error(`${lib}: the empty collection has ${r.count} rows`);
  return { readyMs: round(r.marks.readyMs), openMs: round(r.marks.openMs) };
}

/**
 * 100,000 rows written in chunks; then page start → ready in a new tab
 * (writer open) and alone (cold). First, the same with no rows written yet.
 */
async function hydration(context, lib, run, cdp) {
  // No rows, alone: a collection made by a tab that has closed, opened again.
  const emptyScope = h.uniqueScope(`empty-alone-${lib}-${run}`);
  await closePage(await openBench(context, lib, emptyScope, `${lib}-empty-maker${run}`));
  const emptyAlone = await startup(context, lib, emptyScope, run);
  const scope = h.uniqueScope(`hydrate-${lib}-${run}`);
  const w = await openBench(context, lib, scope, `${lib}-hydrate${run}-writer`);
  const empty = await startup(context, lib, scope, run);
  let writeMs = 0;
  for (let from = 0; from < HYDRATE; from += CHUNK) {
    writeMs += await h.within(w.evaluate(([f, n]) => window.bench.insertMany('h', f, n), [from, CHUNK]), 300_000, `${lib}: write rows ${from}..`);
  }
  const open = async (name) => {
    const page = await openBench(context, lib, scope, name, 300_000);
    const r = await page.evaluate(() => ({ marks: window.bench.marks, count: window.bench.count() }));
    return { page, ...r };
  };
  const warm = await open(`${lib}-hydrate${run}-joiner`);
  const memory = cdp ? await memoryOf(context, warm.page) : null;
  await closePage(warm.page);
  const onDemand = lib === 'lockstep-tanstack' ? await topOnDemand(context, lib, scope, run) : null;
  await closePage(w);
  const cold = await open(`${lib}-hydrate${run}-alone`);
  await closePage(cold.page);
  const shape = (x) => ({ readyMs: round(x.marks.readyMs), openToReadyMs: round(x.marks.readyMs - x.marks.openMs), rows: x.count });
  const result = { writeMs: round(writeMs), empty, emptyAlone, withWriterOpen: shape(warm), alone: shape(cold), memory, onDemand };
  say(`${lib} run ${run} hydration of ${HYDRATE}: with the writer open ready at ${result.withWriterOpen.readyMs} ms (${warm.count} rows; with none, ${empty.readyMs} ms), alone ${result.alone.readyMs} ms (${cold.count} rows; with none, ${emptyAlone.readyMs} ms); written in ${round(writeMs)} ms${memory ? `; ${memory.wasmBytesPerRow} wasm bytes and ${memory.heapBytesPerRow} JS heap bytes per row (row JSON ${memory.rowJsonBytes} bytes)` : ''}`);
  return result;
}

/**
 * On demand (the writer still open): a new tab whose collection loads nothing
 * up front shows the 100 open rows with the highest `n` through a live query.
 * Page start -> rows shown, and collection ready -> rows shown: first in a
 * tab whose query makes the leader index `n` (once per database), then in
 * the next tab, as every later page load finds it.
 */
async function topOnDemand(context, lib, scope, run) {
  const want = Array.from({ length: TOP }, (_, i) => `h${String(HYDRATE - 1 - 2 * i).padStart(6, '0')}`);
  const once = async (name) => {
    const page = await openBench(context, lib, scope, name, 120_000, { sync: 'on-demand', top: String(TOP) });
    await h.waitFor(page, () => window.bench.marks.topMs !== undefined, 60_000, { what: 'the top rows shown' });
    const r = await page.evaluate(() => ({ marks: window.bench.marks, held: window.bench.count(), ids: [...document.querySelectorAll('li')].map((li) => li.textContent) }));
    await closePage(page);
    if (JSON.stringify(r.ids) !== JSON.stringify(want)) throw new Error(`${lib} on demand: wrong top rows ${JSON.stringify(r.ids.slice(0, 5))}…`);
    return { pageStartToRowsMs: round(r.marks.topMs), readyToRowsMs: round(r.marks.topMs - r.marks.readyMs), held: r.held };
  };
  const first = await once(`${lib}-top${run}-first`);
  const out = { ...(await once(`${lib}-top${run}`)), firstEver: first };
  say(`${lib} run ${run} on demand: ${TOP} of ${HYDRATE} rows shown ${out.pageStartToRowsMs} ms after page start, ${out.readyToRowsMs} ms after the collection was ready, ${out.held} rows held (the first tab, which had the leader index the order field: ${first.pageStartToRowsMs} and ${first.readyToRowsMs} ms)`);
  return out;
}

/** Memory a tab holding 100,000 rows uses beyond an empty tab of the same library. */
async function memoryOf(context, full) {
  const lib = await full.evaluate(() => window.bench.lib);
  const empty = await openBench(context, lib, h.uniqueScope(`empty-${lib}`), `${lib}-empty`);
  const read = async (page) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')).usedSize;
    const wasm = await page.evaluate(() => window.bench.wasmBytes());
    await cdp.detach();
    return { heap, wasm };
  };
  const [f, e] = [await read(full), await read(empty)];
  const rowJsonBytes = await full.evaluate(() => JSON.stringify(window.bench.row('h', 50_000)).length);
  await closePage(empty);
  return {
    wasmBytesPerRow: round((f.wasm - e.wasm) / HYDRATE, 1),
    heapBytesPerRow: round((f.heap - e.heap) / HYDRATE, 1),
    rowJsonBytes,
  };
}

async function floors(context, run) {
  const page = await openBench(context, 'raw', h.uniqueScope(`floors-${run}`), `floors${run}`);
  const tag = `${run}-${Date.now().toString(36)}`;
  const single = await h.within(page.evaluate(([d, n]) => window.bench.raw(d, n, 1), [`raw-single-${tag}`, AWAITED]), 180_000, 'raw SQLite, 500 single-row transactions');
  // Each of these writes 10,000 rows 1 + WARM times in one worker: first with its code cold, then warm
  // (back to back inside the worker for the first two; from the page's objects with the pause
  // Lockstep's inserts have between them).
  const batch = await h.within(page.evaluate(([d, n, k]) => window.bench.raw(d, k * n, n), [`raw-batch-${tag}`, MANY, 1 + WARM]), 180_000, 'raw SQLite, 10,000 rows in one transaction');
  const logged = await h.within(page.evaluate(([d, n, k]) => window.bench.raw(d, k * n, n, true), [`raw-logged-${tag}`, MANY, 1 + WARM]), 180_000, 'raw SQLite, 10,000 rows in one transaction with a change log');
  const fromPage = await h.within(page.evaluate(([d, n, k, p]) => window.bench.rawFromPage(d, n, k, p), [`raw-page-${tag}`, MANY, 1 + WARM, WARM_PAUSE_MS]), 180_000, 'raw SQLite, 10,000 rows from the page\'s objects with a change log');
  const syncApply = await page.evaluate((n) => window.bench.syncApplyFloor(n), HYDRATE);
  const optimisticApply = await page.evaluate((n) => window.bench.optimisticApplyFloor(n), MANY);
  const stored = `raw-stored-${tag}`;
  await h.within(page.evaluate(([d, n, k]) => window.bench.raw(d, n, k), [stored, HYDRATE, CHUNK]), 180_000, 'raw SQLite, 100,000 rows to read back');
  await closePage(page);
  const hydrate = await rawHydration(context, stored, run);
  const s = stats(single.perTxMs);
  const r = { rawSingleTx: { ...s, totalMs: round(single.totalMs) }, rawBatch10kMs: round(batch.perTxMs[0]), rawBatch10kAgainMs: round(median(batch.perTxMs.slice(1))), rawBatch10kLoggedMs: round(logged.perTxMs[0]), rawBatch10kLoggedAgainMs: round(median(logged.perTxMs.slice(1))), rawFromPage10kMs: round(fromPage[0]), rawFromPage10kAgainMs: round(median(fromPage.slice(1))), tanstackSyncApply100kMs: round(syncApply), tanstackOptimisticApply10kMs: round(optimisticApply), rawHydrate100kAloneMs: hydrate.readyMs, rawHydrate100kOpenMs: hydrate.openMs };
  say(`floors run ${run}: raw SQLite single-row tx p50 ${s.p50} p99 ${s.p99} ms, 10,000 rows in one tx ${r.rawBatch10kMs} ms, again ${r.rawBatch10kAgainMs} (with a change log of them ${r.rawBatch10kLoggedMs}, again ${r.rawBatch10kLoggedAgainMs}; from the page's objects, with the log, ${r.rawFromPage10kMs}, again ${r.rawFromPage10kAgainMs}); TanStack apply of 100,000 synced rows ${r.tanstackSyncApply100kMs} ms, optimistic insert of 10,000 ${r.tanstackOptimisticApply10kMs} ms; a new page with a raw-SQLite worker had its database open ${r.rawHydrate100kOpenMs} ms after page start and its 100,000 rows in the page at ${r.rawHydrate100kAloneMs}`);
  return r;
}

/**
 * The floor of "100,000 rows: page start -> ready (alone)": a new page whose
 * raw-SQLite worker (the same wasm module, VFS and configuration as
 * Lockstep's store) reopens the rows `directory` holds and posts them to the
 * page, 5,000 rows' text per message, as Lockstep's hydration pages go.
 * Ms after page start: database open, and every row in the page.
 */
async function rawHydration(context, directory, run) {
  const page = await openBench(context, 'raw', h.uniqueScope(`raw-hydrate-${run}`), `raw-hydrate${run}`, 120_000, { hydrate: directory });
  const marks = await page.evaluate(() => window.bench.marks);
  await closePage(page);
  if (marks.rows !== HYDRATE) throw new Error(`raw hydration: ${marks.rows} rows instead of ${HYDRATE}`);
  return { openMs: round(marks.openMs), readyMs: round(marks.readyMs) };
}

// ------------------------------------------------------------ main

const wallStart = performance.now();
const startedAt = new Date().toISOString();
const browser = await h.launch();
const { context } = browser;
const results = Object.fromEntries(LIBS.map((lib) => [lib, { runs: [], hydrations: [] }]));
const floorRuns = [];
let failure = null;
let userAgent = null;
try {
  for (let run = 1; run <= RUNS; run++) {
    say(`--- run ${run} of ${RUNS} (${h.since(wallStart)})`);
    floorRuns.push(await floors(context, run));
    for (const [i, lib] of LIBS.entries()) {
      const r = {};
      r.crossTab = await crossTab(context, lib, run, i === 0);
      r.awaited = await awaited(context, lib, run);
      r.many = await many(context, lib, run);
      r.concurrent = await concurrent(context, lib, run);
      r.failover = await failover(context, lib, run);
      r.crash = await failover(context, lib, run, 'crash');
      results[lib].runs.push(r);
    }
  }
  for (const lib of LIBS) {
    const runs = lib === 'peer' ? Math.min(1, HYDRATION_RUNS) : HYDRATION_RUNS;
    for (let run = 1; run <= runs; run++) {
      say(`--- ${lib} hydration run ${run} of ${runs} (${h.since(wallStart)})`);
      results[lib].hydrations.push(await hydration(context, lib, run, run === 1));
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

// ------------------------------------------------------------ report

const med = (list, f) => round(median(list.map(f).filter((x) => x != null)));
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : round(a / b, 2));
const summary = {};
for (const lib of LIBS) {
  const { runs, hydrations } = results[lib];
  summary[lib] = {
    crossTabP50: med(runs, (r) => r.crossTab.p50),
    crossTabP99: med(runs, (r) => r.crossTab.p99),
    awaitedP50: med(runs, (r) => r.awaited.p50),
    awaitedP99: med(runs, (r) => r.awaited.p99),
    insert10kMs: med(runs, (r) => r.many.ms),
    insert10kAgainMs: med(runs, (r) => r.many.againMs),
    concurrentMaxLagMs: med(runs, (r) => r.concurrent.maxLagMs),
    concurrentAllRows: runs.every((r) => r.concurrent.counts.every((c) => c === 3 * BURST)),
    failoverMs: med(runs, (r) => r.failover.fromCloseMs),
    failoverLost: runs.filter((r) => r.failover.lost).length,
    crashFailoverMs: med(runs, (r) => r.crash.fromCloseMs),
    crashFailoverLost: runs.filter((r) => r.crash.lost).length,
    emptyWithWriterMs: med(hydrations, (r) => r.empty.readyMs),
    emptyAloneMs: med(hydrations, (r) => r.emptyAlone.readyMs),
    hydrate100kWithWriterMs: med(hydrations, (r) => r.withWriterOpen.readyMs),
    hydrate100kAloneMs: med(hydrations, (r) => r.alone.readyMs),
    onDemandTop100PageStartMs: med(hydrations, (r) => r.onDemand?.pageStartToRowsMs),
    onDemandTop100AfterReadyMs: med(hydrations, (r) => r.onDemand?.readyToRowsMs),
    onDemandTop100FirstEverAfterReadyMs: med(hydrations, (r) => r.onDemand?.firstEver.readyToRowsMs),
    memory: hydrations[0]?.memory ?? null,
  };
}
const floorSummary = {
  broadcastChannelP50: med(results[LIBS[0]].runs, (r) => r.crossTab.floor?.p50),
  broadcastChannelP99: med(results[LIBS[0]].runs, (r) => r.crossTab.floor?.p99),
  durableCrossTabP50: med(results[LIBS[0]].runs, (r) => r.crossTab.floor?.durable.p50),
  durableCrossTabP99: med(results[LIBS[0]].runs, (r) => r.crossTab.floor?.durable.p99),
  rawSingleTxP50: med(floorRuns, (r) => r.rawSingleTx.p50),
  // The floors runs' other figures, each by the median over runs.
  ...Object.fromEntries(
    ['rawBatch10kMs', 'rawBatch10kLoggedMs', 'rawFromPage10kMs', 'rawBatch10kAgainMs', 'rawBatch10kLoggedAgainMs', 'rawFromPage10kAgainMs', 'tanstackSyncApply100kMs', 'tanstackOptimisticApply10kMs', 'rawHydrate100kAloneMs', 'rawHydrate100kOpenMs']
      .map((k) => [k, med(floorRuns, (r) => r[k])]),
  ),
};
const result = {
  meta: { startedAt, url: base, userAgent, runs: RUNS, libs: LIBS, v8Flags: process.env.LOCKSTEP_CHROMIUM_JS_FLAGS ?? null, wallMs: Math.round(performance.now() - wallStart), note: 'per metric: the median over runs of each run\'s figure' },
  summary,
  floors: floorSummary,
  ratios: {
    lockstepInsert10kVsRawBatch: ratio(summary.lockstep?.insert10kMs, floorSummary.rawBatch10kMs),
    rawLoggedVsRawBatch: ratio(floorSummary.rawBatch10kLoggedMs, floorSummary.rawBatch10kMs),
    rawFromPageVsRawBatch: ratio(floorSummary.rawFromPage10kMs, floorSummary.rawBatch10kMs),
    lockstepInsert10kVsRawFromPage: ratio(summary.lockstep?.insert10kMs, floorSummary.rawFromPage10kMs),
    lockstepInsert10kAgainVsRawBatchAgain: ratio(summary.lockstep?.insert10kAgainMs, floorSummary.rawBatch10kAgainMs),
    rawFromPageAgainVsRawBatchAgain: ratio(floorSummary.rawFromPage10kAgainMs, floorSummary.rawBatch10kAgainMs),
    lockstepAwaitedVsRawSingleTx: ratio(summary.lockstep?.awaitedP50, floorSummary.rawSingleTxP50),
    lockstepHydrate100kAloneVsRaw: ratio(summary.lockstep?.hydrate100kAloneMs, floorSummary.rawHydrate100kAloneMs),
    tanstackHydrationOverApplyFloorMs: summary['lockstep-tanstack']?.hydrate100kWithWriterMs == null ? null : round(summary['lockstep-tanstack'].hydrate100kWithWriterMs - floorSummary.tanstackSyncApply100kMs),
  },
  results,
  floorRuns,
  consoleErrors,
  failure,
};
const cell = (x, w) => String(x ?? '-').padStart(w);
const rows = [
  ['cross-tab visibility p50', 'crossTabP50'],
  ['cross-tab visibility p99', 'crossTabP99'],
  ['awaited single insert p50', 'awaitedP50'],
  ['awaited single insert p99', 'awaitedP99'],
  ['one insert of 10,000 rows', 'insert10kMs'],
  ['  the same again, same tab (code warm)', 'insert10kAgainMs'],
  ['3 tabs x 50 at once: last row seen after last commit', 'concurrentMaxLagMs'],
  ['leader closed -> write durable', 'failoverMs'],
  ['leader renderer crashed -> write durable', 'crashFailoverMs'],
  ['no rows: page start -> ready (writer open)', 'emptyWithWriterMs'],
  ['100,000 rows: page start -> ready (writer open)', 'hydrate100kWithWriterMs'],
  ['no rows: page start -> ready (alone)', 'emptyAloneMs'],
  ['100,000 rows: page start -> ready (alone, cold)', 'hydrate100kAloneMs'],
  ['on demand, 100 of 100,000: page start -> rows shown', 'onDemandTop100PageStartMs'],
  ['on demand, 100 of 100,000: ready -> rows shown', 'onDemandTop100AfterReadyMs'],
  ['  the same, first query ever (leader builds the index)', 'onDemandTop100FirstEverAfterReadyMs'],
];
say('');
say(`${'metric (ms)'.padEnd(54)}${LIBS.map((l) => cell(l, 20)).join('')}`);
for (const [name, key] of rows) say(`${name.padEnd(54)}${LIBS.map((l) => cell(summary[l][key], 20)).join('')}`);
say(`floors: BroadcastChannel p50 ${floorSummary.broadcastChannelP50} p99 ${floorSummary.broadcastChannelP99}; raw SQLite durable insert then BroadcastChannel (cross-tab) p50 ${floorSummary.durableCrossTabP50} p99 ${floorSummary.durableCrossTabP99}; raw SQLite single-row tx p50 ${floorSummary.rawSingleTxP50}, 10,000 rows ${floorSummary.rawBatch10kMs}, again ${floorSummary.rawBatch10kAgainMs} (with a change log of them ${floorSummary.rawBatch10kLoggedMs}, again ${floorSummary.rawBatch10kLoggedAgainMs}; from the page's objects, with the log, ${floorSummary.rawFromPage10kMs}, again ${floorSummary.rawFromPage10kAgainMs}); TanStack apply 100,000 synced ${floorSummary.tanstackSyncApply100kMs}, optimistic 10,000 ${floorSummary.tanstackOptimisticApply10kMs}; a new page reading 100,000 rows with raw SQLite: database open ${floorSummary.rawHydrate100kOpenMs}, rows in the page ${floorSummary.rawHydrate100kAloneMs}`);
if (process.env.LOCKSTEP_CHROMIUM_JS_FLAGS) say(`Chromium ran with V8 flags ${process.env.LOCKSTEP_CHROMIUM_JS_FLAGS} (an experiment: no user's browser has them)`);
say(`writes lost on failover (close; crash): ${LIBS.map((l) => `${l} ${summary[l].failoverLost}/${results[l].runs.length}; ${summary[l].crashFailoverLost}/${results[l].runs.length}`).join(', ')}; console errors: ${consoleErrors.length}; wall ${result.meta.wallMs} ms`);
const json = JSON.stringify(result, null, 2);
await mkdir(dirname(OUT), { recursive: true });
await writeFile(OUT, `${json}\n`);
say(`written to ${OUT}`);
printJson(`${json}\n`);
process.exit(failure ? 1 : 0);
