//! [`Coordinator`]: the state machine the leader runs.
//!
//! A coordinator exists only after [`Coordinator::start`] succeeded: it read the
//! stream position and persisted `term + 1` before serving (invariants 2 and 6),
//! so "this tab leads" cannot outlive a failed setup (seed 002). It assigns
//! `(term, seq)` to every envelope (the leader tab's own included), commits each
//! in one store transaction (invariant 4), answers re-sent envelopes with their
//! original position (invariant 5), captures writes made by other code (9), and
//! serves `PullSince` and hydration pages. It broadcasts every commit to all
//! tabs, its own tab included, by the same path (3); until another tab has
//! spoken to it, to its own tab only.

use std::collections::VecDeque;

use crate::bugs::BugSwitches;
use crate::dedup::{check_age, Pruning, DEFAULT_DEDUP_WINDOW_MS};
use crate::error::StartError;
use crate::hashing::RowHashMap;
use crate::held::HeldRow;
use crate::ids::{
    CollectionId, DatabaseEpoch, DatabaseId, Seq, StreamPosition, TabId, Term, Timestamp,
};
use crate::intake::{intake, DropCounts};
use crate::key::Key;
use crate::protocol::{
    json_bytes, Body, Envelope, LeaderInfo, Limits, Message, PageRow, QueryOutcome, Rejection,
    Storage, TxCommitted, PROTOCOL_VERSION,
};
use crate::query::{DatabaseReport, LeaderCounters, QueryError, QueryLimits, QueryRows};
use crate::read_ahead::{PageAfter, ReadAhead};
use crate::row::{changes_of, merge, Change, Op, SharedRow};
use crate::store::{OutboxEntry, Store, StoreError, StoreMeta, StoreTx};

/// Most field indexes one query may ask for (the rest are ignored).
const MAX_INDEXES_PER_QUERY: usize = 4;

/// Settings of the leader's coordinator.
///
/// ```
/// let config = lockstep::CoordinatorConfig::default();
/// assert!(!config.outbox);
/// ```
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// Heartbeat period.
    pub heartbeat_ms: u64,
    /// How often to look for rows written by other code.
    pub external_poll_ms: u64,
    /// Most rows served in one hydration page.
    pub max_hydrate_page: u32,
    /// Most transactions served in one pull page.
    pub max_pull_page: u32,
    /// Record committed envelopes in the durable outbox for upload.
    pub outbox: bool,
    /// Envelopes per upload batch.
    pub upload_batch: usize,
    /// How long exactly-once holds, counted from the time an envelope was
    /// made (its id is a UUID v7): a re-send within the window is answered
    /// with its original position; an older one that is not remembered is
    /// refused with [`Rejection::Expired`]. Default a week; at least a minute.
    pub dedup_window_ms: u64,
    /// Wait before retrying a failed upload.
    pub upload_retry_ms: u64,
    /// Limits applied to received messages.
    pub limits: Limits,
    /// Bounds on the read-only queries tabs ask for.
    pub query_limits: QueryLimits,
    /// Known bugs to re-introduce (simulator only; see [`BugSwitches`]).
    #[cfg(feature = "bug-switches")]
    pub bugs: BugSwitches,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_ms: 1_000,
            external_poll_ms: 100,
            max_hydrate_page: 20_000,
            max_pull_page: 1_000,
            outbox: false,
            upload_batch: 100,
            dedup_window_ms: DEFAULT_DEDUP_WINDOW_MS,
            upload_retry_ms: 1_000,
            limits: Limits::default(),
            query_limits: QueryLimits::default(),
            #[cfg(feature = "bug-switches")]
            bugs: BugSwitches::NONE,
        }
    }
}

/// Counters the leader keeps for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// Envelopes committed.
    pub committed: u64,
    /// Re-sent envelopes answered with their original position.
    pub duplicates: u64,
    /// Envelopes refused.
    pub rejected: u64,
    /// Transactions made of writes captured from other code.
    pub external_txs: u64,
    /// Rows written by other code with an invalid key or value, counted each
    /// time one is skipped: when served in a page, or when captured (a row
    /// made invalid is broadcast as a tombstone: every tab drops it).
    pub invalid_rows_skipped: u64,
    /// Store failures outside envelopes (pull, hydrate, drain, upload).
    pub store_errors: u64,
    /// Hydration pages answered with a page read ahead of their request.
    pub pages_read_ahead: u64,
    /// Commits not posted to other tabs, as none had spoken to this leader
    /// yet, so none followed it (see [`Coordinator::handle`]).
    pub commits_kept_local: u64,
    /// Messages dropped, by reason.
    pub dropped: DropCounts,
}

