//! Properties and adversarial cases of signed statements and touched-path derivation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Value as Json};
use zkscim_proto::cert::{CertId, Certificate, ChainContext, Claims, NoCache};
use zkscim_proto::codec::{MapBuilder, Value};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::envelope::{
    self, parse_any, Change, Envelope, Header, OperationBody, PolicyUpdate, ReadRequest,
    Revocation, Signed, KEY_CHAIN, KEY_ISSUED_AT, KEY_NONCE, KEY_OP, KEY_RESOURCE, KEY_RESOURCE_ID,
    KEY_RESOURCE_TYPE, KEY_TENANT,
};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::scope::{Operation, PathPattern, Scope, ScopeBuilder};
use zkscim_proto::touch::touched_paths;

const T0: u64 = 1_800_000_000;
const SKEW: u64 = 300;
const ID: &str = "2819c223-7f76-453a-919d-413861904646";

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

fn claims(subject: &SigningKey, tenant: &str, depth: u8, scope: Scope, label: &str) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: tenant.into(),
        not_before: T0 - 3600,
        expires: T0 + 86_400,
        issued_at: T0 - 3600,
        nonce: [depth; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

/// root (key 1) → admin (key 2) → connector (key 3), tenant "acme".
fn chain() -> Vec<Certificate> {
    let admin_scope = ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["User", "Group"])
        .attributes(["*"])
        .capabilities(["delegate", "revoke"])
        .build()
        .unwrap();
    let connector_scope = ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User"])
        .attributes(["active", "name", "username"])
        .build()
        .unwrap();
    let c1 = Certificate::issue(
        &key(1),
        None,
        claims(&key(2), "acme", 1, admin_scope, "admin"),
    )
    .unwrap();
    let c2 = Certificate::issue(
        &key(2),
        Some(&c1),
        claims(&key(3), "acme", 0, connector_scope, "okta"),
    )
    .unwrap();
    vec![c1, c2]
}

fn header(chain: Vec<Certificate>) -> Header {
    Header {
        tenant: "acme".into(),
        nonce: vec![0x42; 16],
        issued_at: T0,
        chain,
    }
}

fn op(change: Change) -> OperationBody {
    OperationBody {
        resource_type: "User".into(),
        resource_id: ID.into(),
        if_match: None,
        change,
        indexes: Default::default(),
    }
}

fn patch_active() -> Change {
    Change::patch(&json!([{"op": "replace", "path": "active", "value": false}])).unwrap()
}

fn verify_op(bytes: &[u8], tenant: &str, now: u64) -> Result<(), String> {
    let root = key(1).public_key();
    let ctx = ChainContext {
        tenant,
        root: &root,
        now,
    };
    let signed = Signed::<OperationBody>::parse(bytes).map_err(|e| e.code().to_owned())?;
    signed
        .verify(&ctx, SKEW, &mut NoCache)
        .map(|_| ())
        .map_err(|e| e.code().to_owned())
}

#[test]
fn chained_operation_verifies_and_reports_chain() {
    let bytes = Envelope::new(header(chain()), op(patch_active())).sign(&key(3));
    let root = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0 + 10,
    };
    let mut cache = HashSet::new();
    let signed = Signed::<OperationBody>::parse(&bytes).unwrap();
    let verified = signed.verify(&ctx, SKEW, &mut cache).unwrap();
    assert_eq!(verified.signer(), &key(3).public_key());
    assert_eq!(verified.chain().labels, ["admin", "okta"]);
    assert_eq!(cache.len(), 2);
    // Second verification hits the cache and still succeeds.
    signed.verify(&ctx, SKEW, &mut cache).unwrap();
    let paths = verified.body().touched_paths(None).unwrap();
    zkscim_proto::touch::check_operation_scope(
        &verified.chain().scope,
        verified.body().operation(),
        "User",
        ID,
        &paths,
    )
    .unwrap();
}

