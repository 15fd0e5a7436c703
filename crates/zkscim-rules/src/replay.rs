//! Re-deriving a log's verdicts: fold every entry into an in-memory state with the same rules
//! the server used, and say precisely where the log disagrees with them.
//!
//! This is what an auditor (stage 5 and 6) and the CLI's log check run. The caller checks the
//! hash chain and the Merkle tree; this checks what each entry *means*.

use std::collections::HashSet;

use zkscim_proto::cert::{CertId, Certificate};
use zkscim_proto::envelope::{self, Statement};
use zkscim_proto::keys::PublicKey;
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome};
use zkscim_scim::SchemaRegistry;

use crate::exact_set::{ExactSet, Keyed};
use crate::memory::MemoryState;
use crate::prepared::{Prepared, TouchedPaths, WithSignature};
use crate::{Decision, Settings, TenantInfo, Verdict, Verification};

/// A disagreement between an entry and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFinding {
    /// Stable code, e.g. `audit.verdict.mismatch`.
    pub code: &'static str,
    /// What the rules expected.
    pub expected: String,
    /// What the log holds.
    pub found: String,
}

impl ReplayFinding {
    fn new(
        code: &'static str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ReplayFinding {
        ReplayFinding {
            code,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// What one replayed entry was, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The rules' decision (`None` for certificate entries).
    pub decision: Option<Decision>,
    /// Labels of the signer's chain, root-signed first (empty when the root signed).
    pub labels: Vec<String>,
    /// Whether the signer's scope carries `break_glass`.
    pub break_glass: bool,
}

/// Folds a tenant's log from genesis, checking every verdict.
#[derive(Debug)]
pub struct Replayer {
    tenant: String,
    trusted_root: PublicKey,
    settings: Settings,
    registry: SchemaRegistry,
    state: MemoryState,
    cache: HashSet<CertId, Keyed>,
    /// SHA-256 of every statement logged so far, exactly (one per entry: the largest set).
    seen_submissions: ExactSet<32>,
}

impl Replayer {
    /// A replayer for `tenant` trusting `root` (the fingerprint checked out of band).
    pub fn new(
        tenant: &str,
        trusted_root: PublicKey,
        settings: Settings,
        registry: SchemaRegistry,
    ) -> Replayer {
        Replayer {
            tenant: tenant.to_owned(),
            trusted_root,
            settings,
            registry,
            state: MemoryState::new(),
            cache: HashSet::default(),
            seen_submissions: ExactSet::new(),
        }
    }

    /// The state folded so far.
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// Replays one entry given the exact bytes it records. After a verdict finding the state
    /// follows the rules' decision, not the log's claim, so later entries are judged against
    /// the state the tenant actually authorised.
    pub fn replay(
        &mut self,
        entry: &LogEntry,
        submitted: &[u8],
    ) -> Result<Replayed, ReplayFinding> {
        self.replay_prepared(entry, submitted, None)
    }

    /// [`Replayer::replay`] with the statement parsed and its signature verified ahead by
    /// [`crate::prepared::prepare_batch`]. A `prepared` statement is used only when its bytes
    /// are exactly `submitted`; its signature counts as verified only for the signer key the
    /// chain yields and those exact bytes. Every other check runs as in [`Replayer::replay`],
    /// so the findings are the same.
    pub fn replay_prepared(
        &mut self,
        entry: &LogEntry,
        submitted: &[u8],
        prepared: Option<Prepared>,
    ) -> Result<Replayed, ReplayFinding> {
        // A prepared statement for exactly these bytes carries their hash, computed ahead.
        let prepared =
            prepared.filter(|p| p.statement.as_ref().is_ok_and(|s| s.bytes() == submitted));
        let submitted_hash = match &prepared {
            Some(p) => p.submitted_hash,
            None => zkscim_proto::log_entry::submitted_hash_of(submitted),
        };
        if submitted_hash != entry.submitted_hash {
            return Err(ReplayFinding::new(
                "audit.submitted.hash_mismatch",
                hex::encode(entry.submitted_hash),
                hex::encode(submitted_hash),
            ));
        }
        if entry.kind != EntryKind::Certificate
            && !self.seen_submissions.insert(entry.submitted_hash)
        {
            return Err(ReplayFinding::new(
                "audit.submitted.duplicate",
                "each submission logged once (resubmissions answer with the original receipt)",
                "the same submitted bytes logged again",
            ));
        }
        if entry.kind == EntryKind::Certificate {
            let cert = Certificate::parse(submitted).map_err(|e| {
                ReplayFinding::new("audit.certificate.invalid", "a certificate", e.to_string())
            })?;
            if !matches!(entry.outcome, Outcome::Applied { .. }) {
                return Err(ReplayFinding::new(
                    "audit.certificate.outcome",
                    "applied",
                    format!("{:?}", entry.outcome),
                ));
            }
            self.state.see_certificate(&cert);
            return Ok(Replayed {
                decision: None,
                labels: vec![cert.claims().label.clone()],
                break_glass: false,
            });
        }
        let mut pre_signer = None;
        let mut touched_ahead = None;
        let statement = match prepared {
            Some(Prepared {
                statement: Ok(s),
                verified_signer,
                touched: ahead,
                ..
            }) => {
                pre_signer = verified_signer;
                touched_ahead = ahead;
                s
            }
            _ => envelope::parse_any(submitted).map_err(|e| {
                ReplayFinding::new(
                    "audit.submitted.unparsable",
                    "a signed statement",
                    e.to_string(),
                )
            })?,
        };
        if let Statement::Genesis(g) = &statement {
            if g.body().root != self.trusted_root {
                return Err(ReplayFinding::new(
                    "audit.genesis.root_mismatch",
                    self.trusted_root.key_id().short(),
                    g.body().root.key_id().short(),
                ));
            }
        }
        let expected_kind = crate::kind_of(&statement);
        if entry.kind != expected_kind {
            return Err(ReplayFinding::new(
                "audit.entry.kind_mismatch",
                format!("{expected_kind:?}"),
                format!("{:?}", entry.kind),
            ));
        }
        // The tenant's info is lent out of the state while the rules read the state (nothing
        // they read through `StateView` touches it) rather than copied for every entry, and
        // put back before the state changes.
        let info = self.state.tenant.take();
        let judged = self.judge(
            statement,
            info.as_ref(),
            entry.time,
            Ahead {
                signer: pre_signer,
                touched_ahead,
            },
            submitted,
        );
        self.state.tenant = info;
        let (decision, labels, break_glass) = judged?;
        if !decision.new_certificates.is_empty() {
            return Err(ReplayFinding::new(
                "audit.certificate.not_logged_first",
                "every certificate of the chain logged before its first use",
                format!(
                    "{} certificate(s) first seen here",
                    decision.new_certificates.len()
                ),
            ));
        }
        let agrees = match (&decision.verdict, &entry.outcome) {
            (Verdict::Applied { version, .. }, Outcome::Applied { version: logged }) => {
                version == logged
            }
            (Verdict::Refused(r), Outcome::Refused { code, .. }) => &r.code == code,
            _ => false,
        };
        if !agrees {
            let describe = |v: &Verdict| match v {
                Verdict::Applied { version, .. } => format!("applied (version {version:?})"),
                Verdict::Refused(r) => format!("refused {}: {}", r.code, r.detail),
            };
            let logged = match &entry.outcome {
                Outcome::Applied { version } => format!("applied (version {version:?})"),
                Outcome::Refused { code, detail } => format!("refused {code}: {detail}"),
            };
            let code = match (&decision.verdict, &entry.outcome) {
                (Verdict::Refused(_), Outcome::Applied { .. }) => {
                    "audit.verdict.applied_should_refuse"
                }
                (Verdict::Applied { .. }, Outcome::Refused { .. }) => {
                    "audit.verdict.refused_should_apply"
                }
                _ => "audit.verdict.mismatch",
            };
            self.state.apply(&self.tenant, &decision);
            return Err(ReplayFinding::new(
                code,
                describe(&decision.verdict),
                logged,
            ));
        }
        self.state.apply(&self.tenant, &decision);
        Ok(Replayed {
            decision: Some(decision),
            labels,
            break_glass,
        })
    }

    /// Verifies and decides one statement against the state, `info` being the tenant's info
    /// (lent out of the state by the caller). Returns the decision, the signer's chain labels
    /// and whether its scope carries `break_glass`.
    fn judge(
        &mut self,
        statement: Statement,
        info: Option<&TenantInfo>,
        time: u64,
        ahead: Ahead,
        submitted: &[u8],
    ) -> Result<(Decision, Vec<String>, bool), ReplayFinding> {
        let verification = crate::verify_owned(
            statement,
            info,
            &self.tenant,
            time,
            self.settings,
            &mut WithSignature {
                certs: &mut self.cache,
                signer: ahead.signer,
                bytes: submitted,
            },
        );
        if let Verification::Forged(e) = &verification {
            return Err(ReplayFinding::new(
                "audit.verdict.unauthenticated_logged",
                "never logged: not signed by a key the tenant root empowers",
                e.to_string(),
            ));
        }
        let decision = crate::decide_with(
            &verification,
            info,
            &self.registry,
            &mut self.state,
            time,
            ahead.touched_ahead,
        )
        .map_err(|e| ReplayFinding::new("audit.state", "a readable state", e.to_string()))?
        .ok_or_else(|| {
            ReplayFinding::new(
                "audit.verdict.unauthenticated_logged",
                "never logged",
                "logged",
            )
        })?;
        // The labels are moved out of the chain, the statement dropped with the rest.
        let (labels, break_glass) = verification
            .into_chain()
            .map_or((Vec::new(), false), |c| (c.labels, c.break_glass));
        Ok((decision, labels, break_glass))
    }
}

/// What a [`Prepared`] statement brought from the signature threads.
struct Ahead {
    /// The key its signature verified under, if it did.
    signer: Option<PublicKey>,
    /// Its touched paths, for operations other than replace.
    touched_ahead: Option<TouchedPaths>,
}
