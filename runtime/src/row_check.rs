//! One pass over the bytes of a well-formed JSON text that tells, for the
//! texts rows usually are, that it parses as a [`Row`](crate::Row), and
//! what top-level fields it has and of what kinds, building nothing.
//!
//! serde_json already checks a row's syntax where it finds where the row
//! ends (a `RawValue`, as every message's rows are decoded). What a parse
//! into a `Row` adds is: the text is an object, every number fits an `f64`,
//! every `\u` escape of a surrogate is half of a pair, and nesting stays
//! within serde_json's limit. [`vouch`] answers those for plain texts and
//! gives up (`None`) on anything else: an exponent, a long integer, a
//! surrogate escape, deep nesting, an escaped or one-too-many top-level
//! name. The caller then asks serde_json itself, so a text is never taken
//! that a parse would refuse; a hydrating tab no longer walks each row
//! through serde's visitors a second time, nor a leader each row it writes
//! to learn its fields' kinds ([`walk`]).

use crate::held::Fields;
use crate::JsonKind;

/// Deepest nesting vouched for (serde_json refuses a row nested 128 deep).
const MAX_DEPTH: usize = 100;
/// Longest integer part vouched for: any number below 10^300 fits an `f64`.
const MAX_INTEGER_DIGITS: usize = 300;
/// Most top-level names compared with each other here.
const MAX_NAMES: usize = 32;

/// Whether `text`, which serde_json found well-formed, parses as a row, and
/// whether it names a top-level field twice; `None` when it cannot tell
/// cheaply (the caller asks serde_json). `Some` only when a parse into a
/// `Row` succeeds.
pub(crate) fn vouch(text: &str) -> Option<Fields> {
    let mut names = [""; MAX_NAMES];
    let mut count = 0;
    let mut fields = Fields::Unique;
    walk(text, |name, _| {
        if names[..count].contains(&name) {
            fields = Fields::Repeated;
        }
        *names.get_mut(count)? = name;
        count += 1;
        Some(())
    })?;
    Some(fields)
}

/// Walks `text` (well-formed JSON, found so by serde_json), handing each
/// top-level field's name and the kind of its value (as serde_json reads
/// it) to `field`, in the text's order; `None` if `text` is not a row this
/// walk vouches for (see the module's doc), or `field` says `None`.
pub(crate) fn walk<'t>(
    text: &'t str,
    mut field: impl FnMut(&'t str, JsonKind) -> Option<()>,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_whitespace(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut depth = 0;
    // At depth 1, whether the next string is a name (else it is a value).
    let mut name_next = false;
    // The top-level name whose value comes next.
    let mut name = None;
    while let Some(&byte) = b.get(i) {
        let kind = match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return None;
                }
                name_next = depth == 1;
                i += 1;
                if byte == b'{' {
                    JsonKind::Object
                } else {
                    JsonKind::Array
                }
            }
            b'}' | b']' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    break;
                }
                continue;
            }
            b',' => {
                name_next = depth == 1;
                i += 1;
                continue;
            }
            b':' | b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'"' => {
                let start = i + 1;
                let end = string_end(b, start)?;
                i = end.at + 1;
                if name_next {
                    if end.escaped {
                        return None;
                    }
                    name = Some(&text[start..end.at]);
                    name_next = false;
                    continue;
                }
                JsonKind::Text
            }
            b'-' | b'0'..=b'9' => {
                let (end, kind) = number(text, i)?;
                i = end;
                kind
            }
            b't' => {
                i += 4;
                JsonKind::Boolean
            }
            b'f' => {
                i += 5;
                JsonKind::Boolean
            }
            b'n' => {
                i += 4;
                JsonKind::Null
            }
            _ => return None,
        };
        if let Some(name) = name.take() {
            field(name, kind)?;
        }
    }
    (depth == 0 && skip_whitespace(b, i) == b.len()).then_some(())
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Where a string whose contents start at `i` ends.
struct StringEnd {
    /// Index of the closing quote.
    at: usize,
    /// Whether the string has an escape.
    escaped: bool,
}

/// The end of the string starting at `i`; `None` at an escaped surrogate
/// (serde_json decides whether it is paired) or a missing quote.
fn string_end(b: &[u8], mut i: usize) -> Option<StringEnd> {
    let mut escaped = false;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(StringEnd { at: i, escaped });
        }
        escaped = true;
        if b.get(i + 1) == Some(&b'u') {
            let hex = b.get(i + 2..i + 4)?;
            let surrogate = matches!(hex[0], b'd' | b'D')
                && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
            if surrogate {
                return None;
            }
            i += 6;
        } else {
            i += 2;
        }
    }
}

/// The end and the kind of the number starting at `i`; `None` unless it
/// surely fits an `f64` (no exponent, a short integer part).
fn number(text: &str, i: usize) -> Option<(usize, JsonKind)> {
    let b = text.as_bytes();
    let negative = b[i] == b'-';
    let start = i + usize::from(negative);
    let mut j = start;
    while matches!(b.get(j), Some(b'0'..=b'9')) {
        j += 1;
    }
    let digits = j - start;
    if digits > MAX_INTEGER_DIGITS {
        return None;
    }
    let kind = if b.get(j) == Some(&b'.') {
        j += 1;
        while matches!(b.get(j), Some(b'0'..=b'9')) {
            j += 1;
        }
        JsonKind::Real
    } else {
        integer_kind(&text[i..j], negative, digits)
    };
    match b.get(j) {
        Some(b'e' | b'E') => None,
        _ => Some((j, kind)),
    }
}

