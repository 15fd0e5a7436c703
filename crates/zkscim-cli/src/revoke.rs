//! `zkscim revoke <cert-id|file>`: sign and submit a revocation, verify its receipt.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use zkscim_proto::cert::CertId;
use zkscim_proto::envelope::{Envelope, Revocation};

use crate::config::{Config, SignerArgs};
use crate::files::read_certificates;
use crate::output::{CliError, Output};
use crate::signer;

/// Revoke a certificate and its whole subtree (irreversible). Signed by the tenant root, the
/// certificate's own key, or an ancestor with the `revoke` capability.
///
/// Given a certificate (or chain) file, the revocation carries the certificate (its last one
/// for a chain file), so even a certificate the log has never seen can be revoked.
///
/// Example: `zkscim revoke okta.cert --tenant-dir ./acme --key admin.pem --chain admin.chain
/// --reason "laptop lost"`
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate: its full id (64 hex digits, as `zkscim cert show` or `zkscim explain`
    /// print it) or its certificate/chain file.
    target: String,
    #[command(flatten)]
    signer: SignerArgs,
    /// Why, for the log (at most 1024 bytes).
    #[arg(long)]
    reason: Option<String>,
    /// Also (or, without --server, only) write the signed revocation here.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

pub fn run(a: RevokeArgs, out: &Output) -> Result<(), CliError> {
    let cfg = Config::load()?;
    let resolved = a.signer.clone().resolve(&cfg)?;
    let s = signer::load(&resolved)?;
    let (target, certificate) = if let Some(id) = CertId::from_hex(&a.target) {
        (id, None)
    } else if Path::new(&a.target).exists() {
        let certs = read_certificates(Path::new(&a.target))?;
        let cert = certs.last().cloned().ok_or_else(|| {
            CliError::new(
                "revoke.target",
                format!("{} holds no certificate", a.target),
            )
            .input()
        })?;
        (cert.id(), Some(Box::new(cert)))
    } else {
        let short = a.target.len() < 64 && a.target.bytes().all(|b| b.is_ascii_hexdigit());
        return Err(CliError::new(
            "revoke.target",
            format!("{:?} is neither a certificate id nor a file", a.target),
        )
        .hint(if short {
            "a short id cannot be revoked: pass the full 64-hex-digit id (`zkscim cert show <file> --json`), or the certificate file"
        } else {
            "pass the certificate's 64-hex-digit id or its certificate file"
        })
        .input());
    };
    if let Some(c) = &certificate {
        if c.claims().tenant != s.tenant.tenant {
            return Err(CliError::new(
                "revoke.tenant",
                format!(
                    "certificate '{}' is for tenant '{}', not '{}'",
                    c.claims().label,
                    c.claims().tenant,
                    s.tenant.tenant
                ),
            )
            .hint("pass the tenant directory the certificate belongs to")
            .input());
        }
    }
    let label = certificate.as_ref().map(|c| c.claims().label.clone());
    let envelope = Envelope::new(
        s.header(),
        Revocation {
            target,
            reason: a.reason.clone(),
            certificate,
        },
    );
    envelope.validate().map_err(|e| {
        CliError::new(e.code(), format!("the revocation is not well formed: {e}"))
            .hint("--reason is at most 1024 bytes without control characters")
            .input()
    })?;
    let bytes = envelope.sign(&s.key);
    let applied = signer::deliver(&resolved, &s, &cfg, &bytes, a.out.as_deref(), a.force)?;
    let name = match &label {
        Some(l) => format!("'{l}' ({})", target.short()),
        None => target.short(),
    };
    let human = match &applied {
        Some(r) => format!(
            "revoked certificate {name} and everything beneath it, at log index {} (receipt verified)\nevery later operation signed under it is refused `revoked.certificate`",
            r.index
        ),
        None => format!(
            "signed the revocation of {name} → {}",
            signer::written_to(a.out.as_deref())
        ),
    };
    out.result(
        &human,
        &json!({
            "status": if applied.is_some() { "applied" } else { "signed" },
            "target": target.to_hex(),
            "label": label,
            "carried_certificate": label.is_some(),
            "index": applied.as_ref().map(|r| r.index),
            "receipt": applied.as_ref().map(|r| r.receipt.clone()),
            "file": a.out,
        }),
    );
    Ok(())
}
