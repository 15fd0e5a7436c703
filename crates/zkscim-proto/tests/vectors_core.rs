//! Test vectors for the codec, keys, COSE_Sign1, certificates and chains (spec/vectors/).
//!
//! Two guarantees: every vector in the committed JSON is re-checked through the public API (so
//! the spec and the code cannot drift), and the committed files equal what the code generates
//! (so a format change cannot slip in without the vectors being regenerated and reviewed).
//! Regenerate with `ZKSCIM_REGENERATE_VECTORS=1 cargo test -p zkscim-proto --test vectors_core`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;

use serde_json::{json, Value as Json};
use zkscim_proto::cert::{
    verify_chain, CertId, Certificate, ChainContext, Claims, NoCache, CLAIM_DEPTH, CLAIM_EXPIRES,
    CLAIM_ISSUED_AT, CLAIM_ISSUER, CLAIM_LABEL, CLAIM_NONCE, CLAIM_NOT_BEFORE, CLAIM_PARENT,
    CLAIM_SCOPE, CLAIM_SUBJECT, CLAIM_TENANT,
};
use zkscim_proto::codec::{self, MapBuilder, Value};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::keys::{KeyId, PublicKey, SigningKey};
use zkscim_proto::scope::{Capability, Operation, PathPattern, ResourceTypes, Scope, ScopeBuilder};

const SEEDS: &[(&str, &str)] = &[
    (
        "root",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    ),
    (
        "admin",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    ),
    (
        "connector",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    ),
    (
        "other",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    ),
];
const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn vectors_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors").to_owned()
}

fn key(name: &str) -> SigningKey {
    let seed = SEEDS.iter().find(|(n, _)| *n == name).unwrap().1;
    let mut raw = [0u8; 32];
    hex::decode_to_slice(seed, &mut raw).unwrap();
    SigningKey::from_seed(&raw)
}

fn scope_json(scope: &Scope) -> Json {
    json!({
        "operations": scope.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "resource_types": match &scope.resource_types {
            ResourceTypes::All => vec!["*".to_owned()],
            ResourceTypes::Only(s) => s.iter().cloned().collect(),
        },
        "attributes": scope.attributes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "groups": scope.groups.as_ref().map(|g| g.iter().cloned().collect::<Vec<_>>()),
        "capabilities": scope.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    })
}

fn claims_json(c: &Claims) -> Json {
    json!({
        "issuer": c.issuer.to_hex(),
        "subject": c.subject.to_text(),
        "tenant": c.tenant,
        "not_before": c.not_before,
        "expires": c.expires,
        "issued_at": c.issued_at,
        "nonce": hex::encode(c.nonce),
        "parent": c.parent.map(|p| p.to_hex()),
        "depth": c.depth,
        "label": c.label,
        "scope": scope_json(&c.scope),
    })
}

fn admin_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["User", "Group", "Agent"])
        .attributes([
            "active",
            "displayName",
            "emails",
            "members",
            "name",
            "userName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:*",
        ])
        .groups(["g-eng", "g-ops"])
        .capabilities(["delegate", "revoke", "reactivate"])
        .build()
        .unwrap()
}

fn connector_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User", "Group"])
        .attributes(["active", "emails", "members", "name.*", "userName"])
        .groups(["g-eng"])
        .build()
        .unwrap()
}

/// The connector scope with one dimension widened.
fn widened(change: impl FnOnce(&mut Scope)) -> Scope {
    let mut s = connector_scope();
    change(&mut s);
    s
}

