//! Envelopes committed per second through the coordinator on SQLite, against
//! raw rusqlite inserts of the same rows with the same durability, in the same
//! run. Both sides start from rows as JSON objects; the baseline serialises
//! each row and inserts it with a prepared statement in one transaction.
//!
//! `cargo xtask bench` runs it and prints the ratios.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lockstep::protocol::Body;
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op, Row, TabId,
    Timestamp,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes;
use rusqlite::Connection;

fn value(i: u64) -> Row {
    serde_json::json!({"title": format!("todo number {i}"), "done": i % 2 == 0, "tags": ["a", "b"], "n": i}).as_object().cloned().unwrap_or_default()
}

fn bench_ops(c: &mut Criterion, group_name: &str, ops: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = DatabaseId::new("bench", "u").expect("id");
    let todos = CollectionId::new("todos").expect("name");
    let me = TabId::from_u128(1);
    let store = SqliteStore::open(
        dir.path().join("lockstep.db"),
        &db,
        SqliteOptions::default(),
    )
    .expect("open");
    let mut leader = Coordinator::start(
        store,
        db.clone(),
        me,
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .expect("start");
    while leader.poll_transmit().is_some() {}
    let mut next = 0u64;

    let raw = Connection::open(dir.path().join("raw.db")).expect("open raw");
    raw.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE rows(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;").expect("schema");
    let mut raw_next = 0u64;

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(ops));
    group.sample_size(30);
    group.bench_function("lockstep_coordinator", |b| {
        b.iter_batched(
            || {
                let ops: Vec<Op> = (0..ops)
                    .map(|_| {
                        next += 1;
                        Op::Insert {
                            collection: todos.clone(),
                            key: Key::Int(next as i64),
                            value: lockstep::HeldRow::shared(value(next)),
                        }
                    })
                    .collect();
                let mut random = [0u8; 10];
                random[..8].copy_from_slice(&next.to_le_bytes());
                envelopes::envelope(&db, me, EnvelopeId::new_v7(next, random), ops).encode()
            },
            |bytes| {
                leader.handle_bytes(Timestamp(0), &bytes);
                while let Some(m) = leader.poll_transmit() {
                    // The origin is the leader's own tab: acknowledged, then broadcast.
                    assert!(
                        matches!(m.body, Body::TxCommitted(_) | Body::Acknowledged { .. }),
                        "committed"
                    );
                    std::hint::black_box(m.encode());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("raw_rusqlite", |b| {
        b.iter_batched(
            || {
                (0..ops)
                    .map(|_| {
                        raw_next += 1;
                        (Key::Int(raw_next as i64).to_json(), value(raw_next))
                    })
                    .collect::<Vec<_>>()
            },
            |rows| {
                let tx = raw.unchecked_transaction().expect("begin");
                {
                    let mut insert = tx
                        .prepare_cached("INSERT INTO rows(key, value) VALUES (?1, ?2)")
                        .expect("prepare");
                    for (k, v) in &rows {
                        let json = serde_json::to_string(v).expect("serialise");
                        insert.execute((k, json)).expect("insert");
                    }
                }
                tx.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn commit_1_op(c: &mut Criterion) {
    bench_ops(c, "commit_1_op", 1);
}

fn commit_100_ops(c: &mut Criterion) {
    bench_ops(c, "commit_100_ops", 100);
}

criterion_group!(benches, commit_1_op, commit_100_ops);
criterion_main!(benches);
