// `cargo xtask bench --browser --profile`: where the time of a 10,000-row
// insert, of 500 awaited single-row inserts, of a failover and of a
// 100,000-row load goes (and, through TanStack, of an on-demand tab showing
// 100 of those rows), from V8's sampling profiler on every
// thread at once (Chromium's tracing, so the leader worker is profiled with
// the page). Same bench page and rows as `bench.mjs`, raw path
// (?lib=lockstep) unless LOCKSTEP_PROFILE_LIB says otherwise.
//   node tests/browser/profile.mjs http://127.0.0.1:PORT/
// Each sample goes to the phase of the innermost frame of its stack that a
// phase matches (so `memcpy` under a SQLite insert counts as the insert).
// Progress and the table go to stderr; JSON to stdout and
// $LOCKSTEP_PROFILE_OUT. With LOCKSTEP_PROFILE_FOCUS=<regex>, each thread
// also lists, under `focus`, where the time inside the outermost frame
// matching it went (by the frame called from it, and by self frame); with
// LOCKSTEP_PROFILE_CALLERS=<regex>, `callers` lists who called the self
// frames matching it (the nearest two frames that do not match).
// Not a `*.test.mjs`.
import * as h from './harness.mjs';
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? process.env.LOCKSTEP_URL;
if (!base) {
  console.error('usage: node tests/browser/profile.mjs http://127.0.0.1:PORT/');
  process.exit(2);
}
process.env.LOCKSTEP_URL = base;
console.log = (...args) => console.error(...args);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = process.env.LOCKSTEP_PROFILE_OUT || join(ROOT, 'target', 'browser-profile.json');
const LIB = process.env.LOCKSTEP_PROFILE_LIB || 'lockstep';
const FOCUS = process.env.LOCKSTEP_PROFILE_FOCUS ? new RegExp(process.env.LOCKSTEP_PROFILE_FOCUS) : null;
const CALLERS = process.env.LOCKSTEP_PROFILE_CALLERS ? new RegExp(process.env.LOCKSTEP_PROFILE_CALLERS) : null;
const MANY = 10_000;
const HYDRATE = 100_000;
const CHUNK = 10_000;
const say = (...args) => console.error('[profile]', ...args);

// Phases. Each sample goes to the phase of the innermost frame of its stack
// that a rule matches (rules tried in order on that frame), so `memcpy`
// under a SQLite insert counts as the insert. A frame is "name url".
const BUCKETS = [
  ['rows in: JS -> Rust (JSON.stringify, serde)', /interop::js::from_js|parse_ops|JSON\.stringify|^stringify /],
  ['rows out: Rust -> JS (serde, JSON.parse)', /interop::js::to_js|JSON\.parse|^parse /],
  ['message decode (serde_json)', /lockstep::protocol::decode|lockstep::protocol::recipient/],
  ['message encode + postMessage', /Message::encode|post_bytes|postMessage/],
  ['row size checks', /check_ops|row_bytes/],
  ['page size budget (JSON length of each row)', /within_budget|json_bytes/],
  ['SQLite: read rows + parse stored JSON', /load_page|parse_row|parse_key/],
  ['SQLite: row statements (+ capture triggers)', /insert_row|update_row|delete_row|patch_row|get_row/],
  ['SQLite: change log, dedup record, position', /record_commit/],
  ['SQLite: COMMIT (WAL frames to OPFS)', /StoreTx>::commit|execute_batch/],
  ['SQLite: field and capture bookkeeping', /note_fields|own_write|drain_external|external_writes/],
  ['tab: optimistic apply', /lockstep::tab::overlay/],
  ['tab: apply a commit', /lockstep::tab::ordering/],
  ['tab: apply hydration pages', /lockstep::tab::hydration/],
  ['tab: change events + listeners', /subscriptions|Touched|database::call|RawDatabase.*listener/],
  ['take over: warm-up while waiting', /leader::warm_up/],
  ['take over: OPFS pool + open SQLite', /lockstep_browser::opfs::open|acquire_access_handles/],
  ['take over: coordinator start (new term)', /Coordinator<S>::start/],
];
// When no frame of a stack matches a phase: what its innermost frame is.
const FALLBACK = [
  ['garbage collection', /^\(garbage collector\)/],
  ['idle', /^\(idle\)/],
  ['JS (bench harness, wasm-bindgen glue)', /\.js$/],
  ['other Rust (coordinator, runtime, glue)', /\.wasm$/],
  ['V8 / browser (program)', /^\(program\)|^\(root\)/],
];

function bucketOf(stack) {
  for (const frame of stack) for (const [name, re] of BUCKETS) if (re.test(frame)) return name;
  for (const [name, re] of FALLBACK) if (stack.length && re.test(stack[0])) return name;
  return `other: ${stack[0] ?? '?'}`;
}

