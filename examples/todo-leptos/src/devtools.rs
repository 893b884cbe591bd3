//! `window.lockstep`: what the browser console (and the tests) can reach,
//! like the React example's. `ready` once the todos are loaded, `error` if
//! the database could not open, and `insertTodo(id, title)` /
//! `updateTitle(id, title)`, which write through the same `UseCollection`
//! the view uses and resolve to the commit's position or reject with the
//! error the view shows.

use js_sys::{Object, Reflect};
use leptos::prelude::*;
use lockstep::Key;
use lockstep_leptos::UseCollection;
use wasm_bindgen::prelude::*;

use crate::app::Params;
use crate::todo::Todo;

/// Sets `window.lockstep.error` (the page could not open its database).
pub fn report_error(message: &str) {
    let tools = Object::new();
    set(&tools, "ready", &JsValue::FALSE);
    set(&tools, "error", &JsValue::from_str(message));
    install(&tools);
}

/// Sets `window.lockstep`, and its `ready` once the todos are loaded.
pub fn expose(params: &Params, todos: &UseCollection<Todo>) {
    let tools = Object::new();
    set(&tools, "ready", &JsValue::FALSE);
    set(&tools, "app", &JsValue::from_str(&params.app));
    set(&tools, "scope", &JsValue::from_str(&params.scope));
    let inserting = todos.clone();
    let insert = Closure::<dyn Fn(String, String) -> js_sys::Promise>::new(
        move |id: String, title: String| {
            let todo = Todo {
                id: id.clone(),
                title,
                done: false,
                created_at: js_sys::Date::now(),
            };
            let write = Key::str(id).map(|key| inserting.insert(key, &todo));
            wasm_bindgen_futures::future_to_promise(async move {
                let position = write
                    .map_err(|e| JsValue::from(JsError::new(&e.to_string())))?
                    .await;
                position
                    .map(|p| JsValue::from_str(&p.to_string()))
                    .map_err(|e| JsError::new(&e.to_string()).into())
            })
        },
    );
    set(&tools, "insertTodo", insert.as_ref());
    insert.forget(); // lives as long as the page, like window.lockstep
    let updating = todos.clone();
    let update = Closure::<dyn Fn(String, String) -> js_sys::Promise>::new(
        move |id: String, title: String| {
            let write = Key::str(id).map(|key| updating.update(key, move |t| t.title = title));
            wasm_bindgen_futures::future_to_promise(async move {
                let position = write
                    .map_err(|e| JsValue::from(JsError::new(&e.to_string())))?
                    .await;
                position
                    .map(|p| p.map_or(JsValue::NULL, |p| JsValue::from_str(&p.to_string())))
                    .map_err(|e| JsError::new(&e.to_string()).into())
            })
        },
    );
    set(&tools, "updateTitle", update.as_ref());
    update.forget();
    install(&tools);
    let ready = todos.ready;
    Effect::new(move |_| {
        let now = ready.get();
        set(&tools, "ready", &JsValue::from_bool(now));
    });
}

fn install(tools: &Object) {
    if let Some(window) = web_sys::window() {
        set(&window, "lockstep", tools);
    }
}

fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(name), value);
}
