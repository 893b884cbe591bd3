//! Checking a [`CoordinatorConfig`] before a coordinator starts with it, so a
//! setting that would panic, spin or break exactly-once is refused with a
//! [`ConfigError`] that names the field and what to set instead.

use crate::coordinator::CoordinatorConfig;
use crate::dedup::MIN_DEDUP_WINDOW_MS;

/// A coordinator setting that cannot work. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A period, page size or limit of 0.
    #[error("CoordinatorConfig {field} is 0; set it to at least 1 (or leave the default)")]
    Zero {
        /// The field, as written in Rust (`limits.max_row_bytes`).
        field: &'static str,
    },
    /// A dedup window so short that envelopes re-sent after an ordinary
    /// failover would be refused as expired.
    #[error("CoordinatorConfig dedup_window_ms is {window_ms} ms; set it to at least {MIN_DEDUP_WINDOW_MS} ms (one minute), so envelopes re-sent after a failover are still recognised")]
    DedupWindowTooShort {
        /// The window asked for.
        window_ms: u64,
    },
    /// A size limit above the largest message accepted.
    #[error("CoordinatorConfig limits.{field} is {bytes} bytes, above limits.max_message_bytes ({max}); lower it or raise max_message_bytes")]
    AboveMessageLimit {
        /// The limit, as written in Rust.
        field: &'static str,
        /// Its value.
        bytes: usize,
        /// `limits.max_message_bytes`.
        max: usize,
    },
}

impl CoordinatorConfig {
    /// Checks the settings; [`Coordinator::start`](crate::Coordinator::start)
    /// refuses a configuration that fails.
    ///
    /// ```
    /// use lockstep::{ConfigError, CoordinatorConfig};
    /// assert_eq!(CoordinatorConfig::default().validate(), Ok(()));
    /// let zero = CoordinatorConfig { max_pull_page: 0, ..CoordinatorConfig::default() };
    /// assert_eq!(zero.validate(), Err(ConfigError::Zero { field: "max_pull_page" }));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        let counts = [
            ("heartbeat_ms", self.heartbeat_ms),
            ("external_poll_ms", self.external_poll_ms),
            ("max_hydrate_page", u64::from(self.max_hydrate_page)),
            ("max_pull_page", u64::from(self.max_pull_page)),
            ("upload_batch", self.upload_batch as u64),
            ("limits.max_message_bytes", limits.max_message_bytes as u64),
            (
                "limits.max_ops_per_envelope",
                limits.max_ops_per_envelope as u64,
            ),
            ("limits.max_row_bytes", limits.max_row_bytes as u64),
            ("limits.max_inline_bytes", limits.max_inline_bytes as u64),
        ];
        if let Some((field, _)) = counts.into_iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Zero { field });
        }
        if self.dedup_window_ms < MIN_DEDUP_WINDOW_MS {
            return Err(ConfigError::DedupWindowTooShort {
                window_ms: self.dedup_window_ms,
            });
        }
        let sizes = [
            ("max_row_bytes", limits.max_row_bytes),
            ("max_inline_bytes", limits.max_inline_bytes),
        ];
        if let Some((field, bytes)) = sizes
            .into_iter()
            .find(|(_, bytes)| *bytes > limits.max_message_bytes)
        {
            return Err(ConfigError::AboveMessageLimit {
                field,
                bytes,
                max: limits.max_message_bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Limits;

    #[test]
    fn every_unworkable_setting_is_named() {
        let base = CoordinatorConfig::default;
        let short = CoordinatorConfig {
            dedup_window_ms: 1_000,
            ..base()
        };
        assert_eq!(
            short.validate(),
            Err(ConfigError::DedupWindowTooShort { window_ms: 1_000 })
        );
        let inline = CoordinatorConfig {
            limits: Limits {
                max_message_bytes: 10,
                max_row_bytes: 10,
                ..Limits::default()
            },
            ..base()
        };
        assert!(matches!(
            inline.validate(),
            Err(ConfigError::AboveMessageLimit {
                field: "max_inline_bytes",
                ..
            })
        ));
        let heartbeat = CoordinatorConfig {
            heartbeat_ms: 0,
            ..base()
        };
        let message = heartbeat.validate().unwrap_err().to_string();
        assert!(message.contains("heartbeat_ms is 0"), "{message}");
    }
}
