//! Ed25519 keys, key ids, fingerprints and the PKCS#8 PEM and text forms people handle.
//!
//! A key id is SHA-256 of the raw 32-byte public key: it names a key everywhere (COSE `kid`,
//! certificate issuer, log findings). The short form, the first 8 bytes in hex, is what people read
//! aloud and compare out of band.
//!
//! Private keys never appear in `Debug` output, are zeroized when dropped (ed25519-dalek's
//! `ZeroizeOnDrop`), and leave this module only as a zeroizing PKCS#8 PEM string.

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Prefix of the text form of a public key.
pub const PUBLIC_KEY_TEXT_PREFIX: &str = "ed25519:";

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Bytes that are not a valid Ed25519 public key.
    #[error("not a valid Ed25519 public key: {0}")]
    InvalidPublicKey(&'static str),
    /// A small-order ("weak") public key, for which signatures prove nothing.
    #[error("weak Ed25519 public key (small order) refused")]
    WeakPublicKey,
    /// Text that is not `ed25519:<64 hex digits>`.
    #[error("public key text must be 'ed25519:' followed by 64 hex digits")]
    PublicKeyText,
    /// A PEM file that is not an Ed25519 PKCS#8 private key.
    #[error("not an Ed25519 PKCS#8 PEM private key: {0}")]
    PrivateKeyPem(String),
    /// A signature that does not verify under `verify_strict`.
    #[error("signature does not verify under key {0}")]
    BadSignature(String),
}

impl KeyError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::InvalidPublicKey(_) => "key.invalid_public_key",
            KeyError::WeakPublicKey => "key.weak_public_key",
            KeyError::PublicKeyText => "key.public_key_text",
            KeyError::PrivateKeyPem(_) => "key.private_key_pem",
            KeyError::BadSignature(_) => "key.bad_signature",
        }
    }
}

/// SHA-256 of a raw Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// The key id of `public_key_bytes`.
    pub fn of(public_key_bytes: &[u8; 32]) -> KeyId {
        KeyId(Sha256::digest(public_key_bytes).into())
    }

    /// The first 8 bytes in hex: the fingerprint people compare.
    pub fn short(&self) -> String {
        hex::encode(self.0.get(..8).unwrap_or_default())
    }

    /// The full id in hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<KeyId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(KeyId(out))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.short())
    }
}

/// A verified-usable Ed25519 public key (valid point, not of small order).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
    /// SHA-256 of the raw bytes, computed once: chains compare key ids several times per
    /// statement verified.
    id: KeyId,
}

impl PublicKey {
    /// Accepts 32 bytes that decode to a point of large order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey("not a curve point"))?;
        if inner.is_weak() {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(PublicKey::of(inner))
    }

    fn of(inner: ed25519_dalek::VerifyingKey) -> PublicKey {
        PublicKey {
            id: KeyId::of(inner.as_bytes()),
            inner,
        }
    }

    /// Accepts a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::InvalidPublicKey("not 32 bytes"))?;
        PublicKey::from_bytes(&array)
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// SHA-256 of the raw bytes.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// `ed25519:<hex>`: the form people paste into configs and compare.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_TEXT_PREFIX}{}", hex::encode(self.to_bytes()))
    }

    /// Parses the [`PublicKey::to_text`] form.
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        let hex_part = text
            .trim()
            .strip_prefix(PUBLIC_KEY_TEXT_PREFIX)
            .ok_or(KeyError::PublicKeyText)?;
        let mut raw = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut raw).map_err(|_| KeyError::PublicKeyText)?;
        PublicKey::from_bytes(&raw)
    }

    /// Verifies `signature` over `message` with the strict rules (canonical `S`, no small-order
    /// `R`), as DESIGN §3 requires.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.inner
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature(self.key_id().short()))
    }

    /// The underlying dalek key (batch verification needs its point).
    pub fn as_dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.inner
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id().short())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// An Ed25519 private key. Zeroized on drop; never printed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key from the caller's cryptographic RNG.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> SigningKey {
        SigningKey {
            inner: ed25519_dalek::SigningKey::generate(rng),
        }
    }

    /// The key whose RFC 8032 secret ("seed") is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::of(self.inner.verifying_key())
    }

    /// The key id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    /// A deterministic Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }

    /// PKCS#8 v2 PEM (RFC 5958, `-----BEGIN PRIVATE KEY-----`, with the public key), in a
    /// buffer zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.inner
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| KeyError::PrivateKeyPem(e.to_string()))
    }

    /// Reads a PKCS#8 PEM private key (v1 or v2).
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let inner = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError::PrivateKeyPem(e.to_string()))?;
        Ok(SigningKey { inner })
    }

    /// The raw 32-byte seed, zeroized on drop (needed by the signed-note key format).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey(public {}, secret redacted)",
            self.key_id().short()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8032_TEST1_SEED: &str =
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_TEST1_PUBLIC: &str =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_TEST1_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn test1() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(RFC8032_TEST1_SEED, &mut seed).unwrap();
        SigningKey::from_seed(&seed)
    }

    #[test]
    fn rfc8032_test1() {
        let key = test1();
        assert_eq!(
            hex::encode(key.public_key().to_bytes()),
            RFC8032_TEST1_PUBLIC
        );
        let sig = key.sign(b"");
        assert_eq!(hex::encode(sig), RFC8032_TEST1_SIGNATURE);
        key.public_key().verify_strict(b"", &sig).unwrap();
        assert_eq!(
            key.public_key()
                .verify_strict(b"x", &sig)
                .unwrap_err()
                .code(),
            "key.bad_signature"
        );
    }

    #[test]
    fn key_id_is_the_sha256_of_the_key_however_it_was_made() {
        let key = test1();
        let expected = KeyId(Sha256::digest(key.public_key().to_bytes()).into());
        assert_eq!(key.public_key().key_id(), expected);
        assert_eq!(key.key_id(), expected);
        let parsed = PublicKey::from_bytes(&key.public_key().to_bytes()).unwrap();
        assert_eq!(parsed.key_id(), expected);
        assert_eq!(parsed, key.public_key());
        let other = SigningKey::from_seed(&[7; 32]).public_key();
        assert_ne!(other.key_id(), expected);
    }

    #[test]
    fn pem_roundtrip_and_debug_redacts() {
        let key = test1();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.key_id(), key.key_id());
        let debug = format!("{key:?}");
        assert!(!debug.contains(RFC8032_TEST1_SEED));
        assert!(debug.contains("redacted"));
        assert_eq!(
            SigningKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            )
            .unwrap_err()
            .code(),
            "key.private_key_pem"
        );
    }

    #[test]
    fn text_form_roundtrip_and_refusals() {
        let pk = test1().public_key();
        assert_eq!(PublicKey::from_text(&pk.to_text()).unwrap(), pk);
        assert_eq!(
            PublicKey::from_text("ed25519:zz").unwrap_err().code(),
            "key.public_key_text"
        );
        assert_eq!(
            PublicKey::from_text(RFC8032_TEST1_PUBLIC)
                .unwrap_err()
                .code(),
            "key.public_key_text"
        );
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity).unwrap_err(),
            KeyError::WeakPublicKey
        );
    }

    #[test]
    fn key_id_is_sha256_of_public_key() {
        let pk = test1().public_key();
        let expected: [u8; 32] = Sha256::digest(pk.to_bytes()).into();
        assert_eq!(pk.key_id().0, expected);
        assert_eq!(pk.key_id().short().len(), 16);
    }
}
