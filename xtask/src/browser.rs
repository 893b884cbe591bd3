//! The browser side of `cargo xtask`: builds `@lockstep/db` and the
//! examples, serves them from one origin ([`crate::server`]), runs the
//! wasm-bindgen-test and Playwright suites, and the demo.

use crate::server::{Mount, StaticServer};
use crate::setup;
use crate::{output, run_command};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium from Debian (`apt-get install chromium`); the tests launch it by path.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The default port of `cargo xtask demo`: fixed, so that the demo's origin,
/// and with it its OPFS data, stays the same from one run to the next.
pub const DEMO_PORT: u16 = 8080;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `examples/browser/`: the vanilla page (served at `/vanilla/`).
pub fn site_root() -> PathBuf {
    workspace_root().join("examples").join("browser")
}

fn tests_dir() -> PathBuf {
    workspace_root().join("tests").join("browser")
}

/// Cargo's target directory, as `cargo metadata` reports it (it honours
/// `CARGO_TARGET_DIR` and `build.target-dir`).
pub(crate) fn target_dir() -> Result<PathBuf, String> {
    let metadata = output(
        "cargo",
        &[
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ],
    )?;
    let field = "\"target_directory\":\"";
    let start = metadata
        .find(field)
        .ok_or("`cargo metadata` reported no target_directory")?
        + field.len();
    let end = metadata[start..]
        .find('"')
        .ok_or("`cargo metadata` output is cut short")?;
    Ok(PathBuf::from(
        metadata[start..start + end].replace("\\\\", "\\"),
    ))
}

/// Builds everything the served pages need: `@lockstep/db` (packed, and
/// staged into `examples/browser/pkg/` for the vanilla page) and the React
/// example from the tarball, and the Leptos example. Returns the mounts of
/// the one origin that serves them: the React app at `/`, the vanilla page
/// at `/vanilla/`, the Leptos app at `/leptos/` (one origin: they share
/// databases).
pub fn build_site() -> Result<Vec<Mount>, String> {
    let tarball = crate::package::build()?;
    crate::package::stage_into(&site_root())?;
    let react = crate::examples::build_react(&tarball)?;
    crate::examples::build_leptos()?;
    Ok(site_mounts(react))
}

fn site_mounts(react: PathBuf) -> Vec<Mount> {
    vec![
        Mount::new("/", react),
        Mount::new("/vanilla/", site_root()),
        Mount::new("/leptos/", crate::examples::leptos_dir()),
    ]
}

/// Type tests of the package: `tsc` on code that uses its `.d.ts` as an app
/// would, including calls that must not compile (`@ts-expect-error`).
fn run_type_tests() -> Result<(), String> {
    run_command(
        Command::new("npx")
            .args(["--no-install", "tsc", "-p", "test/types/tsconfig.json"])
            .current_dir(crate::package::package_dir()),
    )
    .map_err(|e| {
        format!(
            "{e}
the package's types do not behave as bindings-ts/npm/test/types expects"
        )
    })
}

/// Everything the browser suites need, then `node --test tests/browser/`
/// against the static server, started in-process on a free port.
pub fn run_browser_tests() -> Result<(), String> {
    setup::ensure_chromium()?;
    setup::ensure_wasm_bindgen_cli()?;
    run_wasm_bindgen_tests()?;
    let mounts = build_site()?;
    run_type_tests()?;
    crate::snippets::run_snippet_tests()?;
    setup::ensure_npm_packages(&tests_dir())?;
    let server = StaticServer::start_mounts(mounts, 0)?;
    let url = server.url();
    eprintln!("serving the examples at {url} (React app), {url}vanilla/ and {url}leptos/");
    run_command(
        Command::new("node")
            .args(["--test", "--test-concurrency=1"])
            .arg(tests_dir())
            .env("LOCKSTEP_URL", &url)
            .current_dir(workspace_root()),
    )
    .map_err(|e| format!("{e}\nthe browser suites failed; rerun one with `cargo xtask serve` and `LOCKSTEP_URL=http://127.0.0.1:PORT/ node --test tests/browser/NAME.test.mjs`"))
}

