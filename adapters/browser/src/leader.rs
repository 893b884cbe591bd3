//! The leader worker: queues for the database's Web Lock, and while it holds
//! it, owns SQLite on OPFS and runs the [`Coordinator`] on the BroadcastChannel.
//!
//! The coordinator exists only after the store opened and the new term was
//! persisted; any failure before that releases the lock at once and queues
//! again after a growing pause (seed 002: no stuck leadership, no busy loop).
//!
//! Stepping down (a newer term in the store, or a failure after the OPFS
//! pool was taken) happens in this order: stop serving, close the SQLite
//! connection, release the pool's access handles, and only then release the
//! lock. So the next leader never finds the files still held, and nothing
//! of a past term stays behind in this worker.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lockstep::protocol::{Body, Envelope, Message, PROTOCOL_VERSION};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op, TabId, Term,
    Timestamp,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::opfs::{self, OpenError, Opened, Pool};
use crate::{js, names, route};

/// What a page tells its leader worker in its first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInit {
    /// The app's name.
    pub app: String,
    /// The database's scope.
    pub scope: String,
    /// The page's tab id (the leader's id on the channel).
    pub tab_id: TabId,
    /// Keep the database in memory only (see `OpenOptions::memory_only`).
    pub memory_only: bool,
}

impl WorkerInit {
    /// Reads the first message a [`Database`](crate::Database) posts to its
    /// leader worker (`{ app, scope, tabId, memoryOnly }`), for a worker
    /// entry written in Rust; an error says which field is missing or wrong.
    pub fn from_message(data: &JsValue) -> Result<WorkerInit, String> {
        let (app, scope, tab_id, memory_only) = js::worker_init_fields(data)?;
        let tab_id = tab_id
            .parse()
            .map_err(|_| format!("the worker's tab id {tab_id:?} is not a UUID"))?;
        Ok(WorkerInit {
            app,
            scope,
            tab_id: TabId(tab_id),
            memory_only,
        })
    }
}

struct Serving {
    coordinator: Coordinator<SqliteStore>,
    pool: Option<Pool>,
    channel: BroadcastChannel,
    release: js_sys::Function,
    timer: Option<i32>,
    on_timer: Closure<dyn FnMut()>,
    on_message: Closure<dyn FnMut(MessageEvent)>,
}

struct Worker {
    db: DatabaseId,
    me: TabId,
    memory_only: bool,
    serving: RefCell<Option<Serving>>,
    pause_ms: Cell<f64>,
    /// Holds the lock (opening the store or serving).
    granted: Cell<bool>,
    /// The callback of its page's messages (kept for the worker's life).
    on_page: RefCell<Option<PageCallback>>,
    /// When the last message reached it (the warm-up waits for a quiet moment).
    last_message: Cell<Timestamp>,
    /// The rows of its largest warm-up so far (0: none).
    warmed_up_with: Cell<u32>,
    /// A quiet-time checkpoint is scheduled.
    checkpoint_due: Cell<bool>,
}

impl Worker {
    /// Milliseconds since the last message reached it (warm-up and
    /// checkpoint wait for a quiet moment).
    fn quiet_for_ms(&self) -> u64 {
        js::now().since(self.last_message.get())
    }
}

/// The worker's callback of its page's messages.
type PageCallback = Closure<dyn FnMut(JsValue)>;

