//! Wire messages between tabs and the leader, and their checked decoding.
//!
//! Every message carries the protocol version `v`, the database id and the
//! sender's term. Messages travel as JSON bytes (a BroadcastChannel payload, a
//! channel between threads); [`decode`] is the one door through which bytes from
//! another context enter the core, and it never panics.

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;
use crate::held::HeldRow;
use crate::ids::{
    CollectionId, DatabaseEpoch, DatabaseId, EnvelopeId, Seq, StreamPosition, TabId, Term,
};
use crate::key::Key;
use crate::query::{DatabaseReport, QueryError, QueryRows};
use crate::row::{Change, Op, Row};

/// The protocol version this build speaks. Messages of any other version are
/// rejected with [`DecodeError::UnknownVersion`]. Version 2: a `Join` carries
/// a probe number that the answering `LeaderHello` echoes. Version 3: the
/// body is `{"type": …, "data": {…}}` (adjacently tagged), which serde reads
/// in one pass; the fields inline beside `type` made it buffer every body.
/// Version 4: the leader acknowledges the envelopes of its own tab with
/// [`Body::Acknowledged`], and its broadcast of their commits skips that tab
/// (see [`Message::skips`]).
pub const PROTOCOL_VERSION: u32 = 4;

/// One protocol message.
///
/// ```
/// use lockstep::protocol::{Message, Body, PROTOCOL_VERSION, decode, Limits};
/// use lockstep::{DatabaseId, TabId, Term};
/// let db = DatabaseId::new("app", "user-1").unwrap();
/// let m = Message { v: PROTOCOL_VERSION, db: db.clone(), term: Term(0), from: TabId::from_u128(1), to: None, body: Body::Join { probe: 7 } };
/// let bytes = m.encode();
/// assert_eq!(decode(&bytes, &db, &Limits::default()).unwrap(), m);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Protocol version.
    pub v: u32,
    /// The database the message belongs to.
    pub db: DatabaseId,
    /// The sender's term: the leader's own term, or the highest term a tab knows.
    pub term: Term,
    /// Sender.
    pub from: TabId,
    /// Recipient, or `None` for everyone (requests to "whoever leads" use `None`).
    pub to: Option<TabId>,
    /// What the message says.
    pub body: Body,
}

impl Message {
    /// The JSON bytes of the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.body.encoded_len_hint());
        serde_json::to_writer(&mut bytes, self).expect("messages always serialise");
        bytes
    }

    /// Whether a tab with id `me` should look at this message.
    pub fn is_for(&self, me: TabId) -> bool {
        self.to.is_none_or(|to| to == me)
    }

    /// The tab this broadcast need not reach: the leader's own tab, for the
    /// commit of that tab's envelope. The leader sends that tab
    /// [`Body::Acknowledged`] instead, and the tab makes the commit's
    /// changes from the ops it sent, without reading the rows again. A
    /// transport may deliver the broadcast there anyway: the tab applies
    /// whichever comes first and counts the other as a duplicate.
    ///
    /// ```
    /// use lockstep::protocol::{Body, Message, TxCommitted, PROTOCOL_VERSION};
    /// use lockstep::{DatabaseId, EnvelopeId, Seq, TabId, Term};
    /// let (leader, other) = (TabId::from_u128(1), TabId::from_u128(2));
    /// let commit = |origin| Message { v: PROTOCOL_VERSION, db: DatabaseId::new("app", "u").unwrap(),
    ///     term: Term(1), from: leader, to: None, body: Body::TxCommitted(TxCommitted {
    ///         term: Term(1), seq: Seq(1), envelope_id: Some(EnvelopeId::new_v7(0, [0; 10])),
    ///         origin: Some(origin), changes: vec![], requires_pull: false }) };
    /// assert_eq!(commit(leader).skips(), Some(leader));
    /// assert_eq!(commit(other).skips(), None);
    /// ```
    pub fn skips(&self) -> Option<TabId> {
        match &self.body {
            Body::TxCommitted(tx) if self.to.is_none() && tx.origin == Some(self.from) => tx.origin,
            _ => None,
        }
    }
}

