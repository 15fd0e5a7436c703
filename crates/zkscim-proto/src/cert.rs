//! Delegation certificates and chain verification.
//!
//! A certificate is a COSE_Sign1 (typ `application/zkscim-cert+cbor`) over a CWT-style claim
//! set: who issued it, which key it empowers, for which tenant, when, how much further it may
//! delegate, a label people recognise, and a [`Scope`]. Its id is the SHA-256 of its exact bytes:
//! one hash serves revocation, caching and dedup.
//!
//! A chain runs from the certificate the tenant root signed down to the signer's. Verification
//! checks, for each certificate in order: signature (strict), issuer linkage (root key id first,
//! then each parent's subject), parent id linkage, tenant, validity window at the given time,
//! remaining depth, the parent's `delegate` capability, and attenuation of every scope dimension
//! including validity. The first failure is reported with the certificate's position and id and
//! the failing dimension. Issuing runs the same attenuation rules, so a well-behaved issuer never
//! produces a certificate that verification would refuse.
//!
//! Revocation is state, not format: [`VerifiedChain::certificate_ids`] lets the caller check each
//! id against its revocation set. Signature checks are cached by certificate id (the id covers the
//! signed bytes, so a verified signature stays verified); nothing time- or state-dependent is.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::codec::{self, FieldReader, MapBuilder, ShapeError, Value};
use crate::cose::{self, CoseError, ObjectType, Sign1};
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::scope::{Capability, Dimension, Scope, ScopeError};

/// Longest chain accepted (root-signed certificate first).
pub const MAX_CHAIN_LEN: usize = 8;
/// Longest certificate label, in bytes.
pub const MAX_LABEL_LEN: usize = 128;

/// Claim key: issuer key id (bstr 32).
pub const CLAIM_ISSUER: i64 = 1;
/// Claim key: subject public key (bstr 32).
pub const CLAIM_SUBJECT: i64 = 2;
/// Claim key: expiry, unix seconds (exclusive).
pub const CLAIM_EXPIRES: i64 = 4;
/// Claim key: not-before, unix seconds (inclusive).
pub const CLAIM_NOT_BEFORE: i64 = 5;
/// Claim key: issued-at, unix seconds.
pub const CLAIM_ISSUED_AT: i64 = 6;
/// Claim key: nonce (bstr 16), the CWT `cti`.
pub const CLAIM_NONCE: i64 = 7;
/// Claim key: tenant id (text).
pub const CLAIM_TENANT: i64 = -1;
/// Claim key: parent certificate id (bstr 32); absent when the tenant root is the issuer.
pub const CLAIM_PARENT: i64 = -2;
/// Claim key: remaining delegation depth (uint).
pub const CLAIM_DEPTH: i64 = -3;
/// Claim key: label (text).
pub const CLAIM_LABEL: i64 = -4;
/// Claim key: scope (map).
pub const CLAIM_SCOPE: i64 = -5;

/// A certificate's id: SHA-256 of its exact COSE_Sign1 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertId(pub [u8; 32]);

impl CertId {
    /// The id of certificate bytes.
    pub fn of(bytes: &[u8]) -> CertId {
        CertId(Sha256::digest(bytes).into())
    }

    /// First 8 bytes in hex.
    pub fn short(&self) -> String {
        hex::encode(self.0.get(..8).unwrap_or_default())
    }

    /// Full hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<CertId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(CertId(out))
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertId({})", self.short())
    }
}

/// The claims of a delegation certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Key id of the issuer (the tenant root, or the parent certificate's subject).
    pub issuer: KeyId,
    /// The key this certificate empowers.
    pub subject: PublicKey,
    /// Tenant the certificate acts for.
    pub tenant: String,
    /// Valid from (inclusive), unix seconds.
    pub not_before: u64,
    /// Valid until (exclusive), unix seconds.
    pub expires: u64,
    /// When it was issued, unix seconds.
    pub issued_at: u64,
    /// 16 random bytes, so two otherwise identical certificates have different ids.
    pub nonce: [u8; 16],
    /// Id of the issuer's own certificate; `None` when the root issued this one.
    pub parent: Option<CertId>,
    /// How many further levels of delegation are allowed beneath this certificate.
    pub depth: u8,
    /// Human label ("okta-prod-connector").
    pub label: String,
    /// What the subject may do.
    pub scope: Scope,
}

