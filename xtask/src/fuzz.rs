//! `cargo xtask fuzz [seconds]` (and the smoke run inside `cargo xtask test`): the cargo-fuzz
//! targets in `fuzz/` (a standalone crate, outside the workspace).
//!
//! - Runs on the stable toolchain: with the sanitizer off (`-s none`) cargo-fuzz
//!   needs only stable codegen flags (`-Cpasses=sancov-module`, `-Cllvm-args`).
//!   The core forbids `unsafe`, so AddressSanitizer would add little; set
//!   `LOCKSTEP_FUZZ_SANITIZER=address` to use it anyway (it needs `-Zsanitizer`,
//!   which `RUSTC_BOOTSTRAP=1` unlocks on stable, and a full rebuild).
//! - Builds every target once, then runs the binaries directly (two at a time
//!   on two cores), seeded from `fuzz/corpus/<target>/` (kept in git); what the
//!   fuzzer learns goes to `fuzz/corpus-out/<target>/` (ignored), crashes to
//!   `fuzz/artifacts/<target>/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::browser::workspace_root;
use crate::{output, run};

/// The fuzz targets, in `fuzz/fuzz_targets/<name>.rs`.
pub const TARGETS: &[&str] = &[
    "decode_message",
    "envelope_validation",
    "tab_receives",
    "leader_receives",
    "held_row",
];

/// Seconds per target of the smoke run.
const SMOKE_SECONDS: u64 = 15;

/// Builds and runs every target for 15 s; fails on a crash.
pub fn fuzz_smoke() -> Result<(), String> {
    fuzz(SMOKE_SECONDS)
}

/// Checks the fuzz targets' formatting (the fuzz crate sits outside the
/// workspace, so `cargo fmt --all` does not reach it).
pub fn check_format() -> Result<(), String> {
    let manifest = workspace_root().join("fuzz").join("Cargo.toml");
    let manifest = manifest.to_str().ok_or("the workspace path is not UTF-8")?;
    run(
        "cargo",
        &["fmt", "--all", "--manifest-path", manifest, "--", "--check"],
    )
}

