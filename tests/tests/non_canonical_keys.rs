//! Issue 8, defect 3: keys that other code writes straight into SQLite in a
//! non-canonical JSON form (`"\u00e9"` for `"é"`, `1.0` for `1`, surrounding
//! spaces). Lockstep looks keys up and pages by their canonical text, so such
//! a row must be invalid (skipped, counted and reported) rather than parsed
//! leniently: lenient parsing made open and new tabs disagree, updates fail
//! with KeyMissing, inserts create a second row for one logical key, and a
//! page ending on such a key skip every key sorting between its two forms.
//!
//! Before the fix:
//!
//! ```text
//! ---- pages_never_skip_keys_after_a_non_canonical_one stdout ----
//!   left: [Int(2), Int(3)]
//!  right: [Str("a"), Str("b"), Int(3)]
//! ---- open_and_newly_hydrated_tabs_agree_on_non_canonical_rows stdout ----
//! a new tab shows what open tabs do:
//!   left: [Int(1), Str("a"), Str("é")]
//!  right: [Str("a")]
//! ---- every_row_a_tab_shows_can_be_updated_and_keys_never_double stdout ----
//! rejected: KeyMissing { collection: CollectionId("todos"), key: Int(1) }
//! ```

use lockstep::{Key, Seq, Store};
use lockstep_sqlite::names::{quote_ident, row_table};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes::{self, envelope_id, insert};
use lockstep_tests::*;
use serde_json::json;

/// Rows written by other code with non-canonical keys, next to canonical ones.
const FOREIGN_ROWS: &str = r#"('"\u00e9"', '{"form":"escaped"}'), ('1.0', '{"form":"float"}'), (' 2', '{"form":"spaced"}'), ('"a"', '{"form":"canonical"}'), ('"b"', '{"form":"canonical"}'), ('3', '{"form":"canonical"}')"#;

fn foreign_insert(path: &std::path::Path, rows: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let table = quote_ident(&row_table(&collection("todos")));
    conn.execute_batch(&format!("INSERT INTO {table} (key, value) VALUES {rows};"))
        .unwrap();
}

/// A store on `path` whose `todos` table exists.
fn store_with_table(path: &std::path::Path, db: &lockstep::DatabaseId) -> SqliteStore {
    let mut leader = envelopes::start(
        SqliteStore::open(path, db, SqliteOptions::default()).unwrap(),
        db,
    );
    let todos = collection("todos");
    envelopes::send(
        &mut leader,
        db,
        envelope_id(1),
        vec![insert(&todos, "seed", json!({}))],
    );
    envelopes::send(
        &mut leader,
        db,
        envelope_id(2),
        vec![envelopes::delete(&todos, "seed")],
    );
    leader.into_store()
}

#[test]
fn pages_never_skip_keys_after_a_non_canonical_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let db = database("todo", "u1");
    let mut store = store_with_table(&path, &db);
    foreign_insert(&path, FOREIGN_ROWS);
    let todos = collection("todos");
    let (mut keys, mut skipped, mut after) = (Vec::new(), 0, None);
    loop {
        let page = store.load_page(&todos, after.as_ref(), 1).unwrap();
        skipped += page.skipped_invalid;
        keys.extend(page.rows.iter().map(|r| r.key().clone()));
        after = page.rows.last().map(|r| r.key().clone()).or(after);
        if !page.more {
            break;
        }
    }
    // Pages come in the store's (text) order.
    assert_eq!(keys, vec![Key::from("a"), Key::from("b"), Key::Int(3)]);
    assert!(skipped >= 3, "the three non-canonical rows are counted");
}

/// Tab 0 leads on a SQLite file; tab 1 is open; other code writes rows with
/// non-canonical keys; returns the network once the leader captured them.
fn net_with_foreign_rows(dir: &tempfile::TempDir) -> (Net<SqliteStore>, std::path::PathBuf) {
    let path = dir.path().join("app.db");
    let db = database("todo", "u1");
    let store = store_with_table(&path, &db);
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, collection("todos"));
    }
    net.run();
    foreign_insert(
        &path,
        r#"('"\u00e9"', '{"form":"escaped"}'), ('1.0', '{"form":"float"}'), ('"a"', '{"form":"canonical"}')"#,
    );
    net.advance(1_000);
    (net, path)
}

fn keys(tab: &lockstep::PersistedCollectionRuntime) -> Vec<Key> {
    tab.snapshot(&collection("todos")).keys().cloned().collect()
}

#[test]
fn open_and_newly_hydrated_tabs_agree_on_non_canonical_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (mut net, _path) = net_with_foreign_rows(&dir);
    net.open_tab(3, &[collection("todos")]);
    net.run();
    assert!(net.tabs[2].is_ready(&collection("todos")));
    assert_eq!(
        keys(&net.tabs[2]),
        keys(&net.tabs[1]),
        "a new tab shows what open tabs do"
    );
    assert_eq!(keys(&net.tabs[1]), vec![Key::from("a")]);
    let leader = net.leader.as_ref().unwrap();
    assert!(leader.stats().invalid_rows_skipped >= 2);
    // The next heartbeat tells every tab.
    net.advance(1_000);
    let info = net.tabs[1].status().leader_info.unwrap();
    assert!(info.invalid_rows >= 2, "reported to every tab: {info:?}");
    assert!(
        info.last_invalid_row
            .as_deref()
            .is_some_and(|why| why.contains("canonical")),
        "{info:?}"
    );
}

#[test]
fn every_row_a_tab_shows_can_be_updated_and_keys_never_double() {
    let dir = tempfile::tempdir().unwrap();
    let (mut net, path) = net_with_foreign_rows(&dir);
    let todos = collection("todos");
    // A tab opened now hydrates; every key it shows can be updated.
    net.open_tab(3, std::slice::from_ref(&todos));
    net.run();
    for key in keys(&net.tabs[2]) {
        let now = net.now;
        let id = net.tabs[2]
            .update(
                now,
                todos.clone(),
                key.clone(),
                row(json!({"updated": true})),
            )
            .unwrap();
        net.run();
        while let Some(event) = net.tabs[2].poll_event() {
            if let lockstep::Event::Rejected {
                envelope_id,
                rejection,
            } = event
            {
                assert_ne!(envelope_id, id, "rejected: {rejection:?}");
            }
        }
    }
    // Inserting keys that exist only in a non-canonical form makes one row each.
    for key in [Key::Int(1), Key::from("é")] {
        let now = net.now;
        net.tabs[1]
            .insert(now, todos.clone(), key, row(json!({"fresh": true})))
            .unwrap();
        net.run();
    }
    let rows = sqlite_rows(&path, &net.db, &todos);
    let mut logical: Vec<Key> = rows.iter().map(|(k, _)| k.clone()).collect();
    logical.dedup();
    assert_eq!(
        logical.len(),
        rows.len(),
        "one row per logical key: {rows:?}"
    );
    for tab in &net.tabs {
        assert_eq!(tab.status().pending, 0);
        assert_eq!(
            tab.snapshot(&todos)
                .into_iter()
                .map(|(k, v)| (k, v.to_row()))
                .collect::<Vec<_>>(),
            rows
        );
    }
    assert!(net.tabs[1].status().applied >= Some(Seq(3)));
}