/// A batch of outbox entries for the app's uploader.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadBatch {
    /// Pass back to [`Coordinator::upload_finished`].
    pub id: u64,
    /// Envelopes in commit order; `envelope_id` is the idempotency key.
    pub entries: Vec<OutboxEntry>,
}

#[derive(Clone, Copy, Debug)]
struct Upload {
    next_id: u64,
    in_flight: Option<(u64, Seq)>,
    retry_at: Timestamp,
}

/// Why a coordinator stopped serving: the store holds another term, so a
/// newer leader has taken over. The driver must drop it and release leadership.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("leadership lost: the database now has term {newer} (this leader had {mine}); this tab now follows the newer leader")]
pub struct Deposed {
    /// This coordinator's term.
    pub mine: Term,
    /// The term the store holds.
    pub newer: Term,
}

/// Least time between two reads of the store's term prompted by messages that
/// claim a newer one, so a flood of forged claims costs at most this many reads.
const TERM_CHECK_MS: u64 = 100;

enum Refusal {
    Rejected(Rejection),
    Fenced(Term),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Rejected(match e {
            StoreError::Full(_) => Rejection::StorageFull,
            other => Rejection::Storage {
                detail: other.to_string(),
            },
        })
    }
}

enum Outcome {
    /// The transaction, and the changes in it that patches made.
    Committed(TxCommitted, Vec<Change>),
    AlreadyCommitted(StreamPosition),
}

/// The leader's state machine. See the module docs.
///
/// ```
/// use lockstep::{Coordinator, CoordinatorConfig, MemoryStore, DatabaseId, TabId, Timestamp, Term};
/// let db = DatabaseId::new("app", "user-1").unwrap();
/// let leader = Coordinator::start(MemoryStore::new(), db, TabId::from_u128(1), CoordinatorConfig::default(), Timestamp(0)).unwrap();
/// assert_eq!(leader.term(), Term(1));
/// ```
pub struct Coordinator<S: Store> {
    db: DatabaseId,
    me: TabId,
    term: Term,
    position: StreamPosition,
    store: S,
    config: CoordinatorConfig,
    next_heartbeat: Timestamp,
    next_external_poll: Timestamp,
    upload: Upload,
    deposed: Option<Deposed>,
    /// Earliest time a claimed newer term may prompt another read of the store's term.
    next_term_check: Timestamp,
    /// When dedup records older than the window are next forgotten.
    pruning: Pruning,
    transmits: VecDeque<Message>,
    stats: CoordinatorStats,
    epoch: DatabaseEpoch,
    storage: Storage,
    last_store_error: Option<String>,
    last_invalid_row: Option<String>,
    read_ahead: ReadAhead,
    /// Whether a tab other than its own has sent it a message.
    heard_from_other_tab: bool,
}

impl<S: Store> Coordinator<S> {
    /// Takes leadership of `store`: checks the configuration, reads the
    /// stream position, persists `term + 1`, then queues a `LeaderHello` and
    /// captures writes other code made while no leader ran. On error nothing
    /// serves and the driver must release the leadership lock.
    pub fn start(
        mut store: S,
        db: DatabaseId,
        me: TabId,
        config: CoordinatorConfig,
        now: Timestamp,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let meta = {
            let mut tx = store.begin()?;
            let meta = tx.meta()?;
            let term = meta.term.next();
            tx.set_term(term)?;
            tx.commit()?;
            StoreMeta { term, ..meta }
        };
        let store_kind = store.storage();
        let mut coordinator = Coordinator {
            db,
            me,
            term: meta.term,
            position: if bugs(&config).no_position_restore {
                StreamPosition::default()
            } else {
                meta.position
            },
            store,
            next_heartbeat: now.plus_millis(config.heartbeat_ms),
            next_external_poll: now,
            upload: Upload {
                next_id: 1,
                in_flight: None,
                retry_at: now,
            },
            config,
            deposed: None,
            next_term_check: now,
            pruning: Pruning::new(now),
            transmits: VecDeque::new(),
            stats: CoordinatorStats::default(),
            epoch: meta.epoch,
            storage: store_kind,
            last_store_error: None,
            last_invalid_row: None,
            read_ahead: ReadAhead::default(),
            heard_from_other_tab: false,
        };
        coordinator.broadcast(Body::LeaderHello {
            position: coordinator.position,
            leader: coordinator.leader_info(),
            probe: 0,
        });
        coordinator.drain_external_writes(now);
        Ok(coordinator)
    }

