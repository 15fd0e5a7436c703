//! Differential property test: `zkscim_proto::batch::verify_batch` accepts a batch exactly when
//! every signature in it passes `verify_strict`, for batches of honest signatures under a few
//! keys with arbitrary bit flips in signatures and messages and swapped keys. (The one case a
//! batch cannot decide exactly, a torsion-malleated signature, needs its key's secret scalar
//! and is tested in the module's unit tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use rand_core::OsRng;
use zkscim_proto::batch::{verify_batch, BatchEntry};
use zkscim_proto::keys::{PublicKey, SigningKey};

#[derive(Debug, Clone)]
enum Damage {
    None,
    SignatureBit(usize),
    MessageByte(usize, u8),
    OtherKey,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        2 => (0usize..512).prop_map(Damage::SignatureBit),
        1 => (0usize..24, 1u8..=255).prop_map(|(i, x)| Damage::MessageByte(i, x)),
        1 => Just(Damage::OtherKey),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn batch_verdict_equals_every_strict_verdict(
        items in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 24), damage()), 1..24)
    ) {
        let keys: Vec<SigningKey> = (0..3u8).map(|i| SigningKey::from_seed(&[i + 1; 32])).collect();
        let other = SigningKey::from_seed(&[0x77; 32]).public_key();
        let mut signed: Vec<(PublicKey, Vec<u8>, [u8; 64])> = Vec::new();
        for (k, message, how) in items {
            let key = &keys[usize::from(k)];
            let mut signature = key.sign(&message);
            let mut message = message;
            let mut public = key.public_key();
            match how {
                Damage::None => {}
                Damage::SignatureBit(bit) => signature[bit / 8] ^= 1 << (bit % 8),
                Damage::MessageByte(i, x) => message[i] ^= x,
                Damage::OtherKey => public = other,
            }
            signed.push((public, message, signature));
        }
        let entries: Vec<BatchEntry<'_>> = signed
            .iter()
            .map(|(key, message, signature)| BatchEntry { key, message: [message, &[]], signature })
            .collect();
        let strict = signed
            .iter()
            .all(|(key, message, signature)| key.verify_strict(message, signature).is_ok());
        prop_assert_eq!(verify_batch(&entries, &mut OsRng), strict);
    }
}
