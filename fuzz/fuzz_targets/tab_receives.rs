//! A tab's `PersistedCollectionRuntime`, hydrated from a real leader, fed
//! arbitrary bytes, well-formed messages with fuzzed contents, local
//! mutations, timeouts and honest exchanges with the leader: it never panics,
//! and a fuzzed message never makes it follow another leader unless it is a
//! `LeaderHello` addressed to the tab that echoes one of its `Join`s, from
//! the tab that `Join` asked (the fuzzer is helped to find those: probe
//! numbers are sometimes replaced by ones the tab really sent). Messages in
//! the name of the leader the tab follows are fuzzed too (never a panic),
//! but impersonating it is outside the threat model, so they may switch it.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lockstep::protocol::{Body, Message};
use lockstep::{
    Coordinator, CoordinatorConfig, EnvelopeId, MemoryStore, PersistedCollectionRuntime,
    RuntimeConfig, TabId, Timestamp,
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
        Body::Acknowledged { envelope_id, .. }
        | Body::AlreadyCommitted { envelope_id, .. }
        | Body::Rejected { envelope_id, .. } => remap(envelope_id, local),
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

/// The `Join`s the tab sent: who it asked (`None`: whoever leads) and the
/// probe number the answer must echo.
type Probes = Vec<(Option<TabId>, u64)>;

/// Queues what the tab sends for the leader, noting its `Join`s.
fn collect(tab: &mut PersistedCollectionRuntime, outbox: &mut Vec<Vec<u8>>, probes: &mut Probes) {
    while let Some(m) = tab.poll_transmit() {
        if let Body::Join { probe } = m.body {
            probes.push((m.to, probe));
        }
        if outbox.len() < 256 {
            outbox.push(m.encode());
        }
    }
}

/// Gives a fuzzed hello, half of the time, the probe number of a `Join` the tab sent.
fn remap_probe(message: &mut Message, probes: &Probes) {
    if let Body::LeaderHello { probe, .. } = &mut message.body {
        if !probes.is_empty() && *probe % 2 == 0 {
            *probe = probes[(*probe / 2 % probes.len() as u64) as usize].1;
        }
    }
}

/// Whether `message` may make the tab follow its sender: it answers a `Join`
/// the tab sent, addressed to it, from the tab asked.
fn answers_a_join(message: &Message, me: TabId, probes: &Probes) -> bool {
    let Body::LeaderHello { probe, .. } = message.body else {
        return false;
    };
    message.to == Some(me)
        && probes
            .iter()
            .any(|(to, p)| *p == probe && to.is_none_or(|to| to == message.from))
}

fn pump(
    leader: &mut Coordinator<MemoryStore>,
    tab: &mut PersistedCollectionRuntime,
    outbox: &mut Vec<Vec<u8>>,
    probes: &mut Probes,
    now: Timestamp,
) {
    for _ in 0..16 {
        collect(tab, outbox, probes);
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
    let (mut outbox, mut probes) = (Vec::new(), Probes::new());
    pump(&mut leader, &mut me, &mut outbox, &mut probes, now);
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
                remap_probe(&mut message, &probes);
                let before = me.status();
                me.handle_bytes(now, &message.encode());
                let after = me.status();
                let impersonated = before.leader == Some(message.from);
                if after.leader != before.leader && !impersonated {
                    assert!(
                        answers_a_join(&message, me.tab_id(), &probes),
                        "a message that answers none of the tab's Joins switched its leader: {message:?}"
                    );
                    assert_eq!(after.leader, Some(message.from));
                }
                if !impersonated && !answers_a_join(&message, me.tab_id(), &probes) {
                    assert_eq!(
                        after.term, before.term,
                        "the term of the followed leader changed"
                    );
                }
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
            Action::Pump => pump(&mut leader, &mut me, &mut outbox, &mut probes, now),
        }
        // The leader only hears what the tab sends; keep it bounded.
        collect(&mut me, &mut outbox, &mut probes);
        while me.poll_event().is_some() {}
        let status = me.status();
        assert!(status.pending <= local.len());
        for c in 0..3 {
            let _ = me.len(&collection(c));
            let _ = me.snapshot(&collection(c));
        }
    }
});
