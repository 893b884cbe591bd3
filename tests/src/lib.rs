//! Helpers shared by Lockstep's cross-crate tests.
//!
//! [`Net`] drives the unchanged sans-IO core deterministically: tabs, one
//! coordinator at a time over any [`Store`], a message queue the test can
//! inspect and filter (to drop, say, one `TxCommitted`), and simulated time.
//! [`sqlite_hub`] starts the threaded in-process driver on a real SQLite file.
//! [`envelopes`] builds what tabs send, for tests that drive a coordinator by hand.

pub mod envelopes;
pub mod sim;

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use lockstep::protocol::{decode, Limits, Message};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, Event, Key,
    PersistedCollectionRuntime, Row, RuntimeConfig, StartError, Store, SyncBatch, TabId, Timestamp,
};
use lockstep_hub::{Hub, HubConfig, TabHandle};
use lockstep_sqlite::{SqliteOptions, SqliteStore};

/// Generous timeout for waits in tests (they return as soon as the condition holds).
pub const WAIT: Duration = Duration::from_secs(10);

/// A row from a `json!` object literal.
pub fn row(value: serde_json::Value) -> Row {
    value.as_object().expect("a JSON object").clone()
}

/// A collection id.
pub fn collection(name: &str) -> CollectionId {
    CollectionId::new(name).expect("valid collection name")
}

/// A database id.
pub fn database(app: &str, scope: &str) -> DatabaseId {
    DatabaseId::new(app, scope).expect("valid database id")
}

/// A hub whose leaders open the SQLite file at `path`.
pub fn sqlite_hub(path: &Path, db: &DatabaseId, config: HubConfig) -> Hub<SqliteStore> {
    let (path, id) = (path.to_owned(), db.clone());
    Hub::new(db.clone(), config, move || {
        SqliteStore::open(&path, &id, SqliteOptions::default())
    })
    .expect("the tests' hub settings are valid")
}

/// Opens `n` tabs with `collection` open and waits until each is ready.
pub fn open_ready_tabs(
    hub: &Hub<SqliteStore>,
    n: usize,
    collection: &CollectionId,
) -> Vec<TabHandle> {
    let tabs: Vec<TabHandle> = (0..n).map(|_| hub.open_tab()).collect();
    for tab in &tabs {
        tab.open_collection(collection);
    }
    for tab in &tabs {
        tab.wait_ready(collection, WAIT).expect("tab ready");
    }
    tabs
}

/// Every row of a collection as SQLite holds it, read through a fresh
/// connection, in [`Key`] order (the order of tab snapshots).
pub fn sqlite_rows(path: &Path, db: &DatabaseId, collection: &CollectionId) -> Vec<(Key, Row)> {
    let mut rows = SqliteStore::open(path, db, SqliteOptions::default())
        .expect("open store")
        .rows(collection)
        .expect("read rows");
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// The visible rows of a tab, as plain pairs (comparable with [`sqlite_rows`]).
pub fn tab_rows(tab: &TabHandle, collection: &CollectionId) -> Vec<(Key, Row)> {
    tab.snapshot(collection)
        .into_iter()
        .map(|(k, v)| (k, v.to_row()))
        .collect()
}

/// Where a queued message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    /// The runtime of tab `i`.
    Tab(usize),
    /// The current coordinator.
    Leader,
}

/// Decides whether a message on its way to `To` is lost.
pub type DropRule = Box<dyn FnMut(&Message, To) -> bool>;

/// A deterministic network of sans-IO tabs and one coordinator at a time.
pub struct Net<S: Store> {
    /// The database.
    pub db: DatabaseId,
    /// Simulated time.
    pub now: Timestamp,
    /// The tabs' runtimes.
    pub tabs: Vec<PersistedCollectionRuntime>,
    /// The coordinator, run on behalf of tab `leader_tab`.
    pub leader: Option<Coordinator<S>>,
    /// Which tab hosts the coordinator.
    pub leader_tab: usize,
    queue: VecDeque<(To, Vec<u8>)>,
    /// Returns true for a message that must be lost on its way.
    pub drop_if: DropRule,
}

impl<S: Store> Net<S> {
    /// `n` tabs, no leader yet.
    pub fn new(db: DatabaseId, n: usize) -> Self {
        let now = Timestamp(1_700_000_000_000);
        let tabs = (0..n)
            .map(|i| {
                PersistedCollectionRuntime::new(
                    db.clone(),
                    TabId::from_u128(i as u128 + 1),
                    RuntimeConfig::default(),
                    now,
                )
            })
            .collect();
        Net {
            db,
            now,
            tabs,
            leader: None,
            leader_tab: 0,
            queue: VecDeque::new(),
            drop_if: Box::new(|_, _| false),
        }
    }

