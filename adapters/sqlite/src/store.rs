//! [`SqliteStore`]: the [`Store`] the coordinator drives, on one rusqlite
//! connection, and [`SqliteTx`], one `BEGIN IMMEDIATE` transaction on it.
//!
//! Everything a commit touches (rows, stream position, envelope dedup record,
//! change log entry, outbox entry) is written in that one SQLite transaction
//! (invariant 4), and the stream position is read back from the file on open
//! (invariant 6). The capture triggers record every write to a row table
//! but those of a [`SqliteTx`], which the connection tells apart by itself
//! ([`crate::capture`]): what is tracked is exactly what other code wrote
//! (invariant 9), and nothing other code commits can turn capture off.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lockstep::protocol::{PageRow, Storage, TxCommitted};
use lockstep::{
    CollectionId, CollectionReport, DatabaseEpoch, DatabaseId, Drained, EnvelopeId, HeldRow, Key,
    LogPage, Op, OutboxEntry, QueryError, QueryLimits, QueryRows, Row, RowPage, Seq, Store,
    StoreError, StoreMeta, StoreTx, StreamPosition, Term,
};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::capture::OwnWrites;
use crate::error::{corrupt, SqlResultExt};
use crate::names::{quote_ident, TableNames};
use crate::schema;
use crate::stored_key::parse_key;
use crate::views::Views;

/// How hard SQLite works to make each commit survive a power loss.
///
/// ```
/// use lockstep_sqlite::Durability;
/// assert_eq!(Durability::default(), Durability::Full);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `PRAGMA synchronous = FULL`: a commit is on disk when it returns.
    #[default]
    Full,
    /// `PRAGMA synchronous = NORMAL`: with WAL, the last commits may be lost
    /// on power failure (never corrupted); faster.
    Normal,
}

/// Settings of a [`SqliteStore`].
///
/// ```
/// use lockstep_sqlite::SqliteOptions;
/// let options = SqliteOptions { log_retention: 50_000, ..SqliteOptions::default() };
/// assert_eq!(options.durability, lockstep_sqlite::Durability::Full);
/// ```
///
/// How long envelope ids are remembered for exactly-once is the leader's
/// rule, not the store's: see `CoordinatorConfig::dedup_window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The change log keeps at least this many of the last transactions for
    /// `pull_since` (default 10,000; at least 1).
    pub log_retention: u64,
    /// `PRAGMA synchronous` level (default [`Durability::Full`]).
    pub durability: Durability,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            log_retention: 10_000,
            durability: Durability::Full,
        }
    }
}

/// SQL of one collection, formatted once and reused by `prepare_cached`.
#[derive(Debug)]
struct CollectionSql {
    get: String,
    insert: String,
    /// [`insert_values`] for 2, 4, 8, … [`INSERT_CHUNK`] rows.
    insert_chunks: Vec<String>,
    update: String,
    delete: String,
    page_first: String,
    page_after: String,
    /// The tracking rows (other code's writes), oldest first, and their removal.
    tracked: String,
    untrack: String,
}

impl CollectionSql {
    fn new(tables: &TableNames) -> Arc<CollectionSql> {
        let rows = quote_ident(&tables.row_table);
        let track = quote_ident(&tables.tracking_table);
        Arc::new(CollectionSql {
            tracked: format!("SELECT key FROM {track} ORDER BY id"),
            untrack: format!("DELETE FROM {track}"),
            get: format!("SELECT value FROM {rows} WHERE key = ?1"),
            // `OR IGNORE`: a taken key leaves the row alone (`value` is never
            // null). The capture triggers' condition calls a function, so
            // SQLite still keeps a statement journal per statement (schema
            // v6): many rows go through `insert_chunks` instead.
            insert: format!("INSERT OR IGNORE INTO {rows} (key, value) VALUES (?1, ?2)"),
            insert_chunks: chunk_sizes().map(|n| insert_values(&rows, n)).collect(),
            update: format!("UPDATE OR IGNORE {rows} SET value = ?2 WHERE key = ?1"),
            delete: format!("DELETE FROM {rows} WHERE key = ?1"),
            page_first: format!("SELECT key, value FROM {rows} ORDER BY key"),
            page_after: format!("SELECT key, value FROM {rows} WHERE key > ?1 ORDER BY key"),
        })
    }
}

/// Most rows per statement of [`StoreTx::insert_rows`] (two parameters
/// each). Its statements take 2, 4, 8, … this many rows, so that a few
/// cached statements write any number of rows.
const INSERT_CHUNK: usize = 128;

/// The row counts of the cached multi-row insert statements: 2, 4, … 128.
fn chunk_sizes() -> impl Iterator<Item = usize> {
    (1..=INSERT_CHUNK.trailing_zeros()).map(|power| 1 << power)
}

