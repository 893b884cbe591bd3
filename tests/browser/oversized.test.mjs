// Invariant 12 with a real BroadcastChannel: bytes far larger than any
// message accepted (64 MiB), posted on the database's channel by some other
// script, are refused and counted as too large, and only the first
// 64 MiB + 1 of them is ever copied into a tab's wasm memory (before, all
// of it was: a large enough post made every tab's wasm run out of memory).
// The tabs go on writing and seeing each other's writes.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const MIB = 1 << 20;
const LIMIT = 64 * MIB;

/** The tab's wasm memory, in bytes (the package's own module instance). */
function wasmMemory(page) {
  return page.evaluate(async () => (await import('./pkg/dist/index.js')).wasmMemoryBytes());
}

/** The leader's count of messages it dropped. */
async function leaderDropped(page) {
  return page.evaluate(async () => Number((await window.lockstep.db.inspect()).counters.dropped));
}

/** The tab's own count of messages it dropped as too large. */
async function tabOversized(page) {
  return page.evaluate(async () => (await window.lockstep.db.inspect()).tab.dropped.oversized);
}

test('bytes or text larger than any message on the channel are refused, counted, and never copied whole', { timeout: 120_000 }, async (ctx) => {
  const scope = h.uniqueScope('oversized');
  const url = h.appUrl(scope);
  const browser = await h.launch();
  ctx.after(() => browser.close());
  const a = await h.openTab(browser.context, url, { name: 'A' });
  const b = await h.openTab(browser.context, url, { name: 'B' });
  assert.equal(await h.findLeader([a, b]), a);
  await h.insert(a, 'before', { n: 1 });
  await h.waitForKeys(b, ['before']);
  const [memoryBefore, droppedBefore, oversizedBefore] = [await wasmMemory(b), await leaderDropped(b), await tabOversized(b)];
  // From a script of tab A's page, on its own channel object: A's page, A's
  // leader worker and B's page each receive a copy.
  // Bytes, as Lockstep posts its messages, and a string, as an older
  // build or another script might.
  await a.evaluate(([name, bytes]) => {
    const channel = new BroadcastChannel(name);
    channel.postMessage(new Uint8Array(bytes));
    channel.postMessage('x'.repeat(bytes));
  }, [`lockstep:lockstep-tests:${scope}`, 2.5 * LIMIT]);
  const deadline = performance.now() + 30_000;
  while ((await leaderDropped(b)) < droppedBefore + 2) {
    assert.ok(performance.now() < deadline, 'the leader counts both messages dropped within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  while ((await tabOversized(b)) < oversizedBefore + 2) {
    assert.ok(performance.now() < deadline, 'tab B counts both messages too large within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const grown = (await wasmMemory(b)) - memoryBefore;
  assert.ok(grown < 1.5 * LIMIT, `B's wasm memory grew ${(grown / MIB).toFixed(1)} MiB for two ${2.5 * LIMIT / MIB} MiB messages`);
  await h.insert(b, 'after', { n: 2 });
  await h.insert(a, 'after-a', { n: 3 });
  await h.waitForKeys(a, ['before', 'after', 'after-a']);
  await h.waitForKeys(b, ['before', 'after', 'after-a']);
  assert.deepEqual(await h.rows(a), await h.rows(b), 'both tabs converge');
});
