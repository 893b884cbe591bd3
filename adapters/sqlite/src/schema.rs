//! The database schema: versioned migrations applied on open, the meta row
//! that ties a file to one `(app, scope)`, and the per-collection tables and
//! capture triggers created lazily on a collection's first write.
//!
//! Bookkeeping tables (all prefixed `__lockstep_`):
//!
//! | table | holds |
//! |---|---|
//! | `__lockstep_migrations` | applied schema versions |
//! | `__lockstep_meta` | one row: app, scope, term, stream position, epoch |
//! | `__lockstep_collections` | registry: collection name → row and tracking tables |
//! | `__lockstep_envelopes` | durable dedup: envelope id → `(term, seq)` |
//! | `__lockstep_changelog` | recent `TxCommitted`s for `pull_since` |
//! | `__lockstep_outbox` | committed envelopes waiting for upload |
//! | `__lockstep_fields` | top-level field names seen per collection (the columns of query views), and the JSON kinds seen in each (`types`, see [`kind_of`]) |
//!
//! The capture triggers record every write into a collection's tracking
//! table but Lockstep's own, which the store's connection tells apart by
//! itself ([`crate::capture`]). Nothing committed decides whether capture is
//! on, so no write by other code can turn it off.

use lockstep::{CollectionId, DatabaseId, JsonKind, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use crate::capture::capture_when;
use crate::error::SqlResultExt;
use crate::names::{self, quote_ident, TableNames};

/// A collection's fields and the kind bits recorded for each, looked up for
/// every field of every row written (foldhash: SipHash was most of the look-up
/// in a fresh page's baseline code; the names come from the app's own rows).
pub(crate) type FieldKinds = std::collections::HashMap<String, u8, foldhash::fast::FixedState>;

/// The newest schema version this build knows. A file with a newer version is
/// refused with [`StoreError::NewerSchema`].
///
/// ```
/// assert_eq!(lockstep_sqlite::schema::SCHEMA_VERSION, 6);
/// ```
pub const SCHEMA_VERSION: u32 = 6;

/// Migration `i` brings the schema to version `i + 1`: its SQL, then what
/// is done in Rust.
const MIGRATIONS: [(&str, Option<Step>); SCHEMA_VERSION as usize] = [
    (V1, None),
    // Its rows are filled at version 5 (`backfill_fields`), which every
    // upgrade through version 2 also runs.
    (V2, None),
    (V3, Some(recreate_triggers)),
    (V4, Some(recreate_triggers)),
    (V5, Some(backfill_fields)),
    (V6, Some(recreate_triggers)),
];

/// A migration step that needs more than SQL.
type Step = fn(&Connection) -> Result<(), StoreError>;

const V1: &str = "
CREATE TABLE __lockstep_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    app TEXT NOT NULL,
    scope TEXT NOT NULL,
    term INTEGER NOT NULL,
    position_term INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE __lockstep_collections (
    name TEXT PRIMARY KEY,
    row_table TEXT NOT NULL UNIQUE,
    tracking_table TEXT NOT NULL UNIQUE
);
CREATE TABLE __lockstep_envelopes (
    envelope_id BLOB PRIMARY KEY,
    term INTEGER NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX __lockstep_envelopes_seq ON __lockstep_envelopes (seq);
CREATE TABLE __lockstep_changelog (
    seq INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    tx TEXT NOT NULL
);
CREATE TABLE __lockstep_outbox (
    seq INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    envelope_id BLOB NOT NULL,
    ops TEXT NOT NULL
);
CREATE TABLE __lockstep_capture (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    suppress INTEGER NOT NULL
);
INSERT INTO __lockstep_capture (id, suppress) VALUES (1, 0);
";

/// Version 2: the database's epoch, a random id fixed when the file is made
/// (or first migrated), so tabs can tell one incarnation from another; and
/// the top-level field names seen in each collection, the columns of the
/// views read-only queries see (filled for existing rows by [`backfill_fields`]
/// at version 5).
const V2: &str = "
ALTER TABLE __lockstep_meta ADD COLUMN epoch BLOB;
UPDATE __lockstep_meta SET epoch = randomblob(16) WHERE epoch IS NULL;
CREATE TABLE __lockstep_fields (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    PRIMARY KEY (collection, field)
);
";

/// Version 3: capture no longer depends on a committed flag (a committed
/// write of it by other code turned capture off); the triggers record every
/// write (recreated by [`recreate_triggers`]). Dedup records are forgotten by
/// the time in their ids now, not by seq.
const V3: &str = "
DROP TABLE __lockstep_capture;
DROP INDEX IF EXISTS __lockstep_envelopes_seq;
";

/// Version 4: the capture triggers write with `OR IGNORE`. With the store's
/// own `INSERT OR IGNORE` / `UPDATE OR IGNORE`, no statement on a row table
/// can abort halfway, so SQLite no longer keeps a statement journal (a copy
/// of every page each statement touches) for them. Triggers recreated by
/// [`recreate_triggers`].
const V4: &str = "";

/// Version 5: the JSON kinds seen in each field (bits of [`kind_of`], only
/// ever added), so a reader can tell a field that holds one kind; computed
/// for every existing row by [`backfill_fields`].
const V5: &str = "
ALTER TABLE __lockstep_fields ADD COLUMN types INTEGER NOT NULL DEFAULT 0;
";

/// Version 6: the capture triggers skip Lockstep's own writes
/// ([`crate::capture`]); before, a Lockstep transaction removed their
/// tracking rows again before it committed (two more pages per commit: the
/// tracking table and its `AUTOINCREMENT` counter). Triggers recreated by
/// [`recreate_triggers`].
const V6: &str = "";

/// Kind bit of JSON `null` in `__lockstep_fields.types`.
pub const KIND_NULL: u8 = 1;
/// Kind bit of JSON `true` and `false`.
pub const KIND_BOOLEAN: u8 = 2;
/// Kind bit of a JSON number without fraction or exponent that fits 64 bits.
pub const KIND_INTEGER: u8 = 4;
/// Kind bit of any other JSON number.
pub const KIND_REAL: u8 = 8;
/// Kind bit of a JSON string.
pub const KIND_TEXT: u8 = 16;
/// Kind bit of a JSON array.
pub const KIND_ARRAY: u8 = 32;
/// Kind bit of a JSON object.
pub const KIND_OBJECT: u8 = 64;

/// The kind bit of a field's value, as `__lockstep_fields.types` records it.
///
/// `types` holds every kind ever written to a field of a collection: bits
/// are only added, never removed, so one may stay set after the last value
/// of its kind is gone (a superset). Read it only to learn that a field
/// holds one kind (a stale bit only makes a reader more careful).
///
/// ```
/// use lockstep_sqlite::schema::{kind_of, KIND_INTEGER, KIND_REAL, KIND_TEXT};
/// assert_eq!(kind_of(&serde_json::json!(1)), KIND_INTEGER);
/// assert_eq!(kind_of(&serde_json::json!(1.5)), KIND_REAL);
/// assert_eq!(kind_of(&serde_json::json!("x")), KIND_TEXT);
/// ```
pub fn kind_of(value: &serde_json::Value) -> u8 {
    kind_bit(JsonKind::of(value))
}

/// The kind bit of `kind` (see [`kind_of`]).
///
/// ```
/// use lockstep::JsonKind;
/// use lockstep_sqlite::schema::{kind_bit, KIND_TEXT};
/// assert_eq!(kind_bit(JsonKind::Text), KIND_TEXT);
/// ```
pub fn kind_bit(kind: JsonKind) -> u8 {
    match kind {
        JsonKind::Null => KIND_NULL,
        JsonKind::Boolean => KIND_BOOLEAN,
        JsonKind::Integer => KIND_INTEGER,
        JsonKind::Real => KIND_REAL,
        JsonKind::Text => KIND_TEXT,
        JsonKind::Array => KIND_ARRAY,
        JsonKind::Object => KIND_OBJECT,
    }
}

/// [`kind_of`] in SQL, on the `type` column of `json_each` (alias `j`).
const KIND_OF_SQL: &str = "CASE j.type WHEN 'null' THEN 1 WHEN 'true' THEN 2 WHEN 'false' THEN 2 \
     WHEN 'integer' THEN 4 WHEN 'real' THEN 8 WHEN 'text' THEN 16 WHEN 'array' THEN 32 \
     WHEN 'object' THEN 64 ELSE 0 END";

/// Replaces the capture triggers of every registered collection with the
/// current ones.
fn recreate_triggers(conn: &Connection) -> Result<(), StoreError> {
    for (collection, tables) in all_registered(conn)? {
        let drop: String = [
            names::insert_trigger(&collection),
            names::update_trigger(&collection),
            names::delete_trigger(&collection),
        ]
        .iter()
        .map(|name| format!("DROP TRIGGER IF EXISTS {};", quote_ident(name)))
        .collect();
        conn.execute_batch(&drop).store()?;
        conn.execute_batch(&triggers(&collection, &tables))
            .store()?;
    }
    Ok(())
}

/// The capture triggers of a collection: every insert, update and delete of
/// a row by other code records its key (both keys when an update changes
/// it); Lockstep's own writes are skipped ([`capture_when`]). `OR IGNORE`:
/// the insert cannot conflict (fresh id, non-null key), and saying so spares
/// the statement that fired it a statement journal.
fn triggers(collection: &CollectionId, tables: &TableNames) -> String {
    let rows = quote_ident(&tables.row_table);
    let track = quote_ident(&tables.tracking_table);
    let ins = quote_ident(&names::insert_trigger(collection));
    let upd = quote_ident(&names::update_trigger(collection));
    let del = quote_ident(&names::delete_trigger(collection));
    let when = capture_when();
    format!(
        "CREATE TRIGGER IF NOT EXISTS {ins} AFTER INSERT ON {rows} WHEN {when}
         BEGIN INSERT OR IGNORE INTO {track} (key) VALUES (NEW.key); END;
         CREATE TRIGGER IF NOT EXISTS {upd} AFTER UPDATE ON {rows} WHEN {when}
         BEGIN
             INSERT OR IGNORE INTO {track} (key) SELECT OLD.key WHERE OLD.key IS NOT NEW.key;
             INSERT OR IGNORE INTO {track} (key) VALUES (NEW.key);
         END;
         CREATE TRIGGER IF NOT EXISTS {del} AFTER DELETE ON {rows} WHEN {when}
         BEGIN INSERT OR IGNORE INTO {track} (key) VALUES (OLD.key); END;"
    )
}

/// Applies pending migrations and checks (or creates) the meta row. Runs
/// inside the caller's transaction so that a failure leaves the file as it was.
pub(crate) fn migrate(conn: &Connection, db: &DatabaseId) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS __lockstep_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        .store()?;
    let found: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM __lockstep_migrations",
            [],
            |r| r.get(0),
        )
        .store()?;
    if found > i64::from(SCHEMA_VERSION) {
        return Err(StoreError::NewerSchema {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "schema version {found} in __lockstep_migrations"
        )));
    }
    for (index, (sql, step)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        conn.execute_batch(sql).store()?;
        if let Some(step) = step {
            step(conn)?;
        }
        conn.execute(
            "INSERT INTO __lockstep_migrations (version, applied_at) VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
            params![index as i64 + 1],
        )
        .store()?;
    }
    check_meta(conn, db)
}