/// One statement creating `count` rows of the quoted table `rows`, bound as
/// key, value, key, value, … It fails (and SQLite undoes it) if any key is
/// taken, so `insert_rows` learns that the chunk needs row-by-row care at the
/// price of one statement journal per chunk, not one per row.
fn insert_values(rows: &str, count: usize) -> String {
    let mut sql = format!("INSERT INTO {rows} (key, value) VALUES ");
    for n in 0..count {
        if n > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?)");
    }
    sql
}

type Collections = HashMap<CollectionId, Arc<CollectionSql>>;

/// What is known about writes by other code (see `external_writes_pending`).
#[derive(Debug)]
struct Watch {
    /// `PRAGMA data_version` as of our last commit (`None`: nothing drained yet).
    data_version: Option<i64>,
    /// `total_changes()` right after our last commit.
    total_changes: u64,
    /// Other code wrote since the last drain (noticed when a transaction began).
    dirty: bool,
}

#[derive(Debug)]
struct State {
    options: SqliteOptions,
    collections: Collections,
    watch: Watch,
    /// Per collection, the fields known to be in `__lockstep_fields` with
    /// their known kind bits (loaded on first write), so a write records only
    /// a new field or kind. Never holds a bit the table lacks: a transaction
    /// that rolls back forgets the entries it loaded or added to.
    fields: HashMap<CollectionId, schema::FieldKinds>,
    views: Views,
    /// Field indexes known to exist (see [`crate::indexes`]).
    indexed: HashSet<(CollectionId, String)>,
    /// Set while a [`SqliteTx`] is open: its writes are not captured.
    own: OwnWrites,
}

/// What [`SqliteStore::checkpoint`] did: the frames (pages) in the
/// write-ahead log, and how many of them are now in the database file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Frames in the log (0 when the store has no log, as in memory).
    pub log_frames: u64,
    /// Frames of the log now copied into the database file.
    pub checkpointed_frames: u64,
}

