//! The allocator of Lockstep's wasm builds: talc, with wasm memory grown at
//! least 1 MiB at a time.
//!
//! talc's own `WasmHandler` grows the memory by just what the allocation
//! that failed needs, mostly one 64 KiB page: a tab hydrating 100,000 rows
//! grew it about 500 times, and each `memory.grow` costs the page V8's
//! bookkeeping and a fresh `ArrayBuffer` (30 ms of a 100,000-row load, by
//! Chromium's trace). Growing by 1 MiB at least makes that about 30 times,
//! and leaves at most 1 MiB unused at the end of the memory.

use core::alloc::Layout;

use talc::locking::AssumeUnlockable;
use talc::{OomHandler, Span, Talc, Talck};

/// A wasm memory page.
const PAGE_BYTES: usize = 64 << 10;

/// Least growth of the memory, in pages (1 MiB).
const MIN_GROWTH_PAGES: usize = 16;

/// The global allocator of a single-threaded wasm module: see the module's
/// doc. Declare it in the crate that builds the module:
///
/// ```no_run
/// #[global_allocator]
/// static ALLOCATOR: lockstep_browser::alloc::Allocator =
///     // SAFETY: this module runs in one thread (a page or a worker).
///     unsafe { lockstep_browser::alloc::allocator() };
/// ```
pub type Allocator = Talck<AssumeUnlockable, GrowInMebibytes>;

/// The allocator, for a `#[global_allocator]` static.
///
/// # Safety
/// The module must be single-threaded wasm, and nothing else may claim the
/// memory above what was there when the allocator first grows it.
pub const unsafe fn allocator() -> Allocator {
    Talc::new(GrowInMebibytes {
        heap: Span::empty(),
    })
    .lock()
}

/// talc's out-of-memory handler for wasm that grows the memory by at least
/// 1 MiB, or by what the failed allocation needs if that is more.
pub struct GrowInMebibytes {
    /// The heap claimed so far (empty until the first growth).
    heap: Span,
}

impl OomHandler for GrowInMebibytes {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        // What talc needs for this allocation, with its chunk's tag.
        let needed = (layout.size() + 8)
            .max(layout.align() * 2)
            .div_ceil(PAGE_BYTES);
        let mut pages = needed.max(MIN_GROWTH_PAGES);
        let old_pages = loop {
            let old = core::arch::wasm32::memory_grow::<0>(pages);
            if old != usize::MAX {
                break old;
            }
            // Near the memory's limit: only what is needed, or fail.
            if pages == needed {
                return Err(());
            }
            pages = needed;
        };
        let base = (old_pages * PAGE_BYTES) as *mut u8;
        let acme = base.wrapping_add(pages * PAGE_BYTES);
        let handler = &mut talc.oom_handler;
        if let Some((heap_base, heap_acme)) = handler.heap.get_base_acme() {
            if heap_acme == base {
                // SAFETY: the new pages follow the heap at once and belong
                // to no one else: the heap grows over them.
                let heap = handler.heap;
                talc.oom_handler.heap = unsafe { talc.extend(heap, Span::new(heap_base, acme)) };
                return Ok(());
            }
        }
        // SAFETY: pages just added to the memory, owned by no one else.
        talc.oom_handler.heap = unsafe { talc.claim(Span::new(base, acme))? };
        Ok(())
    }
}