fn claims(subject: &SigningKey, depth: u8, scope: Scope, label: &str, nonce: u8) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: "acme".into(),
        not_before: T0,
        expires: T0 + 30 * DAY,
        issued_at: T0,
        nonce: [nonce; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

/// Signs claims by hand, bypassing the issuing checks, to build invalid certificates.
fn hand_signed(issuer: &SigningKey, c: &Claims) -> Certificate {
    let payload = MapBuilder::new()
        .field(CLAIM_ISSUER, Value::bytes(issuer.key_id().0.to_vec()))
        .field(CLAIM_SUBJECT, Value::bytes(c.subject.to_bytes().to_vec()))
        .field(CLAIM_EXPIRES, Value::Unsigned(c.expires))
        .field(CLAIM_NOT_BEFORE, Value::Unsigned(c.not_before))
        .field(CLAIM_ISSUED_AT, Value::Unsigned(c.issued_at))
        .field(CLAIM_NONCE, Value::bytes(c.nonce.to_vec()))
        .field(CLAIM_TENANT, Value::text(c.tenant.clone()))
        .optional(CLAIM_PARENT, c.parent.map(|p| Value::bytes(p.0.to_vec())))
        .field(CLAIM_DEPTH, Value::Unsigned(u64::from(c.depth)))
        .field(CLAIM_LABEL, Value::text(c.label.clone()))
        .field(CLAIM_SCOPE, c.scope.to_cbor())
        .build()
        .to_bytes();
    Certificate::parse(&cose::sign(ObjectType::Certificate, issuer, &payload)).unwrap()
}

fn keys_vectors() -> Json {
    let entries: Vec<Json> = SEEDS
        .iter()
        .map(|(name, seed)| {
            let k = key(name);
            json!({
                "name": name,
                "seed": seed,
                "public_key": hex::encode(k.public_key().to_bytes()),
                "public_key_text": k.public_key().to_text(),
                "key_id": k.key_id().to_hex(),
                "key_id_short": k.key_id().short(),
                "pkcs8_pem": k.to_pkcs8_pem().unwrap().as_str(),
                "signature_over_empty_message": hex::encode(k.sign(b"")),
            })
        })
        .collect();
    json!({
        "description": "Ed25519 keys from RFC 8032 §7.1 seeds: public key, key id (SHA-256 of the public key), text form, PKCS#8 v2 PEM, and the signature over the empty message.",
        "keys": entries,
        "invalid_public_keys": [
            {"text": "ed25519:0100000000000000000000000000000000000000000000000000000000000000", "error": "key.weak_public_key", "why": "the identity point has small order"},
            {"text": "ed25519:c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "error": "key.weak_public_key", "why": "a point of order 8"},
            {"text": "ed25519:zz", "error": "key.public_key_text", "why": "not hex"},
            {"text": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "error": "key.public_key_text", "why": "missing the ed25519: prefix"},
        ],
    })
}

fn cbor_vectors() -> Json {
    let valid = [
        ("0", "00"),
        ("23", "17"),
        ("24", "1818"),
        ("1000000", "1a000f4240"),
        ("-1", "20"),
        ("-1000", "3903e7"),
        ("1.5", "f93e00"),
        ("100000.0", "fa47c35000"),
        ("1.1", "fb3ff199999999999a"),
        ("h'01020304'", "4401020304"),
        ("\"IETF\"", "6449455446"),
        ("[1, [2, 3]]", "8201820203"),
        ("{1: 2, -1: 4, \"a\": 3}", "a301022004616103"),
        ("18([h'', {}, h'', h''])", "d28440a04040"),
    ];
    let fixed: Vec<Json> = valid
        .iter()
        .map(|(diag, h)| json!({"diagnostic": diag, "hex": h}))
        .collect();
    let invalid = [
        ("1817", "cbor.non_canonical", "23 encoded in two bytes"),
        ("1900ff", "cbor.non_canonical", "255 encoded in three bytes"),
        (
            "5f4100ff",
            "cbor.non_canonical",
            "indefinite-length byte string",
        ),
        ("9f01ff", "cbor.non_canonical", "indefinite-length array"),
        ("a202010101", "cbor.non_canonical", "map keys 2 then 1"),
        ("a201010101", "cbor.duplicate_key", "key 1 twice"),
        ("fa3fc00000", "cbor.non_canonical", "1.5 as a 32-bit float"),
        ("f97e00", "cbor.unsupported", "NaN"),
        ("f97c00", "cbor.unsupported", "infinity"),
        ("f7", "cbor.unsupported", "undefined"),
        ("1c", "cbor.malformed", "reserved additional information"),
        ("62c328", "cbor.invalid_utf8", "invalid UTF-8 in text"),
        ("0000", "cbor.trailing_bytes", "two items"),
        ("", "cbor.truncated", "empty input"),
        ("1a0001", "cbor.truncated", "integer cut short"),
        (
            "5bffffffffffffffff",
            "cbor.truncated",
            "byte string claiming 2^64-1 bytes",
        ),
        (
            "9bffffffffffffffff",
            "cbor.truncated",
            "array claiming 2^64-1 items",
        ),
    ];
    let mut too_deep = "81".repeat(65);
    too_deep.push_str("00");
    let mut invalid: Vec<Json> = invalid
        .iter()
        .map(|(h, code, why)| json!({"hex": h, "error": code, "why": why}))
        .collect();
    invalid.push(json!({"hex": too_deep, "error": "cbor.too_deep", "why": "65 nested arrays"}));
    json!({
        "description": "Deterministic CBOR (RFC 8949 §4.2.1): valid items must decode and re-encode to the same bytes; invalid items must be refused with the given code. Objects over 1 MiB are refused with cbor.too_large (not listed: too big for a vector file).",
        "valid": fixed,
        "invalid": invalid,
    })
}

fn cose_vectors() -> Json {
    let signer = key("admin");
    let types = [
        ObjectType::Certificate,
        ObjectType::Operation,
        ObjectType::Revocation,
        ObjectType::Policy,
        ObjectType::ReadRequest,
        ObjectType::Genesis,
    ];
    let valid: Vec<Json> = types
        .iter()
        .map(|t| {
            let payload = Value::Map(vec![(Value::int(1), Value::text("acme"))]).to_bytes();
            let bytes = cose::sign(*t, &signer, &payload);
            let parsed = cose::parse(&bytes, *t).unwrap();
            json!({
                "typ": t.media_type(),
                "signer_seed": SEEDS[1].1,
                "payload": hex::encode(&payload),
                "to_be_signed": hex::encode(parsed.to_be_signed()),
                "cose_sign1": hex::encode(&bytes),
            })
        })
        .collect();
    let good = cose::sign(ObjectType::Operation, &signer, b"\xa0");
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let untagged = good[1..].to_vec();
    json!({
        "description": "COSE_Sign1 with EdDSA: protected header {1: -8, 4: kid, 16: typ}, empty unprotected header, attached payload. Signatures are deterministic (RFC 8032), so the bytes are exact.",
        "valid": valid,
        "invalid": [
            {"cose_sign1": hex::encode(&flipped), "expected_typ": ObjectType::Operation.media_type(), "signer_seed": SEEDS[1].1, "error": "cose.bad_signature", "why": "last signature byte flipped"},
            {"cose_sign1": hex::encode(&untagged), "expected_typ": ObjectType::Operation.media_type(), "signer_seed": SEEDS[1].1, "error": "cose.structure", "why": "missing tag 18"},
            {"cose_sign1": hex::encode(&good), "expected_typ": ObjectType::Certificate.media_type(), "signer_seed": SEEDS[1].1, "error": "cose.wrong_type", "why": "an operation presented as a certificate"},
            {"cose_sign1": hex::encode(&good), "expected_typ": ObjectType::Operation.media_type(), "signer_seed": SEEDS[2].1, "error": "cose.key_mismatch", "why": "verified against another key"},
        ],
    })
}

struct ChainCase {
    name: &'static str,
    why: &'static str,
    chain: Vec<Certificate>,
    tenant: &'static str,
    root: &'static str,
    now: u64,
}

fn chain_cases() -> Vec<ChainCase> {
    let root = key("root");
    let admin = key("admin");
    let connector = key("connector");
    let other = key("other");
    let admin_cert = Certificate::issue(
        &root,
        None,
        claims(&admin, 1, admin_scope(), "acme-admin", 1),
    )
    .unwrap();
    let connector_cert = Certificate::issue(
        &admin,
        Some(&admin_cert),
        claims(&connector, 0, connector_scope(), "okta-prod-connector", 2),
    )
    .unwrap();
    let good = vec![admin_cert.clone(), connector_cert.clone()];
    let child = |scope: Scope, depth: u8, nonce: u8| {
        let mut c = claims(&connector, depth, scope, "escalating", nonce);
        c.parent = Some(admin_cert.id());
        hand_signed(&admin, &c)
    };
    let mut long_validity = claims(&connector, 0, connector_scope(), "too-long", 9);
    long_validity.parent = Some(admin_cert.id());
    long_validity.expires = T0 + 60 * DAY;
    let mut no_delegate_parent = claims(&admin, 1, connector_scope(), "cannot-delegate", 10);
    no_delegate_parent.scope.capabilities.clear();
    let nd_cert = Certificate::issue(&root, None, no_delegate_parent).unwrap();
    let mut under_nd = claims(&connector, 0, connector_scope(), "under-no-delegate", 11);
    under_nd.parent = Some(nd_cert.id());
    let under_nd = hand_signed(&admin, &under_nd);
    let mut wrong_tenant = claims(&admin, 1, admin_scope(), "other-tenant-admin", 12);
    wrong_tenant.tenant = "globex".into();
    let wrong_tenant_cert = Certificate::issue(&root, None, wrong_tenant).unwrap();
    let forged = {
        let mut c = claims(&connector, 0, connector_scope(), "forged", 13);
        c.parent = Some(admin_cert.id());
        let mut cert_bytes = hand_signed(&other, &c).bytes().to_vec();
        // Re-label the kid and issuer as the admin's: the signature is still the other key's.
        let admin_kid = admin.key_id().0;
        let other_kid = other.key_id().0;
        let mut i = 0;
        while i + 32 <= cert_bytes.len() {
            if cert_bytes[i..i + 32] == other_kid {
                cert_bytes[i..i + 32].copy_from_slice(&admin_kid);
            }
            i += 1;
        }
        Certificate::parse(&cert_bytes).unwrap()
    };
    let base = |name, why, chain, now| ChainCase {
        name,
        why,
        chain,
        tenant: "acme",
        root: "root",
        now,
    };
    vec![
        base(
            "valid_depth_2",
            "root → admin → connector, checked inside every window",
            good.clone(),
            T0 + DAY,
        ),
        ChainCase {
            chain: vec![],
            ..base(
                "valid_empty",
                "the root key signs itself: unlimited scope",
                vec![],
                T0,
            )
        },
        base(
            "expired",
            "checked at the admin certificate's expiry (exclusive)",
            good.clone(),
            T0 + 30 * DAY,
        ),
        base(
            "not_yet_valid",
            "checked one second before not_before",
            good.clone(),
            T0 - 1,
        ),
        ChainCase {
            tenant: "globex",
            ..base(
                "wrong_tenant_context",
                "an acme chain presented for tenant globex",
                good.clone(),
                T0,
            )
        },
        base(
            "cross_tenant_certificate",
            "the admin certificate was issued for globex",
            vec![wrong_tenant_cert, connector_cert.clone()],
            T0,
        ),
        ChainCase {
            root: "other",
            ..base(
                "wrong_root",
                "verified against another tenant's root",
                good.clone(),
                T0,
            )
        },
        base(
            "reordered",
            "connector certificate first",
            vec![connector_cert.clone(), admin_cert.clone()],
            T0,
        ),
        base(
            "escalation_operations",
            "child adds 'read'",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.operations.insert(Operation::Read);
                    }),
                    0,
                    3,
                ),
            ],
            T0,
        ),
        base(
            "escalation_resource_types",
            "child adds resource type 'Device'",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.resource_types = ResourceTypes::Only(
                            ["Device".to_owned(), "User".to_owned()]
                                .into_iter()
                                .collect(),
                        )
                    }),
                    0,
                    4,
                ),
            ],
            T0,
        ),
        base(
            "escalation_all_resource_types",
            "child claims '*' resource types",
            vec![
                admin_cert.clone(),
                child(widened(|s| s.resource_types = ResourceTypes::All), 0, 5),
            ],
            T0,
        ),
        base(
            "escalation_attributes",
            "child adds 'phoneNumbers'",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.attributes
                            .insert(PathPattern::parse("phoneNumbers").unwrap());
                    }),
                    0,
                    6,
                ),
            ],
            T0,
        ),
        base(
            "escalation_schema_wildcard",
            "child claims every attribute with '*'",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.attributes.insert(PathPattern::All);
                    }),
                    0,
                    14,
                ),
            ],
            T0,
        ),
        base(
            "escalation_groups_unrestricted",
            "child drops the group allow-list",
            vec![
                admin_cert.clone(),
                child(widened(|s| s.groups = None), 0, 15),
            ],
            T0,
        ),
        base(
            "escalation_groups",
            "child adds group 'g-admins'",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.groups
                            .get_or_insert_with(Default::default)
                            .insert("g-admins".into());
                    }),
                    0,
                    16,
                ),
            ],
            T0,
        ),
        base(
            "escalation_capabilities",
            "child claims 'policy' the parent lacks",
            vec![
                admin_cert.clone(),
                child(
                    widened(|s| {
                        s.capabilities.insert(Capability::Policy);
                    }),
                    0,
                    17,
                ),
            ],
            T0,
        ),
        base(
            "escalation_depth",
            "child depth equal to its parent's",
            vec![admin_cert.clone(), child(connector_scope(), 1, 7)],
            T0,
        ),
        base(
            "escalation_validity",
            "child outlives its parent",
            vec![admin_cert.clone(), hand_signed(&admin, &long_validity)],
            T0,
        ),
        base(
            "parent_cannot_delegate",
            "parent scope lacks 'delegate'",
            vec![nd_cert, under_nd],
            T0,
        ),
        base(
            "forged_signature",
            "claims the admin as issuer, signed by another key",
            vec![admin_cert.clone(), forged],
            T0,
        ),
    ]
}

