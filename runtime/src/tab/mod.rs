//! [`PersistedCollectionRuntime`]: the state machine every tab runs.
//!
//! It holds the tab's in-memory collections, overlays pending envelopes
//! optimistically, applies the leader's `TxCommitted` strictly in seq order,
//! fills gaps with `PullSince`, hydrates collections page by page, and re-sends
//! unacknowledged envelopes to a new leader. It does no I/O: drivers feed it
//! messages and time and drain [`poll_transmit`](PersistedCollectionRuntime::poll_transmit)
//! and [`poll_event`](PersistedCollectionRuntime::poll_event).

mod collection;
mod event;
mod hydration;
mod inspection;
mod leadership;
mod ordering;
mod overlay;
mod packed;
mod reads;
mod subscriptions;
mod subsets;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;

pub use collection::Snapshot;
use collection::{differs, LayerOp, Rows};
pub use event::{
    Event, InspectId, PendingWrite, ReadId, RuntimeStats, RuntimeStatus, SubscriptionId, SyncBatch,
};
use subscriptions::Touched;

use crate::error::{InvalidInput, MutationError};
use crate::ids::{
    CollectionId, DatabaseEpoch, DatabaseId, EnvelopeId, Seq, StreamPosition, TabId, Term,
    Timestamp,
};
use crate::intake::intake;
use crate::key::Key;
use crate::protocol::{
    check_ops, Body, Envelope, KeyedRow, LeaderInfo, Limits, Message, PageRow, QueryOutcome,
    Rejection, TxCommitted, PROTOCOL_VERSION,
};
use crate::query::DatabaseReport;
use crate::rng::SplitMix64;
use crate::row::{Change, ChangeEvent, Op, Row, SharedRow};

/// Settings of a tab's runtime. [`RuntimeConfig::validate`] refuses
/// settings that cannot work (the browser driver checks them when a tab
/// opens).
///
/// ```
/// let config = lockstep::RuntimeConfig::default();
/// assert_eq!(config.resend_after_ms, 1_000);
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Re-send an unacknowledged envelope or request after this long.
    pub resend_after_ms: u64,
    /// Rows asked for in one hydration page.
    pub hydrate_page_rows: u32,
    /// Transactions asked for in one `PullSince` page.
    pub pull_page_txs: u32,
    /// After this long without a word from its leader, a tab asks any other
    /// tab that speaks as a leader whether it leads, whatever term it claims.
    pub leader_silence_ms: u64,
    /// Limits applied to messages received and to local mutations.
    pub limits: Limits,
    /// Known bugs to re-introduce (simulator only; see [`BugSwitches`](crate::BugSwitches)).
    #[cfg(feature = "bug-switches")]
    pub bugs: crate::BugSwitches,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            resend_after_ms: 1_000,
            hydrate_page_rows: 5_000,
            pull_page_txs: 1_000,
            leader_silence_ms: 3_000,
            limits: Limits::default(),
            #[cfg(feature = "bug-switches")]
            bugs: crate::BugSwitches::NONE,
        }
    }
}

#[derive(Clone, Debug)]
struct Pending {
    envelope: Envelope,
    sent_at: Option<Timestamp>,
    committed_at: Option<StreamPosition>,
}

#[derive(Clone, Debug)]
struct Hydration {
    request: u64,
    sent_at: Option<Timestamp>,
    cursor: Option<Key>,
    cleared: bool,
    pages_done: bool,
    upto: Seq,
    loaded: usize,
    /// The rows the leader counted when the load began, if it said.
    total: Option<u64>,
    before: Snapshot,
    /// Stream mode, when the app already holds rows of the collection: the
    /// keys this load delivered (pages and commits). Rows are upserted in
    /// place, so none is ever missing; at the end the app forgets every
    /// other key (rows deleted while this tab was behind).
    seen: Option<BTreeSet<Key>>,
}

/// A page of a load, as the leader sent it.
struct HydratePage {
    request: u64,
    collection: CollectionId,
    position: StreamPosition,
    rows: Vec<PageRow>,
    more: bool,
    total: Option<u64>,
}

