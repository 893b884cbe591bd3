//! Reading an [`Op`] without buffering it.
//!
//! `Op`'s JSON is internally tagged (`{"op": "insert", "collection": …}`).
//! serde's derived reader for such enums first copies every op, row values
//! included, into an intermediate tree and reads the variant from that: a
//! second pass and an allocation per value, which was most of the cost of
//! decoding a 10,000-row envelope. This reader takes the common case, the
//! tag first (as Lockstep and the TypeScript package write it), in one pass;
//! an op whose tag comes later is buffered as a JSON object and read from it,
//! so every order is still accepted.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::ids::CollectionId;
use crate::key::Key;
use crate::row::{Op, Row, SharedRow};

/// The fields of an insert or an update.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFields {
    collection: CollectionId,
    key: Key,
    value: SharedRow,
}

/// The fields of a patch.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchFields {
    collection: CollectionId,
    key: Key,
    fields: Row,
    #[serde(default)]
    unset: Vec<String>,
}

/// The fields of a delete.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteFields {
    collection: CollectionId,
    key: Key,
}

/// The tag's values.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Insert,
    Update,
    Patch,
    Delete,
}

impl Kind {
    /// Reads the op's other fields from `fields`.
    fn read<'de, D: Deserializer<'de>>(self, fields: D) -> Result<Op, D::Error> {
        Ok(match self {
            Kind::Insert => {
                let RowFields {
                    collection,
                    key,
                    value,
                } = RowFields::deserialize(fields)?;
                Op::Insert {
                    collection,
                    key,
                    value,
                }
            }
            Kind::Update => {
                let RowFields {
                    collection,
                    key,
                    value,
                } = RowFields::deserialize(fields)?;
                Op::Update {
                    collection,
                    key,
                    value,
                }
            }
            Kind::Patch => {
                let PatchFields {
                    collection,
                    key,
                    fields,
                    unset,
                } = PatchFields::deserialize(fields)?;
                Op::Patch {
                    collection,
                    key,
                    fields,
                    unset,
                }
            }
            Kind::Delete => {
                let DeleteFields { collection, key } = DeleteFields::deserialize(fields)?;
                Op::Delete { collection, key }
            }
        })
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Op, D::Error> {
        deserializer.deserialize_map(OpVisitor)
    }
}

struct OpVisitor;

impl<'de> Visitor<'de> for OpVisitor {
    type Value = Op;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(r#"an op: an object with "op": "insert", "update", "patch" or "delete""#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Op, A::Error> {
        let first = match map.next_key::<FirstField>()? {
            None => return Err(de::Error::missing_field("op")),
            Some(FirstField::Op) => {
                let kind: Kind = map.next_value()?;
                return kind.read(MapAccessDeserializer::new(map));
            }
            Some(FirstField::Other(name)) => name,
        };
        // The tag comes later: buffer the object, then read it.
        let mut rest = serde_json::Map::new();
        rest.insert(first, map.next_value()?);
        while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
            if rest.insert(name.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
            }
        }
        let kind = rest
            .remove("op")
            .ok_or_else(|| de::Error::missing_field("op"))?;
        let kind = Kind::deserialize(kind).map_err(de::Error::custom)?;
        kind.read(serde_json::Value::Object(rest))
            .map_err(de::Error::custom)
    }
}

/// An op's first field name: the tag (read without copying the name), or
/// another field.
enum FirstField {
    Op,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FirstField, D::Error> {
        deserializer.deserialize_identifier(FirstFieldVisitor)
    }
}

struct FirstFieldVisitor;

impl Visitor<'_> for FirstFieldVisitor {
    type Value = FirstField;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<FirstField, E> {
        Ok(match name {
            "op" => FirstField::Op,
            other => FirstField::Other(other.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(value: serde_json::Value) -> Result<Op, String> {
        serde_json::from_str(&value.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_variant_reads_back_what_was_written() {
        let row = json!({"title": "a", "n": 1.5}).as_object().unwrap().clone();
        let c = CollectionId::new("todos").unwrap();
        let ops = [
            Op::Insert {
                collection: c.clone(),
                key: Key::from("a"),
                value: crate::HeldRow::shared(row.clone()),
            },
            Op::Update {
                collection: c.clone(),
                key: Key::Int(7),
                value: crate::HeldRow::shared(row.clone()),
            },
            Op::Patch {
                collection: c.clone(),
                key: Key::from("a"),
                fields: row.clone(),
                unset: vec!["x".into()],
            },
            Op::Patch {
                collection: c.clone(),
                key: Key::from("a"),
                fields: row,
                unset: vec![],
            },
            Op::Delete {
                collection: c,
                key: Key::from("a"),
            },
        ];
        for o in ops {
            let text = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), o, "{text}");
        }
    }

    #[test]
    fn the_tag_may_come_anywhere() {
        let late =
            op(json!({"collection": "todos", "key": "a", "value": {"t": 1}, "op": "insert"}))
                .unwrap();
        let early =
            op(json!({"op": "insert", "collection": "todos", "key": "a", "value": {"t": 1}}))
                .unwrap();
        assert_eq!(late, early);
        // From text too, the tag's name written with an escape or not.
        for text in [
            r#"{"\u006fp": "insert", "collection": "todos", "key": "a", "value": {"t": 1}}"#,
            r#"{"collection": "todos", "key": "a", "value": {"t": 1}, "op": "insert"}"#,
        ] {
            assert_eq!(serde_json::from_str::<Op>(text).unwrap(), early, "{text}");
        }
    }

    #[test]
    fn unknown_missing_and_duplicate_fields_are_refused() {
        for bad in [
            json!({"op": "insert", "collection": "todos", "key": "a", "value": {}, "extra": 1}),
            json!({"collection": "todos", "key": "a", "value": {}, "op": "insert", "extra": 1}),
            json!({"op": "insert", "collection": "todos", "key": "a"}),
            json!({"collection": "todos", "key": "a", "value": {}}),
            json!({"op": "upsert", "collection": "todos", "key": "a", "value": {}}),
            json!({"op": "delete", "collection": "todos", "key": [1]}),
            json!({}),
            json!([]),
        ] {
            assert!(op(bad.clone()).is_err(), "accepted {bad}");
        }
        let twice = r#"{"key": "a", "key": "b", "collection": "todos", "op": "delete"}"#;
        assert!(serde_json::from_str::<Op>(twice).is_err());
    }
}