/// A [`Store`] on SQLite. One per leader; open it after taking leadership.
///
/// ```
/// use lockstep::{Coordinator, CoordinatorConfig, DatabaseId, TabId, Term, Timestamp};
/// use lockstep_sqlite::{SqliteOptions, SqliteStore};
/// let dir = tempfile::tempdir().unwrap();
/// let db = DatabaseId::new("todo", "user-1").unwrap();
/// let store = SqliteStore::open(dir.path().join("todo.db"), &db, SqliteOptions::default()).unwrap();
/// let leader = Coordinator::start(store, db, TabId::from_u128(1), CoordinatorConfig::default(), Timestamp(0)).unwrap();
/// assert_eq!(leader.term(), Term(1));
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    state: State,
    storage: Storage,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` for `db`:
    /// applies migrations and checks the file belongs to `db`.
    ///
    /// Errors: [`StoreError::WrongDatabase`] for a file of another app or
    /// scope, [`StoreError::NewerSchema`] for a file written by a newer build.
    ///
    /// ```
    /// use lockstep::{DatabaseId, StoreError};
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("app.db");
    /// let alice = DatabaseId::new("app", "alice").unwrap();
    /// let bob = DatabaseId::new("app", "bob").unwrap();
    /// drop(SqliteStore::open(&path, &alice, SqliteOptions::default()).unwrap());
    /// let err = SqliteStore::open(&path, &bob, SqliteOptions::default()).unwrap_err();
    /// assert!(matches!(err, StoreError::WrongDatabase { .. }));
    /// ```
    pub fn open(
        path: impl AsRef<Path>,
        db: &DatabaseId,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).store()?;
        SqliteStore::setup(conn, db, options, true)
    }

    /// Opens (creating if needed) the database file at `path` through the
    /// SQLite VFS named `vfs` (in browsers, the OPFS pool of the database),
    /// like [`open`](Self::open) otherwise.
    pub fn open_with_vfs(
        path: &str,
        flags: rusqlite::OpenFlags,
        vfs: &str,
        db: &DatabaseId,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_with_flags_and_vfs(path, flags, vfs).store()?;
        SqliteStore::setup(conn, db, options, true)
    }

    /// Opens a private in-memory database (tests, examples).
    ///
    /// ```
    /// use lockstep::{DatabaseId, Store};
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let mut store = SqliteStore::open_in_memory(&db, SqliteOptions::default()).unwrap();
    /// assert_eq!(store.meta().unwrap().position.seq.0, 0);
    /// ```
    pub fn open_in_memory(
        db: &DatabaseId,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().store()?;
        SqliteStore::setup(conn, db, options, false)
    }

    fn setup(
        mut conn: Connection,
        db: &DatabaseId,
        options: SqliteOptions,
        file: bool,
    ) -> Result<SqliteStore, StoreError> {
        // Before any statement is prepared: statements compile the triggers.
        let own = OwnWrites::install(&conn)?;
        conn.busy_timeout(Duration::from_millis(5_000)).store()?;
        conn.set_prepared_statement_cache_capacity(128);
        // Natively: WAL, so other processes can read and write alongside.
        // In browsers the leader's worker is the file's only connection (one
        // OPFS owner at a time): exclusive locking lets WAL work without
        // shared memory, one sync per commit instead of a rollback journal's
        // several (measured on OPFS: p50 0.8 ms against 3.3 ms per commit).
        // Temporary tables, indices and sorts stay in memory there too: on
        // OPFS every file takes one of the pool's few slots (see the browser
        // adapter's `opfs::POOL_CAPACITY`), and a sort that spilled to one
        // more file than the pool holds would fail.
        if file {
            #[cfg(target_arch = "wasm32")]
            {
                conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
                    .store()?;
                conn.pragma_update(None, "temp_store", "MEMORY").store()?;
            }
            let _mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .store()?;
        }
        let synchronous = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .store()?;
        let mut collections = Collections::new();
        {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .store()?;
            schema::migrate(&tx, db)?;
            for (collection, tables) in schema::all_registered(&tx)? {
                collections.insert(collection, CollectionSql::new(&tables));
            }
            tx.commit().store()?;
        }
        let options = SqliteOptions {
            log_retention: options.log_retention.max(1),
            ..options
        };
        let watch = Watch {
            data_version: None,
            total_changes: conn.total_changes(),
            dirty: true,
        };
        Ok(SqliteStore {
            conn,
            state: State {
                options,
                collections,
                watch,
                fields: HashMap::new(),
                views: Views::default(),
                indexed: HashSet::new(),
                own,
            },
            storage: if file {
                Storage::Persistent
            } else {
                Storage::Memory
            },
        })
    }

    /// The connection, for reads and for writes by other code; writes are
    /// captured by the triggers and broadcast by the leader.
    ///
    /// ```
    /// use lockstep::{DatabaseId, Store};
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let mut store = SqliteStore::open_in_memory(&db, SqliteOptions::default()).unwrap();
    /// let n: i64 = store.connection().query_row("SELECT count(*) FROM __lockstep_collections", [], |r| r.get(0)).unwrap();
    /// assert_eq!(n, 0);
    /// ```
    pub fn connection(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// Copies the pages the write-ahead log holds into the database file
    /// (`PRAGMA wal_checkpoint(PASSIVE)`), so that the next commits start
    /// the log over instead of one of them running the checkpoint itself
    /// once the log outgrows SQLite's `wal_autocheckpoint` (1,000 pages). A
    /// leader calls it when it has had nothing to do for a moment. Does not
    /// wait for other connections (natively, another process may be
    /// reading): what they still need stays in the log.
    ///
    /// ```
    /// use lockstep::DatabaseId;
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let store = SqliteStore::open(dir.path().join("app.db"), &db, SqliteOptions::default()).unwrap();
    /// store.connection().execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES (1)").unwrap();
    /// let done = store.checkpoint().unwrap();
    /// assert!(done.log_frames > 0);
    /// assert_eq!(done.checkpointed_frames, done.log_frames);
    /// ```
    pub fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let (log_frames, checkpointed_frames): (i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .store()?;
        // -1 for both when the database is not in WAL mode (in memory).
        Ok(Checkpoint {
            log_frames: u64::try_from(log_frames).unwrap_or(0),
            checkpointed_frames: u64::try_from(checkpointed_frames).unwrap_or(0),
        })
    }

    /// The options the store was opened with (retentions at least 1).
    ///
    /// ```
    /// use lockstep::DatabaseId;
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let store = SqliteStore::open_in_memory(&db, SqliteOptions { log_retention: 0, ..Default::default() }).unwrap();
    /// assert_eq!(store.options().log_retention, 1);
    /// ```
    pub fn options(&self) -> &SqliteOptions {
        &self.state.options
    }

    /// Every row of `collection` in key order (tests, reports). An unknown
    /// collection is empty; an undecodable row is [`StoreError::Corrupt`].
    ///
    /// ```
    /// use lockstep::{CollectionId, DatabaseId};
    /// use lockstep_sqlite::{SqliteOptions, SqliteStore};
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let mut store = SqliteStore::open_in_memory(&db, SqliteOptions::default()).unwrap();
    /// assert!(store.rows(&CollectionId::new("todos").unwrap()).unwrap().is_empty());
    /// ```
    pub fn rows(&mut self, collection: &CollectionId) -> Result<Vec<(Key, Row)>, StoreError> {
        let page = self.load_page(collection, None, usize::MAX)?;
        page.rows
            .into_iter()
            .map(|row| {
                row.into_keyed()
                    .map(|r| (r.key, r.value))
                    .map_err(|e| corrupt(format!("row in {collection} is not a row: {e}")))
            })
            .collect()
    }
}

/// Finds the SQL of a collection that has tables: cached, or registered by
/// another connection since we loaded the registry.
fn find(
    conn: &Connection,
    collections: &mut Collections,
    collection: &CollectionId,
) -> Result<Option<Arc<CollectionSql>>, StoreError> {
    if let Some(sql) = collections.get(collection) {
        return Ok(Some(sql.clone()));
    }
    Ok(schema::registered(conn, collection)?.map(|tables| {
        let sql = CollectionSql::new(&tables);
        collections.insert(collection.clone(), sql.clone());
        sql
    }))
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("PRAGMA data_version")
        .store()?
        .query_row([], |r| r.get(0))
        .store()
}

