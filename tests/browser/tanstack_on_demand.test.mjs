// On-demand loading through TanStack DB (`syncMode: 'on-demand'`): live
// queries in one tab load only what they ask for, by SQL on the leader, and
// give the same answers as the same queries over an eager collection of the
// same rows in another tab, first and after every kind of change: rows that
// start matching, stop matching, move into or out of a limited window, and
// are deleted. Filters Lockstep cannot compile (a nested field, text order)
// take the documented fallback and must still be right.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import * as t from './tanstack.mjs';

/** The live queries compared, as source text run in the page with TanStack's operators. */
const QUERIES = {
  done: `(q) => q.from({ i: items }).where(({ i }) => eq(i.done, true))`,
  top5: `(q) => q.from({ i: items }).where(({ i }) => gt(i.n, 250)).orderBy(({ i }) => i.n, 'desc').limit(5)`,
  window: `(q) => q.from({ i: items }).where(({ i }) => and(eq(i.done, false), lt(i.n, 150))).orderBy(({ i }) => i.n, 'asc').offset(3).limit(10)`,
  either: `(q) => q.from({ i: items }).where(({ i }) => or(like(i.title, 'item 1_'), inArray(i.n, [5, 7, 299])))`,
  notDone: `(q) => q.from({ i: items }).where(({ i }) => not(eq(i.done, true))).orderBy(({ i }) => i.n, 'asc').limit(7)`,
  ties: `(q) => q.from({ i: items }).orderBy(({ i }) => i.rank, 'asc').limit(4)`,
  byTitle: `(q) => q.from({ i: items }).where(({ i }) => gte(i.n, 100)).orderBy(({ i }) => i.title, 'asc').limit(5)`,
  nested: `(q) => q.from({ i: items }).where(({ i }) => eq(i.meta.group, 'g2'))`,
  // Equalities with a text or a number go through the field's index.
  equal: `(q) => q.from({ i: items }).where(({ i }) => or(eq(i.title, 'item 42'), and(eq(i.n, 7), not(eq(i.done, true)))))`,
  listed: `(q) => q.from({ i: items }).where(({ i }) => and(inArray(i.title, ['item 3', 'item 250', 'nope']), gt(i.n, 0)))`,
};

/** The queries whose filter or order Lockstep cannot run in SQL: they load every row (the fallback). */
const FALLBACK = ['byTitle', 'nested'];

/**
 * Makes `window.items` (eager or on demand) once, and a live query for each
 * entry of QUERIES named in `names`; resolves with the rows the collection holds.
 */
function setup(page, syncMode, names = Object.keys(QUERIES)) {
  const queries = Object.fromEntries(names.map((name) => [name, QUERIES[name]]));
  return page.evaluate(async ([mode, queries]) => {
    const ts = window.lockstep.tanstack;
    window.items ??= ts.createCollection(ts.lockstepCollectionOptions({ db: window.lockstep.db, id: 'items', getKey: (r) => r.id, syncMode: mode }));
    const { items } = window;
    window.queries ??= {};
    const ops = { items, eq: ts.eq, gt: ts.gt, gte: ts.gte, lt: ts.lt, lte: ts.lte, and: ts.and, or: ts.or, not: ts.not, like: ts.like, inArray: ts.inArray };
    for (const [name, source] of Object.entries(queries)) {
      const build = new Function(...Object.keys(ops), `return ${source}`)(...Object.values(ops));
      const live = ts.createLiveQueryCollection({ query: build, startSync: true });
      window.queries[name] = live;
    }
    await items.preload();
    await Promise.all(Object.values(window.queries).map((q) => q.preload()));
    return items.size;
  }, [syncMode, queries]);
}

/** Each query's answer: ids in order (sorted for queries without one), and the held row count. */
function answers(page) {
  return page.evaluate((ordered) => {
    const out = {};
    for (const [name, live] of Object.entries(window.queries)) {
      const ids = live.toArray.map((r) => r.id);
      out[name] = ordered.includes(name) ? ids : ids.sort();
    }
    return { out, held: window.items.size };
  }, ['top5', 'window', 'notDone', 'byTitle']);
}

