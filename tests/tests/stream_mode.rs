//! Stream mode: a tab that keeps no rows and hands every committed change to
//! an app-side store (TanStack DB in the TypeScript bindings). The store built
//! only from `Synced` batches must equal the database, the writer must hear
//! "committed" only after the store holds the commit's rows, and a reload
//! must never make a still-existing row disappear.

use lockstep::protocol::Body;
use lockstep::{CollectionMode, Event, Key, MemoryStore, Op, Seq, SyncBatch};
use lockstep_tests::*;
use serde_json::json;

/// Tab 0 leads and writes in rows mode; tab 1 streams `todos`.
fn net_with_streaming_tab(store: MemoryStore) -> Net<MemoryStore> {
    let db = database("todo", "u1");
    let mut net: Net<MemoryStore> = Net::new(db, 2);
    net.elect(0, store).unwrap();
    net.tabs[0].open_collection(net.now, collection("todos"));
    net.tabs[1].open_collection_as(net.now, collection("todos"), CollectionMode::Stream);
    net.run();
    net
}

fn drain(net: &mut Net<MemoryStore>, tab: usize, sink: &mut StreamSink) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = net.tabs[tab].poll_event() {
        sink.apply(&event);
        events.push(event);
    }
    events
}

#[test]
fn the_stream_builds_the_database_state_and_the_tab_keeps_no_rows() {
    let todos = collection("todos");
    let store = MemoryStore::new();
    let mut net = net_with_streaming_tab(store.clone());
    let mut sink = StreamSink::default();
    for i in 0..20 {
        net.tabs[0]
            .insert(net.now, todos.clone(), Key::Int(i), row(json!({"i": i})))
            .unwrap();
    }
    net.run();
    net.tabs[0]
        .patch(
            net.now,
            todos.clone(),
            Key::Int(3),
            row(json!({"done": true})),
        )
        .unwrap();
    net.tabs[0]
        .delete(net.now, todos.clone(), Key::Int(4))
        .unwrap();
    net.run();
    drain(&mut net, 1, &mut sink);
    assert!(sink.ready.contains(&todos));
    assert_eq!(sink.pairs(&todos), store.rows(&todos));
    assert_eq!(sink.pairs(&todos).len(), 19);
    assert!(
        net.tabs[1].is_empty(&todos),
        "stream mode keeps no rows in the tab"
    );
    assert!(net.tabs[1].synced(&todos).is_empty());
}

#[test]
fn a_submitted_write_is_committed_only_after_its_rows_reached_the_store() {
    let todos = collection("todos");
    let mut net = net_with_streaming_tab(MemoryStore::new());
    let mut sink = StreamSink::default();
    drain(&mut net, 1, &mut sink);
    let id = net.tabs[1]
        .submit(
            net.now,
            vec![Op::Insert {
                collection: todos.clone(),
                key: Key::from("a"),
                value: lockstep::HeldRow::shared(row(json!({"title": "x"}))),
            }],
        )
        .unwrap();
    // No optimistic copy in the tab: the app's store shows it until committed.
    assert!(net.tabs[1].get(&todos, &Key::from("a")).is_none());
    net.run();
    let mut seen_row = false;
    let mut committed = false;
    while let Some(event) = net.tabs[1].poll_event() {
        sink.apply(&event);
        match &event {
            Event::Synced { .. } => seen_row = sink.rows[&todos].contains_key(&Key::from("a")),
            Event::Committed { envelope_id, .. } if *envelope_id == id => {
                assert!(
                    seen_row,
                    "the store held the row before the writer heard committed"
                );
                committed = true;
            }
            _ => {}
        }
    }
    assert!(committed);
    // Writes through `mutate` are refused for stream-mode collections.
    assert!(net.tabs[1]
        .insert(net.now, todos.clone(), Key::from("b"), row(json!({})))
        .is_err());
}

#[test]
fn a_reload_upserts_in_place_and_then_forgets_only_rows_deleted_meanwhile() {
    let todos = collection("todos");
    let store = MemoryStore::with_log_retention(3);
    let mut net = net_with_streaming_tab(store.clone());
    let mut sink = StreamSink::default();
    for i in 0..5 {
        net.tabs[0]
            .insert(net.now, todos.clone(), Key::Int(i), row(json!({"i": i})))
            .unwrap();
        net.run();
    }
    drain(&mut net, 1, &mut sink);
    assert_eq!(sink.pairs(&todos).len(), 5);
    // Tab 1 misses more commits than the change log keeps: it must reload.
    net.drop_if = Box::new(|m, to| to == To::Tab(1) && matches!(m.body, Body::TxCommitted(_)));
    for i in 5..10 {
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
    let events = drain(&mut net, 1, &mut sink);
    // Row 1 existed throughout: no batch before the final one may remove it.
    let mut check = StreamSink {
        rows: std::collections::BTreeMap::from([(
            todos.clone(),
            (0..5)
                .map(|i| (Key::Int(i), row(json!({"i": i}))))
                .collect(),
        )]),
        ..StreamSink::default()
    };
    for event in &events {
        check.apply(event);
        assert!(check.rows[&todos].contains_key(&Key::Int(1)));
    }
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Synced {
            batch: SyncBatch::Retain { .. },
            ..
        }
    )));
    assert_eq!(sink.pairs(&todos), store.rows(&todos));
    assert!(!sink.rows[&todos].contains_key(&Key::Int(0)));
    assert_eq!(net.tabs[1].status().applied, Some(Seq(11)));
}