    /// Opens one more tab, with id `bits` and `collections` open (its `Join`
    /// and hydration requests are queued), and returns its index.
    pub fn open_tab(&mut self, bits: u128, collections: &[CollectionId]) -> usize {
        let mut tab = PersistedCollectionRuntime::new(
            self.db.clone(),
            TabId::from_u128(bits),
            RuntimeConfig::default(),
            self.now,
        );
        for collection in collections {
            tab.open_collection(self.now, collection.clone());
        }
        self.tabs.push(tab);
        self.tabs.len() - 1
    }

    /// Starts a coordinator for tab `tab` on `store`.
    pub fn elect(&mut self, tab: usize, store: S) -> Result<(), StartError> {
        self.elect_with(tab, store, CoordinatorConfig::default())
    }

    /// Starts a coordinator for tab `tab` on `store` with `config`.
    pub fn elect_with(
        &mut self,
        tab: usize,
        store: S,
        config: CoordinatorConfig,
    ) -> Result<(), StartError> {
        let me = self.tabs[tab].tab_id();
        self.leader = Some(Coordinator::start(
            store,
            self.db.clone(),
            me,
            config,
            self.now,
        )?);
        self.leader_tab = tab;
        Ok(())
    }

    /// Kills the coordinator: what it queued but did not send is lost.
    pub fn crash_leader(&mut self) -> Option<S> {
        self.leader.take().map(|c| c.into_store())
    }

    /// Moves what every machine queued into the network.
    fn collect(&mut self) {
        let n = self.tabs.len();
        for tab in &mut self.tabs {
            while let Some(m) = tab.poll_transmit() {
                self.queue.push_back((To::Leader, m.encode()));
            }
        }
        if let Some(leader) = self.leader.as_mut() {
            while let Some(m) = leader.poll_transmit() {
                let bytes = m.encode();
                for i in 0..n {
                    let id = self.tabs[i].tab_id();
                    if m.is_for(id) && m.skips() != Some(id) {
                        self.queue.push_back((To::Tab(i), bytes.clone()));
                    }
                }
            }
        }
    }

    /// Delivers messages until nothing is queued.
    pub fn run(&mut self) {
        loop {
            self.collect();
            let Some((to, bytes)) = self.queue.pop_front() else {
                return;
            };
            let message =
                decode(&bytes, &self.db, &Limits::default()).expect("harness messages decode");
            if (self.drop_if)(&message, to) {
                continue;
            }
            match to {
                To::Tab(i) => self.tabs[i].handle_bytes(self.now, &bytes),
                To::Leader => {
                    if let Some(leader) = self.leader.as_mut() {
                        leader.handle_bytes(self.now, &bytes);
                    }
                }
            }
        }
    }

    /// Advances simulated time by `ms`, fires timers, then delivers everything.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
        for tab in &mut self.tabs {
            tab.handle_timeout(self.now);
        }
        if let Some(leader) = self.leader.as_mut() {
            leader.handle_timeout(self.now);
        }
        self.run();
    }
}

/// The rows an app-side store (TanStack DB) would hold for stream-mode
/// collections, built only from [`Event::Synced`] batches, as the
/// TypeScript bindings apply them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamSink {
    /// Per collection, the rows in key order.
    pub rows: std::collections::BTreeMap<CollectionId, std::collections::BTreeMap<Key, Row>>,
    /// Collections that reported ready.
    pub ready: std::collections::BTreeSet<CollectionId>,
}

impl StreamSink {
    /// Applies one event; events other than `Synced` and `Ready` are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Synced { collection, batch } => {
                let rows = self.rows.entry(collection.clone()).or_default();
                match batch {
                    SyncBatch::Rows { rows: page, .. } => {
                        // The app parses each row; one that does not parse is skipped.
                        for r in page.iter().cloned().filter_map(|r| r.into_keyed().ok()) {
                            rows.insert(r.key, r.value);
                        }
                    }
                    SyncBatch::Commit { changes, .. } => {
                        for (key, value) in changes {
                            match value {
                                Some(v) => rows.insert(key.clone(), v.to_row()),
                                None => rows.remove(key),
                            };
                        }
                    }
                    SyncBatch::Retain { keys } => rows.retain(|key, _| keys.contains(key)),
                }
            }
            Event::Ready { collection } => {
                self.ready.insert(collection.clone());
            }
            _ => {}
        }
    }

    /// The rows held for `collection` as `(key, row)` pairs in key order.
    pub fn pairs(&self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows
            .get(collection)
            .map(|rows| rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}
