//! What a tab shows about its database: leader, position, health, storage.

use lockstep::protocol::Storage;
use lockstep::{Seq, TabId, Term};

/// How the connection to the leader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// No leader has answered yet.
    Connecting,
    /// The leader answers.
    Ok,
    /// The leader has been silent for [`UNRESPONSIVE_AFTER_MS`](crate::UNRESPONSIVE_AFTER_MS)
    /// (a frozen or discarded tab still holding the lock). Writes stay
    /// pending and commit when it answers or the browser moves the lock on.
    LeaderUnresponsive,
    /// This tab closed the database.
    Closed,
}

impl Health {
    /// The name the status shows (`ok`, `connecting`, `leader-unresponsive`, `closed`).
    ///
    /// ```
    /// assert_eq!(lockstep_browser::Health::LeaderUnresponsive.as_str(), "leader-unresponsive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Connecting => "connecting",
            Health::Ok => "ok",
            Health::LeaderUnresponsive => "leader-unresponsive",
            Health::Closed => "closed",
        }
    }
}

/// Where this tab's database stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This tab.
    pub tab_id: TabId,
    /// Whether this tab's worker leads the database.
    pub is_leader: bool,
    /// The leader's tab, once one answered.
    pub leader: Option<TabId>,
    /// The leader's term.
    pub term: Term,
    /// The last transaction this tab applied.
    pub seq: Option<Seq>,
    /// This tab's writes not yet confirmed.
    pub pending: usize,
    /// The connection to the leader.
    pub health: Health,
    /// Where the leader keeps the database, once one answered.
    pub storage: Option<Storage>,
    /// Store failures the leader met outside writes (serving pages, pulls).
    pub store_errors: u64,
    /// The last of them.
    pub last_store_error: Option<String>,
    /// Rows other code wrote with an invalid key or value, which Lockstep
    /// ignores (counted each time one is skipped).
    pub invalid_rows: u64,
    /// Why the last of them is invalid, and how to write it instead.
    pub last_invalid_row: Option<String>,
    /// What this tab's leader worker last reported as an error (it retries).
    pub error: Option<String>,
    /// A warning of this tab's leader worker (the in-memory fallback).
    pub warning: Option<String>,
}
