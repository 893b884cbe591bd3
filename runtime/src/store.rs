//! The persistence interface the coordinator drives.
//!
//! A store is deliberately dumb: it reads and writes rows and bookkeeping inside
//! one transaction. The rules (term fencing, dedup, insert/update/delete
//! preconditions, seq assignment) live once, in the [`Coordinator`](crate::Coordinator).
//! Implementations: [`MemoryStore`](crate::MemoryStore) here, `SqliteStore` in
//! `lockstep-sqlite`.

use crate::held::HeldRow;
use crate::ids::{CollectionId, DatabaseEpoch, EnvelopeId, Seq, StreamPosition, Term};
use crate::key::Key;
use crate::protocol::{PageRow, Storage, TxCommitted};
use crate::query::{CollectionReport, QueryError, QueryLimits, QueryRows};
use crate::row::{Op, Row};

/// Why the store failed. The transaction in progress is rolled back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The disk or quota is full.
    #[error("storage is full: {0}; free space, then retry")]
    Full(String),
    /// The file belongs to another database (app or scope).
    #[error("the file holds database {found}, not {expected}; each scope needs its own file")]
    WrongDatabase {
        /// The database asked for.
        expected: String,
        /// The database the file holds.
        found: String,
    },
    /// The file was written by a newer schema version.
    #[error("the database schema is version {found}, newer than this build supports ({supported}); upgrade the app")]
    NewerSchema {
        /// Version in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// Data in the store is not what Lockstep wrote (edited by hand, corrupted).
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),
    /// Any other failure of the underlying database.
    #[error("storage failure: {0}")]
    Other(String),
}

/// The persisted leadership and stream state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StoreMeta {
    /// The term of the current (or last) leader.
    pub term: Term,
    /// The last committed transaction.
    pub position: StreamPosition,
    /// The incarnation of the database, fixed when it was created.
    pub epoch: DatabaseEpoch,
}

/// One page of a collection's rows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RowPage {
    /// Valid rows in the store's key order (a store may hand over its stored
    /// JSON text, see [`PageRow::stored`]).
    pub rows: Vec<PageRow>,
    /// Whether rows may follow the last one returned.
    pub more: bool,
    /// Rows skipped because other code wrote an invalid key (one not in its
    /// canonical JSON text, see [`Key::to_json`]) or value there.
    pub skipped_invalid: usize,
    /// Why the last skipped row was invalid: its collection, key and what to do.
    pub last_invalid: Option<String>,
}

/// The keys other code wrote since the last drain (see [`StoreTx::drain_external_writes`]).
///
/// ```
/// use lockstep::{CollectionId, Key, MemoryStore, Store, StoreTx};
/// let mut store = MemoryStore::new();
/// let todos = CollectionId::new("todos").unwrap();
/// store.write_external(&todos, &Key::from("a"), None);
/// let drained = store.begin().unwrap().drain_external_writes().unwrap();
/// assert_eq!(drained.keys, vec![(todos, Key::from("a"))]);
/// assert_eq!(drained.skipped_invalid, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Drained {
    /// Keys written, in the order they were written (repeats possible).
    pub keys: Vec<(CollectionId, Key)>,
    /// Writes whose key was invalid (not a key, or not in its canonical JSON
    /// text): such a row is invisible to Lockstep and nothing is broadcast.
    pub skipped_invalid: usize,
    /// Why the last skipped key was invalid.
    pub last_invalid: Option<String>,
}

/// One page of the change log.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogPage {
    /// Transactions after the requested seq, in order.
    pub txs: Vec<TxCommitted>,
    /// The log no longer holds the transaction right after the requested seq.
    pub truncated: bool,
}

/// One envelope waiting in the durable outbox for upload.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    /// Where the envelope was committed.
    pub position: StreamPosition,
    /// Its id: the idempotency key for the upload.
    pub envelope_id: EnvelopeId,
    /// Its ops.
    pub ops: Vec<Op>,
}

/// A database the coordinator can drive.
pub trait Store {
    /// An open transaction; dropping it without [`StoreTx::commit`] rolls back.
    type Tx<'a>: StoreTx
    where
        Self: 'a;

    /// Where this store keeps its data.
    fn storage(&self) -> Storage;

    /// Starts a write transaction.
    fn begin(&mut self) -> Result<Self::Tx<'_>, StoreError>;

    /// Reads the persisted term and stream position.
    fn meta(&mut self) -> Result<StoreMeta, StoreError>;

