//! `HeldRow::from_json` takes exactly the texts that parse as a `Row`
//! (its one-pass check must never vouch for a text serde_json refuses),
//! what it holds reads back as that parse, and the kinds it reports of
//! its fields (read from the text) are those of the parsed values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::{HeldRow, JsonKind, Row};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = serde_json::from_str::<Row>(text);
    match HeldRow::from_json(text.into()) {
        Ok(held) => {
            let parsed =
                parsed.unwrap_or_else(|e| panic!("held a text a parse refuses ({e}): {text}"));
            let kinds: Vec<(String, JsonKind)> = held
                .field_kinds()
                .into_iter()
                .map(|(name, kind)| (name.into_owned(), kind))
                .collect();
            let expected: Vec<(String, JsonKind)> = parsed
                .iter()
                .map(|(name, value)| (name.clone(), JsonKind::of(value)))
                .collect();
            assert_eq!(kinds, expected, "{text}");
            assert_eq!(*held, parsed, "{text}");
        }
        Err(e) => assert!(parsed.is_err(), "refused a row that parses ({e}): {text}"),
    }
});
