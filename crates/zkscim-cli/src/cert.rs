//! `zkscim cert …`: issue, show, verify and renew delegation certificates, offline.
//!
//! Issuing checks attenuation itself before asking `zkscim-proto` to sign, so a refusal names
//! the dimension and the flag to change; `Certificate::issue` enforces the same rules again.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zkscim_proto::cert::{
    verify_chain, Certificate, ChainContext, ChainError, ChainErrorKind, Claims, NoCache,
};
use zkscim_proto::keys::{KeyId, PublicKey, SigningKey};
use zkscim_proto::scope::{Capability, Dimension, ScopeError};

use crate::duration::{format_span, format_time, now, parse_duration, parse_time, validity_words};
use crate::files::{armor, armor_chain, exists, read_certificates, write_atomic};
use crate::key::load_public;
use crate::output::{CliError, Output};
use crate::scope_args::{self, ScopeArgs};

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a certificate empowering a subject key, within the issuer's own scope.
    ///
    /// Without --parent the issuer key acts as the tenant root. With --parent (the issuer's own
    /// certificate or chain file) every dimension must fit inside the parent's.
    ///
    /// Example: `zkscim cert issue --issuer-key admin.pem --parent admin.chain --subject okta.pub
    /// --ops create,patch --types User,Group --attrs 'active,name.*' --cap reactivate --ttl 24h
    /// --label okta-prod --out okta.cert --chain-out okta.chain`
    Issue(IssueArgs),
    /// Show a certificate or each certificate of a chain file, in words (signatures not checked:
    /// use `cert verify`).
    ///
    /// Example: `zkscim cert show okta.chain` or `zkscim cert show okta.cert --json`
    Show {
        /// Certificate or chain file (armored or raw).
        file: PathBuf,
    },
    /// Verify a chain file against the tenant root key: signatures, linkage, tenant, validity,
    /// depth and attenuation. Prints the effective scope, or which certificate failed and why.
    ///
    /// Example: `zkscim cert verify okta.chain --root acme/root.pub --tenant acme` or
    /// `zkscim cert verify okta.chain --tenant-dir ./acme --at 2026-12-01T00:00:00Z`
    Verify {
        /// Chain file, root-signed certificate first.
        chain: PathBuf,
        /// Tenant root public key: a .pub or .pem file, or `ed25519:…` text (default: the
        /// tenant directory's).
        #[arg(long)]
        root: Option<String>,
        /// Tenant id the chain must be for (default: the tenant directory's).
        #[arg(long)]
        tenant: Option<String>,
        /// Tenant directory supplying --root and --tenant when they are not given.
        #[arg(long, env = "ZKSCIM_TENANT_DIR")]
        tenant_dir: Option<PathBuf>,
        /// Check validity at this time (RFC 3339 or unix seconds) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Re-issue a certificate with a new validity window and nonce: same subject, scope, label
    /// and depth, still within the parent's scope.
    ///
    /// Example: `zkscim cert renew okta.cert --issuer-key admin.pem --parent admin.chain --ttl 24h
    /// --out okta.cert --force --chain-out okta.chain`
    Renew(RenewArgs),
}

/// Where and how to write an issued certificate.
#[derive(Debug, Args)]
pub struct Placement {
    /// How long the certificate is valid, from --not-before: `24h`, `30m`, `7d`.
    #[arg(long, default_value = "24h")]
    ttl: String,
    /// Start of validity (RFC 3339 or unix seconds); default now.
    #[arg(long)]
    not_before: Option<String>,
    /// Where to write the certificate (armored text).
    #[arg(long, short)]
    out: PathBuf,
    /// Also write the full chain (the parent's chain plus the new certificate) here.
    #[arg(long)]
    chain_out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The issuer's private key (.pem).
    #[arg(long)]
    issuer_key: PathBuf,
    /// The issuer's own certificate or chain file; omit when the issuer key is the tenant root.
    #[arg(long)]
    parent: Option<PathBuf>,
    /// The key to empower: a .pub or .pem file, or `ed25519:…` text.
    #[arg(long)]
    subject: String,
    /// Tenant id (default: the parent's tenant).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// How many further levels of delegation the subject may create (needs --cap delegate).
    #[arg(long, default_value_t = 0)]
    depth: u8,
    /// Label people recognise, e.g. okta-prod.
    #[arg(long)]
    label: String,
    #[command(flatten)]
    placement: Placement,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The certificate to renew (or a chain file: its last certificate is renewed).
    file: PathBuf,
    /// The issuer's private key (.pem).
    #[arg(long)]
    issuer_key: PathBuf,
    /// The issuer's own certificate or chain file; omit when the issuer key is the tenant root.
    #[arg(long)]
    parent: Option<PathBuf>,
    #[command(flatten)]
    placement: Placement,
}

