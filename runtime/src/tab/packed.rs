//! Inserting a run of rows in ascending key order (a hydration page) so that
//! the `im::OrdMap` holding them ends up with full nodes.
//!
//! `im::OrdMap` is a B-tree of up to 64 entries per node that splits a full
//! node at its median. Rows inserted in key order (as every hydration page
//! arrives) always land in the rightmost node, so each split leaves a node
//! behind half full, and never touched again: a node holds 64 slots and
//! its child pointers whatever its fill, so half-full nodes cost a tab about
//! 29 bytes per row more in wasm32 (57 instead of 28).
//!
//! Inserted in two passes instead, the nodes end full: first the entries at
//! even offsets of each block of 65 (33 of them), still in order, which
//! leaves every leaf with 32 entries and their separators in the parent;
//! then the rest. Between two consecutive first-pass entries there is one
//! second-pass entry, except once per 33 gaps (a block's last entry and the
//! next block's first are neighbours), and a leaf spans 33 gaps wherever it
//! starts: each leaf receives 32 more entries and ends with 64, without a
//! split. The content is the same as inserting in order; only the shape of
//! the tree differs (and it is faster: half the splits, half the nodes).

use super::collection::Snapshot;
use crate::key::Key;
use crate::row::SharedRow;

/// Entries per block: a full leaf (64) and the separator that follows it.
const BLOCK: usize = 65;

/// Inserts `rows` into `map`. Rows in strictly ascending key order go in
/// two passes (see the module); anything else is inserted in the order
/// given, so a later row of a key replaces an earlier one as usual.
pub(crate) fn insert_run(map: &mut Snapshot, rows: Vec<(Key, SharedRow)>) {
    if !rows.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        for (key, row) in rows {
            map.insert(key, row);
        }
        return;
    }
    // Each entry moves into the map once, nothing is cloned (a long key
    // would be copied), and the slots reuse the list's own allocation.
    let mut slots: Vec<Option<(Key, SharedRow)>> = rows.into_iter().map(Some).collect();
    let first = slots
        .iter_mut()
        .enumerate()
        .filter(|(at, _)| at % BLOCK % 2 == 0);
    for (key, row) in first.filter_map(|(_, slot)| slot.take()) {
        map.insert(key, row);
    }
    for (key, row) in slots.into_iter().flatten() {
        map.insert(key, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::held::HeldRow;

    fn rows(keys: impl IntoIterator<Item = i64>) -> Vec<(Key, SharedRow)> {
        keys.into_iter()
            .map(|i| {
                let row = HeldRow::from_json(format!(r#"{{"n":{i}}}"#).into()).unwrap();
                (Key::Int(i), SharedRow::new(row))
            })
            .collect()
    }

    fn in_order(map: &mut Snapshot, rows: Vec<(Key, SharedRow)>) {
        for (key, row) in rows {
            map.insert(key, row);
        }
    }

    #[test]
    fn a_sorted_run_ends_with_the_same_rows_as_inserting_in_order() {
        for (before, len) in [
            (0, 0),
            (0, 1),
            (0, 64),
            (0, 65),
            (0, 66),
            (17, 1_000),
            (300, 5_000),
        ] {
            let (mut packed, mut plain) = (Snapshot::new(), Snapshot::new());
            in_order(&mut packed, rows(0..before));
            in_order(&mut plain, rows(0..before));
            insert_run(&mut packed, rows(before..before + len));
            in_order(&mut plain, rows(before..before + len));
            assert_eq!(packed, plain, "{before} rows, then {len}");
            assert_eq!(packed.len(), (before + len) as usize);
        }
    }

    #[test]
    fn rows_out_of_order_or_repeated_go_in_as_given() {
        let mut repeated = rows([1, 2, 2, 3]);
        repeated[2].1 = rows([9]).remove(0).1;
        let mut map = Snapshot::new();
        insert_run(&mut map, repeated.clone());
        assert_eq!(map.get(&Key::Int(2)), Some(&repeated[2].1));
        let mut map = Snapshot::new();
        insert_run(&mut map, rows([5, 3, 4]));
        assert_eq!(
            map.keys().cloned().collect::<Vec<_>>(),
            [3, 4, 5].map(Key::Int)
        );
    }
}