impl Body {
    /// About how many bytes the message's JSON takes (its rows' texts and
    /// a fixed share per row and per message), so the encoder writes a
    /// 10,000-row message into one buffer instead of doubling one about
    /// twenty times.
    fn encoded_len_hint(&self) -> usize {
        /// The message's own fields, and each row's key and field names.
        const MESSAGE: usize = 256;
        const PER_ROW: usize = 96;
        let row = |row: Option<&crate::SharedRow>| {
            PER_ROW + row.and_then(|r| r.text()).map_or(0, str::len)
        };
        let changes =
            |changes: &[Change]| -> usize { changes.iter().map(|c| row(c.value.as_ref())).sum() };
        MESSAGE
            + match self {
                Body::Envelope(envelope) => envelope.ops.iter().map(|op| row(op.row())).sum(),
                Body::TxCommitted(tx) => changes(&tx.changes),
                Body::TxPart { changes: part, .. } => changes(part),
                Body::PullPage { txs, .. } => {
                    txs.iter().map(|tx| MESSAGE + changes(&tx.changes)).sum()
                }
                Body::HydratePage { rows, .. } => rows
                    .iter()
                    .map(|r| {
                        PER_ROW
                            + match r {
                                PageRow::Stored { value, .. } => value.get().len(),
                                PageRow::Parsed(_) => 0,
                            }
                    })
                    .sum(),
                _ => 0,
            }
    }
}

/// A mutation batch from a tab; applied atomically or not at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// UUID v7 made by the tab; the idempotency key of the batch everywhere.
    pub envelope_id: EnvelopeId,
    /// The tab that made it.
    pub origin: TabId,
    /// The ops, applied in order.
    pub ops: Vec<Op>,
}

/// The leader's broadcast after a commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxCommitted {
    /// Term in which the transaction was committed.
    pub term: Term,
    /// Its position in the stream.
    pub seq: Seq,
    /// The envelope it applied, or `None` for writes captured from other code.
    pub envelope_id: Option<EnvelopeId>,
    /// The tab that sent the envelope, or `None` for captured writes.
    pub origin: Option<TabId>,
    /// Every changed row with its full value, or a tombstone.
    pub changes: Vec<Change>,
    /// The changes were too large to broadcast (see [`Limits::max_inline_bytes`]):
    /// `changes` is empty and each tab fetches them in parts with `PullTx`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pull: bool,
}

impl TxCommitted {
    /// `(term, seq)` of this transaction.
    pub fn position(&self) -> StreamPosition {
        StreamPosition {
            term: self.term,
            seq: self.seq,
        }
    }
}

/// A key and its row, as carried by hydration pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyedRow {
    /// Row key.
    pub key: Key,
    /// Row value.
    pub value: Row,
}

/// A row of a hydration page: parsed, or the JSON text of its value, which a
/// leader sends as the store holds it and a tab receives as it came, checked
/// to be an object but not parsed: a tab that keeps rows parses it
/// ([`PageRow::into_keyed`]); one that streams them to the app (TanStack DB)
/// hands the text on. Both encode to the same JSON; decoding gives
/// [`PageRow::Stored`].
///
/// ```
/// use lockstep::protocol::{KeyedRow, PageRow};
/// use lockstep::Key;
/// let stored = PageRow::stored(Key::from("a"), r#"{"title":"hi"}"#.to_string()).unwrap();
/// let json = serde_json::to_string(&stored).unwrap();
/// assert_eq!(json, r#"{"key":"a","value":{"title":"hi"}}"#);
/// assert_eq!(stored.wire_bytes(), json.len());
/// let back: PageRow = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, stored);
/// assert!(PageRow::stored(Key::from("b"), "[1, 2]".to_string()).is_err());
/// ```
#[derive(Clone, Debug)]
pub enum PageRow {
    /// A parsed row (boxed: a page decodes into a `Vec` of stored rows,
    /// which stays a third of the size without a parsed row's map inline).
    Parsed(Box<KeyedRow>),
    /// A key and the JSON text of its value, checked to be well-formed JSON
    /// and an object.
    Stored {
        /// Row key.
        key: Key,
        /// The value's JSON text.
        value: Box<serde_json::value::RawValue>,
    },
}

impl PageRow {
    /// A row from the JSON text of its value, refused (with the reason)
    /// unless the text parses as a [`Row`]: well-formed JSON, an object, no
    /// number beyond the range of `f64`. So every tab can hold what it is
    /// sent, whether it parses rows in Rust or hands the text to
    /// JavaScript, and all of them show the same rows.
    pub fn stored(key: Key, json: String) -> Result<PageRow, String> {
        let value = serde_json::value::RawValue::from_string(json).map_err(|e| e.to_string())?;
        crate::held::check(value.get()).map_err(|e| e.to_string())?;
        Ok(PageRow::Stored { key, value })
    }

