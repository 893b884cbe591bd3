//! The todo example in Leptos: every tab of this app and of the React
//! example (same `app` and `scope`) shows the same todos.
//!
//! `index.html` calls [`start`] after loading the wasm; `worker.js` loads
//! the same wasm and calls `lockstepLeaderWorker` (see `lockstep-leptos`).

pub mod todo;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod devtools;
#[cfg(target_arch = "wasm32")]
mod status;

/// Mounts the app on the page's body.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
