//! Hostile input: every refusal asserts its exact error code, and nothing panics, overflows the
//! stack or allocates what the input merely declares.
//!
//! Covers truncation (every prefix of valid certificates and COSE objects), oversize, deep
//! nesting (arrays, maps, tags; up to 100,000 levels), non-canonical encodings, trailing bytes,
//! huge declared lengths, malformed COSE_Sign1 structures, and certificates with unknown,
//! missing or mistyped claims, weak subject keys, bad labels, excessive depth and bad tenants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use zkscim_proto::cert::{
    verify_chain, Certificate, ChainContext, Claims, NoCache, CLAIM_DEPTH, CLAIM_EXPIRES,
    CLAIM_ISSUED_AT, CLAIM_ISSUER, CLAIM_LABEL, CLAIM_NONCE, CLAIM_NOT_BEFORE, CLAIM_PARENT,
    CLAIM_SCOPE, CLAIM_SUBJECT, CLAIM_TENANT, MAX_CHAIN_LEN,
};
use zkscim_proto::codec::{self, Limits, Value, MAX_DEPTH, MAX_OBJECT_BYTES};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::keys::{KeyId, PublicKey, SigningKey};
use zkscim_proto::scope::{Scope, ScopeBuilder};

const T0: u64 = 1_800_000_000;
const ALL_TYPES: [ObjectType; 6] = [
    ObjectType::Certificate,
    ObjectType::Operation,
    ObjectType::Revocation,
    ObjectType::Policy,
    ObjectType::ReadRequest,
    ObjectType::Genesis,
];

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).unwrap()
}

fn decode_code(bytes: &[u8]) -> &'static str {
    match codec::decode(bytes) {
        Ok(v) => panic!("accepted {}: {v}", hex::encode(bytes)),
        Err(e) => e.code(),
    }
}

fn admin_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "patch", "delete"])
        .resource_types(["User", "Group"])
        .attributes(["*"])
        .groups(["g1"])
        .capabilities(["delegate", "revoke"])
        .build()
        .unwrap()
}

fn connector_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User"])
        .attributes(["active", "name"])
        .groups(["g1"])
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

/// root(1) → admin(2) → connector(3).
fn chain() -> Vec<Certificate> {
    let admin =
        Certificate::issue(&key(1), None, claims(&key(2), 1, admin_scope(), "admin")).unwrap();
    let connector = Certificate::issue(
        &key(2),
        Some(&admin),
        claims(&key(3), 0, connector_scope(), "okta"),
    )
    .unwrap();
    vec![admin, connector]
}

/// The claim map of a valid root-signed certificate (issuer = key 1), as (key, value) pairs so
/// tests can drop, add or replace fields.
/// Integer-keyed fields of a map.
type Fields = Vec<(i64, Value)>;

fn claim_fields() -> Fields {
    vec![
        (CLAIM_ISSUER, Value::bytes(key(1).key_id().0.to_vec())),
        (
            CLAIM_SUBJECT,
            Value::bytes(key(2).public_key().to_bytes().to_vec()),
        ),
        (CLAIM_EXPIRES, Value::Unsigned(T0 + 100)),
        (CLAIM_NOT_BEFORE, Value::Unsigned(T0)),
        (CLAIM_ISSUED_AT, Value::Unsigned(T0)),
        (CLAIM_NONCE, Value::bytes(vec![9; 16])),
        (CLAIM_TENANT, Value::text("acme")),
        (CLAIM_DEPTH, Value::Unsigned(1)),
        (CLAIM_LABEL, Value::text("admin")),
        (CLAIM_SCOPE, admin_scope().to_cbor()),
    ]
}

fn with_field(key_: i64, value: Value) -> Vec<(i64, Value)> {
    let mut fields: Vec<(i64, Value)> = claim_fields()
        .into_iter()
        .filter(|(k, _)| *k != key_)
        .collect();
    fields.push((key_, value));
    fields
}

fn claim_map(fields: Vec<(i64, Value)>) -> Value {
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::int(k), v))
            .collect(),
    )
}

/// A certificate signed by the root (key 1) over exactly these payload bytes.
fn signed_payload(payload: &[u8]) -> Vec<u8> {
    cose::sign(ObjectType::Certificate, &key(1), payload)
}

fn signed_claims(fields: Vec<(i64, Value)>) -> Vec<u8> {
    signed_payload(&claim_map(fields).to_bytes())
}

fn cert_code(bytes: &[u8]) -> &'static str {
    match Certificate::parse(bytes) {
        Ok(c) => panic!("certificate accepted: {:?}", c.claims()),
        Err(e) => e.code(),
    }
}

fn cert_err(bytes: &[u8]) -> String {
    Certificate::parse(bytes).unwrap_err().to_string()
}

/// Splits tag-18 COSE bytes into its four parts.
fn cose_parts(bytes: &[u8]) -> Vec<Value> {
    let Value::Tag(18, inner) = codec::decode(bytes).unwrap() else {
        panic!("not tag 18")
    };
    let Value::Array(parts) = *inner else {
        panic!("not an array")
    };
    parts
}

fn tagged(parts: Vec<Value>) -> Vec<u8> {
    Value::Tag(18, Box::new(Value::Array(parts))).to_bytes()
}

/// A COSE_Sign1 with this protected header, correctly signed by `signer` over it.
fn sign_with_protected(signer: &SigningKey, protected: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let to_be_signed = Value::Array(vec![
        Value::text("Signature1"),
        Value::bytes(protected.clone()),
        Value::bytes(Vec::new()),
        Value::bytes(payload.to_vec()),
    ])
    .to_bytes();
    let signature = signer.sign(&to_be_signed);
    tagged(vec![
        Value::Bytes(protected),
        Value::Map(Vec::new()),
        Value::bytes(payload.to_vec()),
        Value::bytes(signature.to_vec()),
    ])
}

fn protected(entries: Vec<(i64, Value)>) -> Vec<u8> {
    claim_map(entries).to_bytes()
}

