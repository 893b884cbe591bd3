//! Issue 8, defect 5: exactly-once ended where dedup retention ended. Ids
//! were forgotten after `dedup_retention` seqs (which could be set below the
//! change log's retention), and a re-sent envelope whose id was forgotten
//! was applied again: an update overwrote newer values, an insert or delete
//! was reported refused although it had committed.
//!
//! Now the window is time-based, counted from the time in the envelope's id
//! (a UUID v7): within `dedup_window_ms` a re-send is always recognised; an
//! envelope made before the window that is not remembered is refused with
//! `Rejection::Expired`, never applied. The configuration is checked when a
//! coordinator starts.
//!
//! Before the fix (the same scenario with `SqliteOptions { dedup_retention: 1 }`,
//! then accepted, and a page size of 0):
//!
//! ```text
//! ---- a_re_sent_envelope_is_never_applied_twice_whatever_its_age stdout ----
//! the re-sent update was applied again: TxCommitted(TxCommitted { term: Term(1), seq: Seq(21),
//!   envelope_id: Some(EnvelopeId(018bcfe5-6801-7100-8000-00000000abcd)), …
//!   changes: [Change { collection: CollectionId("todos"), key: Str("k"), value: Some({"v": Number(1)}) }] })
//! ---- a_configuration_that_cannot_work_is_refused_at_start stdout ----
//! panicked at runtime/src/coordinator.rs:314:35: min > max. min = 1, max = 0
//! ```

use lockstep::protocol::{Body, Rejection};
use lockstep::{
    ConfigError, Coordinator, CoordinatorConfig, Event, Key, MemoryStore, Seq, StartError, TabId,
    Timestamp, PRUNE_SLACK_MS,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::envelopes::{self, envelope_id, insert, update, EPOCH_MS};
use lockstep_tests::*;
use serde_json::json;

const WINDOW_MS: u64 = 60_000;

#[test]
fn a_re_sent_envelope_is_never_applied_twice_whatever_its_age() {
    let db = database("todo", "u1");
    let todos = collection("todos");
    let store = SqliteStore::open_in_memory(&db, SqliteOptions::default()).unwrap();
    let config = CoordinatorConfig {
        dedup_window_ms: WINDOW_MS,
        ..CoordinatorConfig::default()
    };
    let mut leader = envelopes::start_with(store, &db, config);
    let tab = envelopes::writer_tab();
    // `envelope_id(n)` is made at EPOCH_MS + n ms.
    let mut send = |at: u64, n: u64, op| {
        let message = envelopes::envelope(&db, tab, envelope_id(n), vec![op]);
        envelopes::exchange(&mut leader, Timestamp(EPOCH_MS + at), &message)
    };
    send(0, 0, insert(&todos, "k", json!({"v": 0})));
    send(1, 1, update(&todos, "k", json!({"v": 1})));
    send(2, 2, update(&todos, "k", json!({"v": 2})));

    // Within the window plus the slack the leader keeps: recognised.
    let soon = WINDOW_MS + PRUNE_SLACK_MS / 2;
    let again = send(soon, 1, update(&todos, "k", json!({"v": 1})));
    assert!(
        matches!(again[0].body, Body::AlreadyCommitted { position, .. } if position.seq == Seq(2)),
        "{:?}",
        again[0].body
    );
    // Much later, after other commits forgot the old ids: refused, not applied.
    let late = 2 * (WINDOW_MS + PRUNE_SLACK_MS);
    for n in 3..6 {
        send(late + n, late + n, insert(&todos, n as i32, json!({})));
    }
    let again = send(late, 1, update(&todos, "k", json!({"v": 1})));
    match &again[0].body {
        Body::Rejected {
            rejection: Rejection::Expired { age_ms, window_ms },
            ..
        } => {
            assert_eq!((*age_ms, *window_ms), (late - 1, WINDOW_MS));
            let message = again[0].body.clone();
            assert!(format!("{message:?}").contains("Expired"));
        }
        other => panic!("the re-sent update was applied again: {other:?}"),
    }
    // Recent ids are still remembered.
    let recent = send(late + 10, late + 3, insert(&todos, 3, json!({})));
    assert!(matches!(recent[0].body, Body::AlreadyCommitted { .. }));
    let rows = leader.store_mut().rows(&todos).unwrap();
    let k = rows.iter().find(|(key, _)| *key == Key::from("k"));
    assert_eq!(
        k.map(|(_, v)| v),
        Some(&row(json!({"v": 2}))),
        "the newer value stands"
    );
}

#[test]
fn an_expired_envelope_is_rolled_back_in_its_tab_with_an_error_that_says_what_to_do() {
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    let todos = collection("todos");
    let config = CoordinatorConfig {
        dedup_window_ms: WINDOW_MS,
        ..CoordinatorConfig::default()
    };
    net.elect_with(0, MemoryStore::new(), config).unwrap();
    let now = net.now;
    net.tabs[0].open_collection(now, todos.clone());
    net.run();
    // The leader never hears of the insert until long after it was made.
    let leader = net.leader.take();
    let now = net.now;
    let id = net.tabs[0]
        .insert(now, todos.clone(), Key::from("late"), row(json!({})))
        .unwrap();
    net.run();
    net.now = net.now.plus_millis(2 * WINDOW_MS);
    net.leader = leader;
    net.advance(1_000);
    let mut rejection = None;
    while let Some(event) = net.tabs[0].poll_event() {
        if let Event::Rejected {
            envelope_id,
            rejection: why,
        } = event
        {
            assert_eq!(envelope_id, id);
            rejection = Some(why);
        }
    }
    let rejection = rejection.expect("the envelope was refused");
    assert!(matches!(rejection, Rejection::Expired { .. }));
    let message = rejection.to_string();
    assert!(message.contains("read the rows again"), "{message}");
    assert!(net.tabs[0].get(&todos, &Key::from("late")).is_none());
    assert_eq!(net.tabs[0].status().pending, 0);
}

#[test]
fn a_configuration_that_cannot_work_is_refused_at_start() {
    let db = database("todo", "u1");
    let start = |config| {
        Coordinator::start(
            MemoryStore::new(),
            db.clone(),
            TabId::from_u128(1),
            config,
            Timestamp(0),
        )
        .map(|_| ())
    };
    let zero_page = CoordinatorConfig {
        max_pull_page: 0,
        ..CoordinatorConfig::default()
    };
    assert_eq!(
        start(zero_page),
        Err(StartError::Config(ConfigError::Zero {
            field: "max_pull_page"
        }))
    );
    let short = CoordinatorConfig {
        dedup_window_ms: 10,
        ..CoordinatorConfig::default()
    };
    let error = start(short).unwrap_err();
    assert_eq!(
        error,
        StartError::Config(ConfigError::DedupWindowTooShort { window_ms: 10 })
    );
    assert!(error.to_string().contains("at least 60000 ms"), "{error}");
    assert_eq!(start(CoordinatorConfig::default()), Ok(()));
}
