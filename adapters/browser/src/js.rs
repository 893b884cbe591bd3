//! The JavaScript glue: Web Locks, timers, workers and random ids, the same in
//! a page and in a worker. Everything else talks to these few functions; none
//! of them is exported to JavaScript.

use wasm_bindgen::prelude::*;

use crate::route;

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
export function start_worker(url) {
  return new Worker(url, { type: 'module', name: 'lockstep-leader' });
}
export function post_to_page(message) { globalThis.postMessage(message); }
export function transfer_to_page(bytes) { globalThis.postMessage(bytes, [bytes.buffer]); }
export function transfer_to_worker(worker, bytes) { worker.postMessage(bytes, [bytes.buffer]); }
export function on_page_message(callback) { globalThis.addEventListener('message', (event) => callback(event.data)); }
export function warn(message) { console.warn(message); }
export function perf_now() { return performance.now(); }
export function describe(value) {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try { return String(value); } catch { return 'an unprintable value'; }
}
"#)]
extern "C" {
    /// Queues for the exclusive Web Lock `name`; `on_granted` receives a
    /// function that releases it. Throws when Web Locks are missing.
    #[wasm_bindgen(catch)]
    pub fn lock_request(name: &str, on_granted: &js_sys::Function) -> Result<(), JsValue>;
    /// `setTimeout`; returns the timer id.
    pub fn set_timer(ms: f64, callback: &js_sys::Function) -> i32;
    /// `clearTimeout`.
    pub fn clear_timer(id: i32);
    /// `crypto.randomUUID()`.
    pub fn random_uuid() -> String;
    /// Starts a module worker at `url`.
    #[wasm_bindgen(catch)]
    pub fn start_worker(url: &str) -> Result<web_sys::Worker, JsValue>;
    /// From a worker: posts `message` to the page that started it.
    pub fn post_to_page(message: &JsValue);
    /// From a worker: posts `bytes` to its page, transferring their buffer.
    fn transfer_to_page(bytes: &js_sys::Uint8Array);
    /// From a page: posts `bytes` to `worker`, transferring their buffer.
    fn transfer_to_worker(worker: &web_sys::Worker, bytes: &js_sys::Uint8Array);
    /// From a worker: calls `callback` with every message its page posts.
    pub fn on_page_message(callback: &js_sys::Function);
    /// `console.warn`.
    pub fn warn(message: &str);
    /// `performance.now()`: milliseconds with sub-millisecond precision.
    pub fn perf_now() -> f64;
    /// A thrown value as text, for error messages.
    pub fn describe(value: &JsValue) -> String;
}

/// The other end of the port between a tab and its own leader worker.
#[derive(Clone, Copy)]
pub enum Port<'a> {
    /// From a page: its worker.
    Worker(&'a web_sys::Worker),
    /// From a worker: the page that started it.
    Page,
}

/// Posts a protocol message as bytes (a `Uint8Array`: cheaper than a string,
/// which would be converted to UTF-16 and back) on the BroadcastChannel
/// and through the port, each when given. The bytes leave wasm memory once:
/// the channel gets a copy (structured clone), the port gets the buffer
/// itself (transferred, not copied), after the channel has had its copy.
pub fn post_bytes(bytes: &[u8], channel: Option<&web_sys::BroadcastChannel>, port: Option<Port>) {
    let array = js_sys::Uint8Array::from(bytes);
    if let Some(channel) = channel {
        let _ = channel.post_message(&array);
    }
    match port {
        Some(Port::Worker(worker)) => transfer_to_worker(worker, &array),
        Some(Port::Page) => transfer_to_page(&array),
        None => {}
    }
}

/// Whether a port message is a protocol message (bytes), not a worker note.
pub fn is_bytes(data: &JsValue) -> bool {
    data.is_instance_of::<js_sys::Uint8Array>()
}

/// The bytes of a received message: a `Uint8Array` as posted by
/// [`post_bytes`]; anything else (a foreign or hostile message) becomes bytes
/// that no decoder accepts, and is dropped and counted. Data longer than
/// `max` bytes (the largest message accepted) is copied only up to
/// `max + 1`: the decoder refuses it as too large and counts it, and a
/// payload of any size never reaches wasm memory whole.
pub fn message_bytes(data: &JsValue, max: usize) -> Vec<u8> {
    let cut = u32::try_from(max.saturating_add(1)).unwrap_or(u32::MAX);
    if let Some(array) = data.dyn_ref::<js_sys::Uint8Array>() {
        if array.length() > cut {
            return array.subarray(0, cut).to_vec();
        }
        return array.to_vec();
    }
    match data.dyn_ref::<js_sys::JsString>() {
        // Each UTF-16 unit is at least one byte of UTF-8.
        Some(text) if text.length() > cut => text.slice(0, cut).as_string(),
        Some(text) => text.as_string(),
        None => None,
    }
    .map_or_else(|| b"\0not a protocol message".to_vec(), String::into_bytes)
}

/// How much of a channel message is read to tell whether it is for this
/// context: its fields before the body (ids, term, database) fit.
const HEAD_BYTES: u32 = 1024;

/// The bytes of a BroadcastChannel message that `me` acts on (see
/// [`route::from_channel`]), or `None`. A large message is judged from its
/// first bytes before it is copied, so a hydration page for another tab
/// never enters this tab's wasm memory.
pub fn channel_bytes(data: &JsValue, me: lockstep::TabId, max: usize) -> Option<Vec<u8>> {
    if let Some(array) = data.dyn_ref::<js_sys::Uint8Array>() {
        if array.length() > HEAD_BYTES
            && !route::from_channel(me, &array.subarray(0, HEAD_BYTES).to_vec())
        {
            return None;
        }
    }
    let bytes = message_bytes(data, max);
    route::from_channel(me, &bytes).then_some(bytes)
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

fn set(object: &js_sys::Object, name: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(object, &JsValue::from_str(name), value);
}

fn get_string(object: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(object, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

/// The first message a page posts to its leader worker.
pub fn worker_init(app: &str, scope: &str, tab_id: &str, memory_only: bool) -> JsValue {
    let init = js_sys::Object::new();
    set(&init, "app", &JsValue::from_str(app));
    set(&init, "scope", &JsValue::from_str(scope));
    set(&init, "tabId", &JsValue::from_str(tab_id));
    set(&init, "memoryOnly", &JsValue::from_bool(memory_only));
    init.into()
}

/// The fields of [`worker_init`]'s message, `(app, scope, tab id,
/// memory only)`, or what is missing from it.
pub fn worker_init_fields(data: &JsValue) -> Result<(String, String, String, bool), String> {
    let field = |name: &str| {
        get_string(data, name)
            .ok_or_else(|| format!("the worker's first message has no string `{name}`"))
    };
    let memory_only = js_sys::Reflect::get(data, &JsValue::from_str("memoryOnly"))
        .ok()
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    Ok((field("app")?, field("scope")?, field("tabId")?, memory_only))
}

/// A report from the worker to its page: `{ type, message }`.
pub fn report_to_page(kind: &str, message: &str) {
    let object = js_sys::Object::new();
    set(&object, "type", &JsValue::from_str(kind));
    set(&object, "message", &JsValue::from_str(message));
    post_to_page(&object);
}

/// A worker's report as `(type, message)`, if it is one.
pub fn worker_note(data: &JsValue) -> Option<(String, String)> {
    Some((get_string(data, "type")?, get_string(data, "message")?))
}
