//! `zkscim-bench`: the load benchmark of the zkscim authority, and the auditor's throughput
//! benchmark (`zkscim-bench audit`).
//!
//! Owns: starting a real server (the `zkscim` binary, or the same router in-process) on
//! loopback with a throw-away database, creating a tenant with a root → admin → connector chain,
//! pre-signing a realistic mix of SCIM operations, driving the server over HTTP, measuring
//! durable ingest rate and per-operation latency, and checking a sample of receipts.
//!
//! Must never: send traffic anywhere but 127.0.0.1, touch a database it did not create, count a
//! submission without a receipt as completed, sign on the clock (signing is client work), or run
//! unbounded (every loop is capped in count and time).
#![forbid(unsafe_code)]

mod audit;
mod http;
mod ingest;
mod server;
mod workload;

use clap::{Parser, Subcommand};

/// zkscim load benchmark.
#[derive(Debug, Parser)]
#[command(name = "zkscim-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable ingest rate and latency of signed operations over HTTP.
    Ingest(ingest::IngestArgs),
    /// Auditor throughput over an n-entry log, all stages.
    Audit(audit::AuditArgs),
}

fn finish<E: std::fmt::Display>(result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkscim-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The same allocator as the `zkscim` binary, so the figures are those of what users run (the
/// auditor here, the prefill through the embedding API).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => finish(ingest::run(args)),
        Command::Audit(args) => finish(audit::run(args)),
    }
}
