//! The shapes of every value that crosses between JavaScript and Lockstep,
//! declared once with tsify: they become the package's generated `.d.ts`.
//!
//! They cross as JSON text (serde_json on this side, `JSON.parse` /
//! `JSON.stringify` on the other), which V8 does fast and which keeps one
//! definition of a valid row and key: the core's. Conversions from and to
//! the core's types live in [`crate::interop`].

use serde::{Deserialize, Serialize};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const SHARED_TYPES: &'static str = r#"
/** A row key: a string (at most 1 KiB) or an integer within ±(2^53 − 1). `1` and `"1"` are different keys. */
export type Key = string | number;
/** A row: a JSON object. */
export type Row = Record<string, unknown>;
"#;

/// How a tab opens a database.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OpenOptions {
    /// The app's name.
    pub app: String,
    /// The scope, usually the signed-in user's id; each scope is its own database.
    pub scope: String,
    /// Keep the database in memory only (tests, throwaway sessions).
    #[serde(default)]
    #[tsify(optional)]
    pub memory_only: bool,
}

/// What a page posts to its leader worker first.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInit {
    /// The app's name.
    pub app: String,
    /// The database's scope.
    pub scope: String,
    /// The page's tab id.
    pub tab_id: String,
    /// Keep the database in memory only.
    #[serde(default)]
    pub memory_only: bool,
}

/// Where a transaction was committed.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The leader's term.
    pub term: u64,
    /// The transaction's place in the database's stream.
    pub seq: u64,
}

/// A key and its row.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct KeyedRow {
    /// The key.
    #[tsify(type = "Key")]
    pub key: serde_json::Value,
    /// The row.
    #[tsify(type = "Row")]
    pub value: serde_json::Value,
}

/// A change of a row a tab shows: before and after (absent: no row).
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// The key.
    #[tsify(type = "Key")]
    pub key: serde_json::Value,
    /// The row before, if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional, type = "Row")]
    pub before: Option<serde_json::Value>,
    /// The row after, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional, type = "Row")]
    pub after: Option<serde_json::Value>,
}

/// One write of a batch: the shape of the core's ops.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpInput {
    /// Create a row; refused if the key exists.
    Insert {
        /// The collection.
        collection: String,
        /// The key.
        #[tsify(type = "Key")]
        key: serde_json::Value,
        /// The full row.
        #[tsify(type = "Row")]
        value: serde_json::Value,
    },
    /// Replace a row; refused if the key is missing.
    Update {
        /// The collection.
        collection: String,
        /// The key.
        #[tsify(type = "Key")]
        key: serde_json::Value,
        /// The full new row.
        #[tsify(type = "Row")]
        value: serde_json::Value,
    },
    /// Set some fields of a row, keep the others; refused if the key is missing.
    Patch {
        /// The collection.
        collection: String,
        /// The key.
        #[tsify(type = "Key")]
        key: serde_json::Value,
        /// The fields to set.
        #[tsify(type = "Row")]
        fields: serde_json::Value,
        /// The fields to remove.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[tsify(optional)]
        unset: Vec<String>,
    },
    /// Remove a row; refused if the key is missing.
    Delete {
        /// The collection.
        collection: String,
        /// The key.
        #[tsify(type = "Key")]
        key: serde_json::Value,
    },
}

/// A committed change of a stream-mode collection: the full row, or `null`
/// for a deleted row.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CommittedRow {
    /// The key.
    #[tsify(type = "Key")]
    pub key: serde_json::Value,
    /// The row after the transaction, or `null` if it was deleted (written
    /// as the text the row is held as).
    #[tsify(type = "Row | null")]
    pub value: Option<lockstep::SharedRow>,
}

