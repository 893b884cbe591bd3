//! A tab checks a write's ops in order against what it shows and what the
//! ops before them did, so one envelope may touch a key more than once
//! (insert, delete, insert again) and is refused whole, before anything is
//! sent or shown, when an op contradicts an earlier one (a second insert of
//! a key, a delete of a key an earlier op deleted).

use lockstep::{Key, MemoryStore, MutationError};
use lockstep_tests::envelopes::{delete, insert};
use lockstep_tests::*;
use serde_json::json;

fn one_tab() -> Net<MemoryStore> {
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    net.elect(0, MemoryStore::new()).unwrap();
    net.tabs[0].open_collection(net.now, collection("todos"));
    net.run();
    net
}

#[test]
fn an_envelope_may_insert_delete_and_insert_a_key_again() {
    let mut net = one_tab();
    let todos = collection("todos");
    let ops = vec![
        insert(&todos, "a", json!({"n": 1})),
        delete(&todos, "a"),
        insert(&todos, "a", json!({"n": 2})),
    ];
    net.tabs[0].mutate(net.now, ops).unwrap();
    assert_eq!(
        *net.tabs[0].get(&todos, &Key::from("a")).unwrap(),
        row(json!({"n": 2}))
    );
    net.run();
    assert_eq!(net.tabs[0].status().pending, 0, "the leader committed it");
    assert_eq!(
        *net.tabs[0].get(&todos, &Key::from("a")).unwrap(),
        row(json!({"n": 2}))
    );
}

#[test]
fn an_envelope_contradicting_itself_is_refused_whole() {
    let mut net = one_tab();
    let todos = collection("todos");
    let twice = vec![
        insert(&todos, "b", json!({"n": 1})),
        insert(&todos, "b", json!({"n": 2})),
    ];
    assert!(matches!(
        net.tabs[0].mutate(net.now, twice),
        Err(MutationError::KeyExists { .. })
    ));
    let deleted_twice = vec![
        insert(&todos, "c", json!({"n": 1})),
        delete(&todos, "c"),
        delete(&todos, "c"),
    ];
    assert!(matches!(
        net.tabs[0].mutate(net.now, deleted_twice),
        Err(MutationError::KeyMissing { .. })
    ));
    net.run();
    assert!(net.tabs[0].get(&todos, &Key::from("b")).is_none());
    assert!(net.tabs[0].get(&todos, &Key::from("c")).is_none());
    assert_eq!(net.tabs[0].status().pending, 0, "nothing was sent");
}
