// Field report 001 (per-tab sql.js): each tab kept its own stale snapshot, so
// a tab opened later did not see earlier writes. Here: rows written by tab A
// are in a tab B opened afterwards as soon as B is ready, without waiting, and
// a read-only query issued from B answers from the live database.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('seed 001: a tab opened later shows the earlier rows as soon as it is ready', { timeout: 120_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('seed-001'));
  const browser = await h.launch();
  t.after(() => browser.close());

  const a = await h.openTab(browser.context, url, { name: 'A' });
  const written = [];
  for (let i = 1; i <= 3; i++) {
    const start = performance.now();
    const row = { title: `row ${i}`, n: i, done: i % 2 === 0 };
    await h.within(h.insert(a, `r${i}`, row), 15_000, `insert r${i}`);
    h.log(`insert r${i} durable after ${h.since(start)}`);
    written.push({ key: `r${i}`, value: row });
  }
  assert.deepEqual(await h.rows(a), written);

  const b = await h.openTab(browser.context, url, { name: 'B' });
  assert.deepEqual(await h.rows(b), written, 'B shows the rows the moment it is ready');
  // A read-only query issued from B (a debug page) answers from the live database.
  const live = await b.evaluate(() => window.lockstep.db.raw.inspectRows('todos'));
  assert.deepEqual(live, written, "B's query reads the live database through the leader");
  assert.deepEqual(a.consoleErrors.concat(b.consoleErrors), [], 'tabs logged errors');
});