#[derive(Clone, Debug)]
struct Collection {
    mode: CollectionMode,
    /// Rows mode: the synced rows and this tab's pending writes on top.
    rows: Rows,
    hydration: Option<Hydration>,
    /// Stream mode: rows were handed to the app, so a reload must replace them.
    streamed: bool,
    /// On-demand mode: the subsets the app asked for.
    subsets: subsets::Subsets,
}

/// How a tab keeps an open collection.
///
/// ```
/// assert_eq!(lockstep::CollectionMode::default(), lockstep::CollectionMode::Rows);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CollectionMode {
    /// The tab keeps every row, with its own pending writes on top: reads,
    /// snapshots and change events come from the runtime (the Rust API, Leptos).
    #[default]
    Rows,
    /// The tab keeps no rows. Every committed change of the collection goes
    /// to the driver in seq order as [`Event::Synced`], for a store of the
    /// app's that holds the rows and its own optimistic state (TanStack DB).
    /// Writes go through [`PersistedCollectionRuntime::submit`].
    Stream,
    /// Like [`Stream`](CollectionMode::Stream), but nothing is loaded until
    /// the app asks: the collection is ready once the tab knows the leader's
    /// position (a load asked for before is answered then), rows come from
    /// [`PersistedCollectionRuntime::load_subset`], and every committed
    /// change of the collection still goes to the app (which keeps those of
    /// rows it holds or that its subsets may match).
    OnDemand,
}

impl CollectionMode {
    /// Whether the app, not the tab, keeps the rows.
    fn streams(self) -> bool {
        self != CollectionMode::Rows
    }
}

/// A transaction broadcast as a `requires_pull` header, being fetched in parts.
#[derive(Clone, Debug)]
struct Fetch {
    request: u64,
    header: TxCommitted,
    changes: Vec<Change>,
    sent_at: Timestamp,
}

/// A read of a collection straight from the live database, page by page.
#[derive(Clone, Debug)]
struct Inspection {
    collection: CollectionId,
    request: u64,
    cursor: Option<Key>,
    rows: Vec<KeyedRow>,
    /// The leader's position when the last page was read.
    position: StreamPosition,
    sent_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug)]
struct PullRequest {
    id: u64,
    sent_at: Timestamp,
}

/// What a driver is handed to post what the runtime queued so far, in the
/// middle of a call (see
/// [`handle_bytes_sending_first`](PersistedCollectionRuntime::handle_bytes_sending_first)).
type SendFirst<'a> = &'a mut dyn FnMut(&mut PersistedCollectionRuntime);

/// The per-tab collection runtime. See the module docs.
///
/// ```
/// use lockstep::{PersistedCollectionRuntime, RuntimeConfig, DatabaseId, TabId, Timestamp, protocol::Body};
/// let db = DatabaseId::new("app", "user-1").unwrap();
/// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
/// // A new tab first asks whoever leads to introduce itself.
/// assert!(matches!(tab.poll_transmit().unwrap().body, Body::Join { .. }));
/// ```
#[derive(Debug)]
pub struct PersistedCollectionRuntime {
    db: DatabaseId,
    me: TabId,
    config: RuntimeConfig,
    rng: SplitMix64,
    term: Term,
    leader: Option<TabId>,
    leader_heard_at: Option<Timestamp>,
    leader_info: Option<LeaderInfo>,
    /// `Join`s waiting for an answer, by the probe number the answer echoes.
    probes: BTreeMap<u64, leadership::Probe>,
    applied: Option<Seq>,
    collections: BTreeMap<CollectionId, Collection>,
    pending: IndexMap<EnvelopeId, Pending>,
    early: BTreeMap<Seq, TxCommitted>,
    /// The highest seq the leader has announced or sent.
    known_seq: Seq,
    fetch: Option<Fetch>,
    pull: Option<PullRequest>,
    subscriptions: BTreeMap<SubscriptionId, CollectionId>,
    inspections: BTreeMap<InspectId, Inspection>,
    reads: BTreeMap<ReadId, reads::Read>,
    next_subscription: u64,
    transmits: VecDeque<Message>,
    events: VecDeque<Event>,
    stats: RuntimeStats,
}

