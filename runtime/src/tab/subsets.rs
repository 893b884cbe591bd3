//! On-demand collections: subsets loaded by SQL on the leader, delivered at
//! the point of the commit stream they were read at.
//!
//! Every answer carries the leader's position `q` when it ran. A page read
//! at `q` is handed to the app right after the tab applied transaction `q`:
//! at once when the tab is there; parked until it gets there when it is
//! behind (it pulls); and, when the tab is already past `q`, without the
//! rows that transactions after `q` touched (the app got those from the
//! commits, which are newer). So a row the app holds is never older than
//! the last commit it saw. While a load is in progress the collection keeps
//! the keys of the transactions it applies for that filter.
//!
//! A reload (the tab fell behind the change log, or a new database
//! incarnation) reads every subset again and then tells the app which keys
//! to keep ([`SyncBatch::Retain`]), as a stream-mode hydration does.

use super::*;
use crate::query::{QueryError, QueryRows};
use crate::subset::{statement, Step, Subset, SubsetError, SubsetId};

/// The subsets of one on-demand collection.
#[derive(Clone, Debug, Default)]
pub(super) struct Subsets {
    /// Every subset asked for and not unloaded.
    loads: BTreeMap<SubsetId, Load>,
    /// Pages read at a position this tab has not applied yet, by that position.
    parked: BTreeMap<Seq, Vec<Page>>,
    /// Keys of the transactions applied while a load was in progress.
    touched: BTreeMap<Seq, Vec<Key>>,
    /// During a reload: the keys delivered since it began.
    reload_seen: Option<BTreeSet<Key>>,
    /// `Ready` was announced: the tab knew the leader's position.
    pub(super) ready: bool,
}

/// One subset and how far its load is.
#[derive(Clone, Debug)]
struct Load {
    subset: Subset,
    /// The read in flight, while loading.
    read: Option<ReadId>,
    /// Pages answered but not delivered yet (parked).
    parked: usize,
    /// All its pages were answered.
    answered: bool,
    /// Rows delivered by this load.
    rows: usize,
    /// The app heard it was loaded (a reload reads it again silently).
    reported: bool,
}

impl Load {
    fn loading(&self) -> bool {
        !self.answered || self.parked > 0
    }
}

/// A page statement in flight.
#[derive(Clone, Debug)]
pub(super) struct PageAsk {
    collection: CollectionId,
    subset: SubsetId,
    step: Step,
    pub(super) sql: String,
    pub(super) params: Vec<serde_json::Value>,
    /// Fields to index before the statement runs.
    pub(super) indexes: Vec<(CollectionId, String)>,
}

/// A page answered, waiting for its position.
#[derive(Clone, Debug)]
struct Page {
    subset: SubsetId,
    rows: Vec<PageRow>,
    last: bool,
}

impl Subsets {
    /// Keeps the keys of a transaction while a load is in progress, and
    /// those a reload delivers.
    pub(super) fn note_commit(&mut self, seq: Seq, changes: &[(Key, Option<SharedRow>)]) {
        if let Some(seen) = self.reload_seen.as_mut() {
            seen.extend(changes.iter().map(|(key, _)| key.clone()));
        }
        if self.loads.values().any(Load::loading) {
            self.touched
                .entry(seq)
                .or_default()
                .extend(changes.iter().map(|(key, _)| key.clone()));
        }
    }

    /// Forgets the touched keys once no load needs them.
    fn prune(&mut self) {
        if !self.loads.values().any(Load::loading) {
            self.touched.clear();
        }
    }
}

impl PersistedCollectionRuntime {
    /// Loads the rows of `subset` of on-demand `collection` (opened with
    /// [`CollectionMode::OnDemand`]): they arrive as [`Event::Synced`] with
    /// [`SyncBatch::Rows`], then [`Event::SubsetLoaded`]. The subset is read
    /// again after a reload until [`unload_subset`](Self::unload_subset).
    ///
    /// ```
    /// use lockstep::*;
    /// let db = DatabaseId::new("app", "u").unwrap();
    /// let todos = CollectionId::new("todos").unwrap();
    /// let mut tab = PersistedCollectionRuntime::new(db, TabId::from_u128(1), RuntimeConfig::default(), Timestamp(0));
    /// tab.open_collection_as(Timestamp(0), todos.clone(), CollectionMode::OnDemand);
    /// let open = Subset::filter("\"done\" = ?", vec![serde_json::json!(0)]);
    /// assert!(tab.load_subset(Timestamp(0), &todos, open).is_ok());
    /// ```
    pub fn load_subset(
        &mut self,
        now: Timestamp,
        collection: &CollectionId,
        subset: Subset,
    ) -> Result<SubsetId, SubsetError> {
        if self.mode(collection) != Some(CollectionMode::OnDemand) {
            return Err(SubsetError::NotOnDemand(collection.clone()));
        }
        let id = SubsetId(self.next_request());
        let first = if subset.top.is_some() {
            Step::Top
        } else {
            Step::Page(None)
        };
        let c = self.collections.get_mut(collection).expect("checked above");
        c.subsets.loads.insert(
            id,
            Load {
                subset,
                read: None,
                parked: 0,
                answered: false,
                rows: 0,
                reported: false,
            },
        );
        self.read_page(now, collection, id, first);
        Ok(id)
    }

