//! Builds the example apps the demo serves and the browser tests open:
//! `examples/todo-react` (Vite + React + TanStack DB) installs `@lockstep/db`
//! from the packed tarball, like a user would, and builds with Vite; and the
//! page of `cargo xtask bench --browser` (`examples/bench`); and
//! `examples/todo-leptos`, built to wasm with cargo and wasm-bindgen.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::browser::workspace_root;
use crate::{run_command, setup};

/// `examples/todo-react/`.
pub fn react_dir() -> PathBuf {
    workspace_root().join("examples").join("todo-react")
}

/// Installs the React example's packages, then the freshly packed
/// `@lockstep/db` (`npm install --no-save <tarball>`: the lockfile keeps
/// no integrity for the tarball, whose content changes with every build),
/// then type-checks and builds it into `examples/todo-react/dist/`.
pub fn build_react(tarball: &Path) -> Result<PathBuf, String> {
    build_vite_app(&react_dir(), tarball)
}

/// `examples/todo-leptos/` (served as it is, with its built `pkg/`).
pub fn leptos_dir() -> PathBuf {
    workspace_root().join("examples").join("todo-leptos")
}

/// Builds the Leptos example: one release wasm for the page and its leader
/// worker, then `wasm-bindgen --target web` into `examples/todo-leptos/pkg/`
/// (the steps the `lockstep-leptos` docs give an app). Returns its directory.
pub fn build_leptos() -> Result<PathBuf, String> {
    let started = std::time::Instant::now();
    let dir = leptos_dir();
    let out = dir.join("pkg");
    crate::wasm::build_and_bind("todo-leptos", &[], &out, None)?;
    eprintln!(
        "the Leptos example built into {} in {:.0?}",
        out.display(),
        started.elapsed()
    );
    Ok(dir)
}

/// `examples/bench/`.
pub fn bench_dir() -> PathBuf {
    workspace_root().join("examples").join("bench")
}

/// Builds the bench page: the raw-SQLite floor (the bindings built with the
/// `bench` feature, into `examples/bench/raw-wasm/`), then the page itself
/// with `@lockstep/db` from the tarball, into `examples/bench/dist/`
/// (served at `/bench/`). Build the package before: this build replaces the
/// release wasm of `lockstep-wasm` in the target dir with the bench variant.
pub fn build_bench(tarball: &Path) -> Result<PathBuf, String> {
    let dir = bench_dir();
    crate::wasm::build_and_bind(
        "lockstep-wasm",
        &["bench"],
        &dir.join("raw-wasm"),
        Some("lockstep"),
    )?;
    build_vite_app(&dir, tarball)
}

/// Installs a Vite app's packages, then the freshly packed `@lockstep/db`,
/// then runs its `build` script; returns its `dist/`.
fn build_vite_app(dir: &Path, tarball: &Path) -> Result<PathBuf, String> {
    setup::ensure_npm_packages(dir)?;
    run_command(
        Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund"])
            .arg(tarball)
            .current_dir(dir),
    )?;
    run_command(Command::new("npm").args(["run", "build"]).current_dir(dir))?;
    Ok(dir.join("dist"))
}
