//! Opening the database's SQLite file on OPFS, in the leader worker only.
//!
//! OPFS sync access handles exist only in dedicated workers, and a pool has
//! one owner at a time: the Web Lock gates the open, so a
//! `NoModificationAllowedError` here means a previous leader's worker (a tab
//! that is closing) still holds the handles; it is retried, never taken to
//! mean "no OPFS". Without OPFS at all (private browsing, an old browser) the
//! leader falls back to an in-memory database and says so loudly: data then
//! lives only as long as the leader's tab.
//!
//! A leader that steps down closes its connection and then [`Pool::release`]s
//! the pool's access handles, before it lets go of the lock, so the next
//! leader (in this tab or another) can take the files; if this worker leads
//! again it resumes the same pool instead of installing a second one.

use lockstep::DatabaseId;
use lockstep_sqlite::{SqliteOptions, SqliteStore};
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder, OpfsSAHPoolUtil};

use crate::{js, names, wal_batch};

/// The OPFS pool of one database, held by its leader worker.
pub struct Pool(OpfsSAHPoolUtil);

impl Pool {
    /// Gives the pool's access handles back (the connection must be closed),
    /// so another tab's worker can open the files.
    pub fn release(&self) -> Result<(), String> {
        self.0
            .pause()
            .map_err(|e| format!("releasing the OPFS files failed: {e}"))
    }

    /// Files the pool holds now, used or not ([`POOL_CAPACITY`] once open;
    /// 0 while released).
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

/// What the leader got.
pub enum Opened {
    /// The durable file on OPFS, and its pool.
    Durable(SqliteStore, Pool),
    /// An in-memory database, with the reason to tell the user.
    MemoryOnly(SqliteStore, String),
}

/// Why the store could not be opened.
pub enum OpenError {
    /// Another context still owns the OPFS pool: retry shortly.
    Busy(String),
    /// Anything else, with a message that says what to do.
    Failed(String),
}

fn busy(error: &OpfsSAHError) -> bool {
    let text = error.to_string();
    text.contains("NoModificationAllowedError") || text.contains("InvalidStateError")
}

fn memory(db: &DatabaseId, why: String) -> Result<Opened, OpenError> {
    SqliteStore::open_in_memory(db, SqliteOptions::default())
        .map(|store| Opened::MemoryOnly(store, why))
        .map_err(|e| OpenError::Failed(format!("opening an in-memory database failed: {e}")))
}

/// Files the OPFS pool holds: the database and its WAL, and one spare (a
/// rollback journal, should SQLite ever need one). Temporary files stay in
/// memory (`temp_store`), and exclusive locking needs no shared-memory
/// file. Every leader start opens a sync access handle for each file, one
/// after another, and truncates and flushes each unused one, so each slot
/// not needed is time saved on every start and failover (3 files instead
/// of 6: failover 67 → 57 ms, same-hour A/B on the bench machine).
pub const POOL_CAPACITY: usize = 3;

/// Removes the unused slots beyond [`POOL_CAPACITY`] of a pool made by an
/// earlier version (which held 6), so later starts open fewer handles.
/// Files in use are never removed; a failure only costs that time again.
async fn shrink(pool: &OpfsSAHPoolUtil) {
    let extra = pool.capacity().saturating_sub(POOL_CAPACITY);
    if extra > 0 {
        if let Err(e) = pool.reduce_capacity(extra).await {
            js::warn(&format!(
                "Lockstep: removing {extra} unused OPFS files failed ({e}); the next start tries again"
            ));
        }
    }
}

/// Opens (creating if needed) the database's file in its own OPFS pool, or
/// an in-memory database when asked to or when OPFS is missing.
pub async fn open(db: &DatabaseId, memory_only: bool) -> Result<Opened, OpenError> {
    if memory_only {
        return memory(
            db,
            "this database is kept in memory only (as the app asked): it is lost when the leading tab closes".into(),
        );
    }
    let config = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&names::vfs(db))
        .directory(&names::opfs_directory(db))
        .initial_capacity(POOL_CAPACITY)
        .build();
    let pool = match install::<sqlite_wasm_rs::WasmOsCallback>(&config, false).await {
        Ok(pool) => pool,
        Err(OpfsSAHError::NotSupported) => {
            return memory(db, "OPFS is unavailable here (private browsing or an unsupported browser): Lockstep keeps this database in memory only, and it is lost when the leading tab closes".into());
        }
        Err(e) if busy(&e) => {
            return Err(OpenError::Busy(format!("another tab still owns this database's files ({e}); this tab will take over when it lets go")));
        }
        Err(e) => {
            return Err(OpenError::Failed(format!(
                "installing the OPFS pool failed: {e}"
            )))
        }
    };
    // This worker led before and released the handles when it stepped down.
    if pool.is_paused() {
        if let Err(e) = pool.resume().await {
            return Err(if busy(&e) {
                OpenError::Busy(format!("another tab still owns this database's files ({e}); this tab will take over when it lets go"))
            } else {
                OpenError::Failed(format!("reopening the OPFS pool failed: {e}"))
            });
        }
    }
    shrink(&pool).await;
    let pool = Pool(pool);
    // One OPFS write per commit instead of two per page (see wal_batch);
    // without the shim the pool's VFS works the same, only slower.
    let vfs = match wal_batch::register(&names::vfs(db)) {
        Ok(vfs) => vfs,
        Err(why) => {
            js::warn(&format!(
                "Lockstep: writing the WAL in one piece is off: {why}"
            ));
            names::vfs(db)
        }
    };
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE;
    match SqliteStore::open_with_vfs("/lockstep.db", flags, &vfs, db, SqliteOptions::default()) {
        Ok(store) => Ok(Opened::Durable(store, pool)),
        Err(e) => {
            let _ = pool.release();
            Err(OpenError::Failed(format!(
                "opening the database on OPFS failed: {e}"
            )))
        }
    }
}
