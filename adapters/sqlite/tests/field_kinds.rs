//! The JSON kinds recorded per field (`__lockstep_fields.types`) and the
//! `__lockstep_key` column of the query views: what a leader needs to load
//! subsets of a collection by SQL.

use lockstep::{CollectionId, DatabaseId, Key, QueryLimits, Store, StoreTx};
use lockstep_sqlite::names::{quote_ident, row_table};
use lockstep_sqlite::schema::{
    KIND_ARRAY, KIND_BOOLEAN, KIND_INTEGER, KIND_NULL, KIND_OBJECT, KIND_REAL, KIND_TEXT,
    SCHEMA_VERSION,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::row;
use serde_json::{json, Value};
use std::path::Path;

fn db() -> DatabaseId {
    DatabaseId::new("app", "u").unwrap()
}

fn todos() -> CollectionId {
    CollectionId::new("todos").unwrap()
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, &db(), SqliteOptions::default()).unwrap()
}

/// Inserts `(key, value)` rows into `todos` and commits.
fn insert(store: &mut SqliteStore, rows: &[(&str, Value)]) {
    let mut tx = store.begin().unwrap();
    for (key, value) in rows {
        assert!(tx
            .insert_row(
                &todos(),
                &Key::from(*key),
                &lockstep::HeldRow::from(row(value.clone()))
            )
            .unwrap());
    }
    tx.commit().unwrap();
}

/// The recorded kinds of `field` in `todos` (`None`: field not recorded).
fn kinds(store: &SqliteStore, field: &str) -> Option<i64> {
    store
        .connection()
        .query_row(
            "SELECT types FROM __lockstep_fields WHERE collection = 'todos' AND field = ?1",
            [field],
            |r| r.get(0),
        )
        .ok()
}

/// Runs other code's SQL on the store's own connection.
fn foreign(store: &SqliteStore, sql: &str) {
    let table = quote_ident(&row_table(&todos()));
    store
        .connection()
        .execute_batch(&sql.replace("{table}", &table))
        .unwrap();
}

/// Drains writes by other code and commits, as a leader does.
fn drain(store: &mut SqliteStore) {
    let mut tx = store.begin().unwrap();
    tx.drain_external_writes().unwrap();
    tx.commit().unwrap();
}

#[test]
fn own_writes_record_every_kind_of_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    insert(&mut store, &[("a", json!({"n": 1}))]);
    assert_eq!(kinds(&store, "n"), Some(i64::from(KIND_INTEGER)));
    insert(&mut store, &[("b", json!({"n": 1.5}))]);
    insert(&mut store, &[("c", json!({"n": "x"}))]);
    let n = KIND_INTEGER | KIND_REAL | KIND_TEXT;
    assert_eq!(kinds(&store, "n"), Some(i64::from(n)));
    assert_eq!(n, 4 | 8 | 16);
    // Updates record kinds too, and every kind has its bit.
    let mut tx = store.begin().unwrap();
    let every = json!({"z": null, "b": false, "a": [1], "o": {"p": 1}, "n": 2});
    assert!(tx
        .update_row(
            &todos(),
            &Key::from("a"),
            &lockstep::HeldRow::from(row(every))
        )
        .unwrap());
    tx.commit().unwrap();
    assert_eq!(kinds(&store, "z"), Some(i64::from(KIND_NULL)));
    assert_eq!(kinds(&store, "b"), Some(i64::from(KIND_BOOLEAN)));
    assert_eq!(kinds(&store, "a"), Some(i64::from(KIND_ARRAY)));
    assert_eq!(kinds(&store, "o"), Some(i64::from(KIND_OBJECT)));
    // Bits are never removed, though no row holds a text `n` any more.
    let mut tx = store.begin().unwrap();
    assert!(tx.delete_row(&todos(), &Key::from("c")).unwrap());
    tx.commit().unwrap();
    assert_eq!(kinds(&store, "n"), Some(i64::from(n)));
}

#[test]
fn a_known_kind_is_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    insert(&mut store, &[("a", json!({"n": 1}))]);
    // Tamper with the table: a write of a kind the store knows leaves it
    // alone (the cache answers), a new kind is added to what is there.
    foreign(&store, "UPDATE __lockstep_fields SET types = 0");
    insert(&mut store, &[("b", json!({"n": 2}))]);
    assert_eq!(kinds(&store, "n"), Some(0));
    insert(&mut store, &[("c", json!({"n": true}))]);
    assert_eq!(kinds(&store, "n"), Some(i64::from(KIND_BOOLEAN)));
}