pub fn run(cmd: CertCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        CertCommand::Issue(args) => issue(args, out),
        CertCommand::Show { file } => show(&file, out),
        CertCommand::Verify {
            chain,
            root,
            tenant,
            tenant_dir,
            at,
        } => {
            let (root, tenant) = match (root, tenant, tenant_dir) {
                (Some(r), Some(t), _) => (load_public(&r)?, t),
                (r, t, Some(dir)) => {
                    let td = crate::tenant::TenantDir::load(&dir)?;
                    let root = match r {
                        Some(r) => load_public(&r)?,
                        None => td.root,
                    };
                    (root, t.unwrap_or(td.tenant))
                }
                _ => {
                    return Err(CliError::new(
                        "cert.verify.root",
                        "cert verify needs the tenant root key and tenant id",
                    )
                    .hint("pass --root <root.pub> --tenant <id>, or --tenant-dir <dir>")
                    .input())
                }
            };
            verify(&chain, &root, &tenant, at.as_deref(), out)
        }
        CertCommand::Renew(args) => renew(args, out),
    }
}

/// A parent certificate and the chain it came in (root-signed first, the parent last).
struct Parent {
    chain: Vec<Certificate>,
}

impl Parent {
    fn load(path: Option<&Path>) -> Result<Option<Parent>, CliError> {
        let Some(path) = path else { return Ok(None) };
        let chain = read_certificates(path)?;
        if chain.is_empty() {
            return Err(CliError::new(
                "cert.file.empty",
                format!("{} holds no certificate", path.display()),
            )
            .input());
        }
        Ok(Some(Parent { chain }))
    }

    fn cert(&self) -> Option<&Certificate> {
        self.chain.last()
    }
}

fn random_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    nonce
}

fn issue(args: IssueArgs, out: &Output) -> Result<(), CliError> {
    let key = zkscim_keyfile::read_private_key(&args.issuer_key)?;
    let parent = Parent::load(args.parent.as_deref())?;
    let parent_cert = parent.as_ref().and_then(Parent::cert);
    let tenant = match (&args.tenant, parent_cert) {
        (Some(t), Some(p)) if *t != p.claims().tenant => {
            return Err(CliError::new(
                "cert.issue.tenant",
                format!(
                    "--tenant {t} differs from the parent's tenant '{}'",
                    p.claims().tenant
                ),
            )
            .hint("a certificate can only delegate within its own tenant; drop --tenant")
            .input())
        }
        (Some(t), _) => t.clone(),
        (None, Some(p)) => p.claims().tenant.clone(),
        (None, None) => {
            return Err(CliError::new(
                "cert.issue.tenant",
                "--tenant is required when the issuer key is the tenant root",
            )
            .hint("pass --tenant <id>, or --parent <issuer's certificate> to delegate under it")
            .input())
        }
    };
    let subject = load_public(&args.subject)?;
    let scope = args.scope.build()?;
    let (not_before, expires) = validity(&args.placement)?;
    let t = now();
    let claims = Claims {
        issuer: KeyId([0; 32]),
        subject,
        tenant,
        not_before,
        expires,
        issued_at: t,
        nonce: random_nonce(),
        parent: None,
        depth: args.depth,
        label: args.label,
        scope,
    };
    let cert = sign(&key, parent_cert, claims)?;
    write_outputs(&cert, parent.as_ref(), &args.placement)?;
    report("issued", &cert, &args.placement, t, out);
    Ok(())
}

fn renew(args: RenewArgs, out: &Output) -> Result<(), CliError> {
    let old_chain = read_certificates(&args.file)?;
    let old = old_chain.last().ok_or_else(|| {
        CliError::new(
            "cert.file.empty",
            format!("{} holds no certificate", args.file.display()),
        )
        .input()
    })?;
    let key = zkscim_keyfile::read_private_key(&args.issuer_key)?;
    let parent = Parent::load(args.parent.as_deref())?;
    if old.claims().parent.is_some() && parent.is_none() {
        return Err(CliError::new(
            "cert.renew.parent",
            format!(
                "'{}' was issued under a parent certificate",
                old.claims().label
            ),
        )
        .hint("pass the issuer's certificate or chain file with --parent")
        .input());
    }
    let (not_before, expires) = validity(&args.placement)?;
    let t = now();
    let mut claims = old.claims().clone();
    claims.not_before = not_before;
    claims.expires = expires;
    claims.issued_at = t;
    claims.nonce = random_nonce();
    let cert = sign(&key, parent.as_ref().and_then(Parent::cert), claims)?;
    write_outputs(&cert, parent.as_ref(), &args.placement)?;
    report("renewed", &cert, &args.placement, t, out);
    Ok(())
}

