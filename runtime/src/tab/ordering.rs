//! Ordered, gap-free application of committed transactions: the early
//! buffer, `PullSince` for gaps, `PullTx` fetches of `requires_pull`
//! headers, and full reloads when the change log no longer reaches back.

use super::*;
use crate::changes_of;
use crate::hashing::RowHashMap;

impl PersistedCollectionRuntime {
    pub(super) fn receive_tx(&mut self, now: Timestamp, tx: TxCommitted) {
        self.known_seq = self.known_seq.max(tx.seq);
        if self.applied.is_some_and(|applied| tx.seq <= applied) {
            self.stats.duplicate_txs += 1;
            return;
        }
        // A full copy (from a pull) replaces a header; a header never replaces a full copy.
        if !tx.requires_pull || !self.early.contains_key(&tx.seq) {
            self.early.insert(tx.seq, tx);
        }
        self.advance(now);
    }

    /// The leader committed this tab's envelope `envelope_id` at `position`
    /// (it is this tab's own worker): the commit's changes are what the
    /// envelope's ops make, with the rows of patches from `patched`, so the
    /// tab applies them without the broadcast's copy of the rows. Once the
    /// tab has applied the commit (a copy came first) it is a duplicate;
    /// without the envelope or one of its patched rows the tab only learns
    /// the position, and pulls what it lacks.
    pub(super) fn receive_acknowledged(
        &mut self,
        now: Timestamp,
        envelope_id: EnvelopeId,
        position: StreamPosition,
        patched: Vec<Change>,
    ) {
        if self.applied.is_some_and(|applied| position.seq <= applied) {
            self.stats.duplicate_txs += 1;
            return;
        }
        let rows: RowHashMap<(&CollectionId, &Key), &SharedRow> = patched
            .iter()
            .filter_map(|c| Some(((&c.collection, &c.key), c.value.as_ref()?)))
            .collect();
        let changes = self.pending.get(&envelope_id).and_then(|pending| {
            let ops = &pending.envelope.ops;
            changes_of(ops, |index| {
                let row = rows.get(&(ops[index].collection(), ops[index].key()))?;
                Some(SharedRow::clone(row))
            })
        });
        match changes {
            Some(changes) => self.receive_tx(
                now,
                TxCommitted {
                    term: position.term,
                    seq: position.seq,
                    envelope_id: Some(envelope_id),
                    origin: Some(self.me),
                    changes,
                    requires_pull: false,
                },
            ),
            None => self.observe_position(now, position.seq),
        }
    }

    /// Applies buffered transactions strictly in seq order: starts a fetch for
    /// a `requires_pull` header, a pull for a gap, and waits for either.
    pub(super) fn advance(&mut self, now: Timestamp) {
        while let Some(applied) = self.applied {
            if self.fetch.is_some() {
                break;
            }
            let Some(entry) = self.early.first_entry() else {
                break;
            };
            if *entry.key() <= applied {
                entry.remove();
                self.stats.duplicate_txs += 1;
            } else if *entry.key() != applied.next() {
                self.request_pull(now);
                break;
            } else {
                let tx = entry.remove();
                if tx.requires_pull {
                    let request = self.next_request();
                    self.fetch = Some(Fetch {
                        request,
                        header: tx,
                        changes: Vec::new(),
                        sent_at: now,
                    });
                    self.send_fetch(now);
                    break;
                }
                self.apply_tx(tx);
            }
        }
        if self.fetch.is_none() && self.applied.is_some_and(|applied| applied < self.known_seq) {
            self.request_pull(now);
        }
        self.finish_hydrations();
    }

