//! Building what tabs send, for tests that talk to a [`Coordinator`] directly:
//! envelope ids, ops, envelopes wrapped in messages, and a leader driven by
//! encoded bytes exactly as tabs drive it.

use lockstep::protocol::{Body, Envelope, Message, TxCommitted, PROTOCOL_VERSION};
use lockstep::{
    CollectionId, Coordinator, CoordinatorConfig, DatabaseId, EnvelopeId, Key, Op, Store, TabId,
    Term, Timestamp,
};

/// The Unix time (ms) that [`envelope_id`] counts from.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// A deterministic UUID v7 envelope id, made `n` ms after [`EPOCH_MS`]; its
/// random bits are `n` too, so ids of different `n` never collide.
///
/// ```
/// use lockstep_tests::envelopes::envelope_id;
/// assert_ne!(envelope_id(1), envelope_id(2));
/// assert_eq!(envelope_id(1).0.get_version_num(), 7);
/// ```
pub fn envelope_id(n: u64) -> EnvelopeId {
    let b = n.to_le_bytes();
    EnvelopeId::new_v7(
        EPOCH_MS + n,
        [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], 0xAB, 0xCD],
    )
}

/// An `insert` op of a row given as a `json!` object.
pub fn insert(collection: &CollectionId, key: impl Into<Key>, value: serde_json::Value) -> Op {
    Op::Insert {
        collection: collection.clone(),
        key: key.into(),
        value: lockstep::HeldRow::shared(crate::row(value)),
    }
}

/// An `update` op of a row given as a `json!` object.
pub fn update(collection: &CollectionId, key: impl Into<Key>, value: serde_json::Value) -> Op {
    Op::Update {
        collection: collection.clone(),
        key: key.into(),
        value: lockstep::HeldRow::shared(crate::row(value)),
    }
}

/// A `delete` op.
pub fn delete(collection: &CollectionId, key: impl Into<Key>) -> Op {
    Op::Delete {
        collection: collection.clone(),
        key: key.into(),
    }
}

/// A message from tab `from` to whoever leads, with term 0 (what a tab
/// that knows no leader yet sends).
pub fn from_tab(db: &DatabaseId, from: TabId, body: Body) -> Message {
    Message {
        v: PROTOCOL_VERSION,
        db: db.clone(),
        term: Term(0),
        from,
        to: None,
        body,
    }
}

/// The envelope `id` of `ops` from tab `from`, as the message the tab sends.
pub fn envelope(db: &DatabaseId, from: TabId, id: EnvelopeId, ops: Vec<Op>) -> Message {
    from_tab(
        db,
        from,
        Body::Envelope(Envelope {
            envelope_id: id,
            origin: from,
            ops,
        }),
    )
}

/// The tab id tests use for the leader's own tab.
pub fn leader_tab() -> TabId {
    TabId::from_u128(1)
}

/// The tab id tests use for the tab that sends envelopes.
pub fn writer_tab() -> TabId {
    TabId::from_u128(2)
}

/// A coordinator for [`leader_tab`] on `store` with `config`, started at
/// time 0; its hello is discarded.
pub fn start_with<S: Store>(
    store: S,
    db: &DatabaseId,
    config: CoordinatorConfig,
) -> Coordinator<S> {
    let mut leader = Coordinator::start(store, db.clone(), leader_tab(), config, Timestamp(0))
        .expect("the coordinator starts");
    drain(&mut leader);
    leader
}

/// [`start_with`] the default configuration.
pub fn start<S: Store>(store: S, db: &DatabaseId) -> Coordinator<S> {
    start_with(store, db, CoordinatorConfig::default())
}

/// Feeds `message` as encoded bytes at `now` and returns what the leader transmits.
pub fn exchange<S: Store>(
    leader: &mut Coordinator<S>,
    now: Timestamp,
    message: &Message,
) -> Vec<Message> {
    leader.handle_bytes(now, &message.encode());
    drain(leader)
}

/// Sends the envelope `id` of `ops` from [`writer_tab`] at time 0 and
/// returns what the leader transmits.
pub fn send<S: Store>(
    leader: &mut Coordinator<S>,
    db: &DatabaseId,
    id: EnvelopeId,
    ops: Vec<Op>,
) -> Vec<Message> {
    exchange(leader, Timestamp(0), &envelope(db, writer_tab(), id, ops))
}

/// Everything the leader queued.
pub fn drain<S: Store>(leader: &mut Coordinator<S>) -> Vec<Message> {
    std::iter::from_fn(|| leader.poll_transmit()).collect()
}

/// The commits among `messages`.
pub fn committed(messages: &[Message]) -> Vec<TxCommitted> {
    messages
        .iter()
        .filter_map(|m| match &m.body {
            Body::TxCommitted(tx) => Some(tx.clone()),
            _ => None,
        })
        .collect()
}
