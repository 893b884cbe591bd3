//! A VFS shim over the OPFS pool that hands a transaction's WAL to OPFS in
//! one write, and a checkpoint's pages to the database file in few.
//!
//! SQLite writes a WAL frame as two calls (a 24-byte header, then the page),
//! and every call on a `FileSystemSyncAccessHandle` costs about 0.1 ms in
//! Chromium whatever its size: a one-row commit touches six pages, so twelve
//! calls were half of its time. This shim keeps contiguous writes to the WAL
//! in memory and passes them on as one write before anything else touches
//! the file: a read, a size or truncate, a file control, a sync (which every
//! commit ends with under `synchronous = FULL`) or the close. Nothing is
//! acknowledged before the sync, so nothing acknowledged can be lost; a
//! failed deferred write is reported by the call that flushed it (a sync
//! failure, which rolls the transaction back).
//!
//! The database file gets the same treatment: in WAL mode SQLite writes it
//! only when a checkpoint copies pages back from the WAL, one call per page
//! in page order, then syncs it before the WAL may be reused, so the pages
//! of a bulk insert (mostly contiguous) go to OPFS in a few writes instead
//! of a thousand, and nothing is forgotten by the WAL before they are on
//! disk.
//!
//! Reads of both go through a read-ahead: SQLite reads them one page (or
//! one WAL frame) per call, in file order when it opens a WAL left behind
//! (every frame, to check it), when a checkpoint copies a bulk insert's
//! frames back, and when a query scans a table stored in order. A read that
//! starts where the last one ended (or within a frame header of it) fetches
//! the bytes after it in one call and serves the reads after it from them,
//! until the file is written, truncated, given a file control or closed.
//! The window starts at [`MIN_READ_AHEAD`] and doubles with each fetch of a
//! run of such reads, up to [`READ_AHEAD`]; a read elsewhere starts it
//! over, so two pages that happen to be neighbours cost a small read, not
//! half a megabyte. Other files (a rollback journal, temporary files) pass
//! straight through.
//!
//! Every other method forwards to the pool's VFS, which is found by name and
//! given its own `sqlite3_vfs` back (the pool keeps its state there).

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

use sqlite_wasm_rs::{
    sqlite3_file, sqlite3_int64, sqlite3_io_methods, sqlite3_vfs, sqlite3_vfs_find,
    sqlite3_vfs_register, SQLITE_ERROR, SQLITE_IOERR_WRITE, SQLITE_OK, SQLITE_OPEN_MAIN_DB,
    SQLITE_OPEN_WAL,
};

/// Most bytes kept before they are written anyway (a large transaction
/// spills pages to the WAL before it commits).
const MAX_PENDING: usize = 4 << 20;

/// The most pending-write capacity kept between flushes (a one-row commit
/// needs a few pages; a bulk insert's megabytes are given back).
const KEEP_PENDING: usize = 1 << 20;

/// The most bytes fetched at once by a read that follows on from the last.
const READ_AHEAD: usize = 512 << 10;

/// The bytes fetched by the first read of a run that follows on.
const MIN_READ_AHEAD: usize = 64 << 10;

/// How far past the last read's end a read may start and still count as
/// following on (a WAL frame's header: SQLite reads the pages of adjacent
/// frames and skips the headers between them).
const FOLLOW_ON_GAP: sqlite3_int64 = 64;

/// The name of the shim over the VFS `inner`.
pub fn name(inner: &str) -> String {
    format!("{inner}-walbatch")
}

