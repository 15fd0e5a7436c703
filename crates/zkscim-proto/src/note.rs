//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 signatures (type `0x01`), and C2SP
//! Ed25519 timestamped cosignatures (`c2sp.org/tlog-cosignature`, type `0x04`).
//!
//! A signed note is `text` (ending in a newline), a blank line, then one or more lines
//! `— <key name> <base64(key id ‖ signature)>`. Verification is fail-closed: a malformed line
//! anywhere rejects the note, a known key whose signature does not verify rejects the note, and
//! at least one known key must have signed. Signatures by unknown keys are counted and ignored so
//! that logs can rotate keys and witnesses can add cosignatures.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

/// Largest signed note accepted by [`NoteVerifier`], in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Largest number of signature lines accepted in one note (the spec's floor is 16).
pub const MAX_SIGNATURES: usize = 100;
/// Signature type byte of plain Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (`cosignature/v1`).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Largest cosignature timestamp the spec allows (2^63 − 1).
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// Every signature line starts with an em dash (U+2014) and a space.
const SIG_LINE_PREFIX: &str = "\u{2014} ";
/// Domain-separation header of the cosignature/v1 signed message.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";
/// Prefix of the private (signer) key encoding.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Errors from parsing keys and notes, signing and verifying.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note exceeds [`MAX_NOTE_BYTES`].
    #[error("note is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input bytes are not UTF-8.
    #[error("note is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A control character other than newline was found.
    #[error("control character U+{code:04X} at byte offset {offset}")]
    ControlChar {
        /// Byte offset in the input.
        offset: usize,
        /// The offending code point.
        code: u32,
    },
    /// Text to be signed does not end in a newline.
    #[error("note text must be non-empty and end in a newline")]
    TextNotNewlineTerminated,
    /// There is no blank line separating the text from signatures.
    #[error("note has no blank line separating the text from signature lines")]
    MissingSignatureBlock,
    /// A signature line is malformed.
    #[error("signature line {line}: {reason}")]
    SignatureLine {
        /// 1-based index among the signature lines.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A key name is empty or contains a space, `+` or control character.
    #[error("invalid key name: {reason}")]
    KeyName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier or signer key string is malformed.
    #[error("malformed key: {reason}")]
    KeyFormat {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key string's key id does not match the one derived from its name and key.
    #[error("key {name}: stated key id {stated} but name and key give {computed}")]
    KeyIdMismatch {
        /// Key name.
        name: String,
        /// Key id written in the key string (hex).
        stated: String,
        /// Key id computed from name, type and public key (hex).
        computed: String,
    },
    /// The key's signature type byte is not one this module implements, or not the one expected.
    #[error("unsupported signature type 0x{type_byte:02x}")]
    UnsupportedKeyType {
        /// Type byte found.
        type_byte: u8,
    },
    /// The public key is not a valid Ed25519 point, or is of small order.
    #[error("public key of {name} is not a valid, non-weak Ed25519 key")]
    BadPublicKey {
        /// Key name.
        name: String,
    },
    /// Two verifier keys share both name and key id, so signatures could not be attributed.
    #[error("duplicate verifier key {name}+{key_id}")]
    DuplicateKey {
        /// Key name.
        name: String,
        /// Key id (hex).
        key_id: String,
    },
    /// A signature from a known key failed to verify; the whole note is rejected.
    #[error("signature by known key {name}+{key_id} (line {line}) does not verify")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id (hex).
        key_id: String,
        /// 1-based signature line.
        line: usize,
    },
    /// No signature from a known key is present.
    #[error("note has no signature from a known key ({unknown} signatures from unknown keys)")]
    Unverified {
        /// Number of signature lines from unknown keys.
        unknown: usize,
    },
    /// A cosignature timestamp exceeds 2^63 − 1.
    #[error("cosignature timestamp {timestamp} exceeds 2^63-1")]
    TimestampOutOfRange {
        /// The timestamp.
        timestamp: u64,
    },
}

