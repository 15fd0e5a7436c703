//! `zkscim op create|replace|patch|delete`: seal, blind-index and sign a SCIM operation; submit it
//! (unless only `--out` is given) and verify the receipt before reporting success.
//!
//! How protected values are carried (the rule the authority's leak guard and `zkscim-rules`
//! expect):
//!
//! - Every string leaf of the resource (or of a PATCH operation's `value`) is looked up in the
//!   tenant's protection profile by its normalised attribute path (`name.givenname`,
//!   `emails.value`, `urn:…:enterprise:2.0:user:manager.value`; `schemas` skipped, PATCH
//!   `[filters]` dropped). Clear leaves stay as they are; sealed leaves are replaced in place by
//!   `zk1.…`, bound to (tenant, resource type, resource id, normalised path).
//! - A sealed + indexed leaf is sealed the same way, and its blind index `zkx1.…` goes into the
//!   operation's field 18 (`indexes`: normalised path → token), never into the resource. A PATCH
//!   `remove` of a sealed + indexed attribute carries `path → null`. Field 18 holds one token per
//!   path, so a sealed + indexed attribute given twice in one operation is refused.
//! - Blind indexes fold case unless the attribute is case-exact (RFC 7643: `externalId` only,
//!   among the default indexed attributes).
//! - A value already sealed (`zk1.…`) is kept for a sealed attribute, but refused for a sealed +
//!   indexed one (its index cannot be computed without the clear value).
//! - Non-string leaves (booleans, numbers) stay clear: seal.md §8.1 applies the profile to
//!   strings only.
//! - A PATCH path filter that compares a protected attribute (`emails[type eq "work"]`) is
//!   refused: its comparison value would travel in the clear.
//!
//! Before writing, the signed bytes are parsed and verified as the server would (signature,
//! chain, tenant, validity) and checked against the chain's scope, so a file that is written
//! is one the signer was entitled to produce.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Map, Value as Json};
use zeroize::Zeroizing;
use zkscim_proto::cert::{ChainContext, NoCache};
use zkscim_proto::envelope::{is_canonical_uuid, Change, Envelope, OperationBody, Signed};
use zkscim_proto::scope::AttrPath;
use zkscim_proto::seal::{
    check_sealed_shape, classify, normalize_attribute_path, seal, Protection, ProtectionProfile,
    SealContext, TenantSecret, ValueClass,
};

use crate::config::{Config, SignerArgs};
use crate::files::{read_limited, MAX_INPUT_BYTES};
use crate::output::{CliError, Output};
use crate::signer;

/// Allowed distance between issued-at and the verifier's clock in the local self-check.
const SELF_CHECK_SKEW_SECS: u64 = 300;

#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Seal and sign a create from plain SCIM JSON (a new UUID id unless --id or "id" is given),
    /// submit it and verify the receipt (or, with only --out, write the signed bytes).
    ///
    /// Example: `zkscim op create --tenant-dir ./acme --key okta.pem --chain okta.chain --type User
    /// user.json`
    Create(OpArgs),
    /// Seal, sign and submit a full replace of a resource.
    ///
    /// Example: `zkscim op replace --type User --id 2819c223-7f76-453a-919d-413861904646
    /// --if-match 'W/"3"' user.json`
    Replace(OpArgs),
    /// Seal, sign and submit a PATCH: a PatchOp message or a bare `Operations` array.
    ///
    /// Example: `echo '[{"op":"replace","path":"active","value":false}]' | zkscim op patch
    /// --type User --id 2819c223-7f76-453a-919d-413861904646 --out op.cbor`
    Patch(OpArgs),
    /// Sign and submit a delete (no input).
    ///
    /// Example: `zkscim op delete --type User --id 2819c223-7f76-453a-919d-413861904646 --out op.cbor`
    Delete(OpArgs),
}

#[derive(Debug, Args)]
pub struct OpArgs {
    #[command(flatten)]
    signer: SignerArgs,
    /// SCIM resource type: User, Group, Agent, …
    #[arg(long = "type")]
    resource_type: String,
    /// Resource id (a UUID); required except for create.
    #[arg(long)]
    id: Option<String>,
    /// Version precondition, e.g. `W/"3"`.
    #[arg(long)]
    if_match: Option<String>,
    /// Plain SCIM JSON input file, or `-` for stdin (default).
    input: Option<PathBuf>,
    /// Write the signed operation (COSE_Sign1 bytes) here. Without --server (flag or
    /// ZKSCIM_SERVER) it is only written, not submitted; with one, it is written once applied.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create,
    Replace,
    Patch,
    Delete,
}

