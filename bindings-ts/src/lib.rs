//! # lockstep-wasm: Lockstep for JavaScript
//!
//! Every `#[wasm_bindgen]` export of Lockstep lives in this crate, and all
//! conversion between JavaScript and Rust values lives in [`interop`]:
//!
//! ```text
//!  @lockstep/db (TypeScript: openDatabase, lockstepCollectionOptions)
//!      └─ RawDatabase, runLeaderWorker   (this crate, types from tsify)
//!           └─ lockstep_browser::Database, run_leader_worker  (Rust-typed driver)
//! ```
//!
//! `cargo xtask` builds it for wasm32, runs the pinned `wasm-bindgen` CLI
//! (`--target web`) into `bindings-ts/npm/wasm/`, compiles the TypeScript
//! layer and packs `@lockstep/db`.

#![warn(missing_docs)]

pub mod interop;
pub mod types;

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
mod bench;
#[cfg(target_arch = "wasm32")]
mod database;
#[cfg(target_arch = "wasm32")]
mod panic;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
pub use database::RawDatabase;
#[cfg(target_arch = "wasm32")]
pub use worker::run_leader_worker;