    /// The row's key.
    pub fn key(&self) -> &Key {
        match self {
            PageRow::Parsed(row) => &row.key,
            PageRow::Stored { key, .. } => key,
        }
    }

    /// Length of the row's JSON on the wire, counted without encoding a
    /// stored value again.
    pub fn wire_bytes(&self) -> usize {
        match self {
            PageRow::Parsed(row) => json_bytes(row),
            // {"key":K,"value":V}
            PageRow::Stored { key, value } => 17 + json_bytes(key) + value.get().len(),
        }
    }

    /// The key and the row as a tab holds it: a stored value stays JSON
    /// text until read ([`HeldRow`](crate::HeldRow)); one that would not
    /// parse as a row (a number beyond the range of `f64`, say) is an error.
    pub fn into_held(self) -> Result<(Key, crate::SharedRow), serde_json::Error> {
        match self {
            PageRow::Parsed(row) => {
                let KeyedRow { key, value } = *row;
                Ok((key, crate::HeldRow::shared(value)))
            }
            PageRow::Stored { key, value } => {
                Ok((key, crate::SharedRow::new(crate::HeldRow::from_raw(value)?)))
            }
        }
    }

    /// The row's value alone, serialisable: a stored value as its JSON text
    /// (unparsed), a parsed one as the row.
    ///
    /// ```
    /// use lockstep::protocol::PageRow;
    /// use lockstep::Key;
    /// let stored = PageRow::stored(Key::from("a"), r#"{"title":"hi"}"#.to_string()).unwrap();
    /// assert_eq!(serde_json::to_string(&stored.value()).unwrap(), r#"{"title":"hi"}"#);
    /// ```
    pub fn value(&self) -> PageValue<'_> {
        match self {
            PageRow::Parsed(row) => PageValue::Parsed(&row.value),
            PageRow::Stored { value, .. } => PageValue::Stored(value),
        }
    }

    /// The parsed row; a stored value that does not parse as a row (a number
    /// beyond the range of `f64`, say) is an error.
    pub fn into_keyed(self) -> Result<KeyedRow, serde_json::Error> {
        match self {
            PageRow::Parsed(row) => Ok(*row),
            PageRow::Stored { key, value } => Ok(KeyedRow {
                key,
                value: serde_json::from_str(value.get())?,
            }),
        }
    }
}

/// The value of a [`PageRow`] without its key ([`PageRow::value`]); it
/// serialises as the row's JSON.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(untagged)]
pub enum PageValue<'a> {
    /// A parsed row.
    Parsed(&'a Row),
    /// A stored row's JSON text, written as it is.
    Stored(&'a serde_json::value::RawValue),
}

impl From<KeyedRow> for PageRow {
    fn from(row: KeyedRow) -> PageRow {
        PageRow::Parsed(Box::new(row))
    }
}

/// Equal when the keys are and the values parse to equal rows.
impl PartialEq for PageRow {
    fn eq(&self, other: &PageRow) -> bool {
        match (self.clone().into_keyed(), other.clone().into_keyed()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// As a [`KeyedRow`] (`{"key": …, "value": …}`), a stored value as its text.
impl Serialize for PageRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Keyed<'a> {
            key: &'a Key,
            value: PageValue<'a>,
        }
        Keyed {
            key: self.key(),
            value: self.value(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PageRow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PageRow, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Stored {
            key: Key,
            value: Box<serde_json::value::RawValue>,
        }
        let Stored { key, value } = Stored::deserialize(deserializer)?;
        if !value.get().starts_with('{') {
            return Err(serde::de::Error::custom(
                "a row value must be a JSON object",
            ));
        }
        Ok(PageRow::Stored { key, value })
    }
}

/// Why the leader refused an envelope. Nothing of a refused envelope is committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rejection {
    /// `insert` of a key that exists in the database.
    #[error("collection {collection}: key {key} already exists in the database")]
    KeyExists {
        /// Collection of the op.
        collection: CollectionId,
        /// Key of the op.
        key: Key,
    },
    /// `update` or `delete` of a key missing from the database.
    #[error("collection {collection}: key {key} does not exist in the database")]
    KeyMissing {
        /// Collection of the op.
        collection: CollectionId,
        /// Key of the op.
        key: Key,
    },
    /// The envelope breaks a limit or holds invalid data.
    #[error("invalid envelope: {detail}")]
    Invalid {
        /// What was wrong.
        detail: String,
    },
    /// The envelope was made longer ago than the leader's dedup window (its
    /// id, a UUID v7, carries the time) and is not among the envelopes the
    /// leader remembers: whether it was already committed can no longer be
    /// told, so it was not applied.
    #[error("envelope made {age_ms} ms ago, longer than the dedup window of {window_ms} ms: it was not applied, and it may or may not have been committed before; read the rows again and write what is missing")]
    Expired {
        /// How long before the leader received it the envelope was made.
        age_ms: u64,
        /// The leader's dedup window.
        window_ms: u64,
    },
    /// The disk or the browser's storage quota is full.
    #[error("storage is full; free space or delete data, then retry")]
    StorageFull,
    /// The store failed for another reason; the transaction was rolled back.
    #[error("storage error, nothing was committed: {detail}")]
    Storage {
        /// The store's message.
        detail: String,
    },
}

/// Where the leader keeps the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// A file that survives the leader (OPFS in browsers, a file natively).
    Persistent,
    /// Memory only: the data lives as long as the leading tab.
    Memory,
}

/// What a leader says about itself in every hello and heartbeat.
///
/// ```
/// use lockstep::protocol::{LeaderInfo, Storage};
/// use lockstep::DatabaseEpoch;
/// let info = LeaderInfo { epoch: DatabaseEpoch::from_u128(1), storage: Storage::Memory, store_errors: 0, last_store_error: None, invalid_rows: 0, last_invalid_row: None };
/// assert_eq!(info.storage, Storage::Memory);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderInfo {
    /// The incarnation of the database it serves.
    pub epoch: DatabaseEpoch,
    /// Where it keeps the database.
    pub storage: Storage,
    /// Store failures outside envelopes (serving pulls, pages, captures,
    /// uploads) since it took leadership.
    pub store_errors: u64,
    /// The last of those failures.
    pub last_store_error: Option<String>,
    /// Rows that other code wrote with an invalid key (not in its canonical
    /// JSON text) or value, which Lockstep ignores: counted each time one is
    /// skipped (captured, or met while serving a page).
    #[serde(default)]
    pub invalid_rows: u64,
    /// Why the last of those rows is invalid, and what to do about it.
    #[serde(default)]
    pub last_invalid_row: Option<String>,
}

