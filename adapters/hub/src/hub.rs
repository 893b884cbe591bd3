//! [`Hub`]: the broadcast channel and the leadership queue shared by the tabs
//! of one database in this process.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use lockstep::{
    ConfigError, CoordinatorConfig, DatabaseId, RuntimeConfig, Store, StoreError, TabId,
    UploadBatch,
};

use crate::clock::Clock;
use crate::tab::TabHandle;
use crate::thread::{Input, Role};

/// Opens the store for a tab that just became leader. Called on the tab's thread.
pub type StoreFactory<S> = Arc<dyn Fn() -> Result<S, StoreError> + Send + Sync>;

/// The app's uploader: sends a batch of committed envelopes to a server and
/// returns whether it was accepted. Runs only on the leader's thread.
pub type Uploader = Arc<dyn Fn(&UploadBatch) -> bool + Send + Sync>;

/// Settings of a hub.
#[derive(Clone, Default)]
pub struct HubConfig {
    /// Settings of each tab's runtime ([`Hub::new`] checks them).
    pub runtime: RuntimeConfig,
    /// Settings of the leader's coordinator ([`Hub::new`] checks them).
    pub coordinator: CoordinatorConfig,
    /// Uploads the durable outbox when set (enables the outbox).
    pub uploader: Option<Uploader>,
}

struct Endpoint {
    tab: TabId,
    inbox: Sender<Input>,
}

#[derive(Default)]
struct LeaderLock {
    holder: Option<TabId>,
    waiting: VecDeque<TabId>,
}

pub(crate) struct Shared {
    pub db: DatabaseId,
    pub clock: Clock,
    endpoints: Mutex<Vec<Endpoint>>,
    lock: Mutex<LeaderLock>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Delivers `bytes` from `(from, role)` to every other endpoint; the
    /// tab `skips` (see `Message::skips`) does not read them.
    pub fn post(&self, from: TabId, role: Role, skips: Option<TabId>, bytes: Arc<[u8]>) {
        for endpoint in lock(&self.endpoints).iter() {
            let _ = endpoint.inbox.send(Input::Post {
                from,
                role,
                skips,
                bytes: bytes.clone(),
            });
        }
    }

    pub fn join(&self, tab: TabId, inbox: Sender<Input>) {
        lock(&self.endpoints).push(Endpoint { tab, inbox });
    }

    /// Queues `tab` for leadership; grants it at once when nobody holds it.
    pub fn request_leadership(&self, tab: TabId) {
        let mut l = lock(&self.lock);
        if l.holder == Some(tab) || l.waiting.contains(&tab) {
            return;
        }
        l.waiting.push_back(tab);
        self.grant_next(&mut l);
    }

    /// Releases leadership (or leaves the queue) and grants the next in line.
    pub fn release_leadership(&self, tab: TabId) {
        let mut l = lock(&self.lock);
        l.waiting.retain(|t| *t != tab);
        if l.holder == Some(tab) {
            l.holder = None;
        }
        self.grant_next(&mut l);
    }

    fn grant_next(&self, l: &mut LeaderLock) {
        if l.holder.is_some() {
            return;
        }
        if let Some(next) = l.waiting.pop_front() {
            l.holder = Some(next);
            if let Some(endpoint) = lock(&self.endpoints).iter().find(|e| e.tab == next) {
                let _ = endpoint.inbox.send(Input::LeadershipGranted);
            }
        }
    }

    /// Removes a tab that closed or crashed, releasing anything it held.
    pub fn leave(&self, tab: TabId) {
        lock(&self.endpoints).retain(|e| e.tab != tab);
        self.release_leadership(tab);
    }

    /// The tab holding leadership, if any.
    pub fn holder(&self) -> Option<TabId> {
        lock(&self.lock).holder
    }
}

/// One database shared by the tabs (threads) of this process.
pub struct Hub<S: Store + Send + 'static> {
    shared: Arc<Shared>,
    config: HubConfig,
    factory: StoreFactory<S>,
    next_tab: Mutex<u128>,
}

impl<S: Store + Send + 'static> Hub<S> {
    /// A hub for database `db` whose leaders open their store with
    /// `factory`. Settings that cannot work (a page size, period or limit
    /// of 0, a dedup window too short to cover a resend) are refused here,
    /// with the field named, rather than by each tab's runtime or each
    /// leader's coordinator later on its own thread.
    ///
    /// ```
    /// use lockstep::{ConfigError, CoordinatorConfig, DatabaseId, MemoryStore, RuntimeConfig};
    /// use lockstep_hub::{Hub, HubConfig};
    /// let db = DatabaseId::new("todo", "user-1").unwrap();
    /// let store = MemoryStore::new();
    /// let runtime = RuntimeConfig { hydrate_page_rows: 0, ..RuntimeConfig::default() };
    /// let config = HubConfig { runtime, ..HubConfig::default() };
    /// let refused = Hub::new(db.clone(), config, move || Ok(store.clone()));
    /// assert_eq!(refused.err(), Some(ConfigError::RuntimeZero { field: "hydrate_page_rows" }));
    ///
    /// let coordinator = CoordinatorConfig { max_pull_page: 0, ..CoordinatorConfig::default() };
    /// let config = HubConfig { coordinator, ..HubConfig::default() };
    /// let refused = Hub::new(db, config, || Ok(MemoryStore::new()));
    /// assert_eq!(refused.err(), Some(ConfigError::Zero { field: "max_pull_page" }));
    /// ```
    pub fn new(
        db: DatabaseId,
        config: HubConfig,
        factory: impl Fn() -> Result<S, StoreError> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        config.runtime.validate()?;
        config.coordinator.validate()?;
        let clock = Clock::new();
        let seed = u128::from(clock.now().0) << 64 ^ u128::from(std::process::id()) << 32;
        Ok(Hub {
            shared: Arc::new(Shared {
                db,
                clock,
                endpoints: Mutex::default(),
                lock: Mutex::default(),
            }),
            config,
            factory: Arc::new(factory),
            next_tab: Mutex::new(seed),
        })
    }

    /// Opens a new tab on its own thread. It joins the broadcast channel and
    /// queues for leadership at once.
    pub fn open_tab(&self) -> TabHandle {
        let bits = {
            let mut n = lock(&self.next_tab);
            *n = n.wrapping_add(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            *n
        };
        TabHandle::spawn(
            self.shared.clone(),
            TabId::from_u128(bits),
            self.config.clone(),
            self.factory.clone(),
        )
    }

    /// The tab currently holding leadership, if any.
    pub fn leader(&self) -> Option<TabId> {
        self.shared.holder()
    }

    /// The database this hub serves.
    pub fn db(&self) -> &DatabaseId {
        &self.shared.db
    }
}
