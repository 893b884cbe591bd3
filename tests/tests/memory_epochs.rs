//! Issue 8, defect 2: without OPFS each leader keeps the database in memory,
//! so every new leader starts a new incarnation (a new epoch) at term 1, seq 0.
//! Tabs must recognise it, reload from it and re-send what is pending —
//! including envelopes the old incarnation acknowledged but the tab had not
//! applied yet — instead of dropping the new leader as stale and hanging.
//!
//! Before the fix:
//!
//! ```text
//! ---- a_new_in_memory_leader_is_a_new_epoch_tabs_reload_and_resend stdout ----
//! assertion `left == right` failed: both pending envelopes committed in the new database
//!   left: Seq(1) right: Seq(2)
//! ---- the_same_tab_leading_again_on_a_fresh_memory_store_is_a_new_epoch stdout ----
//!   left: Some(Seq(2)) right: Some(Seq(1))
//! ---- change_events_report_the_reload_as_changes_from_the_old_view stdout ----
//!   left: [] right: [Str("gone")]
//! ```

use lockstep::protocol::Body;
use lockstep::{Key, MemoryStore, Seq, Term};
use lockstep_tests::*;
use serde_json::json;

fn volatile() -> MemoryStore {
    MemoryStore::new().volatile()
}

fn ready_net(tabs: usize) -> Net<MemoryStore> {
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), tabs);
    net.elect(0, volatile()).unwrap();
    for tab in &mut net.tabs {
        tab.open_collection(net.now, collection("todos"));
    }
    net.run();
    net
}

#[test]
fn a_new_in_memory_leader_is_a_new_epoch_tabs_reload_and_resend() {
    let mut net = ready_net(3);
    let todos = collection("todos");
    for (t, key) in ["a", "b"].into_iter().enumerate() {
        let now = net.now;
        net.tabs[t]
            .insert(now, todos.clone(), Key::from(key), row(json!({"n": t})))
            .unwrap();
        net.run();
    }
    // Tab 2's next envelope commits (seq 3), but it never sees the commit nor
    // a pull page: on its re-send it is told "already committed at 3", and
    // still waits to apply seq 3 when the leader dies.
    net.drop_if = Box::new(|m, to| {
        to == To::Tab(2) && matches!(m.body, Body::TxCommitted(_) | Body::PullPage { .. })
    });
    let now = net.now;
    let acknowledged = net.tabs[2]
        .insert(now, todos.clone(), Key::from("acked"), row(json!({})))
        .unwrap();
    net.run();
    net.advance(1_000);
    assert_eq!(net.tabs[2].status().pending, 1);
    // Tab 1 writes while the leader is gone: this one was never sent.
    net.crash_leader();
    net.drop_if = Box::new(|_, _| false);
    let now = net.now;
    let unsent = net.tabs[1]
        .insert(now, todos.clone(), Key::from("unsent"), row(json!({})))
        .unwrap();

    // The next leader's database is a new, empty incarnation at term 1.
    net.elect(1, volatile()).unwrap();
    net.run();
    for _ in 0..5 {
        net.advance(1_000);
    }
    let store = net.leader.as_ref().unwrap();
    assert_eq!(store.term(), Term(1));
    let seq = store.position().seq;
    assert_eq!(
        seq,
        Seq(2),
        "both pending envelopes committed in the new database"
    );
    for (t, tab) in net.tabs.iter().enumerate() {
        let status = tab.status();
        assert_eq!(
            status.applied,
            Some(seq),
            "tab {t} is current with the new database"
        );
        assert_eq!(status.pending, 0, "tab {t}");
        assert!(tab.is_ready(&todos));
        let keys: Vec<Key> = tab.snapshot(&todos).keys().cloned().collect();
        assert_eq!(
            keys,
            vec![Key::from("acked"), Key::from("unsent")],
            "tab {t}: rows of the lost incarnation are gone, pending writes are kept"
        );
        assert_eq!(tab.stats().epoch_changes, 1, "tab {t}");
    }
    assert_ne!(acknowledged, unsent);
}

#[test]
fn the_same_tab_leading_again_on_a_fresh_memory_store_is_a_new_epoch() {
    let mut net = ready_net(2);
    let todos = collection("todos");
    for key in ["old-1", "old-2"] {
        let now = net.now;
        net.tabs[1]
            .insert(now, todos.clone(), Key::from(key), row(json!({})))
            .unwrap();
        net.run();
    }
    net.crash_leader();
    net.elect(0, volatile()).unwrap();
    net.run();
    let now = net.now;
    net.tabs[1]
        .insert(now, todos.clone(), Key::from("new"), row(json!({})))
        .unwrap();
    net.run();
    net.advance(1_000);
    for tab in &net.tabs {
        assert_eq!(tab.status().applied, Some(Seq(1)));
        assert_eq!(tab.len(&todos), 1);
        assert!(tab.get(&todos, &Key::from("new")).is_some());
    }
}

#[test]
fn change_events_report_the_reload_as_changes_from_the_old_view() {
    let mut net = ready_net(2);
    let todos = collection("todos");
    let now = net.now;
    net.tabs[1]
        .insert(now, todos.clone(), Key::from("gone"), row(json!({})))
        .unwrap();
    net.run();
    let subscription = net.tabs[1].subscribe(todos.clone(), false);
    while net.tabs[1].poll_event().is_some() {}
    net.crash_leader();
    net.elect(0, volatile()).unwrap();
    net.run();
    net.advance(1_000);
    let mut removed = Vec::new();
    while let Some(event) = net.tabs[1].poll_event() {
        if let lockstep::Event::Changes {
            subscription: s,
            changes,
            ..
        } = event
        {
            assert_eq!(s, subscription);
            removed.extend(
                changes
                    .iter()
                    .filter(|c| c.after.is_none())
                    .map(|c| c.key.clone()),
            );
        }
    }
    assert_eq!(removed, vec![Key::from("gone")]);
}
