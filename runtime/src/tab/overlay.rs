//! The optimistic overlay: local mutations shown at once, queued as
//! envelopes, and dropped when the leader commits or refuses them.

use super::*;
use crate::hashing::RowHashMap;
use crate::HeldRow;

impl PersistedCollectionRuntime {
    /// Applies `ops` optimistically and queues them as one envelope for the
    /// leader. Checked against the visible view first; nothing changes on error.
    pub fn mutate(&mut self, now: Timestamp, ops: Vec<Op>) -> Result<EnvelopeId, MutationError> {
        self.mutate_sending_first(now, ops, |_| {})
    }

    /// [`mutate`](Self::mutate), handing the runtime to `send` once the
    /// envelope is queued and before this tab applies the ops, so a driver
    /// can post the envelope (drain [`poll_transmit`](Self::poll_transmit))
    /// and the leader writes it while this tab applies it. `send` is not
    /// called when the ops are refused.
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("todo", "user-1").unwrap();
    /// let todos = CollectionId::new("todos").unwrap();
    /// let now = Timestamp(0);
    /// let mut leader = Coordinator::start(MemoryStore::new(), db.clone(), TabId::from_u128(1), CoordinatorConfig::default(), now).unwrap();
    /// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), now);
    /// tab.open_collection(now, todos.clone());
    /// # fn pump(leader: &mut Coordinator<MemoryStore>, tab: &mut PersistedCollectionRuntime, now: Timestamp) {
    /// #     loop {
    /// #         let mut quiet = true;
    /// #         while let Some(m) = tab.poll_transmit() { leader.handle_bytes(now, &m.encode()); quiet = false; }
    /// #         while let Some(m) = leader.poll_transmit() { tab.handle_bytes(now, &m.encode()); quiet = false; }
    /// #         if quiet { break }
    /// #     }
    /// # }
    /// pump(&mut leader, &mut tab, now);
    ///
    /// let row = HeldRow::shared(serde_json::json!({"title": "write docs"}).as_object().unwrap().clone());
    /// let ops = vec![Op::Insert { collection: todos.clone(), key: Key::from("a"), value: row }];
    /// tab.mutate_sending_first(now, ops, |tab| {
    ///     // The envelope is queued; this tab does not show the row yet.
    ///     assert!(tab.get(&todos, &Key::from("a")).is_none());
    ///     while let Some(m) = tab.poll_transmit() { leader.handle_bytes(now, &m.encode()); }
    /// })
    /// .unwrap();
    /// assert_eq!(tab.get(&todos, &Key::from("a")).unwrap()["title"], "write docs");
    /// pump(&mut leader, &mut tab, now);
    /// assert_eq!(tab.status().applied, Some(Seq(1)));
    ///
    /// // A refused write (the key exists) calls nothing.
    /// let row = HeldRow::shared(Row::new());
    /// let again = vec![Op::Insert { collection: todos.clone(), key: Key::from("a"), value: row }];
    /// let mut called = false;
    /// assert!(tab.mutate_sending_first(now, again, |_| called = true).is_err());
    /// assert!(!called);
    /// ```
    pub fn mutate_sending_first(
        &mut self,
        now: Timestamp,
        ops: Vec<Op>,
        send: impl FnOnce(&mut Self),
    ) -> Result<EnvelopeId, MutationError> {
        if ops.is_empty() {
            return Err(MutationError::Empty);
        }
        check_ops(&ops, &self.config.limits)?;
        // Whether each key touched so far has a row after the ops before
        // this one. Hashed, not ordered: a 10,000-row write looks every key
        // up here, before the envelope is posted.
        let mut scratch: RowHashMap<(&CollectionId, &Key), bool> =
            RowHashMap::with_capacity_and_hasher(ops.len(), Default::default());
        for op in &ops {
            let collection = self
                .collections
                .get(op.collection())
                .ok_or_else(|| MutationError::CollectionNotOpen(op.collection().clone()))?;
            if collection.mode.streams() {
                return Err(MutationError::Streamed(op.collection().clone()));
            }
            if collection.hydration.is_some() {
                return Err(MutationError::NotReady(op.collection().clone()));
            }
            let exists = scratch
                .entry((op.collection(), op.key()))
                .or_insert_with(|| collection.rows.visible(op.key()).is_some());
            match op {
                Op::Insert { .. } if *exists => {
                    return Err(MutationError::KeyExists {
                        collection: op.collection().clone(),
                        key: op.key().clone(),
                    })
                }
                Op::Update { .. } | Op::Patch { .. } | Op::Delete { .. } if !*exists => {
                    return Err(MutationError::KeyMissing {
                        collection: op.collection().clone(),
                        key: op.key().clone(),
                    })
                }
                _ => *exists = !matches!(op, Op::Delete { .. }),
            }
        }
        let envelope_id = self.new_envelope_id(now)?;
        self.queue_envelope(now, envelope_id, ops);
        send(self);
        let mut touched = Touched::watching(&self.subscriptions);
        let ops = &self.pending[&envelope_id].envelope.ops;
        for op in ops {
            let collection = self
                .collections
                .get_mut(op.collection())
                .expect("checked above");
            touched.before(op.collection(), op.key(), &collection.rows);
            collection
                .rows
                .push_optimistic(op.key().clone(), envelope_id, LayerOp::of(op));
        }
        self.emit_changes(touched);
        Ok(envelope_id)
    }

