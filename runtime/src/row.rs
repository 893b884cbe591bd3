//! Rows and the ops and changes made of them.

use serde::{Deserialize, Serialize};

use crate::hashing::RowIndexMap;
use crate::held::HeldRow;
use crate::ids::CollectionId;
use crate::key::Key;

/// A row: a JSON object. Every committed change carries the full value of
/// the row; only a tab's [`Op::Patch`] carries just the fields it changes.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A row shared between the synced state, the optimistic layer, snapshots and
/// change events without copying it; it reads as a [`Row`] (hydrated rows
/// are parsed on the first read, see [`HeldRow`]). A [`triomphe::Arc`]:
/// std's `Arc` without weak references, so its count is one word, not two
/// (a tab holds one per row).
pub type SharedRow = triomphe::Arc<HeldRow>;

/// One mutation of one row, as a tab asks for it. An insert or update
/// carries its row as a [`SharedRow`]: read from JSON, the row is held as
/// its text (checked, not parsed) and written out as that text again.
///
/// ```
/// use lockstep::{Op, CollectionId, HeldRow, Key, Row};
/// let op = Op::Delete { collection: CollectionId::new("todos").unwrap(), key: Key::from("a") };
/// let json = serde_json::to_string(&op).unwrap();
/// assert_eq!(json, r#"{"op":"delete","collection":"todos","key":"a"}"#);
///
/// let text = r#"{"op":"insert","collection":"todos","key":"a","value":{"title":"one"}}"#;
/// let op: Op = serde_json::from_str(text).unwrap();
/// assert_eq!(op.row().unwrap().text(), Some(r#"{"title":"one"}"#));
/// assert_eq!(serde_json::to_string(&op).unwrap(), text);
/// let mut row = Row::new();
/// row.insert("title".into(), "one".into());
/// let built = Op::Insert { collection: CollectionId::new("todos").unwrap(), key: Key::from("a"), value: HeldRow::shared(row) };
/// assert_eq!(built, op);
/// ```
// Read by a hand-written `Deserialize` (op_de.rs): the derived one buffers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create a row; refused if the key exists.
    Insert {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
        /// Full row value.
        value: SharedRow,
    },
    /// Replace a row with a full new value; refused if the key is missing.
    Update {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
        /// Full new row value.
        value: SharedRow,
    },
    /// Set some top-level fields of a row, remove others, and keep the rest;
    /// refused if the key is missing. The leader merges the change into the
    /// row as it is inside the commit transaction, so two tabs that change
    /// different fields of one row at the same moment keep both changes; the
    /// committed change carries the full resulting row.
    ///
    /// ```
    /// use lockstep::{Op, CollectionId, Key};
    /// let fields = serde_json::json!({"done": true}).as_object().unwrap().clone();
    /// let op = Op::Patch { collection: CollectionId::new("todos").unwrap(), key: Key::from("a"), fields, unset: vec![] };
    /// assert_eq!(serde_json::to_string(&op).unwrap(), r#"{"op":"patch","collection":"todos","key":"a","fields":{"done":true}}"#);
    /// ```
    Patch {
        /// Target collection.
        collection: CollectionId,
        /// Row key.
        key: Key,
        /// The fields to set, with their new values.
        fields: Row,
        /// The fields to remove.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unset: Vec<String>,
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
            | Op::Patch { collection, .. }
            | Op::Delete { collection, .. } => collection,
        }
    }

    /// The key the op targets.
    pub fn key(&self) -> &Key {
        match self {
            Op::Insert { key, .. }
            | Op::Update { key, .. }
            | Op::Patch { key, .. }
            | Op::Delete { key, .. } => key,
        }
    }

    /// The full row an insert or update carries (`None` for a patch or a
    /// delete).
    pub fn row(&self) -> Option<&SharedRow> {
        match self {
            Op::Insert { value, .. } | Op::Update { value, .. } => Some(value),
            Op::Patch { .. } | Op::Delete { .. } => None,
        }
    }

    /// The patch that turns `before` into `after`: the fields whose values
    /// differ, and the fields `after` no longer has. `None` when the rows are
    /// equal (there is nothing to write).
    ///
    /// ```
    /// use lockstep::{Op, CollectionId, Key};
    /// let row = |v: serde_json::Value| v.as_object().unwrap().clone();
    /// let todos = CollectionId::new("todos").unwrap();
    /// let before = row(serde_json::json!({"title": "x", "done": false, "note": "n"}));
    /// let after = row(serde_json::json!({"title": "x", "done": true}));
    /// let op = Op::patch_between(todos.clone(), Key::from("a"), &before, &after).unwrap();
    /// assert_eq!(op, Op::Patch { collection: todos.clone(), key: Key::from("a"), fields: row(serde_json::json!({"done": true})), unset: vec!["note".into()] });
    /// assert_eq!(*op.apply(Some(&before)).unwrap(), after);
    /// assert_eq!(Op::patch_between(todos, Key::from("a"), &after, &after), None);
    /// ```
    pub fn patch_between(
        collection: CollectionId,
        key: Key,
        before: &Row,
        after: &Row,
    ) -> Option<Op> {
        let fields: Row = after
            .iter()
            .filter(|(name, value)| before.get(*name) != Some(*value))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let unset: Vec<String> = before
            .keys()
            .filter(|name| !after.contains_key(*name))
            .cloned()
            .collect();
        if fields.is_empty() && unset.is_empty() {
            return None;
        }
        Some(Op::Patch {
            collection,
            key,
            fields,
            unset,
        })
    }

    /// The row after the op, given the row before it: the value of an insert
    /// or update, `before` with the fields of a patch set (`None` when there
    /// is no row to patch), `None` for a delete.
    ///
    /// ```
    /// use lockstep::{Op, CollectionId, Key, Row};
    /// let row = |v: serde_json::Value| v.as_object().unwrap().clone();
    /// let op = Op::Patch { collection: CollectionId::new("t").unwrap(), key: Key::from("a"), fields: row(serde_json::json!({"done": true})), unset: vec!["note".into()] };
    /// let before = row(serde_json::json!({"title": "x", "done": false, "note": "n"}));
    /// assert_eq!(*op.apply(Some(&before)).unwrap(), row(serde_json::json!({"title": "x", "done": true})));
    /// assert_eq!(op.apply(None), None);
    /// ```
    pub fn apply(&self, before: Option<&Row>) -> Option<SharedRow> {
        match self {
            Op::Insert { value, .. } | Op::Update { value, .. } => Some(value.clone()),
            Op::Patch { fields, unset, .. } => {
                before.map(|row| HeldRow::shared(merge(row.clone(), fields, unset)))
            }
            Op::Delete { .. } => None,
        }
    }
}