/// Registers (once per name) the shim over the registered VFS `inner` and
/// returns its name. Registering again points the shim at the VFS now
/// registered as `inner`.
pub fn register(inner: &str) -> Result<String, String> {
    let shim_name = name(inner);
    let c_inner = CString::new(inner).map_err(|_| "VFS name holds a NUL byte".to_string())?;
    let c_shim =
        CString::new(shim_name.clone()).map_err(|_| "VFS name holds a NUL byte".to_string())?;
    // SAFETY: plain look-ups in SQLite's VFS list; the structures they
    // return live until unregistered, which Lockstep never does.
    unsafe {
        let base = sqlite3_vfs_find(c_inner.as_ptr());
        if base.is_null() {
            return Err(format!("no VFS named {inner} is registered"));
        }
        let existing = sqlite3_vfs_find(c_shim.as_ptr());
        if !existing.is_null() {
            (*existing).pAppData = base.cast();
            return Ok(shim_name);
        }
        let mut shim: sqlite3_vfs = *base;
        shim.pNext = ptr::null_mut();
        shim.zName = c_shim.into_raw();
        shim.pAppData = base.cast();
        shim.szOsFile = (HEADER + (*base).szOsFile as usize) as c_int;
        shim.xOpen = Some(open);
        shim.xDelete = (*base).xDelete.map(|_| delete as _);
        shim.xAccess = (*base).xAccess.map(|_| access as _);
        shim.xFullPathname = (*base).xFullPathname.map(|_| full_pathname as _);
        shim.xDlOpen = None;
        shim.xDlError = None;
        shim.xDlSym = None;
        shim.xDlClose = None;
        shim.xRandomness = (*base).xRandomness.map(|_| randomness as _);
        shim.xSleep = (*base).xSleep.map(|_| sleep as _);
        shim.xCurrentTime = (*base).xCurrentTime.map(|_| current_time as _);
        shim.xGetLastError = (*base).xGetLastError.map(|_| get_last_error as _);
        shim.xCurrentTimeInt64 = (*base).xCurrentTimeInt64.map(|_| current_time_int64 as _);
        shim.xSetSystemCall = None;
        shim.xGetSystemCall = None;
        shim.xNextSystemCall = None;
        if shim.iVersion > 2 {
            shim.iVersion = 2;
        }
        let shim = Box::into_raw(Box::new(shim));
        let rc = sqlite3_vfs_register(shim, 0);
        if rc != SQLITE_OK {
            drop(CString::from_raw((*shim).zName as *mut c_char));
            drop(Box::from_raw(shim));
            return Err(format!(
                "registering the VFS {}-walbatch failed (code {rc})",
                inner
            ));
        }
    }
    Ok(shim_name)
}

/// The buffers of a WAL or a main database.
struct Pending {
    /// Where `bytes` belong.
    at: sqlite3_int64,
    /// Writes not yet handed to the file.
    bytes: Vec<u8>,
    /// Where `ahead` was read from.
    ahead_at: sqlite3_int64,
    /// The file's bytes from `ahead_at`, as they are (empty: none).
    ahead: Vec<u8>,
    /// Where the last read ended.
    read_end: Option<sqlite3_int64>,
    /// The bytes the next fetch of a read-ahead asks for.
    window: usize,
}

impl Pending {
    /// The read-ahead's bytes for `len` bytes at `offset`, if it holds them.
    fn ahead(&self, offset: sqlite3_int64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset.checked_sub(self.ahead_at)?).ok()?;
        self.ahead.get(start..start.checked_add(len)?)
    }

    /// Whether a read at `offset` follows on from the last one.
    fn follows_on(&self, offset: sqlite3_int64) -> bool {
        self.read_end
            .is_some_and(|end| (0..=FOLLOW_ON_GAP).contains(&(offset - end)))
    }

    /// Forgets the read-ahead (the file is about to change).
    fn stale(&mut self) {
        self.ahead.clear();
        self.read_end = None;
        self.window = MIN_READ_AHEAD;
    }
}

/// The shim's file: this header, then the pool's own file.
#[repr(C)]
struct File {
    base: sqlite3_file,
    methods: sqlite3_io_methods,
    /// Null for files other than a WAL or a main database.
    pending: *mut Pending,
}

/// Where the pool's file starts in ours (kept 8-aligned).
const HEADER: usize = (std::mem::size_of::<File>() + 7) & !7;

unsafe fn inner_vfs(vfs: *mut sqlite3_vfs) -> *mut sqlite3_vfs {
    (*vfs).pAppData.cast()
}

unsafe fn inner_file(file: *mut sqlite3_file) -> *mut sqlite3_file {
    file.cast::<u8>().add(HEADER).cast()
}

unsafe fn inner_methods(file: *mut sqlite3_file) -> *const sqlite3_io_methods {
    (*inner_file(file)).pMethods
}

unsafe extern "C" fn open(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    file: *mut sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = inner_vfs(vfs);
    let ours = file.cast::<File>();
    (*ours).base.pMethods = ptr::null();
    (*ours).pending = ptr::null_mut();
    let inner = inner_file(file);
    (*inner).pMethods = ptr::null();
    let Some(open) = (*base).xOpen else {
        return SQLITE_ERROR;
    };
    let rc = open(base, name, inner, flags, out_flags);
    let methods = (*inner).pMethods;
    if methods.is_null() {
        return if rc == SQLITE_OK { SQLITE_ERROR } else { rc };
    }
    (*ours).methods = forwarding(&*methods);
    (*ours).base.pMethods = &(*ours).methods;
    if flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB) != 0 {
        (*ours).pending = Box::into_raw(Box::new(Pending {
            at: 0,
            bytes: Vec::new(),
            ahead_at: 0,
            ahead: Vec::new(),
            read_end: None,
            window: MIN_READ_AHEAD,
        }));
    }
    rc
}

