//! Opening the database's SQLite file on OPFS, in the leader worker only.
//!
//! OPFS sync access handles exist only in dedicated workers, and a pool has
//! one owner at a time: the Web Lock gates the open, so a
//! `NoModificationAllowedError` here means a previous leader's worker (a tab
//! that is closing) still holds the handles; it is retried, never taken to
//! mean "no OPFS". Without OPFS at all (private browsing, an old browser) the
//! leader falls back to an in-memory database and says so loudly: data then
//! lives only as long as the leader's tab.

use lockstep::DatabaseId;
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder};

use crate::names;

/// What the leader got.
pub enum Opened {
    /// The durable file on OPFS.
    Durable(SqliteStore),
    /// OPFS is unavailable: an in-memory database, with the reason.
    MemoryOnly(SqliteStore, String),
}

/// Why the store could not be opened.
pub enum OpenError {
    /// Another context still owns the OPFS pool: retry shortly.
    Busy(String),
    /// Anything else, with a message that says what to do.
    Failed(String),
}

/// Opens (creating if needed) the database's file in its own OPFS pool.
pub async fn open(db: &DatabaseId) -> Result<Opened, OpenError> {
    let config = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&names::vfs(db))
        .directory(&names::opfs_directory(db))
        .build();
    match install::<sqlite_wasm_rs::WasmOsCallback>(&config, true).await {
        Ok(_pool) => SqliteStore::open("/lockstep.db", db, SqliteOptions::default())
            .map(Opened::Durable)
            .map_err(|e| OpenError::Failed(format!("opening the database on OPFS failed: {e}"))),
        Err(OpfsSAHError::NotSupported) => {
            let why = "OPFS is unavailable here (private browsing or an unsupported browser): Lockstep keeps this database in memory only, and it is lost when the leading tab closes".to_owned();
            SqliteStore::open_in_memory(db, SqliteOptions::default())
                .map(|store| Opened::MemoryOnly(store, why))
                .map_err(|e| OpenError::Failed(format!("opening an in-memory database failed: {e}")))
        }
        Err(OpfsSAHError::Opfs { operation, message, .. }) if message.contains("NoModificationAllowedError") || message.contains("InvalidStateError") => {
            Err(OpenError::Busy(format!("another tab still owns this database's files ({operation}); this tab will take over when it lets go")))
        }
        Err(other) => Err(OpenError::Failed(format!("installing the OPFS pool failed: {other}"))),
    }
}
