//! Property tests for the deterministic CBOR codec (`zkscim_proto::codec`).
//!
//! * every generated `Value` tree encodes, decodes and re-encodes to identical bytes;
//! * arbitrary and mutated bytes never panic the decoder, and whatever it accepts re-encodes to
//!   exactly the input (only canonical encodings are accepted);
//! * differential check against `serde_cbor` on accepted input without tags or floats;
//! * every non-shortest re-encoding of an integer, length or tag number, and every wider-than-needed
//!   float, is refused with `cbor.non_canonical` at the offset of the offending head.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;
use zkscim_proto::codec::{decode, Value};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Binary16 bits to f64, written independently of the codec.
fn half_to_f64(bits: u16) -> f64 {
    let negative = bits & 0x8000 != 0;
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => fraction / 1024.0 * 2f64.powi(-14),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Finite floats from all three widths, so every shortest form is exercised.
fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u16>().prop_map(half_to_f64),
        any::<u32>().prop_map(|b| f64::from(f32::from_bits(b))),
        any::<u64>().prop_map(f64::from_bits),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(-1.5),
            Just(65504.0),
            Just(5.960_464_477_539_063e-8),
            Just(f64::from(f32::MAX)),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
        ],
    ]
    .prop_filter("finite", |f| f.is_finite())
}

fn small_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
        "[a-z]{0,30}",
    ]
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..30,
        prop_oneof![
            Just(23u64),
            Just(24),
            Just(255),
            Just(256),
            Just(65_535),
            Just(65_536),
            Just(u64::from(u32::MAX)),
            Just(u64::from(u32::MAX) + 1),
            Just(u64::MAX),
        ],
    ]
}

fn leaf(with_floats: bool) -> BoxedStrategy<Value> {
    let base = prop_oneof![
        interesting_u64().prop_map(Value::Unsigned),
        interesting_u64().prop_map(Value::Negative),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        small_text().prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    if with_floats {
        prop_oneof![6 => base, 1 => finite_float().prop_map(Value::Float)].boxed()
    } else {
        base.boxed()
    }
}

/// Builds a map with unique keys (uniqueness by encoded bytes, as the codec defines it).
fn unique_map(entries: Vec<(Value, Value)>) -> Value {
    let mut seen = std::collections::HashSet::new();
    Value::Map(
        entries
            .into_iter()
            .filter(|(k, _)| seen.insert(k.to_bytes()))
            .collect(),
    )
}

/// Arbitrary value trees: bounded depth and size, finite floats, unique map keys. With
/// `with_tags_and_floats == false` the tree holds neither (for the serde_cbor differential).
fn value_tree(with_tags_and_floats: bool) -> BoxedStrategy<Value> {
    leaf(with_tags_and_floats)
        .prop_recursive(6, 64, 6, move |inner| {
            let array = prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array);
            let map =
                prop::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(unique_map);
            if with_tags_and_floats {
                let tag = (interesting_u64(), inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v)));
                prop_oneof![array, map, tag].boxed()
            } else {
                prop_oneof![array, map].boxed()
            }
        })
        .boxed()
}