impl LeaderInfo {
    /// A healthy leader of database incarnation `epoch` on `storage`: no store
    /// errors, no invalid rows.
    ///
    /// ```
    /// use lockstep::protocol::{LeaderInfo, Storage};
    /// use lockstep::DatabaseEpoch;
    /// let info = LeaderInfo::new(DatabaseEpoch::from_u128(1), Storage::Persistent);
    /// assert_eq!((info.store_errors, info.invalid_rows), (0, 0));
    /// ```
    pub fn new(epoch: DatabaseEpoch, storage: Storage) -> LeaderInfo {
        LeaderInfo {
            epoch,
            storage,
            store_errors: 0,
            last_store_error: None,
            invalid_rows: 0,
            last_invalid_row: None,
        }
    }
}

/// The answer to a query: rows, or why there are none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QueryOutcome {
    /// The statement ran.
    Rows(QueryRows),
    /// It did not.
    Failed {
        /// Why.
        error: QueryError,
    },
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Body {
    /// A tab asks whoever leads (`to: None`, when it opens) or one tab that
    /// speaks as a leader (`to: Some(tab)`, a probe) to introduce itself.
    Join {
        /// A random number the answer must echo: only a coordinator that
        /// received this `Join` can answer it, so no stray or forged hello
        /// can make a tab follow its sender.
        #[serde(default)]
        probe: u64,
    },
    /// A new leader serves (broadcast), or answers a `Join` (to one tab).
    LeaderHello {
        /// The leader's stream position.
        position: StreamPosition,
        /// The leader's database and health.
        leader: LeaderInfo,
        /// The `probe` of the `Join` this answers; 0 in a broadcast hello.
        #[serde(default)]
        probe: u64,
    },
    /// The leader is alive; carries its position so tabs notice missed commits.
    Heartbeat {
        /// The leader's stream position.
        position: StreamPosition,
        /// The leader's database and health.
        leader: LeaderInfo,
    },
    /// Tab → leader: apply these ops.
    Envelope(Envelope),
    /// Leader → all: a transaction was committed.
    TxCommitted(TxCommitted),
    /// Leader → its own tab: that tab's envelope was committed at
    /// `position`. The commit's changes are what the envelope's ops make
    /// ([`changes_of`](crate::changes_of)), which the tab holds, with the
    /// rows that patches made, which only the leader knows, in `patched`.
    /// The broadcast of the commit skips the tab ([`Message::skips`]).
    Acknowledged {
        /// The envelope.
        envelope_id: EnvelopeId,
        /// Where it was committed.
        position: StreamPosition,
        /// The changes of the rows whose last op in the envelope is a patch.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        patched: Vec<Change>,
    },
    /// Leader → origin: the envelope was already committed at `position`
    /// (a re-send after a lost reply or a failover).
    AlreadyCommitted {
        /// The envelope.
        envelope_id: EnvelopeId,
        /// Where it was committed.
        position: StreamPosition,
    },
    /// Leader → origin: the envelope was refused; roll it back.
    Rejected {
        /// The envelope.
        envelope_id: EnvelopeId,
        /// Why.
        rejection: Rejection,
    },
    /// Tab → leader: send the committed transactions after `after`.
    PullSince {
        /// Request id chosen by the tab.
        request: u64,
        /// Last seq the tab has applied.
        after: Seq,
        /// Most transactions wanted in one page.
        limit: u32,
    },
    /// Leader → tab: a page of the change log.
    PullPage {
        /// The request answered.
        request: u64,
        /// Transactions in seq order, starting at `after + 1`.
        txs: Vec<TxCommitted>,
        /// The leader's position when the page was read.
        position: StreamPosition,
        /// The change log no longer reaches back to `after + 1`: reload instead.
        truncated: bool,
    },
    /// Tab → leader: send the changes of transaction `seq` from change `offset` on.
    PullTx {
        /// Request id chosen by the tab.
        request: u64,
        /// The transaction.
        seq: Seq,
        /// Index of the first change wanted.
        offset: u32,
    },
    /// Leader → tab: part of one transaction's changes.
    TxPart {
        /// The request answered.
        request: u64,
        /// The transaction.
        seq: Seq,
        /// Index of the first change in `changes`.
        offset: u32,
        /// Changes `offset..offset + changes.len()`.
        changes: Vec<Change>,
        /// How many changes the transaction has.
        total: u32,
        /// The leader's position when the part was read.
        position: StreamPosition,
        /// The change log no longer holds the transaction: reload instead.
        missing: bool,
    },
    /// Tab → leader: send rows of a collection after key `after`.
    Hydrate {
        /// Request id chosen by the tab.
        request: u64,
        /// The collection.
        collection: CollectionId,
        /// Last key received, or `None` for the first page.
        after: Option<Key>,
        /// Most rows wanted in one page.
        limit: u32,
    },
    /// Tab → leader: run a read-only SQL statement on the live database.
    Query {
        /// Request id chosen by the tab.
        request: u64,
        /// One SQL statement; collections are visible as views named after them.
        sql: String,
        /// Values for its `?` parameters.
        params: Vec<serde_json::Value>,
        /// Top-level fields to index first (collection, field), for a
        /// statement ordered by them (on-demand loads).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        indexes: Vec<(CollectionId, String)>,
    },
    /// Leader → tab: the answer to a `Query`.
    QueryResult {
        /// The request answered.
        request: u64,
        /// The leader's position when it ran the query: the rows are the
        /// database as of this transaction.
        position: StreamPosition,
        /// The rows, or why there are none.
        outcome: QueryOutcome,
    },
    /// Tab → leader: describe the database (collections, counts, health).
    Describe {
        /// Request id chosen by the tab.
        request: u64,
    },
    /// Leader → tab: the answer to a `Describe`.
    Description {
        /// The request answered.
        request: u64,
        /// The description.
        report: DatabaseReport,
    },
    /// Leader → tab: a page of rows.
    HydratePage {
        /// The request answered.
        request: u64,
        /// The collection.
        collection: CollectionId,
        /// The leader's position when the page was read.
        position: StreamPosition,
        /// Rows in the store's key order.
        rows: Vec<PageRow>,
        /// Whether more rows follow.
        more: bool,
        /// How many rows the collection holds, on the first page of a load
        /// (for progress bars; rows written meanwhile may change it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    /// Leader → tab: the read request could not be served because the store
    /// failed; the tab may ask again.
    RequestFailed {
        /// The request that failed.
        request: u64,
        /// The store's error.
        error: String,
    },
}

/// Size limits applied to everything that arrives from another context.
///
/// ```
/// use lockstep::protocol::Limits;
/// let l = Limits::default();
/// assert_eq!(l.max_ops_per_envelope, 100_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most ops in one envelope.
    pub max_ops_per_envelope: usize,
    /// Largest row, in bytes of JSON.
    pub max_row_bytes: usize,
    /// Largest payload the leader puts in one message (4 MiB): bigger
    /// commits are broadcast as `requires_pull` headers, and pages are cut
    /// there. Each page or part is a round trip to the leader, so fewer,
    /// larger ones load faster: 100,000 rows were ready in 2.3 s with
    /// 100 KiB pages and in 1.2 s with 4 MiB ones, in Chromium, same run
    /// conditions.
    pub max_inline_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_ops_per_envelope: 100_000,
            max_row_bytes: 1 << 20,
            max_inline_bytes: 4 << 20,
        }
    }
}

