//! End-to-end tests: the coordinator driving a `SqliteStore` on real files.

use lockstep::protocol::{Body, Message, Rejection};
use lockstep::{
    Change, CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, HeldRow, Key, Op,
    Row, Seq, Store, StoreError, StoreTx, StreamPosition, TabId, Term, Timestamp,
};
use lockstep_sqlite::names::{quote_ident, row_table, tracking_table};
use lockstep_sqlite::schema::SCHEMA_VERSION;
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes::{self, committed, envelope_id, insert};
use lockstep_tests::row;
use std::path::Path;

fn db() -> DatabaseId {
    DatabaseId::new("todo", "user-1").unwrap()
}

fn todos() -> CollectionId {
    CollectionId::new("todos").unwrap()
}

fn send(leader: &mut Coordinator<SqliteStore>, id: EnvelopeId, ops: Vec<Op>) -> Vec<Message> {
    envelopes::send(leader, &db(), id, ops)
}

fn transmits(leader: &mut Coordinator<SqliteStore>) -> Vec<Message> {
    envelopes::drain(leader)
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, &db(), SqliteOptions::default()).unwrap()
}

fn start(store: SqliteStore) -> Coordinator<SqliteStore> {
    envelopes::start(store, &db())
}

fn tracked(store: &SqliteStore, collection: &CollectionId) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM {}",
        quote_ident(&tracking_table(collection))
    );
    store
        .connection()
        .query_row(&sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn commit_duplicate_and_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = start(open(&dir.path().join("db")));
    assert_eq!(leader.term(), Term(1));

    let out = send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({"title": "one"}))],
    );
    let txs = committed(&out);
    assert_eq!(txs.len(), 1);
    assert_eq!(
        txs[0].position(),
        StreamPosition {
            term: Term(1),
            seq: Seq(1)
        }
    );
    assert_eq!(
        txs[0].changes,
        vec![Change {
            collection: todos(),
            key: Key::from("a"),
            value: Some(HeldRow::shared(row(serde_json::json!({"title": "one"}))))
        }]
    );

    // The same envelope again: its original position, nothing applied.
    let out = send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({"title": "one"}))],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].body,
        Body::AlreadyCommitted {
            envelope_id: envelope_id(1),
            position: StreamPosition {
                term: Term(1),
                seq: Seq(1)
            }
        }
    );

    // Insert of an existing key, alongside a valid op: refused, nothing written.
    let out = send(
        &mut leader,
        envelope_id(2),
        vec![
            insert(&todos(), "b", serde_json::json!({"title": "two"})),
            insert(&todos(), "a", serde_json::json!({"title": "dup"})),
        ],
    );
    assert_eq!(
        out[0].body,
        Body::Rejected {
            envelope_id: envelope_id(2),
            rejection: Rejection::KeyExists {
                collection: todos(),
                key: Key::from("a")
            }
        }
    );
    let store = leader.store_mut();
    assert_eq!(
        store.rows(&todos()).unwrap(),
        vec![(Key::from("a"), row(serde_json::json!({"title": "one"})))]
    );
    assert_eq!(store.meta().unwrap().position.seq, Seq(1));
    // Our own commits are never captured as external writes.
    assert_eq!(tracked(store, &todos()), 0);
    assert!(!store.external_writes_pending().unwrap());
}

#[test]
fn keys_one_and_string_one_are_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = start(open(&dir.path().join("db")));
    let out = send(
        &mut leader,
        envelope_id(1),
        vec![
            insert(&todos(), 1, serde_json::json!({"n": 1})),
            insert(&todos(), "1", serde_json::json!({"s": "1"})),
        ],
    );
    assert_eq!(committed(&out).len(), 1);
    let rows = leader.store_mut().rows(&todos()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().any(|(k, _)| *k == Key::Int(1)));
    assert!(rows.iter().any(|(k, _)| *k == Key::from("1")));
}

