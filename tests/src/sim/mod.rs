//! Deterministic simulation of many tabs with faults.
//!
//! One `u64` seed drives a whole history: tabs join, write, close, crash and
//! reload; the leader crashes (even between its commit and its broadcast),
//! freezes while holding leadership and wakes up after a new term began; the
//! broadcast channel delays, reorders (between senders), drops and duplicates;
//! store opens fail; other code writes straight into the store. The unchanged
//! sans-IO core runs on a [`MemoryStore`] or a real SQLite file.
//!
//! Checked after every step: the stream is gap-free with strictly increasing
//! seqs, terms never go back, no term has two leaders, no envelope is applied
//! twice, the persisted position never goes back, and every tab's ready
//! collections equal the store's state at the seq the tab applied (its history
//! is a prefix of the store's). After the faults stop: every tab equals the
//! store with no pending optimistic state, and no acknowledged envelope is lost.

mod history;
mod net;
mod rng;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;

use lockstep::protocol::{Body, Limits, Message};
use lockstep::{
    BugSwitches, CollectionId, Coordinator, CoordinatorConfig, DatabaseId, Event, Key, MemoryStore,
    Op, PersistedCollectionRuntime, Rejection, Row, RuntimeConfig, StartError, Store, StoreError,
    TabId, Term, Timestamp,
};
use lockstep_sqlite::{Durability, SqliteOptions, SqliteStore};

pub use history::History;
pub use net::{Endpoint, Net, NetFaults};
pub use rng::SimRng;

/// Which store the leaders open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// [`MemoryStore`]: fast, many seeds.
    Memory,
    /// [`SqliteStore`] on a file in a temp dir.
    Sqlite,
}

/// Bugs re-introduced in the driver (the simulator's own leader/tab wiring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverBugs {
    /// Seed 002: the leader's tab ignores the commits of its own coordinator.
    pub leader_ignores_own_commits: bool,
    /// Seed 002: a tab whose store open failed keeps the leadership lock.
    pub leadership_kept_after_failed_setup: bool,
}

/// The known bugs the simulator can re-introduce, by name.
pub const BUGS: &[&str] = &[
    "no-position-restore",
    "leader-writes-around-coordinator",
    "leader-ignores-own-commits",
    "leadership-kept-after-failed-setup",
    "no-durable-dedup",
];

impl SimConfig {
    /// This configuration with the named bug re-introduced (see [`BUGS`]).
    pub fn with_bug(mut self, name: &str) -> Result<SimConfig, String> {
        match name {
            "no-position-restore" => self.core_bugs.no_position_restore = true,
            "leader-writes-around-coordinator" => {
                self.core_bugs.leader_writes_around_coordinator = true
            }
            "no-durable-dedup" => self.core_bugs.no_durable_dedup = true,
            "leader-ignores-own-commits" => self.driver_bugs.leader_ignores_own_commits = true,
            "leadership-kept-after-failed-setup" => {
                self.driver_bugs.leadership_kept_after_failed_setup = true
            }
            other => return Err(format!("unknown bug {other}; known: {}", BUGS.join(", "))),
        }
        Ok(self)
    }
}

/// What a run does.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Actions in the faulty phase.
    pub steps: usize,
    /// Most tabs open at once.
    pub max_tabs: usize,
    /// Size of the key space (small, so tabs conflict).
    pub keys: u64,
    /// Network faults of the faulty phase.
    pub faults: NetFaults,
    /// Probability that a leader's store open fails.
    pub store_open_fails: f64,
    /// Bugs re-introduced in the core.
    pub core_bugs: BugSwitches,
    /// Bugs re-introduced in the driver.
    pub driver_bugs: DriverBugs,
    /// Simulated time allowed to converge once faults stop.
    pub heal_limit_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            steps: 500,
            max_tabs: 5,
            keys: 10,
            faults: NetFaults {
                max_delay_ms: 30,
                drop: 0.03,
                duplicate: 0.03,
            },
            store_open_fails: 0.1,
            core_bugs: BugSwitches::NONE,
            driver_bugs: DriverBugs::default(),
            heal_limit_ms: 30_000,
        }
    }
}

