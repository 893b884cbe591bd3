//! # lockstep-browser: Lockstep in real browsers, with a Rust-typed API
//!
//! ```text
//!  page (main thread): Database ─ PersistedCollectionRuntime ─┐   BroadcastChannel "lockstep:<app>:<scope>"
//!                                          its worker's port ─┤   (every other tab)
//!  the tab's dedicated worker: run_leader_worker ─ waits for ─┘
//!     the Web Lock "lockstep:<app>:<scope>:leader", then owns SQLite on OPFS and runs the Coordinator
//! ```
//!
//! Every tab starts a dedicated module worker that queues for the database's
//! Web Lock. The worker holding it opens SQLite on OPFS (the `sahpool` VFS,
//! one pool directory per database), persists the new term and serves. A
//! tab and its own worker exchange messages through the worker's port
//! ([`route`]), every other tab over the BroadcastChannel; either way they
//! are the same encoded messages handled by the same code, so the leader's
//! own tab receives commits exactly like every other tab. When the
//! leader's tab closes or crashes, its worker dies with it, the lock is
//! released, and the next queued worker takes over without a reload.
//!
//! This crate is the driver only: its API speaks Rust (rows, keys, futures,
//! [`ChangeEvent`](lockstep::ChangeEvent)s) and it exports nothing to
//! JavaScript. The TypeScript package (`bindings-ts`) and the Leptos
//! bindings build on [`Database`] and [`run_leader_worker`].
//!
//! ```no_run
//! # // Browser-only: compiled for wasm32 (the native doctest checks nothing else).
//! # #[cfg(target_arch = "wasm32")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lockstep::{CollectionId, Key, RuntimeConfig};
//! use lockstep_browser::{Database, LeaderWorker, OpenOptions};
//! let db = Database::open(OpenOptions {
//!     app: "todo-app".into(),
//!     scope: "user-42".into(),
//!     worker: LeaderWorker::Url("./worker.js".into()),
//!     memory_only: false,
//!     config: RuntimeConfig::default(),
//! })?;
//! let todos = CollectionId::new("todos")?;
//! db.open_collection(&todos);
//! db.ready(&todos).await?;
//! let row = serde_json::json!({"title": "write docs"}).as_object().unwrap().clone();
//! let position = db.insert(&todos, Key::from("t1"), row).await?;   // durable in SQLite
//! println!("committed at {position}; {} rows", db.rows(&todos).len());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod names;

#[cfg(target_arch = "wasm32")]
mod bench;
#[cfg(target_arch = "wasm32")]
mod database;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod leader;
#[cfg(target_arch = "wasm32")]
pub mod oneshot;
#[cfg(target_arch = "wasm32")]
pub mod opfs;
pub mod route;
#[cfg(target_arch = "wasm32")]
mod status;
#[cfg(target_arch = "wasm32")]
mod wal_batch;

#[cfg(target_arch = "wasm32")]
pub use bench::{raw_sqlite_bench, RawBench, RawSqlite};
#[cfg(target_arch = "wasm32")]
pub use database::{
    Database, LeaderWorker, ListenerId, OpenOptions, StreamUpdate, SubsetLoad, WriteOutcome,
    UNRESPONSIVE_AFTER_MS,
};
#[cfg(target_arch = "wasm32")]
pub use error::{Closed, OpenError, ReadError, WriteError};
#[cfg(target_arch = "wasm32")]
pub use leader::{run_leader_worker, WorkerInit};
#[cfg(target_arch = "wasm32")]
pub use status::{Health, Status};
