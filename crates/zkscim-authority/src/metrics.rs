//! Counters for `/metrics` (Prometheus text format): accepted, refused by reason, unauthenticated
//! input (counted, never logged), batch sizes and commit latencies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::ReceiptOutcome;

/// Latency histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

/// Server counters.
#[derive(Debug, Default)]
pub struct Metrics {
    applied: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    rejected: Mutex<BTreeMap<String, u64>>,
    batches: AtomicU64,
    batched_submissions: AtomicU64,
    max_batch: AtomicU64,
    commit_buckets: [AtomicU64; 10],
    commit_seconds_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn record_outcome(&self, outcome: &ReceiptOutcome) {
        match outcome {
            ReceiptOutcome::Applied { .. } => {
                self.applied.fetch_add(1, Ordering::Relaxed);
            }
            ReceiptOutcome::Refused(r) => {
                if let Ok(mut m) = self.refused.lock() {
                    *m.entry(r.code.clone()).or_default() += 1;
                }
            }
        }
    }

    /// Counts input refused before it could be logged (malformed, forged, unknown tenant).
    pub(crate) fn record_rejected(&self, code: &str) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(code.to_owned()).or_default() += 1;
        }
    }

    pub(crate) fn record_batch(&self, size: usize, took: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_submissions
            .fetch_add(size as u64, Ordering::Relaxed);
        self.max_batch.fetch_max(size as u64, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.commit_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.commit_seconds_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP zkscim_submissions_applied_total Submissions applied."
        );
        let _ = writeln!(out, "# TYPE zkscim_submissions_applied_total counter");
        let _ = writeln!(
            out,
            "zkscim_submissions_applied_total {}",
            self.applied.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP zkscim_submissions_refused_total Well-signed submissions refused and logged, by reason.");
        let _ = writeln!(out, "# TYPE zkscim_submissions_refused_total counter");
        if let Ok(m) = self.refused.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "zkscim_submissions_refused_total{{reason=\"{code}\"}} {n}"
                );
            }
        }
        let _ = writeln!(out, "# HELP zkscim_submissions_rejected_total Input rejected without logging (malformed, forged, unknown tenant), by reason.");
        let _ = writeln!(out, "# TYPE zkscim_submissions_rejected_total counter");
        if let Ok(m) = self.rejected.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "zkscim_submissions_rejected_total{{reason=\"{code}\"}} {n}"
                );
            }
        }
        let batches = self.batches.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP zkscim_commit_batches_total Commit batches (one transaction and one checkpoint per tenant each).");
        let _ = writeln!(out, "# TYPE zkscim_commit_batches_total counter");
        let _ = writeln!(out, "zkscim_commit_batches_total {batches}");
        let _ = writeln!(out, "# TYPE zkscim_commit_batch_submissions_total counter");
        let _ = writeln!(
            out,
            "zkscim_commit_batch_submissions_total {}",
            self.batched_submissions.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# TYPE zkscim_commit_batch_size_max gauge");
        let _ = writeln!(
            out,
            "zkscim_commit_batch_size_max {}",
            self.max_batch.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP zkscim_commit_seconds Time to decide, write and commit one batch."
        );
        let _ = writeln!(out, "# TYPE zkscim_commit_seconds histogram");
        for (bucket, bound) in self.commit_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "zkscim_commit_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "zkscim_commit_seconds_bucket{{le=\"+Inf\"}} {batches}");
        let _ = writeln!(
            out,
            "zkscim_commit_seconds_sum {}",
            self.commit_seconds_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "zkscim_commit_seconds_count {batches}");
        out
    }
}
