//! On-demand collections: subsets loaded by SQL on the leader, delivered at
//! the point of the commit stream they were read at, kept live by commits,
//! and read again after a reload. The app-side store built only from the
//! `Synced` batches must hold, for every key a subset matches, the row the
//! database holds: never an older one, never a deleted one.

use lockstep::protocol::Body;
use lockstep::{
    CollectionMode, CoordinatorConfig, Event, Key, QueryError, RuntimeConfig, Subset, SubsetId,
    SubsetTop, SyncBatch,
};
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use lockstep_tests::*;
use serde_json::{json, Value};

const OPEN: &str = "(__lockstep_row ->> '$.\"done\"') = 0";

/// Tab 0 leads and writes `todos` 0..n (even ones done) in rows mode; tab 1
/// follows `todos` on demand.
fn net(dir: &std::path::Path, n: i64, page_rows: u32) -> Net<SqliteStore> {
    net_with(dir, n, page_rows, CoordinatorConfig::default(), 10_000)
}

fn net_with(
    dir: &std::path::Path,
    n: i64,
    page_rows: u32,
    config: CoordinatorConfig,
    log_retention: u64,
) -> Net<SqliteStore> {
    let db = database("todo", "u1");
    let options = SqliteOptions {
        log_retention,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.join("app.db"), &db, options).unwrap();
    let mut net: Net<SqliteStore> = Net::new(db, 2);
    net.tabs[1] = reader(&net, 2, page_rows);
    net.elect_with(0, store, config).unwrap();
    net.tabs[0].open_collection(net.now, collection("todos"));
    net.run();
    for i in 0..n {
        write(&mut net, i, json!({"n": i, "done": i % 2 == 0}));
    }
    net.tabs[1].open_collection_as(net.now, collection("todos"), CollectionMode::OnDemand);
    net.run();
    net
}

/// A new tab `id` of the net's database, loading pages of `page_rows` rows.
fn reader(
    net: &Net<SqliteStore>,
    id: u128,
    page_rows: u32,
) -> lockstep::PersistedCollectionRuntime {
    lockstep::PersistedCollectionRuntime::new(
        net.db.clone(),
        lockstep::TabId::from_u128(id),
        RuntimeConfig {
            hydrate_page_rows: page_rows,
            ..RuntimeConfig::default()
        },
        net.now,
    )
}

fn write(net: &mut Net<SqliteStore>, i: i64, value: Value) {
    let todos = collection("todos");
    let exists = net.tabs[0].get(&todos, &Key::Int(i)).is_some();
    if exists {
        net.tabs[0].update(net.now, todos, Key::Int(i), row(value))
    } else {
        net.tabs[0].insert(net.now, todos, Key::Int(i), row(value))
    }
    .unwrap();
    net.run();
}

fn drain(net: &mut Net<SqliteStore>, sink: &mut StreamSink) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = net.tabs[1].poll_event() {
        sink.apply(&event);
        events.push(event);
    }
    events
}

/// Loads `subset` of `todos` in tab 1 and returns the events until quiet.
fn load(net: &mut Net<SqliteStore>, sink: &mut StreamSink, subset: Subset) -> Vec<Event> {
    net.tabs[1]
        .load_subset(net.now, &collection("todos"), subset)
        .unwrap();
    net.run();
    drain(net, sink)
}

