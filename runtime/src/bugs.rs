//! Deliberate re-introductions of known bugs, so the simulator can prove it
//! catches each of them (seed 002, a missing dedup, issue 8's forged terms
//! and in-memory epochs). They take effect only
//! with the `bug-switches` cargo feature, which no app should enable; without
//! it every switch reads as off.

/// Which known bugs a coordinator or a tab re-introduces. All off by default.
///
/// ```
/// assert_eq!(lockstep::BugSwitches::default(), lockstep::BugSwitches::NONE);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSwitches {
    /// Seed 002: a new leader starts its stream at seq 0 instead of the
    /// persisted position, and assigns seqs from that in-memory counter.
    pub no_position_restore: bool,
    /// Seed 002: the leader tab's own envelopes bypass the coordinator's seq
    /// counter, so follower envelopes are numbered from a stale counter.
    pub leader_writes_around_coordinator: bool,
    /// Re-sent envelopes are applied again instead of being answered with
    /// their original position.
    pub no_durable_dedup: bool,
    /// Issue 8, defect 1: a tab follows any sender of a leader message that
    /// claims a newer term, without asking it first.
    pub tabs_trust_claimed_terms: bool,
    /// Issue 8, defect 2: a tab that follows a leader of another database
    /// epoch keeps its position and rows instead of reloading.
    pub tabs_ignore_epochs: bool,
}

impl BugSwitches {
    /// Every switch off.
    pub const NONE: BugSwitches = BugSwitches {
        no_position_restore: false,
        leader_writes_around_coordinator: false,
        no_durable_dedup: false,
        tabs_trust_claimed_terms: false,
        tabs_ignore_epochs: false,
    };
}
