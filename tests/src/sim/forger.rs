//! The forging actor: well-formed messages with arbitrary terms, tab ids,
//! seqs and epochs, as a buggy or old build in a forgotten tab, or a script
//! on the origin, could send them during the faulty phase.
//!
//! Within the threat model it never impersonates a leader that a tab
//! follows: its leader messages come from made-up tab ids or from tabs that
//! are gone and never led (a tab may follow a leader that is gone, or be
//! about to, with its answer still on the way). Requests in the name of live
//! tabs are fair game. It never reads the channel, so it cannot answer a probe.

use std::rc::Rc;

use lockstep::protocol::QueryOutcome;
use lockstep::protocol::{Body, KeyedRow, LeaderInfo, Message, Storage, PROTOCOL_VERSION};
use lockstep::{
    Change, CollectionId, DatabaseEpoch, DatabaseReport, EnvelopeId, Key, LeaderCounters,
    QueryRows, Rejection, Row, Seq, StreamPosition, TabId, Term, TxCommitted,
};

use super::net::Endpoint;
use super::store::SimStore;
use super::world::Sim;
use super::Outcome;

impl<S: SimStore> Sim<S> {
    /// Injects one to three forged messages.
    pub fn forge(&mut self) -> Outcome<()> {
        for _ in 0..1 + self.rng.below(3) {
            let message = self.forged_message();
            self.report.forged += 1;
            self.log(format!(
                "forger sends {} as {} with term {}",
                body_name(&message.body),
                message.from.short(),
                message.term
            ));
            let bytes: Rc<[u8]> = message.encode().into();
            self.post(Endpoint::Forger, message.to, message.skips(), bytes);
        }
        self.flush()
    }

    fn forged_message(&mut self) -> Message {
        let term = self.forged_term();
        let kind = self.rng.below(17);
        let (from, to, body) = if kind < 11 {
            let from = self.forged_leader_id();
            let to = self.some_tab();
            (from, to, self.forged_leader_body(kind, term))
        } else {
            let from = self.forged_tab_id();
            let to = if self.rng.chance(0.5) {
                self.lock_holder
            } else {
                None
            };
            (from, to, self.forged_request(kind))
        };
        Message {
            v: PROTOCOL_VERSION,
            db: self.db.clone(),
            term,
            from,
            to,
            body,
        }
    }

    fn forged_leader_body(&mut self, kind: u64, term: Term) -> Body {
        let position = StreamPosition {
            term,
            seq: self.forged_seq(),
        };
        let request = self.rng.below(8);
        match kind {
            0 => Body::Heartbeat {
                position,
                leader: self.forged_info(),
            },
            1 => Body::LeaderHello {
                position,
                leader: self.forged_info(),
                probe: if self.rng.chance(0.5) {
                    0
                } else {
                    self.rng.next_u64()
                },
            },
            2 => Body::TxCommitted(self.forged_tx(position)),
            3 if self.rng.chance(0.5) => Body::AlreadyCommitted {
                envelope_id: self.forged_envelope_id(),
                position,
            },
            3 => Body::Acknowledged {
                envelope_id: self.forged_envelope_id(),
                position,
                patched: self.forged_tx(position).changes,
            },
            4 => Body::Rejected {
                envelope_id: self.forged_envelope_id(),
                rejection: Rejection::KeyExists {
                    collection: self.forged_collection(),
                    key: self.forged_key(),
                },
            },
            5 => Body::PullPage {
                request,
                txs: vec![self.forged_tx(position)],
                position,
                truncated: self.rng.chance(0.3),
            },
            6 => Body::HydratePage {
                request,
                collection: self.forged_collection(),
                position,
                rows: vec![KeyedRow {
                    key: self.forged_key(),
                    value: forged_row(self.rng.next_u64()),
                }
                .into()],
                more: self.rng.chance(0.5),
                total: self.rng.chance(0.5).then(|| self.rng.next_u64()),
            },
            7 => Body::TxPart {
                request,
                seq: position.seq,
                offset: 0,
                changes: self.forged_tx(position).changes,
                total: self.rng.below(3) as u32,
                position,
                missing: self.rng.chance(0.3),
            },
            8 => Body::RequestFailed {
                request,
                error: "forged: disk I/O error".into(),
            },
            9 => Body::QueryResult {
                request,
                position,
                outcome: QueryOutcome::Rows(QueryRows {
                    columns: vec!["forged".into()],
                    rows: vec![vec![serde_json::json!(self.rng.next_u64() % 1000)]],
                    truncated: false,
                }),
            },
            _ => Body::Description {
                request,
                report: DatabaseReport {
                    leader: self.forged_leader_id(),
                    term,
                    position,
                    info: self.forged_info(),
                    collections: Vec::new(),
                    counters: LeaderCounters::default(),
                },
            },
        }
    }

    fn forged_request(&mut self, kind: u64) -> Body {
        let request = self.rng.below(8);
        match kind {
            11 => Body::Join {
                probe: self.rng.next_u64(),
            },
            12 => Body::PullSince {
                request,
                after: self.forged_seq(),
                limit: self.rng.below(5) as u32,
            },
            13 => Body::Hydrate {
                request,
                collection: self.forged_collection(),
                after: self.rng.chance(0.5).then(|| self.forged_key()),
                limit: self.rng.below(5) as u32,
            },
            14 => Body::Query {
                request,
                sql: FORGED_SQL[self.rng.below(FORGED_SQL.len() as u64) as usize].into(),
                params: vec![serde_json::json!(self.rng.below(4))],
                indexes: if self.rng.chance(0.3) {
                    vec![(self.forged_collection(), "n".into())]
                } else {
                    Vec::new()
                },
            },
            15 => Body::Describe { request },
            _ => Body::PullTx {
                request,
                seq: self.forged_seq(),
                offset: self.rng.below(3) as u32,
            },
        }
    }

