//! The leadership lock and the leaders' faults: granting it (and a store
//! open that fails), a leader crashing after its commit, freezing, a steal of
//! a frozen leader's lock, and thawing.

use lockstep::protocol::Limits;
use lockstep::{Coordinator, CoordinatorConfig, StartError, StoreError, TabId};

use super::net::Endpoint;
use super::store::SimStore;
use super::world::{Freeze, Sim, SimLeader};
use super::Outcome;

/// How long a frozen leader keeps the lock before another tab steals it.
pub(super) const STEAL_AFTER_MS: u64 = 3_000;

impl<S: SimStore> Sim<S> {
    /// Grants the lock to the next tab in line and starts its coordinator.
    pub fn grant(&mut self) -> Outcome<()> {
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
            let handle = opened.as_ref().ok().and_then(|store| store.handle());
            let started = opened.map_err(StartError::from).and_then(|store| {
                Coordinator::start(store, self.db.clone(), tab, config, self.now)
            });
            match started {
                Ok(coordinator) => self.serve(tab, coordinator, handle)?,
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

    /// A coordinator started on `tab`: with a vanishing store, on a database
    /// of its own (`handle` reaches it), so a new incarnation begins.
    fn serve(
        &mut self,
        tab: TabId,
        mut coordinator: Coordinator<S>,
        handle: Option<S>,
    ) -> Outcome<()> {
        let term = coordinator.term();
        let epoch = coordinator
            .store_mut()
            .meta()
            .map_err(|e| format!("cannot read the new leader's store: {e}"))?
            .epoch;
        if let (true, Some(handle)) = (self.vanishing, handle) {
            self.new_incarnation(handle, epoch)?;
        }
        if !self.terms.insert((epoch, term)) {
            return Err(format!("two leaders started with term {term}"));
        }
        let key = self.leaders_started;
        self.leaders_started += 1;
        self.ever_led.insert(tab);
        self.report.leaders += 1;
        self.log(format!(
            "tab {} leads with term {term} as #{key}",
            tab.short()
        ));
        self.leaders.insert(
            key,
            SimLeader {
                host: tab,
                coordinator,
                crash_after_commit: false,
            },
        );
        Ok(())
    }

    pub fn remove_leader(&mut self, key: u64) -> Outcome<()> {
        let Some(leader) = self.leaders.remove(&key) else {
            return Ok(());
        };
        self.net.discard_to(Endpoint::Leader(key));
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

    /// The leader dies between its commit and its broadcast. With a
    /// vanishing store its tab dies with it (the database lived in it).
    pub fn crash_after_commit(&mut self, key: u64) -> Outcome<()> {
        self.log(format!(
            "leader #{key} crashes after its commit, before broadcasting it"
        ));
        match self.leaders.get(&key).map(|l| l.host) {
            Some(host) if self.vanishing => self.remove_tab(host, true),
            _ => self.remove_leader(key),
        }
    }

    pub fn arm_crash_after_commit(&mut self) {
        let current = self.lock_holder;
        if let Some(leader) = self.leaders.values_mut().find(|l| Some(l.host) == current) {
            leader.crash_after_commit = true;
        }
    }

    pub fn freeze_leader(&mut self) {
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
    /// then learns it lost the lock. Browsers never steal the lock of a
    /// frozen tab: with a vanishing store (where a second leader would serve a
    /// second database) the steal is the browser discarding the frozen tab.
    pub fn steal_or_thaw(&mut self) -> Outcome<()> {
        let Some(freeze) = self.freeze.as_ref().map(|f| (f.tab, f.since, f.until)) else {
            return Ok(());
        };
        let (tab, since, until) = freeze;
        if self.lock_holder == Some(tab)
            && self.now >= since.plus_millis(STEAL_AFTER_MS)
            && self.now < until
        {
            if self.vanishing {
                self.log(format!("frozen leader tab {} is discarded", tab.short()));
                return self.remove_tab(tab, true);
            }
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
                let stale: Vec<u64> = self
                    .leaders
                    .iter()
                    .filter(|(_, l)| l.host == tab)
                    .map(|(key, _)| *key)
                    .collect();
                for key in stale {
                    self.deliver_queued_to(Endpoint::Leader(key));
                    self.flush()?;
                    self.leaders.remove(&key);
                    self.net.discard_to(Endpoint::Leader(key));
                }
                if self.tabs.contains_key(&tab) && !self.lock_queue.contains(&tab) {
                    self.lock_queue.push_back(tab);
                }
            }
            self.flush()?;
        }
        Ok(())
    }
}
