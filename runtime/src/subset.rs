//! On-demand loading: the rows of a collection a tab asks for by a filter
//! (and optionally an order and a limit) instead of loading them all.
//!
//! A [`Subset`] is SQL over the collection's query view on the leader (the
//! SQLite store names the view after the collection; its columns are the
//! top-level fields, `__lockstep_key`, the stored key that orders the
//! primary key, and `__lockstep_row`, the row as JSON). The tab runs it page
//! by page in key order, or first as one ordered, limited statement when
//! [`Subset::top`] is given, and delivers the rows as
//! [`SyncBatch::Rows`](crate::SyncBatch) at the exact point of the commit
//! stream they were read at, so a commit is never overwritten by an older
//! read. See [`PersistedCollectionRuntime::load_subset`](crate::PersistedCollectionRuntime::load_subset).

use crate::ids::CollectionId;

/// Which rows of an on-demand collection to load.
///
/// ```
/// let done = lockstep::Subset::filter("\"done\" = ?", vec![serde_json::json!(1)]);
/// assert!(done.top.is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Subset {
    /// A SQL condition over the collection's view (`1` for every row). Its
    /// parameters are plain `?`s: numbered ones would clash with those the
    /// tab appends for paging.
    pub filter: String,
    /// Values of the filter's `?`s.
    pub params: Vec<serde_json::Value>,
    /// Top-level fields of the collection the leader indexes before the
    /// load's first statement (kept in the database; see the store's docs):
    /// the order field of [`top`](Self::top), fields the filter compares for
    /// equality.
    pub indexes: Vec<String>,
    /// An order and limit to try first, as one statement.
    pub top: Option<SubsetTop>,
}

impl Subset {
    /// Every row matching `filter`, loaded page by page in key order.
    pub fn filter(filter: impl Into<String>, params: Vec<serde_json::Value>) -> Subset {
        Subset {
            filter: filter.into(),
            params,
            indexes: Vec::new(),
            top: None,
        }
    }
}

/// The statement to try first for a subset: typically an ordered, limited
/// request's prefix, which an index on its order field answers without
/// reading every row. It returns `__lockstep_key` and `__lockstep_row` of
/// rows matching [`Subset::filter`] (a subset of them is enough).
///
/// It runs once. If its answer was cut by the leader's query limits, the tab
/// loads every row matching the filter instead, page by page: more rows than
/// asked for, never fewer.
///
/// ```
/// let top = lockstep::SubsetTop {
///     sql: "SELECT __lockstep_key, __lockstep_row FROM todos ORDER BY __lockstep_row ->> '$.\"n\"' LIMIT ?".into(),
///     params: vec![serde_json::json!(100)],
/// };
/// let subset = lockstep::Subset {
///     indexes: vec!["n".into()],
///     top: Some(top),
///     ..lockstep::Subset::filter("1", vec![])
/// };
/// assert_eq!(subset.indexes, ["n"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SubsetTop {
    /// The whole statement.
    pub sql: String,
    /// Values of its `?`s.
    pub params: Vec<serde_json::Value>,
}

/// Handle of one subset asked for with
/// [`PersistedCollectionRuntime::load_subset`](crate::PersistedCollectionRuntime::load_subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubsetId(pub u64);

/// Why a subset cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubsetError {
    /// The collection is not open on demand in this tab.
    #[error("collection {0} is not open on demand in this tab; open it with CollectionMode::OnDemand first")]
    NotOnDemand(CollectionId),
}

/// The view column holding the stored key (it orders the primary key).
pub const KEY_COLUMN: &str = "__lockstep_key";
/// The view column holding the whole row as JSON.
pub const ROW_COLUMN: &str = "__lockstep_row";

/// One statement of a load: the ordered, limited one, or a page in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// [`Subset::top`] as one statement.
    Top,
    /// The rows matching the filter after a stored key (`None`: from the start).
    Page(Option<String>),
}

/// `"name"` with inner quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL and parameters of `step` of `subset` over `collection`'s view,
/// pages of `page_rows` rows.
pub(crate) fn statement(
    collection: &CollectionId,
    subset: &Subset,
    step: &Step,
    page_rows: u32,
) -> (String, Vec<serde_json::Value>) {
    if let (Step::Top, Some(top)) = (step, &subset.top) {
        return (top.sql.clone(), top.params.clone());
    }
    let mut sql = format!(
        "SELECT {KEY_COLUMN}, {ROW_COLUMN} FROM {} WHERE ({})",
        quote(collection.as_str()),
        subset.filter
    );
    let mut params = subset.params.clone();
    if let Step::Page(Some(after)) = step {
        sql.push_str(&format!(" AND {KEY_COLUMN} > ?"));
        params.push(after.clone().into());
    }
    sql.push_str(&format!(" ORDER BY {KEY_COLUMN} LIMIT {page_rows}"));
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn todos() -> CollectionId {
        CollectionId::new("to\"dos").unwrap()
    }

    #[test]
    fn pages_continue_after_the_last_key() {
        let subset = Subset::filter("\"done\" = ?", vec![json!(1)]);
        let (sql, params) = statement(&todos(), &subset, &Step::Page(None), 500);
        assert_eq!(sql, "SELECT __lockstep_key, __lockstep_row FROM \"to\"\"dos\" WHERE (\"done\" = ?) ORDER BY __lockstep_key LIMIT 500");
        assert_eq!(params, vec![json!(1)]);
        let (sql, params) = statement(&todos(), &subset, &Step::Page(Some("\"k\"".into())), 500);
        assert!(sql.ends_with(
            "WHERE (\"done\" = ?) AND __lockstep_key > ? ORDER BY __lockstep_key LIMIT 500"
        ));
        assert_eq!(params, vec![json!(1), json!("\"k\"")]);
    }

    #[test]
    fn the_top_statement_is_run_as_given() {
        let subset = Subset {
            top: Some(SubsetTop {
                sql: "SELECT 1".into(),
                params: vec![json!(10)],
            }),
            ..Subset::filter("1", vec![])
        };
        let (sql, params) = statement(&todos(), &subset, &Step::Top, 500);
        assert_eq!(sql, "SELECT 1");
        assert_eq!(params, vec![json!(10)]);
        let (sql, _) = statement(&todos(), &subset, &Step::Page(None), 500);
        assert!(sql.ends_with("WHERE (1) ORDER BY __lockstep_key LIMIT 500"));
    }
}
