//! The verdict rules of zkscim: given a statement and a view of the tenant's current state,
//! decide whether it is applied or refused, and exactly what changes.
//!
//! Owns: the semantics of every statement (genesis, operation, revocation, policy): replay,
//! revocation, scope against touched paths, protection profile, blind indexes, reactivation,
//! SCIM validation, preconditions, uniqueness, membership. The authority executes these
//! decisions; the auditor re-derives them from the log and compares. "State is a fold of the
//! log" holds because both fold with these functions.
//!
//! Two steps, so the authority can run the expensive one in parallel:
//! - [`verify`] needs no state: signatures, chain, tenant, time. It tells forgeries (never
//!   logged) from well-signed statements, which are then logged whether applied or refused.
//! - [`decide`] reads the tenant's state through [`StateView`] and returns a [`Decision`].
//!
//! Must never: perform I/O, read a clock (the decision time is the log entry's time), hold
//! tenant secrets, or decide on anything the log does not record.
#![forbid(unsafe_code)]

pub mod exact_set;
pub mod memory;
pub mod prepared;
pub mod replay;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value as Json};
use zkscim_proto::cert::{CertId, Certificate, ChainContext, VerifiedCache, VerifiedChain};
use zkscim_proto::envelope::{Change, EnvelopeError, OperationBody, Signed, Statement, Verified};
use zkscim_proto::keys::PublicKey;
use zkscim_proto::log_entry::EntryKind;
use zkscim_proto::policy::{NhiRequirements, PolicyPart, TenantPolicy};
use zkscim_proto::scope::{AttrPath, Capability, Operation};
use zkscim_proto::seal::{self, Protection, ProtectionProfile};
use zkscim_scim::{ResourceSchema, SchemaRegistry, Uniqueness};

use crate::exact_set::Keyed;

pub use view::{StateError, StateView, StoredResource};
/// RFC 3339 (UTC, whole seconds) of a log time: `meta.created` / `meta.lastModified`.
pub use zkscim_scim::datetime::format_rfc3339 as rfc3339;

/// Settings the decision depends on; they are part of the log's meaning, so an auditor must use
/// the same values as the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Largest accepted difference between a statement's issued-at and the decision time.
    pub skew_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { skew_secs: 300 }
    }
}

/// What the rules know about a tenant besides its state tables.
#[derive(Debug, Clone)]
pub struct TenantInfo {
    /// Tenant id.
    pub tenant: String,
    /// Root public key from the genesis entry.
    pub root: PublicKey,
    /// The tenant policy in force: the default (default protection profile, no lifetime caps,
    /// no NHI requirements, no privileged groups) until a policy statement replaces it.
    pub policy: TenantPolicy,
}

impl TenantInfo {
    /// A tenant as its genesis creates it, under the default policy.
    pub fn new(tenant: &str, root: PublicKey) -> TenantInfo {
        TenantInfo {
            tenant: tenant.to_owned(),
            root,
            policy: TenantPolicy::default(),
        }
    }
}

/// A refusal: logged for well-signed statements, returned to the submitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code, e.g. `scope.denied.attribute`.
    pub code: String,
    /// What failed, naming the certificate, dimension or attribute.
    pub detail: String,
    /// HTTP status.
    pub status: u16,
    /// SCIM `scimType`, where one fits.
    pub scim_type: Option<&'static str>,
}

impl Refusal {
    fn new(code: impl Into<String>, status: u16, detail: impl Into<String>) -> Refusal {
        Refusal {
            code: code.into(),
            detail: detail.into(),
            status,
            scim_type: None,
        }
    }

    fn scim(mut self, scim_type: &'static str) -> Refusal {
        self.scim_type = Some(scim_type);
        self
    }

    fn from_scim(e: &zkscim_scim::ScimError) -> Refusal {
        Refusal {
            code: format!("scim.{}", e.code().trim_start_matches("scim.")),
            detail: e.detail().to_owned(),
            status: e.status(),
            scim_type: e.scim_type(),
        }
    }

    fn from_envelope(e: &EnvelopeError) -> Refusal {
        let status = match e {
            EnvelopeError::TenantMismatch { .. } => 403,
            EnvelopeError::Chain(_) => 403,
            _ => 401,
        };
        Refusal::new(e.code(), status, e.to_string())
    }
}

/// One change to the directory or the tenant, executed by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The tenant comes into being.
    Genesis {
        /// Its root key.
        root: PublicKey,
    },
    /// Store (insert or replace) a resource. `body` excludes group members.
    PutResource {
        /// Resource type.
        resource_type: String,
        /// Id.
        id: String,
        /// New version.
        version: u64,
        /// The resource JSON, with `id` and `meta`, without `members`.
        body: Json,
        /// Equality-search values: attribute path → blind-index token or normalised clear value.
        indexes: BTreeMap<String, String>,
    },
    /// Delete a resource, its memberships and its index values.
    DeleteResource {
        /// Resource type.
        resource_type: String,
        /// Id.
        id: String,
    },
    /// Change a group's members.
    Members {
        /// Group id.
        group: String,
        /// Remove every current member first.
        remove_all: bool,
        /// Members to remove.
        removed: Vec<String>,
        /// Members to add.
        added: Vec<String>,
    },
    /// Revoke a certificate (and so its subtree).
    Revoke(CertId),
    /// Replace the tenant policy (protection profile, lifetime caps, NHI requirements,
    /// privileged groups).
    SetPolicy(TenantPolicy),
    /// Record an approval of the statement whose SHA-256 is `approves`; `statement` is the
    /// approval's own exact bytes, re-read when the approved statement is decided.
    RecordApproval {
        /// SHA-256 of the approved statement.
        approves: [u8; 32],
        /// The approval statement's bytes.
        statement: Vec<u8>,
    },
}

/// Applied or refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Applied.
    Applied {
        /// Resulting resource version (ETag), where there is one.
        version: Option<String>,
        /// What changes.
        effects: Vec<Effect>,
    },
    /// Refused.
    Refused(Refusal),
}

/// The decision on one logged statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Kind of the statement's log entry.
    pub kind: EntryKind,
    /// Certificates of its chain seen for the first time: each gets its own log entry, in
    /// order, before the statement's entry.
    pub new_certificates: Vec<Certificate>,
    /// The nonce the statement consumes.
    pub nonce: Vec<u8>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The state-free part of checking a statement.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Not authenticated: malformed, forged, or from another root. Never logged.
    Forged(EnvelopeError),
    /// Genesis for a new tenant, self-signature valid.
    Genesis(Box<Verified<zkscim_proto::envelope::Genesis>>),
    /// Authenticated but refused before looking at state (tenant, time, chain validity).
    Refused {
        /// The statement.
        statement: Box<Statement>,
        /// Why.
        refusal: Refusal,
    },
    /// Fully verified operation.
    Operation(Box<Verified<OperationBody>>),
    /// Fully verified revocation.
    Revocation(Box<Verified<zkscim_proto::envelope::Revocation>>),
    /// Fully verified policy update.
    Policy(Box<Verified<zkscim_proto::envelope::PolicyUpdate>>),
    /// Fully verified approval.
    Approval(Box<Verified<zkscim_proto::envelope::Approval>>),
}

impl Verification {
    /// The verified delegation chain of a chained statement (`None` for genesis, refusals and
    /// forgeries).
    pub fn chain(&self) -> Option<&VerifiedChain> {
        match self {
            Verification::Operation(v) => Some(v.chain()),
            Verification::Revocation(v) => Some(v.chain()),
            Verification::Policy(v) => Some(v.chain()),
            Verification::Approval(v) => Some(v.chain()),
            Verification::Forged(_) | Verification::Genesis(_) | Verification::Refused { .. } => {
                None
            }
        }
    }

    /// [`Verification::chain`], the verification given up.
    pub fn into_chain(self) -> Option<VerifiedChain> {
        match self {
            Verification::Operation(v) => Some(v.into_chain()),
            Verification::Revocation(v) => Some(v.into_chain()),
            Verification::Policy(v) => Some(v.into_chain()),
            Verification::Approval(v) => Some(v.into_chain()),
            Verification::Forged(_) | Verification::Genesis(_) | Verification::Refused { .. } => {
                None
            }
        }
    }

    /// The entry kind a logged verdict on this statement gets.
    pub fn entry_kind(&self) -> EntryKind {
        match self {
            Verification::Forged(_) => EntryKind::Refusal,
            Verification::Genesis(_) => EntryKind::Genesis,
            Verification::Operation(_) => EntryKind::Operation,
            Verification::Revocation(_) => EntryKind::Revocation,
            Verification::Policy(_) => EntryKind::Policy,
            Verification::Approval(_) => EntryKind::Approval,
            Verification::Refused { statement, .. } => kind_of(statement),
        }
    }

    /// The statement's nonce; `None` for unauthenticated input, which is never logged.
    pub fn nonce(&self) -> Option<&[u8]> {
        let header = match self {
            Verification::Forged(_) => return None,
            Verification::Genesis(v) => v.header(),
            Verification::Refused { statement, .. } => statement.header(),
            Verification::Operation(v) => v.header(),
            Verification::Revocation(v) => v.header(),
            Verification::Policy(v) => v.header(),
            Verification::Approval(v) => v.header(),
        };
        Some(&header.nonce)
    }
}

