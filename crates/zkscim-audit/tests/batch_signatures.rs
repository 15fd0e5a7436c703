//! Stage 5 with statement signatures verified in batches on a second thread: a rule-consistent
//! log is clean, and a forged statement signature is still reported, at its own index, exactly
//! as the one-by-one path reports it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use zkscim_audit::testkit::{
    generate_consistent_export, LogBuilder, CONSISTENT_ORIGIN, CONSISTENT_TENANT,
};
use zkscim_audit::verdicts::RulesChecker;
use zkscim_audit::{Auditor, EntryContext, Finding, VerdictChecker};
use zkscim_proto::export::{ExportReader, Item};
use zkscim_proto::log_entry::{submitted_hash_of, EntryKind, LogEntry};
use zkscim_rules::Settings;

fn anchors() -> zkscim_audit::TrustAnchors {
    LogBuilder::new(CONSISTENT_TENANT, CONSISTENT_ORIGIN)
        .unwrap()
        .anchors()
        .unwrap()
}

#[test]
fn consistent_log_audits_clean_with_batches() {
    let bytes = generate_consistent_export(Vec::new(), 2_000).unwrap();
    let anchors = anchors();
    let root = anchors.root_key;
    let auditor = Auditor::new(anchors).unwrap();
    for batch in [true, false] {
        let mut checker =
            RulesChecker::new(root, Settings::default(), None).with_batch_signatures(batch);
        let (report, _) = auditor
            .audit_with_state(&bytes[..], None, Some(&mut checker), &mut |_| {})
            .unwrap();
        assert!(report.is_clean(), "{:?}", report.findings);
        assert_eq!(report.counts.entries, 2_000);
        assert!(checker.summary().directory_digest.is_some());
        assert!(
            !checker.summary().refusals.is_empty(),
            "refusals re-derived too"
        );
        // The workload must build a directory, not only refusals: an earlier generator wrote
        // non-canonical sealed values, so every create was refused and the replayed state
        // stayed empty, which hid the directory's memory and CPU from the benchmark.
        let summary = checker.summary();
        let applied: u64 = summary.keys.values().map(|k| k.applied).sum();
        let refused: u64 = summary.keys.values().map(|k| k.refused).sum();
        assert!(
            applied > 10 * refused,
            "applied {applied}, refused {refused}"
        );
        assert_eq!(
            summary.refusals.keys().collect::<Vec<_>>(),
            ["scim.uniqueness"],
            "only the planted duplicate blind indexes are refused"
        );
    }
}

/// How a statement's signature is replaced.
#[derive(Clone, Copy)]
enum Forgery {
    /// A flipped bit: nobody signed these bytes.
    FlippedBit,
    /// Re-signed by its own signer (the connector) with `R` = identity and S = k·a: it
    /// satisfies the cofactorless equation exactly, so `ed25519_dalek::verify_batch` accepts
    /// it, but `verify_strict` refuses it (small-order `R`), so the authority never logs it.
    IdentityR,
}

/// The connector key of the consistent export (`testkit::consistent`).
const CONNECTOR_SEED: [u8; 32] = [0xc0; 32];

fn resign_with_identity_r(submitted: &mut [u8]) {
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let sign1 = zkscim_proto::cose::parse_any(submitted).unwrap();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&CONNECTOR_SEED);
    let r = EdwardsPoint::default().compress().to_bytes();
    let mut h = Sha512::new();
    h.update(r);
    h.update(dalek.verifying_key().to_bytes());
    h.update(sign1.to_be_signed());
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = k * dalek.to_scalar();
    // The signature is the final 64 bytes of the COSE_Sign1 array.
    let at = submitted.len() - 64;
    submitted[at..at + 32].copy_from_slice(&r);
    submitted[at + 32..].copy_from_slice(s.as_bytes());
    let key = zkscim_proto::keys::PublicKey::from_bytes(&dalek.verifying_key().to_bytes()).unwrap();
    let resigned = zkscim_proto::cose::parse_any(submitted).unwrap();
    assert_eq!(resigned.kid, key.key_id(), "a connector-signed statement");
    assert!(key
        .verify_strict(&resigned.to_be_signed(), &resigned.signature)
        .is_err());
}

/// Feeds the checker directly, with the statement at `forge` carrying a corrupted signature
/// (its entry's submitted hash adjusted, as a dishonest server re-hashing its log would).
fn findings_with_forgery(n: u64, forge: &[u64], batch: bool) -> Vec<Finding> {
    findings_with(n, forge, batch, Forgery::FlippedBit)
}

