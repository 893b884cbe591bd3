//! [`Database`]: one tab's handle on a Lockstep database, on the page's main
//! thread, with a Rust-typed API (rows, keys, futures, change events).
//!
//! It runs the tab's [`PersistedCollectionRuntime`], talks to the leader over
//! the database's BroadcastChannel, starts this tab's leader worker, and
//! turns runtime events into resolved futures and listener calls.
//!
//! Listeners run with no borrow of the tab's state held, one at a time and in
//! order: a listener may call the database again (write, read, close); what
//! that causes is delivered after it returns, never inside it.
//!
//! Liveness: the leader heartbeats every second. A tab that has not heard
//! from its leader for [`UNRESPONSIVE_AFTER_MS`] reports
//! [`Health::LeaderUnresponsive`] (a frozen or discarded tab still holding the
//! lock). Its writes stay pending and are re-sent; it never takes leadership
//! by force, because the silent leader still owns the Web Lock and the OPFS
//! file, and two writers are never allowed.
//!
//! Closing ([`Database::close`], or dropping the last handle) stops the
//! worker, detaches every browser callback, resolves every pending future
//! with an error and drops every listener: nothing of the tab stays alive.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lockstep::protocol::KeyedRow;
use lockstep::{
    ChangeEvent, CollectionId, CollectionMode, DatabaseId, DatabaseReport, EnvelopeId, Event,
    InspectId, Key, Op, PendingWrite, PersistedCollectionRuntime, QueryRows, ReadId, Row,
    RuntimeConfig, RuntimeStats, SharedRow, Snapshot, StreamPosition, SubscriptionId, Subset,
    SubsetId, SyncBatch, TabId,
};
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::error::{Closed, OpenError, ReadError, WriteError};
use crate::oneshot::{self, Sender};
use crate::status::{Health, Status};
use crate::{js, names, route};

/// Silence after which a known leader is reported unresponsive (three heartbeats).
pub const UNRESPONSIVE_AFTER_MS: u64 = 3_000;

/// Where this tab's leader worker comes from.
pub enum LeaderWorker {
    /// Start a module worker from this URL (a module that calls the
    /// bindings' `runLeaderWorker` on its first message).
    Url(String),
    /// A module worker the app started itself (so that its bundler can see
    /// `new Worker(new URL('./worker.js', import.meta.url))` and bundle it).
    Started(web_sys::Worker),
}

/// How to open a database in this tab.
pub struct OpenOptions {
    /// The app's name.
    pub app: String,
    /// The scope, usually the signed-in user's id: each scope is its own database.
    pub scope: String,
    /// This tab's leader worker.
    pub worker: LeaderWorker,
    /// Keep the database in memory only, even where OPFS exists (tests,
    /// throwaway sessions): it then lives as long as the leading tab. Give
    /// every tab of a database the same choice; the leader's is what counts.
    pub memory_only: bool,
    /// Settings of the tab's runtime.
    pub config: RuntimeConfig,
}

/// What a stream-mode collection hands its sink.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamUpdate {
    /// Committed rows to apply, in order.
    Batch(SyncBatch),
    /// The collection is current (after its first load, and after each reload).
    Ready,
}

/// Handle of a status or progress listener, for [`Database::remove_listener`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The id as a number (for bindings that hand it to another language).
    pub fn number(self) -> u64 {
        self.0
    }

    /// The id a [`number`](Self::number) came from.
    pub fn from_number(number: u64) -> ListenerId {
        ListenerId(number)
    }
}

/// The future of a write: the position it was committed at, or why not.
pub type WriteOutcome = oneshot::Receiver<Result<StreamPosition, WriteError>>;

/// What a subset load resolves with: its id and the rows it delivered.
pub type SubsetLoad = Result<(SubsetId, usize), ReadError>;

type Shared<F> = Rc<RefCell<Box<F>>>;
type ChangeListener = Shared<dyn FnMut(&[ChangeEvent])>;
type StreamListener = Shared<dyn FnMut(StreamUpdate)>;
type StatusListener = Shared<dyn FnMut(&Status)>;
type ProgressListener = Shared<dyn FnMut(&CollectionId, usize, Option<usize>)>;

/// A listener call waiting to run with the state released.
enum Call {
    Changes(ChangeListener, Arc<[ChangeEvent]>),
    Stream(StreamListener, StreamUpdate),
    Status(StatusListener, Status),
    Progress(ProgressListener, CollectionId, usize, Option<usize>),
}

