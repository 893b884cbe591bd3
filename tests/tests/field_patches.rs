//! Patches: an update that carries only the fields it changes is merged into
//! the row by the leader inside the commit transaction, so two tabs changing
//! different fields of one row at the same moment keep both changes (with
//! whole-row updates the later one silently drops the earlier field: the
//! lost update TanStack DB users report in #1817).

use lockstep::{Event, Key, Op, Rejection, Seq};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

fn two_tabs_with_one_row(dir: &std::path::Path) -> Net<SqliteStore> {
    let db = database("todo", "u1");
    let todos = collection("todos");
    let store = SqliteStore::open(dir.join("app.db"), &db, SqliteOptions::default()).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    net.tabs[0]
        .insert(
            net.now,
            todos,
            Key::from("t1"),
            row(json!({"title": "write docs", "done": false})),
        )
        .unwrap();
    net.run();
    net
}

#[test]
fn concurrent_patches_of_different_fields_keep_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = two_tabs_with_one_row(dir.path());
    let todos = collection("todos");
    let key = Key::from("t1");
    // Both tabs write before either hears of the other's commit.
    net.tabs[0]
        .patch(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"done": true})),
        )
        .unwrap();
    net.tabs[1]
        .patch(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"title": "ship it"})),
        )
        .unwrap();
    net.run();
    let want = row(json!({"title": "ship it", "done": true}));
    for tab in &net.tabs {
        assert_eq!(*tab.get(&todos, &key).unwrap(), want);
        assert_eq!(tab.status().pending, 0);
    }
    let stored = SqliteStore::open(
        dir.path().join("app.db"),
        &database("todo", "u1"),
        SqliteOptions::default(),
    )
    .unwrap()
    .rows(&todos)
    .unwrap();
    assert_eq!(stored, vec![(key, want)]);
}

#[test]
fn whole_row_updates_lose_the_earlier_field_which_is_why_patches_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = two_tabs_with_one_row(dir.path());
    let todos = collection("todos");
    let key = Key::from("t1");
    net.tabs[0]
        .update(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"title": "write docs", "done": true})),
        )
        .unwrap();
    net.tabs[1]
        .update(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"title": "ship it", "done": false})),
        )
        .unwrap();
    net.run();
    assert_eq!(net.tabs[0].get(&todos, &key).unwrap()["done"], false);
}

#[test]
fn a_pending_patch_shows_other_tabs_changes_to_other_fields_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = two_tabs_with_one_row(dir.path());
    let todos = collection("todos");
    let key = Key::from("t1");
    // Tab 0's patch stays in flight while tab 1's commits.
    net.drop_if = Box::new(|m, to| {
        to == To::Leader
            && m.from == lockstep::TabId::from_u128(1)
            && matches!(m.body, lockstep::protocol::Body::Envelope(_))
    });
    net.tabs[0]
        .patch(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"done": true})),
        )
        .unwrap();
    net.run();
    net.drop_if = Box::new(|_, _| false);
    net.tabs[1]
        .patch(
            net.now,
            todos.clone(),
            key.clone(),
            row(json!({"title": "ship it"})),
        )
        .unwrap();
    net.run();
    assert_eq!(
        net.tabs[0].status().pending,
        1,
        "tab 0's patch is still in flight"
    );
    assert_eq!(
        *net.tabs[0].get(&todos, &key).unwrap(),
        row(json!({"title": "ship it", "done": true})),
        "the synced title shows under the pending done"
    );
    assert_eq!(
        *net.tabs[0].synced(&todos).get(&key).unwrap().clone(),
        row(json!({"title": "ship it", "done": false}))
    );
    net.advance(1_000); // the re-send commits
    assert_eq!(net.tabs[0].status().pending, 0);
    assert_eq!(
        *net.tabs[1].get(&todos, &key).unwrap(),
        row(json!({"title": "ship it", "done": true}))
    );
}

#[test]
fn a_patch_removes_the_fields_it_unsets_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = two_tabs_with_one_row(dir.path());
    let todos = collection("todos");
    let key = Key::from("t1");
    net.tabs[0]
        .mutate(
            net.now,
            vec![Op::Patch {
                collection: todos.clone(),
                key: key.clone(),
                fields: row(json!({"note": "later"})),
                unset: vec!["done".into(), "never-there".into()],
            }],
        )
        .unwrap();
    net.run();
    for tab in &net.tabs {
        assert_eq!(
            *tab.get(&todos, &key).unwrap(),
            row(json!({"title": "write docs", "note": "later"}))
        );
    }
}

#[test]
fn a_patch_of_a_row_another_tab_deleted_is_refused_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = two_tabs_with_one_row(dir.path());
    let todos = collection("todos");
    let key = Key::from("t1");
    // Tab 0 has not heard of the delete yet when it patches.
    net.drop_if = Box::new(|m, to| {
        to == To::Tab(0) && matches!(m.body, lockstep::protocol::Body::TxCommitted(_))
    });
    net.tabs[1]
        .delete(net.now, todos.clone(), key.clone())
        .unwrap();
    net.run();
    net.drop_if = Box::new(|_, _| false);
    let patch = net.tabs[0]
        .mutate(
            net.now,
            vec![Op::Patch {
                collection: todos.clone(),
                key: key.clone(),
                fields: row(json!({"done": true})),
                unset: Vec::new(),
            }],
        )
        .unwrap();
    net.run();
    let mut refused = None;
    while let Some(event) = net.tabs[0].poll_event() {
        if let Event::Rejected {
            envelope_id,
            rejection,
        } = event
        {
            assert_eq!(envelope_id, patch);
            refused = Some(rejection);
        }
    }
    assert!(matches!(refused, Some(Rejection::KeyMissing { .. })));
    net.advance(1_000); // the heartbeat reveals the missed delete
    assert!(net.tabs[0].get(&todos, &key).is_none());
    assert_eq!(net.tabs[0].status().applied, Some(Seq(2)));
}