/// What a stream-mode collection hands its sink, in order (serialised
/// only: it goes to JavaScript, never comes back).
#[derive(Tsify, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamUpdate {
    /// A page of rows as the database holds them: insert, or replace the row under its key.
    Rows {
        /// The rows' values, in key order, without their keys (a row's key
        /// is what the collection's `getKey` reads from it; leaving them out
        /// makes the page's JSON, and its `JSON.parse`, a quarter smaller).
        /// Each is written as the leader sent it: its stored JSON text goes
        /// into the page's JSON unparsed.
        #[tsify(type = "Row[]")]
        #[serde(serialize_with = "values_only")]
        values: Vec<lockstep::protocol::PageRow>,
        /// The id of the on-demand subset whose answer these rows are (the
        /// `id` its `loadSubset` resolves with); absent for a hydration page.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        subset: Option<String>,
    },
    /// What one committed transaction did to the collection.
    Commit {
        /// Its term.
        term: u64,
        /// Its seq.
        seq: u64,
        /// Its changes.
        changes: Vec<CommittedRow>,
    },
    /// A reload is complete: forget every row whose key is not listed.
    Retain {
        /// The keys that exist.
        #[tsify(type = "Key[]")]
        keys: Vec<serde_json::Value>,
    },
    /// The collection is current.
    Ready,
}

/// `rows` as a JSON array of their values.
fn values_only<S: serde::Serializer>(
    rows: &[lockstep::protocol::PageRow],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(rows.iter().map(lockstep::protocol::PageRow::value))
}

/// How the connection to the leader is.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// No leader answered yet.
    Connecting,
    /// The leader answers.
    Ok,
    /// The leader has been silent for 3 s (a frozen tab holding the lock); writes wait.
    LeaderUnresponsive,
    /// This tab closed the database.
    Closed,
}

/// Where the leader keeps the database.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// SQLite on the origin private file system: it survives the tabs.
    Opfs,
    /// Memory only: it lives as long as the leading tab.
    Memory,
}

/// Where a tab's database stands.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// This tab.
    pub tab_id: String,
    /// Whether this tab's worker leads the database.
    pub is_leader: bool,
    /// The leader's tab, once one answered.
    pub leader_tab_id: Option<String>,
    /// The leader's term.
    pub term: u64,
    /// The last transaction this tab applied.
    pub seq: Option<u64>,
    /// This tab's writes not yet confirmed.
    pub pending: u32,
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
    /// The last error this tab's leader worker reported (it retries).
    pub error: Option<String>,
    /// A warning of this tab's leader worker (the in-memory fallback).
    pub warning: Option<String>,
}

/// One collection as the live database holds it.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectionInfo {
    /// The collection.
    pub id: String,
    /// Its rows in the database.
    pub rows: u64,
    /// The SQL table holding them.
    pub table: Option<String>,
}

/// The leader's counters since it took leadership.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeaderCounters {
    /// Envelopes committed.
    pub committed: u64,
    /// Re-sent envelopes answered with their original position.
    pub duplicates: u64,
    /// Envelopes refused.
    pub rejected: u64,
    /// Transactions of writes made by other code, captured.
    pub external_txs: u64,
    /// Invalid rows written by other code, skipped.
    pub invalid_rows_skipped: u64,
    /// Messages dropped (malformed, foreign, stale).
    pub dropped: u64,
}

/// Messages a context dropped, by reason.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DroppedMessages {
    /// Not valid JSON or not a message of Lockstep's protocol.
    pub malformed: u64,
    /// Another protocol version (a tab of another build of the app).
    pub unknown_version: u64,
    /// Another database (app or scope) on the same channel.
    pub foreign: u64,
    /// Larger than the message size limit (`limits.max_message_bytes`).
    pub oversized: u64,
    /// Well-formed but breaking a limit (ops count, row size, key).
    pub invalid: u64,
    /// From a leader of an older term, or another tab claiming the current one.
    pub stale_term: u64,
    /// From a tab claiming leadership that has not yet confirmed it.
    pub unconfirmed_leader: u64,
}

/// This tab's own counters since it opened the database.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TabCounters {
    /// Messages this tab dropped, by reason.
    pub dropped: DroppedMessages,
    /// Commits it received again after applying them (harmless).
    pub duplicate_commits: u64,
    /// Times it asked the leader for commits it missed.
    pub pulls: u64,
    /// Times it reloaded a collection whole (it had fallen behind the change log).
    pub reloads: u64,
    /// Writes it sent again (a timeout, or a new leader).
    pub resends: u64,
    /// Times it followed a leader serving another incarnation of the database.
    pub epoch_changes: u64,
}

