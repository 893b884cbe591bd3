//! Row keys: a string or an integer number; `1` and `"1"` are different keys.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Longest string key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The text of a string key: a [`compact_str::CompactString`], which holds
/// up to 12 bytes inline in wasm32 (24 natively), so the short keys most
/// apps use cost no allocation of their own; it reads as a `&str`.
///
/// ```
/// use lockstep::{Key, KeyText};
/// let key = Key::Str(KeyText::from("todo-1"));
/// assert!(matches!(&key, Key::Str(text) if text == "todo-1"));
/// ```
pub type KeyText = compact_str::CompactString;

/// The key of a row. Serialised as a bare JSON string or number, so `Key::Int(1)`
/// is `1` and `Key::Str("1")` is `"1"`: they never collide.
///
/// Numbers must be integers within ±(2^53 − 1), the range JavaScript represents
/// exactly; anything else is rejected when decoded.
///
/// ```
/// use lockstep::Key;
/// let a: Key = serde_json::from_str("1").unwrap();
/// let b: Key = serde_json::from_str("\"1\"").unwrap();
/// assert_ne!(a, b);
/// assert_eq!(a.to_json(), "1");
/// assert_eq!(b.to_json(), "\"1\"");
/// assert!(serde_json::from_str::<Key>("1.5").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// An integer key.
    Int(i64),
    /// A string key: up to 12 bytes in wasm32 (24 natively) held inline,
    /// longer ones in an allocation of their own.
    Str(KeyText),
}

impl Key {
    /// The canonical JSON text of the key, as stored in SQLite.
    pub fn to_json(&self) -> String {
        match self {
            Key::Int(i) => i.to_string(),
            Key::Str(s) => serde_json::to_string(s.as_str()).expect("a string always serialises"),
        }
    }

    /// Parses the canonical JSON text of a key, validating it like any input.
    pub fn from_json(text: &str) -> Result<Key, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Checks an integer key is within the range JavaScript holds exactly.
    pub fn int(i: i64) -> Result<Key, InvalidKey> {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
            Ok(Key::Int(i))
        } else {
            Err(InvalidKey(format!(
                "integer key {i} is outside ±(2^53 − 1)"
            )))
        }
    }

    /// Checks a string key is at most 1024 bytes.
    pub fn str(s: impl Into<KeyText>) -> Result<Key, InvalidKey> {
        let s = s.into();
        if s.len() > MAX_KEY_BYTES {
            Err(InvalidKey(format!(
                "string key of {} bytes is longer than {MAX_KEY_BYTES}",
                s.len()
            )))
        } else {
            Ok(Key::Str(s))
        }
    }
}

impl From<&str> for Key {
    /// Builds a string key; panics only on keys over 1024 bytes, so use [`Key::str`] for input.
    fn from(s: &str) -> Key {
        Key::str(s).expect("key literal longer than 1024 bytes")
    }
}

impl From<i32> for Key {
    fn from(i: i32) -> Key {
        Key::Int(i64::from(i))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A key that is not a string of at most 1024 bytes or a safe integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key: {0}; use a string of at most 1024 bytes or an integer within ±(2^53 − 1)")]
pub struct InvalidKey(pub String);

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Int(i) => s.serialize_i64(*i),
            Key::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer key")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Key::int(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom("integer key out of range"))
                    .and_then(|i| Key::int(i).map_err(E::custom))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER as f64 {
                    Ok(Key::Int(v as i64))
                } else {
                    Err(E::custom(format!("number key {v} is not a safe integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Key::str(v).map_err(E::custom)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
                Key::str(v).map_err(E::custom)
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tab holds one key per row: the short keys most apps use (and those
    /// of up to 12 bytes in wasm32) sit inline, without an allocation.
    #[test]
    fn a_short_string_key_is_held_inline_and_a_long_one_reads_the_same() {
        let short = Key::from("x000123");
        assert!(matches!(&short, Key::Str(text) if !text.is_heap_allocated()));
        let long = "k".repeat(40);
        let key = Key::from(long.as_str());
        assert!(
            matches!(&key, Key::Str(text) if text.is_heap_allocated() && text == long.as_str())
        );
        assert_eq!(Key::from_json(&key.to_json()).unwrap(), key);
        assert!(Key::str("é".repeat(MAX_KEY_BYTES)).is_err());
    }
}
