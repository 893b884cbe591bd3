//! `RawDatabase`: the JavaScript class over [`lockstep_browser::Database`].
//!
//! The npm package wraps it (`openDatabase`, `LockstepDatabase`,
//! `lockstepCollectionOptions`); apps use those. Every method converts its
//! arguments through [`crate::interop`] and returns plain values, promises
//! of plain values, or throws a `LockstepError`-named `Error`.

use lockstep::{CollectionId, Op, RuntimeConfig, SubscriptionId};
use lockstep_browser::{Database, LeaderWorker, ListenerId, OpenOptions as DriverOptions};
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::interop::{self, error, from_js, from_ts, read_error, to_js, write_error};
use crate::types::{self, OpenOptions, Status};

/// One tab's handle on a Lockstep database (see the npm package's
/// `LockstepDatabase` for the documented API).
#[wasm_bindgen]
pub struct RawDatabase {
    db: Database,
}

fn collection_id(name: &str) -> Result<CollectionId, JsValue> {
    CollectionId::new(name).map_err(|e| error(interop::invalid(e.to_string())))
}

/// Calls a JavaScript listener; an exception it throws is reported on the
/// console and does not stop Lockstep.
fn call(listener: &js_sys::Function, what: &str, args: &[&JsValue]) {
    let args: js_sys::Array = args.iter().copied().collect();
    if let Err(thrown) = listener.apply(&JsValue::NULL, &args) {
        web_sys::console::error_2(
            &JsValue::from_str(&format!("Lockstep: a {what} listener threw:")),
            &thrown,
        );
    }
}

/// A stream sink calling JavaScript `sink` with each update.
fn stream_sink(sink: js_sys::Function) -> impl FnMut(lockstep_browser::StreamUpdate) {
    move |update| {
        let update = match update {
            lockstep_browser::StreamUpdate::Batch(batch) => interop::sync_batch(batch),
            lockstep_browser::StreamUpdate::Ready => types::StreamUpdate::Ready,
        };
        call(&sink, "sync", &[&to_js(&update)]);
    }
}

#[wasm_bindgen]
impl RawDatabase {
    /// Opens database `(app, scope)` in this tab with `worker` as its leader
    /// worker (a module worker running the package's `worker.js`).
    pub fn open(options: Ts<OpenOptions>, worker: web_sys::Worker) -> Result<RawDatabase, JsValue> {
        crate::panic::report_panics();
        let options = from_ts(&options, "open options").map_err(error)?;
        let db = Database::open(DriverOptions {
            app: options.app,
            scope: options.scope,
            worker: LeaderWorker::Started(worker),
            memory_only: options.memory_only,
            config: RuntimeConfig::default(),
        })
        .map_err(|e| {
            error(types::ErrorInfo {
                code: types::ErrorCode::Unsupported,
                message: e.to_string(),
                collection: None,
                key: None,
            })
        })?;
        Ok(RawDatabase { db })
    }

    /// This tab's id.
    #[wasm_bindgen(getter, js_name = tabId)]
    pub fn tab_id(&self) -> String {
        self.db.tab_id().to_string()
    }

    /// Where this tab's database stands.
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(&self) -> JsValue {
        to_js(&status(&self.db.status()))
    }

