// The page `cargo xtask bench --browser` drives through `window.bench`: one
// library (?lib=lockstep | lockstep-tanstack | peer) on (app, scope), the
// collection `items`, and in-page helpers. Times are
// `performance.timeOrigin + performance.now()`, comparable across tabs; page
// start is timeOrigin. ?lib=raw opens no library (the raw-SQLite floor and
// TanStack's own apply floor only). ?sync=on-demand opens lockstep-tanstack's
// collection on demand; &top=N then shows the N open rows with the highest
// `n` (a live query) as soon as the collection is ready. ?lib=raw&hydrate=DIR
// is the floor of a page start that shows stored rows: a raw-SQLite worker
// reopens DIR and posts its rows to the page in pages (marks: openMs when
// the database is open, readyMs when the last page is in, rows).
// Each library (and TanStack's own apply, for the floors) is loaded only by
// the page that uses it, as an app loads only its own.
import type { Lib } from './libs/lib';
import { row, type Row } from './row';

const params = new URLSearchParams(location.search);
const libName = params.get('lib') ?? 'lockstep';
const app = params.get('app') ?? 'lockstep-bench';
const scope = params.get('scope') ?? 'bench';
const now = () => performance.timeOrigin + performance.now();

const seen = new Map<string, number>();
const waiters = new Map<string, Array<(t: number) => void>>();
function arrived(id: string, t: number) {
  if (seen.has(id)) return;
  seen.set(id, t);
  for (const resolve of waiters.get(id) ?? []) resolve(t);
  waiters.delete(id);
}

// The floors of cross-tab latency: a plain BroadcastChannel between the
// tabs, and a raw-SQLite worker in one tab that inserts a row durably and
// then posts on that channel.
const floorChannelName = `lockstep-bench-floor:${libName}:${app}:${scope}`;
const floorChannel = new BroadcastChannel(floorChannelName);
floorChannel.onmessage = (event: MessageEvent<{ id: string; kind?: 'sql' }>) =>
  arrived(`${event.data.kind ?? 'bc'}:${event.data.id}`, now());
let durableWorker: Worker | undefined;

/** A fresh raw-SQLite worker answering one message. */
function rawWorker(): Worker {
  return new Worker(new URL('./raw-worker.ts', import.meta.url), { type: 'module' });
}

/** Posts `message` to `worker`; resolves with its answer (rejects on an error). */
function ask<T>(worker: Worker, message: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(`raw worker: ${event.message}`));
    worker.onmessage = (event) => (event.data.ok ? resolve(event.data) : reject(new Error(event.data.error)));
    worker.postMessage(message);
  });
}

let lib: Lib | undefined;
let pending: Promise<number> | undefined;
const need = () => {
  if (!lib) throw new Error('no library on this page');
  return lib;
};

const bench = {
  lib: libName,
  now,
  marks: {} as Record<string, number>,
  row,
  waitSeen(id: string, timeoutMs = 15_000): Promise<number> {
    const t = seen.get(id);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      waiters.set(id, [...(waiters.get(id) ?? []), resolve]);
      setTimeout(() => reject(new Error(`${id} not seen within ${timeoutMs} ms`)), timeoutMs);
    });
  },
  bcSend(id: string): number {
    const t0 = now();
    floorChannel.postMessage({ id });
    return t0;
  },
  watch(): void {
    need().watch((id) => arrived(`row:${id}`, now()));
  },
  /** Issues an insert without waiting; `settle()` awaits it (ms to durable). */
  fire(r: Row): number {
    const t0 = now();
    pending = need().insert(r).then(() => now() - t0);
    return t0;
  },
  settle(): Promise<number> | undefined {
    return pending;
  },
  async awaitedInserts(prefix: string, count: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await need().insert(row(prefix, i));
      times.push(performance.now() - t0);
    }
    return times;
  },
  /** One transaction of rows [from, from + count); ms until durable. */
  async insertMany(prefix: string, from: number, count: number): Promise<number> {
    const rows = Array.from({ length: count }, (_, i) => row(prefix, from + i));
    const t0 = performance.now();
    await need().insertMany(rows);
    return performance.now() - t0;
  },
  /** Inserts `count` rows one by one as fast as they commit; the commit time of each. */
  async burst(prefix: string, count: number): Promise<number[]> {
    const done: Promise<number>[] = [];
    for (let i = 0; i < count; i++) done.push(need().insert(row(prefix, i)).then(() => now()));
    return Promise.all(done);
  },
  count: () => need().count(),
  isLeader: () => need().isLeader(),
  wasmBytes: () => need().wasmBytes(),
  syncApplyFloor: async (n: number) => (await import('./floor')).syncApply(n),
  optimisticApplyFloor: async (n: number) => (await import('./floor')).optimisticApply(n),
  /** The raw-SQLite floor in a fresh dedicated worker (`logged`: with the change log Lockstep's invariants ask for). */
  async raw(directory: string, rows: number, batch: number, logged = false): Promise<{ totalMs: number; perTxMs: number[] }> {
    const worker = rawWorker();
    try {
      return await ask(worker, { kind: 'batch', directory, rows, batch, logged });
    } finally {
      worker.terminate();
    }
  },
  /**
   * The floor of a bulk write from a page: rows as objects in this page,
   * `JSON.stringify`'d and posted to a fresh raw-SQLite worker, which
   * inserts them in one transaction with a change log; `inserts` times
   * (`count` rows each, the first with the worker's code cold, the others
   * warm, each after `pauseMs` of quiet). Ms from the objects to the
   * worker's answer that they are durable, per write.
   */
  async rawFromPage(directory: string, count: number, inserts = 2, pauseMs = 0): Promise<number[]> {
    const worker = rawWorker();
    try {
      await ask(worker, { kind: 'open', directory });
      const times = [];
      for (let t = 0; t < inserts; t++) {
        if (t > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        const rows = Array.from({ length: count }, (_, i) => row(`p${t}`, i));
        const t0 = performance.now();
        await ask(worker, { kind: 'rows', rows: JSON.stringify(rows), logged: true });
        times.push(performance.now() - t0);
      }
      return times;
    } finally {
      worker.terminate();
    }
  },
  /** Starts this tab's raw-SQLite worker for `durableSend`, on a fresh database in `directory`. */
  async durableOpen(directory: string): Promise<void> {
    durableWorker?.terminate();
    durableWorker = rawWorker();
    await ask(durableWorker, { kind: 'open', directory, channel: floorChannelName });
    durableWorker.onmessage = (event) => console.error(`raw worker: ${event.data.error}`);
  },
  /** Has the raw-SQLite worker insert row `id` durably, then post it to the other tabs (`sql:` ids). */
  durableSend(id: string): number {
    if (!durableWorker) throw new Error('durableOpen first');
    const t0 = now();
    durableWorker.postMessage({ kind: 'insert', id });
    return t0;
  },
};

