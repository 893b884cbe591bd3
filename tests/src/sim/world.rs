//! The simulated world: its state, the faulty phase, the heal phase and the
//! invariants checked along the way.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use lockstep::{
    CollectionId, Coordinator, DatabaseEpoch, DatabaseId, EnvelopeId, Key,
    PersistedCollectionRuntime, Row, SharedRow, Store, TabId, Term, Timestamp,
};

use super::history::History;
use super::net::{Net, NetFaults};
use super::rng::SimRng;
use super::store::SimStore;
use super::{database, Opener, Outcome, SimConfig, SimReport};

pub(super) struct SimTab {
    pub runtime: PersistedCollectionRuntime,
    pub frozen: bool,
    /// Per collection, the rows as a subscriber that applies the tab's
    /// change events sees them (subscribed with the current rows at open).
    pub heard: BTreeMap<CollectionId, BTreeMap<Key, SharedRow>>,
}

pub(super) struct SimLeader<S: Store> {
    pub host: TabId,
    pub coordinator: Coordinator<S>,
    pub crash_after_commit: bool,
}

pub(super) struct Freeze {
    pub tab: TabId,
    pub since: Timestamp,
    pub until: Timestamp,
}

pub(super) struct Sim<S: SimStore> {
    pub config: SimConfig,
    pub rng: SimRng,
    pub now: Timestamp,
    pub db: DatabaseId,
    pub collections: Vec<CollectionId>,
    pub tabs: BTreeMap<TabId, SimTab>,
    /// Live coordinators, by the order they started in (their endpoint).
    pub leaders: BTreeMap<u64, SimLeader<S>>,
    pub leaders_started: u64,
    pub lock_holder: Option<TabId>,
    pub lock_queue: VecDeque<TabId>,
    pub retries: Vec<(Timestamp, TabId)>,
    pub freeze: Option<Freeze>,
    pub net: Net,
    pub faults: NetFaults,
    /// Whether the forging actor is at work (the faulty phase only).
    pub forging: bool,
    pub opener: Opener<S>,
    /// Each leader gets a fresh store that dies with it.
    pub vanishing: bool,
    /// A handle on the database the current (or last) leader serves.
    pub observer: S,
    /// The incarnation of the database the observer holds.
    pub epoch: DatabaseEpoch,
    /// The stream of the current incarnation.
    pub history: History,
    /// The final streams of the incarnations that vanished with their leader.
    pub retired: HashMap<DatabaseEpoch, History>,
    /// Envelopes acknowledged to their tab, and the incarnation that did.
    pub acknowledged: Vec<(EnvelopeId, DatabaseEpoch)>,
    /// Envelopes written lately (for forged acknowledgements and refusals).
    pub recent_envelopes: VecDeque<EnvelopeId>,
    /// Tabs that closed or crashed (for forged senders).
    pub gone_tabs: Vec<TabId>,
    /// Tabs that hosted a coordinator at some point: a tab may still follow
    /// them, or be about to (an answer of theirs still on its way).
    pub ever_led: HashSet<TabId>,
    pub terms: HashSet<(DatabaseEpoch, Term)>,
    pub trace: VecDeque<String>,
    pub report: SimReport,
    pub started: Timestamp,
    /// The leader's inline budget this run: small ones force `requires_pull`
    /// headers, fetches in parts and byte-bounded pages.
    pub inline_bytes: usize,
}

impl<S: SimStore> Sim<S> {
    pub fn new(
        seed: u64,
        config: SimConfig,
        opener: Opener<S>,
        mut observer: S,
        vanishing: bool,
    ) -> Self {
        let now = Timestamp(1_700_000_000_000);
        let epoch = observer.meta().map(|m| m.epoch).unwrap_or_default();
        Sim {
            rng: SimRng::new(seed),
            faults: config.faults,
            forging: config.forging,
            config,
            now,
            db: database(),
            collections: vec![
                CollectionId::new("todos").expect("name"),
                CollectionId::new("notes \"quoted\"").expect("name"),
            ],
            tabs: BTreeMap::new(),
            leaders: BTreeMap::new(),
            leaders_started: 0,
            lock_holder: None,
            lock_queue: VecDeque::new(),
            retries: Vec::new(),
            freeze: None,
            net: Net::default(),
            opener,
            vanishing,
            observer,
            epoch,
            history: History::default(),
            retired: HashMap::new(),
            acknowledged: Vec::new(),
            recent_envelopes: VecDeque::new(),
            gone_tabs: Vec::new(),
            ever_led: HashSet::new(),
            terms: HashSet::new(),
            trace: VecDeque::new(),
            report: SimReport {
                incarnations: u64::from(!vanishing),
                ..SimReport::default()
            },
            started: now,
            inline_bytes: 0,
        }
    }

