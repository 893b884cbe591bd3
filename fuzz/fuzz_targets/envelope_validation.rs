//! Validation of what arrives inside an envelope: ops (`Vec<Op>`), their
//! limits (`check_ops`), keys (`Key::from_json`) and collection names.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::protocol::{check_ops, Limits};
use lockstep::{CollectionId, Key, Op, MAX_KEY_BYTES, MAX_SAFE_INTEGER};

fuzz_target!(|data: &[u8]| {
    if let Ok(ops) = serde_json::from_slice::<Vec<Op>>(data) {
        assert!(check_ops(&ops, &Limits::default()).is_ok() || ops.len() > 100_000);
        let tight = Limits {
            max_message_bytes: 2048,
            max_ops_per_envelope: 2,
            max_row_bytes: 32,
            max_inline_bytes: 256,
        };
        let fits = ops.len() <= 2
            && ops.iter().all(|op| {
                // A held row counts as the text it arrived as.
                let bytes = match op {
                    Op::Insert { value, .. } | Op::Update { value, .. } => {
                        serde_json::to_vec(value)
                    }
                    Op::Patch { fields, .. } => serde_json::to_vec(fields),
                    Op::Delete { .. } => return true,
                };
                bytes.expect("rows serialise").len() <= 32
            });
        match check_ops(&ops, &tight) {
            Ok(()) => assert!(fits, "check_ops accepted ops over the limits"),
            Err(e) => {
                assert!(!fits, "check_ops refused ops within the limits: {e}");
                let _ = e.to_string();
            }
        }
        for op in &ops {
            check_key(op.key());
        }
        let text = serde_json::to_vec(&ops).expect("ops serialise");
        let again: Vec<Op> = serde_json::from_slice(&text).unwrap_or_else(|e| {
            panic!(
                "serialised ops do not parse back: {e}\n{}",
                String::from_utf8_lossy(&text)
            )
        });
        assert_eq!(again, ops, "ops changed in a round trip");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = Key::from_json(text) {
            check_key(&key);
            assert_eq!(Key::from_json(&key.to_json()).ok(), Some(key.clone()));
            let _ = key.to_string();
        }
        // Collection names arrive in every op; an invalid one must be an error.
        match CollectionId::new(text) {
            Ok(c) => assert_eq!(c.as_str(), text),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});

fn check_key(key: &Key) {
    match key {
        Key::Int(i) => assert!(i.abs() <= MAX_SAFE_INTEGER, "unsafe integer key {i}"),
        Key::Str(s) => assert!(s.len() <= MAX_KEY_BYTES, "key of {} bytes", s.len()),
    }
}
