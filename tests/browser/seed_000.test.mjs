// Field report 000 (PowerSync + TanStack): listeners in other tabs never saw
// the writes, and writes ran through the last opened tab, so closing it broke
// them. Here: an insert in tab A shows in A and in B; once B is closed, A's
// writes keep committing and showing.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('seed 000: an insert reaches every tab, and closing the other tab does not stop writes', { timeout: 120_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('seed-000'));
  const browser = await h.launch();
  t.after(() => browser.close());

  const a = await h.openTab(browser.context, url, { name: 'A' });
  const b = await h.openTab(browser.context, url, { name: 'B' });

  let start = performance.now();
  const pos = await h.within(h.insert(a, 'k1', { title: 'from A' }), 15_000, 'insert k1 in A');
  h.log(`insert k1 durable after ${h.since(start)} at ${JSON.stringify(pos)}`);
  assert.ok(Number.isInteger(pos.seq) && pos.seq >= 1, `insert resolves {term, seq}, got ${JSON.stringify(pos)}`);
  await h.waitForKeys(a, ['k1']);
  await h.waitForKeys(b, ['k1']);
  assert.deepEqual(await h.rows(b), [{ key: 'k1', value: { title: 'from A' } }]);

  await b.close();
  h.log('closed B');
  for (const key of ['k2', 'k3', 'k4']) {
    start = performance.now();
    const p = await h.within(h.insert(a, key, { title: `after B closed: ${key}` }), 15_000, `insert ${key} in A after B closed`);
    h.log(`insert ${key} durable after ${h.since(start)} at ${JSON.stringify(p)}`);
    assert.ok(p.seq > pos.seq, `seqs go up: ${JSON.stringify(p)} after ${JSON.stringify(pos)}`);
  }
  await h.waitForKeys(a, ['k1', 'k2', 'k3', 'k4']);
  assert.deepEqual((await h.rows(a)).map((r) => r.key), ['k1', 'k2', 'k3', 'k4']);
  assert.deepEqual(a.consoleErrors, [], 'tab A logged errors');
});