#[test]
fn certificate_bytes_are_not_an_operation() {
    let c = chain();
    let bytes = c[0].bytes();
    assert_eq!(
        Signed::<OperationBody>::parse(bytes).unwrap_err().code(),
        "cose.wrong_type"
    );
    assert_eq!(parse_any(bytes).unwrap_err().code(), "cose.wrong_type");
    // An operation is not a revocation either.
    let op_bytes = Envelope::new(header(vec![]), op(Change::Delete)).sign(&key(1));
    assert_eq!(
        Signed::<Revocation>::parse(&op_bytes).unwrap_err().code(),
        "cose.wrong_type"
    );
}

#[test]
fn kid_must_be_the_chain_signer() {
    // Signed by the admin (key 2), but the chain ends at the connector (key 3).
    let bytes = Envelope::new(header(chain()), op(patch_active())).sign(&key(2));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.signer_mismatch"
    );
    // Root signs but presents a chain.
    let bytes = Envelope::new(header(chain()), op(patch_active())).sign(&key(1));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.signer_mismatch"
    );
    // Connector signs without its chain: the empty chain empowers the root only.
    let bytes = Envelope::new(header(vec![]), op(patch_active())).sign(&key(3));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.signer_mismatch"
    );
    // A truncated chain (admin's certificate only) empowers the admin, not the connector.
    let mut short = chain();
    short.pop();
    let bytes = Envelope::new(header(short), op(patch_active())).sign(&key(3));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.signer_mismatch"
    );
}

#[test]
fn tenant_mismatch_both_ways() {
    let bytes = Envelope::new(header(chain()), op(patch_active())).sign(&key(3));
    assert_eq!(
        verify_op(&bytes, "globex", T0).unwrap_err(),
        "envelope.tenant_mismatch"
    );
    // Payload names another tenant than the chain and context.
    let mut h = header(chain());
    h.tenant = "globex".into();
    let bytes = Envelope::new(h, op(patch_active())).sign(&key(3));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.tenant_mismatch"
    );
    // Context and payload agree on "globex", but the chain is acme's.
    assert_eq!(verify_op(&bytes, "globex", T0).unwrap_err(), "chain.tenant");
}

#[test]
fn issued_at_window_both_directions() {
    let bytes = Envelope::new(header(vec![]), op(Change::Delete)).sign(&key(1));
    verify_op(&bytes, "acme", T0 + SKEW).unwrap();
    verify_op(&bytes, "acme", T0 - SKEW).unwrap();
    assert_eq!(
        verify_op(&bytes, "acme", T0 + SKEW + 1).unwrap_err(),
        "envelope.issued_too_long_ago"
    );
    assert_eq!(
        verify_op(&bytes, "acme", T0 - SKEW - 1).unwrap_err(),
        "envelope.issued_in_future"
    );
    let mut h = header(vec![]);
    h.issued_at = u64::MAX;
    let bytes = Envelope::new(h, op(Change::Delete)).sign(&key(1));
    assert_eq!(
        verify_op(&bytes, "acme", T0).unwrap_err(),
        "envelope.issued_in_future"
    );
}

#[test]
fn expired_chain_and_bad_signature() {
    let bytes = Envelope::new(header(chain()), op(patch_active())).sign(&key(3));
    // The statement itself is fresh (skew is huge), but the chain has expired.
    let root = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0 + 90_000,
    };
    let signed = Signed::<OperationBody>::parse(&bytes).unwrap();
    assert_eq!(
        signed
            .verify(&ctx, u64::MAX, &mut NoCache)
            .unwrap_err()
            .code(),
        "chain.expired"
    );
    let mut forged = bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(
        verify_op(&forged, "acme", T0).unwrap_err(),
        "cose.bad_signature"
    );
    // Another root.
    let other = key(9).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &other,
        now: T0,
    };
    assert_eq!(
        signed.verify(&ctx, SKEW, &mut NoCache).unwrap_err().code(),
        "chain.issuer"
    );
}

