//! Deterministic SQL identifiers derived from a collection name (invariant 9).
//!
//! Every tab, every build and every platform derives the same row table,
//! tracking table and trigger names from the same collection name, so change
//! capture never depends on which tab created the tables. A name has the form
//! `<prefix>_<sanitised>_<hash>`: the sanitised part keeps names readable in a
//! debug console, the hash (FNV-1a 64 over the UTF-8 bytes of the exact name)
//! keeps names that sanitise alike (`"Todos"` and `"todos"`) apart.
//! Identifiers are still always quoted with [`quote_ident`] when used in SQL.

use lockstep::CollectionId;

/// Longest sanitised part of an identifier, in characters.
const MAX_SANITISED: usize = 40;

/// FNV-1a 64-bit hash of `bytes`: stable across builds and platforms.
///
/// ```
/// use lockstep_sqlite::names::fnv1a_64;
/// assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The name lowercased, every character outside `[a-z0-9_]` replaced by `_`,
/// truncated to 40 characters.
///
/// ```
/// use lockstep_sqlite::names::sanitise;
/// assert_eq!(sanitise("My Todos!"), "my_todos_");
/// assert_eq!(sanitise("é"), "_");
/// ```
pub fn sanitise(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_SANITISED)
        .collect()
}

fn derive(prefix: &str, collection: &CollectionId) -> String {
    let name = collection.as_str();
    format!(
        "{prefix}_{}_{:016x}",
        sanitise(name),
        fnv1a_64(name.as_bytes())
    )
}

/// The table holding the rows of `collection`.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::row_table;
/// let todos = CollectionId::new("todos").unwrap();
/// assert!(row_table(&todos).starts_with("ls_rows_todos_"));
/// assert_ne!(row_table(&todos), row_table(&CollectionId::new("Todos").unwrap()));
/// ```
pub fn row_table(collection: &CollectionId) -> String {
    derive("ls_rows", collection)
}

/// The table where triggers record keys written by other code.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::tracking_table;
/// assert!(tracking_table(&CollectionId::new("todos").unwrap()).starts_with("ls_track_todos_"));
/// ```
pub fn tracking_table(collection: &CollectionId) -> String {
    derive("ls_track", collection)
}

/// The trigger capturing inserts into the row table.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::insert_trigger;
/// assert!(insert_trigger(&CollectionId::new("todos").unwrap()).starts_with("ls_ins_todos_"));
/// ```
pub fn insert_trigger(collection: &CollectionId) -> String {
    derive("ls_ins", collection)
}

/// The trigger capturing updates of the row table.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::update_trigger;
/// assert!(update_trigger(&CollectionId::new("todos").unwrap()).starts_with("ls_upd_todos_"));
/// ```
pub fn update_trigger(collection: &CollectionId) -> String {
    derive("ls_upd", collection)
}

/// The trigger capturing deletes from the row table.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::delete_trigger;
/// assert!(delete_trigger(&CollectionId::new("todos").unwrap()).starts_with("ls_del_todos_"));
/// ```
pub fn delete_trigger(collection: &CollectionId) -> String {
    derive("ls_del", collection)
}

/// Quotes an SQL identifier: wraps it in `"` and doubles any inner `"`.
///
/// ```
/// use lockstep_sqlite::names::quote_ident;
/// assert_eq!(quote_ident("rows"), r#""rows""#);
/// assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
/// ```
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// All identifiers of one collection's storage.
///
/// ```
/// use lockstep::CollectionId;
/// use lockstep_sqlite::names::TableNames;
/// let names = TableNames::of(&CollectionId::new("todos").unwrap());
/// assert_ne!(names.row_table, names.tracking_table);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableNames {
    /// See [`row_table`].
    pub row_table: String,
    /// See [`tracking_table`].
    pub tracking_table: String,
}

impl TableNames {
    /// The names derived from `collection`.
    ///
    /// ```
    /// use lockstep::CollectionId;
    /// use lockstep_sqlite::names::{row_table, TableNames};
    /// let c = CollectionId::new("Todos").unwrap();
    /// assert_eq!(TableNames::of(&c).row_table, row_table(&c));
    /// ```
    pub fn of(collection: &CollectionId) -> TableNames {
        TableNames {
            row_table: row_table(collection),
            tracking_table: tracking_table(collection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hostile() -> Vec<CollectionId> {
        [
            "todos".to_string(),
            "Todos".to_string(),
            "TODOS".to_string(),
            r#"x"; DROP TABLE y; --"#.to_string(),
            r#""""#.to_string(),
            "it's".to_string(),
            "with space".to_string(),
            "ünïcödé 🦀".to_string(),
            "日本語".to_string(),
            "a".repeat(256),
            "a".repeat(255) + "b",
        ]
        .into_iter()
        .map(|n| CollectionId::new(n).unwrap())
        .collect()
    }

    #[test]
    fn hash_is_fnv1a_64() {
        assert_eq!(fnv1a_64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn names_are_deterministic_valid_and_distinct() {
        let mut seen = HashSet::new();
        for c in hostile() {
            let names = [
                row_table(&c),
                tracking_table(&c),
                insert_trigger(&c),
                update_trigger(&c),
                delete_trigger(&c),
            ];
            assert_eq!(row_table(&c), row_table(&c.clone()));
            for n in names {
                assert!(
                    n.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                    "{n}"
                );
                assert!(n.len() <= 9 + MAX_SANITISED + 17, "{n}");
                assert!(seen.insert(n));
            }
        }
    }

    #[test]
    fn case_variants_differ() {
        let a = CollectionId::new("Todos").unwrap();
        let b = CollectionId::new("todos").unwrap();
        assert_eq!(sanitise(a.as_str()), sanitise(b.as_str()));
        assert_ne!(row_table(&a), row_table(&b));
    }

    #[test]
    fn quoting_makes_hostile_identifiers_usable() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for ident in [r#"x"; DROP TABLE y; --"#, r#"""#, "a b", "ü"] {
            let q = quote_ident(ident);
            conn.execute_batch(&format!("CREATE TABLE {q}(k); INSERT INTO {q} VALUES (1);"))
                .unwrap();
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {q}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 1);
        }
    }
}
