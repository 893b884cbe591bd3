// The leader worker every tab of this app starts (lockstep-leptos opens it
// as ./worker.js). It runs the app's own wasm: lockstepLeaderWorker queues
// for the database's Web Lock and, while it holds it, owns SQLite on OPFS.
import init, { lockstepLeaderWorker } from './pkg/todo_leptos.js';

let started = false;
self.onmessage = async (event) => {
  if (started) return;
  started = true;
  try {
    await init();
    lockstepLeaderWorker(event.data);
  } catch (error) {
    self.postMessage({ type: 'error', message: `the leader worker could not start: ${error}` });
  }
};
