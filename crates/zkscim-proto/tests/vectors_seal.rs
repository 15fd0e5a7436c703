//! Recomputes every vector in `spec/vectors/seal.json` (spec/seal.md).
//!
//! The vectors were produced by an independent implementation of the spec (HKDF, HMAC, CBOR,
//! HChaCha20 written from their RFCs, ChaCha20-Poly1305 from another library), so agreement
//! here checks the Rust code against the text, not against itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use hkdf::Hkdf;
use serde_json::Value as Json;
use sha2::Sha256;
use zkscim_proto::codec::{self, Value};
use zkscim_proto::seal::{
    self, check_index_shape, check_sealed_shape, classify, normalize_attribute_path,
    normalize_index_value, Protection, ProtectionProfile, SealContext, TenantSecret, ValueClass,
};

fn vectors() -> Json {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/seal.json"
    ));
    serde_json::from_str(text).unwrap()
}

fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

fn secret(v: &Json) -> TenantSecret {
    let bytes: [u8; 32] = hex::decode(s(v, "tenant_secret_hex"))
        .unwrap()
        .try_into()
        .unwrap();
    TenantSecret::from_bytes(bytes)
}

fn ctx(v: &Json) -> SealContext<'_> {
    SealContext {
        tenant: s(v, "tenant"),
        resource_type: s(v, "resource_type"),
        resource_id: s(v, "resource_id"),
        attribute_path: s(v, "attribute_path"),
    }
}

fn hkdf(ikm: &[u8], salt: &str, info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt.as_bytes()), ikm)
        .expand(info, &mut okm)
        .unwrap();
    okm
}

fn error_code(v: &Json) -> Option<&str> {
    v["error"].as_str()
}

#[test]
fn secret_text_form() {
    let v = vectors();
    let secret = secret(&v);
    assert_eq!(secret.to_text().as_str(), s(&v, "tenant_secret_text"));
    let back = TenantSecret::from_text(s(&v, "tenant_secret_text")).unwrap();
    assert_eq!(back.to_text().as_str(), s(&v, "tenant_secret_text"));
}

#[test]
fn key_derivation_info_and_output() {
    let v = vectors();
    let ikm = hex::decode(s(&v, "tenant_secret_hex")).unwrap();
    let salt = s(&v, "hkdf_salt");
    assert_eq!(salt.as_bytes(), seal::HKDF_SALT);
    for k in v["seal_keys"].as_array().unwrap() {
        let info = Value::Array(vec![
            Value::text(seal::SEAL_KEY_LABEL),
            Value::text(s(k, "tenant")),
        ])
        .to_bytes();
        assert_eq!(hex::encode(&info), s(k, "hkdf_info_hex"));
        assert_eq!(hex::encode(hkdf(&ikm, salt, &info)), s(k, "key_hex"));
    }
    let secret = secret(&v);
    for k in v["index_keys"].as_array().unwrap() {
        let normalised = normalize_attribute_path(s(k, "attribute_path")).unwrap();
        assert_eq!(normalised, s(k, "normalised_path"));
        let info = Value::Array(vec![
            Value::text(seal::INDEX_KEY_LABEL),
            Value::text(s(k, "tenant")),
            Value::text(s(k, "resource_type")),
            Value::text(normalised.as_str()),
        ])
        .to_bytes();
        assert_eq!(hex::encode(&info), s(k, "hkdf_info_hex"));
        assert_eq!(hex::encode(hkdf(&ikm, salt, &info)), s(k, "key_hex"));
        let key = secret
            .index_key(
                s(k, "tenant"),
                s(k, "resource_type"),
                s(k, "attribute_path"),
            )
            .unwrap();
        assert_eq!(key.attribute_path(), normalised);
    }
}

