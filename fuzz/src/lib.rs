//! Structured inputs shared by the fuzz targets.
//!
//! Raw bytes rarely get past JSON parsing, so the stateful targets also build
//! well-formed messages from the fuzz input with `arbitrary`: small pools of
//! ids, keys, collections and seqs make collisions (duplicates, gaps, stale
//! terms, matching request ids) likely instead of astronomically rare.

use arbitrary::{Arbitrary, Unstructured};
use lockstep::protocol::{
    Body, Envelope, KeyedRow, LeaderInfo, Message, Rejection, Storage, TxCommitted,
    PROTOCOL_VERSION,
};
use lockstep::{
    Change, CollectionId, DatabaseEpoch, DatabaseId, EnvelopeId, HeldRow, Key, Op, Row, Seq,
    SharedRow, StreamPosition, TabId, Term, MAX_SAFE_INTEGER,
};

/// The database every target speaks for.
pub fn db() -> DatabaseId {
    DatabaseId::new("fuzz", "user-1").expect("valid database id")
}

/// Collections: the first two are opened by the tab target, the third never is.
pub const COLLECTIONS: [&str; 3] = ["todos", "notes", "never-opened"];

/// A collection from the pool.
pub fn collection(index: u8) -> CollectionId {
    CollectionId::new(COLLECTIONS[usize::from(index) % COLLECTIONS.len()]).expect("valid name")
}

/// A tab id from a small pool (0 is the tab or leader under test).
pub fn tab(index: u8) -> TabId {
    TabId::from_u128(u128::from(index % 4) + 1)
}

/// An envelope id from a small pool, so re-sends and acknowledgements match.
pub fn envelope_id(index: u8) -> EnvelopeId {
    let n = index % 16;
    EnvelopeId::new_v7(1_700_000_000_000 + u64::from(n), [n; 10])
}

/// A seq or term: mostly small, sometimes at the edges of `u64`.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Counter {
    /// 0..=255.
    Small(u8),
    /// Near `u64::MAX`.
    Huge(u8),
    /// Anything.
    Any(u64),
}

impl Counter {
    /// The value.
    pub fn get(self) -> u64 {
        match self {
            Counter::Small(n) => u64::from(n),
            Counter::Huge(n) => u64::MAX - u64::from(n % 4),
            Counter::Any(n) => n,
        }
    }
    /// As a seq.
    pub fn seq(self) -> Seq {
        Seq(self.get())
    }
}

/// A row key: small pools plus the edges of the valid range.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzKey {
    /// A small integer.
    Int(i8),
    /// The largest or smallest safe integer.
    Edge(bool),
    /// A short string from a pool.
    Pooled(u8),
    /// Any string (truncated to the key limit on a char boundary).
    Text(String),
}

impl FuzzKey {
    /// The key (always valid).
    pub fn key(&self) -> Key {
        match self {
            FuzzKey::Int(i) => Key::Int(i64::from(*i)),
            FuzzKey::Edge(true) => Key::Int(MAX_SAFE_INTEGER),
            FuzzKey::Edge(false) => Key::Int(-MAX_SAFE_INTEGER),
            FuzzKey::Pooled(n) => {
                Key::Str(["a", "b", "c", "1", "", "é"][usize::from(*n) % 6].into())
            }
            FuzzKey::Text(s) => {
                let mut end = s.len().min(lockstep::MAX_KEY_BYTES);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                Key::Str(s[..end].into())
            }
        }
    }
}

/// A JSON value for a row field.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzValue {
    /// null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (non-finite ones become null, as JSON has no NaN).
    Float(f64),
    /// A string.
    Text(String),
    /// A nested array.
    List(Vec<u8>),
}

impl FuzzValue {
    fn json(&self) -> serde_json::Value {
        match self {
            FuzzValue::Null => serde_json::Value::Null,
            FuzzValue::Bool(b) => (*b).into(),
            FuzzValue::Int(i) => (*i).into(),
            FuzzValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            FuzzValue::Text(s) => s.clone().into(),
            FuzzValue::List(items) => items.iter().map(|&b| u64::from(b)).collect(),
        }
    }
}

