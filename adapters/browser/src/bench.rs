//! The raw-SQLite baseline of the browser benchmark: the same rows inserted
//! with plain rusqlite on the same OPFS `sahpool` VFS, in a dedicated worker,
//! with no Lockstep in between. Only the benchmark page uses it.

use std::borrow::Cow;
use std::fmt::Write;

use rusqlite::{Connection, OpenFlags};
use serde_json::value::RawValue;
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHPoolCfgBuilder};

use crate::js;

/// Timings of one [`raw_sqlite_bench`] run.
#[derive(Clone, Debug, PartialEq)]
pub struct RawBench {
    /// Milliseconds for every row.
    pub total_ms: f64,
    /// Milliseconds of each transaction.
    pub per_tx_ms: Vec<f64>,
}

/// A plain rusqlite connection on the same OPFS `sahpool` VFS as Lockstep's
/// store, configured like it (exclusive locking, WAL, `synchronous =
/// FULL`), with one table of rows keyed like Lockstep's. Dedicated workers
/// only.
///
/// ```no_run
/// # async fn floor() -> Result<(), String> {
/// let db = lockstep_browser::RawSqlite::open("raw-floor").await?;
/// db.insert(r#""k1""#, r#"{"id":"k1"}"#)?; // durable when it returns
/// db.insert_generated(0, 10_000, false)?; // 10,000 rows in one transaction
/// db.insert_generated(10_000, 20_000, true)?; // and with a change log
/// db.insert_json(r#"[{"id":"k2","n":2},{"id":"k3","n":3}]"#, true)?; // rows from a page
/// drop(db);
/// let db = lockstep_browser::RawSqlite::reopen("raw-floor").await?; // rows kept
/// let rows = db.read_pages(5_000, |page, count| { /* post `page` */ })?;
/// # Ok(()) }
/// ```
pub struct RawSqlite {
    conn: Connection,
}

impl RawSqlite {
    /// Opens a fresh database (its table emptied) in OPFS directory `directory`.
    pub async fn open(directory: &str) -> Result<RawSqlite, String> {
        let db = RawSqlite::reopen(directory).await?;
        db.conn.execute_batch("DROP TABLE IF EXISTS rows; DROP TABLE IF EXISTS log; DROP TABLE IF EXISTS envelopes; DROP TABLE IF EXISTS position; CREATE TABLE rows(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID; CREATE TABLE log(seq INTEGER PRIMARY KEY, tx TEXT NOT NULL); CREATE TABLE envelopes(id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID; CREATE TABLE position(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL); INSERT INTO position VALUES (1, 0);")
            .map_err(|e| e.to_string())?;
        Ok(db)
    }