function item(n) {
  return { id: `i${String(n).padStart(3, '0')}`, n, title: `item ${n}`, done: n % 3 === 0, rank: n % 50, meta: { group: `g${n % 4}` } };
}

/**
 * A browser on a fresh scope whose tab `eager` holds `count` items (written
 * there, through an eager collection).
 */
async function withItems(ctx, scope, count) {
  const url = h.reactUrl(h.uniqueScope(scope));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const eager = await t.openApp(browser.context, url, { name: 'eager' });
  await setup(eager, 'eager');
  await eager.evaluate(async (rows) => {
    await window.items.insert(rows).isPersisted.promise;
  }, Array.from({ length: count }, (_, n) => item(n)));
  return { browser, url, eager };
}

test('on-demand live queries load only what they ask for and give the eager answers, first and after changes', { timeout: 180_000 }, async (ctx) => {
  const { browser, url, eager } = await withItems(ctx, 'ts-on-demand', 300);
  const onDemand = await t.openApp(browser.context, url, { name: 'on-demand' });
  const want0 = await answers(eager);

  const started = performance.now();
  const exact = Object.keys(QUERIES).filter((name) => !FALLBACK.includes(name));
  const held = await setup(onDemand, 'on-demand', exact);
  h.log(`on-demand tab: ${exact.length} live queries ready in ${h.since(started)}, holding ${held} of 300 rows`);
  // What they need: their answers, plus the rows an ordered window skips
  // (offset) or ties with its last row.
  const needed = new Set(exact.flatMap((name) => want0.out[name])).size;
  assert.ok(held <= needed + 10, `the queries Lockstep runs in SQL load only what they need (${held} rows held for answers of ${needed})`);
  await setup(onDemand, 'on-demand', FALLBACK);
  const want = await answers(eager);
  let got = await answers(onDemand);
  for (const name of Object.keys(QUERIES)) assert.deepEqual(got.out[name], want.out[name], `${name}: the on-demand answer equals the eager one`);
  // The leader indexed the order fields and a field compared for equality
  // (not the booleans, nor fields only an OR compares).
  const indexed = await onDemand.evaluate(async () => {
    const { rows } = await window.lockstep.db.query(`SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%value ->>%'`);
    return rows.map(([sql]) => /'\$\."([^"]+)"'/.exec(sql)?.[1]).sort();
  });
  assert.deepEqual(indexed, ['n', 'rank', 'title'], 'the fields the leader indexed');

  // Changes from the eager tab: rows start and stop matching, move into and
  // out of the limited windows, and disappear.
  await eager.evaluate(async (rows) => {
    const { items } = window;
    await items.insert(rows).isPersisted.promise;
    await items.update('i299', (d) => { d.n = 1; d.done = false; }).isPersisted.promise;
    await items.update('i298', (d) => { d.done = true; }).isPersisted.promise;
    await items.update('i010', (d) => { d.n = 260; d.title = 'aaa first'; }).isPersisted.promise;
    await items.update('i002', (d) => { d.meta = { group: 'g2' }; d.rank = 0; }).isPersisted.promise;
    await items.update('i042', (d) => { d.title = 'item 250'; }).isPersisted.promise;
    await items.update('i007', (d) => { d.done = true; }).isPersisted.promise;
    await items.update('i008', (d) => { d.n = 7; }).isPersisted.promise;
    await items.delete(['i297', 'i004', 'i100', 'i050']).isPersisted.promise;
  }, [item(400), item(401), { ...item(402), done: false, n: 0, rank: 0 }]);
  const target = await answers(eager);
  await h.waitFor(
    onDemand,
    (wantJson) => {
      const want = JSON.parse(wantJson);
      const ordered = ['top5', 'window', 'notDone', 'byTitle'];
      return Object.entries(window.queries).every(([name, live]) => {
        const ids = live.toArray.map((r) => r.id);
        return JSON.stringify(ordered.includes(name) ? ids : ids.sort()) === JSON.stringify(want.out[name]);
      });
    },
    15_000,
    { arg: JSON.stringify(target), what: 'every on-demand answer equal to the eager one after the changes' },
  );
  got = await answers(onDemand);
  for (const name of Object.keys(QUERIES)) assert.deepEqual(got.out[name], target.out[name], `${name} after changes`);

  // A write through the on-demand collection is kept there and reaches the eager tab.
  await onDemand.evaluate(async () => {
    await window.items.insert({ id: 'mine', n: -5, title: 'mine', done: true, rank: 99, meta: { group: 'x' } }).isPersisted.promise;
  });
  assert.equal(await onDemand.evaluate(() => window.items.get('mine')?.title), 'mine', 'a row written here stays here');
  await h.waitFor(eager, () => window.items.has('mine'), 15_000, { what: 'the on-demand write in the eager tab' });
});

