//! Signed statements: SCIM operations, revocations, policy updates, read requests and tenant
//! genesis, each a COSE_Sign1 (its own `typ`) over a deterministic integer-keyed CBOR map.
//!
//! ```text
//! common     1 tenant (text)  6 nonce (bstr 16..=32)  7 issued-at (uint)  10 chain ([* bstr], not in genesis)
//! operation  2 op  3 resource type  4 resource id (UUID)  5 if-match?  8 resource (create/replace)  9 patch ops (patch)
//! revocation 11 target certificate id (bstr 32)  12 reason?
//! policy     13 policy document (map)
//! read       14 method  15 path and query  16 body SHA-256?
//! genesis    17 root public key (bstr 32); self-signed, no chain
//! ```
//!
//! The normative description, with every constraint, the verification order and the error code of
//! each failure, is `spec/envelope.md`.
//!
//! [`Signed::parse`] decodes strictly: COSE structure and `typ`, deterministic CBOR payload, every
//! required field present and well-formed, no unknown field, chain certificates parsed. The exact
//! received bytes are kept: [`Signed::submitted_hash`] is their SHA-256 (idempotency, log).
//! [`Signed::verify`] then checks, in this order: authentication (chain linkage and certificate
//! signatures from the tenant root, the COSE `kid` is the key the chain empowers, the statement's
//! signature under `verify_strict`), then the tenant, the issued-at window, and the rest of the
//! chain (tenant, validity, attenuation). Authenticating first lets the caller tell a forgery
//! (never logged) from a well-signed refusal (logged): [`EnvelopeError::after_authentication`].
//!
//! Owns: the statement formats and their signature/chain/time verification. Must never: read the
//! clock (time is a parameter), decide scope, policy or revocation (the caller does that with the
//! [`VerifiedChain`] and the touched paths), or re-serialise a received statement: what was
//! received is what is hashed, stored and logged.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::cert::{
    self, CertError, CertId, Certificate, ChainContext, ChainError, ChainErrorKind, NoCache,
    VerifiedCache, VerifiedChain, MAX_CHAIN_LEN,
};
use crate::codec::{self, CodecError, FieldReader, JsonBridgeError, MapBuilder, ShapeError, Value};
use crate::cose::{self, CoseError, ObjectType, Sign1};
use crate::keys::{PublicKey, SigningKey};
use crate::scope::{AttrPath, Operation};
use crate::touch::{self, TouchError};

/// Payload key: tenant id (text).
pub const KEY_TENANT: i64 = 1;
/// Payload key: operation name (text).
pub const KEY_OP: i64 = 2;
/// Payload key: resource type (text).
pub const KEY_RESOURCE_TYPE: i64 = 3;
/// Payload key: resource id (text, lowercase UUID).
pub const KEY_RESOURCE_ID: i64 = 4;
/// Payload key: if-match version precondition (text).
pub const KEY_IF_MATCH: i64 = 5;
/// Payload key: nonce (bstr).
pub const KEY_NONCE: i64 = 6;
/// Payload key: issued-at, unix seconds (uint).
pub const KEY_ISSUED_AT: i64 = 7;
/// Payload key: SCIM resource (map).
pub const KEY_RESOURCE: i64 = 8;
/// Payload key: PATCH operations (array of maps).
pub const KEY_PATCH: i64 = 9;
/// Payload key: delegation chain (array of certificate bytes).
pub const KEY_CHAIN: i64 = 10;
/// Payload key: revoked certificate id (bstr 32).
pub const KEY_TARGET: i64 = 11;
/// Payload key: revocation reason (text).
pub const KEY_REASON: i64 = 12;
/// Payload key: policy document (map).
pub const KEY_POLICY: i64 = 13;
/// Payload key: HTTP method (text).
pub const KEY_METHOD: i64 = 14;
/// Payload key: request path and query (text).
pub const KEY_PATH: i64 = 15;
/// Payload key: SHA-256 of the request body (bstr 32).
pub const KEY_BODY_HASH: i64 = 16;
/// Payload key: tenant root public key (bstr 32).
pub const KEY_ROOT_KEY: i64 = 17;
/// Payload key: blind indexes of sealed+indexed attributes this operation sets (map of
/// normalised attribute path to `zkx1.` token, or null when the attribute is removed).
pub const KEY_INDEXES: i64 = 18;
/// Payload key: the revoked certificate itself (bstr), so a certificate never used in a logged
/// statement (a read-only key, say) can still be revoked by an ancestor.
pub const KEY_TARGET_CERTIFICATE: i64 = 19;
/// Field 20: the SHA-256 of the exact statement an approval co-signs.
pub const KEY_APPROVES: i64 = 20;
/// Most blind indexes one operation may carry.
pub const MAX_INDEXES: usize = 64;

/// Shortest nonce accepted, in bytes.
pub const MIN_NONCE_LEN: usize = 16;
/// Longest nonce accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 32;
/// Length of the nonces [`Header::new`] draws.
pub const DEFAULT_NONCE_LEN: usize = 16;
/// Most PATCH operations in one operation.
pub const MAX_PATCH_OPERATIONS: usize = touch::MAX_PATCH_OPERATIONS;
/// Longest resource type name, in bytes.
pub const MAX_RESOURCE_TYPE_LEN: usize = 128;
/// Longest if-match value, in bytes.
pub const MAX_IF_MATCH_LEN: usize = 256;
/// Longest revocation reason, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// Longest HTTP method, in bytes.
pub const MAX_METHOD_LEN: usize = 16;
/// Longest request path and query, in bytes.
pub const MAX_REQUEST_PATH_LEN: usize = 8192;