/// Why bytes from another context were not accepted as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`Limits::max_message_bytes`].
    #[error("message of {bytes} bytes exceeds the limit of {max}; it was dropped")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Another protocol version: a tab running an older or newer build of the app.
    #[error("message uses protocol version {0}, this tab speaks {PROTOCOL_VERSION}; reload the older tab so all tabs run the same build")]
    UnknownVersion(u32),
    /// Not a message of this protocol.
    #[error("malformed message dropped: {0}")]
    Malformed(String),
    /// A message for another database (another app or scope).
    #[error("message for database {0} ignored")]
    ForeignDatabase(String),
    /// Well-formed, but breaks a limit (too many ops, a row too large).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

/// Decodes and checks bytes received from another context for database `db`.
///
/// ```
/// use lockstep::protocol::{decode, DecodeError, Limits};
/// use lockstep::DatabaseId;
/// let db = DatabaseId::new("app", "u").unwrap();
/// assert!(matches!(decode(b"{nonsense", &db, &Limits::default()), Err(DecodeError::Malformed(_))));
/// assert!(matches!(decode(br#"{"v":99}"#, &db, &Limits::default()), Err(DecodeError::UnknownVersion(99))));
/// ```
pub fn decode(bytes: &[u8], db: &DatabaseId, limits: &Limits) -> Result<Message, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let message: Message = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(e) => {
            return Err(match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(VersionOnly { v }) if v != PROTOCOL_VERSION => DecodeError::UnknownVersion(v),
                _ => DecodeError::Malformed(e.to_string()),
            })
        }
    };
    if message.v != PROTOCOL_VERSION {
        return Err(DecodeError::UnknownVersion(message.v));
    }
    if &message.db != db {
        return Err(DecodeError::ForeignDatabase(message.db.to_string()));
    }
    if let Body::Envelope(envelope) = &message.body {
        if bytes.len() > limits.max_row_bytes {
            check_ops(&envelope.ops, limits)?;
        } else if envelope.ops.len() > limits.max_ops_per_envelope {
            // No row can be larger than the message that holds it: only the
            // count is left to check, without encoding every row to size it.
            return Err(DecodeError::Invalid(InvalidInput::TooManyOps {
                ops: envelope.ops.len(),
                max: limits.max_ops_per_envelope,
            }));
        }
    }
    Ok(message)
}