fn to_sql(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Other(format!(
            "{value} does not fit SQLite's 64-bit signed integers"
        ))
    })
}

fn from_sql(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative {what}: {value}")))
}

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A text column; anything else (NULL, a number, a blob, invalid UTF-8) is corrupt.
fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize, what: &str) -> Result<&'r str, StoreError> {
    match row.get_ref(index).store()? {
        ValueRef::Text(bytes) => {
            std::str::from_utf8(bytes).map_err(|_| corrupt(format!("{what} is not UTF-8")))
        }
        other => Err(corrupt(format!(
            "{what} is not text but {:?}",
            other.data_type()
        ))),
    }
}

fn int(row: &rusqlite::Row<'_>, index: usize, what: &str) -> Result<u64, StoreError> {
    match row.get_ref(index).store()? {
        ValueRef::Integer(i) => from_sql(i, what),
        other => Err(corrupt(format!(
            "{what} is not an integer but {:?}",
            other.data_type()
        ))),
    }
}

fn parse_row(text: &str, collection: &CollectionId) -> Result<Row, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(format!("row in {collection} is not a row: {e}")))
}

fn envelope_blob(id: &EnvelopeId) -> &[u8] {
    id.0.as_bytes()
}

fn envelope_from_blob(row: &rusqlite::Row<'_>, index: usize) -> Result<EnvelopeId, StoreError> {
    match row.get_ref(index).store()? {
        ValueRef::Blob(bytes) => bytes
            .try_into()
            .map(|bytes: [u8; 16]| EnvelopeId(uuid::Uuid::from_bytes(bytes)))
            .map_err(|_| corrupt("envelope id is not 16 bytes")),
        _ => Err(corrupt("envelope id is not a blob")),
    }
}

fn read_meta(conn: &Connection) -> Result<StoreMeta, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT term, position_term, seq, epoch FROM __lockstep_meta WHERE id = 1")
        .store()?;
    let mut rows = stmt.query([]).store()?;
    let row = rows
        .next()
        .store()?
        .ok_or_else(|| corrupt("__lockstep_meta has no row"))?;
    Ok(StoreMeta {
        term: Term(int(row, 0, "term")?),
        position: StreamPosition {
            term: Term(int(row, 1, "position term")?),
            seq: Seq(int(row, 2, "seq")?),
        },
        epoch: match row.get_ref(3).store()? {
            ValueRef::Blob(bytes) => bytes
                .try_into()
                .map(|bytes: [u8; 16]| DatabaseEpoch(uuid::Uuid::from_bytes(bytes)))
                .map_err(|_| corrupt("epoch is not 16 bytes"))?,
            _ => return Err(corrupt("epoch is not a blob")),
        },
    })
}

