//! Views that let read-only queries use collection names instead of the
//! hashed table names: `SELECT count(*) FROM todos WHERE done = ?`.
//!
//! Each collection gets a `TEMP` view (on this connection only; nothing is
//! written to the file) named after it, with one column per top-level field
//! ever seen in it (`value ->> '$."field"'`; objects and arrays come as JSON
//! text, booleans as 0/1), plus `_key` (the row key) and `_row` (the whole row
//! as JSON), unless a field already has that name. Two more columns are
//! always there (a field of either name gets no column): `__lockstep_key`,
//! the key as stored (its JSON text, the table's primary key), to page in
//! key order on the primary key (`SELECT __lockstep_key, __lockstep_row FROM
//! todos WHERE __lockstep_key > ?1 ORDER BY __lockstep_key LIMIT ?2`), and
//! `__lockstep_row`, the whole row as JSON whatever the fields are called
//! (on-demand loading reads both, see [`lockstep::Subset`]). Rows that are not valid JSON are left
//! out, as they are from every page a tab loads. Views are rebuilt before a
//! query when a collection or a field appeared.
//!
//! A collection whose name SQLite would confuse with Lockstep's own tables
//! (`__lockstep_…`, `ls_…`, `sqlite_…`) gets no view; query its table.

use rusqlite::Connection;

use crate::error::SqlResultExt;
use crate::names::quote_ident;
use crate::schema;
use lockstep::{StoreError, KEY_COLUMN, ROW_COLUMN};

/// The views this connection made, and whether they are out of date.
#[derive(Debug)]
pub(crate) struct Views {
    /// A collection or field appeared since the views were made.
    pub stale: bool,
    made: Vec<String>,
}

impl Default for Views {
    fn default() -> Self {
        Views {
            stale: true,
            made: Vec::new(),
        }
    }
}

/// Whether a collection name may become a view name.
fn viewable(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !["__lockstep_", "ls_", "sqlite_"]
        .iter()
        .any(|prefix| lower.starts_with(prefix))
}

/// A JSON path literal for a top-level field, or `None` for names SQLite's
/// JSON paths cannot express (a double quote or a backslash in the name).
pub(crate) fn field_path(field: &str) -> Option<String> {
    if field.contains('"') || field.contains('\\') {
        return None;
    }
    Some(format!("'$.\"{}\"'", field.replace('\'', "''")))
}

/// The columns of a view on a row table whose rows have `fields`.
fn columns(fields: &[String]) -> Vec<String> {
    let mut columns: Vec<String> = fields
        .iter()
        .filter(|f| f.as_str() != KEY_COLUMN && f.as_str() != ROW_COLUMN)
        .filter_map(|f| {
            Some(format!(
                "value ->> {} AS {}",
                field_path(f)?,
                quote_ident(f)
            ))
        })
        .collect();
    if !fields.iter().any(|f| f == "_key") {
        columns.push("key ->> '$' AS \"_key\"".into());
    }
    if !fields.iter().any(|f| f == "_row") {
        columns.push("value AS \"_row\"".into());
    }
    columns.push(format!("key AS {}", quote_ident(KEY_COLUMN)));
    columns.push(format!("value AS {}", quote_ident(ROW_COLUMN)));
    columns
}

impl Views {
    /// Rebuilds every view if a collection or field appeared.
    pub fn refresh(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if !self.stale {
            return Ok(());
        }
        for view in self.made.drain(..) {
            conn.execute_batch(&format!("DROP VIEW IF EXISTS temp.{}", quote_ident(&view)))
                .store()?;
        }
        for (collection, tables) in schema::all_registered(conn)? {
            let name = collection.as_str();
            if !viewable(name) {
                continue;
            }
            let fields: Vec<String> = conn
                .prepare_cached(
                    "SELECT field FROM __lockstep_fields WHERE collection = ?1 ORDER BY rowid",
                )
                .store()?
                .query_map([name], |r| r.get(0))
                .store()?
                .collect::<Result<_, _>>()
                .store()?;
            conn.execute_batch(&format!(
                "CREATE TEMP VIEW {} AS SELECT {} FROM main.{} WHERE json_valid(value)",
                quote_ident(name),
                columns(&fields).join(", "),
                quote_ident(&tables.row_table)
            ))
            .store()?;
            self.made.push(name.to_owned());
        }
        self.stale = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_quote_or_refuse() {
        assert_eq!(field_path("done").unwrap(), r#"'$."done"'"#);
        assert_eq!(field_path("it's").unwrap(), r#"'$."it''s"'"#);
        assert_eq!(field_path("a\"b"), None);
    }

    #[test]
    fn the_key_and_row_columns_are_reserved() {
        let fields = [
            "__lockstep_key".to_string(),
            "n".to_string(),
            "__lockstep_row".to_string(),
        ];
        assert_eq!(
            columns(&fields),
            vec![
                r#"value ->> '$."n"' AS "n""#,
                r#"key ->> '$' AS "_key""#,
                r#"value AS "_row""#,
                r#"key AS "__lockstep_key""#,
                r#"value AS "__lockstep_row""#,
            ]
        );
    }

    #[test]
    fn reserved_names_get_no_view() {
        assert!(viewable("todos"));
        assert!(!viewable("__lockstep_meta"));
        assert!(!viewable("LS_rows"));
        assert!(!viewable("sqlite_master"));
    }
}
