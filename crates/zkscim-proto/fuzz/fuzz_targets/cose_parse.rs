//! Parses arbitrary bytes as a zkscim COSE_Sign1 and verifies it against a fixed key (the seed
//! corpus is signed by that key, so mutations reach the signature check). Nothing may panic, and
//! a parse as "any type" must agree with a parse as the type it reports.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zkscim_proto::cose;
use zkscim_proto::keys::{PublicKey, SigningKey};

/// Seed of the key that signed the seed corpus (a public test value, never a real key).
const FUZZ_KEY_SEED: [u8; 32] = [0x42; 32];

static KEY: LazyLock<PublicKey> =
    LazyLock::new(|| SigningKey::from_seed(&FUZZ_KEY_SEED).public_key());

fuzz_target!(|data: &[u8]| {
    let Ok(sign1) = cose::parse_any(data) else {
        return;
    };
    let typed = cose::parse(data, sign1.typ).expect("parse_any accepted, parse refused");
    assert_eq!(typed, sign1);
    let _ = sign1.to_be_signed();
    let _ = sign1.verify(&KEY);
});
