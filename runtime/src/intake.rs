//! The shared door for bytes from other contexts: decode, check, count drops.

use crate::ids::{DatabaseId, TabId};
use crate::protocol::{decode, recipient, DecodeError, Limits, Message, SKIM_FROM_BYTES};

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

/// Decodes `bytes` for the context `me`, counting and returning the error
/// when they are refused. A large message addressed to another context is
/// skimmed and left undecoded (`Ok(None)`): it is not ours, not an error.
pub(crate) fn intake(
    bytes: &[u8],
    db: &DatabaseId,
    limits: &Limits,
    drops: &mut DropCounts,
    me: TabId,
) -> Result<Option<Message>, DecodeError> {
    if bytes.len() >= SKIM_FROM_BYTES && bytes.len() <= limits.max_message_bytes {
        if let Some(Some(to)) = recipient(bytes) {
            if to != me {
                return Ok(None);
            }
        }
    }
    decode(bytes, db, limits).map(Some).inspect_err(|e| {
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
