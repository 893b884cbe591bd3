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

// Rust's default allocator on wasm32 (dlmalloc) was a quarter of a 100,000-row
// hydration's time in the page (276 of 953 ms busy, by the profiler). With
// talc, same hour, 3 runs each: 100,000 rows ready 7 % sooner on the raw
// path and 10 % through TanStack, 5 % less wasm memory per row; one 10,000-row
// insert unchanged.
// SAFETY: `TalckWasm` is talc's allocator for single-threaded wasm32, made
// for this one use (a `#[global_allocator]` of a module without threads).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

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
