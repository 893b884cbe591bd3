//! Issue 8, defect 1: a term that a message *claims* never deposes a leader
//! or silences it. The store is the authority on terms: a coordinator steps
//! down only when the store holds a newer term, and a tab switches to another
//! leader only after that leader answered the tab's directed `Join` (a live
//! coordinator answering is the proof).
//!
//! Before the fix (one stray heartbeat with term 999,999 stalled everything):
//!
//! ```text
//! ---- one_forged_heartbeat_with_a_huge_term_does_not_stall_writes stdout ----
//! tab 0: Timeout(10s)
//! ---- a_term_a_message_claims_never_deposes_the_leader stdout ----
//! a Join claiming term 999999 deposed the leader: Some(Deposed { mine: Term(1), newer: Term(999999) })
//! ---- a_forged_hello_never_switches_a_tab_without_a_directed_answer stdout ----
//! assertion `left == right` failed: the tab still follows the real leader
//!   left: Some(TabId(f0f00000-0000-4000-8000-000000000000))
//!  right: Some(TabId(01000000-0000-4000-8000-000000000000))
//! ---- a_leader_steps_down_when_the_store_holds_a_newer_term stdout ----
//! None
//! ---- a_join_addressed_to_another_tab_is_not_answered stdout ----
//! assertion failed: envelopes::exchange(&mut leader, lockstep::Timestamp(1), &probe).is_empty()
//! ```

use lockstep::protocol::{Body, LeaderInfo, Message, Storage, PROTOCOL_VERSION};
use lockstep::{
    Coordinator, CoordinatorConfig, DatabaseEpoch, Key, MemoryStore, Seq, StreamPosition, TabId,
    Term,
};
use lockstep_hub::HubConfig;
use lockstep_tests::envelopes::{self, envelope_id, insert};
use lockstep_tests::*;
use serde_json::json;

/// A tab id no tab or leader uses.
fn stranger() -> TabId {
    TabId::from_u128(0xF0F0)
}

/// A well-formed leader message from `from` claiming `term`.
fn forged(db: &lockstep::DatabaseId, from: TabId, term: u64, body: Body) -> Message {
    Message {
        v: PROTOCOL_VERSION,
        db: db.clone(),
        term: Term(term),
        from,
        to: None,
        body,
    }
}

/// What a forged leader says about itself: an epoch no database has.
fn forged_info() -> LeaderInfo {
    LeaderInfo::new(DatabaseEpoch::from_u128(0xBAD), Storage::Memory)
}

fn forged_heartbeat(db: &lockstep::DatabaseId, from: TabId, term: u64) -> Message {
    forged(
        db,
        from,
        term,
        Body::Heartbeat {
            position: StreamPosition {
                term: Term(term),
                seq: Seq(5),
            },
            leader: forged_info(),
        },
    )
}

/// The issue's scenario on real threads and a real SQLite file.
#[test]
fn one_forged_heartbeat_with_a_huge_term_does_not_stall_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 3, &todos);
    let leader = hub.leader().expect("a leader");

    let bytes = forged_heartbeat(&db, stranger(), 999_999).encode();
    for tab in &tabs {
        tab.inject(bytes.clone());
    }
    for (t, tab) in tabs.iter().enumerate() {
        let receipt = tab
            .insert(&todos, Key::Int(t as i64), row(json!({"t": t})))
            .unwrap();
        if let Err(e) = receipt.wait(WAIT) {
            panic!("tab {t}: {e:?}");
        }
    }
    assert_eq!(hub.leader(), Some(leader), "the leader was never deposed");
    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 3);
    for tab in &tabs {
        tab.wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
            .unwrap();
        assert_eq!(tab.status().unwrap().leader, Some(leader));
    }
}

