// Failover under TanStack DB writes: three tabs insert in a loop (each
// awaiting isPersisted) and the leader tab goes away midway, by closing and,
// in a separate run, by its renderer crashing. No write whose isPersisted
// resolved may be lost, no write the database committed may be rolled back
// in the tab that made it, and the remaining tabs must end equal.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import * as t from './tanstack.mjs';

async function failover(ctx, how) {
  const url = h.reactUrl(h.uniqueScope(`ts-failover-${how}`));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const tabs = [];
  for (const name of ['A', 'B', 'C']) tabs.push(await t.openApp(browser.context, url, { name }));
  const leader = await h.findLeader(tabs);
  const termBefore = (await h.status(leader)).term;
  let gone = false;
  leader.on('crash', () => { gone = true; });
  leader.on('close', () => { gone = true; });

  const perTab = 15;
  const killAfter = 12;
  const acked = [];
  const refused = [];
  let killedAt = null;
  let firstAckAfterKill = null;
  const loop = async (tab) => {
    for (let i = 0; i < perTab; i++) {
      if (tab === leader && gone) return;
      const id = `${tab.tabName}-${String(i).padStart(2, '0')}`;
      let result;
      try {
        result = await h.within(t.insert(tab, t.todo(id)), 20_000, `insert ${id}`);
      } catch (error) {
        if (tab === leader && gone) return;
        throw error;
      }
      if (result.ok) {
        acked.push(id);
        if (killedAt && !firstAckAfterKill && tab !== leader) firstAckAfterKill = performance.now();
      } else {
        refused.push({ id, tab: tab.tabName, error: result.error });
        h.log(`insert ${id} refused: ${result.error}`);
      }
      if (!killedAt && acked.length >= killAfter) {
        killedAt = performance.now();
        h.log(`${how === 'crash' ? 'crashing' : 'closing'} the leader ${leader.tabName} after ${acked.length} acknowledged inserts`);
        if (how === 'crash') {
          const cdp = await leader.context().newCDPSession(leader);
          cdp.send('Page.crash').catch(() => {});
        } else {
          await leader.close();
        }
      }
    }
  };
  await Promise.all(tabs.map(loop));
  assert.ok(killedAt, 'the leader went away midway');
  const remaining = tabs.filter((tab) => tab !== leader);
  const newLeader = await h.findLeader(remaining);
  const termAfter = (await h.status(newLeader)).term;
  assert.ok(termAfter > termBefore, `a new leader took over (${termBefore} -> ${termAfter})`);
  h.log(`${how}: first acknowledged write of a surviving tab ${Math.round(firstAckAfterKill - killedAt)} ms after the leader went away`);

  const live = await t.liveRows(remaining[0]);
  const inDb = new Set(live.map((r) => r.id));
  for (const id of acked) assert.ok(inDb.has(id), `acknowledged ${id} is in the database`);
  // Only the vanished tab's writes may be refused; a refusal means nothing was committed.
  for (const { id, tab } of refused) {
    assert.equal(tab, leader.tabName, `${id}: only the vanished tab's writes may fail`);
  }
  for (const tab of remaining) await t.waitForRows(tab, live, 20_000);
  const attempted = new Set(tabs.flatMap((tab) => Array.from({ length: perTab }, (_, i) => `${tab.tabName}-${String(i).padStart(2, '0')}`)));
  for (const row of live) assert.ok(attempted.has(row.id), `unexpected row ${row.id}`);
  h.log(`${how}: ${acked.length} acknowledged, ${live.length} in the database, every remaining tab equal`);
}

test('failover through TanStack: the leader tab closes while every tab writes; nothing acknowledged is lost', { timeout: 180_000 }, (ctx) => failover(ctx, 'close'));

test('failover through TanStack: the leader renderer crashes while every tab writes; nothing acknowledged is lost', { timeout: 180_000 }, (ctx) => failover(ctx, 'crash'));
