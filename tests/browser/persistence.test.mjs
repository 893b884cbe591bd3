// Persistence: rows written in one browser session are there after the whole
// browser is closed and started again on the same profile (OPFS).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

test('persistence: rows survive closing and relaunching the browser with the same profile', { timeout: 180_000 }, async (t) => {
  const url = h.appUrl(h.uniqueScope('persistence'));
  const first = await h.launch();
  let second = null;
  t.after(async () => {
    await first.close({ keepProfile: second !== null });
    await second?.close();
  });

  const a = await h.openTab(first.context, url, { name: 'A' });
  const written = [];
  for (let i = 1; i <= 5; i++) {
    const row = { title: `persisted ${i}`, done: false };
    await h.within(h.insert(a, `p${i}`, row), 15_000, `insert p${i}`);
    written.push({ key: `p${i}`, value: row });
  }
  await h.update(a, 'p2', { title: 'persisted 2, edited', done: true });
  await h.remove(a, 'p5');
  written[1].value = { title: 'persisted 2, edited', done: true };
  written.pop();
  await h.waitForKeys(a, written.map((r) => r.key));
  const seqBefore = (await h.status(a)).seq;

  let start = performance.now();
  await first.close({ keepProfile: true });
  h.log(`browser closed in ${h.since(start)}`);

  start = performance.now();
  second = await h.launch({ userDataDir: first.userDataDir });
  const b = await h.openTab(second.context, url, { name: 'B (relaunched)' });
  h.log(`relaunched and ready in ${h.since(start)}`);
  assert.deepEqual(await h.rows(b), written, 'the rows are there after the relaunch');
  const after = await h.insert(b, 'p6', { title: 'after relaunch', done: false });
  assert.ok(after.seq > seqBefore, `the stream position survived: ${JSON.stringify(after)} after seq ${seqBefore}`);
});
