//! One-shot reads a tab asks the leader for: read-only SQL queries and the
//! database description. They are re-sent after a timeout and to a new
//! leader (reading twice is harmless), and answered as events.

use super::*;

/// What a read asks for.
#[derive(Clone, Debug)]
pub(super) enum Ask {
    Query {
        sql: String,
        params: Vec<serde_json::Value>,
    },
    Describe,
    /// One statement of a subset load.
    Subset(subsets::PageAsk),
}

/// A read waiting for the leader's answer.
#[derive(Clone, Debug)]
pub(super) struct Read {
    request: u64,
    ask: Ask,
    sent_at: Option<Timestamp>,
}

impl Read {
    pub(super) fn sent_at(&self) -> Option<Timestamp> {
        self.sent_at
    }

    pub(super) fn ask(&self) -> &Ask {
        &self.ask
    }
}

impl PersistedCollectionRuntime {
    /// Runs one read-only SQL statement on the live database through the
    /// leader, from any tab; collections are visible as views named after
    /// them. The answer arrives as [`Event::Queried`].
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
    /// let id = tab.query(Timestamp(0), "select count(*) from todos".into(), vec![]);
    /// assert_eq!(tab.pending_reads(), 1);
    /// # let _ = id;
    /// ```
    pub fn query(&mut self, now: Timestamp, sql: String, params: Vec<serde_json::Value>) -> ReadId {
        self.start_read(now, Ask::Query { sql, params })
    }

    /// Asks the leader to describe the database (collections and their row
    /// counts, position, storage, counters). The answer arrives as
    /// [`Event::Described`].
    pub fn describe(&mut self, now: Timestamp) -> ReadId {
        self.start_read(now, Ask::Describe)
    }

    /// Reads (queries and descriptions) still waiting for an answer.
    pub fn pending_reads(&self) -> usize {
        self.reads.len()
    }

    pub(super) fn start_read(&mut self, now: Timestamp, ask: Ask) -> ReadId {
        let id = ReadId(self.next_request());
        self.reads.insert(
            id,
            Read {
                request: 0,
                ask,
                sent_at: None,
            },
        );
        self.send_read(now, id);
        id
    }

    /// Sends (or re-sends) a read to the leader, if one is known.
    pub(super) fn send_read(&mut self, now: Timestamp, id: ReadId) {
        if self.leader.is_none() {
            return;
        }
        let request = self.next_request();
        let Some(read) = self.reads.get_mut(&id) else {
            return;
        };
        read.request = request;
        read.sent_at = Some(now);
        let body = match &read.ask {
            Ask::Query { sql, params } => Body::Query {
                request,
                sql: sql.clone(),
                params: params.clone(),
                indexes: Vec::new(),
            },
            Ask::Describe => Body::Describe { request },
            Ask::Subset(page) => Body::Query {
                request,
                sql: page.sql.clone(),
                params: page.params.clone(),
                indexes: page.indexes.clone(),
            },
        };
        self.send(body);
    }

    /// The read a leader's answer belongs to, removed from the waiting list.
    pub(super) fn take_read(&mut self, request: u64) -> Option<(ReadId, Ask)> {
        let id = self
            .reads
            .iter()
            .find(|(_, read)| read.request == request && read.sent_at.is_some())
            .map(|(id, _)| *id)?;
        self.reads.remove(&id).map(|read| (id, read.ask))
    }

    /// The leader could not serve request `request`: the read or inspection
    /// waiting for it ends with the error. Other requests (hydration, pulls)
    /// are asked again when their timer fires, so the tab still converges.
    pub(super) fn request_failed(&mut self, request: u64, error: String) {
        match self.take_read(request) {
            Some((id, Ask::Query { .. })) => self.events.push_back(Event::Queried {
                id,
                outcome: Err(crate::QueryError::Storage { detail: error }),
            }),
            Some((id, Ask::Describe)) => self.events.push_back(Event::Described {
                id,
                outcome: Err(error),
            }),
            Some((id, Ask::Subset(page))) => {
                self.subset_page_failed(id, page, crate::QueryError::Storage { detail: error })
            }
            None => self.inspection_failed(request, error),
        }
    }

    pub(super) fn receive_query_result(
        &mut self,
        now: Timestamp,
        request: u64,
        position: StreamPosition,
        outcome: QueryOutcome,
    ) {
        let Some((id, ask)) = self.take_read(request) else {
            return;
        };
        let outcome = match outcome {
            QueryOutcome::Rows(rows) => Ok(rows),
            QueryOutcome::Failed { error } => Err(error),
        };
        match ask {
            Ask::Subset(page) => self.receive_subset_page(now, id, page, position, outcome),
            _ => self.events.push_back(Event::Queried { id, outcome }),
        }
    }

    pub(super) fn receive_description(&mut self, request: u64, report: DatabaseReport) {
        if let Some((id, _)) = self.take_read(request) {
            self.events.push_back(Event::Described {
                id,
                outcome: Ok(report),
            });
        }
    }
}
