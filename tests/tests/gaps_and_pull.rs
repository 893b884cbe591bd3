//! Ordered, gap-free application (invariant 7): a lost `TxCommitted` is filled
//! by `PullSince`, and a tab behind the change log's retention reloads.

use lockstep::protocol::Body;
use lockstep::{Key, MemoryStore, Seq};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

fn is_tx(m: &lockstep::protocol::Message, seq: u64) -> bool {
    matches!(&m.body, Body::TxCommitted(tx) if tx.seq == Seq(seq))
}

#[test]
fn dropped_tx_committed_is_filled_by_pull_since() {
    let dir = tempfile::tempdir().unwrap();
    let db = database("todo", "u1");
    let todos = collection("todos");
    let store =
        SqliteStore::open(dir.path().join("app.db"), &db, SqliteOptions::default()).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    // Tab 1 never receives seq 1; it learns of the gap from seq 2 and pulls.
    net.drop_if = Box::new(|m, to| to == To::Tab(1) && is_tx(m, 1));
    net.tabs[0]
        .insert(net.now, todos.clone(), Key::from("a"), row(json!({"n": 1})))
        .unwrap();
    net.run();
    assert_eq!(net.tabs[1].status().applied, Some(Seq(0)));
    net.tabs[0]
        .insert(net.now, todos.clone(), Key::from("b"), row(json!({"n": 2})))
        .unwrap();
    net.run();
    assert_eq!(net.tabs[1].status().applied, Some(Seq(2)));
    assert_eq!(net.tabs[1].stats().pulls, 1);
    assert_eq!(net.tabs[1].snapshot(&todos), net.tabs[0].snapshot(&todos));

    // The last commit is lost and nothing follows: the heartbeat reveals the gap.
    net.drop_if = Box::new(|m, to| to == To::Tab(1) && is_tx(m, 3));
    net.tabs[0]
        .insert(net.now, todos.clone(), Key::from("c"), row(json!({"n": 3})))
        .unwrap();
    net.run();
    assert_eq!(net.tabs[1].status().applied, Some(Seq(2)));
    net.advance(1_000);
    assert_eq!(net.tabs[1].status().applied, Some(Seq(3)));
    assert_eq!(net.tabs[1].get(&todos, &Key::from("c")).unwrap()["n"], 3);
}

#[test]
fn tab_behind_change_log_retention_reloads_its_collections() {
    let db = database("todo", "u1");
    let todos = collection("todos");
    let mut net: Net<MemoryStore> = Net::new(db, 2);
    net.elect(0, MemoryStore::with_log_retention(3)).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    net.drop_if = Box::new(|m, to| to == To::Tab(1) && matches!(m.body, Body::TxCommitted(_)));
    for i in 0..10 {
        net.tabs[0]
            .insert(net.now, todos.clone(), Key::Int(i), row(json!({"i": i})))
            .unwrap();
        net.run();
    }
    net.tabs[0]
        .delete(net.now, todos.clone(), Key::Int(0))
        .unwrap();
    net.run();
    net.drop_if = Box::new(|_, _| false);
    net.advance(1_000);
    assert_eq!(net.tabs[1].stats().reloads, 1);
    assert_eq!(net.tabs[1].status().applied, Some(Seq(11)));
    assert_eq!(net.tabs[1].snapshot(&todos), net.tabs[0].snapshot(&todos));
    assert_eq!(net.tabs[1].len(&todos), 9);
}
