//! COSE_Sign1 (RFC 9052 §4.2) with EdDSA over Ed25519, in the one shape zkscim uses.
//!
//! ```text
//! COSE_Sign1 = 18([ protected: bstr .cbor {1: -8, 4: kid, 16: typ}, unprotected: {}, payload: bstr, signature: bstr .size 64 ])
//! ```
//!
//! The protected header carries the algorithm, the signer's key id and a `typ` (RFC 9596) that
//! names the kind of object: a signature over a certificate can never be replayed as a signature
//! over an operation, because the signed bytes differ. The unprotected header must be empty, so
//! nothing that influences interpretation escapes the signature.

use crate::codec::{self, CodecError, Value};
use crate::keys::{KeyError, KeyId, PublicKey, SigningKey};

/// CBOR tag of COSE_Sign1.
pub const COSE_SIGN1_TAG: u64 = 18;
/// COSE algorithm id of EdDSA.
pub const ALG_EDDSA: i64 = -8;
/// Header label: algorithm.
pub const HEADER_ALG: i64 = 1;
/// Header label: key id.
pub const HEADER_KID: i64 = 4;
/// Header label: type (RFC 9596).
pub const HEADER_TYP: i64 = 16;

/// The kinds of signed object, each with its own `typ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// A delegation certificate.
    Certificate,
    /// A SCIM operation.
    Operation,
    /// A certificate revocation.
    Revocation,
    /// A protection-profile or tenant-policy update.
    Policy,
    /// A signed read request.
    ReadRequest,
    /// A tenant genesis statement, self-signed by the tenant's root key.
    Genesis,
    /// An approval (co-signature) of another statement, by its hash.
    Approval,
}

impl ObjectType {
    /// The `typ` header value.
    pub fn media_type(self) -> &'static str {
        match self {
            ObjectType::Certificate => "application/zkscim-cert+cbor",
            ObjectType::Operation => "application/zkscim-op+cbor",
            ObjectType::Revocation => "application/zkscim-revocation+cbor",
            ObjectType::Policy => "application/zkscim-policy+cbor",
            ObjectType::ReadRequest => "application/zkscim-read+cbor",
            ObjectType::Genesis => "application/zkscim-genesis+cbor",
            ObjectType::Approval => "application/zkscim-approval+cbor",
        }
    }

    /// The type named by a `typ` header value.
    pub fn from_media_type(typ: &str) -> Option<ObjectType> {
        [
            ObjectType::Certificate,
            ObjectType::Operation,
            ObjectType::Revocation,
            ObjectType::Policy,
            ObjectType::ReadRequest,
            ObjectType::Genesis,
            ObjectType::Approval,
        ]
        .into_iter()
        .find(|t| t.media_type() == typ)
    }
}

/// Why a COSE_Sign1 object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoseError {
    /// The bytes are not acceptable CBOR.
    #[error("signed object is not valid CBOR: {0}")]
    Cbor(#[from] CodecError),
    /// The CBOR is not a COSE_Sign1 of the expected shape.
    #[error("not a zkscim COSE_Sign1: {0}")]
    Structure(&'static str),
    /// The algorithm is not EdDSA.
    #[error("unsupported COSE algorithm {0} (only EdDSA, -8, is accepted)")]
    Algorithm(String),
    /// The object is of another kind than the one expected.
    #[error("signed object has type {found:?}, expected {expected:?}")]
    WrongType {
        /// Expected `typ`.
        expected: &'static str,
        /// Found `typ`.
        found: String,
    },
    /// The `kid` is not the key that was asked to verify.
    #[error("signed object names key {found}, not the expected signer {expected}")]
    KeyMismatch {
        /// The expected key id (short form).
        expected: String,
        /// The `kid` found (short form).
        found: String,
    },
    /// The signature does not verify.
    #[error("signature by key {0} does not verify")]
    BadSignature(String),
}

impl CoseError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoseError::Cbor(e) => e.code(),
            CoseError::Structure(_) => "cose.structure",
            CoseError::Algorithm(_) => "cose.algorithm",
            CoseError::WrongType { .. } => "cose.wrong_type",
            CoseError::KeyMismatch { .. } => "cose.key_mismatch",
            CoseError::BadSignature(_) => "cose.bad_signature",
        }
    }
}

/// A parsed, not yet verified, COSE_Sign1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sign1 {
    /// Kind of object.
    pub typ: ObjectType,
    /// Key id of the claimed signer.
    pub kid: KeyId,
    /// The exact protected-header bytes, as signed.
    protected: Vec<u8>,
    /// The exact payload bytes, as signed.
    pub payload: Vec<u8>,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