#[test]
fn authentication_comes_first_and_classifies_refusals() {
    let root = key(1).public_key();
    let good = Envelope::new(header(chain()), op(patch_active())).sign(&key(3));
    let mut forged = good.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let verify = |bytes: &[u8], tenant: &str, now: u64| {
        let ctx = ChainContext {
            tenant,
            root: &root,
            now,
        };
        Signed::<OperationBody>::parse(bytes)
            .unwrap()
            .verify(&ctx, SKEW, &mut NoCache)
            .unwrap_err()
    };
    // A forgery that is also stale and for another tenant reports the forgery.
    let err = verify(&forged, "globex", T0 + 10_000);
    assert_eq!(err.code(), "cose.bad_signature");
    assert!(!err.after_authentication());
    // Well-signed refusals are flagged as authenticated.
    for (tenant, now, code) in [
        ("globex", T0, "envelope.tenant_mismatch"),
        ("acme", T0 + 10_000, "envelope.issued_too_long_ago"),
        ("acme", T0 - 10_000, "envelope.issued_in_future"),
    ] {
        let err = verify(&good, tenant, now);
        assert_eq!(err.code(), code);
        assert!(err.after_authentication(), "{code}");
    }
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0 + 90_000,
    };
    let err = Signed::<OperationBody>::parse(&good)
        .unwrap()
        .verify(&ctx, u64::MAX, &mut NoCache)
        .unwrap_err();
    assert_eq!(err.code(), "chain.expired");
    assert!(err.after_authentication());
    // Another root: not authenticated.
    let other = key(9).public_key();
    let err = Signed::<OperationBody>::parse(&good)
        .unwrap()
        .authenticate(&other, &mut NoCache)
        .unwrap_err();
    assert_eq!(err.code(), "chain.issuer");
    assert!(!err.after_authentication());
    // A certificate signature is verified once per verification even without a cache.
    #[derive(Default)]
    struct Counting(usize);
    impl zkscim_proto::cert::VerifiedCache for Counting {
        fn is_verified(&self, _: &CertId) -> bool {
            false
        }
        fn mark_verified(&mut self, _: CertId) {
            self.0 += 1;
        }
    }
    let mut counting = Counting::default();
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0,
    };
    Signed::<OperationBody>::parse(&good)
        .unwrap()
        .verify(&ctx, SKEW, &mut counting)
        .unwrap();
    assert_eq!(counting.0, 2);
}

/// Signs a hand-built payload map as an operation.
fn raw_op(map: MapBuilder) -> Vec<u8> {
    cose::sign(ObjectType::Operation, &key(1), &map.build().to_bytes())
}

fn base_fields() -> MapBuilder {
    MapBuilder::new()
        .field(KEY_TENANT, Value::text("acme"))
        .field(KEY_OP, Value::text("delete"))
        .field(KEY_RESOURCE_TYPE, Value::text("User"))
        .field(KEY_RESOURCE_ID, Value::text(ID))
        .field(KEY_NONCE, Value::bytes(vec![1; 16]))
        .field(KEY_ISSUED_AT, Value::Unsigned(T0))
        .field(KEY_CHAIN, Value::Array(vec![]))
}

/// `map` with field `key` set to `value` (replacing any earlier value).
fn with(map: MapBuilder, key: i64, value: Value) -> MapBuilder {
    let Value::Map(entries) = map.build() else {
        unreachable!()
    };
    entries
        .into_iter()
        .filter(|(k, _)| k.as_i64() != Some(key))
        .fold(MapBuilder::new(), |m, (k, v)| {
            m.field(k.as_i64().unwrap(), v)
        })
        .field(key, value)
}