pub fn run(cmd: OpCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        OpCommand::Create(a) => build(Kind::Create, a, out),
        OpCommand::Replace(a) => build(Kind::Replace, a, out),
        OpCommand::Patch(a) => build(Kind::Patch, a, out),
        OpCommand::Delete(a) => build(Kind::Delete, a, out),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4) UUID in lowercase canonical form, from the OS RNG.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

fn input_error(code: &str, message: String, hint: &str) -> CliError {
    CliError::new(code, message).hint(hint).input()
}

fn build(kind: Kind, a: OpArgs, out: &Output) -> Result<(), CliError> {
    let cfg = Config::load()?;
    let resolved = a.signer.clone().resolve(&cfg)?;
    let loaded = signer::load(&resolved)?;
    let (tenant, key) = (&loaded.tenant, &loaded.key);

    let body = match (kind, &a.input) {
        (Kind::Delete, Some(_)) => {
            return Err(input_error(
                "op.input",
                "delete takes no input".into(),
                "drop the input file argument",
            ))
        }
        (Kind::Delete, None) => None,
        (_, input) => {
            let path = input.clone().unwrap_or_else(|| PathBuf::from("-"));
            let bytes = read_limited(&path, MAX_INPUT_BYTES, "SCIM JSON input")?;
            let json: Json = serde_json::from_slice(&bytes).map_err(|e| {
                input_error(
                    "op.json",
                    format!("{}: malformed JSON: {e}", path.display()),
                    "the input must be one SCIM resource (create, replace) or PATCH request as JSON",
                )
            })?;
            drop(Zeroizing::new(bytes));
            Some(json)
        }
    };

    let id = resource_id(kind, a.id.as_deref(), body.as_ref())?;
    let (change, indexes, sealed) = match (kind, body) {
        (Kind::Delete, _) | (_, None) => (Change::Delete, BTreeMap::new(), BTreeSet::new()),
        (kind, Some(mut json)) => {
            let secret = tenant.secret()?;
            let profile = tenant.profile()?;
            let mut s = Sealer {
                secret: &secret,
                profile: &profile,
                tenant: &tenant.tenant,
                resource_type: &a.resource_type,
                id: &id,
                sealed: BTreeSet::new(),
                indexes: BTreeMap::new(),
            };
            let change = if kind == Kind::Patch {
                let mut ops = patch_operations(json)?;
                for op in ops.iter_mut() {
                    s.patch_op(op)?;
                }
                Change::patch(&Json::Array(ops))
            } else {
                let Json::Object(map) = &mut json else {
                    return Err(input_error(
                        "op.json",
                        "the resource must be a JSON object".into(),
                        "pass one SCIM resource, e.g. {\"userName\": \"bjensen\", …}",
                    ));
                };
                check_schemas(map, &a.resource_type)?;
                s.top(map)?;
                if kind == Kind::Create {
                    Change::create(&json)
                } else {
                    Change::replace(&json)
                }
            }
            .map_err(|e| {
                input_error(
                    e.code(),
                    format!("cannot carry this operation: {e}"),
                    "check the input's shape",
                )
            })?;
            (change, s.indexes, s.sealed)
        }
    };

    let op_body = OperationBody {
        resource_type: a.resource_type.clone(),
        resource_id: id.clone(),
        if_match: a.if_match.clone(),
        change,
        indexes,
    };
    let header = loaded.header();
    let ctx = ChainContext {
        tenant: &tenant.tenant,
        root: &tenant.root,
        now: header.issued_at,
    };
    let envelope = Envelope::new(header, op_body);
    envelope.validate().map_err(|e| {
        input_error(
            e.code(),
            format!("the operation is not well formed: {e}"),
            "check --type (a SCIM resource type name), --id (a UUID) and --if-match (visible ASCII)",
        )
    })?;
    let bytes = envelope.sign(key);

    // Self-check as the server would: what is written must verify and be within scope.
    let signed = Signed::<OperationBody>::parse(&bytes).map_err(|e| {
        CliError::new(
            e.code(),
            format!("internal: signed operation does not parse: {e}"),
        )
    })?;
    let verified = signed
        .verify(&ctx, SELF_CHECK_SKEW_SECS, &mut NoCache)
        .map_err(|e| CliError::new(e.code(), format!("operation refused: {e}")))?;
    let touched = signed.body().touched_paths(None).map_err(|e| {
        input_error(
            e.code(),
            format!("cannot tell which attributes this operation writes: {e}"),
            "check attribute names and PATCH paths",
        )
    })?;
    let touched: Vec<AttrPath> = touched.into_iter().collect();
    verified
        .chain()
        .scope
        .check_action(signed.body().operation(), &a.resource_type, &id, &touched)
        .map_err(|e| {
            CliError::new(e.code(), format!("refused by the signer's scope: {e}"))
                .hint("the chain does not allow this operation: see `zkscim cert show` of the chain, or ask for a wider certificate")
        })?;

    // Where it goes: --out alone only writes; otherwise it is submitted to the known server.
    let applied = signer::deliver(&resolved, &loaded, &cfg, &bytes, a.out.as_deref(), a.force)?;
    let op_name = signed.body().operation().as_str();
    let indexed: Vec<&String> = signed.body().indexes.keys().collect();
    let destination = match (&a.out, &applied) {
        (Some(p), None) => format!("→ {}", p.display()),
        (Some(p), Some(_)) => format!("→ {} and submitted", p.display()),
        (None, _) => "submitted".to_owned(),
    };
    let result = match &applied {
        Some(r) => format!(
            "\napplied at log index {} → version {}{} (receipt verified: inclusion proof in the log key's signed checkpoint of size {})",
            r.index,
            r.version.as_deref().unwrap_or("-"),
            if r.duplicate { ", already logged" } else { "" },
            r.tree_size
        ),
        None => String::new(),
    };
    out.result(
        &format!(
            "signed {op_name} of {} {id} for tenant {} ({} bytes) {destination}\n  signer:  {}\n  sealed:  {}\n  indexed: {}{result}",
            a.resource_type,
            tenant.tenant,
            bytes.len(),
            key.key_id().short(),
            if sealed.is_empty() { "none".to_owned() } else { sealed.iter().cloned().collect::<Vec<_>>().join(", ") },
            if indexed.is_empty() { "none".to_owned() } else { indexed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") },
        ),
        &serde_json::json!({
            "file": a.out,
            "operation": op_name,
            "tenant": tenant.tenant,
            "resource_type": a.resource_type,
            "resource_id": id,
            "signer_fingerprint": key.key_id().short(),
            "sealed": sealed,
            "indexed": indexed,
            "bytes": bytes.len(),
            "submitted_hash": hex(&signed.submitted_hash()),
            "status": if applied.is_some() { "applied" } else { "signed" },
            "index": applied.as_ref().map(|r| r.index),
            "version": applied.as_ref().and_then(|r| r.version.clone()),
            "etag": applied.as_ref().and_then(|r| r.version.clone()),
            "duplicate": applied.as_ref().map(|r| r.duplicate),
            "receipt": applied.as_ref().map(|r| r.receipt.clone()),
        }),
    );
    Ok(())
}

/// The resource id: --id, else the body's `id` (create, replace), else a new UUID (create).
fn resource_id(kind: Kind, flag: Option<&str>, body: Option<&Json>) -> Result<String, CliError> {
    let in_body = match kind {
        Kind::Create | Kind::Replace => body.and_then(|b| b.get("id")).and_then(Json::as_str),
        _ => None,
    };
    let id = match (flag, in_body) {
        (Some(f), Some(b)) if !f.eq_ignore_ascii_case(b) => {
            return Err(input_error(
                "op.id_mismatch",
                format!("--id {f} differs from the resource's \"id\" {b}"),
                "drop one of them",
            ))
        }
        (Some(f), _) => f.to_ascii_lowercase(),
        (None, Some(b)) => b.to_ascii_lowercase(),
        (None, None) if kind == Kind::Create => uuid_v4(),
        (None, None) => {
            return Err(input_error(
                "op.id_missing",
                "--id is required for replace, patch and delete".into(),
                "pass the resource's UUID with --id",
            ))
        }
    };
    if !is_canonical_uuid(&id) {
        return Err(input_error(
            "op.id_invalid",
            format!("resource id {id:?} is not a UUID"),
            "resource ids are client-assigned UUIDs such as 2819c223-7f76-453a-919d-413861904646",
        ));
    }
    Ok(id)
}

/// SCIM requires `schemas` on a resource; refusing here names the fix, where the server's
/// refusal would come only after submission.
fn check_schemas(map: &Map<String, Json>, resource_type: &str) -> Result<(), CliError> {
    if map.keys().any(|k| k.eq_ignore_ascii_case("schemas")) {
        return Ok(());
    }
    let mut expected: Vec<String> = zkscim_proto::touch::CORE_SCHEMAS
        .iter()
        .filter(|(rt, _)| *rt == resource_type)
        .map(|(_, urn)| format!("{urn:?}"))
        .collect();
    expected.extend(
        map.iter()
            .filter(|(k, v)| k.to_ascii_lowercase().starts_with("urn:") && v.is_object())
            .map(|(k, _)| format!("{k:?}")),
    );
    Err(input_error(
        "op.schemas_missing",
        "the resource has no \"schemas\" member".into(),
        &format!("add \"schemas\": [{}]", expected.join(", ")),
    ))
}

/// The `Operations` array of a PatchOp message, or a bare array.
fn patch_operations(json: Json) -> Result<Vec<Json>, CliError> {
    let bad = || {
        input_error(
            "op.patch_shape",
            "PATCH input must be a PatchOp message {\"Operations\": [...]} or an array of operations".into(),
            "e.g. [{\"op\": \"replace\", \"path\": \"active\", \"value\": false}]",
        )
    };
    match json {
        Json::Array(ops) => Ok(ops),
        Json::Object(map) => map
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
            .and_then(|(_, v)| match v {
                Json::Array(ops) => Some(ops),
                _ => None,
            })
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// `emails[type eq "work"].value` → `emails.value` (quoted brackets inside filters are skipped).
fn strip_filters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in path.chars() {
        if depth == 0 {
            if c == '[' {
                depth = 1;
            } else {
                out.push(c);
            }
            continue;
        }
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            _ => {}
        }
    }
    out
}

/// SCIM filter operators that compare an attribute (RFC 7644 §3.4.2.2).
const FILTER_OPERATORS: [&str; 10] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"];

/// Unquoted words inside the `[…]` parts of a PATCH path (quoted strings become one `""` token).
fn filter_tokens(filter: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in filter.chars() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    quoted = false;
                    tokens.push("\"\"".to_owned());
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            c if c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')') => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Whether an attribute's blind index is case-sensitive (RFC 7643 `caseExact`).
pub(crate) fn case_exact(path: &str) -> bool {
    path == "externalid"
}

/// Why a SCIM document could not be sealed for signing. Stable codes; [`CliError`] adds hints.
#[derive(Debug, thiserror::Error)]
enum SealInputError {
    /// The attribute path cannot be normalised (too deep, bad characters).
    #[error("cannot seal attribute {path:?}: {reason}")]
    AttributePath { path: String, reason: String },
    /// A sealed value or blind index in an attribute the profile keeps clear.
    #[error("attribute {path} is clear in the protection profile, but holds a {found}")]
    ProtectedInClear { path: String, found: ValueClass },
    /// A blind index where a value belongs.
    #[error("attribute {path} holds a blind index where a value belongs")]
    IndexAsValue { path: String },
    /// A `zk1.` value that is not well formed.
    #[error("attribute {path} holds a malformed sealed value: {detail}")]
    MalformedSealed { path: String, detail: String },
    /// A sealed + indexed attribute that arrived sealed: its index needs the clear value.
    #[error("attribute {path} is sealed and indexed, but arrived already sealed: its blind index needs the clear value")]
    IndexedAlreadySealed { path: String },
    /// A sealed + indexed attribute given twice: field 18 holds one index per path.
    #[error("attribute {path} is sealed and indexed and appears more than once; an operation carries one blind index per attribute")]
    DuplicateIndexed { path: String },
    /// A PATCH filter comparing a protected attribute.
    #[error("PATCH path {path:?} filters on {attribute}, which is sealed: the comparison value would be sent in the clear")]
    FilterOnSealed { path: String, attribute: String },
    /// A PATCH operation of the wrong shape.
    #[error("{0}")]
    PatchShape(&'static str),
    /// Sealing or indexing itself failed (value too large, context field too long).
    #[error("attribute {path}: {source}")]
    Seal {
        path: String,
        source: zkscim_proto::seal::SealError,
    },
}

impl SealInputError {
    fn code(&self) -> &'static str {
        match self {
            SealInputError::AttributePath { .. } => "op.attribute_path",
            SealInputError::ProtectedInClear { .. }
            | SealInputError::IndexAsValue { .. }
            | SealInputError::MalformedSealed { .. }
            | SealInputError::IndexedAlreadySealed { .. }
            | SealInputError::DuplicateIndexed { .. } => "op.protected_value",
            SealInputError::FilterOnSealed { .. } => "op.filter_on_sealed",
            SealInputError::PatchShape(_) => "op.patch_shape",
            SealInputError::Seal { source, .. } => source.code(),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            SealInputError::AttributePath { .. } => {
                "attribute paths are at most `attr.sub` (extension attributes `urn:…:attr.sub`)"
            }
            SealInputError::FilterOnSealed { .. } => {
                "address the value without a filter on sealed attributes (e.g. replace the whole multi-valued attribute)"
            }
            SealInputError::PatchShape(_) => {
                "e.g. [{\"op\": \"replace\", \"path\": \"active\", \"value\": false}]"
            }
            SealInputError::Seal { .. } => "sealed values are at most 64 KiB",
            _ => "pass plain (clear) values: the CLI seals what the tenant's protection profile requires",
        }
    }
}

impl From<SealInputError> for CliError {
    fn from(e: SealInputError) -> CliError {
        CliError::new(e.code(), &e).hint(e.hint()).input()
    }
}

struct Sealer<'a> {
    secret: &'a TenantSecret,
    profile: &'a ProtectionProfile,
    tenant: &'a str,
    resource_type: &'a str,
    id: &'a str,
    sealed: BTreeSet<String>,
    indexes: BTreeMap<String, Option<String>>,
}