test('a live query opened in a tab that reloads gets its rows again', { timeout: 120_000 }, async (ctx) => {
  const { browser, url, eager: writer } = await withItems(ctx, 'ts-on-demand-reload', 50);
  const reader = await t.openApp(browser.context, url, { name: 'reader' });
  await setup(reader, 'on-demand');
  await h.reloadTab(reader);
  await reader.evaluate(() => window.lockstep.todos.preload());
  await setup(reader, 'on-demand');
  const want = await answers(writer);
  const got = await answers(reader);
  for (const name of Object.keys(QUERIES)) assert.deepEqual(got.out[name], want.out[name], `${name} after a reload`);
});

test('the rows tied with an ordered load\'s last value are answered in the tab, without waiting for the leader', { timeout: 120_000 }, async (ctx) => {
  const { browser, url, eager } = await withItems(ctx, 'ts-on-demand-ties', 300);
  const onDemand = await t.openApp(browser.context, url, { name: 'on-demand' });
  // Counts what TanStack asks the collection for, and what goes to the leader.
  await onDemand.evaluate(() => {
    const ts = window.lockstep.tanstack;
    const { db } = window.lockstep;
    window.asked = [];
    window.sent = 0;
    const send = db.raw.loadSubset.bind(db.raw);
    db.raw.loadSubset = (collection, subset) => {
      window.sent += 1;
      return send(collection, subset);
    };
    const options = ts.lockstepCollectionOptions({ db, id: 'items', getKey: (r) => r.id, syncMode: 'on-demand' });
    const start = options.sync.sync;
    options.sync = {
      ...options.sync,
      sync: (params) => {
        const started = start(params);
        window.started = started;
        const { loadSubset } = started;
        started.loadSubset = (o) => {
          const answer = loadSubset(o);
          window.asked.push({ ordered: Boolean(o.orderBy?.length), tie: !o.orderBy?.length && o.limit === undefined && o.where !== undefined, atOnce: answer === true });
          return answer;
        };
        return started;
      },
    };
    window.items = ts.createCollection(options);
  });
  const names = ['top5', 'notDone', 'ties'];
  await setup(onDemand, 'on-demand', names);
  const asked = await onDemand.evaluate(() => ({ asked: window.asked, sent: window.sent }));
  h.log(`TanStack asked ${JSON.stringify(asked.asked)}`);
  const ordered = asked.asked.filter((a) => a.ordered);
  const ties = asked.asked.filter((a) => a.tie);
  assert.equal(ordered.length, names.length, 'one ordered load per live query');
  assert.ok(ties.length > 0, 'TanStack asked for the rows tied with a boundary');
  assert.ok(ties.every((a) => a.atOnce), 'each tie load was answered at once, in the tab');
  assert.ok(ordered.every((a) => !a.atOnce), 'each ordered load waited for the leader');
  // The tie loads reach the leader too, in the background, so a reload reads them again.
  await h.waitFor(onDemand, (n) => window.sent === n, 15_000, { arg: asked.asked.length, what: 'every subset registered with the leader' });
  const want = await answers(eager);
  const got = await answers(onDemand);
  for (const name of names) assert.deepEqual(got.out[name], want.out[name], `${name}: the on-demand answer equals the eager one`);

  // The boundary's rows stay live: a row that ties with it and one that moves past it.
  await eager.evaluate(async (rows) => {
    await window.items.insert(rows).isPersisted.promise;
    await window.items.update('i296', (d) => { d.n = 295; }).isPersisted.promise;
  }, [{ ...item(403), n: 295, rank: 0 }]);
  const target = await answers(eager);
  await h.waitFor(
    onDemand,
    ([wantJson, names]) => {
      const want = JSON.parse(wantJson);
      return names.every((name) => JSON.stringify(window.queries[name].toArray.map((r) => r.id)) === JSON.stringify(want.out[name]));
    },
    15_000,
    { arg: [JSON.stringify(target), names], what: 'the on-demand answers equal to the eager ones after the changes' },
  );

  // A subset unloaded while its rows are read is unloaded once they arrive
  // (or the tab would read it again after every reload).
  const unloaded = await onDemand.evaluate(async () => {
    const { db } = window.lockstep;
    const ids = [];
    const release = db.raw.unloadSubset.bind(db.raw);
    db.raw.unloadSubset = (id) => {
      ids.push(id);
      release(id);
    };
    const everything = {};
    const loading = window.started.loadSubset(everything);
    window.started.unloadSubset(everything);
    await loading;
    return ids;
  });
  assert.equal(unloaded.length, 1, 'the subset unloaded during its load reached the tab once it was answered');
});

