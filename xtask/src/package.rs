//! Builds `@lockstep/db`, the npm package in `bindings-ts/npm/`: the
//! `lockstep-wasm` crate for wasm32 (release), its JS glue and `.d.ts` with
//! the pinned wasm-bindgen CLI (`--target web`, into `wasm/`), the
//! TypeScript layer (`tsc`, into `dist/`), and `npm pack` into
//! `bindings-ts/npm/lockstep-db.tgz`: the tarball the examples and the
//! browser tests install like a user would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::browser::{target_dir, workspace_root};
use crate::{run_command, setup};

/// `bindings-ts/npm/`.
pub fn package_dir() -> PathBuf {
    workspace_root().join("bindings-ts").join("npm")
}

/// Where the packed tarball goes (a fixed name, so `file:` dependencies on
/// it stay valid from one build to the next; `npm pack` leaves it out of
/// the package itself).
pub fn tarball() -> PathBuf {
    package_dir().join("lockstep-db.tgz")
}

/// Builds the package and packs it; returns the tarball's path.
pub fn build() -> Result<PathBuf, String> {
    let started = Instant::now();
    let dir = package_dir();
    crate::wasm::build_and_bind("lockstep-wasm", &[], &dir.join("wasm"), Some("lockstep"))?;
    setup::ensure_npm_packages(&dir)?;
    let dist = dir.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).map_err(|e| format!("cannot clear {}: {e}", dist.display()))?;
    }
    run_command(
        Command::new("npx")
            .args(["--no-install", "tsc", "-p", "tsconfig.json"])
            .current_dir(&dir),
    )?;
    let tarball = tarball();
    let packed = target_dir()?.join("npm");
    fs::create_dir_all(&packed).map_err(|e| format!("cannot create {}: {e}", packed.display()))?;
    let out = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&packed)
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run npm pack: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm pack failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let name = name.lines().last().unwrap_or_default();
    fs::rename(packed.join(name), &tarball)
        .map_err(|e| format!("cannot move {name} to {}: {e}", tarball.display()))?;
    eprintln!(
        "@lockstep/db built and packed into {} in {:.0?}",
        tarball.display(),
        started.elapsed()
    );
    Ok(tarball)
}

/// Copies the built package's `dist/` and `wasm/` into `site/pkg/`, for
/// pages served as they are (the vanilla demo, the browser tests' pages).
pub fn stage_into(site: &Path) -> Result<(), String> {
    let pkg = site.join("pkg");
    if pkg.exists() {
        fs::remove_dir_all(&pkg).map_err(|e| format!("cannot clear {}: {e}", pkg.display()))?;
    }
    for part in ["dist", "wasm"] {
        copy_dir(&package_dir().join(part), &pkg.join(part))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy to {}: {e}", target.display()))?;
        }
    }
    Ok(())
}