fn loaded(events: &[Event]) -> Vec<Result<usize, QueryError>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SubsetLoaded { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// The open todos in the database, as `(key, row)`.
fn open_in_db(net: &Net<SqliteStore>) -> Vec<(Key, lockstep::Row)> {
    net.tabs[0]
        .snapshot(&collection("todos"))
        .into_iter()
        .filter(|(_, r)| r.get("done") == Some(&json!(false)))
        .map(|(k, r)| (k, r.to_row()))
        .collect()
}

/// What the sink holds of the open todos.
fn open_in_sink(sink: &StreamSink) -> Vec<(Key, lockstep::Row)> {
    sink.pairs(&collection("todos"))
        .into_iter()
        .filter(|(_, r)| r.get("done") == Some(&json!(false)))
        .collect()
}

/// The open todos with the highest `n`, `limit` of them, with an index on `n`.
fn top(limit: i64) -> Subset {
    Subset {
        top: Some(SubsetTop {
            sql: format!(
                "SELECT __lockstep_key, __lockstep_row FROM todos WHERE {OPEN} \
                 ORDER BY (__lockstep_row ->> '$.\"n\"') DESC LIMIT ?"
            ),
            params: vec![json!(limit)],
        }),
        indexes: vec!["n".into()],
        ..Subset::filter(OPEN, vec![])
    }
}

#[test]
fn an_on_demand_collection_is_ready_at_once_and_loads_only_its_subsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 10, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    assert!(sink.ready.contains(&collection("todos")));
    assert!(
        sink.pairs(&collection("todos")).is_empty(),
        "nothing loaded before a subset"
    );
    let events = load(&mut net, &mut sink, Subset::filter(OPEN, vec![]));
    assert_eq!(loaded(&events), vec![Ok(5)]);
    assert_eq!(sink.pairs(&collection("todos")), open_in_db(&net));
    // Commits keep coming: a row that stops matching is updated, not dropped
    // (the app's own query filters it), and a new one arrives.
    write(&mut net, 1, json!({"n": 1, "done": true}));
    write(&mut net, 11, json!({"n": 11, "done": false}));
    drain(&mut net, &mut sink);
    assert_eq!(open_in_sink(&sink), open_in_db(&net));
}

#[test]
fn an_on_demand_collection_is_ready_once_the_tab_knows_the_leaders_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 10, 500);
    let todos = collection("todos");
    // A tab that has not heard from the leader yet.
    net.tabs[1] = reader(&net, 3, RuntimeConfig::default().hydrate_page_rows);
    net.tabs[1].open_collection_as(net.now, todos.clone(), CollectionMode::OnDemand);
    net.tabs[1]
        .load_subset(net.now, &todos, Subset::filter(OPEN, vec![]))
        .unwrap();
    let mut sink = StreamSink::default();
    assert!(drain(&mut net, &mut sink).is_empty());
    assert!(!net.tabs[1].is_ready(&todos));
    net.run();
    let events = drain(&mut net, &mut sink);
    assert!(net.tabs[1].is_ready(&todos));
    assert!(sink.ready.contains(&todos));
    // The load asked for before is answered once the leader is known.
    assert_eq!(loaded(&events), vec![Ok(5)]);
    assert_eq!(sink.pairs(&todos), open_in_db(&net));
}

#[test]
fn a_subset_larger_than_a_page_is_read_page_by_page_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 25, 4);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    let events = load(&mut net, &mut sink, Subset::filter(OPEN, vec![]));
    let loaded_id = events.iter().find_map(|e| match e {
        Event::SubsetLoaded { id, .. } => Some(*id),
        _ => None,
    });
    let pages: Vec<Option<SubsetId>> = events
        .iter()
        .filter_map(|e| match e {
            Event::Synced {
                batch: SyncBatch::Rows { subset, .. },
                ..
            } => Some(*subset),
            _ => None,
        })
        .collect();
    assert_eq!(
        pages.len(),
        3,
        "12 rows in pages of 4 (a fourth, empty page ends the load)"
    );
    assert!(loaded_id.is_some());
    assert!(
        pages.iter().all(|page| *page == loaded_id),
        "every page names the load it answers: {pages:?}"
    );
    assert_eq!(loaded(&events), vec![Ok(12)]);
    assert_eq!(sink.pairs(&collection("todos")), open_in_db(&net));
}

