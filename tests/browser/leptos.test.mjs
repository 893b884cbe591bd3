// The Leptos example (lockstep-leptos) in real Chromium tabs: tabs see each
// other's writes and survive the leader closing; a commit to one row of
// 1,000 touches only that row's DOM; Leptos and React (TanStack DB) tabs
// share one database both ways; a refused write rolls back with its error.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import * as l from './leptos.mjs';
import * as t from './tanstack.mjs';

test('leptos: two tabs see each other\'s writes; closing the leader loses nothing', { timeout: 120_000 }, async (ctx) => {
  const url = l.leptosUrl(h.uniqueScope('leptos-tabs'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  const b = await h.openTab(browser.context, url, { name: 'B' });

  await l.addThroughForm(a, 'typed in A');
  await h.waitFor(b, () => [...document.querySelectorAll('ul.todos .title')].some((e) => e.textContent === 'typed in A'), 10_000, { what: 'A\'s form entry in B' });
  const fromB = await l.insertTodo(b, 'from-b', 'written in B');
  assert.ok(fromB.ok, JSON.stringify(fromB));
  await l.waitForTitle(a, 'from-b', 'written in B');

  // Close the leader while the other tab writes: every acknowledged write stays.
  const leader = await l.findLeader([a, b]);
  const other = leader === a ? b : a;
  h.log(`leader is ${leader.tabName}; closing it while ${other.tabName} writes`);
  const acked = [];
  const writes = (async () => {
    for (let i = 0; i < 20; i++) {
      const id = `w-${String(i).padStart(2, '0')}`;
      const r = await h.within(l.insertTodo(other, id, `write ${i}`), 20_000, `insert ${id}`);
      assert.ok(r.ok, `${id}: ${JSON.stringify(r)}`);
      acked.push(id);
      if (i === 5) await leader.close();
    }
  })();
  await writes;
  await h.waitFor(other, () => document.querySelector('.status')?.dataset.leader === 'true', 15_000, { what: 'the survivor leads' });
  await l.waitForIds(other, acked);
  // Durable: a reload reads every acknowledged write back from OPFS.
  await h.reloadTab(other);
  await l.waitForIds(other, [...acked, 'from-b']);
  const s = await l.status(other);
  assert.equal(s.storage, 'opfs');
  assert.equal(s.pending, 0);
});

test('leptos: a commit to one row of 1,000 re-renders only that row', { timeout: 120_000 }, async (ctx) => {
  const scope = h.uniqueScope('leptos-fine');
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const react = await t.openApp(browser.context, h.reactUrl(scope), { name: 'React' });
  const rows = Array.from({ length: 1_000 }, (_, i) => t.todo(`r-${String(i).padStart(4, '0')}`, `row ${i}`, { createdAt: i }));
  const inserted = await t.insert(react, rows);
  assert.ok(inserted.ok, JSON.stringify(inserted));
  const leptos = await h.openTab(browser.context, l.leptosUrl(scope), { name: 'Leptos' });
  await h.waitFor(leptos, () => document.querySelectorAll('ul.todos > li').length === 1_000, 20_000, { what: '1,000 rows shown' });

  await leptos.evaluate(() => {
    window.mutations = [];
    new MutationObserver((records) => window.mutations.push(...records))
      .observe(document.querySelector('ul.todos'), { subtree: true, childList: true, attributes: true, characterData: true });
  });
  const updated = await t.update(react, 'r-0500', { title: 'changed elsewhere', done: true });
  assert.ok(updated.ok, JSON.stringify(updated));
  await l.waitForTitle(leptos, 'r-0500', 'changed elsewhere');
  await h.waitFor(leptos, () => document.querySelector('li[data-id="r-0500"]').classList.contains('done'), 5_000, { what: 'row 500 done' });
  await new Promise((r) => setTimeout(r, 300)); // anything late would show up now
  const report = await leptos.evaluate(() => {
    const row = document.querySelector('li[data-id="r-0500"]');
    return {
      total: window.mutations.length,
      outside: window.mutations.filter((m) => !row.contains(m.target)).length,
      kinds: window.mutations.map((m) => m.type),
    };
  });
  h.log(`DOM mutations for one row's commit: ${report.total} (${report.kinds.join(', ')})`);
  assert.ok(report.total >= 1, 'the changed row was re-rendered');
  assert.equal(report.outside, 0, 'no other row and not the list was touched');
  assert.ok(report.total <= 4, `only that row's nodes changed (${report.total} mutations)`);
});

test('leptos: a Leptos tab and a React (TanStack DB) tab share one database, both ways', { timeout: 120_000 }, async (ctx) => {
  const scope = h.uniqueScope('leptos-react');
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const leptos = await h.openTab(browser.context, l.leptosUrl(scope), { name: 'Leptos' });
  const react = await t.openApp(browser.context, h.reactUrl(scope), { name: 'React' });

  // Leptos → React: an insert through the form, then an edit of one field.
  await l.addThroughForm(leptos, 'from leptos');
  await h.waitFor(react, () => [...window.lockstep.todos.values()].some((r) => r.title === 'from leptos'), 10_000, { what: 'the Leptos todo in React' });
  const id = (await l.todos(leptos)).find((r) => r.title === 'from leptos').id;
  const renamed = await leptos.evaluate(([key]) => window.lockstep.updateTitle(key, 'renamed in leptos'), [id]);
  assert.ok(renamed, 'the update was committed');
  await h.waitFor(react, (key) => window.lockstep.todos.get(key)?.title === 'renamed in leptos', 10_000, { arg: id, what: 'the rename in React' });
  const row = (await t.rows(react)).find((r) => r.id === id);
  assert.equal(row.done, false);
  assert.equal(typeof row.createdAt, 'number', 'the Leptos row has the React schema\'s shape');

  // React → Leptos: an insert, and a toggle of the Leptos row.
  assert.ok((await t.insert(react, t.todo('from-react', 'from react'))).ok);
  await l.waitForTitle(leptos, 'from-react', 'from react');
  assert.ok((await t.update(react, id, { done: true })).ok);
  await h.waitFor(leptos, (key) => document.querySelector(`li[data-id="${key}"]`)?.classList.contains('done'), 10_000, { arg: id, what: 'the toggle in Leptos' });
  assert.equal((await l.todos(leptos)).find((r) => r.id === id).title, 'renamed in leptos', 'the toggle kept the Leptos rename');

  // A toggle in Leptos (one field) and a rename in React of the same row at once keep both.
  await leptos.click(`li[data-id="from-react"] input[type="checkbox"]`);
  assert.ok((await t.update(react, 'from-react', { title: 'renamed in react' })).ok);
  for (const page of [react]) {
    await h.waitFor(page, () => { const r = window.lockstep.todos.get('from-react'); return r?.done === true && r?.title === 'renamed in react'; }, 10_000, { what: 'both fields kept in React' });
  }
  await l.waitForTitle(leptos, 'from-react', 'renamed in react');
  await h.waitFor(leptos, () => document.querySelector('li[data-id="from-react"]').classList.contains('done'), 10_000, { what: 'both fields kept in Leptos' });
});

test('leptos: a refused write rolls back in the view and shows its error', { timeout: 120_000 }, async (ctx) => {
  const scope = h.uniqueScope('leptos-refused');
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const leptos = await h.openTab(browser.context, l.leptosUrl(scope), { name: 'Leptos' });
  const react = await t.openApp(browser.context, h.reactUrl(scope), { name: 'React' });

  // The Leptos tab is kept busy while React inserts the same key: its insert
  // is checked against a view without the row, shown, then refused.
  const blocked = l.insertTodo(leptos, 'same', 'from leptos', { blockMs: 1_500 });
  await new Promise((r) => setTimeout(r, 300));
  assert.ok((await t.insert(react, t.todo('same', 'from react'))).ok);
  const refused = await blocked;
  assert.equal(refused.ok, false, 'the later insert of the same key is refused');
  assert.match(refused.error, /already exists/);
  assert.match(refused.error, /todos/, 'the message names the collection');
  await l.waitForTitle(leptos, 'same', 'from react');
  const shown = await leptos.evaluate(() => document.querySelector('.error[role="alert"]')?.textContent ?? '');
  assert.match(shown, /already exists/, 'the view shows the error');
  assert.equal((await l.todos(leptos)).filter((r) => r.id === 'same').length, 1);
  assert.equal((await l.status(leptos)).pending, 0);
});

test('leptos: a large collection loads with a progress signal that has a total', { timeout: 180_000 }, async (ctx) => {
  const scope = h.uniqueScope('leptos-progress');
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const react = await t.openApp(browser.context, h.reactUrl(scope), { name: 'React' });
  const n = 12_000;
  const rows = Array.from({ length: n }, (_, i) => t.todo(`p-${String(i).padStart(5, '0')}`, `a todo with a title long enough to need many pages ${i}`, { createdAt: i }));
  assert.ok((await t.insert(react, rows)).ok);

  // Record every state of the progress line from the page's first frame on.
  const page = await browser.context.newPage();
  page.tabName = 'Leptos';
  await page.addInitScript(() => {
    window.progressSeen = [];
    new MutationObserver(() => {
      const d = document.querySelector('.progress')?.dataset;
      if (d) window.progressSeen.push({ loaded: Number(d.loaded), total: d.total === '' ? null : Number(d.total), ready: d.ready === 'true' });
    }).observe(document, { subtree: true, attributes: true, childList: true, attributeFilter: ['data-loaded', 'data-total', 'data-ready'] });
  });
  // Pages of 1,000 rows (the default is up to 20,000): twelve pages to watch.
  await page.goto(`${l.leptosUrl(scope)}&pageRows=1000`);
  await h.waitFor(page, (want) => document.querySelectorAll('ul.todos > li').length === want, 60_000, { arg: n, what: `${n} rows shown` });
  const seen = await page.evaluate(() => window.progressSeen);
  const partial = seen.filter((s) => !s.ready && s.total !== null && s.loaded > 0 && s.loaded < s.total);
  h.log(`progress states: ${seen.length}, partial with a total: ${partial.length}; last ${JSON.stringify(seen.at(-1))}`);
  assert.ok(partial.length >= 1, `the bar showed a partial load: ${JSON.stringify(seen.slice(0, 20))}`);
  assert.ok(partial.every((s) => s.total === n), 'the total is the collection\'s row count');
  for (let i = 1; i < partial.length; i++) assert.ok(partial[i].loaded >= partial[i - 1].loaded, 'loaded only grows');
  assert.deepEqual(seen.at(-1), { loaded: n, total: n, ready: true });
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.progress')).display), 'none', 'the bar hides once ready');
});
