//! A tab's `PersistedCollectionRuntime`, hydrated from a real leader, fed
//! arbitrary bytes, well-formed messages with fuzzed contents, local
//! mutations, timeouts and honest exchanges with the leader: it never panics.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lockstep::protocol::{Body, Message};
use lockstep::{
    Coordinator, CoordinatorConfig, EnvelopeId, MemoryStore, PersistedCollectionRuntime,
    RuntimeConfig, Timestamp,
};
use lockstep_fuzz::{collection, db, json_lines, ops, tab, take_all, FuzzMessage, FuzzOp};

#[derive(Arbitrary, Debug)]
enum Action {
    /// Arbitrary bytes, as a hostile context would send.
    Raw(Vec<u8>),
    /// A well-formed message with fuzzed contents (terms 0..=3; the real leader has term 1).
    Message(FuzzMessage),
    /// Time passes.
    Timeout(u16),
    /// The app mutates rows.
    Mutate(Vec<FuzzOp>),
    /// Opens a collection (perhaps again, perhaps one never hydrated).
    Open(u8),
    /// Subscribes to a collection.
    Subscribe(u8, bool),
    /// Shuttles messages between the tab and the real leader until quiet.
    Pump,
}

/// Points envelope ids of the pool at the tab's own envelopes, so
/// acknowledgements, rejections and commits can match them.
fn remap(id: &mut EnvelopeId, local: &[EnvelopeId]) {
    if !local.is_empty() {
        let n = usize::from(id.0.as_bytes()[15]);
        *id = local[n % local.len()];
    }
}

fn remap_message(message: &mut Message, local: &[EnvelopeId]) {
    match &mut message.body {
        Body::TxCommitted(tx) => {
            if let Some(id) = tx.envelope_id.as_mut() {
                remap(id, local);
            }
        }
        Body::AlreadyCommitted { envelope_id, .. } | Body::Rejected { envelope_id, .. } => {
            remap(envelope_id, local)
        }
        Body::PullPage { txs, .. } => {
            for tx in txs {
                if let Some(id) = tx.envelope_id.as_mut() {
                    remap(id, local);
                }
            }
        }
        _ => {}
    }
}

fn pump(
    leader: &mut Coordinator<MemoryStore>,
    tab: &mut PersistedCollectionRuntime,
    outbox: &mut Vec<Vec<u8>>,
    now: Timestamp,
) {
    for _ in 0..16 {
        while let Some(m) = tab.poll_transmit() {
            outbox.push(m.encode());
        }
        let mut quiet = outbox.is_empty();
        for bytes in outbox.drain(..) {
            leader.handle_bytes(now, &bytes);
        }
        while let Some(m) = leader.poll_transmit() {
            tab.handle_bytes(now, &m.encode());
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    while tab.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let actions: Vec<Action> = match json_lines(data) {
        Some(lines) => lines
            .into_iter()
            .flat_map(|line| [Action::Raw(line.to_vec()), Action::Timeout(250)])
            .collect(),
        None => take_all(&mut Unstructured::new(data), 64),
    };

    let mut now = Timestamp(1_000);
    let store = MemoryStore::with_log_retention(8);
    let mut leader = Coordinator::start(
        store,
        db(),
        tab(1),
        CoordinatorConfig {
            max_pull_page: 4,
            max_hydrate_page: 4,
            ..CoordinatorConfig::default()
        },
        now,
    )
    .expect("memory store never fails");
    let mut me = PersistedCollectionRuntime::new(
        db(),
        tab(0),
        RuntimeConfig {
            hydrate_page_rows: 4,
            pull_page_txs: 4,
            ..RuntimeConfig::default()
        },
        now,
    );
    me.open_collection(now, collection(0));
    me.open_collection(now, collection(1));
    let mut outbox = Vec::new();
    pump(&mut leader, &mut me, &mut outbox, now);
    assert!(
        me.is_ready(&collection(0)),
        "the tab hydrates from an honest leader"
    );

    let mut local: Vec<EnvelopeId> = Vec::new();
    for action in actions {
        match action {
            Action::Raw(bytes) => me.handle_bytes(now, &bytes),
            Action::Message(m) => {
                let mut message = m.message(4);
                remap_message(&mut message, &local);
                me.handle_bytes(now, &message.encode());
            }
            Action::Timeout(ms) => {
                now = now.plus_millis(u64::from(ms));
                me.handle_timeout(now);
                leader.handle_timeout(now);
                let _ = me.poll_timeout();
            }
            Action::Mutate(o) => {
                if let Ok(id) = me.mutate(now, ops(&o)) {
                    local.push(id);
                }
            }
            Action::Open(c) => me.open_collection(now, collection(c)),
            Action::Subscribe(c, include_current) => {
                me.subscribe(collection(c), include_current);
            }
            Action::Pump => pump(&mut leader, &mut me, &mut outbox, now),
        }
        // The leader only hears what the tab sends; keep it bounded.
        while let Some(m) = me.poll_transmit() {
            if outbox.len() < 256 {
                outbox.push(m.encode());
            }
        }
        while me.poll_event().is_some() {}
        let status = me.status();
        assert!(status.pending <= local.len());
        for c in 0..3 {
            let _ = me.len(&collection(c));
            let _ = me.snapshot(&collection(c));
        }
    }
});