#[derive(Default)]
struct Waiting {
    writes: HashMap<EnvelopeId, Sender<Result<StreamPosition, WriteError>>>,
    ready: Vec<(CollectionId, Sender<Result<(), Closed>>)>,
    inspections: HashMap<InspectId, Sender<Result<Vec<KeyedRow>, ReadError>>>,
    queries: HashMap<ReadId, Sender<Result<QueryRows, ReadError>>>,
    descriptions: HashMap<ReadId, Sender<Result<DatabaseReport, ReadError>>>,
    subsets: HashMap<SubsetId, Sender<SubsetLoad>>,
}

#[derive(Default)]
struct Listeners {
    changes: HashMap<SubscriptionId, ChangeListener>,
    streams: HashMap<CollectionId, StreamListener>,
    status: Vec<(ListenerId, StatusListener)>,
    progress: Vec<(ListenerId, ProgressListener)>,
    next: u64,
}

struct State {
    runtime: PersistedCollectionRuntime,
    channel: BroadcastChannel,
    worker: Option<web_sys::Worker>,
    timer: Option<i32>,
    waiting: Waiting,
    listeners: Listeners,
    last_status: Option<Status>,
    /// The last report of this tab's leader worker: (kind, message).
    worker_note: Option<(String, String)>,
    closed: bool,
    /// The largest message this tab accepts (`RuntimeConfig::limits`).
    max_message_bytes: usize,
}

impl State {
    /// The runtime, and what posts every message it has queued (on the
    /// channel, to this tab's leader worker through its port, or both, as
    /// the route says): handed to the runtime's `…_sending_first` calls, or
    /// called after them.
    fn runtime_and_post(
        &mut self,
    ) -> (
        &mut PersistedCollectionRuntime,
        impl FnMut(&mut PersistedCollectionRuntime) + '_,
    ) {
        let (channel, worker) = (&self.channel, self.worker.as_ref());
        let post = move |runtime: &mut PersistedCollectionRuntime| {
            let me = runtime.tab_id();
            let leader = runtime.leader();
            while let Some(message) = runtime.poll_transmit() {
                let bytes = message.encode();
                let route = route::from_tab(me, leader, message.to);
                js::post_bytes(
                    &bytes,
                    route.channel.then_some(channel),
                    worker.filter(|_| route.port).map(js::Port::Worker),
                );
            }
        };
        (&mut self.runtime, post)
    }
}

/// The browser callbacks of a tab; they hold only a weak reference to it.
/// The ones the browser holds are kept here only so they live as long as the tab.
#[derive(Default)]
struct Handlers {
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_timer: Option<Closure<dyn FnMut()>>,
    _on_worker: Option<Closure<dyn FnMut(MessageEvent)>>,
    _on_worker_error: Option<Closure<dyn FnMut(web_sys::ErrorEvent)>>,
}

struct Inner {
    state: RefCell<State>,
    calls: RefCell<VecDeque<Call>>,
    dispatching: Cell<bool>,
    handlers: RefCell<Handlers>,
}

/// One tab's handle on a Lockstep database; clones share it. See the module docs.
#[derive(Clone)]
pub struct Database {
    inner: Rc<Inner>,
}

impl Database {
    /// Opens database `(app, scope)` in this tab: joins the BroadcastChannel,
    /// starts this tab's leader worker (it queues for leadership), and asks
    /// whoever leads to introduce itself.
    pub fn open(options: OpenOptions) -> Result<Database, OpenError> {
        let db = DatabaseId::new(options.app, options.scope)?;
        options.config.validate()?;
        let me = js::new_tab_id();
        let channel = BroadcastChannel::new(&names::channel(&db)).map_err(|_| {
            OpenError::Unsupported(
                "BroadcastChannel is unavailable in this browser; Lockstep needs it to reach other tabs"
                    .into(),
            )
        })?;
        let worker = match options.worker {
            LeaderWorker::Started(worker) => worker,
            LeaderWorker::Url(url) => js::start_worker(&url)
                .map_err(|e| OpenError::Worker(format!("{url}: {}", js::describe(&e))))?,
        };
        let init = js::worker_init(db.app(), db.scope(), &me.to_string(), options.memory_only);
        worker
            .post_message(&init)
            .map_err(|e| OpenError::Worker(js::describe(&e)))?;
        let max_message_bytes = options.config.limits.max_message_bytes;
        let runtime = PersistedCollectionRuntime::new(db, me, options.config, js::now());
        let inner = Rc::new(Inner {
            state: RefCell::new(State {
                runtime,
                channel,
                worker: Some(worker),
                timer: None,
                waiting: Waiting::default(),
                listeners: Listeners::default(),
                last_status: None,
                worker_note: None,
                closed: false,
                max_message_bytes,
            }),
            calls: RefCell::new(VecDeque::new()),
            dispatching: Cell::new(false),
            handlers: RefCell::new(Handlers::default()),
        });
        HANDLES.fetch_add(1, Ordering::Relaxed);
        install_handlers(&inner);
        pump(&inner);
        Ok(Database { inner })
    }

