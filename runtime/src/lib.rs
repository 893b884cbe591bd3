//! # Lockstep core
//!
//! Persisted, keyed, reactive collections kept in lockstep across every tab,
//! window and worker of an app. This crate is the sans-IO core: it never
//! touches a clock, a thread, a socket, a file or a browser API.
//!
//! ```text
//!  tab: PersistedCollectionRuntime ──Envelope──▶ leader: Coordinator ──▶ Store (one tx)
//!       ▲  optimistic rows, events               assigns (term, seq), dedups
//!       └────────────── TxCommitted (full rows) ◀─┘ broadcast to every tab, its own included
//! ```
//!
//! Drivers (the in-process hub, the browser worker, the simulator) feed the
//! state machines bytes and the current time, and drain `poll_transmit`,
//! `poll_event` and `poll_timeout`.
//!
//! ```
//! use lockstep::*;
//! let db = DatabaseId::new("todo", "user-1").unwrap();
//! let todos = CollectionId::new("todos").unwrap();
//! let now = Timestamp(0);
//! let mut leader = Coordinator::start(MemoryStore::new(), db.clone(), TabId::from_u128(1), CoordinatorConfig::default(), now).unwrap();
//! let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), now);
//! tab.open_collection(now, todos.clone());
//!
//! // A tiny driver: shuttle messages both ways until both are quiet.
//! fn pump(leader: &mut Coordinator<MemoryStore>, tab: &mut PersistedCollectionRuntime, now: Timestamp) {
//!     loop {
//!         let mut quiet = true;
//!         while let Some(m) = tab.poll_transmit() { leader.handle_bytes(now, &m.encode()); quiet = false; }
//!         while let Some(m) = leader.poll_transmit() { tab.handle_bytes(now, &m.encode()); quiet = false; }
//!         if quiet { break }
//!     }
//! }
//! pump(&mut leader, &mut tab, now);
//! assert!(tab.is_ready(&todos));
//!
//! let row = serde_json::json!({"title": "write docs"}).as_object().unwrap().clone();
//! tab.insert(now, todos.clone(), Key::from("a"), row).unwrap();
//! pump(&mut leader, &mut tab, now);
//! assert_eq!(tab.status().applied, Some(Seq(1)));
//! assert_eq!(tab.get(&todos, &Key::from("a")).unwrap()["title"], "write docs");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bugs;
mod config;
mod coordinator;
mod dedup;
mod error;
mod hashing;
mod held;
mod ids;
mod intake;
mod key;
mod memory_store;
mod op_de;
pub mod protocol;
mod query;
mod read_ahead;
mod rng;
mod row;
mod row_check;
mod store;
mod subset;
mod tab;

pub use bugs::BugSwitches;
pub use config::ConfigError;
pub use coordinator::{Coordinator, CoordinatorConfig, CoordinatorStats, Deposed, UploadBatch};
pub use dedup::{DEFAULT_DEDUP_WINDOW_MS, MIN_DEDUP_WINDOW_MS, PRUNE_SLACK_MS};
pub use error::{InvalidInput, InvalidName, MutationError, StartError};
pub use held::{HeldRow, JsonKind};
pub use ids::{
    CollectionId, DatabaseEpoch, DatabaseId, EnvelopeId, Seq, StreamPosition, TabId, Term,
    Timestamp, MAX_NAME_BYTES,
};
pub use intake::DropCounts;
pub use key::{InvalidKey, Key, KeyText, MAX_KEY_BYTES, MAX_SAFE_INTEGER};
pub use memory_store::{MemoryStore, MemoryTx};
pub use protocol::{Envelope, Rejection, TxCommitted};
pub use query::{
    CollectionReport, DatabaseReport, LeaderCounters, QueryError, QueryLimits, QueryRows,
};
pub use row::{changes_of, Change, ChangeEvent, Op, Row, SharedRow};
pub use store::{Drained, LogPage, OutboxEntry, RowPage, Store, StoreError, StoreMeta, StoreTx};
pub use subset::{Subset, SubsetError, SubsetId, SubsetTop, KEY_COLUMN, ROW_COLUMN};
pub use tab::{
    CollectionMode, Event, InspectId, PendingWrite, PersistedCollectionRuntime, ReadId,
    RuntimeConfig, RuntimeStats, RuntimeStatus, Snapshot, SubscriptionId, SyncBatch,
};