impl NoteError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "note.too_large",
            Self::NotUtf8 { .. } => "note.malformed.utf8",
            Self::ControlChar { .. } => "note.malformed.control_char",
            Self::TextNotNewlineTerminated => "note.text.missing_final_newline",
            Self::MissingSignatureBlock => "note.malformed.no_signature_block",
            Self::SignatureLine { .. } => "note.malformed.signature_line",
            Self::TooManySignatures { .. } => "note.too_many_signatures",
            Self::KeyName { .. } => "note.key.bad_name",
            Self::KeyFormat { .. } => "note.key.malformed",
            Self::KeyIdMismatch { .. } => "note.key.id_mismatch",
            Self::UnsupportedKeyType { .. } => "note.key.unsupported_type",
            Self::BadPublicKey { .. } => "note.key.bad_public_key",
            Self::DuplicateKey { .. } => "note.key.duplicate",
            Self::InvalidSignature { .. } => "note.signature.invalid",
            Self::Unverified { .. } => "note.unverified",
            Self::TimestampOutOfRange { .. } => "note.cosignature.timestamp_out_of_range",
        }
    }
}

/// The signature algorithms this module implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Ed25519 over the note text (type `0x01`).
    Ed25519,
    /// Timestamped Ed25519 cosignature over `cosignature/v1\ntime <t>\n` ‖ text (type `0x04`).
    CosignatureV1,
}

impl KeyType {
    /// The signature type identifier byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Ed25519 => SIG_TYPE_ED25519,
            Self::CosignatureV1 => SIG_TYPE_COSIGNATURE_V1,
        }
    }

    /// Maps a type byte back to a supported type.
    pub fn from_type_byte(b: u8) -> Result<Self, NoteError> {
        match b {
            SIG_TYPE_ED25519 => Ok(Self::Ed25519),
            SIG_TYPE_COSIGNATURE_V1 => Ok(Self::CosignatureV1),
            type_byte => Err(NoteError::UnsupportedKeyType { type_byte }),
        }
    }
}

/// A 4-byte key id, as carried at the start of every signature.
pub type KeyId = [u8; 4];

/// Key id: `SHA-256(name ‖ 0x0A ‖ type byte ‖ public key)[..4]`.
pub fn key_id(name: &str, key_type: KeyType, public_key: &[u8; 32]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type.type_byte()]);
    h.update(public_key);
    let d = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    id
}

/// Checks the key-name rules: non-empty, no Unicode whitespace, no `+`, no control characters.
pub fn validate_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() {
        return Err(NoteError::KeyName { reason: "empty" });
    }
    if name.contains('+') {
        return Err(NoteError::KeyName {
            reason: "contains '+'",
        });
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NoteError::KeyName {
            reason: "contains whitespace",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(NoteError::KeyName {
            reason: "contains a control character",
        });
    }
    Ok(())
}

/// Rejects ASCII control characters other than newline, which signed notes forbid.
fn check_control_chars(s: &str) -> Result<(), NoteError> {
    match s
        .char_indices()
        .find(|&(_, c)| (c < ' ' && c != '\n') || c == '\u{7f}')
    {
        Some((offset, c)) => Err(NoteError::ControlChar {
            offset,
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

/// Strict base64: standard alphabet, padded, and canonical (re-encodes to the same string), so
/// one signature has exactly one textual form.
fn decode_b64_canonical(s: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(s).ok()?;
    (STANDARD.encode(&bytes) == s).then_some(bytes)
}

fn parse_key_id_hex(s: &str) -> Result<KeyId, NoteError> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(NoteError::KeyFormat {
            reason: "key id must be 8 lowercase hex digits",
        });
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(s, &mut id).map_err(|_| NoteError::KeyFormat {
        reason: "key id must be 8 lowercase hex digits",
    })?;
    Ok(id)
}

/// A public key that may verify note signatures: name, type, key id and Ed25519 key.
///
/// Text form (`vkey`): `<name>+<hex key id>+<base64(type byte ‖ 32-byte public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_type: KeyType,
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = [0u8; 33];
        material[0] = self.key_type.type_byte();
        material[1..].copy_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            STANDARD.encode(material)
        )
    }
}

