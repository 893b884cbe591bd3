//! `cargo xtask` — build orchestration for Lockstep.
//!
//! - `cargo xtask test`: installs what is missing (wasm32 target, clang), then
//!   runs every suite: formatting, native tests and doctests, the dependency
//!   check of the sans-IO core, the wasm32 builds, the native demo as a
//!   convergence check, 10,000 simulator seeds, and a 15 s fuzz smoke run of
//!   every fuzz target.
//!   Then the browser suites: Chromium and wasm-bindgen-cli when missing, the
//!   `lockstep-browser` wasm package, `tsc` on the package's type tests and on
//!   every TypeScript example of the docs, and `node --test tests/browser/` (real
//!   Chromium tabs through playwright-core) against the in-process static server.
//! - `cargo xtask demo [--port N] [--vanilla | --leptos]`: builds `@lockstep/db`,
//!   the React and Leptos examples, and serves the React example (or the
//!   vanilla page, or the Leptos example) until Ctrl-C.
//! - `cargo xtask demo --headless`: the React example driven in three headless tabs.
//! - `cargo xtask demo --native [-- demo args]`: runs the native multi-tab demo.
//! - `cargo xtask serve [--port N] [DIR]`: serves the built examples (or DIR) as they are.
//! - `cargo xtask bench`: runs the criterion benchmarks and writes the table
//!   of ratios against raw rusqlite, measured in the same run, into README.md.
//! - `cargo xtask bench --browser [--profile]`: the browser figures side by
//!   side with TanStack DB's persistence (or, with `--profile`, where the time
//!   of a 10,000-row insert and a 100,000-row load goes).
//! - `cargo xtask sim --seed S | --seeds N`: the deterministic simulator.
//! - `cargo xtask fuzz [seconds]`: every cargo-fuzz target (300 s each by default).

mod bench;
mod browser;
mod browser_bench;
mod examples;
mod fuzz;
mod package;
mod server;
mod setup;
mod snippets;
mod wasm;

use std::process::{Command, ExitCode};
use std::time::Instant;

/// Runs a command, echoing it, and fails with its exit status.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let mut command = Command::new(program);
    command.args(args);
    run_command(&mut command)
}

/// Runs a prepared command (environment, working directory), echoing it, and
/// fails with its exit status.
pub(crate) fn run_command(command: &mut Command) -> Result<(), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let envs: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={} ", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    eprintln!("\n$ {}{program} {}", envs.concat(), args.join(" "));
    let status = command
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed with {status}",
            args.join(" ")
        ))
    }
}

/// Runs a command and returns its standard output.
pub(crate) fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Crates that must never appear among the core's dependencies: it is sans-IO.
const IO_CRATES: &[&str] = &[
    "rusqlite",
    "libsqlite3-sys",
    "sqlite-wasm-rs",
    "web-sys",
    "js-sys",
    "wasm-bindgen",
    "tokio",
    "async-std",
    "mio",
    "getrandom",
];

fn check_core_is_sans_io() -> Result<(), String> {
    eprintln!("\n$ cargo tree -p lockstep -e normal --prefix none");
    let tree = output(
        "cargo",
        &[
            "tree", "-p", "lockstep", "-e", "normal", "--prefix", "none", "--target", "all",
        ],
    )?;
    let offenders: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| IO_CRATES.contains(name))
        .collect();
    if offenders.is_empty() {
        eprintln!(
            "core dependencies are free of I/O crates ({} lines checked)",
            tree.lines().count()
        );
        Ok(())
    } else {
        Err(format!(
            "the sans-IO core depends on I/O crates: {offenders:?}"
        ))
    }
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    setup::ensure_wasm_target()?;
    setup::ensure_clang()?;
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    fuzz::check_format()?;
    run("cargo", &["test", "--workspace", "--all-targets"])?;
    run("cargo", &["test", "--workspace", "--doc"])?;
    check_core_is_sans_io()?;
    run(
        "cargo",
        &[
            "build",
            "-p",
            "lockstep",
            "-p",
            "lockstep-sqlite",
            "--target",
            "wasm32-unknown-unknown",
        ],
    )?;
    run(
        "cargo",
        &[
            "run",
            "-p",
            "lockstep-native-demo",
            "--",
            "--tabs",
            "4",
            "--writes",
            "60",
        ],
    )?;
    sim(&["--seeds".into(), "10000".into()])?;
    fuzz::fuzz_smoke()?;
    browser::run_browser_tests()?;
    eprintln!("\nall suites passed in {:.0?}", started.elapsed());
    Ok(())
}

/// `cargo xtask demo [--native [-- args] | --headless | --port N]`.
fn demo(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--native") {
        return demo_native(args);
    }
    let headless = args.iter().any(|a| a == "--headless");
    let page = if args.iter().any(|a| a == "--vanilla") {
        "vanilla/"
    } else if args.iter().any(|a| a == "--leptos") {
        "leptos/"
    } else {
        ""
    };
    let port = browser::port_arg(args, browser::DEMO_PORT)?;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--headless" | "--vanilla" | "--leptos" => {}
            "--port" => {
                rest.next();
            }
            a if a.starts_with("--port=") => {}
            other => {
                return Err(format!(
                    "cargo xtask demo [--port N | --vanilla | --leptos | --headless | --native [demo args]]: unknown argument `{other}` (the native demo's flags need --native)"
                ))
            }
        }
    }
    if headless {
        browser::demo_headless()
    } else {
        browser::demo_browser(port, page)
    }
}

/// The native multi-tab demo (`examples/native`), with the given demo flags.
fn demo_native(args: &[String]) -> Result<(), String> {
    let passthrough: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--native" && *a != "--")
        .collect();
    let mut cargo_args = vec!["run", "--release", "-p", "lockstep-native-demo", "--"];
    cargo_args.extend(passthrough);
    run("cargo", &cargo_args)
}

/// Runs the deterministic simulator (release build) with the given flags.
fn sim(args: &[String]) -> Result<(), String> {
    let mut cargo_args = vec![
        "run",
        "--release",
        "-q",
        "-p",
        "lockstep-tests",
        "--bin",
        "lockstep-sim",
        "--",
    ];
    cargo_args.extend(args.iter().map(String::as_str));
    run("cargo", &cargo_args)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(&args[1..]),
        Some("serve") => browser::serve_command(&args[1..]),
        Some("bench") if args[1..].iter().any(|a| a == "--browser") => {
            browser_bench::bench_browser(args[1..].iter().any(|a| a == "--profile"))
        }
        Some("bench") => bench::bench(),
        Some("sim") => sim(&args[1..]),
        Some("fuzz") => match args.get(1).map(|s| s.parse::<u64>()) {
            None => fuzz::fuzz(300),
            Some(Ok(seconds)) => fuzz::fuzz(seconds),
            Some(Err(e)) => Err(format!("cargo xtask fuzz [seconds per target]: {e}")),
        },
        _ => Err("usage: cargo xtask <test | demo [--port N | --vanilla | --leptos | --headless | --native [demo args]] | serve [--port N] [DIR] | bench [--browser [--profile]] | sim [--seed S | --seeds N] [--store memory|sqlite|both] [--bug NAME] | fuzz [seconds per target]>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}