/// Why a statement was refused. Wrapped lower-level errors keep their own codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The COSE_Sign1 is malformed or of another kind (`cose.*`, `cbor.*`).
    #[error("envelope: {0}")]
    Cose(#[from] CoseError),
    /// The payload is not deterministic CBOR (`cbor.*`).
    #[error("payload: {0}")]
    Payload(CodecError),
    /// A payload field is missing, unknown or invalid (`envelope.missing_field`,
    /// `envelope.unknown_field`, `envelope.invalid_field`, `envelope.invalid_payload`).
    #[error("payload: {0}")]
    Shape(#[from] ShapeError),
    /// A field the format defines, present where this operation forbids it.
    #[error("{object} field {key} ({name}) is not allowed for {op}")]
    FieldNotAllowed {
        /// Which object.
        object: &'static str,
        /// The field's key.
        key: i64,
        /// The field's name.
        name: &'static str,
        /// The operation.
        op: &'static str,
    },
    /// A chain certificate does not parse (its own `cert.*`, `cose.*`, `shape.*` code).
    #[error("certificate {index} of the chain (field 10): {source}")]
    Certificate {
        /// Zero-based position in the chain.
        index: usize,
        /// Why.
        source: CertError,
    },
    /// A JSON value cannot be carried as CBOR or back (`json.*`).
    #[error("resource or PATCH body: {0}")]
    Json(#[from] JsonBridgeError),
    /// The touched paths cannot be derived (`touch.*`).
    #[error("{0}")]
    Touch(#[from] TouchError),
    /// The statement is for another tenant than the one it is verified for.
    #[error("statement is for tenant '{found}', not '{expected}'")]
    TenantMismatch {
        /// The tenant the caller verifies for.
        expected: String,
        /// The tenant in field 1.
        found: String,
    },
    /// Issued-at lies further in the future than the allowed skew.
    #[error("issued at {issued_at}, more than {skew}s after now ({now})")]
    IssuedInFuture {
        /// Field 7.
        issued_at: u64,
        /// Verification time.
        now: u64,
        /// Allowed skew, seconds.
        skew: u64,
    },
    /// Issued-at lies further in the past than the allowed skew.
    #[error("issued at {issued_at}, more than {skew}s before now ({now})")]
    IssuedTooLongAgo {
        /// Field 7.
        issued_at: u64,
        /// Verification time.
        now: u64,
        /// Allowed skew, seconds.
        skew: u64,
    },
    /// The delegation chain does not verify (`chain.*`).
    #[error("delegation chain: {0}")]
    Chain(#[from] ChainError),
    /// The COSE `kid` is not the key the chain (or genesis field 17) empowers.
    #[error("signed by key {kid}, but the chain empowers key {signer}")]
    SignerMismatch {
        /// The `kid` (short).
        kid: String,
        /// The chain's signer key id (short).
        signer: String,
    },
    /// The signature does not verify (`cose.bad_signature`).
    #[error("signature: {0}")]
    Signature(CoseError),
}

impl EnvelopeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::Cose(e) | EnvelopeError::Signature(e) => e.code(),
            EnvelopeError::Payload(e) => e.code(),
            EnvelopeError::Shape(e) => match e {
                ShapeError::WrongType { .. } => "envelope.invalid_payload",
                ShapeError::Missing { .. } => "envelope.missing_field",
                ShapeError::Unknown { .. } => "envelope.unknown_field",
                ShapeError::Invalid { .. } => "envelope.invalid_field",
            },
            EnvelopeError::FieldNotAllowed { .. } => "envelope.field_not_allowed",
            EnvelopeError::Certificate { source, .. } => source.code(),
            EnvelopeError::Json(e) => e.code(),
            EnvelopeError::Touch(e) => e.code(),
            EnvelopeError::TenantMismatch { .. } => "envelope.tenant_mismatch",
            EnvelopeError::IssuedInFuture { .. } => "envelope.issued_in_future",
            EnvelopeError::IssuedTooLongAgo { .. } => "envelope.issued_too_long_ago",
            EnvelopeError::Chain(e) => e.code(),
            EnvelopeError::SignerMismatch { .. } => "envelope.signer_mismatch",
        }
    }

    /// For a failure of [`Signed::verify`] or [`Signed::verify_genesis`]: whether the statement
    /// had been authenticated (signed by a key the tenant root empowers) before it was refused.
    /// Such well-signed refusals are logged; anything else (malformed input, forgeries, chains
    /// from another root) is not.
    pub fn after_authentication(&self) -> bool {
        match self {
            EnvelopeError::TenantMismatch { .. }
            | EnvelopeError::IssuedInFuture { .. }
            | EnvelopeError::IssuedTooLongAgo { .. } => true,
            EnvelopeError::Chain(e) => matches!(
                e.kind,
                ChainErrorKind::Tenant { .. }
                    | ChainErrorKind::NotYetValid { .. }
                    | ChainErrorKind::Expired { .. }
                    | ChainErrorKind::Attenuation { .. }
            ),
            _ => false,
        }
    }
}

/// Fields every statement carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Tenant id: 1 to 64 characters of `a-z`, `0-9`, `-` (field 1).
    pub tenant: String,
    /// 16 to 32 random bytes; unique per tenant (field 6).
    pub nonce: Vec<u8>,
    /// When the statement was signed, unix seconds (field 7).
    pub issued_at: u64,
    /// Delegation chain, root-signed certificate first, the signer's last; empty when the root key
    /// signs (field 10). Always empty for genesis, which has no field 10.
    pub chain: Vec<Certificate>,
}

impl Header {
    /// A header with a fresh [`DEFAULT_NONCE_LEN`]-byte nonce from `rng`.
    pub fn new(
        tenant: impl Into<String>,
        issued_at: u64,
        chain: Vec<Certificate>,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Header {
        let mut nonce = vec![0u8; DEFAULT_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        Header {
            tenant: tenant.into(),
            nonce,
            issued_at,
            chain,
        }
    }

    fn write(&self, map: MapBuilder, chained: bool) -> MapBuilder {
        let map = map
            .field(KEY_TENANT, Value::text(self.tenant.clone()))
            .field(KEY_NONCE, Value::bytes(self.nonce.clone()))
            .field(KEY_ISSUED_AT, Value::Unsigned(self.issued_at));
        if chained {
            map.field(
                KEY_CHAIN,
                Value::Array(
                    self.chain
                        .iter()
                        .map(|c| Value::bytes(c.bytes().to_vec()))
                        .collect(),
                ),
            )
        } else {
            map
        }
    }

    fn read(r: &mut FieldReader<'_>, chained: bool) -> Result<Header, EnvelopeError> {
        let tenant = r.text(KEY_TENANT, "tenant")?;
        if cert::validate_tenant_id(tenant).is_err() {
            return Err(r
                .invalid(
                    KEY_TENANT,
                    "tenant",
                    "tenant ids are 1 to 64 characters of a-z, 0-9 and '-'",
                )
                .into());
        }
        let nonce = r.bytes(KEY_NONCE, "nonce")?;
        if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
            return Err(r
                .invalid(
                    KEY_NONCE,
                    "nonce",
                    format!(
                        "expected {MIN_NONCE_LEN} to {MAX_NONCE_LEN} bytes, found {}",
                        nonce.len()
                    ),
                )
                .into());
        }
        let issued_at = r.uint(KEY_ISSUED_AT, "issued_at")?;
        let chain = if chained {
            let items = r.array(KEY_CHAIN, "chain")?;
            if items.len() > MAX_CHAIN_LEN {
                return Err(r
                    .invalid(
                        KEY_CHAIN,
                        "chain",
                        format!(
                            "{} certificates, more than the {MAX_CHAIN_LEN} allowed",
                            items.len()
                        ),
                    )
                    .into());
            }
            let mut chain = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let bytes = item.as_bytes().ok_or_else(|| {
                    r.invalid(
                        KEY_CHAIN,
                        "chain",
                        format!(
                            "item {index} must be a byte string, found {}",
                            item.type_name()
                        ),
                    )
                })?;
                let certificate = Certificate::parse(bytes)
                    .map_err(|source| EnvelopeError::Certificate { index, source })?;
                chain.push(certificate);
            }
            chain
        } else {
            Vec::new()
        };
        Ok(Header {
            tenant: tenant.to_owned(),
            nonce: nonce.to_vec(),
            issued_at,
            chain,
        })
    }
}

/// A kind of statement: its `typ`, its own payload fields, and whether it carries a chain.
pub trait Kind: Sized + Clone + std::fmt::Debug {
    /// The COSE `typ`.
    const TYPE: ObjectType;
    /// The object name used in error messages.
    const OBJECT: &'static str;
    /// Whether the statement carries a delegation chain (field 10). Only genesis does not.
    const CHAINED: bool;
    /// Adds the kind's fields to the payload map.
    fn write(&self, map: MapBuilder) -> MapBuilder;
    /// Reads the kind's fields (the common ones are read already).
    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError>;
    /// Why the kind's fields cannot be encoded, if they cannot: [`Envelope::validate`] asks
    /// before encoding, so the refusal names the field rather than what encoding left instead.
    fn check_encodable(&self) -> Result<(), EnvelopeError> {
        Ok(())
    }
}