    /// This tab's id.
    pub fn tab_id(&self) -> TabId {
        self.inner.state.borrow().runtime.tab_id()
    }

    /// Where this tab's database stands.
    pub fn status(&self) -> Status {
        status_of(&self.inner.state.borrow())
    }

    /// Starts keeping `collection` in this tab, rows and all: it hydrates from
    /// the leader in pages, then follows every commit ([`get`](Self::get),
    /// [`rows`](Self::rows), [`subscribe`](Self::subscribe)).
    pub fn open_collection(&self, collection: &CollectionId) {
        self.with_runtime(|runtime, now| {
            runtime.open_collection_as(now, collection.clone(), CollectionMode::Rows)
        });
    }

    /// Follows `collection` without keeping its rows here: `sink` gets every
    /// committed change in order (pages of the first load, commits, the keys
    /// to keep after a reload) and `Ready` when current. For an app-side
    /// store that holds rows and optimistic state itself (TanStack DB); write
    /// with [`submit`](Self::submit). Replaces an earlier sink.
    pub fn stream_collection(
        &self,
        collection: &CollectionId,
        sink: impl FnMut(StreamUpdate) + 'static,
    ) {
        self.follow(collection, CollectionMode::Stream, sink);
    }

    /// Follows `collection` on demand: like
    /// [`stream_collection`](Self::stream_collection), but nothing is loaded
    /// until [`load_subset`](Self::load_subset) asks; `Ready` comes once the
    /// tab knows the leader's position (loads asked for earlier are answered
    /// then) and `sink` gets every commit of the collection, to keep the rows
    /// it holds (and those its subsets may match) current.
    pub fn stream_collection_on_demand(
        &self,
        collection: &CollectionId,
        sink: impl FnMut(StreamUpdate) + 'static,
    ) {
        self.follow(collection, CollectionMode::OnDemand, sink);
    }

