//! In a real dedicated worker of headless Chromium: the leader's store opens
//! on OPFS, keeps its data across a reopen, and two scopes never share files.
#![cfg(target_arch = "wasm32")]

use lockstep::protocol::{Body, Envelope, Message, PROTOCOL_VERSION};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op, Store, TabId,
    Term, Timestamp,
};
use lockstep_browser::opfs::{self, Opened};
use lockstep_sqlite::SqliteStore;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

async fn durable(db: &DatabaseId) -> SqliteStore {
    match opfs::open(db).await {
        Ok(Opened::Durable(store)) => store,
        Ok(Opened::MemoryOnly(_, why)) => {
            panic!("expected OPFS in a dedicated worker, got the fallback: {why}")
        }
        Err(_) => panic!("opening on OPFS failed"),
    }
}

fn insert(db: &DatabaseId, n: u8, key: &str) -> Vec<u8> {
    let me = TabId::from_u128(1);
    let ops = vec![Op::Insert {
        collection: CollectionId::new("todos").unwrap(),
        key: Key::from(key),
        value: serde_json::json!({"n": n}).as_object().unwrap().clone(),
    }];
    let envelope = Envelope {
        envelope_id: EnvelopeId::new_v7(u64::from(n), [n; 10]),
        origin: me,
        ops,
    };
    Message {
        v: PROTOCOL_VERSION,
        db: db.clone(),
        term: Term(1),
        from: me,
        to: None,
        body: Body::Envelope(envelope),
    }
    .encode()
}

#[wasm_bindgen_test]
async fn leader_store_on_opfs_keeps_rows_and_position_across_reopen() {
    let db = DatabaseId::new("wasm-test", &format!("opfs-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    {
        let mut leader = Coordinator::start(
            durable(&db).await,
            db.clone(),
            TabId::from_u128(1),
            CoordinatorConfig::default(),
            Timestamp(0),
        )
        .unwrap();
        leader.handle_bytes(Timestamp(0), &insert(&db, 1, "a"));
        leader.handle_bytes(Timestamp(0), &insert(&db, 2, "b"));
        assert_eq!(leader.position().seq.0, 2);
    }
    let mut store = durable(&db).await;
    assert_eq!(
        store.rows(&todos).unwrap().len(),
        2,
        "rows survive closing the connection"
    );
    let meta = store.meta().unwrap();
    assert_eq!(
        (meta.term.0, meta.position.seq.0),
        (1, 2),
        "term and stream position are persisted"
    );
}

#[wasm_bindgen_test]
async fn two_scopes_use_separate_opfs_files() {
    let stamp = js_sys::Date::now();
    let alice = DatabaseId::new("wasm-test", &format!("alice-{stamp}")).unwrap();
    let bob = DatabaseId::new("wasm-test", &format!("bob-{stamp}")).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    let mut leader = Coordinator::start(
        durable(&alice).await,
        alice.clone(),
        TabId::from_u128(1),
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .unwrap();
    leader.handle_bytes(Timestamp(0), &insert(&alice, 1, "secret"));
    let mut bobs = durable(&bob).await;
    assert!(bobs.rows(&todos).unwrap().is_empty());
    assert!(
        matches!(
            SqliteStore::open("/lockstep.db", &alice, Default::default()),
            Err(lockstep::StoreError::WrongDatabase { .. })
        ),
        "the default VFS is now bob's pool: alice's id is refused there"
    );
}

#[wasm_bindgen_test]
async fn storage_full_rejects_the_whole_envelope_and_commits_nothing() {
    let db = DatabaseId::new("wasm-test", &format!("full-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    let me = TabId::from_u128(1);
    let mut leader = Coordinator::start(
        durable(&db).await,
        db.clone(),
        me,
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .unwrap();
    leader.handle_bytes(Timestamp(0), &insert(&db, 1, "small"));
    while leader.poll_transmit().is_some() {}
    // The file may not grow past its current size: the next big write hits SQLITE_FULL for real.
    let pages: i64 = leader
        .store_mut()
        .connection()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    leader
        .store_mut()
        .connection()
        .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
        .unwrap();
    let big = "x".repeat(64 * 1024);
    let ops = (0..8)
        .map(|i| Op::Insert {
            collection: todos.clone(),
            key: Key::Int(i),
            value: serde_json::json!({"blob": big})
                .as_object()
                .unwrap()
                .clone(),
        })
        .collect();
    let envelope = Envelope {
        envelope_id: EnvelopeId::new_v7(9, [9; 10]),
        origin: me,
        ops,
    };
    let bytes = Message {
        v: PROTOCOL_VERSION,
        db: db.clone(),
        term: Term(1),
        from: me,
        to: None,
        body: Body::Envelope(envelope),
    }
    .encode();
    leader.handle_bytes(Timestamp(0), &bytes);
    let replies: Vec<Body> = std::iter::from_fn(|| leader.poll_transmit())
        .map(|m| m.body)
        .collect();
    assert!(
        matches!(
            replies.as_slice(),
            [Body::Rejected {
                rejection: lockstep::Rejection::StorageFull,
                ..
            }]
        ),
        "expected one StorageFull rejection, got {replies:?}"
    );
    assert_eq!(
        leader.position().seq.0,
        1,
        "nothing of the envelope was committed"
    );
    assert_eq!(leader.store_mut().rows(&todos).unwrap().len(), 1);
    leader.handle_bytes(Timestamp(0), &insert(&db, 2, "still-works"));
    assert_eq!(
        leader.position().seq.0,
        2,
        "smaller writes still commit after the refusal"
    );
}
