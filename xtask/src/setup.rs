//! Installs the tools the suites need when they are missing, and says how when it cannot.

use crate::{output, run, run_command};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

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

/// Installs Chromium and its driver from Debian when `/usr/bin/chromium` or
/// `/usr/bin/chromedriver` is missing: the browser suites drive real tabs.
pub fn ensure_chromium() -> Result<(), String> {
    if Path::new(crate::browser::CHROMIUM).exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    if !is_root() {
        return Err("Chromium is missing; install it (Debian: `sudo apt-get install -y chromium chromium-driver`) and run again".into());
    }
    run("apt-get", &["update", "-qq"])?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The wasm-bindgen CLI must match the `wasm-bindgen` crate to the patch.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// Where `cargo xtask` installs its own tools (`.tools/bin`, gitignored).
pub fn tools_root() -> PathBuf {
    crate::browser::workspace_root().join(".tools")
}

/// The wasm-bindgen CLI that `ensure_wasm_bindgen_cli` installs.
pub fn wasm_bindgen_cli() -> PathBuf {
    tools_root().join("bin").join("wasm-bindgen")
}

/// Installs wasm-bindgen-cli 0.2.130 into `.tools/` unless the one there
/// already reports exactly that version. Not `--locked`: a locked dependency
/// of that release is missing from the index. A lighter release profile makes
/// it ≈2 min on 2 cores instead of ≈5.
pub fn ensure_wasm_bindgen_cli() -> Result<(), String> {
    let bin = wasm_bindgen_cli();
    let wanted = format!("wasm-bindgen {WASM_BINDGEN_VERSION}");
    if let Ok(version) = output(&bin.to_string_lossy(), &["--version"]) {
        if version.trim() == wanted {
            return Ok(());
        }
        eprintln!(
            "{} reports `{}`, want `{wanted}`",
            bin.display(),
            version.trim()
        );
    }
    let root = tools_root();
    run_command(
        Command::new("cargo")
            .args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION])
            .args(["--no-default-features", "--force", "--root"])
            .arg(&root)
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
            .env("CARGO_PROFILE_RELEASE_LTO", "off")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
    )
    .map_err(|e| format!("{e}\ninstalling wasm-bindgen-cli {WASM_BINDGEN_VERSION} needs crates.io; install it by hand with `cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION} --no-default-features --root {}`", root.display()))
}

/// Installs the npm packages of `dir` (`npm ci`, or `npm install` without a
/// lockfile) when `node_modules` is missing or older than `package.json`.
pub fn ensure_npm_packages(dir: &Path) -> Result<(), String> {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let node_modules = dir.join("node_modules");
    let manifest = modified(&dir.join("package.json"))
        .ok_or_else(|| format!("{} has no package.json", dir.display()))?;
    if modified(&node_modules).is_some_and(|installed| installed >= manifest) {
        return Ok(());
    }
    let verb = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    run_command(
        Command::new("npm")
            .args([verb, "--no-audit", "--no-fund"])
            .current_dir(dir),
    )
    .map_err(|e| format!("{e}\nnpm must reach registry.npmjs.org; Node 20+ and npm are needed (Debian: `apt-get install -y nodejs npm`)"))?;
    // `npm install` leaves node_modules' time alone when nothing changed; mark it fresh.
    if let Ok(dir) = fs::File::open(&node_modules) {
        let _ = dir.set_modified(SystemTime::now());
    }
    Ok(())
}