/// Records the top-level fields and their kinds of every existing row of
/// every collection (the upgrade to version 5; later writes record their own).
fn backfill_fields(conn: &Connection) -> Result<(), StoreError> {
    for (collection, tables) in all_registered(conn)? {
        record_fields_of(conn, &collection, &tables.row_table, None)?;
    }
    Ok(())
}

/// Records the top-level fields of the rows of `row_table` (only those whose
/// keys are listed in `tracking_table`, when given) as fields of `collection`,
/// with the kinds of their values added to `types`. Rows that are not JSON
/// objects are skipped. SQLite has no bitwise-OR aggregate, but the kinds are
/// distinct powers of two, so the sum of the distinct ones is their OR.
pub(crate) fn record_fields_of(
    conn: &Connection,
    collection: &CollectionId,
    row_table: &str,
    tracking_table: Option<&str>,
) -> Result<(), StoreError> {
    let rows = quote_ident(row_table);
    let only = match tracking_table {
        Some(track) => format!("AND r.key IN (SELECT key FROM {})", quote_ident(track)),
        None => String::new(),
    };
    conn.prepare_cached(&format!(
        "INSERT INTO __lockstep_fields (collection, field, types)
         SELECT ?1, j.key, sum(DISTINCT {KIND_OF_SQL}) FROM {rows} AS r, json_each(r.value) AS j
         WHERE json_valid(r.value) AND json_type(r.value) = 'object' {only}
         GROUP BY j.key
         ON CONFLICT (collection, field) DO UPDATE SET types = types | excluded.types"
    ))
    .store()?
    .execute([collection.as_str()])
    .store()?;
    Ok(())
}

