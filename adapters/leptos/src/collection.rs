//! `use_collection`: a collection as typed, fine-grained signals.
//!
//! # Why one signal per key
//! Each row lives in its own `ArcRwSignal<Option<T>>`, and the list of keys
//! in one more signal that changes only when a row appears or goes. A
//! committed change to one row sets that row's signal: only the views that
//! read it re-render, and a `<For>` over [`keys`](UseCollection::keys)
//! keeps every other row's DOM as it is. `reactive_stores` gives the same
//! per-field granularity to a store the app owns and mutates; here the rows
//! are owned by Lockstep (they change when any tab commits), arrive as
//! change events per key, and are typed by serde, so a map from key to
//! signal is the direct, smaller fit.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use leptos::prelude::*;
use lockstep::{ChangeEvent, CollectionId, Key, Op, Row, StreamPosition};
use lockstep_browser::{Database, WriteOutcome};
use send_wrapper::SendWrapper;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::use_database;
use crate::row_text::held_row;
use crate::Error;

/// How far a collection's load in this tab has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows received so far by the current load.
    pub loaded: usize,
    /// The rows the collection held when the load began, once the leader
    /// said (never below `loaded`): the denominator of a progress bar.
    pub total: Option<usize>,
    /// Whether the collection is loaded and current.
    pub ready: bool,
}

/// The rows of a collection and the actions on it; see [`use_collection`].
/// Cheap to clone (clones share everything).
pub struct UseCollection<T: Send + Sync + 'static> {
    /// The keys of the rows this tab shows, in key order. Changes only when
    /// a row appears or goes, not when a row's value changes.
    pub keys: Signal<Vec<Key>>,
    /// Whether the collection is loaded and current in this tab.
    pub ready: Signal<bool>,
    /// The load's progress, for a progress indicator on large collections.
    pub progress: Signal<Progress>,
    /// The error of the last write that failed (cleared by the next write).
    pub error: Signal<Option<Error>>,
    /// Rows in the collection that do not decode as `T` (not shown).
    pub undecodable: Signal<usize>,
    shared: Arc<Shared<T>>,
}

impl<T: Send + Sync + 'static> Clone for UseCollection<T> {
    fn clone(&self) -> Self {
        UseCollection {
            keys: self.keys,
            ready: self.ready,
            progress: self.progress,
            error: self.error,
            undecodable: self.undecodable,
            shared: self.shared.clone(),
        }
    }
}

struct Shared<T: Send + Sync + 'static> {
    id: CollectionId,
    database: SendWrapper<Database>,
    rows: Mutex<Rows<T>>,
    keys: ArcRwSignal<Vec<Key>>,
    error: ArcRwSignal<Option<Error>>,
}

/// The per-key signals. A deleted row's signal stays (holding `None`) so a
/// view still holding it follows the key if it comes back; the deleted ones
/// are forgotten in bulk once they outnumber the live rows.
struct Rows<T: Send + Sync + 'static> {
    signals: BTreeMap<Key, ArcRwSignal<Option<T>>>,
    live: BTreeSet<Key>,
    undecodable: BTreeSet<Key>,
}

/// Deleted-row signals kept before they are forgotten.
const KEEP_DELETED: usize = 1024;

impl<T: Send + Sync + 'static> Rows<T> {
    fn signal(&mut self, key: &Key) -> ArcRwSignal<Option<T>> {
        self.signals
            .entry(key.clone())
            .or_insert_with(|| ArcRwSignal::new(None))
            .clone()
    }

    fn forget_deleted(&mut self) {
        let deleted = self.signals.len() - self.live.len();
        if deleted > KEEP_DELETED.max(self.live.len()) {
            let live = &self.live;
            self.signals.retain(|key, _| live.contains(key));
        }
    }
}

