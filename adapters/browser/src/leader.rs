//! The leader worker: queues for the database's Web Lock, and while it holds
//! it, owns SQLite on OPFS and runs the [`Coordinator`] on the BroadcastChannel.
//!
//! The coordinator exists only after the store opened and the new term was
//! persisted; any failure before that releases the lock at once and queues
//! again after a growing pause (seed 002: no stuck leadership, no busy loop).

use std::cell::RefCell;
use std::rc::Rc;

use lockstep::{Coordinator, CoordinatorConfig, DatabaseId, TabId};
use lockstep_sqlite::SqliteStore;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::opfs::{self, OpenError, Opened};
use crate::{js, names};

struct Serving {
    coordinator: Coordinator<SqliteStore>,
    channel: BroadcastChannel,
    release: js_sys::Function,
    timer: Option<i32>,
    on_timer: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

struct Worker {
    db: DatabaseId,
    me: TabId,
    serving: RefCell<Option<Serving>>,
    /// A deposed term's state, kept because its closures may be running.
    retired: RefCell<Vec<Serving>>,
    pause_ms: std::cell::Cell<f64>,
}

/// Runs this dedicated worker as the leader candidate of tab `tab_id` for
/// database `(app, scope)`. Call it once, from the worker's `onmessage`.
#[wasm_bindgen(js_name = runLeaderWorker)]
pub fn run_leader_worker(app: String, scope: String, tab_id: String) -> Result<(), JsError> {
    let db = DatabaseId::new(app, scope).map_err(|e| JsError::new(&e.to_string()))?;
    let me = TabId(
        tab_id
            .parse()
            .map_err(|_| JsError::new("tab id must be a UUID"))?,
    );
    let worker = Rc::new(Worker {
        db,
        me,
        serving: RefCell::new(None),
        retired: RefCell::new(Vec::new()),
        pause_ms: std::cell::Cell::new(0.0),
    });
    queue_for_lock(&worker).map_err(|e| JsError::new(&format!("{e:?}")))
}

fn queue_for_lock(worker: &Rc<Worker>) -> Result<(), JsValue> {
    let me = worker.clone();
    let on_granted = Closure::wrap(Box::new(move |release: js_sys::Function| {
        let me = me.clone();
        wasm_bindgen_futures::spawn_local(async move { serve(&me, release).await });
    }) as Box<dyn FnMut(js_sys::Function)>);
    let result = js::lock_request(&names::leader_lock(&worker.db), &on_granted);
    on_granted.forget();
    result
}

fn report(kind: &str, message: &str) {
    let object = js_sys::Object::new();
    crate::convert::set(&object, "type", &JsValue::from_str(kind));
    crate::convert::set(&object, "message", &JsValue::from_str(message));
    js::post_to_page(&object);
}

/// Releases the lock and queues again after a pause growing from 100 ms to 5 s.
fn retry_later(worker: &Rc<Worker>, release: &js_sys::Function) {
    let _ = release.call0(&JsValue::NULL);
    let pause = (worker.pause_ms.get() * 2.0).clamp(100.0, 5_000.0);
    worker.pause_ms.set(pause);
    let me = worker.clone();
    let retry = Closure::once_into_js(move || {
        let _ = queue_for_lock(&me);
    });
    js::set_timer(pause, retry.unchecked_ref());
}

async fn serve(worker: &Rc<Worker>, release: js_sys::Function) {
    let store = match opfs::open(&worker.db).await {
        Ok(Opened::Durable(store)) => store,
        Ok(Opened::MemoryOnly(store, why)) => {
            js::warn(&format!("Lockstep: {why}"));
            report("warning", &why);
            store
        }
        Err(OpenError::Busy(why)) => {
            report("waiting", &why);
            retry_later(worker, &release);
            return;
        }
        Err(OpenError::Failed(why)) => {
            report("error", &why);
            retry_later(worker, &release);
            return;
        }
    };
    let coordinator = match Coordinator::start(
        store,
        worker.db.clone(),
        worker.me,
        CoordinatorConfig::default(),
        js::now(),
    ) {
        Ok(coordinator) => coordinator,
        Err(e) => {
            report("error", &format!("taking leadership failed: {e}"));
            retry_later(worker, &release);
            return;
        }
    };
    let channel = match BroadcastChannel::new(&names::channel(&worker.db)) {
        Ok(channel) => channel,
        Err(_) => {
            report("error", "BroadcastChannel is unavailable in this browser");
            retry_later(worker, &release);
            return;
        }
    };
    worker.pause_ms.set(0.0);
    let me = worker.clone();
    let on_message = Closure::wrap(Box::new(move |event: MessageEvent| {
        if let Some(serving) = me.serving.borrow_mut().as_mut() {
            match event.data().as_string() {
                Some(text) => serving.coordinator.handle_bytes(js::now(), text.as_bytes()),
                None => serving
                    .coordinator
                    .handle_bytes(js::now(), b"\0not a string"),
            }
        }
        pump(&me);
    }) as Box<dyn FnMut(MessageEvent)>);
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let me = worker.clone();
    let on_timer = Closure::wrap(Box::new(move || {
        if let Some(serving) = me.serving.borrow_mut().as_mut() {
            serving.timer = None;
            serving.coordinator.handle_timeout(js::now());
        }
        pump(&me);
    }) as Box<dyn FnMut()>);
    *worker.serving.borrow_mut() = Some(Serving {
        coordinator,
        channel,
        release,
        timer: None,
        on_timer,
        _on_message: on_message,
    });
    report("leader", "this tab's worker leads the database");
    pump(worker);
}

/// Sends what the coordinator queued, steps down if deposed, re-arms the timer.
fn pump(worker: &Rc<Worker>) {
    let mut guard = worker.serving.borrow_mut();
    let Some(serving) = guard.as_mut() else {
        return;
    };
    while let Some(message) = serving.coordinator.poll_transmit() {
        let text = String::from_utf8(message.encode()).unwrap_or_default();
        let _ = serving.channel.post_message(&JsValue::from_str(&text));
    }
    if serving.coordinator.deposed().is_some() {
        let serving = guard.take().expect("checked above");
        drop(guard);
        serving.channel.close();
        if let Some(id) = serving.timer {
            js::clear_timer(id);
        }
        report("deposed", "a newer leader exists; this worker queues again");
        retry_later(worker, &serving.release);
        worker.retired.borrow_mut().push(serving);
        return;
    }
    if let Some(id) = serving.timer.take() {
        js::clear_timer(id);
    }
    if let Some(at) = serving.coordinator.poll_timeout() {
        let delay = at.since(js::now()) as f64;
        serving.timer = Some(js::set_timer(
            delay,
            serving.on_timer.as_ref().unchecked_ref(),
        ));
    }
}
