//! The fuzz targets' seed corpora (`fuzz/corpus/`) speak the current
//! protocol: a seed the decoder refuses for its version or shape only ever
//! exercises that refusal, so after a protocol change the fuzzer would
//! start from nothing. Every line of a JSON-lines seed decodes, except in
//! seeds named `refused-*` (kept to be refused) and `regression-*` (inputs
//! the fuzzer found, kept byte for byte).

use std::path::PathBuf;

use lockstep::protocol::{decode, Limits};
use lockstep_tests::database;

/// The JSON-lines seeds of the targets that read messages.
fn seeds() -> Vec<PathBuf> {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut found = Vec::new();
    for target in ["decode_message", "leader_receives", "tab_receives"] {
        let dir = corpus.join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !name.starts_with("refused-") && !name.starts_with("regression-") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_seed_message_decodes_under_the_current_protocol() {
    let db = database("fuzz", "user-1");
    let seeds = seeds();
    assert!(seeds.len() >= 10, "the corpora are there: {seeds:?}");
    let mut refused = Vec::new();
    for path in &seeds {
        let bytes = std::fs::read(path).expect("a seed reads");
        assert_eq!(
            bytes.first(),
            Some(&b'{'),
            "{}: a JSON-lines seed",
            path.display()
        );
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if let Err(e) = decode(line, &db, &Limits::default()) {
                refused.push(format!("{} line {}: {e}", path.display(), n + 1));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "seeds to rewrite for the current protocol:\n{}",
        refused.join("\n")
    );
}