    /// Calls `listener(status)` now and whenever the status changes; returns
    /// an id for `removeListener`.
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(status: Status) => void")]
        listener: js_sys::Function,
    ) -> u32 {
        let id = self
            .db
            .on_status(move |s| call(&listener, "status", &[&to_js(&status(s))]));
        listener_number(id)
    }

    /// Calls `listener(collection, rowsLoaded, rowsTotal)` while collections
    /// load; `rowsTotal` is the leader's count when the load began
    /// (`undefined` until it said).
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "(collection: string, rowsLoaded: number, rowsTotal: number | undefined) => void"
        )]
        listener: js_sys::Function,
    ) -> u32 {
        let id = self.db.on_progress(move |collection, rows, total| {
            let total = total.map_or(JsValue::UNDEFINED, |t| JsValue::from_f64(t as f64));
            let collection = JsValue::from_str(collection.as_str());
            call(
                &listener,
                "progress",
                &[&collection, &JsValue::from_f64(rows as f64), &total],
            );
        });
        listener_number(id)
    }

    /// Removes a status or progress listener.
    #[wasm_bindgen(js_name = removeListener)]
    pub fn remove_listener(&self, id: u32) {
        self.db.remove_listener(listener_id(id));
    }

    /// Keeps `collection`'s rows in this tab (`get`, `rows`, `subscribe`).
    #[wasm_bindgen(js_name = openCollection)]
    pub fn open_collection(&self, collection: &str) -> Result<(), JsValue> {
        self.db.open_collection(&collection_id(collection)?);
        Ok(())
    }

    /// Follows `collection` without keeping rows here: `sink` gets every
    /// committed change in order, then `{ type: 'ready' }` when current.
    #[wasm_bindgen(js_name = streamCollection)]
    pub fn stream_collection(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "(update: StreamUpdate) => void")]
        sink: js_sys::Function,
    ) -> Result<(), JsValue> {
        self.db
            .stream_collection(&collection_id(collection)?, stream_sink(sink));
        Ok(())
    }

    /// Follows `collection` on demand: nothing is loaded until `loadSubset`;
    /// `sink` gets `{ type: 'ready' }` at once, then every commit of the
    /// collection and the rows of each subset.
    #[wasm_bindgen(js_name = streamCollectionOnDemand)]
    pub fn stream_collection_on_demand(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "(update: StreamUpdate) => void")]
        sink: js_sys::Function,
    ) -> Result<(), JsValue> {
        self.db
            .stream_collection_on_demand(&collection_id(collection)?, stream_sink(sink));
        Ok(())
    }

    /// Loads a subset of an on-demand collection: its rows reach the sink,
    /// then the promise resolves with the subset's id and row count.
    #[wasm_bindgen(js_name = loadSubset, unchecked_return_type = "Promise<SubsetLoaded>")]
    pub fn load_subset(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "SubsetInput")] subset: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let collection = collection_id(collection)?;
        let input: types::SubsetInput = from_js(&subset, "subset").map_err(error)?;
        let subset = lockstep::Subset {
            filter: input.filter,
            params: input.params,
            indexes: input.indexes,
            top: input.top.map(|top| lockstep::SubsetTop {
                sql: top.sql,
                params: top.params,
            }),
        };
        let loaded = self.db.load_subset(&collection, subset);
        Ok(future_to_promise(async move {
            match loaded.await {
                Ok((id, rows)) => Ok(to_js(&types::SubsetLoaded {
                    id: id.0.to_string(),
                    rows,
                })),
                Err(e) => Err(read_error(&e)),
            }
        }))
    }

    /// Stops reading subset `id` again after reloads (its rows stay).
    #[wasm_bindgen(js_name = unloadSubset)]
    pub fn unload_subset(&self, id: &str) {
        if let Ok(id) = id.parse() {
            self.db.unload_subset(lockstep::SubsetId(id));
        }
    }

    /// Stops following `collection` in this tab.
    #[wasm_bindgen(js_name = closeCollection)]
    pub fn close_collection(&self, collection: &str) -> Result<(), JsValue> {
        self.db.close_collection(&collection_id(collection)?);
        Ok(())
    }

    /// Resolves once `collection` is hydrated and current.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn ready(&self, collection: &str) -> Result<js_sys::Promise, JsValue> {
        let ready = self.db.ready(&collection_id(collection)?);
        Ok(future_to_promise(async move {
            ready
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| error(interop::closed(e.to_string())))
        }))
    }

    /// Applies `ops` in this tab at once (rows-mode collections) and commits
    /// them as one transaction; resolves `{ term, seq }` once durable.
    #[wasm_bindgen(unchecked_return_type = "Promise<Position>")]
    pub fn mutate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "OpInput[]")] ops: JsValue,
    ) -> js_sys::Promise {
        self.write(parse_ops(&ops), |db, ops| db.mutate(ops))
    }

    /// Sends `ops` as one transaction without showing them here
    /// (stream-mode collections); resolves once the commit reached the sink.
    #[wasm_bindgen(unchecked_return_type = "Promise<Position>")]
    pub fn submit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "OpInput[]")] ops: JsValue,
    ) -> js_sys::Promise {
        self.write(parse_ops(&ops), |db, ops| db.submit(ops))
    }

    /// The row this tab shows under `key`, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Row | undefined")]
    pub fn get(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "Key")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = from_js(&key, "key").and_then(interop::key).map_err(error)?;
        Ok(self
            .db
            .get(&collection_id(collection)?, &key)
            .map_or(JsValue::UNDEFINED, |row| to_js(&*row)))
    }

    /// How many rows this tab shows in `collection`.
    pub fn len(&self, collection: &str) -> Result<u32, JsValue> {
        Ok(self.db.len(&collection_id(collection)?) as u32)
    }

    /// The rows this tab shows, in key order.
    #[wasm_bindgen(unchecked_return_type = "KeyedRow[]")]
    pub fn rows(&self, collection: &str) -> Result<JsValue, JsValue> {
        let rows = self.db.rows(&collection_id(collection)?);
        Ok(interop::json_to_js(&interop::rows_json(&rows)))
    }

    /// Calls `listener(changes)` with every change of the rows this tab
    /// shows (first call: every row); returns an id for `unsubscribe`.
    pub fn subscribe(
        &self,
        collection: &str,
        #[wasm_bindgen(unchecked_param_type = "(changes: ChangeEvent[]) => void")]
        listener: js_sys::Function,
    ) -> Result<f64, JsValue> {
        let id = self
            .db
            .subscribe(&collection_id(collection)?, move |changes| {
                call(
                    &listener,
                    "subscription",
                    &[&interop::json_to_js(&interop::changes_json(changes))],
                )
            });
        Ok(id.0 as f64)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, subscription: f64) {
        self.db.unsubscribe(SubscriptionId(subscription as u64));
    }

    /// This tab's own counters: messages it dropped by reason, pulls,
    /// reloads, re-sends.
    #[wasm_bindgen(js_name = tabCounters, unchecked_return_type = "TabCounters")]
    pub fn tab_counters(&self) -> JsValue {
        to_js(&interop::tab_counters(self.db.stats()))
    }

    /// This tab's writes not yet confirmed, oldest first.
    #[wasm_bindgen(js_name = pendingWrites, unchecked_return_type = "PendingWrite[]")]
    pub fn pending_writes(&self) -> JsValue {
        let pending: Vec<types::PendingWrite> = self
            .db
            .pending_writes()
            .into_iter()
            .map(|p| types::PendingWrite {
                envelope_id: p.envelope_id.to_string(),
                collections: p
                    .collections
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                ops: p.ops as u32,
                sent: p.sent,
            })
            .collect();
        to_js(&pending)
    }

    /// Reads every row of `collection` from the live database through the leader.
    #[wasm_bindgen(js_name = inspectRows, unchecked_return_type = "Promise<KeyedRow[]>")]
    pub fn inspect_rows(&self, collection: &str) -> Result<js_sys::Promise, JsValue> {
        let rows = self.db.inspect(&collection_id(collection)?);
        Ok(future_to_promise(async move {
            match rows.await {
                Ok(rows) => Ok(to_js(&interop::keyed_rows(rows))),
                Err(e) => Err(read_error(&e)),
            }
        }))
    }

    /// The leader's description of the database.
    #[wasm_bindgen(unchecked_return_type = "Promise<DatabaseReport>")]
    pub fn describe(&self) -> js_sys::Promise {
        let report = self.db.describe();
        future_to_promise(async move {
            match report.await {
                Ok(report) => Ok(to_js(&interop::report(report))),
                Err(e) => Err(read_error(&e)),
            }
        })
    }

    /// Runs one read-only SQL statement on the live database through the
    /// leader; collections are views named after them.
    #[wasm_bindgen(unchecked_return_type = "Promise<QueryResult>")]
    pub fn query(
        &self,
        sql: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown[]")] params: JsValue,
    ) -> js_sys::Promise {
        let params: Vec<serde_json::Value> = if params.is_undefined() || params.is_null() {
            Vec::new()
        } else {
            match from_js(&params, "query parameters") {
                Ok(params) => params,
                Err(info) => return js_sys::Promise::reject(&error(info)),
            }
        };
        let rows = self.db.query(sql, params);
        future_to_promise(async move {
            match rows.await {
                Ok(rows) => Ok(to_js(&types::QueryResult {
                    columns: rows.columns,
                    rows: rows.rows,
                    truncated: rows.truncated,
                })),
                Err(e) => Err(read_error(&e)),
            }
        })
    }

    /// Closes the database in this tab: its worker stops, pending promises
    /// reject with a `closed` error, listeners are dropped.
    pub fn close(&self) {
        self.db.close();
    }

    /// Whether `close` was called.
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    fn write(
        &self,
        ops: Result<Vec<Op>, JsValue>,
        send: impl FnOnce(&Database, Vec<Op>) -> lockstep_browser::WriteOutcome,
    ) -> js_sys::Promise {
        let ops = match ops {
            Ok(ops) => ops,
            Err(e) => return js_sys::Promise::reject(&e),
        };
        let outcome = send(&self.db, ops);
        future_to_promise(async move {
            match outcome.await {
                Ok(position) => Ok(to_js(&interop::position(position))),
                Err(e) => Err(write_error(&e)),
            }
        })
    }
}