fn validity(p: &Placement) -> Result<(u64, u64), CliError> {
    let ttl = parse_duration(&p.ttl)?;
    let not_before = match &p.not_before {
        Some(t) => parse_time(t)?,
        None => now(),
    };
    let expires = not_before.checked_add(ttl).ok_or_else(|| {
        CliError::new(
            "input.duration",
            "--not-before plus --ttl is beyond the end of time",
        )
        .input()
    })?;
    Ok((not_before, expires))
}

/// Checks the delegation rules with messages naming the dimension and the flag to change, then
/// signs (the library checks again).
fn sign(
    key: &SigningKey,
    parent: Option<&Certificate>,
    claims: Claims,
) -> Result<Certificate, CliError> {
    if let Some(parent) = parent {
        precheck(key, parent, &claims)?;
    }
    Certificate::issue(key, parent, claims).map_err(|e| {
        CliError::new(e.code(), format!("cannot issue: {e}"))
            .hint("check the scope flags against `zkscim cert show` of the parent")
    })
}

fn escalation(dimension: Dimension, parent: &Certificate, detail: &str, hint: String) -> CliError {
    CliError::new(
        format!("cert.escalation.{}", dimension.as_str()),
        format!(
            "refused: the new certificate would exceed its parent '{}' in {}: {detail}",
            parent.claims().label,
            dimension.as_str().replace('_', " ")
        ),
    )
    .hint(hint)
}

fn precheck(key: &SigningKey, parent: &Certificate, child: &Claims) -> Result<(), CliError> {
    let p = parent.claims();
    if p.subject.key_id() != key.key_id() {
        return Err(CliError::new(
            "cert.issue.wrong_key",
            format!(
                "the issuer key {} is not the subject of the parent certificate '{}' (subject {})",
                key.key_id().short(),
                p.label,
                p.subject.key_id().short()
            ),
        )
        .hint("sign with the key the parent certificate empowers, or pass that key's own certificate as --parent"));
    }
    if p.tenant != child.tenant {
        return Err(CliError::new(
            "cert.issue.tenant",
            format!("the parent is for tenant '{}'", p.tenant),
        )
        .input());
    }
    if !p.scope.has(Capability::Delegate) {
        return Err(escalation(
            Dimension::Capabilities,
            parent,
            "the parent lacks the 'delegate' capability, so it may not issue certificates",
            "ask the parent's issuer for a certificate with --cap delegate and --depth 1 or more"
                .into(),
        ));
    }
    if p.depth == 0 || child.depth >= p.depth {
        let hint = if p.depth == 0 {
            "the parent's delegation depth is 0: ask its issuer for a deeper certificate".to_owned()
        } else {
            format!("use --depth {} or lower", p.depth - 1)
        };
        return Err(escalation(
            Dimension::Depth,
            parent,
            &format!(
                "--depth {} must be below the parent's depth {}",
                child.depth, p.depth
            ),
            hint,
        ));
    }
    if child.not_before < p.not_before || child.expires > p.expires {
        let hint = if child.not_before < p.not_before {
            format!(
                "start no earlier than {} (--not-before)",
                format_time(p.not_before)
            )
        } else {
            format!(
                "the parent expires at {}: use --ttl {}s or less, or renew the parent first",
                format_time(p.expires),
                p.expires.saturating_sub(child.not_before)
            )
        };
        return Err(escalation(
            Dimension::Validity,
            parent,
            &format!(
                "valid {} – {} is not within the parent's {} – {}",
                format_time(child.not_before),
                format_time(child.expires),
                format_time(p.not_before),
                format_time(p.expires)
            ),
            hint,
        ));
    }
    match child.scope.check_attenuates(&p.scope) {
        Ok(()) => Ok(()),
        Err(ScopeError::Attenuation { dimension, detail }) => {
            let flag = match dimension {
                Dimension::Operations => "--ops",
                Dimension::ResourceTypes => "--types",
                Dimension::Attributes => "--attrs",
                Dimension::Groups => "--groups",
                Dimension::Capabilities => "--cap",
                Dimension::Validity => "--ttl",
                Dimension::Depth => "--depth",
            };
            Err(escalation(
                dimension,
                parent,
                &detail,
                format!("narrow {flag} to what the parent allows (see `zkscim cert show` of the parent)"),
            ))
        }
        Err(other) => Err(CliError::new(other.code(), other.to_string()).input()),
    }
}

