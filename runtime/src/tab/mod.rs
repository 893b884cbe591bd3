//! [`PersistedCollectionRuntime`]: the state machine every tab runs.
//!
//! It holds the tab's in-memory collections, overlays pending envelopes
//! optimistically, applies the leader's `TxCommitted` strictly in seq order,
//! fills gaps with `PullSince`, hydrates collections page by page, and re-sends
//! unacknowledged envelopes to a new leader. It does no I/O: drivers feed it
//! messages and time and drain [`poll_transmit`](PersistedCollectionRuntime::poll_transmit)
//! and [`poll_event`](PersistedCollectionRuntime::poll_event).

mod collection;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;

pub use collection::Snapshot;
use collection::{differs, Rows};

use crate::error::{InvalidInput, MutationError};
use crate::ids::{
    CollectionId, DatabaseId, EnvelopeId, Seq, StreamPosition, TabId, Term, Timestamp,
};
use crate::intake::{intake, DropCounts};
use crate::key::Key;
use crate::protocol::{
    check_ops, Body, Envelope, KeyedRow, Limits, Message, Rejection, TxCommitted, PROTOCOL_VERSION,
};
use crate::rng::SplitMix64;
use crate::row::{Change, ChangeEvent, Op, Row, SharedRow};

/// Settings of a tab's runtime.
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
    /// Limits applied to messages received and to local mutations.
    pub limits: Limits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            resend_after_ms: 1_000,
            hydrate_page_rows: 5_000,
            pull_page_txs: 1_000,
            limits: Limits::default(),
        }
    }
}

/// Handle of one subscription made with [`PersistedCollectionRuntime::subscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(pub u64);

/// Handle of one read made with [`PersistedCollectionRuntime::inspect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InspectId(pub u64);

/// Something the driver should tell the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Visible rows of a subscribed collection changed.
    Changes {
        /// The subscription to notify.
        subscription: SubscriptionId,
        /// Its collection.
        collection: CollectionId,
        /// What changed, in order.
        changes: Arc<[ChangeEvent]>,
    },
    /// Hydration progress of a collection.
    Progress {
        /// The collection.
        collection: CollectionId,
        /// Rows received so far.
        rows_loaded: usize,
    },
    /// A collection finished hydrating and is current.
    Ready {
        /// The collection.
        collection: CollectionId,
    },
    /// One of this tab's envelopes is durable in the database.
    Committed {
        /// The envelope.
        envelope_id: EnvelopeId,
        /// Where it was committed.
        position: StreamPosition,
    },
    /// One of this tab's envelopes was refused and rolled back.
    Rejected {
        /// The envelope.
        envelope_id: EnvelopeId,
        /// Why.
        rejection: Rejection,
    },
    /// A (new) leader serves the database.
    LeaderChanged {
        /// The leader's tab.
        leader: TabId,
        /// Its term.
        term: Term,
    },
    /// A read made with [`PersistedCollectionRuntime::inspect`] finished.
    Inspected {
        /// The read.
        id: InspectId,
        /// Its collection.
        collection: CollectionId,
        /// Every row the database holds, in the store's key order.
        rows: Vec<KeyedRow>,
        /// The leader's position when the last page was read.
        position: StreamPosition,
    },
}

/// Counters a tab keeps for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Messages dropped, by reason.
    pub dropped: DropCounts,
    /// `TxCommitted` already applied (duplicates, own echo after a pull).
    pub duplicate_txs: u64,
    /// `PullSince` requests sent.
    pub pulls: u64,
    /// Full reloads after the change log no longer reached back far enough.
    pub reloads: u64,
    /// Envelopes re-sent (timeout or new leader).
    pub resends: u64,
}

/// Where a tab stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// This tab.
    pub tab: TabId,
    /// The leader it follows, if it knows one.
    pub leader: Option<TabId>,
    /// The highest term it has seen.
    pub term: Term,
    /// The last applied seq, once known.
    pub applied: Option<Seq>,
    /// Envelopes not yet acknowledged.
    pub pending: usize,
    /// When the leader was last heard from (any message of its term).
    pub leader_heard_at: Option<Timestamp>,
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
    before: Snapshot,
}

