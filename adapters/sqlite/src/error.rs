//! Mapping SQLite failures to [`StoreError`], the error type of the core.
//!
//! `SQLITE_FULL` (disk or quota full) becomes [`StoreError::Full`] so the
//! coordinator answers with `Rejection::StorageFull`; every other failure
//! becomes [`StoreError::Other`] carrying SQLite's message.

use lockstep::StoreError;
use rusqlite::ErrorCode;

/// Converts a rusqlite error into a [`StoreError`].
///
/// ```
/// use lockstep::StoreError;
/// use lockstep_sqlite::to_store_error;
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// let err = conn.execute("SELECT * FROM missing", []).unwrap_err();
/// assert!(matches!(to_store_error(err), StoreError::Other(_)));
/// ```
pub fn to_store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(error.to_string()),
        _ => StoreError::Other(error.to_string()),
    }
}

/// `.store()` on rusqlite results: converts the error with [`to_store_error`].
pub(crate) trait SqlResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(to_store_error)
    }
}

/// A [`StoreError::Corrupt`] naming where the bad data was found.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_maps_to_full() {
        let err = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(matches!(to_store_error(err), StoreError::Full(_)));
    }
}
