//! Moving the simulation forward: simulated time, timers, deliveries over
//! the faulty channel, and the events tabs report.

use std::rc::Rc;

use lockstep::protocol::{Body, Message};
use lockstep::{Event, Rejection, TabId, Timestamp};

use super::lock::STEAL_AFTER_MS;
use super::net::Endpoint;
use super::store::SimStore;
use super::world::Sim;
use super::Outcome;

impl<S: SimStore> Sim<S> {
    pub fn is_frozen(&self, endpoint: Endpoint) -> bool {
        self.frozen_endpoints().contains(&endpoint)
    }

    /// The endpoints of the frozen tab, if one is frozen: its runtime and its coordinators.
    pub fn frozen_endpoints(&self) -> Vec<Endpoint> {
        let Some(freeze) = &self.freeze else {
            return Vec::new();
        };
        let leaders = self
            .leaders
            .iter()
            .filter(|(_, l)| l.host == freeze.tab)
            .map(|(key, _)| Endpoint::Leader(*key));
        std::iter::once(Endpoint::Tab(freeze.tab))
            .chain(leaders)
            .collect()
    }

    /// Moves time to the next event and handles it: a delivery, timers, a
    /// retry of leadership, the end of a freeze, a stolen lock.
    pub fn advance(&mut self) -> Outcome<()> {
        let frozen = self.frozen_endpoints();
        let arrival = self.net.next_arrival(|e| !frozen.contains(&e));
        let tab_timers = self
            .tabs
            .values()
            .filter(|t| !t.frozen)
            .filter_map(|t| t.runtime.poll_timeout());
        let leader_timers = self
            .leaders
            .iter()
            .filter(|(key, _)| !frozen.contains(&Endpoint::Leader(**key)))
            .filter_map(|(_, l)| l.coordinator.poll_timeout());
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

    pub fn deliver(&mut self, from: Endpoint, to: Endpoint, bytes: &[u8]) {
        let now = self.now;
        match to {
            Endpoint::Tab(id) => {
                let own = matches!(from, Endpoint::Leader(key) if self.leaders.get(&key).is_some_and(|l| l.host == id));
                if own && self.config.driver_bugs.leader_ignores_own_commits {
                    return;
                }
                if let Some(tab) = self.tabs.get_mut(&id) {
                    tab.runtime.handle_bytes(now, bytes);
                }
            }
            Endpoint::Leader(key) => {
                if let Some(leader) = self.leaders.get_mut(&key) {
                    leader.coordinator.handle_bytes(now, bytes);
                }
            }
            Endpoint::Forger => {}
        }
    }

    /// Sends what every machine queued, delivers events, applies crash faults,
    /// drops deposed coordinators.
    pub fn flush(&mut self) -> Outcome<()> {
        for _round in 0..10_000 {
            let mut sent = false;
            let leader_endpoints: Vec<Endpoint> = self
                .leaders
                .keys()
                .map(|key| Endpoint::Leader(*key))
                .collect();
            let tab_ids: Vec<TabId> = self.tabs.keys().copied().collect();
            for id in &tab_ids {
                if self.tabs.get(id).is_none_or(|t| t.frozen) {
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
            let keys: Vec<u64> = self.leaders.keys().copied().collect();
            for key in keys {
                if self.is_frozen(Endpoint::Leader(key)) {
                    continue;
                }
                let Some(leader) = self.leaders.get_mut(&key) else {
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
                    self.crash_after_commit(key)?;
                    continue;
                }
                for message in outgoing {
                    sent = true;
                    self.broadcast_from_leader(key, &message);
                }
                if let Some(deposed) = self
                    .leaders
                    .get(&key)
                    .and_then(|l| l.coordinator.deposed())
                    .cloned()
                {
                    self.log(format!("leader #{key} steps down: {deposed}"));
                    self.remove_leader(key)?;
                }
            }
            if !sent {
                return Ok(());
            }
        }
        Err("livelock: the machines kept sending to each other without time passing".into())
    }

    fn broadcast_from_leader(&mut self, key: u64, message: &Message) {
        if let Body::TxCommitted(_) = message.body {
            self.report.commits += 1;
        }
        let bytes: Rc<[u8]> = message.encode().into();
        self.post(Endpoint::Leader(key), message.to, message.skips(), bytes);
    }

    /// Sends `bytes` from `from` to every tab (or only `to`) and every other
    /// coordinator, as a BroadcastChannel would. The tab a broadcast `skips`
    /// gets it in half the cases: a transport may deliver it anyway.
    pub fn post(
        &mut self,
        from: Endpoint,
        to: Option<TabId>,
        skips: Option<TabId>,
        bytes: Rc<[u8]>,
    ) {
        let deliver_skipped = self.rng.chance(0.5);
        let mut recipients: Vec<Endpoint> = match to {
            Some(to) => vec![Endpoint::Tab(to)],
            None => self
                .tabs
                .keys()
                .filter(|t| deliver_skipped || skips != Some(**t))
                .map(|t| Endpoint::Tab(*t))
                .collect(),
        };
        recipients.extend(
            self.leaders
                .keys()
                .map(|key| Endpoint::Leader(*key))
                .filter(|leader| *leader != from),
        );
        for recipient in recipients {
            self.net.send(
                &mut self.rng,
                self.now,
                self.faults,
                from,
                recipient,
                bytes.clone(),
            );
        }
    }

    fn on_event(&mut self, tab: TabId, event: Event) -> Outcome<()> {
        match event {
            Event::Changes {
                collection,
                changes,
                ..
            } => {
                if let Some(t) = self.tabs.get_mut(&tab) {
                    let heard = t.heard.entry(collection).or_default();
                    for change in changes.iter() {
                        match &change.after {
                            Some(row) => heard.insert(change.key.clone(), row.clone()),
                            None => heard.remove(&change.key),
                        };
                    }
                }
            }
            Event::Committed { envelope_id, .. } => {
                let epoch = self
                    .tabs
                    .get(&tab)
                    .and_then(|t| t.runtime.status().leader_info)
                    .map(|info| info.epoch)
                    .unwrap_or_default();
                self.acknowledged.push((envelope_id, epoch));
            }
            Event::Rejected {
                rejection: Rejection::Storage { detail },
                ..
            } => {
                return Err(format!("the leader failed to store an envelope: {detail}"));
            }
            Event::Rejected { .. } => self.report.rejected += 1,
            Event::Progress { .. }
            | Event::Ready { .. }
            | Event::LeaderChanged { .. }
            | Event::Inspected { .. }
            | Event::Synced { .. }
            | Event::Queried { .. }
            | Event::Described { .. }
            | Event::SubsetLoaded { .. } => {}
        }
        Ok(())
    }

    /// Delivers at once everything queued for `endpoint` (a thawing leader
    /// acts on what it missed).
    pub fn deliver_queued_to(&mut self, endpoint: Endpoint) {
        while let Some(packet) = self.net.pop_due(Timestamp(u64::MAX), |e| e == endpoint) {
            self.deliver(packet.from, packet.to, &packet.bytes);
        }
    }
}
