//! Deterministic simulation of many tabs with faults.
//!
//! One `u64` seed drives a whole history: tabs join, write, close, crash and
//! reload; the leader crashes (even between its commit and its broadcast),
//! freezes while holding leadership and wakes up after a new term began; the
//! broadcast channel delays, reorders (between senders), drops and duplicates;
//! store opens fail; other code writes straight into the store, on SQLite
//! also invalid rows and keys in non-canonical forms; a forging actor injects
//! well-formed messages with arbitrary terms, tab ids, seqs and epochs. The
//! unchanged sans-IO core runs on a [`MemoryStore`], a real SQLite file, or
//! (the in-memory fallback of browsers without OPFS) a fresh memory store for
//! each leader that vanishes with it.
//!
//! Checked after every step: the stream is gap-free with strictly increasing
//! seqs, terms never go back, no term has two leaders, no envelope is applied
//! twice, the persisted position never goes back, and every tab's ready
//! collections equal the store's state at the seq the tab applied (its history
//! is a prefix of the store's). After the faults stop (forging included), a
//! liveness check: within the heal limit every pending envelope settles and
//! every tab equals the store; no acknowledged envelope is lost.
//!
//! With a vanishing store those checks hold per incarnation of the database:
//! each tab is checked against the history of the incarnation it follows, and
//! an acknowledged write is guaranteed only within its incarnation (the data
//! lives as long as its leader). The browser never steals the lock of a
//! frozen leader, so two incarnations never serve at once: there, a steal is
//! modelled as the frozen tab being discarded, and a leader that dies takes
//! its tab with it.

mod actors;
mod forger;
mod history;
mod lock;
mod net;
mod rng;
mod store;
mod transport;
mod world;

use std::fmt;

use lockstep::{BugSwitches, DatabaseId, MemoryStore, StoreError};
use lockstep_sqlite::{Durability, SqliteOptions, SqliteStore};

pub use history::History;
pub use net::{Endpoint, Net, NetFaults};
pub use rng::SimRng;
pub use store::Invalid;
use world::Sim;

/// Which store the leaders open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// One [`MemoryStore`] shared by every leader: fast, many seeds.
    Memory,
    /// [`SqliteStore`] on a file in a temp dir.
    Sqlite,
    /// A fresh [`MemoryStore::volatile`] for each leader: the database
    /// vanishes with its leader (the browser's fallback without OPFS).
    Vanishing,
}

impl StoreKind {
    /// The store of `seed` when none is chosen: SQLite for every tenth seed,
    /// a vanishing store for another tenth, a shared memory store otherwise.
    ///
    /// ```
    /// use lockstep_tests::sim::StoreKind;
    /// assert_eq!(StoreKind::for_seed(9), StoreKind::Sqlite);
    /// assert_eq!(StoreKind::for_seed(4), StoreKind::Vanishing);
    /// assert_eq!(StoreKind::for_seed(0), StoreKind::Memory);
    /// ```
    pub fn for_seed(seed: u64) -> StoreKind {
        match seed % 10 {
            9 => StoreKind::Sqlite,
            4 => StoreKind::Vanishing,
            _ => StoreKind::Memory,
        }
    }

    /// The `--store` flag that selects this kind.
    pub fn flag(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Vanishing => "vanishing",
        }
    }
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
    "tabs-trust-claimed-terms",
    "tabs-ignore-epochs",
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
            "tabs-trust-claimed-terms" => self.core_bugs.tabs_trust_claimed_terms = true,
            "tabs-ignore-epochs" => self.core_bugs.tabs_ignore_epochs = true,
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
    /// Simulated time allowed, once faults stop, for every pending envelope
    /// to settle and every tab to equal the store (the liveness check).
    pub heal_limit_ms: u64,
    /// Whether the forging actor injects messages during the faulty phase.
    pub forging: bool,
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
            forging: true,
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
    /// Messages injected by the forging actor.
    pub forged: u64,
    /// Rows written by other code that Lockstep must ignore.
    pub invalid_writes: u64,
    /// Incarnations of the database (more than one only with a vanishing store).
    pub incarnations: u64,
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
            "replay: cargo xtask sim --seed {} --store {}",
            self.seed,
            self.store.flag()
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
            Sim::new(seed, config.clone(), opener, observer, false)
                .run()
                .map_err(|(v, t)| fail(v, t))
        }
        StoreKind::Vanishing => {
            let opener: Opener<MemoryStore> =
                Box::new(|| Ok(MemoryStore::with_log_retention(u64::MAX).volatile()));
            // Until the first leader starts, an empty store stands for the database.
            let observer = MemoryStore::with_log_retention(u64::MAX).volatile();
            Sim::new(seed, config.clone(), opener, observer, true)
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
            let result = Sim::new(seed, config.clone(), opener, observer, false)
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

/// Opens the store of a leader that just took the lock.
type Opener<S> = Box<dyn FnMut() -> Result<S, StoreError>>;

/// Whatever an action may violate: the invariant, in words.
type Outcome<T> = Result<T, String>;
