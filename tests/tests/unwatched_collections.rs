//! A tab computes change events only for the collections somebody
//! subscribes to (a 10,000-row write, or a 100,000-row load, in a tab that
//! does not listen computed them for nobody). A subscriber of one collection
//! still gets every change of it, whatever happens in the others, and one
//! who subscribes later, or to a tab that loaded its rows unwatched, gets
//! the rows as they are.

use std::collections::BTreeMap;

use lockstep::{CollectionId, Event, Key, MemoryStore, SharedRow, SubscriptionId};
use lockstep_tests::*;
use serde_json::json;

/// The change events `tab` has queued: (subscription, collection, key, after).
type Seen = Vec<(SubscriptionId, CollectionId, Key, Option<SharedRow>)>;

fn changes(net: &mut Net<MemoryStore>, tab: usize) -> Seen {
    let mut seen = Vec::new();
    while let Some(event) = net.tabs[tab].poll_event() {
        if let Event::Changes {
            subscription,
            collection,
            changes,
        } = event
        {
            for change in changes.iter() {
                seen.push((
                    subscription,
                    collection.clone(),
                    change.key.clone(),
                    change.after.clone(),
                ));
            }
        }
    }
    seen
}

/// The rows a list of events adds up to, from `start`.
fn add_up(mut start: BTreeMap<Key, SharedRow>, seen: &Seen) -> BTreeMap<Key, SharedRow> {
    for (_, _, key, after) in seen {
        match after {
            Some(row) => start.insert(key.clone(), row.clone()),
            None => start.remove(key),
        };
    }
    start
}

fn shown(net: &Net<MemoryStore>, tab: usize, c: &CollectionId) -> BTreeMap<Key, SharedRow> {
    net.tabs[tab].snapshot(c).into_iter().collect()
}

#[test]
fn a_subscriber_of_one_collection_gets_all_of_its_changes_and_none_of_the_others() {
    let (todos, notes) = (collection("todos"), collection("notes"));
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 2);
    net.elect(0, MemoryStore::new()).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
        tab.open_collection(net.now, notes.clone());
    }
    net.run();
    let watching = net.tabs[1].subscribe(todos.clone(), true);
    let now = net.now;
    // Writes in both collections, from the leader's tab and from tab 1 (its
    // own commits come back to it; the others' are broadcast).
    for (tab, n) in [(0, 0), (1, 1), (1, 2), (0, 3)] {
        let t = &mut net.tabs[tab];
        t.insert(now, todos.clone(), Key::Int(n), row(json!({"n": n})))
            .unwrap();
        t.insert(now, notes.clone(), Key::Int(n), row(json!({"n": n})))
            .unwrap();
    }
    net.run();
    net.tabs[1]
        .update(now, todos.clone(), Key::Int(0), row(json!({"n": 10})))
        .unwrap();
    net.tabs[1].delete(now, notes.clone(), Key::Int(3)).unwrap();
    net.tabs[0].delete(now, todos.clone(), Key::Int(1)).unwrap();
    net.run();

    let seen = changes(&mut net, 1);
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|(s, c, ..)| *s == watching && *c == todos),
        "only the watched collection's events: {seen:?}"
    );
    assert_eq!(add_up(BTreeMap::new(), &seen), shown(&net, 1, &todos));
    assert_eq!(shown(&net, 1, &todos).len(), 3);
    assert_eq!(shown(&net, 1, &notes).len(), 3);
    // Tab 0 subscribes to nothing: nothing queued.
    assert!(changes(&mut net, 0).is_empty());

    // Subscribing later gives the rows as they are, then every change.
    let later = net.tabs[1].subscribe(notes.clone(), true);
    let first = changes(&mut net, 1);
    assert!(first.iter().all(|(s, ..)| *s == later));
    assert_eq!(add_up(BTreeMap::new(), &first), shown(&net, 1, &notes));
    net.tabs[0]
        .insert(now, notes.clone(), Key::Int(9), row(json!({"n": 9})))
        .unwrap();
    net.run();
    let next = changes(&mut net, 1);
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].2, Key::Int(9));
}

#[test]
fn a_tab_that_loaded_its_rows_unwatched_gives_them_to_a_later_subscriber() {
    let todos = collection("todos");
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    net.elect(0, MemoryStore::new()).unwrap();
    net.tabs[0].open_collection(net.now, todos.clone());
    net.run();
    let now = net.now;
    for n in 0..50 {
        net.tabs[0]
            .insert(now, todos.clone(), Key::Int(n), row(json!({"n": n})))
            .unwrap();
    }
    net.run();
    // A new tab loads the 50 rows with nobody listening.
    let late = net.open_tab(7, std::slice::from_ref(&todos));
    net.run();
    assert_eq!(shown(&net, late, &todos).len(), 50);
    assert!(changes(&mut net, late).is_empty());
    let subscription = net.tabs[late].subscribe(todos.clone(), true);
    let seen = changes(&mut net, late);
    assert!(seen.iter().all(|(s, ..)| *s == subscription));
    assert_eq!(add_up(BTreeMap::new(), &seen), shown(&net, late, &todos));

    // A subscriber during a reload gets the load's difference at its end.
    let watched = net.open_tab(8, &[]);
    let subscription = net.tabs[watched].subscribe(todos.clone(), true);
    net.tabs[watched].open_collection(net.now, todos.clone());
    net.run();
    let seen = changes(&mut net, watched);
    assert!(seen.iter().all(|(s, ..)| *s == subscription));
    assert_eq!(add_up(BTreeMap::new(), &seen), shown(&net, watched, &todos));
    assert_eq!(seen.len(), 50);
}
