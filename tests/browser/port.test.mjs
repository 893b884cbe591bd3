// A tab and its own leader worker talk through the worker's port, not the
// BroadcastChannel (one hop inside the renderer instead of two through the
// browser process): nothing the leading tab asks its worker or the worker
// answers it alone appears on the channel, while other tabs still reach the
// leader, and commits still reach them, over it.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

/** Starts recording, in `page`, every message on the database's channel as `{ from, to, type }`. */
function spy(page, channel) {
  return page.evaluate((name) => {
    window.spied = [];
    const bc = new BroadcastChannel(name);
    bc.onmessage = (event) => {
      const m = JSON.parse(new TextDecoder().decode(event.data));
      window.spied.push({ from: m.from, to: m.to, type: m.body?.type });
    };
  }, channel);
}

test('a leading tab and its own worker talk through the worker port; other tabs over the channel', { timeout: 120_000 }, async (ctx) => {
  const scope = h.uniqueScope('port');
  const url = h.appUrl(scope);
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  assert.equal(await h.findLeader([a]), a);
  const me = (await h.status(a)).tabId;
  await spy(a, `lockstep:lockstep-tests:${scope}`);
  for (let i = 0; i < 5; i++) await h.insert(a, `a${i}`, { n: i });
  const b = await h.openTab(browser.context, url, { name: 'B' });
  const other = (await h.status(b)).tabId;
  await h.insert(b, 'b0', { n: 99 });
  await h.waitForAllKeys(a, ['b0']);
  await h.waitForKeys(b, ['a0', 'a1', 'a2', 'a3', 'a4', 'b0']);
  const spied = await a.evaluate(() => window.spied);
  // The leader's own requests (writes, loads) and the answers to them.
  const own = spied.filter((m) => m.from === me && (m.to === me || ['envelope', 'hydrate', 'join'].includes(m.type)));
  assert.deepEqual(own, [], 'nothing between the leading tab and its own worker crosses the channel');
  assert.ok(spied.some((m) => m.from === other && m.type === 'envelope'), `B reaches the leader over the channel: ${JSON.stringify(spied.map((m) => [m.from === me ? "A" : m.from === other ? "B" : m.from, m.to === me ? "A" : m.to === other ? "B" : m.to, m.type]))}`);
  assert.ok(spied.some((m) => m.from === me && m.to === null), 'the leader broadcasts commits over the channel');
  assert.deepEqual(await h.rows(a), await h.rows(b), 'both tabs converge');
});