fn parse_code(bytes: &[u8]) -> String {
    match Signed::<OperationBody>::parse(bytes) {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

#[test]
fn missing_extra_and_malformed_fields() {
    assert_eq!(parse_code(&raw_op(base_fields())), "ok");
    for missing in [
        KEY_TENANT,
        KEY_OP,
        KEY_RESOURCE_TYPE,
        KEY_RESOURCE_ID,
        KEY_NONCE,
        KEY_ISSUED_AT,
        KEY_CHAIN,
    ] {
        let Value::Map(entries) = base_fields().build() else {
            unreachable!()
        };
        let kept = entries
            .into_iter()
            .filter(|(k, _)| k.as_i64() != Some(missing));
        let map = kept.fold(MapBuilder::new(), |m, (k, v)| {
            m.field(k.as_i64().unwrap(), v)
        });
        let err = Signed::<OperationBody>::parse(&raw_op(map)).unwrap_err();
        assert_eq!(err.code(), "envelope.missing_field", "{missing}");
        assert!(
            err.to_string().contains(&format!("field {missing}")),
            "{err}"
        );
    }
    for extra in [0, 11, 17, 99, -1] {
        let map = with(base_fields(), extra, Value::Null);
        assert_eq!(
            parse_code(&raw_op(map)),
            "envelope.unknown_field",
            "{extra}"
        );
    }
    let cases: Vec<(MapBuilder, &str)> = vec![
        (
            with(base_fields(), KEY_NONCE, Value::bytes(vec![1; 15])),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_NONCE, Value::bytes(vec![1; 33])),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_NONCE, Value::bytes(vec![1; 32])),
            "ok",
        ),
        (
            with(base_fields(), KEY_NONCE, Value::text("nonce-nonce-nonce")),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_TENANT, Value::text("Acme")),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_TENANT, Value::text("")),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_TENANT, Value::text("a".repeat(65))),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_OP, Value::text("read")),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_OP, Value::text("Delete")),
            "envelope.invalid_field",
        ),
        (
            with(base_fields(), KEY_ISSUED_AT, Value::int(-1)),
            "envelope.invalid_field",
        ),
        (
            with(
                base_fields(),
                KEY_CHAIN,
                Value::Array(vec![Value::text("x")]),
            ),
            "envelope.invalid_field",
        ),
        (
            with(
                base_fields(),
                KEY_CHAIN,
                Value::Array(vec![Value::bytes(vec![0xa0])]),
            ),
            "cose.structure",
        ),
        (
            with(
                base_fields(),
                KEY_CHAIN,
                Value::Array(vec![Value::bytes(vec![])]),
            ),
            "cbor.truncated",
        ),
        (
            with(base_fields(), KEY_RESOURCE, Value::Map(vec![])),
            "envelope.field_not_allowed",
        ),
    ];
    for (map, code) in cases {
        let bytes = raw_op(map);
        assert_eq!(parse_code(&bytes), code);
    }
    // Payload that is not a map.
    let bytes = cose::sign(
        ObjectType::Operation,
        &key(1),
        &Value::Array(vec![]).to_bytes(),
    );
    assert_eq!(parse_code(&bytes), "envelope.invalid_payload");
}

#[test]
fn oversized_patch_list_refused() {
    let one = json!({"op": "remove", "path": "title"});
    let ops = Json::Array(vec![one; envelope::MAX_PATCH_OPERATIONS + 1]);
    assert_eq!(
        Change::patch(&ops).unwrap_err().code(),
        "touch.too_many_operations"
    );
    let value = zkscim_proto::codec::from_json(&ops).unwrap();
    let map = with(base_fields(), KEY_OP, Value::text("patch")).field(9, value);
    assert_eq!(parse_code(&raw_op(map)), "envelope.invalid_field");
    let ok = Json::Array(vec![json!({"op": "remove", "path": "title"}); 1000]);
    let map = with(base_fields(), KEY_OP, Value::text("patch"))
        .field(9, zkscim_proto::codec::from_json(&ok).unwrap());
    assert_eq!(parse_code(&raw_op(map)), "ok");
}

#[test]
fn non_canonical_payload_refused() {
    // A valid payload with its first two keys swapped (1 before 2 is canonical).
    let canonical = base_fields().build().to_bytes();
    // a7 01 64 "acme" 02 66 "delete" ...: swap the (1, "acme") and (2, "delete") entries.
    assert_eq!(canonical[0], 0xa7);
    let first = &canonical[1..7];
    let second = &canonical[7..15];
    assert_eq!(first[0], 0x01);
    assert_eq!(second[0], 0x02);
    let mut swapped = vec![0xa7];
    swapped.extend_from_slice(second);
    swapped.extend_from_slice(first);
    swapped.extend_from_slice(&canonical[15..]);
    let bytes = cose::sign(ObjectType::Operation, &key(1), &swapped);
    assert_eq!(parse_code(&bytes), "cbor.non_canonical");
    // Non-shortest integer for issued-at.
    let mut long_int = canonical.clone();
    let pos = long_int.windows(2).position(|w| w == [0x07, 0x1a]).unwrap();
    long_int.splice(pos + 1..pos + 2, [0x1b, 0, 0, 0, 0]);
    let bytes = cose::sign(ObjectType::Operation, &key(1), &long_int);
    assert_eq!(parse_code(&bytes), "cbor.non_canonical");
}

