//! Builds one crate to wasm and runs wasm-bindgen on it: the two steps every
//! browser artefact here takes (the package, the bench's raw floor, the
//! Leptos example).

use std::path::Path;
use std::process::Command;

use crate::browser::target_dir;
use crate::{run, run_command, setup};

/// `cargo build --profile wasm-release --target wasm32-unknown-unknown -p package` (with
/// `features`), then `wasm-bindgen --target web` into a cleared `out`,
/// naming the JS module `out_name` (else after the crate).
pub fn build_and_bind(
    package: &str,
    features: &[&str],
    out: &Path,
    out_name: Option<&str>,
) -> Result<(), String> {
    let mut args = vec!["build", "-p", package];
    for feature in features {
        args.extend(["--features", feature]);
    }
    args.extend([
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]);
    run("cargo", &args)?;
    let wasm = target_dir()?
        .join("wasm32-unknown-unknown/wasm-release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    let mut bindgen = Command::new(setup::wasm_bindgen_cli());
    bindgen.args(["--target", "web"]);
    if let Some(name) = out_name {
        bindgen.args(["--out-name", name]);
    }
    run_command(bindgen.arg("--out-dir").arg(out).arg(&wasm))
        .map_err(|e| format!("{e}\n(`cargo xtask test` installs the CLI into .tools/ first)"))
}