#[test]
fn an_ordered_prefix_is_one_statement() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 30, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    let events = load(&mut net, &mut sink, top(3));
    assert_eq!(loaded(&events), vec![Ok(3)]);
    let keys: Vec<Key> = sink
        .pairs(&collection("todos"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![Key::Int(25), Key::Int(27), Key::Int(29)]);
    // The leader indexed `n`: an ordered load walks the index.
    let plan = plan(
        &mut net,
        &mut sink,
        "SELECT __lockstep_key FROM todos ORDER BY (__lockstep_row ->> '$.\"n\"') DESC LIMIT 3",
    );
    assert!(plan.contains("USING INDEX"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

/// What `EXPLAIN QUERY PLAN` says of `sql` (its `?`s 7), asked from the on-demand tab.
fn plan(net: &mut Net<SqliteStore>, sink: &mut StreamSink, sql: &str) -> String {
    let params = vec![json!(7); sql.matches('?').count()];
    let id = net.tabs[1].query(net.now, format!("EXPLAIN QUERY PLAN {sql}"), params);
    net.run();
    let plan = drain(net, sink)
        .into_iter()
        .find_map(|e| match e {
            Event::Queried { id: got, outcome } if got == id => Some(outcome.unwrap()),
            _ => None,
        })
        .unwrap();
    format!("{:?}", plan.rows)
}

#[test]
fn a_filtered_load_has_the_leader_index_the_fields_it_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 30, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    let by_n = "(__lockstep_row ->> '$.\"n\"') = ?";
    let before = plan(
        &mut net,
        &mut sink,
        &format!("SELECT __lockstep_key FROM todos WHERE {by_n}"),
    );
    assert!(!before.contains("USING INDEX"), "{before}");
    let subset = Subset {
        indexes: vec!["n".into()],
        ..Subset::filter(by_n, vec![json!(7)])
    };
    let events = load(&mut net, &mut sink, subset);
    assert_eq!(loaded(&events), vec![Ok(1)]);
    assert_eq!(sink.pairs(&collection("todos")).len(), 1);
    let after = plan(
        &mut net,
        &mut sink,
        &format!("SELECT __lockstep_key FROM todos WHERE {by_n}"),
    );
    assert!(after.contains("USING INDEX"), "{after}");
}

#[test]
fn an_ordered_prefix_larger_than_one_answer_loads_every_row_of_the_filter() {
    // The leader answers at most `max_rows`: a prefix beyond it loads every
    // row of the filter instead, page by page (more rows, never fewer).
    let dir = tempfile::tempdir().unwrap();
    let config = CoordinatorConfig {
        query_limits: lockstep::QueryLimits {
            max_rows: 5,
            ..lockstep::QueryLimits::default()
        },
        ..CoordinatorConfig::default()
    };
    let mut net = net_with(dir.path(), 30, 4, config, 10_000);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    let events = load(&mut net, &mut sink, top(10));
    assert_eq!(loaded(&events), vec![Ok(15)]);
    assert_eq!(sink.pairs(&collection("todos")), open_in_db(&net));
}

#[test]
fn a_page_read_before_a_commit_the_tab_already_applied_leaves_out_the_rows_it_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 6, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    // Hold the leader's answer to tab 1 while another commit goes through.
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let stash = held.clone();
    net.drop_if = Box::new(move |m, _| {
        if let Body::QueryResult { .. } = m.body {
            stash.borrow_mut().push(m.encode());
            return true;
        }
        false
    });
    net.tabs[1]
        .load_subset(net.now, &collection("todos"), Subset::filter(OPEN, vec![]))
        .unwrap();
    net.run();
    assert_eq!(held.borrow().len(), 1);
    net.drop_if = Box::new(|_, _| false);
    // Row 1 is deleted and row 3 changes after the read, before the answer.
    net.tabs[0]
        .delete(net.now, collection("todos"), Key::Int(1))
        .unwrap();
    net.run();
    write(&mut net, 3, json!({"n": 33, "done": false}));
    drain(&mut net, &mut sink);
    let answer = held.borrow_mut().pop().unwrap();
    net.tabs[1].handle_bytes(net.now, &answer);
    net.run();
    let events = drain(&mut net, &mut sink);
    assert_eq!(
        loaded(&events),
        vec![Ok(1)],
        "only row 5 was untouched since the read"
    );
    assert_eq!(open_in_sink(&sink), open_in_db(&net));
    assert!(
        !sink.rows[&collection("todos")].contains_key(&Key::Int(1)),
        "a deleted row never comes back"
    );
}

#[test]
fn a_page_read_ahead_of_the_tab_waits_until_the_tab_applied_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 6, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    // Tab 1 misses the broadcast of the next commit.
    net.drop_if = Box::new(|m, to| matches!(m.body, Body::TxCommitted(_)) && to == To::Tab(1));
    write(&mut net, 1, json!({"n": 11, "done": false}));
    net.drop_if = Box::new(|_, _| false);
    let applied = net.tabs[1].status().applied;
    let events = load(&mut net, &mut sink, Subset::filter(OPEN, vec![]));
    assert!(
        net.tabs[1].status().applied > applied,
        "the tab pulled up to the page"
    );
    let commit = events.iter().position(|e| {
        matches!(
            e,
            Event::Synced {
                batch: SyncBatch::Commit { .. },
                ..
            }
        )
    });
    let rows = events.iter().position(|e| {
        matches!(
            e,
            Event::Synced {
                batch: SyncBatch::Rows { .. },
                ..
            }
        )
    });
    assert!(
        commit < rows,
        "the commit first, then the rows read after it"
    );
    assert_eq!(open_in_sink(&sink), open_in_db(&net));
}