fn protected_header(typ: ObjectType, kid: &KeyId) -> Vec<u8> {
    Value::Map(vec![
        (Value::int(HEADER_ALG), Value::int(ALG_EDDSA)),
        (Value::int(HEADER_KID), Value::bytes(kid.0.to_vec())),
        (Value::int(HEADER_TYP), Value::text(typ.media_type())),
    ])
    .to_bytes()
}

/// The RFC 9052 §4.4 `Sig_structure` for a COSE_Sign1 with empty external AAD, up to the
/// contents of its last element, the payload (which follows it unchanged). Batch verification
/// hashes this and the payload in turn instead of copying the payload behind it.
fn sig_structure_prefix(protected: &[u8], payload_len: usize) -> Vec<u8> {
    const ARRAY: u8 = 4;
    const TEXT: u8 = 3;
    const BYTES: u8 = 2;
    const CONTEXT: &[u8] = b"Signature1";
    let mut out = Vec::with_capacity(CONTEXT.len() + protected.len() + 24);
    codec::head(&mut out, ARRAY, 4);
    codec::head(&mut out, TEXT, CONTEXT.len() as u64);
    out.extend_from_slice(CONTEXT);
    codec::head(&mut out, BYTES, protected.len() as u64);
    out.extend_from_slice(protected);
    codec::head(&mut out, BYTES, 0);
    codec::head(&mut out, BYTES, payload_len as u64);
    out
}