declare global {
  interface Window {
    bench: typeof bench;
    lockstep: { ready: boolean; error?: string };
  }
}
window.bench = bench;

/**
 * The floor of a page start → stored rows in the page: a fresh raw-SQLite
 * worker reopens `directory` and posts every row's text, `pageRows` at a
 * time (Lockstep's hydration page size); the page keeps the pages.
 */
async function rawHydrate(directory: string, pageRows: number): Promise<void> {
  const worker = rawWorker();
  const pages: string[] = [];
  let count = 0;
  await new Promise<void>((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(`raw worker: ${event.message}`));
    worker.onmessage = (event) => {
      const data = event.data;
      if (data.kind === 'opened') bench.marks.openMs = data.at - performance.timeOrigin;
      else if (data.kind === 'page') {
        pages.push(data.rows);
        count += data.count;
      } else if (data.ok) resolve();
      else reject(new Error(data.error));
    };
    worker.postMessage({ kind: 'read', directory, pageRows });
  });
  bench.marks.readyMs = performance.now();
  bench.marks.rows = count;
  bench.marks.pages = pages.length;
  worker.terminate();
}

async function main() {
  if (libName === 'raw') {
    const hydrate = params.get('hydrate');
    if (hydrate) await rawHydrate(hydrate, Number(params.get('pageRows') ?? 5_000));
    window.lockstep = { ready: true };
    return;
  }
  const onDemand = params.get('sync') === 'on-demand';
  const loaders: Record<string, () => Promise<(app: string, scope: string) => Promise<Lib>>> = {
    lockstep: async () => (await import('./libs/lockstep')).lockstepRaw,
    'lockstep-tanstack': async () => {
      const { lockstepTanstack } = await import('./libs/lockstep-tanstack');
      return (a, s) => lockstepTanstack(a, s, onDemand ? 'on-demand' : 'eager');
    },
    peer: async () => (await import('./libs/peer')).peer,
  };
  const load = loaders[libName];
  if (!load) throw new Error(`unknown lib ${libName}`);
  const open = await load();
  lib = await open(app, scope);
  bench.marks.openMs = performance.now();
  await lib.ready();
  bench.marks.readyMs = performance.now();
  const out = document.getElementById('out') as HTMLElement;
  out.textContent = `${libName} ready in ${Math.round(bench.marks.readyMs)} ms`;
  const top = Number(params.get('top') ?? 0);
  if (top > 0 && lib.top) {
    const ids = await lib.top(top);
    const list = document.createElement('ul');
    for (const id of ids) list.appendChild(document.createElement('li')).textContent = id;
    document.body.appendChild(list);
    bench.marks.topMs = performance.now();
    bench.marks.topRows = ids.length;
  }
  window.lockstep = { ready: true };
}

main().catch((error) => {
  console.error('bench: cannot open', error);
  window.lockstep = { ready: false, error: String(error?.message ?? error) };
});