fn load_page(
    conn: &Connection,
    sql: &CollectionSql,
    collection: &CollectionId,
    after: Option<&Key>,
    limit: usize,
) -> Result<RowPage, StoreError> {
    let mut stmt;
    let mut rows = match after {
        Some(after) => {
            stmt = conn.prepare_cached(&sql.page_after).store()?;
            stmt.query(params![after.to_json()]).store()?
        }
        None => {
            stmt = conn.prepare_cached(&sql.page_first).store()?;
            stmt.query([]).store()?
        }
    };
    let mut page = RowPage::default();
    // Rows are stepped lazily, so reading stops at `limit` valid rows; invalid
    // rows written by other code are skipped, so they can never stall a page.
    while let Some(row) = rows.next().store()? {
        if page.rows.len() == limit {
            page.more = true;
            break;
        }
        // The value's text is checked (it parses as a row) and sent as it
        // is: parsing and encoding it again would be most of a page's cost.
        let parsed = text(row, 0, "row key")
            .and_then(|k| parse_key(k, collection))
            .and_then(|key| {
                let value = text(row, 1, "row value")?;
                PageRow::stored(key, value.to_owned())
                    .map_err(|e| corrupt(format!("row in {collection} is not a JSON object: {e}")))
            });
        match parsed {
            Ok(keyed) => page.rows.push(keyed),
            Err(StoreError::Corrupt(why)) => {
                page.skipped_invalid += 1;
                page.last_invalid = Some(why);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(page)
}

/// Trimming runs on seqs that are multiples of this, so it stays cheap while
/// the log always keeps at least `retention` transactions.
fn trim_due(seq: u64, retention: u64) -> bool {
    seq % (retention / 8).clamp(1, 1024) == 0
}

impl Store for SqliteStore {
    type Tx<'a> = SqliteTx<'a>;

    fn storage(&self) -> Storage {
        self.storage
    }

    fn begin(&mut self) -> Result<SqliteTx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .store()?;
        let begin_data_version = data_version(&tx)?;
        let watch = &mut self.state.watch;
        if watch.data_version != Some(begin_data_version)
            || tx.total_changes() != watch.total_changes
        {
            watch.dirty = true;
        }
        self.state.own.set(true);
        Ok(SqliteTx {
            tx,
            state: &mut self.state,
            created: Collections::new(),
            new_fields: false,
            fields_touched: Vec::new(),
            drained_fields: false,
            begin_data_version,
            drained: false,
            done: false,
        })
    }

    fn meta(&mut self) -> Result<StoreMeta, StoreError> {
        read_meta(&self.conn)
    }

    fn load_page(
        &mut self,
        collection: &CollectionId,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<RowPage, StoreError> {
        match find(&self.conn, &mut self.state.collections, collection)? {
            Some(sql) => load_page(&self.conn, &sql, collection, after, limit),
            None => Ok(RowPage::default()),
        }
    }

    fn pull_since(&mut self, after: Seq, limit: usize) -> Result<LogPage, StoreError> {
        let tx = self.conn.transaction().store()?;
        let current = read_meta(&tx)?.position.seq;
        if after >= current {
            return Ok(LogPage::default());
        }
        let next = to_sql(after.next().0)?;
        let present = tx
            .prepare_cached("SELECT 1 FROM __lockstep_changelog WHERE seq = ?1")
            .store()?
            .query_row([next], |_| Ok(()))
            .optional()
            .store()?
            .is_some();
        if !present {
            return Ok(LogPage {
                txs: Vec::new(),
                truncated: true,
            });
        }
        let mut stmt = tx
            .prepare_cached(
                "SELECT tx FROM __lockstep_changelog WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .store()?;
        let mut rows = stmt.query(params![next, limit_sql(limit)]).store()?;
        let mut txs = Vec::new();
        while let Some(row) = rows.next().store()? {
            let committed: TxCommitted = serde_json::from_str(text(row, 0, "change log entry")?)
                .map_err(|e| corrupt(format!("change log entry: {e}")))?;
            txs.push(committed);
        }
        Ok(LogPage {
            txs,
            truncated: false,
        })
    }

    fn external_writes_pending(&mut self) -> Result<bool, StoreError> {
        let watch = &self.state.watch;
        let Some(last) = watch.data_version else {
            return Ok(true);
        };
        if watch.dirty || self.conn.total_changes() != watch.total_changes {
            return Ok(true);
        }
        Ok(data_version(&self.conn)? != last)
    }

    fn outbox(&mut self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, term, envelope_id, ops FROM __lockstep_outbox ORDER BY seq LIMIT ?1",
            )
            .store()?;
        let mut rows = stmt.query([limit_sql(limit)]).store()?;
        let mut entries = Vec::new();
        while let Some(row) = rows.next().store()? {
            let seq = Seq(int(row, 0, "outbox seq")?);
            let term = Term(int(row, 1, "outbox term")?);
            let envelope_id = envelope_from_blob(row, 2)?;
            let ops: Vec<Op> = serde_json::from_str(text(row, 3, "outbox ops")?)
                .map_err(|e| corrupt(format!("outbox ops: {e}")))?;
            entries.push(OutboxEntry {
                position: StreamPosition { term, seq },
                envelope_id,
                ops,
            });
        }
        Ok(entries)
    }

    fn ack_outbox(&mut self, seq: Seq) -> Result<(), StoreError> {
        let before = self.conn.total_changes();
        let seq = i64::try_from(seq.0).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached("DELETE FROM __lockstep_outbox WHERE seq <= ?1")
            .store()?
            .execute([seq])
            .store()?;
        // Our own write: it must not look like a write by other code.
        let watch = &mut self.state.watch;
        if before == watch.total_changes {
            watch.total_changes = self.conn.total_changes();
        }
        Ok(())
    }

    fn collections(&mut self) -> Result<Vec<CollectionReport>, StoreError> {
        let mut out = Vec::new();
        for (collection, tables) in schema::all_registered(&self.conn)? {
            let rows: i64 = self
                .conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM {}",
                    quote_ident(&tables.row_table)
                ))
                .store()?
                .query_row([], |r| r.get(0))
                .store()?;
            out.push(CollectionReport {
                collection,
                rows: from_sql(rows, "row count")?,
                table: Some(tables.row_table),
            });
        }
        Ok(out)
    }

    /// Indexes `field` of `collection` (see [`crate::indexes`]); a
    /// collection without tables yet gets none.
    fn ensure_index(&mut self, collection: &CollectionId, field: &str) -> Result<(), StoreError> {
        let wanted = (collection.clone(), field.to_owned());
        if self.state.indexed.contains(&wanted) {
            return Ok(());
        }
        let Some(tables) = schema::registered(&self.conn, collection)? else {
            return Ok(());
        };
        crate::indexes::ensure(&self.conn, &tables.row_table, field)?;
        self.state.indexed.insert(wanted);
        Ok(())
    }

    /// Runs a read-only statement; see [`crate::views`] for the collection
    /// views it can use; writes are refused twice, by an authorizer and by
    /// SQLite's own read-only verdict (`sqlite3_stmt_readonly`).
    fn query(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
        limits: &QueryLimits,
    ) -> Result<QueryRows, QueryError> {
        self.state
            .views
            .refresh(&self.conn)
            .map_err(|e| QueryError::Storage {
                detail: e.to_string(),
            })?;
        crate::query::run(&mut self.conn, sql, params, limits)
    }
}

/// One write transaction on a [`SqliteStore`] (`BEGIN IMMEDIATE`); dropping
/// it without [`StoreTx::commit`] rolls everything back.
///
/// ```
/// use lockstep::{CollectionId, DatabaseId, HeldRow, Key, Store, StoreTx};
/// use lockstep_sqlite::{SqliteOptions, SqliteStore};
/// let db = DatabaseId::new("app", "u").unwrap();
/// let mut store = SqliteStore::open_in_memory(&db, SqliteOptions::default()).unwrap();
/// let todos = CollectionId::new("todos").unwrap();
/// let row = HeldRow::from_json(r#"{"title":"one"}"#.into()).unwrap();
/// let mut tx = store.begin().unwrap();
/// assert!(tx.insert_row(&todos, &Key::from("a"), &row).unwrap());
/// assert!(!tx.insert_row(&todos, &Key::from("a"), &row).unwrap(), "already there");
/// drop(tx); // rolled back
/// assert!(store.rows(&todos).unwrap().is_empty());
/// ```
pub struct SqliteTx<'a> {
    tx: Transaction<'a>,
    state: &'a mut State,
    /// Collections whose tables this transaction created (cached on commit).
    created: Collections,
    /// This transaction recorded a field name not seen before (views are
    /// rebuilt on commit).
    new_fields: bool,
    /// Collections whose entry in `State::fields` this transaction loaded or
    /// added kinds to: forgotten on rollback, as they may hold its writes.
    fields_touched: Vec<CollectionId>,
    /// Writes by other code were drained, maybe with fields not seen before.
    drained_fields: bool,
    begin_data_version: i64,
    drained: bool,
    /// Committed; `Drop` has nothing to roll back.
    done: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            if !self.tx.is_autocommit() {
                // Errors cannot be reported from drop; rusqlite retries the rollback.
                let _ = self.tx.execute_batch("ROLLBACK");
            }
            self.forget_touched_fields();
            self.settle();
        }
    }
}

