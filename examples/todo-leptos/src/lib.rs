//! The todo example in Leptos: every tab of this app and of the React
//! example (same `app` and `scope`) shows the same todos.
//!
//! `index.html` calls [`start`] after loading the wasm; `worker.js` loads
//! the same wasm and calls `lockstepLeaderWorker` (see `lockstep-leptos`).

pub mod todo;

// Like `@lockstep/db`: Rust's default wasm32 allocator (dlmalloc) was a
// quarter of a 100,000-row hydration's time in the page (README, Performance).
// SAFETY: `TalckWasm` is talc's allocator for single-threaded wasm32, made
// for this one use (a `#[global_allocator]` of a module without threads).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod devtools;
#[cfg(target_arch = "wasm32")]
pub mod readme;
#[cfg(target_arch = "wasm32")]
mod status;

/// The README's Leptos snippet is `src/readme.rs`, word for word.
#[cfg(test)]
mod readme_is_compiled {
    #[test]
    fn the_readme_shows_the_compiled_snippet() {
        let readme = include_str!("../../../README.md");
        let source = include_str!("readme.rs");
        let code = source
            .split_once("// README snippet:\n")
            .expect("src/readme.rs has its marker line")
            .1;
        let section = readme
            .split_once("## Using it from Leptos")
            .expect("the README has a Leptos section")
            .1;
        let block = section
            .split_once("```rust,ignore\n")
            .and_then(|(_, rest)| rest.split_once("```\n"))
            .expect("the Leptos section opens with a rust block")
            .0;
        assert_eq!(
            block, code,
            "copy src/readme.rs (below its marker) into the README's Leptos section"
        );
    }
}

/// Mounts the app on the page's body.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