/// The wasm-bindgen-test suites of `lockstep-browser`, in a real page and a
/// real dedicated worker of headless Chromium (flags in its `webdriver.json`).
fn run_wasm_bindgen_tests() -> Result<(), String> {
    let runner = workspace_root()
        .join(".tools")
        .join("bin")
        .join("wasm-bindgen-test-runner");
    run_command(
        Command::new("cargo")
            .args([
                "test",
                "-p",
                "lockstep-browser",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
            .current_dir(workspace_root()),
    )
}

fn ensure_build_tools() -> Result<(), String> {
    setup::ensure_wasm_target()?;
    setup::ensure_clang()?;
    setup::ensure_wasm_bindgen_cli()
}

/// `cargo xtask demo [--vanilla | --leptos]`: builds everything and serves
/// the React example at `/` (or the vanilla page, or the Leptos example:
/// `page` is its path) until Ctrl-C.
pub fn demo_browser(port: u16, page: &str) -> Result<(), String> {
    ensure_build_tools()?;
    let mounts = build_site()?;
    let server = StaticServer::start_mounts(mounts, port)?;
    println!("Lockstep demo: {}{page}", server.url());
    println!("open it in several tabs; Ctrl-C stops the server");
    server.wait();
    Ok(())
}

/// `cargo xtask demo --headless`: the React example in three headless
/// Chromium tabs, with the leader tab closed midway
/// (`tests/browser/demo-headless.mjs`).
pub fn demo_headless() -> Result<(), String> {
    ensure_build_tools()?;
    setup::ensure_chromium()?;
    let mounts = build_site()?;
    setup::ensure_npm_packages(&tests_dir())?;
    let server = StaticServer::start_mounts(mounts, 0)?;
    run_command(
        Command::new("node")
            .arg(tests_dir().join("demo-headless.mjs"))
            .arg(server.url())
            .current_dir(workspace_root()),
    )
}

/// `cargo xtask serve [--port N] [DIR]`: serves the built examples (the
/// React app at `/`, the vanilla page at `/vanilla/`, the Leptos app at
/// `/leptos/`), or one directory, as
/// they are, without building; for running one browser test file by hand.
pub fn serve_command(args: &[String]) -> Result<(), String> {
    let port = port_arg(args, DEMO_PORT)?;
    let mut mounts = site_mounts(crate::examples::react_dir().join("dist"));
    let bench = crate::examples::bench_dir().join("dist");
    if bench.exists() {
        mounts.push(Mount::new("/bench/", bench));
    }
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--port" {
            rest.next();
        } else if arg.starts_with("--") {
            return Err(format!(
                "cargo xtask serve [--port N] [DIR]: unknown flag {arg}"
            ));
        } else {
            mounts = vec![Mount::new("/", PathBuf::from(arg))];
        }
    }
    let server = StaticServer::start_mounts(mounts.clone(), port)?;
    for mount in &mounts {
        println!(
            "serving {} at {}{}",
            mount.dir.display(),
            server.url().trim_end_matches('/'),
            mount.prefix
        );
    }
    server.wait();
    Ok(())
}

/// The value of `--port N` (or `--port=N`) among `args`, else `default`.
pub fn port_arg(args: &[String], default: u16) -> Result<u16, String> {
    let mut value = None;
    for (i, arg) in args.iter().enumerate() {
        if arg == "--port" {
            value = Some(args.get(i + 1).map(String::as_str).unwrap_or(""));
        } else if let Some(v) = arg.strip_prefix("--port=") {
            value = Some(v);
        }
    }
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            format!("--port takes a number from 0 to 65535 (0 picks a free port), not `{v}`")
        }),
    }
}
