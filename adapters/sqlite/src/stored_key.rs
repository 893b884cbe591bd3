//! Reading a row's key from the JSON text SQLite holds it as.
//!
//! Every row a page reads has its key read back, so the common shapes (a
//! string without escapes, a plain integer) are taken straight from the
//! text; anything else goes through `Key::from_json` and the canonical-form
//! check, which also write the error messages.

use lockstep::{CollectionId, Key, StoreError, MAX_KEY_BYTES, MAX_SAFE_INTEGER};

use crate::error::corrupt;

/// The key stored as `text` in `collection`: valid only in its canonical
/// JSON text, the one Lockstep writes and looks up ([`Key::to_json`]).
/// Other forms of the same key that other code may write (`"\u00e9"` for
/// `"é"`, `1.0` for `1`, spaces around) would be found by no look-up and
/// break page cursors, so they are refused (the row is ignored).
pub(crate) fn parse_key(text: &str, collection: &CollectionId) -> Result<Key, StoreError> {
    if let Some(key) = plain_key(text) {
        return Ok(key);
    }
    let key = Key::from_json(text).map_err(|e| {
        corrupt(format!(
            "key {text} in {collection} is not a valid key ({e}); Lockstep ignores the row: use a string of at most 1024 bytes or a safe integer"
        ))
    })?;
    let canonical = key.to_json();
    if canonical != text {
        return Err(corrupt(format!(
            "key {text} in {collection} is not in canonical form; Lockstep ignores the row: write the key as {canonical}"
        )));
    }
    Ok(key)
}

/// The key `text` is, if it is one of the shapes read without a parser:
/// a quoted string with nothing JSON escapes (`"`, `\`, control
/// characters), so it is its own canonical form, of at most
/// [`MAX_KEY_BYTES`]; or a safe integer without sign or leading zero
/// other than one `-`. `None` says only "not one of those".
fn plain_key(text: &str) -> Option<Key> {
    let bytes = text.as_bytes();
    if let [b'"', inner @ .., b'"'] = bytes {
        let plain = inner.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
        // `inner` ends before a one-byte `"`, so it is whole UTF-8 characters.
        return (plain && inner.len() <= MAX_KEY_BYTES)
            .then(|| Key::Str(text[1..text.len() - 1].into()));
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == bytes.len(),
        [first, rest @ ..] => {
            first.is_ascii_digit() && *first != b'0' && rest.iter().all(u8::is_ascii_digit)
        }
    };
    let int: i64 = if canonical {
        text.parse().ok()?
    } else {
        return None;
    };
    (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER)
        .contains(&int)
        .then_some(Key::Int(int))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todos() -> CollectionId {
        CollectionId::new("todos").unwrap()
    }

    /// What the parser and the canonical-form check say of `text`.
    fn parsed(text: &str) -> Option<Key> {
        let key = Key::from_json(text).ok()?;
        (key.to_json() == text).then_some(key)
    }

    /// Whatever the shortcut takes, the parser takes the same way; and
    /// `parse_key` agrees with the parser on everything.
    #[test]
    fn the_shortcut_agrees_with_the_parser() {
        let long = format!("\"{}\"", "a".repeat(MAX_KEY_BYTES));
        let too_long = format!("\"{}\"", "a".repeat(MAX_KEY_BYTES + 1));
        let texts = [
            "\"a\"",
            "\"\"",
            "\"item-000001\"",
            "\"é ✓ 𝄞\"",
            "\"tab\\tin\"",
            "\"q\\\"\"",
            "\"\\u00e9\"",
            "\"\u{1f}\"",
            "\"\u{7f}\"",
            "\"a\" ",
            " \"a\"",
            "\"a",
            "\"",
            "a\"",
            "0",
            "-0",
            "7",
            "-7",
            "007",
            "+7",
            "1.0",
            "1e3",
            "-",
            "",
            "--1",
            "12a",
            "9007199254740991",
            "-9007199254740991",
            "9007199254740992",
            "-9007199254740992",
            "99999999999999999999",
            "null",
            "true",
            "[1]",
            "{}",
            &long,
            &too_long,
        ];
        for text in texts {
            if let Some(key) = plain_key(text) {
                assert_eq!(Some(key), parsed(text), "{text:?}");
            }
            assert_eq!(parse_key(text, &todos()).ok(), parsed(text), "{text:?}");
        }
        assert!(plain_key("\"item-000001\"").is_some());
        assert!(plain_key("-42").is_some());
        assert!(plain_key(&long).is_some());
    }

    /// Every key Lockstep writes reads back as itself, by the shortcut
    /// where the key has a plain shape.
    #[test]
    fn written_keys_read_back() {
        let keys = [
            Key::Int(0),
            Key::Int(-1),
            Key::Int(MAX_SAFE_INTEGER),
            Key::Int(-MAX_SAFE_INTEGER),
            Key::from("x"),
            Key::from("with \"quotes\" and \\"),
            Key::from("line\nbreak"),
            Key::from("ünïcödé"),
        ];
        for key in keys {
            assert_eq!(parse_key(&key.to_json(), &todos()).ok(), Some(key));
        }
    }
}