impl VerifierKey {
    /// Builds a verifier key, validating the name and rejecting weak (small-order) keys.
    pub fn new(name: &str, key_type: KeyType, key: VerifyingKey) -> Result<Self, NoteError> {
        validate_key_name(name)?;
        if key.is_weak() {
            return Err(NoteError::BadPublicKey {
                name: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key_id: key_id(name, key_type, key.as_bytes()),
            key,
        })
    }

    /// Parses the `vkey` text form, recomputing and checking the key id.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        // The name cannot contain '+', but base64 can, so split at most twice.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::KeyFormat {
                reason: "expected <name>+<key id>+<key>",
            });
        };
        validate_key_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let material = decode_b64_canonical(b64).ok_or(NoteError::KeyFormat {
            reason: "key material is not canonical base64",
        })?;
        let (&type_byte, pk) = material.split_first().ok_or(NoteError::KeyFormat {
            reason: "empty key material",
        })?;
        let key_type = KeyType::from_type_byte(type_byte)?;
        let pk: [u8; 32] = pk.try_into().map_err(|_| NoteError::KeyFormat {
            reason: "Ed25519 public key must be 32 bytes",
        })?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::BadPublicKey {
            name: name.to_owned(),
        })?;
        let k = Self::new(name, key_type, key)?;
        if k.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated: hex::encode(stated),
                computed: hex::encode(k.key_id),
            });
        }
        Ok(k)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signature type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Name, type and Ed25519 secret shared by both signer kinds. The seed lives only inside
/// `SigningKey`, which zeroizes itself on drop.
struct SecretKey {
    name: String,
    key_type: KeyType,
    key_id: KeyId,
    key: SigningKey,
}

impl SecretKey {
    fn from_seed(name: &str, key_type: KeyType, seed: &[u8; 32]) -> Result<Self, NoteError> {
        validate_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key_id: key_id(name, key_type, key.verifying_key().as_bytes()),
            key,
        })
    }

    fn parse(text: &str, expected: KeyType) -> Result<Self, NoteError> {
        let rest = text
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::KeyFormat {
                reason: "private key must start with PRIVATE+KEY+",
            })?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::KeyFormat {
                reason: "expected PRIVATE+KEY+<name>+<key id>+<key>",
            });
        };
        validate_key_name(name)?;
        let stated = parse_key_id_hex(id_hex)?;
        let material = Zeroizing::new(decode_b64_canonical(b64).ok_or(NoteError::KeyFormat {
            reason: "key material is not canonical base64",
        })?);
        let (&type_byte, seed) = material.split_first().ok_or(NoteError::KeyFormat {
            reason: "empty key material",
        })?;
        if KeyType::from_type_byte(type_byte)? != expected {
            return Err(NoteError::UnsupportedKeyType { type_byte });
        }
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.try_into().map_err(|_| NoteError::KeyFormat {
                reason: "Ed25519 seed must be 32 bytes",
            })?);
        let k = Self::from_seed(name, expected, &seed)?;
        if k.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated: hex::encode(stated),
                computed: hex::encode(k.key_id),
            });
        }
        Ok(k)
    }

    fn to_private_text(&self) -> Zeroizing<String> {
        let mut material = Zeroizing::new([0u8; 33]);
        let (tag, seed) = material.split_at_mut(1);
        tag.copy_from_slice(&[self.key_type.type_byte()]);
        seed.copy_from_slice(self.key.as_bytes());
        // Pre-size so the buffer holding the secret is never reallocated (and copied) while
        // being filled.
        let mut out = Zeroizing::new(String::with_capacity(
            PRIVATE_KEY_PREFIX.len() + self.name.len() + 10 + 44,
        ));
        out.push_str(PRIVATE_KEY_PREFIX);
        out.push_str(&self.name);
        out.push('+');
        out.push_str(&hex::encode(self.key_id));
        out.push('+');
        // Encode into a wiped fixed buffer rather than through the engine's internal chunk
        // buffer, which would leave an encoded copy of the seed behind.
        let mut encoded = Zeroizing::new([0u8; 44]);
        if let Ok(n) = STANDARD.encode_slice(&material[..], &mut encoded[..]) {
            if let Some(Ok(b64)) = encoded.get(..n).map(std::str::from_utf8) {
                out.push_str(b64);
            }
        }
        out
    }

    fn verifier_key(&self) -> Result<VerifierKey, NoteError> {
        VerifierKey::new(&self.name, self.key_type, self.key.verifying_key())
    }

    fn line(&self, signature_body: &[u8]) -> String {
        let mut blob = Vec::with_capacity(4 + signature_body.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(signature_body);
        format!("{SIG_LINE_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }

    fn fmt_redacted(&self, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(kind)
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

/// Validates text that is about to be signed.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            len: text.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    check_control_chars(text)
}

/// The message a cosignature/v1 signature covers.
fn cosigned_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{text}").into_bytes()
}

/// An Ed25519 note signer (type `0x01`). Its `Debug` output never includes the secret.
///
/// Text form (`skey`): `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ 32-byte seed)>`.
pub struct NoteSigner(SecretKey);

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted("NoteSigner", f)
    }
}