fn write_outputs(
    cert: &Certificate,
    parent: Option<&Parent>,
    p: &Placement,
) -> Result<(), CliError> {
    let chain = match &p.chain_out {
        None => None,
        Some(path) => {
            let mut chain = parent.map(|pa| pa.chain.clone()).unwrap_or_default();
            if chain.first().is_some_and(|c| c.claims().parent.is_some()) {
                return Err(CliError::new(
                    "cert.chain.incomplete",
                    "--chain-out needs the parent's whole chain, but the --parent file does not start with a root-signed certificate",
                )
                .hint("pass the parent's chain file (written by its --chain-out) as --parent")
                .input());
            }
            chain.push(cert.clone());
            Some((path, chain))
        }
    };
    // Refuse before writing anything, so a refusal leaves no partial set of files.
    if !p.force {
        if p.out.exists() {
            return Err(exists(&p.out));
        }
        if let Some((path, _)) = &chain {
            if path.exists() {
                return Err(exists(path));
            }
        }
    }
    write_atomic(&p.out, armor(cert).as_bytes(), p.force)?;
    if let Some((path, chain)) = chain {
        write_atomic(path, armor_chain(&chain).as_bytes(), p.force)?;
    }
    Ok(())
}

fn report(verb: &str, cert: &Certificate, p: &Placement, t: u64, out: &Output) {
    let (human, mut json) = describe(cert, t);
    let mut text = format!("{verb} certificate\n{human}\nwrote {}", p.out.display());
    if let Some(c) = &p.chain_out {
        text.push_str(&format!(" and chain {}", c.display()));
    }
    if let Some(map) = json.as_object_mut() {
        map.insert("file".into(), serde_json::json!(p.out));
        map.insert("chain_file".into(), serde_json::json!(p.chain_out));
    }
    out.result(&text, &json);
}

/// One certificate in words and as JSON.
fn describe(cert: &Certificate, t: u64) -> (String, serde_json::Value) {
    let c = cert.claims();
    let issuer = match &c.parent {
        None => format!("{} (tenant root)", c.issuer.short()),
        Some(p) => format!(
            "{} (under parent certificate {})",
            c.issuer.short(),
            p.short()
        ),
    };
    let (status_words, status) = validity_words(c.not_before, c.expires, t);
    let delegation = if c.depth == 0 {
        "may not delegate further (depth 0)".to_owned()
    } else if c.scope.has(Capability::Delegate) {
        format!("may delegate {} more level(s) (depth {})", c.depth, c.depth)
    } else {
        format!(
            "depth {} but no 'delegate' capability: may not delegate",
            c.depth
        )
    };
    let human = format!(
        "  label:        {}\n  id:           {} ({})\n  tenant:       {}\n  issuer:       {issuer}\n  subject:      {} ({})\n{}\n  delegation:   {delegation}\n  valid:        {} – {} ({status_words}, lifetime {})\n  issued at:    {}",
        c.label,
        cert.id().short(),
        cert.id().to_hex(),
        c.tenant,
        c.subject.key_id().short(),
        c.subject.to_text(),
        scope_args::describe(&c.scope, "  "),
        format_time(c.not_before),
        format_time(c.expires),
        format_span(c.expires.saturating_sub(c.not_before)),
        format_time(c.issued_at),
    );
    let json = serde_json::json!({
        "id": cert.id().to_hex(),
        "id_short": cert.id().short(),
        "label": c.label,
        "tenant": c.tenant,
        "issuer_key_id": c.issuer.to_hex(),
        "issuer_fingerprint": c.issuer.short(),
        "issued_by_root": c.parent.is_none(),
        "parent": c.parent.map(|p| p.to_hex()),
        "subject": c.subject.to_text(),
        "subject_key_id": c.subject.key_id().to_hex(),
        "subject_fingerprint": c.subject.key_id().short(),
        "scope": scope_args::to_json(&c.scope),
        "depth": c.depth,
        "not_before": format_time(c.not_before),
        "not_before_unix": c.not_before,
        "expires": format_time(c.expires),
        "expires_unix": c.expires,
        "issued_at": format_time(c.issued_at),
        "issued_at_unix": c.issued_at,
        "status": status,
        "nonce": c.nonce.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    });
    (human, json)
}

