//! [`BrowserTab`]: one browser tab's Lockstep, on the page's main thread.
//!
//! It runs the tab's [`PersistedCollectionRuntime`], talks to the leader over
//! the database's BroadcastChannel, starts this tab's leader worker, and turns
//! runtime events into promises and callbacks. Callbacks run after the tab's
//! state is released, so they may call the tab again.
//!
//! Liveness: the leader heartbeats every second. A tab that has not heard
//! from its leader for [`UNRESPONSIVE_AFTER_MS`] reports the health
//! `leader-unresponsive` (a frozen or discarded tab still holding the lock).
//! It then keeps its writes pending and keeps re-sending them; it never takes
//! leadership by force, because the silent leader still owns the Web Lock and
//! the OPFS file, and two writers are never allowed. When the leader answers
//! again, or the browser discards its tab (releasing the lock to the next
//! worker), the pending writes commit and the health returns to `ok`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use lockstep::{
    CollectionId, DatabaseId, EnvelopeId, Event, InspectId, Op, PersistedCollectionRuntime,
    RuntimeConfig, SubscriptionId,
};
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::convert::{
    changes_to_js, key_from_js, position_to_js, row_from_js, row_to_js, rows_to_js, set,
};
use crate::{js, names};

/// Silence after which a known leader is reported unresponsive (three heartbeats).
pub const UNRESPONSIVE_AFTER_MS: u64 = 3_000;

struct State {
    runtime: PersistedCollectionRuntime,
    channel: BroadcastChannel,
    worker: Option<web_sys::Worker>,
    timer: Option<i32>,
    outcomes: HashMap<EnvelopeId, (js_sys::Function, js_sys::Function)>,
    inspections: HashMap<InspectId, js_sys::Function>,
    ready: Vec<(CollectionId, js_sys::Function)>,
    subscriptions: HashMap<SubscriptionId, js_sys::Function>,
    status_listeners: Vec<js_sys::Function>,
    progress_listeners: Vec<js_sys::Function>,
    last_status: String,
    worker_note: Option<(String, String)>,
    closed: bool,
}

/// A JS callback owned by the tab for its whole life (never dropped while it may run).
type Handler<T> = RefCell<Option<Closure<dyn FnMut(T)>>>;

struct Inner {
    state: RefCell<State>,
    on_message: Handler<MessageEvent>,
    on_timer: RefCell<Option<Closure<dyn FnMut()>>>,
    on_worker: Handler<MessageEvent>,
}

/// One tab's handle on a Lockstep database. See the module docs.
#[wasm_bindgen]
pub struct BrowserTab {
    inner: Rc<Inner>,
}

fn error(message: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}

fn collection_id(name: &str) -> Result<CollectionId, JsValue> {
    CollectionId::new(name).map_err(error)
}