fn expected_outcome(case: &ChainCase) -> Json {
    let root = key(case.root).public_key();
    let ctx = ChainContext {
        tenant: case.tenant,
        root: &root,
        now: case.now,
    };
    match verify_chain(&case.chain, &ctx, &mut NoCache) {
        Ok(v) => json!({
            "ok": true,
            "signer": v.signer.to_text(),
            "effective_scope": scope_json(&v.scope),
            "certificate_ids": v.certificate_ids.iter().map(CertId::to_hex).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"ok": false, "error": e.code(), "position": e.position}),
    }
}

fn certificate_vectors() -> Json {
    let cases: Vec<Json> = chain_cases()
        .iter()
        .map(|case| {
            json!({
                "name": case.name,
                "why": case.why,
                "tenant": case.tenant,
                "root_public_key": key(case.root).public_key().to_text(),
                "now": case.now,
                "chain": case.chain.iter().map(|c| json!({
                    "cose_sign1": hex::encode(c.bytes()),
                    "id": c.id().to_hex(),
                    "claims": claims_json(c.claims()),
                })).collect::<Vec<_>>(),
                "expected": expected_outcome(case),
            })
        })
        .collect();
    json!({
        "description": "Delegation chains (root-signed certificate first). For each: parse every certificate, check its id (SHA-256 of its bytes) and claims, then verify the chain for the tenant, root key and time given; expect the effective scope or the error code and the zero-based position of the failing certificate.",
        "chains": cases,
    })
}

