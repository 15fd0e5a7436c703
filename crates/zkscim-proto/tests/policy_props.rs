//! Property tests for the tenant policy document (spec/policy.md): every policy round-trips
//! through its one encoding, and no input, however hostile, makes the decoder panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use zkscim_proto::codec::Value;
use zkscim_proto::policy::{TenantPolicy, MAX_LIFETIME_CAP_SECS};

fn policy() -> impl Strategy<Value = TenantPolicy> {
    (
        prop::collection::btree_map(1u64..=8, 1u64..=MAX_LIFETIME_CAP_SECS, 0..8),
        prop::collection::btree_set("[A-Za-z][A-Za-z0-9_-]{0,20}", 0..5),
        prop::option::of(1u64..=MAX_LIFETIME_CAP_SECS),
    )
        .prop_map(|(caps, types, max_expiry)| {
            let mut p = TenantPolicy::default_policy();
            for (level, seconds) in caps {
                p.lifetime_caps.set(level, seconds).unwrap();
            }
            for t in &types {
                p.nhi.require(t).unwrap();
            }
            if let (Some(m), false) = (max_expiry, types.is_empty()) {
                p.nhi.set_max_expiry(m).unwrap();
            }
            p
        })
}

proptest! {
    #[test]
    fn every_policy_round_trips_through_its_one_encoding(p in policy()) {
        let bytes = p.to_bytes();
        let back = TenantPolicy::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(p) = TenantPolicy::from_bytes(&bytes) {
            // Whatever decodes is canonical: it re-encodes to the very same bytes.
            prop_assert_eq!(p.to_bytes(), bytes);
        }
    }

    #[test]
    fn mutated_valid_documents_decode_canonically_or_not_at_all(
        p in policy(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = p.to_bytes();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(decoded) = TenantPolicy::from_bytes(&bytes) {
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }
}

#[test]
fn oversized_and_deeply_nested_documents_are_refused() {
    // 300 KiB of profile rules: over the 256 KiB limit before anything is interpreted.
    let big = Value::Map(vec![
        (Value::int(1), Value::Unsigned(1)),
        (
            Value::int(2),
            Value::Array(vec![Value::text("x".repeat(300 * 1024))]),
        ),
    ]);
    let e = TenantPolicy::from_bytes(&big.to_bytes()).unwrap_err();
    assert_eq!(e.code(), "cbor.too_large");
    // Nesting deeper than a policy ever needs, inside the caps.
    let mut deep = Value::Unsigned(60);
    for _ in 0..8 {
        deep = Value::Map(vec![(Value::Unsigned(2), deep)]);
    }
    let Value::Map(mut doc) = TenantPolicy::default_policy().to_cbor() else {
        unreachable!()
    };
    doc.push((Value::int(3), deep));
    let e = TenantPolicy::from_bytes(&Value::Map(doc).to_bytes()).unwrap_err();
    assert_eq!(e.code(), "cbor.too_deep");
}