fn good_protected(typ: ObjectType, signer: &SigningKey) -> Vec<(i64, Value)> {
    vec![
        (1, Value::int(-8)),
        (4, Value::bytes(signer.key_id().0.to_vec())),
        (16, Value::text(typ.media_type())),
    ]
}

// ---------------------------------------------------------------------------------------------
// Truncation, size, trailing bytes
// ---------------------------------------------------------------------------------------------

#[test]
fn every_prefix_of_valid_certificates_is_truncated() {
    for cert in chain() {
        let bytes = cert.bytes();
        for len in 0..bytes.len() {
            assert_eq!(
                cert_code(&bytes[..len]),
                "cbor.truncated",
                "prefix of {len} bytes"
            );
        }
        Certificate::parse(bytes).unwrap();
    }
}

#[test]
fn every_prefix_of_cose_objects_is_truncated() {
    let payload = vec![0x5a; 300];
    for typ in ALL_TYPES {
        let bytes = cose::sign(typ, &key(5), &payload);
        for len in 0..bytes.len() {
            let err = cose::parse_any(&bytes[..len]).unwrap_err();
            assert_eq!(err.code(), "cbor.truncated", "{typ:?}, prefix {len}");
            let err = cose::parse(&bytes[..len], typ).unwrap_err();
            assert_eq!(err.code(), "cbor.truncated", "{typ:?}, prefix {len}");
        }
        cose::parse(&bytes, typ)
            .unwrap()
            .verify(&key(5).public_key())
            .unwrap();
    }
}

/// A correctly signed certificate whose *payload* is a truncated claim map, and a COSE object
/// whose protected header is truncated.
#[test]
fn truncated_inner_encodings() {
    let full = claim_map(claim_fields()).to_bytes();
    for len in [0, 1, full.len() / 2, full.len() - 1] {
        assert_eq!(
            cert_code(&signed_payload(&full[..len])),
            "cbor.truncated",
            "{len}"
        );
    }
    let header = protected(good_protected(ObjectType::Operation, &key(5)));
    for len in [0, 1, header.len() - 1] {
        let bytes = sign_with_protected(&key(5), header[..len].to_vec(), b"x");
        assert_eq!(
            cose::parse_any(&bytes).unwrap_err().code(),
            "cbor.truncated",
            "{len}"
        );
    }
}

#[test]
fn oversized_inputs_are_refused_before_decoding() {
    // Exactly at the limit: accepted.
    let at_limit = Value::Bytes(vec![0; MAX_OBJECT_BYTES - 5]).to_bytes();
    assert_eq!(at_limit.len(), MAX_OBJECT_BYTES);
    codec::decode(&at_limit).unwrap();
    // One byte over, as a well-formed item, as garbage and as nonsense headers.
    let over = Value::Bytes(vec![0; MAX_OBJECT_BYTES - 4]).to_bytes();
    assert_eq!(over.len(), MAX_OBJECT_BYTES + 1);
    assert_eq!(decode_code(&over), "cbor.too_large");
    assert_eq!(
        decode_code(&vec![0xff; MAX_OBJECT_BYTES + 1]),
        "cbor.too_large"
    );
    assert_eq!(decode_code(&vec![0x81; 4 << 20]), "cbor.too_large");
    // A signed object over 1 MiB: refused as a whole, by each parser.
    let big = cose::sign(ObjectType::Operation, &key(5), &vec![7; MAX_OBJECT_BYTES]);
    assert_eq!(cose::parse_any(&big).unwrap_err().code(), "cbor.too_large");
    let big_cert = signed_payload(&vec![7; MAX_OBJECT_BYTES]);
    assert_eq!(cert_code(&big_cert), "cbor.too_large");
    // Limits are honoured when tighter.
    let small = Limits {
        max_bytes: 10,
        max_depth: MAX_DEPTH,
    };
    assert_eq!(
        codec::decode_with_limits(&[0x4a; 11], small)
            .unwrap_err()
            .code(),
        "cbor.too_large"
    );
}

#[test]
fn trailing_bytes_are_refused_at_every_layer() {
    let cert = chain().remove(0);
    for extra in [&[0x00][..], &[0xff], &[0xf6, 0xf6], cert.bytes()] {
        let mut bytes = cert.bytes().to_vec();
        bytes.extend_from_slice(extra);
        assert_eq!(cert_code(&bytes), "cbor.trailing_bytes");
        assert_eq!(
            cose::parse_any(&bytes).unwrap_err().code(),
            "cbor.trailing_bytes"
        );
    }
    // Inside the signed payload.
    let mut payload = claim_map(claim_fields()).to_bytes();
    payload.push(0x00);
    assert_eq!(cert_code(&signed_payload(&payload)), "cbor.trailing_bytes");
    // Inside the protected header.
    let mut header = protected(good_protected(ObjectType::Policy, &key(5)));
    header.push(0xa0);
    let bytes = sign_with_protected(&key(5), header, b"x");
    assert_eq!(
        cose::parse_any(&bytes).unwrap_err().code(),
        "cbor.trailing_bytes"
    );
    for (h_, code) in [
        ("0000", "cbor.trailing_bytes"),
        ("a0a0", "cbor.trailing_bytes"),
        ("8001", "cbor.trailing_bytes"),
    ] {
        assert_eq!(decode_code(&h(h_)), code, "{h_}");
    }
}

// ---------------------------------------------------------------------------------------------
// Depth
// ---------------------------------------------------------------------------------------------

/// `levels` nested containers of one kind around a 0.
fn nested(kind: &str, levels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(levels * 2 + 1);
    for level in 0..levels {
        let kind = if kind == "mixed" {
            ["array", "map", "tag"][level % 3]
        } else {
            kind
        };
        match kind {
            "array" => out.push(0x81),
            "map" => out.extend_from_slice(&[0xa1, 0x00]),
            "tag" => out.push(0xc1),
            _ => unreachable!(),
        }
    }
    out.push(0x00);
    out
}

