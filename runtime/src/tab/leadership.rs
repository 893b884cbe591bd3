//! Following the leader: which leader this tab listens to, how it confirms a
//! new one, re-sending what is outstanding to a new leader, and learning its
//! position.
//!
//! A tab follows one leader: a tab id and its term. Messages from that leader
//! in that term are acted on. A leader message from any other tab never
//! switches the tab by itself, whatever term it claims: when it claims a newer
//! term (or the tab knows no leader, or its leader has been silent for
//! [`RuntimeConfig::leader_silence_ms`]), the tab asks that tab with a `Join`
//! addressed to it, and follows it only once it answers with a `LeaderHello`
//! addressed to this tab. A live coordinator answering is the proof; the
//! probe is repeated (at most once per `resend_after_ms`) on the candidate's
//! next message, so lost probes and answers only delay a failover. Older or
//! equal terms from other tabs are dropped and counted, as before.
//!
//! Hellos and heartbeats also carry the leader's database epoch. A leader
//! whose epoch differs from the one this tab knew serves another incarnation
//! of the database (without OPFS each leader keeps it in memory, so each new
//! leader starts afresh at term 1, seq 0): such a sender is probed whatever
//! its term, and once confirmed the tab forgets its position, reloads every
//! open collection from it and re-sends every pending envelope, the ones the
//! old incarnation had acknowledged included (`start_incarnation`).
//!
//! Threat model: stray messages (a buggy build, an old build in a forgotten
//! tab) and forged terms, tab ids and seqs cannot make a tab drop its real
//! leader, so they cannot stall it; the store fences every commit, so they
//! cannot corrupt data either. A script that impersonates the current
//! leader's own tab id is out of scope: it runs on the same origin and could
//! open the database itself.

use super::*;

/// Most tabs probed at once; a flood of forged senders cannot grow it further.
const MAX_PROBES: usize = 16;

impl PersistedCollectionRuntime {
    /// Decides whether a leader message is acted on: it is from the followed
    /// leader in its term, or it answers this tab's probe (then the tab
    /// switches to its sender first). Anything else is dropped, and counted;
    /// a sender that may be a newer leader is probed.
    pub(super) fn admit(&mut self, now: Timestamp, message: &Message) -> bool {
        let (from, term) = (message.from, message.term);
        let epoch = match &message.body {
            Body::LeaderHello { leader, .. } | Body::Heartbeat { leader, .. } => Some(leader.epoch),
            _ => None,
        };
        let known = self.leader_info.as_ref().map(|info| info.epoch);
        let other_epoch = epoch.is_some_and(|epoch| known.is_some_and(|known| known != epoch));
        if self.leader == Some(from) {
            if term == self.term && !other_epoch {
                self.leader_heard_at = Some(now);
                return true;
            }
            if (term > self.term || other_epoch) && epoch.is_some() {
                // The same tab leads again, with a new coordinator (on a new
                // in-memory database, when the epoch differs).
                self.follow(now, from, term, epoch);
                return true;
            }
            self.stats.dropped.stale_term += 1;
            return false;
        }
        // A hello addressed to this tab answers its `Join`: the broadcast one
        // it sent when it knew no leader, or a probe.
        let answer = matches!(message.body, Body::LeaderHello { .. })
            && message.to == Some(self.me)
            && (self.leader.is_none() || self.probes.contains_key(&from));
        if answer {
            self.follow(now, from, term, epoch);
            return true;
        }
        let silent = self
            .leader_heard_at
            .is_none_or(|heard| now.since(heard) >= self.config.leader_silence_ms);
        if self.leader.is_none() || term > self.term || other_epoch || silent {
            self.stats.dropped.unconfirmed_leader += 1;
            self.probe(now, from);
        } else {
            self.stats.dropped.stale_term += 1;
        }
        false
    }

    /// Asks `candidate` whether it leads, unless it was asked recently.
    fn probe(&mut self, now: Timestamp, candidate: TabId) {
        let recent = self
            .probes
            .get(&candidate)
            .is_some_and(|sent| now.since(*sent) < self.config.resend_after_ms);
        if recent {
            return;
        }
        if self.probes.len() >= MAX_PROBES && !self.probes.contains_key(&candidate) {
            let oldest = self.probes.iter().min_by_key(|(_, sent)| **sent);
            if let Some(oldest) = oldest.map(|(tab, _)| *tab) {
                self.probes.remove(&oldest);
            }
        }
        self.probes.insert(candidate, now);
        self.send_to(Some(candidate), Body::Join);
    }

    /// Follows the confirmed leader `from` in `term` (serving the database
    /// incarnation `epoch`, when its message says), and re-sends to it what
    /// is outstanding.
    fn follow(&mut self, now: Timestamp, from: TabId, term: Term, epoch: Option<DatabaseEpoch>) {
        let known = self.leader_info.as_ref().map(|info| info.epoch);
        if known.is_some_and(|known| epoch.is_some_and(|epoch| epoch != known)) {
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
    }
}
