//! # lockstep-hub: the in-process driver
//!
//! Runs Lockstep tabs on threads inside one process — for native multi-window
//! apps and for tests. It is a thin driver around the sans-IO core:
//!
//! ```text
//!  TabHandle ──commands──▶ tab thread: PersistedCollectionRuntime (+ Coordinator while leading)
//!                             ▲  bytes   │ bytes
//!                             └── Hub: broadcast channel (BroadcastChannel semantics) + leadership queue
//! ```
//!
//! - **Broadcast**: every message is encoded to bytes and delivered to every
//!   other endpoint, never back to its sender — like a BroadcastChannel. A tab
//!   thread hosts two endpoints, its runtime and (while leading) its
//!   coordinator, so the leader's own tab receives commits by the same path as
//!   every other tab (invariant 3).
//! - **Leadership**: a FIFO lock like a Web Lock. The holder opens the store and
//!   starts a [`Coordinator`](lockstep::Coordinator); if that fails the lock is
//!   released at once and the tab queues again. When the holder closes or
//!   crashes the next tab in line takes over.
//!
//! ```
//! use lockstep::{CollectionId, DatabaseId, Key, MemoryStore};
//! use lockstep_hub::{Hub, HubConfig};
//! use std::time::Duration;
//!
//! let db = DatabaseId::new("todo", "user-1").unwrap();
//! let store = MemoryStore::new();
//! let hub = Hub::new(db, HubConfig::default(), move || Ok(store.clone())).unwrap();
//! let todos = CollectionId::new("todos").unwrap();
//! let (a, b) = (hub.open_tab(), hub.open_tab());
//! a.open_collection(&todos);
//! b.open_collection(&todos);
//! a.wait_ready(&todos, Duration::from_secs(5)).unwrap();
//! b.wait_ready(&todos, Duration::from_secs(5)).unwrap();
//!
//! let row = serde_json::json!({"title": "hello"}).as_object().unwrap().clone();
//! a.insert(&todos, Key::from("t1"), row).unwrap().wait(Duration::from_secs(5)).unwrap();
//! b.wait_until(Duration::from_secs(5), |tab| tab.get(&todos, &Key::from("t1")).is_some()).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod hub;
mod tab;
mod thread;

pub use hub::{Hub, HubConfig, StoreFactory, Uploader};
pub use tab::{Receipt, TabHandle, TabStatus, WaitError};