#[test]
fn nesting_is_limited_to_64_levels() {
    for kind in ["array", "map", "tag"] {
        codec::decode(&nested(kind, MAX_DEPTH)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            decode_code(&nested(kind, MAX_DEPTH + 1)),
            "cbor.too_deep",
            "{kind}"
        );
    }
    // Arrays, maps and tags all count, whatever the mix.
    let mut mixed = Vec::new();
    for i in 0..=MAX_DEPTH {
        match i % 3 {
            0 => mixed.push(0x81),
            1 => mixed.extend_from_slice(&[0xa1, 0x00]),
            _ => mixed.push(0xd8),
        }
        if i % 3 == 2 {
            mixed.push(0x20); // tag 32
        }
    }
    mixed.push(0x00);
    assert_eq!(decode_code(&mixed), "cbor.too_deep");
    // A map key counts as a level too.
    let mut key_nested = vec![0x81; MAX_DEPTH - 1];
    key_nested.extend_from_slice(&[0xa1, 0x81, 0x00, 0x00]);
    assert_eq!(decode_code(&key_nested), "cbor.too_deep");
}

/// 100,000 levels of each kind, decoded on a thread with a deliberately small stack: refused as
/// too deep, never a stack overflow.
#[test]
fn hundred_thousand_levels_do_not_overflow_the_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            for kind in ["array", "map", "tag", "mixed"] {
                let bytes = nested(kind, 100_000);
                assert_eq!(decode_code(&bytes), "cbor.too_deep", "{kind}");
                // The same nesting as a certificate payload and as a COSE object.
                assert_eq!(
                    cert_code(&signed_payload(&bytes)),
                    "cbor.too_deep",
                    "{kind}"
                );
                let mut as_cose = h("d2 84");
                as_cose.extend_from_slice(&bytes);
                assert_eq!(
                    cose::parse_any(&as_cose).unwrap_err().code(),
                    "cbor.too_deep",
                    "{kind}"
                );
            }
        })
        .unwrap();
    handle.join().unwrap();
}

/// `MAX_DEPTH` is documented as a *hard* ceiling, but a caller-supplied `Limits` can raise it
/// without bound, and then hostile nesting recurses once per level: 100,000 levels overflow the
/// stack and abort the process. (65 levels here, so the test itself stays safe.)
#[test]
fn caller_limits_cannot_exceed_the_hard_ceilings() {
    let generous = Limits {
        max_bytes: usize::MAX,
        max_depth: usize::MAX,
    };
    let err = codec::decode_with_limits(&nested("array", MAX_DEPTH + 1), generous)
        .expect_err("nesting beyond the hard ceiling accepted");
    assert_eq!(err.code(), "cbor.too_deep");
    let over = Value::Bytes(vec![0; MAX_OBJECT_BYTES]).to_bytes();
    let err = codec::decode_with_limits(&over, generous).expect_err("oversize accepted");
    assert_eq!(err.code(), "cbor.too_large");
}

// ---------------------------------------------------------------------------------------------
// Non-canonical and malformed encodings
// ---------------------------------------------------------------------------------------------

#[test]
fn non_canonical_encodings_are_refused_with_exact_codes() {
    let cases: &[(&str, &str, &str)] = &[
        // Unsorted map keys (bytewise order of encoded keys).
        ("a2 02 01 01 01", "cbor.non_canonical", "uint keys 2, 1"),
        (
            "a2 20 01 0a 01",
            "cbor.non_canonical",
            "keys -1 (0x20) before 10 (0x0a)",
        ),
        (
            "a2 62 61 61 01 61 62 01",
            "cbor.non_canonical",
            "'aa' before 'b'",
        ),
        (
            "a2 61 61 01 01 01",
            "cbor.non_canonical",
            "text key before uint key",
        ),
        ("a2 01 01 01 02", "cbor.duplicate_key", "duplicate key"),
        (
            "a2 61 61 01 61 61 02",
            "cbor.duplicate_key",
            "duplicate text key",
        ),
        // Non-shortest integers, lengths and tag numbers.
        ("18 00", "cbor.non_canonical", "0 in 1 extra byte"),
        ("18 17", "cbor.non_canonical", "23 in 1 extra byte"),
        ("19 00 ff", "cbor.non_canonical", "255 in 2 bytes"),
        ("1a 00 00 ff ff", "cbor.non_canonical", "65535 in 4 bytes"),
        (
            "1b 00 00 00 00 ff ff ff ff",
            "cbor.non_canonical",
            "u32::MAX in 8 bytes",
        ),
        ("38 00", "cbor.non_canonical", "-1 in 1 extra byte"),
        (
            "3b 00 00 00 00 00 00 00 00",
            "cbor.non_canonical",
            "-1 in 8 bytes",
        ),
        (
            "58 01 00",
            "cbor.non_canonical",
            "bytes length 1 in 1 extra byte",
        ),
        (
            "79 00 01 61",
            "cbor.non_canonical",
            "text length 1 in 2 bytes",
        ),
        (
            "98 01 00",
            "cbor.non_canonical",
            "array length 1 in 1 extra byte",
        ),
        (
            "b8 01 00 00",
            "cbor.non_canonical",
            "map length 1 in 1 extra byte",
        ),
        ("d8 01 00", "cbor.non_canonical", "tag 1 in 1 extra byte"),
        ("d9 00 12 80", "cbor.non_canonical", "tag 18 in 2 bytes"),
        // Indefinite lengths.
        ("5f 41 00 ff", "cbor.non_canonical", "indefinite bytes"),
        ("5f ff", "cbor.non_canonical", "empty indefinite bytes"),
        ("7f 61 61 ff", "cbor.non_canonical", "indefinite text"),
        ("9f ff", "cbor.non_canonical", "empty indefinite array"),
        ("9f 01 ff", "cbor.non_canonical", "indefinite array"),
        ("bf ff", "cbor.non_canonical", "empty indefinite map"),
        ("bf 01 01 ff", "cbor.non_canonical", "indefinite map"),
        ("81 9f ff", "cbor.non_canonical", "nested indefinite array"),
        // Floats wider than needed.
        ("fa 3f 80 00 00", "cbor.non_canonical", "1.0 as f32"),
        ("fa 00 00 00 00", "cbor.non_canonical", "0.0 as f32"),
        ("fa 80 00 00 00", "cbor.non_canonical", "-0.0 as f32"),
        ("fa 47 7f e0 00", "cbor.non_canonical", "65504 as f32"),
        (
            "fa 33 80 00 00",
            "cbor.non_canonical",
            "2^-24 (f16 subnormal) as f32",
        ),
        (
            "fb 3f f0 00 00 00 00 00 00",
            "cbor.non_canonical",
            "1.0 as f64",
        ),
        (
            "fb 3f b9 99 99 a0 00 00 00",
            "cbor.non_canonical",
            "f32 0.1 as f64",
        ),
        // Not floats we carry, simple values and reserved encodings.
        ("f9 7e 00", "cbor.unsupported", "NaN"),
        ("f9 7c 00", "cbor.unsupported", "+inf"),
        ("f9 fc 00", "cbor.unsupported", "-inf"),
        ("fa 7f c0 00 00", "cbor.unsupported", "f32 NaN"),
        ("fb 7f f0 00 00 00 00 00 00", "cbor.unsupported", "f64 inf"),
        ("f7", "cbor.unsupported", "undefined"),
        ("f8 20", "cbor.unsupported", "simple(32)"),
        ("e0", "cbor.unsupported", "simple(0)"),
        ("1c", "cbor.malformed", "reserved info 28"),
        ("5d", "cbor.malformed", "reserved info 29 on bytes"),
        ("fe", "cbor.malformed", "reserved info 30 on simple"),
        ("ff", "cbor.malformed", "lone break"),
        ("81 ff", "cbor.malformed", "break inside definite array"),
        ("62 c3 28", "cbor.invalid_utf8", "invalid UTF-8"),
        ("63 ed a0 80", "cbor.invalid_utf8", "UTF-16 surrogate"),
        ("62 c0 80", "cbor.invalid_utf8", "overlong NUL"),
    ];
    for (hex_, code, what) in cases {
        assert_eq!(decode_code(&h(hex_)), *code, "{what} ({hex_})");
    }
}

