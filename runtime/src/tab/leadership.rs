//! Following the leader: which leader this tab listens to, how it confirms a
//! new one, re-sending what is outstanding to a new leader, and learning its
//! position.
//!
//! A tab follows one leader: a tab id, its term and its database epoch.
//! Messages from that leader in that term are acted on. No other message
//! switches the tab by itself, whatever term or epoch it claims: the tab
//! switches only when a coordinator answers one of its `Join`s, with a
//! `LeaderHello` addressed to the tab that echoes the `Join`'s random probe
//! number. A live coordinator answering is the proof. The tab sends a
//! broadcast `Join` when it opens, and a `Join` addressed to one tab (a probe)
//! when that tab speaks as a leader and may be a newer one: it claims a newer
//! term, announces another database epoch, or the tab knows no leader or has
//! not heard from its own for [`RuntimeConfig::leader_silence_ms`]. A
//! candidate is probed at most once per `resend_after_ms`, on its next
//! message, so lost probes and answers only delay a failover. Leader messages
//! from other tabs in an older or the same term are dropped and counted.
//!
//! Threat model: stray messages (a buggy build, an old build in a forgotten
//! tab) and forged terms, tab ids, epochs and seqs cannot make a tab drop its
//! real leader or follow another, so they cannot stall it; the store fences
//! every commit, so they cannot corrupt data either. Out of scope: a script
//! that impersonates the leader a tab follows, or that reads the channel to
//! answer probes; it runs on the same origin and could open the database.
//!
//! When the confirmed leader serves another database epoch than the one the
//! tab knew (without OPFS each leader keeps the database in memory, so each
//! new leader starts afresh at term 1, seq 0), the tab forgets its position,
//! reloads every open collection from it and re-sends every pending
//! envelope, the ones the old incarnation had acknowledged included
//! (`start_incarnation`).

use super::*;

/// Most `Join`s waiting for an answer; a flood of forged senders cannot grow it further.
const MAX_PROBES: usize = 16;

/// A `Join` waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    /// The tab asked, or `None` for whoever leads.
    to: Option<TabId>,
    sent_at: Timestamp,
}

impl PersistedCollectionRuntime {
    /// Decides whether a leader message is acted on: it is from the followed
    /// leader in its term and epoch, or it answers one of this tab's `Join`s
    /// (then the tab follows its sender first). Anything else is dropped and
    /// counted; a sender that may be a newer leader is probed.
    pub(super) fn admit(&mut self, now: Timestamp, message: &Message) -> bool {
        let (from, term) = (message.from, message.term);
        let epoch = match &message.body {
            Body::LeaderHello { leader, .. } | Body::Heartbeat { leader, .. } => Some(leader.epoch),
            _ => None,
        };
        let known = self.leader_info.as_ref().map(|info| info.epoch);
        let other_epoch = epoch.is_some_and(|epoch| known.is_some_and(|known| known != epoch));
        if self.leader == Some(from) && term == self.term && !other_epoch {
            self.leader_heard_at = Some(now);
            return true;
        }
        if self.bugs().tabs_trust_claimed_terms && term > self.term {
            self.follow(now, from, term, epoch);
            return true;
        }
        if let Body::LeaderHello { probe, .. } = message.body {
            if message.to == Some(self.me) && self.answers_probe(from, probe) {
                self.follow(now, from, term, epoch);
                return true;
            }
        }
        let silent = self
            .leader_heard_at
            .is_none_or(|heard| now.since(heard) >= self.config.leader_silence_ms);
        if self.leader.is_none() || term > self.term || other_epoch || silent {
            self.stats.dropped.unconfirmed_leader += 1;
            self.probe(now, Some(from));
        } else {
            self.stats.dropped.stale_term += 1;
        }
        false
    }

    /// Whether probe number `probe` is one of this tab's `Join`s that `from` may answer.
    fn answers_probe(&self, from: TabId, probe: u64) -> bool {
        self.probes
            .get(&probe)
            .is_some_and(|p| p.to.is_none_or(|to| to == from))
    }