#[test]
fn writes_by_other_code_record_their_kinds_when_drained() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    insert(&mut store, &[("a", json!({"n": 1}))]);
    foreign(
        &store,
        r#"INSERT INTO {table} (key, value) VALUES ('"b"', '{"n": 2.5, "m": null, "t": true}');
           INSERT INTO {table} (key, value) VALUES ('"c"', '{"n": "x", "t": false}');
           INSERT INTO {table} (key, value) VALUES ('"bad"', 'not json');
           INSERT INTO {table} (key, value) VALUES ('"arr"', '[{"q": 1}]');"#,
    );
    drain(&mut store);
    let n = KIND_INTEGER | KIND_REAL | KIND_TEXT;
    assert_eq!(kinds(&store, "n"), Some(i64::from(n)));
    assert_eq!(kinds(&store, "m"), Some(i64::from(KIND_NULL)));
    assert_eq!(kinds(&store, "t"), Some(i64::from(KIND_BOOLEAN)));
    assert_eq!(
        kinds(&store, "q"),
        None,
        "rows that are not objects are skipped"
    );
    // An update by other code adds the kind of the new value.
    foreign(
        &store,
        r#"UPDATE {table} SET value = '{"n": {"deep": 1}}' WHERE key = '"a"'"#,
    );
    drain(&mut store);
    assert_eq!(kinds(&store, "n"), Some(i64::from(n | KIND_OBJECT)));
    // The store's cache was reloaded: its own next write of a kind other code
    // brought is not needed, and a new one is recorded.
    insert(&mut store, &[("d", json!({"m": [1]}))]);
    assert_eq!(kinds(&store, "m"), Some(i64::from(KIND_NULL | KIND_ARRAY)));
}

#[test]
fn a_rolled_back_transaction_leaves_no_kind_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    insert(&mut store, &[("a", json!({"n": 1}))]);
    {
        let mut tx = store.begin().unwrap();
        for (key, value) in [("b", json!({"n": "x"})), ("c", json!({"k": []}))] {
            assert!(tx
                .insert_row(
                    &todos(),
                    &Key::from(key),
                    &lockstep::HeldRow::from(row(value))
                )
                .unwrap());
        }
    }
    assert_eq!(kinds(&store, "n"), Some(i64::from(KIND_INTEGER)));
    assert_eq!(kinds(&store, "k"), None);
    // Had the cache kept the rolled-back kinds, these would not be recorded.
    insert(
        &mut store,
        &[("b", json!({"n": "x"})), ("c", json!({"k": []}))],
    );
    assert_eq!(
        kinds(&store, "n"),
        Some(i64::from(KIND_INTEGER | KIND_TEXT))
    );
    assert_eq!(kinds(&store, "k"), Some(i64::from(KIND_ARRAY)));
}

#[test]
fn a_rolled_back_drain_leaves_no_kind_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    insert(&mut open(&path), &[("a", json!({"n": 1}))]);
    // Reopened: the cache of fields is empty until the next write.
    let mut store = open(&path);
    foreign(
        &store,
        r#"INSERT INTO {table} (key, value) VALUES ('"b"', '{"d": 1.5}')"#,
    );
    {
        // The drain records `d` in this transaction; the cache loaded after
        // it sees `d`; all of it is rolled back.
        let mut tx = store.begin().unwrap();
        tx.drain_external_writes().unwrap();
        assert!(tx
            .insert_row(
                &todos(),
                &Key::from("c"),
                &lockstep::HeldRow::from(row(json!({"n": 2})))
            )
            .unwrap());
    }
    foreign(&store, "DELETE FROM {table} WHERE key = '\"b\"'");
    assert_eq!(kinds(&store, "d"), None);
    insert(&mut store, &[("c", json!({"d": 2.5}))]);
    assert_eq!(kinds(&store, "d"), Some(i64::from(KIND_REAL)));
}

/// Turns the file at `path` back into what version 4 left: no `types`.
fn back_to_version_4(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "DELETE FROM __lockstep_migrations WHERE version >= 5;
         ALTER TABLE __lockstep_fields DROP COLUMN types;
         INSERT INTO __lockstep_fields (collection, field) VALUES ('todos', 'gone');",
    )
    .unwrap();
}

#[test]
fn a_version_4_file_gets_the_kinds_of_its_rows_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        let mut store = open(&path);
        insert(
            &mut store,
            &[
                ("a", json!({"n": 1, "s": "x"})),
                ("b", json!({"n": 2.5, "o": {}})),
            ],
        );
        foreign(
            &store,
            r#"INSERT INTO {table} (key, value) VALUES ('"bad"', '{"n": nope');
               INSERT INTO {table} (key, value) VALUES ('"arr"', '[{"n": null}]');
               INSERT INTO {table} (key, value) VALUES ('"ext"', '{"e": false}');"#,
        );
    }
    back_to_version_4(&path);
    let store = open(&path);
    let version: i64 = store
        .connection()
        .query_row("SELECT max(version) FROM __lockstep_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, i64::from(SCHEMA_VERSION));
    assert_eq!(SCHEMA_VERSION, 6);
    assert_eq!(
        kinds(&store, "n"),
        Some(i64::from(KIND_INTEGER | KIND_REAL))
    );
    assert_eq!(kinds(&store, "s"), Some(i64::from(KIND_TEXT)));
    assert_eq!(kinds(&store, "o"), Some(i64::from(KIND_OBJECT)));
    assert_eq!(kinds(&store, "e"), Some(i64::from(KIND_BOOLEAN)));
    assert_eq!(kinds(&store, "gone"), Some(0), "no row holds it: no kind");
}