/// Characters refused in labels: controls, and the invisible and bidirectional formatting
/// characters that could make one label display as another in audit output.
fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Tenant ids: 1 to 64 of `a-z`, `0-9`, `-`.
pub fn validate_tenant_id(tenant: &str) -> Result<(), CertError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CertError::InvalidTenant(tenant.chars().take(80).collect()))
    }
}

impl Claims {
    fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .field(CLAIM_ISSUER, Value::bytes(self.issuer.0.to_vec()))
            .field(
                CLAIM_SUBJECT,
                Value::bytes(self.subject.to_bytes().to_vec()),
            )
            .field(CLAIM_EXPIRES, Value::Unsigned(self.expires))
            .field(CLAIM_NOT_BEFORE, Value::Unsigned(self.not_before))
            .field(CLAIM_ISSUED_AT, Value::Unsigned(self.issued_at))
            .field(CLAIM_NONCE, Value::bytes(self.nonce.to_vec()))
            .field(CLAIM_TENANT, Value::text(self.tenant.clone()))
            .optional(
                CLAIM_PARENT,
                self.parent.map(|p| Value::bytes(p.0.to_vec())),
            )
            .field(CLAIM_DEPTH, Value::Unsigned(u64::from(self.depth)))
            .field(CLAIM_LABEL, Value::text(self.label.clone()))
            .field(CLAIM_SCOPE, self.scope.to_cbor())
            .build()
    }

    fn from_cbor(value: &Value) -> Result<Claims, CertError> {
        let mut r = FieldReader::new("certificate claims", value)?;
        let issuer = KeyId(r.fixed_bytes::<32>(CLAIM_ISSUER, "issuer")?);
        let subject_bytes = r.fixed_bytes::<32>(CLAIM_SUBJECT, "subject")?;
        let subject = PublicKey::from_bytes(&subject_bytes)
            .map_err(|e| r.invalid(CLAIM_SUBJECT, "subject", e.to_string()))?;
        let expires = r.uint(CLAIM_EXPIRES, "expires")?;
        let not_before = r.uint(CLAIM_NOT_BEFORE, "not_before")?;
        let issued_at = r.uint(CLAIM_ISSUED_AT, "issued_at")?;
        let nonce = r.fixed_bytes::<16>(CLAIM_NONCE, "nonce")?;
        let tenant = r.text(CLAIM_TENANT, "tenant")?.to_owned();
        validate_tenant_id(&tenant)?;
        let parent = match r.optional(CLAIM_PARENT) {
            None => None,
            Some(_) => Some(CertId(r.fixed_bytes::<32>(CLAIM_PARENT, "parent")?)),
        };
        let depth_raw = r.uint(CLAIM_DEPTH, "depth")?;
        let depth = u8::try_from(depth_raw)
            .ok()
            .filter(|d| usize::from(*d) < MAX_CHAIN_LEN)
            .ok_or_else(|| {
                r.invalid(
                    CLAIM_DEPTH,
                    "depth",
                    format!("{depth_raw} exceeds the maximum of {}", MAX_CHAIN_LEN - 1),
                )
            })?;
        let label = r.text(CLAIM_LABEL, "label")?.to_owned();
        if label.len() > MAX_LABEL_LEN || label.chars().any(is_deceptive_char) {
            return Err(r
                .invalid(
                    CLAIM_LABEL,
                    "label",
                    "at most 128 bytes, no control characters",
                )
                .into());
        }
        let scope = Scope::from_cbor(r.required(CLAIM_SCOPE, "scope")?)?;
        r.finish()?;
        if expires <= not_before {
            return Err(CertError::EmptyValidity {
                not_before,
                expires,
            });
        }
        Ok(Claims {
            issuer,
            subject,
            tenant,
            not_before,
            expires,
            issued_at,
            nonce,
            parent,
            depth,
            label,
            scope,
        })
    }
}