/// What a passing run did.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// Transactions committed.
    pub commits: u64,
    /// Envelopes acknowledged to their tab.
    pub acknowledged: usize,
    /// Envelopes refused (conflicts).
    pub rejected: u64,
    /// Coordinators started.
    pub leaders: u64,
    /// Tabs opened.
    pub tabs_opened: u64,
    /// Deliveries dropped and duplicated by the network.
    pub dropped: u64,
    /// Deliveries duplicated.
    pub duplicated: u64,
    /// Simulated milliseconds.
    pub sim_ms: u64,
}

/// A violated invariant, with the seed that replays it.
#[derive(Clone, Debug)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// The store kind.
    pub store: StoreKind,
    /// What went wrong.
    pub violation: String,
    /// The last actions before it.
    pub trace: Vec<String>,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({:?} store): {}",
            self.seed, self.store, self.violation
        )?;
        writeln!(f, "last actions:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "replay: cargo xtask sim --seed {}{}",
            self.seed,
            if self.store == StoreKind::Sqlite {
                " --store sqlite"
            } else {
                ""
            }
        )
    }
}

/// Runs one seed.
pub fn run_seed(seed: u64, store: StoreKind, config: &SimConfig) -> Result<SimReport, SimFailure> {
    let fail = |violation: String, trace: Vec<String>| SimFailure {
        seed,
        store,
        violation,
        trace,
    };
    match store {
        StoreKind::Memory => {
            let shared = MemoryStore::with_log_retention(u64::MAX);
            let observer = shared.clone();
            let opener: Opener<MemoryStore> = Box::new(move || Ok(shared.clone()));
            Sim::new(seed, config.clone(), opener, observer)
                .run()
                .map_err(|(v, t)| fail(v, t))
        }
        StoreKind::Sqlite => {
            let dir =
                tempfile::tempdir().map_err(|e| fail(format!("temp dir: {e}"), Vec::new()))?;
            let path = dir.path().join("sim.db");
            let db = database();
            let options = || SqliteOptions {
                log_retention: u64::MAX / 2,
                durability: Durability::Normal,
            };
            let observer = SqliteStore::open(&path, &db, options())
                .map_err(|e| fail(format!("open: {e}"), Vec::new()))?;
            let opener: Opener<SqliteStore> =
                Box::new(move || SqliteStore::open(&path, &db, options()));
            let result = Sim::new(seed, config.clone(), opener, observer)
                .run()
                .map_err(|(v, t)| fail(v, t));
            drop(dir);
            result
        }
    }
}

fn database() -> DatabaseId {
    DatabaseId::new("sim", "user").expect("valid id")
}

type Opener<S> = Box<dyn FnMut() -> Result<S, StoreError>>;

/// What the simulator needs of a store beyond [`Store`].
trait SimStore: Store + Sized {
    /// Writes a row the way other code would, straight into the store.
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>);
    /// Every row of a collection.
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)>;
    /// Checks the names the store recorded for its collections are the ones
    /// every tab derives (deterministic tracking, invariant 9).
    fn check_derived_names(&mut self, collections: &[CollectionId]) -> Result<(), String>;
}

impl SimStore for MemoryStore {
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>) {
        MemoryStore::write_external(self, collection, key, value.cloned());
    }
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection)
    }
    fn check_derived_names(&mut self, _collections: &[CollectionId]) -> Result<(), String> {
        Ok(())
    }
}

impl SimStore for SqliteStore {
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>) {
        let table =
            lockstep_sqlite::names::quote_ident(&lockstep_sqlite::names::row_table(collection));
        let sql = match value {
            Some(_) => format!("INSERT INTO {table}(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
            None => format!("DELETE FROM {table} WHERE key = ?1 AND ?2 IS NULL"),
        };
        let json = value.map(|v| serde_json::to_string(v).unwrap_or_default());
        // The table may not exist yet (nothing written to the collection): then there is nothing to write into.
        let _ = self
            .connection()
            .execute(&sql, rusqlite::params![key.to_json(), json]);
    }
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection).unwrap_or_default()
    }
    fn check_derived_names(&mut self, collections: &[CollectionId]) -> Result<(), String> {
        use lockstep_sqlite::names;
        for collection in collections {
            let recorded = self.connection().query_row(
                "SELECT row_table, tracking_table FROM __lockstep_collections WHERE name = ?1",
                [collection.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            );
            match recorded {
                Ok(pair) if pair == (names::row_table(collection), names::tracking_table(collection)) => {}
                Ok(pair) => return Err(format!("collection {collection} was recorded with tables {pair:?}, not the derived names")),
                Err(rusqlite::Error::QueryReturnedNoRows) => {}
                Err(e) => return Err(format!("cannot read the collection registry: {e}")),
            }
        }
        Ok(())
    }
}