    /// Opens `collection` in stream or on-demand `mode` with `sink`.
    fn follow(
        &self,
        collection: &CollectionId,
        mode: CollectionMode,
        sink: impl FnMut(StreamUpdate) + 'static,
    ) {
        {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return;
            }
            let sink: StreamListener = Rc::new(RefCell::new(Box::new(sink)));
            state.listeners.streams.insert(collection.clone(), sink);
        }
        self.with_runtime(|runtime, now| runtime.open_collection_as(now, collection.clone(), mode));
    }

    /// Loads the rows of `subset` of an on-demand collection (see
    /// [`lockstep::Subset`]): they reach the collection's sink as batches,
    /// then the future resolves with the subset's id and how many rows it
    /// delivered. Later commits keep coming; after a reload the subset is
    /// read again until [`unload_subset`](Self::unload_subset).
    pub fn load_subset(
        &self,
        collection: &CollectionId,
        subset: Subset,
    ) -> impl Future<Output = SubsetLoad> {
        self.read(
            |runtime, now| Ok(runtime.load_subset(now, collection, subset)?),
            |waiting| &mut waiting.subsets,
        )
    }

    /// Stops reading subset `id` again after reloads; its rows stay.
    pub fn unload_subset(&self, id: SubsetId) {
        self.with_runtime(|runtime, _| runtime.unload_subset(id));
    }

    /// Stops following `collection` in this tab and forgets its rows (and
    /// its sink). Pending writes to it still settle.
    pub fn close_collection(&self, collection: &CollectionId) {
        self.inner
            .state
            .borrow_mut()
            .listeners
            .streams
            .remove(collection);
        self.with_runtime(|runtime, _| runtime.close_collection(collection));
    }

    /// Resolves once `collection` is hydrated and current (`Err` if the
    /// database closes first, or the collection is not open).
    pub fn ready(&self, collection: &CollectionId) -> impl Future<Output = Result<(), Closed>> {
        let mut state = self.inner.state.borrow_mut();
        if state.closed || state.runtime.mode(collection).is_none() {
            return oneshot::ready(Err(Closed));
        }
        if state.runtime.is_ready(collection) {
            return oneshot::ready(Ok(()));
        }
        let (sender, receiver) = oneshot::channel();
        state.waiting.ready.push((collection.clone(), sender));
        receiver
    }

    /// This tab's writes not yet confirmed, oldest first.
    pub fn pending_writes(&self) -> Vec<PendingWrite> {
        self.inner.state.borrow().runtime.pending_writes()
    }

    /// This tab's own counters: the messages it dropped, by reason
    /// (malformed, too large, from a stale leader, …), and its pulls,
    /// reloads and re-sends. The leader's are in [`describe`](Self::describe).
    pub fn stats(&self) -> RuntimeStats {
        self.inner.state.borrow().runtime.stats()
    }

    /// Whether `collection` is open and current.
    pub fn is_ready(&self, collection: &CollectionId) -> bool {
        self.inner.state.borrow().runtime.is_ready(collection)
    }

    /// Applies `ops` at once in this tab (rows-mode collections, checked
    /// against what it shows) and sends them as one envelope: committed in
    /// one SQLite transaction or not at all. Resolves with the commit's
    /// position once this tab applied it; a refusal rolls the change back.
    pub fn mutate(&self, ops: Vec<Op>) -> WriteOutcome {
        // The envelope is posted before this tab applies the ops, so the
        // leader worker writes it while this tab applies it.
        self.write(ops, |state, now, ops| {
            let (runtime, post) = state.runtime_and_post();
            runtime.mutate_sending_first(now, ops, post)
        })
    }

    /// Sends `ops` as one envelope without showing them here (stream-mode
    /// collections, whose app-side store shows them optimistically). Resolves
    /// once the commit's rows reached the collection's sink.
    pub fn submit(&self, ops: Vec<Op>) -> WriteOutcome {
        self.write(ops, |state, now, ops| state.runtime.submit(now, ops))
    }

    /// Inserts a row (refused if the key exists). See [`mutate`](Self::mutate).
    pub fn insert(&self, collection: &CollectionId, key: Key, value: Row) -> WriteOutcome {
        self.mutate(vec![Op::Insert {
            collection: collection.clone(),
            key,
            value: lockstep::HeldRow::shared(value),
        }])
    }

    /// Inserts many rows as one envelope. See [`mutate`](Self::mutate).
    pub fn insert_many(
        &self,
        collection: &CollectionId,
        rows: impl IntoIterator<Item = (Key, Row)>,
    ) -> WriteOutcome {
        let ops = rows
            .into_iter()
            .map(|(key, value)| Op::Insert {
                collection: collection.clone(),
                key,
                value: lockstep::HeldRow::shared(value),
            })
            .collect();
        self.mutate(ops)
    }

    /// Replaces a row (refused if missing). See [`mutate`](Self::mutate).
    pub fn update(&self, collection: &CollectionId, key: Key, value: Row) -> WriteOutcome {
        self.mutate(vec![Op::Update {
            collection: collection.clone(),
            key,
            value: lockstep::HeldRow::shared(value),
        }])
    }

    /// Sets some fields of a row and keeps the others; the leader merges them
    /// into the row as it is when it commits. See [`mutate`](Self::mutate).
    pub fn patch(&self, collection: &CollectionId, key: Key, fields: Row) -> WriteOutcome {
        self.mutate(vec![Op::Patch {
            collection: collection.clone(),
            key,
            fields,
            unset: Vec::new(),
        }])
    }

    /// Deletes a row (refused if missing). See [`mutate`](Self::mutate).
    pub fn delete(&self, collection: &CollectionId, key: Key) -> WriteOutcome {
        self.mutate(vec![Op::Delete {
            collection: collection.clone(),
            key,
        }])
    }

    /// The row this tab shows under `key` (its pending writes included).
    pub fn get(&self, collection: &CollectionId, key: &Key) -> Option<SharedRow> {
        self.inner.state.borrow().runtime.get(collection, key)
    }

    /// How many rows this tab shows in `collection` (0 if it is not open).
    pub fn len(&self, collection: &CollectionId) -> usize {
        self.inner.state.borrow().runtime.len(collection)
    }

    /// The rows this tab shows, in key order (a cheap snapshot).
    pub fn rows(&self, collection: &CollectionId) -> Snapshot {
        self.inner.state.borrow().runtime.snapshot(collection)
    }

    /// Calls `listener` with every change of the rows this tab shows in a
    /// rows-mode collection; the first call lists every current row.
    pub fn subscribe(
        &self,
        collection: &CollectionId,
        listener: impl FnMut(&[ChangeEvent]) + 'static,
    ) -> SubscriptionId {
        let id = {
            let mut state = self.inner.state.borrow_mut();
            let id = state.runtime.subscribe(collection.clone(), true);
            if !state.closed {
                let listener: ChangeListener = Rc::new(RefCell::new(Box::new(listener)));
                state.listeners.changes.insert(id, listener);
            }
            id
        };
        pump(&self.inner);
        id
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, subscription: SubscriptionId) {
        let mut state = self.inner.state.borrow_mut();
        state.runtime.unsubscribe(subscription);
        state.listeners.changes.remove(&subscription);
    }

    /// Calls `listener` with the status whenever it changes (and once now).
    pub fn on_status(&self, listener: impl FnMut(&Status) + 'static) -> ListenerId {
        let (id, call) = {
            let mut state = self.inner.state.borrow_mut();
            let id = state.listeners.new_id();
            let listener: StatusListener = Rc::new(RefCell::new(Box::new(listener)));
            let call = Call::Status(listener.clone(), status_of(&state));
            if !state.closed {
                state.listeners.status.push((id, listener));
            }
            (id, call)
        };
        self.inner.calls.borrow_mut().push_back(call);
        dispatch(&self.inner);
        id
    }

    /// Calls `listener(collection, rows_loaded, rows_total)` while
    /// collections load; `rows_total` is the count the leader gave when the
    /// load began (`None` until it did), never below `rows_loaded`.
    pub fn on_progress(
        &self,
        listener: impl FnMut(&CollectionId, usize, Option<usize>) + 'static,
    ) -> ListenerId {
        let mut state = self.inner.state.borrow_mut();
        let id = state.listeners.new_id();
        if !state.closed {
            let listener: ProgressListener = Rc::new(RefCell::new(Box::new(listener)));
            state.listeners.progress.push((id, listener));
        }
        id
    }

    /// Removes a status or progress listener.
    pub fn remove_listener(&self, id: ListenerId) {
        let mut state = self.inner.state.borrow_mut();
        state.listeners.status.retain(|(i, _)| *i != id);
        state.listeners.progress.retain(|(i, _)| *i != id);
    }

    /// Reads every row of `collection` straight from the live database
    /// through the leader, whatever this tab holds (a debug page's view).
    pub fn inspect(
        &self,
        collection: &CollectionId,
    ) -> impl Future<Output = Result<Vec<KeyedRow>, ReadError>> {
        self.read(
            |runtime, now| Ok(runtime.inspect(now, collection.clone())),
            |waiting| &mut waiting.inspections,
        )
    }

    /// Runs one read-only SQL statement on the live database through the
    /// leader; collections are views named after them (`SELECT count(*) FROM
    /// todos WHERE done = ?`). Anything that would write is refused.
    pub fn query(
        &self,
        sql: &str,
        params: Vec<serde_json::Value>,
    ) -> impl Future<Output = Result<QueryRows, ReadError>> {
        self.read(
            |runtime, now| Ok(runtime.query(now, sql.to_owned(), params)),
            |waiting| &mut waiting.queries,
        )
    }

    /// The leader's description of the database: collections and their row
    /// counts, position, storage, counters.
    pub fn describe(&self) -> impl Future<Output = Result<DatabaseReport, ReadError>> {
        self.read(
            |runtime, now| Ok(runtime.describe(now)),
            |waiting| &mut waiting.descriptions,
        )
    }

    /// Closes the database in this tab: its worker stops (releasing
    /// leadership if it held it), every pending future resolves with an
    /// error, listeners are dropped, and later calls are refused.
    pub fn close(&self) {
        close(&self.inner);
    }

    /// How many databases are alive in this page or worker: open, or closed
    /// but with a handle not yet dropped. A diagnostic for leaks: after
    /// closing and dropping every handle it is 0.
    pub fn handles_alive() -> usize {
        HANDLES.load(Ordering::Relaxed)
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.state.borrow().closed
    }

    fn with_runtime<T>(
        &self,
        f: impl FnOnce(&mut PersistedCollectionRuntime, lockstep::Timestamp) -> T,
    ) -> Option<T> {
        let out = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return None;
            }
            f(&mut state.runtime, js::now())
        };
        pump(&self.inner);
        Some(out)
    }

    fn write(
        &self,
        ops: Vec<Op>,
        send: impl FnOnce(
            &mut State,
            lockstep::Timestamp,
            Vec<Op>,
        ) -> Result<EnvelopeId, lockstep::MutationError>,
    ) -> WriteOutcome {
        let receiver = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return oneshot::ready(Err(WriteError::Closed));
            }
            match send(&mut state, js::now(), ops) {
                Err(e) => return oneshot::ready(Err(e.into())),
                Ok(id) => {
                    let (sender, receiver) = oneshot::channel();
                    state.waiting.writes.insert(id, sender);
                    receiver
                }
            }
        };
        pump(&self.inner);
        receiver
    }

    /// Starts a read (`start` gives its id, or why the runtime refused it)
    /// and waits for its answer in `slot`.
    fn read<Id: std::hash::Hash + Eq, T>(
        &self,
        start: impl FnOnce(
            &mut PersistedCollectionRuntime,
            lockstep::Timestamp,
        ) -> Result<Id, ReadError>,
        slot: impl FnOnce(&mut Waiting) -> &mut HashMap<Id, Sender<Result<T, ReadError>>>,
    ) -> oneshot::Receiver<Result<T, ReadError>> {
        let receiver = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return oneshot::ready(Err(ReadError::Closed));
            }
            let id = match start(&mut state.runtime, js::now()) {
                Ok(id) => id,
                Err(e) => return oneshot::ready(Err(e)),
            };
            let (sender, receiver) = oneshot::channel();
            slot(&mut state.waiting).insert(id, sender);
            receiver
        };
        pump(&self.inner);
        receiver
    }
}