/// The shim's methods for a file whose pool methods are `inner`: the same
/// version and the same optional methods.
fn forwarding(inner: &sqlite3_io_methods) -> sqlite3_io_methods {
    sqlite3_io_methods {
        iVersion: inner.iVersion,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: inner.xLock.map(|_| lock as _),
        xUnlock: inner.xUnlock.map(|_| unlock as _),
        xCheckReservedLock: inner.xCheckReservedLock.map(|_| check_reserved_lock as _),
        xFileControl: Some(file_control),
        xSectorSize: inner.xSectorSize.map(|_| sector_size as _),
        xDeviceCharacteristics: inner
            .xDeviceCharacteristics
            .map(|_| device_characteristics as _),
        xShmMap: inner.xShmMap.map(|_| shm_map as _),
        xShmLock: inner.xShmLock.map(|_| shm_lock as _),
        xShmBarrier: inner.xShmBarrier.map(|_| shm_barrier as _),
        xShmUnmap: inner.xShmUnmap.map(|_| shm_unmap as _),
        xFetch: inner.xFetch.map(|_| fetch as _),
        xUnfetch: inner.xUnfetch.map(|_| unfetch as _),
    }
}

/// Hands the pending writes to the pool's file.
unsafe fn flush(file: *mut sqlite3_file) -> c_int {
    let pending = (*file.cast::<File>()).pending;
    if pending.is_null() || (*pending).bytes.is_empty() {
        return SQLITE_OK;
    }
    let Some(write) = (*inner_methods(file)).xWrite else {
        return SQLITE_IOERR_WRITE;
    };
    let bytes = std::mem::take(&mut (*pending).bytes);
    let Ok(len) = c_int::try_from(bytes.len()) else {
        return SQLITE_IOERR_WRITE;
    };
    let rc = write(inner_file(file), bytes.as_ptr().cast(), len, (*pending).at);
    // Keep the allocation for the next transaction, unless a large one
    // (or a checkpoint) grew it: the worker keeps what it holds for good.
    if bytes.capacity() <= KEEP_PENDING {
        (*pending).bytes = bytes;
        (*pending).bytes.clear();
    }
    rc
}

/// Runs `then` after flushing, or returns the flush's failure.
unsafe fn flushed(file: *mut sqlite3_file, then: impl FnOnce() -> c_int) -> c_int {
    match flush(file) {
        SQLITE_OK => then(),
        rc => rc,
    }
}

unsafe extern "C" fn close(file: *mut sqlite3_file) -> c_int {
    let flushed_rc = flush(file);
    let methods = inner_methods(file);
    let rc = match (*methods).xClose {
        Some(close) => close(inner_file(file)),
        None => SQLITE_OK,
    };
    let ours = file.cast::<File>();
    if !(*ours).pending.is_null() {
        drop(Box::from_raw((*ours).pending));
        (*ours).pending = ptr::null_mut();
    }
    if flushed_rc != SQLITE_OK {
        flushed_rc
    } else {
        rc
    }
}

unsafe extern "C" fn write(
    file: *mut sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: sqlite3_int64,
) -> c_int {
    let pending = (*file.cast::<File>()).pending;
    let Ok(len) = usize::try_from(amount) else {
        return SQLITE_IOERR_WRITE;
    };
    stale(file);
    if pending.is_null() || len > MAX_PENDING {
        return flushed(file, || match (*inner_methods(file)).xWrite {
            Some(write) => write(inner_file(file), data, amount, offset),
            None => SQLITE_IOERR_WRITE,
        });
    }
    let p = &mut *pending;
    let end = p.at + p.bytes.len() as sqlite3_int64;
    if !p.bytes.is_empty() && (offset != end || p.bytes.len() + len > MAX_PENDING) {
        let rc = flush(file);
        if rc != SQLITE_OK {
            return rc;
        }
    }
    let p = &mut *pending;
    if p.bytes.is_empty() {
        p.at = offset;
    }
    p.bytes
        .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), len));
    SQLITE_OK
}

