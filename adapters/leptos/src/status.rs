//! `use_status`: the database's status in this tab, as a signal.

use leptos::prelude::*;
use lockstep_browser::Status;
use send_wrapper::SendWrapper;

use crate::context::use_database;

/// The status of the database provided by [`provide_database`](crate::provide_database)
/// (leader, term, seq, pending writes, health, storage), updated whenever it
/// changes. The listener is removed when the calling component is cleaned up.
///
/// ```no_run
/// # #[cfg(target_arch = "wasm32")] {
/// use leptos::prelude::*;
/// use lockstep_leptos::use_status;
///
/// #[component]
/// fn LeaderBadge() -> impl IntoView {
///     let status = use_status();
///     view! { <span>{move || if status.get().is_leader { "leader" } else { "follower" }}</span> }
/// }
/// # }
/// ```
pub fn use_status() -> Signal<Status> {
    let db = use_database();
    let database = db.database();
    let status = ArcRwSignal::new(database.status());
    let writer = status.clone();
    let listener = database.on_status(move |now| {
        if *writer.read_untracked() != *now {
            writer.set(now.clone());
        }
    });
    let database = SendWrapper::new(database);
    on_cleanup(move || database.remove_listener(listener));
    status.into()
}
