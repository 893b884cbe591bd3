//! Lockstep's wasm allocator, as the global allocator of this test module:
//! it grows the memory by 1 MiB at least (not a page per small allocation),
//! by more when one allocation needs more, and what it hands out holds.
#![cfg(target_arch = "wasm32")]

use core::arch::wasm32::memory_size;

use lockstep_browser::alloc::{allocator, Allocator};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// SAFETY: this test module runs in one thread and nothing else grows its memory.
#[global_allocator]
static ALLOCATOR: Allocator = unsafe { allocator() };

/// 1 MiB in wasm pages.
const MIB_PAGES: usize = 16;

#[wasm_bindgen_test]
fn small_allocations_grow_the_memory_a_mebibyte_at_a_time() {
    let mut rows: Vec<Box<str>> = Vec::new();
    let mut sizes = vec![memory_size::<0>()];
    for i in 0..100_000 {
        rows.push(format!(r#"{{"id":{i},"title":"row number {i}"}}"#).into_boxed_str());
        let now = memory_size::<0>();
        if now != *sizes.last().unwrap() {
            sizes.push(now);
        }
    }
    let steps: Vec<usize> = sizes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(!steps.is_empty(), "about 4 MiB of rows grew nothing");
    assert!(steps.iter().all(|&pages| pages >= MIB_PAGES), "{steps:?}");
    // Each row reads back as written: the grown memory joined the heap.
    for (i, row) in rows.iter().enumerate().step_by(997) {
        assert_eq!(&**row, format!(r#"{{"id":{i},"title":"row number {i}"}}"#));
    }
}

#[wasm_bindgen_test]
fn one_large_allocation_grows_the_memory_by_what_it_needs() {
    // Larger than the whole memory by 4 MiB: no free space can hold it.
    let before = memory_size::<0>();
    let size = before * (64 << 10) + (4 << 20);
    let big = vec![7u8; size];
    let grown = memory_size::<0>() - before;
    assert!(
        grown >= 4 * MIB_PAGES,
        "grew {grown} pages for {size} bytes"
    );
    assert!(big.iter().step_by(4096).all(|&b| b == 7));
}
