//! [`HeldRow`]: a row as a tab holds it, kept as the JSON text it arrived
//! in until something reads it.
//!
//! A tab that hydrates 100,000 rows would otherwise build 100,000 maps of
//! `String`s and `Value`s it may never read: the text is checked on arrival
//! (so that a later parse cannot fail) and parsed on the first read.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::row::Row;

/// A row held by a tab: either parsed, or JSON text that is parsed (once)
/// on the first read through [`Deref`]. Compares and serialises as the row.
///
/// ```
/// use lockstep::{HeldRow, Row};
/// let held = HeldRow::from_json(r#"{"title":"one","done":false}"#.into()).unwrap();
/// assert_eq!(held.json(), r#"{"title":"one","done":false}"#);
/// assert_eq!(held["title"], "one");
/// let parsed = HeldRow::from(held.to_row());
/// assert_eq!(held, parsed);
/// assert!(HeldRow::from_json("[1,2]".into()).is_err());
/// assert!(HeldRow::from_json(r#"{"n":1e400}"#.into()).is_err());
/// ```
#[derive(Clone)]
pub struct HeldRow {
    /// The JSON text the row arrived as (`None`: it was made from a `Row`).
    text: Option<Box<str>>,
    parsed: OnceLock<Row>,
}

impl HeldRow {
    /// A row held as its JSON text, refused (with the reason) unless the
    /// text parses as a [`Row`]: a JSON object whose numbers fit an `f64`.
    /// The check builds nothing, so it costs a fraction of the parse.
    pub fn from_json(text: Box<str>) -> Result<HeldRow, serde_json::Error> {
        check_row(&text)?;
        Ok(HeldRow {
            text: Some(text),
            parsed: OnceLock::new(),
        })
    }

    /// `row`, ready to share.
    pub fn shared(row: Row) -> crate::SharedRow {
        std::sync::Arc::new(HeldRow::from(row))
    }

    /// The row's JSON text: as it arrived, or serialised from the row.
    pub fn json(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => std::borrow::Cow::Owned(
                serde_json::to_string(self.row()).unwrap_or_else(|_| "{}".into()),
            ),
        }
    }

    /// Reads the row into `T`: straight from the text while it has not been
    /// parsed (no [`Row`] is built or kept), else from the parsed row.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if let (None, Some(text)) = (self.parsed.get(), &self.text) {
            return serde_json::from_str(text);
        }
        T::deserialize(self.row())
    }

    /// A copy of the row.
    pub fn to_row(&self) -> Row {
        self.row().clone()
    }

    fn row(&self) -> &Row {
        self.parsed.get_or_init(|| match &self.text {
            // Checked by `from_json`: the parse cannot fail.
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => Row::new(),
        })
    }
}

impl From<Row> for HeldRow {
    fn from(row: Row) -> HeldRow {
        HeldRow {
            text: None,
            parsed: OnceLock::from(row),
        }
    }
}

impl Deref for HeldRow {
    type Target = Row;

    fn deref(&self) -> &Row {
        self.row()
    }
}

impl PartialEq for HeldRow {
    fn eq(&self, other: &HeldRow) -> bool {
        match (&self.text, &other.text) {
            (Some(a), Some(b)) if a == b => true,
            _ => self.row() == other.row(),
        }
    }
}

impl PartialEq<Row> for HeldRow {
    fn eq(&self, other: &Row) -> bool {
        self.row() == other
    }
}

impl fmt::Debug for HeldRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.row().fmt(f)
    }
}

impl Serialize for HeldRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.row().serialize(serializer)
    }
}

/// Checks that `text` parses as a [`Row`], building nothing.
pub(crate) fn check_row(text: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(Checked { root: true })?;
    de.end()
}

/// Walks a JSON value through `deserialize_any` (so numbers are range
/// checked and strings unescaped exactly as a parse into a `Row` would),
/// keeping nothing. `root`: only an object is accepted.
#[derive(Clone, Copy)]
struct Checked {
    root: bool,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Checked {
    fn scalar<E: de::Error>(self, what: &str) -> Result<(), E> {
        if self.root {
            Err(E::custom(format!("a row is a JSON object, not {what}")))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar("a number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar("a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar("null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.scalar::<A::Error>("an array")?;
        while seq.next_element_seed(Checked { root: false })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Checked { root: false })?.is_some() {
            map.next_value_seed(Checked { root: false })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text `from_json` takes parses as a `Row`, and every text it
    /// refuses does not.
    #[test]
    fn from_json_takes_exactly_the_texts_that_parse_as_a_row() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        for text in [
            r#"{}"#,
            r#"{"a":1,"b":-2,"c":1.5,"d":"x\ny\u00e9","e":null,"f":true,"g":[1,{"h":[]}]}"#,
            r#"{"big":123456789012345678901234567890}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"n":1e308}"#,
            r#"{"n":1e309}"#,
            r#"{"n":-1e400}"#,
            r#"{"s":"\ud800"}"#,
            r#"{"s":"\ud83d\ude00"}"#,
            r#"{"a":1} x"#,
            r#"[1]"#,
            r#""text""#,
            r#"1"#,
            r#"null"#,
            r#"{"a":}"#,
            &deep,
        ] {
            let parsed = serde_json::from_str::<Row>(text);
            let held = HeldRow::from_json(text.into());
            assert_eq!(held.is_ok(), parsed.is_ok(), "{text}");
            if let (Ok(held), Ok(parsed)) = (held, parsed) {
                assert_eq!(*held, parsed, "{text}");
            }
        }
    }

    #[test]
    fn read_takes_a_typed_value_from_the_text_without_keeping_a_parsed_copy() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Todo {
            title: String,
        }
        let held = HeldRow::from_json(r#"{"title":"one","done":false}"#.into()).unwrap();
        let todo: Todo = held.read().unwrap();
        assert_eq!(todo.title, "one");
        let value: serde_json::Value = held.read().unwrap();
        assert_eq!(value["done"], false);
        assert!(held.parsed.get().is_none(), "read keeps only the text");
        assert_eq!(held["title"], "one");
        assert!(
            held.parsed.get().is_some(),
            "a read through Deref parses once"
        );
        let todo: Todo = held.read().unwrap();
        assert_eq!(
            todo,
            Todo {
                title: "one".into()
            }
        );
    }

    #[test]
    fn equal_rows_compare_equal_whatever_their_text() {
        let a = HeldRow::from_json(r#"{"a":1,"b":2}"#.into()).unwrap();
        let b = HeldRow::from_json(r#"{ "b": 2, "a": 1 }"#.into()).unwrap();
        let c = HeldRow::from_json(r#"{"a":1,"b":3}"#.into()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.clone(), a);
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"a":1,"b":2}"#);
        assert_eq!(HeldRow::from(a.to_row()).json(), r#"{"a":1,"b":2}"#);
    }
}
