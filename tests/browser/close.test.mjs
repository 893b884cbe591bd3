// Closing a database in a tab (defect 6): every pending promise settles with
// a ClosedError, later writes are refused, and open/close cycles leak
// nothing: every closed handle is freed (before the fix, each open/close
// leaked the whole runtime through an Rc cycle), and the tab's wasm memory
// and JS heap stay flat from cycle 20 to cycle 200.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('close settles every pending promise with a ClosedError and refuses later writes', { timeout: 120_000 }, async (ctx) => {
  const url = h.appUrl(h.uniqueScope('close'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  const b = await h.openTab(browser.context, url, { name: 'B' });
  const leader = await h.findLeader([a, b]);
  const follower = leader === a ? b : a;
  // The leader's worker stops answering, so the follower's requests stay pending.
  const hang = leader.workers()[0].evaluate(() => {
    const end = Date.now() + 6_000;
    while (Date.now() < end) {}
  });
  await new Promise((r) => setTimeout(r, 300));
  const outcomes = await follower.evaluate(async () => {
    const { db, todos } = window.lockstep;
    const settle = (promise) => promise.then((v) => ({ ok: true, v }), (e) => ({ ok: false, name: e.name, code: e.code, message: e.message }));
    const pending = {
      insert: settle(todos.insert('while-closing', { n: 1 })),
      ready: settle(db.collection('never-loaded').ready()),
      query: settle(db.query('select 1')),
      inspect: settle(db.inspect()),
    };
    const shownBefore = todos.get('while-closing') !== undefined;
    const started = performance.now();
    await db.close();
    const settled = await Promise.all(Object.entries(pending).map(async ([k, p]) => [k, await p]));
    const after = await settle(todos.insert('after-close', { n: 2 }));
    let readAfter;
    try {
      todos.rows();
      readAfter = 'no error';
    } catch (e) {
      readAfter = e.name;
    }
    return { shownBefore, settled: Object.fromEntries(settled), ms: performance.now() - started, after, readAfter, health: db.status.health };
  });
  await hang;
  assert.equal(outcomes.shownBefore, true, 'the pending insert showed optimistically before close');
  for (const [what, outcome] of Object.entries(outcomes.settled)) {
    assert.equal(outcome.ok, false, `${what} settled with an error`);
    assert.equal(outcome.name, 'ClosedError', `${what}: ${outcome.message}`);
  }
  assert.ok(outcomes.ms < 1_000, `every promise settled at once (${Math.round(outcomes.ms)} ms)`);
  assert.equal(outcomes.after.name, 'ClosedError', 'a write after close is refused');
  assert.equal(outcomes.readAfter, 'ClosedError');
  assert.equal(outcomes.health, 'closed');
  assert.equal(follower.workers().length, 0, 'the closed database\'s leader worker is gone');
});

test('200 open/close cycles in one tab leave wasm memory and the JS heap flat', { timeout: 300_000 }, async (ctx) => {
  const scope = h.uniqueScope('cycles');
  const url = h.appUrl(scope);
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const page = await h.openTab(browser.context, url, { name: 'A' });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  const measure = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const { wasm, handles } = await page.evaluate(async () => {
      const lockstep = await import('./pkg/dist/index.js');
      return { wasm: lockstep.wasmMemoryBytes(), handles: lockstep.liveDatabaseHandles() };
    });
    return { heap: heap.usedSize, wasm, handles };
  };
  // Each cycle opens the database again in this tab, loads and writes a
  // collection the page itself does not follow (the page's own database
  // leads), listens, queries, and closes it.
  const cycles = (from, to) => page.evaluate(async ([first, last, s]) => {
    const lockstep = await import('./pkg/dist/index.js');
    for (let i = first; i < last; i++) {
      const db = await lockstep.openDatabase({ app: 'lockstep-tests', scope: s });
      const cycles = db.collection('cycles');
      await cycles.ready();
      await cycles.insert(`cycle-${i}`, { i, text: 'x'.repeat(200) });
      cycles.subscribe(() => {});
      db.onStatus(() => {});
      await db.query('select count(*) from cycles');
      await db.close();
    }
  }, [from, to, scope]);
  const started = performance.now();
  await cycles(0, 20);
  const warm = await measure();
  await cycles(20, 200);
  const done = await measure();
  const ms = performance.now() - started;
  const heapGrowth = done.heap - warm.heap;
  const wasmGrowth = done.wasm - warm.wasm;
  h.log(`200 cycles in ${Math.round(ms)} ms; from cycle 20 to 200: JS heap ${(warm.heap / 1e6).toFixed(1)} -> ${(done.heap / 1e6).toFixed(1)} MB, wasm ${(warm.wasm / 1e6).toFixed(1)} -> ${(done.wasm / 1e6).toFixed(1)} MB`);
  assert.equal(done.handles, 1, 'every closed handle was freed; only the page\'s own database lives');
  // Linear memory never shrinks; allocator fragmentation may add a 64 KiB page now and then.
  assert.ok(wasmGrowth <= 512 << 10, `wasm memory grew ${wasmGrowth} bytes over 180 cycles`);
  assert.ok(heapGrowth <= 2 << 20, `the JS heap grew ${heapGrowth} bytes over 180 cycles`);
  assert.equal(page.workers().length, 1, 'only the page\'s own database still has a worker');
  const count = await page.evaluate(() => window.lockstep.db.query('select count(*) from cycles'));
  assert.deepEqual(count.rows, [[200]], 'every cycle\'s write was committed');
});
