//! The one place where JavaScript values become Lockstep's Rust values and
//! back (the role of automerge-wasm's `interop.rs`).
//!
//! Values cross as JSON text: `JSON.stringify` on the way in, then serde_json
//! into the core's types (so a key or row is validated by the core's rules
//! and nothing else); serde_json on the way out, then one `JSON.parse` per
//! value, however many rows it holds. The shapes are [`crate::types`].

use lockstep::RuntimeStats;
use lockstep::{protocol, QueryError, Rejection, StreamPosition, SyncBatch};
use lockstep::{ChangeEvent as CoreChange, DatabaseReport as CoreReport, Key, MutationError};

use crate::types::{
    CollectionInfo, CommittedRow, DatabaseReport, DroppedMessages, ErrorCode, ErrorInfo, KeyedRow,
    LeaderCounters, Position, Storage, StreamUpdate, TabCounters,
};

/// A key as JSON (a string or a number).
pub fn key_json(key: &Key) -> serde_json::Value {
    match key {
        Key::Int(i) => (*i).into(),
        Key::Str(s) => s.as_str().into(),
    }
}

/// A position as JavaScript sees it.
pub fn position(p: StreamPosition) -> Position {
    Position {
        term: p.term.0,
        seq: p.seq.0,
    }
}

/// A key from JavaScript, validated like any input.
pub fn key(value: serde_json::Value) -> Result<Key, ErrorInfo> {
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// The JSON text of change events of a rows-mode collection, in the shape of
/// [`ChangeEvent`](crate::types::ChangeEvent)`[]`. A row the tab holds as
/// text (a hydrated row) is written as that text: it is neither parsed here
/// nor kept parsed.
pub fn changes_json(changes: &[CoreChange]) -> String {
    json_objects(changes.iter().map(|change| {
        (
            &change.key,
            [
                ("before", change.before.as_ref()),
                ("after", change.after.as_ref()),
            ],
        )
    }))
}

/// The JSON text of a tab's rows in the shape of [`KeyedRow`]`[]`, each
/// held row written as its text (see [`changes_json`]).
pub fn rows_json(rows: &lockstep::Snapshot) -> String {
    json_objects(rows.iter().map(|(key, row)| (key, [("value", Some(row))])))
}

/// A JSON array of objects, each `{"key": …}` followed by the named rows
/// that are present, written as their JSON text.
fn json_objects<'a, const N: usize>(
    objects: impl Iterator<
        Item = (
            &'a Key,
            [(&'static str, Option<&'a lockstep::SharedRow>); N],
        ),
    >,
) -> String {
    let mut out = String::from("[");
    for (index, (key, rows)) in objects.enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        out.push_str(&key_json(key).to_string());
        for (field, row) in rows {
            if let Some(row) = row {
                out.push_str(",\"");
                out.push_str(field);
                out.push_str("\":");
                out.push_str(&row.json());
            }
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// Rows of the core as JavaScript rows (moved, not copied).
pub fn keyed_rows(rows: Vec<protocol::KeyedRow>) -> Vec<KeyedRow> {
    rows.into_iter()
        .map(|r| KeyedRow {
            key: key_json(&r.key),
            value: serde_json::Value::Object(r.value),
        })
        .collect()
}

/// A stream-mode batch as its sink sees it (rows moved, not copied).
pub fn sync_batch(batch: SyncBatch) -> StreamUpdate {
    match batch {
        SyncBatch::Rows { rows, subset } => StreamUpdate::Rows {
            values: rows,
            subset: subset.map(|id| id.0.to_string()),
        },
        SyncBatch::Commit { position, changes } => StreamUpdate::Commit {
            term: position.term.0,
            seq: position.seq.0,
            changes: changes
                .into_iter()
                .map(|(key, value)| CommittedRow {
                    key: key_json(&key),
                    value,
                })
                .collect(),
        },
        SyncBatch::Retain { keys } => StreamUpdate::Retain {
            keys: keys.iter().map(key_json).collect(),
        },
    }
}

/// Where the leader keeps the database, as the status names it.
pub fn storage(storage: protocol::Storage) -> Storage {
    match storage {
        protocol::Storage::Persistent => Storage::Opfs,
        protocol::Storage::Memory => Storage::Memory,
    }
}

/// The leader's description of the database.
pub fn report(report: CoreReport) -> DatabaseReport {
    DatabaseReport {
        leader_tab_id: report.leader.to_string(),
        term: report.term.0,
        position: position(report.position),
        epoch: report.info.epoch.to_string(),
        storage: storage(report.info.storage),
        store_errors: report.info.store_errors,
        last_store_error: report.info.last_store_error,
        invalid_rows: report.info.invalid_rows,
        last_invalid_row: report.info.last_invalid_row,
        collections: report
            .collections
            .into_iter()
            .map(|c| CollectionInfo {
                id: c.collection.as_str().to_owned(),
                rows: c.rows,
                table: c.table,
            })
            .collect(),
        counters: LeaderCounters {
            committed: report.counters.committed,
            duplicates: report.counters.duplicates,
            rejected: report.counters.rejected,
            external_txs: report.counters.external_txs,
            invalid_rows_skipped: report.counters.invalid_rows_skipped,
            dropped: report.counters.dropped,
        },
    }
}

/// A tab's own counters.
pub fn tab_counters(stats: RuntimeStats) -> TabCounters {
    let d = stats.dropped;
    TabCounters {
        dropped: DroppedMessages {
            malformed: d.malformed,
            unknown_version: d.unknown_version,
            foreign: d.foreign,
            oversized: d.oversized,
            invalid: d.invalid,
            stale_term: d.stale_term,
            unconfirmed_leader: d.unconfirmed_leader,
        },
        duplicate_commits: stats.duplicate_txs,
        pulls: stats.pulls,
        reloads: stats.reloads,
        resends: stats.resends,
        epoch_changes: stats.epoch_changes,
    }
}

/// Invalid input, with the core's message.
pub fn invalid(message: String) -> ErrorInfo {
    ErrorInfo {
        code: ErrorCode::Invalid,
        message,
        collection: None,
        key: None,
    }
}

fn info(
    code: ErrorCode,
    message: String,
    collection: Option<&lockstep::CollectionId>,
    key: Option<&Key>,
) -> ErrorInfo {
    ErrorInfo {
        code,
        message,
        collection: collection.map(|c| c.as_str().to_owned()),
        key: key.cloned(),
    }
}

/// A leader's refusal.
pub fn rejection(r: &Rejection) -> ErrorInfo {
    let message = r.to_string();
    match r {
        Rejection::KeyExists { collection, key } => {
            info(ErrorCode::KeyExists, message, Some(collection), Some(key))
        }
        Rejection::KeyMissing { collection, key } => {
            info(ErrorCode::KeyMissing, message, Some(collection), Some(key))
        }
        Rejection::StorageFull => info(ErrorCode::StorageFull, message, None, None),
        Rejection::Storage { .. } => info(ErrorCode::Storage, message, None, None),
        _ => info(ErrorCode::Invalid, message, None, None),
    }
}

/// A refusal by this tab before anything was sent.
pub fn mutation(e: &MutationError) -> ErrorInfo {
    let message = e.to_string();
    match e {
        MutationError::KeyExists { collection, key } => {
            info(ErrorCode::KeyExists, message, Some(collection), Some(key))
        }
        MutationError::KeyMissing { collection, key } => {
            info(ErrorCode::KeyMissing, message, Some(collection), Some(key))
        }
        MutationError::CollectionNotOpen(c)
        | MutationError::NotReady(c)
        | MutationError::Streamed(c) => info(ErrorCode::Invalid, message, Some(c), None),
        _ => info(ErrorCode::Invalid, message, None, None),
    }
}

/// A query the leader could not run.
pub fn query(e: &QueryError) -> ErrorInfo {
    let code = match e {
        QueryError::NotReadOnly { .. } => ErrorCode::NotReadOnly,
        QueryError::TooLong { .. } => ErrorCode::QueryTooLong,
        QueryError::Storage { .. } => ErrorCode::Storage,
        QueryError::Unsupported => ErrorCode::Unsupported,
        _ => ErrorCode::Sql,
    };
    info(code, e.to_string(), None, None)
}

/// A read the leader's store could not serve.
pub fn storage_failed(message: String) -> ErrorInfo {
    info(ErrorCode::Storage, message, None, None)
}

/// The database closed in this tab, with what it means for the operation.
pub fn closed(message: String) -> ErrorInfo {
    info(ErrorCode::Closed, message, None, None)
}

#[cfg(target_arch = "wasm32")]
pub use js::*;

/// The JavaScript side: JSON text across the boundary, thrown errors.
#[cfg(target_arch = "wasm32")]
mod js {
    use super::*;
    use lockstep_browser::{ReadError, WriteError};
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use wasm_bindgen::prelude::*;

    /// A Rust value as a plain JavaScript value (one `JSON.parse`).
    pub fn to_js<T: Serialize>(value: &T) -> JsValue {
        match serde_json::to_string(value) {
            Ok(text) => json_to_js(&text),
            Err(_) => JsValue::UNDEFINED,
        }
    }

    /// JSON text as a plain JavaScript value (one `JSON.parse`).
    pub fn json_to_js(text: &str) -> JsValue {
        js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
    }

    /// A JavaScript value as a Rust value (one `JSON.stringify`).
    pub fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, ErrorInfo> {
        let text = js_sys::JSON::stringify(value)
            .ok()
            .and_then(|t| t.as_string())
            .ok_or_else(|| {
                invalid(format!(
                    "the {what} cannot be turned into JSON (a cycle, a BigInt or undefined?)"
                ))
            })?;
        serde_json::from_str(&text).map_err(|e| invalid(format!("invalid {what}: {e}")))
    }

    /// A typed value made by tsify's `Ts`, as a Rust value.
    pub fn from_ts<T: tsify::Tsify + DeserializeOwned>(
        value: &tsify::Ts<T>,
        what: &str,
    ) -> Result<T, ErrorInfo> {
        from_js(&value.js_value(), what)
    }

    /// A JavaScript `Error` named `LockstepError` with `code`, `collection`
    /// and `key` set: the TypeScript layer turns it into the matching class.
    pub fn error(info: ErrorInfo) -> JsValue {
        let error = js_sys::Error::new(&info.message);
        error.set_name("LockstepError");
        let set = |name: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(&error, &JsValue::from_str(name), &value);
        };
        set("code", to_js(&info.code));
        if let Some(collection) = &info.collection {
            set("collection", JsValue::from_str(collection));
        }
        if let Some(key) = &info.key {
            set("key", to_js(key));
        }
        error.into()
    }

    /// A failed write as a thrown error.
    pub fn write_error(e: &WriteError) -> JsValue {
        error(match e {
            WriteError::Invalid(m) => mutation(m),
            WriteError::Rejected(r) => rejection(r),
            WriteError::Closed => closed(e.to_string()),
        })
    }

    /// A failed read as a thrown error.
    pub fn read_error(e: &ReadError) -> JsValue {
        error(match e {
            ReadError::Query(q) => query(q),
            ReadError::Failed(_) => storage_failed(e.to_string()),
            ReadError::Closed => closed(e.to_string()),
            ReadError::Subset(lockstep::SubsetError::NotOnDemand(c)) => ErrorInfo {
                collection: Some(c.to_string()),
                ..invalid(e.to_string())
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChangeEvent, OpInput};
    use lockstep::Op;
    use lockstep::{CollectionId, Seq, Term};

    /// The `.d.ts` declares `OpInput`; JavaScript's ops are parsed straight
    /// into the core's `Op`: both must have one JSON shape.
    #[test]
    fn the_declared_op_shape_is_the_core_op_shape_and_bad_keys_are_refused() {
        let declared: Vec<OpInput> = serde_json::from_str(
            r#"[{"op":"patch","collection":"todos","key":1,"fields":{"done":true},"unset":["x"]},
                {"op":"insert","collection":"todos","key":"a","value":{"n":1}},
                {"op":"delete","collection":"todos","key":"a"}]"#,
        )
        .unwrap();
        let text = serde_json::to_string(&declared).unwrap();
        let ops: Vec<Op> = serde_json::from_str(&text).unwrap();
        assert!(matches!(&ops[0], Op::Patch { key: Key::Int(1), unset, .. } if unset == &["x"]));
        assert!(matches!(&ops[1], Op::Insert { key: Key::Str(s), .. } if s == "a"));
        assert!(matches!(&ops[2], Op::Delete { .. }));
        let bad_key = r#"[{"op":"delete","collection":"todos","key":1.5}]"#;
        assert!(serde_json::from_str::<Vec<Op>>(bad_key).is_err());
        let bad_name = r#"[{"op":"insert","collection":"","key":1,"value":{}}]"#;
        assert!(serde_json::from_str::<Vec<Op>>(bad_name).is_err());
    }

    /// Rows and change events are written from the held text; the result
    /// must read back as the declared shapes, with the same rows.
    #[test]
    fn rows_and_changes_written_from_held_text_have_the_declared_shapes() {
        use lockstep::{HeldRow, Snapshot};
        let text = |t: &str| lockstep::SharedRow::new(HeldRow::from_json(t.into()).unwrap());
        let parsed = HeldRow::shared(serde_json::from_str(r#"{"n":2}"#).unwrap());
        let quoted = Key::from("say \"hi\"");
        let changes = [
            CoreChange {
                key: Key::Int(1),
                before: None,
                after: Some(text(r#"{"title":"one","tags":["a"]}"#)),
            },
            CoreChange {
                key: quoted.clone(),
                before: Some(parsed.clone()),
                after: None,
            },
        ];
        let events: Vec<ChangeEvent> = serde_json::from_str(&changes_json(&changes)).unwrap();
        assert_eq!(
            events,
            vec![
                ChangeEvent {
                    key: 1.into(),
                    before: None,
                    after: Some(serde_json::json!({"title": "one", "tags": ["a"]})),
                },
                ChangeEvent {
                    key: "say \"hi\"".into(),
                    before: Some(serde_json::json!({"n": 2})),
                    after: None,
                },
            ]
        );
        assert_eq!(changes_json(&[]), "[]");
        let mut rows = Snapshot::new();
        rows.insert(Key::Int(1), text(r#"{"a":1}"#));
        rows.insert(quoted, parsed);
        let keyed: Vec<KeyedRow> = serde_json::from_str(&rows_json(&rows)).unwrap();
        assert_eq!(
            keyed,
            vec![
                KeyedRow {
                    key: 1.into(),
                    value: serde_json::json!({"a": 1}),
                },
                KeyedRow {
                    key: "say \"hi\"".into(),
                    value: serde_json::json!({"n": 2}),
                },
            ]
        );
    }

    #[test]
    fn batches_and_errors_have_the_shapes_the_d_ts_declares() {
        let batch = sync_batch(SyncBatch::Commit {
            position: StreamPosition {
                term: Term(2),
                seq: Seq(9),
            },
            changes: vec![(Key::Int(1), None)],
        });
        assert_eq!(
            serde_json::to_string(&batch).unwrap(),
            r#"{"type":"commit","term":2,"seq":9,"changes":[{"key":1,"value":null}]}"#
        );
        let page = sync_batch(SyncBatch::Rows {
            rows: vec![
                lockstep::protocol::PageRow::stored(Key::from("a"), r#"{"id":"a", "n":1}"#.into())
                    .unwrap(),
                lockstep::protocol::KeyedRow {
                    key: Key::Int(2),
                    value: serde_json::from_str(r#"{"id":2}"#).unwrap(),
                }
                .into(),
            ],
            subset: None,
        });
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"type":"rows","values":[{"id":"a", "n":1},{"id":2}]}"#,
            "values only, a stored one as its text"
        );
        let info = rejection(&Rejection::KeyMissing {
            collection: CollectionId::new("todos").unwrap(),
            key: Key::from("t1"),
        });
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"code":"key-missing","message":"collection todos: key \"t1\" does not exist in the database","collection":"todos","key":"t1"}"#
        );
    }
}
