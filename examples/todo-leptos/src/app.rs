//! The todo list: add, toggle, edit, delete; each row re-renders alone.

use leptos::prelude::*;
use lockstep::{CollectionId, Key, RuntimeConfig};
use lockstep_leptos::{provide_database_with, use_collection, DatabaseOptions, UseCollection};

use crate::devtools;
use crate::status::{LoadProgress, StatusBadge};
use crate::todo::Todo;

/// The page: opens the database named by the URL (`?app=…&scope=…`,
/// `&storage=memory`) and shows its todos.
#[component]
pub fn App() -> impl IntoView {
    let params = Params::from_location();
    let mut config = RuntimeConfig::default();
    if let Some(rows) = params.page_rows {
        config.hydrate_page_rows = rows;
    }
    let options = DatabaseOptions::new(params.app.clone(), params.scope.clone())
        .memory_only(params.memory_only)
        .config(config);
    if let Err(error) = provide_database_with(options) {
        let message = error.to_string();
        devtools::report_error(&message);
        return view! { <main><p class="error" role="alert">{message}</p></main> }.into_any();
    }
    let todos = match CollectionId::new("todos") {
        Ok(id) => use_collection::<Todo>(id),
        Err(error) => return view! { <p class="error">{error.to_string()}</p> }.into_any(),
    };
    devtools::expose(&params, &todos);
    view! {
        <main>
            <StatusBadge/>
            <h1>"todos"</h1>
            <AddTodo todos=todos.clone()/>
            <Show when=move || todos.error.get().is_some()>
                <p class="error" role="alert">{move || todos.error.get().map(|e| e.to_string())}</p>
            </Show>
            <LoadProgress progress=todos.progress/>
            <TodoList todos=todos.clone()/>
            <p class="hint">
                "Open this page in more tabs, or the React example on the same database: every tab shows the same todos."
            </p>
        </main>
    }
    .into_any()
}

/// Which database the URL asks for.
pub struct Params {
    /// `?app=`, default `lockstep-todo` (the React example's).
    pub app: String,
    /// `?scope=`, default `demo-user`.
    pub scope: String,
    /// `?storage=memory`.
    pub memory_only: bool,
    /// `?pageRows=N`: rows asked for per page of a load (to watch the
    /// progress bar on a small collection).
    pub page_rows: Option<u32>,
}

impl Params {
    fn from_location() -> Params {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |name: &str| params.as_ref().and_then(|p| p.get(name));
        Params {
            app: get("app").unwrap_or_else(|| "lockstep-todo".into()),
            scope: get("scope").unwrap_or_else(|| "demo-user".into()),
            memory_only: get("storage").as_deref() == Some("memory"),
            page_rows: get("pageRows")
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0),
        }
    }
}

/// A new todo's id: creation time first, so key order is creation order
/// (as in the React example).
pub fn new_id() -> String {
    let now = js_sys::Date::now() as u64;
    let random = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.random_uuid())
        .unwrap_or_default();
    format!("{:0>9}-{}", radix36(now), &random[..random.len().min(8)])
}

fn radix36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// The key as the page shows it: the id itself, without JSON quotes.
fn key_text(key: &Key) -> String {
    match key {
        Key::Str(text) => text.to_string(),
        Key::Int(number) => number.to_string(),
    }
}

/// Runs a write in the background; its error shows through `todos.error`.
fn spawn_write<O: 'static>(write: impl std::future::Future<Output = O> + 'static) {
    leptos::task::spawn_local(async move {
        let _ = write.await;
    });
}

#[component]
fn AddTodo(todos: UseCollection<Todo>) -> impl IntoView {
    let title = NodeRef::<leptos::html::Input>::new();
    let add = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(input) = title.get() else { return };
        let text = input.value().trim().to_owned();
        if text.is_empty() {
            return;
        }
        input.set_value("");
        let id = new_id();
        let todo = Todo {
            id: id.clone(),
            title: text,
            done: false,
            created_at: js_sys::Date::now(),
        };
        match Key::str(id) {
            Ok(key) => spawn_write(todos.insert(key, &todo)),
            Err(error) => leptos::logging::error!("{error}"),
        }
    };
    view! {
        <form on:submit=add autocomplete="off">
            <input node_ref=title name="title" placeholder="What needs doing?" aria-label="new todo"/>
            <button type="submit">"Add"</button>
        </form>
    }
}

#[component]
fn TodoList(todos: UseCollection<Todo>) -> impl IntoView {
    let keys = todos.keys;
    view! {
        <ul class="todos">
            <For each=move || keys.get() key=|key| key.clone() let:key>
                <TodoItem todos=todos.clone() key=key/>
            </For>
        </ul>
    }
}

/// One row: reads only its own signal, so other rows' commits leave it be.
#[component]
fn TodoItem(todos: UseCollection<Todo>, key: Key) -> impl IntoView {
    let todo = todos.row(&key);
    let editing = RwSignal::new(false);
    let done = move || todo.with(|t| t.as_ref().is_some_and(|t| t.done));
    let title = move || todo.with(|t| t.as_ref().map(|t| t.title.clone()).unwrap_or_default());
    let toggle = {
        let (todos, key) = (todos.clone(), key.clone());
        move |_| spawn_write(todos.update(key.clone(), |t| t.done = !t.done))
    };
    let save = {
        let (todos, key) = (todos.clone(), key.clone());
        move |event: leptos::ev::Event| {
            editing.set(false);
            let text = event_target_value(&event).trim().to_owned();
            if !text.is_empty() {
                spawn_write(todos.update(key.clone(), move |t| t.title = text));
            }
        }
    };
    let delete = {
        let key = key.clone();
        move |_| spawn_write(todos.delete(key.clone()))
    };
    view! {
        <li data-id=key_text(&key) class:done=done>
            <input type="checkbox" prop:checked=done on:change=toggle aria-label="done"/>
            <Show
                when=move || editing.get()
                fallback=move || view! { <span class="title" on:dblclick=move |_| editing.set(true)>{title}</span> }
            >
                <input class="edit" prop:value=title on:change=save.clone() on:blur=move |_| editing.set(false)/>
            </Show>
            <button class="delete" on:click=delete.clone() aria-label="delete">"×"</button>
        </li>
    }
}
