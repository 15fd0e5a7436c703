//! Sealed attribute values, blind indexes, tenant secrets and protection profiles.
//!
//! Owns: the tenant secret and its text form, the HKDF-SHA256 derivation of seal and blind-index
//! keys, sealing and opening attribute values (XChaCha20-Poly1305 bound to tenant, resource type,
//! resource id and attribute path), blind indexes for `eq` search and uniqueness, attribute-path
//! and index-value normalisation, the key-less shape checks the server runs on sealed values and
//! indexes, and the protection profile that says which attributes must be clear, sealed or sealed
//! and indexed (the server's leak guard). `spec/seal.md` is the normative description.
//!
//! Must never: read a clock or an ambient RNG (nonces come from the caller's RNG), print or log a
//! secret or a derived key, keep an opened plaintext outside a zeroizing buffer, or accept a
//! sealed value for a context other than the one it was sealed for. The server side of the
//! system only ever calls the key-less parts ([`check_sealed_shape`], [`check_index_shape`],
//! [`classify`], [`ProtectionProfile`]): it never holds a [`TenantSecret`].

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::codec::{self, CodecError, FieldReader, Limits, MapBuilder, ShapeError, Value};

/// Prefix of a sealed value.
pub const SEALED_PREFIX: &str = "zk1.";
/// Prefix of a blind index.
pub const INDEX_PREFIX: &str = "zkx1.";
/// Prefix of the text form of a tenant secret.
pub const SECRET_TEXT_PREFIX: &str = "zksecret1.";

/// HKDF-SHA256 salt for every key derived from a tenant secret.
pub const HKDF_SALT: &[u8] = b"zkscim/v1";
/// Domain label of the seal-key derivation (first element of the HKDF info array).
pub const SEAL_KEY_LABEL: &str = "zkscim seal key v1";
/// Domain label of the blind-index-key derivation (first element of the HKDF info array).
pub const INDEX_KEY_LABEL: &str = "zkscim blind index v1";
/// Domain label of the associated data of a sealed value (first element of the AD array).
pub const SEAL_AD_LABEL: &str = "zkscim seal v1";

/// Length of a tenant secret in bytes.
pub const SECRET_BYTES: usize = 32;
/// XChaCha20-Poly1305 nonce length.
pub const NONCE_BYTES: usize = 24;
/// Poly1305 tag length.
pub const TAG_BYTES: usize = 16;
/// Largest plaintext that may be sealed or indexed: 64 KiB of UTF-8.
pub const MAX_PLAINTEXT_BYTES: usize = 64 * 1024;
/// Smallest decoded sealed payload: nonce and tag around an empty plaintext.
pub const MIN_SEALED_PAYLOAD_BYTES: usize = NONCE_BYTES + TAG_BYTES;
/// Largest decoded sealed payload.
pub const MAX_SEALED_PAYLOAD_BYTES: usize = NONCE_BYTES + MAX_PLAINTEXT_BYTES + TAG_BYTES;
/// Length of the truncated HMAC carried by a blind index.
pub const INDEX_BYTES: usize = 16;
/// Longest attribute path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// Longest tenant, resource type or resource id accepted in a seal context, in bytes.
pub const MAX_CONTEXT_FIELD_BYTES: usize = 1024;
/// Most rules a protection profile may hold.
pub const MAX_PROFILE_RULES: usize = 1024;

/// Fewest base64url characters after [`SEALED_PREFIX`] (40 bytes → 54 characters).
const MIN_SEALED_CHARS: usize = base64_len(MIN_SEALED_PAYLOAD_BYTES);
/// Most base64url characters after [`SEALED_PREFIX`].
const MAX_SEALED_CHARS: usize = base64_len(MAX_SEALED_PAYLOAD_BYTES);
/// Exact base64url characters after [`INDEX_PREFIX`] (16 bytes → 22 characters).
const INDEX_CHARS: usize = base64_len(INDEX_BYTES);
/// Core SCIM schema URNs are stripped from attribute paths; extension URNs are kept.
const CORE_SCHEMA_URN_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

/// Length of the unpadded base64 encoding of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n / 3) * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Which kind of token a shape error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A sealed value (`zk1.`).
    Sealed,
    /// A blind index (`zkx1.`).
    Index,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::Sealed => "sealed value",
            TokenKind::Index => "blind index",
        })
    }
}

/// Why a string is not a well-formed sealed value or blind index (checked without any key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenShapeError {
    /// The string does not start with the token's prefix.
    #[error("does not start with '{prefix}'")]
    WrongPrefix {
        /// The prefix required.
        prefix: &'static str,
    },
    /// More base64url characters than the largest token allows.
    #[error("{len} characters after the prefix, more than the {max} allowed")]
    TooLong {
        /// Bytes after the prefix.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// Base64 padding (`=`), which the format forbids.
    #[error("base64 padding '=' at byte {offset}; the format is unpadded base64url")]
    Padding {
        /// Byte offset in the whole string.
        offset: usize,
    },
    /// A character outside the base64url alphabet.
    #[error("byte {offset} is not in the base64url alphabet (A-Z a-z 0-9 - _)")]
    InvalidCharacter {
        /// Byte offset in the whole string.
        offset: usize,
    },
    /// Fewer base64url characters than the smallest token.
    #[error("{len} characters after the prefix, fewer than the {min} required")]
    TooShort {
        /// Bytes after the prefix.
        len: usize,
        /// Minimum.
        min: usize,
    },
    /// A character count no base64 encoding produces (4k+1).
    #[error("{len} base64url characters is not a possible encoding length")]
    InvalidLength {
        /// Characters after the prefix.
        len: usize,
    },
    /// Unused low bits of the last character are not zero (a second spelling of the same bytes).
    #[error("last base64url character has non-zero unused bits (non-canonical encoding)")]
    NonCanonical,
}

/// Why an attribute path was refused by [`normalize_attribute_path`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute path {path:?} is invalid: {reason}")]
pub struct PathError {
    /// The path as given (truncated to 80 characters).
    pub path: String,
    /// Why.
    pub reason: &'static str,
}

/// Why sealing, opening, indexing or a shape check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Text that is not a `zksecret1.` tenant secret.
    #[error("tenant secret text must be 'zksecret1.' followed by 43 base64url characters: {0}")]
    SecretText(&'static str),
    /// A seal context field is empty.
    #[error("seal context field '{field}' is empty")]
    EmptyContextField {
        /// Which field.
        field: &'static str,
    },
    /// A seal context field is too long.
    #[error("seal context field '{field}' is {len} bytes, more than the {max} allowed")]
    ContextFieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The attribute path does not normalise.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// A derived key used for another tenant than it was derived for.
    #[error(
        "key was derived for tenant {key_tenant:?} but the context names tenant {context_tenant:?}"
    )]
    KeyTenantMismatch {
        /// Tenant the key belongs to.
        key_tenant: String,
        /// Tenant the context names.
        context_tenant: String,
    },
    /// Plaintext larger than [`MAX_PLAINTEXT_BYTES`].
    #[error("value is {len} bytes, more than the {max}-byte limit for sealed and indexed values")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// A malformed sealed value.
    #[error("malformed sealed value: {0}")]
    SealedShape(TokenShapeError),
    /// A malformed blind index.
    #[error("malformed blind index: {0}")]
    IndexShape(TokenShapeError),
    /// The AEAD tag did not verify.
    #[error(
        "sealed value does not open: it does not belong to tenant {tenant:?}, resource \
         {resource_type}/{resource_id}, attribute {attribute_path:?}, or it was altered"
    )]
    AuthenticationFailed {
        /// Tenant in the context.
        tenant: String,
        /// Resource type in the context.
        resource_type: String,
        /// Resource id in the context.
        resource_id: String,
        /// Normalised attribute path in the context.
        attribute_path: String,
    },
    /// Authenticated plaintext that is not UTF-8 (only a faulty sealer can produce it).
    #[error("sealed value authenticated but its plaintext is not UTF-8")]
    NotUtf8,
    /// A primitive reported an error that cannot happen with the fixed sizes used here.
    #[error("internal cryptographic error: {0}")]
    Internal(&'static str),
}