#[test]
fn other_kinds_refuse_bad_fields() {
    let sign = |typ, map: MapBuilder| cose::sign(typ, &key(1), &map.build().to_bytes());
    let common = || {
        MapBuilder::new()
            .field(KEY_TENANT, Value::text("acme"))
            .field(KEY_NONCE, Value::bytes(vec![1; 16]))
            .field(KEY_ISSUED_AT, Value::Unsigned(T0))
            .field(KEY_CHAIN, Value::Array(vec![]))
    };
    let revocation = sign(
        ObjectType::Revocation,
        common().field(11, Value::bytes(vec![0; 31])),
    );
    assert_eq!(
        Signed::<Revocation>::parse(&revocation).unwrap_err().code(),
        "envelope.invalid_field"
    );
    for bad in [
        Value::bytes(vec![0; 31]),
        Value::bytes(vec![0; 33]),
        Value::text("00"),
    ] {
        let approval = sign(ObjectType::Approval, common().field(20, bad.clone()));
        assert!(
            Signed::<zkscim_proto::envelope::Approval>::parse(&approval).is_err(),
            "{bad:?}"
        );
    }
    let approval = sign(ObjectType::Approval, common());
    assert_eq!(
        Signed::<zkscim_proto::envelope::Approval>::parse(&approval)
            .unwrap_err()
            .code(),
        "envelope.missing_field"
    );
    let good = sign(
        ObjectType::Approval,
        common().field(20, Value::bytes(vec![7; 32])),
    );
    let parsed = zkscim_proto::envelope::parse_any(&good).unwrap();
    let zkscim_proto::envelope::Statement::Approval(a) = parsed else {
        panic!("not an approval")
    };
    assert_eq!(a.body().approves, [7; 32]);
    assert_eq!(a.envelope().encode_payload(), a.sign1().payload);
    let policy = sign(ObjectType::Policy, common().field(13, Value::Array(vec![])));
    assert_eq!(
        Signed::<PolicyUpdate>::parse(&policy).unwrap_err().code(),
        "envelope.invalid_field"
    );
    let read = sign(
        ObjectType::ReadRequest,
        common()
            .field(14, Value::text("get"))
            .field(15, Value::text("/Users")),
    );
    assert_eq!(
        Signed::<ReadRequest>::parse(&read).unwrap_err().code(),
        "envelope.invalid_field"
    );
    let read = sign(
        ObjectType::ReadRequest,
        common()
            .field(14, Value::text("GET"))
            .field(15, Value::text("Users")),
    );
    assert_eq!(
        Signed::<ReadRequest>::parse(&read).unwrap_err().code(),
        "envelope.invalid_field"
    );
    // Genesis carries no chain field.
    let genesis = sign(
        ObjectType::Genesis,
        common().field(17, Value::bytes(key(1).public_key().to_bytes().to_vec())),
    );
    assert_eq!(
        parse_any(&genesis).unwrap_err().code(),
        "envelope.unknown_field"
    );
    // Genesis with a weak (small-order) root key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let genesis = sign(
        ObjectType::Genesis,
        MapBuilder::new()
            .field(KEY_TENANT, Value::text("acme"))
            .field(KEY_NONCE, Value::bytes(vec![1; 16]))
            .field(KEY_ISSUED_AT, Value::Unsigned(T0))
            .field(17, Value::bytes(identity.to_vec())),
    );
    assert_eq!(
        parse_any(&genesis).unwrap_err().code(),
        "envelope.invalid_field"
    );
    // A revocation verifies like an operation.
    let bytes = Envelope::new(
        header(chain()),
        Revocation {
            target: CertId([1; 32]),
            reason: None,
            certificate: None,
        },
    )
    .sign(&key(3));
    let root = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: T0,
    };
    Signed::<Revocation>::parse(&bytes)
        .unwrap()
        .verify(&ctx, SKEW, &mut NoCache)
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("active".to_owned()),
        Just("name".to_owned()),
        Just("emails".to_owned()),
        Just("$ref".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (-1.0e300f64..1.0e300).prop_map(Json::from),
        "\\PC{0,12}".prop_map(Json::String),
    ]
}