unsafe extern "C" fn read(
    file: *mut sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: sqlite3_int64,
) -> c_int {
    let rc = flush(file);
    if rc != SQLITE_OK {
        return rc;
    }
    let Some(read) = (*inner_methods(file)).xRead else {
        return SQLITE_ERROR;
    };
    let pending = (*file.cast::<File>()).pending;
    let (Some(p), Ok(len)) = (pending.as_mut(), usize::try_from(amount)) else {
        return read(inner_file(file), data, amount, offset);
    };
    let out = data.cast::<u8>();
    if let Some(bytes) = p.ahead(offset, len) {
        ptr::copy_nonoverlapping(bytes.as_ptr(), out, len);
        p.read_end = Some(offset + sqlite3_int64::from(amount));
        return SQLITE_OK;
    }
    // A read the read-ahead does not hold leaves it be (the file has not
    // changed): a checkpoint that reads two transactions' frames in page
    // order goes back and forth between two runs of the WAL.
    let follows_on = p.follows_on(offset);
    p.read_end = Some(offset + sqlite3_int64::from(amount));
    if !follows_on {
        p.window = MIN_READ_AHEAD;
    } else if let Some(bytes) = fetch_ahead(file, read, p, offset, len) {
        ptr::copy_nonoverlapping(bytes.as_ptr(), out, len);
        return SQLITE_OK;
    }
    read(inner_file(file), data, amount, offset)
}

/// Reads the next window of `file` from `offset` into `p`'s read-ahead and
/// returns its first `len` bytes; `None` when the window would not hold
/// them, the file ends before they do (a read past its end is the pool's
/// to answer: a short read) or the read fails (then the read-ahead is
/// dropped).
unsafe fn fetch_ahead(
    file: *mut sqlite3_file,
    read: unsafe extern "C" fn(*mut sqlite3_file, *mut c_void, c_int, sqlite3_int64) -> c_int,
    p: &mut Pending,
    offset: sqlite3_int64,
    len: usize,
) -> Option<&[u8]> {
    if len >= p.window {
        return None;
    }
    let file_size = (*inner_methods(file)).xFileSize?;
    let mut size: sqlite3_int64 = 0;
    if file_size(inner_file(file), &mut size) != SQLITE_OK {
        return None;
    }
    let end = size.min(offset.saturating_add(p.window as sqlite3_int64));
    let want = usize::try_from(end - offset)
        .ok()
        .filter(|&want| want >= len)?;
    p.window = (p.window * 2).min(READ_AHEAD);
    p.ahead.resize(want, 0);
    // `want` is at most READ_AHEAD, so it fits a c_int.
    let rc = read(
        inner_file(file),
        p.ahead.as_mut_ptr().cast(),
        want as c_int,
        offset,
    );
    if rc != SQLITE_OK {
        p.ahead.clear();
        return None;
    }
    p.ahead_at = offset;
    p.ahead.get(..len)
}

/// Forgets the read-ahead of `file` (it is about to change).
unsafe fn stale(file: *mut sqlite3_file) {
    if let Some(p) = (*file.cast::<File>()).pending.as_mut() {
        p.stale();
    }
}

unsafe extern "C" fn truncate(file: *mut sqlite3_file, size: sqlite3_int64) -> c_int {
    stale(file);
    flushed(file, || match (*inner_methods(file)).xTruncate {
        Some(truncate) => truncate(inner_file(file), size),
        None => SQLITE_ERROR,
    })
}

unsafe extern "C" fn sync(file: *mut sqlite3_file, flags: c_int) -> c_int {
    flushed(file, || match (*inner_methods(file)).xSync {
        Some(sync) => sync(inner_file(file), flags),
        None => SQLITE_OK,
    })
}

unsafe extern "C" fn file_size(file: *mut sqlite3_file, size: *mut sqlite3_int64) -> c_int {
    flushed(file, || match (*inner_methods(file)).xFileSize {
        Some(file_size) => file_size(inner_file(file), size),
        None => SQLITE_ERROR,
    })
}

unsafe extern "C" fn file_control(file: *mut sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    stale(file);
    flushed(file, || match (*inner_methods(file)).xFileControl {
        Some(file_control) => file_control(inner_file(file), op, arg),
        None => sqlite_wasm_rs::SQLITE_NOTFOUND,
    })
}

// Methods that never touch pending bytes: forwarded as they are. Each is
// installed only when the pool's file has it (see `forwarding`).