/// The whole `Sig_structure`: [`sig_structure_prefix`] then the payload.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = sig_structure_prefix(protected, payload.len());
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` as an object of kind `typ`; returns the tagged COSE_Sign1 bytes.
pub fn sign(typ: ObjectType, key: &SigningKey, payload: &[u8]) -> Vec<u8> {
    let protected = protected_header(typ, &key.key_id());
    let signature = key.sign(&sig_structure(&protected, payload));
    Value::Tag(
        COSE_SIGN1_TAG,
        Box::new(Value::Array(vec![
            Value::Bytes(protected),
            Value::Map(Vec::new()),
            Value::bytes(payload.to_vec()),
            Value::bytes(signature.to_vec()),
        ])),
    )
    .to_bytes()
}

/// Parses a COSE_Sign1 that must be of kind `expected`. Does not verify the signature.
pub fn parse(bytes: &[u8], expected: ObjectType) -> Result<Sign1, CoseError> {
    let parsed = parse_any(bytes)?;
    if parsed.typ != expected {
        return Err(CoseError::WrongType {
            expected: expected.media_type(),
            found: parsed.typ.media_type().to_owned(),
        });
    }
    Ok(parsed)
}

/// Parses a COSE_Sign1 of any zkscim kind. Does not verify the signature.
pub fn parse_any(bytes: &[u8]) -> Result<Sign1, CoseError> {
    let value = codec::decode(bytes)?;
    let Value::Tag(COSE_SIGN1_TAG, inner) = value else {
        return Err(CoseError::Structure("expected CBOR tag 18 (COSE_Sign1)"));
    };
    let Value::Array(parts) = *inner else {
        return Err(CoseError::Structure("COSE_Sign1 must be an array"));
    };
    let [protected, unprotected, payload, signature] = <[Value; 4]>::try_from(parts)
        .map_err(|_| CoseError::Structure("COSE_Sign1 must have exactly 4 elements"))?;
    let Value::Bytes(protected) = protected else {
        return Err(CoseError::Structure(
            "protected header must be a byte string",
        ));
    };
    match unprotected {
        Value::Map(m) if m.is_empty() => {}
        _ => {
            return Err(CoseError::Structure(
                "unprotected header must be an empty map",
            ))
        }
    }
    let Value::Bytes(payload) = payload else {
        return Err(CoseError::Structure(
            "payload must be an attached byte string",
        ));
    };
    let Value::Bytes(signature) = signature else {
        return Err(CoseError::Structure("signature must be a byte string"));
    };
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| CoseError::Structure("Ed25519 signature must be 64 bytes"))?;
    let (typ, kid) = parse_protected(&protected)?;
    Ok(Sign1 {
        typ,
        kid,
        protected,
        payload,
        signature,
    })
}

fn parse_protected(protected: &[u8]) -> Result<(ObjectType, KeyId), CoseError> {
    let header = codec::decode(protected)?;
    let Value::Map(entries) = header else {
        return Err(CoseError::Structure("protected header must be a map"));
    };
    let mut alg = None;
    let mut kid = None;
    let mut typ = None;
    for (label, value) in &entries {
        match label.as_i64() {
            Some(HEADER_ALG) => alg = Some(value),
            Some(HEADER_KID) => kid = Some(value),
            Some(HEADER_TYP) => typ = Some(value),
            _ => {
                return Err(CoseError::Structure(
                    "protected header may hold only alg (1), kid (4) and typ (16)",
                ))
            }
        }
    }
    match alg {
        Some(v) if v.as_i64() == Some(ALG_EDDSA) => {}
        Some(v) => return Err(CoseError::Algorithm(v.to_string())),
        None => return Err(CoseError::Structure("protected header lacks alg (1)")),
    }
    let kid = kid
        .and_then(Value::as_bytes)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(KeyId)
        .ok_or(CoseError::Structure("kid (4) must be a 32-byte key id"))?;
    let typ_text = typ
        .and_then(Value::as_text)
        .ok_or(CoseError::Structure("typ (16) must be a text string"))?;
    let typ = ObjectType::from_media_type(typ_text).ok_or_else(|| CoseError::WrongType {
        expected: "a zkscim object type",
        found: typ_text.to_owned(),
    })?;
    Ok((typ, kid))
}

impl Sign1 {
    /// The exact bytes the signature covers.
    pub fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(&self.protected, &self.payload)
    }

    /// [`Sign1::to_be_signed`] in two parts, whose concatenation it is: the encoding up to
    /// the payload, and the payload itself (not copied).
    pub fn to_be_signed_parts(&self) -> (Vec<u8>, &[u8]) {
        (
            sig_structure_prefix(&self.protected, self.payload.len()),
            &self.payload,
        )
    }

    /// Verifies the signature under `key`, which must be the key the `kid` names.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CoseError> {
        let expected = key.key_id();
        if expected != self.kid {
            return Err(CoseError::KeyMismatch {
                expected: expected.short(),
                found: self.kid.short(),
            });
        }
        key.verify_strict(&self.to_be_signed(), &self.signature)
            .map_err(|e| match e {
                KeyError::BadSignature(k) => CoseError::BadSignature(k),
                other => CoseError::BadSignature(other.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_seed(&[byte; 32])
    }

    /// The Sig_structure written head by head equals the generic encoder's, at every length
    /// where a CBOR head changes size, and the two parts concatenate to it.
    #[test]
    fn sig_structure_matches_the_generic_encoder() {
        for protected_len in [0usize, 23, 24, 60] {
            for payload_len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536, 70_000] {
                let protected = vec![0xa5; protected_len];
                let payload = vec![0x5a; payload_len];
                let generic = Value::Array(vec![
                    Value::text("Signature1"),
                    Value::bytes(protected.clone()),
                    Value::bytes(Vec::new()),
                    Value::bytes(payload.clone()),
                ])
                .to_bytes();
                assert_eq!(sig_structure(&protected, &payload), generic);
                let sign1 = Sign1 {
                    typ: ObjectType::Operation,
                    kid: key(1).key_id(),
                    protected,
                    payload,
                    signature: [0; 64],
                };
                let (prefix, rest) = sign1.to_be_signed_parts();
                assert_eq!([prefix.as_slice(), rest].concat(), sign1.to_be_signed());
            }
        }
    }

    #[test]
    fn sign_parse_verify() {
        let k = key(7);
        let bytes = sign(ObjectType::Operation, &k, b"hello");
        let parsed = parse(&bytes, ObjectType::Operation).unwrap();
        assert_eq!(parsed.payload, b"hello");
        assert_eq!(parsed.kid, k.key_id());
        parsed.verify(&k.public_key()).unwrap();
    }

    #[test]
    fn wrong_type_wrong_key_and_flips_refused() {
        let k = key(7);
        let bytes = sign(ObjectType::Operation, &k, b"hello");
        assert_eq!(
            parse(&bytes, ObjectType::Certificate).unwrap_err().code(),
            "cose.wrong_type"
        );
        let parsed = parse(&bytes, ObjectType::Operation).unwrap();
        assert_eq!(
            parsed.verify(&key(8).public_key()).unwrap_err().code(),
            "cose.key_mismatch"
        );
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x01;
            let outcome = parse_any(&flipped).and_then(|p| {
                let typ_ok = p.typ == ObjectType::Operation;
                p.verify(&k.public_key()).map(|_| typ_ok)
            });
            assert!(!matches!(outcome, Ok(true)), "flip at {i} still verified");
        }
    }

    #[test]
    fn structure_refusals() {
        let k = key(1);
        let good = sign(ObjectType::Policy, &k, b"x");
        let value = codec::decode(&good).unwrap();
        let Value::Tag(_, inner) = value else {
            panic!()
        };
        // Untagged.
        assert_eq!(
            parse_any(&inner.to_bytes()).unwrap_err().code(),
            "cose.structure"
        );
        // Non-empty unprotected header.
        let Value::Array(mut parts) = *inner else {
            panic!()
        };
        parts[1] = Value::Map(vec![(Value::int(4), Value::bytes(vec![0; 32]))]);
        let bad = Value::Tag(18, Box::new(Value::Array(parts))).to_bytes();
        assert_eq!(parse_any(&bad).unwrap_err().code(), "cose.structure");
    }
}
