// Field report 002 (TanStack persistence PR): after a restart the stream
// position was reset and new writes were dropped as duplicates; the leader tab
// wrote around its coordinator (seq collisions) and ignored its coordinator's
// commits. Here: (a) writes after every tab reloads are kept, next to the rows
// from before; (b) interleaved writes of the leader tab and two followers end
// up in every tab, in the same order.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('seed 002a: writes after reloading every tab are kept, and the earlier rows stay', { timeout: 180_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('seed-002a'));
  const browser = await h.launch();
  t.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B']) tabs.push(await h.openTab(browser.context, url, { name }));

  const before = ['a-1', 'a-2', 'b-1'];
  await h.insert(tabs[0], 'a-1', { title: 'A before reload 1' });
  await h.insert(tabs[0], 'a-2', { title: 'A before reload 2' });
  const last = await h.insert(tabs[1], 'b-1', { title: 'B before reload' });
  for (const tab of tabs) await h.waitForKeys(tab, before);
  const termBefore = (await h.status(tabs[0])).term;

  let start = performance.now();
  await Promise.all(tabs.map((tab) => h.reloadTab(tab)));
  h.log(`reloaded every tab in ${h.since(start)}`);
  for (const tab of tabs) {
    assert.deepEqual((await h.rows(tab)).map((r) => r.key), before, `${tab.tabName} keeps the rows from before the reload`);
  }

  const after = [];
  for (const tab of tabs) {
    for (let n = 1; n <= 2; n++) {
      const key = `after-${tab.tabName}-${n}`;
      start = performance.now();
      const pos = await h.within(h.insert(tab, key, { title: `${tab.tabName} after reload ${n}` }), 15_000, `insert ${key}`);
      h.log(`insert ${key} durable after ${h.since(start)} at ${JSON.stringify(pos)}`);
      assert.ok(pos.seq > last.seq, `the stream position survives the reload: ${JSON.stringify(pos)} after ${JSON.stringify(last)}`);
      after.push(key);
    }
  }
  const all = [...before, ...after].sort();
  for (const tab of tabs) await h.waitForKeys(tab, all);
  const reference = await h.rows(tabs[0]);
  for (const tab of tabs) assert.deepEqual(await h.rows(tab), reference, `${tab.tabName} equals A`);
  const s = await h.status(tabs[0]);
  h.log(`term ${termBefore} before the reload, ${s.term} after`);
  assert.ok(s.term >= termBefore, 'terms never go back');
});

test('seed 002b: interleaved writes of the leader tab and two followers reach every tab in the same order', { timeout: 180_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('seed-002b'));
  const browser = await h.launch();
  t.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B', 'C']) tabs.push(await h.openTab(browser.context, url, { name }));
  const leader = await h.findLeader(tabs);
  h.log(`leader is ${leader.tabName}`);
  const writers = [leader, ...tabs.filter((tab) => tab !== leader)];
  const perTab = 10;

  const start = performance.now();
  const positions = await Promise.all(writers.map(async (tab, w) => {
    const role = w === 0 ? 'leader' : `follower${w}`;
    const out = [];
    for (let i = 0; i < perTab; i++) {
      const key = `${role}-${String(i).padStart(2, '0')}`;
      const pos = await h.within(h.insert(tab, key, { by: role, i }), 15_000, `insert ${key} from ${tab.tabName}`);
      out.push({ key, ...pos });
    }
    return out;
  }));
  h.log(`${writers.length * perTab} interleaved inserts durable in ${h.since(start)}`);

  const seqs = positions.flat().map((p) => p.seq);
  assert.equal(new Set(seqs).size, seqs.length, `every commit has its own seq: ${seqs.sort((x, y) => x - y)}`);
  const keys = positions.flat().map((p) => p.key).sort();
  for (const tab of tabs) await h.waitForKeys(tab, keys);
  const reference = await h.rows(tabs[0]);
  assert.deepEqual(reference.map((r) => r.key), keys, 'rows are in key order');
  for (const tab of tabs) {
    assert.deepEqual(await h.rows(tab), reference, `${tab.tabName} has the same rows in the same order`);
  }
  const applied = await Promise.all(tabs.map(async (tab) => (await h.status(tab)).seq));
  h.log(`applied seq per tab: ${applied.join(', ')}`);
});
