//! Parses arbitrary bytes as any signed statement, then runs everything a server does with a
//! parsed one: verification against a fixed root at a fixed time, touched-path derivation, a
//! re-encode of the payload that must reproduce the signed payload byte for byte, and for a
//! policy statement the decode and re-encode of its tenant policy document.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zkscim_proto::cert::{ChainContext, NoCache};
use zkscim_proto::envelope::{self, Statement};
use zkscim_proto::keys::{PublicKey, SigningKey};

/// Seed of the root key the seed corpus is signed under (a public test value).
const ROOT_SEED: [u8; 32] = [0x42; 32];
const NOW: u64 = 1_800_000_000;

static ROOT: LazyLock<PublicKey> = LazyLock::new(|| SigningKey::from_seed(&ROOT_SEED).public_key());

fuzz_target!(|data: &[u8]| {
    let Ok(statement) = envelope::parse_any(data) else {
        return;
    };
    assert_eq!(statement.bytes(), data);
    let ctx = ChainContext {
        tenant: "acme",
        root: &ROOT,
        now: NOW,
    };
    match &statement {
        Statement::Operation(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.body().touched_paths(None);
            let _ = s.verify(&ctx, 300, &mut NoCache);
        }
        Statement::Revocation(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.verify(&ctx, 300, &mut NoCache);
        }
        Statement::Policy(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.verify(&ctx, 300, &mut NoCache);
            // One policy, one encoding: a document that decodes re-encodes to itself.
            let document = &s.body().document;
            if let Ok(policy) = zkscim_proto::policy::TenantPolicy::from_cbor(document) {
                assert_eq!(&policy.to_cbor(), document);
            }
        }
        Statement::ReadRequest(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.verify(&ctx, 300, &mut NoCache);
        }
        Statement::Genesis(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.verify_genesis(NOW, 300);
        }
        Statement::Approval(s) => {
            assert_eq!(s.envelope().encode_payload(), s.sign1().payload);
            let _ = s.verify(&ctx, 300, &mut NoCache);
        }
    }
});