/// A validly signed certificate whose payload is valid CBOR but not canonical is still refused:
/// the signature is not the only thing standing between us and malleable bytes.
#[test]
fn signed_but_non_canonical_payloads_are_refused() {
    let canonical = claim_map(claim_fields()).to_bytes();
    assert!(Certificate::parse(&signed_payload(&canonical)).is_ok());
    // Widen the map head (0xaa → 0xb8 0x0a).
    assert_eq!(canonical[0], 0xaa);
    let mut wide = vec![0xb8, 0x0a];
    wide.extend_from_slice(&canonical[1..]);
    assert_eq!(cert_code(&signed_payload(&wide)), "cbor.non_canonical");
    // Indefinite-length map.
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&canonical[1..]);
    indefinite.push(0xff);
    assert_eq!(
        cert_code(&signed_payload(&indefinite)),
        "cbor.non_canonical"
    );
    // Keys in reverse order.
    let Value::Map(entries) = codec::decode(&canonical).unwrap() else {
        panic!()
    };
    let mut reversed = vec![0xaa];
    for (k, v) in entries.iter().rev() {
        reversed.extend_from_slice(&k.to_bytes());
        reversed.extend_from_slice(&v.to_bytes());
    }
    assert_eq!(cert_code(&signed_payload(&reversed)), "cbor.non_canonical");
    // Non-canonical protected header, correctly signed.
    let mut header = protected(good_protected(ObjectType::Operation, &key(5)));
    header[0] = 0xb8;
    header.insert(1, 0x03);
    let bytes = sign_with_protected(&key(5), header, b"x");
    assert_eq!(
        cose::parse_any(&bytes).unwrap_err().code(),
        "cbor.non_canonical"
    );
    // A non-canonical outer envelope (tag 18 in two bytes) around a valid certificate.
    let cert = chain().remove(0);
    let mut outer = vec![0xd8, 0x12];
    outer.extend_from_slice(&cert.bytes()[1..]);
    assert_eq!(cert_code(&outer), "cbor.non_canonical");
}

/// Declared lengths far beyond the input are refused as truncated without allocating them.
#[test]
fn huge_declared_lengths_do_not_allocate() {
    let cases = [
        "5b ffffffffffffffff",
        "7b ffffffffffffffff",
        "9b ffffffffffffffff",
        "bb ffffffffffffffff",
        "5b 7fffffffffffffff 00",
        "bb 8000000000000000 00 00",
        "5a ffffffff 00",
        "7a ffffffff 61",
        "9a ffffffff 00 00 00",
        "ba ffffffff 00 00",
        "9a 10000000 00",
        "ba 08000000 00 00",
        "5a 40000000 00",
        "81 9b ffffffffffffffff",
        "a1 00 bb ffffffffffffffff",
        "d2 9a 7fffffff",
        "59 ffff",
        "99 ffff 00",
    ];
    let before = vm_kib("VmSize");
    for hex_ in cases {
        let bytes = h(hex_);
        assert_eq!(decode_code(&bytes), "cbor.truncated", "{hex_}");
        assert_eq!(
            cose::parse_any(&bytes).unwrap_err().code(),
            "cbor.truncated",
            "{hex_}"
        );
        assert_eq!(cert_code(&bytes), "cbor.truncated", "{hex_}");
    }
    // Had any of these reserved its declared size (the smallest is 64 Ki entries; several are
    // 256 Mi to 2^64), the peak would have jumped by gigabytes. Other tests in this binary run
    // concurrently but stay within a few MiB.
    if let (Some(before), Some(peak)) = (before, vm_kib("VmPeak")) {
        assert!(
            peak.saturating_sub(before) < 256 * 1024,
            "virtual memory peak grew by {} KiB",
            peak - before
        );
    }
}

