//! Property tests of the stores, driven through the `Coordinator` with encoded
//! envelopes exactly as tabs send them, against both `MemoryStore` and
//! `SqliteStore`:
//! - applying the same envelope twice is a no-op answered with its original position;
//! - `pull_since(after)` returns exactly the missing suffix of the change log,
//!   with the content broadcast at commit time, or `truncated` when the log no
//!   longer reaches `after + 1`;
//! - a restart restores the stream position, bumps the term and continues at `seq + 1`.

use std::path::Path;

use lockstep::protocol::{Body, Message, TxCommitted};
use lockstep::{
    CollectionId, Coordinator, DatabaseId, EnvelopeId, Key, LogPage, MemoryStore, Op, Row, Seq,
    Store, StoreMeta, StreamPosition, Term, Timestamp,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes::{self, envelope_id, writer_tab};
use proptest::prelude::*;
use serde_json::json;

fn db() -> DatabaseId {
    DatabaseId::new("props", "user-1").unwrap()
}

const COLLECTIONS: [&str; 2] = ["todos", "notes"];

fn collection(index: usize) -> CollectionId {
    CollectionId::new(COLLECTIONS[index % COLLECTIONS.len()]).unwrap()
}

// ---------------------------------------------------------------- strategies

/// One op of a tab; keys come from a small pool, so some envelopes collide
/// with rows that exist (or not) and are rejected as a whole.
#[derive(Clone, Debug)]
enum OpSpec {
    Insert(usize, Key, i64),
    Update(usize, Key, i64),
    Delete(usize, Key),
}

impl OpSpec {
    fn op(&self) -> Op {
        let value = |n: &i64| -> Row {
            json!({"n": n, "label": format!("v{n}"), "nested": {"list": [n, null, true]}})
                .as_object()
                .unwrap()
                .clone()
        };
        match self {
            OpSpec::Insert(c, key, n) => Op::Insert {
                collection: collection(*c),
                key: key.clone(),
                value: lockstep::HeldRow::shared(value(n)),
            },
            OpSpec::Update(c, key, n) => Op::Update {
                collection: collection(*c),
                key: key.clone(),
                value: lockstep::HeldRow::shared(value(n)),
            },
            OpSpec::Delete(c, key) => Op::Delete {
                collection: collection(*c),
                key: key.clone(),
            },
        }
    }
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        (-6i64..6).prop_map(Key::Int),
        "[a-c1é]{0,2}".prop_map(|s| Key::Str(s.into())),
    ]
}

fn op() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        // Inserts are the most frequent, so most envelopes commit.
        3 => (0..2usize, key(), any::<i64>()).prop_map(|(c, k, n)| OpSpec::Insert(c, k, n)),
        1 => (0..2usize, key(), any::<i64>()).prop_map(|(c, k, n)| OpSpec::Update(c, k, n)),
        1 => (0..2usize, key()).prop_map(|(c, k)| OpSpec::Delete(c, k)),
    ]
}

/// The ops of one envelope.
fn ops() -> impl Strategy<Value = Vec<OpSpec>> {
    prop::collection::vec(op(), 1..4)
}

fn envelopes(max: usize) -> impl Strategy<Value = Vec<Vec<OpSpec>>> {
    prop::collection::vec(ops(), 0..max)
}

// ------------------------------------------------------------ store backends

/// What the properties need to know about a store besides [`Store`].
trait Inspect: Store + Sized {
    /// Every row of a collection, in key order.
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)>;
    /// First and last seq held by the change log (`None` when it is empty),
    /// for a store opened with `retention`.
    fn log_bounds(&mut self, retention: u64) -> Option<(Seq, Seq)>;
}

impl Inspect for MemoryStore {
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection)
    }
    fn log_bounds(&mut self, retention: u64) -> Option<(Seq, Seq)> {
        // Documented: exactly the last `retention` transactions (at least 1).
        let last = self.meta().unwrap().position.seq.0;
        (last > 0).then(|| (Seq(last.saturating_sub(retention.max(1)) + 1), Seq(last)))
    }
}