fn kind_of(statement: &Statement) -> EntryKind {
    match statement {
        Statement::Operation(_) | Statement::ReadRequest(_) => EntryKind::Operation,
        Statement::Revocation(_) => EntryKind::Revocation,
        Statement::Policy(_) => EntryKind::Policy,
        Statement::Genesis(_) => EntryKind::Genesis,
        Statement::Approval(_) => EntryKind::Approval,
    }
}

/// Checks what can be checked without state: signatures, chain, tenant, time.
///
/// `tenant` is the tenant the statement is submitted to (`None` if it does not exist yet, which
/// only a genesis may face). Read requests are not statements of the log and are refused here.
/// The statement is copied into the [`Verification`]; [`verify_owned`] moves it instead.
pub fn verify(
    statement: &Statement,
    tenant: Option<&TenantInfo>,
    route_tenant: &str,
    now: u64,
    settings: Settings,
    cache: &mut dyn VerifiedCache,
) -> Verification {
    verify_owned(
        statement.clone(),
        tenant,
        route_tenant,
        now,
        settings,
        cache,
    )
}

/// [`verify`], taking the statement by value: it moves into the [`Verification`] instead of
/// being copied there, which is what a caller without further use for it (a replay) wants.
pub fn verify_owned(
    statement: Statement,
    tenant: Option<&TenantInfo>,
    route_tenant: &str,
    now: u64,
    settings: Settings,
    cache: &mut dyn VerifiedCache,
) -> Verification {
    if let Statement::Genesis(genesis) = &statement {
        if genesis.header().tenant != route_tenant {
            return Verification::Forged(EnvelopeError::TenantMismatch {
                expected: route_tenant.to_owned(),
                found: genesis.header().tenant.clone(),
            });
        }
        return match genesis.verify_genesis(now, settings.skew_secs) {
            Ok(v) => Verification::Genesis(Box::new(v)),
            Err(e) => Verification::Forged(e),
        };
    }
    let Some(tenant) = tenant else {
        return Verification::Forged(EnvelopeError::TenantMismatch {
            expected: "an existing tenant".to_owned(),
            found: route_tenant.to_owned(),
        });
    };
    let ctx = ChainContext {
        tenant: &tenant.tenant,
        root: &tenant.root,
        now,
    };
    fn finish<K: zkscim_proto::envelope::Chained>(
        signed: Signed<K>,
        ctx: &ChainContext<'_>,
        settings: Settings,
        cache: &mut dyn VerifiedCache,
        wrap: impl FnOnce(Verified<K>) -> Verification,
        back: impl FnOnce(Signed<K>) -> Statement,
    ) -> Verification {
        match signed.into_verified(ctx, settings.skew_secs, cache) {
            Ok(v) => wrap(v),
            Err((signed, e)) if e.after_authentication() => Verification::Refused {
                statement: Box::new(back(*signed)),
                refusal: Refusal::from_envelope(&e),
            },
            Err((_, e)) => Verification::Forged(e),
        }
    }
    // The same variant name on both sides: `Statement::X` in, `Verification::X` out.
    macro_rules! chained {
        ($signed:expr, $variant:ident) => {
            finish(
                $signed,
                &ctx,
                settings,
                cache,
                |v| Verification::$variant(Box::new(v)),
                Statement::$variant,
            )
        };
    }
    match statement {
        Statement::Operation(s) => chained!(s, Operation),
        Statement::Revocation(s) => chained!(s, Revocation),
        Statement::Policy(s) => chained!(s, Policy),
        Statement::Approval(s) => chained!(s, Approval),
        Statement::ReadRequest(_) => Verification::Forged(EnvelopeError::TenantMismatch {
            expected: "a log statement (operation, revocation, policy or genesis)".into(),
            found: "a read request".into(),
        }),
        // Answered above.
        Statement::Genesis(_) => Verification::Forged(EnvelopeError::TenantMismatch {
            expected: "unreachable".into(),
            found: "genesis".into(),
        }),
    }
}

fn header_of(statement: &Statement) -> &zkscim_proto::envelope::Header {
    statement.header()
}

/// Decides a verified statement against the tenant's state at time `now`.
///
/// Returns `None` for [`Verification::Forged`], which is never logged.
pub fn decide(
    verification: &Verification,
    tenant: Option<&TenantInfo>,
    registry: &SchemaRegistry,
    view: &mut dyn StateView,
    now: u64,
) -> Result<Option<Decision>, StateError> {
    decide_with(verification, tenant, registry, view, now, None)
}

/// [`decide`], given what [`OperationBody::touched_paths`] answers for the statement when it was
/// computed ahead (the auditor's signature threads do, for operations other than replace, whose
/// answer does not depend on the stored resource). It must be that statement's own answer: the
/// replay takes it from the same [`prepared::Prepared`] as the statement.
pub(crate) fn decide_with(
    verification: &Verification,
    tenant: Option<&TenantInfo>,
    registry: &SchemaRegistry,
    view: &mut dyn StateView,
    now: u64,
    touched: Option<prepared::TouchedPaths>,
) -> Result<Option<Decision>, StateError> {
    let (statement_header, verdict) = match verification {
        Verification::Forged(_) => return Ok(None),
        Verification::Genesis(g) => {
            let verdict = if tenant.is_some() {
                Verdict::Refused(
                    Refusal::new(
                        "tenant.exists",
                        409,
                        format!("tenant '{}' already exists", g.header().tenant),
                    )
                    .scim("uniqueness"),
                )
            } else {
                Verdict::Applied {
                    version: None,
                    effects: vec![Effect::Genesis {
                        root: g.body().root,
                    }],
                }
            };
            return Ok(Some(Decision {
                kind: EntryKind::Genesis,
                new_certificates: Vec::new(),
                nonce: g.header().nonce.clone(),
                verdict,
            }));
        }
        Verification::Refused { statement, refusal } => {
            (header_of(statement), Verdict::Refused(refusal.clone()))
        }
        Verification::Operation(v) => {
            let verdict = match tenant {
                Some(t) => common_checks(v.header(), v.chain(), view)?.map_or_else(
                    || decide_operation(v, t, registry, view, now, touched),
                    |r| Ok(Verdict::Refused(r)),
                )?,
                None => Verdict::Refused(no_tenant()),
            };
            (v.header(), verdict)
        }
        Verification::Revocation(v) => {
            let verdict = match common_checks(v.header(), v.chain(), view)? {
                Some(r) => Verdict::Refused(r),
                None => decide_revocation(v, view)?,
            };
            (v.header(), verdict)
        }
        Verification::Approval(v) => {
            // An approval is recorded as it is: whether it counts is decided with the statement
            // it approves, against that statement's scope and the state at that point.
            let lifetime = tenant.and_then(|t| check_lifetime(t, &v.header().chain));
            let verdict = match common_checks(v.header(), v.chain(), view)?.or(lifetime) {
                Some(r) => Verdict::Refused(r),
                None => Verdict::Applied {
                    version: None,
                    effects: vec![Effect::RecordApproval {
                        approves: v.body().approves,
                        statement: v.signed().bytes().to_vec(),
                    }],
                },
            };
            (v.header(), verdict)
        }
        Verification::Policy(v) => {
            let verdict = match common_checks(v.header(), v.chain(), view)? {
                Some(r) => Verdict::Refused(r),
                None => match tenant.and_then(|t| check_lifetime(t, &v.header().chain)) {
                    Some(r) => Verdict::Refused(r),
                    None => decide_policy(v),
                },
            };
            (v.header(), verdict)
        }
    };
    let mut new_certificates = Vec::new();
    let mut seen = HashSet::new();
    let carried = match (verification, &verdict) {
        (Verification::Revocation(v), Verdict::Applied { .. }) => {
            v.body().certificate.as_deref().cloned()
        }
        _ => None,
    };
    for cert in statement_header.chain.iter().chain(carried.iter()) {
        if seen.insert(cert.id()) && !view.certificate_seen(&cert.id())? {
            new_certificates.push(cert.clone());
        }
    }
    Ok(Some(Decision {
        kind: verification.entry_kind(),
        new_certificates,
        nonce: statement_header.nonce.clone(),
        verdict,
    }))
}

fn no_tenant() -> Refusal {
    Refusal::new("tenant.unknown", 404, "the tenant does not exist")
}

/// Replay and revocation: the same for every chained statement.
fn common_checks(
    header: &zkscim_proto::envelope::Header,
    chain: &VerifiedChain,
    view: &mut dyn StateView,
) -> Result<Option<Refusal>, StateError> {
    if view.nonce_used(&header.nonce)? {
        return Ok(Some(
            Refusal::new(
                "replay.nonce_reused",
                409,
                format!(
                    "nonce {} was already used by another statement",
                    hex::encode(&header.nonce)
                ),
            )
            .scim("uniqueness"),
        ));
    }
    for (position, id) in chain.certificate_ids.iter().enumerate() {
        if view.is_revoked(id)? {
            let label = chain.labels.get(position).cloned().unwrap_or_default();
            return Ok(Some(Refusal::new(
                "revoked.certificate",
                403,
                format!(
                    "certificate {position} ({label}, id {}) in the chain is revoked",
                    id.short()
                ),
            )));
        }
    }
    Ok(None)
}