/// A field of /proc/self/status, in KiB (Linux only; `None` elsewhere).
fn vm_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// COSE_Sign1 structure
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_cose_structures_are_refused_with_exact_codes() {
    let signer = key(5);
    let good = cose::sign(ObjectType::Operation, &signer, b"payload");
    let parts = cose_parts(&good);
    let with_part = |index: usize, value: Value| {
        let mut p = parts.clone();
        p[index] = value;
        tagged(p)
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            Value::Array(parts.clone()).to_bytes(),
            "cose.structure",
            "untagged",
        ),
        (
            Value::Tag(17, Box::new(Value::Array(parts.clone()))).to_bytes(),
            "cose.structure",
            "tag 17 (COSE_Mac0)",
        ),
        (
            Value::Tag(98, Box::new(Value::Array(parts.clone()))).to_bytes(),
            "cose.structure",
            "tag 98 (COSE_Sign)",
        ),
        (
            Value::Tag(
                18,
                Box::new(Value::Tag(18, Box::new(Value::Array(parts.clone())))),
            )
            .to_bytes(),
            "cose.structure",
            "double tag",
        ),
        (
            Value::Tag(18, Box::new(Value::Map(Vec::new()))).to_bytes(),
            "cose.structure",
            "map instead of array",
        ),
        (tagged(parts[..3].to_vec()), "cose.structure", "3 elements"),
        (
            tagged([parts.clone(), vec![Value::Null]].concat()),
            "cose.structure",
            "5 elements",
        ),
        (
            with_part(0, Value::Map(Vec::new())),
            "cose.structure",
            "protected as a map",
        ),
        (
            with_part(1, Value::Map(vec![(Value::int(1), Value::int(-8))])),
            "cose.structure",
            "non-empty unprotected header",
        ),
        (
            with_part(1, Value::Bytes(Vec::new())),
            "cose.structure",
            "unprotected as bytes",
        ),
        (
            with_part(2, Value::Null),
            "cose.structure",
            "detached payload",
        ),
        (
            with_part(2, Value::text("payload")),
            "cose.structure",
            "text payload",
        ),
        (
            with_part(3, Value::bytes(vec![0; 63])),
            "cose.structure",
            "63-byte signature",
        ),
        (
            with_part(3, Value::bytes(vec![0; 65])),
            "cose.structure",
            "65-byte signature",
        ),
        (
            with_part(3, Value::Array(Vec::new())),
            "cose.structure",
            "signature as array",
        ),
        (
            with_part(0, Value::Bytes(Value::Array(Vec::new()).to_bytes())),
            "cose.structure",
            "protected header an array",
        ),
        (
            with_part(0, Value::Bytes(Vec::new())),
            "cbor.truncated",
            "empty protected header",
        ),
    ];
    for (bytes, code, what) in cases {
        assert_eq!(cose::parse_any(&bytes).unwrap_err().code(), code, "{what}");
    }
}

#[test]
fn hostile_protected_headers_are_refused_with_exact_codes() {
    let signer = key(5);
    let kid = Value::bytes(signer.key_id().0.to_vec());
    let typ = Value::text(ObjectType::Operation.media_type());
    let cases: Vec<(Fields, &str, &str)> = vec![
        (
            vec![(1, Value::int(-7)), (4, kid.clone()), (16, typ.clone())],
            "cose.algorithm",
            "ES256",
        ),
        (
            vec![(1, Value::int(-19)), (4, kid.clone()), (16, typ.clone())],
            "cose.algorithm",
            "Ed25519 (fully specified) is not EdDSA -8",
        ),
        (
            vec![
                (1, Value::text("EdDSA")),
                (4, kid.clone()),
                (16, typ.clone()),
            ],
            "cose.algorithm",
            "alg as text",
        ),
        (
            vec![(4, kid.clone()), (16, typ.clone())],
            "cose.structure",
            "no alg",
        ),
        (
            vec![(1, Value::int(-8)), (16, typ.clone())],
            "cose.structure",
            "no kid",
        ),
        (
            vec![
                (1, Value::int(-8)),
                (4, Value::bytes(vec![0; 31])),
                (16, typ.clone()),
            ],
            "cose.structure",
            "31-byte kid",
        ),
        (
            vec![(1, Value::int(-8)), (4, kid.clone())],
            "cose.structure",
            "no typ",
        ),
        (
            vec![
                (1, Value::int(-8)),
                (4, kid.clone()),
                (16, Value::text("application/cwt")),
            ],
            "cose.wrong_type",
            "foreign typ",
        ),
        (
            vec![
                (1, Value::int(-8)),
                (4, kid.clone()),
                (16, Value::text("APPLICATION/ZKSCIM-OP+CBOR")),
            ],
            "cose.wrong_type",
            "typ in upper case",
        ),
        (
            vec![(1, Value::int(-8)), (4, kid.clone()), (16, Value::int(61))],
            "cose.structure",
            "typ as a CoAP content-format number",
        ),
        (
            vec![
                (1, Value::int(-8)),
                (3, Value::text("application/json")),
                (4, kid.clone()),
                (16, typ.clone()),
            ],
            "cose.structure",
            "extra content-type header",
        ),
        (
            vec![
                (1, Value::int(-8)),
                (2, Value::Array(vec![Value::int(4)])),
                (4, kid.clone()),
                (16, typ.clone()),
            ],
            "cose.structure",
            "crit header",
        ),
    ];
    for (entries, code, what) in cases {
        let bytes = sign_with_protected(&signer, protected(entries), b"x");
        assert_eq!(cose::parse_any(&bytes).unwrap_err().code(), code, "{what}");
    }
    // A text-keyed header entry.
    let header = Value::Map(vec![
        (Value::int(1), Value::int(-8)),
        (Value::int(4), kid.clone()),
        (Value::int(16), typ.clone()),
        (Value::text("alg"), Value::int(-8)),
    ])
    .to_bytes();
    let bytes = sign_with_protected(&signer, header, b"x");
    assert_eq!(
        cose::parse_any(&bytes).unwrap_err().code(),
        "cose.structure"
    );
}

