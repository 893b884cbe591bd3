// The leader worker every tab starts. It waits for the database's Web Lock;
// while it holds it, it owns the SQLite file on OPFS and serves every tab.
// openDatabase() starts it as `new Worker(new URL('./worker.js', import.meta.url))`.
import { runLeaderWorker, type WorkerInit } from '../wasm/lockstep.js';
import { loadWasm } from './wasm.js';

/** The parts of a dedicated worker's global scope this entry uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerInit>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
let started = false;
// Loaded at once, while the page is still loading its own copy: the page's
// first message (what to serve) comes only once it has.
const wasm = loadWasm();
wasm.catch(() => {}); // reported with the first message, below

scope.onmessage = async (event: MessageEvent<WorkerInit>) => {
  if (started) return;
  started = true;
  try {
    await wasm;
    runLeaderWorker(event.data);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    scope.postMessage({ type: 'error', message: `the leader worker could not start: ${message}` });
  }
};
