//! A leader that no other tab has spoken to keeps its commits to its own
//! tab: no other tab follows it yet (a tab follows a leader only once it
//! answered its `Join`), so a broadcast would be encoded and posted for
//! nobody. Its own envelopes are acknowledged and not broadcast at all;
//! writes by other code go to its own tab only. From the first message of
//! another tab on, every commit is broadcast, and a tab that joins late
//! reads what came before from the store: nothing is lost.

use lockstep::protocol::{Body, Message};
use lockstep::{Coordinator, DatabaseId, Key, MemoryStore, Timestamp};
use lockstep_tests::envelopes::{
    committed, drain, envelope, envelope_id, exchange, from_tab, insert, leader_tab, start,
    writer_tab,
};
use lockstep_tests::{collection, database, row, Net};
use serde_json::json;

fn lone_leader() -> (Coordinator<MemoryStore>, DatabaseId) {
    let db = database("todo", "u1");
    (start(MemoryStore::new(), &db), db)
}

/// The own tab's insert of key `n`, as envelope `n`, and what the leader sends.
fn own_insert(leader: &mut Coordinator<MemoryStore>, db: &DatabaseId, n: u64) -> Vec<Message> {
    let ops = vec![insert(
        &collection("todos"),
        Key::Int(n as i64),
        json!({ "n": n }),
    )];
    exchange(
        leader,
        Timestamp(0),
        &envelope(db, leader_tab(), envelope_id(n), ops),
    )
}

#[test]
fn a_lone_leader_acknowledges_its_own_commit_and_broadcasts_nothing() {
    let (mut leader, db) = lone_leader();
    let sent = own_insert(&mut leader, &db, 1);
    assert!(
        matches!(sent.as_slice(), [m] if matches!(m.body, Body::Acknowledged { .. }) && m.to == Some(leader_tab())),
        "only the acknowledgement: {sent:?}"
    );
    assert_eq!(leader.stats().commits_kept_local, 1);
    assert_eq!(leader.position().seq.0, 1, "committed all the same");
}

#[test]
fn a_lone_leader_sends_writes_by_other_code_to_its_own_tab_only() {
    let (mut leader, _db) = lone_leader();
    leader.store_mut().write_external(
        &collection("todos"),
        &Key::Int(5),
        Some(row(json!({ "n": 5 }))),
    );
    leader.handle_timeout(Timestamp(60_000));
    let sent = drain(&mut leader);
    let commits: Vec<&Message> = sent
        .iter()
        .filter(|m| matches!(m.body, Body::TxCommitted(_)))
        .collect();
    assert_eq!(commits.len(), 1, "{sent:?}");
    assert_eq!(
        commits[0].to,
        Some(leader_tab()),
        "addressed to its own tab"
    );
    assert_eq!(leader.stats().commits_kept_local, 1);
}

#[test]
fn after_another_tab_speaks_every_commit_is_broadcast() {
    let (mut leader, db) = lone_leader();
    own_insert(&mut leader, &db, 1);
    let hello = exchange(
        &mut leader,
        Timestamp(0),
        &from_tab(&db, writer_tab(), Body::Join { probe: 9 }),
    );
    assert!(matches!(hello[0].body, Body::LeaderHello { probe: 9, .. }));
    let sent = own_insert(&mut leader, &db, 2);
    let commits = committed(&sent);
    assert_eq!(commits.len(), 1, "the commit is broadcast: {sent:?}");
    assert!(sent
        .iter()
        .any(|m| matches!(m.body, Body::TxCommitted(_)) && m.to.is_none()));
    assert_eq!(leader.stats().commits_kept_local, 1, "only the first");
}

/// End to end: the leader's tab writes alone (nothing broadcast), a second
/// tab opens and joins, and sees those rows and every later commit of both
/// tabs, as the store holds them.
#[test]
fn a_tab_that_joins_a_lone_leader_late_sees_every_row() {
    let todos = collection("todos");
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    net.elect(0, MemoryStore::new()).unwrap();
    net.tabs[0].open_collection(net.now, todos.clone());
    let write = |net: &mut Net<MemoryStore>, tab: usize, n: i64| {
        let now = net.now;
        net.tabs[tab]
            .insert(
                now,
                collection("todos"),
                Key::Int(n),
                row(json!({ "n": n })),
            )
            .unwrap();
    };
    for n in 0..3 {
        net.run();
        write(&mut net, 0, n);
    }
    net.run();
    let kept = net.leader.as_ref().unwrap().stats().commits_kept_local;
    assert_eq!(kept, 3, "nothing was broadcast while the tab was alone");
    let late = net.open_tab(7, std::slice::from_ref(&todos));
    net.run();
    write(&mut net, late, 10);
    write(&mut net, 0, 11);
    // No timer fires: the late tab has tab 0's last row from the broadcast,
    // not from a heartbeat showing it behind.
    net.run();
    let expected: Vec<i64> = vec![0, 1, 2, 10, 11];
    for tab in [0, late] {
        let keys: Vec<Key> = net.tabs[tab].snapshot(&todos).keys().cloned().collect();
        assert_eq!(
            keys,
            expected.iter().map(|&n| Key::Int(n)).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        net.leader.as_ref().unwrap().stats().commits_kept_local,
        kept,
        "once the second tab spoke, every commit was broadcast"
    );
}
