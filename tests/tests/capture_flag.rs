//! Issue 8, lesser item: Lockstep's own writes switched capture off through a
//! committed flag (`__lockstep_capture.suppress`), so a committed write of
//! that flag by other code turned capture off: rows other code wrote next
//! were never broadcast, and tabs diverged from SQLite for good.
//!
//! Before the fix:
//!
//! ```text
//! ---- a_foreign_write_to_lockstep_tables_never_switches_capture_off stdout ----
//! tab 0 equals SQLite:
//!   left: [(Str("a"), {}), (Str("b"), {})]
//!  right: [(Str("a"), {}), (Str("b"), {}), (Str("ext"), {"by": String("other code")})]
//! ```

use lockstep::Key;
use lockstep_sqlite::names::{quote_ident, row_table};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

#[test]
fn a_foreign_write_to_lockstep_tables_never_switches_capture_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let store = SqliteStore::open(&path, &db, SqliteOptions::default()).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db.clone(), 2);
    net.elect(0, store).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    let now = net.now;
    net.tabs[0]
        .insert(now, todos.clone(), Key::from("a"), row(json!({})))
        .unwrap();
    net.run();

    // Other code writes into Lockstep's own tables (whatever they are now:
    // the flag of older versions is gone, so this may fail), then a row.
    let other = rusqlite::Connection::open(&path).unwrap();
    let _ = other.execute("UPDATE __lockstep_capture SET suppress = 1", []);
    let table = quote_ident(&row_table(&todos));
    other
        .execute(
            &format!(
                r#"INSERT INTO {table} (key, value) VALUES ('"ext"', '{{"by":"other code"}}')"#
            ),
            [],
        )
        .unwrap();
    net.advance(1_000);
    let now = net.now;
    net.tabs[1]
        .insert(now, todos.clone(), Key::from("b"), row(json!({})))
        .unwrap();
    net.run();
    net.advance(1_000);

    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 3);
    for (t, tab) in net.tabs.iter().enumerate() {
        let shown: Vec<_> = tab
            .snapshot(&todos)
            .into_iter()
            .map(|(k, v)| (k, v.to_row()))
            .collect();
        assert_eq!(shown, expected, "tab {t} equals SQLite");
    }
}