#[test]
fn seal_vectors() {
    let v = vectors();
    let secret = secret(&v);
    for case in v["seal"].as_array().unwrap() {
        let ctx = ctx(case);
        assert_eq!(
            hex::encode(ctx.associated_data().unwrap()),
            s(case, "associated_data_hex")
        );
        assert_eq!(
            normalize_attribute_path(ctx.attribute_path).unwrap(),
            s(case, "normalised_path")
        );
        let nonce: [u8; 24] = hex::decode(s(case, "nonce_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let sealed = seal::seal_with_nonce(&secret, &ctx, s(case, "plaintext"), &nonce).unwrap();
        assert_eq!(sealed, s(case, "sealed"), "{case}");
        check_sealed_shape(&sealed).unwrap();
        assert_eq!(classify(&sealed), ValueClass::Sealed);
        let opened = seal::open(&secret, &ctx, s(case, "sealed")).unwrap();
        assert_eq!(opened.as_str(), s(case, "plaintext"));
        // A derived key opens it too.
        let key = secret.seal_key(ctx.tenant).unwrap();
        assert_eq!(
            seal::open(&key, &ctx, &sealed).unwrap().as_str(),
            s(case, "plaintext")
        );
    }
}

#[test]
fn open_invalid_vectors() {
    let v = vectors();
    let secret = secret(&v);
    for case in v["open_invalid"].as_array().unwrap() {
        let err = seal::open(&secret, &ctx(case), s(case, "sealed")).unwrap_err();
        assert_eq!(err.code(), s(case, "error"), "{}: {err}", s(case, "why"));
    }
}

#[test]
fn blind_index_vectors() {
    let v = vectors();
    let secret = secret(&v);
    for case in v["blind_index"].as_array().unwrap() {
        let case_exact = case["case_exact"].as_bool().unwrap();
        assert_eq!(
            normalize_index_value(s(case, "value"), case_exact),
            s(case, "normalised_value")
        );
        let index = seal::blind_index(
            &secret,
            s(case, "tenant"),
            s(case, "resource_type"),
            s(case, "attribute_path"),
            case_exact,
            s(case, "value"),
        )
        .unwrap();
        assert_eq!(index, s(case, "index"), "{case}");
        check_index_shape(&index).unwrap();
    }
}

#[test]
fn path_vectors() {
    let v = vectors();
    for case in v["paths"].as_array().unwrap() {
        let result = normalize_attribute_path(s(case, "input"));
        match error_code(case) {
            None => assert_eq!(result.unwrap(), s(case, "normalised")),
            Some(code) => {
                let err = seal::SealError::from(result.unwrap_err());
                assert_eq!(err.code(), code, "{case}");
            }
        }
    }
}

#[test]
fn shape_vectors() {
    let v = vectors();
    for case in v["shape"].as_array().unwrap() {
        let input = match case.get("generated") {
            Some(g) => format!(
                "{}{}",
                s(g, "prefix"),
                s(g, "fill").repeat(usize::try_from(g["count"].as_u64().unwrap()).unwrap())
            ),
            None => s(case, "input").to_owned(),
        };
        let result = match s(case, "kind") {
            "sealed" => check_sealed_shape(&input),
            "index" => check_index_shape(&input),
            other => panic!("unknown kind {other}"),
        };
        match error_code(case) {
            None => result.unwrap(),
            Some(code) => assert_eq!(result.unwrap_err().code(), code, "{}", s(case, "why")),
        }
    }
    for case in v["classify"].as_array().unwrap() {
        let expected = match s(case, "class") {
            "clear" => ValueClass::Clear,
            "sealed" => ValueClass::Sealed,
            "index" => ValueClass::Index,
            other => panic!("unknown class {other}"),
        };
        assert_eq!(classify(s(case, "input")), expected, "{case}");
    }
}

#[test]
fn default_profile_vectors() {
    let v = vectors();
    let d = &v["default_profile"];
    let profile = ProtectionProfile::default_profile();
    assert_eq!(hex::encode(profile.to_bytes()), s(d, "cbor_hex"));
    let decoded = ProtectionProfile::from_bytes(&hex::decode(s(d, "cbor_hex")).unwrap()).unwrap();
    assert_eq!(decoded, profile);
    for case in d["lookups"].as_array().unwrap() {
        let expected = match s(case, "protection") {
            "clear" => Protection::Clear,
            "sealed" => Protection::Sealed,
            "sealed_indexed" => Protection::SealedIndexed,
            other => panic!("unknown protection {other}"),
        };
        let got = profile
            .protection(s(case, "resource_type"), s(case, "path"))
            .unwrap();
        assert_eq!(got, expected, "{case}");
    }
    for (list, index) in [("check_value", false), ("check_index", true)] {
        for case in d[list].as_array().unwrap() {
            let (rt, path, value) = (s(case, "resource_type"), s(case, "path"), s(case, "value"));
            let result = if index {
                profile.check_index(rt, path, value)
            } else {
                profile.check_value(rt, path, value)
            };
            match error_code(case) {
                None => result.unwrap(),
                Some(code) => {
                    let err = result.unwrap_err();
                    assert_eq!(err.code(), code, "{case}: {err}");
                }
            }
        }
    }
}

#[test]
fn profile_invalid_vectors() {
    let v = vectors();
    for case in v["profile_invalid"].as_array().unwrap() {
        let bytes = hex::decode(s(case, "cbor_hex")).unwrap();
        let err = ProtectionProfile::from_bytes(&bytes).unwrap_err();
        assert_eq!(err.code(), s(case, "error"), "{}: {err}", s(case, "why"));
        // The codec agrees on which inputs are well-formed deterministic CBOR.
        if !err.code().starts_with("cbor.") {
            codec::decode(&bytes).unwrap();
        }
    }
}
