//! The todo row, shaped like the React example's, so both apps share rows.

use serde::{Deserialize, Serialize};

/// One todo, stored as `{ id, title, done, createdAt }` under key `id`.
///
/// ```
/// use todo_leptos::todo::Todo;
/// let todo = Todo { id: "t1".into(), title: "write docs".into(), done: false, created_at: 1.0 };
/// let json = serde_json::to_string(&todo).unwrap();
/// assert_eq!(json, r#"{"id":"t1","title":"write docs","done":false,"createdAt":1.0}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Todo {
    /// The key, also stored in the row (the React example's `getKey`).
    pub id: String,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
    /// Milliseconds since the Unix epoch when it was created.
    pub created_at: f64,
}
