//! Indexes on one top-level field of a collection's rows, for on-demand
//! loads ordered by it: `CREATE INDEX … ON rows ((value ->> '$."field"'))`.
//!
//! The indexed expression is the one a query reads through the collection's
//! view (`__lockstep_row ->> '$."field"'` is `value ->> '$."field"'` once
//! SQLite flattens the view), so an ordered, limited load walks the index
//! instead of parsing every row. Indexes are kept in the file; creating one
//! that exists costs a lookup.

use rusqlite::Connection;

use crate::error::SqlResultExt;
use crate::names::{fnv1a_64, quote_ident};
use crate::views::field_path;
use lockstep::StoreError;

/// The name of the index on `field` of row table `rows`.
pub fn index_name(rows: &str, field: &str) -> String {
    format!("{rows}_by_{:016x}", fnv1a_64(field.as_bytes()))
}

/// Creates the index on `field` of row table `rows` unless it exists; a
/// field SQLite's JSON paths cannot name (a `"` or `\` in it) gets none.
pub(crate) fn ensure(conn: &Connection, rows: &str, field: &str) -> Result<(), StoreError> {
    let Some(path) = field_path(field) else {
        return Ok(());
    };
    conn.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ((value ->> {path}))",
        quote_ident(&index_name(rows, field)),
        quote_ident(rows),
    ))
    .store()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_stable_and_differ_by_field() {
        assert_eq!(index_name("ls_rows_x", "n"), index_name("ls_rows_x", "n"));
        assert_ne!(index_name("ls_rows_x", "n"), index_name("ls_rows_x", "m"));
    }
}
