// `cargo xtask demo --headless`: the React example (TanStack DB on
// @lockstep/db) in three real headless tabs, driven through its UI. Adds,
// edits and deletes from different tabs, closes the leader tab midway, and
// prints what every tab shows.
//   node tests/browser/demo-headless.mjs http://127.0.0.1:PORT/
import * as h from './harness.mjs';

const base = process.argv[2] ?? process.env.LOCKSTEP_URL;
if (!base) {
  console.error('usage: node tests/browser/demo-headless.mjs http://127.0.0.1:PORT/');
  process.exit(2);
}
process.env.LOCKSTEP_URL = base;

const started = performance.now();
const browser = await h.launch();
const url = h.reactUrl(`headless-${Date.now().toString(36)}`, { app: 'lockstep-demo' });
console.log(`Lockstep headless demo on ${url}`);

// What a tab shows: its status bar and its list, read from the page itself.
const seen = (page) => page.evaluate(() => {
  const field = (name) => document.querySelector(`[data-field="${name}"]`)?.textContent ?? '';
  return {
    tabId: window.lockstep.db.tabId.slice(0, 8),
    leader: document.querySelector('.status .badge') !== null,
    term: field('term'),
    seq: field('seq'),
    pending: field('pending'),
    health: field('health'),
    error: document.querySelector('main .error')?.textContent ?? '',
    rows: [...document.querySelectorAll('ul.todos li')].map((li) =>
      `${li.querySelector('.toggle').checked ? '[x]' : '[ ]'} ${li.querySelector('.title').value}`),
  };
});

async function report(title, pages) {
  console.log(`\n== ${title} (${h.since(started)})`);
  for (const page of pages) {
    const s = await seen(page);
    console.log(`tab ${page.tabName} ${s.tabId}${s.leader ? '  LEADER' : ''}  term ${s.term}  seq ${s.seq}  pending ${s.pending}  ${s.health}  ${s.rows.length} rows${s.error ? `  error: ${s.error}` : ''}`);
    for (const row of s.rows) console.log(`    ${row}`);
  }
}

async function add(page, title) {
  await page.fill('input[name="title"]', title);
  await page.press('input[name="title"]', 'Enter');
  console.log(`${page.tabName}: add "${title}"`);
}

const item = async (page, title) => {
  const id = await page.evaluate((t) => [...window.lockstep.todos.values()].find((r) => r.title === t)?.id, title);
  if (id === undefined) throw new Error(`${page.tabName} has no row "${title}"`);
  return page.locator(`ul.todos li[data-id="${id}"]`);
};

async function edit(page, title, newTitle) {
  const input = (await item(page, title)).locator('.title');
  await input.fill(newTitle);
  await input.press('Enter');
  console.log(`${page.tabName}: edit "${title}" -> "${newTitle}"`);
}

async function toggle(page, title) {
  await (await item(page, title)).locator('.toggle').click();
  console.log(`${page.tabName}: toggle "${title}"`);
}

async function remove(page, title) {
  await (await item(page, title)).locator('.delete').click();
  console.log(`${page.tabName}: delete "${title}"`);
}

// Every tab lists the same `count` rows, with nothing pending.
async function converged(pages, count, timeoutMs = 20_000) {
  const start = performance.now();
  for (;;) {
    const lists = await Promise.all(pages.map(async (p) => {
      const s = await seen(p);
      return s.pending === '0' && s.rows.length === count ? JSON.stringify(s.rows) : `${p.tabName}: ${s.pending} pending, ${JSON.stringify(s.rows)}`;
    }));
    if (new Set(lists).size === 1 && lists[0].startsWith('[')) return;
    if (performance.now() - start > timeoutMs) {
      throw new Error(`the tabs did not agree on ${count} rows within ${timeoutMs} ms:\n${lists.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

let exitCode = 0;
try {
  const tabs = [];
  for (const name of ['A', 'B', 'C']) {
    const tab = await h.openTab(browser.context, url, { name });
    await tab.waitForSelector('ul.todos', { state: 'attached' });
    tabs.push(tab);
  }
  await report('three tabs open', tabs);

  const [a, b, c] = tabs;
  await add(a, 'buy milk');
  await add(a, 'write docs');
  await add(b, 'call the plumber');
  await add(c, 'fix the bike');
  await converged(tabs, 4);
  await edit(b, 'write docs', 'write the README');
  await toggle(c, 'buy milk');
  await remove(a, 'call the plumber');
  await converged(tabs, 3);
  await report('after adds, edits and deletes from every tab', tabs);

  const leader = await h.findLeader(tabs);
  const closedAt = performance.now();
  await leader.close();
  console.log(`\nclosed the leader tab ${leader.tabName}`);
  const rest = tabs.filter((p) => p !== leader);
  const next = await h.findLeader(rest, 20_000);
  console.log(`${next.tabName} leads ${h.since(closedAt)} after the close`);
  await add(rest[0], `added after ${leader.tabName} closed`);
  await edit(rest[1], 'fix the bike', 'fix the bike, edited after the failover');
  await toggle(rest[1], 'write the README');
  await converged(rest, 4);
  await report(`after the leader ${leader.tabName} closed`, rest);
  console.log(`\nthe remaining tabs agree; demo done in ${h.since(started)}`);
} catch (error) {
  console.error(`\ndemo failed: ${error.message}`);
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
