// The leader worker of one tab (a module worker started by BrowserTab.open).
// It waits for the leadership lock; while it holds it, it owns the SQLite
// database on OPFS and runs the coordinator for every tab of (app, scope).
import init, { runLeaderWorker } from './pkg/lockstep_browser.js';

let started = false;
self.onmessage = async (event) => {
  if (started) return;
  started = true;
  await init();
  runLeaderWorker(event.data.app, event.data.scope, event.data.tabId);
};