impl Listeners {
    fn new_id(&mut self) -> ListenerId {
        self.next += 1;
        ListenerId(self.next)
    }
}

/// Installs the BroadcastChannel, timer and worker callbacks, each holding
/// only a weak reference, so that they never keep the tab alive.
fn install_handlers(inner: &Rc<Inner>) {
    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        with_inner(&weak, |inner| {
            let (me, max) = {
                let state = inner.state.borrow();
                (state.runtime.tab_id(), state.max_message_bytes)
            };
            if let Some(bytes) = js::channel_bytes(&event.data(), me, max) {
                receive(inner, &bytes);
            }
        })
    });
    let weak = Rc::downgrade(inner);
    let on_timer = Closure::<dyn FnMut()>::new(move || {
        with_inner(&weak, |inner| {
            {
                let mut state = inner.state.borrow_mut();
                state.timer = None;
                state.runtime.handle_timeout(js::now());
            }
            pump(inner);
        })
    });
    let weak = Rc::downgrade(inner);
    let on_worker = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        with_inner(&weak, |inner| {
            let data = event.data();
            if js::is_bytes(&data) {
                let max = inner.state.borrow().max_message_bytes;
                receive(inner, &js::message_bytes(&data, max));
            } else {
                inner.state.borrow_mut().worker_note = js::worker_note(&data);
                pump(inner);
            }
        })
    });
    let weak = Rc::downgrade(inner);
    let on_worker_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(
        move |event: web_sys::ErrorEvent| {
            with_inner(&weak, |inner| {
                inner.state.borrow_mut().worker_note = Some((
                    "error".into(),
                    format!(
                        "the leader worker failed to run ({}); check that its script is served as JavaScript",
                        event.message()
                    ),
                ));
                pump(inner);
            })
        },
    );
    {
        let state = inner.state.borrow();
        state
            .channel
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        if let Some(worker) = &state.worker {
            worker.set_onmessage(Some(on_worker.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_worker_error.as_ref().unchecked_ref()));
        }
    }
    *inner.handlers.borrow_mut() = Handlers {
        _on_message: Some(on_message),
        on_timer: Some(on_timer),
        _on_worker: Some(on_worker),
        _on_worker_error: Some(on_worker_error),
    };
}