struct SimTab {
    runtime: PersistedCollectionRuntime,
    frozen: bool,
}

struct SimLeader<S: Store> {
    host: TabId,
    coordinator: Coordinator<S>,
    crash_after_commit: bool,
}

struct Freeze {
    tab: TabId,
    since: Timestamp,
    until: Timestamp,
}

/// How long a frozen leader keeps the lock before another tab steals it.
const STEAL_AFTER_MS: u64 = 3_000;

type Outcome<T> = Result<T, String>;

struct Sim<S: SimStore> {
    config: SimConfig,
    rng: SimRng,
    now: Timestamp,
    db: DatabaseId,
    collections: Vec<CollectionId>,
    tabs: BTreeMap<TabId, SimTab>,
    leaders: BTreeMap<Term, SimLeader<S>>,
    lock_holder: Option<TabId>,
    lock_queue: VecDeque<TabId>,
    retries: Vec<(Timestamp, TabId)>,
    freeze: Option<Freeze>,
    net: Net,
    faults: NetFaults,
    opener: Opener<S>,
    observer: S,
    history: History,
    acknowledged: Vec<lockstep::EnvelopeId>,
    terms: HashSet<Term>,
    trace: VecDeque<String>,
    report: SimReport,
    started: Timestamp,
    /// The leader's inline budget this run: small ones force `requires_pull`
    /// headers, fetches in parts and byte-bounded pages.
    inline_bytes: usize,
}

impl<S: SimStore> Sim<S> {
    fn new(seed: u64, config: SimConfig, opener: Opener<S>, observer: S) -> Self {
        let now = Timestamp(1_700_000_000_000);
        Sim {
            rng: SimRng::new(seed),
            faults: config.faults,
            config,
            now,
            db: database(),
            collections: vec![
                CollectionId::new("todos").expect("name"),
                CollectionId::new("notes \"quoted\"").expect("name"),
            ],
            tabs: BTreeMap::new(),
            leaders: BTreeMap::new(),
            lock_holder: None,
            lock_queue: VecDeque::new(),
            retries: Vec::new(),
            freeze: None,
            net: Net::default(),
            opener,
            observer,
            history: History::default(),
            acknowledged: Vec::new(),
            terms: HashSet::new(),
            trace: VecDeque::new(),
            report: SimReport::default(),
            started: now,
            inline_bytes: 0,
        }
    }

    fn log(&mut self, line: String) {
        if self.trace.len() == 80 {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("t+{:>6}ms {line}", self.now.since(self.started)));
    }

    fn run(mut self) -> Result<SimReport, (String, Vec<String>)> {
        match self.run_inner() {
            Ok(()) => {
                self.report.sim_ms = self.now.since(self.started);
                self.report.dropped = self.net.dropped;
                self.report.duplicated = self.net.duplicated;
                self.report.acknowledged = self.acknowledged.len();
                Ok(self.report)
            }
            Err(violation) => Err((violation, self.trace.into_iter().collect())),
        }
    }

    fn run_inner(&mut self) -> Outcome<()> {
        self.inline_bytes = [80, 300, 1_000, 100 << 10][self.rng.below(4) as usize];
        for _ in 0..1 + self.rng.below(3) {
            self.join()?;
        }
        for _ in 0..self.config.steps {
            self.faulty_step()?;
            self.check()?;
        }
        self.heal()
    }

    /// One random action of the faulty phase.
    fn faulty_step(&mut self) -> Outcome<()> {
        let roll = self.rng.below(1000);
        match roll {
            0..=399 => self.advance()?,
            400..=749 => self.mutate()?,
            750..=769 => self.external_write()?,
            770..=784 => {
                if self.tabs.len() < self.config.max_tabs {
                    self.join()?;
                }
            }
            785..=792 => self.close_random(false)?,
            793..=800 => self.close_random(true)?,
            801..=807 => self.reload_random()?,
            808..=814 => self.arm_crash_after_commit(),
            815..=819 => self.freeze_leader(),
            _ => self.advance()?,
        }
        if self.tabs.is_empty() {
            self.join()?;
        }
        Ok(())
    }

