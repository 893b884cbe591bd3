//! The errors of the page API: each says what happened and what to do.

use lockstep::{ConfigError, InvalidName, MutationError, QueryError, Rejection};

/// Why a database could not be opened in this tab.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpenError {
    /// The app name or scope cannot be used.
    #[error(transparent)]
    Name(#[from] InvalidName),
    /// A setting of `OpenOptions::config` cannot work (a page size of 0, say).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A browser API Lockstep needs is missing.
    #[error("{0}")]
    Unsupported(String),
    /// The leader worker could not be started.
    #[error("cannot start the leader worker: {0}")]
    Worker(String),
}

/// Why a write was not (or may not have been) committed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// Refused in this tab before anything was sent (nothing changed).
    #[error(transparent)]
    Invalid(#[from] MutationError),
    /// Refused by the leader; nothing of it was committed and it was rolled back.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The database was closed in this tab before the leader answered.
    #[error("the database was closed in this tab before the write was confirmed; it may have been committed (read it back after reopening)")]
    Closed,
}

/// Why a read of the live database (inspect, describe, query) has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// The leader could not run the query.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The collection is not open on demand in this tab.
    #[error(transparent)]
    Subset(#[from] lockstep::SubsetError),
    /// The leader's store could not read the database (the failure is also
    /// counted in every tab's status).
    #[error("the leader could not read the database: {0}; retry once its storage works again")]
    Failed(String),
    /// The database was closed in this tab before the leader answered.
    #[error("the database was closed in this tab before the leader answered")]
    Closed,
}

/// The database was closed in this tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database was closed in this tab")]
pub struct Closed;
