//! # lockstep-leptos: Lockstep collections as Leptos signals
//!
//! Every tab of a Leptos app sees the same persisted collections, kept in
//! SQLite on OPFS by one leader among the tabs (see `lockstep-browser`).
//! Rows are typed with serde; each row is its own signal, so a commit to
//! one row re-renders that row only. Writes show at once and resolve when
//! the leader committed them; a refused write rolls back and its error is
//! a signal the view can show.
//!
//! ```no_run
//! # #[cfg(target_arch = "wasm32")] {
//! use leptos::prelude::*;
//! use lockstep::{CollectionId, Key};
//! use lockstep_leptos::{provide_database, use_collection, use_status};
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct Todo { title: String, done: bool }
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     if let Err(error) = provide_database("todo-app", "user-42") {
//!         return view! { <p>{error.to_string()}</p> }.into_any();
//!     }
//!     let status = use_status();
//!     let todos = use_collection::<Todo>(CollectionId::new("todos").expect("a valid name"));
//!     let list = todos.clone();
//!     view! {
//!         <p>{move || format!("{} rows loaded", todos.progress.get().loaded)}</p>
//!         <p>{move || if status.get().is_leader { "this tab leads" } else { "another tab leads" }}</p>
//!         <For each=move || list.keys.get() key=|key| key.clone() let:key>
//!             {
//!                 let todo = list.row(&key);
//!                 view! { <li>{move || todo.get().map(|t| t.title)}</li> }
//!             }
//!         </For>
//!     }.into_any()
//! }
//! # }
//! ```
//!
//! ## Shipping the leader worker
//! Each tab starts a dedicated module worker that may become the leader.
//! It runs the app's own wasm (one build serves page and worker): the app
//! exports a `start` function for the page instead of using
//! `#[wasm_bindgen(start)]` (which would also run in the worker), and this
//! crate exports `lockstepLeaderWorker`. Put this `worker.js` next to
//! `index.html` (or pass its URL to [`DatabaseOptions::worker_url`]):
//!
//! ```js
//! import init, { lockstepLeaderWorker } from './pkg/my_app.js';
//! let started = false;
//! self.onmessage = async (event) => {
//!   if (started) return;
//!   started = true;
//!   try { await init(); lockstepLeaderWorker(event.data); }
//!   catch (error) { self.postMessage({ type: 'error', message: `the leader worker could not start: ${error}` }); }
//! };
//! ```
//!
//! and in `index.html`:
//! `<script type="module">import init, { start } from './pkg/my_app.js'; await init(); start();</script>`.
//!
//! Build steps (what `cargo xtask demo --leptos` runs for `examples/todo-leptos`):
//! 1. `cargo build --release --target wasm32-unknown-unknown -p my-app` (a
//!    `cdylib`; the SQLite C sources need `clang`);
//! 2. `wasm-bindgen --target web --out-dir pkg target/wasm32-unknown-unknown/release/my_app.wasm`,
//!    with the wasm-bindgen-cli version equal to the `wasm-bindgen` crate's;
//! 3. serve `index.html`, `worker.js` and `pkg/` from one origin (OPFS and
//!    Web Locks need a secure context: `https` or `localhost`/`127.0.0.1`).
//!

#![warn(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod collection;
#[cfg(target_arch = "wasm32")]
mod context;
#[cfg(target_arch = "wasm32")]
mod error;
mod row_text;
#[cfg(target_arch = "wasm32")]
mod status;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
pub use collection::{use_collection, Progress, UseCollection};
#[cfg(target_arch = "wasm32")]
pub use context::{
    provide_database, provide_database_with, use_database, DatabaseOptions, LockstepDb,
};
#[cfg(target_arch = "wasm32")]
pub use error::Error;
#[cfg(target_arch = "wasm32")]
pub use status::use_status;
#[cfg(target_arch = "wasm32")]
pub use worker::leader_worker;
