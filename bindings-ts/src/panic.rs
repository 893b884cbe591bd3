//! Reports a Rust panic on the console with its message and location, instead
//! of a bare `unreachable` trap: a panic is a Lockstep bug, and the message is
//! what a bug report needs.

use std::sync::Once;

/// Installs the hook once per JavaScript realm (page or worker).
pub fn report_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(
                &format!("Lockstep panicked (a bug; please report it): {info}").into(),
            );
        }));
    });
}
