//! Cost of the cryptographic primitives zkscim's ingest and audit are bounded by: Ed25519 sign and
//! strict verify, COSE_Sign1 sign and parse+verify of a ~300-byte payload, certificate parsing,
//! chain verification at depth 3 (root → admin → sub-admin → connector) cold and with a warm
//! signature cache, and ed25519-dalek batch verification of 256 signatures (reported per
//! signature through the element throughput) for comparison with zkscim's own batch check
//! (`zkscim_proto::batch`: strict per-signature checks, caller's weights, one point per key).
//!
//! Run: `cargo bench -p zkscim-proto --bench crypto` (about a minute).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_core::OsRng;
use zkscim_proto::batch::{verify_batch, BatchEntry};
use zkscim_proto::cert::{verify_chain, CertId, Certificate, ChainContext, Claims, NoCache};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::keys::{KeyId, PublicKey, SigningKey};
use zkscim_proto::scope::{Scope, ScopeBuilder};

const T0: u64 = 1_800_000_000;

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

/// A 300-byte payload, roughly the size of a PATCH operation with a sealed value.
fn payload() -> Vec<u8> {
    (0..300u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn scope(ops: &[&str], types: &[&str], attrs: &[&str], caps: &[&str]) -> Scope {
    ScopeBuilder::new()
        .operations(ops)
        .resource_types(types)
        .attributes(attrs)
        .capabilities(caps)
        .build()
        .unwrap()
}

fn claims(subject: &SigningKey, depth: u8, scope: Scope, label: &str) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: "acme".into(),
        not_before: T0,
        expires: T0 + 86_400,
        issued_at: T0,
        nonce: [depth; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

/// root(1) → admin(2) → sub-admin(3) → connector(4).
fn chain() -> Vec<Certificate> {
    let admin = Certificate::issue(
        &key(1),
        None,
        claims(
            &key(2),
            2,
            scope(
                &["create", "replace", "patch", "delete", "read"],
                &["*"],
                &["*"],
                &["delegate", "revoke", "reactivate"],
            ),
            "admin",
        ),
    )
    .unwrap();
    let sub = Certificate::issue(
        &key(2),
        Some(&admin),
        claims(
            &key(3),
            1,
            scope(
                &["create", "replace", "patch", "delete"],
                &["User", "Group"],
                &["name", "active", "emails", "members"],
                &["delegate", "revoke"],
            ),
            "sub-admin",
        ),
    )
    .unwrap();
    let connector = Certificate::issue(
        &key(3),
        Some(&sub),
        claims(
            &key(4),
            0,
            scope(
                &["create", "patch"],
                &["User"],
                &["name", "active", "emails"],
                &[],
            ),
            "okta-prod-connector",
        ),
    )
    .unwrap();
    vec![admin, sub, connector]
}

fn benches(c: &mut Criterion) {
    let signer = key(9);
    let public = signer.public_key();
    let message = payload();
    let signature = signer.sign(&message);

    c.bench_function("ed25519/sign (300 B)", |b| {
        b.iter(|| signer.sign(black_box(&message)))
    });
    c.bench_function("ed25519/verify_strict (300 B)", |b| {
        b.iter(|| {
            public
                .verify_strict(black_box(&message), black_box(&signature))
                .unwrap()
        })
    });

    let cose_bytes = cose::sign(ObjectType::Operation, &signer, &message);
    c.bench_function("cose_sign1/sign (300 B payload)", |b| {
        b.iter(|| cose::sign(ObjectType::Operation, &signer, black_box(&message)))
    });
    c.bench_function("cose_sign1/parse+verify (300 B payload)", |b| {
        b.iter(|| {
            cose::parse(black_box(&cose_bytes), ObjectType::Operation)
                .unwrap()
                .verify(&public)
                .unwrap()
        })
    });

    let certs = chain();
    let connector_bytes = certs[2].bytes().to_vec();
    c.bench_function("certificate/parse", |b| {
        b.iter(|| Certificate::parse(black_box(&connector_bytes)).unwrap())
    });

    let root = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0 + 60,
    };
    c.bench_function("verify_chain/depth 3, cold (NoCache)", |b| {
        b.iter(|| verify_chain(black_box(&certs), &ctx, &mut NoCache).unwrap())
    });
    let mut warm: HashSet<CertId> = certs.iter().map(Certificate::id).collect();
    c.bench_function("verify_chain/depth 3, warm (HashSet cache)", |b| {
        b.iter(|| verify_chain(black_box(&certs), &ctx, &mut warm).unwrap())
    });

    // Batch verification: 256 distinct keys and messages, the fast accept path of DESIGN §3.
    let keys: Vec<SigningKey> = (0..256u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            seed[31] = 0xbe;
            SigningKey::from_seed(&seed)
        })
        .collect();
    let messages: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            let mut m = payload();
            m[..4].copy_from_slice(&i.to_le_bytes());
            m
        })
        .collect();
    let signatures: Vec<ed25519_dalek::Signature> = keys
        .iter()
        .zip(&messages)
        .map(|(k, m)| ed25519_dalek::Signature::from_bytes(&k.sign(m)))
        .collect();
    let verifying: Vec<ed25519_dalek::VerifyingKey> =
        keys.iter().map(|k| *k.public_key().as_dalek()).collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("ed25519/batch");
    group.throughput(Throughput::Elements(256));
    group.bench_function("verify_batch 256 (see elem/s)", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(
                black_box(&message_refs),
                black_box(&signatures),
                black_box(&verifying),
            )
            .unwrap()
        })
    });
    let public: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
    let raw: Vec<[u8; 64]> = signatures.iter().map(|s| s.to_bytes()).collect();
    let distinct: Vec<BatchEntry<'_>> = (0..256)
        .map(|i| BatchEntry {
            key: &public[i],
            message: [&messages[i], &[]],
            signature: &raw[i],
        })
        .collect();
    group.bench_function("zkscim batch 256, distinct keys (see elem/s)", |b| {
        b.iter(|| assert!(verify_batch(black_box(&distinct), &mut OsRng)))
    });
    // The auditor's usual case: most statements come from one connector key.
    let one = key(7);
    let one_public = one.public_key();
    let one_raw: Vec<[u8; 64]> = messages.iter().map(|m| one.sign(m)).collect();
    let same: Vec<BatchEntry<'_>> = (0..256)
        .map(|i| BatchEntry {
            key: &one_public,
            message: [&messages[i], &[]],
            signature: &one_raw[i],
        })
        .collect();
    group.bench_function("zkscim batch 256, one key (see elem/s)", |b| {
        b.iter(|| assert!(verify_batch(black_box(&same), &mut OsRng)))
    });
    group.finish();
}

criterion_group! {
    name = crypto;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(crypto);
