//! Which way a message travels. A tab and its own leader worker talk over the
//! worker's message port (`postMessage`: within the renderer, in order, no hop
//! through the browser process); every other tab is reached over the
//! BroadcastChannel. The worker speaks with its tab's id, so each side drops
//! channel messages sent under its own id: those come through the port.
//! Both paths end in the same `handle_bytes` of the runtime or coordinator.

use lockstep::protocol::sender;
use lockstep::TabId;

/// Where an outgoing message of tab (or worker) `me` addressed to `to` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Post it on the BroadcastChannel (other tabs may be concerned).
    pub channel: bool,
    /// Post it through the port between the tab and its own worker.
    pub port: bool,
}

/// The route of a message from `me` to `to` (`None`: everyone).
///
/// ```
/// use lockstep::TabId;
/// use lockstep_browser::route::{route, Route};
/// let (me, other) = (TabId::from_u128(1), TabId::from_u128(2));
/// assert_eq!(route(me, None), Route { channel: true, port: true });
/// assert_eq!(route(me, Some(me)), Route { channel: false, port: true });
/// assert_eq!(route(me, Some(other)), Route { channel: true, port: false });
/// ```
pub fn route(me: TabId, to: Option<TabId>) -> Route {
    match to {
        None => Route {
            channel: true,
            port: true,
        },
        Some(to) => Route {
            channel: to != me,
            port: to == me,
        },
    }
}

/// Whether `me` acts on `bytes` received on the BroadcastChannel: not when
/// they were sent under its own id (the other side of its port sent them,
/// and they arrive through the port).
///
/// ```
/// use lockstep::protocol::{Body, Message, PROTOCOL_VERSION};
/// use lockstep::{DatabaseId, TabId, Term};
/// use lockstep_browser::route::from_channel;
/// let (me, other) = (TabId::from_u128(1), TabId::from_u128(2));
/// let m = |from| Message { v: PROTOCOL_VERSION, db: DatabaseId::new("app", "u").unwrap(),
///     term: Term(1), from, to: None, body: Body::Join { probe: 1 } }.encode();
/// assert!(!from_channel(me, &m(me)));
/// assert!(from_channel(me, &m(other)));
/// assert!(from_channel(me, b"not a message"));
/// ```
pub fn from_channel(me: TabId, bytes: &[u8]) -> bool {
    sender(bytes) != Some(me)
}
