//! # lockstep-browser: Lockstep in real browsers
//!
//! ```text
//!  page (main thread): BrowserTab ─ PersistedCollectionRuntime ─┐
//!                                                              BroadcastChannel "lockstep:<app>:<scope>"
//!  the tab's dedicated worker: runLeaderWorker ─ waits for the ┘
//!     Web Lock "lockstep:<app>:<scope>:leader", then owns SQLite on OPFS and runs the Coordinator
//! ```
//!
//! Every tab starts a dedicated module worker that queues for the database's
//! Web Lock. The worker holding it opens SQLite on OPFS (the `sahpool` VFS,
//! one pool directory per database), persists the new term and serves. The
//! page and the worker are two different BroadcastChannel objects, so the
//! leader's own tab receives commits exactly like every other tab. When the
//! leader's tab closes or crashes, its worker dies with it, the lock is
//! released, and the next queued worker takes over without a reload.
//!
//! Names of locks, channels and OPFS directories come from [`names`]; all
//! JavaScript interop lives in `js.rs` (glue) and `convert.rs` (values).

#![warn(missing_docs)]

pub mod names;

#[cfg(target_arch = "wasm32")]
mod bench;
#[cfg(target_arch = "wasm32")]
mod convert;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod leader;
#[cfg(target_arch = "wasm32")]
pub mod opfs;
#[cfg(target_arch = "wasm32")]
mod tab;

#[cfg(target_arch = "wasm32")]
pub use bench::raw_sqlite_bench;
#[cfg(target_arch = "wasm32")]
pub use leader::run_leader_worker;
#[cfg(target_arch = "wasm32")]
pub use tab::BrowserTab;