    /// Queues `ops` as one envelope for the leader without applying them in
    /// this tab: for stream-mode collections, whose rows and optimistic state
    /// the app keeps itself. Only limits are checked here; the leader checks
    /// the rest and the answer comes as [`Event::Committed`] (once this tab
    /// has applied the commit, so the app's store already holds its rows) or
    /// [`Event::Rejected`].
    pub fn submit(&mut self, now: Timestamp, ops: Vec<Op>) -> Result<EnvelopeId, MutationError> {
        if ops.is_empty() {
            return Err(MutationError::Empty);
        }
        check_ops(&ops, &self.config.limits)?;
        let envelope_id = self.new_envelope_id(now)?;
        self.queue_envelope(now, envelope_id, ops);
        Ok(envelope_id)
    }

    /// This tab's writes not yet confirmed, oldest first.
    pub fn pending_writes(&self) -> Vec<PendingWrite> {
        self.pending
            .iter()
            .map(|(id, pending)| {
                let mut collections: Vec<CollectionId> = Vec::new();
                for op in &pending.envelope.ops {
                    if !collections.contains(op.collection()) {
                        collections.push(op.collection().clone());
                    }
                }
                PendingWrite {
                    envelope_id: *id,
                    collections,
                    ops: pending.envelope.ops.len(),
                    sent: pending.sent_at.is_some(),
                    committed_at: pending.committed_at,
                }
            })
            .collect()
    }

    fn new_envelope_id(&mut self, now: Timestamp) -> Result<EnvelopeId, MutationError> {
        let envelope_id = EnvelopeId::new_v7(now.0, self.rng.bytes10());
        if self.pending.contains_key(&envelope_id) {
            return Err(InvalidInput::DuplicateEnvelope(envelope_id).into());
        }
        Ok(envelope_id)
    }

    /// Sends the envelope now if a leader is known, and keeps it pending.
    fn queue_envelope(&mut self, now: Timestamp, envelope_id: EnvelopeId, ops: Vec<Op>) {
        let envelope = Envelope {
            envelope_id,
            origin: self.me,
            ops,
        };
        let sent_at = self.leader.map(|_| now);
        if sent_at.is_some() {
            self.send(Body::Envelope(envelope.clone()));
        }
        self.pending.insert(
            envelope_id,
            Pending {
                envelope,
                sent_at,
                committed_at: None,
            },
        );
    }

    /// Inserts one row. See [`mutate`](Self::mutate).
    pub fn insert(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
        value: Row,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(
            now,
            vec![Op::Insert {
                collection,
                key,
                value: HeldRow::shared(value),
            }],
        )
    }

    /// Replaces one row. See [`mutate`](Self::mutate).
    pub fn update(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
        value: Row,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(
            now,
            vec![Op::Update {
                collection,
                key,
                value: HeldRow::shared(value),
            }],
        )
    }

    /// Sets some fields of one row, keeping the others; the leader merges them
    /// into the row as it is when it commits. See [`mutate`](Self::mutate).
    pub fn patch(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
        fields: Row,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(
            now,
            vec![Op::Patch {
                collection,
                key,
                fields,
                unset: Vec::new(),
            }],
        )
    }

    /// Deletes one row. See [`mutate`](Self::mutate).
    pub fn delete(
        &mut self,
        now: Timestamp,
        collection: CollectionId,
        key: Key,
    ) -> Result<EnvelopeId, MutationError> {
        self.mutate(now, vec![Op::Delete { collection, key }])
    }

    /// Removes pending envelopes known to be committed at or before `applied`.
    pub(super) fn settle_acknowledged(&mut self) {
        let Some(applied) = self.applied else { return };
        let done: Vec<EnvelopeId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.committed_at.is_some_and(|c| c.seq <= applied))
            // Until a reloading collection holds the commit's rows, the
            // pending change stays on top (no moment where the row is missing).
            .filter(|(_, p)| {
                p.envelope.ops.iter().all(|op| {
                    self.collections
                        .get(op.collection())
                        .is_none_or(|c| c.hydration.is_none())
                })
            })
            .map(|(id, _)| *id)
            .collect();
        let mut touched = Touched::watching(&self.subscriptions);
        for id in done {
            let pending = self.pending.shift_remove(&id).expect("listed above");
            self.drop_overlay(&pending.envelope, &mut touched);
            let position = pending.committed_at.unwrap_or_default();
            self.events.push_back(Event::Committed {
                envelope_id: id,
                position,
            });
        }
        self.emit_changes(touched);
    }

    pub(super) fn reject(&mut self, envelope_id: EnvelopeId, rejection: Rejection) {
        let Some(pending) = self.pending.shift_remove(&envelope_id) else {
            return;
        };
        let mut touched = Touched::watching(&self.subscriptions);
        self.drop_overlay(&pending.envelope, &mut touched);
        self.emit_changes(touched);
        self.events.push_back(Event::Rejected {
            envelope_id,
            rejection,
        });
    }

    pub(super) fn drop_overlay(&mut self, envelope: &Envelope, touched: &mut Touched) {
        for op in &envelope.ops {
            if let Some(collection) = self
                .collections
                .get_mut(op.collection())
                .filter(|c| c.rows.has_layer(op.key(), envelope.envelope_id))
            {
                touched.before(op.collection(), op.key(), &collection.rows);
                collection
                    .rows
                    .drop_optimistic(op.key(), envelope.envelope_id);
            }
        }
    }
}