/// Statement kinds verified under a delegation chain rooted at the tenant root key.
pub trait Chained: Kind {}

/// What an operation does to its resource.
///
/// The content is kept as the JSON it denotes (DESIGN §4: CBOR and JSON carry the same values,
/// `codec::to_json`): every consumer reads it as JSON, so decoding converts it once from the
/// decoded CBOR, which is then dropped, and encoding converts it back (exactly: a value that
/// decodes round-trips). Build one with [`Change::create`], [`Change::replace`] and
/// [`Change::patch`], which put it in the form a verifier decodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create the resource (field 8: the resource, a map with text keys).
    Create(serde_json::Value),
    /// Replace the resource whole (field 8).
    Replace(serde_json::Value),
    /// Apply RFC 7644 PATCH operations (field 9: the `Operations` array, each a map).
    Patch(Vec<serde_json::Value>),
    /// Delete the resource.
    Delete,
}

impl Change {
    /// A create carrying the JSON `resource`, which must be an object.
    pub fn create(resource: &serde_json::Value) -> Result<Change, EnvelopeError> {
        Ok(Change::Create(resource_from_json(resource)?))
    }

    /// A replace carrying the JSON `resource`, which must be an object.
    pub fn replace(resource: &serde_json::Value) -> Result<Change, EnvelopeError> {
        Ok(Change::Replace(resource_from_json(resource)?))
    }

    /// A patch carrying the JSON `Operations` array: 1 to 1000 objects.
    pub fn patch(operations: &serde_json::Value) -> Result<Change, EnvelopeError> {
        let items = operations.as_array().ok_or(TouchError::WrongShape {
            at: touch::Location::Resource,
            expected: "array of PATCH operations",
            found: "non-array",
        })?;
        check_patch_list(items.len(), items.iter().all(serde_json::Value::is_object))?;
        match canonical(&codec::from_json(operations)?)? {
            serde_json::Value::Array(ops) => Ok(Change::Patch(ops)),
            _ => Err(JsonBridgeError::NotJson("non-array PATCH operations").into()),
        }
    }

    /// The scope operation this change needs.
    pub fn operation(&self) -> Operation {
        match self {
            Change::Create(_) => Operation::Create,
            Change::Replace(_) => Operation::Replace,
            Change::Patch(_) => Operation::Patch,
            Change::Delete => Operation::Delete,
        }
    }
}

fn resource_from_json(resource: &serde_json::Value) -> Result<serde_json::Value, EnvelopeError> {
    if !resource.is_object() {
        return Err(TouchError::WrongShape {
            at: touch::Location::Resource,
            expected: "object",
            found: "non-object",
        }
        .into());
    }
    canonical(&codec::from_json(resource)?)
}

/// `value` as JSON exactly as a verifier decodes it (through the canonical CBOR encoding), so a
/// built statement compares equal to its parsed form. Refuses values over the codec's size or
/// depth limits, which no verifier would accept either.
fn canonical(value: &Value) -> Result<serde_json::Value, EnvelopeError> {
    let decoded = codec::decode(&value.to_bytes()).map_err(EnvelopeError::Payload)?;
    Ok(codec::to_json(&decoded)?)
}

fn check_patch_list(len: usize, all_maps: bool) -> Result<(), EnvelopeError> {
    if len == 0 {
        return Err(TouchError::NoOperations.into());
    }
    if len > MAX_PATCH_OPERATIONS {
        return Err(TouchError::TooManyOperations { count: len }.into());
    }
    if !all_maps {
        return Err(TouchError::WrongShape {
            at: touch::Location::Resource,
            expected: "array of objects",
            found: "array with a non-object",
        }
        .into());
    }
    Ok(())
}

/// A SCIM operation (`typ` `application/zkscim-op+cbor`).
#[derive(Clone, Debug, PartialEq)]
pub struct OperationBody {
    /// SCIM resource type name such as `User`, `Group`, `Agent` (field 3).
    pub resource_type: String,
    /// Client-assigned resource id, a lowercase canonical UUID (field 4).
    pub resource_id: String,
    /// Version precondition, an ETag such as `W/"3"` (field 5).
    pub if_match: Option<String>,
    /// What happens (field 2, with field 8 or 9).
    pub change: Change,
    /// Blind indexes for the sealed+indexed attributes this operation writes (field 18, omitted
    /// when empty): normalised attribute path → `zkx1.` token, or `None` when the operation
    /// removes the attribute. The server stores them for equality search and uniqueness; it
    /// cannot compute them itself, since it never sees the clear value.
    pub indexes: BTreeMap<String, Option<String>>,
}

impl OperationBody {
    /// The scope operation (field 2).
    pub fn operation(&self) -> Operation {
        self.change.operation()
    }

    /// The resource (create, replace) or the `Operations` array (patch) as JSON; `null` for delete.
    pub fn body_json(&self) -> Result<serde_json::Value, EnvelopeError> {
        Ok(self.body_json_ref().into_owned())
    }

    /// [`OperationBody::body_json`], borrowed where the change holds it as one value (create,
    /// replace); a patch's operations are assembled into an array.
    pub fn body_json_ref(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        use std::borrow::Cow;
        match &self.change {
            Change::Create(v) | Change::Replace(v) => Cow::Borrowed(v),
            Change::Patch(ops) => Cow::Owned(serde_json::Value::Array(ops.clone())),
            Change::Delete => Cow::Owned(serde_json::Value::Null),
        }
    }

    /// The change's content as CBOR (what field 8 or 9 carries), or why it has none: a change
    /// built with the `Change` constructors always converts.
    fn content_cbor(&self) -> Result<Option<Value>, JsonBridgeError> {
        Ok(match &self.change {
            Change::Create(resource) | Change::Replace(resource) => {
                Some(codec::from_json(resource)?)
            }
            Change::Patch(ops) => Some(Value::Array(
                ops.iter().map(codec::from_json).collect::<Result<_, _>>()?,
            )),
            Change::Delete => None,
        })
    }

    /// The attribute paths this operation writes (see [`touch::touched_paths`]); `current` is the
    /// stored resource, used by replace. The paths of the blind indexes it carries (field 18) are
    /// included: storing an index for an attribute is a write the scope must cover.
    pub fn touched_paths(
        &self,
        current: Option<&serde_json::Value>,
    ) -> Result<BTreeSet<AttrPath>, EnvelopeError> {
        let mut paths = match &self.change {
            Change::Patch(ops) => touch::touched_paths_of_operations(&self.resource_type, ops)?,
            _ => touch::touched_paths(
                self.operation(),
                &self.resource_type,
                &self.body_json_ref(),
                current,
            )?,
        };
        for path in self.indexes.keys() {
            let parsed = AttrPath::parse(path).map_err(|_| TouchError::InvalidAttribute {
                at: touch::Location::Resource,
                name: path.chars().take(80).collect(),
                why: "blind index path is not an attribute path",
            })?;
            paths.insert(parsed);
        }
        Ok(paths)
    }

    /// [`OperationBody::touched_paths`] and [`OperationBody::body_json`] together.
    pub fn touched_paths_and_body(
        &self,
        current: Option<&serde_json::Value>,
    ) -> Result<(BTreeSet<AttrPath>, serde_json::Value), EnvelopeError> {
        Ok((self.touched_paths(current)?, self.body_json()?))
    }
}