impl PersistedCollectionRuntime {
    /// Creates the runtime of tab `me` and queues its `Join`.
    pub fn new(db: DatabaseId, me: TabId, config: RuntimeConfig, now: Timestamp) -> Self {
        let seed = me.0.as_u128();
        let mut tab = PersistedCollectionRuntime {
            db,
            me,
            config,
            rng: SplitMix64::new((seed as u64) ^ ((seed >> 64) as u64) ^ now.0),
            term: Term(0),
            leader: None,
            leader_heard_at: None,
            leader_info: None,
            probes: BTreeMap::new(),
            applied: None,
            collections: BTreeMap::new(),
            pending: IndexMap::new(),
            early: BTreeMap::new(),
            known_seq: Seq(0),
            fetch: None,
            pull: None,
            subscriptions: BTreeMap::new(),
            inspections: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_subscription: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: RuntimeStats::default(),
        };
        tab.probe(now, None);
        tab
    }

    /// This tab's id.
    pub fn tab_id(&self) -> TabId {
        self.me
    }

    /// The leader this tab follows, once one answered it.
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
    /// assert_eq!(tab.leader(), None);
    /// ```
    pub fn leader(&self) -> Option<TabId> {
        self.leader
    }

    /// The database this tab follows.
    pub fn db(&self) -> &DatabaseId {
        &self.db
    }

