// A leader worker warms its code at its first quiet moment a second after it
// starts or takes the lead (a 1,000-row commit to a throwaway in-memory
// database; one row while it waits for the lock). The warm-up must leave the
// user's database as it was and the leader serving: checked in a tab that
// leads and one that took over, each left quiet long enough to warm up.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const QUIET_MS = 2_500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The names in the database's schema, and the rows of `todos`, through the live leader. */
function schemaAndCount(page) {
  return page.evaluate(async () => {
    const { db } = window.lockstep;
    const names = await db.query('select name from sqlite_master order by name');
    const count = await db.query('select count(*) from todos');
    return { names: names.rows.map((r) => r[0]), count: count.rows[0][0] };
  });
}

test('the leader\'s warm-up leaves the user\'s database untouched, before and after a takeover', { timeout: 120_000 }, async (ctx) => {
  const url = h.appUrl(h.uniqueScope('warm-up'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  await h.insert(a, 'before', { title: 'written before the warm-up' });
  const before = await schemaAndCount(a);
  const b = await h.openTab(browser.context, url, { name: 'B' });
  await sleep(QUIET_MS);
  const leader = await h.findLeader([a, b]);
  const other = leader === a ? b : a;
  const afterWarmUp = await schemaAndCount(leader);
  assert.deepEqual(afterWarmUp.names, before.names, 'no table of the warm-up in the user\'s database');
  assert.equal(afterWarmUp.count, 1, 'no row of the warm-up in the user\'s database');
  assert.ok(!afterWarmUp.names.some((n) => n.includes('warm')), afterWarmUp.names.join(', '));
  // The other tab's worker takes over and warms up as a leader in turn.
  await leader.close();
  await h.insert(other, 'after', { title: 'written by the new leader' });
  await sleep(QUIET_MS);
  const afterTakeover = await schemaAndCount(other);
  assert.deepEqual(afterTakeover.names, before.names);
  assert.equal(afterTakeover.count, 2, 'both writes, nothing of either warm-up');
  await h.insert(other, 'last', { title: 'written after both warm-ups' });
  await h.waitForKeys(other, ['before', 'after', 'last']);
});