impl NoteSigner {
    /// Generates a fresh key from the caller's RNG.
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        Self::from_seed(name, &seed)
    }

    /// Builds a signer from a 32-byte RFC 8032 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        SecretKey::from_seed(name, KeyType::Ed25519, seed).map(Self)
    }

    /// Parses the `skey` text form, checking the key id.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        SecretKey::parse(text, KeyType::Ed25519).map(Self)
    }

    /// The `skey` text form, in a buffer that is wiped on drop.
    pub fn to_private_text(&self) -> Zeroizing<String> {
        self.0.to_private_text()
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> Result<VerifierKey, NoteError> {
        self.0.verifier_key()
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Key id.
    pub fn key_id(&self) -> KeyId {
        self.0.key_id
    }

    /// One signature line (`— name base64\n`) over `text`, for combining with other signers.
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.0.key.sign(text.as_bytes());
        Ok(self.0.line(&sig.to_bytes()))
    }

    /// A complete signed note: `text`, a blank line, and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let line = self.signature_line(text)?;
        Ok(format!("{text}\n{line}"))
    }
}

/// A timestamped Ed25519 cosigner (type `0x04`, `cosignature/v1`), as used by witnesses.
/// Its `Debug` output never includes the secret.
///
/// Text form: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 ‖ 32-byte seed)>`.
pub struct CosignatureSigner(SecretKey);

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted("CosignatureSigner", f)
    }
}

impl CosignatureSigner {
    /// Generates a fresh key from the caller's RNG.
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        Self::from_seed(name, &seed)
    }

    /// Builds a cosigner from a 32-byte RFC 8032 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        SecretKey::from_seed(name, KeyType::CosignatureV1, seed).map(Self)
    }

    /// Parses the private text form, checking the key id.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        SecretKey::parse(text, KeyType::CosignatureV1).map(Self)
    }

    /// The private text form, in a buffer that is wiped on drop.
    pub fn to_private_text(&self) -> Zeroizing<String> {
        self.0.to_private_text()
    }

    /// The matching verifier key (type `0x04`).
    pub fn verifier_key(&self) -> Result<VerifierKey, NoteError> {
        self.0.verifier_key()
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Key id.
    pub fn key_id(&self) -> KeyId {
        self.0.key_id
    }

    /// A cosignature line over checkpoint `text` at POSIX time `timestamp` (seconds), supplied by
    /// the caller because this crate reads no clock.
    pub fn cosignature_line(&self, text: &str, timestamp: u64) -> Result<String, NoteError> {
        check_text(text)?;
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(NoteError::TimestampOutOfRange { timestamp });
        }
        let sig = self.0.key.sign(&cosigned_message(text, timestamp));
        let mut body = [0u8; 72];
        body[..8].copy_from_slice(&timestamp.to_be_bytes());
        body[8..].copy_from_slice(&sig.to_bytes());
        Ok(self.0.line(&body))
    }

    /// Adds this cosigner's signature line to an existing signed note (whose signatures are not
    /// checked here: a witness verifies the log's signature with a [`NoteVerifier`] first).
    pub fn cosign(&self, signed_note: &str, timestamp: u64) -> Result<String, NoteError> {
        let parsed = SignedNote::parse(signed_note)?;
        let line = self.cosignature_line(parsed.text(), timestamp)?;
        Ok(format!("{signed_note}{line}"))
    }
}