#[test]
fn reopen_restores_meta_and_continues_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut leader = start(open(&path));
    for n in 1..=3 {
        send(
            &mut leader,
            envelope_id(n),
            vec![insert(&todos(), n as i32, serde_json::json!({"n": n}))],
        );
    }
    drop(leader.into_store());

    let mut store = open(&path);
    let meta = store.meta().unwrap();
    assert_eq!(meta.term, Term(1));
    assert_eq!(
        meta.position,
        StreamPosition {
            term: Term(1),
            seq: Seq(3)
        }
    );

    let mut leader = start(store);
    assert_eq!(leader.term(), Term(2));
    assert_eq!(leader.position().seq, Seq(3));
    let txs = committed(&send(
        &mut leader,
        envelope_id(9),
        vec![insert(&todos(), 9, serde_json::json!({}))],
    ));
    assert_eq!(
        txs[0].position(),
        StreamPosition {
            term: Term(2),
            seq: Seq(4)
        }
    );
    // Dedup survives the restart.
    let out = send(
        &mut leader,
        envelope_id(2),
        vec![insert(&todos(), 2, serde_json::json!({"n": 2}))],
    );
    assert_eq!(
        out[0].body,
        Body::AlreadyCommitted {
            envelope_id: envelope_id(2),
            position: StreamPosition {
                term: Term(1),
                seq: Seq(2)
            }
        }
    );
}

#[test]
fn writes_by_other_code_are_captured_and_broadcast() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut leader = start(open(&path));
    send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({"title": "one"}))],
    );
    assert!(!leader.store_mut().external_writes_pending().unwrap());
    let table = quote_ident(&row_table(&todos()));

    // Another connection writes straight into the row table.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute(
            &format!(r#"INSERT INTO {table} (key, value) VALUES ('"ext"', '{{"a":1}}')"#),
            [],
        )
        .unwrap();
    assert!(leader.store_mut().external_writes_pending().unwrap());
    leader.handle_timeout(Timestamp(1_000));
    let txs = committed(&transmits(&mut leader));
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].envelope_id, None);
    assert_eq!(txs[0].seq, Seq(2));
    assert_eq!(
        txs[0].changes,
        vec![Change {
            collection: todos(),
            key: Key::from("ext"),
            value: Some(HeldRow::shared(row(serde_json::json!({"a": 1}))))
        }]
    );
    assert!(!leader.store_mut().external_writes_pending().unwrap());
    assert_eq!(tracked(leader.store_mut(), &todos()), 0);

    // Same connection, written by other code through `connection()`: an update and a delete.
    leader
        .store_mut()
        .connection()
        .execute(
            &format!(r#"UPDATE {table} SET value = '{{"a":2}}' WHERE key = '"ext"'"#),
            [],
        )
        .unwrap();
    leader
        .store_mut()
        .connection()
        .execute(&format!(r#"DELETE FROM {table} WHERE key = '"a"'"#), [])
        .unwrap();
    assert!(leader.store_mut().external_writes_pending().unwrap());
    leader.handle_timeout(Timestamp(2_000));
    let txs = committed(&transmits(&mut leader));
    assert_eq!(txs.len(), 1);
    assert_eq!(
        txs[0].changes,
        vec![
            Change {
                collection: todos(),
                key: Key::from("ext"),
                value: Some(HeldRow::shared(row(serde_json::json!({"a": 2}))))
            },
            Change {
                collection: todos(),
                key: Key::from("a"),
                value: None
            },
        ]
    );
    assert_eq!(leader.stats().external_txs, 2);
    assert!(!leader.store_mut().external_writes_pending().unwrap());

    // Captured transactions are in the change log like any other.
    let page = leader.store_mut().pull_since(Seq(1), 10).unwrap();
    assert_eq!(
        page.txs.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![Seq(2), Seq(3)]
    );
}

#[test]
fn writes_made_while_no_leader_ran_are_captured_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut leader = start(open(&path));
    send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({}))],
    );
    drop(leader);
    let other = rusqlite::Connection::open(&path).unwrap();
    let table = quote_ident(&row_table(&todos()));
    other
        .execute(
            &format!(r#"INSERT INTO {table} (key, value) VALUES ('7', '{{"x":true}}')"#),
            [],
        )
        .unwrap();
    drop(other);

    let mut leader = Coordinator::start(
        open(&path),
        db(),
        TabId::from_u128(1),
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .unwrap();
    let txs = committed(&transmits(&mut leader));
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].changes[0].key, Key::Int(7));
    assert_eq!(
        txs[0].position(),
        StreamPosition {
            term: Term(2),
            seq: Seq(2)
        }
    );
}