/// Why a certificate could not be parsed or issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The COSE envelope is malformed, or of another type.
    #[error("certificate envelope: {0}")]
    Cose(#[from] CoseError),
    /// The claims are malformed.
    #[error("certificate claims: {0}")]
    Shape(#[from] ShapeError),
    /// The scope is malformed, or wider than the parent's when issuing.
    #[error("certificate scope: {0}")]
    Scope(#[from] ScopeError),
    /// The tenant id is not acceptable.
    #[error("invalid tenant id {0:?}: use 1 to 64 characters of a-z, 0-9 and '-'")]
    InvalidTenant(String),
    /// `expires` is not after `not_before`.
    #[error("certificate validity is empty: not before {not_before}, expires {expires}")]
    EmptyValidity {
        /// Not before.
        not_before: u64,
        /// Expires.
        expires: u64,
    },
    /// Issuing under a parent that may not delegate, or whose depth is exhausted, or with the
    /// wrong key.
    #[error("cannot issue under this parent: {0}")]
    Issue(String),
}

impl CertError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CertError::Cose(e) => e.code(),
            CertError::Shape(e) => e.code(),
            CertError::Scope(e) => e.code(),
            CertError::InvalidTenant(_) => "cert.invalid_tenant",
            CertError::EmptyValidity { .. } => "cert.empty_validity",
            CertError::Issue(_) => "cert.issue",
        }
    }
}

/// Most certificates remembered per thread by [`Certificate::parse`] (cleared when full).
const PARSE_MEMO_CAPACITY: usize = 4096;

/// Bytes of a certificate's end that key [`Certificate::parse`]'s memo: the end of its Ed25519
/// signature, which differs between any two certificates but a key holder's deliberate
/// copies, and costs nothing to find (the id would mean a SHA-256 of the whole certificate per
/// lookup, for every certificate of every statement's chain).
const MEMO_KEY_BYTES: usize = 32;

thread_local! {
    static PARSED: std::cell::RefCell<
        std::collections::HashMap<[u8; MEMO_KEY_BYTES], Certificate>,
    > = std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The memo key of `bytes`: its last [`MEMO_KEY_BYTES`] bytes (zero-padded if shorter).
fn memo_key(bytes: &[u8]) -> [u8; MEMO_KEY_BYTES] {
    let mut key = [0u8; MEMO_KEY_BYTES];
    let tail = bytes
        .get(bytes.len().saturating_sub(MEMO_KEY_BYTES)..)
        .unwrap_or_default();
    if let Some(dst) = key.get_mut(..tail.len()) {
        dst.copy_from_slice(tail);
    }
    key
}

/// A parsed certificate (signature not yet verified: see [`verify_chain`]). Immutable and
/// shared: every statement carries its chain, so a clone is a reference count, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    inner: std::sync::Arc<CertificateParts>,
}

#[derive(Debug, PartialEq, Eq)]
struct CertificateParts {
    bytes: Vec<u8>,
    id: CertId,
    sign1: Sign1,
    claims: Claims,
    /// The claims' scope, shared: every chain verified through this certificate hands it out
    /// (a copy per statement was several allocations on the replay's critical path).
    scope: std::sync::Arc<Scope>,
}

impl Certificate {
    /// Parses certificate bytes strictly.
    pub fn parse(bytes: &[u8]) -> Result<Certificate, CertError> {
        // Every statement carries its whole chain, so the same few certificates are parsed over
        // and over (point decompression included). A parse depends on the bytes alone, so a
        // per-thread memo is exact as long as a hit is checked against the whole bytes, which
        // it is: certificates sharing a key only replace each other in the memo.
        let key = memo_key(bytes);
        let hit = PARSED.with(|memo| {
            memo.borrow()
                .get(&key)
                .filter(|c| c.inner.bytes == bytes)
                .cloned()
        });
        if let Some(cert) = hit {
            return Ok(cert);
        }
        let cert = Certificate::parse_uncached(bytes, CertId::of(bytes))?;
        PARSED.with(|memo| {
            let mut memo = memo.borrow_mut();
            if memo.len() >= PARSE_MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(key, cert.clone());
        });
        Ok(cert)
    }

    fn parse_uncached(bytes: &[u8], id: CertId) -> Result<Certificate, CertError> {
        let sign1 = cose::parse(bytes, ObjectType::Certificate)?;
        let payload = codec::decode(&sign1.payload).map_err(CoseError::from)?;
        let claims = Claims::from_cbor(&payload)?;
        if sign1.kid != claims.issuer {
            return Err(CertError::Issue(format!(
                "COSE kid {} differs from the issuer claim {}",
                sign1.kid.short(),
                claims.issuer.short()
            )));
        }
        Ok(Certificate {
            inner: std::sync::Arc::new(CertificateParts {
                bytes: bytes.to_vec(),
                id,
                sign1,
                scope: std::sync::Arc::new(claims.scope.clone()),
                claims,
            }),
        })
    }

