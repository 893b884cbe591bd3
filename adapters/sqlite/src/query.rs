//! Running one read-only SQL statement for any tab, safely.
//!
//! Read-only is enforced twice: an authorizer allows only reads (`SELECT`,
//! reading tables, functions, recursive CTEs and a list of introspection
//! pragmas without a value) while the statement is prepared, and the
//! prepared statement must report itself read-only (`sqlite3_stmt_readonly`).
//! So `INSERT`, DDL, `ATTACH`, `BEGIN`, `PRAGMA x = y` and friends are
//! refused before anything runs. A progress handler stops a statement after
//! [`QueryLimits::max_steps`] virtual-machine steps, and rows stop at the
//! row and byte limits (`truncated`).

use std::sync::{Arc, Mutex};

use lockstep::{QueryError, QueryLimits, QueryRows};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode};

/// Pragmas a query may read (never with a value, which would set them).
const READ_ONLY_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
    "compile_options",
    "database_list",
    "page_count",
    "page_size",
    "freelist_count",
    "user_version",
    "schema_version",
    "data_version",
    "journal_mode",
];

/// How often (in VM steps) the progress handler runs.
const STEPS_PER_CHECK: u64 = 10_000;

/// Whether the authorizer lets `action` into a query.
fn allowed(action: &AuthAction<'_>) -> bool {
    match action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => true,
        AuthAction::Pragma {
            pragma_name,
            pragma_value: None,
        } => READ_ONLY_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()),
        _ => false,
    }
}

/// A JSON parameter as an SQL value: booleans become 0/1 (SQLite has no
/// booleans and stores JSON `true` as 1), objects and arrays JSON text.
fn to_sql(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// An SQL value as JSON (see [`QueryRows`] for the mapping).
fn to_json(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned().into(),
        ValueRef::Blob(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({ "$blob": hex })
        }
    }
}

fn sql_error(error: rusqlite::Error) -> QueryError {
    QueryError::Sql {
        detail: error.to_string(),
    }
}

/// The read-only authorizer: allows what [`allowed`] allows, denies the
/// rest and keeps the first denied action in `denied`, for the error.
fn authorizer(
    denied: Arc<Mutex<Option<String>>>,
) -> impl FnMut(AuthContext<'_>) -> Authorization + Send + 'static {
    move |context: AuthContext<'_>| {
        if allowed(&context.action) {
            Authorization::Allow
        } else {
            if let Ok(mut slot) = denied.lock() {
                slot.get_or_insert_with(|| format!("{:?}", context.action));
            }
            Authorization::Deny
        }
    }
}

/// Runs `sql` with `params` read-only on `conn` within `limits`.
pub(crate) fn run(
    conn: &mut Connection,
    sql: &str,
    params: &[serde_json::Value],
    limits: &QueryLimits,
) -> Result<QueryRows, QueryError> {
    let denied: Arc<Mutex<Option<String>>> = Arc::default();
    conn.authorizer(Some(authorizer(denied.clone())))
        .map_err(sql_error)?;
    let max_checks = limits.max_steps / STEPS_PER_CHECK;
    let mut checks = 0u64;
    conn.progress_handler(
        STEPS_PER_CHECK as i32,
        Some(move || {
            checks += 1;
            checks > max_checks
        }),
    )
    .map_err(sql_error)?;
    let result = run_prepared(conn, sql, params, limits, &denied);
    conn.progress_handler(0, None::<fn() -> bool>)
        .map_err(sql_error)?;
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
        .map_err(sql_error)?;
    result
}

fn run_prepared(
    conn: &Connection,
    sql: &str,
    params: &[serde_json::Value],
    limits: &QueryLimits,
    denied: &Mutex<Option<String>>,
) -> Result<QueryRows, QueryError> {
    let prepared = conn.prepare(sql);
    if let Some(action) = denied.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(QueryError::NotReadOnly { detail: action });
    }
    let mut stmt = match prepared {
        Err(rusqlite::Error::MultipleStatement) => {
            return Err(QueryError::Sql {
                detail: "one statement at a time, please".into(),
            })
        }
        Err(e) => return Err(sql_error(e)),
        Ok(stmt) => stmt,
    };
    if !stmt.readonly() {
        return Err(QueryError::NotReadOnly {
            detail: "SQLite reports the statement would write".into(),
        });
    }
    let wanted = stmt.parameter_count();
    if wanted != params.len() {
        return Err(QueryError::Sql {
            detail: format!(
                "the statement has {wanted} parameters but {} values were given",
                params.len()
            ),
        });
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let values: Vec<Value> = params.iter().map(to_sql).collect();
    // SQLITE_INTERRUPT means the progress handler stopped the statement.
    let stopped = |error: rusqlite::Error| {
        if error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            QueryError::TooLong {
                steps: limits.max_steps,
            }
        } else {
            sql_error(error)
        }
    };
    let mut rows = stmt
        .query(rusqlite::params_from_iter(values))
        .map_err(stopped)?;
    let mut out = QueryRows {
        columns,
        rows: Vec::new(),
        truncated: false,
    };
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(stopped)? {
        if out.rows.len() >= limits.max_rows || bytes > limits.max_bytes {
            out.truncated = true;
            break;
        }
        let values: Vec<serde_json::Value> = (0..out.columns.len())
            .map(|i| row.get_ref(i).map(to_json))
            .collect::<Result<_, _>>()
            .map_err(sql_error)?;
        bytes += values
            .iter()
            .map(|v| v.to_string().len() + 1)
            .sum::<usize>();
        out.rows.push(values);
    }
    Ok(out)
}