#[test]
fn cose_type_confusion_and_key_mismatch() {
    let signer = key(5);
    for typ in ALL_TYPES {
        let bytes = cose::sign(typ, &signer, b"x");
        for other in ALL_TYPES {
            let outcome = cose::parse(&bytes, other);
            if other == typ {
                outcome.unwrap().verify(&signer.public_key()).unwrap();
            } else {
                assert_eq!(outcome.unwrap_err().code(), "cose.wrong_type");
            }
        }
        let parsed = cose::parse_any(&bytes).unwrap();
        assert_eq!(
            parsed.verify(&key(6).public_key()).unwrap_err().code(),
            "cose.key_mismatch"
        );
    }
    // A kid naming the verifier's key, signed by another key.
    let header = protected(good_protected(ObjectType::Operation, &key(6)));
    let forged = sign_with_protected(&signer, header, b"x");
    let parsed = cose::parse_any(&forged).unwrap();
    assert_eq!(
        parsed.verify(&key(6).public_key()).unwrap_err().code(),
        "cose.bad_signature"
    );
    // A signature with S + L (non-canonical S, the classic malleability) is refused.
    let bytes = cose::sign(ObjectType::Operation, &signer, b"x");
    let mut parts = cose_parts(&bytes);
    let Value::Bytes(sig) = &parts[3] else {
        panic!()
    };
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    add_group_order(&mut s);
    let mut malleated = sig[..32].to_vec();
    malleated.extend_from_slice(&s);
    parts[3] = Value::Bytes(malleated);
    let parsed = cose::parse_any(&tagged(parts)).unwrap();
    assert_eq!(
        parsed.verify(&signer.public_key()).unwrap_err().code(),
        "cose.bad_signature"
    );
}

/// s += L (little endian), the Ed25519 group order; only used on canonical s, so it fits.
fn add_group_order(s: &mut [u8; 32]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10,
    ];
    let mut carry = 0u16;
    for (a, b) in s.iter_mut().zip(L) {
        let sum = u16::from(*a) + u16::from(b) + carry;
        *a = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

#[test]
fn hand_built_valid_claims_parse() {
    // The baseline every hostile variant below departs from.
    let cert = Certificate::parse(&signed_claims(claim_fields())).unwrap();
    assert_eq!(cert.claims().label, "admin");
    let pk = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &pk,
        now: T0,
    };
    verify_chain(&[cert], &ctx, &mut NoCache).unwrap();
}

#[test]
fn unknown_claim_keys_are_refused() {
    for extra in [3i64, 8, 99, -6, -100, 1000] {
        let mut fields = claim_fields();
        fields.push((extra, Value::Null));
        assert_eq!(
            cert_code(&signed_claims(fields)),
            "shape.unknown_field",
            "{extra}"
        );
    }
    let mut map = claim_map(claim_fields());
    let Value::Map(entries) = &mut map else {
        panic!()
    };
    entries.push((Value::text("iss"), Value::text("root")));
    assert_eq!(
        cert_code(&signed_payload(&map.to_bytes())),
        "shape.unknown_field"
    );
    let mut map = claim_map(claim_fields());
    let Value::Map(entries) = &mut map else {
        panic!()
    };
    entries.push((Value::Unsigned(u64::MAX), Value::Null));
    assert_eq!(
        cert_code(&signed_payload(&map.to_bytes())),
        "shape.unknown_field"
    );
    // An unknown key inside the scope.
    let mut scope = admin_scope().to_cbor();
    let Value::Map(entries) = &mut scope else {
        panic!()
    };
    entries.push((Value::int(6), Value::Array(Vec::new())));
    assert_eq!(
        cert_code(&signed_claims(with_field(CLAIM_SCOPE, scope))),
        "shape.unknown_field"
    );
}

#[test]
fn missing_claims_are_refused() {
    for missing in [
        CLAIM_ISSUER,
        CLAIM_SUBJECT,
        CLAIM_EXPIRES,
        CLAIM_NOT_BEFORE,
        CLAIM_ISSUED_AT,
        CLAIM_NONCE,
        CLAIM_TENANT,
        CLAIM_DEPTH,
        CLAIM_LABEL,
        CLAIM_SCOPE,
    ] {
        let fields = claim_fields()
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
        assert_eq!(
            cert_code(&signed_claims(fields)),
            "shape.missing_field",
            "claim {missing}"
        );
    }
    // Scope key 4 (groups) is optional: absent means any group.
    for missing in [1i64, 2, 3, 5] {
        let mut scope = admin_scope().to_cbor();
        let Value::Map(entries) = &mut scope else {
            panic!()
        };
        entries.retain(|(k, _)| k.as_i64() != Some(missing));
        let code = cert_code(&signed_claims(with_field(CLAIM_SCOPE, scope)));
        assert_eq!(code, "shape.missing_field", "scope key {missing}");
    }
    assert_eq!(cert_code(&signed_claims(Vec::new())), "shape.missing_field");
}

