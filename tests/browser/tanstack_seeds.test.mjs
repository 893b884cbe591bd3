// The field reports, replayed through TanStack DB's own API in the React
// example (the package installed from its tarball), in real Chromium tabs.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import * as t from './tanstack.mjs';

test('seed 000 through TanStack: an insert in A appears in A and B; closing B changes nothing for A', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-seed-000'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const b = await t.openApp(browser.context, url, { name: 'B' });
  assert.deepEqual(await t.insert(a, t.todo('t1', 'write docs')), { ok: true });
  assert.deepEqual(await t.syncedIds(a), ['t1'], 'A holds it as synced once isPersisted resolved');
  await t.waitForIds(b, ['t1']);
  await b.close();
  assert.deepEqual(await t.insert(a, t.todo('t2')), { ok: true }, 'A still commits after B closed');
  assert.deepEqual((await t.rows(a)).map((r) => r.id), ['t1', 't2']);
  assert.deepEqual((await t.liveRows(a)).map((r) => r.id), ['t1', 't2']);
});

test('seed 001 through TanStack: a tab opened later sees current rows, and db.query in any tab reads the live database', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-seed-001'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  for (let i = 0; i < 5; i++) assert.equal((await t.insert(a, t.todo(`r${i}`, `row ${i}`, { done: i % 2 === 0 }))).ok, true);
  const b = await t.openApp(browser.context, url, { name: 'B' });
  assert.deepEqual((await t.rows(b)).map((r) => r.id), ['r0', 'r1', 'r2', 'r3', 'r4'], 'B shows them as soon as it is ready');
  for (const page of [a, b]) {
    const result = await page.evaluate(() => window.lockstep.db.query('select count(*) as n from todos where done = ?', [true]));
    assert.deepEqual(result, { columns: ['n'], rows: [[3]], truncated: false }, `${page.tabName}'s query reads the live state`);
  }
  // A write from B is visible to a query from A at once.
  assert.equal((await t.update(b, 'r1', { done: true })).ok, true);
  const after = await a.evaluate(() => window.lockstep.db.query('select count(*) from todos where done = 1'));
  assert.deepEqual(after.rows, [[4]]);
  const refused = await a.evaluate(() => window.lockstep.db.query('delete from todos').then(() => 'ran', (e) => `${e.name}: ${e.code}`));
  assert.match(refused, /^QueryError: (sql|not-read-only)$/, 'queries never write');
});

test('seed 002 through TanStack: after reloading every tab later writes are kept, and interleaved writes reach every tab', { timeout: 180_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-seed-002'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B', 'C']) tabs.push(await t.openApp(browser.context, url, { name }));
  for (const [i, tab] of tabs.entries()) assert.equal((await t.insert(tab, t.todo(`before-${i}`))).ok, true);
  for (const tab of tabs) {
    await h.reloadTab(tab);
    await tab.evaluate(() => window.lockstep.todos.preload());
  }
  // Interleaved writes from every tab at once, after the reloads.
  await Promise.all(tabs.map(async (tab, i) => {
    for (let n = 0; n < 10; n++) {
      const result = await t.insert(tab, t.todo(`after-${i}-${n}`));
      assert.equal(result.ok, true, `${tab.tabName} insert ${n}: ${result.error}`);
    }
  }));
  const expected = await t.liveRows(tabs[0]);
  assert.equal(expected.length, 33, 'nothing was dropped as a false duplicate after the reloads');
  for (const tab of tabs) await t.waitForRows(tab, expected);
});
