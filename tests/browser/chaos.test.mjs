// Chaos: four tabs for 30 s with random writes, and at random moments a tab
// closes, reloads, or a new one opens (the leader included). At the end every
// acknowledged write is present with its acknowledged value, every tab shows
// exactly what the live database holds (read through the leader with
// inspect()), and nothing is pending.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const SECONDS = Number(process.env.LOCKSTEP_CHAOS_SECONDS || 30);

/** A small deterministic generator, so a failing run can be replayed with LOCKSTEP_CHAOS_SEED. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(`chaos: ${SECONDS} s of random writes, closes, reloads and new tabs lose nothing`, { timeout: (SECONDS + 150) * 1000 }, async (t) => {
  const seed = Number(process.env.LOCKSTEP_CHAOS_SEED || Date.now() % 100000);
  const random = rng(seed);
  h.log(`chaos seed ${seed} (replay with LOCKSTEP_CHAOS_SEED=${seed})`);
  const url = h.appUrl(h.uniqueScope('chaos'));
  const browser = await h.launch();
  t.after(() => browser.close());

  let opened = 0;
  const open = async () => h.openTab(browser.context, url, { name: `T${++opened}` });
  const tabs = [];
  for (let i = 0; i < 4; i++) tabs.push(await open());

  const acknowledged = new Map(); // key -> last acknowledged value (or null once deleted)
  const inFlight = new Set();
  const counts = { writes: 0, acked: 0, refused: 0, lost: 0, closes: 0, reloads: 0, opens: 0 };
  let next = 0;

  const write = (tab) => {
    const mine = [...acknowledged.entries()].filter(([k, v]) => v && k.startsWith(`${tab.tabName}-`) && !inFlight.has(k));
    let key;
    let op;
    let value = null;
    if (mine.length > 0 && random() < 0.3) {
      key = mine[Math.floor(random() * mine.length)][0];
      if (random() < 0.3) {
        op = h.remove(tab, key);
      } else {
        value = { n: next++, by: tab.tabName, edited: true };
        op = h.update(tab, key, value);
      }
    } else {
      key = `${tab.tabName}-${next++}`;
      value = { n: next, by: tab.tabName };
      op = h.insert(tab, key, value);
    }
    counts.writes++;
    inFlight.add(key);
    return op.then(
      () => {
        counts.acked++;
        acknowledged.set(key, value);
      },
      (error) => {
        if (tab.isClosed() || /closed|Target page|destroyed|navigat/i.test(error.message)) counts.lost++;
        else counts.refused++;
      },
    ).finally(() => inFlight.delete(key));
  };

  const pending = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const roll = random();
    const live = tabs.filter((p) => !p.isClosed());
    if (roll < 0.8 || live.length < 2) {
      const tab = live[Math.floor(random() * live.length)];
      pending.push(write(tab));
    } else if (roll < 0.87) {
      const victim = live[Math.floor(random() * live.length)];
      counts.closes++;
      h.log(`closing ${victim.tabName}${(await h.status(victim).catch(() => ({}))).isLeader ? ' (the leader)' : ''}`);
      await victim.close();
      tabs.push(await open());
      counts.opens++;
    } else if (roll < 0.94) {
      const victim = live[Math.floor(random() * live.length)];
      counts.reloads++;
      h.log(`reloading ${victim.tabName}`);
      await h.reloadTab(victim);
    } else if (live.length < 5) {
      tabs.push(await open());
      counts.opens++;
    }
    await new Promise((resolve) => setTimeout(resolve, 20 + random() * 120));
  }
  await Promise.allSettled(pending);
  h.log(`chaos done: ${JSON.stringify(counts)}`);
  assert.ok(counts.acked > 50, `enough acknowledged writes to mean something (${counts.acked})`);

  const live = tabs.filter((p) => !p.isClosed());
  for (const tab of live) {
    await h.waitFor(tab, () => window.lockstep.db.status.pending === 0, 30_000, { what: 'nothing pending' });
  }
  const database = await live[0].evaluate(() => window.lockstep.db.raw.inspectRows('todos'));
  const stored = new Map(database.map((r) => [r.key, r.value]));
  for (const [key, value] of acknowledged) {
    if (value === null) assert.ok(!stored.has(key), `acknowledged delete of ${key} holds`);
    else assert.deepEqual(stored.get(key), value, `acknowledged write of ${key} is in the database`);
  }
  const expected = JSON.stringify([...database].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  for (const tab of live) {
    await h.waitFor(
      tab,
      ([want]) => JSON.stringify([...window.lockstep.todos.rows()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) === want,
      30_000,
      { arg: [expected], what: `${tab.tabName} equals the database` },
    );
  }
  h.log(`every one of ${live.length} tabs equals the database (${database.length} rows); ${counts.acked} acknowledged writes all present`);
});