    /// Signs `claims` with `issuer_key`. When `parent` is given, the parent must belong to the
    /// issuer key, allow delegation, have depth left, and contain the new certificate in every
    /// dimension; when it is `None`, `issuer_key` acts as the tenant root.
    pub fn issue(
        issuer_key: &SigningKey,
        parent: Option<&Certificate>,
        mut claims: Claims,
    ) -> Result<Certificate, CertError> {
        validate_tenant_id(&claims.tenant)?;
        claims.issuer = issuer_key.key_id();
        claims.parent = parent.map(Certificate::id);
        if claims.expires <= claims.not_before {
            return Err(CertError::EmptyValidity {
                not_before: claims.not_before,
                expires: claims.expires,
            });
        }
        if usize::from(claims.depth) >= MAX_CHAIN_LEN {
            return Err(CertError::Issue(format!(
                "depth {} exceeds the maximum of {}",
                claims.depth,
                MAX_CHAIN_LEN - 1
            )));
        }
        if let Some(parent) = parent {
            if parent.inner.claims.subject.key_id() != issuer_key.key_id() {
                return Err(CertError::Issue(
                    "the signing key is not the parent certificate's subject".into(),
                ));
            }
            if parent.inner.claims.tenant != claims.tenant {
                return Err(CertError::Issue(format!(
                    "parent is for tenant '{}', not '{}'",
                    parent.inner.claims.tenant, claims.tenant
                )));
            }
            if let Err(violation) = check_child(&parent.inner.claims, &claims) {
                return Err(CertError::Issue(violation.detail));
            }
        }
        let payload = claims.to_cbor().to_bytes();
        let bytes = cose::sign(ObjectType::Certificate, issuer_key, &payload);
        let issued = Certificate::parse(&bytes)?;
        // A hand-built scope that does not survive encoding (e.g. a resource type named "*")
        // would be signed as something else than what the issuer asked for.
        if issued.inner.claims != claims {
            return Err(CertError::Issue(
                "the claims do not survive encoding unchanged (is a resource type or group literally \"*\"?)".into(),
            ));
        }
        Ok(issued)
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// SHA-256 of the exact bytes.
    pub fn id(&self) -> CertId {
        self.inner.id
    }

    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.inner.claims
    }

    /// The parsed COSE envelope.
    pub fn sign1(&self) -> &Sign1 {
        &self.inner.sign1
    }
}

/// How a child certificate fails to fit under its parent.
struct Violation {
    dimension: Dimension,
    detail: String,
}

/// The delegation rules between a parent certificate's claims and a child's.
fn check_child(parent: &Claims, child: &Claims) -> Result<(), Violation> {
    if !parent.scope.has(Capability::Delegate) {
        return Err(Violation {
            dimension: Dimension::Capabilities,
            detail: format!("parent '{}' lacks the 'delegate' capability", parent.label),
        });
    }
    if parent.depth == 0 || child.depth >= parent.depth {
        return Err(Violation {
            dimension: Dimension::Depth,
            detail: format!(
                "child depth {} must be below parent depth {}",
                child.depth, parent.depth
            ),
        });
    }
    if child.not_before < parent.not_before || child.expires > parent.expires {
        return Err(Violation {
            dimension: Dimension::Validity,
            detail: format!(
                "child valid [{}, {}) is not within parent's [{}, {})",
                child.not_before, child.expires, parent.not_before, parent.expires
            ),
        });
    }
    child
        .scope
        .check_attenuates(&parent.scope)
        .map_err(|e| match e {
            ScopeError::Attenuation { dimension, detail } => Violation { dimension, detail },
            other => Violation {
                dimension: Dimension::Attributes,
                detail: other.to_string(),
            },
        })
}

/// Certificate ids whose signatures were already verified.
pub trait VerifiedCache {
    /// Whether `id`'s signature was verified before.
    fn is_verified(&self, id: &CertId) -> bool;
    /// Records that `id`'s signature verified.
    fn mark_verified(&mut self, id: CertId);
    /// Whether the signature of the statement whose exact COSE_Sign1 bytes are
    /// `statement_bytes` was already verified under `signer` (the pre-verified-signature hook
    /// for batch verification, DESIGN §3). Only a cache that itself verified exactly these bytes
    /// under exactly this key may answer `true`; the default never does.
    fn statement_signature_verified(&self, _signer: &PublicKey, _statement_bytes: &[u8]) -> bool {
        false
    }
}

