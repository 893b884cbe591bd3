//! Regressions for seed 000 (PowerSync + TanStack DB): random per-tab tracking
//! table names made change listeners miss writes, and uploads ran through the
//! last opened tab only.

use std::sync::{Arc, Mutex};

use lockstep::Key;
use lockstep_hub::HubConfig;
use lockstep_sqlite::names;
use lockstep_tests::*;
use serde_json::json;

#[test]
fn seed_000_tracking_names_are_identical_in_every_tab_and_process() {
    let todos = collection("todos");
    let names_from_threads: Vec<(String, String)> = (0..4)
        .map(|_| {
            let c = todos.clone();
            std::thread::spawn(move || (names::row_table(&c), names::tracking_table(&c)))
                .join()
                .unwrap()
        })
        .collect();
    assert!(names_from_threads.windows(2).all(|w| w[0] == w[1]));

    // The names recorded in the file by one leader are the ones every later leader derives.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let db = database("todo", "u1");
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 2, &todos);
    tabs[0]
        .insert(&todos, Key::from("x"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (row_table, tracking_table): (String, String) = conn
        .query_row(
            "SELECT row_table, tracking_table FROM __lockstep_collections WHERE name = 'todos'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((row_table, tracking_table), names_from_threads[0]);
}

#[test]
fn seed_000_row_written_straight_into_sqlite_reaches_every_tab_with_full_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 3, &todos);
    // Make sure the collection's tables exist, as they do once anything was written.
    tabs[1]
        .insert(&todos, Key::from("seed"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();

    // Other code (a sync engine, a debug console) writes with its own connection.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let table = names::quote_ident(&names::row_table(&todos));
    conn.execute(&format!(r#"INSERT INTO {table}(key, value) VALUES ('"ext"', '{{"title":"from a sync engine","n":7}}')"#), []).unwrap();

    for tab in &tabs {
        tab.wait_until(WAIT, |t| t.get(&todos, &Key::from("ext")).is_some())
            .unwrap();
        let value = tab.get(&todos, &Key::from("ext")).unwrap();
        assert_eq!(
            *value,
            row(json!({"title": "from a sync engine", "n": 7})),
            "the full row arrives, not a 'data changed' hint"
        );
    }
    conn.execute(&format!(r#"DELETE FROM {table} WHERE key = '"ext"'"#), [])
        .unwrap();
    for tab in &tabs {
        tab.wait_until(WAIT, |t| t.get(&todos, &Key::from("ext")).is_none())
            .unwrap();
    }
}

#[test]
fn seed_000_uploads_run_through_the_leader_and_resume_after_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let uploaded = Arc::new(Mutex::new(Vec::new()));
    let sink = uploaded.clone();
    let config = HubConfig {
        uploader: Some(Arc::new(move |batch: &lockstep::UploadBatch| {
            sink.lock().unwrap().extend(batch.entries.iter().map(|e| {
                (
                    e.envelope_id,
                    std::thread::current().name().unwrap_or("").to_owned(),
                )
            }));
            true
        })),
        ..HubConfig::default()
    };
    let hub = sqlite_hub(&path, &db, config);
    let mut tabs = open_ready_tabs(&hub, 3, &todos);
    let first_leader = tabs
        .iter()
        .position(|t| t.status().unwrap().is_leader)
        .unwrap();
    let mut ids = Vec::new();
    for (t, tab) in tabs.iter().enumerate() {
        ids.push(
            tab.insert(
                &todos,
                Key::from(format!("before-{t}").as_str()),
                row(json!({})),
            )
            .unwrap()
            .envelope_id,
        );
    }
    let leader_thread = format!("lockstep-tab-{}", tabs[first_leader].id().short());
    let wait_uploaded = |n: usize| {
        let deadline = std::time::Instant::now() + WAIT;
        while uploaded.lock().unwrap().len() < n {
            assert!(std::time::Instant::now() < deadline, "uploads stalled");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    wait_uploaded(3);
    assert!(
        uploaded
            .lock()
            .unwrap()
            .iter()
            .all(|(_, thread)| *thread == leader_thread),
        "only the leader uploads"
    );

    tabs.remove(first_leader).close();
    for (t, tab) in tabs.iter().enumerate() {
        ids.push(
            tab.insert(
                &todos,
                Key::from(format!("after-{t}").as_str()),
                row(json!({})),
            )
            .unwrap()
            .envelope_id,
        );
    }
    wait_uploaded(5);
    let got: Vec<_> = uploaded.lock().unwrap().iter().map(|(id, _)| *id).collect();
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        5,
        "every envelope uploaded once, the new leader resumed the outbox"
    );
    assert!(ids.iter().all(|id| got.contains(id)));
}