/// Whether `id` is a UUID in lowercase canonical form (`8-4-4-4-12` lowercase hex digits).
pub fn is_canonical_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn is_resource_type(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_RESOURCE_TYPE_LEN
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_visible_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl Kind for OperationBody {
    const TYPE: ObjectType = ObjectType::Operation;
    const OBJECT: &'static str = "operation";
    const CHAINED: bool = true;

    fn check_encodable(&self) -> Result<(), EnvelopeError> {
        self.content_cbor().map(|_| ()).map_err(EnvelopeError::from)
    }

    fn write(&self, map: MapBuilder) -> MapBuilder {
        let map = map
            .field(KEY_OP, Value::text(self.operation().as_str()))
            .field(KEY_RESOURCE_TYPE, Value::text(self.resource_type.clone()))
            .field(KEY_RESOURCE_ID, Value::text(self.resource_id.clone()))
            .optional(KEY_IF_MATCH, self.if_match.clone().map(Value::Text));
        // Content that does not convert is written as null, which no verifier accepts as a
        // resource or an operations array; [`Envelope::validate`] names the real reason first
        // (`check_encodable`).
        let content = self.content_cbor().unwrap_or(Some(Value::Null));
        let map = match (&self.change, content) {
            (Change::Create(_) | Change::Replace(_), Some(resource)) => {
                map.field(KEY_RESOURCE, resource)
            }
            (Change::Patch(_), Some(ops)) => map.field(KEY_PATCH, ops),
            _ => map,
        };
        if self.indexes.is_empty() {
            return map;
        }
        map.field(
            KEY_INDEXES,
            Value::Map(
                self.indexes
                    .iter()
                    .map(|(path, token)| {
                        (
                            Value::text(path.clone()),
                            token.clone().map_or(Value::Null, Value::Text),
                        )
                    })
                    .collect(),
            ),
        )
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let op_name = r.text(KEY_OP, "op")?;
        let op = match Operation::parse(op_name) {
            Ok(Operation::Read) | Err(_) => {
                return Err(r
                    .invalid(
                        KEY_OP,
                        "op",
                        format!("{op_name:?} is not create, replace, patch or delete"),
                    )
                    .into())
            }
            Ok(op) => op,
        };
        let resource_type = r.text(KEY_RESOURCE_TYPE, "resource_type")?;
        if !is_resource_type(resource_type) {
            return Err(r
                .invalid(
                    KEY_RESOURCE_TYPE,
                    "resource_type",
                    "1 to 128 bytes: a letter, then letters, digits, '_' or '-'",
                )
                .into());
        }
        let resource_id = r.text(KEY_RESOURCE_ID, "resource_id")?;
        if !is_canonical_uuid(resource_id) {
            return Err(r
                .invalid(
                    KEY_RESOURCE_ID,
                    "resource_id",
                    "must be a UUID in lowercase canonical 8-4-4-4-12 form",
                )
                .into());
        }
        let if_match = r.optional_text(KEY_IF_MATCH, "if_match")?;
        if let Some(v) = if_match {
            if v.is_empty() || v.len() > MAX_IF_MATCH_LEN || !is_visible_ascii(v) {
                return Err(r
                    .invalid(KEY_IF_MATCH, "if_match", "1 to 256 bytes of visible ASCII")
                    .into());
            }
        }
        let not_allowed = |key, name| EnvelopeError::FieldNotAllowed {
            object: Self::OBJECT,
            key,
            name,
            op: op.as_str(),
        };
        let resource = r.optional(KEY_RESOURCE);
        let patch = r.optional(KEY_PATCH);
        let change = match op {
            Operation::Create | Operation::Replace => {
                if patch.is_some() {
                    return Err(not_allowed(KEY_PATCH, "patch"));
                }
                let resource = r.required(KEY_RESOURCE, "resource")?;
                if resource.as_map().is_none() {
                    return Err(r
                        .invalid(
                            KEY_RESOURCE,
                            "resource",
                            format!("expected map, found {}", resource.type_name()),
                        )
                        .into());
                }
                // Converted once here; the decoded CBOR is dropped with the payload.
                let resource = codec::to_json(resource)
                    .map_err(|e| r.invalid(KEY_RESOURCE, "resource", e.to_string()))?;
                if op == Operation::Create {
                    Change::Create(resource)
                } else {
                    Change::Replace(resource)
                }
            }
            Operation::Patch => {
                if resource.is_some() {
                    return Err(not_allowed(KEY_RESOURCE, "resource"));
                }
                let ops = r.array(KEY_PATCH, "patch")?;
                if ops.is_empty() || ops.len() > MAX_PATCH_OPERATIONS {
                    return Err(r
                        .invalid(
                            KEY_PATCH,
                            "patch",
                            format!(
                                "{} operations; 1 to {MAX_PATCH_OPERATIONS} are allowed",
                                ops.len()
                            ),
                        )
                        .into());
                }
                let mut operations = Vec::with_capacity(ops.len());
                for (i, item) in ops.iter().enumerate() {
                    if item.as_map().is_none() {
                        return Err(r
                            .invalid(
                                KEY_PATCH,
                                "patch",
                                format!("operation {i} must be a map, found {}", item.type_name()),
                            )
                            .into());
                    }
                    operations.push(codec::to_json(item).map_err(|e| {
                        r.invalid(KEY_PATCH, "patch", format!("operation {i}: {e}"))
                    })?);
                }
                Change::Patch(operations)
            }
            Operation::Delete | Operation::Read => {
                if resource.is_some() {
                    return Err(not_allowed(KEY_RESOURCE, "resource"));
                }
                if patch.is_some() {
                    return Err(not_allowed(KEY_PATCH, "patch"));
                }
                Change::Delete
            }
        };
        let indexes = read_indexes(r)?;
        Ok(OperationBody {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            if_match: if_match.map(str::to_owned),
            change,
            indexes,
        })
    }
}
impl Chained for OperationBody {}

/// Field 18: a non-empty map of normalised attribute paths to index tokens or null.
fn read_indexes(
    r: &mut FieldReader<'_>,
) -> Result<BTreeMap<String, Option<String>>, EnvelopeError> {
    let mut out = BTreeMap::new();
    let Some(value) = r.optional(KEY_INDEXES) else {
        return Ok(out);
    };
    let invalid = |r: &FieldReader<'_>, why: String| -> EnvelopeError {
        r.invalid(KEY_INDEXES, "indexes", why).into()
    };
    let Some(entries) = value.as_map() else {
        return Err(invalid(
            r,
            format!("expected map, found {}", value.type_name()),
        ));
    };
    if entries.is_empty() || entries.len() > MAX_INDEXES {
        return Err(invalid(
            r,
            format!(
                "1 to {MAX_INDEXES} entries when present, found {}",
                entries.len()
            ),
        ));
    }
    for (key, token) in entries {
        let Some(path) = key.as_text() else {
            return Err(invalid(r, "keys must be attribute paths (text)".into()));
        };
        match crate::seal::normalize_attribute_path(path) {
            Ok(normalised) if normalised == path => {}
            _ => {
                return Err(invalid(
                    r,
                    format!("{path:?} is not a normalised attribute path"),
                ))
            }
        }
        let token = match token {
            Value::Null => None,
            Value::Text(t) => {
                crate::seal::check_index_shape(t)
                    .map_err(|e| invalid(r, format!("index of {path:?}: {e}")))?;
                Some(t.clone())
            }
            other => {
                return Err(invalid(
                    r,
                    format!(
                        "index of {path:?} must be text or null, found {}",
                        other.type_name()
                    ),
                ))
            }
        };
        out.insert(path.to_owned(), token);
    }
    Ok(out)
}

