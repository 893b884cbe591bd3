//! Values between JavaScript and Lockstep: keys, rows, positions, change events.
//! Rows cross as JSON text (`JSON.stringify` / `JSON.parse`), which V8 does fast
//! and which keeps one definition of a valid row: Lockstep's own.

use lockstep::{ChangeEvent, Key, Row, StreamPosition};
use wasm_bindgen::prelude::*;

/// A JS string or number as a key.
pub fn key_from_js(value: &JsValue) -> Result<Key, JsError> {
    if let Some(s) = value.as_string() {
        return Key::str(s).map_err(|e| JsError::new(&e.to_string()));
    }
    if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && n.abs() <= lockstep::MAX_SAFE_INTEGER as f64 {
            return Ok(Key::Int(n as i64));
        }
        return Err(JsError::new(&format!(
            "key {n} is not a safe integer; use a string or an integer within ±(2^53 − 1)"
        )));
    }
    Err(JsError::new("a key must be a string or a number"))
}

/// A key as a JS string or number.
pub fn key_to_js(key: &Key) -> JsValue {
    match key {
        Key::Int(i) => JsValue::from_f64(*i as f64),
        Key::Str(s) => JsValue::from_str(s),
    }
}

/// A plain JS object as a row.
pub fn row_from_js(value: &JsValue) -> Result<Row, JsError> {
    let text = js_sys::JSON::stringify(value)
        .map_err(|_| JsError::new("the row cannot be turned into JSON (a cycle or a BigInt?)"))?;
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text).map_err(|_| JsError::new("a row must be a plain object"))
}

/// A row as a plain JS object.
pub fn row_to_js(row: &Row) -> JsValue {
    let text = serde_json::to_string(row).unwrap_or_else(|_| "{}".into());
    js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED)
}

/// Sets `object[name] = value`.
pub fn set(object: &js_sys::Object, name: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(object, &JsValue::from_str(name), value);
}

/// `{ term, seq }`.
pub fn position_to_js(position: StreamPosition) -> JsValue {
    let object = js_sys::Object::new();
    set(&object, "term", &JsValue::from_f64(position.term.0 as f64));
    set(&object, "seq", &JsValue::from_f64(position.seq.0 as f64));
    object.into()
}

/// `[{ key, before, after }]`.
pub fn changes_to_js(changes: &[ChangeEvent]) -> JsValue {
    let array = js_sys::Array::new();
    for change in changes {
        let object = js_sys::Object::new();
        set(&object, "key", &key_to_js(&change.key));
        set(
            &object,
            "before",
            &change
                .before
                .as_deref()
                .map_or(JsValue::UNDEFINED, row_to_js),
        );
        set(
            &object,
            "after",
            &change
                .after
                .as_deref()
                .map_or(JsValue::UNDEFINED, row_to_js),
        );
        array.push(&object);
    }
    array.into()
}

/// `[{ key, value }]`.
pub fn rows_to_js<'a>(rows: impl Iterator<Item = (&'a Key, &'a Row)>) -> JsValue {
    let array = js_sys::Array::new();
    for (key, row) in rows {
        let object = js_sys::Object::new();
        set(&object, "key", &key_to_js(key));
        set(&object, "value", &row_to_js(row));
        array.push(&object);
    }
    array.into()
}