#[test]
fn invalid_rows_written_by_other_code_are_tombstoned_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = start(open(&dir.path().join("db")));
    send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({}))],
    );
    let table = quote_ident(&row_table(&todos()));
    let conn = leader.store_mut().connection();
    conn.execute(
        &format!(r#"INSERT INTO {table} (key, value) VALUES ('"bad"', 'not json')"#),
        [],
    )
    .unwrap();
    conn.execute(
        &format!(r#"INSERT INTO {table} (key, value) VALUES ('"arr"', '[1,2]')"#),
        [],
    )
    .unwrap();
    // Well-formed JSON, but no row can hold a number beyond `f64`.
    conn.execute(
        &format!(r#"INSERT INTO {table} (key, value) VALUES ('"huge"', '{{"n":1e400}}')"#),
        [],
    )
    .unwrap();
    conn.execute(
        &format!(r#"INSERT INTO {table} (key, value) VALUES ('not a key', '{{}}')"#),
        [],
    )
    .unwrap();
    conn.execute(
        &format!(r#"INSERT INTO {table} (key, value) VALUES ('"ok"', '{{"fine":1}}')"#),
        [],
    )
    .unwrap();
    leader.handle_timeout(Timestamp(1_000));
    let txs = committed(&transmits(&mut leader));
    assert_eq!(leader.stats().invalid_rows_skipped, 4);
    assert_eq!(txs.len(), 1);
    // Rows with an invalid value are invisible: tabs get a tombstone. The
    // row with an invalid key is nobody's row: nothing is broadcast for it.
    let tombstone = |key: &str| Change {
        collection: todos(),
        key: Key::from(key),
        value: None,
    };
    assert_eq!(
        txs[0].changes,
        vec![
            tombstone("bad"),
            tombstone("arr"),
            tombstone("huge"),
            Change {
                collection: todos(),
                key: Key::from("ok"),
                value: Some(HeldRow::shared(row(serde_json::json!({"fine": 1}))))
            }
        ]
    );
    // Pages skip and count the invalid rows, so hydration never stalls on them.
    let page = leader.store_mut().load_page(&todos(), None, 1).unwrap();
    assert_eq!(
        page.rows
            .iter()
            .map(|r| r.key().clone())
            .collect::<Vec<_>>(),
        vec![Key::from("a")]
    );
    assert!(page.more);
    let rest = leader
        .store_mut()
        .load_page(&todos(), Some(&Key::from("a")), 10)
        .unwrap();
    assert_eq!(
        rest.rows
            .iter()
            .map(|r| r.key().clone())
            .collect::<Vec<_>>(),
        vec![Key::from("ok")]
    );
    assert_eq!((rest.skipped_invalid, rest.more), (4, false));
    let mut tx = leader.store_mut().begin().unwrap();
    assert!(matches!(
        tx.get_row(&todos(), &Key::from("bad")),
        Err(StoreError::Corrupt(_))
    ));
    assert!(tx.delete_row(&todos(), &Key::from("bad")).unwrap());
}

#[test]
fn another_scope_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(open(&path));
    let other = DatabaseId::new("todo", "user-2").unwrap();
    match SqliteStore::open(&path, &other, SqliteOptions::default()) {
        Err(StoreError::WrongDatabase { expected, found }) => {
            assert_eq!(expected, "todo/user-2");
            assert_eq!(found, "todo/user-1");
        }
        other => panic!("expected WrongDatabase, got {other:?}"),
    }
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(open(&path));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO __lockstep_migrations (version, applied_at) VALUES (?1, 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    assert_eq!(
        SqliteStore::open(&path, &db(), SqliteOptions::default()).map(|_| ()),
        Err(StoreError::NewerSchema {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION
        })
    );
}

#[test]
fn pull_since_respects_retention() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        log_retention: 5,
        ..SqliteOptions::default()
    };
    let mut leader = start(SqliteStore::open(dir.path().join("db"), &db(), options).unwrap());
    for n in 1..=20u8 {
        let txs = committed(&send(
            &mut leader,
            envelope_id(n.into()),
            vec![insert(&todos(), i32::from(n), serde_json::json!({"n": n}))],
        ));
        assert_eq!(txs.len(), 1);
    }
    let store = leader.store_mut();
    let page = store.pull_since(Seq(2), 100).unwrap();
    assert!(page.truncated);
    assert!(page.txs.is_empty());
    let page = store.pull_since(Seq(17), 100).unwrap();
    assert!(!page.truncated);
    assert_eq!(
        page.txs.iter().map(|t| t.seq.0).collect::<Vec<_>>(),
        vec![18, 19, 20]
    );
    let page = store.pull_since(Seq(15), 2).unwrap();
    assert_eq!(
        page.txs.iter().map(|t| t.seq.0).collect::<Vec<_>>(),
        vec![16, 17]
    );
    let page = store.pull_since(Seq(20), 100).unwrap();
    assert!(!page.truncated && page.txs.is_empty());
}

#[test]
fn hostile_collection_names_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let names: Vec<String> = vec![
        r#"x"; DROP TABLE y; --"#.into(),
        r#"quo"te"s"#.into(),
        "it's".into(),
        "with space".into(),
        "ünïcödé 🦀".into(),
        "a".repeat(256),
        "Todos".into(),
        "todos".into(),
        "__lockstep_meta".into(),
    ];
    let collections: Vec<CollectionId> = names
        .into_iter()
        .map(|n| CollectionId::new(n).unwrap())
        .collect();
    let mut leader = start(open(&path));
    for (i, c) in collections.iter().enumerate() {
        let txs = committed(&send(
            &mut leader,
            envelope_id(i as u64 + 1),
            vec![insert(c, "k", serde_json::json!({"i": i}))],
        ));
        assert_eq!(txs.len(), 1, "{c}");
    }
    drop(leader);
    // After a reopen the registry finds every collection again.
    let mut store = open(&path);
    for (i, c) in collections.iter().enumerate() {
        let page = store.load_page(c, None, 10).unwrap().rows;
        assert_eq!(page.len(), 1, "{c}");
        assert_eq!(page[0].key(), &Key::from("k"));
        assert_eq!(
            page[0].clone().into_keyed().unwrap().value,
            row(serde_json::json!({"i": i}))
        );
    }
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM __lockstep_collections", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, collections.len() as i64);
}

#[test]
fn load_page_pages_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = start(open(&dir.path().join("db")));
    let ops = ["c", "a", "b", "e", "d"]
        .into_iter()
        .map(|k| insert(&todos(), k, serde_json::json!({"k": k})))
        .collect();
    send(&mut leader, envelope_id(1), ops);
    let store = leader.store_mut();
    let first = store.load_page(&todos(), None, 2).unwrap().rows;
    assert_eq!(
        first.iter().map(|r| r.key().clone()).collect::<Vec<_>>(),
        vec![Key::from("a"), Key::from("b")]
    );
    let next = store
        .load_page(&todos(), Some(&Key::from("b")), 10)
        .unwrap()
        .rows;
    assert_eq!(
        next.iter().map(|r| r.key().clone()).collect::<Vec<_>>(),
        vec![Key::from("c"), Key::from("d"), Key::from("e")]
    );
    assert!(store
        .load_page(&CollectionId::new("unknown").unwrap(), None, 10)
        .unwrap()
        .rows
        .is_empty());
}

