//! Hydration: loading a collection page by page from the leader, and
//! declaring it ready once its rows are as recent as the newest page.

use super::*;

impl PersistedCollectionRuntime {
    pub(super) fn start_hydration(&mut self, now: Timestamp, collection: &CollectionId) {
        if self.mode(collection) == Some(CollectionMode::OnDemand) {
            self.restart_subsets(now, collection);
            return;
        }
        let request = self.next_request();
        let Some(c) = self.collections.get_mut(collection) else {
            return;
        };
        let before = match &c.hydration {
            Some(h) => h.before.clone(),
            None => c.rows.snapshot(),
        };
        let seen = (c.mode == CollectionMode::Stream && c.streamed).then(BTreeSet::new);
        c.hydration = Some(Hydration {
            request,
            sent_at: None,
            cursor: None,
            cleared: false,
            pages_done: false,
            upto: Seq(0),
            loaded: 0,
            total: None,
            before,
            seen,
        });
        self.send_hydrate(now, collection);
    }

    pub(super) fn send_hydrate(&mut self, now: Timestamp, collection: &CollectionId) {
        if self.leader.is_none() {
            return;
        }
        let request = self.next_request();
        let limit = self.config.hydrate_page_rows;
        let Some(h) = self
            .collections
            .get_mut(collection)
            .and_then(|c| c.hydration.as_mut())
        else {
            return;
        };
        h.request = request;
        h.sent_at = Some(now);
        let after = h.cursor.clone();
        self.send(Body::Hydrate {
            request,
            collection: collection.clone(),
            after,
            limit,
        });
    }

    /// Applies one page of a hydration. The request for the next page is
    /// queued and handed to `send` before this page's rows are applied.
    pub(super) fn receive_hydrate_page(
        &mut self,
        now: Timestamp,
        page: HydratePage,
        send: SendFirst<'_>,
    ) {
        let HydratePage {
            request,
            collection: collection_id,
            position,
            rows,
            more,
            total,
        } = page;
        let Some(collection) = self.collections.get_mut(&collection_id) else {
            return;
        };
        let Some(h) = collection
            .hydration
            .as_mut()
            .filter(|h| h.request == request && !h.pages_done)
        else {
            return;
        };
        if !h.cleared {
            collection.rows.synced = Snapshot::new();
            h.cleared = true;
        }
        h.upto = h.upto.max(position.seq);
        h.loaded += rows.len();
        h.total = total.or(h.total);
        if let Some(last) = rows.last() {
            h.cursor = Some(last.key().clone());
        }
        h.sent_at = None;
        if more {
            self.send_hydrate(now, &collection_id);
            send(self);
        }
        let Some(collection) = self.collections.get_mut(&collection_id) else {
            return;
        };
        let Some(h) = collection.hydration.as_mut() else {
            return;
        };
        match collection.mode {
            CollectionMode::Rows => {
                let invalid = &mut self.stats.dropped.invalid;
                // Collected in place: the page's own list is reused, not a second one made.
                let held = rows
                    .into_iter()
                    .filter_map(|row| row.into_held().map_err(|_| *invalid += 1).ok())
                    .collect();
                // A page comes in key order: inserted so the map's nodes end full.
                packed::insert_run(&mut collection.rows.synced, held);
            }
            // The rows go to the app as the leader sent them: the app parses them.
            CollectionMode::Stream | CollectionMode::OnDemand => {
                if let Some(seen) = h.seen.as_mut() {
                    seen.extend(rows.iter().map(|row| row.key().clone()));
                }
                collection.streamed = true;
                self.events.push_back(Event::Synced {
                    collection: collection_id.clone(),
                    batch: SyncBatch::Rows { rows, subset: None },
                });
            }
        }
        let loaded = h.loaded;
        // Rows inserted during the load may carry it past the count.
        let rows_total = h
            .total
            .map(|total| usize::try_from(total).unwrap_or(usize::MAX).max(loaded));
        if more {
            self.events.push_back(Event::Progress {
                collection: collection_id.clone(),
                rows_loaded: loaded,
                rows_total,
            });
        } else {
            h.pages_done = true;
            self.events.push_back(Event::Progress {
                collection: collection_id,
                rows_loaded: loaded,
                rows_total,
            });
        }
        self.observe_position(now, position.seq);
    }

    /// Marks collections ready whose pages are all in and whose rows are at
    /// least as recent as the newest page.
    pub(super) fn finish_hydrations(&mut self) {
        let Some(applied) = self.applied else { return };
        // On-demand collections load nothing up front: ready as soon as the
        // tab knows the leader's position, so their loads are answered.
        for (id, c) in self.collections.iter_mut() {
            if c.mode == CollectionMode::OnDemand && !c.subsets.ready {
                c.subsets.ready = true;
                self.events.push_back(Event::Ready {
                    collection: id.clone(),
                });
            }
        }
        let done: Vec<CollectionId> = self
            .collections
            .iter()
            .filter(|(_, c)| {
                c.hydration
                    .as_ref()
                    .is_some_and(|h| h.pages_done && applied >= h.upto)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if done.is_empty() {
            return;
        }
        for collection_id in done {
            let collection = self
                .collections
                .get_mut(&collection_id)
                .expect("listed above");
            let hydration = collection.hydration.take().expect("listed above");
            if collection.mode.streams() {
                if let Some(keys) = hydration.seen {
                    self.events.push_back(Event::Synced {
                        collection: collection_id.clone(),
                        batch: SyncBatch::Retain { keys },
                    });
                }
                self.events.push_back(Event::Ready {
                    collection: collection_id,
                });
                continue;
            }
            // Nobody listens: no diff of the whole collection for nobody
            // (at 100,000 rows its events held more memory than the rows).
            let watched = self.subscriptions.values().any(|c| *c == collection_id);
            let now = collection.rows.snapshot();
            let changes: Vec<ChangeEvent> = if !watched {
                Vec::new()
            } else {
                hydration
                    .before
                    .diff(&now)
                    .filter_map(|item| match item {
                        im::ordmap::DiffItem::Add(k, v) => Some(ChangeEvent {
                            key: k.clone(),
                            before: None,
                            after: Some(v.clone()),
                        }),
                        im::ordmap::DiffItem::Remove(k, v) => Some(ChangeEvent {
                            key: k.clone(),
                            before: Some(v.clone()),
                            after: None,
                        }),
                        im::ordmap::DiffItem::Update {
                            old: (k, a),
                            new: (_, b),
                        } => (a != b).then(|| ChangeEvent {
                            key: k.clone(),
                            before: Some(a.clone()),
                            after: Some(b.clone()),
                        }),
                    })
                    .collect()
            };
            self.events.push_back(Event::Ready {
                collection: collection_id.clone(),
            });
            self.notify(&collection_id, changes);
        }
        self.settle_acknowledged();
    }
}

/// The rows of a page, parsed; a row whose value does not parse as a row (a
/// number beyond the range of `f64`, say) is dropped and counted in `invalid`.
pub(super) fn parse_page_rows(rows: Vec<PageRow>, invalid: &mut u64) -> Vec<KeyedRow> {
    rows.into_iter()
        .filter_map(|row| match row.into_keyed() {
            Ok(row) => Some(row),
            Err(_) => {
                *invalid += 1;
                None
            }
        })
        .collect()
}