    /// Faults stop; runs until every tab equals the store, or fails.
    fn heal(&mut self) -> Outcome<()> {
        self.faults = NetFaults::NONE;
        self.log("faults stop".into());
        if let Some(freeze) = &self.freeze {
            self.freeze = Some(Freeze {
                until: self.now,
                ..*freeze
            });
        }
        let deadline = self.now.plus_millis(self.config.heal_limit_ms);
        let mut same_time = 0;
        loop {
            let before = self.now;
            if self.tabs.is_empty() {
                self.join()?;
            }
            if let Some(reason) = self.not_converged() {
                if self.now > deadline {
                    return Err(format!(
                        "no convergence {}s after the faults stopped: {reason}",
                        self.config.heal_limit_ms / 1000
                    ));
                }
                self.advance()?;
                self.check()?;
                same_time = if self.now == before { same_time + 1 } else { 0 };
                if same_time > 100_000 {
                    return Err(format!(
                        "livelock: 100,000 steps without time passing ({reason})"
                    ));
                }
            } else {
                break;
            }
        }
        for id in &self.acknowledged {
            if !self.history.committed(id) {
                return Err(format!("acknowledged envelope {id} is not in the store"));
            }
        }
        self.observer.check_derived_names(&self.collections)
    }

    /// Why the system is not yet converged, if it is not.
    fn not_converged(&mut self) -> Option<String> {
        for collection in &self.collections {
            let mut stored = self.observer.all_rows(collection);
            stored.sort_by(|a, b| a.0.cmp(&b.0));
            let streamed: Vec<(Key, Row)> = self
                .history
                .latest()
                .get(collection)
                .map(|rows| {
                    rows.iter()
                        .map(|(k, v)| (k.clone(), (**v).clone()))
                        .collect()
                })
                .unwrap_or_default();
            if stored != streamed {
                return Some(format!(
                    "rows other code wrote into {collection} are not captured yet"
                ));
            }
        }
        let leading = self
            .lock_holder
            .is_some_and(|holder| self.leaders.values().any(|l| l.host == holder));
        if !leading {
            return Some("no tab serves as leader".into());
        }
        let latest = self.history.latest();
        for (id, tab) in &self.tabs {
            let status = tab.runtime.status();
            if tab.frozen {
                return Some(format!("tab {} is frozen", id.short()));
            }
            if status.pending > 0 {
                return Some(format!(
                    "tab {} has {} pending envelopes",
                    id.short(),
                    status.pending
                ));
            }
            if status.applied != Some(self.history.seq()) {
                return Some(format!(
                    "tab {} applied {:?}, the store is at {}",
                    id.short(),
                    status.applied,
                    self.history.seq()
                ));
            }
            for collection in &self.collections {
                if !tab.runtime.is_ready(collection) {
                    return Some(format!(
                        "tab {} has {collection} still hydrating",
                        id.short()
                    ));
                }
                if tab.runtime.snapshot(collection)
                    != latest.get(collection).cloned().unwrap_or_default()
                {
                    return Some(format!(
                        "tab {} shows {collection} unlike the store",
                        id.short()
                    ));
                }
            }
        }
        None
    }

    /// Invariants checked after every step.
    fn check(&mut self) -> Outcome<()> {
        self.history.catch_up(&mut self.observer)?;
        for tab in self.tabs.values() {
            self.history.check_prefix(&tab.runtime, &self.collections)?;
        }
        Ok(())
    }

    fn is_frozen(&self, endpoint: Endpoint) -> bool {
        self.frozen_endpoints().contains(&endpoint)
    }

    /// The endpoints of the frozen tab, if one is frozen: its runtime and its coordinators.
    fn frozen_endpoints(&self) -> Vec<Endpoint> {
        let Some(freeze) = &self.freeze else {
            return Vec::new();
        };
        let leaders = self
            .leaders
            .iter()
            .filter(|(_, l)| l.host == freeze.tab)
            .map(|(t, _)| Endpoint::Leader(*t));
        std::iter::once(Endpoint::Tab(freeze.tab))
            .chain(leaders)
            .collect()
    }