/// A row: a few named fields.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzRow(pub Vec<(u8, FuzzValue)>);

impl FuzzRow {
    /// The row.
    pub fn row(&self) -> Row {
        self.0
            .iter()
            .take(8)
            .map(|(name, value)| (format!("f{}", name % 4), value.json()))
            .collect()
    }

    /// The row held as its JSON text, as rows from JavaScript and from the
    /// wire are.
    pub fn shared(&self) -> SharedRow {
        let text = serde_json::to_string(&self.row()).unwrap_or_else(|_| "{}".into());
        match HeldRow::from_json(text.into()) {
            Ok(held) => SharedRow::new(held),
            Err(_) => HeldRow::shared(self.row()),
        }
    }
}

/// One op.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzOp {
    /// Insert.
    Insert(u8, FuzzKey, FuzzRow),
    /// Update.
    Update(u8, FuzzKey, FuzzRow),
    /// Delete.
    Delete(u8, FuzzKey),
}

impl FuzzOp {
    /// The op.
    pub fn op(&self) -> Op {
        match self {
            FuzzOp::Insert(c, k, r) => Op::Insert {
                collection: collection(*c),
                key: k.key(),
                value: r.shared(),
            },
            FuzzOp::Update(c, k, r) => Op::Update {
                collection: collection(*c),
                key: k.key(),
                value: r.shared(),
            },
            FuzzOp::Delete(c, k) => Op::Delete {
                collection: collection(*c),
                key: k.key(),
            },
        }
    }
}

/// Ops of one envelope (at most 16).
pub fn ops(ops: &[FuzzOp]) -> Vec<Op> {
    ops.iter().take(16).map(FuzzOp::op).collect()
}

/// A committed change.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzChange(pub u8, pub FuzzKey, pub Option<FuzzRow>);

/// A position.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct FuzzPosition(pub Counter, pub Counter);

impl FuzzPosition {
    /// The position.
    pub fn position(self) -> StreamPosition {
        StreamPosition {
            term: Term(self.0.get()),
            seq: self.1.seq(),
        }
    }
}

/// A committed transaction.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzTx {
    /// Term and seq.
    pub position: FuzzPosition,
    /// Envelope (from the pool) or a captured write.
    pub envelope: Option<u8>,
    /// Origin tab.
    pub origin: Option<u8>,
    /// Changes.
    pub changes: Vec<FuzzChange>,
    /// Broadcast as a header whose changes must be fetched.
    pub requires_pull: bool,
}

impl FuzzTx {
    /// The transaction.
    pub fn tx(&self) -> TxCommitted {
        let position = self.position.position();
        TxCommitted {
            term: position.term,
            seq: position.seq,
            envelope_id: self.envelope.map(envelope_id),
            origin: self.origin.map(tab),
            changes: self
                .changes
                .iter()
                .take(16)
                .map(|FuzzChange(c, k, r)| Change {
                    collection: collection(*c),
                    key: k.key(),
                    value: r.as_ref().map(FuzzRow::shared),
                })
                .collect(),
            requires_pull: self.requires_pull,
        }
    }
}

/// A rejection reason.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzRejection {
    /// Key exists.
    KeyExists(u8, FuzzKey),
    /// Key missing.
    KeyMissing(u8, FuzzKey),
    /// Invalid.
    Invalid(String),
    /// Storage full.
    StorageFull,
    /// Storage failure.
    Storage(String),
    /// Older than the dedup window.
    Expired(u64, u64),
}