/** Per thread: busy ms (non-idle samples), ms per bucket, the top self frames. */
function analyse(events, fromTs, toTs) {
  const threadNames = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') threadNames.set(`${e.pid}:${e.tid}`, e.args.name);
  const profiles = new Map(); // id -> { thread, nodes: Map, samples: [], deltas: [], start }
  for (const e of events) {
    if (e.name === 'Profile') {
      profiles.set(`${e.pid}:${e.id}`, { thread: `${e.pid}:${e.tid}`, nodes: new Map(), samples: [], deltas: [], start: e.args.data.startTime });
    } else if (e.name === 'ProfileChunk') {
      const p = profiles.get(`${e.pid}:${e.id}`);
      if (!p) continue;
      const cpu = e.args.data.cpuProfile ?? {};
      for (const node of cpu.nodes ?? []) p.nodes.set(node.id, node);
      p.samples.push(...(cpu.samples ?? []));
      p.deltas.push(...(e.args.data.timeDeltas ?? []));
    }
  }
  const threads = [];
  for (const p of profiles.values()) {
    const frameOf = (node) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url || ''}`.trim();
    const stackCache = new Map();
    const stackOf = (id) => {
      if (stackCache.has(id)) return stackCache.get(id);
      const stack = [];
      for (let node = p.nodes.get(id); node; node = p.nodes.get(node.parent)) stack.push(frameOf(node));
      stackCache.set(id, stack);
      return stack;
    };
    // Parents are given as `parent` on newer Chromium, as `children` on older.
    for (const node of p.nodes.values()) for (const child of node.children ?? []) if (p.nodes.has(child)) p.nodes.get(child).parent = node.id;
    const buckets = new Map();
    const self = new Map();
    const inclusive = new Map();
    const focusCallees = new Map();
    const focusSelf = new Map();
    const callers = new Map();
    let t = p.start;
    let busy = 0;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.deltas[i] ?? 0;
      const next = p.deltas[i + 1] ?? 0;
      if (t < fromTs || t > toTs) continue;
      const ms = next / 1000;
      const stack = stackOf(p.samples[i]);
      const bucket = bucketOf(stack);
      if (bucket === 'idle') continue;
      busy += ms;
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + ms);
      self.set(stack[0], (self.get(stack[0]) ?? 0) + ms);
      for (const frame of new Set(stack)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + ms);
      // The stack is innermost first: the outermost focus frame is the last match.
      const at = FOCUS ? stack.findLastIndex((frame) => FOCUS.test(frame)) : -1;
      if (at >= 0) {
        const callee = at > 0 ? stack[at - 1] : '(self)';
        focusCallees.set(callee, (focusCallees.get(callee) ?? 0) + ms);
        focusSelf.set(stack[0], (focusSelf.get(stack[0]) ?? 0) + ms);
      }
      if (CALLERS?.test(stack[0] ?? '')) {
        const outside = stack.filter((frame) => !CALLERS.test(frame)).slice(0, 2).join(' <- ');
        callers.set(outside, (callers.get(outside) ?? 0) + ms);
      }
    }
    // Threads that never ran the page's code (the browser's own UI) are left out.
    if (busy < 1 || ![...self.keys()].some((frame) => frame.includes(base))) continue;
    const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10 }));
    threads.push({ thread: threadNames.get(p.thread) ?? p.thread, id: p.thread, busyMs: Math.round(busy), buckets: top(buckets, 30), topSelf: top(self, 15), topInclusive: top(inclusive, 40), ...(FOCUS && { focus: { callees: top(focusCallees, 25), self: top(focusSelf, 25) } }), ...(CALLERS && { callers: top(callers, 25) }) });
  }
  return threads.sort((a, b) => b.busyMs - a.busyMs);
}

async function startChromium() {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-profile-'));
  const child = spawn(h.CHROMIUM, [...h.CHROMIUM_ARGS, `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const endpoint = await new Promise((resolve, reject) => {
    let text = '';
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${text}`)));
  });
  const browser = await chromium.connectOverCDP(endpoint);
  return {
    browser,
    context: browser.contexts()[0],
    async close() {
      await browser.close().catch(() => {});
      child.kill();
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

async function traced(browser, what, action) {
  const cdp = await browser.newBrowserCDPSession();
  const events = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: { includedCategories: ['disabled-by-default-v8.cpu_profiler', '__metadata'], excludedCategories: ['*'] },
  });
  await new Promise((r) => setTimeout(r, 300));
  const clock0 = await cdp.send('Tracing.recordClockSyncMarker', { syncId: 'start' }).catch(() => null);
  void clock0;
  const wall0 = performance.now();
  const inPageMs = await action();
  const wallMs = performance.now() - wall0;
  await new Promise((r) => setTimeout(r, 300));
  await cdp.send('Tracing.end');
  await done;
  await cdp.detach();
  // Samples between the first and last sample of the action: trace clocks are
  // monotonic microseconds; take the window from the trace itself by
  // trimming the 300 ms of quiet before and after.
  const times = [];
  for (const e of events) if (e.name === 'ProfileChunk' && e.ts) times.push(e.ts);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const threads = analyse(events, first + 250_000, last - 250_000);
  say(`${what}: ${Math.round(inPageMs)} ms in the page (${Math.round(wallMs)} ms wall from here)`);
  for (const t of threads) {
    say(`  ${t.thread}: ${t.busyMs} ms busy`);
    for (const b of t.buckets.slice(0, 12)) say(`    ${String(b.ms).padStart(8)} ms  ${b.name}`);
  }
  return { what, inPageMs: Math.round(inPageMs), threads };
}

const benchUrl = (lib, scope, extra = {}) => {
  const url = new URL('bench/', base);
  url.searchParams.set('lib', lib);
  url.searchParams.set('app', 'lockstep-profile');
  url.searchParams.set('scope', scope);
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  return url.href;
};

const chrome = await startChromium();
const results = [];
let failure = null;
try {
  const { browser, context } = chrome;
  for (const page of context.pages()) await page.close();
  // One insert of 10,000 rows into an empty collection, the tab alone (it leads).
  const a = await h.openTab(context, benchUrl(LIB, h.uniqueScope('profile-many')), { name: 'many', timeoutMs: 60_000 });
  await a.evaluate(() => window.bench.insertMany('warm', 0, 100));
  results.push(await traced(browser, `one insert of ${MANY} rows (${LIB})`, () => a.evaluate((n) => window.bench.insertMany('m', 0, n), MANY)));
  // The same again: the page and the leader have written 10,000 rows before.
  results.push(await traced(browser, `a second insert of ${MANY} rows (${LIB})`, () => a.evaluate((n) => window.bench.insertMany('m2', 0, n), MANY)));
  // 500 single-row inserts, each awaited until durable: the per-commit cost.
  results.push(await traced(browser, `500 awaited single-row inserts (${LIB})`, () => a.evaluate(async () => {
    const times = await window.bench.awaitedInserts('one', 500);
    return times.reduce((x, y) => x + y, 0);
  })));
  await a.close();
  // Failover: the leading tab closes and the other tab writes at once.
  {
    const scope = h.uniqueScope('profile-failover');
    const leader = await h.openTab(context, benchUrl(LIB, scope), { name: 'leader', timeoutMs: 60_000 });
    const other = await h.openTab(context, benchUrl(LIB, scope), { name: 'other', timeoutMs: 60_000 });
    await other.evaluate(() => window.bench.insertMany('w', 0, 1));
    // As in bench.mjs: long enough for the waiting worker's warm-up (leader.rs).
    await new Promise((r) => setTimeout(r, 1_500));
    results.push(await traced(browser, `leader tab closed -> a write issued at once is durable (${LIB})`, async () => {
      await leader.close();
      return other.evaluate(async () => {
        const t = performance.now();
        await window.bench.insertMany('after-close', 0, 1);
        return performance.now() - t;
      });
    }));
    await other.close();
  }
  // 100,000 rows written, then a second tab opens and loads them.
  const scope = h.uniqueScope('profile-hydrate');
  const w = await h.openTab(context, benchUrl(LIB, scope), { name: 'writer', timeoutMs: 60_000 });
  for (let from = 0; from < HYDRATE; from += CHUNK) await w.evaluate(([f, n]) => window.bench.insertMany('h', f, n), [from, CHUNK]);
  say(`${HYDRATE} rows written`);
  let joiner = null;
  results.push(await traced(browser, `${HYDRATE} rows: page start -> ready (${LIB}, writer open)`, async () => {
    joiner = await h.openTab(context, benchUrl(LIB, scope), { name: 'joiner', timeoutMs: 300_000 });
    return joiner.evaluate(() => window.bench.marks.readyMs);
  }));
  if (LIB === 'lockstep-tanstack') {
    // On demand, as in bench.mjs: a new tab shows the 100 open rows with the
    // highest `n`. The first such tab has the leader build the index (not traced).
    const url = benchUrl(LIB, scope, { sync: 'on-demand', top: '100' });
    await (await h.openTab(context, url, { name: 'top-first', timeoutMs: 120_000 })).close();
    results.push(await traced(browser, `on demand: 100 of ${HYDRATE} rows, page start -> rows shown (${LIB}, writer open)`, async () => {
      const page = await h.openTab(context, url, { name: 'top', timeoutMs: 120_000 });
      const ms = await page.evaluate(() => window.bench.marks.topMs);
      await page.close();
      return ms;
    }));
  }
  // The same rows with every other tab closed: the new tab's worker takes
  // the lock, opens the files and SQLite, and serves the load itself.
  await joiner?.close();
  await w.close();
  results.push(await traced(browser, `${HYDRATE} rows: page start -> ready (${LIB}, alone)`, async () => {
    const page = await h.openTab(context, benchUrl(LIB, scope), { name: 'alone', timeoutMs: 300_000 });
    const ms = await page.evaluate(() => window.bench.marks.readyMs);
    await page.close();
    return ms;
  }));
} catch (error) {
  failure = String(error?.stack ?? error);
  say(`FAILED: ${failure}`);
} finally {
  await chrome.close();
}
const json = JSON.stringify({ meta: { url: base, lib: LIB, at: new Date().toISOString() }, results, failure }, null, 2);
await mkdir(dirname(OUT), { recursive: true });
await writeFile(OUT, `${json}\n`);
say(`written to ${OUT}`);
process.stdout.write(`${json}\n`);
process.exit(failure ? 1 : 0);
