//! Subscriptions: who is told about visible changes, and the change events
//! computed from the values of touched keys before and after a change.

use super::*;
use crate::hashing::RowIndexMap;

impl PersistedCollectionRuntime {
    /// Subscribes to the visible changes of a collection. With `include_current`,
    /// the first event lists every current row as an insert (once ready).
    pub fn subscribe(&mut self, collection: CollectionId, include_current: bool) -> SubscriptionId {
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        if include_current && self.is_ready(&collection) {
            let changes: Vec<ChangeEvent> = self
                .snapshot(&collection)
                .into_iter()
                .map(|(key, row)| ChangeEvent {
                    key,
                    before: None,
                    after: Some(row),
                })
                .collect();
            if !changes.is_empty() {
                self.events.push_back(Event::Changes {
                    subscription: id,
                    collection: collection.clone(),
                    changes: changes.into(),
                });
            }
        }
        self.subscriptions.insert(id, collection);
        id
    }

    /// Ends a subscription.
    pub fn unsubscribe(&mut self, subscription: SubscriptionId) {
        self.subscriptions.remove(&subscription);
    }

    /// Queues change events for the keys in `touched` whose visible value changed.
    pub(super) fn emit_changes(&mut self, touched: Touched) {
        for (collection_id, keys) in touched.keys {
            let Some(collection) = self.collections.get(&collection_id) else {
                continue;
            };
            if collection.hydration.is_some() {
                continue;
            }
            let changes: Vec<ChangeEvent> = keys
                .into_iter()
                .filter_map(|(key, before)| {
                    let after = collection.rows.visible(&key);
                    differs(&before, &after).then_some(ChangeEvent { key, before, after })
                })
                .collect();
            self.notify(&collection_id, changes);
        }
    }

    pub(super) fn notify(&mut self, collection: &CollectionId, changes: Vec<ChangeEvent>) {
        if changes.is_empty() {
            return;
        }
        let changes: Arc<[ChangeEvent]> = changes.into();
        for (subscription, subscribed) in &self.subscriptions {
            if subscribed == collection {
                self.events.push_back(Event::Changes {
                    subscription: *subscription,
                    collection: collection.clone(),
                    changes: changes.clone(),
                });
            }
        }
    }
}

/// Visible values of keys before a change, grouped by collection, so events
/// can report `before` and `after` once per key. Only for the collections
/// somebody subscribes to: the events of the others would be computed for
/// nobody (a 10,000-row write in a tab that does not listen looked up every
/// key's value before and after for them).
pub(super) struct Touched {
    watched: Vec<CollectionId>,
    keys: BTreeMap<CollectionId, RowIndexMap<Key, Option<SharedRow>>>,
}

impl Touched {
    /// Touched keys of the collections that `subscriptions` name.
    pub(super) fn watching(subscriptions: &BTreeMap<SubscriptionId, CollectionId>) -> Touched {
        let mut watched: Vec<CollectionId> = subscriptions.values().cloned().collect();
        watched.sort();
        watched.dedup();
        Touched {
            watched,
            keys: BTreeMap::new(),
        }
    }

    pub(super) fn before(&mut self, collection: &CollectionId, key: &Key, rows: &Rows) {
        // Looked up first: `entry` would clone the collection id for every key.
        if !self.keys.contains_key(collection) {
            if !self.watched.contains(collection) {
                return;
            }
            self.keys.insert(collection.clone(), RowIndexMap::default());
        }
        if let Some(keys) = self.keys.get_mut(collection) {
            // One look-up: the key is new in most calls (every key of an
            // insert), where the clone is needed anyway.
            if let indexmap::map::Entry::Vacant(slot) = keys.entry(key.clone()) {
                slot.insert(rows.visible(key));
            }
        }
    }
}
