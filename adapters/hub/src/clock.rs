//! Driver time: Unix milliseconds that never go backwards.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lockstep::Timestamp;

/// A monotonic clock reading Unix milliseconds from the moment it was made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
    start_unix_ms: u64,
}

impl Clock {
    pub fn new() -> Self {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock {
            start: Instant::now(),
            start_unix_ms,
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(self.start_unix_ms + self.start.elapsed().as_millis() as u64)
    }
}