    /// Around the current term, or far from it.
    fn forged_term(&mut self) -> Term {
        let current = self
            .leaders
            .values()
            .map(|l| l.coordinator.term().0)
            .max()
            .unwrap_or(1);
        Term(match self.rng.below(6) {
            0 => 0,
            1 => current.saturating_sub(1),
            2 => current,
            3 => current + 1 + self.rng.below(4),
            4 => 999_999,
            _ => u64::MAX - self.rng.below(2),
        })
    }

    /// Around the stream's end, or far beyond it.
    fn forged_seq(&mut self) -> Seq {
        let last = self.history.seq().0;
        Seq(match self.rng.below(5) {
            0 => 0,
            1 => last,
            2 => last + 1,
            3 => last + 2 + self.rng.below(8),
            _ => u64::MAX - self.rng.below(2),
        })
    }

    /// The current database epoch (copied from the channel) or a made-up one.
    fn forged_info(&mut self) -> LeaderInfo {
        let epoch = if self.rng.chance(0.5) {
            self.epoch
        } else {
            DatabaseEpoch::from_u128(u128::from(self.rng.next_u64()))
        };
        let storage = if self.rng.chance(0.5) {
            Storage::Memory
        } else {
            Storage::Persistent
        };
        LeaderInfo::new(epoch, storage)
    }

    fn forged_tx(&mut self, position: StreamPosition) -> TxCommitted {
        let collection = self.forged_collection();
        let key = self.forged_key();
        let value = self
            .rng
            .chance(0.7)
            .then(|| forged_row(self.rng.next_u64()));
        TxCommitted {
            term: position.term,
            seq: position.seq,
            envelope_id: self.rng.chance(0.5).then(|| self.forged_envelope_id()),
            origin: self.some_tab(),
            changes: vec![Change {
                collection,
                key,
                value: value.map(lockstep::HeldRow::shared),
            }],
            requires_pull: self.rng.chance(0.2),
        }
    }

    /// One of the envelopes tabs wrote lately, or a made-up one.
    fn forged_envelope_id(&mut self) -> EnvelopeId {
        let recent: Vec<EnvelopeId> = self.recent_envelopes.iter().copied().collect();
        match self.rng.pick(&recent) {
            Some(id) if self.rng.chance(0.7) => *id,
            _ => {
                let bits = self.rng.next_u64().to_le_bytes();
                let mut random = [0u8; 10];
                random[..8].copy_from_slice(&bits);
                EnvelopeId::new_v7(self.now.0, random)
            }
        }
    }

    fn forged_collection(&mut self) -> CollectionId {
        self.collections[self.rng.below(self.collections.len() as u64) as usize].clone()
    }

    fn forged_key(&mut self) -> Key {
        Key::Int(self.rng.below(self.config.keys) as i64)
    }

    /// A made-up tab id, or a tab that is gone and never led.
    fn forged_leader_id(&mut self) -> TabId {
        let gone: Vec<TabId> = self
            .gone_tabs
            .iter()
            .filter(|id| !self.ever_led.contains(id))
            .copied()
            .collect();
        match self.rng.pick(&gone) {
            Some(id) if self.rng.chance(0.5) => *id,
            _ => self.made_up_tab(),
        }
    }

    /// Any tab id: a live tab's, a gone tab's, or a made-up one.
    fn forged_tab_id(&mut self) -> TabId {
        let known: Vec<TabId> = self
            .tabs
            .keys()
            .chain(self.gone_tabs.iter())
            .copied()
            .collect();
        match self.rng.pick(&known) {
            Some(id) if self.rng.chance(0.7) => *id,
            _ => self.made_up_tab(),
        }
    }

    fn made_up_tab(&mut self) -> TabId {
        TabId::from_u128(u128::from(self.rng.next_u64()) << 64 | 0xF0F0)
    }

    /// A live tab (half of the time), for a message addressed to one.
    fn some_tab(&mut self) -> Option<TabId> {
        let ids: Vec<TabId> = self.tabs.keys().copied().collect();
        if self.rng.chance(0.5) {
            self.rng.pick(&ids).copied()
        } else {
            None
        }
    }
}

/// Statements a forged query asks the leader to run: reads, and writes the
/// leader must refuse (a forged write that ran would break the history check).
const FORGED_SQL: [&str; 4] = [
    "select count(*) from todos where ?1 is not null",
    "delete from __lockstep_meta where ?1 is not null",
    "pragma writable_schema = ?1",
    "with recursive r(i) as (select ?1 union all select i + 1 from r) select max(i) from r",
];

fn forged_row(n: u64) -> Row {
    serde_json::json!({"forged": n % 1000})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Join { .. } => "a join",
        Body::LeaderHello { .. } => "a hello",
        Body::Heartbeat { .. } => "a heartbeat",
        Body::Envelope(_) => "an envelope",
        Body::TxCommitted(_) => "a commit",
        Body::Acknowledged { .. } => "an acknowledgement of its own envelope",
        Body::AlreadyCommitted { .. } => "an already-committed answer",
        Body::Rejected { .. } => "a refusal",
        Body::PullSince { .. } => "a pull",
        Body::PullPage { .. } => "a pull page",
        Body::PullTx { .. } => "a fetch",
        Body::TxPart { .. } => "a transaction part",
        Body::Hydrate { .. } => "a page request",
        Body::HydratePage { .. } => "a page",
        Body::RequestFailed { .. } => "a failure",
        Body::Query { .. } => "a query",
        Body::QueryResult { .. } => "a query result",
        Body::Describe { .. } => "a describe",
        Body::Description { .. } => "a description",
    }
}