impl FuzzRejection {
    fn rejection(&self) -> Rejection {
        match self {
            FuzzRejection::KeyExists(c, k) => Rejection::KeyExists {
                collection: collection(*c),
                key: k.key(),
            },
            FuzzRejection::KeyMissing(c, k) => Rejection::KeyMissing {
                collection: collection(*c),
                key: k.key(),
            },
            FuzzRejection::Invalid(detail) => Rejection::Invalid {
                detail: detail.clone(),
            },
            FuzzRejection::StorageFull => Rejection::StorageFull,
            FuzzRejection::Storage(detail) => Rejection::Storage {
                detail: detail.clone(),
            },
            FuzzRejection::Expired(age_ms, window_ms) => Rejection::Expired {
                age_ms: *age_ms,
                window_ms: *window_ms,
            },
        }
    }
}

/// What a (possibly forged) leader says about itself: an epoch from a small
/// pool, memory or persistent storage, and an error count.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzLeader {
    /// Epoch from a pool of four.
    pub epoch: u8,
    /// Memory-only storage.
    pub memory: bool,
    /// Store errors reported.
    pub store_errors: u8,
}

impl FuzzLeader {
    /// The leader info.
    pub fn info(&self) -> LeaderInfo {
        let storage = if self.memory {
            Storage::Memory
        } else {
            Storage::Persistent
        };
        LeaderInfo {
            store_errors: u64::from(self.store_errors),
            last_store_error: (self.store_errors > 0).then(|| "disk I/O error".to_owned()),
            invalid_rows: u64::from(self.store_errors / 2),
            last_invalid_row: (self.store_errors > 1)
                .then(|| "key 1.0 is not canonical".to_owned()),
            ..LeaderInfo::new(
                DatabaseEpoch::from_u128(u128::from(self.epoch % 4)),
                storage,
            )
        }
    }
}

/// Every message body, with fuzzed but well-formed contents.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzBody {
    /// Join, with its probe number.
    Join(u64),
    /// LeaderHello, with the probe number it answers.
    LeaderHello(FuzzPosition, FuzzLeader, u64),
    /// Heartbeat.
    Heartbeat(FuzzPosition, FuzzLeader),
    /// Envelope: id from the pool, origin tab, ops.
    Envelope(u8, u8, Vec<FuzzOp>),
    /// TxCommitted.
    TxCommitted(FuzzTx),
    /// AlreadyCommitted.
    AlreadyCommitted(u8, FuzzPosition),
    /// Rejected.
    Rejected(u8, FuzzRejection),
    /// PullSince: request, after, limit.
    PullSince(u8, Counter, u32),
    /// PullPage: request, txs, position, truncated.
    PullPage(u8, Vec<FuzzTx>, FuzzPosition, bool),
    /// Hydrate: request, collection, after, limit.
    Hydrate(u8, u8, Option<FuzzKey>, u32),
    /// HydratePage: request, collection, position, rows, more, total.
    HydratePage(
        u8,
        u8,
        FuzzPosition,
        Vec<(FuzzKey, FuzzRow)>,
        bool,
        Option<u64>,
    ),
    /// PullTx: request, seq, offset.
    PullTx(u8, Counter, u8),
    /// TxPart: request, the transaction (seq and changes), offset, total, position, missing.
    TxPart(u8, FuzzTx, u8, u8, FuzzPosition, bool),
    /// RequestFailed: request, error.
    RequestFailed(u8, String),
    /// Acknowledged: envelope id from the pool, position, the patched rows (a transaction's changes).
    Acknowledged(u8, FuzzPosition, FuzzTx),
}