#[test]
fn rolled_back_transactions_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    let fresh = CollectionId::new("fresh").unwrap();
    let empty = HeldRow::from(Row::new());
    {
        let mut tx = store.begin().unwrap();
        assert!(tx.insert_row(&fresh, &Key::from("a"), &empty).unwrap());
        assert!(tx.get_row(&fresh, &Key::from("a")).unwrap().is_some());
    }
    let mut tx = store.begin().unwrap();
    assert!(tx.get_row(&fresh, &Key::from("a")).unwrap().is_none());
    assert!(tx.insert_row(&fresh, &Key::from("b"), &empty).unwrap());
    tx.commit().unwrap();
    assert_eq!(
        store.rows(&fresh).unwrap(),
        vec![(Key::from("b"), Row::new())]
    );
    // Our own writes, committed or rolled back, leave no tracking rows.
    assert_eq!(tracked(&store, &fresh), 0);
}

/// Writes one row to a new file at `path`, then turns the file back into
/// what schema version `version - 1` left: later migrations forgotten, then
/// `sql`, where `{table}`, `{track}` and `{ins}` name the row table, the
/// tracking table and the insert trigger of `todos`.
fn rewind(path: &Path, version: u32, sql: &str) {
    let mut leader = start(open(path));
    send(
        &mut leader,
        envelope_id(1),
        vec![insert(&todos(), "a", serde_json::json!({}))],
    );
    let sql = sql
        .replace("{table}", &quote_ident(&row_table(&todos())))
        .replace("{track}", &quote_ident(&tracking_table(&todos())))
        .replace(
            "{ins}",
            &quote_ident(&lockstep_sqlite::names::insert_trigger(&todos())),
        );
    leader
        .store_mut()
        .connection()
        .execute_batch(&format!(
            "DELETE FROM __lockstep_migrations WHERE version >= {version}; {sql}"
        ))
        .unwrap();
}

