//! [`TabHandle`]: the app's side of one tab running on its own thread.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lockstep::protocol::LeaderInfo;
use lockstep::{
    ChangeEvent, CollectionId, DatabaseReport, EnvelopeId, HeldRow, Key, MutationError, Op,
    QueryError, QueryRows, Rejection, Row, RuntimeStats, Seq, SharedRow, Snapshot, Store,
    StreamPosition, SubscriptionId, TabId, Term,
};

use crate::hub::{HubConfig, Shared, StoreFactory};
use crate::thread::{Command, Input, TabThread};

/// Where a tab stands, as seen from the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TabStatus {
    /// The tab.
    pub tab: TabId,
    /// Whether this tab runs the coordinator now.
    pub is_leader: bool,
    /// The leader it follows.
    pub leader: Option<TabId>,
    /// Highest term it has seen.
    pub term: Term,
    /// Last applied seq, once known.
    pub applied: Option<Seq>,
    /// Envelopes not yet acknowledged.
    pub pending: usize,
    /// The last failure to take leadership (store open error), if any.
    pub leadership_error: Option<String>,
    /// What the leader last said about itself: its database epoch, storage,
    /// and the store errors and invalid rows it met (see [`LeaderInfo`]).
    pub leader_info: Option<LeaderInfo>,
    /// The runtime's counters.
    pub stats: RuntimeStats,
}

/// Why waiting for a tab failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold in time.
    #[error("timed out after {0:?}; the leader may be gone or overloaded")]
    Timeout(Duration),
    /// The leader refused the envelope; it was rolled back.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The tab's thread is gone (closed or crashed).
    #[error("the tab is closed")]
    Closed,
    /// The leader could not read the database (its store failed).
    #[error("the leader could not read the database: {0}")]
    Failed(String),
    /// The read-only query was refused or failed.
    #[error(transparent)]
    Query(QueryError),
}

/// The answer on `rx`, waiting at most `timeout`.
fn receive<T>(rx: &Receiver<T>, timeout: Duration) -> Result<T, WaitError> {
    rx.recv_timeout(timeout).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => WaitError::Timeout(timeout),
        mpsc::RecvTimeoutError::Disconnected => WaitError::Closed,
    })
}

/// A pending mutation: wait for it to be durable or refused.
#[derive(Debug)]
pub struct Receipt {
    /// The envelope's id.
    pub envelope_id: EnvelopeId,
    outcome: Receiver<Result<StreamPosition, Rejection>>,
    settled: OnceLock<Result<StreamPosition, Rejection>>,
}

