//! `StoreTx::insert_rows` on SQLite: many rows per statement, with the same
//! answers as `insert_row` on each row (a taken key stops it, a row other
//! code made invalid is replaced, Lockstep's own writes are not captured).

use lockstep::{CollectionId, DatabaseId, HeldRow, Key, Row, Store, StoreTx};
use lockstep_sqlite::names::{quote_ident, row_table, tracking_table};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::row;
use serde_json::json;

fn todos() -> CollectionId {
    CollectionId::new("todos").unwrap()
}

/// A store on a new file (the directory lives as long as the guard).
fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = DatabaseId::new("app", "u").unwrap();
    let store = SqliteStore::open(dir.path().join("db"), &db, SqliteOptions::default()).unwrap();
    (dir, store)
}

/// Rows `k0`, `k1`, … with `n` set to their number.
fn numbered(count: usize) -> Vec<(Key, Row)> {
    (0..count)
        .map(|n| (Key::from(format!("k{n}").as_str()), row(json!({ "n": n }))))
        .collect()
}

/// The rows as the leader gets them from a tab: held as their JSON text.
fn held(rows: &[(Key, Row)]) -> Vec<(Key, HeldRow)> {
    rows.iter()
        .map(|(key, value)| {
            let text = serde_json::to_string(value).unwrap();
            (key.clone(), HeldRow::from_json(text.into()).unwrap())
        })
        .collect()
}

fn refs(rows: &[(Key, HeldRow)]) -> Vec<(&Key, &HeldRow)> {
    rows.iter().map(|(key, value)| (key, value)).collect()
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn insert_rows_writes_every_row_across_chunks_and_their_fields() {
    let (_dir, mut store) = fresh();
    // 300 rows: statements of 128, 128, 32, 8 and 4 rows.
    let rows = numbered(300);
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.insert_rows(&todos(), &refs(&held(&rows))).unwrap(), None);
    tx.commit().unwrap();
    let mut expected = rows.clone();
    expected.sort_by_key(|(key, _)| key.to_json());
    assert_eq!(store.rows(&todos()).unwrap(), expected);
    let fields = count(
        &store,
        "SELECT count(*) FROM __lockstep_fields WHERE collection = 'todos' AND field = 'n'",
    );
    assert_eq!(fields, 1, "the field `n` is recorded for queries");
    let track = quote_ident(&tracking_table(&todos()));
    assert_eq!(count(&store, &format!("SELECT count(*) FROM {track}")), 0);
}

#[test]
fn insert_rows_stops_at_a_taken_key_with_the_rows_before_it_written() {
    let (_dir, mut store) = fresh();
    let rows = numbered(300);
    let mut tx = store.begin().unwrap();
    assert!(tx
        .insert_row(&todos(), &rows[150].0, &HeldRow::from(Row::new()))
        .unwrap());
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.insert_rows(&todos(), &refs(&held(&rows))).unwrap(),
        Some(150)
    );
    assert_eq!(
        tx.get_row(&todos(), &rows[0].0).unwrap(),
        Some(rows[0].1.clone())
    );
    assert_eq!(
        tx.get_row(&todos(), &rows[149].0).unwrap(),
        Some(rows[149].1.clone())
    );
    assert_eq!(
        tx.get_row(&todos(), &rows[150].0).unwrap(),
        Some(Row::new())
    );
    assert_eq!(tx.get_row(&todos(), &rows[151].0).unwrap(), None);
    assert_eq!(tx.get_row(&todos(), &rows[299].0).unwrap(), None);
}

#[test]
fn insert_rows_refuses_a_key_repeated_within_the_rows() {
    let (_dir, mut store) = fresh();
    let mut rows = numbered(10);
    rows.push((rows[3].0.clone(), row(json!({ "n": "again" }))));
    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.insert_rows(&todos(), &refs(&held(&rows))).unwrap(),
        Some(10)
    );
    assert_eq!(
        tx.get_row(&todos(), &rows[3].0).unwrap(),
        Some(rows[3].1.clone())
    );
}

#[test]
fn insert_rows_replaces_a_row_other_code_made_invalid() {
    let (_dir, mut store) = fresh();
    let rows = numbered(10);
    let mut tx = store.begin().unwrap();
    assert!(tx
        .insert_row(&todos(), &rows[0].0, &HeldRow::from(rows[0].1.clone()))
        .unwrap());
    tx.commit().unwrap();
    let table = quote_ident(&row_table(&todos()));
    store
        .connection()
        .execute(
            &format!(r#"INSERT INTO {table} (key, value) VALUES ('"k5"', 'not json')"#),
            [],
        )
        .unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.insert_rows(&todos(), &refs(&held(&rows[1..]))).unwrap(),
        None
    );
    tx.commit().unwrap();
    assert_eq!(store.rows(&todos()).unwrap(), rows);
}