/// Messages at least this long are first skimmed for their recipient (see
/// [`recipient`]), so a tab drops a large message meant for another tab
/// (a hydration page, say) without decoding its rows.
pub const SKIM_FROM_BYTES: usize = 4 << 10;

/// The recipient of an encoded message (`Some(None)`: everyone), read from
/// the fields before `to` only (a message encodes them first), so the body
/// is not even scanned; `None` if no `to` comes before the body, or the
/// bytes are not a JSON object.
///
/// ```
/// use lockstep::protocol::{recipient, Body, Message, PROTOCOL_VERSION};
/// use lockstep::{DatabaseId, TabId, Term};
/// let to = TabId::from_u128(9);
/// let m = Message { v: PROTOCOL_VERSION, db: DatabaseId::new("app", "u").unwrap(), term: Term(1),
///     from: TabId::from_u128(1), to: Some(to), body: Body::Join { probe: 1 } };
/// assert_eq!(recipient(&m.encode()), Some(Some(to)));
/// assert_eq!(recipient(br#"{"to":null,"body":{"#), Some(None));
/// assert_eq!(recipient(br#"{"body":{},"to":null}"#), None);
/// assert_eq!(recipient(b"{nonsense"), None);
/// ```
pub fn recipient(bytes: &[u8]) -> Option<Option<TabId>> {
    leading_field(bytes, "to")
}

