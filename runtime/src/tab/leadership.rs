//! Following the leader: which leader and term this tab accepts, re-sending
//! what is outstanding to a new leader, and learning its position.

use super::*;

impl PersistedCollectionRuntime {
    /// Accepts a leader message's term and sender; on a new leader, re-sends
    /// what is outstanding. Returns false for a stale leader.
    pub(super) fn observe_leader(&mut self, now: Timestamp, term: Term, from: TabId) -> bool {
        if term < self.term || (term == self.term && self.leader.is_some_and(|l| l != from)) {
            self.stats.dropped.stale_term += 1;
            return false;
        }
        if term > self.term || self.leader.is_none() {
            self.term = term;
            self.leader = Some(from);
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
        self.leader_heard_at = Some(now);
        true
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