    /// Moves time to the next event and handles it: a delivery, timers, a
    /// retry of leadership, the end of a freeze, a stolen lock.
    fn advance(&mut self) -> Outcome<()> {
        let frozen = self.frozen_endpoints();
        let arrival = self.net.next_arrival(|e| !frozen.contains(&e));
        let tab_timers = self
            .tabs
            .values()
            .filter(|t| !t.frozen)
            .filter_map(|t| t.runtime.poll_timeout());
        let leader_timers = self
            .leaders
            .values()
            .filter(|l| !self.is_frozen(Endpoint::Leader(l.coordinator.term())))
            .filter_map(|l| l.coordinator.poll_timeout());
        let retries = self.retries.iter().map(|(at, _)| *at);
        let freeze = self.freeze.as_ref().map(|f| {
            let steal = f.since.plus_millis(STEAL_AFTER_MS);
            if self.lock_holder == Some(f.tab) {
                f.until.min(steal)
            } else {
                f.until
            }
        });
        let next = arrival
            .into_iter()
            .chain(tab_timers)
            .chain(leader_timers)
            .chain(retries)
            .chain(freeze)
            .min();
        let Some(next) = next else { return Ok(()) };
        self.now = self.now.max(next);

        self.steal_or_thaw()?;
        let due: Vec<TabId> = self
            .retries
            .iter()
            .filter(|(at, _)| *at <= self.now)
            .map(|(_, t)| *t)
            .collect();
        self.retries.retain(|(at, _)| *at > self.now);
        for tab in due {
            if self.tabs.contains_key(&tab) {
                self.lock_queue.push_back(tab);
            }
        }
        self.grant()?;
        let now = self.now;
        for tab in self.tabs.values_mut().filter(|t| !t.frozen) {
            if tab.runtime.poll_timeout().is_some_and(|t| t <= now) {
                tab.runtime.handle_timeout(now);
            }
        }
        let frozen_host = self.freeze.as_ref().map(|f| f.tab);
        for leader in self
            .leaders
            .values_mut()
            .filter(|l| Some(l.host) != frozen_host)
        {
            if leader.coordinator.poll_timeout().is_some_and(|t| t <= now) {
                leader.coordinator.handle_timeout(now);
            }
        }
        let frozen = self.frozen_endpoints();
        if let Some(packet) = self.net.pop_due(now, |e| !frozen.contains(&e)) {
            self.deliver(packet.from, packet.to, &packet.bytes);
        }
        self.flush()
    }

    fn deliver(&mut self, from: Endpoint, to: Endpoint, bytes: &[u8]) {
        let now = self.now;
        match to {
            Endpoint::Tab(id) => {
                let own = matches!(from, Endpoint::Leader(term) if self.leaders.get(&term).is_some_and(|l| l.host == id));
                if own && self.config.driver_bugs.leader_ignores_own_commits {
                    return;
                }
                if let Some(tab) = self.tabs.get_mut(&id) {
                    tab.runtime.handle_bytes(now, bytes);
                }
            }
            Endpoint::Leader(term) => {
                if let Some(leader) = self.leaders.get_mut(&term) {
                    leader.coordinator.handle_bytes(now, bytes);
                }
            }
        }
    }