fn decide_revocation(
    v: &Verified<zkscim_proto::envelope::Revocation>,
    view: &mut dyn StateView,
) -> Result<Verdict, StateError> {
    let target = v.body().target;
    let target_cert = match view.certificate(&target)? {
        Some(bytes) => Certificate::parse(&bytes)
            .map_err(|e| StateError(format!("stored certificate {} does not parse: {e}", target.short())))?,
        None => match &v.body().certificate {
            // Not seen yet (a read-only key, say): the revocation carries it, and it must be a
            // genuine certificate of this tenant, signed by its parent's key.
            Some(cert) => match carried_certificate_ok(cert, v, view)? {
                Ok(()) => (**cert).clone(),
                Err(r) => return Ok(Verdict::Refused(r)),
            },
            None => {
                return Ok(Verdict::Refused(Refusal::new(
                    "revocation.unknown_certificate",
                    404,
                    format!(
                        "certificate {} was never seen in this tenant's log; include it in the revocation (field 19)",
                        target.short()
                    ),
                )))
            }
        },
    };
    let signer = v.signer();
    let signer_leaf = v.chain().certificate_ids.last().copied();
    let is_root = signer_leaf.is_none();
    let is_self = target_cert.claims().subject == *signer;
    let allowed = if is_root || is_self {
        true
    } else if !v.chain().scope.has(Capability::Revoke) {
        return Ok(Verdict::Refused(Refusal::new(
            "revocation.not_permitted",
            403,
            "the signer's scope lacks the 'revoke' capability",
        )));
    } else {
        // The signer's certificate must be an ancestor of the target.
        let mut cursor = target_cert.claims().parent;
        let mut found = false;
        let mut steps = 0;
        while let Some(id) = cursor {
            if Some(id) == signer_leaf {
                found = true;
                break;
            }
            steps += 1;
            if steps > zkscim_proto::cert::MAX_CHAIN_LEN {
                break;
            }
            cursor = match view.certificate(&id)? {
                Some(b) => {
                    Certificate::parse(&b)
                        .map_err(|e| {
                            StateError(format!(
                                "stored certificate {} does not parse: {e}",
                                id.short()
                            ))
                        })?
                        .claims()
                        .parent
                }
                None => None,
            };
        }
        found
    };
    if !allowed {
        return Ok(Verdict::Refused(Refusal::new(
            "revocation.not_ancestor",
            403,
            format!(
                "certificate {} is not beneath the signer's certificate; only an ancestor, the root or the certificate's own key may revoke it",
                target.short()
            ),
        )));
    }
    Ok(Verdict::Applied {
        version: None,
        effects: vec![Effect::Revoke(target)],
    })
}

/// A certificate carried by a revocation: same tenant, and signed by the key of its parent (the
/// signer's own certificate, a certificate already seen, or the root).
fn carried_certificate_ok(
    cert: &Certificate,
    v: &Verified<zkscim_proto::envelope::Revocation>,
    view: &mut dyn StateView,
) -> Result<Result<(), Refusal>, StateError> {
    let bad = |why: String| {
        Ok(Err(Refusal::new(
            "revocation.invalid_certificate",
            400,
            why,
        )))
    };
    if cert.claims().tenant != v.header().tenant {
        return bad(format!(
            "the carried certificate is for tenant '{}'",
            cert.claims().tenant
        ));
    }
    let issuer_key = match cert.claims().parent {
        None => None,
        Some(parent) => {
            let from_chain = v
                .header()
                .chain
                .iter()
                .find(|c| c.id() == parent)
                .map(|c| c.claims().subject);
            match from_chain {
                Some(k) => Some(k),
                None => match view.certificate(&parent)? {
                    Some(bytes) => Certificate::parse(&bytes).ok().map(|c| c.claims().subject),
                    None => return bad("the carried certificate's parent is unknown".into()),
                },
            }
        }
    };
    match issuer_key {
        Some(key) => {
            if cert.sign1().verify(&key).is_err() {
                return bad(
                    "the carried certificate's signature does not verify under its parent's key"
                        .into(),
                );
            }
        }
        None => {
            // Root-issued: the root key is the chain's anchor; the signer's chain root is the
            // tenant root, so check against the issuer the certificate names.
            let root_signed = v.header().chain.first().map(|c| c.claims().issuer)
                == Some(cert.claims().issuer)
                || (v.header().chain.is_empty() && v.signer().key_id() == cert.claims().issuer);
            if !root_signed {
                return bad(
                    "the carried certificate does not name the tenant root as issuer".into(),
                );
            }
        }
    }
    Ok(Ok(()))
}

fn decide_policy(v: &Verified<zkscim_proto::envelope::PolicyUpdate>) -> Verdict {
    if !v.chain().scope.has(Capability::Policy) {
        return Verdict::Refused(Refusal::new(
            "policy.not_permitted",
            403,
            "the signer's scope lacks the 'policy' capability",
        ));
    }
    match TenantPolicy::from_cbor(&v.body().document) {
        Ok(policy) => Verdict::Applied {
            version: None,
            effects: vec![Effect::SetPolicy(policy)],
        },
        Err(e) => {
            let code = match e.part() {
                PolicyPart::Profile => "policy.invalid_profile",
                PolicyPart::LifetimeCaps => "policy.invalid_lifetime_caps",
                PolicyPart::Nhi => "policy.invalid_nhi",
                PolicyPart::PrivilegedGroups => "policy.invalid_privileged_groups",
            };
            Verdict::Refused(
                Refusal::new(code, 400, format!("policy document: {e}")).scim("invalidValue"),
            )
        }
    }
}

/// The tenant's lifetime caps against the statement's chain (DESIGN §4, short-lived
/// credentials).
fn check_lifetime(tenant: &TenantInfo, chain: &[Certificate]) -> Option<Refusal> {
    tenant
        .policy
        .lifetime_caps
        .check(chain)
        .err()
        .map(|e| Refusal::new("policy.lifetime_exceeded", 403, e.to_string()))
}

/// HTTP status and SCIM type of a logged refusal code, so a receipt re-issued for a duplicate
/// submission answers as the original did.
pub fn status_of(code: &str) -> (u16, Option<&'static str>) {
    let starts = |p: &str| code.starts_with(p);
    if let Some(e) = zkscim_scim::ScimError::from_code(code, "") {
        return (e.status(), e.scim_type());
    }
    match code {
        "resource.exists" | "tenant.exists" | "scim.uniqueness" | "replay.nonce_reused" => {
            (409, Some("uniqueness"))
        }
        "resource.not_found" | "tenant.unknown" | "revocation.unknown_certificate" => (404, None),
        "precondition.failed" => (412, None),
        _ if starts("scope.")
            || starts("chain.")
            || starts("revoked.")
            || starts("revocation.")
            || starts("policy.not_permitted")
            || starts("policy.reactivation")
            || code == "policy.lifetime_exceeded"
            || code == "policy.approvals_required"
            || code == "envelope.tenant_mismatch" =>
        {
            (403, None)
        }
        _ if starts("profile.") || starts("policy.invalid_") || starts("policy.nhi_") => {
            (400, Some("invalidValue"))
        }
        _ if starts("touch.") => (400, Some("invalidPath")),
        _ if starts("envelope.") => (401, None),
        _ => (400, None),
    }
}

/// Rebuilds a refusal from its log entry.
pub fn refusal_from_log(code: &str, detail: &str) -> Refusal {
    let (status, scim_type) = status_of(code);
    Refusal {
        code: code.to_owned(),
        detail: detail.to_owned(),
        status,
        scim_type,
    }
}

/// The ETag of a version.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Resource types whose `active` follows the identity lifecycle (reactivation rule).
fn has_lifecycle(rs: &ResourceSchema) -> bool {
    rs.lookup(None, "active").is_some()
}

