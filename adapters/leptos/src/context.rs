//! The database in Leptos context: opened once near the root, used below.

use leptos::prelude::*;
use lockstep::RuntimeConfig;
use lockstep_browser::{Database, LeaderWorker, OpenError, OpenOptions};
use send_wrapper::SendWrapper;

/// How [`provide_database_with`] opens the database.
///
/// ```no_run
/// # #[cfg(target_arch = "wasm32")] {
/// use lockstep_leptos::DatabaseOptions;
/// let options = DatabaseOptions::new("todo-app", "user-42").worker_url("/assets/worker.js");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    app: String,
    scope: String,
    worker_url: String,
    memory_only: bool,
    config: RuntimeConfig,
}

impl DatabaseOptions {
    /// Database `(app, scope)`: every tab of the same origin that opens the
    /// same pair shares it. The leader worker is `./worker.js` (relative to
    /// the page), kept on OPFS, with the default configuration.
    pub fn new(app: impl Into<String>, scope: impl Into<String>) -> DatabaseOptions {
        DatabaseOptions {
            app: app.into(),
            scope: scope.into(),
            worker_url: "./worker.js".into(),
            memory_only: false,
            config: RuntimeConfig::default(),
        }
    }

    /// Where the app's worker entry is served (see the crate docs).
    pub fn worker_url(mut self, url: impl Into<String>) -> DatabaseOptions {
        self.worker_url = url.into();
        self
    }

    /// Keeps the database in memory only: it lives as long as the leading
    /// tab (what a browser without OPFS gets anyway).
    pub fn memory_only(mut self, memory_only: bool) -> DatabaseOptions {
        self.memory_only = memory_only;
        self
    }

    /// Tunes the tab runtime (timeouts, limits).
    pub fn config(mut self, config: RuntimeConfig) -> DatabaseOptions {
        self.config = config;
        self
    }
}

/// The database of this app, as [`provide_database`] put it in context.
/// Cheap to clone.
#[derive(Clone)]
pub struct LockstepDb {
    database: SendWrapper<Database>,
}

impl LockstepDb {
    /// The Rust-typed browser API underneath (queries, inspection, raw writes).
    pub fn database(&self) -> Database {
        (*self.database).clone()
    }
}

/// Opens database `(app, scope)` in this tab with the defaults of
/// [`DatabaseOptions::new`] and provides it to every component below.
/// It closes when the calling component is cleaned up.
///
/// ```no_run
/// # #[cfg(target_arch = "wasm32")] {
/// use leptos::prelude::*;
/// use lockstep_leptos::provide_database;
///
/// #[component]
/// fn App() -> impl IntoView {
///     match provide_database("todo-app", "user-42") {
///         Ok(_) => view! { <p>"ready to use collections"</p> }.into_any(),
///         Err(error) => view! { <p>{error.to_string()}</p> }.into_any(),
///     }
/// }
/// # }
/// ```
pub fn provide_database(
    app: impl Into<String>,
    scope: impl Into<String>,
) -> Result<LockstepDb, OpenError> {
    provide_database_with(DatabaseOptions::new(app, scope))
}

/// Opens the database `options` describe and provides it to every
/// component below; it closes when the calling component is cleaned up.
pub fn provide_database_with(options: DatabaseOptions) -> Result<LockstepDb, OpenError> {
    let database = Database::open(OpenOptions {
        app: options.app,
        scope: options.scope,
        worker: LeaderWorker::Url(options.worker_url),
        memory_only: options.memory_only,
        config: options.config,
    })?;
    let db = LockstepDb {
        database: SendWrapper::new(database),
    };
    provide_context(db.clone());
    let closing = db.clone();
    on_cleanup(move || closing.database.close());
    Ok(db)
}

/// The database a parent component provided.
///
/// # Panics
/// If no parent called [`provide_database`]: a wiring mistake, reported with
/// Leptos' usual missing-context message.
pub fn use_database() -> LockstepDb {
    expect_context::<LockstepDb>()
}