/// How many database handles are alive in this page or worker (open, or
/// closed but not yet freed): a diagnostic for leaks.
#[wasm_bindgen(js_name = liveDatabaseHandles)]
pub fn live_database_handles() -> u32 {
    Database::handles_alive() as u32
}

/// An `OpInput[]` as the core's ops: one `JSON.stringify` of the whole
/// array, parsed straight into `Op`s (validated like any input).
fn parse_ops(ops: &JsValue) -> Result<Vec<Op>, JsValue> {
    from_js::<Vec<Op>>(ops, "ops").map_err(error)
}

/// The status as JavaScript sees it.
fn status(s: &lockstep_browser::Status) -> Status {
    Status {
        tab_id: s.tab_id.to_string(),
        is_leader: s.is_leader,
        leader_tab_id: s.leader.map(|l| l.to_string()),
        term: s.term.0,
        seq: s.seq.map(|s| s.0),
        pending: s.pending as u32,
        health: match s.health {
            lockstep_browser::Health::Connecting => types::Health::Connecting,
            lockstep_browser::Health::Ok => types::Health::Ok,
            lockstep_browser::Health::LeaderUnresponsive => types::Health::LeaderUnresponsive,
            lockstep_browser::Health::Closed => types::Health::Closed,
        },
        storage: s.storage.map(interop::storage),
        store_errors: s.store_errors,
        last_store_error: s.last_store_error.clone(),
        invalid_rows: s.invalid_rows,
        last_invalid_row: s.last_invalid_row.clone(),
        error: s.error.clone(),
        warning: s.warning.clone(),
    }
}

fn listener_number(id: ListenerId) -> u32 {
    id.number() as u32
}

fn listener_id(id: u32) -> ListenerId {
    ListenerId::from_number(u64::from(id))
}
