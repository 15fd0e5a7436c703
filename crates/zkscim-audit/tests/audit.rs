//! End-to-end auditor tests over real logs: genesis signed by the RFC 8032 TEST 1 root key,
//! certificates and operations that are real signed objects, checkpoints signed by the TEST 1024
//! key. Each tampering is made the way a dishonest server would (re-exporting with a correct
//! end digest) and must produce exactly the expected finding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use zkscim_audit::testkit::{generate_export, LogBuilder};
use zkscim_audit::witness::witness;
use zkscim_audit::{
    AuditState, Auditor, EntryContext, Finding, Report, Stage, StageStatus, TrustAnchors,
    VerdictChecker,
};
use zkscim_proto::export::{self, Item};
use zkscim_proto::keys::SigningKey;
use zkscim_proto::merkle::{consistency_proof, MemoryTree};
use zkscim_proto::note::{CosignatureSigner, NoteVerifier};

const TENANT: &str = "acme";
const ORIGIN: &str = "zkscim.example/acme";

fn log(n_ops: usize) -> LogBuilder {
    let mut b = LogBuilder::new(TENANT, ORIGIN).unwrap();
    b.certificate().unwrap();
    for i in 0..n_ops {
        b.operation().unwrap();
        if i % 4 == 3 {
            b.checkpoint().unwrap();
        }
    }
    b.checkpoint().unwrap();
    b
}

fn audit(
    anchors: TrustAnchors,
    bytes: &[u8],
    prev: Option<&AuditState>,
) -> (Report, Option<AuditState>) {
    Auditor::new(anchors)
        .unwrap()
        .audit_with_state(bytes, prev, None, &mut |_| {})
        .unwrap()
}

fn only(report: &Report) -> &Finding {
    assert_eq!(report.findings.len(), 1, "{}", report.summary());
    &report.findings[0]
}

fn entry_mut(items: &mut [Item], seq: u64) -> &mut export::EntryRecord {
    items
        .iter_mut()
        .find_map(|i| match i {
            Item::Entry(e) if e.seq == seq => Some(e),
            _ => None,
        })
        .unwrap()
}

#[test]
fn clean_log_passes_stages_0_to_3_and_says_5_6_not_run() {
    let b = log(10);
    let (report, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    assert!(report.is_clean(), "{}", report.summary());
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.tree_size, 12);
    assert_eq!(report.latest_checkpoint, Some(12));
    for s in [
        Stage::Export,
        Stage::Chain,
        Stage::Merkle,
        Stage::Signatures,
    ] {
        assert_eq!(report.stage(s), Some(&StageStatus::Passed), "{s:?}");
    }
    for s in [Stage::Consistency, Stage::Verdicts, Stage::Replay] {
        assert!(
            matches!(report.stage(s), Some(StageStatus::NotRun { .. })),
            "{s:?}"
        );
    }
    assert!(!report.complete());
    assert!(report
        .summary()
        .contains("not run: no verdict checker plugged in"));
    let json = report.to_json();
    assert_eq!(json["stages"][5]["status"], "not_run");
    let state = state.unwrap();
    assert_eq!(state.size, 12);
    assert_eq!(state.checkpoint_size, Some(12));
}

#[test]
fn flipped_byte_in_entry() {
    let b = log(6);
    let mut items = b.items().to_vec();
    // Flip one bit of the entry's time field (the last bytes encode the outcome; the time is a
    // plain uint near the start, so the entry still decodes).
    let e = entry_mut(&mut items, 3);
    let original = zkscim_proto::log_entry::LogEntry::from_bytes(&e.entry).unwrap();
    let mut changed = original.clone();
    changed.time ^= 1;
    e.entry = changed.to_bytes();
    let (report, state) = audit(
        b.anchors().unwrap(),
        &b.export_items(0, &items).unwrap(),
        None,
    );
    assert!(state.is_none());
    // Entry 4 no longer links to entry 3, and the checkpoints over it disagree.
    let chain: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.stage == Stage::Chain)
        .collect();
    assert_eq!(chain.len(), 1, "{}", report.summary());
    assert_eq!(chain[0].code, "audit.chain.prev_hash_mismatch");
    assert_eq!(chain[0].index, Some(4));
    assert_eq!(chain[0].expected, hex::encode(changed.entry_hash()));
    assert_eq!(chain[0].found, hex::encode(original.entry_hash()));
    let merkle: Vec<_> = report.findings_with("audit.merkle.root_mismatch").collect();
    assert!(!merkle.is_empty());
    assert_eq!(
        merkle[0].index,
        Some(5),
        "first checkpoint after entry 3 is at size 6"
    );
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn undecodable_entry_bytes() {
    let b = log(3);
    let mut items = b.items().to_vec();
    let e = entry_mut(&mut items, 2);
    let last = e.entry.len() - 1;
    e.entry[last] ^= 0xff;
    let (report, _) = audit(
        b.anchors().unwrap(),
        &b.export_items(0, &items).unwrap(),
        None,
    );
    let f = report
        .findings_with("audit.chain.entry_decode")
        .next()
        .unwrap();
    assert_eq!(f.index, Some(2));
}