    /// Sends a `Join` to `candidate` (or to whoever leads), unless that tab
    /// was asked recently.
    pub(super) fn probe(&mut self, now: Timestamp, candidate: Option<TabId>) {
        let resend_after = self.config.resend_after_ms;
        let recent = self
            .probes
            .values()
            .any(|p| p.to == candidate && now.since(p.sent_at) < resend_after);
        if recent {
            return;
        }
        self.probes
            .retain(|_, p| p.to != candidate && now.since(p.sent_at) < resend_after);
        while self.probes.len() >= MAX_PROBES {
            self.probes.pop_first();
        }
        let number = self.rng.next_u64().max(1);
        self.probes.insert(
            number,
            Probe {
                to: candidate,
                sent_at: now,
            },
        );
        self.send_to(candidate, Body::Join { probe: number });
    }

    /// Follows the leader `from`, confirmed by its answer, in `term`
    /// (serving the database incarnation `epoch`), and re-sends to it what is
    /// outstanding.
    fn follow(&mut self, now: Timestamp, from: TabId, term: Term, epoch: Option<DatabaseEpoch>) {
        let known = self.leader_info.as_ref().map(|info| info.epoch);
        let other_epoch = known.is_some_and(|known| epoch.is_some_and(|epoch| epoch != known));
        if other_epoch && !self.bugs().tabs_ignore_epochs {
            self.leader = None;
            self.start_incarnation(now);
        }
        self.term = term;
        self.leader = Some(from);
        self.leader_heard_at = Some(now);
        self.probes.clear();
        self.events
            .push_back(Event::LeaderChanged { leader: from, term });
        let unsent: Vec<EnvelopeId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.committed_at.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in unsent {
            self.resend(now, id);
        }
        if self.pull.take().is_some() {
            self.request_pull(now);
        }
        if self.fetch.is_some() {
            self.send_fetch(now);
        }
        let hydrating: Vec<CollectionId> = self
            .collections
            .iter()
            .filter(|(_, c)| c.hydration.as_ref().is_some_and(|h| !h.pages_done))
            .map(|(id, _)| id.clone())
            .collect();
        for collection in hydrating {
            self.send_hydrate(now, &collection);
        }
        let reads: Vec<ReadId> = self.reads.keys().copied().collect();
        for id in reads {
            self.send_read(now, id);
        }
        let inspections: Vec<InspectId> = self.inspections.keys().copied().collect();
        for id in inspections {
            self.send_inspect(now, id);
        }
    }

    /// What this tab applied belongs to a database incarnation that is gone:
    /// forget the position and the early buffer, restart hydration of every
    /// open collection (keeping the view before it, so change events report
    /// the difference, as `reload_all` does), restart reads in progress, and
    /// mark every pending envelope unacknowledged so that it is sent again.
    /// Called with no leader set, so nothing is sent before the new leader is.
    fn start_incarnation(&mut self, now: Timestamp) {
        self.stats.epoch_changes += 1;
        self.applied = None;
        self.known_seq = Seq(0);
        self.early.clear();
        self.fetch = None;
        self.pull = None;
        for pending in self.pending.values_mut() {
            pending.committed_at = None;
        }
        for inspection in self.inspections.values_mut() {
            inspection.rows.clear();
            inspection.cursor = None;
        }
        let open: Vec<CollectionId> = self.collections.keys().cloned().collect();
        for collection in open {
            self.start_hydration(now, &collection);
        }
    }

    /// The bugs this build re-introduces: always none without the `bug-switches` feature.
    fn bugs(&self) -> crate::BugSwitches {
        #[cfg(feature = "bug-switches")]
        return self.config.bugs;
        #[cfg(not(feature = "bug-switches"))]
        crate::BugSwitches::NONE
    }

    pub(super) fn resend(&mut self, now: Timestamp, id: EnvelopeId) {
        if let Some(pending) = self.pending.get_mut(&id) {
            if pending.sent_at.is_some() {
                self.stats.resends += 1;
            }
            pending.sent_at = Some(now);
            let envelope = pending.envelope.clone();
            self.send(Body::Envelope(envelope));
        }
    }

    /// Learns the leader's position; starts a pull if this tab is behind.
    pub(super) fn observe_position(&mut self, now: Timestamp, seq: Seq) {
        self.known_seq = self.known_seq.max(seq);
        match self.applied {
            None => {
                self.applied = Some(seq);
                self.early = self.early.split_off(&seq.next());
                self.advance(now);
            }
            Some(applied) if seq > applied => self.request_pull(now),
            Some(_) => {}
        }
        self.finish_hydrations();
        self.deliver_parked_pages();
    }
}