/// Hands a protocol message (from the channel or the worker's port) to the runtime.
/// What the runtime asks for before it applies the message (the next
/// hydration page) is posted at once, so the leader reads it meanwhile.
fn receive(inner: &Rc<Inner>, bytes: &[u8]) {
    {
        let mut state = inner.state.borrow_mut();
        let (runtime, post) = state.runtime_and_post();
        runtime.handle_bytes_sending_first(js::now(), bytes, post);
    }
    pump(inner);
}

fn with_inner(weak: &Weak<Inner>, f: impl FnOnce(&Rc<Inner>)) {
    if let Some(inner) = weak.upgrade() {
        f(&inner);
    }
}

/// Sends what the runtime queued, settles futures, queues listener calls,
/// re-arms the timer; then runs the queued calls with the state released.
fn pump(inner: &Rc<Inner>) {
    {
        let mut state = inner.state.borrow_mut();
        if state.closed {
            return;
        }
        {
            let (runtime, mut post) = state.runtime_and_post();
            post(runtime);
        }
        let mut calls = inner.calls.borrow_mut();
        while let Some(event) = state.runtime.poll_event() {
            deliver(&mut state, event, &mut calls);
        }
        let status = status_of(&state);
        if state.last_status.as_ref() != Some(&status) {
            state.last_status = Some(status.clone());
            for (_, listener) in &state.listeners.status {
                calls.push_back(Call::Status(listener.clone(), status.clone()));
            }
        }
        arm_timer(inner, &mut state);
    }
    dispatch(inner);
}

