//! The loop each tab thread runs: feed the runtime (and the coordinator while
//! leading) with bytes and time, send what they emit, call the app back.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use lockstep::protocol::Body;
use lockstep::{
    ChangeEvent, CollectionId, Coordinator, DatabaseReport, EnvelopeId, Event, InspectId, Key,
    MutationError, Op, PersistedCollectionRuntime, QueryError, QueryRows, ReadId, Rejection, Row,
    SharedRow, Snapshot, StartError, Store, StreamPosition, SubscriptionId, TabId, Timestamp,
};

use crate::hub::{HubConfig, Shared, StoreFactory};
use crate::tab::TabStatus;

/// Which endpoint of a tab sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The tab's runtime.
    Tab,
    /// The tab's coordinator (while it leads).
    Leader,
}

type Callback = Box<dyn FnMut(&[ChangeEvent]) + Send>;

/// The rows an inspection read, or the leader's store error that ended it.
pub(crate) type Inspected = Result<Vec<(Key, Row)>, String>;

pub(crate) enum Command {
    Open(CollectionId),
    Mutate {
        ops: Vec<Op>,
        outcome: Sender<Result<StreamPosition, Rejection>>,
        reply: Sender<Result<EnvelopeId, MutationError>>,
    },
    Get(CollectionId, Key, Sender<Option<SharedRow>>),
    Snapshot(CollectionId, Sender<Snapshot>),
    IsReady(CollectionId, Sender<bool>),
    Status(Sender<TabStatus>),
    Subscribe {
        collection: CollectionId,
        include_current: bool,
        callback: Callback,
        reply: Sender<SubscriptionId>,
    },
    Unsubscribe(SubscriptionId),
    Inspect(CollectionId, Sender<Inspected>),
    Query {
        sql: String,
        params: Vec<serde_json::Value>,
        reply: Sender<Result<QueryRows, QueryError>>,
    },
    Describe(Sender<Result<DatabaseReport, String>>),
}

pub(crate) enum Input {
    Post {
        from: TabId,
        role: Role,
        /// The tab that does not read them (`Message::skips`).
        skips: Option<TabId>,
        bytes: Arc<[u8]>,
    },
    Raw(Arc<[u8]>),
    Command(Command),
    LeadershipGranted,
    CrashAfterNextCommit,
    Close,
    Crash,
}

/// Leaves the hub (releasing leadership) however the thread ends, panics included.
struct Membership {
    shared: Arc<Shared>,
    tab: TabId,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.leave(self.tab);
    }
}

pub(crate) struct TabThread<S: Store + Send + 'static> {
    membership: Membership,
    id: TabId,
    config: HubConfig,
    factory: StoreFactory<S>,
    inbox: Receiver<Input>,
    runtime: PersistedCollectionRuntime,
    leader: Option<Coordinator<S>>,
    leadership_error: Option<String>,
    leadership_retry_at: Option<Timestamp>,
    leadership_pause_ms: u64,
    crash_after_commit: bool,
    subscriptions: HashMap<SubscriptionId, Callback>,
    outcomes: HashMap<EnvelopeId, Sender<Result<StreamPosition, Rejection>>>,
    inspections: HashMap<InspectId, Sender<Inspected>>,
    queries: HashMap<ReadId, Sender<Result<QueryRows, QueryError>>>,
    descriptions: HashMap<ReadId, Sender<Result<DatabaseReport, String>>>,
}

enum Flow {
    Continue,
    Stop,
}