    /// Sends what every machine queued, delivers events, applies crash faults,
    /// drops deposed coordinators.
    fn flush(&mut self) -> Outcome<()> {
        for _round in 0..10_000 {
            let mut sent = false;
            let leader_endpoints: Vec<Endpoint> =
                self.leaders.keys().map(|t| Endpoint::Leader(*t)).collect();
            let tab_ids: Vec<TabId> = self.tabs.keys().copied().collect();
            for id in &tab_ids {
                let frozen = self.tabs[id].frozen;
                if frozen {
                    continue;
                }
                while let Some(message) = self
                    .tabs
                    .get_mut(id)
                    .and_then(|t| t.runtime.poll_transmit())
                {
                    sent = true;
                    let bytes: Rc<[u8]> = message.encode().into();
                    for to in &leader_endpoints {
                        self.net.send(
                            &mut self.rng,
                            self.now,
                            self.faults,
                            Endpoint::Tab(*id),
                            *to,
                            bytes.clone(),
                        );
                    }
                }
                while let Some(event) = self.tabs.get_mut(id).and_then(|t| t.runtime.poll_event()) {
                    self.on_event(*id, event)?;
                }
            }
            let terms: Vec<Term> = self.leaders.keys().copied().collect();
            for term in terms {
                if self.is_frozen(Endpoint::Leader(term)) {
                    continue;
                }
                let Some(leader) = self.leaders.get_mut(&term) else {
                    continue;
                };
                let mut outgoing: Vec<Message> = Vec::new();
                while let Some(message) = leader.coordinator.poll_transmit() {
                    outgoing.push(message);
                }
                if leader.crash_after_commit
                    && outgoing
                        .iter()
                        .any(|m| matches!(m.body, Body::TxCommitted(_)))
                {
                    self.log(format!(
                        "leader of term {term} crashes after its commit, before broadcasting it"
                    ));
                    self.remove_leader(term)?;
                    continue;
                }
                for message in outgoing {
                    sent = true;
                    self.broadcast_from_leader(term, &message);
                }
                if let Some(deposed) = self
                    .leaders
                    .get(&term)
                    .and_then(|l| l.coordinator.deposed())
                    .cloned()
                {
                    self.log(format!("leader of term {term} steps down: {deposed}"));
                    self.remove_leader(term)?;
                }
            }
            if !sent {
                return Ok(());
            }
        }
        Err("livelock: the machines kept sending to each other without time passing".into())
    }

    fn broadcast_from_leader(&mut self, term: Term, message: &Message) {
        if let Body::TxCommitted(_) = message.body {
            self.report.commits += 1;
        }
        let bytes: Rc<[u8]> = message.encode().into();
        let from = Endpoint::Leader(term);
        let mut recipients: Vec<Endpoint> = match message.to {
            Some(to) => vec![Endpoint::Tab(to)],
            None => self.tabs.keys().map(|t| Endpoint::Tab(*t)).collect(),
        };
        recipients.extend(
            self.leaders
                .keys()
                .filter(|t| **t != term)
                .map(|t| Endpoint::Leader(*t)),
        );
        for to in recipients {
            self.net.send(
                &mut self.rng,
                self.now,
                self.faults,
                from,
                to,
                bytes.clone(),
            );
        }
    }

    fn on_event(&mut self, _tab: TabId, event: Event) -> Outcome<()> {
        match event {
            Event::Committed { envelope_id, .. } => self.acknowledged.push(envelope_id),
            Event::Rejected {
                rejection: Rejection::Storage { detail },
                ..
            } => {
                return Err(format!("the leader failed to store an envelope: {detail}"));
            }
            Event::Rejected { .. } => self.report.rejected += 1,
            Event::Changes { .. }
            | Event::Progress { .. }
            | Event::Ready { .. }
            | Event::LeaderChanged { .. }
            | Event::Inspected { .. } => {}
        }
        Ok(())
    }

    /// Grants the lock to the next tab in line and starts its coordinator.
    fn grant(&mut self) -> Outcome<()> {
        while self.lock_holder.is_none() {
            let Some(tab) = self.lock_queue.pop_front() else {
                return Ok(());
            };
            if !self.tabs.contains_key(&tab) {
                continue;
            }
            self.lock_holder = Some(tab);
            let opened = if self.rng.chance(self.config.store_open_fails) {
                Err(StoreError::Other("injected: store open failed".into()))
            } else {
                (self.opener)()
            };
            let limits = Limits {
                max_inline_bytes: self.inline_bytes,
                ..Limits::default()
            };
            let config = CoordinatorConfig {
                external_poll_ms: 500,
                bugs: self.config.core_bugs,
                limits,
                ..CoordinatorConfig::default()
            };
            let started = opened.map_err(StartError::from).and_then(|store| {
                Coordinator::start(store, self.db.clone(), tab, config, self.now)
            });
            match started {
                Ok(coordinator) => {
                    let term = coordinator.term();
                    if !self.terms.insert(term) {
                        return Err(format!("two leaders started with term {term}"));
                    }
                    self.report.leaders += 1;
                    self.log(format!("tab {} leads with term {term}", tab.short()));
                    self.leaders.insert(
                        term,
                        SimLeader {
                            host: tab,
                            coordinator,
                            crash_after_commit: false,
                        },
                    );
                }
                Err(error) => {
                    self.log(format!(
                        "tab {} failed to take leadership: {error}",
                        tab.short()
                    ));
                    if self.config.driver_bugs.leadership_kept_after_failed_setup {
                        return Ok(());
                    }
                    self.lock_holder = None;
                    let pause = 100 + self.rng.below(400);
                    self.retries.push((self.now.plus_millis(pause), tab));
                }
            }
        }
        self.flush()
    }

