//! The embedding API end to end, in process: genesis, delegation, operations, receipts that
//! verify, idempotent resubmission, logged refusals, unlogged forgeries, restart without replay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use zkscim_authority::{Authority, Clock, Config, Receipt, ReceiptOutcome, SubmitError};
use zkscim_proto::cert::{Certificate, Claims};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::envelope::{Change, Envelope, Genesis, Header, OperationBody};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::log_entry::LogEntry;
use zkscim_proto::merkle;
use zkscim_proto::note::{NoteVerifier, VerifierKey};
use zkscim_proto::scope::ScopeBuilder;

const T0: u64 = 1_800_000_000;
const SEALED: &str =
    "zk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[derive(Debug)]
struct FixedClock(AtomicU64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::new(dir.join("z.db"), &key(99));
    c.clock = Arc::new(FixedClock(AtomicU64::new(T0)));
    c
}

fn header(n: u8, chain: Vec<Certificate>) -> Header {
    Header {
        tenant: "acme".into(),
        nonce: vec![n; 16],
        issued_at: T0,
        chain,
    }
}

fn connector_chain() -> Vec<Certificate> {
    let claims = |subject: &SigningKey, depth, scope, label: &str| Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: "acme".into(),
        not_before: T0 - 60,
        expires: T0 + 3600,
        issued_at: T0,
        nonce: [depth; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    };
    let admin_scope = ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["*"])
        .attributes(["*"])
        .capabilities(["delegate", "revoke"])
        .build()
        .unwrap();
    let connector_scope = ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User"])
        .attributes(["active", "userName", "name"])
        .build()
        .unwrap();
    let admin =
        Certificate::issue(&key(1), None, claims(&key(2), 1, admin_scope, "admin")).unwrap();
    let connector = Certificate::issue(
        &key(2),
        Some(&admin),
        claims(&key(3), 0, connector_scope, "okta"),
    )
    .unwrap();
    vec![admin, connector]
}

fn create_user(n: u8, id: &str, token: &str) -> Vec<u8> {
    let mut indexes = BTreeMap::new();
    indexes.insert("username".to_owned(), Some(token.to_owned()));
    Envelope::new(
        header(n, connector_chain()),
        OperationBody {
            resource_type: "User".into(),
            resource_id: id.into(),
            if_match: None,
            change: Change::create(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": SEALED,
                "active": true
            }))
            .unwrap(),
            indexes,
        },
    )
    .sign(&key(3))
}

fn verify_receipt(authority: &Authority, receipt: &Receipt) {
    let verifier = NoteVerifier::new(vec![VerifierKey::parse(
        &authority.log_verifier_key("acme").unwrap(),
    )
    .unwrap()])
    .unwrap();
    let (checkpoint, _) = Checkpoint::open(&receipt.checkpoint, &verifier).unwrap();
    assert_eq!(merkle::leaf_hash(&receipt.entry), receipt.leaf_hash);
    merkle::verify_inclusion(
        &receipt.leaf_hash,
        receipt.index,
        checkpoint.size(),
        &receipt.inclusion_proof,
        checkpoint.root_hash(),
    )
    .unwrap();
}