#[test]
fn a_version_1_file_gets_fields_and_kinds_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let (rows, track) = (
        row_table(&todos()),
        lockstep_sqlite::names::tracking_table(&todos()),
    );
    {
        // The schema as version 1 left it, with one collection.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE __lockstep_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER);
             INSERT INTO __lockstep_migrations VALUES (1, 0);
             CREATE TABLE __lockstep_meta (id INTEGER PRIMARY KEY CHECK (id = 1), app TEXT NOT NULL, scope TEXT NOT NULL, term INTEGER NOT NULL, position_term INTEGER NOT NULL, seq INTEGER NOT NULL);
             INSERT INTO __lockstep_meta VALUES (1, 'app', 'u', 1, 1, 1);
             CREATE TABLE __lockstep_collections (name TEXT PRIMARY KEY, row_table TEXT NOT NULL UNIQUE, tracking_table TEXT NOT NULL UNIQUE);
             CREATE TABLE __lockstep_envelopes (envelope_id BLOB PRIMARY KEY, term INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE __lockstep_changelog (seq INTEGER PRIMARY KEY, term INTEGER NOT NULL, tx TEXT NOT NULL);
             CREATE TABLE __lockstep_outbox (seq INTEGER PRIMARY KEY, term INTEGER NOT NULL, envelope_id BLOB NOT NULL, ops TEXT NOT NULL);
             CREATE TABLE __lockstep_capture (id INTEGER PRIMARY KEY CHECK (id = 1), suppress INTEGER NOT NULL);
             INSERT INTO __lockstep_capture VALUES (1, 0);
             CREATE TABLE \"{rows}\" (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE \"{track}\" (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
             INSERT INTO __lockstep_collections VALUES ('todos', '{rows}', '{track}');
             INSERT INTO \"{rows}\" VALUES ('\"a\"', '{{\"n\": 1, \"t\": \"x\"}}');"
        ))
        .unwrap();
    }
    let store = open(&path);
    assert_eq!(kinds(&store, "n"), Some(i64::from(KIND_INTEGER)));
    assert_eq!(kinds(&store, "t"), Some(i64::from(KIND_TEXT)));
}

/// Runs a read-only query through the store, as a tab's request does.
fn ask(store: &mut SqliteStore, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    store
        .query(sql, params, &QueryLimits::default())
        .unwrap()
        .rows
}

const PAGE: &str = "SELECT __lockstep_key, _row FROM todos WHERE __lockstep_key > ?1 ORDER BY __lockstep_key LIMIT ?2";

#[test]
fn views_page_by_stored_key_on_the_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    let mut tx = store.begin().unwrap();
    for (key, n) in [
        (Key::from("b"), json!(2)),
        (Key::Int(1), json!(1.5)),
        (Key::from("a"), json!("x")),
        (Key::from("c"), json!(3)),
    ] {
        assert!(tx
            .insert_row(
                &todos(),
                &key,
                &lockstep::HeldRow::from(row(json!({"n": n})))
            )
            .unwrap());
    }
    tx.commit().unwrap();
    // Stored keys are JSON text: `"a"` < `"b"` < `"c"` < `1` byte-wise.
    let page = ask(&mut store, PAGE, &[json!("\"a\""), json!(2)]);
    assert_eq!(
        page,
        vec![
            vec![json!("\"b\""), json!(r#"{"n":2}"#)],
            vec![json!("\"c\""), json!(r#"{"n":3}"#)],
        ]
    );
    let rest = ask(&mut store, PAGE, &[json!("\"c\""), json!(10)]);
    assert_eq!(rest, vec![vec![json!("1"), json!(r#"{"n":1.5}"#)]]);
    let plan = ask(
        &mut store,
        &format!("EXPLAIN QUERY PLAN {PAGE}"),
        &[json!(""), json!(1)],
    );
    let plan: String = plan.iter().map(|r| format!("{}\n", r[3])).collect();
    assert!(plan.contains("PRIMARY KEY"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let numbers = ask(
        &mut store,
        r#"SELECT _key FROM todos WHERE json_type(_row, '$."n"') IN ('integer', 'real') ORDER BY __lockstep_key"#,
        &[],
    );
    assert_eq!(
        numbers,
        vec![vec![json!("b")], vec![json!("c")], vec![json!(1)]]
    );
}

#[test]
fn a_field_named_like_the_key_column_does_not_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("db"));
    insert(
        &mut store,
        &[("a", json!({"__lockstep_key": "mine", "n": 1}))],
    );
    let rows = store
        .query("SELECT * FROM todos", &[], &QueryLimits::default())
        .unwrap();
    assert_eq!(
        rows.columns,
        vec!["n", "_key", "_row", "__lockstep_key", "__lockstep_row"]
    );
    assert_eq!(rows.rows[0][3], json!("\"a\""));
    // The field is still there, in the row.
    let mine = ask(
        &mut store,
        r#"SELECT _row ->> '$."__lockstep_key"' FROM todos"#,
        &[],
    );
    assert_eq!(mine, vec![vec![json!("mine")]]);
}