    fn remove_leader(&mut self, term: Term) -> Outcome<()> {
        let Some(leader) = self.leaders.remove(&term) else {
            return Ok(());
        };
        self.net.discard_to(Endpoint::Leader(term));
        if self.lock_holder == Some(leader.host)
            && !self.leaders.values().any(|l| l.host == leader.host)
        {
            self.lock_holder = None;
            if self.tabs.contains_key(&leader.host) {
                self.lock_queue.push_back(leader.host);
            }
            self.grant()?;
        }
        Ok(())
    }

    fn join(&mut self) -> Outcome<()> {
        let id = TabId::from_u128(
            u128::from(self.rng.next_u64()) << 64 | u128::from(self.rng.next_u64()),
        );
        let mut runtime = PersistedCollectionRuntime::new(
            self.db.clone(),
            id,
            RuntimeConfig::default(),
            self.now,
        );
        for collection in &self.collections {
            runtime.open_collection(self.now, collection.clone());
        }
        self.tabs.insert(
            id,
            SimTab {
                runtime,
                frozen: false,
            },
        );
        self.report.tabs_opened += 1;
        self.log(format!("tab {} opens", id.short()));
        self.lock_queue.push_back(id);
        self.grant()?;
        self.flush()
    }

    fn random_tab(&mut self) -> Option<TabId> {
        let ids: Vec<TabId> = self
            .tabs
            .iter()
            .filter(|(_, t)| !t.frozen)
            .map(|(id, _)| *id)
            .collect();
        self.rng.pick(&ids).copied()
    }

    /// Closes (or crashes) a tab; its coordinator, if any, goes with it.
    fn remove_tab(&mut self, id: TabId, crash: bool) -> Outcome<()> {
        self.log(format!(
            "tab {} {}",
            id.short(),
            if crash { "crashes" } else { "closes" }
        ));
        if !crash {
            self.flush()?;
        }
        self.tabs.remove(&id);
        self.net.discard_to(Endpoint::Tab(id));
        self.lock_queue.retain(|t| *t != id);
        self.retries.retain(|(_, t)| *t != id);
        if self.freeze.as_ref().is_some_and(|f| f.tab == id) {
            self.freeze = None;
        }
        let hosted: Vec<Term> = self
            .leaders
            .iter()
            .filter(|(_, l)| l.host == id)
            .map(|(t, _)| *t)
            .collect();
        for term in hosted {
            self.leaders.remove(&term);
            self.net.discard_to(Endpoint::Leader(term));
        }
        if self.lock_holder == Some(id) {
            self.lock_holder = None;
            self.grant()?;
        }
        Ok(())
    }

    fn close_random(&mut self, crash: bool) -> Outcome<()> {
        match self.random_tab() {
            Some(id) => self.remove_tab(id, crash),
            None => Ok(()),
        }
    }

    fn reload_random(&mut self) -> Outcome<()> {
        let Some(id) = self.random_tab() else {
            return Ok(());
        };
        let crash = self.rng.chance(0.5);
        self.remove_tab(id, crash)?;
        self.join()
    }

    fn arm_crash_after_commit(&mut self) {
        let current = self.lock_holder;
        if let Some(leader) = self.leaders.values_mut().find(|l| Some(l.host) == current) {
            leader.crash_after_commit = true;
        }
    }

    fn freeze_leader(&mut self) {
        if self.freeze.is_some() {
            return;
        }
        let Some(host) = self.lock_holder.filter(|h| self.tabs.contains_key(h)) else {
            return;
        };
        let until = self.now.plus_millis(1_000 + self.rng.below(6_000));
        self.log(format!(
            "leader tab {} freezes until t+{}ms",
            host.short(),
            until.since(self.started)
        ));
        if let Some(tab) = self.tabs.get_mut(&host) {
            tab.frozen = true;
        }
        self.freeze = Some(Freeze {
            tab: host,
            since: self.now,
            until,
        });
    }

