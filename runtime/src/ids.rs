//! Newtypes for the identifiers and counters of the protocol, so that a seq can
//! never be passed where a term is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

use crate::error::InvalidName;

/// Leadership epoch. Persisted and bumped by each new leader before it serves.
///
/// ```
/// use lockstep::Term;
/// assert!(Term(2) > Term(1));
/// assert_eq!(Term(1).next(), Term(2));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Term(pub u64);

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Term {
    /// The term that follows this one.
    pub fn next(self) -> Term {
        Term(self.0.saturating_add(1))
    }
}

/// Position of a committed transaction in the database's single stream.
/// Monotonic across terms: a new leader continues at `seq + 1`.
///
/// ```
/// use lockstep::Seq;
/// assert_eq!(Seq(41).next(), Seq(42));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The seq that follows this one.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

/// `(term, seq)` of the last applied transaction.
///
/// ```
/// use lockstep::{StreamPosition, Term, Seq};
/// let p = StreamPosition { term: Term(3), seq: Seq(10) };
/// assert_eq!(p.to_string(), "3:10");
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct StreamPosition {
    /// Term in which the transaction at `seq` was committed.
    pub term: Term,
    /// Seq of the last committed transaction (0 when nothing was committed yet).
    pub seq: Seq,
}

impl fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.term.0, self.seq.0)
    }
}

/// Random id of one execution context (tab, window, worker, simulated tab).
///
/// ```
/// use lockstep::TabId;
/// let tab = TabId::from_u128(7);
/// assert_eq!(tab, TabId::from_u128(7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TabId(pub Uuid);

impl TabId {
    /// A tab id from 128 random bits supplied by the driver.
    pub fn from_u128(bits: u128) -> TabId {
        TabId(uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid())
    }

    /// Short form for logs and reports (first 8 hex digits).
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_owned()
    }
}

impl fmt::Display for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Id of one envelope: a UUID v7 made by the tab that sent it.
///
/// ```
/// use lockstep::EnvelopeId;
/// let id = EnvelopeId::new_v7(1_700_000_000_000, [7; 10]);
/// assert_eq!(id.0.get_version_num(), 7);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeId(pub Uuid);

