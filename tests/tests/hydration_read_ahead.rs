//! The leader reads the next hydration page ahead of its request (at the
//! timeout it asks for right after answering a page with more after it),
//! and answers the request with it only if nothing was committed since:
//! a commit of any tab, or a write by other code, in between makes it read
//! the page again, so a page never misses a row its position includes.

use lockstep::protocol::Body;
use lockstep::{
    Coordinator, CoordinatorConfig, DatabaseId, Key, MemoryStore, StreamPosition, Timestamp,
};
use lockstep_tests::envelopes::{
    envelope, envelope_id, exchange, from_tab, insert, send, start_with, writer_tab,
};
use lockstep_tests::{collection, database, row};
use serde_json::json;

/// A leader on a store holding the even keys `0, 2, …, 18` of `todos`, answering pages of 3.
fn leader() -> (Coordinator<MemoryStore>, DatabaseId) {
    let db = database("todo", "u1");
    let config = CoordinatorConfig {
        max_hydrate_page: 3,
        ..CoordinatorConfig::default()
    };
    let mut leader = start_with(MemoryStore::new(), &db, config);
    let todos = collection("todos");
    let ops = (0..10)
        .map(|i| insert(&todos, i * 2, json!({ "n": i * 2 })))
        .collect();
    send(&mut leader, &db, envelope_id(1), ops);
    (leader, db)
}

/// Asks for the page of `todos` after `after`; returns its keys, whether
/// more follow, and its position.
fn page(
    leader: &mut Coordinator<MemoryStore>,
    db: &DatabaseId,
    now: Timestamp,
    after: Option<i64>,
) -> (Vec<Key>, bool, StreamPosition) {
    let ask = from_tab(
        db,
        writer_tab(),
        Body::Hydrate {
            request: 7,
            collection: collection("todos"),
            after: after.map(Key::Int),
            limit: 3,
        },
    );
    let answer = exchange(leader, now, &ask);
    let pages: Vec<_> = answer
        .iter()
        .filter_map(|m| match &m.body {
            Body::HydratePage {
                rows,
                more,
                position,
                ..
            } => Some((
                rows.iter().map(|r| r.key().clone()).collect(),
                *more,
                *position,
            )),
            _ => None,
        })
        .collect();
    match <[_; 1]>::try_from(pages) {
        Ok([one]) => one,
        Err(pages) => panic!("expected one page, got {pages:?} in {answer:?}"),
    }
}

/// A [`leader`] that answered the first page at time 10 and read the second ahead.
fn leader_with_a_page_read_ahead() -> (Coordinator<MemoryStore>, DatabaseId, Timestamp) {
    let (mut leader, db) = leader();
    let now = Timestamp(10);
    page(&mut leader, &db, now, None);
    leader.handle_timeout(now);
    (leader, db, now)
}

fn keys(ks: &[i64]) -> Vec<Key> {
    ks.iter().copied().map(Key::Int).collect()
}

#[test]
fn the_next_page_is_read_at_the_timeout_after_a_page_and_answers_its_request() {
    let (mut leader, db) = leader();
    let now = Timestamp(10);
    assert_eq!(page(&mut leader, &db, now, None).0, keys(&[0, 2, 4]));
    assert!(
        leader.poll_timeout().is_some_and(|t| t <= now),
        "the read-ahead is due at once"
    );
    leader.handle_timeout(now);
    let (next, more, _) = page(&mut leader, &db, now, Some(4));
    assert_eq!(next, keys(&[6, 8, 10]));
    assert!(more);
    assert_eq!(leader.stats().pages_read_ahead, 1);

    // Asked before its timeout came, a page is read on request, the same.
    assert_eq!(page(&mut leader, &db, now, Some(10)).0, keys(&[12, 14, 16]));
    assert_eq!(leader.stats().pages_read_ahead, 1);
    leader.handle_timeout(now);
    let (last, more, _) = page(&mut leader, &db, now, Some(16));
    assert_eq!(last, keys(&[18]));
    assert!(!more);
    assert_eq!(leader.stats().pages_read_ahead, 2);
}

#[test]
fn a_commit_after_the_read_ahead_is_in_the_page() {
    let (mut leader, db, now) = leader_with_a_page_read_ahead();
    let todos = collection("todos");
    let commit = envelope(
        &db,
        writer_tab(),
        envelope_id(2),
        vec![insert(&todos, 7, json!({ "n": 7 }))],
    );
    exchange(&mut leader, now, &commit);
    let (next, _, position) = page(&mut leader, &db, now, Some(4));
    assert_eq!(next, keys(&[6, 7, 8]));
    assert_eq!(position, leader.position());
    assert_eq!(leader.stats().pages_read_ahead, 0);
}

#[test]
fn a_write_by_other_code_after_the_read_ahead_is_in_the_page() {
    let (mut leader, db, now) = leader_with_a_page_read_ahead();
    let before = leader.position();
    leader.store_mut().write_external(
        &collection("todos"),
        &Key::Int(5),
        Some(row(json!({ "n": 5 }))),
    );
    let (next, _, position) = page(&mut leader, &db, now, Some(4));
    assert_eq!(next, keys(&[5, 6, 8]));
    assert!(position > before, "the write entered the stream first");
    assert_eq!(leader.stats().pages_read_ahead, 0);
}

#[test]
fn a_page_read_ahead_and_not_asked_for_in_time_is_dropped() {
    let (mut leader, db, _) = leader_with_a_page_read_ahead();
    // Its tab went away; later someone asks for the same page.
    leader.handle_timeout(Timestamp(10 + 2_000));
    assert_eq!(
        page(&mut leader, &db, Timestamp(2_020), Some(4)).0,
        keys(&[6, 8, 10])
    );
    assert_eq!(leader.stats().pages_read_ahead, 0);
}
