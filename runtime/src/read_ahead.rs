//! Reading the next hydration page ahead of its request.
//!
//! A tab asks for the next page of a load as soon as one arrives, so while
//! a page travels to the tab and the next request travels back, a leader
//! that reads only when asked sits idle, once per page. Instead, after it
//! answers with a page that has more rows after it, the coordinator plans
//! the next read; at its next timeout (due at once, so it runs right after
//! the answer is posted) it reads that page, and it answers the request
//! with it when the request comes, provided the stream position is still
//! the one the page was read at: any commit in between (the tab's, another
//! tab's, or writes by other code) makes it read again. A page read ahead
//! that nobody asks for within [`KEEP_MS`] is dropped.

use std::collections::VecDeque;

use crate::ids::{CollectionId, StreamPosition, Timestamp};
use crate::key::Key;
use crate::store::RowPage;

/// Loads read ahead for at once (one per tab loading at the same moment);
/// planning one more forgets the oldest.
const MAX_PLANNED: usize = 4;

/// How long a page read ahead is kept for its request (a tab that closed
/// mid-load never asks).
pub(crate) const KEEP_MS: u64 = 2_000;

/// Which page: the `limit` rows of `collection` after key `after`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PageAfter {
    pub collection: CollectionId,
    pub after: Key,
    pub limit: usize,
}

struct Planned {
    page: PageAfter,
    planned_at: Timestamp,
    /// The page and the position it was read at, once read.
    read: Option<(StreamPosition, RowPage)>,
}

/// The pages a coordinator reads ahead.
#[derive(Default)]
pub(crate) struct ReadAhead {
    planned: VecDeque<Planned>,
}

impl ReadAhead {
    /// Plans reading `page` at the next timeout.
    pub(crate) fn plan(&mut self, now: Timestamp, page: PageAfter) {
        self.planned.retain(|p| p.page != page);
        if self.planned.len() == MAX_PLANNED {
            self.planned.pop_front();
        }
        self.planned.push_back(Planned {
            page,
            planned_at: now,
            read: None,
        });
    }

    /// When the coordinator next has read-ahead work: at once while a page
    /// waits to be read, else when the oldest page read expires.
    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        self.planned
            .iter()
            .map(|p| match p.read {
                None => p.planned_at,
                Some(_) => p.planned_at.plus_millis(KEEP_MS),
            })
            .min()
    }

    /// Drops expired pages; returns the next page to read, if one waits.
    pub(crate) fn due(&mut self, now: Timestamp) -> Option<PageAfter> {
        self.planned.retain(|p| now.since(p.planned_at) < KEEP_MS);
        self.planned
            .iter()
            .find(|p| p.read.is_none())
            .map(|p| p.page.clone())
    }

    /// Keeps `rows`, read at `position`, for `page`'s request; `None`: the
    /// read failed, so the request reads (and reports) for itself.
    pub(crate) fn read(
        &mut self,
        page: &PageAfter,
        position: StreamPosition,
        rows: Option<RowPage>,
    ) {
        match rows {
            Some(rows) => {
                if let Some(p) = self.planned.iter_mut().find(|p| &p.page == page) {
                    p.read = Some((position, rows));
                }
            }
            None => self.planned.retain(|p| &p.page != page),
        }
    }

    /// The page read ahead for `page`, if it was read at `position`; either
    /// way `page` is no longer planned.
    pub(crate) fn take(&mut self, page: &PageAfter, position: StreamPosition) -> Option<RowPage> {
        let at = self.planned.iter().position(|p| &p.page == page)?;
        let planned = self.planned.remove(at)?;
        match planned.read {
            Some((read_at, rows)) if read_at == position => Some(rows),
            _ => None,
        }
    }
}
