//! `zkscim`: the command tenant admins, operators and auditors use.
//!
//! Owns: argument parsing, human and `--json` output, hints on what to do next, and wiring the
//! library crates together. Must never: print or log key material, or leave a half-written file
//! behind when a command fails.
#![forbid(unsafe_code)]

mod approve;
mod audit;
mod cert;
mod client;
mod config;
mod duration;
mod explain;
mod files;
mod key;
mod op;
mod output;
mod policy;
mod quickstart;
mod read;
mod remote;
mod revoke;
mod scope_args;
mod serve;
mod signer;
mod submit;
mod tenant;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::output::{CliError, Output};

/// Zero-knowledge SCIM 2.0 authority with signed delegation chains.
#[derive(Debug, Parser)]
#[command(name = "zkscim", version, about, long_about = None)]
struct Cli {
    /// Print machine-readable JSON instead of human text.
    #[arg(long, global = true)]
    json: bool,

    /// Log verbosity (also via RUST_LOG), e.g. `info` or `zkscim=debug`.
    #[arg(long, global = true, env = "ZKSCIM_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate and inspect Ed25519 keys.
    ///
    /// Example: `zkscim key generate --out admin.pem`
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Explain a log entry: who authorised it, under what scope, what to revoke to stop it.
    ///
    /// Example: `zkscim explain 3 --tenant acme --server http://127.0.0.1:8422`
    Explain(explain::ExplainArgs),
    /// Run the whole system once on a temporary database and explain each step.
    ///
    /// Example: `zkscim quickstart`
    Quickstart,
    /// Issue, show, verify and renew delegation certificates (offline).
    ///
    /// Example: `zkscim cert show okta.chain`
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Create, register and inspect a tenant directory: root key, seal secret, protection
    /// profile, server and log key.
    ///
    /// Example: `zkscim tenant init --tenant acme --dir ./acme --server http://127.0.0.1:8422
    /// --admin-token s3cret`
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Seal, blind-index, sign and submit SCIM operations; verify the receipt.
    ///
    /// Example: `zkscim op create --type User user.json --tenant-dir ./acme --key okta.pem
    /// --chain okta.chain`
    #[command(subcommand)]
    Op(op::OpCommand),
    /// Revoke a certificate and its whole subtree on the server (irreversible).
    ///
    /// Given a certificate (or chain) file, the revocation carries the certificate (the last
    /// one of a chain file), so even a certificate the log has never seen can be revoked.
    ///
    /// Example: `zkscim revoke okta.cert --tenant-dir ./acme --key admin.pem --chain
    /// admin.chain --reason "rotated"`
    Revoke(revoke::RevokeArgs),
    /// Submit signed bytes written earlier with `--out`, and verify the receipt.
    ///
    /// Example: `zkscim submit op.cbor --tenant-dir ./acme --server http://127.0.0.1:8422`
    Submit(submit::SubmitArgs),
    /// Read one resource with a signed read and unseal it locally.
    ///
    /// Example: `zkscim get User 2819c223-7f76-453a-919d-413861904646 --tenant-dir ./acme --key
    /// admin.pem --chain admin.chain`
    Get(read::GetArgs),
    /// List resources with a signed read and unseal them locally; `eq` filters on sealed +
    /// indexed attributes are sent as blind indexes.
    ///
    /// Example: `zkscim list User --filter 'userName eq "alice@example.com"' --tenant-dir ./acme
    /// --key admin.pem --chain admin.chain`
    List(read::ListArgs),
    /// Approve (co-sign) a signed operation before it is submitted: privileged groups need
    /// several approvers, and a key with `reactivate` may approve a reactivation.
    ///
    /// Example: `zkscim approve change.cbor --tenant-dir ./acme --key second-admin.pem --chain
    /// second-admin.chain`
    Approve(approve::ApproveArgs),
    /// Set the tenant policy: protection profile (from tenant.json), certificate lifetime caps
    /// by chain level, and the owner and expiry non-human identities must carry. Replaces the
    /// whole policy; deactivations and revocations are never blocked by it.
    ///
    /// Example: `zkscim policy --lifetime-cap 2=24h --nhi-type Agent --nhi-max-expiry 90d
    /// --tenant-dir ./acme --key acme/root.pem`
    Policy(policy::PolicyArgs),
    /// Verify a tenant's log as an independent auditor; witness checkpoints.
    ///
    /// Example: `zkscim audit verify --server http://127.0.0.1:8422 --tenant acme --root
    /// acme/root.pub --log-key "$(cat log.key)"`
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Write a tenant's log as an export file for auditors (operator side, reads the database).
    ///
    /// Example: `zkscim export --db ./zkscim.db --tenant acme --out acme.zkx`
    Export(audit::ExportArgs),
    /// Run the authority server (HTTP on SQLite).
    ///
    /// Example: `ZKSCIM_ADMIN_TOKEN=s3cret zkscim serve --db ./zkscim.db --listen 127.0.0.1:8422`
    Serve(serve::ServeArgs),
    /// Print shell completions.
    ///
    /// Example: `zkscim completions bash > /etc/bash_completion.d/zkscim`
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// The server's writer and verification threads allocate and free many small values per
/// submission, often on different threads; glibc's allocator spent about a quarter of the
/// writer's time consolidating and relinking chunks (measured with perf under `zkscim-bench
/// ingest`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let out = Output::new(cli.json);
    let result: Result<(), CliError> = match cli.command {
        Command::Key(cmd) => key::run(cmd, &out),
        Command::Cert(cmd) => cert::run(cmd, &out),
        Command::Tenant(cmd) => tenant::run(cmd, &out),
        Command::Op(cmd) => op::run(cmd, &out),
        Command::Revoke(args) => revoke::run(args, &out),
        Command::Policy(args) => policy::run(args, &out),
        Command::Approve(args) => approve::run(args, &out),
        Command::Submit(args) => submit::run(args, &out),
        Command::Get(args) => read::get(args, &out),
        Command::List(args) => read::list(args, &out),
        Command::Serve(args) => serve::run(args, &out),
        Command::Quickstart => quickstart::run(&out),
        Command::Explain(args) => explain::run(args, &out),
        Command::Audit(cmd) => audit::run(cmd, &out),
        Command::Export(args) => audit::export(args, &out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "zkscim", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            out.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn check(cmd: &mut clap::Command, path: &str, missing: &mut Vec<String>) {
        let name = format!("{path} {}", cmd.get_name());
        if cmd.get_name() != "zkscim" && cmd.get_name() != "help" {
            let help = cmd.render_long_help().to_string();
            if !help.contains("Example:") {
                missing.push(name.clone());
            }
        }
        for sub in cmd.get_subcommands_mut() {
            check(sub, &name, missing);
        }
    }

    #[test]
    fn every_subcommand_has_an_example() {
        let mut missing = Vec::new();
        check(&mut super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no `Example:` in --help of {missing:?}");
    }
}
