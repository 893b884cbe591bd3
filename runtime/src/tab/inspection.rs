//! Reads of a collection straight from the live database through the
//! leader, page by page, independent of what this tab holds.

use super::hydration::parse_page_rows;
use super::*;

impl PersistedCollectionRuntime {
    /// Reads a collection straight from the live database through the leader
    /// (page by page), independent of what this tab holds; the rows arrive as
    /// [`Event::Inspected`]. Any tab may inspect any collection, open or not.
    pub fn inspect(&mut self, now: Timestamp, collection: CollectionId) -> InspectId {
        let id = InspectId(self.next_request());
        self.inspections.insert(
            id,
            Inspection {
                collection,
                request: 0,
                cursor: None,
                rows: Vec::new(),
                position: StreamPosition::default(),
                sent_at: None,
            },
        );
        self.send_inspect(now, id);
        id
    }

    pub(super) fn send_inspect(&mut self, now: Timestamp, id: InspectId) {
        if self.leader.is_none() {
            return;
        }
        let request = self.next_request();
        let limit = self.config.hydrate_page_rows;
        let Some(inspection) = self.inspections.get_mut(&id) else {
            return;
        };
        inspection.request = request;
        inspection.sent_at = Some(now);
        let (collection, after) = (inspection.collection.clone(), inspection.cursor.clone());
        self.send(Body::Hydrate {
            request,
            collection,
            after,
            limit,
        });
    }

    /// Takes a page that answers an inspection; returns it back if it does not.
    pub(super) fn receive_inspect_page(
        &mut self,
        now: Timestamp,
        request: u64,
        position: StreamPosition,
        rows: Vec<PageRow>,
        more: bool,
    ) -> Option<Vec<PageRow>> {
        let Some(id) = self
            .inspections
            .iter()
            .find(|(_, i)| i.request == request && i.sent_at.is_some())
            .map(|(&id, _)| id)
        else {
            return Some(rows);
        };
        let rows = parse_page_rows(rows, &mut self.stats.dropped.invalid);
        let inspection = self.inspections.get_mut(&id)?;
        inspection.cursor = rows
            .last()
            .map(|r| r.key.clone())
            .or(inspection.cursor.take());
        inspection.rows.extend(rows);
        inspection.position = position;
        inspection.sent_at = None;
        if more {
            self.send_inspect(now, id);
        } else {
            self.finish_inspection(id, None);
        }
        None
    }

    /// The leader could not serve request `request`: an inspection waiting
    /// for it ends with the error.
    pub(super) fn inspection_failed(&mut self, request: u64, error: String) {
        let failed = self
            .inspections
            .iter()
            .find(|(_, i)| i.request == request && i.sent_at.is_some())
            .map(|(id, _)| *id);
        if let Some(id) = failed {
            self.finish_inspection(id, Some(error));
        }
    }

    fn finish_inspection(&mut self, id: InspectId, error: Option<String>) {
        if let Some(done) = self.inspections.remove(&id) {
            self.events.push_back(Event::Inspected {
                id,
                collection: done.collection,
                rows: done.rows,
                position: done.position,
                error,
            });
        }
    }
}