fn show(file: &Path, out: &Output) -> Result<(), CliError> {
    let chain = read_certificates(file)?;
    let t = now();
    let mut text = Vec::new();
    let mut items = Vec::new();
    for (i, cert) in chain.iter().enumerate() {
        let (mut human, json) = describe(cert, t);
        // Offline linkage hints (signatures need the root: `cert verify`).
        let expected_parent = i
            .checked_sub(1)
            .and_then(|p| chain.get(p))
            .map(Certificate::id);
        if i > 0 && cert.claims().parent != expected_parent {
            human
                .push_str("\n  WARNING:      does not name the previous certificate as its parent");
        } else if i == 0 && chain.len() > 1 && cert.claims().parent.is_some() {
            human.push_str("\n  note:         not root-signed: this chain file is partial");
        }
        if chain.len() > 1 {
            text.push(format!(
                "certificate {} of {}:\n{human}",
                i + 1,
                chain.len()
            ));
        } else {
            text.push(format!("certificate:\n{human}"));
        }
        items.push(json);
    }
    out.result(
        &text.join("\n\n"),
        &serde_json::json!({ "certificates": items }),
    );
    Ok(())
}

fn verify(
    file: &Path,
    root: &PublicKey,
    tenant: &str,
    at: Option<&str>,
    out: &Output,
) -> Result<(), CliError> {
    let chain = read_certificates(file)?;
    let t = match at {
        Some(text) => parse_time(text)?,
        None => now(),
    };
    let ctx = ChainContext {
        tenant,
        root,
        now: t,
    };
    let verified = verify_chain(&chain, &ctx, &mut NoCache).map_err(|e| chain_error(&e, root))?;
    let human = format!(
        "chain OK for tenant {tenant} at {}: {} certificate(s) ({})\n  signer:       {} ({})\n  expires:      {} ({})\n  effective scope:\n{}{}",
        format_time(t),
        chain.len(),
        verified.labels.join(" → "),
        verified.signer.key_id().short(),
        verified.signer.to_text(),
        if verified.expires == u64::MAX { "never".to_owned() } else { format_time(verified.expires) },
        validity_words(0, verified.expires, t).0,
        scope_args::describe(&verified.scope, "    "),
        if verified.break_glass { "\n  BREAK-GLASS: every use is flagged" } else { "" },
    );
    out.result(
        &human,
        &serde_json::json!({
            "valid": true,
            "tenant": tenant,
            "at": format_time(t),
            "signer": verified.signer.to_text(),
            "signer_fingerprint": verified.signer.key_id().short(),
            "certificate_ids": verified.certificate_ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
            "labels": verified.labels,
            "expires": verified.expires,
            "break_glass": verified.break_glass,
            "scope": scope_args::to_json(&verified.scope),
        }),
    );
    Ok(())
}

/// A chain refusal as the CLI reports it: which certificate, which check, and what to do.
pub fn chain_error(e: &ChainError, root: &PublicKey) -> CliError {
    let hint = match &e.kind {
            ChainErrorKind::TooLong(_) => "a chain has at most 8 certificates".to_owned(),
            ChainErrorKind::Signature => "the certificate was altered or not signed by its issuer: get a fresh copy, or re-issue it".to_owned(),
            ChainErrorKind::Issuer { .. } if e.position == 0 => format!(
                "the chain does not start at this root (fingerprint {}): check --root, and that the file lists the root-signed certificate first",
                root.key_id().short()
            ),
            ChainErrorKind::Issuer { .. } | ChainErrorKind::Parent { .. } => {
                "certificates are out of order or from different chains: rebuild the chain with `cert issue --chain-out`".to_owned()
            }
            ChainErrorKind::Tenant { found, .. } => format!("this chain is for tenant '{found}'"),
            ChainErrorKind::NotYetValid { .. } => "wait until it becomes valid, or re-issue it with an earlier --not-before".to_owned(),
            ChainErrorKind::Expired { .. } => "renew it: `zkscim cert renew <cert> --issuer-key … --ttl 24h`".to_owned(),
            ChainErrorKind::Attenuation { .. } => "the issuer exceeded its own scope: re-issue the certificate within the parent's scope".to_owned(),
        };
    CliError::new(e.code(), format!("chain refused: {e}")).hint(hint)
}