fn decide_operation(
    v: &Verified<OperationBody>,
    tenant: &TenantInfo,
    registry: &SchemaRegistry,
    view: &mut dyn StateView,
    now: u64,
    ahead: Option<prepared::TouchedPaths>,
) -> Result<Verdict, StateError> {
    let body = v.body();
    let rtype = body.resource_type.as_str();
    let id = body.resource_id.as_str();
    let refuse = |r: Refusal| Ok(Verdict::Refused(r));
    let rs = match resource_schema_cached(registry, rtype) {
        Ok(rs) => rs,
        Err(e) => return refuse(Refusal::from_scim(&e)),
    };
    let mut current = view.resource(rtype, id)?;
    let is_group = rs
        .lookup(None, "members")
        .is_some_and(|a| !a.common && !a.in_extension);
    match (&body.change, &current) {
        (Change::Create(_), Some(_)) => {
            return refuse(
                Refusal::new(
                    "resource.exists",
                    409,
                    format!("{rtype} '{id}' already exists"),
                )
                .scim("uniqueness"),
            )
        }
        (Change::Create(_), None) => {}
        (_, None) => {
            return refuse(Refusal::new(
                "resource.not_found",
                404,
                format!("{rtype} '{id}' does not exist"),
            ))
        }
        _ => {}
    }
    if let (Some(expected), Some(cur)) = (&body.if_match, &current) {
        if *expected != etag(cur.version) && expected != "*" {
            return refuse(Refusal::new(
                "precondition.failed",
                412,
                format!(
                    "If-Match {expected} does not match the current version {}",
                    etag(cur.version)
                ),
            ));
        }
    }
    // Scope: the paths the operation writes, from its structure.
    let current_members = if is_group && matches!(body.change, Change::Replace(_)) {
        view.members(id)?
    } else {
        Vec::new()
    };
    // The stored body is shown as it is unless there are members to add (a copy only then).
    let touched = match (ahead, current.as_ref()) {
        (Some(ahead), _) if !matches!(body.change, Change::Replace(_)) => ahead,
        (_, Some(c)) if current_members.is_empty() => body.touched_paths(Some(&c.body)),
        (_, Some(c)) => body.touched_paths(Some(&with_members(&c.body, &current_members))),
        (_, None) => body.touched_paths(None),
    };
    let mut touched = match touched {
        Ok(t) => t,
        Err(e) => return refuse(Refusal::new(e.code(), 400, e.to_string()).scim("invalidPath")),
    };
    // The change as JSON, borrowed from the statement (which holds it so).
    let json = body.body_json_ref();
    if is_group && body.operation() == Operation::Delete {
        // Deleting a group removes every membership in it: an authorisation change, bound by
        // `members` and the group allow-list like any other membership write.
        if let Ok(members) = AttrPath::parse(zkscim_proto::scope::MEMBERS_PATH) {
            touched.insert(members);
        }
    }
    // Sorted and distinct, as the set was; moved, not copied.
    let touched: Vec<AttrPath> = touched.into_iter().collect();
    if let Err(e) = v
        .chain()
        .scope
        .check_action(body.operation(), rtype, id, &touched)
    {
        return refuse(Refusal::new(e.code(), 403, e.to_string()));
    }
    // Privileged groups: a membership change (a group delete included) needs that many distinct
    // approvers, the signer counting as one.
    let touches_members = is_group && touched.iter().any(AttrPath::touches_members);
    let mut approvers: Option<Vec<Approver>> = None;
    if touches_members {
        if let Some(required) = tenant.policy.privileged_groups.approvers_for(id) {
            let found = valid_approvers(v, tenant, view, now, &touched)?;
            let count = 1 + found.len();
            if count < usize::from(required) {
                return refuse(Refusal::new(
                    "policy.approvals_required",
                    403,
                    format!(
                        "membership of group '{id}' needs {required} distinct approvers; found {count} (the signer and {} approval(s) of this exact statement by keys whose scope allows it): have more keys submit `zkscim approve` for it first",
                        found.len()
                    ),
                ));
            }
            approvers = Some(found);
        }
    }
    if body.operation() == Operation::Delete {
        return Ok(Verdict::Applied {
            version: None,
            effects: vec![Effect::DeleteResource {
                resource_type: rtype.to_owned(),
                id: id.to_owned(),
            }],
        });
    }
    let scim_profile = scim_profile_cached(&tenant.policy.profile, &rs);
    let scim_profile = &*scim_profile;
    // Leak guard on the request itself, before the engine sees it, so the refusal names the
    // protection profile; the resulting resource is checked again below.
    if let Err(r) = check_request_profile(&tenant.policy.profile, rtype, &json) {
        return refuse(r);
    }
    // What is read of the stored body after the change is read now, so that a patch can take
    // the body instead of copying it.
    let was_active = current.as_ref().map(|c| active_of(&c.body));
    let created = current
        .as_ref()
        .and_then(|c| c.body.get("meta").and_then(|m| m.get("created")).cloned());
    // Apply SCIM semantics to get the resulting resource (members separate for groups).
    let mut members_effect: Option<Effect> = None;
    let mut result = match (&body.change, current.as_mut()) {
        (Change::Create(_), _) => match zkscim_scim::validate_create(&json, &rs, scim_profile) {
            Ok(r) => r,
            Err(e) => return refuse(Refusal::from_scim(&e)),
        },
        (Change::Replace(_), Some(cur)) => {
            match zkscim_scim::validate_replace(
                &json,
                &with_members(&cur.body, &current_members),
                &rs,
                scim_profile,
            ) {
                Ok(r) => r,
                Err(e) => return refuse(Refusal::from_scim(&e)),
            }
        }
        (Change::Patch(_), Some(cur)) => {
            // The envelope carries the `Operations` array; the engine parses a PatchOp message.
            // Built by hand: `json!` would copy the array through `Serialize`.
            let mut message = serde_json::Map::new();
            message.insert(
                "schemas".to_owned(),
                serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
            );
            message.insert("Operations".to_owned(), json.into_owned());
            let message = Json::Object(message);
            let ops = match zkscim_scim::parse_patch(&message, &rs) {
                Ok(ops) => ops,
                Err(e) => return refuse(Refusal::from_scim(&e)),
            };
            if is_group {
                match patch_group(&ops, &*cur, id, &rs, scim_profile, view)? {
                    Ok((resource, effect)) => {
                        members_effect = effect;
                        resource
                    }
                    Err(r) => return refuse(r),
                }
            } else {
                // Taken, not copied: what else is read of the stored body was read above.
                let mut resource = std::mem::take(&mut cur.body);
                if let Err(e) = zkscim_scim::apply_patch(&mut resource, &ops, &rs, scim_profile) {
                    return refuse(Refusal::from_scim(&e));
                }
                resource
            }
        }
        _ => {
            return refuse(Refusal::new(
                "resource.not_found",
                404,
                format!("{rtype} '{id}' does not exist"),
            ))
        }
    };
    // Group members of create/replace become a members effect; the stored body has none.
    if is_group && !matches!(body.change, Change::Patch(_)) {
        let ids = take_member_ids(&mut result);
        members_effect = Some(Effect::Members {
            group: id.to_owned(),
            remove_all: true,
            removed: Vec::new(),
            added: ids,
        });
    } else if is_group {
        if let Json::Object(map) = &mut result {
            map.retain(|k, _| !k.eq_ignore_ascii_case("members"));
        }
    }
    if let Some(Effect::Members { added, .. }) = &members_effect {
        for member in added {
            if member == id || !view.identity_exists(member)? {
                return refuse(
                    Refusal::new(
                        "scim.invalid_value",
                        400,
                        format!("member '{member}' is not an existing identity or group"),
                    )
                    .scim("invalidValue"),
                );
            }
        }
    }
    // Leak guard: every string in the result must match the tenant's protection profile.
    if let Err(r) = check_profile(&tenant.policy.profile, rtype, &result) {
        return refuse(r);
    }
    // Lifetime caps bind every write except deprovisioning (DESIGN §4: never blocked for a key
    // whose scope covers it): a change of nothing but `active`, to false. Deletes returned above.
    let deprovisions = !active_of(&result)
        && !touched.is_empty()
        && touched.iter().all(|p| p.as_str() == "active");
    if !deprovisions {
        if let Some(r) = check_lifetime(tenant, &v.header().chain) {
            return refuse(r);
        }
        if let Some(r) = check_nhi(&tenant.policy.nhi, rtype, id, &result, now) {
            return refuse(r);
        }
    }
    // Reactivation needs the capability.
    if has_lifecycle(&rs) {
        let now_active = active_of(&result);
        let reactivates = was_active == Some(false) && now_active;
        if reactivates && !v.chain().scope.has(Capability::Reactivate) {
            // Or a co-signature from a key that has it (DESIGN §4).
            let found = match approvers.take() {
                Some(found) => found,
                None => valid_approvers(v, tenant, view, now, &touched)?,
            };

            if !found.iter().any(|a| a.scope.has(Capability::Reactivate)) {
                return refuse(Refusal::new(
                    "policy.reactivation_requires_capability",
                    403,
                    format!("{rtype} '{id}' is inactive; turning it active needs the 'reactivate' capability, in the signer's scope or in that of a key that approved this exact statement"),
                ));
            }
        }
    }
    // Blind indexes and uniqueness.
    let indexes = match resolve_indexes(
        body,
        &touched,
        &tenant.policy.profile,
        &rs,
        &result,
        current.as_ref(),
    ) {
        Ok(i) => i,
        Err(r) => return refuse(r),
    };
    for (path, value) in &indexes {
        if unique_attribute(&rs, path) {
            let owners = view.index_owners(rtype, path, value)?;
            if owners.iter().any(|o| o != id) {
                return refuse(
                    Refusal::new(
                        "scim.uniqueness",
                        409,
                        format!("another {rtype} already has this value of '{path}'"),
                    )
                    .scim("uniqueness"),
                );
            }
        }
    }
    let version = current.as_ref().map_or(1, |c| c.version + 1);
    let now_text = rfc3339_recent(now);
    let created = created.unwrap_or_else(|| Json::String(now_text.clone()));
    if let Json::Object(map) = &mut result {
        map.insert("id".into(), Json::String(id.to_owned()));
        // Built by hand, the values moved in (`json!` copies each through `Serialize`).
        let mut meta = Map::new();
        meta.insert(
            "resourceType".into(),
            Json::String(rs.resource_type.name.clone()),
        );
        meta.insert("created".into(), created);
        meta.insert("lastModified".into(), Json::String(now_text));
        meta.insert("version".into(), Json::String(etag(version)));
        map.insert("meta".into(), Json::Object(meta));
    }
    let mut effects = vec![Effect::PutResource {
        resource_type: rtype.to_owned(),
        id: id.to_owned(),
        version,
        body: result,
        indexes,
    }];
    effects.extend(members_effect);
    Ok(Verdict::Applied {
        version: Some(etag(version)),
        effects,
    })
}

