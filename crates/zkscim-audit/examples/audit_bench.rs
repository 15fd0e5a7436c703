//! `cargo run --release -p zkscim-audit --example audit_bench -- N WORKDIR [one-by-one]`: full audit
//! throughput (stages 0–6) on an N-entry rule-consistent export cached in WORKDIR.
#![allow(clippy::print_stdout)]

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let n = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000u64);
    let dir = args
        .next()
        .unwrap_or_else(|| "/tmp/zkscim-audit-bench".to_owned());
    let batch = args.next().as_deref() != Some("one-by-one");
    let r = zkscim_audit::bench::run_with(n, std::path::Path::new(&dir), batch)?;
    println!(
        "entries={} seconds={:.2} entries_per_sec={:.0} peak_mib={:.1}",
        r.entries, r.seconds, r.entries_per_sec, r.peak_mib
    );
    Ok(())
}