#[test]
fn after_a_reload_every_subset_is_read_again_and_rows_gone_meanwhile_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net_with(dir.path(), 8, 500, CoordinatorConfig::default(), 2);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    net.tabs[1]
        .load_subset(net.now, &collection("todos"), Subset::filter(OPEN, vec![]))
        .unwrap();
    net.run();
    drain(&mut net, &mut sink);
    // Tab 1 misses every commit until the change log no longer reaches back.
    net.drop_if = Box::new(|m, to| to == To::Tab(1) && matches!(m.body, Body::TxCommitted(_)));
    net.tabs[0]
        .delete(net.now, collection("todos"), Key::Int(3))
        .unwrap();
    net.run();
    write(&mut net, 5, json!({"n": 5, "done": true}));
    for i in 20..25 {
        write(&mut net, i, json!({"n": i, "done": true}));
    }
    net.drop_if = Box::new(|_, _| false);
    write(&mut net, 7, json!({"n": 77, "done": false}));
    net.advance(1_000);
    let events = drain(&mut net, &mut sink);
    assert_eq!(net.tabs[1].stats().reloads, 1);
    assert!(
        loaded(&events).is_empty(),
        "a reload reads subsets again silently"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Synced {
            batch: SyncBatch::Retain { .. },
            ..
        }
    )));
    assert_eq!(open_in_sink(&sink), open_in_db(&net));
    assert!(!sink.rows[&collection("todos")].contains_key(&Key::Int(3)));
}

#[test]
fn subsets_of_a_collection_not_open_on_demand_or_never_written_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = net(dir.path(), 2, 500);
    let mut sink = StreamSink::default();
    drain(&mut net, &mut sink);
    assert!(net.tabs[0]
        .load_subset(net.now, &collection("todos"), Subset::filter("1", vec![]))
        .is_err());
    let notes = collection("notes");
    net.tabs[1].open_collection_as(net.now, notes.clone(), CollectionMode::OnDemand);
    net.tabs[1]
        .load_subset(net.now, &notes, Subset::filter("1", vec![]))
        .unwrap();
    net.run();
    let events = drain(&mut net, &mut sink);
    assert_eq!(loaded(&events), vec![Ok(0)], "no table yet: no rows");
    net.tabs[1]
        .load_subset(
            net.now,
            &collection("todos"),
            Subset::filter("no_such_column = 1", vec![]),
        )
        .unwrap();
    net.run();
    let events = drain(&mut net, &mut sink);
    assert!(matches!(loaded(&events)[..], [Err(QueryError::Sql { .. })]));
}

/// A subset over `n < limit`, one of a few shapes of statement.
fn below(limit: i64, top: Option<i64>) -> Subset {
    let filter = "(__lockstep_row ->> '$.\"n\"') < ?";
    Subset {
        top: top.map(|rows| SubsetTop {
            sql: format!(
                "SELECT __lockstep_key, __lockstep_row FROM todos WHERE {filter} \
                 ORDER BY (__lockstep_row ->> '$.\"n\"') DESC LIMIT ?"
            ),
            params: vec![json!(limit), json!(rows)],
        }),
        indexes: vec!["n".into()],
        ..Subset::filter(filter, vec![json!(limit)])
    }
}

