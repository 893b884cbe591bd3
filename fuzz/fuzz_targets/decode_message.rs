//! `decode` on arbitrary bytes never panics, and whatever it accepts survives
//! an encode/decode round trip unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::protocol::{decode, Limits};

fuzz_target!(|data: &[u8]| {
    let db = lockstep_fuzz::db();
    let tight = Limits {
        max_message_bytes: 2048,
        max_ops_per_envelope: 2,
        max_row_bytes: 64,
        max_inline_bytes: 256,
    };
    for limits in [Limits::default(), tight] {
        match decode(data, &db, &limits) {
            Ok(message) => {
                let bytes = message.encode();
                let again = decode(&bytes, &db, &limits).unwrap_or_else(|e| {
                    panic!(
                        "re-encoded message was refused: {e}\n{}",
                        String::from_utf8_lossy(&bytes)
                    )
                });
                assert_eq!(again, message, "round trip changed the message");
                assert_eq!(again.encode(), bytes, "encoding is not stable");
            }
            Err(e) => {
                // Every error explains itself without panicking.
                let _ = e.to_string();
            }
        }
    }
});
