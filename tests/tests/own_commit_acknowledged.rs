//! Protocol 4: the leader acknowledges its own tab's envelope with
//! `Acknowledged` (position, and the rows its patches made), and the
//! broadcast of the commit skips that tab (`Message::skips`), which makes the
//! commit's changes from the ops it sent instead of reading every row again.
//! Whatever way the commit reaches the tab (the acknowledgement, the
//! broadcast, both, or neither and then a pull), the tab ends with the rows
//! the store holds and the other tabs show.

use std::cell::RefCell;
use std::rc::Rc;

use lockstep::protocol::{Body, Message};
use lockstep::{CollectionId, HeldRow, Key, MemoryStore, Op, Row};
use lockstep_tests::*;
use serde_json::json;

/// Two tabs on a memory store, tab 0 leads, both with `todos` open and one
/// row `a` in it.
fn two_tabs() -> (Net<MemoryStore>, MemoryStore, CollectionId) {
    let todos = collection("todos");
    let store = MemoryStore::new();
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 2);
    net.elect(0, store.clone()).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    net.tabs[1]
        .insert(
            net.now,
            todos.clone(),
            Key::from("a"),
            row(json!({"n": 1, "tag": "x"})),
        )
        .unwrap();
    net.run();
    (net, store, todos)
}

/// One envelope with every kind of op, two on the same key.
fn mixed_ops(todos: &CollectionId) -> Vec<Op> {
    let held = |v: serde_json::Value| HeldRow::shared(row(v));
    vec![
        Op::Insert {
            collection: todos.clone(),
            key: Key::from("b"),
            value: held(json!({"n": 2})),
        },
        Op::Insert {
            collection: todos.clone(),
            key: Key::from("c"),
            value: held(json!({"n": 3})),
        },
        Op::Patch {
            collection: todos.clone(),
            key: Key::from("a"),
            fields: row(json!({"n": 10})),
            unset: vec![],
        },
        Op::Delete {
            collection: todos.clone(),
            key: Key::from("c"),
        },
        Op::Update {
            collection: todos.clone(),
            key: Key::from("b"),
            value: held(json!({"n": 20})),
        },
    ]
}

/// Records which bodies reach tab 0, and drops those `drop` picks.
fn watch_tab0(
    net: &mut Net<MemoryStore>,
    drop: fn(&Body) -> bool,
) -> Rc<RefCell<Vec<&'static str>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    net.drop_if = Box::new(move |m: &Message, to| {
        if to != To::Tab(0) {
            return false;
        }
        match &m.body {
            Body::TxCommitted(_) => log.borrow_mut().push("commit"),
            Body::Acknowledged { .. } => log.borrow_mut().push("acknowledged"),
            _ => {}
        }
        drop(&m.body)
    });
    seen
}

fn assert_everyone_agrees(net: &Net<MemoryStore>, store: &MemoryStore, todos: &CollectionId) {
    let want: Vec<(Key, Row)> = vec![
        (Key::from("a"), row(json!({"n": 10, "tag": "x"}))),
        (Key::from("b"), row(json!({"n": 20}))),
    ];
    assert_eq!(store.rows(todos), want);
    for tab in &net.tabs {
        let shown: Vec<(Key, Row)> = tab
            .synced(todos)
            .iter()
            .map(|(k, v)| (k.clone(), v.to_row()))
            .collect();
        assert_eq!(shown, want, "tab {}", tab.tab_id());
        assert_eq!(tab.status().pending, 0);
    }
}

#[test]
fn the_leaders_own_tab_applies_its_commit_from_the_acknowledgement_alone() {
    let (mut net, store, todos) = two_tabs();
    let seen = watch_tab0(&mut net, |_| false);
    net.tabs[0].submit(net.now, mixed_ops(&todos)).unwrap();
    net.run();
    assert_eq!(
        *seen.borrow(),
        vec!["acknowledged"],
        "the broadcast skips the origin"
    );
    assert_everyone_agrees(&net, &store, &todos);
    assert_eq!(net.tabs[0].stats().pulls, 0, "nothing was pulled");
}

#[test]
fn a_follower_s_envelope_is_not_acknowledged_apart() {
    let (mut net, store, todos) = two_tabs();
    let seen = Rc::new(RefCell::new(0));
    let acks = seen.clone();
    net.drop_if = Box::new(move |m: &Message, _| {
        if matches!(m.body, Body::Acknowledged { .. }) {
            *acks.borrow_mut() += 1;
        }
        false
    });
    net.tabs[1].submit(net.now, mixed_ops(&todos)).unwrap();
    net.run();
    assert_eq!(*seen.borrow(), 0);
    assert_everyone_agrees(&net, &store, &todos);
}

#[test]
fn a_lost_acknowledgement_is_made_up_by_a_pull() {
    let (mut net, store, todos) = two_tabs();
    let seen = watch_tab0(&mut net, |body| matches!(body, Body::Acknowledged { .. }));
    net.tabs[0].submit(net.now, mixed_ops(&todos)).unwrap();
    net.run();
    assert_eq!(*seen.borrow(), vec!["acknowledged"]);
    assert_eq!(
        net.tabs[0].status().pending,
        1,
        "not committed yet as far as tab 0 knows"
    );
    // The next heartbeat tells tab 0 the position; it pulls the commit.
    net.drop_if = Box::new(|_, _| false);
    net.advance(5_000);
    assert_everyone_agrees(&net, &store, &todos);
    assert!(net.tabs[0].stats().pulls >= 1);
}

/// Tab 0's commit as the broadcast tab 1 got and the acknowledgement tab 0
/// would have got, both kept from delivery to tab 0.
fn commit_both_ways(net: &mut Net<MemoryStore>, todos: &CollectionId) -> (Message, Message) {
    let kept: Rc<RefCell<(Option<Message>, Option<Message>)>> = Rc::default();
    let keep = kept.clone();
    net.drop_if = Box::new(move |m: &Message, to| match (&m.body, to) {
        (Body::TxCommitted(_), To::Tab(1)) => {
            keep.borrow_mut().0 = Some(m.clone());
            false
        }
        (Body::Acknowledged { .. }, To::Tab(0)) => {
            keep.borrow_mut().1 = Some(m.clone());
            true
        }
        _ => false,
    });
    net.tabs[0].submit(net.now, mixed_ops(todos)).unwrap();
    net.run();
    net.drop_if = Box::new(|_, _| false);
    let (broadcast, acknowledged) = kept.take();
    (broadcast.unwrap(), acknowledged.unwrap())
}

#[test]
fn whichever_copy_comes_second_is_a_duplicate() {
    for broadcast_first in [true, false] {
        let (mut net, store, todos) = two_tabs();
        let (broadcast, acknowledged) = commit_both_ways(&mut net, &todos);
        let before = net.tabs[0].stats().duplicate_txs;
        let (first, second) = if broadcast_first {
            (broadcast, acknowledged)
        } else {
            (acknowledged, broadcast)
        };
        net.tabs[0].handle(net.now, first);
        net.tabs[0].handle(net.now, second);
        net.run();
        assert_everyone_agrees(&net, &store, &todos);
        assert_eq!(
            net.tabs[0].stats().duplicate_txs,
            before + 1,
            "broadcast first: {broadcast_first}"
        );
    }
}