#[test]
fn a_term_a_message_claims_never_deposes_the_leader() {
    let db = database("todo", "u1");
    let todos = collection("todos");
    let mut leader = envelopes::start(MemoryStore::new(), &db);
    let tab = envelopes::writer_tab();
    let claim = |body: Body| Message {
        term: Term(999_999),
        ..envelopes::from_tab(&db, tab, body)
    };

    let out = envelopes::exchange(
        &mut leader,
        lockstep::Timestamp(1),
        &claim(Body::Join { probe: 7 }),
    );
    assert!(
        leader.deposed().is_none(),
        "a Join claiming term 999999 deposed the leader: {:?}",
        leader.deposed()
    );
    assert!(
        matches!(out.as_slice(), [m] if matches!(m.body, Body::LeaderHello { probe: 7, .. }) && m.to == Some(tab)),
        "the Join is answered, its probe echoed: {out:?}"
    );
    let envelope = envelopes::envelope(
        &db,
        tab,
        envelope_id(1),
        vec![insert(&todos, "a", json!({}))],
    );
    let out = envelopes::exchange(
        &mut leader,
        lockstep::Timestamp(2),
        &Message {
            term: Term(999_999),
            ..envelope
        },
    );
    assert_eq!(envelopes::committed(&out).len(), 1, "the envelope commits");
    let pull = claim(Body::PullSince {
        request: 1,
        after: Seq(0),
        limit: 10,
    });
    envelopes::exchange(&mut leader, lockstep::Timestamp(3), &pull);
    let hello = forged_heartbeat(&db, stranger(), 999_999);
    envelopes::exchange(&mut leader, lockstep::Timestamp(4), &hello);
    assert!(leader.deposed().is_none());
    assert_eq!(leader.term(), Term(1));
    // Its heartbeats go on.
    leader.handle_timeout(lockstep::Timestamp(5_000));
    assert!(envelopes::drain(&mut leader)
        .iter()
        .any(|m| matches!(m.body, Body::Heartbeat { .. })));
}

#[test]
fn a_leader_steps_down_when_the_store_holds_a_newer_term() {
    let db = database("todo", "u1");
    let store = MemoryStore::new();
    let mut old = envelopes::start(store.clone(), &db);
    let now = lockstep::Timestamp(0);
    let newer = Coordinator::start(
        store,
        db.clone(),
        TabId::from_u128(9),
        CoordinatorConfig::default(),
        now,
    )
    .unwrap();
    assert_eq!(newer.term(), Term(2));
    // Before its next heartbeat the old leader reads the store's term.
    old.handle_timeout(now.plus_millis(1_000));
    let sent = envelopes::drain(&mut old);
    assert!(
        old.deposed().is_some_and(|d| d.newer == Term(2)),
        "{:?}",
        old.deposed()
    );
    assert!(
        sent.is_empty(),
        "no heartbeat from a stale leader: {sent:?}"
    );
}

#[test]
fn a_join_addressed_to_another_tab_is_not_answered() {
    let db = database("todo", "u1");
    let mut leader = envelopes::start(MemoryStore::new(), &db);
    let probe = Message {
        to: Some(stranger()),
        ..envelopes::from_tab(&db, envelopes::writer_tab(), Body::Join { probe: 3 })
    };
    assert!(envelopes::exchange(&mut leader, lockstep::Timestamp(1), &probe).is_empty());
    let probe = Message {
        to: Some(envelopes::leader_tab()),
        ..probe
    };
    assert_eq!(
        envelopes::exchange(&mut leader, lockstep::Timestamp(2), &probe).len(),
        1
    );
}

/// Two tabs follow the leader on tab 0; returns the network, ready.
fn ready_net() -> Net<MemoryStore> {
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 3);
    net.elect(0, MemoryStore::new()).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, collection("todos"));
    }
    net.run();
    net
}

#[test]
fn a_forged_hello_never_switches_a_tab_without_a_directed_answer() {
    let mut net = ready_net();
    let real = net.tabs[0].tab_id();
    let db = net.db.clone();
    for term in [1, 2, 999_999] {
        let hello = forged(
            &db,
            stranger(),
            term,
            Body::LeaderHello {
                position: StreamPosition {
                    term: Term(term),
                    seq: Seq(7),
                },
                leader: forged_info(),
                probe: term,
            },
        );
        let now = net.now;
        net.tabs[1].handle_bytes(now, &hello.encode());
        let beat = forged_heartbeat(&db, stranger(), term);
        net.tabs[1].handle_bytes(now, &beat.encode());
    }
    net.advance(1_000);
    let status = net.tabs[1].status();
    assert_eq!(
        status.leader,
        Some(real),
        "the tab still follows the real leader"
    );
    assert_eq!(status.term, Term(1));
    // The tab keeps working with the real leader.
    let todos = collection("todos");
    let now = net.now;
    net.tabs[1]
        .insert(now, todos.clone(), Key::from("after"), row(json!({})))
        .unwrap();
    net.run();
    assert_eq!(net.tabs[1].status().pending, 0);
    assert!(net.tabs[2].get(&todos, &Key::from("after")).is_some());
}

