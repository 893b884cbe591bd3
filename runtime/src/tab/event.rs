//! What a tab reports: the events it hands its driver, the handles of
//! subscriptions and reads, its status and its counters.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::ids::{CollectionId, EnvelopeId, Seq, StreamPosition, TabId, Term, Timestamp};
use crate::intake::DropCounts;
use crate::key::Key;
use crate::protocol::{KeyedRow, LeaderInfo, PageRow, Rejection};
use crate::query::{DatabaseReport, QueryError, QueryRows};
use crate::row::{ChangeEvent, SharedRow};

/// Handle of one subscription made with [`PersistedCollectionRuntime::subscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(pub u64);

/// Handle of one read made with [`PersistedCollectionRuntime::inspect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InspectId(pub u64);

/// Handle of one query or description asked with
/// [`PersistedCollectionRuntime::query`] or [`PersistedCollectionRuntime::describe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadId(pub u64);

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
    /// A query made with [`PersistedCollectionRuntime::query`] was answered.
    Queried {
        /// The query.
        id: ReadId,
        /// Its rows, or why there are none.
        outcome: Result<QueryRows, QueryError>,
    },
    /// A description asked with [`PersistedCollectionRuntime::describe`] arrived.
    Described {
        /// The request.
        id: ReadId,
        /// The leader's description of the database, or why the leader's
        /// store could not give one.
        outcome: Result<DatabaseReport, String>,
    },
    /// Committed rows of a [`CollectionMode::Stream`](super::CollectionMode)
    /// collection, to apply in the order they come.
    Synced {
        /// The collection.
        collection: CollectionId,
        /// What to apply.
        batch: SyncBatch,
    },
    /// A subset asked for with
    /// [`PersistedCollectionRuntime::load_subset`](super::PersistedCollectionRuntime::load_subset)
    /// is loaded: its rows went out as [`Event::Synced`] before this event,
    /// and later commits keep coming. After a reload a loaded subset is read
    /// again, without a second event.
    SubsetLoaded {
        /// The collection.
        collection: CollectionId,
        /// The subset.
        id: crate::SubsetId,
        /// How many rows were delivered, or why the load failed (the subset
        /// is then forgotten).
        outcome: Result<usize, QueryError>,
    },
    /// Hydration progress of a collection.
    Progress {
        /// The collection.
        collection: CollectionId,
        /// Rows received so far.
        rows_loaded: usize,
        /// The rows the collection held when the load began, once the
        /// leader said (never below `rows_loaded`).
        rows_total: Option<usize>,
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
        /// Every row the database holds, in the store's key order (the rows
        /// read so far when `error` is set).
        rows: Vec<KeyedRow>,
        /// The leader's position when the last page was read.
        position: StreamPosition,
        /// The store error that ended the read early (the leader could not
        /// read the database); the status's `leader_info` counts such errors.
        error: Option<String>,
    },
}

/// Committed rows of a stream-mode collection, for the app's store.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncBatch {
    /// A page of rows as the database holds them, in key order: insert each,
    /// or replace the row held under its key.
    Rows {
        /// The rows, as the leader sent them: usually each value's JSON text,
        /// for the app to parse where it keeps rows
        /// ([`PageRow::into_keyed`](crate::protocol::PageRow::into_keyed)
        /// for Rust, or serialized as they are to JavaScript).
        rows: Vec<PageRow>,
        /// The on-demand subset whose answer the rows are (`None` for a
        /// hydration page), so an app can tell which rows a load brought.
        subset: Option<crate::SubsetId>,
    },
    /// What one committed transaction did to the collection: the full row
    /// after it, or `None` for a deleted row.
    Commit {
        /// The transaction's position.
        position: StreamPosition,
        /// Keys and their rows after the transaction.
        changes: Vec<(Key, Option<SharedRow>)>,
    },
    /// A reload is complete (this tab fell behind the change log, or the
    /// database is a new incarnation): forget every row whose key is not in
    /// `keys`. Its pages and commits were upserted in place before this, so
    /// no row that still exists ever went missing.
    Retain {
        /// The keys that exist.
        keys: BTreeSet<Key>,
    },
}

/// One of this tab's writes not yet confirmed, for inspectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingWrite {
    /// Its envelope.
    pub envelope_id: EnvelopeId,
    /// The collections it writes, in first-op order.
    pub collections: Vec<CollectionId>,
    /// How many ops it holds.
    pub ops: usize,
    /// Whether it was sent to a leader (it waits for one otherwise).
    pub sent: bool,
    /// Where the leader said it was committed, while this tab catches up.
    pub committed_at: Option<StreamPosition>,
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
    /// Leaders followed that serve another incarnation of the database (an
    /// in-memory database lost with its tab): each time, every collection was
    /// reloaded and every pending envelope re-sent.
    pub epoch_changes: u64,
}

/// Where a tab stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// This tab.
    pub tab: TabId,
    /// The leader it follows, if it knows one.
    pub leader: Option<TabId>,
    /// The term of the leader it follows.
    pub term: Term,
    /// The last applied seq, once known.
    pub applied: Option<Seq>,
    /// Envelopes not yet acknowledged.
    pub pending: usize,
    /// When the leader was last heard from (any message of its term).
    pub leader_heard_at: Option<Timestamp>,
    /// What the leader last said about itself (database epoch, storage, store errors).
    pub leader_info: Option<LeaderInfo>,
}