impl SealError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::SecretText(_) => "seal.secret.text",
            SealError::EmptyContextField { .. } => "seal.context.empty_field",
            SealError::ContextFieldTooLong { .. } => "seal.context.field_too_long",
            SealError::InvalidPath(_) => "seal.path.invalid",
            SealError::KeyTenantMismatch { .. } => "seal.key.tenant_mismatch",
            SealError::PlaintextTooLarge { .. } => "seal.plaintext_too_large",
            SealError::SealedShape(e) => match e {
                TokenShapeError::WrongPrefix { .. } => "seal.shape.wrong_prefix",
                TokenShapeError::TooLong { .. } => "seal.shape.too_long",
                TokenShapeError::Padding { .. } => "seal.shape.padding",
                TokenShapeError::InvalidCharacter { .. } => "seal.shape.invalid_character",
                TokenShapeError::TooShort { .. } => "seal.shape.too_short",
                TokenShapeError::InvalidLength { .. } => "seal.shape.invalid_length",
                TokenShapeError::NonCanonical => "seal.shape.non_canonical",
            },
            SealError::IndexShape(e) => match e {
                TokenShapeError::WrongPrefix { .. } => "seal.index_shape.wrong_prefix",
                TokenShapeError::TooLong { .. } => "seal.index_shape.too_long",
                TokenShapeError::Padding { .. } => "seal.index_shape.padding",
                TokenShapeError::InvalidCharacter { .. } => "seal.index_shape.invalid_character",
                TokenShapeError::TooShort { .. } => "seal.index_shape.too_short",
                TokenShapeError::InvalidLength { .. } => "seal.index_shape.invalid_length",
                TokenShapeError::NonCanonical => "seal.index_shape.non_canonical",
            },
            SealError::AuthenticationFailed { .. } => "seal.open.authentication_failed",
            SealError::NotUtf8 => "seal.open.not_utf8",
            SealError::Internal(_) => "seal.internal",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tenant secret and derived keys
// ---------------------------------------------------------------------------------------------

/// The tenant's 32-byte root of confidentiality: every seal and blind-index key derives from it.
///
/// Only the tenant (CLI, gateway) holds it; the server never does. Zeroized on drop, never
/// printed, deliberately not `Clone` so copies are explicit.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TenantSecret([u8; SECRET_BYTES]);

impl TenantSecret {
    /// A fresh secret from the caller's cryptographic RNG.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> TenantSecret {
        let mut bytes = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut bytes);
        let secret = TenantSecret(bytes);
        bytes.zeroize();
        secret
    }

    /// The secret with exactly these bytes (test vectors, restoring a backup).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> TenantSecret {
        TenantSecret(bytes)
    }

    /// `zksecret1.<base64url-nopad(secret)>`: the form the CLI stores. Zeroized when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(
            SECRET_TEXT_PREFIX.len() + base64_len(SECRET_BYTES),
        ));
        out.push_str(SECRET_TEXT_PREFIX);
        URL_SAFE_NO_PAD.encode_string(self.0, &mut out);
        out
    }

    /// Parses the [`TenantSecret::to_text`] form, strictly (no whitespace, no padding, canonical).
    pub fn from_text(text: &str) -> Result<TenantSecret, SealError> {
        let body = text
            .strip_prefix(SECRET_TEXT_PREFIX)
            .ok_or(SealError::SecretText("missing 'zksecret1.' prefix"))?;
        if body.len() != base64_len(SECRET_BYTES) {
            return Err(SealError::SecretText("wrong length"));
        }
        // Decode into a zeroizing buffer so a half-decoded secret is wiped on every error path.
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        let written = URL_SAFE_NO_PAD
            .decode_slice(body, bytes.as_mut())
            .map_err(|_| SealError::SecretText("not canonical unpadded base64url"))?;
        if written != SECRET_BYTES {
            return Err(SealError::SecretText("wrong length"));
        }
        Ok(TenantSecret(*bytes))
    }

    /// The seal key of `tenant`.
    pub fn seal_key(&self, tenant: &str) -> Result<SealKey, SealError> {
        check_context_field("tenant", tenant)?;
        let info = Value::Array(vec![Value::text(SEAL_KEY_LABEL), Value::text(tenant)]).to_bytes();
        Ok(SealKey {
            tenant: tenant.to_owned(),
            key: self.derive(&info)?,
        })
    }

    /// The blind-index key of one attribute of one resource type of `tenant`.
    ///
    /// Each attribute gets its own key, so equal values in different attributes (or resource
    /// types, or tenants) give unrelated indexes.
    pub fn index_key(
        &self,
        tenant: &str,
        resource_type: &str,
        attribute_path: &str,
    ) -> Result<IndexKey, SealError> {
        check_context_field("tenant", tenant)?;
        check_context_field("resource_type", resource_type)?;
        let path = normalize_attribute_path(attribute_path)?;
        let info = Value::Array(vec![
            Value::text(INDEX_KEY_LABEL),
            Value::text(tenant),
            Value::text(resource_type),
            Value::text(path.as_str()),
        ])
        .to_bytes();
        Ok(IndexKey {
            tenant: tenant.to_owned(),
            resource_type: resource_type.to_owned(),
            attribute_path: path,
            key: self.derive(&info)?,
        })
    }

    /// HKDF-SHA256(salt = [`HKDF_SALT`], ikm = secret, info, L = 32).
    fn derive(&self, info: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealError> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), &self.0);
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF's 255·32 ceiling; the error path exists only to avoid a panic.
        hk.expand(info, okm.as_mut())
            .map_err(|_| SealError::Internal("HKDF output length"))?;
        Ok(okm)
    }
}

impl fmt::Debug for TenantSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantSecret(redacted)")
    }
}

/// A tenant's XChaCha20-Poly1305 key, remembering the tenant it belongs to.
#[derive(Clone)]
pub struct SealKey {
    tenant: String,
    key: Zeroizing<[u8; 32]>,
}

impl SealKey {
    /// The tenant this key was derived for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("tenant", &self.tenant)
            .field("key", &"redacted")
            .finish()
    }
}

/// A blind-index key for one (tenant, resource type, attribute path).
#[derive(Clone)]
pub struct IndexKey {
    tenant: String,
    resource_type: String,
    attribute_path: String,
    key: Zeroizing<[u8; 32]>,
}

impl IndexKey {
    /// The tenant this key was derived for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The resource type this key was derived for.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The normalised attribute path this key was derived for.
    pub fn attribute_path(&self) -> &str {
        &self.attribute_path
    }

    /// The blind index of `value`: `zkx1.` + base64url(HMAC-SHA256(key, normalised value)[..16]).
    pub fn index(&self, case_exact: bool, value: &str) -> Result<String, SealError> {
        if value.len() > MAX_PLAINTEXT_BYTES {
            return Err(SealError::PlaintextTooLarge {
                len: value.len(),
                max: MAX_PLAINTEXT_BYTES,
            });
        }
        let normalised = Zeroizing::new(normalize_index_value(value, case_exact));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .map_err(|_| SealError::Internal("HMAC key length"))?;
        mac.update(normalised.as_bytes());
        let tag = mac.finalize().into_bytes();
        let truncated = tag
            .get(..INDEX_BYTES)
            .ok_or(SealError::Internal("HMAC output length"))?;
        let mut out = String::with_capacity(INDEX_PREFIX.len() + INDEX_CHARS);
        out.push_str(INDEX_PREFIX);
        URL_SAFE_NO_PAD.encode_string(truncated, &mut out);
        Ok(out)
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexKey")
            .field("tenant", &self.tenant)
            .field("resource_type", &self.resource_type)
            .field("attribute_path", &self.attribute_path)
            .field("key", &"redacted")
            .finish()
    }
}

