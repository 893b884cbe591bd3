//! `HeldRow::from_json` takes exactly the texts that parse as a `Row`
//! (its one-pass check must never vouch for a text serde_json refuses),
//! and what it holds reads back as that parse.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::{HeldRow, Row};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = serde_json::from_str::<Row>(text);
    match HeldRow::from_json(text.into()) {
        Ok(held) => {
            let parsed = parsed.unwrap_or_else(|e| panic!("held a text a parse refuses ({e}): {text}"));
            assert_eq!(*held, parsed, "{text}");
        }
        Err(e) => assert!(parsed.is_err(), "refused a row that parses ({e}): {text}"),
    }
});
