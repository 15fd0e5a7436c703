//! Findings and the audit report: what was checked, what passed, and every discrepancy with its
//! entry index, the value expected and the value found.

use serde::Serialize;

/// The verification stages, in the order the issue numbers them. `Export` (reading the file
/// itself) comes first because every other stage depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The export file: magic, framing, record shapes, counts, end digest.
    Export,
    /// (1) Every entry decodes, links to its predecessor, hashes its submitted bytes; genesis
    /// carries the trusted root key.
    Chain,
    /// (2) The Merkle root over all leaves equals every signed checkpoint's root.
    Merkle,
    /// (3) Every checkpoint (and known cosignature) verifies under the trusted keys.
    Signatures,
    /// (4) The log extends what this auditor saw before: no fork, no rewrite, no rollback.
    Consistency,
    /// (5) Every verdict re-derived from the rules.
    Verdicts,
    /// (6) Replaying applied operations reproduces the directory.
    Replay,
}

impl Stage {
    /// All stages, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Export,
        Stage::Chain,
        Stage::Merkle,
        Stage::Signatures,
        Stage::Consistency,
        Stage::Verdicts,
        Stage::Replay,
    ];

    /// Short name used in reports and finding codes.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Export => "export",
            Stage::Chain => "chain",
            Stage::Merkle => "merkle",
            Stage::Signatures => "signatures",
            Stage::Consistency => "consistency",
            Stage::Verdicts => "verdicts",
            Stage::Replay => "replay",
        }
    }

    /// The stage number (0 for reading the export).
    pub fn number(self) -> u8 {
        match self {
            Stage::Export => 0,
            Stage::Chain => 1,
            Stage::Merkle => 2,
            Stage::Signatures => 3,
            Stage::Consistency => 4,
            Stage::Verdicts => 5,
            Stage::Replay => 6,
        }
    }

    /// What the stage establishes, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Export => "export file well-formed and complete",
            Stage::Chain => "hash chain, submitted bytes and genesis root key",
            Stage::Merkle => "Merkle roots equal the signed checkpoints",
            Stage::Signatures => "checkpoint signatures under the log key",
            Stage::Consistency => "append-only since the last audit",
            Stage::Verdicts => "every verdict re-derived",
            Stage::Replay => "replay reproduces the directory",
        }
    }
}

/// One discrepancy. `code` is stable (`audit.<stage>.<what>`); `expected` and `found` are what
/// a correct log would hold and what this one holds, in text fit for people and diffing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Log sequence number (entry index) concerned, when there is one.
    pub index: Option<u64>,
    /// Stage that found it.
    pub stage: Stage,
    /// Stable machine-readable code.
    pub code: String,
    /// What a correct log would hold.
    pub expected: String,
    /// What this log holds.
    pub found: String,
}

impl Finding {
    /// A finding.
    pub fn new(
        stage: Stage,
        index: Option<u64>,
        code: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Finding {
        Finding {
            index,
            stage,
            code: code.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "[{}] entry {i}: {}", self.stage.name(), self.code)?,
            None => write!(f, "[{}] {}", self.stage.name(), self.code)?,
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
}

/// How a stage ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StageStatus {
    /// Ran over everything and found nothing.
    Passed,
    /// Ran and found at least one discrepancy.
    Failed,
    /// Ran without findings, but the export ended early, so not over everything.
    Incomplete,
    /// Did not run; the reason says why.
    NotRun {
        /// Why.
        reason: String,
    },
}

/// One stage's line in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageReport {
    /// Which stage.
    pub stage: Stage,
    /// Its number (0-6).
    pub number: u8,
    /// Outcome.
    #[serde(flatten)]
    pub status: StageStatus,
    /// Findings this stage produced (including any beyond the kept limit).
    pub findings: u64,
}

/// Counts of what was read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Entry records read.
    pub entries: u64,
    /// Checkpoint records read.
    pub checkpoints: u64,
    /// Cosignatures verified under configured witness keys.
    pub cosignatures_verified: u64,
    /// Bytes of export read.
    pub bytes: u64,
}

/// The result of one audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Tenant id from the export header, once read.
    pub tenant: Option<String>,
    /// Log origin from the export header, once read.
    pub origin: Option<String>,
    /// Sequence number of the first entry in the export (non-zero for an incremental export).
    pub first_seq: u64,
    /// Whether the audit resumed from saved state rather than from genesis.
    pub incremental: bool,
    /// Tree size verified (sequence number of the last entry + 1).
    pub tree_size: u64,
    /// Root of the verified tree, hex.
    pub root_hash: String,
    /// Size of the newest checkpoint that verified, if any.
    pub latest_checkpoint: Option<u64>,
    /// What was read.
    pub counts: Counts,
    /// Every stage, in order.
    pub stages: Vec<StageReport>,
    /// Findings, in the order found (at most the configured limit).
    pub findings: Vec<Finding>,
    /// Findings dropped beyond the limit (memory stays bounded on a badly broken log).
    pub findings_dropped: u64,
    /// Whether the state file was updated (only after a clean audit).
    pub state_saved: bool,
}

impl Report {
    /// No findings at all. Stages that did not run are listed in [`Report::stages`]; use
    /// [`Report::complete`] to require all of them.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && self.findings_dropped == 0
    }

    /// Every stage ran and passed.
    pub fn complete(&self) -> bool {
        self.stages
            .iter()
            .all(|s| matches!(s.status, StageStatus::Passed))
    }

    /// Process exit code: 0 only when clean, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.is_clean() {
            0
        } else {
            1
        }
    }

    /// The status of one stage.
    pub fn stage(&self, stage: Stage) -> Option<&StageStatus> {
        self.stages
            .iter()
            .find(|s| s.stage == stage)
            .map(|s| &s.status)
    }

    /// Findings with a given code.
    pub fn findings_with(&self, code: &str) -> impl Iterator<Item = &Finding> {
        let code = code.to_owned();
        self.findings.iter().filter(move |f| f.code == code)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// A human summary: one line per stage, then the findings.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "audit of {} ({}): {} entries from seq {}, tree size {}, root {}{}",
            self.tenant.as_deref().unwrap_or("?"),
            self.origin.as_deref().unwrap_or("?"),
            self.counts.entries,
            self.first_seq,
            self.tree_size,
            self.root_hash,
            if self.incremental {
                " (incremental)"
            } else {
                ""
            },
        );
        for s in &self.stages {
            let status = match &s.status {
                StageStatus::Passed => "passed".to_owned(),
                StageStatus::Failed => format!("FAILED ({} findings)", s.findings),
                StageStatus::Incomplete => "incomplete (export ended early)".to_owned(),
                StageStatus::NotRun { reason } => format!("not run: {reason}"),
            };
            let _ = writeln!(
                out,
                "  stage {} {:<12} {:<45} {status}",
                s.number,
                s.stage.name(),
                s.stage.describe()
            );
        }
        for f in &self.findings {
            let _ = writeln!(out, "  {f}");
        }
        if self.findings_dropped > 0 {
            let _ = writeln!(out, "  … and {} more findings", self.findings_dropped);
        }
        let _ = writeln!(
            out,
            "{}",
            if self.is_clean() {
                "result: clean"
            } else {
                "result: NOT CLEAN"
            }
        );
        out
    }
}