    /// This leader's term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The last committed position.
    pub fn position(&self) -> StreamPosition {
        self.position
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> CoordinatorStats {
        self.stats
    }

    /// Set once the store showed a newer term; the driver must then drop this
    /// coordinator. The store is the authority on terms: a term that a message
    /// merely claims never deposes a leader (a stray heartbeat of an old build,
    /// or a forged one, would otherwise silence the database). The store's term
    /// is read before every heartbeat, when a message claims a newer term (at
    /// most every 100 ms), and inside every commit (fencing).
    pub fn deposed(&self) -> Option<&Deposed> {
        self.deposed.as_ref()
    }

    /// The store, for reads by the driver (debug queries).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back (leadership released).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Feeds bytes received from a tab; hostile input is dropped and counted.
    pub fn handle_bytes(&mut self, now: Timestamp, bytes: &[u8]) {
        if let Ok(Some(message)) = intake(
            bytes,
            &self.db,
            &self.config.limits,
            &mut self.stats.dropped,
            self.me,
        ) {
            self.handle(now, message);
        }
    }

    /// Feeds one decoded message. The first from a tab other than its own
    /// makes the leader broadcast its commits from then on; before it, no
    /// other tab follows this leader, and commits go to its own tab only
    /// ([`CoordinatorStats::commits_kept_local`]).
    pub fn handle(&mut self, now: Timestamp, message: Message) {
        if self.deposed.is_some() {
            return;
        }
        if message.db != self.db || message.v != PROTOCOL_VERSION {
            self.stats.dropped.foreign += 1;
            return;
        }
        // Directed messages for someone else (a tab probing another leader) are not ours.
        if !message.is_for(self.me) {
            return;
        }
        // A tab follows a leader only once the leader has answered its
        // `Join`, so until another tab has sent this leader a message, no
        // other tab acts on its commits (each would drop them): they go to
        // its own tab only, and a lone tab's commits are never encoded
        // for the channel. A tab that joins later learns the position in
        // the answer and reads what it lacks from the store.
        if message.from != self.me {
            self.heard_from_other_tab = true;
        }
        // A claimed newer term is only a hint: the store decides.
        if message.term > self.term && now >= self.next_term_check {
            self.check_store_term(now);
            if self.deposed.is_some() {
                return;
            }
        }
        match message.body {
            Body::Join { probe } => self.reply(
                message.from,
                Body::LeaderHello {
                    position: self.position,
                    leader: self.leader_info(),
                    probe,
                },
            ),
            Body::Envelope(envelope) => self.apply_envelope(now, envelope),
            Body::PullSince {
                request,
                after,
                limit,
            } => {
                let limit = limit.clamp(1, self.config.max_pull_page) as usize;
                match self.store.pull_since(after, limit) {
                    Ok(page) => {
                        let max = self.config.limits.max_inline_bytes;
                        let txs = within_budget(
                            page.txs.into_iter().map(|tx| inline_or_header(tx, max)),
                            max,
                            json_bytes,
                        );
                        self.reply(
                            message.from,
                            Body::PullPage {
                                request,
                                txs,
                                position: self.position,
                                truncated: page.truncated,
                            },
                        )
                    }
                    Err(e) => self.request_failed(message.from, request, &e),
                }
            }
            Body::Hydrate {
                request,
                collection,
                after,
                limit,
            } => {
                let limit = limit.clamp(1, self.config.max_hydrate_page) as usize;
                // Rows other code wrote must enter the stream before a page can show
                // them, or the page would be ahead of the position it reports.
                self.drain_external_writes(now);
                let read_ahead = after.as_ref().and_then(|after| {
                    let page = PageAfter {
                        collection: collection.clone(),
                        after: after.clone(),
                        limit,
                    };
                    self.read_ahead.take(&page, self.position)
                });
                self.stats.pages_read_ahead += u64::from(read_ahead.is_some());
                let page = read_ahead.map_or_else(
                    || self.store.load_page(&collection, after.as_ref(), limit),
                    Ok,
                );
                match page {
                    Ok(page) => {
                        self.skipped_invalid(page.skipped_invalid, page.last_invalid);
                        let read = page.rows.len();
                        let rows = within_budget(
                            page.rows,
                            self.config.limits.max_inline_bytes,
                            PageRow::wire_bytes,
                        );
                        let more = page.more || rows.len() < read;
                        if let (true, Some(last)) = (more, rows.last()) {
                            let next = PageAfter {
                                collection: collection.clone(),
                                after: last.key().clone(),
                                limit,
                            };
                            self.read_ahead.plan(now, next);
                        }
                        // A progress bar's denominator, once per load; a
                        // failure to count only leaves it out.
                        let total = match after {
                            None => self.store.row_count(&collection).ok(),
                            Some(_) => None,
                        };
                        self.reply(
                            message.from,
                            Body::HydratePage {
                                request,
                                collection,
                                position: self.position,
                                rows,
                                more,
                                total,
                            },
                        )
                    }
                    Err(e) => self.request_failed(message.from, request, &e),
                }
            }
            Body::PullTx {
                request,
                seq,
                offset,
            } => self.serve_tx_part(message.from, request, seq, offset),
            Body::Query {
                request,
                sql,
                params,
                indexes,
            } => {
                for (collection, field) in indexes.iter().take(MAX_INDEXES_PER_QUERY) {
                    // Without the index the statement is slower, not wrong.
                    if let Err(e) = self.store.ensure_index(collection, field) {
                        self.store_failed(&e);
                    }
                }
                let outcome = match self.run_query(&sql, &params) {
                    Ok(rows) => QueryOutcome::Rows(rows),
                    Err(error) => QueryOutcome::Failed { error },
                };
                self.reply(
                    message.from,
                    Body::QueryResult {
                        request,
                        position: self.position,
                        outcome,
                    },
                );
            }
            Body::Describe { request } => match self.store.collections() {
                Ok(collections) => {
                    let report = DatabaseReport {
                        leader: self.me,
                        term: self.term,
                        position: self.position,
                        info: self.leader_info(),
                        collections,
                        counters: LeaderCounters {
                            committed: self.stats.committed,
                            duplicates: self.stats.duplicates,
                            rejected: self.stats.rejected,
                            external_txs: self.stats.external_txs,
                            invalid_rows_skipped: self.stats.invalid_rows_skipped,
                            dropped: self.stats.dropped.total(),
                        },
                    };
                    self.reply(message.from, Body::Description { request, report });
                }
                Err(e) => self.request_failed(message.from, request, &e),
            },
            Body::LeaderHello { .. }
            | Body::Heartbeat { .. }
            | Body::TxCommitted(_)
            | Body::Acknowledged { .. }
            | Body::AlreadyCommitted { .. }
            | Body::Rejected { .. }
            | Body::PullPage { .. }
            | Body::TxPart { .. }
            | Body::HydratePage { .. }
            | Body::QueryResult { .. }
            | Body::Description { .. }
            | Body::RequestFailed { .. } => {}
        }
        if now >= self.next_external_poll {
            self.drain_external_writes(now);
        }
    }

    /// When the coordinator next wants [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.deposed.is_some() {
            return None;
        }
        let upload =
            (self.config.outbox && self.upload.in_flight.is_none()).then_some(self.upload.retry_at);
        [
            Some(self.next_heartbeat),
            Some(self.next_external_poll),
            upload,
            self.read_ahead.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Heartbeats, captures writes made by other code, and reads the next
    /// hydration page ahead of its request (see `read_ahead`), when due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.deposed.is_some() {
            return;
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now.plus_millis(self.config.heartbeat_ms);
            // A leader whose term the store no longer holds must not keep tabs listening.
            self.check_store_term(now);
            if self.deposed.is_some() {
                return;
            }
            self.broadcast(Body::Heartbeat {
                position: self.position,
                leader: self.leader_info(),
            });
        }
        if now >= self.next_external_poll {
            self.drain_external_writes(now);
        }
        // One page per timeout, so a write that comes meanwhile waits for one read at most.
        if let Some(page) = self.read_ahead.due(now) {
            // As for a request: what other code wrote enters the stream first.
            self.drain_external_writes(now);
            let rows = self
                .store
                .load_page(&page.collection, Some(&page.after), page.limit)
                .ok();
            self.read_ahead.read(&page, self.position, rows);
        }
    }

    /// The next message to broadcast or send to one tab.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmits.pop_front()
    }

    /// The next batch for the app's uploader, if the outbox is enabled, no
    /// batch is in flight and entries wait. Only a leader uploads (invariant 10).
    pub fn poll_upload(&mut self, now: Timestamp) -> Option<UploadBatch> {
        if !self.config.outbox
            || self.deposed.is_some()
            || self.upload.in_flight.is_some()
            || now < self.upload.retry_at
        {
            return None;
        }
        let entries = match self.store.outbox(self.config.upload_batch) {
            Ok(entries) if !entries.is_empty() => entries,
            Ok(_) => return None,
            Err(e) => {
                self.store_failed(&e);
                self.upload.retry_at = now.plus_millis(self.config.upload_retry_ms);
                return None;
            }
        };
        let id = self.upload.next_id;
        self.upload.next_id += 1;
        let last = entries.last().map(|e| e.position.seq).unwrap_or_default();
        self.upload.in_flight = Some((id, last));
        Some(UploadBatch { id, entries })
    }

    /// Reports the outcome of an upload batch: acknowledged entries leave the
    /// outbox; a failure retries the same entries later.
    pub fn upload_finished(&mut self, now: Timestamp, batch: u64, succeeded: bool) {
        let Some((id, last)) = self.upload.in_flight else {
            return;
        };
        if id != batch {
            return;
        }
        self.upload.in_flight = None;
        if succeeded && self.store.ack_outbox(last).is_ok() {
            self.upload.retry_at = now;
        } else {
            self.upload.retry_at = now.plus_millis(self.config.upload_retry_ms);
        }
    }

    /// Broadcasts a commit: in full, or as a `requires_pull` header when its
    /// changes exceed the inline budget. Before any other tab has spoken to
    /// this leader, only its own tab gets it, and not even that tab when it
    /// wrote the commit (it was acknowledged).
    fn broadcast_commit(&mut self, tx: TxCommitted) {
        let tx = inline_or_header(tx, self.config.limits.max_inline_bytes);
        if self.heard_from_other_tab {
            return self.broadcast(Body::TxCommitted(tx));
        }
        self.stats.commits_kept_local += 1;
        if tx.origin != Some(self.me) {
            self.reply(self.me, Body::TxCommitted(tx));
        }
    }

    /// Answers `PullTx`: the changes of one transaction from `offset`, cut at the inline budget.
    fn serve_tx_part(&mut self, to: TabId, request: u64, seq: Seq, offset: u32) {
        let page = match self.store.pull_since(Seq(seq.0.saturating_sub(1)), 1) {
            Ok(page) => page,
            Err(e) => return self.request_failed(to, request, &e),
        };
        let position = self.position;
        let Some(tx) = page.txs.into_iter().find(|tx| tx.seq == seq) else {
            let body = Body::TxPart {
                request,
                seq,
                offset,
                changes: Vec::new(),
                total: 0,
                position,
                missing: true,
            };
            return self.reply(to, body);
        };
        let total = tx.changes.len() as u32;
        let rest = tx.changes.into_iter().skip(offset as usize);
        let changes = within_budget(rest, self.config.limits.max_inline_bytes, json_bytes);
        self.reply(
            to,
            Body::TxPart {
                request,
                seq,
                offset,
                changes,
                total,
                position,
                missing: false,
            },
        );
    }

    /// Runs a tab's read-only query within the configured limits.
    fn run_query(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
    ) -> Result<QueryRows, QueryError> {
        let limits = self.config.query_limits;
        if sql.len() > limits.max_sql_bytes {
            return Err(QueryError::TooLarge {
                detail: format!(
                    "{} bytes of SQL, more than {}",
                    sql.len(),
                    limits.max_sql_bytes
                ),
            });
        }
        if params.len() > limits.max_params {
            return Err(QueryError::TooLarge {
                detail: format!(
                    "{} parameters, more than {}",
                    params.len(),
                    limits.max_params
                ),
            });
        }
        self.store.query(sql, params, &limits)
    }

    /// A read request could not be served: counts the failure and tells the
    /// tab, so a read in progress (an inspection) ends with the error instead
    /// of waiting; pulls and hydrations are retried by the tab.
    fn request_failed(&mut self, to: TabId, request: u64, error: &StoreError) {
        self.store_failed(error);
        self.reply(
            to,
            Body::RequestFailed {
                request,
                error: error.to_string(),
            },
        );
    }

    /// Counts a store failure outside an envelope and keeps its message for
    /// the status every tab shows.
    fn store_failed(&mut self, error: &dyn std::fmt::Display) {
        self.stats.store_errors += 1;
        self.last_store_error = Some(error.to_string());
    }

    /// Counts rows other code wrote with an invalid key or value, skipped
    /// while capturing or serving, and keeps the reason for every tab's status.
    fn skipped_invalid(&mut self, rows: usize, why: Option<String>) {
        self.stats.invalid_rows_skipped += rows as u64;
        if why.is_some() {
            self.last_invalid_row = why;
        }
    }

    /// What this leader tells tabs about itself.
    fn leader_info(&self) -> LeaderInfo {
        LeaderInfo {
            epoch: self.epoch,
            storage: self.storage,
            store_errors: self.stats.store_errors,
            last_store_error: self.last_store_error.clone(),
            invalid_rows: self.stats.invalid_rows_skipped,
            last_invalid_row: self.last_invalid_row.clone(),
        }
    }

    /// Reads the store's term; another term than this leader's deposes it.
    /// A failed read is counted and changes nothing (commits stay fenced).
    fn check_store_term(&mut self, now: Timestamp) {
        self.next_term_check = now.plus_millis(TERM_CHECK_MS);
        match self.store.meta() {
            Ok(meta) if meta.term != self.term => self.depose(meta.term),
            Ok(_) => {}
            Err(e) => self.store_failed(&e),
        }
    }

    fn depose(&mut self, newer: Term) {
        if self.deposed.is_none() {
            self.deposed = Some(Deposed {
                mine: self.term,
                newer,
            });
            self.transmits.clear();
        }
    }

    fn message(&self, to: Option<TabId>, body: Body) -> Message {
        Message {
            v: PROTOCOL_VERSION,
            db: self.db.clone(),
            term: self.term,
            from: self.me,
            to,
            body,
        }
    }

    fn broadcast(&mut self, body: Body) {
        let message = self.message(None, body);
        self.transmits.push_back(message);
    }

    fn reply(&mut self, to: TabId, body: Body) {
        let message = self.message(Some(to), body);
        self.transmits.push_back(message);
    }

    fn apply_envelope(&mut self, now: Timestamp, envelope: Envelope) {
        let (envelope_id, origin) = (envelope.envelope_id, envelope.origin);
        let around_coordinator =
            bugs(&self.config).leader_writes_around_coordinator && origin == self.me;
        match self.commit_envelope(now, envelope) {
            Ok(Outcome::Committed(tx, patched)) => {
                self.stats.committed += 1;
                if !around_coordinator {
                    self.position = tx.position();
                }
                // This tab holds the ops, and the broadcast skips it
                // (Message::skips). The small acknowledgement goes first: the
                // writer goes on while the broadcast is encoded and posted.
                if origin == self.me {
                    self.reply(
                        origin,
                        Body::Acknowledged {
                            envelope_id,
                            position: tx.position(),
                            patched,
                        },
                    );
                }
                self.broadcast_commit(tx);
            }
            Ok(Outcome::AlreadyCommitted(position)) => {
                self.stats.duplicates += 1;
                self.reply(
                    origin,
                    Body::AlreadyCommitted {
                        envelope_id,
                        position,
                    },
                );
            }
            Err(Refusal::Rejected(rejection)) => {
                self.stats.rejected += 1;
                self.reply(
                    origin,
                    Body::Rejected {
                        envelope_id,
                        rejection,
                    },
                );
            }
            Err(Refusal::Fenced(newer)) => self.depose(newer),
        }
    }

    /// Applies one envelope in one store transaction, or nothing of it.
    fn commit_envelope(&mut self, now: Timestamp, envelope: Envelope) -> Result<Outcome, Refusal> {
        let term = self.term;
        let outbox = self.config.outbox;
        let bugs = bugs(&self.config);
        let mut tx = self.store.begin()?;
        let mut seq = fenced_next_seq(&mut tx, term)?;
        if bugs.no_position_restore
            || (bugs.leader_writes_around_coordinator && envelope.origin != self.me)
        {
            seq = self.position.seq.next();
        }
        if !bugs.no_durable_dedup {
            if let Some(position) = tx.envelope_position(envelope.envelope_id)? {
                return Ok(Outcome::AlreadyCommitted(position));
            }
        }
        if envelope.ops.is_empty() {
            // It would commit an empty transaction and use up a seq.
            return Err(Refusal::Rejected(Rejection::Invalid {
                detail: "the envelope has no ops, so nothing was committed; send at least one op"
                    .into(),
            }));
        }
        // Not remembered: applied only if it is recent enough to be sure.
        check_age(envelope.envelope_id, now, self.config.dedup_window_ms)
            .map_err(Refusal::Rejected)?;
        let prune = self.pruning.due(now, self.config.dedup_window_ms);
        if let Some(before) = prune {
            tx.forget_envelopes_before(before)?;
        }
        let ops = envelope.ops;
        // The rows patches produced, by op index: a patch is merged into the
        // row as it is inside this transaction.
        let mut patched: RowHashMap<usize, SharedRow> = RowHashMap::default();
        let mut index = 0;
        while index < ops.len() {
            let run = insert_run(&ops[index..]);
            if run.len() > 1 {
                // Consecutive inserts into one collection: one store call.
                if let Some(taken) = tx.insert_rows(ops[index].collection(), &run)? {
                    let op = &ops[index + taken];
                    return Err(Refusal::Rejected(Rejection::KeyExists {
                        collection: op.collection().clone(),
                        key: op.key().clone(),
                    }));
                }
                index += run.len();
                continue;
            }
            let op = &ops[index];
            let (collection, key) = (op.collection(), op.key());
            let applied = match op {
                Op::Insert { value, .. } => tx.insert_row(collection, key, value)?,
                Op::Update { value, .. } => tx.update_row(collection, key, value)?,
                Op::Patch { fields, unset, .. } => match tx.get_row(collection, key)? {
                    Some(row) => {
                        let row = HeldRow::shared(merge(row, fields, unset));
                        let applied = tx.update_row(collection, key, &row)?;
                        patched.insert(index, row);
                        applied
                    }
                    None => false,
                },
                Op::Delete { .. } => tx.delete_row(collection, key)?,
            };
            if !applied {
                let (collection, key) = (collection.clone(), key.clone());
                return Err(Refusal::Rejected(match op {
                    Op::Insert { .. } => Rejection::KeyExists { collection, key },
                    Op::Update { .. } | Op::Patch { .. } | Op::Delete { .. } => {
                        Rejection::KeyMissing { collection, key }
                    }
                }));
            }
            index += 1;
        }
        // Every patch applied above left its row in `patched`.
        let mut patch_changes = Vec::new();
        let changes = changes_of(&ops, |index| {
            let row = patched.remove(&index)?;
            patch_changes.push(Change {
                collection: ops[index].collection().clone(),
                key: ops[index].key().clone(),
                value: Some(row.clone()),
            });
            Some(row)
        })
        .ok_or_else(|| {
            Refusal::Rejected(Rejection::Storage {
                detail: "a patched row went missing inside the commit; nothing was committed"
                    .into(),
            })
        })?;
        let committed = TxCommitted {
            term,
            seq,
            envelope_id: Some(envelope.envelope_id),
            origin: Some(envelope.origin),
            changes,
            requires_pull: false,
        };
        tx.record_commit(&committed, outbox.then_some(ops.as_slice()))?;
        tx.commit()?;
        if prune.is_some() {
            self.pruning.done(now);
        }
        Ok(Outcome::Committed(committed, patch_changes))
    }

    /// Turns rows written straight into the store by other code into a
    /// transaction broadcast like any other (invariant 9).
    fn drain_external_writes(&mut self, now: Timestamp) {
        self.next_external_poll = now.plus_millis(self.config.external_poll_ms);
        match self.store.external_writes_pending() {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                self.store_failed(&e);
                return;
            }
        }
        match self.commit_external_writes() {
            Ok(captured) => {
                self.skipped_invalid(captured.skipped_invalid, captured.last_invalid);
                if let Some(tx) = captured.tx {
                    self.stats.external_txs += 1;
                    self.position = tx.position();
                    self.broadcast_commit(tx);
                }
            }
            Err(Refusal::Fenced(newer)) => self.depose(newer),
            Err(Refusal::Rejected(rejection)) => self.store_failed(&rejection),
        }
    }

    fn commit_external_writes(&mut self) -> Result<Captured, Refusal> {
        let term = self.term;
        let mut tx = self.store.begin()?;
        let seq = fenced_next_seq(&mut tx, term)?;
        let drained = tx.drain_external_writes()?;
        let (mut skipped_invalid, mut last_invalid) =
            (drained.skipped_invalid, drained.last_invalid);
        let keys: indexmap::IndexSet<(CollectionId, Key)> = drained.keys.into_iter().collect();
        let mut changes = Vec::with_capacity(keys.len());
        for (collection, key) in keys {
            match tx.get_row(&collection, &key) {
                Ok(value) => changes.push(Change {
                    collection,
                    key,
                    value: value.map(HeldRow::shared),
                }),
                // Other code made the row invalid: it is invisible to
                // Lockstep (pages skip it), so every tab drops it too.
                Err(StoreError::Corrupt(detail)) => {
                    skipped_invalid += 1;
                    last_invalid = Some(detail);
                    changes.push(Change {
                        collection,
                        key,
                        value: None,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut captured = Captured {
            tx: None,
            skipped_invalid,
            last_invalid,
        };
        if changes.is_empty() {
            tx.commit()?;
            return Ok(captured);
        }
        let committed = TxCommitted {
            term,
            seq,
            envelope_id: None,
            origin: None,
            changes,
            requires_pull: false,
        };
        tx.record_commit(&committed, None)?;
        tx.commit()?;
        captured.tx = Some(committed);
        Ok(captured)
    }
}

/// What one capture of writes by other code found.
struct Captured {
    /// The transaction made of them, if any row changed.
    tx: Option<TxCommitted>,
    /// Writes of invalid rows, ignored.
    skipped_invalid: usize,
    /// Why the last of those was invalid.
    last_invalid: Option<String>,
}

/// The transaction as is, or its `requires_pull` header when its changes
/// exceed `max_bytes` of JSON.
fn inline_or_header(tx: TxCommitted, max_bytes: usize) -> TxCommitted {
    if json_bytes(&tx.changes) <= max_bytes {
        return tx;
    }
    TxCommitted {
        changes: Vec::new(),
        requires_pull: true,
        ..tx
    }
}

/// The leading items whose JSON (of `bytes` each) fits in `max_bytes`
/// together (always at least one).
fn within_budget<T>(
    items: impl IntoIterator<Item = T>,
    max_bytes: usize,
    bytes: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut used = 0;
    let mut kept = Vec::new();
    for item in items {
        used += bytes(&item);
        if used > max_bytes && !kept.is_empty() {
            break;
        }
        kept.push(item);
    }
    kept
}

/// The bugs this build re-introduces: always none without the `bug-switches` feature.
fn bugs(config: &CoordinatorConfig) -> BugSwitches {
    #[cfg(feature = "bug-switches")]
    return config.bugs;
    #[cfg(not(feature = "bug-switches"))]
    {
        let _ = config;
        BugSwitches::NONE
    }
}

/// The rows of the inserts into one collection that `ops` starts with
/// (empty if it starts with another kind of op).
fn insert_run(ops: &[Op]) -> Vec<(&Key, &HeldRow)> {
    let Some(first) = ops.first() else {
        return Vec::new();
    };
    let same =
        |op: &Op| matches!(op, Op::Insert { collection, .. } if collection == first.collection());
    let end = ops.iter().position(|op| !same(op)).unwrap_or(ops.len());
    // Counted first, so the run is collected into one allocation.
    let mut run = Vec::with_capacity(end);
    for op in &ops[..end] {
        if let Op::Insert { key, value, .. } = op {
            run.push((key, &**value));
        }
    }
    run
}

/// Checks inside `tx` that no newer leader bumped the term, and returns the next seq.
fn fenced_next_seq<T: StoreTx>(tx: &mut T, term: Term) -> Result<Seq, Refusal> {
    let meta = tx.meta()?;
    if meta.term != term {
        return Err(Refusal::Fenced(meta.term));
    }
    Ok(meta.position.seq.next())
}