/// Another connection inserts a row into `todos` at `path`: the leader
/// captures it and broadcasts it.
fn foreign_insert_is_captured(leader: &mut Coordinator<SqliteStore>, path: &Path) {
    let table = quote_ident(&row_table(&todos()));
    rusqlite::Connection::open(path)
        .unwrap()
        .execute(
            &format!(r#"INSERT INTO {table} (key, value) VALUES ('"ext"', '{{}}')"#),
            [],
        )
        .unwrap();
    leader.handle_timeout(Timestamp(1_000));
    let txs = committed(&transmits(leader));
    assert_eq!(txs.len(), 1, "the foreign insert is captured");
    assert_eq!(txs[0].changes[0].key, Key::from("ext"));
}

#[test]
fn a_version_2_file_captures_every_foreign_write_after_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    // The capture flag and triggers that obey it, no field kinds.
    rewind(
        &path,
        3,
        "ALTER TABLE __lockstep_fields DROP COLUMN types;
         CREATE TABLE __lockstep_capture (id INTEGER PRIMARY KEY CHECK (id = 1), suppress INTEGER NOT NULL);
         INSERT INTO __lockstep_capture VALUES (1, 1);
         DROP TRIGGER {ins};
         CREATE TRIGGER {ins} AFTER INSERT ON {table}
         WHEN (SELECT suppress FROM __lockstep_capture WHERE id = 1) = 0
         BEGIN INSERT INTO {track} (key) VALUES (NEW.key); END;",
    );
    let mut leader = start(open(&path));
    foreign_insert_is_captured(&mut leader, &path);
    let flag = leader.store_mut().connection().query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = '__lockstep_capture'",
        [],
        |r| r.get::<_, i64>(0),
    );
    assert_eq!(flag.unwrap(), 0, "the flag is gone");
}

#[test]
fn outbox_is_durable_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let config = CoordinatorConfig {
        outbox: true,
        ..CoordinatorConfig::default()
    };
    let mut leader = Coordinator::start(
        open(&path),
        db(),
        TabId::from_u128(1),
        config.clone(),
        Timestamp(0),
    )
    .unwrap();
    let ops = vec![insert(&todos(), "a", serde_json::json!({"t": 1}))];
    send(&mut leader, envelope_id(1), ops.clone());
    send(
        &mut leader,
        envelope_id(2),
        vec![Op::Delete {
            collection: todos(),
            key: Key::from("a"),
        }],
    );
    drop(leader);

    let mut leader =
        Coordinator::start(open(&path), db(), TabId::from_u128(1), config, Timestamp(0)).unwrap();
    let batch = leader.poll_upload(Timestamp(0)).unwrap();
    assert_eq!(batch.entries.len(), 2);
    assert_eq!(batch.entries[0].envelope_id, envelope_id(1));
    assert_eq!(batch.entries[0].ops, ops);
    assert_eq!(
        batch.entries[0].position,
        StreamPosition {
            term: Term(1),
            seq: Seq(1)
        }
    );
    leader.upload_finished(Timestamp(0), batch.id, true);
    assert!(leader.store_mut().outbox(10).unwrap().is_empty());
    assert!(!leader.store_mut().external_writes_pending().unwrap());
}

