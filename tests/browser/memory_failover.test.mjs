// Failover in the in-memory fallback (`?storage=memory`, what a private window
// without OPFS gets). The data lives only as long as the leading tab, but the
// other tabs must keep working: the next leader starts a new epoch, the tabs
// reload from it and re-send what they had pending. Before epochs, the new
// leader's hello (term 1 again) was dropped as stale and every write hung.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('memory fallback failover: a new in-memory leader is a new epoch, and writes from every tab keep committing', { timeout: 180_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('memory-failover'), { memory: true });
  const browser = await h.launch();
  t.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B', 'C']) tabs.push(await h.openTab(browser.context, url, { name }));
  const leader = await h.findLeader(tabs);
  const before = await h.status(leader);
  assert.equal(before.storage, 'memory', 'the test page forced the in-memory store');
  const epochBefore = (await leader.evaluate(() => window.lockstep.db.inspect())).epoch;
  h.log(`leader is ${leader.tabName} (term ${before.term}, epoch ${epochBefore})`);

  const perTab = 15;
  const killAfter = 9;
  const acked = [];
  let leaderClosed = false; // the close was started
  let leaderGone = false; // the close finished: every later commit is the new epoch's
  const start = performance.now();
  const loop = async (tab) => {
    for (let i = 0; i < perTab; i++) {
      if (tab.isClosed()) return;
      const key = `${tab.tabName}-${String(i).padStart(2, '0')}`;
      // Issued before the close, a write may commit in the old epoch and
      // vanish with it (the promise of this mode); issued after, it must
      // commit in the new one.
      const afterClose = leaderGone;
      // A rows-mode collection refuses writes, at once and with a typed
      // error, while it re-hydrates from the new epoch; the app retries, as
      // this loop does. Every write must settle: a hang here is the defect.
      for (let attempt = 0; ; attempt++) {
        try {
          const pos = await h.within(h.insert(tab, key, { tab: tab.tabName, i }), 20_000, `insert ${key}`);
          acked.push({ key, afterClose, ...pos });
          break;
        } catch (error) {
          if (tab.isClosed() || /closed|Target page|destroyed/i.test(error.message)) return;
          if (/still hydrating/.test(error.message) && attempt < 100) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            continue;
          }
          throw error;
        }
      }
      if (!leaderClosed && acked.length >= killAfter) {
        leaderClosed = true;
        h.log(`closing the in-memory leader ${leader.tabName} after ${acked.length} acknowledged inserts (${h.since(start)})`);
        await leader.close();
        leaderGone = true;
      }
    }
  };
  await Promise.all(tabs.map(loop));
  assert.ok(leaderClosed, 'the leader was closed midway');
  const remaining = tabs.filter((tab) => !tab.isClosed());
  assert.equal(remaining.length, 2);
  h.log(`loops done in ${h.since(start)}: ${acked.length} acknowledged`);

  const newLeader = await h.findLeader(remaining);
  const after = await h.status(newLeader);
  const epochAfter = (await newLeader.evaluate(() => window.lockstep.db.inspect())).epoch;
  assert.equal(after.storage, 'memory');
  assert.notEqual(epochAfter, epochBefore, 'the new in-memory leader runs a new epoch');
  h.log(`new leader ${newLeader.tabName}: term ${after.term}, epoch ${epochAfter}`);

  // Every write of the surviving tabs issued after the close committed in the
  // new epoch, and both tabs hold them: nothing hangs, nothing is skipped as a
  // duplicate of the old epoch's seqs.
  const survivors = new Set(remaining.map((tab) => tab.tabName));
  const lastOfEach = remaining.map((tab) => `${tab.tabName}-${String(perTab - 1).padStart(2, '0')}`);
  for (const key of lastOfEach) assert.ok(acked.some((a) => a.key === key), `${key} committed`);
  const afterKeys = acked.filter((a) => a.afterClose && survivors.has(a.key[0])).map((a) => a.key);
  assert.ok(afterKeys.length >= 2 * 3, `writes kept committing after the close (${afterKeys.length})`);
  for (const tab of remaining) {
    await h.waitForAllKeys(tab, afterKeys, 20_000);
    await h.waitFor(tab, () => window.lockstep.db.status.pending === 0, 20_000, { what: 'nothing pending' });
  }
  // The tabs reloaded from the new epoch: they agree with each other and with the leader's store.
  await h.waitFor(remaining[1], ([a]) => JSON.stringify(window.lockstep.todos.rows()) === a, 20_000, {
    arg: [JSON.stringify(await h.rows(remaining[0]))],
    what: `same rows as ${remaining[0].tabName}`,
  });
  const reference = await h.rows(remaining[0]);
  const live = await h.liveRows(newLeader);
  assert.deepEqual(live.map((r) => r.key).sort(), reference.map((r) => r.key).sort(), 'tabs equal the new epoch\'s store');
  const seqs = acked.filter((a) => a.afterClose).map((a) => `${a.term}/${a.seq}`);
  h.log(`converged on ${reference.length} rows of the new epoch; ${seqs.length} writes acknowledged after the close`);
});