    /// Opens the database in OPFS directory `directory` as it is (rows
    /// kept; an earlier [`RawSqlite::open`] made it), configured the same
    /// way: what a page start that finds its rows on disk does at the least.
    pub async fn reopen(directory: &str) -> Result<RawSqlite, String> {
        let vfs = format!("bench-{directory}");
        let config = OpfsSAHPoolCfgBuilder::new()
            .vfs_name(&vfs)
            .directory(directory)
            .build();
        install::<sqlite_wasm_rs::WasmOsCallback>(&config, false)
            .await
            .map_err(|e| format!("OPFS: {e}"))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags_and_vfs("/bench.db", flags, vfs.as_str())
            .map_err(|e| e.to_string())?;
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
        )
        .map_err(|e| e.to_string())?;
        Ok(RawSqlite { conn })
    }

    /// Reads every row in key order, `page_rows` at a time, and hands each
    /// page to `on_page` as one JSON array of the rows' values with its
    /// number of rows: the least a page start that shows rows stored in
    /// SQLite does (Lockstep's leader reads its hydration pages the same
    /// way, by key after the last one). Returns the number of rows.
    pub fn read_pages(
        &self,
        page_rows: u32,
        mut on_page: impl FnMut(&str, u32),
    ) -> Result<u64, String> {
        let sql = |e: rusqlite::Error| e.to_string();
        // Stored keys are JSON text, never empty: every one sorts after "".
        let mut read = self
            .conn
            .prepare("SELECT key, value FROM rows WHERE key > ?1 ORDER BY key LIMIT ?2")
            .map_err(sql)?;
        let mut after = String::new();
        let mut total = 0u64;
        loop {
            let mut rows = read.query((&after, page_rows)).map_err(sql)?;
            let mut page = String::from("[");
            let mut count = 0u32;
            while let Some(row) = rows.next().map_err(sql)? {
                if count > 0 {
                    page.push(',');
                }
                page.push_str(column_text(row, 1)?);
                count += 1;
                if count == page_rows {
                    after = column_text(row, 0)?.to_owned();
                }
            }
            page.push(']');
            if count == 0 {
                return Ok(total);
            }
            on_page(&page, count);
            total += u64::from(count);
            if count < page_rows {
                return Ok(total);
            }
        }
    }

    /// Inserts rows `from..to` shaped like the benchmark's (`{id, title,
    /// done, n}`) in one durable transaction; `logged`: with what Lockstep's
    /// invariants ask of every commit beside the rows (all of it in the same
    /// transaction): a change-log record holding the rows as one JSON text,
    /// the envelope's dedup record and the stream position.
    pub fn insert_generated(&self, from: u32, to: u32, logged: bool) -> Result<(), String> {
        self.insert_all(
            (from..to).map(|i| {
                let id = format!("k{i:06}");
                let key = format!("\"{id}\"");
                let value = serde_json::json!({"id": id, "title": format!("todo number {i}"), "done": i % 2 == 0, "n": i}).to_string();
                (key, Cow::Owned(value))
            }),
            logged,
        )
    }

    /// Inserts the rows of `rows`, a JSON array of objects each keyed by its
    /// `id` (a string), in one durable transaction, like
    /// [`RawSqlite::insert_generated`]: what any library that takes rows from
    /// a page's objects into SQLite in a worker does at the least.
    pub fn insert_json(&self, rows: &str, logged: bool) -> Result<(), String> {
        /// A row's key.
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            id: Cow<'a, str>,
        }
        let json = |e: serde_json::Error| e.to_string();
        let rows: Vec<&RawValue> = serde_json::from_str(rows).map_err(json)?;
        let keyed = rows
            .into_iter()
            .map(|row| {
                let Id { id } = serde_json::from_str(row.get()).map_err(json)?;
                let key = serde_json::to_string(&id).map_err(json)?;
                Ok((key, Cow::Borrowed(row.get())))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.insert_all(keyed, logged)
    }

    /// Inserts `rows` (key and value as JSON text) in one durable
    /// transaction, `logged` as in [`RawSqlite::insert_generated`].
    fn insert_all<'a>(
        &self,
        rows: impl IntoIterator<Item = (String, Cow<'a, str>)>,
        logged: bool,
    ) -> Result<(), String> {
        let sql = |e: rusqlite::Error| e.to_string();
        let tx = self.conn.unchecked_transaction().map_err(sql)?;
        // The change-log record: the rows as `[{"key": …, "value": …}, …]`.
        let mut log = logged.then(|| String::from("["));
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO rows(key, value) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (key, value) in rows {
                insert.execute((&key, &value)).map_err(sql)?;
                if let Some(log) = log.as_mut() {
                    let comma = if log.len() > 1 { "," } else { "" };
                    // Writing to a String cannot fail.
                    let _ = write!(log, r#"{comma}{{"key":{key},"value":{value}}}"#);
                }
            }
        }
        if let Some(mut log) = log {
            log.push(']');
            let seq: i64 = tx
                .query_row(
                    "UPDATE position SET seq = seq + 1 WHERE id = 1 RETURNING seq",
                    [],
                    |row| row.get(0),
                )
                .map_err(sql)?;
            tx.execute("INSERT INTO log(seq, tx) VALUES (?1, ?2)", (seq, &log))
                .map_err(sql)?;
            tx.execute(
                "INSERT INTO envelopes(id, seq) VALUES (?1, ?2)",
                (seq.to_be_bytes().repeat(2), seq),
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// Inserts one row (`key` and `value` as JSON text) in its own durable
    /// transaction.
    pub fn insert(&self, key: &str, value: &str) -> Result<(), String> {
        self.conn
            .execute("INSERT INTO rows(key, value) VALUES (?1, ?2)", (key, value))
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Column `column` of `row` as text, borrowed from the row.
fn column_text<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> Result<&'r str, String> {
    row.get_ref(column)
        .map_err(|e| e.to_string())?
        .as_str()
        .map_err(|e| e.to_string())
}

/// Inserts `rows` rows shaped like the benchmark's (`{id, title, done, n}`)
/// into a fresh table in OPFS directory `directory` ([`RawSqlite`]), `batch`
/// rows per transaction (`logged`: each with a change log, see
/// [`RawSqlite::insert_generated`]), so the comparison is like for like.
/// Dedicated workers only.
pub async fn raw_sqlite_bench(
    directory: &str,
    rows: u32,
    batch: u32,
    logged: bool,
) -> Result<RawBench, String> {
    let db = RawSqlite::open(directory).await?;
    let mut per_tx = Vec::new();
    let started = js::perf_now();
    let batch = batch.max(1);
    let mut n = 0;
    while n < rows {
        let t0 = js::perf_now();
        db.insert_generated(n, (n + batch).min(rows), logged)?;
        per_tx.push(js::perf_now() - t0);
        n += batch;
    }
    Ok(RawBench {
        total_ms: js::perf_now() - started,
        per_tx_ms: per_tx,
    })
}
