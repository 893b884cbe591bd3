//! The simulator's view of the truth: the store's committed stream, replayed
//! into one snapshot per seq, and the invariants checked against it.

use std::collections::HashSet;

use lockstep::{
    CollectionId, EnvelopeId, Key, PersistedCollectionRuntime, Seq, SharedRow, Store, Term,
};

/// All collections' rows after some seq.
pub type State = im::OrdMap<CollectionId, im::OrdMap<Key, SharedRow>>;

/// The committed stream as observed so far.
pub struct History {
    states: Vec<State>,
    envelopes: HashSet<EnvelopeId>,
    last_tx_term: Term,
    last_meta: (Term, Seq),
}

impl Default for History {
    fn default() -> Self {
        History {
            states: vec![State::new()],
            envelopes: HashSet::new(),
            last_tx_term: Term(0),
            last_meta: (Term(0), Seq(0)),
        }
    }
}

impl History {
    /// The last observed seq.
    pub fn seq(&self) -> Seq {
        Seq(self.states.len() as u64 - 1)
    }

    /// The state after the last observed seq.
    pub fn latest(&self) -> &State {
        self.states.last().expect("never empty")
    }

    /// Whether an envelope was committed (exactly once, as checked on the way).
    pub fn committed(&self, id: &EnvelopeId) -> bool {
        self.envelopes.contains(id)
    }

    /// Reads what the store committed since the last call and checks the
    /// stream: gap-free, strictly increasing seqs, terms never going back,
    /// each envelope at most once, the persisted position never going back.
    pub fn catch_up<S: Store>(&mut self, store: &mut S) -> Result<(), String> {
        loop {
            let page = store
                .pull_since(self.seq(), 1_000)
                .map_err(|e| format!("observer cannot read the log: {e}"))?;
            if page.truncated {
                return Err(format!(
                    "the change log no longer holds seq {}",
                    self.seq().next()
                ));
            }
            if page.txs.is_empty() {
                break;
            }
            for tx in page.txs {
                if tx.seq != self.seq().next() {
                    return Err(format!("stream gap: seq {} follows {}", tx.seq, self.seq()));
                }
                if tx.term < self.last_tx_term {
                    return Err(format!(
                        "term went back: seq {} has term {} after term {}",
                        tx.seq, tx.term, self.last_tx_term
                    ));
                }
                self.last_tx_term = tx.term;
                if let Some(id) = tx.envelope_id {
                    if !self.envelopes.insert(id) {
                        return Err(format!(
                            "envelope {id} applied twice (again at seq {})",
                            tx.seq
                        ));
                    }
                }
                let mut state = self.latest().clone();
                for change in tx.changes {
                    let rows = state.entry(change.collection).or_default();
                    match change.value {
                        Some(row) => {
                            rows.insert(change.key, row);
                        }
                        None => {
                            rows.remove(&change.key);
                        }
                    }
                }
                self.states.push(state);
            }
        }
        let meta = store
            .meta()
            .map_err(|e| format!("observer cannot read meta: {e}"))?;
        if (meta.term, meta.position.seq) < self.last_meta || meta.position.seq < self.last_meta.1 {
            return Err(format!(
                "persisted position went back: term {} seq {} after term {} seq {}",
                meta.term, meta.position.seq, self.last_meta.0, self.last_meta.1
            ));
        }
        if meta.position.seq != self.seq() {
            return Err(format!(
                "persisted position seq {} but the log ends at {}",
                meta.position.seq,
                self.seq()
            ));
        }
        self.last_meta = (meta.term, meta.position.seq);
        Ok(())
    }

    /// Checks that every ready collection of `tab` equals the store's state at
    /// the seq the tab has applied: its history is a prefix of the store's.
    pub fn check_prefix(
        &self,
        tab: &PersistedCollectionRuntime,
        collections: &[CollectionId],
    ) -> Result<(), String> {
        let Some(applied) = tab.status().applied else {
            return Ok(());
        };
        let Some(state) = self.states.get(applied.0 as usize) else {
            return Err(format!(
                "tab {} applied seq {applied} beyond the store's {}",
                tab.tab_id().short(),
                self.seq()
            ));
        };
        for collection in collections {
            if !tab.is_ready(collection) {
                continue;
            }
            let expected = state.get(collection).cloned().unwrap_or_default();
            if tab.synced(collection) != expected {
                return Err(format!(
                    "tab {} collection {collection} at seq {applied} differs from the store's state at that seq: tab {:?} store {:?}",
                    tab.tab_id().short(),
                    keys(&tab.synced(collection)),
                    keys(&expected)
                ));
            }
        }
        Ok(())
    }
}

fn keys(rows: &im::OrdMap<Key, SharedRow>) -> Vec<String> {
    rows.iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(&**v).unwrap_or_default()))
        .collect()
}
