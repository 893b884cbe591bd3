// The raw-SQLite baseline of the browser benchmark: a dedicated module worker
// (the OPFS sahpool VFS works only there) that runs `rawSqliteBench` on
// request. Post `{ directory, rows, batch }`; it answers
// `{ ok: true, totalMs, perTxMs }` or `{ ok: false, error }`.
// One request per worker: the pool's VFS is named after the directory.
import init, { rawSqliteBench } from './pkg/lockstep_browser.js';

const ready = init();
self.onmessage = async (event) => {
  const { directory, rows, batch } = event.data;
  try {
    await ready;
    const result = await rawSqliteBench(directory, rows, batch);
    const get = (k) => (result instanceof Map ? result.get(k) : result[k]);
    self.postMessage({ ok: true, totalMs: get('totalMs'), perTxMs: Array.from(get('perTxMs')) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error?.message ?? error) });
  }
};
