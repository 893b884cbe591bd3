//! Failover: the leader dies between its SQLite commit and its broadcast.

use lockstep::{Key, Seq};
use lockstep_hub::HubConfig;
use lockstep_tests::*;
use serde_json::json;

#[test]
fn failover_leader_dies_after_commit_before_broadcast_followers_get_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let mut tabs = open_ready_tabs(&hub, 3, &todos);
    let leader = tabs
        .iter()
        .position(|t| t.status().unwrap().is_leader)
        .unwrap();
    let leader = tabs.remove(leader);
    let (b, c) = (&tabs[0], &tabs[1]);
    b.insert(&todos, Key::from("before"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();

    leader.crash_after_next_commit();
    let receipt = b
        .insert(&todos, Key::from("in-flight"), row(json!({"v": 1})))
        .unwrap();
    // The old leader committed to SQLite and died silently; b re-sends to the new
    // leader, which answers with the original position instead of applying it again.
    let position = receipt.wait(WAIT).unwrap();
    assert_eq!(position.seq, Seq(2));
    drop(leader);

    b.insert(&todos, Key::from("after"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(
        expected.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        vec![
            Key::from("after"),
            Key::from("before"),
            Key::from("in-flight")
        ]
    );
    for tab in [b, c] {
        tab.wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
            .unwrap();
        let status = tab.status().unwrap();
        assert_eq!(
            status.applied,
            Some(Seq(3)),
            "three commits, the re-sent envelope not applied twice"
        );
        assert_eq!(status.pending, 0);
    }
}

#[test]
fn failover_close_leader_while_three_tabs_write_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let mut tabs = open_ready_tabs(&hub, 4, &todos);
    let leader = tabs
        .iter()
        .position(|t| t.status().unwrap().is_leader)
        .unwrap();
    let leader = tabs.remove(leader);
    let acknowledged = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (t, tab) in tabs.iter().enumerate() {
            let (acknowledged, todos) = (&acknowledged, &todos);
            s.spawn(move || {
                for i in 0..40 {
                    let key = Key::from(format!("{t}-{i}").as_str());
                    let receipt = tab
                        .insert(todos, key.clone(), row(json!({"t": t, "i": i})))
                        .unwrap();
                    if i % 10 == 9 {
                        receipt.wait(WAIT).unwrap();
                    }
                    acknowledged.lock().unwrap().push((key, receipt));
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        leader.crash();
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    for (_, receipt) in &acknowledged {
        receipt
            .wait(WAIT)
            .expect("every write commits despite the crash");
    }
    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 120);
    for tab in &tabs {
        tab.wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
            .unwrap();
    }
}
