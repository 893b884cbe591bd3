//! Hydration progress carries a total: the leader counts the collection's
//! rows on the first page of a load, so a view can draw a progress bar (the
//! Leptos bindings' `progress` signal) instead of a bare counter. And a tab
//! asks for the next page before it applies the one it got, so the leader
//! reads it meanwhile.

use std::cell::RefCell;
use std::rc::Rc;

use lockstep::protocol::{Body, Message};
use lockstep::{CoordinatorConfig, Event, Key, MemoryStore, Op};
use lockstep_tests::*;
use serde_json::json;

/// `(rows_loaded, rows_total)` of every progress event of `tab`.
fn progress(net: &mut Net<MemoryStore>, tab: usize) -> Vec<(usize, Option<usize>)> {
    let mut seen = Vec::new();
    while let Some(event) = net.tabs[tab].poll_event() {
        if let Event::Progress {
            rows_loaded,
            rows_total,
            ..
        } = event
        {
            seen.push((rows_loaded, rows_total));
        }
    }
    seen
}

fn net_with_rows(n: i64) -> Net<MemoryStore> {
    let todos = collection("todos");
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    // Pages of 500 rows, so a few thousand rows take several.
    let config = CoordinatorConfig {
        max_hydrate_page: 500,
        ..CoordinatorConfig::default()
    };
    net.elect_with(0, MemoryStore::new(), config).unwrap();
    net.tabs[0].open_collection(net.now, todos.clone());
    net.run();
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let ops = chunk
            .iter()
            .map(|&i| Op::Insert {
                collection: todos.clone(),
                key: Key::Int(i),
                value: lockstep::HeldRow::shared(row(
                    json!({"title": format!("todo {i}"), "done": false}),
                )),
            })
            .collect();
        net.tabs[0].mutate(net.now, ops).unwrap();
        net.run();
    }
    net
}

#[test]
fn a_large_load_reports_its_total_from_the_first_page_on() {
    let mut net = net_with_rows(3_000);
    let tab = net.open_tab(77, &[collection("todos")]);
    net.run();
    let seen = progress(&mut net, tab);
    assert!(
        seen.len() >= 2,
        "3,000 rows come in several pages: {seen:?}"
    );
    assert!(
        seen.iter().all(|&(_, total)| total == Some(3_000)),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "loaded only grows: {seen:?}"
    );
    assert_eq!(seen.last().map(|p| p.0), Some(3_000));
    assert!(net.tabs[tab].is_ready(&collection("todos")));
}

#[test]
fn an_empty_collection_reports_a_total_of_zero() {
    let mut net = net_with_rows(0);
    let tab = net.open_tab(77, &[collection("todos")]);
    net.run();
    assert_eq!(progress(&mut net, tab), vec![(0, Some(0))]);
}

#[test]
fn the_next_page_is_asked_for_before_this_page_is_applied() {
    let todos = collection("todos");
    let mut net = net_with_rows(1_500);
    let tab = net.open_tab(77, std::slice::from_ref(&todos));
    let me = net.tabs[tab].tab_id();
    // Hold back the pages sent to the new tab, to hand them over by hand.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let keep = held.clone();
    net.drop_if = Box::new(move |m, _| {
        let page = matches!(m.body, Body::HydratePage { .. }) && m.to == Some(me);
        if page {
            keep.borrow_mut().push(m.encode());
        }
        page
    });
    net.run();
    let pages = held.take();
    assert_eq!(pages.len(), 1, "one page at a time is asked for");

    let mut sent: Vec<Message> = Vec::new();
    net.tabs[tab].handle_bytes_sending_first(net.now, &pages[0], |runtime| {
        assert_eq!(
            runtime.synced(&todos).len(),
            0,
            "the request goes out before the page's rows are applied"
        );
        while let Some(m) = runtime.poll_transmit() {
            sent.push(m);
        }
    });
    assert!(
        matches!(
            sent.as_slice(),
            [Message {
                body: Body::Hydrate {
                    after: Some(Key::Int(499)),
                    ..
                },
                ..
            }]
        ),
        "{sent:?}"
    );
    assert_eq!(net.tabs[tab].synced(&todos).len(), 500);

    net.drop_if = Box::new(|_, _| false);
    let leader = net.leader.as_mut().expect("elected");
    for m in sent {
        leader.handle_bytes(net.now, &m.encode());
    }
    net.run();
    assert!(net.tabs[tab].is_ready(&todos));
    assert_eq!(net.tabs[tab].synced(&todos).len(), 1_500);
}
