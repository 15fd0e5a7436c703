//! `zkscim submit <file>`: submit signed bytes written earlier with `--out` (offline signing,
//! online submission), and verify the receipt. Resubmitting the same bytes is harmless: the
//! server answers with the original receipt.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use zkscim_proto::envelope::{self, Statement};

use crate::config::Config;
use crate::files::read_limited;
use crate::output::{CliError, Output};
use crate::tenant::TenantDir;

/// Largest submission the authority accepts.
const MAX_SUBMISSION_BYTES: u64 = 1024 * 1024;

/// Submit a signed operation or revocation written with `--out`, and verify the receipt.
///
/// Example: `zkscim submit op.cbor --tenant-dir ./acme --server http://127.0.0.1:8422`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The signed bytes (COSE_Sign1), as `zkscim op … --out` or `zkscim revoke … --out` wrote them.
    file: PathBuf,
    /// The tenant directory (for its recorded log key); else `tenant_dir` in the config file.
    #[arg(long, env = "ZKSCIM_TENANT_DIR")]
    tenant_dir: Option<PathBuf>,
    /// Authority URL; else `server` in the config file, else the tenant's recorded server.
    #[arg(long, env = "ZKSCIM_SERVER")]
    server: Option<String>,
}

/// Reads and parses a signed statement written with `--out` (at most the authority's limit).
pub fn read_statement(path: &std::path::Path) -> Result<(Vec<u8>, Statement), CliError> {
    let bytes = read_limited(path, MAX_SUBMISSION_BYTES, "signed statement")?;
    let statement = envelope::parse_any(&bytes).map_err(|e| {
        CliError::new(
            e.code(),
            format!("{}: not a signed statement: {e}", path.display()),
        )
        .hint("pass a file written by `zkscim op … --out`, `zkscim revoke … --out`, `zkscim policy … --out` or `zkscim approve … --out`")
        .input()
    })?;
    Ok((bytes, statement))
}

/// What a statement does, in words, for the statements `zkscim submit` sends (`None` for a
/// genesis or a read request).
pub fn describe(statement: &Statement) -> Option<String> {
    Some(match statement {
        Statement::Operation(s) => format!(
            "{} of {} {}",
            s.body().operation(),
            s.body().resource_type,
            s.body().resource_id
        ),
        Statement::Revocation(s) => format!("revocation of {}", s.body().target.short()),
        Statement::Policy(_) => "tenant policy update".to_owned(),
        Statement::Approval(s) => format!(
            "approval of statement {}",
            hex::encode(s.body().approves.get(..8).unwrap_or_default())
        ),
        Statement::Genesis(_) | Statement::ReadRequest(_) => return None,
    })
}

pub fn run(a: SubmitArgs, out: &Output) -> Result<(), CliError> {
    let cfg = Config::load()?;
    let dir = cfg.tenant_dir_or(a.tenant_dir)?;
    let tenant = TenantDir::load(&dir)?;
    let (bytes, statement) = read_statement(&a.file)?;
    let Some(what) = describe(&statement) else {
        return Err(CliError::new(
            "submit.kind",
            format!("{} is a genesis or a read request", a.file.display()),
        )
        .hint("submit a genesis with `zkscim tenant register`; reads are sent by `zkscim get` and `zkscim list`")
        .input());
    };
    if statement.header().tenant != tenant.tenant {
        return Err(CliError::new(
            "submit.tenant",
            format!(
                "{} is for tenant '{}', but {} holds tenant '{}'",
                a.file.display(),
                statement.header().tenant,
                dir.display(),
                tenant.tenant
            ),
        )
        .hint("pass the tenant directory it was signed for")
        .input());
    }
    let server = crate::signer::server_of(a.server, cfg.server.clone(), &tenant)
        .ok_or_else(|| crate::signer::no_server(&cfg))?;
    let r = crate::remote::submit(&server, &tenant, &bytes)?;
    out.result(
        &format!(
            "applied {what} at log index {}{}{} (receipt verified: inclusion proof in the log key's signed checkpoint of size {})",
            r.index,
            r.version
                .as_deref()
                .map(|v| format!(" → version {v}"))
                .unwrap_or_default(),
            if r.duplicate { ", already logged" } else { "" },
            r.tree_size
        ),
        &json!({
            "status": "applied",
            "statement": what,
            "index": r.index,
            "version": r.version,
            "duplicate": r.duplicate,
            "receipt": r.receipt,
        }),
    );
    Ok(())
}
