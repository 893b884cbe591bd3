//! The README's Leptos snippet, compiled with the example; a test checks
//! that the README shows exactly the code below the marker line.
// README snippet:
use leptos::prelude::*;
use lockstep::{CollectionId, Key};
use lockstep_leptos::{provide_database, use_collection, use_status};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Todo {
    title: String,
    done: bool,
}

#[component]
pub fn App() -> impl IntoView {
    // Opens the database in this tab; it closes when App is cleaned up.
    if let Err(error) = provide_database("todo-app", "user-42") {
        return view! { <p>{error.to_string()}</p> }.into_any();
    }
    let status = use_status(); // leader, term, seq, pending, health, storage
    let todos = use_collection::<Todo>(CollectionId::new("todos").expect("a valid name"));
    let (list, writer) = (todos.clone(), todos.clone());
    let add = move |_| {
        let todo = Todo {
            title: "write docs".into(),
            done: false,
        };
        let write = writer.insert(Key::from("t1"), &todo); // shown at once
        leptos::task::spawn_local(async move {
            // Committed, or rolled back with the reason in `todos.error`.
            let _ = write.await;
        });
    };
    view! {
        <p>{move || if status.get().is_leader { "this tab leads" } else { "another tab leads" }}</p>
        <p>{move || todos.progress.get().loaded} " rows loaded"</p>
        <button on:click=add>"add"</button>
        <For each=move || list.keys.get() key=|key| key.clone() let:key>
            {
                let todo = list.row(&key); // one signal per row
                view! { <li>{move || todo.get().map(|t| t.title)}</li> }
            }
        </For>
    }
    .into_any()
}
