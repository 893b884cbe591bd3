//! Builds the example apps the demo serves and the browser tests open:
//! `examples/todo-react` (Vite + React + TanStack DB) installs `@lockstep/db`
//! from the packed tarball, like a user would, and builds with Vite; and the
//! page of `cargo xtask bench --browser` (`examples/bench`); and
//! `examples/todo-leptos`, built to wasm with cargo and wasm-bindgen.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::browser::{target_dir, workspace_root};
use crate::{run, run_command, setup};

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
    run(
        "cargo",
        &[
            "build",
            "-p",
            "todo-leptos",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
        ],
    )?;
    let wasm = target_dir()?.join("wasm32-unknown-unknown/release/todo_leptos.wasm");
    let dir = leptos_dir();
    let out = dir.join("pkg");
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    run_command(
        Command::new(setup::wasm_bindgen_cli())
            .args(["--target", "web", "--out-dir"])
            .arg(&out)
            .arg(&wasm),
    )?;
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
    run(
        "cargo",
        &[
            "build",
            "-p",
            "lockstep-wasm",
            "--features",
            "bench",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
        ],
    )?;
    let wasm = target_dir()?.join("wasm32-unknown-unknown/release/lockstep_wasm.wasm");
    let out = dir.join("raw-wasm");
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    run_command(
        Command::new(setup::wasm_bindgen_cli())
            .args(["--target", "web", "--out-name", "lockstep", "--out-dir"])
            .arg(&out)
            .arg(&wasm),
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