/// Routes one runtime event to a future or a queued listener call.
fn deliver(state: &mut State, event: Event, calls: &mut VecDeque<Call>) {
    let waiting = &mut state.waiting;
    match event {
        Event::Changes {
            subscription,
            changes,
            ..
        } => {
            if let Some(listener) = state.listeners.changes.get(&subscription) {
                calls.push_back(Call::Changes(listener.clone(), changes));
            }
        }
        Event::Synced { collection, batch } => {
            if let Some(sink) = state.listeners.streams.get(&collection) {
                calls.push_back(Call::Stream(sink.clone(), StreamUpdate::Batch(batch)));
            }
        }
        Event::Ready { collection } => {
            if let Some(sink) = state.listeners.streams.get(&collection) {
                calls.push_back(Call::Stream(sink.clone(), StreamUpdate::Ready));
            }
            let (done, still): (Vec<_>, Vec<_>) = std::mem::take(&mut waiting.ready)
                .into_iter()
                .partition(|(c, _)| *c == collection);
            waiting.ready = still;
            for (_, sender) in done {
                sender.send(Ok(()));
            }
        }
        Event::Committed {
            envelope_id,
            position,
        } => {
            if let Some(sender) = waiting.writes.remove(&envelope_id) {
                sender.send(Ok(position));
            }
        }
        Event::Rejected {
            envelope_id,
            rejection,
        } => {
            if let Some(sender) = waiting.writes.remove(&envelope_id) {
                sender.send(Err(WriteError::Rejected(rejection)));
            }
        }
        Event::Progress {
            collection,
            rows_loaded,
            rows_total,
        } => {
            for (_, listener) in &state.listeners.progress {
                calls.push_back(Call::Progress(
                    listener.clone(),
                    collection.clone(),
                    rows_loaded,
                    rows_total,
                ));
            }
        }
        Event::Inspected {
            id, rows, error, ..
        } => {
            if let Some(sender) = waiting.inspections.remove(&id) {
                sender.send(match error {
                    None => Ok(rows),
                    Some(error) => Err(ReadError::Failed(error)),
                });
            }
        }
        Event::Queried { id, outcome } => {
            if let Some(sender) = waiting.queries.remove(&id) {
                sender.send(outcome.map_err(ReadError::Query));
            }
        }
        Event::Described { id, outcome } => {
            if let Some(sender) = waiting.descriptions.remove(&id) {
                sender.send(outcome.map_err(ReadError::Failed));
            }
        }
        Event::SubsetLoaded { id, outcome, .. } => {
            if let Some(sender) = waiting.subsets.remove(&id) {
                sender.send(outcome.map(|rows| (id, rows)).map_err(ReadError::Query));
            }
        }
        Event::LeaderChanged { .. } => {}
    }
}

/// Runs queued listener calls in order, unless a call is already running
/// (then that call's caller runs them when it returns).
fn dispatch(inner: &Rc<Inner>) {
    if inner.dispatching.replace(true) {
        return;
    }
    loop {
        let Some(call) = inner.calls.borrow_mut().pop_front() else {
            break;
        };
        match call {
            Call::Changes(listener, changes) => (listener.borrow_mut())(&changes),
            Call::Stream(sink, update) => (sink.borrow_mut())(update),
            Call::Status(listener, status) => (listener.borrow_mut())(&status),
            Call::Progress(listener, collection, rows, total) => {
                (listener.borrow_mut())(&collection, rows, total)
            }
        }
    }
    inner.dispatching.set(false);
}