/// The fields of `collection` recorded in `__lockstep_fields`, with their
/// kind bits. A `types` that is not an integer (edited by hand) counts as no
/// kind, so the next write of each kind records it again.
pub(crate) fn recorded_kinds(
    conn: &Connection,
    collection: &CollectionId,
) -> Result<FieldKinds, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT field, types FROM __lockstep_fields WHERE collection = ?1")
        .store()?;
    let mut rows = stmt.query([collection.as_str()]).store()?;
    let mut out = FieldKinds::default();
    while let Some(row) = rows.next().store()? {
        let Ok(field) = row.get::<_, String>(0) else {
            continue;
        };
        let types = match row.get_ref(1).store()? {
            ValueRef::Integer(bits) => (bits & 0x7f) as u8,
            _ => 0,
        };
        out.insert(field, types);
    }
    Ok(out)
}

/// Adds the kind bits `kinds` to `field` of `collection` (recording the field
/// if it is new).
pub(crate) fn record_kinds(
    conn: &Connection,
    collection: &CollectionId,
    field: &str,
    kinds: u8,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO __lockstep_fields (collection, field, types) VALUES (?1, ?2, ?3)
         ON CONFLICT (collection, field) DO UPDATE SET types = types | excluded.types",
    )
    .store()?
    .execute(params![collection.as_str(), field, kinds])
    .store()?;
    Ok(())
}

