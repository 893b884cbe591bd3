//! The dedup window: how long exactly-once holds, from the time an envelope
//! was made (the UUID v7 of its id carries it).
//!
//! The leader remembers the id of every committed envelope so that a re-send
//! (a lost reply, a failover, a tab that reloaded past the change log) is
//! answered with its original position. Those records cannot be kept for
//! ever, so the rule is: an envelope made within the window is always judged
//! against every record of that window; an envelope made before it, and not
//! found, is refused with [`Rejection::Expired`] rather than applied, since
//! whether it was already committed can no longer be told.
//!
//! Records are forgotten only once they are older than the window plus
//! [`PRUNE_SLACK_MS`], measured on the leader's clock, so a leader whose clock
//! runs up to that much behind the last one's still finds every record it may
//! be asked about. Ids are compared as bytes: a UUID v7 starts with its time
//! in milliseconds, big-endian, so "made before `t`" is "sorts before the
//! smallest id of `t`".

use crate::ids::{EnvelopeId, Timestamp};
use crate::protocol::Rejection;

/// Default window: a week. A tab whose envelope waited longer (a laptop
/// asleep for a week with unsent writes) gets [`Rejection::Expired`].
pub const DEFAULT_DEDUP_WINDOW_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Shortest window accepted: a minute, well above the time an envelope waits
/// during an ordinary failover, so re-sends are never refused as expired.
pub const MIN_DEDUP_WINDOW_MS: u64 = 60 * 1000;

/// Records outlive the window by this much (an hour) before they are forgotten.
pub const PRUNE_SLACK_MS: u64 = 60 * 60 * 1000;

/// Old records are forgotten at most this often (in the commit that is due).
const PRUNE_EVERY_MS: u64 = 60 * 1000;

/// Checks an envelope not found among the dedup records: refused when its id
/// is not a UUID v7 (its time is unknown) or was made before the window.
pub(crate) fn check_age(id: EnvelopeId, now: Timestamp, window_ms: u64) -> Result<(), Rejection> {
    let Some(made) = id.made_at_ms() else {
        return Err(Rejection::Invalid {
            detail: format!(
                "envelope id {id} is not a UUID v7; ids must carry the time they were made"
            ),
        });
    };
    let age_ms = now.0.saturating_sub(made);
    if age_ms > window_ms {
        return Err(Rejection::Expired { age_ms, window_ms });
    }
    Ok(())
}

/// When the leader next forgets old dedup records.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pruning {
    next: Timestamp,
}

impl Pruning {
    /// Pruning that is due at once.
    pub fn new(now: Timestamp) -> Pruning {
        Pruning { next: now }
    }

    /// The time before which records may be forgotten, when a prune is due.
    pub fn due(&self, now: Timestamp, window_ms: u64) -> Option<u64> {
        (now >= self.next).then(|| {
            now.0
                .saturating_sub(window_ms)
                .saturating_sub(PRUNE_SLACK_MS)
        })
    }

    /// Records that a prune was committed at `now`.
    pub fn done(&mut self, now: Timestamp) {
        self.next = now.plus_millis(PRUNE_EVERY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_measured_from_the_time_in_the_id() {
        let made = 1_700_000_000_000;
        let id = EnvelopeId::new_v7(made, [1; 10]);
        assert_eq!(check_age(id, Timestamp(made + 60_000), 60_000), Ok(()));
        assert_eq!(
            check_age(id, Timestamp(made + 60_001), 60_000),
            Err(Rejection::Expired {
                age_ms: 60_001,
                window_ms: 60_000
            })
        );
        // Made "in the future" (another tab's clock ahead): within the window.
        assert_eq!(check_age(id, Timestamp(made - 5_000), 60_000), Ok(()));
        let v4 = EnvelopeId(uuid::Builder::from_random_bytes([7; 16]).into_uuid());
        assert!(matches!(
            check_age(v4, Timestamp(made), 60_000),
            Err(Rejection::Invalid { .. })
        ));
    }

    #[test]
    fn pruning_is_due_once_a_minute_and_keeps_the_window_plus_slack() {
        let mut pruning = Pruning::new(Timestamp(0));
        let now = Timestamp(10 * PRUNE_SLACK_MS);
        assert_eq!(
            pruning.due(now, 1_000),
            Some(10 * PRUNE_SLACK_MS - 1_000 - PRUNE_SLACK_MS)
        );
        pruning.done(now);
        assert_eq!(pruning.due(now.plus_millis(1), 1_000), None);
        assert!(pruning
            .due(now.plus_millis(PRUNE_EVERY_MS), 1_000)
            .is_some());
        assert_eq!(Pruning::new(Timestamp(5)).due(Timestamp(5), 1_000), Some(0));
    }
}
