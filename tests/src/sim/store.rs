//! What the simulator needs of a store beyond [`Store`]: writes by other code
//! (valid ones, and on SQLite invalid rows and keys in non-canonical forms),
//! reading every row, a handle that outlives the leader, and the check of
//! the derived table names.

use lockstep::{CollectionId, Key, MemoryStore, Row, Store};
use lockstep_sqlite::{names, SqliteStore};

/// A row written by other code that Lockstep must ignore (and count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// A canonical key whose value is not a JSON object.
    Value,
    /// An integer key written as `1.0` (valid JSON for the same key, not its canonical text).
    FloatKey,
    /// A key with spaces around it.
    SpacedKey,
}

/// The store operations the simulator drives directly.
pub(super) trait SimStore: Store + Sized {
    /// Writes a row the way other code would, straight into the store.
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>);
    /// Writes an invalid row for integer key `key` the way other code could;
    /// `false` if this store cannot hold one (a memory store only holds valid rows).
    fn write_invalid(&mut self, collection: &CollectionId, key: i64, how: Invalid) -> bool;
    /// Every valid row of a collection.
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)>;
    /// Another handle on the same data, for a store that lives only as long
    /// as its leader (`None`: the simulator keeps its own handle).
    fn handle(&self) -> Option<Self>;
    /// Checks the names the store recorded for its collections are the ones
    /// every tab derives (deterministic tracking, invariant 9).
    fn check_derived_names(&mut self, collections: &[CollectionId]) -> Result<(), String>;
}

impl SimStore for MemoryStore {
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>) {
        MemoryStore::write_external(self, collection, key, value.cloned());
    }
    fn write_invalid(&mut self, _: &CollectionId, _: i64, _: Invalid) -> bool {
        false
    }
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection)
    }
    fn handle(&self) -> Option<Self> {
        Some(self.clone())
    }
    fn check_derived_names(&mut self, _collections: &[CollectionId]) -> Result<(), String> {
        Ok(())
    }
}

/// Runs a write of other code; the table may not exist yet (nothing was
/// written to the collection): then there is nothing to write into.
fn execute_foreign(store: &SqliteStore, sql: &str, params: impl rusqlite::Params) {
    let _ = store.connection().execute(sql, params);
}

impl SimStore for SqliteStore {
    fn write_external(&mut self, collection: &CollectionId, key: &Key, value: Option<&Row>) {
        let table = names::quote_ident(&names::row_table(collection));
        let sql = match value {
            Some(_) => format!("INSERT INTO {table}(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
            None => format!("DELETE FROM {table} WHERE key = ?1 AND ?2 IS NULL"),
        };
        let json = value.map(|v| serde_json::to_string(v).unwrap_or_default());
        execute_foreign(self, &sql, rusqlite::params![key.to_json(), json]);
    }
    fn write_invalid(&mut self, collection: &CollectionId, key: i64, how: Invalid) -> bool {
        let table = names::quote_ident(&names::row_table(collection));
        let (text, value) = match how {
            Invalid::Value => (key.to_string(), r#"["not", "an object"]"#),
            Invalid::FloatKey => (format!("{key}.0"), r#"{"form":"float"}"#),
            Invalid::SpacedKey => (format!(" {key} "), r#"{"form":"spaced"}"#),
        };
        let sql = format!("INSERT INTO {table}(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        execute_foreign(self, &sql, rusqlite::params![text, value]);
        true
    }
    fn all_rows(&mut self, collection: &CollectionId) -> Vec<(Key, Row)> {
        self.rows(collection).unwrap_or_default()
    }
    fn handle(&self) -> Option<Self> {
        None
    }
    fn check_derived_names(&mut self, collections: &[CollectionId]) -> Result<(), String> {
        for collection in collections {
            let recorded = self.connection().query_row(
                "SELECT row_table, tracking_table FROM __lockstep_collections WHERE name = ?1",
                [collection.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            );
            match recorded {
                Ok(pair) if pair == (names::row_table(collection), names::tracking_table(collection)) => {}
                Ok(pair) => return Err(format!("collection {collection} was recorded with tables {pair:?}, not the derived names")),
                Err(rusqlite::Error::QueryReturnedNoRows) => {}
                Err(e) => return Err(format!("cannot read the collection registry: {e}")),
            }
        }
        Ok(())
    }
}
