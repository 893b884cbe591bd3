//! The hasher of the maps looked up once or more per row written or
//! committed (the tab's optimistic overlay, a write's key check, the keys a
//! change touched, a commit's last op per key).
//!
//! foldhash with a fixed seed: a 10,000-row write hashes each key about ten
//! times between the page and the leader, and SipHash (std's default) was the
//! larger part of that in a fresh page's baseline code. Fixed, not random, so
//! the simulator replays a seed exactly whatever a map's iteration order; the
//! keys come from tabs of the same origin, which could harm the database in
//! easier ways than by colliding hashes.

/// The `BuildHasher` of Lockstep's per-row maps.
pub(crate) type RowHasher = foldhash::fast::FixedState;

/// A `HashMap` with [`RowHasher`].
pub(crate) type RowHashMap<K, V> = std::collections::HashMap<K, V, RowHasher>;

/// An `IndexMap` with [`RowHasher`].
pub(crate) type RowIndexMap<K, V> = indexmap::IndexMap<K, V, RowHasher>;
