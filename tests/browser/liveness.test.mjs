// Liveness: the leader's worker stops answering while it holds the lock (its
// event loop is blocked for 7 s, as in a frozen or hung tab; Chromium's page
// "frozen" lifecycle state does not freeze dedicated workers, so the test
// blocks the real worker itself). The other tab reports `leader-unresponsive`,
// keeps its write pending (optimistic, visible) and does not take leadership
// by force: there is never a second writer. When the leader's worker answers
// again, the write commits and health returns to `ok`.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('liveness: a frozen leader is reported unresponsive, nobody steals, and writes commit when it resumes', { timeout: 120_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('liveness'));
  const browser = await h.launch();
  t.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  const b = await h.openTab(browser.context, url, { name: 'B' });
  const leader = await h.findLeader([a, b]);
  const follower = leader === a ? b : a;
  const term = (await h.status(follower)).term;

  const worker = leader.workers()[0];
  assert.ok(worker, 'the leader tab runs its leader worker');
  const frozenAt = performance.now();
  const hang = worker.evaluate(() => {
    const end = Date.now() + 7_000;
    while (Date.now() < end) {
      // the worker's event loop is blocked: no heartbeat, no message handled
    }
  });
  h.log(`the leader ${leader.tabName}'s worker stops answering`);

  await h.waitFor(follower, () => window.lockstep.db.status.health === 'leader-unresponsive', 15_000, { what: 'leader-unresponsive' });
  h.log(`${follower.tabName} reports leader-unresponsive after ${h.since(frozenAt)}`);
  // A write now is visible at once in the follower, and stays pending.
  await follower.evaluate(() => { window.__write = window.lockstep.todos.insert('while-frozen', { ok: true }).then((p) => (window.__done = p)); });
  assert.deepEqual(await follower.evaluate(() => window.lockstep.todos.get('while-frozen')), { ok: true });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const during = await h.status(follower);
  assert.equal(during.pending, 1, 'the write waits instead of going anywhere else');
  assert.equal(during.term, term, 'no new term: nobody took leadership by force');
  assert.equal(during.isLeader, false);
  assert.equal(await follower.evaluate(() => window.__done ?? null), null, 'not acknowledged while the leader is frozen');

  await hang;
  h.log(`the leader ${leader.tabName}'s worker answers again after ${h.since(frozenAt)}`);
  await h.waitFor(follower, () => window.__done && window.lockstep.db.status.pending === 0, 15_000, { what: 'the write committed' });
  await h.waitFor(follower, () => window.lockstep.db.status.health === 'ok', 15_000, { what: 'health ok again' });
  await h.waitForKeys(leader, ['while-frozen'], 15_000);
  assert.equal((await h.status(follower)).term, term, 'still the same leader and term');
});
