//! Reads of the live database that any tab can ask the leader for: a
//! read-only SQL query ([`QueryRows`], [`QueryError`]) and a description of
//! the database ([`DatabaseReport`]) for inspectors and debug pages.

use serde::{Deserialize, Serialize};

use crate::ids::{CollectionId, StreamPosition, TabId, Term};
use crate::protocol::LeaderInfo;

/// Bounds on one query, so that a query from any tab cannot stall the
/// leader or flood the channel.
///
/// ```
/// let limits = lockstep::QueryLimits::default();
/// assert_eq!(limits.max_rows, 10_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Most rows returned; more set [`QueryRows::truncated`].
    pub max_rows: usize,
    /// Most bytes of JSON returned; more set [`QueryRows::truncated`].
    pub max_bytes: usize,
    /// Most SQLite virtual-machine steps before the query is stopped (a
    /// count, not a clock, so the bound is the same on every machine).
    pub max_steps: u64,
    /// Longest SQL text accepted, in bytes.
    pub max_sql_bytes: usize,
    /// Most parameters accepted.
    pub max_params: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_rows: 10_000,
            max_bytes: 4 << 20,
            max_steps: 200_000_000,
            max_sql_bytes: 64 << 10,
            max_params: 999,
        }
    }
}

/// The rows a query returned.
///
/// Values are JSON: SQL `NULL` is `null`, integers and reals are numbers,
/// text is a string, and a blob is `{"$blob": "<hex>"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than [`QueryLimits`] allow; only the first are here.
    pub truncated: bool,
}

/// Why a query returned no rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case", deny_unknown_fields)]
pub enum QueryError {
    /// The statement would change the database or the connection.
    #[error(
        "only read-only statements run here ({detail}); write through the collections instead"
    )]
    NotReadOnly {
        /// What it would have done.
        detail: String,
    },
    /// SQLite refused the statement (syntax, unknown table or column, ...).
    #[error("SQL error: {detail}")]
    Sql {
        /// SQLite's message.
        detail: String,
    },
    /// The query ran longer than [`QueryLimits::max_steps`].
    #[error(
        "the query was stopped after {steps} SQLite steps; narrow it (a WHERE clause, a LIMIT)"
    )]
    TooLong {
        /// The limit that was reached.
        steps: u64,
    },
    /// The SQL text or its parameters break a limit.
    #[error("the query is too large: {detail}")]
    TooLarge {
        /// Which limit.
        detail: String,
    },
    /// The store cannot run SQL (the in-memory store of tests).
    #[error("this database's store cannot run SQL")]
    Unsupported,
    /// The store failed.
    #[error("storage error while querying: {detail}")]
    Storage {
        /// The store's message.
        detail: String,
    },
}

/// One collection as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionReport {
    /// The collection.
    pub collection: CollectionId,
    /// Its rows in the database (valid or not).
    pub rows: u64,
    /// The SQL table holding them, if the store has tables.
    pub table: Option<String>,
}

/// Counters of the leader, for inspectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderCounters {
    /// Envelopes committed by this leader.
    pub committed: u64,
    /// Re-sent envelopes answered with their original position.
    pub duplicates: u64,
    /// Envelopes refused.
    pub rejected: u64,
    /// Transactions made of writes captured from other code.
    pub external_txs: u64,
    /// Rows with an invalid key or value written by other code, skipped.
    pub invalid_rows_skipped: u64,
    /// Messages dropped (malformed, foreign, oversized, stale).
    pub dropped: u64,
}

/// The leader's description of the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseReport {
    /// The leader's tab.
    pub leader: TabId,
    /// Its term.
    pub term: Term,
    /// The last committed transaction.
    pub position: StreamPosition,
    /// Its database epoch, storage and store errors.
    pub info: LeaderInfo,
    /// Every collection with tables, in registration order.
    pub collections: Vec<CollectionReport>,
    /// The leader's counters since it took leadership.
    pub counters: LeaderCounters,
}