    pub fn log(&mut self, line: String) {
        if self.trace.len() == 80 {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("t+{:>6}ms {line}", self.now.since(self.started)));
    }

    pub fn run(mut self) -> Result<SimReport, (String, Vec<String>)> {
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
            820..=839 if self.forging => self.forge()?,
            _ => self.advance()?,
        }
        if self.tabs.is_empty() {
            self.join()?;
        }
        Ok(())
    }

    /// Faults and forging stop; then the liveness check: within the heal
    /// limit every pending envelope settles and every tab equals the store.
    fn heal(&mut self) -> Outcome<()> {
        self.faults = NetFaults::NONE;
        self.forging = false;
        self.log("faults and forging stop".into());
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
            let Some(reason) = self.not_converged() else {
                break;
            };
            if self.now > deadline {
                return Err(format!(
                    "liveness: not converged {}s after the faults stopped: {reason}",
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
        }
        for (id, epoch) in &self.acknowledged {
            if *epoch == self.epoch && !self.history.committed(id) {
                return Err(format!("acknowledged envelope {id} is not in the store"));
            }
        }
        self.observer.check_derived_names(&self.collections)
    }

    /// Why the system is not yet converged, if it is not. The tabs are
    /// looked at first: reading every stored row is the costly part.
    fn not_converged(&mut self) -> Option<String> {
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
            if status.leader_info.map(|info| info.epoch) != Some(self.epoch) {
                return Some(format!(
                    "tab {} does not follow the current database incarnation",
                    id.short()
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
                let shown = tab.runtime.snapshot(collection);
                if shown != latest.get(collection).cloned().unwrap_or_default() {
                    return Some(format!(
                        "tab {} shows {collection} unlike the store",
                        id.short()
                    ));
                }
                let heard = tab.heard.get(collection);
                if !shown.iter().eq(heard.into_iter().flatten()) {
                    return Some(format!(
                        "tab {}'s change events of {collection} add up to other rows than it shows",
                        id.short()
                    ));
                }
            }
        }
        for collection in &self.collections {
            let mut stored = self.observer.all_rows(collection);
            stored.sort_by(|a, b| a.0.cmp(&b.0));
            let streamed: Vec<(Key, Row)> = self
                .history
                .latest()
                .get(collection)
                .map(|rows| rows.iter().map(|(k, v)| (k.clone(), v.to_row())).collect())
                .unwrap_or_default();
            if stored != streamed {
                return Some(format!(
                    "rows other code wrote into {collection} are not captured yet"
                ));
            }
        }
        None
    }

    /// Invariants checked after every step: the stream of the current
    /// incarnation, and every tab against the incarnation it follows.
    pub fn check(&mut self) -> Outcome<()> {
        self.history.catch_up(&mut self.observer)?;
        for tab in self.tabs.values() {
            let followed = tab.runtime.status().leader_info.map(|info| info.epoch);
            let history = match followed {
                Some(epoch) if epoch != self.epoch => match self.retired.get(&epoch) {
                    Some(history) => history,
                    None => {
                        return Err(format!(
                            "tab {} follows database epoch {epoch}, which no leader ever served",
                            tab.runtime.tab_id().short()
                        ))
                    }
                },
                _ => &self.history,
            };
            history.check_prefix(&tab.runtime, &self.collections)?;
        }
        Ok(())
    }

    /// A new leader serves a database of its own (a vanishing store): the
    /// stream of the last one is final; checks go on against the new one.
    pub fn new_incarnation(&mut self, observer: S, epoch: DatabaseEpoch) -> Outcome<()> {
        self.history.catch_up(&mut self.observer)?;
        let finished = std::mem::take(&mut self.history);
        self.retired.insert(self.epoch, finished);
        self.observer = observer;
        self.epoch = epoch;
        self.report.incarnations += 1;
        Ok(())
    }
}