    /// A frozen leader loses its lock to the next tab after a while (a steal);
    /// when it thaws it first acts on what it missed, as a stale leader would,
    /// then learns it lost the lock.
    fn steal_or_thaw(&mut self) -> Outcome<()> {
        let Some(freeze) = self.freeze.as_ref().map(|f| (f.tab, f.since, f.until)) else {
            return Ok(());
        };
        let (tab, since, until) = freeze;
        if self.lock_holder == Some(tab)
            && self.now >= since.plus_millis(STEAL_AFTER_MS)
            && self.now < until
        {
            self.log(format!(
                "tab {} steals the lock from frozen tab {}",
                self.lock_queue.front().map_or("-".into(), |t| t.short()),
                tab.short()
            ));
            self.lock_holder = None;
            self.grant()?;
        }
        if self.now >= until {
            self.freeze = None;
            if let Some(t) = self.tabs.get_mut(&tab) {
                t.frozen = false;
            }
            self.log(format!("tab {} thaws", tab.short()));
            if self.lock_holder != Some(tab) {
                let stale: Vec<Term> = self
                    .leaders
                    .iter()
                    .filter(|(_, l)| l.host == tab)
                    .map(|(t, _)| *t)
                    .collect();
                for term in stale {
                    while let Some(packet) = self
                        .net
                        .pop_due(Timestamp(u64::MAX), |e| e == Endpoint::Leader(term))
                    {
                        self.deliver(packet.from, packet.to, &packet.bytes);
                    }
                    self.flush()?;
                    self.leaders.remove(&term);
                    self.net.discard_to(Endpoint::Leader(term));
                }
                if self.tabs.contains_key(&tab) && !self.lock_queue.contains(&tab) {
                    self.lock_queue.push_back(tab);
                }
            }
            self.flush()?;
        }
        Ok(())
    }

    /// A random tab writes 1–3 rows of one ready collection.
    fn mutate(&mut self) -> Outcome<()> {
        let Some(id) = self.random_tab() else {
            return Ok(());
        };
        let collection =
            self.collections[self.rng.below(self.collections.len() as u64) as usize].clone();
        let count = 1 + self.rng.below(3);
        let mut keys: Vec<Key> = (0..count)
            .map(|_| Key::Int(self.rng.below(self.config.keys) as i64))
            .collect();
        keys.sort();
        keys.dedup();
        let stamp = self.rng.below(1_000_000);
        let Some(tab) = self.tabs.get_mut(&id) else {
            return Ok(());
        };
        if !tab.runtime.is_ready(&collection) {
            return Ok(());
        }
        let ops: Vec<Op> = keys
            .into_iter()
            .map(|key| {
                let value: Row = serde_json::json!({"by": id.short(), "stamp": stamp})
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                match tab.runtime.get(&collection, &key) {
                    None => Op::Insert {
                        collection: collection.clone(),
                        key,
                        value,
                    },
                    Some(_) if stamp.is_multiple_of(3) => Op::Delete {
                        collection: collection.clone(),
                        key,
                    },
                    Some(_) => Op::Update {
                        collection: collection.clone(),
                        key,
                        value,
                    },
                }
            })
            .collect();
        if let Ok(envelope) = tab.runtime.mutate(self.now, ops) {
            self.log(format!(
                "tab {} writes envelope {}",
                id.short(),
                &envelope.to_string()[24..]
            ));
        }
        self.flush()
    }

    /// Other code writes straight into the store (invariant 9).
    fn external_write(&mut self) -> Outcome<()> {
        let collection =
            self.collections[self.rng.below(self.collections.len() as u64) as usize].clone();
        let key = Key::Int(self.rng.below(self.config.keys) as i64);
        let value: Option<Row> = (!self.rng.chance(0.3)).then(|| {
            serde_json::json!({"external": self.rng.below(1000)})
                .as_object()
                .cloned()
                .unwrap_or_default()
        });
        self.log(format!(
            "other code writes {collection}/{key} straight into the store"
        ));
        self.observer
            .write_external(&collection, &key, value.as_ref());
        Ok(())
    }
}
