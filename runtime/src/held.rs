//! [`HeldRow`]: a row kept as the JSON text it arrived in until something
//! reads it.
//!
//! A tab that hydrates 100,000 rows, or a leader that writes 10,000 inserted
//! rows to SQLite, would otherwise build a map of `String`s and `Value`s per
//! row that nothing reads: the text is checked on arrival (so that a later
//! parse cannot fail) and parsed on the first read.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use once_cell::race::OnceBox;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::row::Row;

/// A row as Lockstep holds it: either parsed, or JSON text that is parsed
/// (once) on the first read through [`Deref`]. Compares as the row; serialises
/// (with serde_json) as its text where it has one, else as the row, and
/// deserialises (with serde_json) as the text, checked, without parsing it:
/// a row travels from JavaScript through the tab, the leader and SQLite as
/// text, and is parsed only where something reads its fields.
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
    /// The JSON text the row arrived as (`None`: it was made from a `Row`),
    /// as serde_json's `RawValue`: serialising writes it as it is, without
    /// scanning it again to find where it ends.
    text: Option<Box<RawValue>>,
    /// The parsed row, boxed: a row held as text and never read (most rows a
    /// tab hydrates) then costs a pointer here, not an empty map's 72 bytes.
    /// A `OnceBox` is that one pointer, set once (`OnceLock<Box<_>>` adds a
    /// word for its state); two threads reading a row for the first time
    /// at once may both parse it, and one parse is kept.
    parsed: OnceBox<Row>,
}

impl HeldRow {
    /// A row held as its JSON text, refused (with the reason) unless the
    /// text parses as a [`Row`]: a JSON object whose numbers fit an `f64`.
    /// The check builds nothing, so it costs a fraction of the parse.
    ///
    /// A text whose object names one top-level field twice is parsed at once
    /// and held as the row (the last value wins, as in a [`Row`]), so every
    /// text Lockstep keeps or stores has each top-level field once and
    /// SQLite's JSON functions read the same values as a parse does.
    pub fn from_json(text: Box<str>) -> Result<HeldRow, serde_json::Error> {
        HeldRow::checked(RawValue::from_string(text.into())?)
    }

    /// A row held as the text of `raw` (well-formed JSON, found so by
    /// serde_json), refused like [`HeldRow::from_json`].
    pub(crate) fn from_raw(raw: Box<RawValue>) -> Result<HeldRow, serde_json::Error> {
        HeldRow::checked(raw)
    }

    /// `text`, well-formed JSON, held if it is a row.
    fn checked(text: Box<RawValue>) -> Result<HeldRow, serde_json::Error> {
        if check(text.get())? == Fields::Repeated {
            return Ok(HeldRow::from(serde_json::from_str::<Row>(text.get())?));
        }
        Ok(HeldRow {
            text: Some(text),
            parsed: OnceBox::new(),
        })
    }

    /// The JSON text the row is held as, if it is held as text (`None`:
    /// it was made from a [`Row`]; see [`HeldRow::json`] for text in every
    /// case).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref().map(RawValue::get)
    }

    /// `row`, ready to share.
    pub fn shared(row: Row) -> crate::SharedRow {
        crate::SharedRow::new(HeldRow::from(row))
    }

    /// The row's JSON text: as it arrived, or serialised from the row.
    pub fn json(&self) -> Cow<'_, str> {
        match self.text() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(serde_json::to_string(self.row()).unwrap_or_else(|_| "{}".into())),
        }
    }

    /// Reads the row into `T`: straight from the text while it has not been
    /// parsed (no [`Row`] is built or kept), else from the parsed row.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if let (None, Some(text)) = (self.parsed.get(), self.text()) {
            return serde_json::from_str(text);
        }
        T::deserialize(self.row())
    }

    /// A copy of the row.
    pub fn to_row(&self) -> Row {
        self.row().clone()
    }

    fn row(&self) -> &Row {
        self.parsed.get_or_init(|| match self.text() {
            // Checked by `from_json`: the parse cannot fail.
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => Box::default(),
        })
    }
}