    /// Stops keeping subset `id` current: it is no longer read again after a
    /// reload. The rows it loaded stay with the app. Unknown ids are ignored.
    pub fn unload_subset(&mut self, id: SubsetId) {
        let Some((collection, c)) = self
            .collections
            .iter_mut()
            .find(|(_, c)| c.subsets.loads.contains_key(&id))
        else {
            return;
        };
        let collection = collection.clone();
        let load = c.subsets.loads.remove(&id).expect("found above");
        for pages in c.subsets.parked.values_mut() {
            pages.retain(|page| page.subset != id);
        }
        c.subsets.parked.retain(|_, pages| !pages.is_empty());
        c.subsets.prune();
        if let Some(read) = load.read {
            self.reads.remove(&read);
        }
        self.finish_reload(&collection);
    }

    /// Drops the reads of the subsets of a closed collection.
    pub(super) fn forget_subset_reads(&mut self, collection: &CollectionId) {
        self.reads.retain(
            |_, read| !matches!(read.ask(), reads::Ask::Subset(page) if &page.collection == collection),
        );
    }

    /// Reads every subset of `collection` again (after a reload), then tells
    /// the app which keys to keep.
    pub(super) fn restart_subsets(&mut self, now: Timestamp, collection: &CollectionId) {
        self.forget_subset_reads(collection);
        let Some(c) = self.collections.get_mut(collection) else {
            return;
        };
        c.subsets.parked.clear();
        c.subsets.touched.clear();
        if c.streamed {
            c.subsets.reload_seen = Some(BTreeSet::new());
        }
        let ids: Vec<SubsetId> = c.subsets.loads.keys().copied().collect();
        for load in c.subsets.loads.values_mut() {
            load.read = None;
            load.parked = 0;
            load.answered = false;
            load.rows = 0;
        }
        for id in ids {
            let first = match self.collections[collection].subsets.loads[&id].subset.top {
                Some(_) => Step::Top,
                None => Step::Page(None),
            };
            self.read_page(now, collection, id, first);
        }
        self.finish_reload(collection);
    }

