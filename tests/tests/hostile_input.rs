//! Invariant 12: malformed or foreign messages, unknown versions, oversized
//! payloads and invalid rows are rejected or dropped and counted; never a
//! panic, never corrupt data, never a stalled tab.

use lockstep::protocol::{decode, DecodeError, Limits, PROTOCOL_VERSION};
use lockstep::{EnvelopeId, Key, Op, TabId};
use lockstep_hub::HubConfig;
use lockstep_tests::*;
use serde_json::json;

fn hostile_payloads(db: &lockstep::DatabaseId) -> Vec<Vec<u8>> {
    // `body` written flat (`{"type": …, fields}`); the wire nests the fields under "data".
    let header = |mut body: serde_json::Value| {
        let fields = body.as_object_mut().unwrap();
        let kind = fields.remove("type");
        let body = json!({"type": kind, "data": fields});
        json!({"v": PROTOCOL_VERSION, "db": {"app": db.app(), "scope": db.scope()}, "term": 1, "from": TabId::from_u128(66), "to": null, "body": body})
            .to_string()
            .into_bytes()
    };
    vec![
        Vec::new(),
        b"\x00\xff\xfe garbage".to_vec(),
        b"{\"v\":1".to_vec(),
        b"[1,2,3]".to_vec(),
        b"null".to_vec(),
        json!({"v": PROTOCOL_VERSION + 1, "db": {"app": db.app(), "scope": db.scope()}, "body": {"type": "future_thing"}}).to_string().into_bytes(),
        header(json!({"type": "no_such_type"})),
        header(json!({"type": "envelope", "envelope_id": "not-a-uuid", "origin": TabId::from_u128(1), "ops": []})),
        header(json!({"type": "envelope", "envelope_id": EnvelopeId::new_v7(1, [1; 10]), "origin": TabId::from_u128(1),
            "ops": [{"op": "insert", "collection": "todos", "key": 1.5, "value": {}}]})),
        header(json!({"type": "envelope", "envelope_id": EnvelopeId::new_v7(1, [2; 10]), "origin": TabId::from_u128(1),
            "ops": [{"op": "insert", "collection": "todos", "key": "k", "value": [1, 2]}]})),
        header(json!({"type": "envelope", "envelope_id": EnvelopeId::new_v7(1, [3; 10]), "origin": TabId::from_u128(1),
            "ops": [{"op": "insert", "collection": "to\u{0}dos", "key": "k", "value": {}}]})),
        header(json!({"type": "envelope", "envelope_id": EnvelopeId::new_v7(1, [4; 10]), "origin": TabId::from_u128(1),
            "ops": [{"op": "insert", "collection": "todos", "key": 9007199254740993u64, "value": {}}]})),
        header(json!({"type": "tx_committed", "term": 0, "seq": 1, "envelope_id": null, "origin": null,
            "changes": [{"collection": "todos", "key": "forged", "value": {"evil": true}}]})),
        header(json!({"type": "pull_since", "request": 1, "after": u64::MAX, "limit": u32::MAX})),
        header(json!({"type": "hydrate", "request": 1, "collection": "todos", "after": null, "limit": 0})),
        format!("{{\"v\":1,\"pad\":\"{}\"}}", "x".repeat(70 << 20)).into_bytes(),
    ]
}

#[test]
fn hostile_messages_are_dropped_and_counted_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let tabs = open_ready_tabs(&hub, 2, &todos);
    tabs[0]
        .insert(&todos, Key::from("good"), row(json!({"ok": true})))
        .unwrap()
        .wait(WAIT)
        .unwrap();

    for payload in hostile_payloads(&db) {
        for tab in &tabs {
            tab.inject(payload.clone());
        }
    }
    // The forged term-0 commit is from an older term: ignored, never applied.
    for tab in &tabs {
        tab.wait_until(WAIT, |t| t.status().unwrap().stats.dropped.total() >= 14)
            .unwrap();
        assert!(tab.get(&todos, &Key::from("forged")).is_none());
    }
    // Everyone still works and agrees with SQLite.
    for (t, tab) in tabs.iter().enumerate() {
        tab.insert(&todos, Key::Int(t as i64), row(json!({"after": "attack"})))
            .unwrap()
            .wait(WAIT)
            .unwrap();
    }
    let expected = sqlite_rows(&path, &db, &todos);
    assert_eq!(expected.len(), 3);
    for tab in &tabs {
        tab.wait_until(WAIT, |t| tab_rows(t, &todos) == expected)
            .unwrap();
    }
}

