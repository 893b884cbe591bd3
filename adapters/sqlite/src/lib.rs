//! # Lockstep on SQLite
//!
//! [`SqliteStore`] implements [`lockstep::Store`] on one rusqlite connection:
//! one table per collection (key = the key's canonical JSON, value = the row's
//! JSON), the stream position and leader term, durable envelope dedup, a
//! bounded change log for `pull_since`, the upload outbox, and capture
//! triggers that record writes made by other code so the leader broadcasts
//! them like any other commit.
//!
//! Natively the file uses WAL with `synchronous = FULL` (configurable); on
//! wasm32 it runs on `sqlite-wasm-rs`.
//!
//! ```
//! use lockstep::{Coordinator, CoordinatorConfig, DatabaseId, TabId, Timestamp};
//! use lockstep_sqlite::{SqliteOptions, SqliteStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = DatabaseId::new("todo", "user-1").unwrap();
//! let store = SqliteStore::open(dir.path().join("todo.db"), &db, SqliteOptions::default()).unwrap();
//! let mut leader = Coordinator::start(store, db, TabId::from_u128(1), CoordinatorConfig::default(), Timestamp(0)).unwrap();
//! // Feed it messages with `handle_bytes`, drain `poll_transmit`...
//! while let Some(message) = leader.poll_transmit() {
//!     let _bytes = message.encode();
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
mod error;
pub mod indexes;
pub mod names;
mod query;
pub mod schema;
mod store;
mod stored_key;
pub mod views;

pub use error::to_store_error;
pub use store::{Checkpoint, Durability, SqliteOptions, SqliteStore, SqliteTx};