test('after a reload that read every subset again (a new in-memory leader), TanStack is told its ordered windows may have gaps, and they repair', { timeout: 120_000 }, async (ctx) => {
  // In-memory storage: the next leader starts a new, empty epoch, and each
  // tab reads its subsets again from it: the one reload a browser test can
  // cause. A reload re-reads each ordered page on its own, so TanStack asks
  // to hear of it (`invalidateLoadedSubsets`) and then repairs each window.
  const url = h.reactUrl(h.uniqueScope('ts-on-demand-epoch'), { memory: true });
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const tabs = [await t.openApp(browser.context, url, { name: 'A' }), await t.openApp(browser.context, url, { name: 'B' })];
  const leader = await h.findLeader(tabs);
  const reader = tabs.find((tab) => tab !== leader);
  await setup(reader, 'on-demand', ['top5']);
  const top5 = (page) => page.evaluate(() => window.queries.top5.toArray.map((r) => r.id));
  await reader.evaluate(async (rows) => {
    window.invalidated = 0;
    window.items.on('loadedSubsets:invalidated', () => {
      window.invalidated += 1;
    });
    await window.items.insert(rows).isPersisted.promise;
  }, Array.from({ length: 20 }, (_, i) => item(280 + i)));
  assert.deepEqual(await top5(reader), ['i299', 'i298', 'i297', 'i296', 'i295']);
  assert.equal(await reader.evaluate(() => window.invalidated), 0, 'no reload yet, no invalidation');

  await leader.close();
  await h.waitFor(reader, () => window.invalidated > 0, 20_000, { what: 'TanStack told its loaded subsets were read again' });
  // The new epoch starts empty; the window fills again from new rows.
  await h.waitFor(reader, () => window.queries.top5.toArray.length === 0, 15_000, { what: 'the old epoch\'s rows gone' });
  await reader.evaluate(async (rows) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await window.items.insert(rows).isPersisted.promise;
        return;
      } catch (error) {
        if (attempt > 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, [260, 275, 251, 290, 262, 270].map(item));
  await h.waitFor(reader, () => JSON.stringify(window.queries.top5.toArray.map((r) => r.id)) === JSON.stringify(['i290', 'i275', 'i270', 'i262', 'i260']), 15_000, { what: 'the repaired window showing the new epoch\'s top rows' });
});
