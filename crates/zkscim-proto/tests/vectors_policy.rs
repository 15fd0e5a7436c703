//! Recomputes every vector in `spec/vectors/policy.json` (spec/policy.md).
//!
//! The vectors were produced by a separate deterministic-CBOR encoder written from RFC 8949, so
//! agreement here checks the Rust decoder and encoder against the text, not against themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value as Json;
use zkscim_proto::policy::{LifetimeCaps, TenantPolicy, MAX_LIFETIME_CAP_SECS};

fn vectors() -> Json {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/policy.json"
    ));
    serde_json::from_str(text).unwrap()
}

fn pairs(v: &Json) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect()
}

#[test]
fn valid_documents_decode_to_what_the_vectors_say_and_re_encode_exactly() {
    let v = vectors();
    assert_eq!(v["max_lifetime_cap_seconds"], MAX_LIFETIME_CAP_SECS);
    for case in v["valid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["cbor_hex"].as_str().unwrap()).unwrap();
        let policy = TenantPolicy::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let caps: Vec<(u64, u64)> = policy
            .lifetime_caps
            .caps()
            .iter()
            .map(|(l, s)| (u64::from(*l), *s))
            .collect();
        assert_eq!(caps, pairs(&case["lifetime_caps"]), "{name}");
        let types: Vec<&str> = case["nhi_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(policy.nhi.types(), types.as_slice(), "{name}");
        assert_eq!(
            policy.nhi.max_expiry(),
            case["nhi_max_expiry"].as_u64(),
            "{name}"
        );
        let groups: Vec<(String, u64)> = case["privileged_groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| (g[0].as_str().unwrap().to_owned(), g[1].as_u64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let found: Vec<(String, u64)> = policy
            .privileged_groups
            .groups()
            .iter()
            .map(|(id, n)| (id.clone(), u64::from(*n)))
            .collect();
        assert_eq!(found, groups, "{name}");
        assert_eq!(policy.to_bytes(), bytes, "{name}: one policy, one encoding");
    }
}

#[test]
fn invalid_documents_are_refused_with_their_code() {
    for case in vectors()["invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["cbor_hex"].as_str().unwrap()).unwrap();
        let e = TenantPolicy::from_bytes(&bytes)
            .map(|_| ())
            .expect_err(name);
        assert_eq!(e.code(), case["code"].as_str().unwrap(), "{name}: {e}");
    }
}

#[test]
fn the_cap_of_a_level_is_the_deepest_configured_at_or_above_it() {
    let v = &vectors()["cap_for_level"];
    let mut caps = LifetimeCaps::none();
    for (level, seconds) in pairs(&v["caps"]) {
        caps.set(level, seconds).unwrap();
    }
    for expect in v["expect"].as_array().unwrap() {
        let level = usize::try_from(expect[0].as_u64().unwrap()).unwrap();
        assert_eq!(caps.cap_for(level), expect[1].as_u64(), "level {level}");
    }
}
