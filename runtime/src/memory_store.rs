//! [`MemoryStore`]: a [`Store`] kept in memory, for tests, the simulator and
//! examples. Transactions work on a copy-on-write draft (cheap with `im`), so a
//! dropped transaction leaves nothing behind, exactly like SQLite's rollback.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::held::HeldRow;
use crate::ids::{CollectionId, DatabaseEpoch, EnvelopeId, Seq, StreamPosition, Term};
use crate::key::Key;
use crate::protocol::{KeyedRow, PageRow, Storage, TxCommitted};
use crate::query::{CollectionReport, QueryError, QueryLimits, QueryRows};
use crate::row::{Op, Row};
use crate::store::{Drained, LogPage, OutboxEntry, RowPage, Store, StoreError, StoreMeta, StoreTx};

#[derive(Clone, Debug, Default)]
struct State {
    meta: StoreMeta,
    rows: im::OrdMap<CollectionId, im::OrdMap<Key, Row>>,
    log: im::OrdMap<Seq, TxCommitted>,
    envelopes: im::OrdMap<EnvelopeId, StreamPosition>,
    outbox: im::OrdMap<Seq, OutboxEntry>,
    external: im::Vector<(CollectionId, Key)>,
}

/// An in-memory store. Clones share the same data, the way two connections
/// share one file: hand a clone to each successive leader.
///
/// ```
/// use lockstep::{MemoryStore, Store};
/// let mut store = MemoryStore::new();
/// assert_eq!(store.meta().unwrap().position.seq.0, 0);
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    log_retention: u64,
    storage: Storage,
}

/// Epochs of memory stores made in this process, so that each store is its
/// own incarnation (deterministic: the n-th store made gets epoch n).
static EPOCHS: AtomicU64 = AtomicU64::new(1);

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store keeping the last 10,000 transactions in its change log.
    pub fn new() -> Self {
        MemoryStore::with_log_retention(10_000)
    }

    /// An empty store keeping the last `transactions` in its change log.
    pub fn with_log_retention(transactions: u64) -> Self {
        let epoch = DatabaseEpoch::from_u128(u128::from(EPOCHS.fetch_add(1, Ordering::Relaxed)));
        let state = State {
            meta: StoreMeta {
                epoch,
                ..StoreMeta::default()
            },
            ..State::default()
        };
        MemoryStore {
            state: Arc::new(Mutex::new(state)),
            log_retention: transactions.max(1),
            storage: Storage::Persistent,
        }
    }

    /// Reports the store as [`Storage::Memory`]: a database that lives only as
    /// long as its leader (the browser's fallback without OPFS). Clones still
    /// share data; a new leader given a *new* store starts a new epoch.
    ///
    /// ```
    /// use lockstep::{MemoryStore, Store, protocol::Storage};
    /// assert_eq!(MemoryStore::new().volatile().storage(), Storage::Memory);
    /// ```
    pub fn volatile(self) -> Self {
        MemoryStore {
            storage: Storage::Memory,
            ..self
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes a row the way other code writing straight into the database
    /// would (a sync engine, a debug console): captured for the next drain.
    pub fn write_external(&self, collection: &CollectionId, key: &Key, value: Option<Row>) {
        let mut state = self.lock();
        let rows = state.rows.entry(collection.clone()).or_default();
        match value {
            Some(row) => {
                rows.insert(key.clone(), row);
            }
            None => {
                rows.remove(key);
            }
        }
        state.external.push_back((collection.clone(), key.clone()));
    }

    /// Every row of a collection, in key order.
    pub fn rows(&self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.lock()
            .rows
            .get(collection)
            .map(|rows| rows.clone().into_iter().collect())
            .unwrap_or_default()
    }
}

/// A transaction on a [`MemoryStore`].
/// It holds the store's lock until it ends, like SQLite's write lock.
pub struct MemoryTx<'a> {
    live: MutexGuard<'a, State>,
    draft: State,
    log_retention: u64,
}

impl Store for MemoryStore {
    type Tx<'a> = MemoryTx<'a>;

    fn storage(&self) -> Storage {
        self.storage
    }

