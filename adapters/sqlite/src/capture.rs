//! Telling Lockstep's own writes from other code's, on the connection alone.
//!
//! The capture triggers record a write in the tracking table only
//! `WHEN NOT sqlite_compileoption_used('LOCKSTEP_OWN_WRITE')`. On any
//! connection but the store's, that is SQLite's built-in function, and no
//! SQLite build has an option of that name: every write is captured. The
//! store's connection overrides the function (`OwnWrites::install`): it
//! answers yes for that name only while a Lockstep transaction is open, and
//! like the built-in for every other name. So Lockstep's own writes never
//! touch the tracking table, and whether capture is on is decided by the
//! connection, never by anything committed to the file (which other code
//! could write).
//!
//! The price: a statement that fires a trigger whose condition calls a
//! function may abort halfway, so SQLite keeps a statement journal for each
//! row statement (a copy of each page it changes), where the unconditional
//! triggers of schema v4 and v5 needed none. It is less than the tracking
//! row, its counter and its removal it saves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lockstep::StoreError;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::error::SqlResultExt;

/// The option name the capture triggers ask about.
///
/// ```
/// assert_eq!(lockstep_sqlite::capture::OWN_WRITE, "LOCKSTEP_OWN_WRITE");
/// ```
pub const OWN_WRITE: &str = "LOCKSTEP_OWN_WRITE";

/// The condition of every capture trigger: not a write of Lockstep's own
/// transaction on the store's connection.
pub(crate) fn capture_when() -> String {
    format!("NOT sqlite_compileoption_used('{OWN_WRITE}')")
}

/// Whether a Lockstep transaction is open on the store's connection, as the
/// capture triggers see it.
#[derive(Debug)]
pub(crate) struct OwnWrites(Arc<AtomicBool>);

impl OwnWrites {
    /// Overrides `sqlite_compileoption_used` on `conn`, before any statement
    /// is prepared on it (a statement compiles its triggers when prepared).
    pub(crate) fn install(conn: &Connection) -> Result<OwnWrites, StoreError> {
        let own = Arc::new(AtomicBool::new(false));
        let seen = own.clone();
        // Other names are answered by a private connection of the same
        // SQLite, where the function is still the built-in one (opened on
        // first use: other code rarely asks).
        let builtin: Mutex<Option<Connection>> = Mutex::new(None);
        conn.create_scalar_function(
            "sqlite_compileoption_used",
            1,
            FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let name = ctx.get_raw(0);
                if name.as_str().ok() == Some(OWN_WRITE) {
                    return Ok(Some(i64::from(seen.load(Ordering::Relaxed))));
                }
                let mut builtin = builtin.lock().unwrap_or_else(|e| e.into_inner());
                let c = match builtin.take() {
                    Some(c) => c,
                    None => Connection::open_in_memory()?,
                };
                let used = c.query_row(
                    "SELECT sqlite_compileoption_used(?1)",
                    [ctx.get::<Value>(0)?],
                    |r| r.get::<_, Option<i64>>(0),
                );
                *builtin = Some(c);
                used
            },
        )
        .store()?;
        Ok(OwnWrites(own))
    }

    /// Marks the start (`true`) or end (`false`) of a Lockstep transaction.
    pub(crate) fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }
}
