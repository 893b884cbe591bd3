//! The shared door for bytes from other contexts: decode, check, count drops.

use crate::ids::DatabaseId;
use crate::protocol::{decode, DecodeError, Limits, Message};

/// Counts of received messages that were not acted on (invariant 12: hostile or
/// foreign input is dropped and counted, never a panic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// Not valid JSON or not a message of this protocol.
    pub malformed: u64,
    /// Another protocol version.
    pub unknown_version: u64,
    /// Another database (app or scope).
    pub foreign: u64,
    /// Larger than the message size limit.
    pub oversized: u64,
    /// Well-formed but breaking a limit (ops count, row size, key).
    pub invalid: u64,
    /// A leader message from another tab than the followed leader, in an
    /// older or the same term.
    pub stale_term: u64,
    /// A leader message from a tab not (yet) confirmed as leader: it claims a
    /// newer term, or the followed leader is silent; the tab was asked with a
    /// directed `Join` and is followed only once it answers.
    pub unconfirmed_leader: u64,
}

impl DropCounts {
    /// Total dropped messages.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.unknown_version
            + self.foreign
            + self.oversized
            + self.invalid
            + self.stale_term
            + self.unconfirmed_leader
    }
}

/// Decodes `bytes`, counting and returning the error when they are refused.
pub(crate) fn intake(
    bytes: &[u8],
    db: &DatabaseId,
    limits: &Limits,
    drops: &mut DropCounts,
) -> Result<Message, DecodeError> {
    decode(bytes, db, limits).inspect_err(|e| {
        let counter = match e {
            DecodeError::TooLarge { .. } => &mut drops.oversized,
            DecodeError::UnknownVersion(_) => &mut drops.unknown_version,
            DecodeError::Malformed(_) => &mut drops.malformed,
            DecodeError::ForeignDatabase(_) => &mut drops.foreign,
            DecodeError::Invalid(_) => &mut drops.invalid,
        };
        *counter += 1;
    })
}
