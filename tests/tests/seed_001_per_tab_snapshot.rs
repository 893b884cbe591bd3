//! Regression for seed 001 (per-tab sql.js): each tab kept its own in-memory
//! snapshot, so a tab opened later showed stale or empty data.

use lockstep::Key;
use lockstep_hub::HubConfig;
use lockstep_tests::*;
use serde_json::json;

#[test]
fn seed_001_tab_opened_later_sees_current_rows_not_an_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, queue) = (
        database("practice", "user-9002"),
        collection("daily_practice_queue"),
    );
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let mut tabs = open_ready_tabs(&hub, 1, &queue);
    let a = tabs.remove(0);
    for i in 0..3 {
        a.insert(&queue, Key::Int(i), row(json!({"active": 1, "i": i})))
            .unwrap();
    }
    // Not even awaited: tab B must still see them once it is ready.
    let b = hub.open_tab();
    b.open_collection(&queue);
    b.wait_ready(&queue, WAIT).unwrap();
    b.wait_until(WAIT, |t| t.snapshot(&queue).len() == 3)
        .unwrap();

    a.update(&queue, Key::Int(1), row(json!({"active": 0, "i": 1})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    let c = hub.open_tab();
    c.open_collection(&queue);
    c.wait_ready(&queue, WAIT).unwrap();
    assert_eq!(
        c.get(&queue, &Key::Int(1)).unwrap()["active"],
        0,
        "the later tab shows the latest value"
    );

    // The leader goes away; the tabs that remain still answer from the live database.
    a.close();
    b.insert(&queue, Key::Int(3), row(json!({"active": 1, "i": 3})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    let expected = sqlite_rows(&path, &db, &queue);
    assert_eq!(expected.len(), 4);
    for tab in [&b, &c] {
        tab.wait_until(WAIT, |t| tab_rows(t, &queue) == expected)
            .unwrap();
    }
}
