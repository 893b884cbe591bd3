//! The simulator's own tests: clean seeds pass on every store, and each
//! deliberately re-introduced bug is caught within a bounded number of seeds
//! (so the simulator is known to be able to see it). CI runs 10,000 seeds more
//! through `cargo xtask sim`.

use lockstep_tests::sim::{run_seed, SimConfig, StoreKind};

#[test]
fn simulator_seeds_pass_on_memory_sqlite_and_vanishing_stores() {
    let config = SimConfig::default();
    for seed in 0..40 {
        for store in [StoreKind::Memory, StoreKind::Vanishing] {
            if let Err(failure) = run_seed(seed, store, &config) {
                panic!("{failure}");
            }
        }
    }
    for seed in 0..4 {
        if let Err(failure) = run_seed(seed, StoreKind::Sqlite, &config) {
            panic!("{failure}");
        }
    }
}

#[test]
fn simulator_replays_a_seed_identically() {
    let config = SimConfig::default();
    let a = run_seed(7, StoreKind::Memory, &config).unwrap();
    let b = run_seed(7, StoreKind::Memory, &config).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// Runs seeds on `store` until the bug shows; fails the test if it never does.
fn caught_on_within(bug: &str, store: StoreKind, seeds: u64) -> u64 {
    let config = SimConfig::default().with_bug(bug).unwrap();
    for seed in 0..seeds {
        if let Err(failure) = run_seed(seed, store, &config) {
            eprintln!("{bug}: caught by seed {seed}: {}", failure.violation);
            return seed;
        }
    }
    panic!("the simulator did not catch {bug} within {seeds} seeds");
}

fn caught_within(bug: &str, seeds: u64) -> u64 {
    caught_on_within(bug, StoreKind::Memory, seeds)
}

#[test]
fn simulator_catches_seed_002_no_stream_position_restore() {
    caught_within("no-position-restore", 50);
}

#[test]
fn simulator_catches_seed_002_leader_writing_around_the_coordinator() {
    caught_within("leader-writes-around-coordinator", 50);
}

#[test]
fn simulator_catches_seed_002_leader_ignoring_its_own_commits() {
    caught_within("leader-ignores-own-commits", 50);
}

#[test]
fn simulator_catches_seed_002_leadership_kept_after_failed_setup() {
    caught_within("leadership-kept-after-failed-setup", 50);
}

#[test]
fn simulator_catches_durable_dedup_turned_off() {
    caught_within("no-durable-dedup", 50);
}

#[test]
fn simulator_catches_tabs_trusting_claimed_terms() {
    // The forging actor's terms (issue 8, defect 1).
    caught_within("tabs-trust-claimed-terms", 50);
}

#[test]
fn simulator_catches_tabs_ignoring_database_epochs() {
    // A store that vanishes with its leader (issue 8, defect 2).
    caught_on_within("tabs-ignore-epochs", StoreKind::Vanishing, 50);
}
