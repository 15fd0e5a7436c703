//! `zkscim approve <statement file>`: co-sign another statement (spec/rules.md §3a).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use zkscim_proto::envelope::{Approval, Envelope, Statement};

use crate::config::{Config, SignerArgs};
use crate::output::{CliError, Output};
use crate::signer;

/// Approve (co-sign) a signed statement before it is submitted: a membership change of a
/// privileged group needs that many distinct approvers, and a reactivation may be approved by a
/// key with the `reactivate` capability instead of being signed by one. The approval names the
/// statement by the SHA-256 of its exact bytes and is logged; submit the statement itself
/// afterwards with `zkscim submit`.
///
/// Example: `zkscim op patch --type Group --id <id> add-member.json --out change.cbor …` then
/// `zkscim approve change.cbor --tenant-dir ./acme --key second-admin.pem --chain
/// second-admin.chain`, then `zkscim submit change.cbor …`
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The signed statement to approve (a file written with `--out`).
    file: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    /// Also (or, without --server, only) write the signed approval here.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

pub fn run(a: ApproveArgs, out: &Output) -> Result<(), CliError> {
    let (_, statement) = crate::submit::read_statement(&a.file)?;
    let what = match (&statement, crate::submit::describe(&statement)) {
        (Statement::Operation(_), Some(what)) => what,
        _ => {
            return Err(CliError::new(
                "approve.kind",
                format!("{} is not an operation", a.file.display()),
            )
            .hint("approvals count for operations (membership changes, reactivations)")
            .input())
        }
    };
    let cfg = Config::load()?;
    let resolved = a.signer.clone().resolve(&cfg)?;
    let s = signer::load(&resolved)?;
    if statement.header().tenant != s.tenant.tenant {
        return Err(CliError::new(
            "approve.tenant",
            format!(
                "the statement is for tenant '{}', not '{}'",
                statement.header().tenant,
                s.tenant.tenant
            ),
        )
        .hint("pass the tenant directory the statement belongs to")
        .input());
    }
    let approves = statement.submitted_hash();
    let bytes = Envelope::new(s.header(), Approval { approves }).sign(&s.key);
    let applied = signer::deliver(&resolved, &s, &cfg, &bytes, a.out.as_deref(), a.force)?;
    let human = match &applied {
        Some(r) => format!(
            "approved the {what} (statement {}) at log index {} (receipt verified); submit it now with `zkscim submit {}`",
            hex::encode(approves),
            r.index,
            a.file.display()
        ),
        None => format!(
            "signed the approval of the {what} → {}",
            signer::written_to(a.out.as_deref())
        ),
    };
    out.result(
        &human,
        &json!({
            "status": if applied.is_some() { "applied" } else { "signed" },
            "approves": hex::encode(approves),
            "statement": what,
            "index": applied.as_ref().map(|r| r.index),
            "receipt": applied.as_ref().map(|r| r.receipt.clone()),
            "file": a.out,
        }),
    );
    Ok(())
}