/// Resource-like JSON: SCIM attribute names, complex values one level deep, multi-valued
/// attributes of leaves or complex values (RFC 7643 §2.3).
fn json_resource() -> impl Strategy<Value = Json> {
    fn complex() -> impl Strategy<Value = Json> {
        prop::collection::btree_map(attr_name(), json_leaf(), 0..4)
            .prop_map(|m| Json::Object(m.into_iter().collect()))
    }
    let value = prop_oneof![
        json_leaf(),
        complex(),
        prop::collection::vec(prop_oneof![json_leaf(), complex()], 0..4).prop_map(Json::Array),
    ];
    prop::collection::btree_map(attr_name(), value, 0..6)
        .prop_map(|m| Json::Object(m.into_iter().collect()))
}

/// Arbitrary JSON with hostile member names.
fn json_any() -> impl Strategy<Value = Json> {
    let key = prop_oneof![
        attr_name(),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()),
        Just("urn:ietf:params:scim:schemas:core:2.0:User".to_owned()),
        Just("urn:ietf:params:scim:schemas:core:2.0:Group:x".to_owned()),
        Just("name.givenName".to_owned()),
        Just("op".to_owned()),
        Just("path".to_owned()),
        Just("value".to_owned()),
        "\\PC{0,10}",
    ];
    json_leaf().prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn patch_path() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z.:\\[\\]\" \\\\$_-]{0,30}",
        "[a-z]{1,6}(\\[[a-z ]{0,5}\"[\\]\\[\\\\\"a-z]{0,5}\"\\])?(\\.[a-z]{1,4})?",
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_owned()),
        Just("members[value eq \"a]b\"]".to_owned()),
    ]
}