/// Creates the meta row for `db`, or refuses a file that belongs to another
/// database (invariant 11: scopes never mix).
fn check_meta(conn: &Connection, db: &DatabaseId) -> Result<(), StoreError> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT app, scope FROM __lockstep_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..) => {
                StoreError::Corrupt(format!("__lockstep_meta: {e}"))
            }
            other => crate::error::to_store_error(other),
        })?;
    match found {
        None => {
            conn.execute(
                "INSERT INTO __lockstep_meta (id, app, scope, term, position_term, seq, epoch) VALUES (1, ?1, ?2, 0, 0, 0, randomblob(16))",
                params![db.app(), db.scope()],
            )
            .store()?;
            Ok(())
        }
        Some((app, scope)) if app == db.app() && scope == db.scope() => Ok(()),
        Some((app, scope)) => Err(StoreError::WrongDatabase {
            expected: db.to_string(),
            found: format!("{app}/{scope}"),
        }),
    }
}

/// Creates (if missing) the row table, tracking table and capture triggers of
/// `collection`, and registers them in `__lockstep_collections`.
pub(crate) fn create_collection(
    conn: &Connection,
    collection: &CollectionId,
    tables: &TableNames,
) -> Result<(), StoreError> {
    let rows = quote_ident(&tables.row_table);
    let track = quote_ident(&tables.tracking_table);
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {rows} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS {track} (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
         {}",
        triggers(collection, tables)
    ))
    .store()?;
    conn.execute(
        "INSERT INTO __lockstep_collections (name, row_table, tracking_table) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        params![collection.as_str(), tables.row_table, tables.tracking_table],
    )
    .store()?;
    Ok(())
}

/// The registered names of `collection`, if it has tables.
pub(crate) fn registered(
    conn: &Connection,
    collection: &CollectionId,
) -> Result<Option<TableNames>, StoreError> {
    conn.prepare_cached(
        "SELECT row_table, tracking_table FROM __lockstep_collections WHERE name = ?1",
    )
    .store()?
    .query_row([collection.as_str()], |r| {
        Ok(TableNames {
            row_table: r.get(0)?,
            tracking_table: r.get(1)?,
        })
    })
    .optional()
    .store()
}

/// Every registered collection in registration order. Entries whose name is
/// not a valid collection name (edited by hand) are skipped.
pub(crate) fn all_registered(
    conn: &Connection,
) -> Result<Vec<(CollectionId, TableNames)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, row_table, tracking_table FROM __lockstep_collections ORDER BY rowid",
        )
        .store()?;
    let mut rows = stmt.query([]).store()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().store()? {
        let (Ok(name), Ok(row_table), Ok(tracking_table)) = (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
        ) else {
            continue;
        };
        if let Ok(collection) = CollectionId::new(name) {
            out.push((
                collection,
                TableNames {
                    row_table,
                    tracking_table,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(scope: &str) -> DatabaseId {
        DatabaseId::new("app", scope).unwrap()
    }

    #[test]
    fn migrate_is_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &db("u")).unwrap();
        migrate(&conn, &db("u")).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM __lockstep_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, i64::from(SCHEMA_VERSION));
    }

    #[test]
    fn kinds_in_sql_match_kinds_in_rust() {
        let conn = Connection::open_in_memory().unwrap();
        let values = serde_json::json!([
            null, true, false, 0, -7, 9_007_199_254_740_993_i64, u64::MAX, 1.5, 1.0, -0.0,
            1e300, "", "x", [], [1], {}, {"a": 1}
        ]);
        let sql = format!("SELECT {KIND_OF_SQL} FROM json_each(?1) AS j WHERE j.key = ?2");
        for (i, value) in values.as_array().unwrap().iter().enumerate() {
            let bit: u8 = conn
                .query_row(&sql, params![values.to_string(), i as i64], |r| r.get(0))
                .unwrap();
            assert_eq!(bit, kind_of(value), "{value}");
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &db("u")).unwrap();
        conn.execute(
            "INSERT INTO __lockstep_migrations (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
        assert_eq!(
            migrate(&conn, &db("u")),
            Err(StoreError::NewerSchema {
                found: 99,
                supported: SCHEMA_VERSION
            })
        );
    }

    #[test]
    fn other_scope_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &db("a")).unwrap();
        assert!(matches!(
            migrate(&conn, &db("b")),
            Err(StoreError::WrongDatabase { .. })
        ));
    }
}
