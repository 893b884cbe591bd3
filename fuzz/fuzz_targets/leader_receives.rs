//! The leader's `Coordinator<MemoryStore>` fed arbitrary bytes, well-formed
//! envelopes and requests with fuzzed contents, writes by other code, uploads
//! and timeouts. It never panics, and after every step:
//! - the store's `meta().position.seq` (and term) never decreases;
//! - the coordinator's position is the store's position;
//! - every commit is sent, in seq order without gaps, each envelope at most
//!   once: broadcast, or (while no other tab has spoken to the leader) to its
//!   own tab only, or not at all when it is that tab's own acknowledged
//!   envelope; those last two are what `commits_kept_local` counts;
//! - a re-sent envelope is answered with the position it was committed at;
//! - an acknowledgement of the leader's own tab's envelope comes right
//!   before the broadcast of its commit, with the same position, unless the
//!   commit is kept local;
//! - no message deposes the leader, whatever term it claims: only a newer
//!   term in the store does. A failover (another coordinator takes over the
//!   store) deposes the old leader at its next heartbeat at the latest, and
//!   the new one carries on, so the store history spans several terms.

#![no_main]

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lockstep::protocol::Body;
use lockstep::{
    Coordinator, CoordinatorConfig, EnvelopeId, MemoryStore, Seq, Store, StoreMeta, StreamPosition,
    Timestamp,
};
use lockstep_fuzz::{collection, db, json_lines, tab, take_all, FuzzKey, FuzzMessage, FuzzRow};

#[derive(Arbitrary, Debug)]
enum Action {
    /// Arbitrary bytes.
    Raw(Vec<u8>),
    /// A well-formed message with fuzzed contents (mostly envelopes and requests).
    Message(FuzzMessage),
    /// Time passes.
    Timeout(u16),
    /// Other code writes a row straight into the database.
    External(u8, FuzzKey, Option<FuzzRow>),
    /// The uploader takes a batch and reports its outcome.
    Upload(bool),
    /// Another coordinator takes over the same store.
    Failover,
}

fn config(outbox: bool) -> CoordinatorConfig {
    CoordinatorConfig {
        max_pull_page: 4,
        max_hydrate_page: 4,
        outbox,
        upload_batch: 3,
        ..CoordinatorConfig::default()
    }
}

struct Checker {
    meta: StoreMeta,
    /// The last commit sent (or kept local).
    last_sent: Seq,
    committed: HashMap<EnvelopeId, StreamPosition>,
    /// The acknowledgement sent last, until its commit's broadcast.
    acknowledged: Option<(EnvelopeId, StreamPosition)>,
    /// The leader's `commits_kept_local` as of the last check.
    kept: u64,
}

impl Checker {
    /// Commit `seq` (of envelope `id`, if any) was sent or kept local.
    fn sent(&mut self, seq: Seq, id: Option<EnvelopeId>, position: StreamPosition) {
        assert_eq!(
            seq,
            self.last_sent.next(),
            "commits are sent in order without gaps"
        );
        self.last_sent = seq;
        if let Some(id) = id {
            let first = self.committed.insert(id, position);
            assert!(first.is_none(), "envelope {id} committed twice");
        }
    }

    /// The acknowledged commit, not followed by its broadcast: kept local.
    fn kept_acknowledged(&mut self, kept: &mut u64) {
        if let Some((id, position)) = self.acknowledged.take() {
            self.sent(position.seq, Some(id), position);
            *kept += 1;
        }
    }

