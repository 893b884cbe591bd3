//! `query` and `describe`: any tab reads the live database through the
//! leader (seed 001's debug page, done right). Collections are views named
//! after them; anything that would write is refused before it runs.

use lockstep::{Event, Key, QueryError, QueryLimits, QueryRows, ReadId, Store, StoreTx};
use lockstep_sqlite::names::{quote_ident, row_table};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::{json, Value};

fn net(dir: &std::path::Path) -> Net<SqliteStore> {
    let db = database("todo", "u1");
    let store = SqliteStore::open(dir.join("app.db"), &db, SqliteOptions::default()).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    net.tabs[0].open_collection(net.now, collection("todos"));
    net.run();
    for (i, done) in [(1, true), (2, false), (3, true)] {
        net.tabs[0]
            .insert(
                net.now,
                collection("todos"),
                Key::Int(i),
                row(json!({"title": format!("todo {i}"), "done": done, "tags": ["a"]})),
            )
            .unwrap();
    }
    net.run();
    net
}

/// Asks from tab 1 (a tab that never opened the collection) and waits.
fn ask(net: &mut Net<SqliteStore>, sql: &str, params: Vec<Value>) -> Result<QueryRows, QueryError> {
    let id = net.tabs[1].query(net.now, sql.into(), params);
    net.run();
    answer(net, id)
}

fn answer(net: &mut Net<SqliteStore>, id: ReadId) -> Result<QueryRows, QueryError> {
    while let Some(event) = net.tabs[1].poll_event() {
        if let Event::Queried { id: got, outcome } = event {
            assert_eq!(got, id);
            return outcome;
        }
    }
    panic!("no answer to query {id:?}")
}

#[test]
fn collections_are_views_named_after_them_with_a_column_per_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path());
    let rows = ask(
        &mut net,
        "select count(*) as n from todos where done = ?",
        vec![json!(true)],
    )
    .unwrap();
    assert_eq!(rows.columns, vec!["n"]);
    assert_eq!(rows.rows, vec![vec![json!(2)]]);
    let rows = ask(
        &mut net,
        "select _key, title, tags, _row from todos order by _key desc limit 1",
        vec![],
    )
    .unwrap();
    assert_eq!(rows.columns, vec!["_key", "title", "tags", "_row"]);
    assert_eq!(rows.rows[0][0], json!(3));
    assert_eq!(rows.rows[0][1], json!("todo 3"));
    assert_eq!(
        rows.rows[0][2],
        json!(r#"["a"]"#),
        "arrays come as JSON text"
    );
    assert!(!rows.truncated);
}

#[test]
fn a_field_that_appears_later_becomes_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path());
    assert!(matches!(
        ask(&mut net, "select priority from todos", vec![]),
        Err(QueryError::Sql { .. })
    ));
    net.tabs[0]
        .patch(
            net.now,
            collection("todos"),
            Key::Int(1),
            row(json!({"priority": 5})),
        )
        .unwrap();
    net.run();
    let rows = ask(
        &mut net,
        "select priority from todos where priority is not null",
        vec![],
    )
    .unwrap();
    assert_eq!(rows.rows, vec![vec![json!(5)]]);
}

#[test]
fn fields_written_by_other_code_become_columns_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path());
    let table = quote_ident(&row_table(&collection("todos")));
    net.leader
        .as_mut()
        .unwrap()
        .store_mut()
        .connection()
        .execute(
            &format!(
                r#"INSERT INTO {table} (key, value) VALUES ('9', '{{"owner": "sync engine"}}')"#
            ),
            [],
        )
        .unwrap();
    net.advance(200); // the leader captures and broadcasts it
    let rows = ask(&mut net, "select owner from todos where _key = 9", vec![]).unwrap();
    assert_eq!(rows.rows, vec![vec![json!("sync engine")]]);
}

#[test]
fn anything_that_would_write_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path());
    let table = quote_ident(&row_table(&collection("todos")));
    for sql in [
        format!("insert into {table} (key, value) values ('7', '{{}}')"),
        format!("update {table} set value = '{{}}'"),
        format!("delete from {table}"),
        "delete from todos".to_string(),
        "drop table __lockstep_meta".to_string(),
        "create table t (x)".to_string(),
        "create temp table t (x)".to_string(),
        "attach database ':memory:' as other".to_string(),
        "begin".to_string(),
        "pragma user_version = 7".to_string(),
        "pragma journal_mode = delete".to_string(),
        "vacuum".to_string(),
        "with x as (select 1) insert into __lockstep_fields select 'a', 'b' from x".to_string(),
    ] {
        let outcome = ask(&mut net, &sql, vec![]);
        assert!(
            matches!(
                outcome,
                Err(QueryError::NotReadOnly { .. }) | Err(QueryError::Sql { .. })
            ),
            "{sql} was not refused: {outcome:?}"
        );
    }
    assert!(matches!(
        ask(&mut net, "select 1; delete from todos", vec![]),
        Err(QueryError::Sql { .. })
    ));
    // Still three rows, and the leader still commits.
    let rows = ask(&mut net, "select count(*) from todos", vec![]).unwrap();
    assert_eq!(rows.rows, vec![vec![json!(3)]]);
    net.tabs[0]
        .insert(
            net.now,
            collection("todos"),
            Key::Int(4),
            row(json!({"title": "after"})),
        )
        .unwrap();
    net.run();
    assert_eq!(net.tabs[0].status().pending, 0);
    // Reading introspection pragmas is fine.
    assert!(ask(&mut net, "pragma table_list", vec![]).is_ok());
}

#[test]
fn limits_stop_runaway_queries_and_cut_large_results() {
    let dir = tempfile::tempdir().unwrap();
    let db = database("todo", "u1");
    let mut store =
        SqliteStore::open(dir.path().join("a.db"), &db, SqliteOptions::default()).unwrap();
    {
        let mut tx = store.begin().unwrap();
        for i in 0..50 {
            tx.insert_row(
                &collection("todos"),
                &Key::Int(i),
                &lockstep::HeldRow::from(row(json!({"i": i}))),
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let tight = QueryLimits {
        max_rows: 10,
        max_steps: 100_000,
        ..QueryLimits::default()
    };
    let rows = store.query("select i from todos", &[], &tight).unwrap();
    assert_eq!(rows.rows.len(), 10);
    assert!(rows.truncated);
    let endless =
        "with recursive n(x) as (select 1 union all select x + 1 from n) select count(*) from n";
    assert_eq!(
        store.query(endless, &[], &tight),
        Err(QueryError::TooLong { steps: 100_000 })
    );
    assert!(matches!(
        store.query("select ?", &[], &tight),
        Err(QueryError::Sql { .. })
    ));
    // The connection is still fine for Lockstep after a stopped query.
    assert_eq!(store.rows(&collection("todos")).unwrap().len(), 50);
}

#[test]
fn describe_lists_collections_with_their_row_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path());
    let id = net.tabs[1].describe(net.now);
    net.run();
    let report = std::iter::from_fn(|| net.tabs[1].poll_event())
        .find_map(|e| match e {
            Event::Described { id: got, outcome } if got == id => outcome.ok(),
            _ => None,
        })
        .expect("described");
    assert_eq!(report.collections.len(), 1);
    assert_eq!(report.collections[0].collection, collection("todos"));
    assert_eq!(report.collections[0].rows, 3);
    assert_eq!(report.position.seq.0, 3);
    assert_eq!(report.counters.committed, 3);
    assert_eq!(report.leader, net.tabs[0].tab_id());
}
