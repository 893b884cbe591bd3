//! The status badge and the load progress. Both also carry their values as
//! `data-` attributes, for tests and for anyone inspecting the page.

use leptos::prelude::*;
use lockstep::protocol::Storage;
use lockstep_leptos::{use_status, Progress};

/// Leader or follower, term, last seq, pending writes, health, storage.
#[component]
pub fn StatusBadge() -> impl IntoView {
    let status = use_status();
    view! {
        <div
            class="status"
            class:leader=move || status.with(|s| s.is_leader)
            data-tab=move || status.with(|s| s.tab_id.to_string())
            data-leader=move || status.with(|s| s.is_leader.to_string())
            data-term=move || status.with(|s| s.term.0.to_string())
            data-seq=move || status.with(|s| s.seq.map(|q| q.0.to_string()).unwrap_or_default())
            data-pending=move || status.with(|s| s.pending.to_string())
            data-health=move || status.with(|s| s.health.as_str().to_owned())
            data-storage=move || status.with(|s| storage_name(s.storage))
        >
            <span class="role">{move || if status.with(|s| s.is_leader) { "leader" } else { "follower" }}</span>
            " · term " {move || status.with(|s| s.term.0)}
            " · seq " {move || status.with(|s| s.seq.map(|q| q.0.to_string()).unwrap_or_else(|| "–".into()))}
            " · " {move || status.with(|s| s.pending)} " pending · "
            {move || status.with(|s| s.health.as_str())} " · "
            {move || status.with(|s| storage_name(s.storage))}
        </div>
    }
}

fn storage_name(storage: Option<Storage>) -> String {
    match storage {
        Some(Storage::Persistent) => "opfs".into(),
        Some(Storage::Memory) => "memory".into(),
        None => String::new(),
    }
}

/// A progress bar while the todos load (hidden once ready).
#[component]
pub fn LoadProgress(progress: Signal<Progress>) -> impl IntoView {
    let of_total =
        move || progress.with(|p| p.total.map(|t| format!(" of {t}")).unwrap_or_default());
    view! {
        <p
            class="progress"
            data-loaded=move || progress.with(|p| p.loaded.to_string())
            data-total=move || progress.with(|p| p.total.map(|t| t.to_string()).unwrap_or_default())
            data-ready=move || progress.with(|p| p.ready.to_string())
            class:hidden=move || progress.with(|p| p.ready)
        >
            <progress
                max=move || progress.with(|p| p.total.unwrap_or(0).max(1))
                value=move || progress.with(|p| if p.total.is_some() { p.loaded } else { 0 })
            ></progress>
            " loading… " {move || progress.with(|p| p.loaded)} {of_total} " rows"
        </p>
    }
}