/// The kind serde_json gives an integer token: an integer if it fits a
/// `u64`, or below zero an `i64`; `-0` and anything wider is a real.
fn integer_kind(token: &str, negative: bool, digits: usize) -> JsonKind {
    let fits = match (negative, digits) {
        (true, _) if token == "-0" => false,
        (_, 0..=18) => true,
        (true, _) => token.parse::<i64>().is_ok(),
        (false, _) => token.parse::<u64>().is_ok(),
    };
    if fits {
        JsonKind::Integer
    } else {
        JsonKind::Real
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::held::check_row;
    use crate::rng::SplitMix64;

    /// What serde_json says of `text` as a row, given it is well-formed.
    fn serde(text: &str) -> Option<Fields> {
        check_row(text).ok()
    }

    #[test]
    fn vouches_for_plain_rows_and_agrees_with_serde_json() {
        for text in [
            r#"{}"#,
            r#" { "a" : 1 , "b" : [ true , false , null ] } "#,
            r#"{"a":1,"b":-2,"c":1.5,"d":"x\ny\u00e9\"","e":null,"f":true,"g":[1,{"h":[]}]}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"a":{"x":1,"x":2},"b":{"x":3}}"#,
            r#"{"a":"b","b":"a"}"#,
            r#"{"big":123456789012345678901234567890}"#,
            r#"{"s":"\u00e9\u20ac","t":"\/\\"}"#,
        ] {
            assert_eq!(vouch(text), serde(text), "{text}");
            assert!(vouch(text).is_some(), "{text}");
        }
    }

    #[test]
    fn gives_up_where_serde_json_must_decide() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        for text in [
            r#"[1]"#.to_string(),
            r#""text""#.into(),
            r#"{"n":1e308}"#.into(),
            r#"{"n":1E2}"#.into(),
            r#"{"s":"\ud800"}"#.into(),
            r#"{"s":"\ud83d\ude00"}"#.into(),
            r#"{"s":"\uDC00"}"#.into(),
            r#"{"\u0061":1,"a":3}"#.into(),
            format!("{{\"n\":{}}}", "9".repeat(MAX_INTEGER_DIGITS + 1)),
            deep(MAX_DEPTH),
            deep(200),
            format!(
                "{{{}}}",
                (0..=MAX_NAMES)
                    .map(|i| format!("\"f{i}\":{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            assert_eq!(vouch(&text), None, "{text}");
        }
        assert!(vouch(&deep(MAX_DEPTH - 2)).is_some());
        let long = format!("{{\"n\":{}}}", "9".repeat(MAX_INTEGER_DIGITS));
        assert_eq!(vouch(&long), serde(&long));
    }

    fn kinds(text: &str) -> Option<Vec<(std::borrow::Cow<'_, str>, JsonKind)>> {
        let mut kinds = Vec::new();
        walk(text, |name, kind| {
            kinds.push((name.into(), kind));
            Some(())
        })?;
        Some(kinds)
    }

    #[test]
    fn reads_each_kind_as_serde_json_does() {
        let text = r#"{"a":0,"b":-0,"c":-1,"d":1.0,"e":-0.0,"f":18446744073709551615,
            "g":18446744073709551616,"h":-9223372036854775808,"i":-9223372036854775809,
            "j":123456789012345678,"k":"s","l":[],"m":{"n":1},"o":null,"p":true,"q":false}"#;
        let kinds = kinds(text).unwrap();
        assert_eq!(Some(kinds.clone()), crate::held::field_kinds_by_serde(text));
        let reals: Vec<_> = kinds
            .iter()
            .filter(|(_, k)| *k == JsonKind::Real)
            .map(|(n, _)| n.as_ref())
            .collect();
        assert_eq!(reals, ["b", "d", "e", "g", "i"]);
    }

    /// Random texts near the edges of what a row may be (mutations of a
    /// few seeds: truncated, digits and escapes spliced in): wherever the
    /// text is well-formed and `vouch` answers, serde_json agrees.
    #[test]
    fn never_vouches_for_a_text_serde_json_refuses() {
        let pieces: &[&str] = &[
            "18446744073709551616",
            "-9223372036854775808",
            "-0.0",
            "0",
            "\"c\":{\"a\":",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"a\"",
            "\"b\"",
            "\"a\":",
            "1",
            "-0",
            "0.5",
            "1e400",
            "1e5",
            "-",
            "9999999999999999999999",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\u0061\"",
            "\"\\\"\"",
            "\"\\\\\"",
            "true",
            "null",
            "false",
            " ",
            "\n",
            "\"x\":[",
            "\"é\"",
        ];
        let mut rng = SplitMix64::new(7);
        let mut vouched = 0;
        let mut well_formed = 0;
        for _ in 0..200_000 {
            let mut text = String::from("{");
            for _ in 0..rng.next_u64() % 12 {
                text.push_str(pieces[(rng.next_u64() % pieces.len() as u64) as usize]);
            }
            if rng.next_u64() % 2 == 0 {
                text.push('}');
            }
            if serde_json::from_str::<&serde_json::value::RawValue>(&text).is_err() {
                continue;
            }
            well_formed += 1;
            if let Some(fields) = vouch(&text) {
                vouched += 1;
                assert_eq!(Some(fields), serde(&text), "{text}");
                assert_eq!(
                    kinds(&text),
                    crate::held::field_kinds_by_serde(&text),
                    "{text}"
                );
            }
        }
        assert!(
            well_formed > 1_000 && vouched > 500,
            "{well_formed} {vouched}"
        );
    }
}