/// `row` with every field of `fields` set and every field named in `unset`
/// removed (a shallow merge of top-level fields, as `Object.assign` does:
/// the row's fields keep their order, new ones come last).
pub(crate) fn merge(mut row: Row, fields: &Row, unset: &[String]) -> Row {
    for name in unset {
        row.shift_remove(name);
    }
    for (name, value) in fields {
        row.insert(name.clone(), value.clone());
    }
    row
}

/// The changes a transaction of `ops` makes: one per row the ops touch, in
/// the order they first touch it, with the value the last op on it leaves:
/// the row of an insert or update, a tombstone for a delete, and for a patch
/// `patched(index of the op)`, the row the patch made (only the leader knows
/// it: it merges the patch into the row as stored). `None` when `patched`
/// has no row for a patch. The leader makes a commit's changes with this,
/// and its own tab makes them again from the ops it sent.
///
/// ```
/// use lockstep::{changes_of, Change, CollectionId, HeldRow, Key, Op, Row};
/// let todos = CollectionId::new("todos").unwrap();
/// let row = HeldRow::shared(Row::new());
/// let ops = vec![
///     Op::Insert { collection: todos.clone(), key: Key::from("a"), value: row.clone() },
///     Op::Insert { collection: todos.clone(), key: Key::from("b"), value: row.clone() },
///     Op::Delete { collection: todos.clone(), key: Key::from("a") },
/// ];
/// let changes = changes_of(&ops, |_| None).unwrap();
/// assert_eq!(changes, vec![
///     Change { collection: todos.clone(), key: Key::from("a"), value: None },
///     Change { collection: todos.clone(), key: Key::from("b"), value: Some(row) },
/// ]);
/// ```
pub fn changes_of(
    ops: &[Op],
    mut patched: impl FnMut(usize) -> Option<SharedRow>,
) -> Option<Vec<Change>> {
    let mut last: RowIndexMap<(&CollectionId, &Key), usize> =
        RowIndexMap::with_capacity_and_hasher(ops.len(), Default::default());
    for (index, op) in ops.iter().enumerate() {
        last.insert((op.collection(), op.key()), index);
    }
    last.into_values()
        .map(|index| {
            let op = &ops[index];
            let value = match op {
                // Shared with the ops, not copied.
                Op::Insert { value, .. } | Op::Update { value, .. } => Some(value.clone()),
                Op::Patch { .. } => Some(patched(index)?),
                Op::Delete { .. } => None,
            };
            Some(Change {
                collection: op.collection().clone(),
                key: op.key().clone(),
                value,
            })
        })
        .collect()
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
    #[serde(default)]
    pub value: Option<SharedRow>,
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
