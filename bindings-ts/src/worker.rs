//! `runLeaderWorker`: the entry of the leader worker every tab starts (the
//! package's `worker.js` calls it with the page's first message).

use tsify::Ts;
use wasm_bindgen::prelude::*;

use crate::interop::{error, from_ts, invalid};
use crate::types::WorkerInit;

/// Makes this dedicated worker its tab's leader candidate: it queues for the
/// database's Web Lock and, while it holds it, owns SQLite on OPFS and
/// serves every tab. Call it once, with the page's first message.
#[wasm_bindgen(js_name = runLeaderWorker)]
pub fn run_leader_worker(init: Ts<WorkerInit>) -> Result<(), JsValue> {
    crate::panic::report_panics();
    let init = from_ts(&init, "worker init").map_err(error)?;
    let tab_id = init
        .tab_id
        .parse()
        .map_err(|_| error(invalid(format!("tab id {:?} is not a UUID", init.tab_id))))?;
    lockstep_browser::run_leader_worker(lockstep_browser::WorkerInit {
        app: init.app,
        scope: init.scope,
        tab_id: lockstep::TabId(tab_id),
        memory_only: init.memory_only,
    })
    .map_err(|message| error(invalid(message)))
}
