//! Issue 8, defect 4: a row that other code makes invalid (a value that is
//! not a JSON object) is invisible to Lockstep, so open tabs must lose it too:
//! the capture broadcasts a tombstone for it. Before, nothing was broadcast,
//! so open tabs kept the old value while newly hydrated tabs skipped the row.
//! And since every tab now sees the key as absent, inserting it replaces the
//! invalid row instead of being refused with KeyExists.
//!
//! Before the fix:
//!
//! ```text
//! ---- a_row_made_invalid_by_other_code_leaves_open_and_new_tabs_equal stdout ----
//! open and new tabs agree:
//!   left: [Str("k"), Str("other")]
//!  right: [Str("other")]
//! ---- a_key_whose_row_is_invalid_can_be_inserted_again stdout ----
//! called `Result::unwrap()` on an `Err` value: KeyExists { collection: CollectionId("todos"), key: Str("k") }
//! ```

use lockstep::{Event, Key, PersistedCollectionRuntime};
use lockstep_sqlite::names::{quote_ident, row_table};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

/// Tab 0 leads on a SQLite file; both tabs hold `k` and `other`; then other
/// code overwrites `k` with a value that is not a JSON object.
fn net_with_an_invalidated_row(dir: &tempfile::TempDir) -> Net<SqliteStore> {
    let path = dir.path().join("app.db");
    let db = database("todo", "u1");
    let todos = collection("todos");
    let store = SqliteStore::open(&path, &db, SqliteOptions::default()).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    for key in ["k", "other"] {
        let now = net.now;
        net.tabs[0]
            .insert(now, todos.clone(), Key::from(key), row(json!({"v": 1})))
            .unwrap();
        net.run();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let table = quote_ident(&row_table(&todos));
    conn.execute(
        &format!(r#"UPDATE {table} SET value = '[1, 2]' WHERE key = '"k"'"#),
        [],
    )
    .unwrap();
    net.advance(1_000);
    net
}

fn keys(tab: &PersistedCollectionRuntime) -> Vec<Key> {
    tab.snapshot(&collection("todos")).keys().cloned().collect()
}

#[test]
fn a_row_made_invalid_by_other_code_leaves_open_and_new_tabs_equal() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net_with_an_invalidated_row(&dir);
    net.open_tab(3, &[collection("todos")]);
    net.run();
    assert!(net.tabs[2].is_ready(&collection("todos")));
    assert_eq!(
        keys(&net.tabs[1]),
        keys(&net.tabs[2]),
        "open and new tabs agree"
    );
    assert_eq!(keys(&net.tabs[1]), vec![Key::from("other")]);
    net.advance(1_000);
    let info = net.tabs[1].status().leader_info.unwrap();
    assert!(info.invalid_rows >= 1, "{info:?}");
    assert!(
        info.last_invalid_row
            .as_deref()
            .is_some_and(|why| why.contains("todos")),
        "{info:?}"
    );
}

#[test]
fn a_key_whose_row_is_invalid_can_be_inserted_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net_with_an_invalidated_row(&dir);
    let todos = collection("todos");
    while net.tabs[1].poll_event().is_some() {}
    let now = net.now;
    let id = net.tabs[1]
        .insert(now, todos.clone(), Key::from("k"), row(json!({"v": 2})))
        .unwrap();
    net.run();
    while let Some(event) = net.tabs[1].poll_event() {
        if let Event::Rejected {
            envelope_id,
            rejection,
        } = event
        {
            assert_ne!(envelope_id, id, "rejected: {rejection:?}");
        }
    }
    for tab in &net.tabs {
        assert_eq!(tab.get(&todos, &Key::from("k")).unwrap()["v"], 2);
        assert_eq!(tab.status().pending, 0);
    }
    let path = dir.path().join("app.db");
    assert_eq!(sqlite_rows(&path, &net.db, &todos).len(), 2);
}
