//! Stages 5 and 6: every verdict re-derived with the published rules (`zkscim-rules`, spec
//! `rules.md`), and the directory rebuilt by replay, its digest compared with the server's when
//! the auditor has it.
//!
//! The rules crate is pure and shared with the server on purpose: the rules are the spec in
//! executable form. What the auditor does not trust is the server's *execution*: the storage,
//! the ordering, the claimed outcomes. Each is recomputed here from the signed bytes alone.

use std::collections::BTreeMap;

use zkscim_proto::export;
use zkscim_proto::keys::PublicKey;
use zkscim_proto::log_entry::{EntryKind, Outcome};
use zkscim_rules::replay::Replayer;
use zkscim_rules::{Decision, Effect, Settings, Verdict};
use zkscim_scim::SchemaRegistry;

use crate::{AuditState, EntryContext, Finding, Stage, VerdictChecker};

/// What one signing key (identified by its chain's labels) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyActivity {
    /// Statements applied.
    pub applied: u64,
    /// Statements refused.
    pub refused: u64,
    /// Log index of the first use.
    pub first_index: u64,
    /// Log index of the last use.
    pub last_index: u64,
    /// Uses under a `break_glass` scope (each one is flagged).
    pub break_glass: u64,
}

/// The human summary of a log: per key, revocations, refusals by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Activity per signer, keyed by the chain's labels (`root` for the tenant root).
    pub keys: BTreeMap<String, KeyActivity>,
    /// Log indices of applied revocations.
    pub revocations: Vec<u64>,
    /// Refusals by code.
    pub refusals: BTreeMap<String, u64>,
    /// Log indices of break-glass uses.
    pub break_glass: Vec<u64>,
    /// The replayed directory digest (hex), when the replay ran to the end.
    pub directory_digest: Option<String>,
}

/// Re-derives verdicts and replays the directory.
#[derive(Debug)]
pub struct RulesChecker {
    root: PublicKey,
    settings: Settings,
    replayer: Option<Replayer>,
    expected_digest: Option<[u8; 32]>,
    summary: Summary,
}

impl RulesChecker {
    /// A checker trusting `root`, with the server's verdict settings. `expected_digest` is the
    /// server's published directory digest at the end of the export (live mode), if known.
    pub fn new(
        root: PublicKey,
        settings: Settings,
        expected_digest: Option<[u8; 32]>,
    ) -> RulesChecker {
        RulesChecker {
            root,
            settings,
            replayer: None,
            expected_digest,
            summary: Summary::default(),
        }
    }

    /// What the log shows, once the audit ran.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    fn record(&mut self, index: u64, labels: &[String], break_glass: bool, decision: &Decision) {
        let who = if labels.is_empty() {
            "root".to_owned()
        } else {
            labels.join(" → ")
        };
        let activity = self.summary.keys.entry(who).or_insert(KeyActivity {
            first_index: index,
            ..KeyActivity::default()
        });
        activity.last_index = index;
        match &decision.verdict {
            Verdict::Applied { effects, .. } => {
                activity.applied += 1;
                if effects.iter().any(|e| matches!(e, Effect::Revoke(_))) {
                    self.summary.revocations.push(index);
                }
            }
            Verdict::Refused(r) => {
                activity.refused += 1;
                *self.summary.refusals.entry(r.code.clone()).or_default() += 1;
            }
        }
        if break_glass {
            activity.break_glass += 1;
            self.summary.break_glass.push(index);
        }
    }
}

impl VerdictChecker for RulesChecker {
    fn stages(&self) -> &[Stage] {
        &[Stage::Verdicts, Stage::Replay]
    }

    fn begin(
        &mut self,
        header: &export::Header,
        resumed: Option<&AuditState>,
    ) -> Result<(), String> {
        if resumed.is_some() || header.first_seq != 0 {
            return Err(
                "verdicts are re-derived from genesis: run a full audit (an export starting at entry 0) to check them"
                    .to_owned(),
            );
        }
        self.replayer = Some(Replayer::new(
            &header.tenant,
            self.root,
            self.settings,
            SchemaRegistry::with_builtins(),
        ));
        Ok(())
    }

    fn check_entry(&mut self, ctx: &EntryContext<'_>) -> Vec<Finding> {
        let Some(replayer) = self.replayer.as_mut() else {
            return Vec::new();
        };
        match replayer.replay(ctx.entry, ctx.submitted) {
            Ok(replayed) => {
                if let Some(decision) = &replayed.decision {
                    if ctx.entry.kind != EntryKind::Certificate {
                        let (labels, bg) = (replayed.labels.clone(), replayed.break_glass);
                        self.record(ctx.index, &labels, bg, decision);
                    }
                }
                Vec::new()
            }
            Err(f) => {
                if let Outcome::Refused { code, .. } = &ctx.entry.outcome {
                    *self.summary.refusals.entry(code.clone()).or_default() += 1;
                }
                vec![Finding::new(
                    Stage::Verdicts,
                    Some(ctx.index),
                    f.code,
                    f.expected,
                    f.found,
                )]
            }
        }
    }

    fn finish(&mut self) -> Vec<Finding> {
        let Some(replayer) = &self.replayer else {
            return Vec::new();
        };
        let digest = replayer.state().digest();
        self.summary.directory_digest = Some(hex::encode(digest));
        match self.expected_digest {
            Some(expected) if expected != digest => vec![Finding::new(
                Stage::Replay,
                None,
                "audit.replay.digest_mismatch",
                format!("the replayed directory, digest {}", hex::encode(digest)),
                format!("the server's directory digest {}", hex::encode(expected)),
            )],
            _ => Vec::new(),
        }
    }
}