/// A certificate revocation (`typ` `application/zkscim-revocation+cbor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Id of the revoked certificate (field 11).
    pub target: CertId,
    /// Why, for people (field 12): at most 1024 bytes, no control characters.
    pub reason: Option<String>,
    /// The revoked certificate's bytes (field 19, optional): lets the log record a certificate it
    /// has not seen yet, and the ancestry be checked. Its id must equal `target`.
    pub certificate: Option<Box<Certificate>>,
}

impl Kind for Revocation {
    const TYPE: ObjectType = ObjectType::Revocation;
    const OBJECT: &'static str = "revocation";
    const CHAINED: bool = true;

    fn write(&self, map: MapBuilder) -> MapBuilder {
        map.field(KEY_TARGET, Value::bytes(self.target.0.to_vec()))
            .optional(KEY_REASON, self.reason.clone().map(Value::Text))
            .optional(
                KEY_TARGET_CERTIFICATE,
                self.certificate
                    .as_ref()
                    .map(|c| Value::bytes(c.bytes().to_vec())),
            )
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let target = CertId(r.fixed_bytes::<32>(KEY_TARGET, "target")?);
        let reason = r.optional_text(KEY_REASON, "reason")?;
        if let Some(reason) = reason {
            if reason.len() > MAX_REASON_LEN || reason.chars().any(char::is_control) {
                return Err(r
                    .invalid(
                        KEY_REASON,
                        "reason",
                        "at most 1024 bytes, no control characters",
                    )
                    .into());
            }
        }
        let certificate = match r.optional(KEY_TARGET_CERTIFICATE) {
            None => None,
            Some(_) => {
                let bytes = r.bytes(KEY_TARGET_CERTIFICATE, "certificate")?;
                let cert = Certificate::parse(bytes)
                    .map_err(|source| EnvelopeError::Certificate { index: 0, source })?;
                if cert.id() != target {
                    return Err(r
                        .invalid(
                            KEY_TARGET_CERTIFICATE,
                            "certificate",
                            "its id (SHA-256 of its bytes) is not the target",
                        )
                        .into());
                }
                Some(Box::new(cert))
            }
        };
        Ok(Revocation {
            target,
            reason: reason.map(str::to_owned),
            certificate,
        })
    }
}
impl Chained for Revocation {}

/// A protection-profile or tenant-policy update (`typ` `application/zkscim-policy+cbor`). The
/// document is kept as an opaque CBOR map here; its own module interprets it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyUpdate {
    /// The policy document (field 13), a CBOR map.
    pub document: Value,
}

impl Kind for PolicyUpdate {
    const TYPE: ObjectType = ObjectType::Policy;
    const OBJECT: &'static str = "policy";
    const CHAINED: bool = true;

    fn write(&self, map: MapBuilder) -> MapBuilder {
        map.field(KEY_POLICY, self.document.clone())
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let document = r.required(KEY_POLICY, "policy")?;
        if document.as_map().is_none() {
            return Err(r
                .invalid(
                    KEY_POLICY,
                    "policy",
                    format!("expected map, found {}", document.type_name()),
                )
                .into());
        }
        Ok(PolicyUpdate {
            document: document.clone(),
        })
    }
}
impl Chained for PolicyUpdate {}

/// An approval (`typ` `application/zkscim-approval+cbor`): the signer co-signs another
/// statement, named by the SHA-256 of its exact bytes, for the tenant policy's approval rules
/// (spec/rules.md §3a). It is logged like any statement, before the statement it approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// SHA-256 of the approved statement's exact bytes (field 20).
    pub approves: [u8; 32],
}

impl Kind for Approval {
    const TYPE: ObjectType = ObjectType::Approval;
    const OBJECT: &'static str = "approval";
    const CHAINED: bool = true;

    fn write(&self, map: MapBuilder) -> MapBuilder {
        map.field(KEY_APPROVES, Value::bytes(self.approves.to_vec()))
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let approves = r.fixed_bytes::<32>(KEY_APPROVES, "approves")?;
        Ok(Approval { approves })
    }
}
impl Chained for Approval {}

/// A signed read request (`typ` `application/zkscim-read+cbor`): binds one HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    /// HTTP method: 1 to 16 uppercase ASCII letters (field 14).
    pub method: String,
    /// Request path and query, starting with `/`: 1 to 8192 bytes of visible ASCII (field 15).
    pub path_and_query: String,
    /// SHA-256 of the request body, when there is one (field 16).
    pub body_sha256: Option<[u8; 32]>,
}

impl Kind for ReadRequest {
    const TYPE: ObjectType = ObjectType::ReadRequest;
    const OBJECT: &'static str = "read request";
    const CHAINED: bool = true;

    fn write(&self, map: MapBuilder) -> MapBuilder {
        map.field(KEY_METHOD, Value::text(self.method.clone()))
            .field(KEY_PATH, Value::text(self.path_and_query.clone()))
            .optional(
                KEY_BODY_HASH,
                self.body_sha256.map(|h| Value::bytes(h.to_vec())),
            )
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let method = r.text(KEY_METHOD, "method")?;
        if method.is_empty()
            || method.len() > MAX_METHOD_LEN
            || !method.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(r
                .invalid(KEY_METHOD, "method", "1 to 16 uppercase ASCII letters")
                .into());
        }
        let path = r.text(KEY_PATH, "path")?;
        if !path.starts_with('/') || path.len() > MAX_REQUEST_PATH_LEN || !is_visible_ascii(path) {
            return Err(r
                .invalid(
                    KEY_PATH,
                    "path",
                    "must start with '/': at most 8192 bytes of visible ASCII",
                )
                .into());
        }
        let body_sha256 = match r.optional(KEY_BODY_HASH) {
            None => None,
            Some(_) => Some(r.fixed_bytes::<32>(KEY_BODY_HASH, "body_sha256")?),
        };
        Ok(ReadRequest {
            method: method.to_owned(),
            path_and_query: path.to_owned(),
            body_sha256,
        })
    }
}
impl Chained for ReadRequest {}

/// A tenant genesis (`typ` `application/zkscim-genesis+cbor`): the root public key, self-signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The tenant's root public key (field 17); the statement's `kid` must be its key id.
    pub root: PublicKey,
}

impl Kind for Genesis {
    const TYPE: ObjectType = ObjectType::Genesis;
    const OBJECT: &'static str = "genesis";
    const CHAINED: bool = false;

    fn write(&self, map: MapBuilder) -> MapBuilder {
        map.field(KEY_ROOT_KEY, Value::bytes(self.root.to_bytes().to_vec()))
    }

    fn read(r: &mut FieldReader<'_>) -> Result<Self, EnvelopeError> {
        let raw = r.fixed_bytes::<32>(KEY_ROOT_KEY, "root_key")?;
        let root = PublicKey::from_bytes(&raw)
            .map_err(|e| r.invalid(KEY_ROOT_KEY, "root_key", e.to_string()))?;
        Ok(Genesis { root })
    }
}