/// One parsed (not yet verified) signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: KeyId,
    /// Signature bytes after the key id (algorithm-specific).
    pub signature: Vec<u8>,
}

/// A syntactically valid signed note whose signatures have not been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note, enforcing size, character, line-format and count limits.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len: note.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        check_control_chars(note)?;
        // The text is separated from the signatures by the *last* blank line.
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, block) = note.split_at(split + 1);
        let block = block.get(1..).unwrap_or("");
        let Some(block) = block.strip_suffix('\n') else {
            return Err(NoteError::SignatureLine {
                line: 1,
                reason: "signature block must be non-empty and end in a newline",
            });
        };
        let mut signatures = Vec::new();
        for (i, line) in block.split('\n').enumerate() {
            let line_no = i + 1;
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            let bad = |reason| NoteError::SignatureLine {
                line: line_no,
                reason,
            };
            let rest = line
                .strip_prefix(SIG_LINE_PREFIX)
                .ok_or(bad("does not start with an em dash and a space"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(bad("missing space between key name and signature"))?;
            validate_key_name(name).map_err(|_| bad("invalid key name"))?;
            let blob = decode_b64_canonical(b64).ok_or(bad("signature is not canonical base64"))?;
            let (id, sig) = blob
                .split_first_chunk::<4>()
                .ok_or(bad("signature shorter than its 4-byte key id"))?;
            if sig.is_empty() {
                return Err(bad("signature has no bytes after the key id"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: *id,
                signature: sig.to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }
}

/// A signature that verified under a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: KeyId,
    /// Signature type of the key.
    pub key_type: KeyType,
    /// Cosignature timestamp (POSIX seconds), for [`KeyType::CosignatureV1`] only.
    pub timestamp: Option<u64>,
}

/// A note with at least one valid signature from a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// Signatures that verified, in note order, one per key.
    pub signatures: Vec<VerifiedSignature>,
    /// Signature lines from keys the verifier does not know (ignored, per the spec).
    pub unknown_signatures: usize,
}

/// Verifies signed notes against a fixed set of trusted keys.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    keys: Vec<VerifierKey>,
}

impl NoteVerifier {
    /// A verifier trusting `keys`; two keys with the same name and key id are refused, since a
    /// signature could not be attributed to one of them.
    pub fn new(keys: Vec<VerifierKey>) -> Result<Self, NoteError> {
        for (i, k) in keys.iter().enumerate() {
            if keys
                .iter()
                .skip(i + 1)
                .any(|o| o.name == k.name && o.key_id == k.key_id)
            {
                return Err(NoteError::DuplicateKey {
                    name: k.name.clone(),
                    key_id: hex::encode(k.key_id),
                });
            }
        }
        Ok(Self { keys })
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[VerifierKey] {
        &self.keys
    }

    /// Like [`NoteVerifier::verify`] for raw bytes, checking UTF-8 first.
    pub fn verify_bytes(&self, note: &[u8]) -> Result<VerifiedNote, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len: note.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let s = std::str::from_utf8(note).map_err(|e| NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        self.verify(s)
    }

    /// Parses and verifies a signed note. Unknown keys are ignored; a known key whose signature
    /// does not verify (strict Ed25519: canonical encodings, no small-order components) rejects
    /// the note; at least one known key must have signed.
    pub fn verify(&self, note: &str) -> Result<VerifiedNote, NoteError> {
        let parsed = SignedNote::parse(note)?;
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        let mut unknown = 0usize;
        for (i, sig) in parsed.signatures.iter().enumerate() {
            let Some(key) = self
                .keys
                .iter()
                .find(|k| k.name == sig.name && k.key_id == sig.key_id)
            else {
                unknown += 1;
                continue;
            };
            let invalid = || NoteError::InvalidSignature {
                name: key.name.clone(),
                key_id: hex::encode(key.key_id),
                line: i + 1,
            };
            let timestamp = match key.key_type {
                KeyType::Ed25519 => {
                    let s = Signature::from_slice(&sig.signature).map_err(|_| invalid())?;
                    key.key
                        .verify_strict(parsed.text.as_bytes(), &s)
                        .map_err(|_| invalid())?;
                    None
                }
                KeyType::CosignatureV1 => {
                    let (ts, s) = sig.signature.split_first_chunk::<8>().ok_or_else(invalid)?;
                    let ts = u64::from_be_bytes(*ts);
                    if ts > MAX_COSIGNATURE_TIMESTAMP {
                        return Err(invalid());
                    }
                    let s = Signature::from_slice(s).map_err(|_| invalid())?;
                    key.key
                        .verify_strict(&cosigned_message(&parsed.text, ts), &s)
                        .map_err(|_| invalid())?;
                    Some(ts)
                }
            };
            // A key that signed twice is reported once (the first, valid, occurrence).
            if !verified
                .iter()
                .any(|v| v.name == key.name && v.key_id == key.key_id)
            {
                verified.push(VerifiedSignature {
                    name: key.name.clone(),
                    key_id: key.key_id,
                    key_type: key.key_type,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::Unverified { unknown });
        }
        Ok(VerifiedNote {
            text: parsed.text,
            signatures: verified,
            unknown_signatures: unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published example from the Go reference implementation's documentation and tests
    // (golang.org/x/mod/sumdb/note): data only.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter() -> NoteVerifier {
        NoteVerifier::new(vec![VerifierKey::parse(PETER_VKEY).unwrap()]).unwrap()
    }

    #[test]
    fn published_keys_round_trip() {
        let v = VerifierKey::parse(PETER_VKEY).unwrap();
        assert_eq!(v.to_string(), PETER_VKEY);
        assert_eq!(v.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        let s = NoteSigner::parse(PETER_SKEY).unwrap();
        assert_eq!(s.to_private_text().as_str(), PETER_SKEY);
        assert_eq!(s.verifier_key().unwrap(), v);
        assert_eq!(
            VerifierKey::parse(ENOCH_VKEY).unwrap().to_string(),
            ENOCH_VKEY
        );
    }

    #[test]
    fn reproduces_published_signature() {
        let s = NoteSigner::parse(PETER_SKEY).unwrap();
        assert_eq!(s.sign(TEXT).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
    }

    #[test]
    fn verifies_published_note_and_ignores_unknown() {
        let note = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let v = peter().verify(&note).unwrap();
        assert_eq!(v.text, TEXT);
        assert_eq!(v.signatures.len(), 1);
        assert_eq!(v.unknown_signatures, 1);
        let both = NoteVerifier::new(vec![
            VerifierKey::parse(PETER_VKEY).unwrap(),
            VerifierKey::parse(ENOCH_VKEY).unwrap(),
        ])
        .unwrap();
        assert_eq!(both.verify(&note).unwrap().signatures.len(), 2);
        let none = NoteVerifier::new(vec![]).unwrap();
        assert_eq!(none.verify(&note).unwrap_err().code(), "note.unverified");
    }

    #[test]
    fn every_byte_flip_of_the_published_note_is_rejected() {
        let note = format!("{TEXT}\n{PETER_SIG}");
        let v = peter();
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            assert!(v.verify_bytes(&b).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn vkey_manglings_rejected() {
        let b = PETER_VKEY.as_bytes();
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(VerifierKey::parse(s).is_err(), "{s}");
            }
        }
        for j in 1..b.len() {
            let s = std::str::from_utf8(&b[..j]).unwrap();
            assert!(VerifierKey::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            VerifierKey::parse(
                "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .unwrap_err()
            .code(),
            "note.key.malformed"
        );
        assert_eq!(
            VerifierKey::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .unwrap_err()
            .code(),
            "note.key.id_mismatch"
        );
    }

    #[test]
    fn malformed_notes() {
        let v = peter();
        let cases: Vec<(String, &str)> = vec![
            (TEXT.to_owned(), "note.malformed.no_signature_block"),
            (format!("{TEXT}\n"), "note.malformed.signature_line"),
            (
                format!("{TEXT}\n{}", PETER_SIG.trim_end()),
                "note.malformed.signature_line",
            ),
            (
                format!("\u{1}{TEXT}\n{PETER_SIG}"),
                "note.malformed.control_char",
            ),
            (
                format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
                "note.malformed.signature_line",
            ),
            (
                format!(
                    "{TEXT}\n{}",
                    PETER_SIG.replace("PeterNeumann", "Peter Neumann")
                ),
                "note.malformed.signature_line",
            ),
            (
                format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1)),
                "note.too_many_signatures",
            ),
            (
                format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]),
                "note.signature.invalid",
            ),
        ];
        for (note, code) in cases {
            assert_eq!(v.verify(&note).unwrap_err().code(), code, "{note:?}");
        }
        let huge = format!("{}\n{PETER_SIG}", "a".repeat(MAX_NOTE_BYTES));
        assert_eq!(v.verify(&huge).unwrap_err().code(), "note.too_large");
        assert_eq!(
            v.verify_bytes(b"\xff\n\n").unwrap_err().code(),
            "note.malformed.utf8"
        );
        // Exactly the limit of signatures is fine.
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
        assert_eq!(v.verify(&many).unwrap().signatures.len(), 1);
    }

    #[test]
    fn cosignatures_round_trip() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let witness = CosignatureSigner::from_seed("witness.example/w1", &[2; 32]).unwrap();
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = log.sign(text).unwrap();
        let cosigned = witness.cosign(&note, 1_700_000_000).unwrap();
        let wv = witness.verifier_key().unwrap();
        assert_eq!(wv.key_type(), KeyType::CosignatureV1);
        assert_eq!(VerifierKey::parse(&wv.to_string()).unwrap(), wv);
        let v = NoteVerifier::new(vec![log.verifier_key().unwrap(), wv.clone()]).unwrap();
        let out = v.verify(&cosigned).unwrap();
        assert_eq!(out.signatures.len(), 2);
        assert_eq!(out.signatures[1].timestamp, Some(1_700_000_000));
        // A cosignature key does not verify a plain signature by the same seed, and vice versa.
        let same_seed = NoteSigner::from_seed("witness.example/w1", &[2; 32]).unwrap();
        assert_ne!(same_seed.key_id(), witness.key_id());
        assert_eq!(
            witness.cosignature_line(text, u64::MAX).unwrap_err().code(),
            "note.cosignature.timestamp_out_of_range"
        );
        let skey = witness.to_private_text();
        assert_eq!(
            CosignatureSigner::parse(&skey).unwrap().key_id(),
            witness.key_id()
        );
        assert_eq!(
            NoteSigner::parse(&skey).unwrap_err().code(),
            "note.key.unsupported_type"
        );
    }

    #[test]
    fn debug_never_prints_secret() {
        let s = NoteSigner::parse(PETER_SKEY).unwrap();
        let d = format!("{s:?}");
        assert!(d.contains("PeterNeumann"));
        assert!(!d.contains("AYEKFALV"));
        let seed_hex = hex::encode(
            &STANDARD
                .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
                .unwrap()[1..],
        );
        assert!(!d.contains(&seed_hex));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn sign_then_verify_and_text_edits_fail(
            text in "([ -~\u{e9}\u{2014}]{0,30}\n){1,4}",
            seed in proptest::prelude::any::<[u8; 32]>(),
            pos in proptest::prelude::any::<usize>(),
        ) {
            let signer = NoteSigner::from_seed("example.com/k", &seed).unwrap();
            let v = NoteVerifier::new(vec![signer.verifier_key().unwrap()]).unwrap();
            let note = signer.sign(&text).unwrap();
            let out = v.verify(&note).unwrap();
            proptest::prop_assert_eq!(&out.text, &text);
            let mut b = note.into_bytes();
            let i = pos % b.len();
            b[i] ^= 0x20;
            proptest::prop_assert!(v.verify_bytes(&b).is_err());
        }

        #[test]
        fn parser_never_panics(s in "(\\PC|\n|\u{2014}| ){0,200}") {
            let _ = SignedNote::parse(&s);
            let _ = VerifierKey::parse(&s);
            let _ = NoteSigner::parse(&s);
        }
    }

    #[test]
    fn duplicate_keys_refused() {
        let k = VerifierKey::parse(PETER_VKEY).unwrap();
        assert_eq!(
            NoteVerifier::new(vec![k.clone(), k]).unwrap_err().code(),
            "note.key.duplicate"
        );
    }
}
