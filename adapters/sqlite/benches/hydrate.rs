//! Cold hydration of 100,000 rows: a tab's runtime paging a collection out of
//! the leader's SQLite store (messages encoded and decoded as between tabs),
//! against a raw rusqlite read of the same rows into a map, in the same run.

use std::collections::HashMap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op,
    PersistedCollectionRuntime, Row, RuntimeConfig, TabId, Timestamp,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes;
use rusqlite::Connection;

const ROWS: u64 = 100_000;

fn value(i: u64) -> Row {
    serde_json::json!({"title": format!("todo number {i}"), "done": i % 2 == 0, "n": i})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn hydrate_100k(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = DatabaseId::new("bench", "u").expect("id");
    let todos = CollectionId::new("todos").expect("name");
    let me = TabId::from_u128(1);
    let path = dir.path().join("lockstep.db");
    {
        let store = SqliteStore::open(&path, &db, SqliteOptions::default()).expect("open");
        let mut leader = Coordinator::start(
            store,
            db.clone(),
            me,
            CoordinatorConfig::default(),
            Timestamp(0),
        )
        .expect("start");
        for chunk in 0..(ROWS / 10_000) {
            let ops = (chunk * 10_000..(chunk + 1) * 10_000)
                .map(|i| Op::Insert {
                    collection: todos.clone(),
                    key: Key::Int(i as i64),
                    value: lockstep::HeldRow::shared(value(i)),
                })
                .collect();
            let id = EnvelopeId::new_v7(chunk, [chunk as u8; 10]);
            leader.handle(Timestamp(0), envelopes::envelope(&db, me, id, ops));
            while leader.poll_transmit().is_some() {}
        }
    }
    let store = SqliteStore::open(&path, &db, SqliteOptions::default()).expect("reopen");
    let mut leader = Coordinator::start(
        store,
        db.clone(),
        me,
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .expect("start");
    let raw = Connection::open(&path).expect("raw connection");
    let table = lockstep_sqlite::names::quote_ident(&lockstep_sqlite::names::row_table(&todos));

    let mut group = c.benchmark_group("hydrate_100k");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.bench_function("lockstep_tab", |b| {
        b.iter(|| {
            let mut tab = PersistedCollectionRuntime::new(
                db.clone(),
                TabId::from_u128(2),
                RuntimeConfig::default(),
                Timestamp(0),
            );
            tab.open_collection(Timestamp(0), todos.clone());
            loop {
                let mut quiet = true;
                while let Some(m) = tab.poll_transmit() {
                    leader.handle_bytes(Timestamp(0), &m.encode());
                    quiet = false;
                }
                while let Some(m) = leader.poll_transmit() {
                    tab.handle_bytes(Timestamp(0), &m.encode());
                    quiet = false;
                }
                if quiet {
                    break;
                }
            }
            assert_eq!(tab.len(&todos), ROWS as usize);
            tab
        })
    });
    group.bench_function("raw_rusqlite", |b| {
        b.iter(|| {
            let mut stmt = raw
                .prepare_cached(&format!("SELECT key, value FROM {table}"))
                .expect("prepare");
            let rows: HashMap<String, Row> = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .expect("query")
                .map(|r| {
                    let (k, v) = r.expect("row");
                    (k, serde_json::from_str(&v).expect("json"))
                })
                .collect();
            assert_eq!(rows.len(), ROWS as usize);
            rows
        })
    });
    group.finish();
}

criterion_group!(benches, hydrate_100k);
criterion_main!(benches);