#[test]
fn pending_stays_true_across_our_own_commits_until_drained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut store = open(&path);
    let commit_one = |store: &mut SqliteStore, key: &str| {
        let mut tx = store.begin().unwrap();
        assert!(tx
            .insert_row(&todos(), &Key::from(key), &HeldRow::from(Row::new()))
            .unwrap());
        tx.commit().unwrap();
    };
    commit_one(&mut store, "a");
    let mut tx = store.begin().unwrap();
    tx.drain_external_writes().unwrap();
    tx.commit().unwrap();
    assert!(!store.external_writes_pending().unwrap());

    let table = quote_ident(&row_table(&todos()));
    for (n, writer) in ["other connection", "same connection"]
        .into_iter()
        .enumerate()
    {
        let sql = format!(r#"INSERT INTO {table} (key, value) VALUES ('"ext{n}"', '{{}}')"#);
        if n == 0 {
            rusqlite::Connection::open(&path)
                .unwrap()
                .execute(&sql, [])
                .unwrap();
        } else {
            store.connection().execute(&sql, []).unwrap();
        }
        // Our own commits and rollbacks in between must not hide the write.
        commit_one(&mut store, &format!("own{n}"));
        drop(store.begin().unwrap());
        assert!(store.external_writes_pending().unwrap(), "{writer}");
        let mut tx = store.begin().unwrap();
        let drained = tx.drain_external_writes().unwrap();
        tx.commit().unwrap();
        assert_eq!(
            drained.keys,
            vec![(todos(), Key::from(format!("ext{n}").as_str()))],
            "{writer}"
        );
        assert!(!store.external_writes_pending().unwrap(), "{writer}");
    }
}

#[test]
fn store_and_coordinator_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<SqliteStore>();
    assert_send::<Coordinator<SqliteStore>>();
}

#[test]
fn epoch_is_fixed_when_the_file_is_made_and_survives_reopen() {
    use lockstep::protocol::Storage;

    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let epoch_a = open(&a).meta().unwrap().epoch;
    assert_eq!(
        open(&a).meta().unwrap().epoch,
        epoch_a,
        "same file, same epoch"
    );
    assert_ne!(
        open(&b).meta().unwrap().epoch,
        epoch_a,
        "another file, another epoch"
    );
    assert_eq!(open(&a).storage(), Storage::Persistent);
    let memory = SqliteStore::open_in_memory(&db(), SqliteOptions::default()).unwrap();
    assert_eq!(memory.storage(), Storage::Memory);
}

#[test]
fn a_version_1_file_gets_an_epoch_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        // The schema as version 1 left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE __lockstep_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER);
             INSERT INTO __lockstep_migrations VALUES (1, 0);
             CREATE TABLE __lockstep_meta (id INTEGER PRIMARY KEY CHECK (id = 1), app TEXT NOT NULL, scope TEXT NOT NULL, term INTEGER NOT NULL, position_term INTEGER NOT NULL, seq INTEGER NOT NULL);
             INSERT INTO __lockstep_meta VALUES (1, 'app', 'u', 3, 3, 7);
             CREATE TABLE __lockstep_collections (name TEXT PRIMARY KEY, row_table TEXT NOT NULL UNIQUE, tracking_table TEXT NOT NULL UNIQUE);
             CREATE TABLE __lockstep_envelopes (envelope_id BLOB PRIMARY KEY, term INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE __lockstep_changelog (seq INTEGER PRIMARY KEY, term INTEGER NOT NULL, tx TEXT NOT NULL);
             CREATE TABLE __lockstep_outbox (seq INTEGER PRIMARY KEY, term INTEGER NOT NULL, envelope_id BLOB NOT NULL, ops TEXT NOT NULL);
             CREATE TABLE __lockstep_capture (id INTEGER PRIMARY KEY CHECK (id = 1), suppress INTEGER NOT NULL);
             INSERT INTO __lockstep_capture VALUES (1, 0);",
        )
        .unwrap();
    }
    let meta = SqliteStore::open(
        &path,
        &DatabaseId::new("app", "u").unwrap(),
        SqliteOptions::default(),
    )
    .unwrap()
    .meta()
    .unwrap();
    assert_eq!(
        (meta.term, meta.position.seq),
        (Term(3), Seq(7)),
        "position kept"
    );
    assert_ne!(
        meta.epoch,
        lockstep::DatabaseEpoch::default(),
        "an epoch was made"
    );
}

