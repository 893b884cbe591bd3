//! Invariant 11: different scopes use different files, locks and channels.

use lockstep::protocol::{Body, LeaderInfo, Message, Storage, PROTOCOL_VERSION};
use lockstep::{DatabaseEpoch, Key, StoreError, TabId, Term};
use lockstep_hub::HubConfig;
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

#[test]
fn two_scopes_never_see_each_others_rows() {
    let dir = tempfile::tempdir().unwrap();
    let todos = collection("todos");
    let (alice, bob) = (database("todo", "alice"), database("todo", "bob"));
    let alice_hub = sqlite_hub(&dir.path().join("alice.db"), &alice, HubConfig::default());
    let bob_hub = sqlite_hub(&dir.path().join("bob.db"), &bob, HubConfig::default());
    let a = open_ready_tabs(&alice_hub, 1, &todos).remove(0);
    let b = open_ready_tabs(&bob_hub, 1, &todos).remove(0);
    a.insert(&todos, Key::from("alice-secret"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    b.insert(&todos, Key::from("bob-secret"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    assert_eq!(tab_rows(&a, &todos).len(), 1);
    assert_eq!(tab_rows(&b, &todos).len(), 1);
    assert!(a.get(&todos, &Key::from("bob-secret")).is_none());

    // A message of Alice's database reaching Bob's tab is counted and ignored.
    let forged = Message {
        v: PROTOCOL_VERSION,
        db: alice.clone(),
        term: Term(99),
        from: TabId::from_u128(5),
        to: None,
        body: Body::Heartbeat {
            position: Default::default(),
            leader: LeaderInfo::new(DatabaseEpoch::from_u128(99), Storage::Persistent),
        },
    };
    b.inject(forged.encode());
    b.wait_until(WAIT, |t| t.status().unwrap().stats.dropped.foreign == 1)
        .unwrap();
    assert_eq!(b.status().unwrap().term, Term(1));

    // Bob's file can never be opened as Alice's database.
    match SqliteStore::open(dir.path().join("bob.db"), &alice, SqliteOptions::default()) {
        Err(StoreError::WrongDatabase { .. }) => {}
        other => panic!("expected WrongDatabase, got {:?}", other.map(|_| ())),
    }
}
