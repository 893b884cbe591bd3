//! Native demo: several tabs (threads) over one real SQLite file write at
//! random; the leader is killed once half the writes were issued; every surviving tab then reports its
//! term, seq, row count and content hash, and the demo checks they converged
//! with SQLite. Exit code 1 if they did not.
//!
//! `cargo xtask demo` runs it; flags: `--tabs N` (default 5), `--writes N` per
//! tab (default 200), `--db PATH` (default: a new file in a temp dir).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lockstep::{CollectionId, DatabaseId, HeldRow, Key, MutationError, Op, Row, Snapshot, Store};
use lockstep_hub::{Hub, HubConfig, TabHandle, WaitError};
use lockstep_sqlite::{SqliteOptions, SqliteStore};

const WAIT: Duration = Duration::from_secs(30);

struct Args {
    tabs: usize,
    writes: usize,
    db: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tabs: 5,
        writes: 200,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tabs" => args.tabs = value()?.parse().map_err(|e| format!("--tabs: {e}"))?,
            "--writes" => args.writes = value()?.parse().map_err(|e| format!("--writes: {e}"))?,
            "--db" => args.db = Some(PathBuf::from(value()?)),
            other => {
                return Err(format!(
                    "unknown flag {other}; use --tabs N, --writes N, --db PATH"
                ))
            }
        }
    }
    if args.tabs < 2 {
        return Err("--tabs must be at least 2 (one of them is killed)".into());
    }
    Ok(args)
}

/// xorshift64*: enough randomness for a demo, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Tally {
    committed: usize,
    rejected: usize,
    refused_locally: usize,
    lost_with_crash: usize,
}

/// One random op against the tab's visible view.
fn random_op(rng: &mut Rng, tab: &TabHandle, todos: &CollectionId, writer: usize, i: usize) -> Op {
    let key = Key::Int(rng.below(64) as i64);
    let value: Row = serde_json::json!({"title": format!("todo {}", key), "by": writer, "rev": i, "done": rng.below(2) == 1})
        .as_object()
        .cloned()
        .unwrap_or_default();
    match (tab.get(todos, &key).is_some(), rng.below(3)) {
        (false, _) => Op::Insert {
            collection: todos.clone(),
            key,
            value: lockstep::HeldRow::shared(value),
        },
        (true, 0) => Op::Delete {
            collection: todos.clone(),
            key,
        },
        (true, _) => Op::Update {
            collection: todos.clone(),
            key,
            value: lockstep::HeldRow::shared(value),
        },
    }
}

/// What all writers share: how many writes were issued, and when to kill the leader.
struct Progress {
    issued: AtomicUsize,
    kill_at: usize,
}

/// One writer's job.
struct Writer {
    tab: TabHandle,
    todos: CollectionId,
    index: usize,
    writes: usize,
    is_leader: bool,
    seed: u64,
}

/// Writes at random; the leader's writer kills its tab once half of all
/// writes (over every tab) were issued, so the others keep writing through
/// the failover.
fn write_randomly(w: Writer, progress: &Progress) -> (Option<TabHandle>, Tally) {
    let mut rng = Rng(w.seed | 1);
    let mut tally = Tally::default();
    let mut receipts = Vec::new();
    for i in 0..=w.writes {
        let issued = progress.issued.load(Ordering::SeqCst);
        if w.is_leader && (i == w.writes || issued >= progress.kill_at) {
            while progress.issued.load(Ordering::SeqCst) < progress.kill_at {
                std::thread::sleep(Duration::from_millis(1));
            }
            tally.lost_with_crash = receipts.len();
            println!(
                "  !! killing the leader tab {} after {} writes were issued (no goodbye, queued messages lost)",
                w.tab.id().short(),
                progress.issued.load(Ordering::SeqCst),
            );
            w.tab.crash();
            return (None, tally);
        }
        if i == w.writes {
            break;
        }
        progress.issued.fetch_add(1, Ordering::SeqCst);
        match w
            .tab
            .mutate(vec![random_op(&mut rng, &w.tab, &w.todos, w.index, i)])
        {
            Ok(receipt) => receipts.push(receipt),
            Err(MutationError::KeyExists { .. } | MutationError::KeyMissing { .. }) => {
                tally.refused_locally += 1
            }
            Err(e) => panic!("unexpected local error: {e}"),
        }
        if receipts.len() >= 8 {
            settle(&mut receipts, &mut tally);
        }
    }
    settle(&mut receipts, &mut tally);
    (Some(w.tab), tally)
}

fn settle(receipts: &mut Vec<lockstep_hub::Receipt>, tally: &mut Tally) {
    for receipt in receipts.drain(..) {
        match receipt.wait(WAIT) {
            Ok(_) => tally.committed += 1,
            Err(WaitError::Rejected(_)) => tally.rejected += 1,
            Err(e) => panic!("write neither committed nor rejected: {e}"),
        }
    }
}