    /// Sends one statement of a load.
    fn read_page(&mut self, now: Timestamp, collection: &CollectionId, id: SubsetId, step: Step) {
        let page_rows = self.config.hydrate_page_rows;
        let Some(load) = self
            .collections
            .get(collection)
            .and_then(|c| c.subsets.loads.get(&id))
        else {
            return;
        };
        let (sql, params) = statement(collection, &load.subset, &step, page_rows);
        // The indexes go with the load's first statement.
        let first = match step {
            Step::Top => true,
            Step::Page(ref after) => after.is_none() && load.subset.top.is_none(),
        };
        let indexes = if first {
            load.subset
                .indexes
                .iter()
                .map(|field| (collection.clone(), field.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let read = self.start_read(
            now,
            reads::Ask::Subset(PageAsk {
                collection: collection.clone(),
                subset: id,
                step,
                sql,
                params,
                indexes,
            }),
        );
        if let Some(load) = self
            .collections
            .get_mut(collection)
            .and_then(|c| c.subsets.loads.get_mut(&id))
        {
            load.read = Some(read);
        }
    }

    /// A page statement failed on the leader: the load fails.
    pub(super) fn subset_page_failed(&mut self, read: ReadId, page: PageAsk, error: QueryError) {
        let Some(c) = self.collections.get_mut(&page.collection) else {
            return;
        };
        if c.subsets.loads.get(&page.subset).and_then(|l| l.read) != Some(read) {
            return;
        }
        c.subsets.loads.remove(&page.subset);
        c.subsets.prune();
        self.events.push_back(Event::SubsetLoaded {
            collection: page.collection.clone(),
            id: page.subset,
            outcome: Err(error),
        });
        self.finish_reload(&page.collection);
    }

    /// The leader answered a page statement read at `position`.
    pub(super) fn receive_subset_page(
        &mut self,
        now: Timestamp,
        read: ReadId,
        page: PageAsk,
        position: StreamPosition,
        outcome: Result<QueryRows, QueryError>,
    ) {
        let current = self
            .collections
            .get(&page.collection)
            .and_then(|c| c.subsets.loads.get(&page.subset))
            .is_some_and(|load| load.read == Some(read));
        if !current {
            return;
        }
        let answer = match outcome {
            Ok(answer) => answer,
            // The collection has never been written: no rows yet.
            Err(QueryError::Sql { detail }) if detail.starts_with("no such table") => QueryRows {
                columns: Vec::new(),
                rows: Vec::new(),
                truncated: false,
            },
            Err(error) => return self.subset_page_failed(read, page, error),
        };
        if page.step == Step::Top && answer.truncated {
            // More than one answer holds: every row of the filter instead.
            return self.read_page(now, &page.collection, page.subset, Step::Page(None));
        }
        if answer.truncated && answer.rows.is_empty() {
            let error = QueryError::TooLarge {
                detail: "a row is larger than the leader's query byte limit".into(),
            };
            return self.subset_page_failed(read, page, error);
        }
        let full = answer.rows.len() >= self.config.hydrate_page_rows as usize;
        let (rows, last_key) = self.parse_subset_rows(answer.rows);
        let next = match page.step {
            Step::Page(_) if answer.truncated || full => last_key,
            _ => None,
        };
        let c = self
            .collections
            .get_mut(&page.collection)
            .expect("checked above");
        let load = c
            .subsets
            .loads
            .get_mut(&page.subset)
            .expect("checked above");
        load.read = None;
        load.answered = next.is_none();
        load.parked += 1;
        let pending = Page {
            subset: page.subset,
            rows,
            last: next.is_none(),
        };
        c.subsets
            .parked
            .entry(position.seq)
            .or_default()
            .push(pending);
        if let Some(after) = next {
            self.read_page(now, &page.collection, page.subset, Step::Page(Some(after)));
        }
        match self.applied {
            Some(applied) if applied >= position.seq => self.deliver_parked_pages(),
            // Catch up to the page's position; it is delivered from there.
            _ => self.observe_position(now, position.seq),
        }
    }

    /// The rows of an answer (stored key, row JSON, kept as text for the
    /// app to parse) and the last stored key; a row whose key does not parse
    /// or whose JSON is not an object is dropped and counted as invalid.
    fn parse_subset_rows(
        &mut self,
        rows: Vec<Vec<serde_json::Value>>,
    ) -> (Vec<PageRow>, Option<String>) {
        let mut last = None;
        let mut parsed = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = row.into_iter();
            let (Some(serde_json::Value::String(stored)), Some(serde_json::Value::String(value))) =
                (values.next(), values.next())
            else {
                self.stats.dropped.invalid += 1;
                continue;
            };
            match Key::from_json(&stored).map(|key| PageRow::stored(key, value)) {
                Ok(Ok(row)) => parsed.push(row),
                _ => self.stats.dropped.invalid += 1,
            }
            last = Some(stored);
        }
        (parsed, last)
    }

    /// Hands the app every parked page whose position this tab has applied.
    pub(super) fn deliver_parked_pages(&mut self) {
        let Some(applied) = self.applied else { return };
        let ready: Vec<CollectionId> = self
            .collections
            .iter()
            .filter(|(_, c)| {
                c.subsets
                    .parked
                    .keys()
                    .next()
                    .is_some_and(|&seq| seq <= applied)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for collection in ready {
            let c = self.collections.get_mut(&collection).expect("listed above");
            let later = c.subsets.parked.split_off(&applied.next());
            let due = std::mem::replace(&mut c.subsets.parked, later);
            for (seq, pages) in due {
                for page in pages {
                    self.deliver_page(&collection, seq, page);
                }
            }
            self.collections
                .get_mut(&collection)
                .expect("listed above")
                .subsets
                .prune();
            self.finish_reload(&collection);
        }
    }

    /// Hands the app a page read at `seq`, without the rows that later
    /// transactions (already handed over) touched.
    fn deliver_page(&mut self, collection: &CollectionId, seq: Seq, page: Page) {
        let c = self
            .collections
            .get_mut(collection)
            .expect("caller checked");
        let newer: BTreeSet<&Key> = c
            .subsets
            .touched
            .range(seq.next()..)
            .flat_map(|(_, keys)| keys)
            .collect();
        let rows: Vec<PageRow> = page
            .rows
            .into_iter()
            .filter(|row| !newer.contains(row.key()))
            .collect();
        if let Some(seen) = c.subsets.reload_seen.as_mut() {
            seen.extend(rows.iter().map(|row| row.key().clone()));
        }
        let Some(load) = c.subsets.loads.get_mut(&page.subset) else {
            return;
        };
        load.parked -= 1;
        load.rows += rows.len();
        let done = page.last && !load.reported;
        let delivered = load.rows;
        if page.last {
            load.reported = true;
        }
        if !rows.is_empty() {
            c.streamed = true;
            self.events.push_back(Event::Synced {
                collection: collection.clone(),
                batch: SyncBatch::Rows {
                    rows,
                    subset: Some(page.subset),
                },
            });
        }
        if done {
            self.events.push_back(Event::SubsetLoaded {
                collection: collection.clone(),
                id: page.subset,
                outcome: Ok(delivered),
            });
        }
    }

    /// Ends a reload once every subset was read again: the app forgets the
    /// rows no subset and no commit delivered since it began.
    fn finish_reload(&mut self, collection: &CollectionId) {
        let Some(c) = self.collections.get_mut(collection) else {
            return;
        };
        if c.subsets.loads.values().any(Load::loading) {
            return;
        }
        if let Some(keys) = c.subsets.reload_seen.take() {
            self.events.push_back(Event::Synced {
                collection: collection.clone(),
                batch: SyncBatch::Retain { keys },
            });
        }
    }
}
