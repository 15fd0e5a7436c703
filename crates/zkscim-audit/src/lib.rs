//! The independent zkscim auditor: verifies a tenant's transparency log end to end, offline,
//! from a log export and two trust anchors (the tenant root public key and the log's note key).
//!
//! Owns: stages 0–4 of an audit — reading the export ([`zkscim_proto::export`]), the hash chain
//! and genesis root key (1), Merkle roots against signed checkpoints (2), checkpoint and
//! cosignature signatures (3), and consistency with what this auditor saw before (4), kept in a
//! small JSON state file that also makes incremental audits possible; the findings and report
//! model; witness cosigning ([`witness::witness`]); and the [`VerdictChecker`] extension point
//! through which stages 5 (verdicts) and 6 (replay) plug in.
//!
//! Stages 5 and 6 run through [`verdicts::RulesChecker`]: the published rules (`zkscim-rules`,
//! pure, the executable form of `spec/rules.md`) re-applied to the signed bytes.
//!
//! Must never: depend on the authority crate or trust anything the server says about itself
//! (header fields are cross-checked, never used as anchors), hold the whole log in memory
//! (entries stream through one at a time), advance its saved state after an audit that found
//! anything, or report a stage as passed that did not run.
#![forbid(unsafe_code)]

mod auditor;
pub mod bench;
pub mod report;
pub mod state;
pub mod testkit;
pub mod verdicts;
pub mod witness;

pub use auditor::{AuditError, Auditor, EntryContext, Progress, TrustAnchors, VerdictChecker};
pub use report::{Finding, Report, Stage, StageReport, StageStatus};
pub use state::{AuditState, WitnessState};
