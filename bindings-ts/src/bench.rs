//! `rawSqliteBench` (feature `bench`): the raw-SQLite baseline of
//! `cargo xtask bench --browser`, exported only in the benchmark's build.

use wasm_bindgen::prelude::*;

/// Inserts `rows` rows into a fresh table on the same OPFS VFS as Lockstep,
/// `batch` rows per transaction; resolves `{ totalMs, perTxMs }`. Dedicated
/// workers only.
#[wasm_bindgen(js_name = rawSqliteBench)]
pub async fn raw_sqlite_bench(
    directory: String,
    rows: u32,
    batch: u32,
) -> Result<JsValue, JsValue> {
    let bench = lockstep_browser::raw_sqlite_bench(&directory, rows, batch)
        .await
        .map_err(|e| JsValue::from_str(&e))?;
    Ok(crate::interop::to_js(&serde_json::json!({
        "totalMs": bench.total_ms,
        "perTxMs": bench.per_tx_ms,
    })))
}
