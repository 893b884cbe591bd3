//! `cargo xtask sim` runs this: many seeds of the deterministic simulator, or
//! one seed replayed with its trace.
//!
//! Flags: `--seed S` (replay one), `--seeds N` (run seeds 0..N, or from
//! `--first F`), `--store memory|sqlite|vanishing|all` (default all: every
//! tenth seed on SQLite, another tenth on a store that vanishes with each
//! leader), `--threads T` (default: available cores), `--bug NAME`
//! (re-introduce a known bug to watch the simulator catch it).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use lockstep_tests::sim::{run_seed, SimConfig, SimFailure, StoreKind};

struct Args {
    seed: Option<u64>,
    seeds: u64,
    first: u64,
    store: Option<StoreKind>,
    threads: usize,
    bug: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        seed: None,
        seeds: 1_000,
        first: 0,
        store: None,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        bug: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => args.seed = Some(value()?.parse().map_err(|e| format!("--seed: {e}"))?),
            "--seeds" => args.seeds = value()?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--first" => args.first = value()?.parse().map_err(|e| format!("--first: {e}"))?,
            "--bug" => args.bug = Some(value()?),
            "--threads" => args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--store" => {
                args.store = match value()?.as_str() {
                    "memory" => Some(StoreKind::Memory),
                    "sqlite" => Some(StoreKind::Sqlite),
                    "vanishing" => Some(StoreKind::Vanishing),
                    "all" => None,
                    other => {
                        return Err(format!(
                            "--store {other}: use memory, sqlite, vanishing or all"
                        ))
                    }
                }
            }
            other => return Err(format!("unknown flag {other}; use --seed S | --seeds N [--first F] [--store memory|sqlite|vanishing|all] [--threads T] [--bug NAME]")),
        }
    }
    Ok(args)
}

fn store_for(seed: u64, choice: Option<StoreKind>) -> StoreKind {
    choice.unwrap_or(StoreKind::for_seed(seed))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let config = match args
        .bug
        .as_deref()
        .map(|bug| SimConfig::default().with_bug(bug))
        .transpose()
    {
        Ok(config) => config.unwrap_or_default(),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = args.seed {
        let store = store_for(seed, args.store);
        return match run_seed(seed, store, &config) {
            Ok(report) => {
                println!("seed {seed} ({store:?}) passed: {report:?}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}");
                ExitCode::FAILURE
            }
        };
    }
    let started = Instant::now();
    let next = AtomicU64::new(args.first);
    let done = AtomicUsize::new(0);
    let (commits, forged) = (AtomicU64::new(0), AtomicU64::new(0));
    let (sqlite_runs, vanishing_runs) = (AtomicU64::new(0), AtomicU64::new(0));
    let end = args.first + args.seeds;
    let failures: Vec<SimFailure> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Ordering::SeqCst);
                        if seed >= end {
                            return failures;
                        }
                        let store = store_for(seed, args.store);
                        match run_seed(seed, store, &config) {
                            Ok(report) => {
                                commits.fetch_add(report.commits, Ordering::Relaxed);
                                forged.fetch_add(report.forged, Ordering::Relaxed);
                                match store {
                                    StoreKind::Sqlite => {
                                        sqlite_runs.fetch_add(1, Ordering::Relaxed)
                                    }
                                    StoreKind::Vanishing => {
                                        vanishing_runs.fetch_add(1, Ordering::Relaxed)
                                    }
                                    StoreKind::Memory => 0,
                                };
                            }
                            Err(failure) => failures.push(failure),
                        }
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        if n.is_multiple_of(1_000) {
                            let secs = started.elapsed().as_secs_f64();
                            eprintln!("  {n} seeds in {secs:.1}s ({:.0} seeds/s)", n as f64 / secs);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let ran = done.load(Ordering::SeqCst);
    println!(
        "simulator: {ran} seeds ({} on SQLite files, {} on vanishing stores) in {secs:.1}s = {:.0} seeds/s, {} commits checked, {} forged messages",
        sqlite_runs.load(Ordering::Relaxed),
        vanishing_runs.load(Ordering::Relaxed),
        ran as f64 / secs,
        commits.load(Ordering::Relaxed),
        forged.load(Ordering::Relaxed)
    );
    if failures.is_empty() {
        println!("{ran} passed, 0 failed");
        ExitCode::SUCCESS
    } else {
        for failure in failures.iter().take(3) {
            println!("\n{failure}");
        }
        println!("{} passed, {} failed", ran - failures.len(), failures.len());
        ExitCode::FAILURE
    }
}
