//! The errors of the Leptos bindings: each says what happened and what to do.

use lockstep::{CollectionId, Key};
use lockstep_browser::WriteError;

/// Why a write through [`UseCollection`](crate::UseCollection) did not commit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The row type does not serialize to a JSON object (a struct or a map).
    #[error("a row of {collection} must serialize to a JSON object (a struct or a map): {detail}")]
    NotAnObject {
        /// The collection written to.
        collection: CollectionId,
        /// What serde reported, or what the value was instead.
        detail: String,
    },
    /// The row to update is not in this tab (deleted meanwhile, or never there).
    #[error(
        "{collection} has no row {key} in this tab (deleted in another tab?); nothing was written"
    )]
    NotFound {
        /// The collection written to.
        collection: CollectionId,
        /// The key asked for.
        key: Key,
    },
    /// Refused in this tab or by the leader (and rolled back), or the
    /// database closed before the leader answered.
    #[error(transparent)]
    Write(#[from] WriteError),
}