/// Re-arms the one timer at the runtime's next deadline or the moment the
/// leader would count as unresponsive, whichever comes first.
fn arm_timer(inner: &Inner, state: &mut State) {
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
    let Some(at) = [state.runtime.poll_timeout(), liveness]
        .into_iter()
        .flatten()
        .min()
    else {
        return;
    };
    if let Some(on_timer) = inner.handlers.borrow().on_timer.as_ref() {
        state.timer = Some(js::set_timer(
            at.since(now) as f64,
            on_timer.as_ref().unchecked_ref(),
        ));
    }
}

fn health(state: &State) -> Health {
    let status = state.runtime.status();
    match (status.leader, status.leader_heard_at) {
        _ if state.closed => Health::Closed,
        (None, _) | (_, None) => Health::Connecting,
        (Some(_), Some(heard)) if js::now().since(heard) > UNRESPONSIVE_AFTER_MS => {
            Health::LeaderUnresponsive
        }
        _ => Health::Ok,
    }
}

fn status_of(state: &State) -> Status {
    let runtime = state.runtime.status();
    let note = |kind: &str| match &state.worker_note {
        Some((k, message)) if k == kind => Some(message.clone()),
        _ => None,
    };
    let info = runtime.leader_info.as_ref();
    Status {
        tab_id: runtime.tab,
        is_leader: runtime.leader == Some(runtime.tab),
        leader: runtime.leader,
        term: runtime.term,
        seq: runtime.applied,
        pending: runtime.pending,
        health: health(state),
        storage: info.map(|i| i.storage),
        store_errors: info.map_or(0, |i| i.store_errors),
        last_store_error: info.and_then(|i| i.last_store_error.clone()),
        invalid_rows: info.map_or(0, |i| i.invalid_rows),
        last_invalid_row: info.and_then(|i| i.last_invalid_row.clone()),
        error: note("error"),
        warning: note("warning"),
    }
}

impl State {
    /// Detaches every browser callback, stops the worker and the timer, and
    /// hands back what the tab owes; `None` if it was already shut.
    fn shut(&mut self) -> Option<(Waiting, Listeners)> {
        if self.closed {
            return None;
        }
        self.closed = true;
        self.channel.set_onmessage(None);
        self.channel.close();
        if let Some(worker) = self.worker.take() {
            worker.set_onmessage(None);
            worker.set_onerror(None);
            worker.terminate();
        }
        if let Some(id) = self.timer.take() {
            js::clear_timer(id);
        }
        Some((
            std::mem::take(&mut self.waiting),
            std::mem::take(&mut self.listeners),
        ))
    }
}

impl Waiting {
    /// Resolves every pending future with its "closed" error.
    fn fail_all(self) {
        for (_, sender) in self.writes {
            sender.send(Err(WriteError::Closed));
        }
        for (_, sender) in self.ready {
            sender.send(Err(Closed));
        }
        for (_, sender) in self.inspections {
            sender.send(Err(ReadError::Closed));
        }
        for (_, sender) in self.queries {
            sender.send(Err(ReadError::Closed));
        }
        for (_, sender) in self.descriptions {
            sender.send(Err(ReadError::Closed));
        }
        for (_, sender) in self.subsets {
            sender.send(Err(ReadError::Closed));
        }
    }
}

/// Stops everything the tab started and settles everything it owes.
fn close(inner: &Rc<Inner>) {
    let (shut, status) = {
        let mut state = inner.state.borrow_mut();
        let shut = state.shut();
        (shut, status_of(&state))
    };
    let Some((waiting, listeners)) = shut else {
        return;
    };
    waiting.fail_all();
    // Nothing queued runs any more, except that status listeners hear
    // "closed" once; then every listener is dropped.
    let mut calls = inner.calls.borrow_mut();
    calls.clear();
    calls.extend(
        listeners
            .status
            .iter()
            .map(|(_, listener)| Call::Status(listener.clone(), status.clone())),
    );
    drop(calls);
    drop(listeners);
    dispatch(inner);
}

/// Database handles alive in this realm (see [`Database::handles_alive`]).
static HANDLES: AtomicUsize = AtomicUsize::new(0);

impl Drop for Inner {
    fn drop(&mut self) {
        HANDLES.fetch_sub(1, Ordering::Relaxed);
        let shut = self.state.borrow_mut().shut();
        if let Some((waiting, _listeners)) = shut {
            waiting.fail_all();
        }
    }
}
