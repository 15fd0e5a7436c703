//! `zkscim-bench audit`: builds (or reuses) an n-entry rule-consistent log export and verifies it
//! with the independent auditor, all stages including verdict re-derivation and replay.

use std::path::PathBuf;

use clap::Args;

/// Auditor throughput and peak memory.
///
/// Example: `zkscim-bench audit --entries 1000000 --workdir /tmp/zkscim-bench`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Log entries in the export (cap 5,000,000).
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Where the generated export is kept and reused (`consistent-N.zkexport`).
    #[arg(long, default_value = "target/zkscim-bench")]
    workdir: PathBuf,
    /// Verify statement signatures one by one instead of in parallel batches (for comparison).
    #[arg(long)]
    one_by_one: bool,
}

/// Resets the process's peak-RSS counter so the figure covers the audit alone (Linux only; a
/// no-op elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn run(args: AuditArgs) -> Result<(), String> {
    let n = args.entries.clamp(2, 5_000_000);
    let cached = args.workdir.join(format!("consistent-{n}.zkexport"));
    if !cached.exists() {
        eprintln!(
            "generating a {n}-entry export in {} (once; reused later)…",
            args.workdir.display()
        );
        zkscim_audit::bench::run_with(n, &args.workdir, !args.one_by_one)?;
    }
    reset_peak_rss();
    let result = zkscim_audit::bench::run_with(n, &args.workdir, !args.one_by_one)?;
    eprintln!(
        "audited {} entries in {:.2} s ({})",
        result.entries,
        result.seconds,
        if args.one_by_one {
            "signatures one by one"
        } else {
            "batch signatures on worker threads"
        }
    );
    let (user, system) = result.cpu_seconds;
    eprintln!(
        "CPU {:.2} s user + {:.2} s system: {:.1} µs per entry on all threads",
        user,
        system,
        (user + system) * 1e6 / result.entries.max(1) as f64
    );
    eprintln!(
        "directory digest {}, outcome fingerprint {}",
        result.directory_digest, result.outcome_fingerprint
    );
    println!(
        "audit: {:.0} entries/s peak {:.0} MiB",
        result.entries_per_sec, result.peak_mib
    );
    Ok(())
}