#[test]
fn wrongly_typed_claims_are_refused() {
    let cases: Vec<(i64, Value, &str)> = vec![
        (CLAIM_ISSUER, Value::text("root"), "shape.invalid_field"),
        (
            CLAIM_ISSUER,
            Value::bytes(vec![0; 31]),
            "shape.invalid_field",
        ),
        (
            CLAIM_ISSUER,
            Value::bytes(vec![0; 33]),
            "shape.invalid_field",
        ),
        (
            CLAIM_SUBJECT,
            Value::bytes(vec![0; 31]),
            "shape.invalid_field",
        ),
        (
            CLAIM_SUBJECT,
            Value::text("ed25519:00"),
            "shape.invalid_field",
        ),
        (CLAIM_EXPIRES, Value::int(-1), "shape.invalid_field"),
        (
            CLAIM_EXPIRES,
            Value::text("tomorrow"),
            "shape.invalid_field",
        ),
        (CLAIM_EXPIRES, Value::Float(1.9e9), "shape.invalid_field"),
        (
            CLAIM_EXPIRES,
            Value::Tag(1, Box::new(Value::Unsigned(T0 + 100))),
            "shape.invalid_field",
        ),
        (CLAIM_NOT_BEFORE, Value::Null, "shape.invalid_field"),
        (CLAIM_ISSUED_AT, Value::Bool(true), "shape.invalid_field"),
        (
            CLAIM_NONCE,
            Value::bytes(vec![0; 15]),
            "shape.invalid_field",
        ),
        (CLAIM_NONCE, Value::Unsigned(7), "shape.invalid_field"),
        (
            CLAIM_TENANT,
            Value::bytes(b"acme".to_vec()),
            "shape.invalid_field",
        ),
        (CLAIM_PARENT, Value::text("none"), "shape.invalid_field"),
        (CLAIM_PARENT, Value::Null, "shape.invalid_field"),
        (
            CLAIM_PARENT,
            Value::bytes(vec![0; 16]),
            "shape.invalid_field",
        ),
        (CLAIM_DEPTH, Value::int(-1), "shape.invalid_field"),
        (CLAIM_DEPTH, Value::text("1"), "shape.invalid_field"),
        (
            CLAIM_LABEL,
            Value::bytes(b"admin".to_vec()),
            "shape.invalid_field",
        ),
        (CLAIM_SCOPE, Value::Array(Vec::new()), "shape.wrong_type"),
        (CLAIM_SCOPE, Value::Null, "shape.wrong_type"),
    ];
    for (claim, value, code) in cases {
        let shown = value.to_string();
        assert_eq!(
            cert_code(&signed_claims(with_field(claim, value))),
            code,
            "claim {claim} = {shown}"
        );
    }
    // Not a map at all.
    for payload in [Value::Array(Vec::new()), Value::Null, Value::text("claims")] {
        assert_eq!(
            cert_code(&signed_payload(&payload.to_bytes())),
            "shape.wrong_type"
        );
    }
}

#[test]
fn malformed_scopes_inside_certificates_are_refused() {
    let scope_with = |k: i64, v: Value| {
        let mut scope = admin_scope().to_cbor();
        let Value::Map(entries) = &mut scope else {
            panic!()
        };
        entries.retain(|(key_, _)| key_.as_i64() != Some(k));
        entries.push((Value::int(k), v));
        scope
    };
    let texts = |items: &[&str]| Value::Array(items.iter().map(|s| Value::text(*s)).collect());
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            scope_with(1, texts(&["patch", "create"])),
            "shape.invalid_field",
            "unsorted",
        ),
        (
            scope_with(1, texts(&["create", "create"])),
            "shape.invalid_field",
            "repeated",
        ),
        (
            scope_with(1, texts(&["Create"])),
            "scope.unknown_operation",
            "case",
        ),
        (
            scope_with(1, texts(&["admin"])),
            "scope.unknown_operation",
            "unknown op",
        ),
        (
            scope_with(1, Value::text("create")),
            "shape.invalid_field",
            "not an array",
        ),
        (
            scope_with(1, Value::Array(vec![Value::Unsigned(1)])),
            "shape.invalid_field",
            "non-text item",
        ),
        (
            scope_with(2, texts(&["*", "User"])),
            "shape.invalid_field",
            "'*' with others",
        ),
        (
            scope_with(2, texts(&[""])),
            "scope.invalid_path",
            "empty resource type",
        ),
        (
            scope_with(3, texts(&["na*me"])),
            "scope.invalid_path",
            "star inside",
        ),
        (
            scope_with(3, texts(&["Name"])),
            "shape.invalid_field",
            "non-canonical case",
        ),
        (
            scope_with(3, texts(&["name.*"])),
            "shape.invalid_field",
            "non-canonical synonym",
        ),
        (
            scope_with(3, texts(&["a b"])),
            "scope.invalid_path",
            "space",
        ),
        (
            scope_with(3, texts(&["a..b"])),
            "scope.invalid_path",
            "empty segment",
        ),
        (
            scope_with(4, texts(&[""])),
            "scope.invalid_path",
            "empty group id",
        ),
        (
            scope_with(4, texts(&["g2", "g1"])),
            "shape.invalid_field",
            "unsorted groups",
        ),
        (
            scope_with(5, texts(&["root"])),
            "scope.unknown_capability",
            "unknown capability",
        ),
        (
            scope_with(5, texts(&["revoke", "delegate"])),
            "shape.invalid_field",
            "unsorted caps",
        ),
    ];
    for (scope, code, what) in cases {
        assert_eq!(
            cert_code(&signed_claims(with_field(CLAIM_SCOPE, scope))),
            code,
            "{what}"
        );
    }
    // Too many entries.
    let many: Vec<String> = (0..1025).map(|i| format!("g{i:05}")).collect();
    let many = Value::Array(many.into_iter().map(Value::Text).collect());
    assert_eq!(
        cert_code(&signed_claims(with_field(CLAIM_SCOPE, scope_with(4, many)))),
        "shape.invalid_field"
    );
    // Overlong attribute path.
    let long = "a".repeat(513);
    assert_eq!(
        cert_code(&signed_claims(with_field(
            CLAIM_SCOPE,
            scope_with(3, texts(&[&long]))
        ))),
        "scope.invalid_path"
    );
}

