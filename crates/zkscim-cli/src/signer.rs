//! Loading who signs: tenant directory, private key and chain, checked as the server would.

use zkscim_proto::cert::{verify_chain, Certificate, ChainContext, NoCache, VerifiedChain};
use zkscim_proto::envelope::Header;
use zkscim_proto::keys::SigningKey;

use crate::cert::chain_error;
use crate::config::Resolved;
use crate::duration::now;
use crate::files::read_certificates;
use crate::output::CliError;
use crate::tenant::TenantDir;

/// A signer ready to sign for its tenant.
pub struct Signer {
    pub tenant: TenantDir,
    pub key: SigningKey,
    pub chain: Vec<Certificate>,
    pub verified: VerifiedChain,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("tenant", &self.tenant.tenant)
            .field("key", &self.key.key_id().short())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A statement header for this signer: its tenant and chain, issued now, a fresh nonce.
    pub fn header(&self) -> Header {
        Header::new(
            self.tenant.tenant.clone(),
            now(),
            self.chain.clone(),
            &mut rand_core::OsRng,
        )
    }
}

/// Loads and checks the signer: the key must be the one the chain empowers, and the chain must
/// verify from the tenant root now.
pub fn load(r: &Resolved) -> Result<Signer, CliError> {
    let tenant = TenantDir::load(&r.tenant_dir)?;
    let key = zkscim_keyfile::read_private_key(&r.key)?;
    let chain = match &r.chain {
        Some(path) => read_certificates(path)?,
        None => Vec::new(),
    };
    // The key must be the one the chain empowers: say so plainly before any other check.
    let expected = chain.last().map_or(tenant.root, |c| c.claims().subject);
    if key.public_key() != expected {
        let whose = match chain.last() {
            Some(c) => format!("the chain's last certificate '{}'", c.claims().label),
            None => "the tenant root (no --chain given)".to_owned(),
        };
        return Err(CliError::new(
            "op.key_mismatch",
            format!(
                "key {} ({}) is not the key empowered by {whose}, which is {}",
                key.key_id().short(),
                r.key.display(),
                expected.key_id().short()
            ),
        )
        .hint("pass the private key the certificate was issued to (--key / ZKSCIM_KEY), or the matching chain (--chain / ZKSCIM_CHAIN)"));
    }
    let ctx = ChainContext {
        tenant: &tenant.tenant,
        root: &tenant.root,
        now: now(),
    };
    let verified =
        verify_chain(&chain, &ctx, &mut NoCache).map_err(|e| chain_error(&e, &tenant.root))?;
    Ok(Signer {
        tenant,
        key,
        chain,
        verified,
    })
}

/// The server to talk to: flag or environment, else the config file, else tenant.json.
pub fn server(r: &Resolved, tenant: &TenantDir) -> Option<String> {
    server_of(r.server_flag.clone(), r.server_config.clone(), tenant)
}

/// [`server`] from its pieces, for commands that take no signer.
pub fn server_of(
    flag: Option<String>,
    config: Option<String>,
    tenant: &TenantDir,
) -> Option<String> {
    flag.or(config).or_else(|| tenant.server.clone())
}

/// Sends a statement signed by `s` where the command was asked to: to the server (submitted
/// and its receipt verified) unless only `--out` was given without `--server`, and to the `out`
/// file (refusing to replace one without `force`). Returns the server's answer when it was
/// submitted. The file is checked before anything is sent, so a refusal leaves nothing behind.
pub fn deliver(
    resolved: &Resolved,
    s: &Signer,
    cfg: &crate::config::Config,
    bytes: &[u8],
    out: Option<&std::path::Path>,
    force: bool,
) -> Result<Option<crate::remote::Applied>, CliError> {
    let server = match (out, &resolved.server_flag) {
        (Some(_), None) => None,
        _ => Some(server(resolved, &s.tenant).ok_or_else(|| {
            let err = no_server(cfg);
            let hint = format!(
                "{}; or pass --out FILE to only write the signed bytes",
                err.hint.clone().unwrap_or_default()
            );
            err.hint(hint)
        })?),
    };
    if server.is_some() {
        crate::remote::log_key(&s.tenant)?;
    }
    if let Some(path) = out {
        if !force && path.exists() {
            return Err(crate::files::exists(path));
        }
    }
    let applied = match &server {
        Some(url) => Some(crate::remote::submit(url, &s.tenant, bytes)?),
        None => None,
    };
    if let Some(path) = out {
        crate::files::write_atomic(path, bytes, force)?;
    }
    Ok(applied)
}

/// Where [`deliver`] wrote a statement it did not submit, for the command's message.
pub fn written_to(out: Option<&std::path::Path>) -> String {
    out.map(|p| p.display().to_string()).unwrap_or_default()
}

/// The error when no server is known.
pub fn no_server(cfg: &crate::config::Config) -> CliError {
    CliError::new("input.server", "no server to talk to")
        .hint(format!(
            "{} (or record one with `zkscim tenant register --server URL …`)",
            cfg.sources("--server", "ZKSCIM_SERVER", "server")
        ))
        .input()
}