fn generated() -> Vec<(&'static str, Json)> {
    vec![
        ("keys.json", keys_vectors()),
        ("cbor.json", cbor_vectors()),
        ("cose.json", cose_vectors()),
        ("certificates.json", certificate_vectors()),
    ]
}

fn load(name: &str) -> Json {
    let path = format!("{}/{name}", vectors_dir());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn committed_vectors_match_generated() {
    for (name, value) in generated() {
        let path = format!("{}/{name}", vectors_dir());
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        if std::env::var_os("ZKSCIM_REGENERATE_VECTORS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{name} is stale: regenerate with ZKSCIM_REGENERATE_VECTORS=1 and review the diff"
        );
    }
}

fn hex_bytes(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn key_vectors_check() {
    let v = load("keys.json");
    for k in v["keys"].as_array().unwrap() {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(k["seed"].as_str().unwrap(), &mut seed).unwrap();
        let sk = SigningKey::from_seed(&seed);
        assert_eq!(hex::encode(sk.public_key().to_bytes()), k["public_key"]);
        assert_eq!(sk.key_id().to_hex(), k["key_id"]);
        assert_eq!(sk.key_id().short(), k["key_id_short"]);
        let parsed = PublicKey::from_text(k["public_key_text"].as_str().unwrap()).unwrap();
        assert_eq!(parsed, sk.public_key());
        let from_pem = SigningKey::from_pkcs8_pem(k["pkcs8_pem"].as_str().unwrap()).unwrap();
        assert_eq!(from_pem.key_id(), sk.key_id());
        let sig: [u8; 64] = hex_bytes(&k["signature_over_empty_message"])
            .try_into()
            .unwrap();
        parsed.verify_strict(b"", &sig).unwrap();
    }
    for bad in v["invalid_public_keys"].as_array().unwrap() {
        let err = PublicKey::from_text(bad["text"].as_str().unwrap()).unwrap_err();
        assert_eq!(err.code(), bad["error"], "{}", bad["why"]);
    }
}

#[test]
fn cbor_vectors_check() {
    let v = load("cbor.json");
    for item in v["valid"].as_array().unwrap() {
        let bytes = hex_bytes(&item["hex"]);
        let value = codec::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", item["diagnostic"]));
        assert_eq!(value.to_bytes(), bytes, "{}", item["diagnostic"]);
    }
    for item in v["invalid"].as_array().unwrap() {
        let err = codec::decode(&hex_bytes(&item["hex"])).unwrap_err();
        assert_eq!(err.code(), item["error"], "{}", item["why"]);
    }
}

#[test]
fn cose_vectors_check() {
    let v = load("cose.json");
    let signer_of = |seed: &Json| {
        let mut s = [0u8; 32];
        hex::decode_to_slice(seed.as_str().unwrap(), &mut s).unwrap();
        SigningKey::from_seed(&s).public_key()
    };
    for item in v["valid"].as_array().unwrap() {
        let typ = ObjectType::from_media_type(item["typ"].as_str().unwrap()).unwrap();
        let parsed = cose::parse(&hex_bytes(&item["cose_sign1"]), typ).unwrap();
        assert_eq!(parsed.payload, hex_bytes(&item["payload"]));
        assert_eq!(parsed.to_be_signed(), hex_bytes(&item["to_be_signed"]));
        parsed.verify(&signer_of(&item["signer_seed"])).unwrap();
    }
    for item in v["invalid"].as_array().unwrap() {
        let typ = ObjectType::from_media_type(item["expected_typ"].as_str().unwrap()).unwrap();
        let err = cose::parse(&hex_bytes(&item["cose_sign1"]), typ)
            .and_then(|p| p.verify(&signer_of(&item["signer_seed"])))
            .unwrap_err();
        assert_eq!(err.code(), item["error"], "{}", item["why"]);
    }
}

#[test]
fn certificate_vectors_check() {
    let v = load("certificates.json");
    for case in v["chains"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let chain: Vec<Certificate> = case["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let cert = Certificate::parse(&hex_bytes(&c["cose_sign1"])).unwrap();
                assert_eq!(cert.id().to_hex(), c["id"], "{name}");
                assert_eq!(claims_json(cert.claims()), c["claims"], "{name}");
                cert
            })
            .collect();
        let root = PublicKey::from_text(case["root_public_key"].as_str().unwrap()).unwrap();
        let ctx = ChainContext {
            tenant: case["tenant"].as_str().unwrap(),
            root: &root,
            now: case["now"].as_u64().unwrap(),
        };
        let expected = &case["expected"];
        let mut cache = HashSet::new();
        match verify_chain(&chain, &ctx, &mut cache) {
            Ok(verified) => {
                assert!(
                    expected["ok"].as_bool().unwrap(),
                    "{name} verified but should fail"
                );
                assert_eq!(
                    scope_json(&verified.scope),
                    expected["effective_scope"],
                    "{name}"
                );
                assert_eq!(verified.signer.to_text(), expected["signer"], "{name}");
            }
            Err(e) => {
                assert!(!expected["ok"].as_bool().unwrap(), "{name} failed: {e}");
                assert_eq!(e.code(), expected["error"], "{name}: {e}");
                assert_eq!(
                    e.position,
                    expected["position"].as_u64().unwrap() as usize,
                    "{name}"
                );
            }
        }
    }
}