#[test]
fn failover_still_works_when_the_new_leaders_hello_and_the_probe_answers_are_lost() {
    let mut net = ready_net();
    let store = net.crash_leader().unwrap();
    // The new leader's hello, and the first answer to each tab's probe, are lost.
    let mut answered = std::collections::HashSet::new();
    net.drop_if = Box::new(move |m, to| match (&m.body, m.to) {
        (Body::LeaderHello { .. }, None) => true,
        (Body::LeaderHello { .. }, Some(tab)) => answered.insert(tab),
        _ => {
            let _ = to;
            false
        }
    });
    net.elect(1, store).unwrap();
    net.run();
    let todos = collection("todos");
    let now = net.now;
    net.tabs[2]
        .insert(now, todos.clone(), Key::from("x"), row(json!({"v": 1})))
        .unwrap();
    net.run();
    // Heartbeats carry the new term: the tabs probe again and the answers arrive.
    net.advance(1_000);
    net.advance(1_000);
    net.advance(1_000);
    let new_leader = net.tabs[1].tab_id();
    for tab in &net.tabs {
        let status = tab.status();
        assert_eq!(status.leader, Some(new_leader));
        assert_eq!(status.term, Term(2));
        assert_eq!(status.pending, 0);
        assert!(tab.get(&todos, &Key::from("x")).is_some());
    }
}

#[test]
fn a_tab_opened_later_still_joins() {
    let mut net = ready_net();
    let todos = collection("todos");
    let now = net.now;
    net.tabs[2]
        .insert(now, todos.clone(), Key::from("k"), row(json!({})))
        .unwrap();
    net.run();
    net.open_tab(77, std::slice::from_ref(&todos));
    net.run();
    assert!(net.tabs[3].is_ready(&todos));
    assert_eq!(net.tabs[3].status().applied, Some(Seq(1)));
}

#[test]
fn a_hello_addressed_to_a_new_tab_is_followed_only_if_it_echoes_its_join() {
    let mut net = ready_net();
    let db = net.db.clone();
    let newcomer = TabId::from_u128(42);
    net.open_tab(42, &[]);
    // Before the real answer arrives, forged hellos addressed to the new tab,
    // with made-up probe numbers and a huge seq, reach it.
    for probe in [0, 1, 7, u64::MAX] {
        let hello = Message {
            to: Some(newcomer),
            ..forged(
                &db,
                stranger(),
                5,
                Body::LeaderHello {
                    position: StreamPosition {
                        term: Term(5),
                        seq: Seq(999),
                    },
                    leader: forged_info(),
                    probe,
                },
            )
        };
        let now = net.now;
        net.tabs[3].handle_bytes(now, &hello.encode());
    }
    assert_eq!(net.tabs[3].status().leader, None);
    net.run();
    let status = net.tabs[3].status();
    assert_eq!(status.leader, Some(net.tabs[0].tab_id()));
    assert_eq!(status.applied, Some(Seq(0)));
}

/// A forged request in a real tab's name (its id is public on the channel)
/// gets a real answer addressed to that tab; the answer must not be taken
/// for the reply to the tab's own request. Before request ids were random,
/// the forged cursor made the tab skip rows:
///
/// ```text
/// assertion `left == right` failed: the new tab holds every row
///   left: [Str("d"), Str("e")]
///  right: [Str("a"), Str("b"), Str("c"), Str("d"), Str("e")]
/// ```
#[test]
fn a_forged_request_in_a_tabs_name_cannot_steer_its_reads() {
    let mut net = ready_net();
    let todos = collection("todos");
    for key in ["a", "b", "c", "d", "e"] {
        let now = net.now;
        net.tabs[1]
            .insert(now, todos.clone(), Key::from(key), row(json!({})))
            .unwrap();
        net.run();
    }
    let newcomer = TabId::from_u128(43);
    net.open_tab(43, &[]);
    net.run();
    let now = net.now;
    net.tabs[3].open_collection(now, todos.clone());
    // The leader answers hydrate requests "from" the new tab, resuming after "c".
    for request in 0..8 {
        let forged = envelopes::from_tab(
            &net.db,
            newcomer,
            Body::Hydrate {
                request,
                collection: todos.clone(),
                after: Some(Key::from("c")),
                limit: 100,
            },
        );
        net.leader
            .as_mut()
            .unwrap()
            .handle_bytes(now, &forged.encode());
    }
    net.run();
    assert!(net.tabs[3].is_ready(&todos));
    let keys: Vec<Key> = net.tabs[3].snapshot(&todos).keys().cloned().collect();
    let all: Vec<Key> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(Key::from)
        .collect();
    assert_eq!(keys, all, "the new tab holds every row");
}