/// Follows collection `id` of the database in context: every row as a
/// typed signal, updated by each commit of any tab and, at once, by this
/// tab's own writes (rolled back if refused). Rows that do not decode as
/// `T` are counted in [`undecodable`](UseCollection::undecodable) and not
/// shown. Listeners are removed when the calling component is cleaned up
/// (the collection stays open in this tab for other components).
///
/// ```no_run
/// # #[cfg(target_arch = "wasm32")] {
/// use leptos::prelude::*;
/// use lockstep::{CollectionId, Key};
/// use lockstep_leptos::use_collection;
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Todo { title: String, done: bool }
///
/// #[component]
/// fn Todos() -> impl IntoView {
///     let todos = use_collection::<Todo>(CollectionId::new("todos").expect("a valid name"));
///     let list = todos.clone();
///     view! {
///         <ul>
///             <For each=move || list.keys.get() key=|key| key.clone() let:key>
///                 {
///                     let todo = list.row(&key);
///                     view! { <li>{move || todo.get().map(|t| t.title)}</li> }
///                 }
///             </For>
///         </ul>
///         <button on:click=move |_| {
///             let write = todos.insert(Key::from("t1"), &Todo { title: "write docs".into(), done: false });
///             leptos::task::spawn_local(async move { let _ = write.await; });
///         }>"add"</button>
///     }
/// }
/// # }
/// ```
pub fn use_collection<T>(id: CollectionId) -> UseCollection<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let database = use_database().database();
    database.open_collection(&id);
    let keys = ArcRwSignal::new(Vec::new());
    let progress = ArcRwSignal::new(Progress {
        loaded: 0,
        total: None,
        ready: database.is_ready(&id),
    });
    let error = ArcRwSignal::new(None);
    let undecodable = ArcRwSignal::new(0);
    let shared = Arc::new(Shared {
        id: id.clone(),
        database: SendWrapper::new(database.clone()),
        rows: Mutex::new(Rows {
            signals: BTreeMap::new(),
            live: BTreeSet::new(),
            undecodable: BTreeSet::new(),
        }),
        keys: keys.clone(),
        error: error.clone(),
    });

    // Ready is re-read whenever something happened that may change it: a
    // change, a page of a (re)load, a status change (a new leader).
    let refresh_ready = {
        let (database, id, progress) = (database.clone(), id.clone(), progress.clone());
        move || {
            let now = database.is_ready(&id);
            if progress.with_untracked(|p| p.ready) != now {
                progress.update(|p| p.ready = now);
            }
        }
    };

    let subscription = database.subscribe(&id, {
        let (shared, undecodable, refresh_ready) =
            (shared.clone(), undecodable.clone(), refresh_ready.clone());
        move |events| {
            shared.apply(events, &undecodable);
            refresh_ready();
        }
    });
    let progress_listener = database.on_progress({
        let (id, progress, refresh_ready) = (id.clone(), progress.clone(), refresh_ready.clone());
        move |collection, loaded, total| {
            if *collection == id {
                progress.set(Progress {
                    loaded,
                    total,
                    ready: false,
                });
                refresh_ready();
            }
        }
    });
    let status_listener = database.on_status({
        let refresh_ready = refresh_ready.clone();
        move |_| refresh_ready()
    });
    let first_load = database.ready(&id);
    leptos::task::spawn_local(async move {
        if first_load.await.is_ok() {
            refresh_ready();
        }
    });

    let cleanup = SendWrapper::new(database);
    on_cleanup(move || {
        cleanup.unsubscribe(subscription);
        cleanup.remove_listener(progress_listener);
        cleanup.remove_listener(status_listener);
    });

    let ready = {
        let progress = progress.clone();
        // A memo: views of `ready` re-run when it flips, not on every page.
        Memo::new(move |_| progress.with(|p| p.ready)).into()
    };
    UseCollection {
        keys: keys.into(),
        ready,
        progress: progress.into(),
        error: error.into(),
        undecodable: undecodable.into(),
        shared,
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Shared<T> {
    /// Applies one batch of change events: sets the signal of each changed
    /// row, and the keys once if rows appeared or went.
    fn apply(&self, events: &[ChangeEvent], undecodable: &ArcRwSignal<usize>) {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        let undecodable_before = rows.undecodable.len();
        let mut keys_changed = false;
        for event in events {
            let value = match &event.after {
                None => None,
                Some(row) => match row.read::<T>() {
                    Ok(value) => Some(value),
                    Err(_) => {
                        rows.undecodable.insert(event.key.clone());
                        None
                    }
                },
            };
            if value.is_some() || event.after.is_none() {
                rows.undecodable.remove(&event.key);
            }
            keys_changed |= if value.is_some() {
                rows.live.insert(event.key.clone())
            } else {
                rows.live.remove(&event.key)
            };
            rows.signal(&event.key).set(value);
        }
        if keys_changed {
            self.keys.set(rows.live.iter().cloned().collect());
            rows.forget_deleted();
        }
        if rows.undecodable.len() != undecodable_before {
            undecodable.set(rows.undecodable.len());
        }
    }
}

impl<T: Send + Sync + 'static> UseCollection<T> {
    /// The row under `key` as a signal: `None` while there is none. It
    /// follows the key, so a row that arrives later shows up in it.
    pub fn row(&self, key: &Key) -> Signal<Option<T>>
    where
        T: Clone,
    {
        let mut rows = self
            .shared
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rows.signal(key).into()
    }

    /// The row under `key` now, without tracking it.
    pub fn get_untracked(&self, key: &Key) -> Option<T>
    where
        T: Clone,
    {
        let rows = self
            .shared
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        rows.signals
            .get(key)
            .and_then(|signal| signal.get_untracked())
    }

    /// The collection's id.
    pub fn id(&self) -> &CollectionId {
        &self.shared.id
    }

    /// Inserts `value` under `key`: shown at once in this tab, then sent to
    /// the leader. The future resolves once the leader committed it and this
    /// tab applied the commit; on a refusal the row is rolled back, the
    /// future fails and [`error`](Self::error) holds the reason. The write is
    /// sent when this is called, whether or not the future is awaited.
    pub fn insert(
        &self,
        key: Key,
        value: &T,
    ) -> impl Future<Output = Result<StreamPosition, Error>> + 'static
    where
        T: Serialize,
    {
        let outcome = held_row(value)
            .map_err(|detail| self.not_an_object(detail))
            .map(|value| {
                self.shared.database.mutate(vec![Op::Insert {
                    collection: self.shared.id.clone(),
                    key,
                    value,
                }])
            });
        self.settle(outcome)
    }

    /// Changes the row under `key` with `change` and sends only the fields
    /// that changed (merged by the leader into the row as it is then, so a
    /// field another tab changed meanwhile is kept). Resolves to `None` if
    /// nothing changed (nothing is sent); otherwise like [`insert`](Self::insert).
    pub fn update(
        &self,
        key: Key,
        change: impl FnOnce(&mut T),
    ) -> impl Future<Output = Result<Option<StreamPosition>, Error>> + 'static
    where
        T: Clone + Serialize,
    {
        let patch = match self.get_untracked(&key) {
            None => Err(Error::NotFound {
                collection: self.shared.id.clone(),
                key,
            }),
            Some(before) => {
                let mut after = before.clone();
                change(&mut after);
                self.to_row(&before).and_then(|before| {
                    let after = self.to_row(&after)?;
                    Ok(Op::patch_between(
                        self.shared.id.clone(),
                        key,
                        &before,
                        &after,
                    ))
                })
            }
        };
        let outcome = match patch {
            Ok(None) => {
                self.shared.error.set(None);
                return Box::pin(std::future::ready(Ok(None))) as Boxed<_>;
            }
            Ok(Some(op)) => Ok(self.shared.database.mutate(vec![op])),
            Err(error) => Err(error),
        };
        let settled = self.settle(outcome);
        Box::pin(async move { settled.await.map(Some) })
    }

    /// Deletes the row under `key`: gone at once in this tab; otherwise like
    /// [`insert`](Self::insert).
    pub fn delete(
        &self,
        key: Key,
    ) -> impl Future<Output = Result<StreamPosition, Error>> + 'static {
        let outcome = self.shared.database.delete(&self.shared.id, key);
        self.settle(Ok(outcome))
    }

    fn to_row(&self, value: &T) -> Result<Row, Error>
    where
        T: Serialize,
    {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(row)) => Ok(row),
            Ok(other) => Err(self.not_an_object(format!("it serialized to {other}"))),
            Err(error) => Err(self.not_an_object(error.to_string())),
        }
    }

    fn not_an_object(&self, detail: String) -> Error {
        Error::NotAnObject {
            collection: self.shared.id.clone(),
            detail,
        }
    }

    /// Clears the last error now, and records the write's error when it fails.
    fn settle(
        &self,
        outcome: Result<WriteOutcome, Error>,
    ) -> impl Future<Output = Result<StreamPosition, Error>> + 'static {
        let error = self.shared.error.clone();
        error.set(outcome.as_ref().err().cloned());
        async move {
            let result = match outcome {
                Ok(receiver) => receiver.await.map_err(Error::from),
                Err(error) => Err(error),
            };
            if let Err(failure) = &result {
                error.set(Some(failure.clone()));
            }
            result
        }
    }
}

/// A boxed future, so `update`'s branches share one type.
type Boxed<O> = std::pin::Pin<Box<dyn Future<Output = O>>>;
