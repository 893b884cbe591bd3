//! The JavaScript glue: Web Locks, timers, workers and random ids, the same in
//! a page and in a worker. Everything else talks to these few functions.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function lock_request(name, onGranted) {
  if (!globalThis.navigator || !navigator.locks) {
    throw new Error('Web Locks are not available: Lockstep needs a secure context (https:// or http://127.0.0.1)');
  }
  navigator.locks.request(name, () => new Promise((release) => onGranted(release)));
}
export function set_timer(ms, callback) { return setTimeout(callback, ms); }
export function clear_timer(id) { clearTimeout(id); }
export function random_uuid() { return crypto.randomUUID(); }
export function start_worker(url, init) {
  const worker = new Worker(url, { type: 'module', name: 'lockstep-leader' });
  worker.postMessage(init);
  return worker;
}
export function post_to_page(message) { globalThis.postMessage(message); }
export function warn(message) { console.warn(message); }
export function perf_now() { return performance.now(); }
"#)]
extern "C" {
    /// Queues for the exclusive Web Lock `name`; `on_granted` receives a
    /// function that releases it. Throws when Web Locks are missing.
    #[wasm_bindgen(catch)]
    pub fn lock_request(
        name: &str,
        on_granted: &Closure<dyn FnMut(js_sys::Function)>,
    ) -> Result<(), JsValue>;
    /// `setTimeout`; returns the timer id.
    pub fn set_timer(ms: f64, callback: &js_sys::Function) -> i32;
    /// `clearTimeout`.
    pub fn clear_timer(id: i32);
    /// `crypto.randomUUID()`.
    pub fn random_uuid() -> String;
    /// Starts a module worker at `url` and posts it `init`.
    #[wasm_bindgen(catch)]
    pub fn start_worker(url: &str, init: &JsValue) -> Result<web_sys::Worker, JsValue>;
    /// From a worker: posts `message` to the page that started it.
    pub fn post_to_page(message: &JsValue);
    /// `console.warn`.
    pub fn warn(message: &str);
    /// `performance.now()`: milliseconds with sub-millisecond precision.
    pub fn perf_now() -> f64;
}

/// Milliseconds since the Unix epoch (`Date.now()`).
pub fn now() -> lockstep::Timestamp {
    lockstep::Timestamp(js_sys::Date::now() as u64)
}

/// A fresh random tab id.
pub fn new_tab_id() -> lockstep::TabId {
    let uuid = random_uuid();
    match uuid.parse() {
        Ok(uuid) => lockstep::TabId(uuid),
        Err(_) => lockstep::TabId::from_u128(
            (js_sys::Math::random() * u64::MAX as f64) as u128 ^ (now().0 as u128) << 64,
        ),
    }
}