thread_local! {
    static LAST_RFC3339: std::cell::RefCell<Option<(u64, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// [`rfc3339`] of `now`, remembering the last time formatted: consecutive statements mostly
/// share their second, and formatting costs more than a copy.
fn rfc3339_recent(now: u64) -> String {
    LAST_RFC3339.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((time, text)) if *time == now => text.clone(),
            _ => {
                let text = rfc3339(now);
                *last = Some((now, text.clone()));
                text
            }
        }
    })
}

fn with_members(body: &Json, members: &[String]) -> Json {
    let mut out = body.clone();
    if !members.is_empty() {
        if let Json::Object(map) = &mut out {
            map.insert(
                "members".into(),
                Json::Array(
                    members
                        .iter()
                        .map(|m| serde_json::json!({"value": m}))
                        .collect(),
                ),
            );
        }
    }
    out
}

fn take_member_ids(resource: &mut Json) -> Vec<String> {
    let Json::Object(map) = resource else {
        return Vec::new();
    };
    let key = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case("members"))
        .cloned();
    let Some(Json::Array(items)) = key.and_then(|k| map.remove(&k)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|m| m.get("value").and_then(Json::as_str).map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// PATCH of a group: membership as a delta against the store (cheap for large groups), other
/// attributes on the stored document.
#[allow(clippy::type_complexity)]
fn patch_group(
    ops: &[zkscim_scim::PatchOperation],
    current: &StoredResource,
    id: &str,
    rs: &ResourceSchema,
    profile: &zkscim_scim::ProtectionProfile,
    view: &mut dyn StateView,
) -> Result<Result<(Json, Option<Effect>), Refusal>, StateError> {
    // Answer membership questions for every id the operations mention.
    let mut mentioned = BTreeSet::new();
    for op in ops {
        if let Some(value) = &op.value {
            collect_strings(value, &mut mentioned);
        }
        if let Some(filter) = &op.path.filter {
            collect_quoted(&filter.to_string(), &mut mentioned);
        }
    }
    let mut present = HashSet::new();
    for candidate in &mentioned {
        if view.has_member(id, candidate)? {
            present.insert(candidate.clone());
        }
    }
    let plan =
        match zkscim_scim::patch::plan_members_delta(ops, rs, profile, &|m| present.contains(m)) {
            Ok(plan) => plan,
            Err(e) => return Ok(Err(Refusal::from_scim(&e))),
        };
    match plan {
        Some(plan) => {
            let mut resource = current.body.clone();
            if !plan.other_ops.is_empty() {
                if let Err(e) =
                    zkscim_scim::apply_patch(&mut resource, &plan.other_ops, rs, profile)
                {
                    return Ok(Err(Refusal::from_scim(&e)));
                }
            }
            let added = plan
                .members
                .added
                .iter()
                .filter_map(|m| m.get("value").and_then(Json::as_str).map(str::to_owned))
                .collect();
            Ok(Ok((
                resource,
                Some(Effect::Members {
                    group: id.to_owned(),
                    remove_all: plan.members.remove_all,
                    removed: plan.members.removed,
                    added,
                }),
            )))
        }
        None => {
            // Not expressible as a delta: apply to the full document and diff.
            let before = view.members(id)?;
            let mut resource = with_members(&current.body, &before);
            if let Err(e) = zkscim_scim::apply_patch(&mut resource, ops, rs, profile) {
                return Ok(Err(Refusal::from_scim(&e)));
            }
            let after = take_member_ids(&mut resource);
            let before_set: BTreeSet<&String> = before.iter().collect();
            let after_set: BTreeSet<&String> = after.iter().collect();
            Ok(Ok((
                resource,
                Some(Effect::Members {
                    group: id.to_owned(),
                    remove_all: false,
                    removed: before_set
                        .difference(&after_set)
                        .map(|s| (*s).clone())
                        .collect(),
                    added: after_set
                        .difference(&before_set)
                        .map(|s| (*s).clone())
                        .collect(),
                }),
            )))
        }
    }
}

fn collect_strings(value: &Json, out: &mut BTreeSet<String>) {
    match value {
        Json::String(s) => {
            out.insert(s.clone());
        }
        Json::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Json::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn collect_quoted(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('"') else { break };
        out.insert(after.get(..end).unwrap_or_default().to_owned());
        rest = after.get(end + 1..).unwrap_or_default();
    }
}

/// A key that approved the statement being decided, with its effective scope then.
struct Approver {
    scope: std::sync::Arc<zkscim_proto::scope::Scope>,
}

/// The distinct keys, other than the signer's, whose approvals of exactly this operation were
/// logged before it and still hold now (spec/rules.md §3a): chain valid at `now` to the tenant's
/// root, no certificate revoked, and a scope that allows this very operation. The approvals'
/// own signatures were verified when they were logged.
fn valid_approvers(
    v: &Verified<OperationBody>,
    tenant: &TenantInfo,
    view: &mut dyn StateView,
    now: u64,
    touched: &[AttrPath],
) -> Result<Vec<Approver>, StateError> {
    let hash = zkscim_proto::log_entry::submitted_hash_of(v.signed().bytes());
    let body = v.body();
    let signer = v.signer().key_id();
    let ctx = ChainContext {
        tenant: &tenant.tenant,
        root: &tenant.root,
        now,
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for bytes in view.approvals(&hash)? {
        let Ok(approval) = Signed::<zkscim_proto::envelope::Approval>::parse(&bytes) else {
            continue;
        };
        let chain = &approval.header().chain;
        // The key the chain empowers (the root's when it is empty): the signer's own approval
        // and a key already counted are skipped before any certificate signature is checked.
        let key = chain
            .last()
            .map_or(tenant.root, |c| c.claims().subject)
            .key_id();
        if key == signer || seen.contains(&key) {
            continue;
        }
        let Ok(verified) =
            zkscim_proto::cert::verify_chain(chain, &ctx, &mut zkscim_proto::cert::NoCache)
        else {
            continue;
        };
        let mut revoked = false;
        for id in &verified.certificate_ids {
            if view.is_revoked(id)? {
                revoked = true;
                break;
            }
        }
        if revoked
            || verified
                .scope
                .check_action(
                    body.operation(),
                    &body.resource_type,
                    &body.resource_id,
                    touched,
                )
                .is_err()
        {
            continue;
        }
        seen.insert(key);
        out.push(Approver {
            scope: verified.scope,
        });
    }
    Ok(out)
}

/// The member `key` of `object` if it is a JSON object (SCIM names compare case-insensitively).
fn member<'a>(object: &'a Json, key: &str) -> Option<&'a Json> {
    get_ci(object.as_object()?, key)
}

/// DESIGN §4: a non-human identity of a type the tenant policy lists must carry an owner and an
/// expiry (spec/policy.md §2). Sealed values count by their presence, since the server cannot
/// read them; a bounded expiry must therefore be clear. `now` is the decision time.
fn check_nhi(
    nhi: &NhiRequirements,
    rtype: &str,
    id: &str,
    result: &Json,
    now: u64,
) -> Option<Refusal> {
    if !nhi.applies_to(rtype) {
        return None;
    }
    let refusal =
        |code: &str, detail: String| Some(Refusal::new(code, 400, detail).scim("invalidValue"));
    let has_owner = member(result, "owners")
        .and_then(Json::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|o| {
                member(o, "value")
                    .and_then(Json::as_str)
                    .is_some_and(|v| !v.is_empty())
            })
        });
    if !has_owner {
        return refusal(
            "policy.nhi_owner_missing",
            format!("{rtype} '{id}' must name at least one owner (owners[].value): the tenant policy requires it of every {rtype}"),
        );
    }
    let expires = member(result, zkscim_scim::schema::NHI_LIFECYCLE_SCHEMA)
        .and_then(|ext| member(ext, "expiresAt"))
        .and_then(Json::as_str);
    let Some(expires) = expires else {
        return refusal(
            "policy.nhi_expiry_missing",
            format!("{rtype} '{id}' must carry an expiry ({}:expiresAt): the tenant policy requires it of every {rtype}", zkscim_scim::schema::NHI_LIFECYCLE_SCHEMA),
        );
    };
    if seal::classify(expires) != seal::ValueClass::Clear {
        return match nhi.max_expiry() {
            Some(max) => refusal(
                "policy.nhi_expiry_sealed",
                format!("{rtype} '{id}': the tenant policy bounds the expiry to {max} s ahead, so expiresAt must be clear for the server to check it"),
            ),
            None => None,
        };
    }
    // SCIM validation (step 7) has already refused a clear expiresAt that is not a date-time;
    // this refusal keeps the check total should that ever change.
    let Some(at) =
        zkscim_scim::datetime::parse_datetime(expires).map(|nanos| nanos.div_euclid(1_000_000_000))
    else {
        return refusal(
            "policy.nhi_expiry_invalid",
            format!("{rtype} '{id}': expiresAt {expires:?} is not an RFC 3339 date-time"),
        );
    };
    if at <= i128::from(now) {
        return refusal(
            "policy.nhi_expired",
            format!("{rtype} '{id}': expiresAt {expires} is not after the decision time ({}); set a later expiry, or deactivate it", rfc3339(now)),
        );
    }
    if let Some(max) = nhi.max_expiry() {
        if at > i128::from(now) + i128::from(max) {
            return refusal(
                "policy.nhi_expiry_too_far",
                format!("{rtype} '{id}': expiresAt {expires} is more than {max} s after the decision time ({}), the tenant policy's bound", rfc3339(now)),
            );
        }
    }
    None
}