/// A cache that remembers nothing: every chain verification is cold.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl VerifiedCache for NoCache {
    fn is_verified(&self, _: &CertId) -> bool {
        false
    }
    fn mark_verified(&mut self, _: CertId) {}
}

impl<S: std::hash::BuildHasher> VerifiedCache for std::collections::HashSet<CertId, S> {
    fn is_verified(&self, id: &CertId) -> bool {
        self.contains(id)
    }
    fn mark_verified(&mut self, id: CertId) {
        self.insert(id);
    }
}

/// What a chain is verified against.
#[derive(Debug, Clone, Copy)]
pub struct ChainContext<'a> {
    /// The tenant the operation acts for.
    pub tenant: &'a str,
    /// The tenant's root public key (from its genesis entry).
    pub root: &'a PublicKey,
    /// The time to check validity at, unix seconds.
    pub now: u64,
}

/// The outcome of a successful chain verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The key the chain empowers (the root itself for an empty chain).
    pub signer: PublicKey,
    /// The effective scope: the last certificate's (each is within its parent's), shared with
    /// that certificate.
    pub scope: std::sync::Arc<Scope>,
    /// Ids, root-signed certificate first. Check each against revocations.
    pub certificate_ids: Vec<CertId>,
    /// Labels, root-signed certificate first.
    pub labels: Vec<String>,
    /// Earliest expiry along the chain.
    pub expires: u64,
    /// Whether the effective scope carries `break_glass` (every use is flagged).
    pub break_glass: bool,
}

/// What failed in a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainErrorKind {
    /// More certificates than [`MAX_CHAIN_LEN`].
    #[error("chain has {0} certificates, more than the {MAX_CHAIN_LEN} allowed")]
    TooLong(usize),
    /// The signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// The issuer is not the expected key.
    #[error("issued by key {found}, expected {expected}")]
    Issuer {
        /// Expected issuer key id (short).
        expected: String,
        /// Found issuer key id (short).
        found: String,
    },
    /// The parent claim does not name the previous certificate.
    #[error("parent claim {found} does not name the previous certificate {expected}")]
    Parent {
        /// Expected parent id (short), or "none" for the first certificate.
        expected: String,
        /// Found parent id (short), or "none".
        found: String,
    },
    /// The certificate is for another tenant.
    #[error("issued for tenant '{found}', not '{expected}'")]
    Tenant {
        /// The operation's tenant.
        expected: String,
        /// The certificate's tenant.
        found: String,
    },
    /// Not yet valid.
    #[error("not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Not before.
        not_before: u64,
        /// Check time.
        now: u64,
    },
    /// Expired.
    #[error("expired at {expires} (now {now})")]
    Expired {
        /// Expiry.
        expires: u64,
        /// Check time.
        now: u64,
    },
    /// Wider than its parent in some dimension, or the parent may not delegate.
    #[error("exceeds its parent in {dimension}: {detail}")]
    Attenuation {
        /// The failing dimension.
        dimension: Dimension,
        /// What exactly.
        detail: String,
    },
}

/// A chain verification failure, naming the certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate {position} ({label}, id {cert_id}) in the chain: {kind}")]
pub struct ChainError {
    /// Zero-based position in the chain (0 = root-signed).
    pub position: usize,
    /// Short id of the failing certificate.
    pub cert_id: String,
    /// Its label.
    pub label: String,
    /// What failed.
    pub kind: ChainErrorKind,
}

impl ChainError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            ChainErrorKind::TooLong(_) => "chain.too_long",
            ChainErrorKind::Signature => "chain.signature",
            ChainErrorKind::Issuer { .. } => "chain.issuer",
            ChainErrorKind::Parent { .. } => "chain.parent",
            ChainErrorKind::Tenant { .. } => "chain.tenant",
            ChainErrorKind::NotYetValid { .. } => "chain.not_yet_valid",
            ChainErrorKind::Expired { .. } => "chain.expired",
            ChainErrorKind::Attenuation { dimension, .. } => match dimension {
                Dimension::Operations => "chain.attenuation.operations",
                Dimension::ResourceTypes => "chain.attenuation.resource_types",
                Dimension::Attributes => "chain.attenuation.attributes",
                Dimension::Groups => "chain.attenuation.groups",
                Dimension::Capabilities => "chain.attenuation.capabilities",
                Dimension::Validity => "chain.attenuation.validity",
                Dimension::Depth => "chain.attenuation.depth",
            },
        }
    }
}

