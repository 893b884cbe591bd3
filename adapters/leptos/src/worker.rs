//! The leader worker's entry, exported from the app's own wasm.
//!
//! Every tab starts a dedicated module worker that may become the leader
//! (see [`lockstep_browser::run_leader_worker`]). A Leptos app ships it as a
//! three-line `worker.js` next to its `index.html`, which loads the app's
//! wasm (built once, for page and worker) and calls
//! `lockstepLeaderWorker` with the page's first message; see the crate docs.

use wasm_bindgen::prelude::*;

/// Runs this dedicated worker as its tab's leader candidate, given the
/// page's first message. Exported to JavaScript as `lockstepLeaderWorker`;
/// call it once, from the worker entry. Errors say what was wrong with the
/// message, or that the worker already runs.
#[wasm_bindgen(js_name = lockstepLeaderWorker)]
pub fn leader_worker(init: JsValue) -> Result<(), JsError> {
    let init = lockstep_browser::WorkerInit::from_message(&init).map_err(|e| JsError::new(&e))?;
    lockstep_browser::run_leader_worker(init).map_err(|e| JsError::new(&e))
}