impl EnvelopeId {
    /// A v7 UUID from a Unix time in milliseconds and 80 random bits.
    pub fn new_v7(unix_millis: u64, random: [u8; 10]) -> EnvelopeId {
        EnvelopeId(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
    }

    /// The Unix time in milliseconds the id was made at, if it is a UUID v7
    /// (its first 48 bits); `None` for any other kind of UUID.
    ///
    /// ```
    /// use lockstep::EnvelopeId;
    /// assert_eq!(EnvelopeId::new_v7(1_700_000_000_000, [9; 10]).made_at_ms(), Some(1_700_000_000_000));
    /// ```
    pub fn made_at_ms(&self) -> Option<u64> {
        if self.0.get_version_num() != 7 {
            return None;
        }
        let b = self.0.as_bytes();
        Some(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }

    /// The smallest UUID v7 made at `unix_millis`: every v7 id made earlier
    /// sorts before it, every one made then or later does not (ids compare
    /// as their bytes, and a v7 id starts with its time, big-endian).
    ///
    /// ```
    /// use lockstep::EnvelopeId;
    /// let cut = EnvelopeId::earliest_at(1_000);
    /// assert!(EnvelopeId::new_v7(999, [0xFF; 10]) < cut);
    /// assert!(EnvelopeId::new_v7(1_000, [0; 10]) >= cut);
    /// ```
    pub fn earliest_at(unix_millis: u64) -> EnvelopeId {
        EnvelopeId::new_v7(unix_millis, [0; 10])
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identity of one incarnation of a database's storage, made when the file
/// (or the in-memory database) is created and kept for its whole life.
///
/// A leader whose epoch differs from the one a tab knew serves another
/// incarnation (say, a new in-memory database after the last one died with
/// its tab): the tab then reloads from it and re-sends what is pending.
///
/// ```
/// use lockstep::DatabaseEpoch;
/// assert_ne!(DatabaseEpoch::from_u128(1), DatabaseEpoch::from_u128(2));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DatabaseEpoch(pub Uuid);

impl DatabaseEpoch {
    /// An epoch from 128 random bits supplied by the store.
    pub fn from_u128(bits: u128) -> DatabaseEpoch {
        DatabaseEpoch(uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid())
    }
}

impl fmt::Display for DatabaseEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Longest app name, scope or collection name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// The first `max` bytes of `name`, cut back to a character boundary.
fn shortened(name: &str, max: usize) -> String {
    let mut end = max.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

fn check_name(what: &'static str, name: &str) -> Result<(), InvalidName> {
    if name.is_empty() {
        return Err(InvalidName {
            what,
            name: name.into(),
            reason: "it is empty",
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(InvalidName {
            what,
            name: shortened(name, 32),
            reason: "it is longer than 256 bytes",
        });
    }
    if name.contains('\0') {
        return Err(InvalidName {
            what,
            name: name.replace('\0', "\\0"),
            reason: "it contains a NUL character",
        });
    }
    Ok(())
}

/// One logical database: an app name and a scope (usually the signed-in user id).
/// Different scopes never share a file, lock or channel.
///
/// ```
/// use lockstep::DatabaseId;
/// let db = DatabaseId::new("todo-app", "user-42").unwrap();
/// assert_eq!(db.app(), "todo-app");
/// assert!(DatabaseId::new("", "x").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "DatabaseIdRepr", into = "DatabaseIdRepr")]
pub struct DatabaseId {
    app: String,
    scope: String,
}

#[derive(Serialize, Deserialize)]
struct DatabaseIdRepr {
    app: String,
    scope: String,
}

impl TryFrom<DatabaseIdRepr> for DatabaseId {
    type Error = InvalidName;
    fn try_from(r: DatabaseIdRepr) -> Result<Self, InvalidName> {
        DatabaseId::new(r.app, r.scope)
    }
}

impl From<DatabaseId> for DatabaseIdRepr {
    fn from(d: DatabaseId) -> Self {
        DatabaseIdRepr {
            app: d.app,
            scope: d.scope,
        }
    }
}

impl DatabaseId {
    /// Validates and builds a database id: both parts non-empty, at most 256 bytes, no NUL.
    pub fn new(
        app: impl Into<String>,
        scope: impl Into<String>,
    ) -> Result<DatabaseId, InvalidName> {
        let (app, scope) = (app.into(), scope.into());
        check_name("app name", &app)?;
        check_name("scope", &scope)?;
        Ok(DatabaseId { app, scope })
    }

    /// The app name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The scope (for example the signed-in user id).
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

impl fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.scope)
    }
}

/// Name of a collection: any non-empty string up to 256 bytes without NUL.
/// Storage adapters derive quoted, sanitised identifiers from it.
///
/// ```
/// use lockstep::CollectionId;
/// let todos = CollectionId::new("todos").unwrap();
/// assert_eq!(todos.as_str(), "todos");
/// assert!(CollectionId::new("a\0b").is_err());
/// ```
///
/// The name is shared, not copied, between the ops, changes and maps that
/// carry it (a 10,000-row write names its collection 10,000 times), and a
/// message that names one collection in op after op shares one name too.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectionId(Arc<str>);

/// Written as the bare name, without the copy `#[serde(into = "String")]`
/// would make of it for every op of every message.
impl Serialize for CollectionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read as a name, checked like [`CollectionId::new`]. The name read last on
/// this thread is kept, and a message that names it again (op after op of
/// one envelope or commit) shares it instead of checking and copying it again.
impl<'de> Deserialize<'de> for CollectionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = CollectionId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a collection name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<CollectionId, E> {
                LAST_READ.with(|last| {
                    let mut last = last.borrow_mut();
                    if let Some(id) = last.as_ref().filter(|id| id.as_str() == name) {
                        return Ok(id.clone());
                    }
                    let id = CollectionId::new(name).map_err(E::custom)?;
                    *last = Some(id.clone());
                    Ok(id)
                })
            }
        }
        deserializer.deserialize_str(Name)
    }
}

thread_local! {
    /// The collection name [`CollectionId`]'s `Deserialize` read last.
    static LAST_READ: std::cell::RefCell<Option<CollectionId>> = const { std::cell::RefCell::new(None) };
}

impl CollectionId {
    /// Validates and builds a collection name.
    pub fn new(name: impl Into<String>) -> Result<CollectionId, InvalidName> {
        let name = name.into();
        check_name("collection name", &name)?;
        Ok(CollectionId(name.into()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CollectionId {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, InvalidName> {
        CollectionId::new(s)
    }
}

impl From<CollectionId> for String {
    fn from(c: CollectionId) -> String {
        c.0.to_string()
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point in time in milliseconds, supplied by the driver. The core never reads
/// a clock; the simulator supplies simulated time.
///
/// ```
/// use lockstep::Timestamp;
/// assert_eq!(Timestamp(1000).plus_millis(500), Timestamp(1500));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus `ms` milliseconds.
    pub fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds elapsed since `earlier` (0 if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_read_again_is_shared_and_every_name_is_still_checked() {
        let read = |json: &str| serde_json::from_str::<CollectionId>(json);
        let (a, b) = (read(r#""todos""#).unwrap(), read(r#""todos""#).unwrap());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(read(r#""a\u0000b""#).is_err());
        assert!(read(r#""""#).is_err());
        let other = read(r#""notes""#).unwrap();
        assert_eq!(other.as_str(), "notes");
        assert_eq!(read(r#""todos""#).unwrap(), a);
    }

    #[test]
    fn long_names_with_multibyte_characters_are_refused_without_panicking() {
        // Found while fuzzing: byte 32 falls inside "é", and slicing there panicked.
        let name = format!("a{}", "é".repeat(200));
        let err = CollectionId::new(name).unwrap_err();
        assert!(err.to_string().contains("longer than 256 bytes"));
        assert!(DatabaseId::new("ü".repeat(300), "scope").is_err());
    }
}
