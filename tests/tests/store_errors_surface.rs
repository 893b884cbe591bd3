//! Issue 8, lesser item: store errors while serving pulls and pages were only
//! counted by the leader. Every tab's status now shows them (the leader's
//! hellos and heartbeats carry the count and the last error), and a read the
//! leader cannot serve ends with the store's error instead of waiting for ever.
//!
//! Before the fix (the status already carried the count; the read hung):
//!
//! ```text
//! ---- an_inspect_the_leader_cannot_serve_ends_with_its_error stdout ----
//! the inspect never ended: status Some(LeaderInfo { …, store_errors: 5,
//!   last_store_error: Some("storage failure: injected: disk I/O error"), … })
//! ```
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lockstep::protocol::Storage;
use lockstep::{
    CollectionId, CollectionReport, Event, Key, LogPage, MemoryStore, MemoryTx, OutboxEntry,
    QueryError, QueryLimits, QueryRows, RowPage, Seq, Store, StoreError, StoreMeta,
};
use lockstep_tests::*;
use serde_json::json;

/// A memory store whose reads outside transactions (pages, pulls) fail on demand.
#[derive(Clone)]
struct FailingReads {
    inner: MemoryStore,
    failing: Arc<AtomicBool>,
}
impl FailingReads {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Other("injected: disk I/O error".into()))
        } else {
            Ok(())
        }
    }
}
impl Store for FailingReads {
    type Tx<'a> = MemoryTx<'a>;
    fn storage(&self) -> Storage {
        self.inner.storage()
    }
    fn begin(&mut self) -> Result<MemoryTx<'_>, StoreError> {
        self.inner.begin()
    }
    fn meta(&mut self) -> Result<StoreMeta, StoreError> {
        self.inner.meta()
    }
    fn load_page(
        &mut self,
        c: &CollectionId,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<RowPage, StoreError> {
        self.check()?;
        self.inner.load_page(c, after, limit)
    }
    fn pull_since(&mut self, after: Seq, limit: usize) -> Result<LogPage, StoreError> {
        self.check()?;
        self.inner.pull_since(after, limit)
    }
    fn external_writes_pending(&mut self) -> Result<bool, StoreError> {
        self.inner.external_writes_pending()
    }
    fn outbox(&mut self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox(limit)
    }
    fn ack_outbox(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.inner.ack_outbox(seq)
    }
    fn collections(&mut self) -> Result<Vec<CollectionReport>, StoreError> {
        self.check()?;
        self.inner.collections()
    }
    fn query(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
        limits: &QueryLimits,
    ) -> Result<QueryRows, QueryError> {
        self.inner.query(sql, params, limits)
    }
}

#[test]
fn an_inspect_the_leader_cannot_serve_ends_with_its_error() {
    let failing = Arc::new(AtomicBool::new(false));
    let mut net: Net<FailingReads> = Net::new(database("todo", "u1"), 2);
    net.elect(
        0,
        FailingReads {
            inner: MemoryStore::new(),
            failing: failing.clone(),
        },
    )
    .unwrap();
    let todos = collection("todos");
    for tab in &mut net.tabs {
        tab.open_collection(net.now, todos.clone());
    }
    net.run();
    let now = net.now;
    net.tabs[1]
        .insert(now, todos.clone(), Key::from("a"), row(json!({})))
        .unwrap();
    net.run();
    failing.store(true, Ordering::SeqCst);
    let now = net.now;
    let id = net.tabs[1].inspect(now, todos.clone());
    for _ in 0..5 {
        net.advance(1_000);
    }
    let mut outcome = None;
    while let Some(event) = net.tabs[1].poll_event() {
        if let Event::Inspected {
            id: read, error, ..
        } = event
        {
            if read == id {
                outcome = Some(error);
            }
        }
    }
    let error = outcome
        .expect("the inspect ended")
        .expect("with the store's error");
    assert!(error.contains("disk I/O error"), "{error}");
    let info = net.tabs[1].status().leader_info.unwrap();
    assert!(info.store_errors >= 1);
    assert!(info
        .last_store_error
        .is_some_and(|e| e.contains("disk I/O error")));
    // Reads work again once the store does, and tabs still converge.
    failing.store(false, Ordering::SeqCst);
    let now = net.now;
    let again = net.tabs[1].inspect(now, todos.clone());
    net.run();
    let rows = std::iter::from_fn(|| net.tabs[1].poll_event()).find_map(|event| match event {
        Event::Inspected {
            id,
            rows,
            error: None,
            ..
        } if id == again => Some(rows),
        _ => None,
    });
    assert_eq!(rows.map(|rows| rows.len()), Some(1));
}

#[test]
fn the_hub_reports_the_store_error_in_status_and_inspect() {
    let failing = Arc::new(AtomicBool::new(false));
    let store = FailingReads {
        inner: MemoryStore::new(),
        failing: failing.clone(),
    };
    let hub = lockstep_hub::Hub::new(
        database("todo", "u1"),
        lockstep_hub::HubConfig::default(),
        move || Ok(store.clone()),
    )
    .unwrap();
    let todos = collection("todos");
    let tab = hub.open_tab();
    tab.open_collection(&todos);
    tab.wait_ready(&todos, WAIT).unwrap();
    failing.store(true, Ordering::SeqCst);
    match tab.inspect(&todos, WAIT) {
        Err(lockstep_hub::WaitError::Failed(error)) => {
            assert!(error.contains("disk I/O error"), "{error}")
        }
        other => panic!("expected the store's error, got {other:?}"),
    }
    tab.wait_until(WAIT, |t| {
        t.status()
            .and_then(|s| s.leader_info)
            .is_some_and(|info| info.store_errors > 0)
    })
    .unwrap();
    match tab.describe(WAIT) {
        Err(lockstep_hub::WaitError::Failed(error)) => {
            assert!(error.contains("disk I/O error"), "{error}")
        }
        other => panic!("expected the store's error, got {other:?}"),
    }
    failing.store(false, Ordering::SeqCst);
    assert_eq!(tab.inspect(&todos, WAIT), Ok(Vec::new()));
    let report = tab
        .describe(WAIT)
        .expect("a description once the store reads");
    assert!(report.info.store_errors > 0, "{report:?}");
}
