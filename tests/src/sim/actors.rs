//! What tabs and other code do: tabs open, close, crash, reload and write;
//! other code writes straight into the store, valid rows and (on SQLite)
//! invalid ones.

use std::collections::BTreeMap;

use lockstep::{Key, Op, PersistedCollectionRuntime, Row, RuntimeConfig, TabId};

use super::net::Endpoint;
use super::store::{Invalid, SimStore};
use super::world::{Sim, SimTab};
use super::Outcome;

/// Envelope ids the forger may reuse (the most recent ones).
const RECENT_ENVELOPES: usize = 16;

impl<S: SimStore> Sim<S> {
    pub fn join(&mut self) -> Outcome<()> {
        let id = TabId::from_u128(
            u128::from(self.rng.next_u64()) << 64 | u128::from(self.rng.next_u64()),
        );
        let config = RuntimeConfig {
            bugs: self.config.core_bugs,
            ..RuntimeConfig::default()
        };
        let mut runtime = PersistedCollectionRuntime::new(self.db.clone(), id, config, self.now);
        for collection in &self.collections {
            runtime.open_collection(self.now, collection.clone());
            runtime.subscribe(collection.clone(), true);
        }
        self.tabs.insert(
            id,
            SimTab {
                runtime,
                frozen: false,
                heard: BTreeMap::new(),
            },
        );
        self.report.tabs_opened += 1;
        self.log(format!("tab {} opens", id.short()));
        self.lock_queue.push_back(id);
        self.grant()?;
        self.flush()
    }

    fn random_tab(&mut self) -> Option<TabId> {
        let ids: Vec<TabId> = self
            .tabs
            .iter()
            .filter(|(_, t)| !t.frozen)
            .map(|(id, _)| *id)
            .collect();
        self.rng.pick(&ids).copied()
    }

    /// Closes (or crashes) a tab; its coordinator, if any, goes with it.
    pub fn remove_tab(&mut self, id: TabId, crash: bool) -> Outcome<()> {
        self.log(format!(
            "tab {} {}",
            id.short(),
            if crash { "crashes" } else { "closes" }
        ));
        if !crash {
            self.flush()?;
        }
        self.tabs.remove(&id);
        self.gone_tabs.push(id);
        self.net.discard_to(Endpoint::Tab(id));
        self.lock_queue.retain(|t| *t != id);
        self.retries.retain(|(_, t)| *t != id);
        if self.freeze.as_ref().is_some_and(|f| f.tab == id) {
            self.freeze = None;
        }
        let hosted: Vec<u64> = self
            .leaders
            .iter()
            .filter(|(_, l)| l.host == id)
            .map(|(key, _)| *key)
            .collect();
        for key in hosted {
            self.leaders.remove(&key);
            self.net.discard_to(Endpoint::Leader(key));
        }
        if self.lock_holder == Some(id) {
            self.lock_holder = None;
            self.grant()?;
        }
        Ok(())
    }

    pub fn close_random(&mut self, crash: bool) -> Outcome<()> {
        match self.random_tab() {
            Some(id) => self.remove_tab(id, crash),
            None => Ok(()),
        }
    }

    pub fn reload_random(&mut self) -> Outcome<()> {
        let Some(id) = self.random_tab() else {
            return Ok(());
        };
        let crash = self.rng.chance(0.5);
        self.remove_tab(id, crash)?;
        self.join()
    }

    /// A random tab writes 1–3 rows of one ready collection.
    pub fn mutate(&mut self) -> Outcome<()> {
        let Some(id) = self.random_tab() else {
            return Ok(());
        };
        let collection =
            self.collections[self.rng.below(self.collections.len() as u64) as usize].clone();
        let count = 1 + self.rng.below(3);
        let mut keys: Vec<Key> = (0..count)
            .map(|_| Key::Int(self.rng.below(self.config.keys) as i64))
            .collect();
        keys.sort();
        keys.dedup();
        let stamp = self.rng.below(1_000_000);
        let Some(tab) = self.tabs.get_mut(&id) else {
            return Ok(());
        };
        if !tab.runtime.is_ready(&collection) {
            return Ok(());
        }
        let ops: Vec<Op> = keys
            .into_iter()
            .map(|key| {
                let value: Row = serde_json::json!({"by": id.short(), "stamp": stamp})
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                match tab.runtime.get(&collection, &key) {
                    None => Op::Insert {
                        collection: collection.clone(),
                        key,
                        value: lockstep::HeldRow::shared(value),
                    },
                    Some(_) if stamp.is_multiple_of(3) => Op::Delete {
                        collection: collection.clone(),
                        key,
                    },
                    Some(_) => Op::Update {
                        collection: collection.clone(),
                        key,
                        value: lockstep::HeldRow::shared(value),
                    },
                }
            })
            .collect();
        if let Ok(envelope) = tab.runtime.mutate(self.now, ops) {
            self.log(format!(
                "tab {} writes envelope {}",
                id.short(),
                &envelope.to_string()[24..]
            ));
            if self.recent_envelopes.len() == RECENT_ENVELOPES {
                self.recent_envelopes.pop_front();
            }
            self.recent_envelopes.push_back(envelope);
        }
        self.flush()
    }

    /// Other code writes straight into the store (invariant 9); on SQLite a
    /// quarter of its writes are rows Lockstep must ignore: a value that is
    /// not an object, or a key in a non-canonical form.
    pub fn external_write(&mut self) -> Outcome<()> {
        let collection =
            self.collections[self.rng.below(self.collections.len() as u64) as usize].clone();
        let key = self.rng.below(self.config.keys) as i64;
        if self.rng.chance(0.25) {
            let how =
                [Invalid::Value, Invalid::FloatKey, Invalid::SpacedKey][self.rng.below(3) as usize];
            if self.observer.write_invalid(&collection, key, how) {
                self.report.invalid_writes += 1;
                self.log(format!(
                    "other code writes an invalid row ({how:?}) at {collection}/{key}"
                ));
                return Ok(());
            }
        }
        let value: Option<Row> = (!self.rng.chance(0.3)).then(|| {
            serde_json::json!({"external": self.rng.below(1000)})
                .as_object()
                .cloned()
                .unwrap_or_default()
        });
        self.log(format!(
            "other code writes {collection}/{key} straight into the store"
        ));
        self.observer
            .write_external(&collection, &Key::Int(key), value.as_ref());
        Ok(())
    }
}