    /// Asks the leader for the next part of the transaction being fetched.
    pub(super) fn send_fetch(&mut self, now: Timestamp) {
        let request = self.next_request();
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        fetch.request = request;
        fetch.sent_at = now;
        let (seq, offset) = (fetch.header.seq, fetch.changes.len() as u32);
        self.send(Body::PullTx {
            request,
            seq,
            offset,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn receive_tx_part(
        &mut self,
        now: Timestamp,
        request: u64,
        seq: Seq,
        offset: u32,
        changes: Vec<Change>,
        total: u32,
        position: StreamPosition,
        missing: bool,
    ) {
        let Some(fetch) = self
            .fetch
            .as_mut()
            .filter(|f| f.request == request && f.header.seq == seq)
        else {
            return;
        };
        if missing {
            self.fetch = None;
            self.reload_all(now, position.seq);
            return;
        }
        if offset as usize != fetch.changes.len()
            || (changes.is_empty() && fetch.changes.len() < total as usize)
        {
            return;
        }
        fetch.changes.extend(changes);
        if fetch.changes.len() < total as usize {
            self.send_fetch(now);
            return;
        }
        let fetch = self.fetch.take().expect("checked above");
        self.apply_tx(TxCommitted {
            changes: fetch.changes,
            requires_pull: false,
            ..fetch.header
        });
        self.advance(now);
    }

    /// Applies the next transaction in seq order.
    pub(super) fn apply_tx(&mut self, tx: TxCommitted) {
        let position = tx.position();
        // This tab's own envelope: rows it already shows settle silently.
        let own = tx.envelope_id.filter(|id| self.pending.contains_key(id));
        let mut touched = Touched::watching(&self.subscriptions);
        let mut streamed: BTreeMap<CollectionId, Vec<(Key, Option<SharedRow>)>> = BTreeMap::new();
        for change in tx.changes {
            let Some(collection) = self.collections.get_mut(&change.collection) else {
                continue;
            };
            match collection.mode {
                CollectionMode::Rows => {
                    let (key, value) = match own {
                        Some(envelope) => {
                            match collection
                                .rows
                                .settle_own(change.key, envelope, change.value)
                            {
                                Some(unsettled) => unsettled,
                                None => continue,
                            }
                        }
                        None => (change.key, change.value),
                    };
                    touched.before(&change.collection, &key, &collection.rows);
                    collection.rows.set_synced(key, value);
                }
                CollectionMode::Stream | CollectionMode::OnDemand => streamed
                    .entry(change.collection)
                    .or_default()
                    .push((change.key, change.value)),
            }
        }
        self.applied = Some(tx.seq);
        // The app's store gets the rows before the writer hears "committed".
        for (collection_id, changes) in streamed {
            let collection = self
                .collections
                .get_mut(&collection_id)
                .expect("listed above");
            if let Some(seen) = collection.hydration.as_mut().and_then(|h| h.seen.as_mut()) {
                seen.extend(changes.iter().map(|(key, _)| key.clone()));
            }
            collection.subsets.note_commit(tx.seq, &changes);
            collection.streamed = true;
            self.events.push_back(Event::Synced {
                collection: collection_id,
                batch: SyncBatch::Commit { position, changes },
            });
        }
        if let Some(envelope_id) = tx.envelope_id {
            if let Some(pending) = self.pending.shift_remove(&envelope_id) {
                self.drop_overlay(&pending.envelope, &mut touched);
                self.events.push_back(Event::Committed {
                    envelope_id,
                    position: StreamPosition {
                        term: tx.term,
                        seq: tx.seq,
                    },
                });
            }
        }
        self.emit_changes(touched);
        self.deliver_parked_pages();
        self.settle_acknowledged();
    }

    pub(super) fn request_pull(&mut self, now: Timestamp) {
        let (Some(applied), Some(_)) = (self.applied, self.leader) else {
            return;
        };
        // One request at a time; a fetch in progress comes first, then `advance` resumes.
        if self.pull.is_some() || self.fetch.is_some() {
            return;
        }
        let id = self.next_request();
        self.pull = Some(PullRequest { id, sent_at: now });
        self.stats.pulls += 1;
        self.send(Body::PullSince {
            request: id,
            after: applied,
            limit: self.config.pull_page_txs,
        });
    }

    pub(super) fn receive_pull_page(
        &mut self,
        now: Timestamp,
        request: u64,
        txs: Vec<TxCommitted>,
        position: StreamPosition,
        truncated: bool,
    ) {
        if self.pull.is_none_or(|p| p.id != request) {
            return;
        }
        self.pull = None;
        // The leader's answer is authoritative: a higher seq seen elsewhere
        // (a forged message) must not keep this tab pulling.
        self.known_seq = position.seq;
        if truncated {
            self.reload_all(now, position.seq);
            return;
        }
        let progressed = txs
            .iter()
            .any(|tx| self.applied.is_none_or(|applied| tx.seq > applied));
        for tx in txs {
            self.receive_tx(now, tx);
        }
        if progressed {
            self.observe_position(now, position.seq);
        }
    }

    /// The change log no longer reaches back to this tab's position: jump to
    /// the leader's position and re-hydrate every open collection.
    pub(super) fn reload_all(&mut self, now: Timestamp, leader_seq: Seq) {
        self.stats.reloads += 1;
        self.applied = Some(leader_seq);
        self.early = self.early.split_off(&leader_seq.next());
        self.fetch = None;
        let open: Vec<CollectionId> = self.collections.keys().cloned().collect();
        for collection in open {
            self.start_hydration(now, &collection);
        }
        self.advance(now);
    }
}
