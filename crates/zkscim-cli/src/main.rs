//! `zkscim`: the command tenant admins, operators and auditors use.
//!
//! Owns: argument parsing, human and `--json` output, hints on what to do next, and wiring the
//! library crates together. Must never: print or log key material, or leave a half-written file
//! behind when a command fails.
#![forbid(unsafe_code)]

mod cert;
mod client;
mod config;
mod duration;
mod explain;
mod files;
mod key;
mod op;
mod output;
mod quickstart;
mod read;
mod remote;
mod revoke;
mod scope_args;
mod serve;
mod signer;
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
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Explain a log entry: who authorised it, under what scope, what to revoke to stop it.
    Explain(explain::ExplainArgs),
    /// Run the whole system once on a temporary database and explain each step.
    ///
    /// Example: `zkscim quickstart`
    Quickstart,
    /// Issue, show, verify and renew delegation certificates (offline).
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Create and inspect a tenant directory: root key, seal secret, protection profile.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Seal, blind-index, sign and submit SCIM operations; verify the receipt.
    #[command(subcommand)]
    Op(op::OpCommand),
    /// Revoke a certificate (and its subtree) on the server.
    Revoke(revoke::RevokeArgs),
    /// Read one resource with a signed read and unseal it locally.
    Get(read::GetArgs),
    /// List resources with a signed read (blind-index filters) and unseal them locally.
    List(read::ListArgs),
    /// Run the authority server (HTTP on SQLite).
    Serve(serve::ServeArgs),
    /// Print shell completions.
    ///
    /// Example: `zkscim completions bash > /etc/bash_completion.d/zkscim`
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
}

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
        Command::Get(args) => read::get(args, &out),
        Command::List(args) => read::list(args, &out),
        Command::Serve(args) => serve::run(args, &out),
        Command::Quickstart => quickstart::run(&out),
        Command::Explain(args) => explain::run(args, &out),
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
