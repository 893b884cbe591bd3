//! Regressions for seed 002 (TanStack DB persistence PR): stream position reset
//! on restart, the leader writing around its coordinator, the leader ignoring
//! its own coordinator's commits, and a leadership flag stuck after a failed setup.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockstep::{Key, Seq, StoreError};
use lockstep_hub::{Hub, HubConfig};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::json;

#[test]
fn seed_002_stream_position_restored_after_reopen_new_writes_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    for round in 0..3u64 {
        let hub = sqlite_hub(&path, &db, HubConfig::default());
        let tab = hub.open_tab();
        tab.open_collection(&todos);
        tab.wait_ready(&todos, WAIT).unwrap();
        assert_eq!(
            tab.snapshot(&todos).len() as u64,
            round * 2,
            "rows of earlier sessions are there"
        );
        for i in 0..2 {
            let key = Key::from(format!("r{round}-{i}").as_str());
            let position = tab
                .insert(&todos, key, row(json!({"round": round})))
                .unwrap()
                .wait(WAIT)
                .unwrap();
            assert_eq!(
                position.seq,
                Seq(round * 2 + i + 1),
                "seq continues across restarts, never restarts at 1"
            );
        }
        tab.close();
    }
    assert_eq!(
        sqlite_rows(&path, &db, &todos).len(),
        6,
        "every write after every reopen was kept"
    );
}

#[test]
fn seed_002_leader_and_follower_writes_share_one_seq_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 3, &todos);
    assert_eq!(
        tabs.iter()
            .filter(|t| t.status().unwrap().is_leader)
            .count(),
        1
    );

    let positions = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (t, tab) in tabs.iter().enumerate() {
            let positions = &positions;
            let todos = &todos;
            s.spawn(move || {
                let receipts: Vec<_> = (0..20)
                    .map(|i| {
                        tab.insert(
                            todos,
                            Key::from(format!("t{t}-{i}").as_str()),
                            row(json!({"tab": t, "i": i})),
                        )
                        .unwrap()
                    })
                    .collect();
                for r in receipts {
                    positions.lock().unwrap().push(r.wait(WAIT).unwrap().seq.0);
                }
            });
        }
    });
    let mut seqs = positions.into_inner().unwrap();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=60).collect::<Vec<u64>>(),
        "60 commits, 60 distinct seqs, no gap, no collision"
    );

    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 60);
    for tab in &tabs {
        tab.wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
            .unwrap();
    }
}

#[test]
fn seed_002_leader_tab_applies_follower_commits_and_its_own_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 2, &todos);
    let (leader, follower) = if tabs[0].status().unwrap().is_leader {
        (&tabs[0], &tabs[1])
    } else {
        (&tabs[1], &tabs[0])
    };

    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    leader.subscribe(&todos, false, move |changes| {
        sink.lock()
            .unwrap()
            .extend(changes.iter().map(|c| c.key.clone()))
    });

    follower
        .insert(
            &todos,
            Key::from("from-follower"),
            row(json!({"by": "follower"})),
        )
        .unwrap()
        .wait(WAIT)
        .unwrap();
    // The follower's write is confirmed once the follower applied it; the
    // leader's tab gets it on its own thread. Under load it may not have yet,
    // and the leader's next write (shown at once) would be seen first.
    leader
        .wait_until(WAIT, |t| {
            t.get(&todos, &Key::from("from-follower")).is_some()
        })
        .unwrap();
    leader
        .insert(
            &todos,
            Key::from("from-leader"),
            row(json!({"by": "leader"})),
        )
        .unwrap()
        .wait(WAIT)
        .unwrap();
    leader
        .wait_until(WAIT, |t| t.status().unwrap().applied == Some(Seq(2)))
        .unwrap();
    // A third commit proves that nothing about the first two is still in flight.
    follower
        .insert(&todos, Key::from("last"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    leader
        .wait_until(WAIT, |t| t.get(&todos, &Key::from("last")).is_some())
        .unwrap();

    let seen = events.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            Key::from("from-follower"),
            Key::from("from-leader"),
            Key::from("last")
        ],
        "each change reached the leader tab once"
    );
    let status = leader.status().unwrap();
    assert_eq!(status.applied, Some(Seq(3)));
    assert_eq!(status.pending, 0);
    assert_eq!(tab_rows(leader, &todos), sqlite_rows(&path, &db, &todos));
}

#[test]
fn seed_002_failed_leadership_setup_leaves_no_leader_and_another_tab_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let calls = Arc::new(AtomicUsize::new(0));
    let (p, id, counter) = (path.clone(), db.clone(), calls.clone());
    let hub = Hub::new(db.clone(), HubConfig::default(), move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(StoreError::Other(
                "injected: disk unavailable while opening".into(),
            ));
        }
        SqliteStore::open(&p, &id, SqliteOptions::default())
    })
    .unwrap();

    let a = hub.open_tab();
    a.wait_until(WAIT, |t| t.status().unwrap().leadership_error.is_some())
        .unwrap();
    let status = a.status().unwrap();
    assert!(
        !status.is_leader,
        "a failed setup never leaves the tab believing it leads"
    );
    assert_eq!(hub.leader(), None, "the leadership lock was released");

    let b = hub.open_tab();
    b.wait_until(WAIT, |t| t.status().unwrap().is_leader)
        .unwrap();
    for tab in [&a, &b] {
        tab.open_collection(&todos);
        tab.wait_ready(&todos, WAIT).unwrap();
    }
    a.insert(&todos, Key::from("a"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    b.insert(&todos, Key::from("b"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let leaders = [&a, &b]
        .iter()
        .filter(|t| t.status().unwrap().is_leader)
        .count();
    assert_eq!(leaders, 1, "exactly one tab leads");
    for tab in [&a, &b] {
        tab.wait_until(WAIT, |t| t.snapshot(&todos).len() == 2)
            .unwrap();
    }
}
