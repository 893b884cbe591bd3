//! `cargo xtask bench`: runs the criterion benchmarks and prints each Lockstep
//! figure next to its raw-rusqlite baseline from the same run.

use std::path::Path;

use crate::run;

/// (label, lockstep benchmark, baseline benchmark), as `group/name` under target/criterion.
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "1 op per envelope",
        "commit_1_op/lockstep_coordinator",
        "commit_1_op/raw_rusqlite",
    ),
    (
        "100 ops per envelope",
        "commit_100_ops/lockstep_coordinator",
        "commit_100_ops/raw_rusqlite",
    ),
    (
        "hydrate 100,000 rows",
        "hydrate_100k/lockstep_tab",
        "hydrate_100k/raw_rusqlite",
    ),
];

fn median_ns(dir: &Path, bench: &str) -> Result<f64, String> {
    let path = dir.join(bench).join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = "\"median\":{\"confidence_interval\":";
    let at = text
        .find(key)
        .ok_or_else(|| format!("{}: no median", path.display()))?;
    let rest = &text[at..];
    let point = rest
        .find("\"point_estimate\":")
        .ok_or("no point estimate")?
        + "\"point_estimate\":".len();
    let number: String = rest[point..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
        .collect();
    number
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn bench() -> Result<(), String> {
    run("cargo", &["bench", "-p", "lockstep-sqlite"])?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = Path::new(&target).join("criterion");
    println!("\n| benchmark | Lockstep (median) | raw rusqlite (median) | Lockstep / raw |");
    println!("|---|---|---|---|");
    for (label, ours, baseline) in PAIRS {
        let (a, b) = (median_ns(&dir, ours)?, median_ns(&dir, baseline)?);
        println!(
            "| {label} | {:.3} ms | {:.3} ms | {:.2}× |",
            a / 1e6,
            b / 1e6,
            a / b
        );
    }
    Ok(())
}