impl Receipt {
    /// Blocks until the envelope is committed (returns its position) or
    /// refused. Waiting again returns the same outcome.
    pub fn wait(&self, timeout: Duration) -> Result<StreamPosition, WaitError> {
        if self.settled.get().is_none() {
            match self.outcome.recv_timeout(timeout) {
                Ok(outcome) => {
                    let _ = self.settled.set(outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(WaitError::Timeout(timeout)),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(WaitError::Closed),
            }
        }
        match self.settled.get() {
            Some(Ok(position)) => Ok(*position),
            Some(Err(rejection)) => Err(WaitError::Rejected(rejection.clone())),
            None => Err(WaitError::Closed),
        }
    }
}

/// One tab running on its own thread. Dropping the handle closes the tab.
pub struct TabHandle {
    id: TabId,
    inbox: Sender<Input>,
    thread: Option<JoinHandle<()>>,
}

impl TabHandle {
    pub(crate) fn spawn<S: Store + Send + 'static>(
        shared: Arc<Shared>,
        id: TabId,
        config: HubConfig,
        factory: StoreFactory<S>,
    ) -> TabHandle {
        let (inbox, rx) = mpsc::channel();
        shared.join(id, inbox.clone());
        let thread = std::thread::Builder::new()
            .name(format!("lockstep-tab-{}", id.short()))
            .spawn(move || TabThread::new(shared, id, config, factory, rx).run())
            .expect("spawning a tab thread");
        TabHandle {
            id,
            inbox,
            thread: Some(thread),
        }
    }

    /// This tab's id.
    pub fn id(&self) -> TabId {
        self.id
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.inbox.send(Input::Command(make(tx))).ok()?;
        rx.recv().ok()
    }

    /// Starts keeping a collection in this tab (hydrates it from the leader).
    pub fn open_collection(&self, collection: &CollectionId) {
        let _ = self
            .inbox
            .send(Input::Command(Command::Open(collection.clone())));
    }

    /// Applies ops optimistically and sends them to the leader as one envelope.
    pub fn mutate(&self, ops: Vec<Op>) -> Result<Receipt, MutationError> {
        let (outcome_tx, outcome) = mpsc::channel();
        let envelope_id = self
            .ask(|reply| Command::Mutate {
                ops,
                outcome: outcome_tx,
                reply,
            })
            .unwrap_or(Err(MutationError::Empty))?;
        Ok(Receipt {
            envelope_id,
            outcome,
            settled: OnceLock::new(),
        })
    }

    /// Inserts one row.
    pub fn insert(
        &self,
        collection: &CollectionId,
        key: Key,
        value: Row,
    ) -> Result<Receipt, MutationError> {
        self.mutate(vec![Op::Insert {
            collection: collection.clone(),
            key,
            value: HeldRow::shared(value),
        }])
    }

    /// Replaces one row.
    pub fn update(
        &self,
        collection: &CollectionId,
        key: Key,
        value: Row,
    ) -> Result<Receipt, MutationError> {
        self.mutate(vec![Op::Update {
            collection: collection.clone(),
            key,
            value: HeldRow::shared(value),
        }])
    }

    /// Sets some fields of one row and keeps the others; the leader merges
    /// them into the row as it is when it commits, so concurrent patches of
    /// different fields from different windows both survive.
    pub fn patch(
        &self,
        collection: &CollectionId,
        key: Key,
        fields: Row,
    ) -> Result<Receipt, MutationError> {
        self.mutate(vec![Op::Patch {
            collection: collection.clone(),
            key,
            fields,
            unset: Vec::new(),
        }])
    }

    /// Deletes one row.
    pub fn delete(&self, collection: &CollectionId, key: Key) -> Result<Receipt, MutationError> {
        self.mutate(vec![Op::Delete {
            collection: collection.clone(),
            key,
        }])
    }

    /// The visible value of a row.
    pub fn get(&self, collection: &CollectionId, key: &Key) -> Option<SharedRow> {
        self.ask(|reply| Command::Get(collection.clone(), key.clone(), reply))
            .flatten()
    }

    /// The visible rows of a collection.
    pub fn snapshot(&self, collection: &CollectionId) -> Snapshot {
        self.ask(|reply| Command::Snapshot(collection.clone(), reply))
            .unwrap_or_default()
    }

    /// Reads a collection straight from the live database through the leader,
    /// whatever this tab holds (a debug console's view). Fails with
    /// [`WaitError::Failed`] when the leader's store could not read it.
    pub fn inspect(
        &self,
        collection: &CollectionId,
        timeout: Duration,
    ) -> Result<Vec<(Key, Row)>, WaitError> {
        let (tx, rx) = mpsc::channel();
        self.inbox
            .send(Input::Command(Command::Inspect(collection.clone(), tx)))
            .map_err(|_| WaitError::Closed)?;
        receive(&rx, timeout)?.map_err(WaitError::Failed)
    }

    /// Runs one read-only SQL statement on the live database through the
    /// leader (collections are views named after them). Fails with
    /// [`WaitError::Query`] when the statement is refused or fails.
    pub fn query(
        &self,
        sql: &str,
        params: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> Result<QueryRows, WaitError> {
        let (reply, rx) = mpsc::channel();
        let command = Command::Query {
            sql: sql.to_owned(),
            params,
            reply,
        };
        self.inbox
            .send(Input::Command(command))
            .map_err(|_| WaitError::Closed)?;
        receive(&rx, timeout)?.map_err(WaitError::Query)
    }

    /// The leader's description of the database (collections and their row
    /// counts, position, storage, counters). Fails with [`WaitError::Failed`]
    /// when the leader's store could not give one.
    pub fn describe(&self, timeout: Duration) -> Result<DatabaseReport, WaitError> {
        let (reply, rx) = mpsc::channel();
        self.inbox
            .send(Input::Command(Command::Describe(reply)))
            .map_err(|_| WaitError::Closed)?;
        receive(&rx, timeout)?.map_err(WaitError::Failed)
    }

    /// Whether the collection is open and current in this tab.
    pub fn is_ready(&self, collection: &CollectionId) -> bool {
        self.ask(|reply| Command::IsReady(collection.clone(), reply))
            .unwrap_or(false)
    }

    /// Where the tab stands (`None` once its thread is gone).
    pub fn status(&self) -> Option<TabStatus> {
        self.ask(Command::Status)
    }

    /// Calls `on_change` on the tab's thread with every visible change of the
    /// collection; with `include_current`, first with all current rows.
    pub fn subscribe(
        &self,
        collection: &CollectionId,
        include_current: bool,
        on_change: impl FnMut(&[ChangeEvent]) + Send + 'static,
    ) -> Option<SubscriptionId> {
        self.ask(|reply| Command::Subscribe {
            collection: collection.clone(),
            include_current,
            callback: Box::new(on_change),
            reply,
        })
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, subscription: SubscriptionId) {
        let _ = self
            .inbox
            .send(Input::Command(Command::Unsubscribe(subscription)));
    }

    /// Polls `condition` on this tab until it holds or `timeout` passes.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&TabHandle) -> bool,
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return Ok(());
            }
            if self.status().is_none() {
                return Err(WaitError::Closed);
            }
            if Instant::now() >= deadline {
                return Err(WaitError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until the collection is hydrated and current.
    pub fn wait_ready(
        &self,
        collection: &CollectionId,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        self.wait_until(timeout, |tab| tab.is_ready(collection))
    }

    /// Closes the tab in order: queued messages are sent, leadership released.
    pub fn close(mut self) {
        let _ = self.inbox.send(Input::Close);
        self.join();
    }

    /// Kills the tab at once: nothing queued is sent, like a crashed process.
    pub fn crash(mut self) {
        let _ = self.inbox.send(Input::Crash);
        self.join();
    }

    /// Makes the tab die right after its next commit as leader, before the
    /// commit is broadcast (fault injection for failover tests).
    pub fn crash_after_next_commit(&self) {
        let _ = self.inbox.send(Input::CrashAfterNextCommit);
    }

    /// Feeds raw bytes to this tab as if another context had broadcast them
    /// (hostile-input tests).
    pub fn inject(&self, bytes: Vec<u8>) {
        let _ = self.inbox.send(Input::Raw(bytes.into()));
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TabHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.inbox.send(Input::Close);
            self.join();
        }
    }
}