/// A small edit applied to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Xor(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    Append(u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Xor(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<u8>().prop_map(Mutation::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Xor(i, x) if len > 0 => bytes[i.index(len)] ^= x,
        Mutation::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
        Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
        Mutation::Remove(i) if len > 0 => {
            bytes.remove(i.index(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
        Mutation::Append(b) => bytes.push(*b),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Independent helpers
// ---------------------------------------------------------------------------------------------

/// The value with every map's entries in canonical (encoded-key bytewise) order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Map(entries) => {
            let mut sorted: Vec<(Vec<u8>, Value, Value)> = entries
                .iter()
                .map(|(k, v)| (k.to_bytes(), canonical(k), canonical(v)))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(sorted.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Tag(t, inner) => Value::Tag(*t, Box::new(canonical(inner))),
        other => other.clone(),
    }
}

fn has_tag_or_float(v: &Value) -> bool {
    match v {
        Value::Tag(..) | Value::Float(_) => true,
        Value::Array(items) => items.iter().any(has_tag_or_float),
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| has_tag_or_float(k) || has_tag_or_float(v)),
        _ => false,
    }
}

/// Our value in serde_cbor's model (only called on trees without tags and floats).
fn to_serde(v: &Value) -> serde_cbor::Value {
    match v {
        Value::Unsigned(n) => serde_cbor::Value::Integer(i128::from(*n)),
        Value::Negative(n) => serde_cbor::Value::Integer(-1 - i128::from(*n)),
        Value::Bytes(b) => serde_cbor::Value::Bytes(b.clone()),
        Value::Text(t) => serde_cbor::Value::Text(t.clone()),
        Value::Array(items) => serde_cbor::Value::Array(items.iter().map(to_serde).collect()),
        Value::Map(entries) => serde_cbor::Value::Map(
            entries
                .iter()
                .map(|(k, v)| (to_serde(k), to_serde(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        Value::Bool(b) => serde_cbor::Value::Bool(*b),
        Value::Null => serde_cbor::Value::Null,
        Value::Tag(..) | Value::Float(_) => unreachable!("filtered out"),
    }
}

/// One CBOR head found in a well-formed encoding.
#[derive(Debug, Clone, Copy)]
struct Head {
    offset: usize,
    major: u8,
    argument: u64,
    /// Total bytes of the head (1, 2, 3, 5 or 9).
    len: usize,
}

/// Lists the heads (majors 0-6) of a well-formed, definite-length encoding, written
/// independently of the codec. Returns the offset just past the item.
fn walk(bytes: &[u8], mut pos: usize, out: &mut Vec<Head>) -> usize {
    let initial = bytes[pos];
    let major = initial >> 5;
    let info = initial & 0x1f;
    let (argument, len) = match info {
        0..=23 => (u64::from(info), 1),
        24 => (u64::from(bytes[pos + 1]), 2),
        25 => (
            u64::from(u16::from_be_bytes(
                bytes[pos + 1..pos + 3].try_into().unwrap(),
            )),
            3,
        ),
        26 => (
            u64::from(u32::from_be_bytes(
                bytes[pos + 1..pos + 5].try_into().unwrap(),
            )),
            5,
        ),
        27 => (
            u64::from_be_bytes(bytes[pos + 1..pos + 9].try_into().unwrap()),
            9,
        ),
        _ => panic!("unexpected additional information {info}"),
    };
    if major != 7 {
        out.push(Head {
            offset: pos,
            major,
            argument,
            len,
        });
    }
    pos += len;
    match major {
        2 | 3 => pos + usize::try_from(argument).unwrap(),
        4 => {
            for _ in 0..argument {
                pos = walk(bytes, pos, out);
            }
            pos
        }
        5 => {
            for _ in 0..argument * 2 {
                pos = walk(bytes, pos, out);
            }
            pos
        }
        6 => walk(bytes, pos, out),
        _ => pos,
    }
}

/// Encodes a head with the given additional information (24..=27), whatever the argument's
/// shortest form is.
fn head_with_width(major: u8, argument: u64, info: u8) -> Vec<u8> {
    let mut out = vec![(major << 5) | info];
    match info {
        24 => out.push(u8::try_from(argument).unwrap()),
        25 => out.extend_from_slice(&u16::try_from(argument).unwrap().to_be_bytes()),
        26 => out.extend_from_slice(&u32::try_from(argument).unwrap().to_be_bytes()),
        27 => out.extend_from_slice(&argument.to_be_bytes()),
        _ => unreachable!(),
    }
    out
}

/// Every longer-than-shortest width (as additional information) able to hold `argument`.
fn wider_infos(argument: u64, shortest_len: usize) -> Vec<u8> {
    [
        (24u8, 2usize, 0xffu64),
        (25, 3, 0xffff),
        (26, 5, 0xffff_ffff),
        (27, 9, u64::MAX),
    ]
    .into_iter()
    .filter(|&(_, len, max)| len > shortest_len && argument <= max)
    .map(|(info, _, _)| info)
    .collect()
}

fn shortest_head_len(argument: u64) -> usize {
    match argument {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// to_bytes → decode → to_bytes is the identity on bytes, and decode recovers the value
    /// (with maps in canonical order).
    #[test]
    fn encode_decode_encode_is_identity(v in value_tree(true)) {
        let bytes = v.to_bytes();
        let decoded = decode(&bytes).map_err(|e| {
            TestCaseError::fail(format!("{e} for {}", hex::encode(&bytes)))
        })?;
        prop_assert_eq!(decoded.to_bytes(), bytes.clone());
        prop_assert_eq!(&decoded, &canonical(&v));
        // Encoding is insensitive to map insertion order.
        prop_assert_eq!(canonical(&v).to_bytes(), bytes);
    }

    /// Arbitrary bytes: never a panic; anything accepted is canonical (re-encodes exactly).
    #[test]
    fn random_bytes_never_panic_and_accepted_is_canonical(
        bytes in prop::collection::vec(any::<u8>(), 0..96)
    ) {
        if let Ok(v) = decode(&bytes) {
            prop_assert_eq!(v.to_bytes(), bytes);
        }
    }

    /// Mutated valid encodings (far more likely to be almost-valid): same guarantees.
    #[test]
    fn mutated_encodings_never_panic_and_accepted_is_canonical(
        v in value_tree(true),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = v.to_bytes();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(decoded) = decode(&bytes) {
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }

    /// Differential: whenever we accept input without tags or floats, serde_cbor accepts it too
    /// and sees the same structure.
    #[test]
    fn serde_cbor_agrees_on_accepted_input(
        v in value_tree(false),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let mut bytes = v.to_bytes();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(ours) = decode(&bytes) {
            if !has_tag_or_float(&ours) {
                let theirs = serde_cbor::from_slice::<serde_cbor::Value>(&bytes);
                prop_assert!(theirs.is_ok(), "serde_cbor refused {}: {:?}", hex::encode(&bytes), theirs);
                prop_assert_eq!(theirs.unwrap(), to_serde(&ours));
            }
        }
    }

    /// Every head of a valid encoding, re-encoded in any longer form, is refused as
    /// `cbor.non_canonical` at that head's offset.
    #[test]
    fn widened_heads_are_refused(v in value_tree(true), pick in any::<Index>(), width in any::<Index>()) {
        let bytes = v.to_bytes();
        let mut heads = Vec::new();
        let end = walk(&bytes, 0, &mut heads);
        prop_assert_eq!(end, bytes.len());
        prop_assume!(!heads.is_empty());
        let head = heads[pick.index(heads.len())];
        prop_assert_eq!(head.len, shortest_head_len(head.argument));
        let infos = wider_infos(head.argument, head.len);
        prop_assume!(!infos.is_empty());
        let info = infos[width.index(infos.len())];
        let mut widened = bytes[..head.offset].to_vec();
        widened.extend_from_slice(&head_with_width(head.major, head.argument, info));
        widened.extend_from_slice(&bytes[head.offset + head.len..]);
        let err = decode(&widened).expect_err("non-shortest head accepted");
        prop_assert_eq!(err.code(), "cbor.non_canonical", "{} in {}", err, hex::encode(&widened));
        prop_assert!(err.to_string().contains(&format!("at byte {}", head.offset)), "{}", err);
    }

    /// A bare head with a non-shortest argument, for every major type that has one: refused
    /// before any content is looked at.
    #[test]
    fn non_shortest_bare_heads_are_refused(n in interesting_u64(), major in 0u8..=6, width in any::<Index>()) {
        let infos = wider_infos(n, shortest_head_len(n));
        prop_assume!(!infos.is_empty());
        let info = infos[width.index(infos.len())];
        let mut bytes = head_with_width(major, n, info);
        // Give containers and tags something to contain, so only the head is at fault.
        bytes.extend(std::iter::repeat_n(0u8, usize::try_from(n.min(64)).unwrap()));
        let err = decode(&bytes).expect_err("non-shortest head accepted");
        prop_assert_eq!(err.code(), "cbor.non_canonical", "{} in {}", err, hex::encode(&bytes));
    }

    /// A float written wider than its shortest exact width is refused.
    #[test]
    fn wider_floats_are_refused(f in finite_float()) {
        let shortest = Value::Float(f).to_bytes();
        let mut wider: Vec<Vec<u8>> = Vec::new();
        if shortest.len() < 9 {
            let mut b = vec![0xfb];
            b.extend_from_slice(&f.to_be_bytes());
            wider.push(b);
        }
        if shortest.len() < 5 {
            let single = f as f32;
            prop_assert_eq!(f64::from(single).to_bits(), f.to_bits());
            let mut b = vec![0xfa];
            b.extend_from_slice(&single.to_be_bytes());
            wider.push(b);
        }
        for bytes in wider {
            let err = decode(&bytes).expect_err("wide float accepted");
            prop_assert_eq!(err.code(), "cbor.non_canonical", "{}", hex::encode(&bytes));
        }
        // The shortest form itself decodes to the same bits.
        let Value::Float(back) = decode(&shortest).unwrap() else { panic!("not a float") };
        prop_assert_eq!(back.to_bits(), f.to_bits());
    }
}

/// Every half-precision bit pattern: finite ones decode and re-encode to the same two bytes;
/// NaN and infinities are refused.
#[test]
fn every_half_precision_pattern() {
    for bits in 0..=u16::MAX {
        let mut bytes = vec![0xf9];
        bytes.extend_from_slice(&bits.to_be_bytes());
        let expected = half_to_f64(bits);
        match decode(&bytes) {
            Ok(Value::Float(f)) => {
                assert!(expected.is_finite(), "{bits:04x}");
                assert_eq!(f.to_bits(), expected.to_bits(), "{bits:04x}");
                assert_eq!(Value::Float(f).to_bytes(), bytes, "{bits:04x}");
            }
            Ok(other) => panic!("{bits:04x} decoded as {other:?}"),
            Err(e) => {
                assert!(!expected.is_finite(), "{bits:04x}: {e}");
                assert_eq!(e.code(), "cbor.unsupported");
            }
        }
    }
}
