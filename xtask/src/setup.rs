//! Installs the tools the suites need when they are missing, and says how when it cannot.

use crate::{output, run};

/// Adds the wasm32-unknown-unknown target through rustup when it is missing.
pub fn ensure_wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"])?;
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run("rustup", &["target", "add", "wasm32-unknown-unknown"])
}

/// Installs clang from Debian when missing: sqlite-wasm-rs compiles SQLite's C
/// for wasm32 with it (gcc cannot).
pub fn ensure_clang() -> Result<(), String> {
    if output("clang", &["--version"]).is_ok() {
        return Ok(());
    }
    if !is_root() {
        return Err(
            "clang is missing; install it (Debian: `sudo apt-get install -y clang`) and run again"
                .into(),
        );
    }
    run("apt-get", &["update", "-qq"])?;
    run("apt-get", &["install", "-y", "-qq", "clang"])
}

fn is_root() -> bool {
    output("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0")
}

/// Installs cargo-fuzz (`cargo install cargo-fuzz`) when `cargo fuzz` is missing.
pub fn ensure_cargo_fuzz() -> Result<(), String> {
    if output("cargo", &["fuzz", "--version"]).is_ok() {
        return Ok(());
    }
    run("cargo", &["install", "cargo-fuzz", "--locked"])
        .or_else(|_| run("cargo", &["install", "cargo-fuzz"]))
}
