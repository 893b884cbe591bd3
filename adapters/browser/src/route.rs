//! Which way a message travels. A tab and its own leader worker talk over the
//! worker's message port (`postMessage`: within the renderer, in order, no hop
//! through the browser process); every other tab is reached over the
//! BroadcastChannel. The worker speaks with its tab's id, so each side drops
//! channel messages sent under its own id: those come through the port.
//! Both paths end in the same `handle_bytes` of the runtime or coordinator.

use lockstep::protocol::{recipient, sender};
use lockstep::TabId;

/// Where an outgoing message of tab (or worker) `me` addressed to `to` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Post it on the BroadcastChannel (other tabs may be concerned).
    pub channel: bool,
    /// Post it through the port between the tab and its own worker.
    pub port: bool,
}

/// The route of a message the leader worker of tab `me` sends to `to`
/// (`None`: every tab, its own included unless the message `skips` it, see
/// `Message::skips`).
///
/// ```
/// use lockstep::TabId;
/// use lockstep_browser::route::{from_worker, Route};
/// let (me, other) = (TabId::from_u128(1), TabId::from_u128(2));
/// assert_eq!(from_worker(me, None, None), Route { channel: true, port: true });
/// assert_eq!(from_worker(me, None, Some(me)), Route { channel: true, port: false });
/// assert_eq!(from_worker(me, Some(me), None), Route { channel: false, port: true });
/// assert_eq!(from_worker(me, Some(other), None), Route { channel: true, port: false });
/// ```
pub fn from_worker(me: TabId, to: Option<TabId>, skips: Option<TabId>) -> Route {
    match to {
        None => Route {
            channel: true,
            port: skips != Some(me),
        },
        Some(to) => Route {
            channel: to != me,
            port: to == me,
        },
    }
}

/// The route of a message tab `me`, following leader `leader`, sends to
/// `to`. A tab's messages to `None` are requests for whoever leads, which
/// other tabs ignore: when it follows its own worker they stay off the
/// channel. The port always gets them, for a worker that has just taken
/// over (it drops their channel copies, sent under its own id).
///
/// ```
/// use lockstep::TabId;
/// use lockstep_browser::route::{from_tab, Route};
/// let (me, other) = (TabId::from_u128(1), TabId::from_u128(2));
/// assert_eq!(from_tab(me, Some(me), None), Route { channel: false, port: true });
/// assert_eq!(from_tab(me, Some(other), None), Route { channel: true, port: true });
/// assert_eq!(from_tab(me, None, None), Route { channel: true, port: true });
/// assert_eq!(from_tab(me, Some(me), Some(me)), Route { channel: false, port: true });
/// assert_eq!(from_tab(me, Some(me), Some(other)), Route { channel: true, port: false });
/// ```
pub fn from_tab(me: TabId, leader: Option<TabId>, to: Option<TabId>) -> Route {
    match (to, leader) {
        (None, Some(leader)) if leader == me => Route {
            channel: false,
            port: true,
        },
        _ => from_worker(me, to, None),
    }
}

/// Whether `me` acts on `bytes` received on the BroadcastChannel: not when
/// they were sent under its own id (the other side of its port sent them,
/// and they arrive through the port), nor when they are addressed to
/// another context. `bytes` may be the message's first bytes only: a field
/// not among them counts as absent, and the message as possibly for `me`.
///
/// ```
/// use lockstep::protocol::{Body, Message, PROTOCOL_VERSION};
/// use lockstep::{DatabaseId, TabId, Term};
/// use lockstep_browser::route::from_channel;
/// let (me, other) = (TabId::from_u128(1), TabId::from_u128(2));
/// let m = |from, to| Message { v: PROTOCOL_VERSION, db: DatabaseId::new("app", "u").unwrap(),
///     term: Term(1), from, to, body: Body::Join { probe: 1 } }.encode();
/// assert!(!from_channel(me, &m(me, None)));
/// assert!(from_channel(me, &m(other, None)));
/// assert!(from_channel(me, &m(other, Some(me))));
/// assert!(!from_channel(me, &m(me, Some(other))));
/// assert!(!from_channel(me, &m(other, Some(other))));
/// assert!(from_channel(me, &m(other, Some(other))[..20]), "cut before `to`");
/// assert!(from_channel(me, b"not a message"));
/// ```
pub fn from_channel(me: TabId, bytes: &[u8]) -> bool {
    sender(bytes) != Some(me) && !matches!(recipient(bytes), Some(Some(to)) if to != me)
}