/// Random writes, loads, unloads, held, reordered and lost messages to the
/// on-demand tab: once the faults stop, every row the app-side store holds
/// is the database's row, and every row a loaded filter matches is there.
#[test]
fn random_interleavings_of_loads_commits_and_faults_never_leave_a_stale_or_missing_row() {
    use lockstep_tests::sim::SimRng;
    use std::cell::RefCell;
    use std::rc::Rc;
    for seed in 0..80u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut net = net_with(dir.path(), 30, 3, CoordinatorConfig::default(), 6);
        let mut sink = StreamSink::default();
        let rng = Rc::new(RefCell::new(SimRng::new(seed)));
        let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let (r, h) = (rng.clone(), held.clone());
        net.drop_if = Box::new(move |m, to| {
            if to != To::Tab(1) {
                return false;
            }
            let mut rng = r.borrow_mut();
            if rng.chance(0.3) {
                h.borrow_mut().push(m.encode());
                true
            } else {
                rng.chance(0.05)
            }
        });
        let mut loads = Vec::new();
        for _ in 0..60 {
            let action = rng.borrow_mut().below(10);
            match action {
                0..=3 => {
                    let (i, n, gone) = {
                        let mut rng = rng.borrow_mut();
                        (rng.below(40) as i64, rng.below(100) as i64, rng.chance(0.2))
                    };
                    let key = Key::Int(i);
                    let exists = net.tabs[0].get(&collection("todos"), &key).is_some();
                    if gone && exists {
                        net.tabs[0]
                            .delete(net.now, collection("todos"), key)
                            .unwrap();
                        net.run();
                    } else {
                        write(&mut net, i, json!({"n": n, "done": n % 2 == 0}));
                    }
                }
                4..=5 => {
                    let (limit, top) = {
                        let mut rng = rng.borrow_mut();
                        (
                            rng.below(100) as i64,
                            rng.chance(0.4).then(|| 1 + rng.below(5) as i64),
                        )
                    };
                    let id = net.tabs[1]
                        .load_subset(net.now, &collection("todos"), below(limit, top))
                        .unwrap();
                    loads.push((id, limit, top.is_none()));
                    net.run();
                }
                6 if !loads.is_empty() => {
                    let at = rng.borrow_mut().below(loads.len() as u64) as usize;
                    let (id, _, _) = loads.remove(at);
                    net.tabs[1].unload_subset(id);
                }
                7 => {
                    // Release what was held, in a random order.
                    let mut out = std::mem::take(&mut *held.borrow_mut());
                    while !out.is_empty() {
                        let at = rng.borrow_mut().below(out.len() as u64) as usize;
                        let bytes = out.swap_remove(at);
                        net.tabs[1].handle_bytes(net.now, &bytes);
                    }
                    net.run();
                }
                _ => net.advance(300),
            }
            drain(&mut net, &mut sink);
        }
        // Heal: nothing held or lost any more, timers fire until quiet.
        net.drop_if = Box::new(|_, _| false);
        for bytes in std::mem::take(&mut *held.borrow_mut()) {
            net.tabs[1].handle_bytes(net.now, &bytes);
        }
        for _ in 0..10 {
            net.advance(1_500);
        }
        drain(&mut net, &mut sink);
        let db: std::collections::BTreeMap<Key, lockstep::Row> = net.tabs[0]
            .snapshot(&collection("todos"))
            .into_iter()
            .map(|(k, r)| (k, r.to_row()))
            .collect();
        let have = sink
            .rows
            .get(&collection("todos"))
            .cloned()
            .unwrap_or_default();
        for (key, row) in &have {
            assert_eq!(
                db.get(key),
                Some(row),
                "seed {seed}: key {key} held stale or deleted"
            );
        }
        for (_, limit, whole) in loads.iter().filter(|(_, _, whole)| *whole) {
            for (key, row) in &db {
                if row["n"].as_i64().is_some_and(|n| n < *limit) {
                    assert!(
                        have.contains_key(key),
                        "seed {seed}: {key} (n < {limit}) missing ({whole})"
                    );
                }
            }
        }
        assert_eq!(
            net.tabs[1].pending_reads(),
            0,
            "seed {seed}: a load never finished"
        );
    }
}
