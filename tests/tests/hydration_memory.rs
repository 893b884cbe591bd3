//! A tab that loads a collection page by page holds its rows in a map whose
//! B-tree nodes are full, not half full as inserting each page's rows in key
//! order leaves them (each node has room for 64 entries whatever it holds:
//! half-full nodes cost a tab about 29 bytes per row more in wasm32).
//!
//! Measured with an allocator that counts the bytes the test's own thread
//! holds: the tab's growth over the load, less what its rows take, is the
//! map; it must stay well under the map the same rows make inserted in order.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lockstep::{HeldRow, Key, MemoryStore, Op, SharedRow, Snapshot};
use lockstep_tests::*;
use serde_json::json;

/// The system allocator, counting the bytes each thread holds.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: isize) {
    let _ = HELD.try_with(|held| held.set(held.get() + bytes));
}

// SAFETY: every call is passed on to `System` unchanged; the counter is a
// thread-local `Cell` with a constant initialiser, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes this thread's `make` holds on to.
fn held_by<T>(make: impl FnOnce() -> T) -> (T, isize) {
    let before = HELD.with(Cell::get);
    let made = make();
    (made, HELD.with(Cell::get) - before)
}

#[test]
fn a_loaded_collection_is_held_in_full_nodes() {
    const ROWS: i64 = 20_000;
    let todos = collection("todos");
    let mut net: Net<MemoryStore> = Net::new(database("todo", "u1"), 1);
    net.elect(0, MemoryStore::new()).unwrap();
    net.tabs[0].open_collection(net.now, todos.clone());
    net.run();
    let ops = (0..ROWS)
        .map(|n| Op::Insert {
            collection: todos.clone(),
            key: Key::Int(n),
            value: HeldRow::shared(row(
                json!({"title": format!("todo number {n}"), "done": false, "n": n}),
            )),
        })
        .collect();
    net.tabs[0].mutate(net.now, ops).unwrap();
    net.run();

    // A new tab loads the rows (pages of 5,000 by default).
    let (late, grown) = held_by(|| {
        let late = net.open_tab(7, std::slice::from_ref(&todos));
        net.run();
        late
    });
    let shown: Snapshot = net.tabs[late].snapshot(&todos);
    assert_eq!(shown.len(), ROWS as usize);

    // What the rows alone take: each one's text and its shared `HeldRow`.
    let (copies, rows) = held_by(|| {
        shown
            .values()
            .map(|row| SharedRow::new(HeldRow::from_json(row.json().into()).unwrap()))
            .collect::<Vec<SharedRow>>()
    });
    let rows = rows - (copies.capacity() * size_of::<SharedRow>()) as isize;
    // The same rows inserted in key order, one by one (integer keys and
    // shared rows: only the map's nodes are new).
    let (_in_order, in_order) = held_by(|| {
        let mut map = Snapshot::new();
        for (key, row) in shown.iter() {
            map.insert(key.clone(), row.clone());
        }
        map
    });

    let map = grown - rows;
    let per_row = |bytes: isize| bytes as f64 / ROWS as f64;
    assert!(
        map * 10 < in_order * 7,
        "the loaded map takes {:.1} bytes per row, inserted in order {:.1}",
        per_row(map),
        per_row(in_order)
    );
}