impl Inspect for SqliteStore {
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection).unwrap()
    }
    fn log_bounds(&mut self, _retention: u64) -> Option<(Seq, Seq)> {
        // Trimmed in steps, so read what it holds.
        let (min, max, count): (Option<i64>, Option<i64>, i64) = self
            .connection()
            .query_row(
                "SELECT min(seq), max(seq), count(*) FROM __lockstep_changelog",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let (min, max) = (min?, max?);
        assert_eq!(count, max - min + 1, "the change log has holes");
        Some((Seq(min as u64), Seq(max as u64)))
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Sqlite,
}

fn memory_store(retention: u64) -> MemoryStore {
    MemoryStore::with_log_retention(retention)
}

fn sqlite_in_memory(retention: u64) -> SqliteStore {
    SqliteStore::open_in_memory(
        &db(),
        SqliteOptions {
            log_retention: retention,
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

fn sqlite_file(path: &Path) -> SqliteStore {
    SqliteStore::open(path, &db(), SqliteOptions::default()).unwrap()
}

// ------------------------------------------------------------------ driving

struct Leader<S: Store> {
    coordinator: Coordinator<S>,
    next_envelope: u64,
    /// The store's seq when this leader started.
    base: Seq,
    /// Every commit this leader broadcast, in order (seq `base + 1 + index`).
    broadcasts: Vec<TxCommitted>,
}

impl<S: Inspect> Leader<S> {
    fn start(store: S) -> Self {
        let coordinator = envelopes::start(store, &db());
        Leader {
            base: coordinator.position().seq,
            coordinator,
            next_envelope: 1,
            broadcasts: Vec::new(),
        }
    }

    /// Sends bytes as a tab would and returns what the leader transmits.
    fn send(&mut self, body: Body) -> Vec<Message> {
        let message = envelopes::from_tab(&db(), writer_tab(), body);
        let out = envelopes::exchange(&mut self.coordinator, Timestamp(0), &message);
        for m in &out {
            if let Body::TxCommitted(tx) = &m.body {
                assert_eq!(
                    tx.seq.0,
                    self.base.0 + self.broadcasts.len() as u64 + 1,
                    "broadcast out of order"
                );
                self.broadcasts.push(tx.clone());
            }
        }
        out
    }

    fn envelope(&mut self, id: EnvelopeId, ops: &[OpSpec]) -> Vec<Message> {
        let message = envelopes::envelope(
            &db(),
            writer_tab(),
            id,
            ops.iter().map(OpSpec::op).collect(),
        );
        self.send(message.body)
    }

    fn fresh_id(&mut self) -> EnvelopeId {
        let id = envelope_id(self.next_envelope);
        self.next_envelope += 1;
        id
    }

    fn commit_all(&mut self, batches: &[Vec<OpSpec>]) {
        for ops in batches {
            let id = self.fresh_id();
            self.envelope(id, ops);
        }
    }

    fn store(&mut self) -> &mut S {
        self.coordinator.store_mut()
    }

    fn state(&mut self) -> StoreState {
        let store = self.store();
        StoreState {
            meta: store.meta().unwrap(),
            rows: (0..COLLECTIONS.len())
                .map(|c| store.all_rows(&collection(c)))
                .collect(),
            log: store.pull_since(Seq(0), 1_000_000).unwrap(),
        }
    }
}

#[derive(Debug, PartialEq)]
struct StoreState {
    meta: StoreMeta,
    rows: Vec<Vec<(Key, Row)>>,
    log: LogPage,
}

fn with_backend<R>(
    backend: Backend,
    retention: u64,
    memory: impl FnOnce(Leader<MemoryStore>) -> R,
    sqlite: impl FnOnce(Leader<SqliteStore>) -> R,
) -> R {
    match backend {
        Backend::Memory => memory(Leader::start(memory_store(retention))),
        Backend::Sqlite => sqlite(Leader::start(sqlite_in_memory(retention))),
    }
}

fn backend() -> impl Strategy<Value = Backend> {
    prop_oneof![Just(Backend::Memory), Just(Backend::Sqlite)]
}

// ------------------------------------------------------------- properties

/// Sends `prefix`, then `target`, then `between`, then `target` again.
fn resend_is_a_no_op<S: Inspect>(
    mut leader: Leader<S>,
    prefix: &[Vec<OpSpec>],
    target: &[OpSpec],
    between: &[Vec<OpSpec>],
) -> Result<(), TestCaseError> {
    leader.commit_all(prefix);
    let id = leader.fresh_id();
    let first = leader.envelope(id, target);
    prop_assert_eq!(first.len(), 1);
    leader.commit_all(between);

    let before = leader.state();
    let second = leader.envelope(id, target);
    let after = leader.state();
    prop_assert_eq!(second.len(), 1);
    match (&first[0].body, &second[0].body) {
        (Body::TxCommitted(tx), answer) => {
            prop_assert_eq!(
                answer,
                &Body::AlreadyCommitted {
                    envelope_id: id,
                    position: tx.position()
                }
            );
            prop_assert_eq!(second[0].to, Some(writer_tab()));
            prop_assert_eq!(&before, &after, "the re-sent envelope changed the store");
        }
        (Body::Rejected { .. }, _) if between.is_empty() => {
            // Never committed: judged again on the same data, with the same verdict.
            prop_assert_eq!(&first[0].body, &second[0].body);
            prop_assert_eq!(&before, &after, "the refused envelope changed the store");
        }
        // Never committed, and other commits came between: judged afresh.
        (Body::Rejected { .. }, Body::Rejected { .. }) => {
            prop_assert_eq!(&before, &after, "the refused envelope changed the store");
        }
        (Body::Rejected { .. }, Body::TxCommitted(_)) => {}
        (first, second) => prop_assert!(false, "unexpected answers {first:?} then {second:?}"),
    }
    Ok(())
}

/// Commits `batches`, then checks `pull_since(after, limit)` directly and
/// through a `PullSince` request.
fn pull_since_returns_the_missing_suffix<S: Inspect>(
    mut leader: Leader<S>,
    batches: &[Vec<OpSpec>],
    retention: u64,
    after_offset: u64,
    limit: u32,
) -> Result<(), TestCaseError> {
    leader.commit_all(batches);
    let last = leader.store().meta().unwrap().position.seq;
    prop_assert_eq!(leader.base, Seq(0));
    prop_assert_eq!(last.0, leader.broadcasts.len() as u64);
    let after = Seq(after_offset.min(last.0 + 2));
    let retention = retention.max(1);
    let bounds = leader.store().log_bounds(retention);
    if let Some((oldest, newest)) = bounds {
        prop_assert_eq!(newest, last, "the log ends at the last commit");
        prop_assert!(
            last.0 - oldest.0 + 1 >= retention.min(last.0),
            "the log keeps at least {} transactions, it holds {}..={}",
            retention,
            oldest,
            newest
        );
    }
    let in_log = |seq: Seq| bounds.is_some_and(|(oldest, newest)| oldest <= seq && seq <= newest);
    let truncated = after < last && !in_log(after.next());
    let expected: Vec<TxCommitted> = if truncated || after >= last {
        Vec::new()
    } else {
        let end = (after.0 + u64::from(limit.max(1))).min(last.0);
        leader.broadcasts[after.0 as usize..end as usize].to_vec()
    };

    let direct = leader
        .store()
        .pull_since(after, limit.max(1) as usize)
        .unwrap();
    prop_assert_eq!(direct.truncated, truncated, "truncated after {}", after);
    prop_assert_eq!(&direct.txs, &expected);

    let out = leader.send(Body::PullSince {
        request: 7,
        after,
        limit,
    });
    prop_assert_eq!(out.len(), 1);
    prop_assert_eq!(out[0].to, Some(writer_tab()));
    match &out[0].body {
        Body::PullPage {
            request,
            txs,
            position,
            truncated: page_truncated,
        } => {
            prop_assert_eq!(*request, 7);
            prop_assert_eq!(*page_truncated, truncated);
            prop_assert_eq!(txs, &expected);
            prop_assert_eq!(position.seq, last);
        }
        other => prop_assert!(false, "expected a pull page, got {other:?}"),
    }
    Ok(())
}

/// Commits each session's envelopes under a new leader on the same store,
/// restarting in between with `reopen`.
fn restart_restores_the_position<S: Inspect>(
    sessions: &[Vec<Vec<OpSpec>>],
    mut open: impl FnMut() -> S,
) -> Result<(), TestCaseError> {
    let mut position = StreamPosition::default();
    let mut term = Term(0);
    let mut rows: Option<Vec<Vec<(Key, Row)>>> = None;
    let mut next_envelope = 1;
    for (session, batches) in sessions.iter().enumerate() {
        let mut leader = Leader::start(open());
        leader.next_envelope = next_envelope;
        prop_assert_eq!(
            leader.coordinator.term(),
            term.next(),
            "each leader bumps the term"
        );
        term = leader.coordinator.term();
        let state = leader.state();
        prop_assert_eq!(state.meta.term, term, "the new term is persisted");
        prop_assert_eq!(
            state.meta.position,
            position,
            "the position survives the restart"
        );
        if let Some(rows) = &rows {
            prop_assert_eq!(&state.rows, rows, "the rows survive the restart");
        }

        // The first commit of a session continues the stream.
        let id = leader.fresh_id();
        let fresh = [OpSpec::Insert(
            0,
            Key::Str(format!("session-{session}").into()),
            0,
        )];
        let out = leader.envelope(id, &fresh);
        match out.first().map(|m| &m.body) {
            Some(Body::TxCommitted(tx)) => {
                prop_assert_eq!(tx.seq, position.seq.next());
                prop_assert_eq!(tx.term, term);
                position = tx.position();
            }
            other => prop_assert!(false, "expected a commit, got {other:?}"),
        }
        leader.commit_all(batches);
        if let Some(tx) = leader.broadcasts.last() {
            position = tx.position();
        }
        prop_assert_eq!(leader.coordinator.position(), position);
        rows = Some(leader.state().rows);
        next_envelope = leader.next_envelope;
        drop(leader);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    #[test]
    fn applying_an_envelope_twice_is_a_no_op(
        backend in backend(),
        prefix in envelopes(6),
        target in ops(),
        between in envelopes(3),
    ) {
        with_backend(
            backend,
            10_000,
            |l| resend_is_a_no_op(l, &prefix, &target, &between),
            |l| resend_is_a_no_op(l, &prefix, &target, &between),
        )?;
    }

    #[test]
    fn pull_since_returns_exactly_the_missing_suffix(
        backend in backend(),
        batches in envelopes(40),
        retention in prop_oneof![Just(10_000u64), 0..12u64],
        after in 0..45u64,
        limit in prop_oneof![0..12u32, Just(u32::MAX)],
    ) {
        with_backend(
            backend,
            retention,
            |l| pull_since_returns_the_missing_suffix(l, &batches, retention, after, limit),
            |l| pull_since_returns_the_missing_suffix(l, &batches, retention, after, limit),
        )?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(32)
    })]

    #[test]
    fn restart_restores_the_position_on_a_sqlite_file(
        sessions in prop::collection::vec(envelopes(8), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props.db");
        restart_restores_the_position(&sessions, || sqlite_file(&path))?;
    }

    #[test]
    fn restart_restores_the_position_on_a_shared_memory_store(
        sessions in prop::collection::vec(envelopes(8), 1..4),
    ) {
        let store = memory_store(10_000);
        restart_restores_the_position(&sessions, || store.clone())?;
    }
}