const ID1: &str = "00000000-0000-4000-8000-000000000001";
const ID2: &str = "00000000-0000-4000-8000-000000000002";
const TOKEN_A: &str = "zkx1.AAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "zkx1.BBBBBBBBBBBBBBBBBBBBBA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_receipts_idempotency_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::open(config(dir.path())).unwrap();
    let genesis = Envelope::new(
        header(0, vec![]),
        Genesis {
            root: key(1).public_key(),
        },
    )
    .sign(&key(1));
    // Genesis needs operator authorisation.
    assert_eq!(
        authority
            .submit("acme", genesis.clone(), false)
            .await
            .unwrap_err()
            .status(),
        401
    );
    let r = authority
        .submit("acme", genesis.clone(), true)
        .await
        .unwrap();
    assert_eq!(r.index, 0);
    verify_receipt(&authority, &r);

    let create = create_user(1, ID1, TOKEN_A);
    let r1 = authority
        .submit("acme", create.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        r1.certificate_entries,
        [1, 2],
        "both certificates logged before the operation"
    );
    assert_eq!(r1.index, 3);
    assert!(matches!(r1.outcome, ReceiptOutcome::Applied { .. }));
    verify_receipt(&authority, &r1);

    // Identical bytes: the same entry, nothing new logged.
    let again = authority
        .submit("acme", create.clone(), false)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.index, r1.index);
    assert_eq!(authority.checkpoint("acme").unwrap().0, 4);

    // A well-signed refusal is logged: same userName index.
    let dup = authority
        .submit("acme", create_user(2, ID2, TOKEN_A), false)
        .await
        .unwrap();
    let ReceiptOutcome::Refused(refusal) = &dup.outcome else {
        panic!()
    };
    assert_eq!(refusal.code, "scim.uniqueness");
    verify_receipt(&authority, &dup);
    let logged = LogEntry::from_bytes(&dup.entry).unwrap();
    assert_eq!(logged.seq, dup.index);
    // A refusal resubmitted byte for byte is the same refusal, not a nonce replay.
    let refused_again = authority
        .submit("acme", create_user(2, ID2, TOKEN_A), false)
        .await
        .unwrap();
    assert!(refused_again.duplicate);
    assert_eq!(refused_again.index, dup.index);
    assert_eq!(refused_again.entry, dup.entry);

    // A forgery is not logged.
    let mut forged = create_user(3, ID2, TOKEN_B);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let err = authority.submit("acme", forged, false).await.unwrap_err();
    assert!(matches!(err, SubmitError::Unauthenticated(_)), "{err}");
    // Unknown tenant, garbage and oversize.
    assert_eq!(
        authority
            .submit("nobody", create_user(4, ID2, TOKEN_B), false)
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        authority
            .submit("acme", vec![0xff; 10], false)
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        authority
            .submit("acme", vec![0; 2 << 20], false)
            .await
            .unwrap_err()
            .status(),
        413
    );
    let size = authority.checkpoint("acme").unwrap().0;
    assert_eq!(size, 5);

    let (user, version) = authority.resource("acme", "User", ID1).unwrap();
    assert_eq!(user["userName"], SEALED);
    assert_eq!(version, 1);
    let digest = authority.directory_digest("acme").unwrap();

    // The event feed: resuming after any index yields exactly the rest, in order, once.
    let (first, cursor) = authority.events("acme", 0, 2).unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
    let (rest, end) = authority.events("acme", cursor, 100).unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(end, size);
    let (none, same) = authority.events("acme", end, 100).unwrap();
    assert!(none.is_empty());
    assert_eq!(same, end, "an exhausted feed keeps its cursor");
    assert!(authority.events("nobody", 0, 10).is_err());
    authority.shutdown();

    // Restart: heads come from the database; the log continues where it stopped.
    let authority = Authority::open(config(dir.path())).unwrap();
    assert_eq!(authority.checkpoint("acme").unwrap().0, size);
    assert_eq!(authority.directory_digest("acme").unwrap(), digest);
    let r = authority
        .submit("acme", create_user(5, ID2, TOKEN_B), false)
        .await
        .unwrap();
    assert_eq!(r.index, size);
    verify_receipt(&authority, &r);
    let proof = authority.consistency_proof("acme", 3, size + 1).unwrap();
    assert!(!proof.is_empty());
    authority.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_share_batches() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::open(config(dir.path())).unwrap();
    let genesis = Envelope::new(
        header(0, vec![]),
        Genesis {
            root: key(1).public_key(),
        },
    )
    .sign(&key(1));
    authority.submit("acme", genesis, true).await.unwrap();
    let mut tasks = Vec::new();
    for n in 1..=60u8 {
        let a = authority.clone();
        let id = format!("00000000-0000-4000-8000-{:012x}", n);
        let token = format!("zkx1.{n:0>21}A");
        let bytes = create_user(n, &id, &token);
        tasks.push(tokio::spawn(
            async move { a.submit("acme", bytes, false).await },
        ));
    }
    let mut indices = Vec::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        verify_receipt(&authority, &r);
        indices.push(r.index);
    }
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), 60, "every submission got its own entry");

    // The same bytes submitted many times at once (so several land in one commit batch): one
    // entry, every answer that entry, exactly one of them new.
    let size_before = authority.checkpoint("acme").unwrap().0;
    let bytes = create_user(
        61,
        "00000000-0000-4000-8000-00000000003d",
        "zkx1.ZZZZZZZZZZZZZZZZZZZZZA",
    );
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let a = authority.clone();
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(
            async move { a.submit("acme", bytes, false).await },
        ));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap().unwrap());
    }
    assert!(receipts.iter().all(|r| r.index == receipts[0].index));
    assert_eq!(receipts.iter().filter(|r| !r.duplicate).count(), 1);
    assert_eq!(authority.checkpoint("acme").unwrap().0, size_before + 1);
    authority.shutdown();
}