/// An unsigned statement: common header plus the kind's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<K> {
    /// Common fields.
    pub header: Header,
    /// Kind-specific fields.
    pub body: K,
}

impl<K: Kind> Envelope<K> {
    /// The statement.
    pub fn new(header: Header, body: K) -> Self {
        Envelope { header, body }
    }

    /// The deterministic CBOR payload. Genesis omits field 10 whatever `header.chain` holds.
    pub fn encode_payload(&self) -> Vec<u8> {
        let map = self.header.write(MapBuilder::new(), K::CHAINED);
        self.body.write(map).build().to_bytes()
    }

    /// Decodes and validates a payload strictly (see `spec/envelope.md` for the order of checks).
    pub fn decode_payload(payload: &[u8]) -> Result<Self, EnvelopeError> {
        let value = codec::decode(payload).map_err(EnvelopeError::Payload)?;
        let mut reader = FieldReader::new(K::OBJECT, &value)?;
        let header = Header::read(&mut reader, K::CHAINED)?;
        let body = K::read(&mut reader)?;
        reader.finish()?;
        Ok(Envelope { header, body })
    }

    /// Checks that what [`Envelope::sign`] would produce parses back: the same rules a verifier
    /// applies, so a builder can refuse a bad statement before signing it.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        self.body.check_encodable()?;
        Self::decode_payload(&self.encode_payload()).map(|_| ())
    }

    /// Signs the payload with `key`; returns the COSE_Sign1 bytes. Does not validate: call
    /// [`Envelope::validate`] first when the fields come from outside.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        cose::sign(K::TYPE, key, &self.encode_payload())
    }
}

/// A parsed statement whose signature, chain and time are not yet verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed<K> {
    envelope: Envelope<K>,
    sign1: Sign1,
    bytes: Vec<u8>,
}

impl<K: Kind> Signed<K> {
    /// Parses statement bytes strictly: COSE structure and `typ`, payload, fields, certificates.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let sign1 = cose::parse(bytes, K::TYPE)?;
        Self::from_sign1(sign1, bytes)
    }

    fn from_sign1(sign1: Sign1, bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope = Envelope::decode_payload(&sign1.payload)?;
        Ok(Signed {
            envelope,
            sign1,
            bytes: bytes.to_vec(),
        })
    }

    /// The decoded statement.
    pub fn envelope(&self) -> &Envelope<K> {
        &self.envelope
    }

    /// The common fields.
    pub fn header(&self) -> &Header {
        &self.envelope.header
    }

    /// The kind-specific fields.
    pub fn body(&self) -> &K {
        &self.envelope.body
    }

    /// The parsed COSE_Sign1 (its `kid` names the claimed signer).
    pub fn sign1(&self) -> &Sign1 {
        &self.sign1
    }

    /// The exact bytes received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the exact bytes received: the idempotency key and the log's submitted hash.
    pub fn submitted_hash(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    fn check_time(&self, now: u64, skew: u64) -> Result<(), EnvelopeError> {
        let issued_at = self.header().issued_at;
        if issued_at > now.saturating_add(skew) {
            return Err(EnvelopeError::IssuedInFuture {
                issued_at,
                now,
                skew,
            });
        }
        if now > issued_at.saturating_add(skew) {
            return Err(EnvelopeError::IssuedTooLongAgo {
                issued_at,
                now,
                skew,
            });
        }
        Ok(())
    }

    fn check_signature(&self, signer: &PublicKey) -> Result<(), EnvelopeError> {
        if self.sign1.kid != signer.key_id() {
            return Err(EnvelopeError::SignerMismatch {
                kid: self.sign1.kid.short(),
                signer: signer.key_id().short(),
            });
        }
        self.sign1.verify(signer).map_err(EnvelopeError::Signature)
    }
}

impl<K: Chained> Signed<K> {
    /// Authenticates the statement under the tenant `root` key: chain linkage and certificate
    /// signatures from the root down ([`cert::authenticate_chain`]), the `kid` is the key the
    /// chain empowers, and the statement's signature verifies (strict). Returns that key.
    ///
    /// Failing here means nobody holding a key of this tenant signed these bytes (a forgery, a
    /// chain from another root, or corruption): such input is never logged.
    pub fn authenticate(
        &self,
        root: &PublicKey,
        cache: &mut dyn VerifiedCache,
    ) -> Result<PublicKey, EnvelopeError> {
        let signer = cert::authenticate_chain(&self.header().chain, root, cache)?;
        if self.sign1.kid == signer.key_id()
            && cache.statement_signature_verified(&signer, &self.bytes)
        {
            return Ok(signer);
        }
        self.check_signature(&signer)?;
        Ok(signer)
    }

    /// Verifies, in this order: [`Signed::authenticate`] under `ctx.root`; field 1 equals
    /// `ctx.tenant`; |`ctx.now` − issued-at| ≤ `skew_secs`; the full chain under `ctx` (tenant,
    /// validity at `ctx.now`, attenuation, delegation rights). Certificate signatures are checked
    /// once even with [`NoCache`]. Revocation, scope and policy are the caller's, using
    /// [`Verified::chain`]. [`EnvelopeError::after_authentication`] tells a well-signed refusal
    /// (to be logged) from a forgery.
    pub fn verify(
        &self,
        ctx: &ChainContext<'_>,
        skew_secs: u64,
        cache: &mut dyn VerifiedCache,
    ) -> Result<Verified<K>, EnvelopeError> {
        let chain = self.verified_chain(ctx, skew_secs, cache)?;
        Ok(Verified {
            signed: self.clone(),
            chain,
        })
    }

    /// [`Signed::verify`], moving the statement into the result instead of copying it (a copy
    /// of every field and the exact bytes); on failure the statement comes back with the error.
    pub fn into_verified(
        self,
        ctx: &ChainContext<'_>,
        skew_secs: u64,
        cache: &mut dyn VerifiedCache,
    ) -> Result<Verified<K>, (Box<Signed<K>>, EnvelopeError)> {
        match self.verified_chain(ctx, skew_secs, cache) {
            Ok(chain) => Ok(Verified {
                signed: self,
                chain,
            }),
            Err(e) => Err((Box::new(self), e)),
        }
    }

    /// The checks of [`Signed::verify`], returning the verified chain.
    fn verified_chain(
        &self,
        ctx: &ChainContext<'_>,
        skew_secs: u64,
        cache: &mut dyn VerifiedCache,
    ) -> Result<VerifiedChain, EnvelopeError> {
        let mut cache = Layered {
            inner: cache,
            seen: Vec::new(),
        };
        self.authenticate(ctx.root, &mut cache)?;
        if self.header().tenant != ctx.tenant {
            return Err(EnvelopeError::TenantMismatch {
                expected: ctx.tenant.to_owned(),
                found: self.header().tenant.clone(),
            });
        }
        self.check_time(ctx.now, skew_secs)?;
        Ok(cert::verify_chain(&self.header().chain, ctx, &mut cache)?)
    }
}

/// The caller's cache plus the ids this verification has already checked, so the full chain
/// verification after authentication never verifies a certificate signature twice.
struct Layered<'a> {
    inner: &'a mut dyn VerifiedCache,
    seen: Vec<CertId>,
}