impl FuzzBody {
    /// The body.
    pub fn body(&self) -> Body {
        match self {
            FuzzBody::Join(probe) => Body::Join { probe: *probe },
            FuzzBody::LeaderHello(p, l, probe) => Body::LeaderHello {
                position: p.position(),
                leader: l.info(),
                probe: *probe,
            },
            FuzzBody::Heartbeat(p, l) => Body::Heartbeat {
                position: p.position(),
                leader: l.info(),
            },
            FuzzBody::Envelope(id, origin, o) => Body::Envelope(Envelope {
                envelope_id: envelope_id(*id),
                origin: tab(*origin),
                ops: ops(o),
            }),
            FuzzBody::TxCommitted(tx) => Body::TxCommitted(tx.tx()),
            FuzzBody::AlreadyCommitted(id, p) => Body::AlreadyCommitted {
                envelope_id: envelope_id(*id),
                position: p.position(),
            },
            FuzzBody::Rejected(id, r) => Body::Rejected {
                envelope_id: envelope_id(*id),
                rejection: r.rejection(),
            },
            FuzzBody::PullSince(request, after, limit) => Body::PullSince {
                request: u64::from(*request),
                after: after.seq(),
                limit: *limit,
            },
            FuzzBody::PullPage(request, txs, p, truncated) => Body::PullPage {
                request: u64::from(*request),
                txs: txs.iter().take(16).map(FuzzTx::tx).collect(),
                position: p.position(),
                truncated: *truncated,
            },
            FuzzBody::Hydrate(request, c, after, limit) => Body::Hydrate {
                request: u64::from(*request),
                collection: collection(*c),
                after: after.as_ref().map(FuzzKey::key),
                limit: *limit,
            },
            FuzzBody::HydratePage(request, c, p, rows, more, total) => Body::HydratePage {
                request: u64::from(*request),
                collection: collection(*c),
                position: p.position(),
                rows: rows
                    .iter()
                    .take(16)
                    .map(|(k, r)| {
                        KeyedRow {
                            key: k.key(),
                            value: r.row(),
                        }
                        .into()
                    })
                    .collect(),
                more: *more,
                total: *total,
            },
            FuzzBody::PullTx(request, seq, offset) => Body::PullTx {
                request: u64::from(*request),
                seq: Seq(seq.get()),
                offset: u32::from(*offset),
            },
            FuzzBody::TxPart(request, tx, offset, total, p, missing) => {
                let tx = tx.tx();
                Body::TxPart {
                    request: u64::from(*request),
                    seq: tx.seq,
                    offset: u32::from(*offset),
                    changes: tx.changes,
                    total: u32::from(*total),
                    position: p.position(),
                    missing: *missing,
                }
            }
            FuzzBody::RequestFailed(request, error) => Body::RequestFailed {
                request: u64::from(*request),
                error: error.clone(),
            },
            FuzzBody::Acknowledged(id, p, tx) => Body::Acknowledged {
                envelope_id: envelope_id(*id),
                position: p.position(),
                patched: tx.tx().changes,
            },
        }
    }
}

/// A whole message for [`db`].
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzMessage {
    /// Sender's term: small (so it is often equal to the receiver's) or anything.
    pub term: Counter,
    /// Sender (from the pool).
    pub from: u8,
    /// Recipient (from the pool), or everyone.
    pub to: Option<u8>,
    /// Body.
    pub body: FuzzBody,
}

impl FuzzMessage {
    /// The message; a small term is folded into `0..term_range`.
    pub fn message(&self, term_range: u8) -> Message {
        let term = match self.term {
            Counter::Small(n) => u64::from(n % term_range.max(1)),
            other => other.get(),
        };
        Message {
            v: PROTOCOL_VERSION,
            db: db(),
            term: Term(term),
            from: tab(self.from),
            to: self.to.map(tab),
            body: self.body.body(),
        }
    }
}

/// Consumes the rest of `u` as a list of `T`, stopping quietly at the first error.
pub fn take_all<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>, max: usize) -> Vec<T> {
    let mut items = Vec::new();
    while items.len() < max && !u.is_empty() {
        match T::arbitrary(u) {
            Ok(item) => items.push(item),
            Err(_) => break,
        }
    }
    items
}

/// Inputs starting with `{` are newline-separated raw messages (the seed
/// corpora are written this way, so the fuzzer mutates real JSON); anything
/// else is decoded with `arbitrary` into structured actions.
pub fn json_lines(data: &[u8]) -> Option<Vec<&[u8]>> {
    (data.first() == Some(&b'{')).then(|| data.split(|&b| b == b'\n').take(64).collect())
}