    /// Reads up to `limit` valid rows of `collection` with keys after `after`,
    /// in the store's key order, skipping (and counting) rows that other code
    /// wrote with an invalid key or value. An unknown collection is empty.
    fn load_page(
        &mut self,
        collection: &CollectionId,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<RowPage, StoreError>;

    /// Reads up to `limit` committed transactions with seq greater than `after`.
    fn pull_since(&mut self, after: Seq, limit: usize) -> Result<LogPage, StoreError>;

    /// Whether other code may have written rows since the last drain (a cheap
    /// hint; `true` may be spurious, `false` must not be wrong).
    fn external_writes_pending(&mut self) -> Result<bool, StoreError>;

    /// Reads up to `limit` outbox entries in commit order.
    fn outbox(&mut self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Removes outbox entries up to and including `seq` once uploaded.
    fn ack_outbox(&mut self, seq: Seq) -> Result<(), StoreError>;

    /// Every collection with tables, in registration order, with its row count.
    fn collections(&mut self) -> Result<Vec<CollectionReport>, StoreError>;

    /// How many rows `collection` holds (0 if it has none yet).
    fn row_count(&mut self, collection: &CollectionId) -> Result<u64, StoreError> {
        Ok(self
            .collections()?
            .into_iter()
            .find(|report| report.collection == *collection)
            .map_or(0, |report| report.rows))
    }

    /// Indexes top-level field `field` of `collection` for queries ordered
    /// or filtered by it, if the store has indexes (the default has none).
    fn ensure_index(&mut self, collection: &CollectionId, field: &str) -> Result<(), StoreError> {
        let _ = (collection, field);
        Ok(())
    }

    /// Runs one read-only SQL statement on the live database, with each
    /// collection visible as a view named after it (see the store's docs),
    /// within `limits`. Anything that would write is refused.
    fn query(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
        limits: &QueryLimits,
    ) -> Result<QueryRows, QueryError>;
}

/// The operations available inside one store transaction.
pub trait StoreTx {
    /// Reads the persisted term and position as seen inside this transaction.
    fn meta(&mut self) -> Result<StoreMeta, StoreError>;
    /// Persists a new leader term.
    fn set_term(&mut self, term: Term) -> Result<(), StoreError>;
    /// Where an envelope was committed, if it was (durable dedup).
    fn envelope_position(&mut self, id: EnvelopeId) -> Result<Option<StreamPosition>, StoreError>;
    /// Forgets the dedup records of envelopes made before `unix_millis`: the
    /// ids that sort before [`EnvelopeId::earliest_at`] of that time.
    fn forget_envelopes_before(&mut self, unix_millis: u64) -> Result<(), StoreError>;
    /// Reads a row (seeing this transaction's own writes).
    fn get_row(&mut self, collection: &CollectionId, key: &Key) -> Result<Option<Row>, StoreError>;
    /// Creates a row if the key is absent; returns `false` (writing nothing)
    /// if it exists. A row whose stored value is invalid (written by other
    /// code) counts as absent: tabs never see it, so inserting replaces it.
    fn insert_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError>;
    /// Creates `rows` of one collection in order, as [`StoreTx::insert_row`]
    /// on each would; stops at the first row whose key exists (in the store
    /// or earlier in `rows`) and returns its index, `None` when all were
    /// created; the rows before that index were created, none after it. A
    /// store can write many rows in one statement here (the default writes
    /// them one by one).
    fn insert_rows(
        &mut self,
        collection: &CollectionId,
        rows: &[(&Key, &HeldRow)],
    ) -> Result<Option<usize>, StoreError> {
        for (index, (key, value)) in rows.iter().enumerate() {
            if !self.insert_row(collection, key, value)? {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }
    /// Replaces a row if the key is present; returns `false` (writing nothing) if it is missing.
    fn update_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError>;
    /// Deletes a row; returns `false` if the key was missing.
    fn delete_row(&mut self, collection: &CollectionId, key: &Key) -> Result<bool, StoreError>;
    /// Takes and clears the keys that other code wrote since the last drain.
    fn drain_external_writes(&mut self) -> Result<Drained, StoreError>;
    /// Records a commit: change log entry, stream position, envelope dedup
    /// record and (when `upload` is given) the outbox entry.
    fn record_commit(&mut self, tx: &TxCommitted, upload: Option<&[Op]>) -> Result<(), StoreError>;
    /// Commits everything done in this transaction atomically.
    fn commit(self) -> Result<(), StoreError>;
}