    fn check(&mut self, leader: &mut Coordinator<MemoryStore>) {
        let mut kept = 0;
        while let Some(m) = leader.poll_transmit() {
            match m.body {
                Body::TxCommitted(tx) => {
                    let acknowledged = self
                        .acknowledged
                        .is_some_and(|(id, at)| (Some(id), at) == (tx.envelope_id, tx.position()));
                    if acknowledged {
                        self.acknowledged = None;
                    } else {
                        self.kept_acknowledged(&mut kept);
                    }
                    if m.to.is_some() {
                        assert_eq!(
                            m.to,
                            Some(tab(0)),
                            "a commit goes to every tab or to the leader's own"
                        );
                        kept += 1;
                    }
                    self.sent(tx.seq, tx.envelope_id, tx.position());
                }
                Body::Acknowledged {
                    envelope_id,
                    position,
                    ..
                } => {
                    self.kept_acknowledged(&mut kept);
                    assert!(!self.committed.contains_key(&envelope_id));
                    self.acknowledged = Some((envelope_id, position));
                }
                Body::AlreadyCommitted {
                    envelope_id,
                    position,
                } => assert_eq!(
                    self.committed.get(&envelope_id),
                    Some(&position),
                    "a re-sent envelope is answered with its original position"
                ),
                Body::Rejected { envelope_id, .. } => assert!(
                    !self.committed.contains_key(&envelope_id),
                    "a committed envelope was rejected when re-sent"
                ),
                Body::PullPage { txs, .. } => {
                    for pair in txs.windows(2) {
                        assert_eq!(pair[1].seq, pair[0].seq.next(), "pull pages are contiguous");
                    }
                }
                _ => {}
            }
        }
        self.kept_acknowledged(&mut kept);
        let kept_now = leader.stats().commits_kept_local;
        assert_eq!(
            kept_now - self.kept,
            kept,
            "a commit not broadcast is one the leader counts as kept local"
        );
        self.kept = kept_now;
        let meta = leader.store_mut().meta().expect("memory store never fails");
        assert!(
            meta.position.seq >= self.meta.position.seq,
            "store seq went back from {} to {}",
            self.meta.position.seq,
            meta.position.seq
        );
        assert!(meta.term >= self.meta.term, "store term went back");
        assert!(meta.position.term <= meta.term);
        if leader.deposed().is_none() {
            assert_eq!(leader.position(), meta.position);
            assert_eq!(leader.term(), meta.term);
        }
        assert_eq!(meta.position.seq, self.last_sent, "every commit is sent");
        self.meta = meta;
    }
}

fuzz_target!(|data: &[u8]| {
    let (outbox, actions): (bool, Vec<Action>) = match json_lines(data) {
        Some(lines) => (
            true,
            lines
                .into_iter()
                .flat_map(|line| [Action::Raw(line.to_vec()), Action::Timeout(250)])
                .collect(),
        ),
        None => {
            let mut u = Unstructured::new(data);
            let Ok(outbox) = bool::arbitrary(&mut u) else {
                return;
            };
            (outbox, take_all(&mut u, 64))
        }
    };

    let mut now = Timestamp(1_000);
    let store = MemoryStore::with_log_retention(8);
    let start = |store: &MemoryStore, now| {
        Coordinator::start(store.clone(), db(), tab(0), config(outbox), now)
            .expect("memory store never fails")
    };
    let mut leader = start(&store, now);
    let mut checker = Checker {
        meta: StoreMeta::default(),
        last_sent: Seq(0),
        committed: HashMap::new(),
        acknowledged: None,
        kept: 0,
    };
    checker.check(&mut leader);

    let mut upload = None;
    for action in actions {
        match action {
            Action::Raw(bytes) => leader.handle_bytes(now, &bytes),
            Action::Message(m) => {
                // Small terms around the leader's, or any: none may depose it.
                let range = u8::try_from(leader.term().0 + 3).unwrap_or(u8::MAX);
                leader.handle_bytes(now, &m.message(range).encode());
            }
            Action::Timeout(ms) => {
                now = now.plus_millis(u64::from(ms));
                leader.handle_timeout(now);
                let _ = leader.poll_timeout();
            }
            Action::External(c, key, value) => {
                store.write_external(&collection(c), &key.key(), value.map(|r| r.row()))
            }
            Action::Failover => {
                let next = start(&store, now);
                assert!(next.term() > leader.term());
                now = now.plus_millis(config(outbox).heartbeat_ms);
                leader.handle_timeout(now);
                assert!(
                    leader.deposed().is_some_and(|d| d.newer == next.term()),
                    "a leader whose term the store no longer holds kept serving"
                );
                assert!(
                    !std::iter::from_fn(|| leader.poll_transmit())
                        .any(|m| matches!(m.body, Body::Heartbeat { .. })),
                    "a deposed leader sent a heartbeat"
                );
                leader = next;
                checker.kept = 0;
                upload = None;
            }
            Action::Upload(succeeded) => match upload.take() {
                None => {
                    if let Some(batch) = leader.poll_upload(now) {
                        for pair in batch.entries.windows(2) {
                            assert!(pair[0].position.seq < pair[1].position.seq);
                        }
                        upload = Some(batch.id);
                    }
                }
                Some(id) => leader.upload_finished(now, id, succeeded),
            },
        }
        assert!(
            leader.deposed().is_none(),
            "only a newer term in the store deposes a leader: {:?}",
            leader.deposed()
        );
        checker.check(&mut leader);
    }
});
