//! `cargo xtask bench --browser`: the browser figures, measured by
//! `tests/browser/bench.mjs` in real headless Chromium tabs (fresh on-disk
//! profile, OPFS) on the bench page (`examples/bench`, at `/bench/`):
//! Lockstep's raw path, Lockstep through TanStack DB, and TanStack DB's own
//! persistence side by side, with the floors (BroadcastChannel, raw SQLite on
//! the same VFS, TanStack's own apply) in the same run. Progress on stderr,
//! the figures as JSON on stdout and in `<target dir>/browser-bench.json`.
//!
//! With `--profile`, `tests/browser/profile.mjs` runs instead: V8's sampling
//! profiler on every thread (page and leader worker) during a 10,000-row
//! insert and a 100,000-row load, bucketed (JSON, SQLite, conversion, …)
//! into `<target dir>/browser-profile.json`.

use crate::browser::{build_site, target_dir, workspace_root};
use crate::run_command;
use crate::server::{Mount, StaticServer};
use crate::setup;
use std::process::Command;
use std::time::Instant;

pub fn bench_browser(profile: bool) -> Result<(), String> {
    let started = Instant::now();
    setup::ensure_wasm_target()?;
    setup::ensure_clang()?;
    setup::ensure_chromium()?;
    setup::ensure_wasm_bindgen_cli()?;
    let mut mounts = build_site()?;
    let bench = crate::examples::build_bench(&crate::package::tarball())?;
    mounts.push(Mount::new("/bench/", bench));
    let tests = workspace_root().join("tests").join("browser");
    setup::ensure_npm_packages(&tests)?;
    let (script, out) = if profile {
        ("profile.mjs", target_dir()?.join("browser-profile.json"))
    } else {
        ("bench.mjs", target_dir()?.join("browser-bench.json"))
    };
    let server = StaticServer::start_mounts(mounts, 0)?;
    eprintln!("serving the examples at {}", server.url());
    run_command(
        Command::new("node")
            .arg(tests.join(script))
            .arg(server.url())
            .env("LOCKSTEP_BENCH_OUT", &out)
            .env("LOCKSTEP_PROFILE_OUT", &out)
            .current_dir(workspace_root()),
    )?;
    eprintln!(
        "\nbrowser bench done in {:.0?}; figures in {}",
        started.elapsed(),
        out.display()
    );
    Ok(())
}