    fn begin(&mut self) -> Result<MemoryTx<'_>, StoreError> {
        let live = self.lock();
        let draft = live.clone();
        Ok(MemoryTx {
            live,
            draft,
            log_retention: self.log_retention,
        })
    }

    fn meta(&mut self) -> Result<StoreMeta, StoreError> {
        Ok(self.lock().meta)
    }

    fn load_page(
        &mut self,
        collection: &CollectionId,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<RowPage, StoreError> {
        let state = self.lock();
        let Some(rows) = state.rows.get(collection) else {
            return Ok(RowPage::default());
        };
        let lower = after.map_or(Bound::Unbounded, |after| Bound::Excluded(after.clone()));
        let mut page: Vec<PageRow> = rows
            .range((lower, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|row| keyed(row).into())
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        Ok(RowPage {
            rows: page,
            more,
            skipped_invalid: 0,
            last_invalid: None,
        })
    }

    fn pull_since(&mut self, after: Seq, limit: usize) -> Result<LogPage, StoreError> {
        let state = self.lock();
        let truncated = after < state.meta.position.seq && !state.log.contains_key(&after.next());
        let txs = if truncated {
            Vec::new()
        } else {
            state
                .log
                .range(after.next()..)
                .take(limit)
                .map(|(_, tx)| tx.clone())
                .collect()
        };
        Ok(LogPage { txs, truncated })
    }

    fn external_writes_pending(&mut self) -> Result<bool, StoreError> {
        Ok(!self.lock().external.is_empty())
    }

    fn outbox(&mut self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.lock().outbox.values().take(limit).cloned().collect())
    }

    fn ack_outbox(&mut self, seq: Seq) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.outbox = state.outbox.split(&seq).1;
        Ok(())
    }

    fn collections(&mut self) -> Result<Vec<CollectionReport>, StoreError> {
        Ok(self
            .lock()
            .rows
            .iter()
            .map(|(collection, rows)| CollectionReport {
                collection: collection.clone(),
                rows: rows.len() as u64,
                table: None,
            })
            .collect())
    }

    /// A memory store has no SQL engine: always [`QueryError::Unsupported`].
    fn query(
        &mut self,
        _sql: &str,
        _params: &[serde_json::Value],
        _limits: &QueryLimits,
    ) -> Result<QueryRows, QueryError> {
        Err(QueryError::Unsupported)
    }
}

fn keyed((key, value): (&Key, &Row)) -> KeyedRow {
    KeyedRow {
        key: key.clone(),
        value: value.clone(),
    }
}

impl StoreTx for MemoryTx<'_> {
    fn meta(&mut self) -> Result<StoreMeta, StoreError> {
        Ok(self.draft.meta)
    }

    fn set_term(&mut self, term: Term) -> Result<(), StoreError> {
        self.draft.meta.term = term;
        Ok(())
    }

    fn envelope_position(&mut self, id: EnvelopeId) -> Result<Option<StreamPosition>, StoreError> {
        Ok(self.draft.envelopes.get(&id).copied())
    }

    fn forget_envelopes_before(&mut self, unix_millis: u64) -> Result<(), StoreError> {
        let cut = EnvelopeId::earliest_at(unix_millis);
        let (_, kept) = self.draft.envelopes.split(&cut);
        let at_cut = self.draft.envelopes.get(&cut).copied();
        self.draft.envelopes = kept;
        if let Some(position) = at_cut {
            self.draft.envelopes.insert(cut, position);
        }
        Ok(())
    }

    fn get_row(&mut self, collection: &CollectionId, key: &Key) -> Result<Option<Row>, StoreError> {
        Ok(self
            .draft
            .rows
            .get(collection)
            .and_then(|rows| rows.get(key))
            .cloned())
    }

    fn insert_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError> {
        let rows = self.draft.rows.entry(collection.clone()).or_default();
        if rows.contains_key(key) {
            return Ok(false);
        }
        rows.insert(key.clone(), value.to_row());
        Ok(true)
    }

    fn update_row(
        &mut self,
        collection: &CollectionId,
        key: &Key,
        value: &HeldRow,
    ) -> Result<bool, StoreError> {
        match self
            .draft
            .rows
            .get_mut(collection)
            .and_then(|rows| rows.get_mut(key))
        {
            Some(row) => {
                *row = value.to_row();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn delete_row(&mut self, collection: &CollectionId, key: &Key) -> Result<bool, StoreError> {
        Ok(self
            .draft
            .rows
            .get_mut(collection)
            .and_then(|rows| rows.remove(key))
            .is_some())
    }

    fn drain_external_writes(&mut self) -> Result<Drained, StoreError> {
        Ok(Drained {
            keys: std::mem::take(&mut self.draft.external)
                .into_iter()
                .collect(),
            ..Drained::default()
        })
    }

    fn record_commit(&mut self, tx: &TxCommitted, upload: Option<&[Op]>) -> Result<(), StoreError> {
        let position = tx.position();
        self.draft.meta.position = position;
        self.draft.log.insert(tx.seq, tx.clone());
        let retention = self.log_retention;
        if tx.seq.0 > retention {
            self.draft.log = self.draft.log.split(&Seq(tx.seq.0 - retention)).1;
        }
        if let Some(envelope_id) = tx.envelope_id {
            self.draft.envelopes.insert(envelope_id, position);
        }
        if let (Some(ops), Some(envelope_id)) = (upload, tx.envelope_id) {
            self.draft.outbox.insert(
                tx.seq,
                OutboxEntry {
                    position,
                    envelope_id,
                    ops: ops.to_vec(),
                },
            );
        }
        Ok(())
    }

    fn commit(mut self) -> Result<(), StoreError> {
        *self.live = self.draft;
        Ok(())
    }
}