thread_local! {
    /// The worker's state lives as long as the worker: its browser callbacks
    /// hold only weak references to it.
    static WORKER: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

/// Runs this dedicated worker as the leader candidate of one tab. Call it
/// once, with the page's first message; a second call is refused.
pub fn run_leader_worker(init: WorkerInit) -> Result<(), String> {
    if WORKER.with(|w| w.borrow().is_some()) {
        return Err("this worker already runs a leader candidate".into());
    }
    let db = DatabaseId::new(init.app, init.scope).map_err(|e| e.to_string())?;
    let worker = Rc::new(Worker {
        db,
        me: init.tab_id,
        memory_only: init.memory_only,
        serving: RefCell::new(None),
        pause_ms: Cell::new(0.0),
        granted: Cell::new(false),
        on_page: RefCell::new(None),
        last_message: Cell::new(Timestamp(0)),
        warmed_up_with: Cell::new(0),
        checkpoint_due: Cell::new(false),
    });
    WORKER.with(|w| *w.borrow_mut() = Some(worker.clone()));
    listen_to_page(&worker);
    queue_for_lock(&worker).map_err(|e| js::describe(&e))?;
    schedule_warm_up(&worker, WARM_UP_AFTER_MS, WARM_UP_LOOKS);
    Ok(())
}

/// Serves the messages the worker's own page posts through its port (see
/// [`route`](crate::route)) while the worker leads; drops them otherwise.
fn listen_to_page(worker: &Rc<Worker>) {
    let me = Rc::downgrade(worker);
    let on_page = PageCallback::new(move |data: JsValue| {
        if let (Some(me), true) = (me.upgrade(), js::is_bytes(&data)) {
            receive(&me, &js::message_bytes(&data, max_message_bytes()));
        }
    });
    js::on_page_message(on_page.as_ref().unchecked_ref());
    *worker.on_page.borrow_mut() = Some(on_page);
}

/// How long after it starts a worker warms up: late enough not to compete
/// with its tab's own start (a load, say).
const WARM_UP_AFTER_MS: f64 = 1_000.0;

/// How long the worker must have had no message before it warms up; until
/// then it looks again after as long, at most [`WARM_UP_LOOKS`] times (a
/// worker that busy has run its code by then).
const WARM_UP_QUIET_MS: f64 = 250.0;

/// How many times the worker looks for a quiet moment to warm up.
const WARM_UP_LOOKS: u32 = 20;

/// Rows of a leading worker's warm-up commit and page.
const WARM_UP_ROWS_LEADING: u32 = 1_000;

/// Rows of a waiting worker's warm-up: enough to compile the code; the
/// worker warms up again with more once it leads.
const WARM_UP_ROWS_WAITING: u32 = 1;

/// A worker runs the store's code when it has been quiet for a moment a
/// second after it starts, and again a second after it takes the lead, on
/// a throwaway in-memory database (open, migrate, a commit, a page of its
/// rows), so the code is compiled, and for a leader the hottest of it
/// optimised, before it is needed: in a fresh worker, the first run of
/// SQLite's parser and schema code took about 150 ms of a failover, and a
/// leader's first 10,000-row insert made 2.5 s after page start took 180
/// ms (median of five; 167–215) without the leader's warm-up and 132
/// (128–165) with it, in alternating pages of one hour (81 and 70 once
/// warm; the tab's own code is most of the rest). A worker waiting for the
/// lock (every tab but one has one) warms up with a single row. The user's
/// database is not touched.
fn schedule_warm_up(worker: &Rc<Worker>, after_ms: f64, looks_left: u32) {
    let me = Rc::downgrade(worker);
    let warm = Closure::once_into_js(move || {
        let Some(me) = me.upgrade() else { return };
        if (me.quiet_for_ms() as f64) < WARM_UP_QUIET_MS {
            if let Some(left) = looks_left.checked_sub(1) {
                schedule_warm_up(&me, WARM_UP_QUIET_MS, left);
            }
        } else {
            let rows = if me.granted.get() {
                WARM_UP_ROWS_LEADING
            } else {
                WARM_UP_ROWS_WAITING
            };
            if me.warmed_up_with.get() < rows {
                me.warmed_up_with.set(rows);
                warm_up(&me.db, me.me, rows);
            }
        }
    });
    js::set_timer(after_ms, warm.unchecked_ref());
}

/// The configuration of every coordinator this worker runs (the one that
/// serves, and the warm-up's).
fn leader_config() -> CoordinatorConfig {
    CoordinatorConfig::default()
}

/// The largest message the leader accepts (its coordinator's limit).
fn max_message_bytes() -> usize {
    leader_config().limits.max_message_bytes
}

fn warm_up(db: &DatabaseId, me: TabId, rows: u32) {
    let Ok(store) = SqliteStore::open_in_memory(db, SqliteOptions::default()) else {
        return;
    };
    let Ok(mut coordinator) = Coordinator::start(store, db.clone(), me, leader_config(), js::now())
    else {
        return;
    };
    let Ok(collection) = CollectionId::new("lockstep-warm-up") else {
        return;
    };
    let ops = (0..rows)
        .map(|n| {
            let row = serde_json::json!({"title": format!("warm-up {n}"), "done": false, "n": n});
            Op::Insert {
                collection: collection.clone(),
                key: Key::from(format!("warm-up-{n:06}").as_str()),
                value: lockstep::HeldRow::shared(row.as_object().cloned().unwrap_or_default()),
            }
        })
        .collect();
    let envelope = Envelope {
        envelope_id: EnvelopeId::new_v7(js::now().0, [7; 10]),
        origin: me,
        ops,
    };
    let hydrate = Body::Hydrate {
        request: 1,
        collection,
        after: None,
        limit: rows,
    };
    for body in [Body::Envelope(envelope), hydrate] {
        let message = Message {
            v: PROTOCOL_VERSION,
            db: db.clone(),
            term: Term(0),
            from: me,
            to: None,
            body,
        };
        coordinator.handle_bytes(js::now(), &message.encode());
        while let Some(reply) = coordinator.poll_transmit() {
            let _ = reply.encode();
        }
    }
}

fn queue_for_lock(worker: &Rc<Worker>) -> Result<(), JsValue> {
    let me = worker.clone();
    // Called once, whenever the browser grants the lock; freed after that call.
    let on_granted = Closure::once_into_js(move |release: js_sys::Function| {
        me.granted.set(true);
        wasm_bindgen_futures::spawn_local(async move { serve(&me, release).await });
    });
    js::lock_request(&names::leader_lock(&worker.db), on_granted.unchecked_ref())
}

/// Releases the lock and queues again after a pause growing from 100 ms to 5 s.
fn retry_later(worker: &Rc<Worker>, release: &js_sys::Function) {
    worker.granted.set(false);
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
    let (store, pool) = match opfs::open(&worker.db, worker.memory_only).await {
        Ok(Opened::Durable(store, pool)) => (store, Some(pool)),
        Ok(Opened::MemoryOnly(store, why)) => {
            js::warn(&format!("Lockstep: {why}"));
            js::report_to_page("warning", &why);
            (store, None)
        }
        Err(OpenError::Busy(why)) => {
            js::report_to_page("waiting", &why);
            retry_later(worker, &release);
            return;
        }
        Err(OpenError::Failed(why)) => {
            js::report_to_page("error", &why);
            retry_later(worker, &release);
            return;
        }
    };
    let coordinator = match Coordinator::start(
        store,
        worker.db.clone(),
        worker.me,
        leader_config(),
        js::now(),
    ) {
        Ok(coordinator) => coordinator,
        Err(e) => {
            // The store is gone with the failed start: give the files back first.
            release_pool(pool);
            js::report_to_page("error", &format!("taking leadership failed: {e}"));
            retry_later(worker, &release);
            return;
        }
    };
    let channel = match BroadcastChannel::new(&names::channel(&worker.db)) {
        Ok(channel) => channel,
        Err(_) => {
            drop(coordinator);
            release_pool(pool);
            js::report_to_page("error", "BroadcastChannel is unavailable in this browser");
            retry_later(worker, &release);
            return;
        }
    };
    worker.pause_ms.set(0.0);
    schedule_warm_up(worker, WARM_UP_AFTER_MS, WARM_UP_LOOKS);
    let me = Rc::downgrade(worker);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(me) = me.upgrade() else { return };
        if let Some(bytes) = js::channel_bytes(&event.data(), me.me, max_message_bytes()) {
            receive(&me, &bytes);
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let me = Rc::downgrade(worker);
    let on_timer = Closure::<dyn FnMut()>::new(move || {
        let Some(me) = me.upgrade() else { return };
        if let Some(serving) = me.serving.borrow_mut().as_mut() {
            serving.timer = None;
            serving.coordinator.handle_timeout(js::now());
        }
        pump(&me);
    });
    *worker.serving.borrow_mut() = Some(Serving {
        coordinator,
        pool,
        channel,
        release,
        timer: None,
        on_timer,
        on_message,
    });
    js::report_to_page("leader", "this tab's worker leads the database");
    pump(worker);
}

fn release_pool(pool: Option<Pool>) {
    if let Some(pool) = pool {
        if let Err(why) = pool.release() {
            js::warn(&format!("Lockstep: {why}"));
        }
    }
}

/// Hands a protocol message (from the channel or the page's port) to the
/// coordinator while the worker serves.
fn receive(worker: &Rc<Worker>, bytes: &[u8]) {
    let now = js::now();
    worker.last_message.set(now);
    let serving = match worker.serving.borrow_mut().as_mut() {
        Some(serving) => {
            serving.coordinator.handle_bytes(now, bytes);
            true
        }
        None => false,
    };
    pump(worker);
    if serving {
        schedule_checkpoint(worker, CHECKPOINT_QUIET_MS);
    }
}

/// How long a leader must have had no message before it checkpoints.
const CHECKPOINT_QUIET_MS: u64 = 100;

/// Once the leader has had no message for [`CHECKPOINT_QUIET_MS`], copies
/// the write-ahead log into the database file
/// ([`SqliteStore::checkpoint`]), so the next writes start the log over:
/// otherwise the commit that takes the log past 1,000 pages runs the
/// checkpoint itself (the one 10,000-row insert in five that did took
/// 72–98 ms against 39–63 for the others). Scheduled again by the next
/// message only, so a quiet leader does nothing.
fn schedule_checkpoint(worker: &Rc<Worker>, after_ms: u64) {
    if worker.checkpoint_due.replace(true) {
        return;
    }
    let me = Rc::downgrade(worker);
    // Called once, by the timer.
    let check = Closure::once_into_js(move || {
        let Some(me) = me.upgrade() else { return };
        me.checkpoint_due.set(false);
        let quiet_for = me.quiet_for_ms();
        if quiet_for < CHECKPOINT_QUIET_MS {
            schedule_checkpoint(&me, CHECKPOINT_QUIET_MS - quiet_for);
        } else if let Some(serving) = me.serving.borrow_mut().as_mut() {
            if let Err(e) = serving.coordinator.store_mut().checkpoint() {
                js::warn(&format!(
                    "Lockstep: checkpointing the write-ahead log failed: {e}"
                ));
            }
        }
    });
    js::set_timer(after_ms as f64, check.unchecked_ref());
}

/// Sends what the coordinator queued, steps down if deposed, re-arms the timer.
fn pump(worker: &Rc<Worker>) {
    let mut guard = worker.serving.borrow_mut();
    let Some(serving) = guard.as_mut() else {
        return;
    };
    while let Some(message) = serving.coordinator.poll_transmit() {
        let bytes = message.encode();
        let route = route::from_worker(worker.me, message.to, message.skips());
        js::post_bytes(
            &bytes,
            route.channel.then_some(&serving.channel),
            route.port.then_some(js::Port::Page),
        );
    }
    if serving.coordinator.deposed().is_some() {
        let serving = guard.take().expect("checked above");
        drop(guard);
        step_down(worker, serving);
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

/// Stops serving: channel and timer off, connection closed, OPFS handles
/// released, then the lock; the worker queues again.
fn step_down(worker: &Rc<Worker>, serving: Serving) {
    let Serving {
        coordinator,
        pool,
        channel,
        release,
        timer,
        on_timer,
        on_message,
    } = serving;
    channel.set_onmessage(None);
    channel.close();
    if let Some(id) = timer {
        js::clear_timer(id);
    }
    drop(coordinator);
    release_pool(pool);
    // The channel callback may be the one running now: drop the callbacks
    // after this turn of the event loop rather than under its feet.
    let later = Closure::once_into_js(move || drop((on_timer, on_message)));
    js::set_timer(0.0, later.unchecked_ref());
    js::report_to_page("deposed", "a newer leader exists; this worker queues again");
    retry_later(worker, &release);
}
