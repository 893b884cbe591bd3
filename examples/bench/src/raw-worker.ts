// The raw-SQLite floors: plain rusqlite on the same OPFS sahpool VFS,
// configured like Lockstep's store, with no Lockstep in between (a build of
// the bindings with the `bench` feature). Dedicated workers only.
// - { kind: 'batch', directory, rows, batch, logged }: inserts the rows,
//   `batch` per transaction (`logged`: each with the change log, dedup record
//   and stream position Lockstep's invariants ask of a commit); answers
//   { ok, totalMs, perTxMs } or { ok: false, error }.
// - { kind: 'open', directory, channel? }: opens a fresh database; answers
//   { ok } or { ok: false, error }. Then:
//   - { kind: 'insert', id } each: inserts one row durably, then posts
//     { id, kind: 'sql' } on the BroadcastChannel `channel` (what a durable
//     write seen by another tab costs at the least);
//   - { kind: 'rows', rows, logged }: inserts `rows` (a JSON array of rows
//     keyed by `id`) in one transaction, with a change log if `logged`
//     (what a bulk write from a page's objects costs at the least); answers
//     { ok } once durable.
// - { kind: 'read', directory, pageRows }: reopens the database an earlier
//   'batch' left in `directory` (rows kept), posts { kind: 'opened', at }
//   (`at`: timeOrigin + now, comparable with the page's clock), then each
//   page of rows in key order as { kind: 'page', rows, count } (`rows`: a
//   JSON array of the values, as text), then { ok, rows } (what a page
//   start that shows rows stored in SQLite costs at the least).
import init, { RawSqlite, rawSqliteBench } from '../raw-wasm/lockstep.js';

type Message =
  | { kind: 'batch'; directory: string; rows: number; batch: number; logged: boolean }
  | { kind: 'open'; directory: string; channel?: string }
  | { kind: 'insert'; id: string }
  | { kind: 'rows'; rows: string; logged: boolean }
  | { kind: 'read'; directory: string; pageRows: number };

interface Scope {
  onmessage: ((event: MessageEvent<Message>) => void) | null;
  postMessage(message: unknown): void;
}
const scope = globalThis as unknown as Scope;
const ready = init();
let open: { db: RawSqlite; channel?: BroadcastChannel } | undefined;

scope.onmessage = async (event) => {
  const message = event.data;
  try {
    await ready;
    switch (message.kind) {
      case 'batch': {
        const result = (await rawSqliteBench(message.directory, message.rows, message.batch, message.logged)) as { totalMs: number; perTxMs: number[] };
        scope.postMessage({ ok: true, totalMs: result.totalMs, perTxMs: result.perTxMs });
        break;
      }
      case 'open':
        open = { db: await RawSqlite.open(message.directory), channel: message.channel === undefined ? undefined : new BroadcastChannel(message.channel) };
        scope.postMessage({ ok: true });
        break;
      case 'insert': {
        if (!open?.channel) throw new Error('insert before open with a channel');
        const { id } = message;
        open.db.insert(JSON.stringify(id), JSON.stringify({ id, title: `todo ${id}`, done: false, n: 0 }));
        open.channel.postMessage({ id, kind: 'sql' });
        break;
      }
      case 'read': {
        const db = await RawSqlite.reopen(message.directory);
        scope.postMessage({ kind: 'opened', at: performance.timeOrigin + performance.now() });
        const rows = db.readPages(message.pageRows, (page: string, count: number) => scope.postMessage({ kind: 'page', rows: page, count }));
        db.free();
        scope.postMessage({ ok: true, rows });
        break;
      }
      case 'rows':
        if (!open) throw new Error('rows before open');
        open.db.insertJson(message.rows, message.logged);
        scope.postMessage({ ok: true });
        break;
    }
  } catch (error) {
    scope.postMessage({ ok: false, error: String((error as Error)?.message ?? error) });
  }
};