fn active_of(resource: &Json) -> bool {
    match resource {
        Json::Object(map) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("active"))
            .and_then(|(_, v)| v.as_bool())
            .unwrap_or(true),
        _ => true,
    }
}

/// What [`scim_profile`] reads of a resource schema, spelled out exactly (length-prefixed
/// fields, so no two schemas spell the same key): the resource type, then per attribute and
/// sub-attribute its schema URN, path prefix, name and whether it is string-valued.
fn scim_profile_key(rs: &ResourceSchema, key: &mut Vec<u8>) {
    fn field(key: &mut Vec<u8>, s: &str) {
        key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        key.extend_from_slice(s.as_bytes());
    }
    fn stringly(attr: &zkscim_scim::AttributeDef) -> u8 {
        u8::from(matches!(
            attr.attr_type,
            zkscim_scim::AttrType::String
                | zkscim_scim::AttrType::DateTime
                | zkscim_scim::AttrType::Binary
                | zkscim_scim::AttrType::Reference
        ))
    }
    key.clear();
    field(key, &rs.resource_type.name);
    let mut visit = |schema_urn: &str, prefix: &str, attrs: &[zkscim_scim::AttributeDef]| {
        for def in attrs {
            key.push(b'A');
            field(key, schema_urn);
            field(key, prefix);
            field(key, &def.name);
            key.push(stringly(def));
            for sub in &def.sub_attributes {
                key.push(b'S');
                field(key, &sub.name);
                key.push(stringly(sub));
            }
        }
    };
    visit(&rs.core.id, "", &rs.core.attributes);
    visit(&rs.core.id, "", &rs.common);
    for (ext, _) in &rs.extensions {
        visit(&ext.id, &ext.id, &ext.attributes);
    }
}

/// A memoised [`SchemaRegistry::resource_schema`] result and what it was built from: the
/// registry's revision (same revision, same contents) and the resource type's name.
struct ResourceSchemaMemo {
    registry_revision: u64,
    resource_type: String,
    rs: std::rc::Rc<ResourceSchema>,
}

thread_local! {
    static RESOURCE_SCHEMAS: std::cell::RefCell<Vec<ResourceSchemaMemo>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`SchemaRegistry::resource_schema`], memoised per thread by the registry's revision and the
/// resource type's registered name, so the result is the one the registry would build.
fn resource_schema_cached(
    registry: &SchemaRegistry,
    rtype: &str,
) -> zkscim_scim::ScimResult<std::rc::Rc<ResourceSchema>> {
    let Some(rt) = registry.resource_type(rtype) else {
        return registry.resource_schema(rtype).map(std::rc::Rc::new);
    };
    let revision = registry.revision();
    RESOURCE_SCHEMAS.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some(m) = memo
            .iter()
            .find(|m| m.registry_revision == revision && m.resource_type == rt.name)
        {
            return Ok(m.rs.clone());
        }
        let rs = std::rc::Rc::new(registry.resource_schema(rtype)?);
        if memo.len() >= SCIM_PROFILE_MEMO {
            memo.remove(0);
        }
        memo.push(ResourceSchemaMemo {
            registry_revision: revision,
            resource_type: rt.name.clone(),
            rs: rs.clone(),
        });
        Ok(rs)
    })
}

/// One memoised [`scim_profile`] result: the tenant profile and the exact schema key it was
/// computed from (a pure function of both), and the resource schema last seen with that key.
struct ScimProfileMemo {
    profile: ProtectionProfile,
    key: Vec<u8>,
    /// Held so that its address cannot be reused: the same `Rc` (from
    /// [`resource_schema_cached`]) is the same schema, whose key is `key` without rebuilding it.
    rs: std::rc::Rc<ResourceSchema>,
    out: std::rc::Rc<zkscim_scim::ProtectionProfile>,
}

const SCIM_PROFILE_MEMO: usize = 16;

thread_local! {
    static SCIM_PROFILES: std::cell::RefCell<Vec<ScimProfileMemo>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`scim_profile`], memoised per thread on exactly what it depends on, since building it is
/// a large part of deciding one operation and it changes only with a policy or a schema. The
/// schema key (a few KB) is built only when `rs` is not the very schema last seen with it.
fn scim_profile_cached(
    profile: &ProtectionProfile,
    rs: &std::rc::Rc<ResourceSchema>,
) -> std::rc::Rc<zkscim_scim::ProtectionProfile> {
    SCIM_PROFILES.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some(m) = memo
            .iter()
            .find(|m| std::rc::Rc::ptr_eq(&m.rs, rs) && m.profile == *profile)
        {
            return m.out.clone();
        }
        let mut key = Vec::with_capacity(4096);
        scim_profile_key(rs, &mut key);
        if let Some(m) = memo
            .iter_mut()
            .find(|m| m.key == key && m.profile == *profile)
        {
            m.rs = rs.clone();
            return m.out.clone();
        }
        let out = std::rc::Rc::new(scim_profile(profile, rs));
        if memo.len() >= SCIM_PROFILE_MEMO {
            memo.remove(0);
        }
        memo.push(ScimProfileMemo {
            profile: profile.clone(),
            key,
            rs: rs.clone(),
            out: out.clone(),
        });
        out
    })
}

/// The SCIM engine's view of the tenant's profile for one resource type.
pub fn scim_profile(
    profile: &ProtectionProfile,
    rs: &ResourceSchema,
) -> zkscim_scim::ProtectionProfile {
    let mut out = zkscim_scim::ProtectionProfile::clear();
    let rtype = rs.resource_type.name.as_str();
    let mut visit = |schema_urn: &str, prefix: &str, attrs: &[zkscim_scim::AttributeDef]| {
        for def in attrs {
            let path = format!("{prefix}{}", def.name);
            // Only values carried as JSON strings can be sealed; booleans and numbers stay clear.
            let level = |p: &str, attr: &zkscim_scim::AttributeDef| {
                let stringly = matches!(
                    attr.attr_type,
                    zkscim_scim::AttrType::String
                        | zkscim_scim::AttrType::DateTime
                        | zkscim_scim::AttrType::Binary
                        | zkscim_scim::AttrType::Reference
                );
                match profile.protection(rtype, p) {
                    Ok(Protection::Sealed) if stringly => zkscim_scim::Protection::Sealed,
                    Ok(Protection::SealedIndexed) if stringly => {
                        zkscim_scim::Protection::SealedIndexed
                    }
                    _ => zkscim_scim::Protection::Clear,
                }
            };
            out.set(schema_urn, &def.name, level(&path, def));
            for sub in &def.sub_attributes {
                out.set(
                    schema_urn,
                    &format!("{}.{}", def.name, sub.name),
                    level(&format!("{path}.{}", sub.name), sub),
                );
            }
        }
    };
    visit(&rs.core.id, "", &rs.core.attributes);
    visit(&rs.core.id, "", &rs.common);
    for (ext, _) in &rs.extensions {
        visit(&ext.id, &format!("{}:", ext.id), &ext.attributes);
    }
    out
}

/// Calls `f` with every string of `resource` and its attribute path (extension attributes
/// under their URN), in document order, until `f` fails. One path buffer serves the whole
/// walk: checking a resource allocates nothing per leaf.
fn for_each_string_leaf<E>(
    resource: &Json,
    f: &mut dyn FnMut(&str, &str) -> Result<(), E>,
) -> Result<(), E> {
    let Json::Object(map) = resource else {
        return Ok(());
    };
    let mut path = String::new();
    for (k, v) in map {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        match v {
            Json::Object(ext) if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) => {
                for (a, v) in ext {
                    path.clear();
                    path.push_str(k);
                    path.push(':');
                    path.push_str(a);
                    for_each_leaf_under(v, &mut path, f)?;
                }
            }
            _ => {
                path.clear();
                path.push_str(k);
                for_each_leaf_under(v, &mut path, f)?;
            }
        }
    }
    Ok(())
}