#[derive(Clone, Debug)]
struct Collection {
    rows: Rows,
    hydration: Option<Hydration>,
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
    sent_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug)]
struct PullRequest {
    id: u64,
    sent_at: Timestamp,
}

/// The per-tab collection runtime. See the module docs.
///
/// ```
/// use lockstep::{PersistedCollectionRuntime, RuntimeConfig, DatabaseId, TabId, Timestamp, protocol::Body};
/// let db = DatabaseId::new("app", "user-1").unwrap();
/// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
/// // A new tab first asks whoever leads to introduce itself.
/// assert!(matches!(tab.poll_transmit().unwrap().body, Body::Join));
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
    applied: Option<Seq>,
    collections: BTreeMap<CollectionId, Collection>,
    pending: IndexMap<EnvelopeId, Pending>,
    early: BTreeMap<Seq, TxCommitted>,
    /// The highest seq the leader has announced or sent.
    known_seq: Seq,
    fetch: Option<Fetch>,
    pull: Option<PullRequest>,
    next_request: u64,
    subscriptions: BTreeMap<SubscriptionId, CollectionId>,
    inspections: BTreeMap<InspectId, Inspection>,
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
            applied: None,
            collections: BTreeMap::new(),
            pending: IndexMap::new(),
            early: BTreeMap::new(),
            known_seq: Seq(0),
            fetch: None,
            pull: None,
            next_request: 1,
            subscriptions: BTreeMap::new(),
            inspections: BTreeMap::new(),
            next_subscription: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: RuntimeStats::default(),
        };
        tab.send(Body::Join);
        tab
    }

    /// This tab's id.
    pub fn tab_id(&self) -> TabId {
        self.me
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
        }
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> RuntimeStats {
        self.stats
    }

    /// Starts keeping `collection` in this tab: it hydrates from the leader and
    /// then follows every commit. Opening twice is harmless.
    pub fn open_collection(&mut self, now: Timestamp, collection: CollectionId) {
        if self.collections.contains_key(&collection) {
            return;
        }
        self.collections.insert(
            collection.clone(),
            Collection {
                rows: Rows::default(),
                hydration: None,
            },
        );
        self.start_hydration(now, &collection);
    }

    /// Whether `collection` is open and current.
    pub fn is_ready(&self, collection: &CollectionId) -> bool {
        self.collections
            .get(collection)
            .is_some_and(|c| c.hydration.is_none())
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

    /// Subscribes to the visible changes of a collection. With `include_current`,
    /// the first event lists every current row as an insert (once ready).
    pub fn subscribe(&mut self, collection: CollectionId, include_current: bool) -> SubscriptionId {
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        if include_current && self.is_ready(&collection) {
            let changes: Vec<ChangeEvent> = self
                .snapshot(&collection)
                .into_iter()
                .map(|(key, row)| ChangeEvent {
                    key,
                    before: None,
                    after: Some(row),
                })
                .collect();
            if !changes.is_empty() {
                self.events.push_back(Event::Changes {
                    subscription: id,
                    collection: collection.clone(),
                    changes: changes.into(),
                });
            }
        }
        self.subscriptions.insert(id, collection);
        id
    }

    /// Ends a subscription.
    pub fn unsubscribe(&mut self, subscription: SubscriptionId) {
        self.subscriptions.remove(&subscription);
    }

    /// Reads a collection straight from the live database through the leader
    /// (page by page), independent of what this tab holds; the rows arrive as
    /// [`Event::Inspected`]. Any tab may inspect any collection, open or not.
    pub fn inspect(&mut self, now: Timestamp, collection: CollectionId) -> InspectId {
        let id = InspectId(self.next_request());
        self.inspections.insert(
            id,
            Inspection {
                collection,
                request: 0,
                cursor: None,
                rows: Vec::new(),
                sent_at: None,
            },
        );
        self.send_inspect(now, id);
        id
    }

    fn send_inspect(&mut self, now: Timestamp, id: InspectId) {
        if self.leader.is_none() {
            return;
        }
        let request = self.next_request();
        let limit = self.config.hydrate_page_rows;
        let Some(inspection) = self.inspections.get_mut(&id) else {
            return;
        };
        inspection.request = request;
        inspection.sent_at = Some(now);
        let (collection, after) = (inspection.collection.clone(), inspection.cursor.clone());
        self.send(Body::Hydrate {
            request,
            collection,
            after,
            limit,
        });
    }

    /// Takes a page that answers an inspection; returns it back if it does not.
    fn receive_inspect_page(
        &mut self,
        now: Timestamp,
        request: u64,
        position: StreamPosition,
        rows: Vec<KeyedRow>,
        more: bool,
    ) -> Option<Vec<KeyedRow>> {
        let Some((&id, inspection)) = self
            .inspections
            .iter_mut()
            .find(|(_, i)| i.request == request && i.sent_at.is_some())
        else {
            return Some(rows);
        };
        inspection.cursor = rows
            .last()
            .map(|r| r.key.clone())
            .or(inspection.cursor.take());
        inspection.rows.extend(rows);
        inspection.sent_at = None;
        if more {
            self.send_inspect(now, id);
        } else if let Some(done) = self.inspections.remove(&id) {
            self.events.push_back(Event::Inspected {
                id,
                collection: done.collection,
                rows: done.rows,
                position,
            });
        }
        None
    }

    /// Applies `ops` optimistically and queues them as one envelope for the
    /// leader. Checked against the visible view first; nothing changes on error.
    pub fn mutate(&mut self, now: Timestamp, ops: Vec<Op>) -> Result<EnvelopeId, MutationError> {
        if ops.is_empty() {
            return Err(MutationError::Empty);
        }
        check_ops(&ops, &self.config.limits)?;
        let mut scratch: BTreeMap<(&CollectionId, &Key), bool> = BTreeMap::new();
        for op in &ops {
            let collection = self
                .collections
                .get(op.collection())
                .ok_or_else(|| MutationError::CollectionNotOpen(op.collection().clone()))?;
            if collection.hydration.is_some() {
                return Err(MutationError::NotReady(op.collection().clone()));
            }
            let exists = *scratch
                .entry((op.collection(), op.key()))
                .or_insert_with(|| collection.rows.visible(op.key()).is_some());
            let (collection_id, key) = (op.collection().clone(), op.key().clone());
            match op {
                Op::Insert { .. } if exists => {
                    return Err(MutationError::KeyExists {
                        collection: collection_id,
                        key,
                    })
                }
                Op::Update { .. } | Op::Delete { .. } if !exists => {
                    return Err(MutationError::KeyMissing {
                        collection: collection_id,
                        key,
                    })
                }
                _ => {}
            }
            scratch.insert((op.collection(), op.key()), op.value().is_some());
        }
        let envelope_id = EnvelopeId::new_v7(now.0, self.rng.bytes10());
        if self.pending.contains_key(&envelope_id) {
            return Err(InvalidInput::DuplicateEnvelope(envelope_id).into());
        }
        let mut touched = Touched::default();
        for op in &ops {
            let collection = self
                .collections
                .get_mut(op.collection())
                .expect("checked above");
            touched.before(op.collection(), op.key(), &collection.rows);
            collection.rows.push_optimistic(
                op.key().clone(),
                envelope_id,
                op.value().cloned().map(Arc::new),
            );
        }
        let envelope = Envelope {
            envelope_id,
            origin: self.me,
            ops,
        };
        let sent_at = self.leader.map(|_| now);
        if sent_at.is_some() {
            self.send(Body::Envelope(envelope.clone()));
        }
        self.pending.insert(
            envelope_id,
            Pending {
                envelope,
                sent_at,
                committed_at: None,
            },
        );
        self.emit_changes(touched);
        Ok(envelope_id)
    }

    /// Inserts one row. See [`mutate`](Self::mutate).
    pub fn insert(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
        value: Row,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(
            now,
            vec![Op::Insert {
                collection,
                key,
                value,
            }],
        )
    }

    /// Replaces one row. See [`mutate`](Self::mutate).
    pub fn update(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
        value: Row,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(
            now,
            vec![Op::Update {
                collection,
                key,
                value,
            }],
        )
    }

    /// Deletes one row. See [`mutate`](Self::mutate).
    pub fn delete(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(now, vec![Op::Delete { collection, key }])
    }

    /// Feeds bytes received from another context. Malformed, foreign or
    /// oversized input is dropped and counted (see [`stats`](Self::stats)).
    pub fn handle_bytes(&mut self, now: Timestamp, bytes: &[u8]) {
        if let Ok(message) = intake(
            bytes,
            &self.db,
            &self.config.limits,
            &mut self.stats.dropped,
        ) {
            self.handle(now, message);
        }
    }

    /// Feeds one decoded message.
    pub fn handle(&mut self, now: Timestamp, message: Message) {
        if message.db != self.db || message.v != PROTOCOL_VERSION {
            self.stats.dropped.foreign += 1;
            return;
        }
        if !message.is_for(self.me) {
            return;
        }
        let from_leader = !matches!(
            message.body,
            Body::Join
                | Body::Envelope(_)
                | Body::PullSince { .. }
                | Body::PullTx { .. }
                | Body::Hydrate { .. }
        );
        if !from_leader {
            return;
        }
        if !self.observe_leader(now, message.term, message.from) {
            return;
        }
        match message.body {
            Body::LeaderHello { position } | Body::Heartbeat { position } => {
                self.observe_position(now, position.seq)
            }
            Body::TxCommitted(tx) => self.receive_tx(now, tx),
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
            } => {
                if let Some(rows) = self.receive_inspect_page(now, request, position, rows, more) {
                    self.receive_hydrate_page(now, request, collection, position, rows, more)
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
            Body::Join
            | Body::Envelope(_)
            | Body::PullSince { .. }
            | Body::PullTx { .. }
            | Body::Hydrate { .. } => {}
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
        pending
            .chain(pulls)
            .chain(fetch)
            .chain(hydrations)
            .chain(inspections)
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
        self.transmits.push_back(Message {
            v: PROTOCOL_VERSION,
            db: self.db.clone(),
            term: self.term,
            from: self.me,
            to: None,
            body,
        });
    }

    /// Accepts a leader message's term and sender; on a new leader, re-sends
    /// what is outstanding. Returns false for a stale leader.
    fn observe_leader(&mut self, now: Timestamp, term: Term, from: TabId) -> bool {
        if term < self.term || (term == self.term && self.leader.is_some_and(|l| l != from)) {
            self.stats.dropped.stale_term += 1;
            return false;
        }
        if term > self.term || self.leader.is_none() {
            self.term = term;
            self.leader = Some(from);
            self.events
                .push_back(Event::LeaderChanged { leader: from, term });
            let unsent: Vec<EnvelopeId> = self
                .pending
                .iter()
                .filter(|(_, p)| p.committed_at.is_none())
                .map(|(id, _)| *id)
                .collect();
            for id in unsent {
                self.resend(now, id);
            }
            if self.pull.take().is_some() {
                self.request_pull(now);
            }
            if self.fetch.is_some() {
                self.send_fetch(now);
            }
            let hydrating: Vec<CollectionId> = self
                .collections
                .iter()
                .filter(|(_, c)| c.hydration.as_ref().is_some_and(|h| !h.pages_done))
                .map(|(id, _)| id.clone())
                .collect();
            for collection in hydrating {
                self.send_hydrate(now, &collection);
            }
            let inspections: Vec<InspectId> = self.inspections.keys().copied().collect();
            for id in inspections {
                self.send_inspect(now, id);
            }
        }
        self.leader_heard_at = Some(now);
        true
    }

    fn resend(&mut self, now: Timestamp, id: EnvelopeId) {
        if let Some(pending) = self.pending.get_mut(&id) {
            if pending.sent_at.is_some() {
                self.stats.resends += 1;
            }
            pending.sent_at = Some(now);
            let envelope = pending.envelope.clone();
            self.send(Body::Envelope(envelope));
        }
    }

    /// Learns the leader's position; starts a pull if this tab is behind.
    fn observe_position(&mut self, now: Timestamp, seq: Seq) {
        self.known_seq = self.known_seq.max(seq);
        match self.applied {
            None => {
                self.applied = Some(seq);
                self.early = self.early.split_off(&seq.next());
                self.advance(now);
            }
            Some(applied) if seq > applied => self.request_pull(now),
            Some(_) => {}
        }
        self.finish_hydrations();
    }

    fn receive_tx(&mut self, now: Timestamp, tx: TxCommitted) {
        self.known_seq = self.known_seq.max(tx.seq);
        if self.applied.is_some_and(|applied| tx.seq <= applied) {
            self.stats.duplicate_txs += 1;
            return;
        }
        // A full copy (from a pull) replaces a header; a header never replaces a full copy.
        if !tx.requires_pull || !self.early.contains_key(&tx.seq) {
            self.early.insert(tx.seq, tx);
        }
        self.advance(now);
    }

    /// Applies buffered transactions strictly in seq order: starts a fetch for
    /// a `requires_pull` header, a pull for a gap, and waits for either.
    fn advance(&mut self, now: Timestamp) {
        while let Some(applied) = self.applied {
            if self.fetch.is_some() {
                break;
            }
            let Some(entry) = self.early.first_entry() else {
                break;
            };
            if *entry.key() <= applied {
                entry.remove();
                self.stats.duplicate_txs += 1;
            } else if *entry.key() != applied.next() {
                self.request_pull(now);
                break;
            } else {
                let tx = entry.remove();
                if tx.requires_pull {
                    let request = self.next_request();
                    self.fetch = Some(Fetch {
                        request,
                        header: tx,
                        changes: Vec::new(),
                        sent_at: now,
                    });
                    self.send_fetch(now);
                    break;
                }
                self.apply_tx(tx);
            }
        }
        if self.fetch.is_none() && self.applied.is_some_and(|applied| applied < self.known_seq) {
            self.request_pull(now);
        }
        self.finish_hydrations();
    }

    /// Asks the leader for the next part of the transaction being fetched.
    fn send_fetch(&mut self, now: Timestamp) {
        let request = self.next_request();
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        fetch.request = request;
        fetch.sent_at = now;
        let (seq, offset) = (fetch.header.seq, fetch.changes.len() as u32);
        self.send(Body::PullTx {
            request,
            seq,
            offset,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn receive_tx_part(
        &mut self,
        now: Timestamp,
        request: u64,
        seq: Seq,
        offset: u32,
        changes: Vec<Change>,
        total: u32,
        position: StreamPosition,
        missing: bool,
    ) {
        let Some(fetch) = self
            .fetch
            .as_mut()
            .filter(|f| f.request == request && f.header.seq == seq)
        else {
            return;
        };
        if missing {
            self.fetch = None;
            self.reload_all(now, position.seq);
            return;
        }
        if offset as usize != fetch.changes.len()
            || (changes.is_empty() && fetch.changes.len() < total as usize)
        {
            return;
        }
        fetch.changes.extend(changes);
        if fetch.changes.len() < total as usize {
            self.send_fetch(now);
            return;
        }
        let fetch = self.fetch.take().expect("checked above");
        self.apply_tx(TxCommitted {
            changes: fetch.changes,
            requires_pull: false,
            ..fetch.header
        });
        self.advance(now);
    }

    /// Applies the next transaction in seq order.
    fn apply_tx(&mut self, tx: TxCommitted) {
        let mut touched = Touched::default();
        for change in tx.changes {
            if let Some(collection) = self.collections.get_mut(&change.collection) {
                touched.before(&change.collection, &change.key, &collection.rows);
                collection
                    .rows
                    .set_synced(change.key, change.value.map(Arc::new));
            }
        }
        self.applied = Some(tx.seq);
        if let Some(envelope_id) = tx.envelope_id {
            if let Some(pending) = self.pending.shift_remove(&envelope_id) {
                self.drop_overlay(&pending.envelope, &mut touched);
                self.events.push_back(Event::Committed {
                    envelope_id,
                    position: StreamPosition {
                        term: tx.term,
                        seq: tx.seq,
                    },
                });
            }
        }
        self.emit_changes(touched);
        self.settle_acknowledged();
    }

    /// Removes pending envelopes known to be committed at or before `applied`.
    fn settle_acknowledged(&mut self) {
        let Some(applied) = self.applied else { return };
        let done: Vec<EnvelopeId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.committed_at.is_some_and(|c| c.seq <= applied))
            .map(|(id, _)| *id)
            .collect();
        let mut touched = Touched::default();
        for id in done {
            let pending = self.pending.shift_remove(&id).expect("listed above");
            self.drop_overlay(&pending.envelope, &mut touched);
            let position = pending.committed_at.unwrap_or_default();
            self.events.push_back(Event::Committed {
                envelope_id: id,
                position,
            });
        }
        self.emit_changes(touched);
    }

    fn reject(&mut self, envelope_id: EnvelopeId, rejection: Rejection) {
        let Some(pending) = self.pending.shift_remove(&envelope_id) else {
            return;
        };
        let mut touched = Touched::default();
        self.drop_overlay(&pending.envelope, &mut touched);
        self.emit_changes(touched);
        self.events.push_back(Event::Rejected {
            envelope_id,
            rejection,
        });
    }

    fn drop_overlay(&mut self, envelope: &Envelope, touched: &mut Touched) {
        for op in &envelope.ops {
            if let Some(collection) = self.collections.get_mut(op.collection()) {
                touched.before(op.collection(), op.key(), &collection.rows);
                collection
                    .rows
                    .drop_optimistic(op.key(), envelope.envelope_id);
            }
        }
    }

    /// Queues change events for the keys in `touched` whose visible value changed.
    fn emit_changes(&mut self, touched: Touched) {
        for (collection_id, keys) in touched.0 {
            let Some(collection) = self.collections.get(&collection_id) else {
                continue;
            };
            if collection.hydration.is_some() {
                continue;
            }
            let changes: Vec<ChangeEvent> = keys
                .into_iter()
                .filter_map(|(key, before)| {
                    let after = collection.rows.visible(&key);
                    differs(&before, &after).then_some(ChangeEvent { key, before, after })
                })
                .collect();
            self.notify(&collection_id, changes);
        }
    }

    fn notify(&mut self, collection: &CollectionId, changes: Vec<ChangeEvent>) {
        if changes.is_empty() {
            return;
        }
        let changes: Arc<[ChangeEvent]> = changes.into();
        for (subscription, subscribed) in &self.subscriptions {
            if subscribed == collection {
                self.events.push_back(Event::Changes {
                    subscription: *subscription,
                    collection: collection.clone(),
                    changes: changes.clone(),
                });
            }
        }
    }

    fn request_pull(&mut self, now: Timestamp) {
        let (Some(applied), Some(_)) = (self.applied, self.leader) else {
            return;
        };
        // One request at a time; a fetch in progress comes first, then `advance` resumes.
        if self.pull.is_some() || self.fetch.is_some() {
            return;
        }
        let id = self.next_request();
        self.pull = Some(PullRequest { id, sent_at: now });
        self.stats.pulls += 1;
        self.send(Body::PullSince {
            request: id,
            after: applied,
            limit: self.config.pull_page_txs,
        });
    }

    fn receive_pull_page(
        &mut self,
        now: Timestamp,
        request: u64,
        txs: Vec<TxCommitted>,
        position: StreamPosition,
        truncated: bool,
    ) {
        if self.pull.is_none_or(|p| p.id != request) {
            return;
        }
        self.pull = None;
        // The leader's answer is authoritative: a higher seq seen elsewhere
        // (a forged message) must not keep this tab pulling.
        self.known_seq = position.seq;
        if truncated {
            self.reload_all(now, position.seq);
            return;
        }
        let progressed = txs
            .iter()
            .any(|tx| self.applied.is_none_or(|applied| tx.seq > applied));
        for tx in txs {
            self.receive_tx(now, tx);
        }
        if progressed {
            self.observe_position(now, position.seq);
        }
    }

    /// The change log no longer reaches back to this tab's position: jump to
    /// the leader's position and re-hydrate every open collection.
    fn reload_all(&mut self, now: Timestamp, leader_seq: Seq) {
        self.stats.reloads += 1;
        self.applied = Some(leader_seq);
        self.early = self.early.split_off(&leader_seq.next());
        self.fetch = None;
        let open: Vec<CollectionId> = self.collections.keys().cloned().collect();
        for collection in open {
            self.start_hydration(now, &collection);
        }
        self.advance(now);
    }

    fn start_hydration(&mut self, now: Timestamp, collection: &CollectionId) {
        let request = self.next_request();
        let Some(c) = self.collections.get_mut(collection) else {
            return;
        };
        let before = match &c.hydration {
            Some(h) => h.before.clone(),
            None => c.rows.snapshot(),
        };
        c.hydration = Some(Hydration {
            request,
            sent_at: None,
            cursor: None,
            cleared: false,
            pages_done: false,
            upto: Seq(0),
            loaded: 0,
            before,
        });
        self.send_hydrate(now, collection);
    }

    fn send_hydrate(&mut self, now: Timestamp, collection: &CollectionId) {
        if self.leader.is_none() {
            return;
        }
        let request = self.next_request();
        let limit = self.config.hydrate_page_rows;
        let Some(h) = self
            .collections
            .get_mut(collection)
            .and_then(|c| c.hydration.as_mut())
        else {
            return;
        };
        h.request = request;
        h.sent_at = Some(now);
        let after = h.cursor.clone();
        self.send(Body::Hydrate {
            request,
            collection: collection.clone(),
            after,
            limit,
        });
    }

    fn receive_hydrate_page(
        &mut self,
        now: Timestamp,
        request: u64,
        collection_id: CollectionId,
        position: StreamPosition,
        rows: Vec<KeyedRow>,
        more: bool,
    ) {
        let Some(collection) = self.collections.get_mut(&collection_id) else {
            return;
        };
        let Some(h) = collection
            .hydration
            .as_mut()
            .filter(|h| h.request == request && !h.pages_done)
        else {
            return;
        };
        if !h.cleared {
            collection.rows.synced = Snapshot::new();
            h.cleared = true;
        }
        h.upto = h.upto.max(position.seq);
        h.loaded += rows.len();
        if let Some(last) = rows.last() {
            h.cursor = Some(last.key.clone());
        }
        for row in rows {
            collection.rows.synced.insert(row.key, Arc::new(row.value));
        }
        let loaded = h.loaded;
        h.sent_at = None;
        if more {
            self.events.push_back(Event::Progress {
                collection: collection_id.clone(),
                rows_loaded: loaded,
            });
            self.send_hydrate(now, &collection_id);
        } else {
            h.pages_done = true;
            self.events.push_back(Event::Progress {
                collection: collection_id,
                rows_loaded: loaded,
            });
        }
        self.observe_position(now, position.seq);
    }

    /// Marks collections ready whose pages are all in and whose rows are at
    /// least as recent as the newest page.
    fn finish_hydrations(&mut self) {
        let Some(applied) = self.applied else { return };
        let done: Vec<CollectionId> = self
            .collections
            .iter()
            .filter(|(_, c)| {
                c.hydration
                    .as_ref()
                    .is_some_and(|h| h.pages_done && applied >= h.upto)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for collection_id in done {
            let collection = self
                .collections
                .get_mut(&collection_id)
                .expect("listed above");
            let hydration = collection.hydration.take().expect("listed above");
            let now = collection.rows.snapshot();
            let changes: Vec<ChangeEvent> = hydration
                .before
                .diff(&now)
                .filter_map(|item| match item {
                    im::ordmap::DiffItem::Add(k, v) => Some(ChangeEvent {
                        key: k.clone(),
                        before: None,
                        after: Some(v.clone()),
                    }),
                    im::ordmap::DiffItem::Remove(k, v) => Some(ChangeEvent {
                        key: k.clone(),
                        before: Some(v.clone()),
                        after: None,
                    }),
                    im::ordmap::DiffItem::Update {
                        old: (k, a),
                        new: (_, b),
                    } => (a != b).then(|| ChangeEvent {
                        key: k.clone(),
                        before: Some(a.clone()),
                        after: Some(b.clone()),
                    }),
                })
                .collect();
            self.events.push_back(Event::Ready {
                collection: collection_id.clone(),
            });
            self.notify(&collection_id, changes);
        }
    }

    fn next_request(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}

/// Visible values of keys before a change, grouped by collection, so events
/// can report `before` and `after` once per key.
#[derive(Default)]
struct Touched(BTreeMap<CollectionId, IndexMap<Key, Option<SharedRow>>>);

impl Touched {
    fn before(&mut self, collection: &CollectionId, key: &Key, rows: &Rows) {
        let keys = self.0.entry(collection.clone()).or_default();
        if !keys.contains_key(key) {
            keys.insert(key.clone(), rows.visible(key));
        }
    }
}