#[test]
fn flipped_byte_in_submitted_bytes() {
    let b = log(6);
    let mut items = b.items().to_vec();
    let e = entry_mut(&mut items, 5);
    let expected = hex::encode(zkscim_proto::log_entry::submitted_hash_of(&e.submitted));
    e.submitted[40] ^= 0x01;
    let found = hex::encode(zkscim_proto::log_entry::submitted_hash_of(&e.submitted));
    // Read ahead, the reader thread computes the submitted hash; on one thread, the checks do.
    for pipelined in [false, true] {
        let (report, _) = Auditor::new(b.anchors().unwrap())
            .unwrap()
            .with_pipeline(pipelined)
            .audit_with_state(
                &b.export_items(0, &items).unwrap()[..],
                None,
                None,
                &mut |_| {},
            )
            .unwrap();
        let f = only(&report);
        assert_eq!(f.code, "audit.chain.submitted_hash_mismatch");
        assert_eq!(f.index, Some(5));
        assert_eq!(f.stage, Stage::Chain);
        assert_eq!(f.expected, expected);
        assert_eq!(f.found, found);
        assert_eq!(report.stage(Stage::Chain), Some(&StageStatus::Failed));
        assert_eq!(report.stage(Stage::Merkle), Some(&StageStatus::Passed));
    }
}

#[test]
fn flipped_byte_in_checkpoint() {
    let b = log(6);
    let mut items = b.items().to_vec();
    let Item::Checkpoint(c) = items
        .iter_mut()
        .find(|i| matches!(i, Item::Checkpoint(_)))
        .unwrap()
    else {
        unreachable!()
    };
    // Change one character of the root hash line.
    let mut lines: Vec<String> = c.note.split('\n').map(str::to_owned).collect();
    let root = &mut lines[2];
    let replacement = if root.starts_with('A') { "B" } else { "A" };
    root.replace_range(0..1, replacement);
    c.note = lines.join("\n");
    let (report, _) = audit(
        b.anchors().unwrap(),
        &b.export_items(0, &items).unwrap(),
        None,
    );
    let f = only(&report);
    assert_eq!(f.code, "audit.signatures.checkpoint_invalid");
    assert_eq!(f.stage, Stage::Signatures);
    assert!(f.expected.contains("checkpoint record"), "{}", f.expected);
    assert!(f.found.starts_with("note."), "{}", f.found);
}

#[test]
fn removed_entry() {
    let b = log(6);
    let items: Vec<Item> = b
        .items()
        .iter()
        .filter(|i| !matches!(i, Item::Entry(e) if e.seq == 3))
        .cloned()
        .collect();
    let (report, _) = audit(
        b.anchors().unwrap(),
        &b.export_items(0, &items).unwrap(),
        None,
    );
    let chain: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.stage == Stage::Chain)
        .collect();
    assert_eq!(chain.len(), 2, "{}", report.summary());
    assert_eq!(chain[0].code, "audit.chain.seq_mismatch");
    assert_eq!(
        (
            chain[0].index,
            chain[0].expected.as_str(),
            chain[0].found.as_str()
        ),
        (Some(3), "3", "4")
    );
    assert_eq!(chain[1].code, "audit.chain.prev_hash_mismatch");
    assert_eq!(chain[1].index, Some(3));
    // Checkpoint sizes no longer match the entries read.
    assert!(report
        .findings_with("audit.merkle.checkpoint_position")
        .next()
        .is_some());
}