fn content_hash(rows: &Snapshot) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (key, row) in rows {
        for byte in key
            .to_json()
            .bytes()
            .chain(serde_json::to_string(&**row).unwrap_or_default().bytes())
        {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("lockstep-demo-{}", std::process::id()));
    let path = args.db.clone().unwrap_or_else(|| dir.join("demo.db"));
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let db = DatabaseId::new("lockstep-demo", "native").expect("valid id");
    let todos = CollectionId::new("todos").expect("valid name");
    let (p, id) = (path.clone(), db.clone());
    let hub = Hub::new(db.clone(), HubConfig::default(), move || {
        SqliteStore::open(&p, &id, SqliteOptions::default())
    })
    .expect("the default settings are valid");
    println!(
        "Lockstep native demo: {} tabs, {} random writes each, SQLite file {}",
        args.tabs,
        args.writes,
        path.display()
    );

    let started = Instant::now();
    let tabs: Vec<TabHandle> = (0..args.tabs).map(|_| hub.open_tab()).collect();
    for tab in &tabs {
        tab.open_collection(&todos);
    }
    for tab in &tabs {
        if let Err(e) = tab.wait_ready(&todos, WAIT) {
            eprintln!("tab {} never became ready: {e}", tab.id().short());
            return ExitCode::FAILURE;
        }
    }
    let leader = hub.leader().expect("a leader after hydration");
    println!(
        "  {} tabs ready in {:.0?}; leader is tab {}",
        tabs.len(),
        started.elapsed(),
        leader.short()
    );

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42);
    let progress = Arc::new(Progress {
        issued: AtomicUsize::new(0),
        kill_at: args.tabs * args.writes / 2,
    });
    let writers: Vec<_> = tabs
        .into_iter()
        .enumerate()
        .map(|(index, tab)| {
            let writer = Writer {
                is_leader: tab.id() == leader,
                tab,
                todos: todos.clone(),
                index,
                writes: args.writes,
                seed: seed.wrapping_add(index as u64 * 7919),
            };
            let progress = progress.clone();
            std::thread::spawn(move || write_randomly(writer, &progress))
        })
        .collect();
    let mut survivors = Vec::new();
    let mut total = Tally::default();
    for writer in writers {
        let (tab, tally) = writer.join().expect("writer thread");
        total.committed += tally.committed;
        total.rejected += tally.rejected;
        total.refused_locally += tally.refused_locally;
        total.lost_with_crash += tally.lost_with_crash;
        survivors.extend(tab);
    }
    println!(
        "  writes: {} committed, {} rejected by the leader (concurrent conflicts, rolled back), {} refused locally, {} in flight in the killed tab",
        total.committed, total.rejected, total.refused_locally, total.lost_with_crash
    );

    let truth = match SqliteStore::open(&path, &db, SqliteOptions::default())
        .and_then(|mut s| Ok((s.rows(&todos)?, s.meta()?)))
    {
        Ok(truth) => truth,
        Err(e) => {
            eprintln!("cannot read the SQLite file: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (rows, meta) = truth;
    let expected: Snapshot = rows
        .into_iter()
        .map(|(k, v)| (k, HeldRow::shared(v)))
        .collect();
    let deadline = Instant::now() + WAIT;
    while survivors
        .iter()
        .any(|t| t.snapshot(&todos) != expected || t.status().is_some_and(|s| s.pending > 0))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }

    println!(
        "\n  {:<10} {:<8} {:>5} {:>6} {:>6} {:>18}",
        "tab", "role", "term", "seq", "rows", "content hash"
    );
    let mut converged = true;
    for tab in &survivors {
        let Some(status) = tab.status() else { continue };
        let snapshot = tab.snapshot(&todos);
        converged &= snapshot == expected && status.pending == 0;
        println!(
            "  {:<10} {:<8} {:>5} {:>6} {:>6} {:>18x}",
            tab.id().short(),
            if status.is_leader {
                "leader"
            } else {
                "follower"
            },
            status.term.0,
            status.applied.map_or(0, |s| s.0),
            snapshot.len(),
            content_hash(&snapshot)
        );
    }
    println!(
        "  {:<10} {:<8} {:>5} {:>6} {:>6} {:>18x}",
        "SQLite",
        "file",
        meta.term.0,
        meta.position.seq.0,
        expected.len(),
        content_hash(&expected)
    );
    println!("\n  elapsed {:.0?}", started.elapsed());
    if converged {
        println!("  CONVERGED: every surviving tab equals SQLite after the leader was killed.");
        if args.db.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        ExitCode::SUCCESS
    } else {
        println!("  DIVERGED: a tab differs from SQLite (see above).");
        ExitCode::FAILURE
    }
}