impl Sealer<'_> {
    /// A resource, or a PATCH value without a path: top-level members, extension objects
    /// qualified by their URN, `schemas` skipped.
    fn top(&mut self, map: &mut Map<String, Json>) -> Result<(), SealInputError> {
        for (k, v) in map.iter_mut() {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            match v {
                Json::Object(ext)
                    if k.to_ascii_lowercase().starts_with("urn:") && !is_attribute_urn(k) =>
                {
                    for (attr, v) in ext.iter_mut() {
                        self.walk(v, &format!("{k}:{attr}"))?;
                    }
                }
                _ => self.walk(v, k)?,
            }
        }
        Ok(())
    }

    fn walk(&mut self, value: &mut Json, path: &str) -> Result<(), SealInputError> {
        match value {
            Json::String(s) => self.leaf(s, path),
            Json::Array(items) => items.iter_mut().try_for_each(|i| self.walk(i, path)),
            Json::Object(map) => map
                .iter_mut()
                .try_for_each(|(k, v)| self.walk(v, &format!("{path}.{k}"))),
            _ => Ok(()),
        }
    }

    /// The normalised path and the profile's protection for it.
    fn classify_path(&self, path: &str) -> Result<(String, Protection), SealInputError> {
        let bad = |reason: String| SealInputError::AttributePath {
            path: path.chars().take(80).collect(),
            reason,
        };
        let norm = normalize_attribute_path(path).map_err(|e| bad(e.reason.to_owned()))?;
        let protection = self
            .profile
            .protection(self.resource_type, &norm)
            .map_err(|e| bad(e.reason.to_owned()))?;
        Ok((norm, protection))
    }

    fn leaf(&mut self, value: &mut String, path: &str) -> Result<(), SealInputError> {
        let (norm, protection) = self.classify_path(path)?;
        match (protection, classify(value)) {
            (Protection::Clear, ValueClass::Clear) => Ok(()),
            (Protection::Clear, found) => {
                Err(SealInputError::ProtectedInClear { path: norm, found })
            }
            (_, ValueClass::Index) => Err(SealInputError::IndexAsValue { path: norm }),
            (Protection::Sealed, ValueClass::Sealed) => {
                check_sealed_shape(value).map_err(|e| SealInputError::MalformedSealed {
                    path: norm,
                    detail: e.to_string(),
                })
            }
            (Protection::SealedIndexed, ValueClass::Sealed) => {
                Err(SealInputError::IndexedAlreadySealed { path: norm })
            }
            (protection, _clear) => {
                if protection == Protection::SealedIndexed {
                    let token = self
                        .secret
                        .index_key(self.tenant, self.resource_type, &norm)
                        .and_then(|k| k.index(case_exact(&norm), value))
                        .map_err(|source| SealInputError::Seal {
                            path: norm.clone(),
                            source,
                        })?;
                    if self.indexes.insert(norm.clone(), Some(token)).is_some() {
                        return Err(SealInputError::DuplicateIndexed { path: norm });
                    }
                }
                let ctx = SealContext {
                    tenant: self.tenant,
                    resource_type: self.resource_type,
                    resource_id: self.id,
                    attribute_path: &norm,
                };
                let sealed =
                    seal(self.secret, &ctx, value, &mut rand_core::OsRng).map_err(|source| {
                        SealInputError::Seal {
                            path: norm.clone(),
                            source,
                        }
                    })?;
                // Wipe the clear value as it leaves the document.
                drop(Zeroizing::new(std::mem::replace(value, sealed)));
                self.sealed.insert(norm);
                Ok(())
            }
        }
    }

    /// Refuses a PATCH path filter that compares a protected attribute: its comparison value
    /// would travel in the clear, and the server cannot evaluate it on ciphertext anyway.
    fn check_filter(&self, path: &str) -> Result<(), SealInputError> {
        let Some(open) = path.find('[') else {
            return Ok(());
        };
        let base = path.get(..open).unwrap_or_default();
        let tokens = filter_tokens(path.get(open..).unwrap_or_default());
        for pair in tokens.windows(2) {
            let [attr, op] = pair else { continue };
            if !FILTER_OPERATORS.contains(&op.to_ascii_lowercase().as_str()) {
                continue;
            }
            let full = format!("{base}.{attr}");
            let clear = matches!(self.classify_path(&full), Ok((_, Protection::Clear)));
            if !clear {
                return Err(SealInputError::FilterOnSealed {
                    path: path.chars().take(200).collect(),
                    attribute: full,
                });
            }
        }
        Ok(())
    }

    fn patch_op(&mut self, op: &mut Json) -> Result<(), SealInputError> {
        let Json::Object(map) = op else {
            return Err(SealInputError::PatchShape(
                "each PATCH operation must be a JSON object",
            ));
        };
        let get = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let verb = get("op").and_then(|v| v.as_str().map(str::to_ascii_lowercase));
        let raw_path = get("path").and_then(|v| v.as_str().map(str::to_owned));
        if let Some(raw) = &raw_path {
            self.check_filter(raw)?;
        }
        let path = raw_path.as_deref().map(strip_filters);
        if verb.as_deref() == Some("remove") {
            if let Some(p) = &path {
                let (norm, protection) = self.classify_path(p)?;
                if protection == Protection::SealedIndexed {
                    self.indexes.insert(norm, None);
                }
            }
            return Ok(());
        }
        let Some(value) = map
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v)
        else {
            return Ok(());
        };
        match (path, value) {
            (None, Json::Object(members)) => self.top(members),
            (None, _) => Err(SealInputError::PatchShape(
                "a PATCH operation without a path needs an object value",
            )),
            (Some(p), Json::Object(members)) if is_extension_urn(&p) => {
                for (attr, v) in members.iter_mut() {
                    self.walk(v, &format!("{p}:{attr}"))?;
                }
                Ok(())
            }
            (Some(p), value) => self.walk(value, &p),
        }
    }
}

/// Whether `urn` names a whole extension schema (its members follow as object keys).
fn is_extension_urn(urn: &str) -> bool {
    zkscim_proto::touch::KNOWN_EXTENSION_SCHEMAS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(urn))
        || zkscim_proto::touch::CORE_SCHEMAS
            .iter()
            .any(|(_, s)| s.eq_ignore_ascii_case(urn))
}

/// A URN-qualified attribute (`urn:…:User:manager`) rather than a schema URN.
pub(crate) fn is_attribute_urn(key: &str) -> bool {
    !is_extension_urn(key)
        && key
            .rsplit_once(':')
            .is_some_and(|(schema, _)| is_extension_urn(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape_and_filters() {
        let id = uuid_v4();
        assert!(is_canonical_uuid(&id), "{id}");
        assert_eq!(id.as_bytes()[14], b'4');
        assert_eq!(
            strip_filters("emails[type eq \"wo]rk\"].value"),
            "emails.value"
        );
        assert_eq!(strip_filters("members[value eq \"x\"]"), "members");
        assert_eq!(
            filter_tokens("[type eq \"a b\" and value pr].x"),
            ["type", "eq", "\"\"", "and", "value", "pr", ".x"]
        );
    }
}