unsafe extern "C" fn lock(file: *mut sqlite3_file, level: c_int) -> c_int {
    (*inner_methods(file))
        .xLock
        .map_or(SQLITE_OK, |f| f(inner_file(file), level))
}

unsafe extern "C" fn unlock(file: *mut sqlite3_file, level: c_int) -> c_int {
    (*inner_methods(file))
        .xUnlock
        .map_or(SQLITE_OK, |f| f(inner_file(file), level))
}

unsafe extern "C" fn check_reserved_lock(file: *mut sqlite3_file, out: *mut c_int) -> c_int {
    (*inner_methods(file))
        .xCheckReservedLock
        .map_or(SQLITE_ERROR, |f| f(inner_file(file), out))
}

unsafe extern "C" fn sector_size(file: *mut sqlite3_file) -> c_int {
    (*inner_methods(file))
        .xSectorSize
        .map_or(4096, |f| f(inner_file(file)))
}

unsafe extern "C" fn device_characteristics(file: *mut sqlite3_file) -> c_int {
    (*inner_methods(file))
        .xDeviceCharacteristics
        .map_or(0, |f| f(inner_file(file)))
}

unsafe extern "C" fn shm_map(
    file: *mut sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    (*inner_methods(file)).xShmMap.map_or(SQLITE_ERROR, |f| {
        f(inner_file(file), page, size, extend, out)
    })
}

unsafe extern "C" fn shm_lock(
    file: *mut sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    (*inner_methods(file))
        .xShmLock
        .map_or(SQLITE_ERROR, |f| f(inner_file(file), offset, n, flags))
}

unsafe extern "C" fn shm_barrier(file: *mut sqlite3_file) {
    if let Some(f) = (*inner_methods(file)).xShmBarrier {
        f(inner_file(file));
    }
}

unsafe extern "C" fn shm_unmap(file: *mut sqlite3_file, delete: c_int) -> c_int {
    (*inner_methods(file))
        .xShmUnmap
        .map_or(SQLITE_OK, |f| f(inner_file(file), delete))
}

unsafe extern "C" fn fetch(
    file: *mut sqlite3_file,
    offset: sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    flushed(file, || match (*inner_methods(file)).xFetch {
        Some(f) => f(inner_file(file), offset, amount, out),
        None => {
            *out = ptr::null_mut();
            SQLITE_OK
        }
    })
}

unsafe extern "C" fn unfetch(
    file: *mut sqlite3_file,
    offset: sqlite3_int64,
    p: *mut c_void,
) -> c_int {
    (*inner_methods(file))
        .xUnfetch
        .map_or(SQLITE_OK, |f| f(inner_file(file), offset, p))
}

// The VFS methods: the pool's own, given the pool's `sqlite3_vfs`.

unsafe extern "C" fn delete(vfs: *mut sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let base = inner_vfs(vfs);
    (*base)
        .xDelete
        .map_or(SQLITE_ERROR, |f| f(base, name, sync_dir))
}

unsafe extern "C" fn access(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let base = inner_vfs(vfs);
    (*base)
        .xAccess
        .map_or(SQLITE_ERROR, |f| f(base, name, flags, out))
}

unsafe extern "C" fn full_pathname(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let base = inner_vfs(vfs);
    (*base)
        .xFullPathname
        .map_or(SQLITE_ERROR, |f| f(base, name, n, out))
}

unsafe extern "C" fn randomness(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let base = inner_vfs(vfs);
    (*base).xRandomness.map_or(0, |f| f(base, n, out))
}

unsafe extern "C" fn sleep(vfs: *mut sqlite3_vfs, micros: c_int) -> c_int {
    let base = inner_vfs(vfs);
    (*base).xSleep.map_or(0, |f| f(base, micros))
}

unsafe extern "C" fn current_time(vfs: *mut sqlite3_vfs, out: *mut f64) -> c_int {
    let base = inner_vfs(vfs);
    (*base).xCurrentTime.map_or(SQLITE_ERROR, |f| f(base, out))
}

unsafe extern "C" fn get_last_error(vfs: *mut sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let base = inner_vfs(vfs);
    (*base).xGetLastError.map_or(0, |f| f(base, n, out))
}

unsafe extern "C" fn current_time_int64(vfs: *mut sqlite3_vfs, out: *mut sqlite3_int64) -> c_int {
    let base = inner_vfs(vfs);
    (*base)
        .xCurrentTimeInt64
        .map_or(SQLITE_ERROR, |f| f(base, out))
}