/// Calls `f` with every string within `value` and its path: `path` itself, extended by
/// `.name` for each object member on the way (and restored before returning).
fn for_each_leaf_under<E>(
    value: &Json,
    path: &mut String,
    f: &mut dyn FnMut(&str, &str) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        Json::String(s) => f(path, s),
        Json::Array(items) => items
            .iter()
            .try_for_each(|item| for_each_leaf_under(item, path, f)),
        Json::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                let found = for_each_leaf_under(v, path, f);
                path.truncate(len);
                found?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// [`for_each_string_leaf`] over a create/replace body, or over the values of PATCH
/// operations (each under its path, filters stripped; a value without a path as a resource).
fn for_each_request_leaf<E>(
    json: &Json,
    f: &mut dyn FnMut(&str, &str) -> Result<(), E>,
) -> Result<(), E> {
    let Json::Array(ops) = json else {
        return for_each_string_leaf(json, f);
    };
    for op in ops {
        let Json::Object(op) = op else { continue };
        let Some(value) = get_ci(op, "value") else {
            continue;
        };
        match get_ci(op, "path").and_then(Json::as_str) {
            Some(path) => for_each_leaf_under(value, &mut strip_filters(path), f)?,
            None => for_each_string_leaf(value, f)?,
        }
    }
    Ok(())
}

/// `emails[type eq "work"].value` → `emails.value`; quoted brackets inside filters are skipped.
fn strip_filters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut escaped = false;
    for c in path.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_quote => escaped = true,
                '"' => in_quote = !in_quote,
                '[' if !in_quote => depth += 1,
                ']' if !in_quote => depth -= 1,
                _ => {}
            }
        } else if c == '[' {
            depth = 1;
        } else {
            out.push(c);
        }
    }
    out
}

fn check_request_profile(
    profile: &ProtectionProfile,
    rtype: &str,
    json: &Json,
) -> Result<(), Refusal> {
    with_leaf_protections(profile, rtype, |leaves| {
        for_each_request_leaf(json, &mut |path, value| leaves.check(path, value))
    })
}

fn check_profile(profile: &ProtectionProfile, rtype: &str, resource: &Json) -> Result<(), Refusal> {
    with_leaf_protections(profile, rtype, |leaves| {
        for_each_string_leaf(resource, &mut |path, value| leaves.check(path, value))
    })
}

/// Paths remembered per thread and resource type: beyond this, leaves are checked without the
/// memo (hostile input cannot grow it without bound).
const LEAF_MEMO_PATHS: usize = 4096;

/// What [`ProtectionProfile::check_value`] derives from a leaf's path alone: the normalised path
/// and its protection, or why the path is refused.
type LeafProtection = Result<(Box<str>, Protection), seal::PathError>;

/// The protection of leaf paths under one profile, memoised: the leak guard runs on every
/// string of every request and resulting resource, and the same few dozen paths recur.
#[derive(Debug, Default)]
struct LeafMemo {
    profile: Option<ProtectionProfile>,
    by_type: HashMap<String, HashMap<Box<str>, LeafProtection, Keyed>, Keyed>,
}

thread_local! {
    static LEAF_PROTECTIONS: std::cell::RefCell<LeafMemo> = std::cell::RefCell::default();
}

/// One resource type's leaf checks, with the memo borrowed.
struct LeafChecks<'a> {
    profile: &'a ProtectionProfile,
    rtype: &'a str,
    memo: &'a mut HashMap<Box<str>, LeafProtection, Keyed>,
}

impl LeafChecks<'_> {
    /// `f` applied to the normalised form and protection of `path`, from the memo.
    fn with_leaf<T>(&mut self, path: &str, f: impl FnOnce(&LeafProtection) -> T) -> T {
        let derive = || {
            self.profile
                .leaf_protection(self.rtype, path)
                .map(|(normalised, protection)| (normalised.into_boxed_str(), protection))
        };
        match self.memo.get(path) {
            Some(leaf) => f(leaf),
            None if self.memo.len() >= LEAF_MEMO_PATHS => f(&derive()),
            None => f(self.memo.entry(path.into()).or_insert_with(derive)),
        }
    }

    /// [`ProtectionProfile::protection`], memoised.
    fn protection(&mut self, path: &str) -> Result<Protection, seal::PathError> {
        self.with_leaf(path, |leaf| match leaf {
            Ok((_, protection)) => Ok(*protection),
            Err(e) => Err(e.clone()),
        })
    }

    /// [`ProtectionProfile::check_value`], the path's part memoised.
    fn check(&mut self, path: &str, value: &str) -> Result<(), Refusal> {
        let refuse = |v: seal::ProfileViolation| {
            Refusal::new(v.code(), 400, v.to_string()).scim("invalidValue")
        };
        let rtype = self.rtype;
        self.with_leaf(path, |leaf| match leaf {
            Ok((normalised, protection)) => {
                seal::check_value_against(*protection, rtype, normalised, value).map_err(refuse)
            }
            Err(e) => Err(refuse(seal::ProfileViolation::from(e.clone()))),
        })
    }
}

/// Runs `f` with the leaf checks of `rtype` under `profile`, the memo reset when the profile
/// is not the one it was filled under.
fn with_leaf_protections<T>(
    profile: &ProtectionProfile,
    rtype: &str,
    f: impl FnOnce(&mut LeafChecks<'_>) -> T,
) -> T {
    LEAF_PROTECTIONS.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.profile.as_ref() != Some(profile) {
            memo.profile = Some(profile.clone());
            memo.by_type.clear();
        }
        let memo = &mut *memo;
        let paths = match memo.by_type.get_mut(rtype) {
            Some(paths) => paths,
            None => memo.by_type.entry(rtype.to_owned()).or_default(),
        };
        f(&mut LeafChecks {
            profile,
            rtype,
            memo: paths,
        })
    })
}

/// Equality-search values after the operation: blind-index tokens for sealed+indexed
/// attributes (taken from the operation when it writes them, kept otherwise), and normalised
/// clear values of unique clear attributes.
fn resolve_indexes(
    body: &OperationBody,
    touched: &[AttrPath],
    profile: &ProtectionProfile,
    rs: &ResourceSchema,
    result: &Json,
    current: Option<&StoredResource>,
) -> Result<BTreeMap<String, String>, Refusal> {
    let rtype = rs.resource_type.name.as_str();
    // The protections come from the leak guard's memo (deriving one walks every profile rule).
    with_leaf_protections(profile, rtype, |leaves| {
        resolve_indexes_with(leaves, body, touched, rs, result, current)
    })
}

fn resolve_indexes_with(
    leaves: &mut LeafChecks<'_>,
    body: &OperationBody,
    touched: &[AttrPath],
    rs: &ResourceSchema,
    result: &Json,
    current: Option<&StoredResource>,
) -> Result<BTreeMap<String, String>, Refusal> {
    for path in body.indexes.keys() {
        if !matches!(leaves.protection(path), Ok(Protection::SealedIndexed)) {
            return Err(Refusal::new(
                "profile.index_unexpected",
                400,
                format!("a blind index was sent for '{path}', which the protection profile does not index"),
            )
            .scim("invalidValue"));
        }
    }
    let mut out = BTreeMap::new();
    for (path, value) in top_level_strings(result) {
        match leaves.protection(&path) {
            Ok(Protection::SealedIndexed) => {
                let written = touched.iter().any(|t| t.as_str() == path);
                let token = if written {
                    body.indexes.get(&path).cloned().flatten()
                } else {
                    current.and_then(|c| c.indexes.get(&path).cloned())
                };
                match token {
                    Some(t) => {
                        out.insert(path, t);
                    }
                    None => {
                        return Err(Refusal::new(
                            "profile.index_missing",
                            400,
                            format!("'{path}' is sealed and indexed: the operation must carry its blind index (field 18)"),
                        )
                        .scim("invalidValue"))
                    }
                }
            }
            Ok(Protection::Clear) if unique_attribute(rs, &path) => {
                let case_exact = rs.lookup(None, &path).is_some_and(|a| a.def.case_exact);
                out.insert(path, seal::normalize_index_value(&value, case_exact));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Top-level single-valued string attributes of the core schema, with normalised names.
fn top_level_strings(resource: &Json) -> Vec<(String, String)> {
    let Json::Object(map) = resource else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_owned())))
        .filter(|(k, _)| k != "id")
        .collect()
}

fn unique_attribute(rs: &ResourceSchema, path: &str) -> bool {
    rs.lookup(None, path)
        .is_some_and(|a| !matches!(a.def.uniqueness, Uniqueness::None))
}

/// The text a resource body is stored as, by the server and in the replay: serde_json's compact
/// form (`body.to_string()`), byte for byte (a property test compares the two on arbitrary
/// values). Printed here because serde_json's serialiser examines strings byte by byte and
/// dispatches per token (~5% of the replay); the strings of a zkscim body are mostly sealed
/// values with nothing to escape.
pub fn stored_body_text(body: &serde_json::Value) -> String {
    let mut out = String::with_capacity(1024);
    write_compact_json(body, &mut out);
    out
}

fn write_compact_json(value: &serde_json::Value, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(true) => out.push_str("true"),
        serde_json::Value::Bool(false) => out.push_str("false"),
        // `Number`'s `Display` is its serialised form (itoa, or ryu for finite floats); writing
        // into a `String` cannot fail.
        serde_json::Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        serde_json::Value::String(s) => write_json_string(s, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact_json(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_compact_json(item, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, the control characters below
/// 0x20 as `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else as it is.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    // Checked whole without stopping early, so the loop vectorises; most strings pass.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.push_str(s);
    } else {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut run_start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0x08 => "\\b",
                0x09 => "\\t",
                0x0a => "\\n",
                0x0c => "\\f",
                0x0d => "\\r",
                0x00..=0x1f => "",
                _ => continue,
            };
            // Escaped bytes are ASCII, so the run before one ends on a character boundary.
            out.push_str(s.get(run_start..i).unwrap_or_default());
            run_start = i + 1;
            if escape.is_empty() {
                out.push_str("\\u00");
                for nibble in [b >> 4, b & 0x0f] {
                    out.push(char::from(
                        HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                    ));
                }
            } else {
                out.push_str(escape);
            }
        }
        out.push_str(s.get(run_start..).unwrap_or_default());
    }
    out.push('"');
}

/// Whether a JSON object has the member (case-insensitive), for callers assembling views.
pub fn get_ci<'a>(map: &'a Map<String, Json>, key: &str) -> Option<&'a Json> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The directory digest: SHA-256 over every resource (ordered by type, then id: type, id,
/// version, canonical JSON) and every membership (ordered by group, then member). The server
/// publishes it; the auditor recomputes it by replay. Fields are length-prefixed so no two
/// directories share an input.
#[derive(Debug, Clone)]
pub struct DirectoryDigest {
    hasher: sha2::Sha256,
}