#[test]
fn decode_classifies_every_hostile_payload_without_panicking() {
    let db = database("todo", "u1");
    let limits = Limits::default();
    let mut kinds = std::collections::BTreeMap::new();
    for payload in hostile_payloads(&db) {
        let kind = match decode(&payload, &db, &limits) {
            Ok(m) => format!("ok:{:?}", std::mem::discriminant(&m.body)),
            Err(DecodeError::Malformed(_)) => "malformed".into(),
            Err(DecodeError::UnknownVersion(v)) => format!("version {v}"),
            Err(DecodeError::TooLarge { .. }) => "too large".into(),
            Err(e) => e.to_string(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    let future = format!("version {}", PROTOCOL_VERSION + 1);
    assert_eq!(kinds.get(&future), Some(&1));
    assert_eq!(kinds.get("too large"), Some(&1));
    assert!(kinds.get("malformed").copied().unwrap_or(0) >= 10);
}

#[test]
fn envelope_over_the_limits_is_refused_with_a_typed_error() {
    let db = database("todo", "u1");
    let limits = Limits {
        max_ops_per_envelope: 2,
        max_row_bytes: 64,
        ..Limits::default()
    };
    let todos = collection("todos");
    let big = row(json!({"text": "x".repeat(100)}));
    let envelope = |ops: Vec<Op>| {
        envelopes::envelope(&db, envelopes::writer_tab(), envelopes::envelope_id(1), ops)
    };
    let three = (0..3)
        .map(|i| Op::Delete {
            collection: todos.clone(),
            key: Key::Int(i),
        })
        .collect();
    assert!(matches!(
        decode(&envelope(three).encode(), &db, &limits),
        Err(DecodeError::Invalid(lockstep::InvalidInput::TooManyOps {
            ops: 3,
            max: 2
        }))
    ));
    let large = vec![Op::Insert {
        collection: todos.clone(),
        key: Key::Int(1),
        value: lockstep::HeldRow::shared(big),
    }];
    assert!(matches!(
        decode(&envelope(large).encode(), &db, &limits),
        Err(DecodeError::Invalid(
            lockstep::InvalidInput::RowTooLarge { .. }
        ))
    ));
}

#[test]
fn invalid_rows_written_by_other_code_never_stall_a_tab() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (db, todos) = (database("todo", "u1"), collection("todos"));
    let hub = sqlite_hub(&path, &db, HubConfig::default());
    let first = open_ready_tabs(&hub, 1, &todos).remove(0);
    first
        .insert(&todos, Key::from("good"), row(json!({"ok": true})))
        .unwrap()
        .wait(WAIT)
        .unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let table = lockstep_sqlite::names::quote_ident(&lockstep_sqlite::names::row_table(&todos));
    conn.execute_batch(&format!(
        r#"INSERT INTO {table}(key, value) VALUES ('"bad"', 'not json'), ('not a key', '{{}}'), ('"array"', '[1]'), ('"huge"', '{{"n":1e400}}'), ('"fine"', '{{"n":1}}');"#
    ))
    .unwrap();
    first
        .wait_until(WAIT, |t| t.get(&todos, &Key::from("fine")).is_some())
        .unwrap();

    // A tab opened now hydrates past the invalid rows (`huge` is well-formed
    // JSON that no row can hold: the tab keeps rows as text, so it must check
    // them on arrival), and keeps working.
    let late = hub.open_tab();
    late.open_collection(&todos);
    late.wait_ready(&todos, WAIT).unwrap();
    assert_eq!(
        tab_rows(&late, &todos)
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>(),
        vec![Key::from("fine"), Key::from("good")]
    );
    late.insert(&todos, Key::from("after"), row(json!({})))
        .unwrap()
        .wait(WAIT)
        .unwrap();
    first
        .wait_until(WAIT, |t| t.get(&todos, &Key::from("after")).is_some())
        .unwrap();
}
