//! Hub tabs on their own threads hydrate page by page from a leader on
//! another thread, each next page asked for before the last one is applied,
//! while the leader's tab keeps writing: the new tab ends with exactly what
//! SQLite holds.

use lockstep::{HeldRow, Key, Op, RuntimeConfig};
use lockstep_hub::HubConfig;
use lockstep_tests::*;
use serde_json::json;

#[test]
fn a_tab_hydrates_many_pages_while_the_leader_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let config = HubConfig {
        runtime: RuntimeConfig {
            hydrate_page_rows: 50,
            ..RuntimeConfig::default()
        },
        ..HubConfig::default()
    };
    let hub = sqlite_hub(&path, &db, config);
    let writer = open_ready_tabs(&hub, 1, &todos).remove(0);
    let insert = |from: i64, to: i64| {
        let ops = (from..to)
            .map(|i| Op::Insert {
                collection: todos.clone(),
                key: Key::Int(i),
                value: HeldRow::shared(row(json!({"n": i}))),
            })
            .collect();
        writer.mutate(ops).unwrap()
    };
    insert(0, 2_000).wait(WAIT).unwrap();

    // 40 pages of 50 rows; the writer goes on meanwhile.
    let reader = hub.open_tab();
    reader.open_collection(&todos);
    let receipts: Vec<_> = (0..20)
        .map(|batch| insert(2_000 + batch * 10, 2_010 + batch * 10))
        .collect();
    for receipt in receipts {
        receipt.wait(WAIT).unwrap();
    }
    reader.wait_ready(&todos, WAIT).unwrap();
    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 2_200);
    reader
        .wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
        .unwrap();
}
