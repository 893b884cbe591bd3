//! A simulated broadcast channel: delivery to every other endpoint, never to
//! the sender, in order per (sender, receiver) pair like a BroadcastChannel,
//! plus the faults a run asks for: random delay (which reorders messages of
//! different senders), drop and duplicate.

use std::collections::HashMap;
use std::rc::Rc;

use lockstep::{TabId, Timestamp};

use super::rng::SimRng;

/// One end of the channel: a tab's runtime, a coordinator, or the forger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The runtime of a tab.
    Tab(TabId),
    /// The n-th coordinator started in the run (terms repeat across
    /// incarnations of an in-memory database, so they cannot name one).
    Leader(u64),
    /// The forging actor (it only sends).
    Forger,
}

/// Network faults in force.
#[derive(Clone, Copy, Debug)]
pub struct NetFaults {
    /// Longest delivery delay in ms (delays are uniform in `0..=max`).
    pub max_delay_ms: u64,
    /// Probability that one delivery is lost.
    pub drop: f64,
    /// Probability that one delivery arrives twice.
    pub duplicate: f64,
}

impl NetFaults {
    /// No faults: immediate, reliable delivery.
    pub const NONE: NetFaults = NetFaults {
        max_delay_ms: 0,
        drop: 0.0,
        duplicate: 0.0,
    };
}

/// A message on its way.
#[derive(Clone, Debug)]
pub struct Packet {
    /// When it arrives.
    pub at: Timestamp,
    order: u64,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// The encoded message.
    pub bytes: Rc<[u8]>,
}

/// The channel.
#[derive(Default)]
pub struct Net {
    packets: Vec<Packet>,
    last_at: HashMap<(Endpoint, Endpoint), Timestamp>,
    next_order: u64,
    /// Deliveries lost to the drop fault.
    pub dropped: u64,
    /// Deliveries doubled by the duplicate fault.
    pub duplicated: u64,
}

impl Net {
    /// Sends `bytes` from `from` to `to` under `faults`.
    pub fn send(
        &mut self,
        rng: &mut SimRng,
        now: Timestamp,
        faults: NetFaults,
        from: Endpoint,
        to: Endpoint,
        bytes: Rc<[u8]>,
    ) {
        if rng.chance(faults.drop) {
            self.dropped += 1;
            return;
        }
        let copies = if rng.chance(faults.duplicate) { 2 } else { 1 };
        self.duplicated += copies - 1;
        for _ in 0..copies {
            let earliest = now.plus_millis(rng.below(faults.max_delay_ms + 1));
            let at = self
                .last_at
                .get(&(from, to))
                .map_or(earliest, |last| earliest.max(*last));
            self.last_at.insert((from, to), at);
            self.packets.push(Packet {
                at,
                order: self.next_order,
                from,
                to,
                bytes: bytes.clone(),
            });
            self.next_order += 1;
        }
    }

    /// Takes the earliest packet due by `now` whose receiver `ready` accepts
    /// (frozen receivers keep theirs queued).
    pub fn pop_due(&mut self, now: Timestamp, ready: impl Fn(Endpoint) -> bool) -> Option<Packet> {
        let index = self
            .packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now && ready(p.to))
            .min_by_key(|(_, p)| (p.at, p.order))
            .map(|(i, _)| i)?;
        Some(self.packets.swap_remove(index))
    }

    /// Arrival time of the earliest packet `ready` accepts.
    pub fn next_arrival(&self, ready: impl Fn(Endpoint) -> bool) -> Option<Timestamp> {
        self.packets
            .iter()
            .filter(|p| ready(p.to))
            .map(|p| p.at)
            .min()
    }

    /// Forgets every packet to an endpoint that no longer exists.
    pub fn discard_to(&mut self, to: Endpoint) {
        self.packets.retain(|p| p.to != to);
    }

    /// Packets still on their way.
    pub fn in_flight(&self) -> usize {
        self.packets.len()
    }
}