impl VerifiedCache for Layered<'_> {
    fn is_verified(&self, id: &CertId) -> bool {
        self.seen.contains(id) || self.inner.is_verified(id)
    }

    fn mark_verified(&mut self, id: CertId) {
        self.seen.push(id);
        self.inner.mark_verified(id);
    }

    fn statement_signature_verified(&self, signer: &PublicKey, statement_bytes: &[u8]) -> bool {
        self.inner
            .statement_signature_verified(signer, statement_bytes)
    }
}

impl Signed<Genesis> {
    /// Verifies a genesis, in this order: the `kid` is the key id of field 17 and the signature
    /// verifies (strict) under field 17 (authentication); |`now` − issued-at| ≤ `skew_secs`.
    /// The resulting chain is the root's own (empty chain, unlimited scope). The tenant checks
    /// the root key's fingerprint out of band.
    pub fn verify_genesis(
        &self,
        now: u64,
        skew_secs: u64,
    ) -> Result<Verified<Genesis>, EnvelopeError> {
        let root = self.body().root;
        self.check_signature(&root)?;
        self.check_time(now, skew_secs)?;
        let ctx = ChainContext {
            tenant: &self.header().tenant,
            root: &root,
            now,
        };
        let chain = cert::verify_chain(&[], &ctx, &mut NoCache)?;
        Ok(Verified {
            signed: self.clone(),
            chain,
        })
    }
}

/// A statement whose tenant, time, chain and signature verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified<K> {
    signed: Signed<K>,
    chain: VerifiedChain,
}

impl<K: Kind> Verified<K> {
    /// The verified statement.
    pub fn signed(&self) -> &Signed<K> {
        &self.signed
    }

    /// The verified chain: signer, effective scope, certificate ids (check them for revocation),
    /// labels, earliest expiry, break-glass flag.
    pub fn chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// The verified chain, the statement given up (what a caller keeps of it once judged).
    pub fn into_chain(self) -> VerifiedChain {
        self.chain
    }

    /// The key that signed.
    pub fn signer(&self) -> &PublicKey {
        &self.chain.signer
    }

    /// The common fields.
    pub fn header(&self) -> &Header {
        self.signed.header()
    }

    /// The kind-specific fields.
    pub fn body(&self) -> &K {
        self.signed.body()
    }
}

/// Any parsed statement, by its COSE `typ`.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// A SCIM operation.
    Operation(Signed<OperationBody>),
    /// A revocation.
    Revocation(Signed<Revocation>),
    /// A policy update.
    Policy(Signed<PolicyUpdate>),
    /// A read request.
    ReadRequest(Signed<ReadRequest>),
    /// A tenant genesis.
    Genesis(Signed<Genesis>),
    /// An approval of another statement.
    Approval(Signed<Approval>),
}

impl Statement {
    /// The COSE `typ`.
    pub fn object_type(&self) -> ObjectType {
        match self {
            Statement::Operation(_) => ObjectType::Operation,
            Statement::Revocation(_) => ObjectType::Revocation,
            Statement::Policy(_) => ObjectType::Policy,
            Statement::ReadRequest(_) => ObjectType::ReadRequest,
            Statement::Genesis(_) => ObjectType::Genesis,
            Statement::Approval(_) => ObjectType::Approval,
        }
    }

    /// The exact bytes received.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Statement::Operation(s) => s.bytes(),
            Statement::Revocation(s) => s.bytes(),
            Statement::Policy(s) => s.bytes(),
            Statement::ReadRequest(s) => s.bytes(),
            Statement::Genesis(s) => s.bytes(),
            Statement::Approval(s) => s.bytes(),
        }
    }

    /// SHA-256 of the exact bytes received.
    pub fn submitted_hash(&self) -> [u8; 32] {
        Sha256::digest(self.bytes()).into()
    }

    /// The common fields.
    pub fn header(&self) -> &Header {
        match self {
            Statement::Operation(s) => s.header(),
            Statement::Revocation(s) => s.header(),
            Statement::Policy(s) => s.header(),
            Statement::ReadRequest(s) => s.header(),
            Statement::Genesis(s) => s.header(),
            Statement::Approval(s) => s.header(),
        }
    }
}

