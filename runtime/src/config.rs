//! Checking a [`CoordinatorConfig`] before a coordinator starts with it, and
//! a [`RuntimeConfig`] before a tab opens with it, so a setting that would
//! panic, spin or break exactly-once is refused with a [`ConfigError`] that
//! names the field and what to set instead.

use crate::coordinator::CoordinatorConfig;
use crate::dedup::MIN_DEDUP_WINDOW_MS;
use crate::protocol::Limits;
use crate::tab::RuntimeConfig;

/// A coordinator setting that cannot work. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A period, page size or limit of 0.
    #[error("CoordinatorConfig {field} is 0; set it to at least 1 (or leave the default)")]
    Zero {
        /// The field, as written in Rust (`limits.max_row_bytes`).
        field: &'static str,
    },
    /// A tab runtime's period, page size or limit of 0: its tab would
    /// re-send without pause, load one row per round trip, or refuse every
    /// write.
    #[error("RuntimeConfig {field} is 0; set it to at least 1 (or leave the default)")]
    RuntimeZero {
        /// The field, as written in Rust (`hydrate_page_rows`).
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
        ];
        if let Some(field) = first_zero(counts.into_iter().chain(limit_counts(limits))) {
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

impl RuntimeConfig {
    /// Checks the settings; a driver refuses to open a tab with settings
    /// that fail (the browser's `Database::open` answers with the error).
    ///
    /// ```
    /// use lockstep::{ConfigError, RuntimeConfig};
    /// assert_eq!(RuntimeConfig::default().validate(), Ok(()));
    /// let zero = RuntimeConfig { hydrate_page_rows: 0, ..RuntimeConfig::default() };
    /// assert_eq!(zero.validate(), Err(ConfigError::RuntimeZero { field: "hydrate_page_rows" }));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("resend_after_ms", self.resend_after_ms),
            ("hydrate_page_rows", u64::from(self.hydrate_page_rows)),
            ("pull_page_txs", u64::from(self.pull_page_txs)),
            ("leader_silence_ms", self.leader_silence_ms),
        ];
        match first_zero(counts.into_iter().chain(limit_counts(&self.limits))) {
            Some(field) => Err(ConfigError::RuntimeZero { field }),
            None => Ok(()),
        }
    }
}

/// The limits that must not be 0, by name.
fn limit_counts(limits: &Limits) -> [(&'static str, u64); 4] {
    [
        ("limits.max_message_bytes", limits.max_message_bytes as u64),
        (
            "limits.max_ops_per_envelope",
            limits.max_ops_per_envelope as u64,
        ),
        ("limits.max_row_bytes", limits.max_row_bytes as u64),
        ("limits.max_inline_bytes", limits.max_inline_bytes as u64),
    ]
}

/// The first setting that is 0.
fn first_zero(counts: impl IntoIterator<Item = (&'static str, u64)>) -> Option<&'static str> {
    counts
        .into_iter()
        .find(|(_, value)| *value == 0)
        .map(|(field, _)| field)
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

    #[test]
    fn every_zero_in_a_runtime_config_is_named() {
        let base = RuntimeConfig::default;
        for (config, field) in [
            (
                RuntimeConfig {
                    resend_after_ms: 0,
                    ..base()
                },
                "resend_after_ms",
            ),
            (
                RuntimeConfig {
                    pull_page_txs: 0,
                    ..base()
                },
                "pull_page_txs",
            ),
            (
                RuntimeConfig {
                    leader_silence_ms: 0,
                    ..base()
                },
                "leader_silence_ms",
            ),
            (
                RuntimeConfig {
                    limits: Limits {
                        max_row_bytes: 0,
                        ..Limits::default()
                    },
                    ..base()
                },
                "limits.max_row_bytes",
            ),
        ] {
            assert_eq!(config.validate(), Err(ConfigError::RuntimeZero { field }));
        }
        let message = RuntimeConfig {
            resend_after_ms: 0,
            ..base()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            message.starts_with("RuntimeConfig resend_after_ms is 0; set it"),
            "{message}"
        );
    }
}
