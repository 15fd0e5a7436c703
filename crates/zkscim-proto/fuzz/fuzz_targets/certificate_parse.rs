//! Parses arbitrary bytes as a delegation certificate; when that succeeds, verifies it alone
//! under a fixed tenant root, and as the child of a fixed admin certificate (so attenuation,
//! depth, validity and linkage checks all run on fuzzed claims). The seed corpus holds
//! certificates signed by the fixed root and admin keys. Nothing may panic; a certificate that
//! verifies must re-parse from its own bytes to the same certificate.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zkscim_proto::cert::{verify_chain, Certificate, ChainContext, Claims, NoCache};
use zkscim_proto::keys::{KeyId, PublicKey, SigningKey};
use zkscim_proto::scope::ScopeBuilder;

/// Public test seeds (never real keys): the tenant root and the admin it certifies.
const ROOT_SEED: [u8; 32] = [0x01; 32];
const ADMIN_SEED: [u8; 32] = [0x02; 32];
const TENANT: &str = "acme";
const T0: u64 = 1_800_000_000;

static ROOT: LazyLock<PublicKey> = LazyLock::new(|| SigningKey::from_seed(&ROOT_SEED).public_key());

/// The admin certificate the seed corpus's children were issued under.
static ADMIN: LazyLock<Certificate> = LazyLock::new(|| {
    let scope = ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["User", "Group"])
        .attributes([
            "name",
            "active",
            "members",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:*",
        ])
        .groups(["g1", "g2"])
        .capabilities(["delegate", "revoke"])
        .build()
        .unwrap();
    let admin = SigningKey::from_seed(&ADMIN_SEED);
    let claims = Claims {
        issuer: KeyId([0; 32]),
        subject: admin.public_key(),
        tenant: TENANT.into(),
        not_before: T0,
        expires: T0 + 30 * 86_400,
        issued_at: T0,
        nonce: [1; 16],
        parent: None,
        depth: 2,
        label: "admin".into(),
        scope,
    };
    Certificate::issue(&SigningKey::from_seed(&ROOT_SEED), None, claims).unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Ok(cert) = Certificate::parse(data) else {
        return;
    };
    assert_eq!(cert.bytes(), data);
    let claims = cert.claims();
    for now in [T0 + 10, claims.not_before, claims.expires.saturating_sub(1)] {
        let ctx = ChainContext {
            tenant: TENANT,
            root: &ROOT,
            now,
        };
        let alone = verify_chain(std::slice::from_ref(&cert), &ctx, &mut NoCache);
        let mut cache = HashSet::new();
        let chained = verify_chain(&[ADMIN.clone(), cert.clone()], &ctx, &mut cache);
        // A warm cache never changes the verdict.
        let again = verify_chain(&[ADMIN.clone(), cert.clone()], &ctx, &mut cache);
        assert_eq!(chained, again);
        for verified in [alone, chained].into_iter().flatten() {
            assert_eq!(verified.signer, claims.subject);
            assert_eq!(&verified.scope, &claims.scope);
            assert_eq!(Certificate::parse(cert.bytes()).as_ref(), Ok(&cert));
        }
    }
});
