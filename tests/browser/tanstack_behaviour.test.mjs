// How @lockstep/db behaves through TanStack DB in real tabs: no flicker
// between optimistic and synced state, concurrent edits of different fields
// all survive, refusals roll back with typed errors, the schema option
// validates, and a React list in another tab re-renders.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import * as t from './tanstack.mjs';

test('no flicker: after isPersisted the row is synced, and sampled on every change it never vanishes or reverts', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-flicker'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const b = await t.openApp(browser.context, url, { name: 'B' });
  for (const tab of [a, b]) {
    const report = await tab.evaluate(async (name) => {
      const { todos } = window.lockstep;
      const events = [];
      const problems = [];
      const sub = todos.subscribeChanges((changes) => {
        for (const c of changes) events.push({ type: c.type, key: c.key, title: c.value?.title ?? null });
      });
      for (let i = 0; i < 25; i++) {
        const id = `${name}-${i}`;
        await todos.insert({ id, title: 'v0', done: false, createdAt: i }).isPersisted.promise;
        const inserted = todos.get(id);
        if (!inserted?.$synced || inserted.title !== 'v0') problems.push(`${id} not synced right after insert: ${JSON.stringify(inserted)}`);
        await todos.update(id, (draft) => { draft.title = 'v1'; }).isPersisted.promise;
        const updated = todos.get(id);
        if (!updated?.$synced || updated.title !== 'v1') problems.push(`${id} not synced right after update: ${JSON.stringify(updated)}`);
      }
      sub.unsubscribe();
      return { events, problems };
    }, tab.tabName);
    assert.deepEqual(report.problems, [], `${tab.tabName}: rows are synced when isPersisted resolves`);
    const byKey = new Map();
    for (const e of report.events) {
      if (!byKey.has(e.key)) byKey.set(e.key, []);
      byKey.get(e.key).push(e);
    }
    assert.equal(byKey.size, 25);
    for (const [key, events] of byKey) {
      assert.ok(!events.some((e) => e.type === 'delete'), `${key} never disappeared: ${JSON.stringify(events)}`);
      const firstV1 = events.findIndex((e) => e.title === 'v1');
      assert.ok(firstV1 >= 0 && events.slice(firstV1).every((e) => e.title === 'v1'), `${key} never reverted: ${JSON.stringify(events)}`);
    }
    h.log(`${tab.tabName}: ${report.events.length} change events on 25 rows, none vanished or reverted`);
  }
});

test('concurrent updates of different fields of one row from two tabs keep both fields', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-fields'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const b = await t.openApp(browser.context, url, { name: 'B' });
  const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
  assert.equal((await t.insert(a, ids.map((id) => t.todo(id, 'draft', { createdAt: 1 })))).ok, true);
  await t.waitForIds(b, ids);
  // Both tabs edit every row at the same moment, each a different field.
  const [fromA, fromB] = await Promise.all([
    Promise.all(ids.map((id) => t.update(a, id, { done: true }))),
    Promise.all(ids.map((id) => t.update(b, id, { title: `final ${id}` }))),
  ]);
  assert.ok([...fromA, ...fromB].every((r) => r.ok), 'every update was committed');
  // Fields keep the order they were written in (t.todo's), as JSON.stringify gives it.
  const expected = ids.map((id) => ({ id, title: `final ${id}`, done: true, createdAt: 1 }));
  assert.deepEqual(await t.liveRows(a), expected, 'the database kept both fields of every row');
  for (const tab of [a, b]) await t.waitForRows(tab, expected);
});

test('a refusal rolls back with a typed LockstepError, and deleting a field removes it', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-refusal'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const b = await t.openApp(browser.context, url, { name: 'B' });
  // The same key inserted by both tabs: B's insert is made while A's commit
  // waits in B's queue, so B's view lacks the key and the leader refuses it.
  const blocked = t.insertAfterBlocking(b, t.todo('same', 'from B'));
  await new Promise((r) => setTimeout(r, 200));
  const ra = await t.insert(a, t.todo('same', 'from A'));
  const rb = await blocked;
  assert.ok(ra.ok, JSON.stringify(ra));
  assert.equal(rb.ok, false, 'the later insert of the same key is refused');
  assert.equal(rb.name, 'KeyExistsError', JSON.stringify(rb));
  assert.match(rb.error, /todos/, 'the message names the collection');
  const winner = 'from A';
  for (const tab of [a, b]) {
    await h.waitFor(tab, (title) => window.lockstep.todos.get('same')?.title === title && window.lockstep.db.status.pending === 0, 10_000, { arg: winner, what: 'the winner everywhere, the loser rolled back' });
  }
  // A field deleted in a draft is removed from the row (not just left out of JSON).
  await a.evaluate(() => window.lockstep.todos.insert({ id: 'note', title: 'n', done: false, createdAt: 1, note: 'remove me' }).isPersisted.promise);
  await a.evaluate(() => window.lockstep.todos.update('note', (d) => { delete d.note; }).isPersisted.promise);
  const stored = (await t.liveRows(a)).find((r) => r.id === 'note');
  assert.deepEqual(stored, { createdAt: 1, done: false, id: 'note', title: 'n' });
});

test('the schema option validates mutations before anything is sent', { timeout: 60_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-schema'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const thrown = await a.evaluate(() => {
    try {
      window.lockstep.todos.insert({ id: 'bad', title: '   ', done: 'no', createdAt: 1 });
      return null;
    } catch (e) {
      return { name: e.name, message: e.message };
    }
  });
  assert.ok(thrown, 'an invalid row is refused');
  assert.match(thrown.name, /SchemaValidationError/);
  assert.match(thrown.message, /title must not be empty/);
  assert.equal((await h.status(a)).pending, 0, 'nothing was sent');
  assert.deepEqual(await t.liveRows(a), []);
});

test('React: a useLiveQuery list in tab B re-renders after a write in tab A, and a toggle in B shows in A', { timeout: 120_000 }, async (ctx) => {
  const url = h.reactUrl(h.uniqueScope('ts-react'));
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await t.openApp(browser.context, url, { name: 'A' });
  const b = await t.openApp(browser.context, url, { name: 'B' });
  await a.fill('input[name="title"]', 'buy milk');
  await a.press('input[name="title"]', 'Enter');
  await b.waitForFunction(() => [...document.querySelectorAll('ul.todos input.title')].some((i) => i.value === 'buy milk'), null, { timeout: 10_000 });
  const li = b.locator('ul.todos li', { has: b.locator('input.title[value="buy milk"]') });
  await li.locator('input.toggle').check();
  await a.waitForFunction(() => document.querySelector('ul.todos li.done input.title')?.value === 'buy milk', null, { timeout: 10_000 });
  // The status badge and the inspector are live too.
  assert.match(await b.locator('[data-field="storage"]').innerText(), /opfs/);
  await b.locator('textarea[aria-label="sql"]').fill('select title, done from todos');
  await b.getByRole('button', { name: 'Run' }).click();
  await b.waitForFunction(() => document.querySelector('table[data-panel="query"] td')?.textContent === 'buy milk', null, { timeout: 10_000 });
});