#[test]
fn reordered_entries() {
    let b = log(6);
    let mut items = b.items().to_vec();
    let a = items
        .iter()
        .position(|i| matches!(i, Item::Entry(e) if e.seq == 2))
        .unwrap();
    let c = items
        .iter()
        .position(|i| matches!(i, Item::Entry(e) if e.seq == 3))
        .unwrap();
    items.swap(a, c);
    let (report, _) = audit(
        b.anchors().unwrap(),
        &b.export_items(0, &items).unwrap(),
        None,
    );
    let first = &report.findings[0];
    assert_eq!(first.code, "audit.chain.seq_mismatch");
    assert_eq!(
        (first.index, first.expected.as_str(), first.found.as_str()),
        (Some(2), "2", "3")
    );
    assert!(report
        .findings
        .iter()
        .any(|f| f.code == "audit.chain.prev_hash_mismatch" && f.index == Some(2)));
    assert!(report
        .findings_with("audit.merkle.root_mismatch")
        .next()
        .is_some());
}

#[test]
fn truncated_export() {
    let b = log(6);
    let bytes = b.export().unwrap();
    let cut = &bytes[..bytes.len() - 50];
    let (report, state) = audit(b.anchors().unwrap(), cut, None);
    assert!(state.is_none());
    let f = only(&report);
    assert_eq!(f.code, "audit.export.truncated");
    assert_eq!(f.stage, Stage::Export);
    assert!(f.found.contains("record"), "{}", f.found);
    assert_eq!(report.stage(Stage::Chain), Some(&StageStatus::Incomplete));
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn wrong_root_key_in_genesis() {
    // The server logged a genesis with another root key than the one the tenant trusts.
    let other = [7u8; 32];
    let b = LogBuilder::with_keys(
        TENANT,
        ORIGIN,
        &other,
        &zkscim_audit::testkit::TEST_LOG_SEED,
    )
    .map(|mut b| {
        b.operation().unwrap();
        b.checkpoint().unwrap();
        b
    })
    .unwrap();
    let mut anchors = b.anchors().unwrap();
    let trusted = SigningKey::from_seed(&zkscim_audit::testkit::TEST_ROOT_SEED).public_key();
    anchors.root_key = trusted;
    let (report, _) = audit(anchors, &b.export().unwrap(), None);
    let f = report
        .findings_with("audit.chain.genesis_root_key")
        .next()
        .unwrap();
    assert_eq!(f.index, Some(0));
    assert!(f.expected.starts_with(&trusted.to_text()));
    assert!(f
        .found
        .starts_with(&SigningKey::from_seed(&other).public_key().to_text()));
    // The header's informational root key also disagrees with the anchor.
    assert!(report
        .findings_with("audit.chain.header_root_key")
        .next()
        .is_some());
}

#[test]
fn wrong_log_key_fails_every_checkpoint() {
    let b = log(3);
    let mut anchors = b.anchors().unwrap();
    anchors.log_key = zkscim_proto::note::NoteSigner::from_seed(ORIGIN, &[9; 32])
        .unwrap()
        .verifier_key()
        .unwrap();
    let (report, _) = audit(anchors, &b.export().unwrap(), None);
    assert_eq!(report.stage(Stage::Signatures), Some(&StageStatus::Failed));
    assert_eq!(
        report
            .findings_with("audit.signatures.checkpoint_invalid")
            .count(),
        1
    );
    // The uncovered-entries finding follows, since no checkpoint verified.
    assert!(report
        .findings_with("audit.merkle.uncovered_entries")
        .next()
        .is_some());
}

#[test]
fn rewritten_history_is_a_fork_caught_by_saved_state() {
    let b = log(6);
    let (first, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    assert!(first.is_clean());
    let state = state.unwrap();
    // The server rewrites entry 5 (different operation bytes), rebuilds the chain and signs new,
    // internally valid checkpoints.
    let mut forged = LogBuilder::new(TENANT, ORIGIN).unwrap();
    forged.certificate().unwrap();
    for i in 0..6 {
        if i == 3 {
            forged.certificate().unwrap();
        } else {
            forged.operation().unwrap();
        }
    }
    forged.checkpoint().unwrap();
    forged.operation().unwrap();
    forged.checkpoint().unwrap();
    let (report, next) = audit(
        b.anchors().unwrap(),
        &forged.export().unwrap(),
        Some(&state),
    );
    assert!(next.is_none(), "state must not advance");
    let f = only(&report);
    assert_eq!(f.code, "audit.consistency.fork");
    assert_eq!(f.stage, Stage::Consistency);
    assert_eq!(f.index, Some(7));
    assert!(f.expected.contains(&state.root_hash));
    // Stages 1-3 alone would not have seen it.
    assert_eq!(report.stage(Stage::Chain), Some(&StageStatus::Passed));
    assert_eq!(report.stage(Stage::Signatures), Some(&StageStatus::Passed));
}

#[test]
fn rollback_is_reported() {
    let b = log(6);
    let (_, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    let short = log(2);
    let (report, _) = audit(
        b.anchors().unwrap(),
        &short.export().unwrap(),
        state.as_ref(),
    );
    let f = only(&report);
    assert_eq!(f.code, "audit.consistency.rollback");
}

#[test]
fn full_then_incremental_over_a_continued_log() {
    let mut b = log(6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acme.audit.json");
    let auditor = Auditor::new(b.anchors().unwrap())
        .unwrap()
        .with_state_file(&path);
    let r1 = auditor
        .audit_export(&b.export().unwrap()[..], None, &mut |_| {})
        .unwrap();
    assert!(r1.is_clean() && r1.state_saved);
    let size = b.size();
    for _ in 0..5 {
        b.operation().unwrap();
    }
    b.certificate().unwrap();
    b.checkpoint().unwrap();
    let inc = b.export_from(size).unwrap();
    let r2 = auditor.audit_export(&inc[..], None, &mut |_| {}).unwrap();
    assert!(r2.is_clean(), "{}", r2.summary());
    assert!(r2.incremental);
    assert_eq!(r2.counts.entries, 6);
    assert_eq!(r2.tree_size, size + 6);
    assert_eq!(r2.stage(Stage::Consistency), Some(&StageStatus::Passed));
    let saved: AuditState = zkscim_audit::state::load(&path).unwrap().unwrap();
    assert_eq!(saved.size, size + 6);
    // The same continuation audited from genesis gives the same root.
    let (full, _) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    assert_eq!(full.root_hash, r2.root_hash);
}

#[test]
fn incremental_export_that_skips_entries_is_refused() {
    let mut b = log(6);
    let (_, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    let state = state.unwrap();
    for _ in 0..4 {
        b.operation().unwrap();
    }
    b.checkpoint().unwrap();
    let skip = b.export_from(state.size + 1).unwrap();
    let (report, next) = audit(b.anchors().unwrap(), &skip, Some(&state));
    assert!(next.is_none());
    let f = only(&report);
    assert_eq!(f.code, "audit.consistency.incremental_gap");
    assert!(matches!(
        report.stage(Stage::Chain),
        Some(StageStatus::NotRun { .. })
    ));
}

#[test]
fn incremental_export_with_forged_continuation_is_caught() {
    let mut b = log(6);
    let (_, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    let state = state.unwrap();
    // A different history of the same length, continued: its new entries chain to its own head,
    // not to the saved one.
    let mut other = LogBuilder::new(TENANT, ORIGIN).unwrap();
    for _ in 0..7 {
        other.certificate().unwrap();
    }
    for _ in 0..3 {
        other.operation().unwrap();
        b.operation().unwrap();
    }
    other.checkpoint().unwrap();
    let (report, _) = audit(
        b.anchors().unwrap(),
        &other.export_from(state.size).unwrap(),
        Some(&state),
    );
    let f = &report.findings[0];
    assert_eq!(f.code, "audit.chain.prev_hash_mismatch");
    assert_eq!(f.index, Some(state.size));
    assert_eq!(f.expected, state.last_entry_hash);
    assert!(report
        .findings_with("audit.merkle.root_mismatch")
        .next()
        .is_some());
}

#[test]
fn uncovered_entries_are_reported() {
    let mut b = log(3);
    b.operation().unwrap();
    let (report, _) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    let f = only(&report);
    assert_eq!(f.code, "audit.merkle.uncovered_entries");
    assert_eq!(f.index, Some(5));
}

#[test]
fn cosignatures_are_verified_when_witness_keys_are_known() {
    let b = log(3);
    let w = CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let mut items = b.items().to_vec();
    for i in items.iter_mut() {
        if let Item::Checkpoint(c) = i {
            let text = zkscim_proto::note::SignedNote::parse(&c.note)
                .unwrap()
                .text()
                .to_owned();
            c.cosignatures
                .push(w.cosignature_line(&text, 1_767_225_700).unwrap());
        }
    }
    let mut anchors = b.anchors().unwrap();
    anchors.witness_keys.push(w.verifier_key().unwrap());
    let (report, _) = audit(anchors.clone(), &b.export_items(0, &items).unwrap(), None);
    assert!(report.is_clean(), "{}", report.summary());
    assert_eq!(report.counts.cosignatures_verified, 1);
    // A cosignature over another text fails.
    if let Item::Checkpoint(c) = items
        .iter_mut()
        .rev()
        .find(|i| matches!(i, Item::Checkpoint(_)))
        .unwrap()
    {
        c.cosignatures = vec![w.cosignature_line("other\n1\nAAAA\n", 1).unwrap()];
    }
    let (report, _) = audit(anchors, &b.export_items(0, &items).unwrap(), None);
    assert_eq!(only(&report).code, "audit.signatures.cosignature_invalid");
}

/// A checker that records what it was given, to pin the extension point's contract.
struct Recorder {
    seen: Vec<(u64, bool, usize)>,
    finished: bool,
}

impl VerdictChecker for Recorder {
    fn stages(&self) -> &[Stage] {
        &[Stage::Verdicts]
    }
    fn begin(
        &mut self,
        header: &export::Header,
        resumed: Option<&AuditState>,
    ) -> Result<(), String> {
        assert_eq!(header.tenant, TENANT);
        assert!(resumed.is_none());
        Ok(())
    }
    fn check_entry(&mut self, ctx: &EntryContext<'_>) -> Vec<Finding> {
        self.seen
            .push((ctx.index, ctx.chain_ok, ctx.submitted.len()));
        if ctx.index == 2 {
            vec![Finding::new(
                Stage::Verdicts,
                Some(2),
                "audit.verdicts.example",
                "refused",
                "applied",
            )]
        } else {
            Vec::new()
        }
    }
    fn finish(&mut self) -> Vec<Finding> {
        self.finished = true;
        Vec::new()
    }
}

#[test]
fn verdict_checker_is_called_per_entry() {
    let b = log(3);
    let mut rec = Recorder {
        seen: Vec::new(),
        finished: false,
    };
    let (report, _) = Auditor::new(b.anchors().unwrap())
        .unwrap()
        .audit_with_state(&b.export().unwrap()[..], None, Some(&mut rec), &mut |_| {})
        .unwrap();
    assert_eq!(rec.seen.len(), 5);
    assert!(rec.seen.iter().all(|(_, ok, n)| *ok && *n > 0));
    assert!(rec.finished);
    assert_eq!(report.stage(Stage::Verdicts), Some(&StageStatus::Failed));
    assert!(matches!(
        report.stage(Stage::Replay),
        Some(StageStatus::NotRun { .. })
    ));
    assert_eq!(only(&report).code, "audit.verdicts.example");
}

#[test]
fn findings_are_capped() {
    let b = log(20);
    let mut items = b.items().to_vec();
    for i in items.iter_mut() {
        if let Item::Entry(e) = i {
            e.submitted.push(0);
        }
    }
    let (report, _) = Auditor::new(b.anchors().unwrap())
        .unwrap()
        .with_max_findings(5)
        .audit_with_state(
            &b.export_items(0, &items).unwrap()[..],
            None,
            None,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.findings.len(), 5);
    // 22 submitted-hash mismatches, plus the genesis that no longer parses.
    assert_eq!(report.findings_dropped, 18);
}

#[test]
fn generated_export_audits_clean_with_progress() {
    let bytes = generate_export(Vec::new(), TENANT, ORIGIN, 500, 64).unwrap();
    let anchors = LogBuilder::new(TENANT, ORIGIN).unwrap().anchors().unwrap();
    let mut calls = 0;
    let (report, _) = Auditor::new(anchors)
        .unwrap()
        .audit_with_state(&bytes[..], None, None, &mut |_| calls += 1)
        .unwrap();
    assert!(report.is_clean(), "{}", report.summary());
    assert_eq!(report.tree_size, 500);
    assert_eq!(report.counts.checkpoints, 8);
    assert!(calls >= 1);
}

#[test]
fn witness_cosigns_an_extension_and_refuses_a_fork() {
    let mut b = log(6);
    let signer = CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let log_key = b.log_key().unwrap();
    let mut state = None;
    let n1 = b
        .items()
        .iter()
        .rev()
        .find_map(|i| match i {
            Item::Checkpoint(c) => Some(c.note.clone()),
            _ => None,
        })
        .unwrap();
    let s1 = b.size();
    let line = witness(&mut state, &n1, &[], &log_key, &signer, 1_767_300_000).unwrap();
    // The cosignature verifies on the checkpoint.
    let verifier =
        NoteVerifier::new(vec![log_key.clone(), signer.verifier_key().unwrap()]).unwrap();
    let v = verifier.verify(&format!("{n1}{line}")).unwrap();
    assert_eq!(v.signatures.len(), 2);
    assert_eq!(state.as_ref().unwrap().size, s1);

    // Extension: consistent, cosigned.
    for _ in 0..5 {
        b.operation().unwrap();
    }
    let n2 = b.checkpoint().unwrap();
    let tree = MemoryTree::from_leaves(b.leaves()).unwrap();
    let proof = consistency_proof(&tree, s1, b.size()).unwrap();
    witness(&mut state, &n2, &proof, &log_key, &signer, 1_767_300_100).unwrap();
    assert_eq!(state.as_ref().unwrap().size, b.size());

    // Rollback to the older checkpoint: refused.
    let before = state.clone();
    let e = witness(&mut state, &n1, &[], &log_key, &signer, 1_767_300_200).unwrap_err();
    assert_eq!(e.code(), "witness.rollback");
    assert_eq!(state, before);

    // Fork: a different history, bigger, with the honest-looking proof shape.
    let mut forged = LogBuilder::new(TENANT, ORIGIN).unwrap();
    for _ in 0..(b.size() + 3) {
        forged.certificate().unwrap();
    }
    let n3 = forged.checkpoint().unwrap();
    let ftree = MemoryTree::from_leaves(forged.leaves()).unwrap();
    let fproof = consistency_proof(&ftree, b.size(), forged.size()).unwrap();
    let e = witness(&mut state, &n3, &fproof, &log_key, &signer, 1_767_300_300).unwrap_err();
    assert_eq!(e.code(), "witness.inconsistent");
    assert_eq!(state, before);

    // Same size, different root: a fork.
    let mut same = LogBuilder::new(TENANT, ORIGIN).unwrap();
    while same.size() < b.size() {
        same.certificate().unwrap();
    }
    let n4 = same.checkpoint().unwrap();
    let e = witness(&mut state, &n4, &[], &log_key, &signer, 1_767_300_400).unwrap_err();
    assert_eq!(e.code(), "witness.fork");

    // A checkpoint not signed by the log key.
    let e = witness(
        &mut state,
        &n2.replace(ORIGIN, "evil.example/x"),
        &[],
        &log_key,
        &signer,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code(), "witness.checkpoint");
}

#[test]
fn second_genesis_is_reported() {
    let mut b = log(2);
    let genesis = match &b.items()[0] {
        Item::Entry(e) => e.submitted.clone(),
        Item::Checkpoint(_) => unreachable!(),
    };
    let seq = b
        .raw(
            zkscim_proto::log_entry::EntryKind::Genesis,
            genesis,
            zkscim_proto::log_entry::Outcome::Applied { version: None },
        )
        .unwrap();
    b.checkpoint().unwrap();
    let (report, _) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    // Entry decoding itself refuses a genesis after entry 0 (log-entry.md).
    let f = only(&report);
    assert_eq!(f.code, "audit.chain.entry_decode");
    assert_eq!(f.index, Some(seq));
    assert!(f.found.contains("genesis"), "{}", f.found);
}

#[test]
fn dirty_audit_does_not_advance_the_state_file() {
    let mut b = log(4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let auditor = Auditor::new(b.anchors().unwrap())
        .unwrap()
        .with_state_file(&path);
    let r1 = auditor
        .audit_export(&b.export().unwrap()[..], None, &mut |_| {})
        .unwrap();
    assert!(r1.state_saved);
    assert_eq!(
        r1.stage(Stage::Consistency),
        Some(&StageStatus::NotRun {
            reason: "no saved state yet: first audit of this log".into()
        })
    );
    let before = std::fs::read_to_string(&path).unwrap();
    b.operation().unwrap();
    b.checkpoint().unwrap();
    let mut items = b.items().to_vec();
    let last = items
        .iter()
        .rposition(|i| matches!(i, Item::Entry(_)))
        .unwrap();
    if let Item::Entry(e) = &mut items[last] {
        e.submitted.push(1);
    }
    let r2 = auditor
        .audit_export(&b.export_items(0, &items).unwrap()[..], None, &mut |_| {})
        .unwrap();
    assert!(!r2.state_saved && !r2.is_clean());
    assert_eq!(r2.stage(Stage::Consistency), Some(&StageStatus::Passed));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn inconsistent_or_foreign_state_is_refused_or_reported() {
    let b = log(4);
    let (_, state) = audit(b.anchors().unwrap(), &b.export().unwrap(), None);
    let mut state = state.unwrap();
    let auditor = Auditor::new(b.anchors().unwrap()).unwrap();
    let mut bad = state.clone();
    bad.root_hash = hex::encode([0u8; 32]);
    let e = auditor
        .audit_with_state(&b.export().unwrap()[..], Some(&bad), None, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.code(), "audit.state.inconsistent");
    state.tenant = "other".into();
    let (report, _) = audit(b.anchors().unwrap(), &b.export().unwrap(), Some(&state));
    assert_eq!(only(&report).code, "audit.consistency.state_mismatch");
}

#[test]
fn pipelined_and_single_threaded_reports_agree() {
    let bytes = generate_export(Vec::new(), TENANT, ORIGIN, 3_000, 100).unwrap();
    let anchors = LogBuilder::new(TENANT, ORIGIN).unwrap().anchors().unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for input in [&bytes[..], &bytes[..bytes.len() / 3], &flipped[..]] {
        let run = |pipelined: bool| {
            Auditor::new(anchors.clone())
                .unwrap()
                .with_pipeline(pipelined)
                .audit_with_state(input, None, None, &mut |_| {})
                .unwrap()
        };
        assert_eq!(run(true), run(false));
    }
}

#[test]
fn witness_state_round_trips_through_its_file() {
    let b = log(3);
    let signer = CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let note = b
        .items()
        .iter()
        .rev()
        .find_map(|i| match i {
            Item::Checkpoint(c) => Some(c.note.clone()),
            Item::Entry(_) => None,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.json");
    let mut state: Option<zkscim_audit::WitnessState> = zkscim_audit::state::load(&path).unwrap();
    assert!(state.is_none());
    witness(&mut state, &note, &[], &b.log_key().unwrap(), &signer, 10).unwrap();
    zkscim_audit::state::save(&path, state.as_ref().unwrap()).unwrap();
    let again: Option<zkscim_audit::WitnessState> = zkscim_audit::state::load(&path).unwrap();
    assert_eq!(again, state);
    // Re-cosigning the same checkpoint is allowed (idempotent).
    let mut again = again;
    witness(&mut again, &note, &[], &b.log_key().unwrap(), &signer, 11).unwrap();
}

/// Timing at 10^6 entries (stages 0-4), for the record. Run with
/// `cargo test --release -p zkscim-audit --test audit million -- --ignored --nocapture`.
#[test]
#[ignore = "a 10^6-entry timing run (about a minute in release): run it deliberately"]
fn million_entries_timing() {
    let t = std::time::Instant::now();
    let bytes = generate_export(Vec::new(), TENANT, ORIGIN, 1_000_000, 1_000).unwrap();
    let generated = t.elapsed();
    let anchors = LogBuilder::new(TENANT, ORIGIN).unwrap().anchors().unwrap();
    for pipelined in [true, false] {
        let t = std::time::Instant::now();
        let (report, _) = Auditor::new(anchors.clone())
            .unwrap()
            .with_pipeline(pipelined)
            .audit_with_state(&bytes[..], None, None, &mut |_| {})
            .unwrap();
        let audited = t.elapsed();
        assert!(report.is_clean(), "{}", report.summary());
        println!(
            "1e6 entries, {} MB: generated in {generated:?}; stages 0-4 (pipelined: {pipelined}) \
             in {audited:?} = {:.0} entries/s",
            bytes.len() / 1_000_000,
            1e6 / audited.as_secs_f64()
        );
    }
}