/// Builds and runs every target for `seconds_per_target`; fails on a crash.
pub fn fuzz(seconds_per_target: u64) -> Result<(), String> {
    let started = Instant::now();
    crate::setup::ensure_cargo_fuzz()?;
    let fuzz_dir = workspace_root().join("fuzz");
    let sanitizer = std::env::var("LOCKSTEP_FUZZ_SANITIZER").unwrap_or_else(|_| "none".into());
    let fuzz_dir_arg = fuzz_dir.to_string_lossy().into_owned();
    eprintln!("\n$ cargo fuzz build -s {sanitizer} --fuzz-dir {fuzz_dir_arg}");
    let status = cargo_fuzz_command(&sanitizer)
        .args(["build", "-s", &sanitizer, "--fuzz-dir", &fuzz_dir_arg])
        .status()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    if !status.success() {
        return Err(format!("building the fuzz targets failed with {status}"));
    }
    let built = started.elapsed();
    let bin_dir = fuzz_dir.join("target").join(host_triple()?).join("release");

    // libFuzzer logs a lot: to files, so a full pipe never stalls a fuzzer.
    let log_dir = fuzz_dir.join("target").join("fuzz-logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let parallel = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    eprintln!(
        "\nfuzzing {} targets for {seconds_per_target} s each, {parallel} at a time",
        TARGETS.len()
    );
    let mut results = Vec::new();
    for batch in TARGETS.chunks(parallel) {
        let running: Vec<(&str, PathBuf, Child)> = batch
            .iter()
            .map(|target| {
                let log = log_dir.join(format!("{target}.log"));
                let child = spawn(&fuzz_dir, &bin_dir, target, seconds_per_target, &log)?;
                Ok((*target, log, child))
            })
            .collect::<Result<_, String>>()?;
        for (target, log, mut child) in running {
            let status = child
                .wait()
                .map_err(|e| format!("waiting for {target}: {e}"))?;
            let text =
                std::fs::read(&log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
            results.push(Outcome::new(
                target,
                status.success(),
                String::from_utf8_lossy(&text).into_owned(),
            ));
        }
    }

    eprintln!(
        "\n{:<22} {:>12} {:>10} {:>8}  result",
        "target", "runs", "exec/s", "cov"
    );
    for r in &results {
        eprintln!(
            "{:<22} {:>12} {:>10} {:>8}  {}",
            r.target,
            r.runs.map_or("?".into(), |n| n.to_string()),
            r.exec_per_sec.map_or("?".into(), |n| n.to_string()),
            r.coverage.map_or("?".into(), |n| n.to_string()),
            if r.ok { "ok" } else { "CRASH" }
        );
    }
    eprintln!(
        "build {:.0?}, total {:.0?}",
        built,
        round(started.elapsed())
    );

    let crashed: Vec<&Outcome> = results.iter().filter(|r| !r.ok).collect();
    if crashed.is_empty() {
        return Ok(());
    }
    for r in &crashed {
        eprintln!(
            "\n===== {} crashed; end of its log (full log in {}):",
            r.target,
            log_dir.join(format!("{}.log", r.target)).display()
        );
        let lines: Vec<&str> = r.log.lines().collect();
        if let Some(at) = lines.iter().position(|l| l.contains("panicked at")) {
            for line in lines.iter().skip(at).take(6) {
                eprintln!("{line}");
            }
            eprintln!("...");
        }
        for line in &lines[lines.len().saturating_sub(16)..] {
            eprintln!("{line}");
        }
        if let Some(artifact) = &r.artifact {
            eprintln!(
                "\nreproduce: cargo fuzz run -s {sanitizer} --fuzz-dir {fuzz_dir_arg} {} {artifact}",
                r.target
            );
        }
    }
    Err(format!(
        "fuzz targets crashed: {}",
        crashed
            .iter()
            .map(|r| r.target)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

fn host_triple() -> Result<String, String> {
    let version = output("rustc", &["-vV"])?;
    version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .ok_or_else(|| "`rustc -vV` names no host".into())
}

fn cargo_fuzz_command(sanitizer: &str) -> Command {
    let mut command = Command::new("cargo");
    command.arg("fuzz");
    // The fuzz crate always builds into `fuzz/target`, where the binaries are run from.
    command.env_remove("CARGO_TARGET_DIR");
    if sanitizer != "none" {
        // Sanitizers need `-Zsanitizer`; this unlocks it on the stable toolchain.
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    command
}

fn spawn(
    fuzz_dir: &Path,
    bin_dir: &Path,
    target: &str,
    seconds: u64,
    log: &Path,
) -> Result<Child, String> {
    let corpus_out = fuzz_dir.join("corpus-out").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for dir in [&corpus_out, &artifacts] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let binary = bin_dir.join(target);
    let args = [
        format!("-artifact_prefix={}/", artifacts.display()),
        format!("-max_total_time={seconds}"),
        "-timeout=10".into(),
        "-print_final_stats=1".into(),
        corpus_out.display().to_string(),
        seeds.display().to_string(),
    ];
    eprintln!(
        "$ {} {} 2>{}",
        binary.display(),
        args.join(" "),
        log.display()
    );
    let log = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    Command::new(&binary)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

/// What one libFuzzer run reported.
struct Outcome {
    target: &'static str,
    ok: bool,
    runs: Option<u64>,
    exec_per_sec: Option<u64>,
    coverage: Option<u64>,
    artifact: Option<String>,
    log: String,
}

impl Outcome {
    fn new(target: &'static str, ok: bool, log: String) -> Outcome {
        // `stat::number_of_executed_units: N` (final stats), else the last `#N ... exec/s: M` line.
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
        };
        let last_status = log
            .lines()
            .rev()
            .find(|l| l.starts_with('#') && l.contains("exec/s:"));
        let field = |line: &str, name: &str| -> Option<u64> {
            let rest = &line[line.find(name)? + name.len()..];
            rest.split_whitespace().next()?.parse().ok()
        };
        let runs = stat("stat::number_of_executed_units:")
            .or_else(|| last_status.and_then(|l| l[1..].split_whitespace().next()?.parse().ok()));
        let exec_per_sec = stat("stat::average_exec_per_sec:")
            .or_else(|| last_status.and_then(|l| field(l, "exec/s:")));
        let coverage = last_status.and_then(|l| field(l, "cov:"));
        let artifact = log.lines().find_map(|l| {
            let at = l.find("Test unit written to ")?;
            Some(l[at + "Test unit written to ".len()..].trim().to_owned())
        });
        Outcome {
            target,
            ok,
            runs,
            exec_per_sec,
            coverage,
            artifact,
            log,
        }
    }
}