/// The kind of a JSON value, as [`HeldRow::field_kinds`] reports it.
///
/// ```
/// use lockstep::JsonKind;
/// assert_eq!(JsonKind::of(&serde_json::json!(1)), JsonKind::Integer);
/// assert_eq!(JsonKind::of(&serde_json::json!(1.5)), JsonKind::Real);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JsonKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without fraction or exponent that fits 64 bits.
    Integer,
    /// Any other number.
    Real,
    /// A string.
    Text,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonKind {
    /// The kind of `value`.
    pub fn of(value: &serde_json::Value) -> JsonKind {
        use serde_json::Value;
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonKind::Integer,
            Value::Number(_) => JsonKind::Real,
            Value::String(_) => JsonKind::Text,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }
}

impl HeldRow {
    /// Each top-level field's name and the kind of its value, in the row's
    /// order. A row held as text is read without being parsed (nothing is
    /// built but this list), so a store can learn what fields a row has
    /// while writing its text as it is.
    ///
    /// ```
    /// use lockstep::{HeldRow, JsonKind};
    /// let row = HeldRow::from_json(r#"{"n":1,"tags":["a"],"x":null}"#.into()).unwrap();
    /// let kinds: Vec<_> = row.field_kinds().into_iter().map(|(name, kind)| (name.into_owned(), kind)).collect();
    /// assert_eq!(kinds, [("n".into(), JsonKind::Integer), ("tags".into(), JsonKind::Array), ("x".into(), JsonKind::Null)]);
    /// ```
    pub fn field_kinds(&self) -> Vec<(Cow<'_, str>, JsonKind)> {
        if let (None, Some(text)) = (self.parsed.get(), self.text()) {
            // Checked when the row was made, so well-formed: one pass over
            // its bytes where the text is plain, else serde_json.
            let mut kinds = Vec::new();
            let walked = crate::row_check::walk(text, |name, kind| {
                kinds.push((Cow::Borrowed(name), kind));
                Some(())
            });
            if let Some(kinds) = walked
                .map(|()| kinds)
                .or_else(|| field_kinds_by_serde(text))
            {
                return kinds;
            }
        }
        self.row()
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name.as_str()), JsonKind::of(value)))
            .collect()
    }
}

impl From<Row> for HeldRow {
    fn from(row: Row) -> HeldRow {
        HeldRow {
            text: None,
            parsed: OnceBox::with_value(Box::new(row)),
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
            (Some(a), Some(b)) if a.get() == b.get() => true,
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
        // serde_json writes a `RawValue` as its text.
        match &self.text {
            Some(raw) => raw.serialize(serializer),
            None => self.row().serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for HeldRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HeldRow, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        HeldRow::from_raw(raw).map_err(de::Error::custom)
    }
}

/// Whether a checked object names each of its top-level fields once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fields {
    /// Every top-level field once.
    Unique,
    /// Some top-level field more than once.
    Repeated,
}

/// Checks that `text`, found well-formed by serde_json, parses as a
/// [`Row`]: in one pass over its bytes where it is plain enough
/// ([`vouch`](crate::row_check::vouch)), else by [`check_row`].
pub(crate) fn check(text: &str) -> Result<Fields, serde_json::Error> {
    match crate::row_check::vouch(text) {
        Some(fields) => Ok(fields),
        None => check_row(text),
    }
}

/// Checks that `text` parses as a [`Row`] with serde_json's own parser,
/// building nothing but the list of its top-level field names (borrowed
/// from `text` unless escaped).
pub(crate) fn check_row(text: &str) -> Result<Fields, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = de.deserialize_any(Root)?;
    de.end()?;
    Ok(fields)
}

/// The top-level object of a row: its values are [`Checked`], its field
/// names compared with each other.
struct Root;