/// The sender of an encoded message, read like [`recipient`] from the
/// fields before the body only; `None` if none comes before it.
///
/// ```
/// use lockstep::protocol::{sender, Body, Message, PROTOCOL_VERSION};
/// use lockstep::{DatabaseId, TabId, Term};
/// let from = TabId::from_u128(1);
/// let m = Message { v: PROTOCOL_VERSION, db: DatabaseId::new("app", "u").unwrap(), term: Term(1),
///     from, to: None, body: Body::Join { probe: 1 } };
/// assert_eq!(sender(&m.encode()), Some(from));
/// assert_eq!(sender(b"{nonsense"), None);
/// ```
pub fn sender(bytes: &[u8]) -> Option<TabId> {
    leading_field(bytes, "from")
}

/// Field `name` of an encoded message when it comes before `body`.
fn leading_field<T: serde::de::DeserializeOwned>(bytes: &[u8], name: &str) -> Option<T> {
    use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, Visitor};
    struct Leading<'a, T> {
        name: &'a str,
        found: &'a mut Option<T>,
    }
    impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for Leading<'_, T> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a message")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if field == self.name {
                    *self.found = Some(map.next_value()?);
                    // Found: stop here, before the body.
                    return Err(A::Error::custom("stop"));
                }
                if field == "body" {
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut found = None;
    let _ = serde_json::Deserializer::from_slice(bytes).deserialize_map(Leading {
        name,
        found: &mut found,
    });
    found
}

/// Checks a batch of ops against the limits: op count and row size.
///
/// ```
/// use lockstep::protocol::{check_ops, Limits};
/// use lockstep::{Op, CollectionId, HeldRow, Key, Row};
/// let op = Op::Insert { collection: CollectionId::new("c").unwrap(), key: Key::Int(1), value: HeldRow::shared(Row::new()) };
/// assert!(check_ops(&[op], &Limits::default()).is_ok());
/// ```
pub fn check_ops(ops: &[Op], limits: &Limits) -> Result<(), InvalidInput> {
    if ops.len() > limits.max_ops_per_envelope {
        return Err(InvalidInput::TooManyOps {
            ops: ops.len(),
            max: limits.max_ops_per_envelope,
        });
    }
    for op in ops {
        let bytes = match op {
            Op::Insert { value, .. } | Op::Update { value, .. } => held_bytes(value),
            Op::Patch { fields, .. } => row_bytes(fields),
            Op::Delete { .. } => continue,
        };
        if bytes > limits.max_row_bytes {
            return Err(InvalidInput::RowTooLarge {
                collection: op.collection().clone(),
                key: op.key().clone(),
                bytes,
                max: limits.max_row_bytes,
            });
        }
    }
    Ok(())
}

/// Size of a row's JSON text, counted without allocating it.
fn row_bytes(row: &Row) -> usize {
    json_bytes(row)
}

/// Size of a held row's JSON text: the text it is held as (as sent), or
/// its row's.
fn held_bytes(row: &HeldRow) -> usize {
    match row.text() {
        Some(text) => text.len(),
        None => row_bytes(row),
    }
}