/// Parses a statement of any kind, dispatching on its COSE `typ`. Certificates are not
/// statements: their `typ` is refused with `cose.wrong_type`.
pub fn parse_any(bytes: &[u8]) -> Result<Statement, EnvelopeError> {
    let sign1 = cose::parse_any(bytes)?;
    Ok(match sign1.typ {
        ObjectType::Operation => Statement::Operation(Signed::from_sign1(sign1, bytes)?),
        ObjectType::Revocation => Statement::Revocation(Signed::from_sign1(sign1, bytes)?),
        ObjectType::Policy => Statement::Policy(Signed::from_sign1(sign1, bytes)?),
        ObjectType::ReadRequest => Statement::ReadRequest(Signed::from_sign1(sign1, bytes)?),
        ObjectType::Genesis => Statement::Genesis(Signed::from_sign1(sign1, bytes)?),
        ObjectType::Approval => Statement::Approval(Signed::from_sign1(sign1, bytes)?),
        ObjectType::Certificate => {
            return Err(CoseError::WrongType {
                expected:
                    "a statement type (operation, revocation, policy, read, genesis or approval)",
                found: ObjectType::Certificate.media_type().to_owned(),
            }
            .into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: u64 = 1_800_000_000;
    const ID: &str = "2819c223-7f76-453a-919d-413861904646";

    fn key(b: u8) -> SigningKey {
        SigningKey::from_seed(&[b; 32])
    }

    fn header(chain: Vec<Certificate>) -> Header {
        Header {
            tenant: "acme".into(),
            nonce: vec![7; 16],
            issued_at: T0,
            chain,
        }
    }

    fn indexed_op(indexes: BTreeMap<String, Option<String>>) -> Envelope<OperationBody> {
        Envelope::new(
            header(vec![]),
            OperationBody {
                resource_type: "User".into(),
                resource_id: ID.into(),
                if_match: None,
                change: Change::create(&json!({"userName": "zk1.x"})).unwrap(),
                indexes,
            },
        )
    }

    #[test]
    fn indexes_roundtrip_and_are_checked() {
        let token = format!("zkx1.{}", "A".repeat(22));
        let mut indexes = BTreeMap::new();
        indexes.insert("username".to_owned(), Some(token.clone()));
        indexes.insert("externalid".to_owned(), None);
        let bytes = indexed_op(indexes.clone()).sign(&key(1));
        let parsed = Signed::<OperationBody>::parse(&bytes).unwrap();
        assert_eq!(parsed.body().indexes, indexes);
        // Paths must be normalised, tokens well-shaped.
        for (path, value) in [
            ("userName", Some(token.clone())),
            ("username", Some("zkx1.!".to_owned())),
        ] {
            let mut bad = BTreeMap::new();
            bad.insert(path.to_owned(), value);
            let err = Signed::<OperationBody>::parse(&indexed_op(bad).sign(&key(1))).unwrap_err();
            assert_eq!(err.code(), "envelope.invalid_field", "{path}: {err}");
        }
    }

    #[test]
    fn every_kind_roundtrips_through_parse_any() {
        let root = key(1);
        let op = Envelope::new(
            header(vec![]),
            OperationBody {
                resource_type: "User".into(),
                resource_id: ID.into(),
                if_match: Some("W/\"3\"".into()),
                change: Change::create(&json!({"userName": "zk1.x", "active": true})).unwrap(),
                indexes: Default::default(),
            },
        );
        let revocation = Envelope::new(
            header(vec![]),
            Revocation {
                target: CertId([9; 32]),
                reason: Some("key lost".into()),
                certificate: None,
            },
        );
        let policy = Envelope::new(
            header(vec![]),
            PolicyUpdate {
                document: Value::Map(vec![(Value::int(1), Value::text("x"))]),
            },
        );
        let read = Envelope::new(
            header(vec![]),
            ReadRequest {
                method: "GET".into(),
                path_and_query: "/Users?filter=userName%20eq%20%22x%22".into(),
                body_sha256: None,
            },
        );
        let genesis = Envelope::new(
            header(vec![]),
            Genesis {
                root: root.public_key(),
            },
        );
        for (bytes, typ) in [
            (op.sign(&root), ObjectType::Operation),
            (revocation.sign(&root), ObjectType::Revocation),
            (policy.sign(&root), ObjectType::Policy),
            (read.sign(&root), ObjectType::ReadRequest),
            (genesis.sign(&root), ObjectType::Genesis),
        ] {
            let statement = parse_any(&bytes).unwrap();
            assert_eq!(statement.object_type(), typ);
            assert_eq!(statement.bytes(), bytes.as_slice());
            assert_eq!(
                statement.submitted_hash(),
                <[u8; 32]>::from(Sha256::digest(&bytes))
            );
        }
        let parsed = Signed::<OperationBody>::parse(&op.sign(&root)).unwrap();
        assert_eq!(parsed.envelope(), &op);
        let g = Signed::<Genesis>::parse(&genesis.sign(&root)).unwrap();
        let verified = g.verify_genesis(T0 + 5, 300).unwrap();
        assert_eq!(verified.signer(), &root.public_key());
        // Genesis signed by another key than field 17.
        let forged = Signed::<Genesis>::parse(&genesis.sign(&key(2))).unwrap();
        assert_eq!(
            forged.verify_genesis(T0, 300).unwrap_err().code(),
            "envelope.signer_mismatch"
        );
    }

    #[test]
    fn field_rules_per_operation() {
        let root = key(1);
        let base = OperationBody {
            resource_type: "User".into(),
            resource_id: ID.into(),
            if_match: None,
            change: Change::Delete,
            indexes: Default::default(),
        };
        let check = |body: OperationBody| Envelope::new(header(vec![]), body).validate();
        check(base.clone()).unwrap();
        let cases = [
            (
                OperationBody {
                    resource_id: ID.to_uppercase(),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    resource_id: "x".into(),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    resource_type: "Us er".into(),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    if_match: Some(String::new()),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    change: Change::Create(json!([])),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    change: Change::Patch(vec![]),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
            (
                OperationBody {
                    change: Change::Patch(vec![json!(null)]),
                    ..base.clone()
                },
                "envelope.invalid_field",
            ),
        ];
        for (body, code) in cases {
            assert_eq!(check(body.clone()).unwrap_err().code(), code, "{body:?}");
        }
        // Content too deep to encode is refused by validation for what it is.
        let mut deep = json!({});
        for _ in 0..codec::MAX_DEPTH {
            deep = json!({ "a": deep });
        }
        let too_deep = OperationBody {
            change: Change::Create(deep),
            ..base.clone()
        };
        let refused = check(too_deep).unwrap_err();
        assert_eq!(
            refused,
            EnvelopeError::Json(JsonBridgeError::TooDeep),
            "{refused}"
        );
        // A resource JSON cannot hold (an integer key) is refused where it is read.
        let create = OperationBody {
            change: Change::create(&json!({})).unwrap(),
            ..base.clone()
        };
        let mut map = header(vec![]).write(MapBuilder::new(), true);
        map = map
            .field(KEY_OP, Value::text("create"))
            .field(KEY_RESOURCE_TYPE, Value::text(create.resource_type.clone()))
            .field(KEY_RESOURCE_ID, Value::text(create.resource_id.clone()))
            .field(KEY_RESOURCE, Value::Map(vec![(Value::int(1), Value::Null)]));
        let bytes = cose::sign(ObjectType::Operation, &root, &map.build().to_bytes());
        let refused = Signed::<OperationBody>::parse(&bytes).unwrap_err();
        assert_eq!(refused.code(), "envelope.invalid_field", "{refused}");
        assert!(
            refused.to_string().contains("map key that is not text"),
            "{refused}"
        );
        // Field 8 on a delete, field 9 on a create.
        let mut map = header(vec![]).write(MapBuilder::new(), true);
        map = base.write(map).field(KEY_RESOURCE, Value::Map(vec![]));
        let bytes = cose::sign(ObjectType::Operation, &root, &map.build().to_bytes());
        assert_eq!(
            Signed::<OperationBody>::parse(&bytes).unwrap_err().code(),
            "envelope.field_not_allowed"
        );
        let create = OperationBody {
            change: Change::create(&json!({})).unwrap(),
            ..base.clone()
        };
        let map = create
            .write(header(vec![]).write(MapBuilder::new(), true))
            .field(KEY_PATCH, Value::Array(vec![]));
        let bytes = cose::sign(ObjectType::Operation, &root, &map.build().to_bytes());
        assert_eq!(
            Signed::<OperationBody>::parse(&bytes).unwrap_err().code(),
            "envelope.field_not_allowed"
        );
    }

    #[test]
    fn touched_paths_from_the_body() {
        let body = OperationBody {
            resource_type: "User".into(),
            resource_id: ID.into(),
            if_match: None,
            change: Change::patch(
                &json!([{"op": "replace", "path": "name.givenName", "value": "x"}]),
            )
            .unwrap(),
            indexes: Default::default(),
        };
        let paths = body.touched_paths(None).unwrap();
        assert_eq!(
            paths.iter().map(AttrPath::as_str).collect::<Vec<_>>(),
            ["name.givenname"]
        );
        // Blind indexes count as writes of their attribute.
        let with_index = OperationBody {
            indexes: [("username".to_owned(), None)].into_iter().collect(),
            ..body.clone()
        };
        assert_eq!(
            with_index
                .touched_paths(None)
                .unwrap()
                .iter()
                .map(AttrPath::as_str)
                .collect::<Vec<_>>(),
            ["name.givenname", "username"]
        );
        // Both at once: the same paths, and the body `body_json` gives.
        let (paths, json) = with_index.touched_paths_and_body(None).unwrap();
        assert_eq!(paths, with_index.touched_paths(None).unwrap());
        assert_eq!(json, with_index.body_json().unwrap());
        assert_eq!(
            json,
            json!([{"op": "replace", "path": "name.givenName", "value": "x"}])
        );
        assert_eq!(
            Change::patch(&json!([])).unwrap_err().code(),
            "touch.no_operations"
        );
        assert_eq!(
            Change::create(&json!([])).unwrap_err().code(),
            "touch.wrong_shape"
        );
    }

    #[test]
    fn uuid_form() {
        assert!(is_canonical_uuid(ID));
        assert!(!is_canonical_uuid(&ID.to_uppercase()));
        assert!(!is_canonical_uuid("2819c2237f76453a919d413861904646"));
        assert!(!is_canonical_uuid("{2819c223-7f76-453a-919d-413861904646}"));
        assert!(!is_canonical_uuid("2819c223-7f76-453a-919d-41386190464g"));
    }
}