    /// Where the tab stands.
    pub fn status(&self) -> RuntimeStatus {
        RuntimeStatus {
            tab: self.me,
            leader: self.leader,
            term: self.term,
            applied: self.applied,
            pending: self.pending.len(),
            leader_heard_at: self.leader_heard_at,
            leader_info: self.leader_info.clone(),
        }
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> RuntimeStats {
        self.stats
    }

    /// Starts keeping `collection` in this tab: it hydrates from the leader and
    /// then follows every commit. Opening twice is harmless.
    pub fn open_collection(&mut self, now: Timestamp, collection: CollectionId) {
        self.open_collection_as(now, collection, CollectionMode::Rows);
    }

    /// Starts following `collection` in `mode` (see [`CollectionMode`]).
    /// Opening an open collection again does nothing, whatever the mode.
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let todos = CollectionId::new("todos").unwrap();
    /// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
    /// tab.open_collection_as(Timestamp(0), todos.clone(), CollectionMode::Stream);
    /// assert_eq!(tab.mode(&todos), Some(CollectionMode::Stream));
    /// ```
    pub fn open_collection_as(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        mode: CollectionMode,
    ) {
        if self.collections.contains_key(&collection) {
            return;
        }
        self.collections.insert(
            collection.clone(),
            Collection {
                mode,
                rows: Rows::default(),
                hydration: None,
                streamed: false,
                subsets: subsets::Subsets::default(),
            },
        );
        if mode == CollectionMode::OnDemand {
            self.finish_hydrations();
        } else {
            self.start_hydration(now, &collection);
        }
    }

    /// Stops following `collection` and forgets its rows. Pending writes to
    /// it stay pending and still settle.
    pub fn close_collection(&mut self, collection: &CollectionId) {
        self.collections.remove(collection);
        self.forget_subset_reads(collection);
    }

    /// How `collection` is open in this tab, if it is.
    pub fn mode(&self, collection: &CollectionId) -> Option<CollectionMode> {
        self.collections.get(collection).map(|c| c.mode)
    }

    /// Whether `collection` is open and current.
    pub fn is_ready(&self, collection: &CollectionId) -> bool {
        self.collections
            .get(collection)
            .is_some_and(|c| match c.mode {
                CollectionMode::OnDemand => c.subsets.ready,
                CollectionMode::Rows | CollectionMode::Stream => c.hydration.is_none(),
            })
    }

    /// The visible value of a row (optimistic changes included).
    pub fn get(&self, collection: &CollectionId, key: &Key) -> Option<SharedRow> {
        self.collections.get(collection)?.rows.visible(key)
    }

    /// Number of visible rows in a collection (0 if not open).
    pub fn len(&self, collection: &CollectionId) -> usize {
        self.collections
            .get(collection)
            .map_or(0, |c| c.rows.visible_len())
    }

    /// Whether a collection has no visible rows.
    pub fn is_empty(&self, collection: &CollectionId) -> bool {
        self.len(collection) == 0
    }

    /// The visible rows of a collection as a cheap snapshot (empty if not open).
    pub fn snapshot(&self, collection: &CollectionId) -> Snapshot {
        self.collections
            .get(collection)
            .map(|c| c.rows.snapshot())
            .unwrap_or_default()
    }

    /// The rows as committed, without this tab's pending changes.
    pub fn synced(&self, collection: &CollectionId) -> Snapshot {
        self.collections
            .get(collection)
            .map(|c| c.rows.synced.clone())
            .unwrap_or_default()
    }

    /// Feeds bytes received from another context. Malformed, foreign or
    /// oversized input is dropped and counted (see [`stats`](Self::stats)).
    pub fn handle_bytes(&mut self, now: Timestamp, bytes: &[u8]) {
        self.handle_bytes_sending_first(now, bytes, |_| {});
    }

    /// [`handle_bytes`](Self::handle_bytes), handing the runtime to `send`
    /// as soon as it has queued a request that need not wait for the rest
    /// of the work, so a driver can post it (drain
    /// [`poll_transmit`](Self::poll_transmit)) at once: for a hydration
    /// page, the request for the next page, before this page's rows are
    /// checked and applied, so the leader reads the next page while this
    /// tab applies this one. Called at most once, and not for most
    /// messages: the driver drains the rest after the call as usual.
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("todo", "user-1").unwrap();
    /// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
    /// let mut called = false;
    /// // Not a protocol message: dropped, nothing to send.
    /// tab.handle_bytes_sending_first(Timestamp(1), b"{}", |_| called = true);
    /// assert!(!called);
    /// ```
    pub fn handle_bytes_sending_first(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        send: impl FnOnce(&mut Self),
    ) {
        if let Ok(Some(message)) = intake(
            bytes,
            &self.db,
            &self.config.limits,
            &mut self.stats.dropped,
            self.me,
        ) {
            let mut send = Some(send);
            self.handle_sending_first(now, message, &mut |runtime| {
                if let Some(send) = send.take() {
                    send(runtime);
                }
            });
        }
    }

    /// Feeds one decoded message.
    pub fn handle(&mut self, now: Timestamp, message: Message) {
        self.handle_sending_first(now, message, &mut |_| {});
    }

    /// [`handle`](Self::handle), calling `send` where
    /// [`handle_bytes_sending_first`](Self::handle_bytes_sending_first) says.
    fn handle_sending_first(&mut self, now: Timestamp, message: Message, send: SendFirst<'_>) {
        if message.db != self.db || message.v != PROTOCOL_VERSION {
            self.stats.dropped.foreign += 1;
            return;
        }
        if !message.is_for(self.me) {
            return;
        }
        let from_leader = !matches!(
            message.body,
            Body::Join { .. }
                | Body::Envelope(_)
                | Body::PullSince { .. }
                | Body::PullTx { .. }
                | Body::Hydrate { .. }
                | Body::Query { .. }
                | Body::Describe { .. }
        );
        if !from_leader {
            return;
        }
        if !self.admit(now, &message) {
            return;
        }
        match message.body {
            Body::LeaderHello {
                position, leader, ..
            }
            | Body::Heartbeat { position, leader } => {
                self.leader_info = Some(leader);
                self.observe_position(now, position.seq)
            }
            Body::TxCommitted(tx) => self.receive_tx(now, tx),
            Body::Acknowledged {
                envelope_id,
                position,
                patched,
            } => self.receive_acknowledged(now, envelope_id, position, patched),
            Body::AlreadyCommitted {
                envelope_id,
                position,
            } => {
                if let Some(pending) = self.pending.get_mut(&envelope_id) {
                    pending.committed_at = Some(position);
                }
                self.observe_position(now, position.seq);
                self.settle_acknowledged();
            }
            Body::Rejected {
                envelope_id,
                rejection,
            } => self.reject(envelope_id, rejection),
            Body::PullPage {
                request,
                txs,
                position,
                truncated,
            } => self.receive_pull_page(now, request, txs, position, truncated),
            Body::HydratePage {
                request,
                collection,
                position,
                rows,
                more,
                total,
            } => {
                if let Some(rows) = self.receive_inspect_page(now, request, position, rows, more) {
                    let page = HydratePage {
                        request,
                        collection,
                        position,
                        rows,
                        more,
                        total,
                    };
                    self.receive_hydrate_page(now, page, send)
                }
            }
            Body::TxPart {
                request,
                seq,
                offset,
                changes,
                total,
                position,
                missing,
            } => self.receive_tx_part(now, request, seq, offset, changes, total, position, missing),
            Body::QueryResult {
                request,
                position,
                outcome,
            } => self.receive_query_result(now, request, position, outcome),
            Body::Description { request, report } => self.receive_description(request, report),
            Body::RequestFailed { request, error } => self.request_failed(request, error),
            Body::Join { .. }
            | Body::Envelope(_)
            | Body::PullSince { .. }
            | Body::PullTx { .. }
            | Body::Hydrate { .. }
            | Body::Query { .. }
            | Body::Describe { .. } => {}
        }
    }

    /// When the runtime next wants [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let resend = self.config.resend_after_ms;
        let pending = self
            .pending
            .values()
            .filter(|p| p.committed_at.is_none())
            .filter_map(|p| p.sent_at);
        let pulls = self.pull.map(|p| p.sent_at);
        let fetch = self.fetch.as_ref().map(|f| f.sent_at);
        let hydrations = self
            .collections
            .values()
            .filter_map(|c| c.hydration.as_ref()?.sent_at);
        let inspections = self.inspections.values().filter_map(|i| i.sent_at);
        let reads = self.reads.values().filter_map(|r| r.sent_at());
        pending
            .chain(pulls)
            .chain(fetch)
            .chain(hydrations)
            .chain(inspections)
            .chain(reads)
            .min()
            .map(|t| t.plus_millis(resend))
    }

