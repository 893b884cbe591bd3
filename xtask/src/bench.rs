//! `cargo xtask bench`: runs the criterion benchmarks, prints each Lockstep
//! figure next to its raw-rusqlite baseline from the same run, and writes the
//! table into the README between its markers, so the published figures are
//! always those of the last run and never a stale or placeholder text.

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

/// The README lines that enclose the native benchmark table.
const START: &str = "<!-- bench:native:start (written by `cargo xtask bench`) -->";
const END: &str = "<!-- bench:native:end -->";

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

/// The markdown table of the last run's medians.
fn table(dir: &Path) -> Result<String, String> {
    let mut table = String::from(
        "| benchmark | Lockstep (median) | raw rusqlite (median) | Lockstep / raw |\n|---|---|---|---|\n",
    );
    for (label, ours, baseline) in PAIRS {
        let (a, b) = (median_ns(dir, ours)?, median_ns(dir, baseline)?);
        table.push_str(&format!(
            "| {label} | {:.3} ms | {:.3} ms | {:.2}× |\n",
            a / 1e6,
            b / 1e6,
            a / b
        ));
    }
    Ok(table)
}

/// `readme` with the text between the markers replaced by `table`.
fn with_table(readme: &str, table: &str) -> Result<String, String> {
    let start = readme.find(START).ok_or_else(|| {
        format!("README.md has no line `{START}`; put it (and `{END}`) where the table goes")
    })?;
    let end = readme[start..]
        .find(END)
        .map(|at| start + at)
        .ok_or_else(|| format!("README.md has `{START}` but no `{END}` after it"))?;
    Ok(format!(
        "{}{START}\n{table}{}",
        &readme[..start],
        &readme[end..]
    ))
}

pub fn bench() -> Result<(), String> {
    run("cargo", &["bench", "-p", "lockstep-sqlite"])?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let table = table(&Path::new(&target).join("criterion"))?;
    println!("\n{table}");
    let readme = std::fs::read_to_string("README.md")
        .map_err(|e| format!("README.md: {e}; run cargo xtask bench from the repository root"))?;
    std::fs::write("README.md", with_table(&readme, &table)?)
        .map_err(|e| format!("cannot write README.md: {e}"))?;
    println!("README.md: the native benchmark table is updated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_replaces_what_stands_between_the_markers_only() {
        let readme = format!("intro\n{START}\nold table\n{END}\nrest\n");
        let updated = with_table(&readme, "| new |\n").unwrap();
        assert_eq!(updated, format!("intro\n{START}\n| new |\n{END}\nrest\n"));
        assert_eq!(with_table(&updated, "| new |\n").unwrap(), updated);
        assert!(with_table("no markers", "x").is_err());
    }
}
