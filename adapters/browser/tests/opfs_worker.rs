//! In a real dedicated worker of headless Chromium: the leader's store opens
//! on OPFS, keeps its data across a reopen, and two scopes never share files.
#![cfg(target_arch = "wasm32")]

use lockstep::protocol::{Body, Envelope, Message, PROTOCOL_VERSION};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op, Store, TabId,
    Term, Timestamp,
};
use lockstep_browser::names;
use lockstep_browser::opfs::{self, Opened};
use lockstep_sqlite::{names as tables, SqliteStore};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

async fn durable(db: &DatabaseId) -> SqliteStore {
    durable_with_pool(db).await.0
}

async fn durable_with_pool(db: &DatabaseId) -> (SqliteStore, opfs::Pool) {
    match opfs::open(db, false).await {
        Ok(Opened::Durable(store, pool)) => (store, pool),
        Ok(Opened::MemoryOnly(_, why)) => {
            panic!("expected OPFS in a dedicated worker, got the fallback: {why}")
        }
        Err(_) => panic!("opening on OPFS failed"),
    }
}

/// An encoded envelope of `ops` from tab 1, the `n`th it sends.
fn envelope(db: &DatabaseId, n: u64, ops: Vec<Op>) -> Vec<u8> {
    let me = TabId::from_u128(1);
    Message {
        v: PROTOCOL_VERSION,
        db: db.clone(),
        term: Term(1),
        from: me,
        to: None,
        body: Body::Envelope(Envelope {
            envelope_id: EnvelopeId::new_v7(n, [n as u8; 10]),
            origin: me,
            ops,
        }),
    }
    .encode()
}

fn insert(db: &DatabaseId, n: u8, key: &str) -> Vec<u8> {
    let op = Op::Insert {
        collection: CollectionId::new("todos").unwrap(),
        key: Key::from(key),
        value: lockstep::HeldRow::shared(serde_json::json!({"n": n}).as_object().unwrap().clone()),
    };
    envelope(db, u64::from(n), vec![op])
}

/// A coordinator for tab 1 on `store`, started at time 0.
fn leader_on(store: SqliteStore, db: &DatabaseId) -> Coordinator<SqliteStore> {
    Coordinator::start(
        store,
        db.clone(),
        TabId::from_u128(1),
        CoordinatorConfig::default(),
        Timestamp(0),
    )
    .unwrap()
}