/// Something that can supply the seal key of a tenant: a [`TenantSecret`] (derives it) or a
/// [`SealKey`] (only for its own tenant).
pub trait SealKeySource {
    /// The seal key for `tenant`, or an error if this source cannot serve that tenant.
    fn seal_key_for(&self, tenant: &str) -> Result<Cow<'_, SealKey>, SealError>;
}

impl SealKeySource for TenantSecret {
    fn seal_key_for(&self, tenant: &str) -> Result<Cow<'_, SealKey>, SealError> {
        self.seal_key(tenant).map(Cow::Owned)
    }
}

impl SealKeySource for SealKey {
    fn seal_key_for(&self, tenant: &str) -> Result<Cow<'_, SealKey>, SealError> {
        if self.tenant != tenant {
            return Err(SealError::KeyTenantMismatch {
                key_tenant: self.tenant.clone(),
                context_tenant: tenant.to_owned(),
            });
        }
        Ok(Cow::Borrowed(self))
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Normalises a SCIM attribute path to the form seals, index keys and profiles use.
///
/// ASCII only; lowercased; a core-schema URN prefix
/// (`urn:ietf:params:scim:schemas:core:2.0:<Schema>:`) is removed, an extension URN is kept;
/// the attribute part is `name` or `name.subname`, each name being `$ref` or a letter followed by
/// letters, digits, `-` and `_`. Value filters (`emails[type eq "work"]`) are refused: a seal binds
/// to the attribute, not to one element of a multi-valued attribute. See `spec/seal.md` §3.
pub fn normalize_attribute_path(path: &str) -> Result<String, PathError> {
    let fail = |reason: &'static str| PathError {
        path: path.chars().take(80).collect(),
        reason,
    };
    if path.is_empty() {
        return Err(fail("empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(fail("longer than 512 bytes"));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'_' | b'$'))
    {
        return Err(fail(
            "only ASCII letters, digits and ':' '.' '-' '_' '$' may appear (no filters or spaces)",
        ));
    }
    let lower = path.to_ascii_lowercase();
    let (urn, attribute) = if lower.starts_with("urn:") {
        match lower.rsplit_once(':') {
            Some((urn, attribute)) => (Some(urn), attribute),
            None => return Err(fail("URN without attribute")),
        }
    } else {
        if lower.contains(':') {
            return Err(fail("':' outside a 'urn:' prefix"));
        }
        (None, lower.as_str())
    };
    let segments: Vec<&str> = attribute.split('.').collect();
    if segments.len() > 2 {
        return Err(fail("more than one sub-attribute level"));
    }
    if !segments.iter().all(|s| is_attribute_name(s)) {
        return Err(fail(
            "attribute names must be '$ref' or a letter followed by letters, digits, '-' or '_'",
        ));
    }
    match urn {
        None => Ok(attribute.to_owned()),
        Some(urn) => {
            if urn.split(':').any(|segment| {
                segment.is_empty()
                    || !segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            }) {
                return Err(fail("URN segments must be non-empty and contain no '$'"));
            }
            let core_schema = format!("{urn}:")
                .strip_prefix(CORE_SCHEMA_URN_PREFIX)
                .is_some_and(|rest| rest.matches(':').count() == 1);
            if core_schema {
                Ok(attribute.to_owned())
            } else {
                Ok(format!("{urn}:{attribute}"))
            }
        }
    }
}

fn is_attribute_name(segment: &str) -> bool {
    if segment == "$ref" {
        return true;
    }
    let mut bytes = segment.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() => {
            bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

/// The string a blind index hashes: Unicode NFC, then, unless the attribute is `caseExact`,
/// Unicode lowercase (Rust `str::to_lowercase`: full default case mapping, final-sigma rule).
pub fn normalize_index_value(value: &str, case_exact: bool) -> String {
    let nfc: String = value.nfc().collect();
    if case_exact {
        nfc
    } else {
        let lower = nfc.to_lowercase();
        // The NFC copy holds the (possibly secret) value; wipe it before freeing.
        drop(Zeroizing::new(nfc));
        lower
    }
}

// ---------------------------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------------------------

/// What a sealed value is bound to. Changing any field makes [`open`] fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealContext<'a> {
    /// Tenant id, exactly as the server knows it.
    pub tenant: &'a str,
    /// SCIM resource type name, exactly (case-sensitive), e.g. `User`, `Group`.
    pub resource_type: &'a str,
    /// Resource id (the client-assigned UUID), exactly.
    pub resource_id: &'a str,
    /// SCIM attribute path; normalised with [`normalize_attribute_path`] before use.
    pub attribute_path: &'a str,
}

impl SealContext<'_> {
    /// The AEAD associated data: deterministic CBOR
    /// `["zkscim seal v1", tenant, resource type, resource id, normalised path]`.
    pub fn associated_data(&self) -> Result<Vec<u8>, SealError> {
        Ok(self.checked()?.1)
    }

    /// Validates the fields, returning the normalised path and the associated data.
    fn checked(&self) -> Result<(String, Vec<u8>), SealError> {
        check_context_field("tenant", self.tenant)?;
        check_context_field("resource_type", self.resource_type)?;
        check_context_field("resource_id", self.resource_id)?;
        let path = normalize_attribute_path(self.attribute_path)?;
        let ad = Value::Array(vec![
            Value::text(SEAL_AD_LABEL),
            Value::text(self.tenant),
            Value::text(self.resource_type),
            Value::text(self.resource_id),
            Value::text(path.as_str()),
        ])
        .to_bytes();
        Ok((path, ad))
    }
}

fn check_context_field(field: &'static str, value: &str) -> Result<(), SealError> {
    if value.is_empty() {
        return Err(SealError::EmptyContextField { field });
    }
    if value.len() > MAX_CONTEXT_FIELD_BYTES {
        return Err(SealError::ContextFieldTooLong {
            field,
            len: value.len(),
            max: MAX_CONTEXT_FIELD_BYTES,
        });
    }
    Ok(())
}

/// Seals the string value `plaintext` for `ctx` with a fresh random nonce from `rng`.
///
/// Only string values are sealed: the plaintext is the UTF-8 of the JSON string's value (no
/// quotes, no escapes). Returns `zk1.` + base64url-nopad(nonce ‖ ciphertext ‖ tag).
pub fn seal(
    key: &impl SealKeySource,
    ctx: &SealContext<'_>,
    plaintext: &str,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut nonce);
    seal_with_nonce(key, ctx, plaintext, &nonce)
}

/// Seals with a caller-chosen nonce. **For test vectors only**: production code calls [`seal`],
/// which draws a fresh random nonce; reusing a nonce under one key breaks confidentiality.
pub fn seal_with_nonce(
    key: &impl SealKeySource,
    ctx: &SealContext<'_>,
    plaintext: &str,
    nonce: &[u8; NONCE_BYTES],
) -> Result<String, SealError> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(SealError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_BYTES,
        });
    }
    let (_, ad) = ctx.checked()?;
    let key = key.seal_key_for(ctx.tenant)?;
    let raw_key: &[u8; 32] = &key.key;
    let cipher = XChaCha20Poly1305::new(raw_key.into());
    let sealed = cipher
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &ad,
            },
        )
        .map_err(|_| SealError::Internal("XChaCha20-Poly1305 encryption"))?;
    let mut payload = Vec::with_capacity(NONCE_BYTES + sealed.len());
    payload.extend_from_slice(nonce);
    payload.extend_from_slice(&sealed);
    let mut out = String::with_capacity(SEALED_PREFIX.len() + base64_len(payload.len()));
    out.push_str(SEALED_PREFIX);
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    Ok(out)
}

