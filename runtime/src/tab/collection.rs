//! One collection as a tab holds it: the synced rows, the optimistic overlay of
//! pending envelopes, and the visible view computed from both.
//!
//! Why `im::OrdMap` for the synced rows: snapshots are O(1) clones with
//! structural sharing, so handing a snapshot to a UI (a Leptos signal, a JS
//! array) or keeping the pre-reload view to diff against costs nothing, and
//! `OrdMap::diff` gives the changes between two views. Keys are ordered, so
//! iteration and content hashes are deterministic in every tab.

use crate::hashing::RowHashMap;
use crate::held::HeldRow;
use crate::ids::EnvelopeId;
use crate::key::Key;
use crate::row::{merge, Op, Row, SharedRow};

/// The rows of a collection in the tab's visible view.
pub type Snapshot = im::OrdMap<Key, SharedRow>;

/// Synced rows plus the optimistic overlay.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rows {
    /// Rows as committed by the leader (as far as this tab has applied).
    pub synced: Snapshot,
    /// Per key, the pending ops of this tab's unacknowledged envelopes, oldest
    /// first; the last one's value is what the tab shows. Hashed, not
    /// ordered: nothing walks it in key order, and a 10,000-row write looks
    /// each key up several times (with a fixed hasher, so every run and
    /// every tab does the same).
    pub optimistic: RowHashMap<Key, Vec<Layer>>,
}

/// One pending op on one key.
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    envelope: EnvelopeId,
    op: LayerOp,
    /// The row after this op, given the synced row and the layers below.
    value: Option<SharedRow>,
}

/// What a pending op does to the row below it.
#[derive(Clone, Debug)]
pub(crate) enum LayerOp {
    /// Sets the row (insert, update) or removes it (delete).
    Set(Option<SharedRow>),
    /// Sets and removes some fields of the row below (a patch): recomputed
    /// whenever the row below changes, so another tab's change to other
    /// fields shows at once.
    Patch(Row, Vec<String>),
}

impl LayerOp {
    /// The pending effect of `op`.
    pub fn of(op: &Op) -> LayerOp {
        match op {
            Op::Patch { fields, unset, .. } => LayerOp::Patch(fields.clone(), unset.clone()),
            other => LayerOp::Set(other.row().cloned()),
        }
    }

    fn apply(&self, below: Option<&SharedRow>) -> Option<SharedRow> {
        match self {
            LayerOp::Set(value) => value.clone(),
            LayerOp::Patch(fields, unset) => {
                below.map(|row| HeldRow::shared(merge(row.to_row(), fields, unset)))
            }
        }
    }
}

impl Rows {
    /// The visible value of `key`.
    pub fn visible(&self, key: &Key) -> Option<SharedRow> {
        match self.optimistic.get(key).and_then(|stack| stack.last()) {
            Some(layer) => layer.value.clone(),
            None => self.synced.get(key).cloned(),
        }
    }

    /// Number of visible rows.
    pub fn visible_len(&self) -> usize {
        let mut len = self.synced.len() as isize;
        for (key, stack) in &self.optimistic {
            if let Some(layer) = stack.last() {
                len += layer.value.is_some() as isize - self.synced.contains_key(key) as isize;
            }
        }
        len.max(0) as usize
    }

    /// The visible view as a cheap snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let mut view = self.synced.clone();
        for (key, stack) in &self.optimistic {
            match stack.last().map(|layer| &layer.value) {
                Some(Some(row)) => {
                    view.insert(key.clone(), row.clone());
                }
                Some(None) => {
                    view.remove(key);
                }
                None => {}
            }
        }
        view
    }

    /// Writes a committed value into the synced rows (and recomputes the
    /// pending patches above it).
    pub fn set_synced(&mut self, key: Key, value: Option<SharedRow>) {
        match value {
            Some(row) => {
                self.synced.insert(key.clone(), row);
            }
            None => {
                self.synced.remove(&key);
            }
        }
        self.restack(&key);
    }

    /// The commit of this tab's own write on `key`, when the one pending op
    /// on it is envelope `envelope`'s and it already shows `value` (the same
    /// row, not an equal one): `value` becomes the synced row and the op
    /// leaves the overlay, with nothing visible changed, so there is nobody
    /// to tell. Otherwise gives the change back, untouched.
    pub fn settle_own(
        &mut self,
        key: Key,
        envelope: EnvelopeId,
        value: Option<SharedRow>,
    ) -> Option<(Key, Option<SharedRow>)> {
        let shows = match self.optimistic.get(&key).map(Vec::as_slice) {
            Some([layer]) => layer.envelope == envelope && same(&layer.value, &value),
            _ => false,
        };
        if !shows {
            return Some((key, value));
        }
        self.optimistic.remove(&key);
        match value {
            Some(row) => self.synced.insert(key, row),
            None => self.synced.remove(&key),
        };
        None
    }

    /// Whether envelope `envelope` has a pending op on `key`.
    pub fn has_layer(&self, key: &Key, envelope: EnvelopeId) -> bool {
        self.optimistic
            .get(key)
            .is_some_and(|stack| stack.iter().any(|layer| layer.envelope == envelope))
    }

    /// Adds a pending op on top of the overlay.
    pub fn push_optimistic(&mut self, key: Key, envelope: EnvelopeId, op: LayerOp) {
        let value = op.apply(self.visible(&key).as_ref());
        self.optimistic.entry(key).or_default().push(Layer {
            envelope,
            op,
            value,
        });
    }

    /// Removes the pending ops of `envelope` on `key`.
    pub fn drop_optimistic(&mut self, key: &Key, envelope: EnvelopeId) {
        if let Some(stack) = self.optimistic.get_mut(key) {
            stack.retain(|layer| layer.envelope != envelope);
            if stack.is_empty() {
                self.optimistic.remove(key);
            } else {
                self.restack(key);
            }
        }
    }

    /// Recomputes the values of the pending ops on `key` from the synced row up.
    fn restack(&mut self, key: &Key) {
        let Some(stack) = self.optimistic.get_mut(key) else {
            return;
        };
        let mut below = self.synced.get(key).cloned();
        for layer in stack {
            if matches!(layer.op, LayerOp::Patch(..)) {
                layer.value = layer.op.apply(below.as_ref());
            }
            below = layer.value.clone();
        }
    }
}

/// Whether two values are the same row (one shared row, not equal copies)
/// or both absent.
fn same(a: &Option<SharedRow>, b: &Option<SharedRow>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => SharedRow::ptr_eq(x, y),
        _ => false,
    }
}

/// Whether two visible values differ (by pointer first, then by content).
pub(crate) fn differs(a: &Option<SharedRow>, b: &Option<SharedRow>) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(x), Some(y)) => !SharedRow::ptr_eq(x, y) && x != y,
        _ => true,
    }
}