impl<S: Store + Send + 'static> TabThread<S> {
    pub fn new(
        shared: Arc<Shared>,
        id: TabId,
        config: HubConfig,
        factory: StoreFactory<S>,
        inbox: Receiver<Input>,
    ) -> Self {
        let runtime = PersistedCollectionRuntime::new(
            shared.db.clone(),
            id,
            config.runtime.clone(),
            shared.clock.now(),
        );
        let mut config = config;
        config.coordinator.outbox = config.uploader.is_some();
        TabThread {
            membership: Membership { shared, tab: id },
            id,
            config,
            factory,
            inbox,
            runtime,
            leader: None,
            leadership_error: None,
            leadership_retry_at: None,
            leadership_pause_ms: 0,
            crash_after_commit: false,
            subscriptions: HashMap::new(),
            outcomes: HashMap::new(),
            inspections: HashMap::new(),
            queries: HashMap::new(),
            descriptions: HashMap::new(),
        }
    }

    fn shared(&self) -> &Shared {
        &self.membership.shared
    }

    /// Hands `bytes` to this tab's runtime; what it asks for before it
    /// applies them (the next hydration page) is posted at once, so a
    /// leader on another thread reads it meanwhile.
    fn handle_in_tab(&mut self, now: Timestamp, bytes: &[u8]) {
        let (shared, id) = (&self.membership.shared, self.id);
        self.runtime
            .handle_bytes_sending_first(now, bytes, |runtime| post_from_tab(runtime, shared, id));
    }

    pub fn run(mut self) {
        self.shared().request_leadership(self.id);
        if let Flow::Stop = self.flush() {
            return;
        }
        loop {
            let now = self.shared().clock.now();
            let retry = self.leadership_retry_at;
            let deadline = [
                self.runtime.poll_timeout(),
                self.leader.as_ref().and_then(|c| c.poll_timeout()),
                retry,
            ]
            .into_iter()
            .flatten()
            .min();
            let wait = deadline.map_or(Duration::from_secs(3600), |d| {
                Duration::from_millis(d.since(now))
            });
            let input = match self.inbox.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let now = self.shared().clock.now();
            match input {
                Some(Input::Post {
                    from,
                    role,
                    skips,
                    bytes,
                }) => {
                    if !(from == self.id && role == Role::Tab) && skips != Some(self.id) {
                        self.handle_in_tab(now, &bytes);
                    }
                    if !(from == self.id && role == Role::Leader) {
                        if let Some(leader) = self.leader.as_mut() {
                            leader.handle_bytes(now, &bytes);
                        }
                    }
                }
                Some(Input::Raw(bytes)) => {
                    self.handle_in_tab(now, &bytes);
                    if let Some(leader) = self.leader.as_mut() {
                        leader.handle_bytes(now, &bytes);
                    }
                }
                Some(Input::Command(command)) => self.command(command),
                Some(Input::LeadershipGranted) => self.take_leadership(),
                Some(Input::CrashAfterNextCommit) => self.crash_after_commit = true,
                Some(Input::Close) => {
                    let _ = self.flush();
                    return;
                }
                Some(Input::Crash) => return,
                None => {}
            }
            let now = self.shared().clock.now();
            if self.leadership_retry_at.is_some_and(|at| now >= at) {
                self.leadership_retry_at = None;
                self.shared().request_leadership(self.id);
            }
            self.runtime.handle_timeout(now);
            if let Some(leader) = self.leader.as_mut() {
                leader.handle_timeout(now);
            }
            if let Flow::Stop = self.flush() {
                return;
            }
        }
    }

    /// Opens the store and starts the coordinator; on failure releases the
    /// lock at once, so no tab believes it leads (seed 002), and queues again
    /// after a growing pause (100 ms doubling to 5 s) — never a busy loop.
    fn take_leadership(&mut self) {
        let now = self.shared().clock.now();
        let started = (self.factory)()
            .map_err(StartError::from)
            .and_then(|store| {
                Coordinator::start(
                    store,
                    self.shared().db.clone(),
                    self.id,
                    self.config.coordinator.clone(),
                    now,
                )
            });
        match started {
            Ok(coordinator) => {
                self.leadership_error = None;
                self.leadership_pause_ms = 0;
                self.leader = Some(coordinator);
            }
            Err(error) => {
                self.leadership_error = Some(error.to_string());
                self.shared().release_leadership(self.id);
                self.leadership_pause_ms = (self.leadership_pause_ms * 2).clamp(100, 5_000);
                self.leadership_retry_at = Some(now.plus_millis(self.leadership_pause_ms));
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = self.shared().clock.now();
        match command {
            Command::Open(collection) => self.runtime.open_collection(now, collection),
            Command::Mutate {
                ops,
                outcome,
                reply,
            } => {
                // Posted before the tab applies the ops, so a leader on
                // another thread writes them meanwhile.
                let (shared, id) = (&self.membership.shared, self.id);
                let result = self
                    .runtime
                    .mutate_sending_first(now, ops, |runtime| post_from_tab(runtime, shared, id));
                if let Ok(id) = result {
                    self.outcomes.insert(id, outcome);
                }
                let _ = reply.send(result);
            }
            Command::Get(collection, key, reply) => {
                let _ = reply.send(self.runtime.get(&collection, &key));
            }
            Command::Snapshot(collection, reply) => {
                let _ = reply.send(self.runtime.snapshot(&collection));
            }
            Command::IsReady(collection, reply) => {
                let _ = reply.send(self.runtime.is_ready(&collection));
            }
            Command::Status(reply) => {
                let status = self.runtime.status();
                let _ = reply.send(TabStatus {
                    tab: self.id,
                    is_leader: self.leader.is_some(),
                    leader: status.leader,
                    term: status.term,
                    applied: status.applied,
                    pending: status.pending,
                    leadership_error: self.leadership_error.clone(),
                    leader_info: status.leader_info,
                    stats: self.runtime.stats(),
                });
            }
            Command::Subscribe {
                collection,
                include_current,
                callback,
                reply,
            } => {
                let id = self.runtime.subscribe(collection, include_current);
                self.subscriptions.insert(id, callback);
                let _ = reply.send(id);
            }
            Command::Inspect(collection, reply) => {
                let id = self.runtime.inspect(now, collection);
                self.inspections.insert(id, reply);
            }
            Command::Query { sql, params, reply } => {
                let id = self.runtime.query(now, sql, params);
                self.queries.insert(id, reply);
            }
            Command::Describe(reply) => {
                let id = self.runtime.describe(now);
                self.descriptions.insert(id, reply);
            }
            Command::Unsubscribe(id) => {
                self.runtime.unsubscribe(id);
                self.subscriptions.remove(&id);
            }
        }
    }

    /// Sends everything both state machines queued, delivers events, runs the
    /// uploader, and steps down when deposed. Stops the thread on an injected crash.
    fn flush(&mut self) -> Flow {
        let now = self.shared().clock.now();
        if let Some(leader) = self.leader.as_mut() {
            let mut outgoing = Vec::new();
            while let Some(message) = leader.poll_transmit() {
                outgoing.push(message);
            }
            if self.crash_after_commit
                && outgoing
                    .iter()
                    .any(|m| matches!(m.body, Body::TxCommitted(_)))
            {
                return Flow::Stop;
            }
            for message in outgoing {
                self.membership.shared.post(
                    self.id,
                    Role::Leader,
                    message.skips(),
                    message.encode().into(),
                );
            }
            if let Some(uploader) = self.config.uploader.clone() {
                while let Some(batch) = leader.poll_upload(now) {
                    let accepted = uploader(&batch);
                    leader.upload_finished(now, batch.id, accepted);
                    if !accepted {
                        break;
                    }
                }
            }
            if leader.deposed().is_some() {
                self.leader = None;
                self.shared().release_leadership(self.id);
                self.shared().request_leadership(self.id);
            }
        }
        post_from_tab(&mut self.runtime, &self.membership.shared, self.id);
        while let Some(event) = self.runtime.poll_event() {
            self.deliver(event);
        }
        Flow::Continue
    }

    fn deliver(&mut self, event: Event) {
        match event {
            Event::Changes {
                subscription,
                changes,
                ..
            } => {
                if let Some(callback) = self.subscriptions.get_mut(&subscription) {
                    callback(&changes);
                }
            }
            Event::Committed {
                envelope_id,
                position,
            } => {
                if let Some(outcome) = self.outcomes.remove(&envelope_id) {
                    let _ = outcome.send(Ok(position));
                }
            }
            Event::Rejected {
                envelope_id,
                rejection,
            } => {
                if let Some(outcome) = self.outcomes.remove(&envelope_id) {
                    let _ = outcome.send(Err(rejection));
                }
            }
            Event::Inspected {
                id, rows, error, ..
            } => {
                if let Some(reply) = self.inspections.remove(&id) {
                    let _ = reply.send(match error {
                        None => Ok(rows.into_iter().map(|r| (r.key, r.value)).collect()),
                        Some(error) => Err(error),
                    });
                }
            }
            Event::Queried { id, outcome } => {
                if let Some(reply) = self.queries.remove(&id) {
                    let _ = reply.send(outcome);
                }
            }
            Event::Described { id, outcome } => {
                if let Some(reply) = self.descriptions.remove(&id) {
                    let _ = reply.send(outcome);
                }
            }
            // The hub opens collections in rows mode only: no `Synced`
            // batches, no subsets.
            Event::Progress { .. }
            | Event::Ready { .. }
            | Event::LeaderChanged { .. }
            | Event::Synced { .. }
            | Event::SubsetLoaded { .. } => {}
        }
    }
}

/// Posts what the tab's runtime has queued to every thread of the hub.
fn post_from_tab(runtime: &mut PersistedCollectionRuntime, shared: &Shared, id: TabId) {
    while let Some(message) = runtime.poll_transmit() {
        shared.post(id, Role::Tab, None, message.encode().into());
    }
}
