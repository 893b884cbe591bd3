// The raw-SQLite floor: the same rows inserted with plain rusqlite on the
// same OPFS sahpool VFS, configured like Lockstep's store, with no Lockstep in
// between (a build of the bindings with the `bench` feature). Dedicated
// workers only. Post { directory, rows, batch }; answers { ok, totalMs, perTxMs } or { ok: false, error }.
import init, { rawSqliteBench } from '../raw-wasm/lockstep.js';

interface Scope {
  onmessage: ((event: MessageEvent<{ directory: string; rows: number; batch: number }>) => void) | null;
  postMessage(message: unknown): void;
}
const scope = globalThis as unknown as Scope;
const ready = init();

scope.onmessage = async (event) => {
  const { directory, rows, batch } = event.data;
  try {
    await ready;
    const result = (await rawSqliteBench(directory, rows, batch)) as { totalMs: number; perTxMs: number[] };
    scope.postMessage({ ok: true, totalMs: result.totalMs, perTxMs: result.perTxMs });
  } catch (error) {
    scope.postMessage({ ok: false, error: String((error as Error)?.message ?? error) });
  }
};