/// Checks only who signed what: issuer and parent linkage from the root down, and every
/// signature. Returns the key the chain empowers.
///
/// This separates *unauthenticated* input (forgeries, chains from another root: never logged)
/// from *well-signed but refused* input (expired, out of scope, wrong tenant: logged as a
/// refusal, because someone with a real key asked for it).
pub fn authenticate_chain(
    chain: &[Certificate],
    root: &PublicKey,
    cache: &mut dyn VerifiedCache,
) -> Result<PublicKey, ChainError> {
    if chain.len() > MAX_CHAIN_LEN {
        return Err(ChainError {
            position: MAX_CHAIN_LEN,
            cert_id: chain
                .get(MAX_CHAIN_LEN)
                .map(|c| c.inner.id.short())
                .unwrap_or_default(),
            label: String::new(),
            kind: ChainErrorKind::TooLong(chain.len()),
        });
    }
    let mut issuer_key = *root;
    let mut parent: Option<&Certificate> = None;
    for (position, cert) in chain.iter().enumerate() {
        check_link(position, cert, &issuer_key, parent, cache)?;
        issuer_key = cert.inner.claims.subject;
        parent = Some(cert);
    }
    Ok(issuer_key)
}

/// Issuer, parent and signature checks of one certificate (steps 1–3 of spec §4).
fn check_link(
    position: usize,
    cert: &Certificate,
    issuer_key: &PublicKey,
    parent: Option<&Certificate>,
    cache: &mut dyn VerifiedCache,
) -> Result<(), ChainError> {
    let fail = |kind| ChainError {
        position,
        cert_id: cert.inner.id.short(),
        label: cert.inner.claims.label.clone(),
        kind,
    };
    if cert.inner.claims.issuer != issuer_key.key_id() {
        return Err(fail(ChainErrorKind::Issuer {
            expected: issuer_key.key_id().short(),
            found: cert.inner.claims.issuer.short(),
        }));
    }
    let expected_parent = parent.map(Certificate::id);
    if cert.inner.claims.parent != expected_parent {
        let show = |p: Option<CertId>| p.map_or_else(|| "none".to_owned(), |id| id.short());
        return Err(fail(ChainErrorKind::Parent {
            expected: show(expected_parent),
            found: show(cert.inner.claims.parent),
        }));
    }
    if !cache.is_verified(&cert.inner.id) {
        cert.inner
            .sign1
            .verify(issuer_key)
            .map_err(|_| fail(ChainErrorKind::Signature))?;
        cache.mark_verified(cert.inner.id);
    }
    Ok(())
}

/// The scope of the tenant root key, shared by every root-signed statement's chain.
static UNLIMITED: std::sync::LazyLock<std::sync::Arc<Scope>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(Scope::unlimited()));

