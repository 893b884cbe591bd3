//! Rows and the ops and changes made of them.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::ids::CollectionId;
use crate::key::Key;

/// A row: a JSON object. Rows travel whole: every op and every committed change
/// carries the full value, never a patch.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A row shared between the synced state, the optimistic layer, snapshots and
/// change events without copying it.
pub type SharedRow = Arc<Row>;

/// One mutation of one row, as a tab asks for it.
///
/// ```
/// use lockstep::{Op, CollectionId, Key, Row};
/// let op = Op::Delete { collection: CollectionId::new("todos").unwrap(), key: Key::from("a") };
/// let json = serde_json::to_string(&op).unwrap();
/// assert_eq!(json, r#"{"op":"delete","collection":"todos","key":"a"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Create a row; refused if the key exists.
    Insert {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
        /// Full row value.
        value: Row,
    },
    /// Replace a row with a full new value; refused if the key is missing.
    Update {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
        /// Full new row value.
        value: Row,
    },
    /// Remove a row; refused if the key is missing.
    Delete {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
    },
}

impl Op {
    /// The collection the op targets.
    pub fn collection(&self) -> &CollectionId {
        match self {
            Op::Insert { collection, .. }
            | Op::Update { collection, .. }
            | Op::Delete { collection, .. } => collection,
        }
    }

    /// The key the op targets.
    pub fn key(&self) -> &Key {
        match self {
            Op::Insert { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
        }
    }

    /// Moves the row value out of the op (`None` for a delete).
    pub(crate) fn take_value(&mut self) -> Option<Row> {
        match self {
            Op::Insert { value, .. } | Op::Update { value, .. } => Some(std::mem::take(value)),
            Op::Delete { .. } => None,
        }
    }

    /// The row value after the op (`None` for a delete).
    pub fn value(&self) -> Option<&Row> {
        match self {
            Op::Insert { value, .. } | Op::Update { value, .. } => Some(value),
            Op::Delete { .. } => None,
        }
    }
}

/// One committed change: the full row value after the transaction, or a
/// tombstone (`value: null`) when the row was deleted.
///
/// ```
/// use lockstep::{Change, CollectionId, Key};
/// let c = Change { collection: CollectionId::new("todos").unwrap(), key: Key::Int(1), value: None };
/// assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"collection":"todos","key":1,"value":null}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Collection of the row.
    pub collection: CollectionId,
    /// Key of the row.
    pub key: Key,
    /// Full row after the transaction, or `None` for a deleted row.
    pub value: Option<Row>,
}

/// A change as a subscriber sees it: the row before and after, in the tab's
/// visible (optimistic) view.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// Key of the row.
    pub key: Key,
    /// Visible value before (`None`: the row did not exist).
    pub before: Option<SharedRow>,
    /// Visible value after (`None`: the row is gone).
    pub after: Option<SharedRow>,
}
