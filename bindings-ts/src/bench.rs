//! `rawSqliteBench` (feature `bench`): the raw-SQLite baseline of
//! `cargo xtask bench --browser`, exported only in the benchmark's build.

use wasm_bindgen::prelude::*;

/// Inserts `rows` rows into a fresh table on the same OPFS VFS as Lockstep,
/// `batch` rows per transaction (`logged`: each with the change log, dedup
/// record and position Lockstep's invariants ask for); resolves `{ totalMs,
/// perTxMs }`. Dedicated workers only.
#[wasm_bindgen(js_name = rawSqliteBench)]
pub async fn raw_sqlite_bench(
    directory: String,
    rows: u32,
    batch: u32,
    logged: bool,
) -> Result<JsValue, JsValue> {
    let bench = lockstep_browser::raw_sqlite_bench(&directory, rows, batch, logged)
        .await
        .map_err(|e| JsValue::from_str(&e))?;
    Ok(crate::interop::to_js(&serde_json::json!({
        "totalMs": bench.total_ms,
        "perTxMs": bench.per_tx_ms,
    })))
}

/// A raw rusqlite database on the same OPFS VFS as Lockstep's store, for the
/// benchmark's floor of a durable write seen in another tab (the worker
/// inserts a row, then posts on a BroadcastChannel). Dedicated workers only.
#[wasm_bindgen(js_name = RawSqlite)]
pub struct RawSqlite(lockstep_browser::RawSqlite);

#[wasm_bindgen(js_class = RawSqlite)]
impl RawSqlite {
    /// Opens a fresh database in OPFS directory `directory`.
    pub async fn open(directory: String) -> Result<RawSqlite, JsValue> {
        lockstep_browser::RawSqlite::open(&directory)
            .await
            .map(RawSqlite)
            .map_err(|e| JsValue::from_str(&e))
    }

    /// Opens the database in OPFS directory `directory` as an earlier
    /// `open` left it, rows kept.
    pub async fn reopen(directory: String) -> Result<RawSqlite, JsValue> {
        lockstep_browser::RawSqlite::reopen(&directory)
            .await
            .map(RawSqlite)
            .map_err(|e| JsValue::from_str(&e))
    }

    /// Reads every row in key order, `pageRows` at a time, calling
    /// `onPage(rows, count)` with each page (`rows`: a JSON array of the
    /// rows' values as text); returns the number of rows.
    #[wasm_bindgen(js_name = readPages)]
    pub fn read_pages(&self, page_rows: u32, on_page: &js_sys::Function) -> Result<f64, JsValue> {
        let mut failed = None;
        let total = self
            .0
            .read_pages(page_rows, |rows, count| {
                if failed.is_none() {
                    let call =
                        on_page.call2(&JsValue::NULL, &JsValue::from_str(rows), &count.into());
                    failed = call.err();
                }
            })
            .map_err(|e| JsValue::from_str(&e))?;
        match failed {
            Some(error) => Err(error),
            // Row counts stay far below 2^53.
            None => Ok(total as f64),
        }
    }

    /// Inserts one row (`key` and `value` as JSON text) in its own durable
    /// transaction.
    pub fn insert(&self, key: &str, value: &str) -> Result<(), JsValue> {
        self.0.insert(key, value).map_err(|e| JsValue::from_str(&e))
    }

    /// Inserts `rows`, a JSON array of objects keyed by their `id`, in one
    /// durable transaction (`logged`: with the change log, dedup record and
    /// position Lockstep's invariants ask for).
    #[wasm_bindgen(js_name = insertJson)]
    pub fn insert_json(&self, rows: &str, logged: bool) -> Result<(), JsValue> {
        self.0
            .insert_json(rows, logged)
            .map_err(|e| JsValue::from_str(&e))
    }
}