impl Default for DirectoryDigest {
    fn default() -> Self {
        DirectoryDigest::new()
    }
}

impl DirectoryDigest {
    /// An empty digest.
    pub fn new() -> DirectoryDigest {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"zkscim directory digest v1");
        DirectoryDigest { hasher }
    }

    fn field(&mut self, bytes: &[u8]) {
        use sha2::Digest as _;
        self.hasher.update((bytes.len() as u64).to_be_bytes());
        self.hasher.update(bytes);
    }

    /// Adds a resource; call in (type, id) order.
    pub fn resource(&mut self, resource_type: &str, id: &str, version: u64, body: &Json) {
        self.field(b"R");
        self.field(resource_type.as_bytes());
        self.field(id.as_bytes());
        self.field(&version.to_be_bytes());
        self.field(body.to_string().as_bytes());
    }

    /// Adds a resource whose body is already its canonical JSON text (`body.to_string()`).
    pub fn resource_text(&mut self, resource_type: &str, id: &str, version: u64, body: &str) {
        self.field(b"R");
        self.field(resource_type.as_bytes());
        self.field(id.as_bytes());
        self.field(&version.to_be_bytes());
        self.field(body.as_bytes());
    }

    /// Adds a membership; call in (group, member) order, after all resources.
    pub fn member(&mut self, group: &str, member: &str) {
        self.field(b"M");
        self.field(group.as_bytes());
        self.field(member.as_bytes());
    }

    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        use sha2::Digest as _;
        self.hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value as Json};
    use zkscim_proto::seal::{Protection, ProtectionProfile};

    /// Hostile input with endless distinct paths cannot grow the memo past its bound, and the
    /// leaves past the bound are still checked, exactly.
    #[test]
    fn the_leaf_memo_stays_bounded() {
        let mut profile = ProtectionProfile::new(Protection::Clear);
        profile
            .set_rule(Some("Agent"), "zlast", Protection::Sealed)
            .unwrap();
        let mut body = serde_json::Map::new();
        for i in 0..(super::LEAF_MEMO_PATHS + 200) {
            body.insert(format!("a{i}"), json!("clear"));
        }
        // Walked last (the map is ordered), once the memo is full.
        body.insert("zlast".to_owned(), json!("clear"));
        let body = Json::Object(body);
        let refused = super::check_profile(&profile, "Agent", &body).unwrap_err();
        assert_eq!(refused.code, "profile.clear_value_refused");
        assert!(refused.detail.contains("zlast"), "{}", refused.detail);
        let held =
            super::LEAF_PROTECTIONS.with(|m| m.borrow().by_type.get("Agent").map(|p| p.len()));
        assert_eq!(held, Some(super::LEAF_MEMO_PATHS));
    }

    /// The leak guard's memo answers exactly as `ProtectionProfile::check_value` does, for the
    /// profile in force: the same path checked under another profile, or resource type, on the
    /// same thread gets that profile's verdict, and refusals keep their codes and wording.
    #[test]
    fn memoised_leaf_checks_follow_the_profile_in_force() {
        let clear = ProtectionProfile::new(Protection::Clear);
        let mut sealed_title = ProtectionProfile::new(Protection::Clear);
        sealed_title
            .set_rule(Some("User"), "title", Protection::Sealed)
            .unwrap();
        let user = json!({"userName": "ann", "title": "Boss", "name": {"givenName": "Ann"}});
        let bad_path = json!({"userName": "ann", "ti tle": "x"});
        let verdict = |profile: &ProtectionProfile, rtype: &str, body: &Json| {
            let memo = super::check_profile(profile, rtype, body).map_err(|r| (r.code, r.detail));
            let direct = super::for_each_string_leaf(body, &mut |path, value| {
                profile
                    .check_value(rtype, path, value)
                    .map_err(|v| (v.code().to_owned(), v.to_string()))
            });
            assert_eq!(memo, direct, "{rtype} {body}");
            // The memo's protections (what `resolve_indexes` reads) are the profile's own.
            for path in [
                "title",
                "TITLE",
                "name.givenName",
                "emails.value",
                "bad path",
                "a..b",
            ] {
                let memoised =
                    super::with_leaf_protections(profile, rtype, |leaves| leaves.protection(path));
                assert_eq!(memoised, profile.protection(rtype, path), "{rtype} {path}");
            }
            memo
        };
        for _ in 0..2 {
            assert!(verdict(&clear, "User", &user).is_ok());
            let refused = verdict(&sealed_title, "User", &user).unwrap_err();
            assert_eq!(refused.0, "profile.clear_value_refused", "{refused:?}");
            assert!(verdict(&sealed_title, "Group", &user).is_ok());
            assert!(verdict(&clear, "User", &user).is_ok());
            assert!(verdict(&sealed_title, "User", &bad_path).is_err());
        }
    }

    fn leaves(json: &Json, request: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |path: &str, value: &str| -> Result<(), ()> {
            out.push((path.to_owned(), value.to_owned()));
            Ok(())
        };
        let walked = if request {
            super::for_each_request_leaf(json, &mut push)
        } else {
            super::for_each_string_leaf(json, &mut push)
        };
        assert_eq!(walked, Ok(()));
        out
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(p, v)| ((*p).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn string_leaves_in_document_order_with_paths() {
        let resource = json!({
            "schemas": ["urn:x", "ignored"],
            "userName": "u",
            "active": true,
            "name": {"givenName": "g", "familyName": "f", "n": 3},
            "emails": [{"value": "a", "type": "work"}, {"value": "b"}, "c"],
            "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "manager": {"value": "m"},
                "department": "d"
            },
            "urnish": {"x": "y"},
            "é": "accent"
        });
        // serde_json's map iterates keys in order.
        assert_eq!(
            leaves(&resource, false),
            pairs(&[
                (
                    "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                    "d"
                ),
                (
                    "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                    "m"
                ),
                ("emails.type", "work"),
                ("emails.value", "a"),
                ("emails.value", "b"),
                ("emails", "c"),
                ("name.familyName", "f"),
                ("name.givenName", "g"),
                ("urnish.x", "y"),
                ("userName", "u"),
                ("é", "accent"),
            ])
        );
        let ops = json!([
            {"op": "replace", "path": "emails[type eq \"w]\"].value", "value": "e"},
            {"op": "add", "value": {"name": {"givenName": "g"}, "schemas": ["s"]}},
            {"op": "add", "PATH": "name", "VALUE": {"familyName": "f"}},
            "not an object",
            {"op": "remove", "path": "title"}
        ]);
        assert_eq!(
            leaves(&ops, true),
            pairs(&[
                ("emails.value", "e"),
                ("name.givenName", "g"),
                ("name.familyName", "f"),
            ])
        );
        // A create or replace body is walked as a resource.
        assert_eq!(leaves(&resource, true), leaves(&resource, false));
        // The first failing leaf stops the walk.
        let mut seen = 0;
        let stopped = super::for_each_string_leaf(&resource, &mut |_, v| {
            seen += 1;
            if v == "a" {
                Err(v.to_owned())
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, seen), (Err("a".to_owned()), 4));
    }

    #[test]
    fn recent_rfc3339_is_rfc3339() {
        for now in [
            0,
            1_767_225_600,
            1_767_225_600,
            1_767_225_601,
            4_102_444_800,
            1,
        ] {
            assert_eq!(super::rfc3339_recent(now), super::rfc3339(now));
        }
    }

    #[test]
    fn strip_filters_skips_quoted_brackets() {
        assert_eq!(
            super::strip_filters(r#"emails[type eq "work"].value"#),
            "emails.value"
        );
        assert_eq!(
            super::strip_filters(r#"members[value eq "a]\"b"]"#),
            "members"
        );
        assert_eq!(super::strip_filters("name.givenName"), "name.givenName");
    }
}