/// Verifies `chain` (root-signed certificate first) for `ctx`; see the module docs for the order
/// of checks. An empty chain means the root key itself signs, with unlimited scope.
pub fn verify_chain(
    chain: &[Certificate],
    ctx: &ChainContext<'_>,
    cache: &mut dyn VerifiedCache,
) -> Result<VerifiedChain, ChainError> {
    if chain.len() > MAX_CHAIN_LEN {
        return Err(ChainError {
            position: MAX_CHAIN_LEN,
            cert_id: chain
                .get(MAX_CHAIN_LEN)
                .map(|c| c.inner.id.short())
                .unwrap_or_default(),
            label: String::new(),
            kind: ChainErrorKind::TooLong(chain.len()),
        });
    }
    let mut issuer_key = *ctx.root;
    let mut parent: Option<&Certificate> = None;
    for (position, cert) in chain.iter().enumerate() {
        let fail = |kind| ChainError {
            position,
            cert_id: cert.inner.id.short(),
            label: cert.inner.claims.label.clone(),
            kind,
        };
        check_link(position, cert, &issuer_key, parent, cache)?;
        let claims = &cert.inner.claims;
        if claims.tenant != ctx.tenant {
            return Err(fail(ChainErrorKind::Tenant {
                expected: ctx.tenant.to_owned(),
                found: claims.tenant.clone(),
            }));
        }
        if ctx.now < claims.not_before {
            return Err(fail(ChainErrorKind::NotYetValid {
                not_before: claims.not_before,
                now: ctx.now,
            }));
        }
        if ctx.now >= claims.expires {
            return Err(fail(ChainErrorKind::Expired {
                expires: claims.expires,
                now: ctx.now,
            }));
        }
        if let Some(parent) = parent {
            check_child(&parent.inner.claims, claims).map_err(|v| {
                fail(ChainErrorKind::Attenuation {
                    dimension: v.dimension,
                    detail: v.detail,
                })
            })?;
        }
        issuer_key = claims.subject;
        parent = Some(cert);
    }
    let scope = parent.map_or_else(
        || std::sync::Arc::clone(&UNLIMITED),
        |c| std::sync::Arc::clone(&c.inner.scope),
    );
    Ok(VerifiedChain {
        signer: issuer_key,
        // The root key is not a break-glass key: only a delegated scope carrying the capability is.
        break_glass: !chain.is_empty() && scope.has(Capability::BreakGlass),
        scope,
        certificate_ids: chain.iter().map(Certificate::id).collect(),
        labels: chain.iter().map(|c| c.inner.claims.label.clone()).collect(),
        expires: chain
            .iter()
            .map(|c| c.inner.claims.expires)
            .min()
            .unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeBuilder;
    use std::collections::HashSet;

    const T0: u64 = 1_800_000_000;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_seed(&[b; 32])
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

    fn admin_scope() -> Scope {
        ScopeBuilder::new()
            .operations(["create", "patch", "delete"])
            .resource_types(["User", "Group"])
            .attributes(["*"])
            .capabilities(["delegate", "revoke"])
            .build()
            .unwrap()
    }

    fn connector_scope() -> Scope {
        ScopeBuilder::new()
            .operations(["create", "patch"])
            .resource_types(["User"])
            .attributes(["active", "name"])
            .build()
            .unwrap()
    }

    fn chain() -> (SigningKey, Vec<Certificate>) {
        let root = key(1);
        let admin = key(2);
        let connector = key(3);
        let c1 =
            Certificate::issue(&root, None, claims(&admin, 1, admin_scope(), "admin")).unwrap();
        let c2 = Certificate::issue(
            &admin,
            Some(&c1),
            claims(&connector, 0, connector_scope(), "okta"),
        )
        .unwrap();
        (root, vec![c1, c2])
    }

    #[test]
    fn valid_chain_verifies_and_caches() {
        let (root, chain) = chain();
        let pk = root.public_key();
        let ctx = ChainContext {
            tenant: "acme",
            root: &pk,
            now: T0 + 10,
        };
        let mut cache = HashSet::new();
        let verified = verify_chain(&chain, &ctx, &mut cache).unwrap();
        assert_eq!(verified.signer, key(3).public_key());
        assert_eq!(*verified.scope, connector_scope());
        assert_eq!(verified.labels, ["admin", "okta"]);
        assert_eq!(cache.len(), 2);
        assert_eq!(verify_chain(&chain, &ctx, &mut cache).unwrap(), verified);
    }

    #[test]
    fn time_tenant_and_root_failures_name_the_certificate() {
        let (root, chain) = chain();
        let pk = root.public_key();
        let at = |now| ChainContext {
            tenant: "acme",
            root: &pk,
            now,
        };
        assert_eq!(
            verify_chain(&chain, &at(T0 - 1), &mut NoCache)
                .unwrap_err()
                .code(),
            "chain.not_yet_valid"
        );
        let err = verify_chain(&chain, &at(T0 + 86_400), &mut NoCache).unwrap_err();
        assert_eq!((err.code(), err.position), ("chain.expired", 0));
        let other = ChainContext {
            tenant: "evil",
            root: &pk,
            now: T0,
        };
        assert_eq!(
            verify_chain(&chain, &other, &mut NoCache)
                .unwrap_err()
                .code(),
            "chain.tenant"
        );
        let wrong_root = key(9).public_key();
        let ctx = ChainContext {
            tenant: "acme",
            root: &wrong_root,
            now: T0,
        };
        assert_eq!(
            verify_chain(&chain, &ctx, &mut NoCache).unwrap_err().code(),
            "chain.issuer"
        );
    }

    #[test]
    fn issuing_refuses_escalation() {
        let (_, chain) = chain();
        let wide = ScopeBuilder::new()
            .operations(["create", "patch", "delete"])
            .resource_types(["User"])
            .attributes(["active"])
            .build()
            .unwrap();
        let err = Certificate::issue(&key(3), Some(&chain[1]), claims(&key(4), 0, wide, "x"))
            .unwrap_err();
        assert_eq!(err.code(), "cert.issue");
        let err = Certificate::issue(
            &key(2),
            Some(&chain[0]),
            claims(&key(4), 1, connector_scope(), "x"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("depth"), "{err}");
    }

    /// A parent that signs an over-wide child by hand (bypassing `issue`) is still caught.
    #[test]
    fn verification_refuses_hand_made_escalation() {
        let (root, chain) = chain();
        let mut c = claims(&key(4), 0, admin_scope(), "rogue");
        c.issuer = key(3).key_id();
        c.parent = Some(chain[1].id());
        let bytes = cose::sign(ObjectType::Certificate, &key(3), &c.to_cbor().to_bytes());
        let rogue = Certificate::parse(&bytes).unwrap();
        let full = vec![chain[0].clone(), chain[1].clone(), rogue];
        let pk = root.public_key();
        let ctx = ChainContext {
            tenant: "acme",
            root: &pk,
            now: T0,
        };
        let err = verify_chain(&full, &ctx, &mut NoCache).unwrap_err();
        assert_eq!(err.position, 2);
        assert_eq!(err.code(), "chain.attenuation.capabilities");
    }

    #[test]
    fn parse_memo_is_exact() {
        let (_, chain) = chain();
        let bytes = chain[1].bytes().to_vec();
        assert_eq!(Certificate::parse(&bytes).unwrap(), chain[1]);
        assert_eq!(
            Certificate::parse(&bytes).unwrap(),
            chain[1],
            "memoised parse is identical"
        );
        assert_eq!(Certificate::parse(chain[0].bytes()).unwrap(), chain[0]);
        // Altered bytes are a different certificate: parsed (and refused) on their own.
        let mut altered = bytes.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let parsed = Certificate::parse(&altered).unwrap();
        assert_ne!(parsed.id(), chain[1].id());
        assert!(parsed.sign1().verify(&key(2).public_key()).is_err());
        altered.truncate(10);
        assert!(Certificate::parse(&altered).is_err());
        // Same memo key (the last 32 bytes), different certificate: each parses as itself,
        // in either order, repeatedly.
        let mut same_tail = bytes.clone();
        same_tail[12] ^= 1;
        assert_eq!(memo_key(&same_tail), memo_key(&bytes));
        for _ in 0..2 {
            let other = Certificate::parse(&same_tail);
            assert!(other.as_ref().map_or(true, |c| c.id() != chain[1].id()));
            assert_eq!(Certificate::parse(&bytes).unwrap(), chain[1]);
            assert_eq!(Certificate::parse(&same_tail), other);
        }
        assert_eq!(memo_key(&[1, 2, 3])[..3], [1, 2, 3]);
    }

    #[test]
    fn reordered_or_spliced_chains_refused() {
        let (root, chain) = chain();
        let pk = root.public_key();
        let ctx = ChainContext {
            tenant: "acme",
            root: &pk,
            now: T0,
        };
        let reversed: Vec<_> = chain.iter().rev().cloned().collect();
        assert_eq!(
            verify_chain(&reversed, &ctx, &mut NoCache)
                .unwrap_err()
                .code(),
            "chain.issuer"
        );
        // A second admin certificate for the same key: a connector cert naming the first one
        // as parent does not chain under the second.
        let other_admin =
            Certificate::issue(&root, None, claims(&key(2), 1, admin_scope(), "admin2")).unwrap();
        let spliced = vec![other_admin, chain[1].clone()];
        assert_eq!(
            verify_chain(&spliced, &ctx, &mut NoCache)
                .unwrap_err()
                .code(),
            "chain.parent"
        );
    }
}
