//! A row keeps its fields in the order they were written, as JavaScript's
//! `JSON.stringify` and `Object.assign` do: through the envelope, SQLite,
//! the commit, a patch (changed fields stay where they were, new ones come
//! last, removed ones go) and another tab's hydration. Rows travel as their
//! JSON text, so a path that sorted the fields would show one row in two
//! orders.

use lockstep::{HeldRow, Key, Op, SharedRow};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

#[test]
fn a_row_keeps_the_order_of_its_fields_through_commit_patch_and_hydration() {
    let db = database("app", "u");
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("db"), &db, SqliteOptions::default()).unwrap();
    let mut net = Net::new(db, 3);
    net.elect(0, store).unwrap();
    let todos = collection("todos");
    let a = Key::from("a");
    for tab in 0..2 {
        net.tabs[tab].open_collection(net.now, todos.clone());
    }
    net.run();

    let written = r#"{"title":"one","done":false,"at":3,"tags":["z","a"]}"#;
    let value = SharedRow::new(HeldRow::from_json(written.into()).unwrap());
    net.tabs[1]
        .mutate(
            net.now,
            vec![Op::Insert {
                collection: todos.clone(),
                key: a.clone(),
                value,
            }],
        )
        .unwrap();
    net.run();
    for tab in 0..2 {
        let row = net.tabs[tab].get(&todos, &a).unwrap();
        assert_eq!(row.json(), written, "tab {tab}");
        assert_eq!(serde_json::to_string(&row.to_row()).unwrap(), written);
    }

    net.tabs[0]
        .mutate(
            net.now,
            vec![Op::Patch {
                collection: todos.clone(),
                key: a.clone(),
                fields: row(json!({"note": "n", "done": true})),
                unset: vec!["at".into()],
            }],
        )
        .unwrap();
    net.run();
    let patched = r#"{"title":"one","done":true,"tags":["z","a"],"note":"n"}"#;
    net.tabs[2].open_collection(net.now, todos.clone());
    net.run();
    for tab in 0..3 {
        assert_eq!(
            net.tabs[tab].get(&todos, &a).unwrap().json(),
            patched,
            "tab {tab}"
        );
    }
}