/// The leader's description of the database.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseReport {
    /// The leader's tab.
    pub leader_tab_id: String,
    /// Its term.
    pub term: u64,
    /// The last committed transaction.
    pub position: Position,
    /// The incarnation of the database (changes when an in-memory database is remade).
    pub epoch: String,
    /// Where the leader keeps it.
    pub storage: Storage,
    /// Store failures outside writes.
    pub store_errors: u64,
    /// The last of them.
    pub last_store_error: Option<String>,
    /// Rows other code wrote with an invalid key or value, which Lockstep
    /// ignores (counted each time one is skipped).
    pub invalid_rows: u64,
    /// Why the last of them is invalid, and how to write it instead.
    pub last_invalid_row: Option<String>,
    /// Every collection with tables.
    pub collections: Vec<CollectionInfo>,
    /// The leader's counters.
    pub counters: LeaderCounters,
}

/// One of this tab's writes not yet confirmed.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingWrite {
    /// Its envelope id (a UUID v7).
    pub envelope_id: String,
    /// The collections it writes.
    pub collections: Vec<String>,
    /// How many ops it holds.
    pub ops: u32,
    /// Whether it reached a leader.
    pub sent: bool,
}

/// The rows of a read-only query. Values are JSON: SQL `NULL` is `null`,
/// numbers are numbers, text is a string, a blob is `{"$blob": "<hex>"}`.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column.
    #[tsify(type = "unknown[][]")]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than the leader returns (10,000 rows or 4 MiB).
    pub truncated: bool,
}

/// Which rows of an on-demand collection to load: SQL over the
/// collection's view on the leader (`@lockstep/db` compiles TanStack DB's
/// `loadSubset` options to it).
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubsetInput {
    /// A condition over the view's columns, with plain `?` parameters.
    pub filter: String,
    /// Values of its `?`s.
    #[tsify(type = "unknown[]")]
    pub params: Vec<serde_json::Value>,
    /// Top-level fields the leader indexes before the load's first
    /// statement (none if left out).
    #[serde(default)]
    #[tsify(optional)]
    pub indexes: Vec<String>,
    /// A statement to try first (an ordered, limited request's prefix).
    #[tsify(optional)]
    pub top: Option<SubsetTopInput>,
}

/// The statement a [`SubsetInput`] tries first (an ordered, limited
/// request's prefix).
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubsetTopInput {
    /// The whole statement, returning `__lockstep_key` and `__lockstep_row`.
    pub sql: String,
    /// Values of its `?`s.
    #[tsify(type = "unknown[]")]
    pub params: Vec<serde_json::Value>,
}

/// A loaded subset: its id (for `unloadSubset`) and the rows it delivered.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SubsetLoaded {
    /// The subset's id.
    pub id: String,
    /// Rows delivered to the collection's sink.
    pub rows: usize,
}

/// Why an operation failed, as the `code` of the thrown `LockstepError`.
#[derive(Tsify, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// An insert of a key that exists.
    KeyExists,
    /// An update, patch or delete of a key that does not exist.
    KeyMissing,
    /// Invalid input: a key, a row, a name, a limit.
    Invalid,
    /// The browser's storage quota is full.
    StorageFull,
    /// The leader's store failed; nothing was committed.
    Storage,
    /// The database was closed in this tab.
    Closed,
    /// A query that would write.
    NotReadOnly,
    /// A query SQLite refused.
    Sql,
    /// A query stopped for running too long.
    QueryTooLong,
    /// A browser API Lockstep needs is missing.
    Unsupported,
}

/// The details a thrown `LockstepError` carries besides its message.
#[derive(Tsify, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ErrorInfo {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened and what to do.
    pub message: String,
    /// The collection concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub collection: Option<String>,
    /// The key concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional, type = "Key")]
    pub key: Option<lockstep::Key>,
}