impl std::fmt::Debug for SqliteTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTx")
            .field("created", &self.created.len())
            .field("drained", &self.drained)
            .finish()
    }
}

impl SqliteTx<'_> {
    /// Records the change counters after this transaction ended, so that its
    /// own statements (committed or rolled back) never look like writes by
    /// other code. Writes by other code before it began already set `dirty`.
    fn settle(&mut self) {
        self.state.own.set(false);
        self.state.watch.data_version = Some(self.begin_data_version);
        self.state.watch.total_changes = self.tx.total_changes();
    }

    fn find(
        &mut self,
        collection: &CollectionId,
    ) -> Result<Option<Arc<CollectionSql>>, StoreError> {
        if let Some(sql) = self.created.get(collection) {
            return Ok(Some(sql.clone()));
        }
        find(&self.tx, &mut self.state.collections, collection)
    }

    /// Records the fields of `row` and kinds of their values that
    /// `__lockstep_fields` lacks. A known kind costs one hash look-up.
    fn note_fields(&mut self, collection: &CollectionId, row: &HeldRow) -> Result<(), StoreError> {
        if !self.state.fields.contains_key(collection) {
            let known = schema::recorded_kinds(&self.tx, collection)?;
            touch(&mut self.fields_touched, collection);
            self.state.fields.insert(collection.clone(), known);
        }
        let Some(known) = self.state.fields.get_mut(collection) else {
            return Ok(());
        };
        for (field, kind) in row.field_kinds() {
            let kind = schema::kind_bit(kind);
            let had = known.get(field.as_ref()).copied();
            if had.is_some_and(|kinds| kinds & kind != 0) {
                continue;
            }
            touch(&mut self.fields_touched, collection);
            schema::record_kinds(&self.tx, collection, &field, kind)?;
            match known.get_mut(field.as_ref()) {
                Some(kinds) => *kinds |= kind,
                None => {
                    known.insert(field.into_owned(), kind);
                }
            }
            self.new_fields |= had.is_none();
        }
        Ok(())
    }

    /// After a rollback: drops the cached fields this transaction loaded or
    /// added to (reloaded from the table on the next write), so the cache
    /// never claims a kind the table lacks.
    fn forget_touched_fields(&mut self) {
        for collection in self.fields_touched.drain(..) {
            self.state.fields.remove(&collection);
        }
    }

    /// Creates `chunk`'s rows (2, 4, … [`INSERT_CHUNK`] of them) in one
    /// statement; `false` (nothing written) if a key is taken.
    fn insert_chunk(
        &mut self,
        sql: &CollectionSql,
        chunk: &[(&Key, &HeldRow)],
    ) -> Result<bool, StoreError> {
        let statement = chunk_sizes()
            .position(|size| size == chunk.len())
            .and_then(|index| sql.insert_chunks.get(index));
        let Some(statement) = statement else {
            return Err(StoreError::Other(format!(
                "no statement for {} rows",
                chunk.len()
            )));
        };
        let mut values = Vec::with_capacity(chunk.len() * 2);
        for (key, value) in chunk {
            values.push(Cow::Owned(key.to_json()));
            values.push(value.json());
        }
        let written = self
            .tx
            .prepare_cached(statement)
            .store()?
            .execute(rusqlite::params_from_iter(&values));
        match written {
            Ok(_) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Ok(false)
            }
            Err(other) => Err(other).store(),
        }
    }

    fn ensure(&mut self, collection: &CollectionId) -> Result<Arc<CollectionSql>, StoreError> {
        if let Some(sql) = self.find(collection)? {
            return Ok(sql);
        }
        let tables = TableNames::of(collection);
        schema::create_collection(&self.tx, collection, &tables)?;
        let sql = CollectionSql::new(&tables);
        self.created.insert(collection.clone(), sql.clone());
        Ok(sql)
    }
}