/// The `AUTOINCREMENT` counter of `collection`'s tracking table: bumped by
/// every tracking row ever written, removed or not.
fn tracking_counter(store: &SqliteStore, collection: &CollectionId) -> i64 {
    store
        .connection()
        .query_row(
            "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?1",
            [tracking_table(collection)],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn lockstep_writes_never_touch_the_tracking_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut leader = start(open(&path));
    let ops = vec![
        insert(&todos(), "a", serde_json::json!({"n": 1})),
        insert(&todos(), "b", serde_json::json!({"n": 2})),
        Op::Update {
            collection: todos(),
            key: Key::from("a"),
            value: HeldRow::shared(row(serde_json::json!({"n": 3}))),
        },
        Op::Delete {
            collection: todos(),
            key: Key::from("b"),
        },
    ];
    send(&mut leader, envelope_id(1), ops);
    // Not even written and removed again: the counter never moved.
    assert_eq!(tracking_counter(leader.store_mut(), &todos()), 0);
    assert_eq!(tracked(leader.store_mut(), &todos()), 0);

    // Other code's writes are, on the store's connection and on another one.
    let table = quote_ident(&row_table(&todos()));
    leader
        .store_mut()
        .connection()
        .execute(&format!(r#"DELETE FROM {table} WHERE key = '"a"'"#), [])
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            &format!(r#"INSERT INTO {table} (key, value) VALUES ('"ext"', '{{}}')"#),
            [],
        )
        .unwrap();
    assert_eq!(tracked(leader.store_mut(), &todos()), 2);
    leader.handle_timeout(Timestamp(1_000));
    let txs = committed(&transmits(&mut leader));
    assert_eq!(txs.len(), 1);
    let keys: Vec<Key> = txs[0].changes.iter().map(|c| c.key.clone()).collect();
    assert_eq!(keys, vec![Key::from("a"), Key::from("ext")]);
    assert_eq!(tracked(leader.store_mut(), &todos()), 0);
}

#[test]
fn the_store_connection_answers_sqlite_compileoption_used_like_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("db"));
    let plain = rusqlite::Connection::open_in_memory().unwrap();
    let ask = |conn: &rusqlite::Connection, name: &str| -> i64 {
        conn.query_row("SELECT sqlite_compileoption_used(?1)", [name], |r| r.get(0))
            .unwrap()
    };
    for name in [
        "THREADSAFE",
        "SQLITE_THREADSAFE=1",
        "ENABLE_FTS5",
        "NO_SUCH_OPTION",
        "",
    ] {
        assert_eq!(ask(store.connection(), name), ask(&plain, name), "{name}");
    }
    let null = |conn: &rusqlite::Connection| -> Option<i64> {
        conn.query_row("SELECT sqlite_compileoption_used(NULL)", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(null(store.connection()), null(&plain));
    // Outside a Lockstep transaction, the store's own marker is off too.
    assert_eq!(
        ask(store.connection(), lockstep_sqlite::capture::OWN_WRITE),
        0
    );
    assert_eq!(ask(&plain, lockstep_sqlite::capture::OWN_WRITE), 0);
}

#[test]
fn a_version_5_file_stops_tracking_lockstep_writes_after_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.db");
    // Version 5's insert trigger: it recorded every write.
    rewind(
        &path,
        6,
        "DROP TRIGGER {ins};
         CREATE TRIGGER {ins} AFTER INSERT ON {table}
         BEGIN INSERT OR IGNORE INTO {track} (key) VALUES (NEW.key); END;",
    );
    let mut leader = start(open(&path));
    send(
        &mut leader,
        envelope_id(2),
        vec![insert(&todos(), "b", serde_json::json!({}))],
    );
    assert_eq!(tracking_counter(leader.store_mut(), &todos()), 0);
    foreign_insert_is_captured(&mut leader, &path);
}

#[test]
fn a_checkpoint_between_bursts_lets_the_next_commits_start_the_log_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = start(open(&dir.path().join("db")));
    let burst = |leader: &mut Coordinator<SqliteStore>, n: u64| {
        let ops = (0..200)
            .map(|i| {
                insert(
                    &todos(),
                    format!("{n}-{i}").as_str(),
                    serde_json::json!({"title": "x".repeat(200)}),
                )
            })
            .collect();
        send(leader, envelope_id(n), ops);
    };
    burst(&mut leader, 1);
    let first = leader.store_mut().checkpoint().unwrap();
    assert!(first.log_frames > 10, "{first:?}");
    assert_eq!(
        first.checkpointed_frames, first.log_frames,
        "nothing else reads"
    );
    // The next commit writes from the start of the log, not after the first burst.
    send(
        &mut leader,
        envelope_id(2),
        vec![insert(&todos(), "one", serde_json::json!({"title": "one"}))],
    );
    let next = leader.store_mut().checkpoint().unwrap();
    assert!(
        next.log_frames < first.log_frames,
        "{next:?} after {first:?}"
    );
    // The rows are all there after a reopen.
    drop(leader);
    let mut store = open(&dir.path().join("db"));
    assert_eq!(store.rows(&todos()).unwrap().len(), 201);
}