/// Size of any value's JSON text, counted without allocating it.
pub(crate) fn json_bytes<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("counting never fails");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CollectionId, EnvelopeId, Key, TabId};

    /// A page decodes into a `Vec<PageRow>` that grows as rows come: each
    /// stored row is its key and a pointer to its text, not a parsed row's
    /// map inline (a third of the bytes to copy at every growth).
    #[test]
    fn a_page_row_is_a_key_and_two_words() {
        let words = std::mem::size_of::<usize>();
        assert!(
            std::mem::size_of::<PageRow>() <= std::mem::size_of::<Key>() + 2 * words,
            "{} bytes",
            std::mem::size_of::<PageRow>()
        );
    }

    /// An envelope of `ops` from tab 1.
    fn envelope_message(db: &DatabaseId, ops: Vec<Op>) -> Message {
        Message {
            v: PROTOCOL_VERSION,
            db: db.clone(),
            term: Term(1),
            from: TabId::from_u128(1),
            to: None,
            body: Body::Envelope(Envelope {
                envelope_id: EnvelopeId::new_v7(1, [0; 10]),
                origin: TabId::from_u128(1),
                ops,
            }),
        }
    }

    #[test]
    fn decode_refuses_a_row_over_the_limit_and_too_many_ops_in_a_small_message() {
        let db = DatabaseId::new("app", "u").unwrap();
        let op = |n: usize| Op::Insert {
            collection: CollectionId::new("c").unwrap(),
            key: Key::Int(n as i64),
            value: crate::HeldRow::shared(
                serde_json::json!({"t": "x".repeat(100)})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        };
        let message = |ops: Vec<Op>| envelope_message(&db, ops).encode();
        let small_rows = Limits {
            max_row_bytes: 50,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&message(vec![op(1)]), &db, &small_rows),
            Err(DecodeError::Invalid(InvalidInput::RowTooLarge { .. }))
        ));
        let few_ops = Limits {
            max_ops_per_envelope: 2,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&message(vec![op(1), op(2), op(3)]), &db, &few_ops),
            Err(DecodeError::Invalid(InvalidInput::TooManyOps {
                ops: 3,
                max: 2
            }))
        ));
        assert!(decode(&message(vec![op(1), op(2)]), &db, &few_ops).is_ok());
    }

    #[test]
    fn a_stored_row_is_sent_as_stored_and_decodes_to_its_text() {
        let db = DatabaseId::new("app", "u").unwrap();
        let text = r#"{"b":[1,2.5,"x"],"a":{"nested":null}}"#;
        let page = |rows: Vec<PageRow>| Message {
            v: PROTOCOL_VERSION,
            db: db.clone(),
            term: Term(1),
            from: TabId::from_u128(1),
            to: Some(TabId::from_u128(2)),
            body: Body::HydratePage {
                request: 1,
                collection: CollectionId::new("c").unwrap(),
                position: StreamPosition::default(),
                rows,
                more: false,
                total: None,
            },
        };
        let stored = PageRow::stored(Key::Int(7), text.to_string()).unwrap();
        let parsed: PageRow = KeyedRow {
            key: Key::Int(7),
            value: serde_json::from_str(text).unwrap(),
        }
        .into();
        let bytes = page(vec![stored.clone()]).encode();
        assert!(
            String::from_utf8(bytes.clone()).unwrap().contains(text),
            "sent as stored"
        );
        let decoded = decode(&bytes, &db, &Limits::default()).unwrap();
        assert_eq!(decoded, page(vec![parsed.clone()]));
        // Received as it was sent: the text, unparsed.
        assert!(
            matches!(&decoded.body, Body::HydratePage { rows, .. } if matches!(&rows[0], PageRow::Stored { value, .. } if value.get() == text))
        );
        let parsed_sent = decode(
            &page(vec![parsed.clone()]).encode(),
            &db,
            &Limits::default(),
        );
        assert_eq!(parsed_sent.unwrap(), page(vec![stored.clone()]));
        // A value that is not an object does not decode.
        let mut bad = String::from_utf8(bytes).unwrap();
        bad = bad.replace(text, "[1,2]");
        assert!(matches!(
            decode(bad.as_bytes(), &db, &Limits::default()),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(stored.wire_bytes(), json_bytes(&stored));
        assert_eq!(parsed.wire_bytes(), json_bytes(&parsed));
    }

    #[test]
    fn stored_text_that_is_not_an_object_or_not_a_row_is_refused() {
        for bad in ["", "not json", "[1]", "\"s\"", "{\"a\":1", "{} {}"] {
            assert!(
                PageRow::stored(Key::Int(1), bad.to_string()).is_err(),
                "{bad}"
            );
        }
        // Well-formed JSON that no row can hold: refused where it is read,
        // so a tab that hands rows to JavaScript never shows it either.
        assert!(PageRow::stored(Key::Int(1), r#"{"n":1e400}"#.to_string()).is_err());
        // A page from elsewhere (another tab) is checked again by a tab that
        // keeps its rows.
        let huge: PageRow = serde_json::from_str(r#"{"key":1,"value":{"n":1e400}}"#).unwrap();
        assert!(huge.clone().into_held().is_err());
        assert!(huge.into_keyed().is_err());
    }

    #[test]
    fn floats_in_rows_survive_encode_and_decode_exactly() {
        // Found by fuzzing: 8.8e30 came back as 8.799999999999999e30.
        let db = DatabaseId::new("app", "u").unwrap();
        let value: Row = serde_json::from_str(
            r#"{"x":8800000000000000000001442098036,"y":0.1,"z":-1.7976931348623157e308}"#,
        )
        .unwrap();
        let op = Op::Insert {
            collection: CollectionId::new("todos").unwrap(),
            key: Key::from("a"),
            value: crate::HeldRow::shared(value),
        };
        let message = envelope_message(&db, vec![op]);
        let once = decode(&message.encode(), &db, &Limits::default()).unwrap();
        assert_eq!(once, message);
        assert_eq!(
            decode(&once.encode(), &db, &Limits::default()).unwrap(),
            message
        );
    }
}