impl<'de> Visitor<'de> for Root {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Fields, E> {
        Err(not_an_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields, E> {
        Err(not_an_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields, E> {
        Err(not_an_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields, E> {
        Err(not_an_object("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields, E> {
        Err(not_an_object("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
        Err(not_an_object("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Fields, A::Error> {
        Err(not_an_object("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        let mut fields = Fields::Unique;
        while let Some(name) = map.next_key_seed(Name)? {
            map.next_value_seed(Checked)?;
            if fields == Fields::Unique && names.contains(&name) {
                fields = Fields::Repeated;
            }
            names.push(name);
        }
        Ok(fields)
    }
}

fn not_an_object<E: de::Error>(what: &str) -> E {
    E::custom(format!("a row is a JSON object, not {what}"))
}

/// Each top-level field of `text` (a checked row) and the kind of its
/// value, read by serde_json.
pub(crate) fn field_kinds_by_serde(text: &str) -> Option<Vec<(Cow<'_, str>, JsonKind)>> {
    serde_json::Deserializer::from_str(text)
        .deserialize_map(FieldKinds)
        .ok()
}

/// A row's top-level fields and the kinds of their values.
struct FieldKinds;

impl<'de> Visitor<'de> for FieldKinds {
    type Value = Vec<(Cow<'de, str>, JsonKind)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kinds = Vec::new();
        while let Some(name) = map.next_key_seed(Name)? {
            kinds.push((name, map.next_value_seed(Checked)?));
        }
        Ok(kinds)
    }
}

/// A field name, borrowed from the text unless it has escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

/// Walks a JSON value through `deserialize_any` (so numbers are range
/// checked and strings unescaped exactly as a parse into a `Row` would),
/// keeping nothing but its kind.
#[derive(Clone, Copy)]
struct Checked;

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = JsonKind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonKind, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = JsonKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonKind, E> {
        Ok(JsonKind::Boolean)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonKind, E> {
        Ok(JsonKind::Integer)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonKind, E> {
        Ok(JsonKind::Integer)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonKind, E> {
        Ok(JsonKind::Real)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonKind, E> {
        Ok(JsonKind::Text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonKind, E> {
        Ok(JsonKind::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonKind, A::Error> {
        while seq.next_element_seed(Checked)?.is_some() {}
        Ok(JsonKind::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonKind, A::Error> {
        while map.next_key_seed(Checked)?.is_some() {
            map.next_value_seed(Checked)?;
        }
        Ok(JsonKind::Object)
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

    /// A tab holds one `HeldRow` per row: the text's pointer and length and
    /// a pointer to the parsed row, not a map inline.
    #[test]
    fn a_held_row_is_three_words() {
        assert!(
            std::mem::size_of::<HeldRow>() <= 3 * std::mem::size_of::<usize>(),
            "{} bytes",
            std::mem::size_of::<HeldRow>()
        );
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

    #[derive(serde::Deserialize, serde::Serialize)]
    struct Holder {
        v: HeldRow,
    }

    #[test]
    fn a_row_deserialises_as_its_text_and_serialises_as_it() {
        let held: Vec<Holder> =
            serde_json::from_str(r#"[{"v":{"b":1,"a":[2,{"c":null}]}}]"#).unwrap();
        assert_eq!(held[0].v.text(), Some(r#"{"b":1,"a":[2,{"c":null}]}"#));
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            r#"[{"v":{"b":1,"a":[2,{"c":null}]}}]"#
        );
        for bad in [r#"{"v":{"n":1e400}}"#, r#"{"v":[1]}"#, r#"{"v":"{}"}"#] {
            assert!(serde_json::from_str::<Holder>(bad).is_err(), "{bad}");
        }
        // From a `Value` too (an op whose tag comes last is read from one).
        let held: Holder = serde_json::from_value(serde_json::json!({"v": {"x": 1}})).unwrap();
        assert_eq!(held.v["x"], 1);
        assert_eq!(
            serde_json::to_value(&held).unwrap(),
            serde_json::json!({"v": {"x": 1}})
        );
    }

    #[test]
    fn a_text_is_held_without_the_white_space_around_it_and_written_as_held() {
        let held = HeldRow::from_json(" \n{\"b\": 1, \"a\": \"x\"}\t ".into()).unwrap();
        assert_eq!(held.text(), Some(r#"{"b": 1, "a": "x"}"#));
        // Written as it is held, inner white space and field order kept.
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            r#"{"b": 1, "a": "x"}"#
        );
        assert_eq!(
            HeldRow::from_json(r#"{"a":"x","b":1}"#.into()).unwrap(),
            held,
            "equal rows compare equal whatever their text"
        );
    }

    #[test]
    fn rows_read_into_an_arc_keep_their_text_and_an_absent_row_reads_as_none() {
        let change: crate::Change =
            serde_json::from_str(r#"{"collection":"c","key":1,"value":{"t":"x"}}"#).unwrap();
        assert_eq!(
            change.value.as_ref().and_then(|r| r.text()),
            Some(r#"{"t":"x"}"#)
        );
        for text in [
            r#"{"collection":"c","key":1,"value":null}"#,
            r#"{"collection":"c","key":1}"#,
        ] {
            let change: crate::Change = serde_json::from_str(text).unwrap();
            assert_eq!(change.value, None, "{text}");
        }
        let bad = r#"{"collection":"c","key":1,"value":[1]}"#;
        assert!(serde_json::from_str::<crate::Change>(bad).is_err());
    }

    #[test]
    fn a_text_naming_a_field_twice_is_held_parsed_with_the_last_value() {
        for (text, row) in [
            (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
            (r#"{"\u0061":1,"a":3}"#, r#"{"a":3}"#),
        ] {
            let held = HeldRow::from_json(text.into()).unwrap();
            assert_eq!(held.text(), None, "{text}");
            assert_eq!(held.json(), row);
        }
        let nested = HeldRow::from_json(r#"{"a":{"x":1,"x":2}}"#.into()).unwrap();
        assert_eq!(
            nested.text(),
            Some(r#"{"a":{"x":1,"x":2}}"#),
            "only top-level fields matter"
        );
    }

    #[test]
    fn field_kinds_from_the_text_are_those_of_the_parsed_row() {
        let text = r#"{"i":-3,"u":18446744073709551615,"big":123456789012345678901234567890,"r":1.0,"e":1e3,"z":-0,"s":"x","\u0074":true,"n":null,"a":[{"b":1}],"o":{"p":[]}}"#;
        let held = HeldRow::from_json(text.into()).unwrap();
        let mut from_text = held.field_kinds();
        from_text.sort();
        assert!(held.parsed.get().is_none(), "read from the text");
        let parsed = HeldRow::from(held.to_row());
        let mut from_row = parsed.field_kinds();
        from_row.sort();
        assert_eq!(
            from_text
                .iter()
                .map(|(n, k)| (n.to_string(), *k))
                .collect::<Vec<_>>(),
            from_row
                .iter()
                .map(|(n, k)| (n.to_string(), *k))
                .collect::<Vec<_>>()
        );
        assert_eq!(from_text.len(), 11);
    }

    #[test]
    fn equal_rows_compare_equal_whatever_their_text() {
        let a = HeldRow::from_json(r#"{"a":1,"b":2}"#.into()).unwrap();
        let b = HeldRow::from_json(r#"{ "b": 2, "a": 1 }"#.into()).unwrap();
        let c = HeldRow::from_json(r#"{"a":1,"b":3}"#.into()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.clone(), a);
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{ "b": 2, "a": 1 }"#);
        assert_eq!(serde_json::to_string(&*b).unwrap(), r#"{"b":2,"a":1}"#);
        assert_eq!(HeldRow::from(a.to_row()).json(), r#"{"a":1,"b":2}"#);
    }
}
