// Failover: three tabs insert in a loop (each insert awaited, keys TAB-i) and
// the leader tab is closed midway. Every insert whose promise resolved must be
// in every remaining tab at the end, and the remaining tabs must end equal.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('failover: acknowledged inserts survive closing the leader tab, and the tabs converge', { timeout: 180_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('failover'));
  const browser = await h.launch();
  t.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B', 'C']) tabs.push(await h.openTab(browser.context, url, { name }));
  const leader = await h.findLeader(tabs);
  const termBefore = (await h.status(leader)).term;
  h.log(`leader is ${leader.tabName} (term ${termBefore})`);

  const perTab = 15;
  const killAfter = 12; // acknowledged inserts, all tabs together
  const acked = [];
  const refused = [];
  let leaderClosed = null;
  const start = performance.now();

  const loop = async (tab) => {
    for (let i = 0; i < perTab; i++) {
      if (tab.isClosed()) return;
      const key = `${tab.tabName}-${String(i).padStart(2, '0')}`;
      try {
        const pos = await h.within(h.insert(tab, key, { tab: tab.tabName, i }), 20_000, `insert ${key}`);
        acked.push({ key, ...pos });
      } catch (error) {
        if (tab.isClosed() || /closed|Target page|destroyed/i.test(error.message)) return;
        refused.push({ key, error: error.message.split('\n')[0] });
        h.log(`insert ${key} refused: ${error.message.split('\n')[0]}`);
      }
      if (!leaderClosed && acked.length >= killAfter) {
        leaderClosed = performance.now();
        h.log(`closing the leader ${leader.tabName} after ${acked.length} acknowledged inserts (${h.since(start)})`);
        await leader.close();
      }
    }
  };
  await Promise.all(tabs.map(loop));
  h.log(`loops done in ${h.since(start)}: ${acked.length} acknowledged, ${refused.length} refused`);
  assert.ok(leaderClosed, 'the leader was closed midway');

  const remaining = tabs.filter((tab) => !tab.isClosed());
  assert.equal(remaining.length, 2);
  const newLeader = await h.findLeader(remaining);
  const termAfter = (await h.status(newLeader)).term;
  h.log(`new leader ${newLeader.tabName} at term ${termAfter}, ${Math.round(performance.now() - leaderClosed)} ms after the close`);
  assert.ok(termAfter > termBefore, `the new leader has a higher term (${termBefore} -> ${termAfter})`);

  const ackedKeys = acked.map((a) => a.key);
  for (const tab of remaining) {
    await h.waitForAllKeys(tab, ackedKeys, 20_000);
    await h.waitFor(tab, () => window.lockstep.db.status.pending === 0, 20_000, { what: 'nothing pending' });
  }
  // Same rows everywhere, and nothing that was never written.
  const attempted = new Set(tabs.flatMap((tab) => Array.from({ length: perTab }, (_, i) => `${tab.tabName}-${String(i).padStart(2, '0')}`)));
  await h.waitFor(remaining[1], ([a]) => JSON.stringify(window.lockstep.todos.rows()) === a, 20_000, {
    arg: [JSON.stringify(await h.rows(remaining[0]))],
    what: `same rows as ${remaining[0].tabName}`,
  });
  const reference = await h.rows(remaining[0]);
  for (const tab of remaining) assert.deepEqual(await h.rows(tab), reference, `${tab.tabName} converged`);
  for (const row of reference) assert.ok(attempted.has(row.key), `unexpected row ${row.key}`);
  const seqs = acked.map((a) => a.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'no seq was handed out twice');
  h.log(`converged: ${reference.length} rows in every remaining tab (${acked.length} acknowledged)`);
});
