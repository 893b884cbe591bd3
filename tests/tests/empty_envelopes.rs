//! Issue 8, lesser item: an envelope with no ops committed an empty
//! transaction and used up a seq (tabs refuse to make one, but another
//! build or a script can send it). The leader refuses it.
//!
//! Before the fix:
//!
//! ```text
//! ---- an_envelope_with_no_ops_is_refused_and_uses_no_seq stdout ----
//! expected a refusal, got TxCommitted(TxCommitted { term: Term(1), seq: Seq(1),
//!   envelope_id: Some(…), origin: Some(…), changes: [], requires_pull: false })
//! ```

use lockstep::protocol::{Body, Rejection};
use lockstep::{MemoryStore, Seq, Store};
use lockstep_tests::envelopes::{self, envelope_id};
use lockstep_tests::*;

#[test]
fn an_envelope_with_no_ops_is_refused_and_uses_no_seq() {
    let db = database("todo", "u1");
    let mut leader = envelopes::start(MemoryStore::new(), &db);
    let out = envelopes::send(&mut leader, &db, envelope_id(1), Vec::new());
    match &out[..] {
        [m] => match &m.body {
            Body::Rejected {
                rejection: Rejection::Invalid { detail },
                ..
            } => assert!(detail.contains("no ops"), "{detail}"),
            other => panic!("expected a refusal, got {other:?}"),
        },
        other => panic!("expected one answer, got {other:?}"),
    }
    assert_eq!(leader.store_mut().meta().unwrap().position.seq, Seq(0));
    assert_eq!(leader.stats().rejected, 1);
}