    /// Re-sends what has waited too long for an answer.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.leader.is_none() {
            return;
        }
        let resend_after = self.config.resend_after_ms;
        let due = move |sent: Option<Timestamp>| sent.is_none_or(|t| now.since(t) >= resend_after);
        let overdue: Vec<EnvelopeId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.committed_at.is_none() && due(p.sent_at))
            .map(|(id, _)| *id)
            .collect();
        for id in overdue {
            self.resend(now, id);
        }
        if self.pull.is_some_and(|p| due(Some(p.sent_at))) {
            self.pull = None;
            self.request_pull(now);
        }
        if self.fetch.as_ref().is_some_and(|f| due(Some(f.sent_at))) {
            self.send_fetch(now);
        }
        let stalled: Vec<CollectionId> = self
            .collections
            .iter()
            .filter(|(_, c)| {
                c.hydration
                    .as_ref()
                    .is_some_and(|h| !h.pages_done && due(h.sent_at))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for collection in stalled {
            self.send_hydrate(now, &collection);
        }
        let waiting: Vec<InspectId> = self
            .inspections
            .iter()
            .filter(|(_, i)| due(i.sent_at))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.send_inspect(now, id);
        }
        let reads: Vec<ReadId> = self
            .reads
            .iter()
            .filter(|(_, r)| due(r.sent_at()))
            .map(|(id, _)| *id)
            .collect();
        for id in reads {
            self.send_read(now, id);
        }
    }

    /// The next message to send to the other contexts (leader or everyone).
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmits.pop_front()
    }

    /// The next event for the app.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn send(&mut self, body: Body) {
        self.send_to(None, body);
    }

    fn send_to(&mut self, to: Option<TabId>, body: Body) {
        self.transmits.push_back(Message {
            v: PROTOCOL_VERSION,
            db: self.db.clone(),
            term: self.term,
            from: self.me,
            to,
            body,
        });
    }

    /// A fresh request id. Random, so that an answer to a request someone
    /// else made in this tab's name (its id is public on the channel) is
    /// never taken for the answer to one of its own.
    fn next_request(&mut self) -> u64 {
        self.rng.next_u64().max(1)
    }
}