fn findings_with(n: u64, forge: &[u64], batch: bool, how: Forgery) -> Vec<Finding> {
    let bytes = generate_consistent_export(Vec::new(), n).unwrap();
    let mut reader = ExportReader::new(&bytes[..]).unwrap();
    let header = reader.header().clone();
    let mut checker = RulesChecker::new(anchors().root_key, Settings::default(), None)
        .with_batch_signatures(batch);
    checker.begin(&header, None).unwrap();
    let mut findings = Vec::new();
    let mut index = 0u64;
    while let Some(item) = reader.next_item().unwrap() {
        let Item::Entry(rec) = item.item else {
            continue;
        };
        let mut entry = LogEntry::from_bytes(&rec.entry).unwrap();
        let mut submitted = rec.submitted.clone();
        if forge.contains(&index) {
            assert_eq!(entry.kind, EntryKind::Operation, "forge a statement");
            match how {
                Forgery::FlippedBit => {
                    let at = submitted.len() - 40;
                    submitted[at] ^= 0x01;
                }
                Forgery::IdentityR => resign_with_identity_r(&mut submitted),
            }
            entry.submitted_hash = submitted_hash_of(&submitted);
        }
        let entry_bytes = entry.to_bytes();
        findings.extend(checker.check_entry(&EntryContext {
            index,
            entry: &entry,
            entry_bytes: &entry_bytes,
            submitted: &submitted,
            chain_ok: true,
        }));
        index += 1;
    }
    findings.extend(checker.flush());
    findings.extend(checker.finish());
    findings
}

fn operation_indexes(n: u64) -> Vec<u64> {
    let bytes = generate_consistent_export(Vec::new(), n).unwrap();
    let mut reader = ExportReader::new(&bytes[..]).unwrap();
    let mut ops = Vec::new();
    let mut index = 0u64;
    while let Some(item) = reader.next_item().unwrap() {
        if let Item::Entry(rec) = item.item {
            let e = LogEntry::from_bytes(&rec.entry).unwrap();
            if e.kind == EntryKind::Operation {
                ops.push(index);
            }
            index += 1;
        }
    }
    ops
}

#[test]
fn forged_signature_is_reported_at_its_index_in_a_batch() {
    // 1,300 entries: several full batches of 512 and a partial one; forgeries in the first
    // batch, the middle of the second, and the tail.
    let n = 1_300;
    let ops = operation_indexes(n);
    let forge = [ops[10], ops[700], ops[ops.len() - 3]];
    assert_forgeries_reported(n, &forge, Forgery::FlippedBit);
    // A clean run of the same log finds nothing.
    assert!(findings_with_forgery(n, &[], true).is_empty());
}

/// Each forged statement is reported as unauthenticated at its own index, and the batched and
/// one-by-one paths report exactly the same: forging changes nothing else (a later entry may
/// depend on the forged one, e.g. a patch of the user it created, and both judge it alike).
fn assert_forgeries_reported(n: u64, forge: &[u64], how: Forgery) {
    let batched = findings_with(n, forge, true, how);
    let one_by_one = findings_with(n, forge, false, how);
    let at: Vec<(Option<u64>, &str)> = batched.iter().map(|f| (f.index, f.code.as_str())).collect();
    assert!(
        forge.iter().all(|i| at
            .iter()
            .any(|(x, c)| *x == Some(*i) && *c == "audit.verdict.unauthenticated_logged")),
        "{at:?}"
    );
    assert_eq!(batched, one_by_one);
}

/// A signature that only strict verification refuses, logged as applied by a server colluding
/// with the key's holder: the batch path must report it as the one-by-one path does.
#[test]
fn signature_with_identity_r_is_reported_in_a_batch() {
    let n = 1_300;
    let ops = operation_indexes(n);
    assert_forgeries_reported(n, &[ops[20], ops[600]], Forgery::IdentityR);
}

/// The replayed directory's digest is pinned to the value computed by the earlier in-memory
/// state (bodies held as `serde_json::Value`): keeping bodies as their JSON text, parsed on
/// read, must not change a byte of it.
#[test]
fn replayed_digest_matches_the_value_based_state() {
    let bytes = generate_consistent_export(Vec::new(), 2_000).unwrap();
    let anchors = anchors();
    let root = anchors.root_key;
    let auditor = Auditor::new(anchors).unwrap();
    let mut checker = RulesChecker::new(root, Settings::default(), None);
    let (report, _) = auditor
        .audit_with_state(&bytes[..], None, Some(&mut checker), &mut |_| {})
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(
        checker.summary().directory_digest.as_deref(),
        Some("eb06d6a3661e7d7dc6c569c50aa856c9667c9714c7c2952e4153d70fdfff0519")
    );
}
