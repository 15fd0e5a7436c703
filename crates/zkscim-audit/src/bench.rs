//! The full-audit benchmark behind `zkscim-bench audit`: an n-entry rule-consistent export
//! ([`crate::testkit::generate_consistent_export`], cached in a work directory), audited through
//! every stage including 5 (verdicts re-derived) and 6 (replay) with [`RulesChecker`].

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

use zkscim_rules::Settings;

use crate::testkit::{
    generate_consistent_export, LogBuilder, CONSISTENT_ORIGIN, CONSISTENT_TENANT,
};
use crate::verdicts::RulesChecker;
use crate::Auditor;

/// What one benchmark run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// Entries audited.
    pub entries: u64,
    /// Wall-clock seconds of the audit (generation excluded).
    pub seconds: f64,
    /// Entries per second.
    pub entries_per_sec: f64,
    /// Peak resident set of the process (VmHWM, MiB; 0 where `/proc` is missing). Includes
    /// the generation when the export was not cached.
    pub peak_mib: f64,
    /// CPU seconds (user, system) the process spent during the audit, all threads (0 where
    /// `/proc` is missing). Steadier than the rate on a shared machine: other work takes CPU
    /// from the audit, it does not add CPU to each entry.
    pub cpu_seconds: (f64, f64),
    /// The replayed directory digest (hex).
    pub directory_digest: String,
    /// SHA-256 (hex) of the report and the summary as JSON: equal across runs exactly when
    /// everything the audit reported is, so a faster build can be checked against an older one.
    pub outcome_fingerprint: String,
}

/// The cached export path for `n` entries in `workdir`.
pub fn export_path(n: u64, workdir: &Path) -> PathBuf {
    workdir.join(format!("consistent-{n}.zkexport"))
}

/// Generates (or reuses) an `n`-entry consistent export in `workdir`, audits it fully, and
/// returns the throughput and peak memory. Errors if the audit is not clean.
pub fn run(n: u64, workdir: &Path) -> Result<BenchResult, String> {
    run_with(n, workdir, true)
}

/// [`run`], choosing whether statement signatures are verified in batches on signature
/// threads (`true`, the default) or one by one inside the fold (for comparison).
pub fn run_with(n: u64, workdir: &Path, batch_signatures: bool) -> Result<BenchResult, String> {
    std::fs::create_dir_all(workdir).map_err(|e| e.to_string())?;
    let path = export_path(n, workdir);
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let f = File::create(&tmp).map_err(|e| e.to_string())?;
        let w = generate_consistent_export(BufWriter::with_capacity(1 << 20, f), n)
            .map_err(|e| e.to_string())?;
        w.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    }
    let anchors = LogBuilder::new(CONSISTENT_TENANT, CONSISTENT_ORIGIN)
        .map_err(|e| e.to_string())?
        .anchors()
        .map_err(|e| e.to_string())?;
    let root = anchors.root_key;
    // As `zkscim audit verify` runs it: reading ahead on its own thread.
    let auditor = Auditor::new(anchors)
        .map_err(|e| e.to_string())?
        .with_pipeline(true);
    let input = BufReader::with_capacity(1 << 20, File::open(&path).map_err(|e| e.to_string())?);
    let mut checker =
        RulesChecker::new(root, Settings::default(), None).with_batch_signatures(batch_signatures);
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let (report, _) = auditor
        .audit_with_state(input, None, Some(&mut checker), &mut |_| {})
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_after = process_cpu_seconds();
    let cpu_seconds = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    if !report.is_clean() {
        return Err(format!(
            "the audit of {} is not clean: {:?}",
            path.display(),
            report.findings.iter().take(5).collect::<Vec<_>>()
        ));
    }
    let summary = checker.summary();
    let outcome = serde_json::to_string(&(&report, summary)).map_err(|e| e.to_string())?;
    Ok(BenchResult {
        entries: n,
        seconds,
        entries_per_sec: n as f64 / seconds.max(1e-9),
        peak_mib: peak_rss_mib(),
        cpu_seconds,
        directory_digest: summary.directory_digest.clone().unwrap_or_default(),
        outcome_fingerprint: hex::encode(zkscim_proto::log_entry::submitted_hash_of(
            outcome.as_bytes(),
        )),
    })
}

/// The process's CPU seconds so far, (user, system), from `/proc/self/stat` (clock ticks taken
/// as 100 per second; zeros when unknown).
pub fn process_cpu_seconds() -> (f64, f64) {
    std::fs::read_to_string("/proc/self/stat").map_or((0.0, 0.0), |s| stat_cpu_seconds(&s))
}

/// (user, system) CPU seconds from the text of a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`
/// file (clock ticks taken as 100 per second; zeros for fields that do not parse).
pub fn stat_cpu_seconds(stat: &str) -> (f64, f64) {
    // Fields after the parenthesised command: utime is field 14, stime 15 (1-based).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

/// The process's peak resident set (VmHWM) in MiB, 0 when unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    /// utime and stime are fields 14 and 15, counted after the command's closing parenthesis
    /// (a command may itself hold spaces and parentheses).
    #[test]
    fn cpu_seconds_from_a_stat_line() {
        let stat = "4242 (zk (bench) x) R 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0";
        assert_eq!(super::stat_cpu_seconds(stat), (2.5, 0.75));
        assert_eq!(super::stat_cpu_seconds("garbage"), (0.0, 0.0));
    }
}