fn patch_op() -> impl Strategy<Value = Json> {
    (
        prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("copy")],
        prop::option::of(patch_path()),
        prop::option::of(json_any()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = serde_json::Map::new();
            m.insert("op".into(), Json::from(op));
            if let Some(p) = path {
                m.insert("path".into(), Json::from(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Json::Object(m)
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        json_resource().prop_map(|r| Change::create(&r).unwrap()),
        json_resource().prop_map(|r| Change::replace(&r).unwrap()),
        prop::collection::vec(patch_op(), 1..5)
            .prop_map(|ops| Change::patch(&Json::Array(ops)).unwrap()),
        Just(Change::Delete),
    ]
}

fn uuid() -> impl Strategy<Value = String> {
    any::<[u8; 16]>().prop_map(|b| {
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    })
}

fn operation_envelope() -> impl Strategy<Value = (Envelope<OperationBody>, bool)> {
    (
        change(),
        prop_oneof![
            Just("User"),
            Just("Group"),
            Just("Agent"),
            Just("AgenticApplication")
        ],
        uuid(),
        prop::option::of("[!-~]{1,20}"),
        prop::collection::vec(any::<u8>(), 16..=32),
        T0 - SKEW..=T0 + SKEW,
        any::<bool>(),
        "[a-z0-9-]{1,64}",
    )
        .prop_map(
            |(change, rt, id, if_match, nonce, issued_at, chained, tenant)| {
                let tenant = if chained { "acme".to_owned() } else { tenant };
                let header = Header {
                    tenant,
                    nonce,
                    issued_at,
                    chain: if chained { chain() } else { vec![] },
                };
                let body = OperationBody {
                    resource_type: rt.into(),
                    resource_id: id,
                    if_match,
                    change,
                    indexes: Default::default(),
                };
                (Envelope::new(header, body), chained)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sign_parse_verify_roundtrip((env, chained) in operation_envelope()) {
        env.validate().unwrap();
        let signer = if chained { key(3) } else { key(1) };
        let bytes = env.sign(&signer);
        let signed = Signed::<OperationBody>::parse(&bytes).unwrap();
        prop_assert_eq!(signed.envelope(), &env);
        prop_assert_eq!(signed.bytes(), bytes.as_slice());
        let root = key(1).public_key();
        let ctx = ChainContext { tenant: &env.header.tenant, root: &root, now: T0 };
        let verified = signed.verify(&ctx, SKEW, &mut NoCache).unwrap();
        prop_assert_eq!(verified.signer(), &signer.public_key());
        // The body survives the JSON bridge unchanged.
        let json = verified.body().body_json().unwrap();
        let again = match verified.body().operation() {
            Operation::Create => Change::create(&json).unwrap(),
            Operation::Replace => Change::replace(&json).unwrap(),
            Operation::Patch => Change::patch(&json).unwrap(),
            _ => Change::Delete,
        };
        prop_assert_eq!(&again, &verified.body().change);
    }

    #[test]
    fn flipping_any_byte_breaks_parse_or_verify(
        (env, chained) in operation_envelope(),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let signer = if chained { key(3) } else { key(1) };
        let mut bytes = env.sign(&signer);
        let i = position.index(bytes.len());
        bytes[i] ^= mask;
        let root = key(1).public_key();
        let ctx = ChainContext { tenant: &env.header.tenant, root: &root, now: T0 };
        let outcome = Signed::<OperationBody>::parse(&bytes)
            .and_then(|s| s.verify(&ctx, SKEW, &mut NoCache));
        prop_assert!(outcome.is_err(), "flip at {} accepted", i);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_any(&bytes);
        let _ = Signed::<OperationBody>::parse(&bytes);
        let _ = Signed::<zkscim_proto::envelope::Genesis>::parse(&bytes);
    }

    #[test]
    fn truncations_and_splices_never_panic(
        (env, _) in operation_envelope(),
        cut in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let bytes = env.sign(&key(1));
        let at = cut.index(bytes.len());
        let mut spliced = bytes[..at].to_vec();
        spliced.extend_from_slice(&junk);
        spliced.extend_from_slice(&bytes[at..]);
        let _ = parse_any(&bytes[..at]);
        let _ = parse_any(&spliced);
    }

    #[test]
    fn touched_paths_of_resources_never_panic_and_are_covered(
        resource in json_any(),
        current in prop::option::of(json_resource()),
        rt in prop_oneof![Just("User"), Just("Group"), Just("Widget")],
    ) {
        for op in [Operation::Create, Operation::Replace] {
            if let Ok(paths) = touched_paths(op, rt, &resource, current.as_ref()) {
                for p in &paths {
                    prop_assert!(PathPattern::All.covers(p));
                    prop_assert!(!p.as_str().is_empty());
                }
            }
        }
    }

    #[test]
    fn well_formed_resources_always_derive(resource in json_resource()) {
        let paths = touched_paths(Operation::Create, "User", &resource, None).unwrap();
        // Every top-level attribute (except structural ones) is represented.
        for key in resource.as_object().unwrap().keys() {
            let lower = key.to_ascii_lowercase();
            if ["schemas", "id", "meta"].contains(&lower.as_str()) {
                continue;
            }
            prop_assert!(
                paths.iter().any(|p| p.as_str() == lower || p.as_str().starts_with(&format!("{lower}."))),
                "{} missing from {:?}", key, paths
            );
        }
    }

    #[test]
    fn touched_paths_of_patches_never_panic(ops in prop::collection::vec(patch_op(), 0..6)) {
        if let Ok(paths) = touched_paths(Operation::Patch, "User", &Json::Array(ops), None) {
            for p in &paths {
                prop_assert!(PathPattern::All.covers(p));
            }
        }
    }
}
