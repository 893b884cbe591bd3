//! Errors of the core: every one says what went wrong and what to do next.

use crate::config::ConfigError;
use crate::ids::{CollectionId, EnvelopeId};
use crate::key::{InvalidKey, Key};
use crate::store::StoreError;

/// Why a coordinator could not start. Nothing serves: the driver must
/// release the leadership lock (and retry later for a store error).
///
/// ```
/// use lockstep::{ConfigError, Coordinator, CoordinatorConfig, DatabaseId, MemoryStore, StartError, TabId, Timestamp};
/// let db = DatabaseId::new("app", "u").unwrap();
/// let config = CoordinatorConfig { heartbeat_ms: 0, ..CoordinatorConfig::default() };
/// let err = Coordinator::start(MemoryStore::new(), db, TabId::from_u128(1), config, Timestamp(0)).err().unwrap();
/// assert_eq!(err, StartError::Config(ConfigError::Zero { field: "heartbeat_ms" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot work; fix it (retrying will not help).
    #[error("the coordinator's configuration is invalid: {0}")]
    Config(#[from] ConfigError),
    /// The store could not be read or the new term not persisted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A name (app, scope or collection) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {name:?}: {reason}; use a non-empty name of at most 256 bytes without NUL")]
pub struct InvalidName {
    /// Which kind of name.
    pub what: &'static str,
    /// The name (possibly shortened).
    pub name: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// A mutation refused by the tab before it was sent (nothing changed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MutationError {
    /// `insert` of a key that the tab already sees.
    #[error("collection {collection}: key {key} already exists; use update to change it")]
    KeyExists {
        /// Collection of the op.
        collection: CollectionId,
        /// Key of the op.
        key: Key,
    },
    /// `update` or `delete` of a key the tab does not see.
    #[error("collection {collection}: key {key} does not exist; insert it first")]
    KeyMissing {
        /// Collection of the op.
        collection: CollectionId,
        /// Key of the op.
        key: Key,
    },
    /// The collection was not opened in this tab.
    #[error("collection {0} is not open in this tab; call open_collection first")]
    CollectionNotOpen(CollectionId),
    /// The collection is still loading; its rows are not known yet.
    #[error("collection {0} is still hydrating; wait for it to be ready before writing")]
    NotReady(CollectionId),
    /// The collection is open in stream mode: the app keeps its rows and
    /// optimistic state, so its writes go through `submit`.
    #[error("collection {0} is open in stream mode: the app keeps its rows, so send its writes with submit")]
    Streamed(CollectionId),
    /// The batch holds no ops.
    #[error("an envelope needs at least one op")]
    Empty,
    /// The batch breaks a size limit or holds an invalid row or key.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
}

/// Input that breaks a documented limit or shape (invariant 12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A key outside the accepted range.
    #[error(transparent)]
    Key(#[from] InvalidKey),
    /// A bad name.
    #[error(transparent)]
    Name(#[from] InvalidName),
    /// Too many ops in one envelope.
    #[error(
        "envelope has {ops} ops, more than the limit of {max}; split it into several envelopes"
    )]
    TooManyOps {
        /// Ops in the envelope.
        ops: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A row whose JSON form is larger than allowed.
    #[error("row {key} in {collection} is {bytes} bytes, more than the limit of {max}")]
    RowTooLarge {
        /// Collection of the row.
        collection: CollectionId,
        /// Key of the row.
        key: Key,
        /// Its size.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An envelope whose id was already used by another pending envelope.
    #[error("envelope id {0} is already pending in this tab")]
    DuplicateEnvelope(EnvelopeId),
}
