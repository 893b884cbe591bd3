//! One collection as a tab holds it: the synced rows, the optimistic overlay of
//! pending envelopes, and the visible view computed from both.
//!
//! Why `im::OrdMap` for the synced rows: snapshots are O(1) clones with
//! structural sharing, so handing a snapshot to a UI (a Leptos signal, a JS
//! array) or keeping the pre-reload view to diff against costs nothing, and
//! `OrdMap::diff` gives the changes between two views. Keys are ordered, so
//! iteration and content hashes are deterministic in every tab.

use std::collections::BTreeMap;

use crate::ids::EnvelopeId;
use crate::key::Key;
use crate::row::SharedRow;

/// The rows of a collection in the tab's visible view.
pub type Snapshot = im::OrdMap<Key, SharedRow>;

/// Synced rows plus the optimistic overlay.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rows {
    /// Rows as committed by the leader (as far as this tab has applied).
    pub synced: Snapshot,
    /// Per key, the pending ops of this tab's unacknowledged envelopes, oldest
    /// first; the last one is what the tab shows.
    pub optimistic: BTreeMap<Key, Vec<(EnvelopeId, Option<SharedRow>)>>,
}

impl Rows {
    /// The visible value of `key`.
    pub fn visible(&self, key: &Key) -> Option<SharedRow> {
        match self.optimistic.get(key).and_then(|stack| stack.last()) {
            Some((_, value)) => value.clone(),
            None => self.synced.get(key).cloned(),
        }
    }

    /// Number of visible rows.
    pub fn visible_len(&self) -> usize {
        let mut len = self.synced.len() as isize;
        for (key, stack) in &self.optimistic {
            if let Some((_, value)) = stack.last() {
                len += value.is_some() as isize - self.synced.contains_key(key) as isize;
            }
        }
        len.max(0) as usize
    }

    /// The visible view as a cheap snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let mut view = self.synced.clone();
        for (key, stack) in &self.optimistic {
            match stack.last() {
                Some((_, Some(row))) => {
                    view.insert(key.clone(), row.clone());
                }
                Some((_, None)) => {
                    view.remove(key);
                }
                None => {}
            }
        }
        view
    }

    /// Writes a committed value into the synced rows.
    pub fn set_synced(&mut self, key: Key, value: Option<SharedRow>) {
        match value {
            Some(row) => {
                self.synced.insert(key, row);
            }
            None => {
                self.synced.remove(&key);
            }
        }
    }

    /// Adds a pending op on top of the overlay.
    pub fn push_optimistic(&mut self, key: Key, envelope: EnvelopeId, value: Option<SharedRow>) {
        self.optimistic
            .entry(key)
            .or_default()
            .push((envelope, value));
    }

    /// Removes the pending ops of `envelope` on `key`.
    pub fn drop_optimistic(&mut self, key: &Key, envelope: EnvelopeId) {
        if let Some(stack) = self.optimistic.get_mut(key) {
            stack.retain(|(id, _)| *id != envelope);
            if stack.is_empty() {
                self.optimistic.remove(key);
            }
        }
    }
}

/// Whether two visible values differ (by pointer first, then by content).
pub(crate) fn differs(a: &Option<SharedRow>, b: &Option<SharedRow>) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(x), Some(y)) => !std::sync::Arc::ptr_eq(x, y) && x != y,
        _ => true,
    }
}