/// Inserts of rows `0..n` of `collection`, keyed by number: `{"title": title(i), "n": i}`.
fn inserts(collection: &CollectionId, n: i64, title: impl Fn(i64) -> String) -> Vec<Op> {
    (0..n)
        .map(|i| Op::Insert {
            collection: collection.clone(),
            key: Key::Int(i),
            value: lockstep::HeldRow::shared(
                serde_json::json!({"title": title(i), "n": i})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        })
        .collect()
}

#[wasm_bindgen_test]
async fn leader_store_on_opfs_keeps_rows_and_position_across_reopen() {
    let db = DatabaseId::new("wasm-test", format!("opfs-{}", js_sys::Date::now())).unwrap();
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
    let alice = DatabaseId::new("wasm-test", format!("alice-{stamp}")).unwrap();
    let bob = DatabaseId::new("wasm-test", format!("bob-{stamp}")).unwrap();
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
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE;
    assert!(
        matches!(
            SqliteStore::open_with_vfs(
                "/lockstep.db",
                flags,
                &names::vfs(&bob),
                &alice,
                Default::default()
            ),
            Err(lockstep::StoreError::WrongDatabase { .. })
        ),
        "bob's file refuses alice's id"
    );
}

#[wasm_bindgen_test]
async fn storage_full_rejects_the_whole_envelope_and_commits_nothing() {
    let db = DatabaseId::new("wasm-test", format!("full-{}", js_sys::Date::now())).unwrap();
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
            value: lockstep::HeldRow::shared(
                serde_json::json!({"blob": big})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
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

#[wasm_bindgen(inline_js = r#"
export async function files_free(directory) {
  let dir = await navigator.storage.getDirectory();
  for (const part of directory.split('/')) dir = await dir.getDirectoryHandle(part);
  const handles = [];
  const walk = async (d) => {
    for await (const entry of d.values()) {
      if (entry.kind === 'directory') await walk(entry);
      else handles.push(await entry.createSyncAccessHandle());
    }
  };
  try {
    await walk(dir);
    return handles.length > 0;
  } catch (e) {
    if (e.name === 'NoModificationAllowedError') return false;
    throw e;
  } finally {
    for (const h of handles) h.close();
  }
}
"#)]
extern "C" {
    /// Whether every file of the OPFS directory can get a sync access
    /// handle now, as another tab's worker would (`false`: someone holds them).
    #[wasm_bindgen(catch)]
    async fn files_free(directory: &str) -> Result<JsValue, JsValue>;
}

/// Defect 7: a leader that stepped down kept its pool's access handles, so
/// the next leader got `NoModificationAllowedError` until this worker won
/// again. Without `Pool::release` on step-down the second `files_free`
/// below fails: "another tab's worker can open the files now".
#[wasm_bindgen_test]
async fn a_leader_that_steps_down_releases_the_opfs_files_and_can_lead_again() {
    let db = DatabaseId::new("wasm-test", format!("release-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    let directory = names::opfs_directory(&db);
    let (store, pool) = durable_with_pool(&db).await;
    let mut leader = leader_on(store, &db);
    leader.handle_bytes(Timestamp(0), &insert(&db, 1, "kept"));
    assert_eq!(
        files_free(&directory).await.unwrap().as_bool(),
        Some(false),
        "while it leads, the files are held"
    );
    // Stepping down: connection closed, then the pool's handles released.
    drop(leader);
    pool.release().unwrap();
    assert_eq!(
        files_free(&directory).await.unwrap().as_bool(),
        Some(true),
        "another tab's worker can open the files now"
    );
    // This worker can lead again: the same pool resumes, the data is intact.
    let (mut store, _pool) = durable_with_pool(&db).await;
    assert_eq!(store.rows(&todos).unwrap().len(), 1);
}

/// The WAL goes to OPFS in one write per commit and a checkpoint's pages in
/// few (wal_batch): a transaction too large for the page cache (pages spill
/// to the WAL and are read back before it commits), then enough one-row
/// commits for checkpoints (the WAL read ahead), then the pool is released
/// and reopened: every row, as written, and the position are there.
#[wasm_bindgen_test]
async fn batched_wal_writes_survive_spills_checkpoints_and_a_reopen() {
    let db = DatabaseId::new("wasm-test", format!("walbatch-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    let me = TabId::from_u128(1);
    let big = inserts(&todos, 20_000, |i| format!("row {i} {}", "x".repeat(120)));
    {
        let (store, pool) = durable_with_pool(&db).await;
        let mut leader = Coordinator::start(
            store,
            db.clone(),
            me,
            CoordinatorConfig::default(),
            Timestamp(0),
        )
        .unwrap();
        leader.handle_bytes(Timestamp(0), &envelope(&db, 1, big));
        assert_eq!(
            leader.position().seq.0,
            1,
            "the large transaction committed"
        );
        for n in 0..400u64 {
            let op = Op::Insert {
                collection: todos.clone(),
                key: Key::from(format!("one-{n}").as_str()),
                value: lockstep::HeldRow::shared(
                    serde_json::json!({"n": n}).as_object().unwrap().clone(),
                ),
            };
            leader.handle_bytes(Timestamp(0), &envelope(&db, n + 2, vec![op]));
        }
        assert_eq!(leader.position().seq.0, 401);
        drop(leader);
        pool.release().unwrap();
    }
    // Read back through the shim's read-ahead (a scan reads the pages in
    // file order): every row as it was written.
    let mut store = durable(&db).await;
    let rows = store.rows(&todos).unwrap();
    assert_eq!(rows.len(), 20_400, "every committed row is on OPFS");
    for (key, row) in &rows {
        let n = row.get("n").and_then(|n| n.as_i64()).unwrap();
        match key {
            Key::Int(i) => {
                assert_eq!(*i, n);
                let title = row.get("title").and_then(|t| t.as_str()).unwrap();
                assert_eq!(title, format!("row {i} {}", "x".repeat(120)));
            }
            other => assert_eq!(other, &Key::from(format!("one-{n}").as_str())),
        }
    }
    assert_eq!(store.meta().unwrap().position.seq.0, 401);
}

#[wasm_bindgen_test]
async fn a_quiet_time_checkpoint_on_opfs_lets_the_next_commits_start_the_log_over() {
    let db = DatabaseId::new("wasm-test", format!("checkpoint-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    let burst = inserts(&todos, 2_000, |_| "x".repeat(100));
    {
        let (store, pool) = durable_with_pool(&db).await;
        let mut leader = leader_on(store, &db);
        leader.handle_bytes(Timestamp(0), &envelope(&db, 1, burst));
        let first = leader.store_mut().checkpoint().unwrap();
        assert!(first.log_frames > 10, "{first:?}");
        assert_eq!(first.checkpointed_frames, first.log_frames);
        leader.handle_bytes(Timestamp(0), &insert(&db, 2, "after"));
        let next = leader.store_mut().checkpoint().unwrap();
        assert!(
            next.log_frames < first.log_frames,
            "{next:?} after {first:?}"
        );
        drop(leader);
        pool.release().unwrap();
    }
    let mut store = durable(&db).await;
    assert_eq!(store.rows(&todos).unwrap().len(), 2_001);
    assert_eq!(store.meta().unwrap().position.seq.0, 2);
}

/// Installs the database's pool as `capacity` files, as an earlier
/// version (or a test) would, and releases it: `opfs::open` then reuses it.
async fn pool_of(db: &DatabaseId, capacity: usize) {
    use sqlite_wasm_vfs::sahpool::{install, OpfsSAHPoolCfgBuilder};
    let config = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&names::vfs(db))
        .directory(&names::opfs_directory(db))
        .initial_capacity(capacity)
        .build();
    let pool = install::<sqlite_wasm_rs::WasmOsCallback>(&config, false)
        .await
        .unwrap();
    assert_eq!(pool.capacity(), capacity);
    pool.pause().unwrap();
}

/// A leader's database takes two files, the database and its WAL, whatever
/// it does: a transaction too large for the page cache, a temporary table
/// and a sort of it too large for the cache, a checkpoint, a release and a
/// reopen. The pool holds one more ([`opfs::POOL_CAPACITY`]) as a spare.
/// With `PRAGMA temp_store = FILE` instead of `MEMORY`, the large
/// transaction needs a third file (its statement journal) and fails here.
#[wasm_bindgen_test]
async fn a_leader_needs_only_the_database_and_its_wal_on_opfs() {
    let db = DatabaseId::new("wasm-test", format!("capacity-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    pool_of(&db, 2).await;
    {
        let (store, pool) = durable_with_pool(&db).await;
        assert_eq!(pool.capacity(), 2);
        let mut leader = leader_on(store, &db);
        let big = inserts(&todos, 20_000, |i| {
            format!("row {} {}", 20_000 - i, "x".repeat(120))
        });
        leader.handle_bytes(Timestamp(0), &envelope(&db, 1, big));
        assert_eq!(
            leader.position().seq.0,
            1,
            "the large transaction committed"
        );
        let store = leader.store_mut();
        let conn = store.connection();
        let table = tables::quote_ident(&tables::row_table(&todos));
        conn.execute_batch(&format!("CREATE TEMP TABLE copy AS SELECT * FROM {table}"))
            .expect("a temporary table needs no file of the pool");
        let sorted: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT * FROM copy ORDER BY value DESC, key)",
                [],
                |r| r.get(0),
            )
            .expect("a sort larger than the page cache needs no file of the pool");
        assert_eq!(sorted, 20_000);
        conn.execute_batch("DROP TABLE copy").unwrap();
        store.checkpoint().expect("a checkpoint within the pool");
        drop(leader);
        pool.release().unwrap();
    }
    let (mut store, pool) = durable_with_pool(&db).await;
    assert_eq!(pool.capacity(), 2, "a smaller pool is never grown");
    assert_eq!(store.rows(&todos).unwrap().len(), 20_000);
}

/// A new database's pool holds [`opfs::POOL_CAPACITY`] files; one made by
/// an earlier version held 6, and the next open removes the unused ones,
/// keeping the data.
#[wasm_bindgen_test]
async fn an_older_pool_of_six_files_shrinks_to_the_pool_capacity_and_keeps_its_rows() {
    let fresh = DatabaseId::new("wasm-test", format!("fresh-{}", js_sys::Date::now())).unwrap();
    assert_eq!(
        durable_with_pool(&fresh).await.1.capacity(),
        opfs::POOL_CAPACITY
    );
    let db = DatabaseId::new("wasm-test", format!("shrink-{}", js_sys::Date::now())).unwrap();
    let todos = CollectionId::new("todos").unwrap();
    pool_of(&db, 6).await;
    {
        let (store, pool) = durable_with_pool(&db).await;
        assert_eq!(
            pool.capacity(),
            opfs::POOL_CAPACITY,
            "the unused files are gone"
        );
        let mut leader = leader_on(store, &db);
        leader.handle_bytes(Timestamp(0), &insert(&db, 1, "kept"));
        drop(leader);
        pool.release().unwrap();
    }
    let (mut store, pool) = durable_with_pool(&db).await;
    assert_eq!(pool.capacity(), opfs::POOL_CAPACITY);
    assert_eq!(store.rows(&todos).unwrap().len(), 1);
}