/// Opens a sealed value for `ctx`. Fails with [`SealError::AuthenticationFailed`] if the key is
/// not the tenant's, the context differs in any field from the one used to seal, or any byte
/// was altered; the plaintext comes back in a zeroizing buffer.
pub fn open(
    key: &impl SealKeySource,
    ctx: &SealContext<'_>,
    sealed: &str,
) -> Result<Zeroizing<String>, SealError> {
    let payload = decode_token(sealed, TokenKind::Sealed)?;
    let (path, ad) = ctx.checked()?;
    let key = key.seal_key_for(ctx.tenant)?;
    let (nonce, body) =
        payload
            .split_first_chunk::<NONCE_BYTES>()
            .ok_or(SealError::SealedShape(TokenShapeError::TooShort {
                len: 0,
                min: MIN_SEALED_CHARS,
            }))?;
    let raw_key: &[u8; 32] = &key.key;
    let cipher = XChaCha20Poly1305::new(raw_key.into());
    let plaintext = cipher
        .decrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: body,
                aad: &ad,
            },
        )
        .map_err(|_| SealError::AuthenticationFailed {
            tenant: ctx.tenant.to_owned(),
            resource_type: ctx.resource_type.to_owned(),
            resource_id: ctx.resource_id.to_owned(),
            attribute_path: path,
        })?;
    let plaintext = Zeroizing::new(plaintext);
    let text = std::str::from_utf8(&plaintext).map_err(|_| SealError::NotUtf8)?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Computes the blind index of `value` for one attribute of one resource type of `tenant`.
///
/// Convenience for [`TenantSecret::index_key`] + [`IndexKey::index`]; derive the [`IndexKey`]
/// once when indexing many values of the same attribute.
pub fn blind_index(
    secret: &TenantSecret,
    tenant: &str,
    resource_type: &str,
    attribute_path: &str,
    case_exact: bool,
    value: &str,
) -> Result<String, SealError> {
    secret
        .index_key(tenant, resource_type, attribute_path)?
        .index(case_exact, value)
}

// ---------------------------------------------------------------------------------------------
// Key-less shape checks (what the server runs)
// ---------------------------------------------------------------------------------------------

/// What kind of string a SCIM string value is, judged by its prefix alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueClass {
    /// Neither prefix: a value the server can read.
    Clear,
    /// Starts with `zk1.`.
    Sealed,
    /// Starts with `zkx1.`.
    Index,
}

impl fmt::Display for ValueClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueClass::Clear => "clear value",
            ValueClass::Sealed => "sealed value",
            ValueClass::Index => "blind index",
        })
    }
}

/// Classifies a string by prefix only (`zk1.` → sealed, `zkx1.` → index, else clear); whether
/// the rest is well formed is for [`check_sealed_shape`] / [`check_index_shape`].
pub fn classify(value: &str) -> ValueClass {
    if value.starts_with(SEALED_PREFIX) {
        ValueClass::Sealed
    } else if value.starts_with(INDEX_PREFIX) {
        ValueClass::Index
    } else {
        ValueClass::Clear
    }
}

/// The second half of [`ProtectionProfile::check_value`], for a caller that already has the
/// normalised `path` and its `protection` under the profile (the rules memoise them per path).
pub fn check_value_against(
    protection: Protection,
    resource_type: &str,
    path: &str,
    value: &str,
) -> Result<(), ProfileViolation> {
    let path = || path.to_owned();
    match (protection, classify(value)) {
        (Protection::Clear, ValueClass::Clear) => Ok(()),
        (Protection::Clear, found) => Err(ProfileViolation::ProtectedValueInClearAttribute {
            resource_type: resource_type.to_owned(),
            path: path(),
            found,
        }),
        (required, ValueClass::Clear) => Err(ProfileViolation::ClearValueRefused {
            resource_type: resource_type.to_owned(),
            path: path(),
            required,
        }),
        (_, ValueClass::Index) => Err(ProfileViolation::IndexInValuePosition {
            resource_type: resource_type.to_owned(),
            path: path(),
        }),
        (_, ValueClass::Sealed) => {
            check_sealed_shape(value).map_err(|source| ProfileViolation::MalformedSealedValue {
                resource_type: resource_type.to_owned(),
                path: path(),
                source: Box::new(source),
            })
        }
    }
}

/// Checks, without any key, that `value` is a well-formed sealed value: prefix, unpadded
/// canonical base64url, decoded length between 40 bytes and 40 bytes + 64 KiB.
pub fn check_sealed_shape(value: &str) -> Result<(), SealError> {
    token_body(value, TokenKind::Sealed).map(|_| ())
}

/// Checks, without any key, that `value` is a well-formed blind index: prefix and exactly 16
/// bytes of unpadded canonical base64url.
pub fn check_index_shape(value: &str) -> Result<(), SealError> {
    token_body(value, TokenKind::Index).map(|_| ())
}

/// Runs the shape checks in the normative order (spec/seal.md §6) and returns the base64 body.
fn token_body(value: &str, kind: TokenKind) -> Result<&str, SealError> {
    let (prefix, min, max, wrap): (_, _, _, fn(TokenShapeError) -> SealError) = match kind {
        TokenKind::Sealed => (
            SEALED_PREFIX,
            MIN_SEALED_CHARS,
            MAX_SEALED_CHARS,
            SealError::SealedShape,
        ),
        TokenKind::Index => (
            INDEX_PREFIX,
            INDEX_CHARS,
            INDEX_CHARS,
            SealError::IndexShape,
        ),
    };
    let body = value
        .strip_prefix(prefix)
        .ok_or(wrap(TokenShapeError::WrongPrefix { prefix }))?;
    // Length first, so an oversize string is refused before it is scanned.
    if body.len() > max {
        return Err(wrap(TokenShapeError::TooLong {
            len: body.len(),
            max,
        }));
    }
    // The whole body is checked first without stopping early (the loop vectorises; the leak
    // guard runs this on every sealed leaf of every request and resulting resource), and only
    // a body that fails is scanned again for the offending position.
    let all_in_alphabet = body.bytes().fold(true, |all, b| all & is_base64url_char(b));
    if let Some(position) = (!all_in_alphabet)
        .then(|| body.bytes().position(|b| !is_base64url_char(b)))
        .flatten()
    {
        let offset = prefix.len() + position;
        let padding = body.as_bytes().get(position) == Some(&b'=');
        return Err(wrap(if padding {
            TokenShapeError::Padding { offset }
        } else {
            TokenShapeError::InvalidCharacter { offset }
        }));
    }
    if body.len() < min {
        return Err(wrap(TokenShapeError::TooShort {
            len: body.len(),
            min,
        }));
    }
    if body.len() % 4 == 1 {
        return Err(wrap(TokenShapeError::InvalidLength { len: body.len() }));
    }
    // With the alphabet and length settled, the only remaining way to fail is non-zero unused
    // bits in the last character: that would be a second spelling of the same bytes.
    let unused_bits_clear = match (body.len() % 4, body.bytes().last()) {
        (2, Some(last)) => base64url_value(last) & 0x0f == 0,
        (3, Some(last)) => base64url_value(last) & 0x03 == 0,
        _ => true,
    };
    if !unused_bits_clear {
        return Err(wrap(TokenShapeError::NonCanonical));
    }
    Ok(body)
}

/// Whether `b` is in the unpadded base64url alphabet, without branches (`b | 0x20` folds the
/// capitals onto the lower-case range and maps nothing else into it).
fn is_base64url_char(b: u8) -> bool {
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'-') | (b == b'_')
}

fn base64url_value(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        _ => 63,
    }
}

fn decode_token(value: &str, kind: TokenKind) -> Result<Vec<u8>, SealError> {
    let body = token_body(value, kind)?;
    URL_SAFE_NO_PAD.decode(body).map_err(|_| match kind {
        TokenKind::Sealed => SealError::SealedShape(TokenShapeError::NonCanonical),
        TokenKind::Index => SealError::IndexShape(TokenShapeError::NonCanonical),
    })
}

// ---------------------------------------------------------------------------------------------
// Protection profile
// ---------------------------------------------------------------------------------------------