#[wasm_bindgen]
impl BrowserTab {
    /// Opens database `(app, scope)` in this tab and starts the tab's leader
    /// worker from `worker_url` (a module that calls `runLeaderWorker`).
    pub fn open(app: String, scope: String, worker_url: String) -> Result<BrowserTab, JsValue> {
        let db = DatabaseId::new(app, scope).map_err(error)?;
        let me = js::new_tab_id();
        let channel = BroadcastChannel::new(&names::channel(&db))
            .map_err(|_| error("BroadcastChannel is unavailable in this browser"))?;
        let runtime =
            PersistedCollectionRuntime::new(db.clone(), me, RuntimeConfig::default(), js::now());
        let state = State {
            runtime,
            channel,
            worker: None,
            timer: None,
            outcomes: HashMap::new(),
            inspections: HashMap::new(),
            ready: Vec::new(),
            subscriptions: HashMap::new(),
            status_listeners: Vec::new(),
            progress_listeners: Vec::new(),
            last_status: String::new(),
            worker_note: None,
            closed: false,
        };
        let inner = Rc::new(Inner {
            state: RefCell::new(state),
            on_message: RefCell::new(None),
            on_timer: RefCell::new(None),
            on_worker: RefCell::new(None),
        });

        let me_inner = inner.clone();
        let on_message = Closure::wrap(Box::new(move |event: MessageEvent| {
            {
                let mut state = me_inner.state.borrow_mut();
                let now = js::now();
                match event.data().as_string() {
                    Some(text) => state.runtime.handle_bytes(now, text.as_bytes()),
                    None => state.runtime.handle_bytes(now, b"\0not a string"),
                }
            }
            pump(&me_inner);
        }) as Box<dyn FnMut(MessageEvent)>);
        inner
            .state
            .borrow()
            .channel
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *inner.on_message.borrow_mut() = Some(on_message);

        let me_inner = inner.clone();
        let on_timer = Closure::wrap(Box::new(move || {
            {
                let mut state = me_inner.state.borrow_mut();
                state.timer = None;
                state.runtime.handle_timeout(js::now());
            }
            pump(&me_inner);
        }) as Box<dyn FnMut()>);
        *inner.on_timer.borrow_mut() = Some(on_timer);

        let me_inner = inner.clone();
        let on_worker = Closure::wrap(Box::new(move |event: MessageEvent| {
            let data = event.data();
            let kind = js_sys::Reflect::get(&data, &"type".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let message = js_sys::Reflect::get(&data, &"message".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            me_inner.state.borrow_mut().worker_note = Some((kind, message));
            pump(&me_inner);
        }) as Box<dyn FnMut(MessageEvent)>);
        let init = js_sys::Object::new();
        set(&init, "app", &JsValue::from_str(db.app()));
        set(&init, "scope", &JsValue::from_str(db.scope()));
        set(&init, "tabId", &JsValue::from_str(&me.to_string()));
        let worker = js::start_worker(&worker_url, &init).map_err(|e| {
            error(format!(
                "cannot start the leader worker at {worker_url}: {e:?}"
            ))
        })?;
        worker.set_onmessage(Some(on_worker.as_ref().unchecked_ref()));
        *inner.on_worker.borrow_mut() = Some(on_worker);
        inner.state.borrow_mut().worker = Some(worker);

        pump(&inner);
        Ok(BrowserTab { inner })
    }

    /// This tab's id.
    #[wasm_bindgen(getter, js_name = tabId)]
    pub fn tab_id(&self) -> String {
        self.inner.state.borrow().runtime.tab_id().to_string()
    }

    /// Starts keeping a collection in this tab; it hydrates from the leader in pages.
    #[wasm_bindgen(js_name = openCollection)]
    pub fn open_collection(&self, collection: &str) -> Result<(), JsValue> {
        let collection = collection_id(collection)?;
        self.inner
            .state
            .borrow_mut()
            .runtime
            .open_collection(js::now(), collection);
        pump(&self.inner);
        Ok(())
    }

    /// Resolves once the collection is hydrated and current.
    pub fn ready(&self, collection: &str) -> Result<js_sys::Promise, JsValue> {
        let collection = collection_id(collection)?;
        let inner = self.inner.clone();
        Ok(js_sys::Promise::new(&mut move |resolve, _reject| {
            let mut state = inner.state.borrow_mut();
            if state.runtime.is_ready(&collection) {
                let _ = resolve.call0(&JsValue::NULL);
            } else {
                state.ready.push((collection.clone(), resolve));
            }
        }))
    }

    /// Inserts a row; resolves `{term, seq}` once durable, rejects if refused.
    pub fn insert(&self, collection: &str, key: JsValue, row: JsValue) -> js_sys::Promise {
        self.submit(|| {
            Ok(Op::Insert {
                collection: collection_id(collection)?,
                key: key_from_js(&key)?,
                value: row_from_js(&row)?,
            })
        })
    }

    /// Replaces a row; resolves `{term, seq}` once durable, rejects if refused.
    pub fn update(&self, collection: &str, key: JsValue, row: JsValue) -> js_sys::Promise {
        self.submit(|| {
            Ok(Op::Update {
                collection: collection_id(collection)?,
                key: key_from_js(&key)?,
                value: row_from_js(&row)?,
            })
        })
    }

    /// Inserts many rows (`[{key, value}]`) as one envelope, applied in one
    /// SQLite transaction or not at all; resolves `{term, seq}` once durable.
    #[wasm_bindgen(js_name = insertMany)]
    pub fn insert_many(&self, collection: &str, items: js_sys::Array) -> js_sys::Promise {
        let ops = || -> Result<Vec<Op>, JsValue> {
            let collection = collection_id(collection)?;
            items
                .iter()
                .map(|item| {
                    let key = js_sys::Reflect::get(&item, &"key".into())?;
                    let value = js_sys::Reflect::get(&item, &"value".into())?;
                    Ok(Op::Insert {
                        collection: collection.clone(),
                        key: key_from_js(&key)?,
                        value: row_from_js(&value)?,
                    })
                })
                .collect()
        };
        match ops() {
            Ok(ops) => self.submit_ops(ops),
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    /// Reads a collection straight from the live database through the leader,
    /// whatever this tab holds (a debug page's query); resolves `[{key, value}]`.
    pub fn inspect(&self, collection: &str) -> Result<js_sys::Promise, JsValue> {
        let collection = collection_id(collection)?;
        let inner = self.inner.clone();
        let promise = js_sys::Promise::new(&mut move |resolve, _reject| {
            let mut state = inner.state.borrow_mut();
            let id = state.runtime.inspect(js::now(), collection.clone());
            state.inspections.insert(id, resolve);
        });
        pump(&self.inner);
        Ok(promise)
    }

    /// Deletes a row; resolves `{term, seq}` once durable, rejects if refused.
    pub fn delete(&self, collection: &str, key: JsValue) -> js_sys::Promise {
        self.submit(|| {
            Ok(Op::Delete {
                collection: collection_id(collection)?,
                key: key_from_js(&key)?,
            })
        })
    }

    /// The visible value of a row (pending changes included), or `undefined`.
    pub fn get(&self, collection: &str, key: JsValue) -> Result<JsValue, JsValue> {
        let collection = collection_id(collection)?;
        let key = key_from_js(&key)?;
        Ok(self
            .inner
            .state
            .borrow()
            .runtime
            .get(&collection, &key)
            .map_or(JsValue::UNDEFINED, |row| row_to_js(&row)))
    }

    /// The visible rows, as `[{key, value}]` in key order.
    pub fn rows(&self, collection: &str) -> Result<js_sys::Array, JsValue> {
        let collection = collection_id(collection)?;
        let snapshot = self.inner.state.borrow().runtime.snapshot(&collection);
        Ok(rows_to_js(snapshot.iter().map(|(key, row)| (key, &**row))).unchecked_into())
    }

    /// `{ tabId, leader, isLeader, term, applied, pending, health, error, warning }`.
    pub fn status(&self) -> JsValue {
        status_object(&self.inner.state.borrow())
    }

    /// Calls `callback([{key, before, after}])` with every visible change of the collection.
    pub fn subscribe(&self, collection: &str, callback: js_sys::Function) -> Result<f64, JsValue> {
        let collection = collection_id(collection)?;
        let mut state = self.inner.state.borrow_mut();
        let id = state.runtime.subscribe(collection, true);
        state.subscriptions.insert(id, callback);
        drop(state);
        pump(&self.inner);
        Ok(id.0 as f64)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, subscription: f64) {
        let id = SubscriptionId(subscription as u64);
        let mut state = self.inner.state.borrow_mut();
        state.runtime.unsubscribe(id);
        state.subscriptions.remove(&id);
    }

    /// Calls `callback(status)` whenever the status changes.
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(&self, callback: js_sys::Function) {
        self.inner
            .state
            .borrow_mut()
            .status_listeners
            .push(callback);
    }

    /// Calls `callback(collection, rowsLoaded)` while collections hydrate.
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(&self, callback: js_sys::Function) {
        self.inner
            .state
            .borrow_mut()
            .progress_listeners
            .push(callback);
    }

    /// Closes the tab: its worker stops (releasing leadership if it held it).
    pub fn close(&self) {
        let mut state = self.inner.state.borrow_mut();
        state.closed = true;
        if let Some(worker) = state.worker.take() {
            worker.terminate();
        }
        if let Some(id) = state.timer.take() {
            js::clear_timer(id);
        }
        state.channel.close();
    }

    fn submit(&self, op: impl FnOnce() -> Result<Op, JsValue>) -> js_sys::Promise {
        match op() {
            Ok(op) => self.submit_ops(vec![op]),
            Err(e) => js_sys::Promise::reject(&e),
        }
    }

    fn submit_ops(&self, ops: Vec<Op>) -> js_sys::Promise {
        let result = self.inner.state.borrow_mut().runtime.mutate(js::now(), ops);
        match result {
            Err(e) => js_sys::Promise::reject(&error(e)),
            Ok(id) => {
                let inner = self.inner.clone();
                let promise = js_sys::Promise::new(&mut move |resolve, reject| {
                    inner
                        .state
                        .borrow_mut()
                        .outcomes
                        .insert(id, (resolve, reject));
                });
                pump(&self.inner);
                promise
            }
        }
    }
}

fn health(state: &State) -> &'static str {
    let status = state.runtime.status();
    match (status.leader, status.leader_heard_at) {
        _ if state.closed => "closed",
        (None, _) | (_, None) => "connecting",
        (Some(_), Some(heard)) if js::now().since(heard) > UNRESPONSIVE_AFTER_MS => {
            "leader-unresponsive"
        }
        _ => "ok",
    }
}

fn status_object(state: &State) -> JsValue {
    let status = state.runtime.status();
    let object = js_sys::Object::new();
    set(
        &object,
        "tabId",
        &JsValue::from_str(&status.tab.to_string()),
    );
    set(
        &object,
        "leader",
        &status
            .leader
            .map_or(JsValue::NULL, |l| JsValue::from_str(&l.to_string())),
    );
    set(
        &object,
        "isLeader",
        &JsValue::from_bool(status.leader == Some(status.tab)),
    );
    set(&object, "term", &JsValue::from_f64(status.term.0 as f64));
    set(
        &object,
        "applied",
        &status
            .applied
            .map_or(JsValue::NULL, |s| JsValue::from_f64(s.0 as f64)),
    );
    set(
        &object,
        "pending",
        &JsValue::from_f64(status.pending as f64),
    );
    set(&object, "health", &JsValue::from_str(health(state)));
    let note = |kind: &str| match &state.worker_note {
        Some((k, message)) if k == kind => JsValue::from_str(message),
        _ => JsValue::NULL,
    };
    set(&object, "error", &note("error"));
    set(&object, "warning", &note("warning"));
    object.into()
}

/// Sends what the runtime queued, settles promises, queues callbacks, re-arms
/// the timer; then runs the callbacks with the state released.
fn pump(inner: &Rc<Inner>) {
    let mut calls: Vec<(js_sys::Function, JsValue, JsValue)> = Vec::new();
    {
        let mut state = inner.state.borrow_mut();
        if state.closed {
            return;
        }
        while let Some(message) = state.runtime.poll_transmit() {
            let text = String::from_utf8(message.encode()).unwrap_or_default();
            let _ = state.channel.post_message(&JsValue::from_str(&text));
        }
        while let Some(event) = state.runtime.poll_event() {
            match event {
                Event::Changes {
                    subscription,
                    changes,
                    ..
                } => {
                    if let Some(callback) = state.subscriptions.get(&subscription) {
                        calls.push((
                            callback.clone(),
                            changes_to_js(&changes),
                            JsValue::UNDEFINED,
                        ));
                    }
                }
                Event::Committed {
                    envelope_id,
                    position,
                } => {
                    if let Some((resolve, _)) = state.outcomes.remove(&envelope_id) {
                        calls.push((resolve, position_to_js(position), JsValue::UNDEFINED));
                    }
                }
                Event::Rejected {
                    envelope_id,
                    rejection,
                } => {
                    if let Some((_, reject)) = state.outcomes.remove(&envelope_id) {
                        calls.push((reject, error(rejection), JsValue::UNDEFINED));
                    }
                }
                Event::Ready { collection } => {
                    let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.ready)
                        .into_iter()
                        .partition(|(c, _)| *c == collection);
                    state.ready = waiting;
                    calls.extend(
                        done.into_iter()
                            .map(|(_, resolve)| (resolve, JsValue::UNDEFINED, JsValue::UNDEFINED)),
                    );
                }
                Event::Progress {
                    collection,
                    rows_loaded,
                } => {
                    for listener in &state.progress_listeners {
                        calls.push((
                            listener.clone(),
                            JsValue::from_str(collection.as_str()),
                            JsValue::from_f64(rows_loaded as f64),
                        ));
                    }
                }
                Event::Inspected { id, rows, .. } => {
                    if let Some(resolve) = state.inspections.remove(&id) {
                        calls.push((
                            resolve,
                            rows_to_js(rows.iter().map(|r| (&r.key, &r.value))),
                            JsValue::UNDEFINED,
                        ));
                    }
                }
                Event::LeaderChanged { .. } => {}
            }
        }
        let status = status_object(&state);
        let fingerprint = js_sys::JSON::stringify(&status)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        if fingerprint != state.last_status {
            state.last_status = fingerprint;
            for listener in &state.status_listeners {
                calls.push((listener.clone(), status.clone(), JsValue::UNDEFINED));
            }
        }
        if let Some(id) = state.timer.take() {
            js::clear_timer(id);
        }
        let now = js::now();
        let liveness = state
            .runtime
            .status()
            .leader_heard_at
            .map(|t| t.plus_millis(UNRESPONSIVE_AFTER_MS + 1))
            .filter(|t| *t > now);
        if let Some(at) = [state.runtime.poll_timeout(), liveness]
            .into_iter()
            .flatten()
            .min()
        {
            if let Some(on_timer) = inner.on_timer.borrow().as_ref() {
                state.timer = Some(js::set_timer(
                    at.since(now) as f64,
                    on_timer.as_ref().unchecked_ref(),
                ));
            }
        }
    }
    for (callback, a, b) in calls {
        let _ = callback.call2(&JsValue::NULL, &a, &b);
    }
}

impl Drop for BrowserTab {
    fn drop(&mut self) {
        self.close();
    }
}
