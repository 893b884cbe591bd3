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

/// Found by fuzzing `leader_receives`: exactly-once goes by the id, so a
/// re-send of a committed id is answered with its original position even
/// when it arrives without ops; the empty-envelope refusal comes after.
#[test]
fn a_committed_id_resent_without_ops_is_answered_with_its_position() {
    let db = database("todo", "u1");
    let todos = collection("todos");
    let mut leader = envelopes::start(MemoryStore::new(), &db);
    let ops = vec![envelopes::insert(&todos, "a", serde_json::json!({}))];
    let first = envelopes::committed(&envelopes::send(&mut leader, &db, envelope_id(1), ops));
    let again = envelopes::send(&mut leader, &db, envelope_id(1), Vec::new());
    assert_eq!(
        again[0].body,
        Body::AlreadyCommitted {
            envelope_id: envelope_id(1),
            position: first[0].position()
        }
    );
}