/// How the values of one attribute must arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    /// In the clear: the server reads them (ids, `active`, membership ids, metadata).
    Clear,
    /// Sealed (`zk1.`).
    Sealed,
    /// Sealed, with a blind index (`zkx1.`) beside the seal for `eq` search and uniqueness.
    SealedIndexed,
}

impl Protection {
    /// The CBOR code: 0 clear, 1 sealed, 2 sealed + indexed.
    pub fn code(self) -> u64 {
        match self {
            Protection::Clear => 0,
            Protection::Sealed => 1,
            Protection::SealedIndexed => 2,
        }
    }

    /// The protection with CBOR code `code`.
    pub fn from_code(code: u64) -> Option<Protection> {
        match code {
            0 => Some(Protection::Clear),
            1 => Some(Protection::Sealed),
            2 => Some(Protection::SealedIndexed),
            _ => None,
        }
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protection::Clear => "clear",
            Protection::Sealed => "sealed",
            Protection::SealedIndexed => "sealed and indexed",
        })
    }
}

/// One rule of a [`ProtectionProfile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRule {
    /// The resource type it applies to (exact), or `None` for every resource type.
    pub resource_type: Option<String>,
    /// The normalised attribute path it covers, with its sub-attributes (`.`) and, for a URN,
    /// the attributes of that schema (`:`).
    pub path: String,
    /// What it requires.
    pub protection: Protection,
}

impl ProfileRule {
    fn sort_key(&self) -> (Option<&str>, &str) {
        (self.resource_type.as_deref(), self.path.as_str())
    }

    fn covers(&self, resource_type: &str, path: &str) -> bool {
        if self
            .resource_type
            .as_deref()
            .is_some_and(|rt| rt != resource_type)
        {
            return false;
        }
        match path.strip_prefix(self.path.as_str()) {
            Some("") => true,
            Some(rest) => rest.starts_with('.') || rest.starts_with(':'),
            None => false,
        }
    }
}

/// Why a protection profile could not be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The bytes are not deterministic CBOR within limits.
    #[error("protection profile is not valid CBOR: {0}")]
    Codec(#[from] CodecError),
    /// A field is missing, unknown or of the wrong type.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A rule's path does not normalise, or is not written in normalised form.
    #[error("protection profile rule {index}: {reason}")]
    RulePath {
        /// Rule position.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A rule names an empty resource type.
    #[error("protection profile rule {index} names an empty resource type")]
    EmptyResourceType {
        /// Rule position.
        index: usize,
    },
    /// A protection code other than 0, 1, 2.
    #[error("protection profile: unknown protection code {code}")]
    UnknownProtection {
        /// The code found.
        code: u64,
    },
    /// Rules not in strictly ascending (resource type, path) order, or a repeated rule.
    #[error("protection profile rule {index} is out of order or repeats the previous rule")]
    RulesNotCanonical {
        /// Rule position.
        index: usize,
    },
    /// More than [`MAX_PROFILE_RULES`] rules.
    #[error("protection profile has {count} rules, more than the {max} allowed")]
    TooManyRules {
        /// How many.
        count: usize,
        /// Maximum.
        max: usize,
    },
}

impl ProfileError {
    /// Stable machine-readable code (codec and shape errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::Codec(e) => e.code(),
            ProfileError::Shape(e) => e.code(),
            ProfileError::RulePath { .. } => "profile.rule_path",
            ProfileError::EmptyResourceType { .. } => "profile.empty_resource_type",
            ProfileError::UnknownProtection { .. } => "profile.unknown_protection",
            ProfileError::RulesNotCanonical { .. } => "profile.rules_not_canonical",
            ProfileError::TooManyRules { .. } => "profile.too_many_rules",
        }
    }
}

/// Why a value was refused by [`ProtectionProfile::check_value`] or
/// [`ProtectionProfile::check_index`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileViolation {
    /// The attribute path does not normalise.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// A readable value where the profile requires a sealed one: the leak guard.
    #[error(
        "attribute {path} of {resource_type} must be {required}: a clear value was refused so \
         that it is never stored readable; seal it with the tenant's key"
    )]
    ClearValueRefused {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// What the profile requires.
        required: Protection,
    },
    /// A sealed value or index where the profile requires a clear value.
    #[error(
        "attribute {path} of {resource_type} is clear in the protection profile, but a {found} \
         was sent; the server needs to read it"
    )]
    ProtectedValueInClearAttribute {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// What was found.
        found: ValueClass,
    },
    /// A blind index where the sealed value belongs.
    #[error(
        "attribute {path} of {resource_type} needs a sealed value (zk1.), found a blind index"
    )]
    IndexInValuePosition {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
    },
    /// A `zk1.` value that is not well formed.
    #[error("attribute {path} of {resource_type}: {source}")]
    MalformedSealedValue {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// The shape problem.
        source: Box<SealError>,
    },
    /// A blind index for an attribute the profile does not index.
    #[error(
        "attribute {path} of {resource_type} is {protection} in the protection profile and \
         takes no blind index"
    )]
    IndexNotAllowed {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// What the profile says.
        protection: Protection,
    },
    /// Something other than a blind index where one is required.
    #[error("attribute {path} of {resource_type} needs a blind index (zkx1.), found a {found}")]
    NotAnIndex {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// What was found.
        found: ValueClass,
    },
    /// A `zkx1.` value that is not well formed.
    #[error("attribute {path} of {resource_type}: {source}")]
    MalformedIndex {
        /// Resource type.
        resource_type: String,
        /// Normalised attribute path.
        path: String,
        /// The shape problem.
        source: Box<SealError>,
    },
}

impl ProfileViolation {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProfileViolation::InvalidPath(_) => "profile.invalid_path",
            ProfileViolation::ClearValueRefused { .. } => "profile.clear_value_refused",
            ProfileViolation::ProtectedValueInClearAttribute { .. } => {
                "profile.protected_value_in_clear_attribute"
            }
            ProfileViolation::IndexInValuePosition { .. } => "profile.index_in_value_position",
            ProfileViolation::MalformedSealedValue { .. } => "profile.malformed_sealed_value",
            ProfileViolation::IndexNotAllowed { .. } => "profile.index_not_allowed",
            ProfileViolation::NotAnIndex { .. } => "profile.not_an_index",
            ProfileViolation::MalformedIndex { .. } => "profile.malformed_index",
        }
    }
}

/// Per tenant: which attributes' string values are clear, sealed, or sealed and indexed.
///
/// Lookup normalises the path, then the most specific covering rule wins: the longest rule path,
/// and at equal paths a rule naming the resource type beats one for every resource type. A path
/// no rule covers gets [`ProtectionProfile::default_protection`] ("every other string leaf
/// sealed" in the default profile). Rules are kept sorted, so one profile has one encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionProfile {
    default: Protection,
    /// Shared between clones, so comparing a profile with a clone of itself is one pointer
    /// comparison (`Arc`'s equality for `Eq` contents): the rules' per-thread memos compare the
    /// profile in force on every statement. A change copies the rules first if they are shared.
    rules: std::sync::Arc<Vec<ProfileRule>>,
}

/// CBOR keys of a protection profile map.
const PROFILE_KEY_DEFAULT: i64 = 1;
const PROFILE_KEY_RULES: i64 = 2;
/// CBOR keys of a rule map.
const RULE_KEY_RESOURCE_TYPE: i64 = 1;
const RULE_KEY_PATH: i64 = 2;
const RULE_KEY_PROTECTION: i64 = 3;
/// Decoding limits: profiles are small and shallow (map → array → map).
const PROFILE_LIMITS: Limits = Limits {
    max_bytes: 256 * 1024,
    max_depth: 4,
};

impl ProtectionProfile {
    /// An empty profile: every string leaf gets `default`.
    pub fn new(default: Protection) -> ProtectionProfile {
        ProtectionProfile {
            default,
            rules: std::sync::Arc::new(Vec::new()),
        }
    }