impl StoreTx for SqliteTx<'_> {
    fn meta(&mut self) -> Result<StoreMeta, StoreError> {
        read_meta(&self.tx)
    }

    fn set_term(&mut self, term: Term) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE __lockstep_meta SET term = ?1 WHERE id = 1")
            .store()?
            .execute([to_sql(term.0)?])
            .store()?;
        Ok(())
    }

    fn envelope_position(&mut self, id: EnvelopeId) -> Result<Option<StreamPosition>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT term, seq FROM __lockstep_envelopes WHERE envelope_id = ?1")
            .store()?;
        let mut rows = stmt.query([envelope_blob(&id)]).store()?;
        match rows.next().store()? {
            Some(row) => Ok(Some(StreamPosition {
                term: Term(int(row, 0, "envelope term")?),
                seq: Seq(int(row, 1, "envelope seq")?),
            })),
            None => Ok(None),
        }
    }

    fn forget_envelopes_before(&mut self, unix_millis: u64) -> Result<(), StoreError> {
        let cut = EnvelopeId::earliest_at(unix_millis);
        self.tx
            .prepare_cached("DELETE FROM __lockstep_envelopes WHERE envelope_id < ?1")
            .store()?
            .execute([envelope_blob(&cut)])
            .store()?;
        Ok(())
    }

    fn get_row(&mut self, collection: &CollectionId, key: &Key) -> Result<Option<Row>, StoreError> {
        let Some(sql) = self.find(collection)? else {
            return Ok(None);
        };
        let mut stmt = self.tx.prepare_cached(&sql.get).store()?;
        let mut rows = stmt.query([key.to_json()]).store()?;
        match rows.next().store()? {
            Some(row) => Ok(Some(parse_row(text(row, 0, "row value")?, collection)?)),
            None => Ok(None),
        }
    }

    /// Also replaces a row whose stored value other code made invalid: such
    /// a row is invisible to every tab (captured as a tombstone, skipped by
    /// pages), so to them the key is absent.
    fn insert_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError> {
        let sql = self.ensure(collection)?;
        let (key_json, value_json) = (key.to_json(), value.json());
        let changed = self
            .tx
            .prepare_cached(&sql.insert)
            .store()?
            .execute(params![key_json, value_json])
            .store()?;
        if changed == 1 {
            self.note_fields(collection, value)?;
            return Ok(true);
        }
        match self.get_row(collection, key) {
            Err(StoreError::Corrupt(_)) => {
                self.tx
                    .prepare_cached(&sql.update)
                    .store()?
                    .execute(params![key_json, value_json])
                    .store()?;
                self.note_fields(collection, value)?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Writes the rows in statements of 128 rows, then of the
    /// largest power of two left (100 rows: 64, 32, 4); a statement with a
    /// taken key (or a row other code made invalid, which `insert_row`
    /// replaces) is undone by SQLite and its rows written one by one.
    fn insert_rows(
        &mut self,
        collection: &CollectionId,
        rows: &[(&Key, &HeldRow)],
    ) -> Result<Option<usize>, StoreError> {
        let sql = self.ensure(collection)?;
        let mut done = 0;
        while done < rows.len() {
            let left = rows.len() - done;
            let size = INSERT_CHUNK.min(1 << left.ilog2());
            let chunk = &rows[done..done + size];
            if size > 1 && self.insert_chunk(&sql, chunk)? {
                for (_, value) in chunk {
                    self.note_fields(collection, value)?;
                }
            } else {
                for (index, (key, value)) in chunk.iter().enumerate() {
                    if !self.insert_row(collection, key, value)? {
                        return Ok(Some(done + index));
                    }
                }
            }
            done += size;
        }
        Ok(None)
    }

    fn update_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError> {
        let Some(sql) = self.find(collection)? else {
            return Ok(false);
        };
        let changed = self
            .tx
            .prepare_cached(&sql.update)
            .store()?
            .execute(params![key.to_json(), value.json()])
            .store()?;
        if changed == 1 {
            self.note_fields(collection, value)?;
        }
        Ok(changed == 1)
    }

    fn delete_row(&mut self, collection: &CollectionId, key: &Key) -> Result<bool, StoreError> {
        let Some(sql) = self.find(collection)? else {
            return Ok(false);
        };
        let changed = self
            .tx
            .prepare_cached(&sql.delete)
            .store()?
            .execute([key.to_json()])
            .store()?;
        Ok(changed == 1)
    }

    fn drain_external_writes(&mut self) -> Result<Drained, StoreError> {
        let mut drained = Drained::default();
        for (collection, tables) in schema::all_registered(&self.tx)? {
            let sql = CollectionSql::new(&tables);
            let mut stmt = self.tx.prepare_cached(&sql.tracked).store()?;
            let mut rows = stmt.query([]).store()?;
            let mut any = false;
            while let Some(row) = rows.next().store()? {
                any = true;
                match text(row, 0, "tracked key").and_then(|k| parse_key(k, &collection)) {
                    Ok(key) => drained.keys.push((collection.clone(), key)),
                    Err(StoreError::Corrupt(why)) => {
                        drained.skipped_invalid += 1;
                        drained.last_invalid = Some(why);
                    }
                    Err(other) => return Err(other),
                }
            }
            drop(rows);
            drop(stmt);
            if any {
                schema::record_fields_of(
                    &self.tx,
                    &collection,
                    &tables.row_table,
                    Some(&tables.tracking_table),
                )?;
                self.drained_fields = true;
                self.tx
                    .prepare_cached(&sql.untrack)
                    .store()?
                    .execute([])
                    .store()?;
            }
        }
        self.drained = true;
        Ok(drained)
    }

    fn record_commit(&mut self, tx: &TxCommitted, upload: Option<&[Op]>) -> Result<(), StoreError> {
        let seq = to_sql(tx.seq.0)?;
        let term = to_sql(tx.term.0)?;
        let json = serde_json::to_string(tx)
            .map_err(|e| StoreError::Other(format!("transaction does not serialise: {e}")))?;
        self.tx
            .prepare_cached("INSERT INTO __lockstep_changelog (seq, term, tx) VALUES (?1, ?2, ?3)")
            .store()?
            .execute(params![seq, term, json])
            .store()?;
        self.tx
            .prepare_cached("UPDATE __lockstep_meta SET position_term = ?1, seq = ?2 WHERE id = 1")
            .store()?
            .execute(params![term, seq])
            .store()?;
        if let Some(envelope_id) = &tx.envelope_id {
            self.tx
                .prepare_cached(
                    "INSERT INTO __lockstep_envelopes (envelope_id, term, seq) VALUES (?1, ?2, ?3)",
                )
                .store()?
                .execute(params![envelope_blob(envelope_id), term, seq])
                .store()?;
            if let Some(ops) = upload {
                let ops = serde_json::to_string(ops)
                    .map_err(|e| StoreError::Other(format!("ops do not serialise: {e}")))?;
                self.tx
                    .prepare_cached("INSERT INTO __lockstep_outbox (seq, term, envelope_id, ops) VALUES (?1, ?2, ?3, ?4)")
                    .store()?
                    .execute(params![seq, term, envelope_blob(envelope_id), ops])
                    .store()?;
            }
        }
        let log_retention = self.state.options.log_retention;
        if tx.seq.0 > log_retention && trim_due(tx.seq.0, log_retention) {
            self.tx
                .prepare_cached("DELETE FROM __lockstep_changelog WHERE seq <= ?1")
                .store()?
                .execute([to_sql(tx.seq.0 - log_retention)?])
                .store()?;
        }
        Ok(())
    }

    fn commit(mut self) -> Result<(), StoreError> {
        // What `Transaction::commit` runs; on failure `Drop` rolls back.
        self.tx.execute_batch("COMMIT").store()?;
        self.done = true;
        let created = std::mem::take(&mut self.created);
        let views = &mut self.state.views;
        views.stale |= !created.is_empty() || self.new_fields || self.drained_fields;
        self.state.collections.extend(created);
        // The kinds this transaction recorded are in the cache already.
        self.fields_touched.clear();
        if self.drained_fields {
            // Other code's rows may have added fields: reload on next write.
            self.state.fields.clear();
        }
        if self.drained {
            self.state.watch.dirty = false;
        }
        self.settle();
        Ok(())
    }
}

/// Adds `collection` to the collections whose cached fields a transaction
/// loaded or changed (a short list: a transaction touches few collections).
fn touch(touched: &mut Vec<CollectionId>, collection: &CollectionId) {
    if !touched.contains(collection) {
        touched.push(collection.clone());
    }
}