/// The eight small-order points (canonical encodings) and non-canonical encodings of some.
const SMALL_ORDER_POINTS: [&str; 10] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    // Identity with the sign bit set, and y = p + 1 (≡ 1).
    "0100000000000000000000000000000000000000000000000000000000000080",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn weak_subject_keys_are_refused() {
    for point in SMALL_ORDER_POINTS {
        let raw: [u8; 32] = h(point).try_into().unwrap();
        let err = PublicKey::from_bytes(&raw).unwrap_err();
        assert!(
            matches!(err.code(), "key.weak_public_key" | "key.invalid_public_key"),
            "{point}: {err}"
        );
        let bytes = signed_claims(with_field(CLAIM_SUBJECT, Value::bytes(raw.to_vec())));
        assert_eq!(cert_code(&bytes), "shape.invalid_field", "{point}");
        let msg = cert_err(&bytes);
        assert!(
            msg.contains("weak") || msg.contains("not a curve point"),
            "{point}: {msg}"
        );
    }
    // The eight canonical ones are weak, specifically.
    for point in &SMALL_ORDER_POINTS[..8] {
        let raw: [u8; 32] = h(point).try_into().unwrap();
        assert_eq!(
            PublicKey::from_bytes(&raw).unwrap_err().code(),
            "key.weak_public_key",
            "{point}"
        );
    }
    // Not on the curve at all (y = 2 has no x).
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert_eq!(
        PublicKey::from_bytes(&off_curve).unwrap_err().code(),
        "key.invalid_public_key"
    );
    assert_eq!(
        cert_code(&signed_claims(with_field(
            CLAIM_SUBJECT,
            Value::bytes(off_curve.to_vec())
        ))),
        "shape.invalid_field"
    );
}

#[test]
fn bad_labels_are_refused() {
    for label in [
        "okta\nprod",
        "okta\rprod",
        "\0",
        "tab\there",
        "\u{7f}",
        "\u{85}next-line",
        "\u{1b}[31mred",
        "\u{9b}31m",
    ] {
        assert_eq!(
            cert_code(&signed_claims(with_field(CLAIM_LABEL, Value::text(label)))),
            "shape.invalid_field",
            "{label:?}"
        );
        // Issuing refuses it too.
        let mut c = claims(&key(2), 1, admin_scope(), label);
        c.label = label.into();
        assert_eq!(
            Certificate::issue(&key(1), None, c).unwrap_err().code(),
            "shape.invalid_field",
            "{label:?}"
        );
    }
    let long = "x".repeat(129);
    assert_eq!(
        cert_code(&signed_claims(with_field(CLAIM_LABEL, Value::text(long)))),
        "shape.invalid_field"
    );
    // At the limit, and the empty label, are fine.
    for ok in ["x".repeat(128), String::new(), "okta-prod-connector".into()] {
        Certificate::parse(&signed_claims(with_field(CLAIM_LABEL, Value::text(ok)))).unwrap();
    }
}

/// Labels are shown to auditors and admins; Unicode *format* characters (bidi overrides,
/// zero-width joiners) can make one label read as another ("Trojan Source"), yet only `Cc`
/// control characters are refused.
#[test]
fn labels_with_bidi_overrides_are_refused() {
    for label in ["okta\u{202e}dorp", "ad\u{200b}min", "\u{2066}admin\u{2069}"] {
        assert_eq!(
            cert_code(&signed_claims(with_field(CLAIM_LABEL, Value::text(label)))),
            "shape.invalid_field",
            "{label:?}"
        );
    }
}

#[test]
fn excessive_depth_is_refused() {
    for depth in [8u64, 9, 255, 256, u64::MAX] {
        assert_eq!(
            cert_code(&signed_claims(with_field(
                CLAIM_DEPTH,
                Value::Unsigned(depth)
            ))),
            "shape.invalid_field",
            "{depth}"
        );
    }
    Certificate::parse(&signed_claims(with_field(CLAIM_DEPTH, Value::Unsigned(7)))).unwrap();
    let mut c = claims(&key(2), 8, admin_scope(), "deep");
    c.depth = 8;
    assert_eq!(
        Certificate::issue(&key(1), None, c).unwrap_err().code(),
        "cert.issue"
    );
    // A chain longer than 8 is refused before anything else is looked at.
    let cert = chain().remove(0);
    let long = vec![cert; MAX_CHAIN_LEN + 1];
    let pk = key(1).public_key();
    let ctx = ChainContext {
        tenant: "acme",
        root: &pk,
        now: T0,
    };
    assert_eq!(
        verify_chain(&long, &ctx, &mut NoCache).unwrap_err().code(),
        "chain.too_long"
    );
}

#[test]
fn bad_tenants_are_refused() {
    let long = "a".repeat(65);
    for tenant in [
        "Acme",
        "ACME",
        "",
        long.as_str(),
        "ac_me",
        "acme.com",
        "acme ",
        "acme\0",
        "\u{e1}cme",
        "acme\u{200b}",
    ] {
        assert_eq!(
            cert_code(&signed_claims(with_field(
                CLAIM_TENANT,
                Value::text(tenant)
            ))),
            "cert.invalid_tenant",
            "{tenant:?}"
        );
        let mut c = claims(&key(2), 1, admin_scope(), "admin");
        c.tenant = tenant.into();
        assert_eq!(
            Certificate::issue(&key(1), None, c).unwrap_err().code(),
            "cert.invalid_tenant",
            "{tenant:?}"
        );
    }
    let max = "a".repeat(64);
    Certificate::parse(&signed_claims(with_field(CLAIM_TENANT, Value::text(max)))).unwrap();
}

#[test]
fn validity_issuer_and_type_mismatches() {
    // Empty or inverted validity.
    for (nb, exp) in [(T0, T0), (T0 + 1, T0), (u64::MAX, 0)] {
        let mut fields = with_field(CLAIM_NOT_BEFORE, Value::Unsigned(nb));
        fields.retain(|(k, _)| *k != CLAIM_EXPIRES);
        fields.push((CLAIM_EXPIRES, Value::Unsigned(exp)));
        assert_eq!(
            cert_code(&signed_claims(fields)),
            "cert.empty_validity",
            "[{nb}, {exp})"
        );
    }
    // The issuer claim names a key other than the COSE kid.
    let other = with_field(CLAIM_ISSUER, Value::bytes(key(9).key_id().0.to_vec()));
    assert_eq!(cert_code(&signed_claims(other)), "cert.issue");
    // Valid claims signed as another object type.
    let payload = claim_map(claim_fields()).to_bytes();
    for typ in ALL_TYPES {
        if typ == ObjectType::Certificate {
            continue;
        }
        let bytes = cose::sign(typ, &key(1), &payload);
        assert_eq!(cert_code(&bytes), "cose.wrong_type", "{typ:?}");
    }
}