    /// DESIGN §3: `id`, `schemas`, `meta` (all lifecycle metadata), `active`, a non-human
    /// identity's expiry, and the ids, types and references of `members` and `groups` clear; `userName`, `externalId`, `displayName`
    /// sealed + indexed; every other string leaf sealed.
    pub fn default_profile() -> ProtectionProfile {
        let rules: &[(&str, Protection)] = &[
            ("id", Protection::Clear),
            ("schemas", Protection::Clear),
            ("meta", Protection::Clear),
            ("active", Protection::Clear),
            ("members.value", Protection::Clear),
            ("members.$ref", Protection::Clear),
            ("members.type", Protection::Clear),
            ("groups.value", Protection::Clear),
            ("groups.$ref", Protection::Clear),
            ("groups.type", Protection::Clear),
            ("username", Protection::SealedIndexed),
            ("externalid", Protection::SealedIndexed),
            ("displayname", Protection::SealedIndexed),
            (
                "urn:zkscim:params:scim:schemas:extension:nhi:2.0:lifecycle:expiresat",
                Protection::Clear,
            ),
        ];
        let mut profile = ProtectionProfile::new(Protection::Sealed);
        for (path, protection) in rules {
            profile.insert_normalised(None, (*path).to_owned(), *protection);
        }
        profile
    }

    /// Adds or replaces the rule for (`resource_type`, `path`); `None` means every resource type.
    pub fn set_rule(
        &mut self,
        resource_type: Option<&str>,
        path: &str,
        protection: Protection,
    ) -> Result<(), ProfileError> {
        if resource_type == Some("") {
            return Err(ProfileError::EmptyResourceType {
                index: self.rules.len(),
            });
        }
        let path = normalize_attribute_path(path).map_err(|e| ProfileError::RulePath {
            index: self.rules.len(),
            reason: e.to_string(),
        })?;
        if self.rules.len() >= MAX_PROFILE_RULES {
            return Err(ProfileError::TooManyRules {
                count: self.rules.len() + 1,
                max: MAX_PROFILE_RULES,
            });
        }
        self.insert_normalised(resource_type.map(str::to_owned), path, protection);
        Ok(())
    }

    fn insert_normalised(
        &mut self,
        resource_type: Option<String>,
        path: String,
        protection: Protection,
    ) {
        let rule = ProfileRule {
            resource_type,
            path,
            protection,
        };
        let rules = std::sync::Arc::make_mut(&mut self.rules);
        match rules.binary_search_by(|r| r.sort_key().cmp(&rule.sort_key())) {
            Ok(i) => {
                if let Some(slot) = rules.get_mut(i) {
                    *slot = rule;
                }
            }
            Err(i) => rules.insert(i, rule),
        }
    }

    /// What string leaves no rule covers get.
    pub fn default_protection(&self) -> Protection {
        self.default
    }

    /// The rules, sorted by (resource type with "every" first, path).
    pub fn rules(&self) -> &[ProfileRule] {
        &self.rules
    }

    /// The protection of `path` (any SCIM spelling) in `resource_type`.
    pub fn protection(&self, resource_type: &str, path: &str) -> Result<Protection, PathError> {
        let path = normalize_attribute_path(path)?;
        Ok(self.protection_normalised(resource_type, &path))
    }

    fn protection_normalised(&self, resource_type: &str, path: &str) -> Protection {
        self.rules
            .iter()
            .filter(|rule| rule.covers(resource_type, path))
            .max_by_key(|rule| (rule.path.len(), rule.resource_type.is_some()))
            .map_or(self.default, |rule| rule.protection)
    }

    /// The server's leak guard for one string value at `path`: a clear value where the profile
    /// requires a seal is refused, and so is a sealed value or index where it requires clear.
    /// Sealed values must also pass [`check_sealed_shape`].
    pub fn check_value(
        &self,
        resource_type: &str,
        path: &str,
        value: &str,
    ) -> Result<(), ProfileViolation> {
        let (path, protection) = self.leaf_protection(resource_type, path)?;
        check_value_against(protection, resource_type, &path, value)
    }

    /// The part of [`ProtectionProfile::check_value`] that depends on the path alone: the
    /// normalised path and its protection (the rules memoise it per path).
    pub fn leaf_protection(
        &self,
        resource_type: &str,
        path: &str,
    ) -> Result<(String, Protection), PathError> {
        let path = normalize_attribute_path(path)?;
        let protection = self.protection_normalised(resource_type, &path);
        Ok((path, protection))
    }

    /// Checks a blind index sent beside the sealed value of `path`: the attribute must be
    /// sealed + indexed and the index well formed.
    pub fn check_index(
        &self,
        resource_type: &str,
        path: &str,
        index: &str,
    ) -> Result<(), ProfileViolation> {
        let path = normalize_attribute_path(path)?;
        let protection = self.protection_normalised(resource_type, &path);
        if protection != Protection::SealedIndexed {
            return Err(ProfileViolation::IndexNotAllowed {
                resource_type: resource_type.to_owned(),
                path,
                protection,
            });
        }
        match classify(index) {
            ValueClass::Index => {
                check_index_shape(index).map_err(|source| ProfileViolation::MalformedIndex {
                    resource_type: resource_type.to_owned(),
                    path,
                    source: Box::new(source),
                })
            }
            found => Err(ProfileViolation::NotAnIndex {
                resource_type: resource_type.to_owned(),
                path,
                found,
            }),
        }
    }

    /// The CBOR form: `{1: default, 2: [{1?: resource type, 2: path, 3: protection}, …]}`.
    pub fn to_cbor(&self) -> Value {
        self.cbor_fields().build()
    }

    /// The fields of [`ProtectionProfile::to_cbor`], for documents that extend the profile's
    /// map with keys of their own (the tenant policy).
    pub(crate) fn cbor_fields(&self) -> MapBuilder {
        let rules = self
            .rules
            .iter()
            .map(|rule| {
                MapBuilder::new()
                    .optional(
                        RULE_KEY_RESOURCE_TYPE,
                        rule.resource_type.as_deref().map(Value::text),
                    )
                    .field(RULE_KEY_PATH, Value::text(rule.path.as_str()))
                    .field(RULE_KEY_PROTECTION, Value::Unsigned(rule.protection.code()))
                    .build()
            })
            .collect();
        MapBuilder::new()
            .field(PROFILE_KEY_DEFAULT, Value::Unsigned(self.default.code()))
            .field(PROFILE_KEY_RULES, Value::Array(rules))
    }

    /// The deterministic CBOR bytes of [`ProtectionProfile::to_cbor`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_cbor().to_bytes()
    }

    /// Decodes and validates bytes produced by [`ProtectionProfile::to_bytes`], strictly: unknown
    /// keys, non-normalised paths and unsorted or repeated rules are refused, so one profile has
    /// exactly one encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<ProtectionProfile, ProfileError> {
        let value = codec::decode_with_limits(bytes, PROFILE_LIMITS)?;
        ProtectionProfile::from_cbor(&value)
    }

    /// Validates a decoded CBOR value as a profile (see [`ProtectionProfile::from_bytes`]).
    pub fn from_cbor(value: &Value) -> Result<ProtectionProfile, ProfileError> {
        let mut reader = FieldReader::new("protection profile", value)?;
        let default = protection_field(&mut reader, PROFILE_KEY_DEFAULT, "default")?;
        let items = reader.array(PROFILE_KEY_RULES, "rules")?;
        reader.finish()?;
        if items.len() > MAX_PROFILE_RULES {
            return Err(ProfileError::TooManyRules {
                count: items.len(),
                max: MAX_PROFILE_RULES,
            });
        }
        let mut rules: Vec<ProfileRule> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let mut r = FieldReader::new("protection profile rule", item)?;
            let resource_type = r.optional_text(RULE_KEY_RESOURCE_TYPE, "resource_type")?;
            let path = r.text(RULE_KEY_PATH, "path")?;
            let protection = protection_field(&mut r, RULE_KEY_PROTECTION, "protection")?;
            r.finish()?;
            if resource_type == Some("") {
                return Err(ProfileError::EmptyResourceType { index });
            }
            let normalised =
                normalize_attribute_path(path).map_err(|e| ProfileError::RulePath {
                    index,
                    reason: e.to_string(),
                })?;
            if normalised != path {
                return Err(ProfileError::RulePath {
                    index,
                    reason: format!("path {path:?} is not in normalised form {normalised:?}"),
                });
            }
            let rule = ProfileRule {
                resource_type: resource_type.map(str::to_owned),
                path: normalised,
                protection,
            };
            if rules
                .last()
                .is_some_and(|prev| prev.sort_key() >= rule.sort_key())
            {
                return Err(ProfileError::RulesNotCanonical { index });
            }
            rules.push(rule);
        }
        Ok(ProtectionProfile {
            default,
            rules: std::sync::Arc::new(rules),
        })
    }
}

impl Default for ProtectionProfile {
    fn default() -> Self {
        ProtectionProfile::default_profile()
    }
}

fn protection_field(
    reader: &mut FieldReader<'_>,
    key: i64,
    name: &'static str,
) -> Result<Protection, ProfileError> {
    let code = reader.uint(key, name)?;
    Protection::from_code(code).ok_or(ProfileError::UnknownProtection { code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_clone_of_a_profile_no_longer_equals_it_and_leaves_it_unchanged() {
        let original = ProtectionProfile::new(Protection::Sealed);
        let mut changed = original.clone();
        assert_eq!(changed, original);
        changed
            .set_rule(None, "title", Protection::Clear)
            .expect("a valid rule");
        assert_ne!(changed, original);
        assert!(
            original.rules().is_empty(),
            "the rules are copied before a change"
        );
        // Equal contents in separate allocations are still equal.
        let mut rebuilt = ProtectionProfile::new(Protection::Sealed);
        rebuilt
            .set_rule(None, "title", Protection::Clear)
            .expect("a valid rule");
        assert_eq!(rebuilt, changed);
    }

    #[test]
    fn branchless_alphabet_check_is_exactly_base64url() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(is_base64url_char(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn the_first_byte_outside_the_alphabet_is_named_wherever_it_is() {
        let valid = format!("{SEALED_PREFIX}{}", "A".repeat(MIN_SEALED_CHARS));
        for at in [0, 1, 31, 32, 33, MIN_SEALED_CHARS - 1] {
            for bad in [b'+', b'/', b'=', b' ', 0x80] {
                let mut bytes = valid.clone().into_bytes();
                bytes[SEALED_PREFIX.len() + at] = bad;
                // A second bad byte later must not be the one reported.
                let last = bytes.len() - 1;
                if last > SEALED_PREFIX.len() + at {
                    bytes[last] = b'+';
                }
                let value = String::from_utf8_lossy(&bytes).into_owned();
                let offset = SEALED_PREFIX.len() + at;
                let expected = if bad == b'=' {
                    TokenShapeError::Padding { offset }
                } else {
                    TokenShapeError::InvalidCharacter { offset }
                };
                assert_eq!(
                    check_sealed_shape(&value),
                    Err(SealError::SealedShape(expected)),
                    "byte {bad:#04x} at {at}"
                );
            }
        }
    }

    struct CountingRng(u8);
    impl rand_core::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for CountingRng {}

    fn ctx() -> SealContext<'static> {
        SealContext {
            tenant: "acme",
            resource_type: "User",
            resource_id: "2819c223-7f76-453a-919d-413861904646",
            attribute_path: "name.givenName",
        }
    }

    #[test]
    fn round_trip_and_context_binding() {
        let secret = TenantSecret::from_bytes([0x42; 32]);
        let mut rng = CountingRng(0);
        let sealed = seal(&secret, &ctx(), "Barbara", &mut rng).unwrap();
        assert!(sealed.starts_with("zk1."));
        check_sealed_shape(&sealed).unwrap();
        assert_eq!(open(&secret, &ctx(), &sealed).unwrap().as_str(), "Barbara");
        // The path is normalised, so another spelling of the same attribute opens.
        let respelled = SealContext {
            attribute_path: "urn:ietf:params:scim:schemas:core:2.0:User:NAME.GIVENNAME",
            ..ctx()
        };
        assert_eq!(
            open(&secret, &respelled, &sealed).unwrap().as_str(),
            "Barbara"
        );
        let moved = SealContext {
            attribute_path: "name.familyName",
            ..ctx()
        };
        let err = open(&secret, &moved, &sealed).unwrap_err();
        assert_eq!(err.code(), "seal.open.authentication_failed");
        assert!(err.to_string().contains("name.familyname"), "{err}");
        let key = secret.seal_key("acme").unwrap();
        assert_eq!(open(&key, &ctx(), &sealed).unwrap().as_str(), "Barbara");
        let other = SealContext {
            tenant: "globex",
            ..ctx()
        };
        assert_eq!(
            open(&key, &other, &sealed).unwrap_err().code(),
            "seal.key.tenant_mismatch"
        );
    }

    #[test]
    fn secrets_are_redacted_and_text_round_trips() {
        let secret = TenantSecret::generate(&mut CountingRng(7));
        assert_eq!(format!("{secret:?}"), "TenantSecret(redacted)");
        let key = secret.seal_key("acme").unwrap();
        assert!(format!("{key:?}").contains("redacted"));
        let ikey = secret.index_key("acme", "User", "userName").unwrap();
        assert!(format!("{ikey:?}").contains("redacted"));
        let text = secret.to_text();
        assert!(text.starts_with("zksecret1."));
        assert_eq!(text.len(), 10 + 43);
        let back = TenantSecret::from_text(&text).unwrap();
        assert_eq!(back.0, secret.0);
        for bad in [
            "",
            "zksecret1.",
            "zksecret2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zksecret1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
            "zksecret1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            " zksecret1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(
                TenantSecret::from_text(bad).unwrap_err().code(),
                "seal.secret.text"
            );
        }
    }

    #[test]
    fn path_normalisation() {
        let ok = [
            ("name.givenName", "name.givenname"),
            ("emails.value", "emails.value"),
            ("userName", "username"),
            ("members.$ref", "members.$ref"),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                "username",
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
                "displayname",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber",
            ),
            (
                "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value",
            ),
        ];
        for (input, expected) in ok {
            assert_eq!(
                normalize_attribute_path(input).unwrap(),
                expected,
                "{input}"
            );
        }
        for bad in [
            "",
            "emails[type eq \"work\"].value",
            "name givenName",
            "name.givenName.x",
            "9lives",
            "name.",
            ".name",
            "a:b",
            "urn:",
            "urn::x:name",
            "urn:x:",
            "nâme",
            "$refx",
        ] {
            assert!(normalize_attribute_path(bad).is_err(), "{bad}");
        }
        assert!(normalize_attribute_path(&"a".repeat(513)).is_err());
    }

    #[test]
    fn shape_checks() {
        let body = "A".repeat(54);
        check_sealed_shape(&format!("zk1.{body}")).unwrap();
        let cases = [
            ("", "seal.shape.wrong_prefix"),
            ("zkx1.AAAA", "seal.shape.wrong_prefix"),
            ("zk1.", "seal.shape.too_short"),
            ("zk1.AAAA", "seal.shape.too_short"),
            ("zk1.AAAA=", "seal.shape.padding"),
            ("zk1.AA+A", "seal.shape.invalid_character"),
            ("zk1.AA/A", "seal.shape.invalid_character"),
            ("zk1.AA A", "seal.shape.invalid_character"),
            ("zk1.AAé", "seal.shape.invalid_character"),
        ];
        for (input, code) in cases {
            assert_eq!(
                check_sealed_shape(input).unwrap_err().code(),
                code,
                "{input}"
            );
        }
        assert_eq!(
            check_sealed_shape(&format!("zk1.{}", "A".repeat(57)))
                .unwrap_err()
                .code(),
            "seal.shape.invalid_length"
        );
        assert_eq!(
            check_sealed_shape(&format!("zk1.{}B", "A".repeat(53)))
                .unwrap_err()
                .code(),
            "seal.shape.non_canonical"
        );
        assert_eq!(
            check_sealed_shape(&format!("zk1.{}", "A".repeat(MAX_SEALED_CHARS + 1)))
                .unwrap_err()
                .code(),
            "seal.shape.too_long"
        );
        check_sealed_shape(&format!("zk1.{}", "A".repeat(MAX_SEALED_CHARS))).unwrap();
        check_index_shape(&format!("zkx1.{}", "A".repeat(22))).unwrap();
        assert_eq!(
            check_index_shape(&format!("zkx1.{}", "A".repeat(21)))
                .unwrap_err()
                .code(),
            "seal.index_shape.too_short"
        );
        assert_eq!(
            check_index_shape(&format!("zkx1.{}B", "A".repeat(21)))
                .unwrap_err()
                .code(),
            "seal.index_shape.non_canonical"
        );
        assert_eq!(classify("zk1.x"), ValueClass::Sealed);
        assert_eq!(classify("zkx1.x"), ValueClass::Index);
        assert_eq!(classify("ZK1.x"), ValueClass::Clear);
    }

    #[test]
    fn size_limits() {
        let secret = TenantSecret::from_bytes([1; 32]);
        let big = "x".repeat(MAX_PLAINTEXT_BYTES);
        let sealed = seal_with_nonce(&secret, &ctx(), &big, &[0; 24]).unwrap();
        assert_eq!(sealed.len(), 4 + MAX_SEALED_CHARS);
        check_sealed_shape(&sealed).unwrap();
        assert_eq!(open(&secret, &ctx(), &sealed).unwrap().len(), big.len());
        let bigger = "x".repeat(MAX_PLAINTEXT_BYTES + 1);
        assert_eq!(
            seal_with_nonce(&secret, &ctx(), &bigger, &[0; 24])
                .unwrap_err()
                .code(),
            "seal.plaintext_too_large"
        );
        let empty = seal_with_nonce(&secret, &ctx(), "", &[0; 24]).unwrap();
        assert_eq!(empty.len(), 4 + MIN_SEALED_CHARS);
        assert_eq!(open(&secret, &ctx(), &empty).unwrap().as_str(), "");
    }

    #[test]
    fn blind_index_normalisation() {
        let secret = TenantSecret::from_bytes([0x42; 32]);
        let i = |case_exact, v| blind_index(&secret, "acme", "User", "userName", case_exact, v);
        assert_eq!(i(false, "Bjensen").unwrap(), i(false, "bjensen").unwrap());
        assert_ne!(i(true, "Bjensen").unwrap(), i(true, "bjensen").unwrap());
        assert_eq!(
            i(true, "Jose\u{301}").unwrap(),
            i(true, "Jos\u{e9}").unwrap()
        );
        let other = blind_index(&secret, "acme", "User", "externalId", false, "bjensen").unwrap();
        assert_ne!(other, i(false, "bjensen").unwrap());
        check_index_shape(&i(false, "x").unwrap()).unwrap();
    }

    #[test]
    fn default_profile_rules() {
        let p = ProtectionProfile::default_profile();
        let get = |rt, path| p.protection(rt, path).unwrap();
        assert_eq!(get("User", "id"), Protection::Clear);
        assert_eq!(get("User", "meta.lastModified"), Protection::Clear);
        assert_eq!(get("Group", "members.value"), Protection::Clear);
        assert_eq!(get("Group", "members.display"), Protection::Sealed);
        assert_eq!(get("User", "userName"), Protection::SealedIndexed);
        assert_eq!(get("Group", "displayName"), Protection::SealedIndexed);
        assert_eq!(get("User", "name.givenName"), Protection::Sealed);
        assert_eq!(get("User", "emails.value"), Protection::Sealed);
        assert_eq!(get("User", "metadata"), Protection::Sealed);
        let err = p
            .check_value("User", "name.givenName", "Barbara")
            .unwrap_err();
        assert_eq!(err.code(), "profile.clear_value_refused");
        assert!(err.to_string().contains("name.givenname"), "{err}");
        let err = p.check_value("User", "id", "zk1.AAAA").unwrap_err();
        assert_eq!(err.code(), "profile.protected_value_in_clear_attribute");
        p.check_value("User", "id", "2819c223").unwrap();
        let sealed = format!("zk1.{}", "A".repeat(54));
        p.check_value("User", "userName", &sealed).unwrap();
        let index = format!("zkx1.{}", "A".repeat(22));
        p.check_index("User", "userName", &index).unwrap();
        assert_eq!(
            p.check_index("User", "name.givenName", &index)
                .unwrap_err()
                .code(),
            "profile.index_not_allowed"
        );
        assert_eq!(
            p.check_value("User", "userName", &index)
                .unwrap_err()
                .code(),
            "profile.index_in_value_position"
        );
    }

    #[test]
    fn profile_specificity_and_cbor() {
        let mut p = ProtectionProfile::default_profile();
        p.set_rule(Some("User"), "name", Protection::Clear).unwrap();
        p.set_rule(Some("User"), "name.familyName", Protection::SealedIndexed)
            .unwrap();
        p.set_rule(
            None,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            Protection::Clear,
        )
        .unwrap();
        p.set_rule(Some("Group"), "displayName", Protection::Sealed)
            .unwrap();
        assert_eq!(
            p.protection("User", "name.givenName").unwrap(),
            Protection::Clear
        );
        assert_eq!(
            p.protection("User", "name.familyName").unwrap(),
            Protection::SealedIndexed
        );
        assert_eq!(
            p.protection("Group", "name.givenName").unwrap(),
            Protection::Sealed
        );
        assert_eq!(
            p.protection("Group", "displayName").unwrap(),
            Protection::Sealed
        );
        assert_eq!(
            p.protection("User", "displayName").unwrap(),
            Protection::SealedIndexed
        );
        assert_eq!(
            p.protection(
                "User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            )
            .unwrap(),
            Protection::Clear
        );
        let bytes = p.to_bytes();
        let back = ProtectionProfile::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn profile_decode_is_strict() {
        let rule = |rt: Option<&str>, path: &str, prot: u64| {
            MapBuilder::new()
                .optional(1, rt.map(Value::text))
                .field(2, Value::text(path))
                .field(3, Value::Unsigned(prot))
                .build()
        };
        let profile = |rules: Vec<Value>| {
            MapBuilder::new()
                .field(1, Value::Unsigned(1))
                .field(2, Value::Array(rules))
                .build()
                .to_bytes()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                profile(vec![rule(None, "b", 0), rule(None, "a", 0)]),
                "profile.rules_not_canonical",
            ),
            (
                profile(vec![rule(None, "a", 0), rule(None, "a", 1)]),
                "profile.rules_not_canonical",
            ),
            (
                profile(vec![rule(Some("User"), "a", 0), rule(None, "b", 0)]),
                "profile.rules_not_canonical",
            ),
            (
                profile(vec![rule(None, "userName", 0)]),
                "profile.rule_path",
            ),
            (profile(vec![rule(None, "a[x]", 0)]), "profile.rule_path"),
            (
                profile(vec![rule(None, "a", 3)]),
                "profile.unknown_protection",
            ),
            (
                profile(vec![rule(Some(""), "a", 0)]),
                "profile.empty_resource_type",
            ),
            (
                MapBuilder::new()
                    .field(1, Value::Unsigned(1))
                    .field(2, Value::Array(vec![]))
                    .field(3, Value::Null)
                    .build()
                    .to_bytes(),
                "shape.unknown_field",
            ),
            (vec![0xa1, 0x01], "cbor.truncated"),
        ];
        for (bytes, code) in cases {
            let err = ProtectionProfile::from_bytes(&bytes).unwrap_err();
            assert_eq!(err.code(), code, "{}: {err}", hex::encode(&bytes));
        }
    }
}
