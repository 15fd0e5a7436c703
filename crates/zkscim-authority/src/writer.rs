//! The single writer: group commit of verified submissions.
//!
//! One thread owns the write connection. It takes every submission waiting in its queue (up to
//! the batch limit), decides each against the state as left by the ones before it, appends the
//! log entries, applies the effects, signs one checkpoint per tenant touched, and commits all of
//! it in one transaction. Only then does anyone get a receipt, so a receipt always refers to
//! durable state. If anything fails, the transaction rolls back, every submitter of the batch gets
//! an error, and the in-memory log heads are reloaded from the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome};
use zkscim_proto::merkle::Hash;
use zkscim_proto::note::NoteSigner;
use zkscim_rules::{
    Decision, Effect, StateError, StateView, StoredResource, TenantInfo, Verdict, Verification,
};
use zkscim_scim::SchemaRegistry;

use crate::log::{LogError, TenantLog};
use crate::metrics::Metrics;
use crate::store::{Reader, ResourceRow, SqliteStore, Store, StoreError, StoreTxn};
use crate::{Receipt, ReceiptOutcome, SubmitError};

/// A verified submission waiting for the writer.
pub(crate) struct Job {
    pub tenant: String,
    pub verification: Verification,
    pub bytes: Vec<u8>,
    pub submitted_hash: [u8; 32],
    pub now: u64,
    pub reply: oneshot::Sender<Result<Receipt, SubmitError>>,
}

/// Why a batch failed as a whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("log entry: {0}")]
    Entry(String),
}

pub(crate) struct Writer {
    pub store: SqliteStore,
    pub reader: Reader,
    pub logs: HashMap<String, TenantLog>,
    pub tenants: Arc<RwLock<HashMap<String, TenantInfo>>>,
    pub registry: Arc<SchemaRegistry>,
    pub log_seed: zeroize::Zeroizing<[u8; 32]>,
    pub signers: HashMap<String, NoteSigner>,
    pub origin_prefix: String,
    pub max_batch: usize,
    pub metrics: Arc<Metrics>,
}

/// What one job produced inside the batch, turned into a receipt after commit.
enum Pending {
    New {
        index: u64,
        leaf: Hash,
        entry: Vec<u8>,
        outcome: ReceiptOutcome,
        certificate_entries: Vec<u64>,
    },
    Existing {
        index: u64,
    },
    /// Answered without a log entry (a genesis for a tenant that exists).
    Unlogged(zkscim_rules::Refusal),
}

/// The rules' view of one tenant through the writer's transaction.
struct TxnView<'a, 'b> {
    txn: &'a mut (dyn StoreTxn + 'b),
    tenant: &'a str,
    /// The statement's own nonce, already looked up by the duplicate check: known unused.
    unused_nonce: Option<&'a [u8]>,
}

fn state_err(e: StoreError) -> StateError {
    StateError(e.to_string())
}

impl StateView for TxnView<'_, '_> {
    fn approvals(&mut self, approves: &[u8; 32]) -> Result<Vec<Vec<u8>>, StateError> {
        self.txn.approvals(self.tenant, approves).map_err(state_err)
    }
    fn nonce_used(&mut self, nonce: &[u8]) -> Result<bool, StateError> {
        if self.unused_nonce == Some(nonce) {
            return Ok(false);
        }
        Ok(self
            .txn
            .nonce_owner(self.tenant, nonce)
            .map_err(state_err)?
            .is_some())
    }
    fn is_revoked(&mut self, id: &zkscim_proto::cert::CertId) -> Result<bool, StateError> {
        self.txn.is_revoked(self.tenant, &id.0).map_err(state_err)
    }
    fn certificate_seen(&mut self, id: &zkscim_proto::cert::CertId) -> Result<bool, StateError> {
        self.txn
            .certificate_seen(self.tenant, &id.0)
            .map_err(state_err)
    }
    fn certificate(
        &mut self,
        id: &zkscim_proto::cert::CertId,
    ) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .txn
            .certificate(self.tenant, &id.0)
            .map_err(state_err)?
            .map(|c| c.bytes))
    }
    fn resource(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StateError> {
        let Some(row) = self
            .txn
            .resource(self.tenant, resource_type, id)
            .map_err(state_err)?
        else {
            return Ok(None);
        };
        let body = serde_json::from_str(&row.body)
            .map_err(|e| StateError(format!("stored {resource_type} {id} is not JSON: {e}")))?;
        let indexes = self
            .txn
            .resource_indexes(self.tenant, resource_type, id)
            .map_err(state_err)?
            .into_iter()
            .collect();
        Ok(Some(StoredResource {
            version: row.version,
            body,
            indexes,
        }))
    }
    fn identity_exists(&mut self, id: &str) -> Result<bool, StateError> {
        self.txn.identity_exists(self.tenant, id).map_err(state_err)
    }
    fn has_member(&mut self, group: &str, member: &str) -> Result<bool, StateError> {
        self.txn
            .has_member(self.tenant, group, member)
            .map_err(state_err)
    }
    fn members(&mut self, group: &str) -> Result<Vec<String>, StateError> {
        self.txn.members(self.tenant, group).map_err(state_err)
    }
    fn index_owners(
        &mut self,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<String>, StateError> {
        self.txn
            .index_owners(self.tenant, resource_type, attribute, value)
            .map_err(state_err)
    }
}

impl Writer {
    /// Runs until every sender is gone, then finishes the batch in flight and returns.
    pub fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
    }

    fn process(&mut self, batch: Vec<Job>) {
        let started = Instant::now();
        let size = batch.len();
        // The batch works on its own copy of the tenants it touches (a genesis or policy applies
        // to later submissions of the same batch); the shared map changes only after commit.
        let mut local_tenants: HashMap<String, TenantInfo> = HashMap::new();
        if let Ok(shared) = self.tenants.read() {
            for job in &batch {
                if let Some(info) = shared.get(&job.tenant) {
                    local_tenants.insert(job.tenant.clone(), info.clone());
                }
            }
        }
        let result = self.run_batch(&batch, &mut local_tenants);
        match result {
            Ok(pendings) => {
                if let Ok(mut shared) = self.tenants.write() {
                    shared.extend(local_tenants);
                }
                for (job, pending) in batch.into_iter().zip(pendings) {
                    let receipt = self.receipt(&job.tenant, pending);
                    if let Ok(r) = &receipt {
                        self.metrics.record_outcome(&r.outcome);
                    }
                    let _ = job.reply.send(receipt);
                }
                self.metrics.record_batch(size, started.elapsed());
            }
            Err(e) => {
                tracing::error!(error = %e, batch = size, "batch failed and was rolled back");
                let touched: Vec<String> = batch.iter().map(|j| j.tenant.clone()).collect();
                for tenant in touched {
                    self.reload(&tenant);
                }
                for job in batch {
                    let _ = job.reply.send(Err(SubmitError::Unavailable(e.to_string())));
                }
            }
        }
    }

    /// Reloads a tenant's log head from the committed database after a rollback.
    fn reload(&mut self, tenant: &str) {
        let origin = origin_of(&self.origin_prefix, tenant);
        match self.reader.head(tenant) {
            Ok(Some(head)) => match TenantLog::resume(tenant, origin, &head) {
                Ok(log) => {
                    self.logs.insert(tenant.to_owned(), log);
                }
                Err(e) => tracing::error!(tenant, error = %e, "cannot reload log head"),
            },
            Ok(None) => {
                self.logs.remove(tenant);
            }
            Err(e) => tracing::error!(tenant, error = %e, "cannot read log head"),
        }
    }

    fn run_batch(
        &mut self,
        batch: &[Job],
        tenants: &mut HashMap<String, TenantInfo>,
    ) -> Result<Vec<Pending>, BatchError> {
        let mut touched: BTreeMap<String, ()> = BTreeMap::new();
        let mut pendings = Vec::with_capacity(batch.len());
        let registry = Arc::clone(&self.registry);
        let origin_prefix = self.origin_prefix.clone();
        let logs = &mut self.logs;
        let mut txn = self.store.begin()?;
        for job in batch {
            // Every logged statement records its nonce with its hash, so identical bytes are
            // found by their nonce: one lookup answers both "seen before?" and, below in the
            // rules, "nonce reused?".
            let nonce = job.verification.nonce();
            let owner = match nonce {
                Some(nonce) => txn.nonce_owner(&job.tenant, nonce)?,
                None => None,
            };
            if owner == Some(job.submitted_hash) {
                let index = txn
                    .submission_seq(&job.tenant, &job.submitted_hash)?
                    .ok_or_else(|| {
                        BatchError::Entry("a recorded nonce has no submission".into())
                    })?;
                pendings.push(Pending::Existing { index });
                continue;
            }
            let tenant_info = tenants.get(&job.tenant).cloned();
            let decision = {
                let mut view = TxnView {
                    txn: txn.as_mut(),
                    tenant: &job.tenant,
                    unused_nonce: nonce.filter(|_| owner.is_none()),
                };
                zkscim_rules::decide(
                    &job.verification,
                    tenant_info.as_ref(),
                    &registry,
                    &mut view,
                    job.now,
                )?
            };
            let Some(decision) = decision else {
                return Err(BatchError::Entry(
                    "an unauthenticated submission reached the writer".into(),
                ));
            };
            if matches!(decision.kind, EntryKind::Genesis)
                && matches!(decision.verdict, Verdict::Refused(_))
            {
                // A genesis for an existing tenant is answered, never logged: it would be entry
                // n > 0 of a log whose entry 0 is the genesis.
                if let Verdict::Refused(r) = decision.verdict {
                    pendings.push(Pending::Unlogged(r));
                }
                continue;
            }
            if !logs.contains_key(&job.tenant) {
                logs.insert(
                    job.tenant.clone(),
                    TenantLog::new(&job.tenant, origin_of(&origin_prefix, &job.tenant)),
                );
            }
            let log = logs
                .get_mut(&job.tenant)
                .ok_or_else(|| BatchError::Entry("tenant log missing".into()))?;
            touched.insert(job.tenant.clone(), ());
            let (index, pending) = append_decision(txn.as_mut(), log, job, &decision)?;
            apply_effects(txn.as_mut(), &job.tenant, index, &decision, tenants)?;
            pendings.push(pending);
        }
        for tenant in touched.keys() {
            let signer = {
                if !self.signers.contains_key(tenant) {
                    let origin = origin_of(&self.origin_prefix, tenant);
                    let s = NoteSigner::from_seed(&origin, &self.log_seed)
                        .map_err(|e| LogError::Checkpoint(e.to_string()))?;
                    self.signers.insert(tenant.clone(), s);
                }
                self.signers
                    .get(tenant)
                    .ok_or_else(|| LogError::Checkpoint("signer missing".into()))?
            };
            let log = self
                .logs
                .get_mut(tenant)
                .ok_or_else(|| BatchError::Entry("tenant log missing".into()))?;
            log.sign_checkpoint(signer)?;
            txn.put_head(tenant, &log.head())?;
        }
        txn.commit()?;
        Ok(pendings)
    }

    fn receipt(&mut self, tenant: &str, pending: Pending) -> Result<Receipt, SubmitError> {
        let log = self.logs.get(tenant);
        match pending {
            Pending::Unlogged(refusal) => Err(SubmitError::Refused(refusal)),
            Pending::New {
                index,
                leaf,
                entry,
                outcome,
                certificate_entries,
            } => {
                let log =
                    log.ok_or_else(|| SubmitError::Unavailable("tenant log missing".into()))?;
                let proof = log
                    .inclusion_proof(index, Some(&self.reader))
                    .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
                Ok(Receipt {
                    tenant: tenant.to_owned(),
                    index,
                    leaf_hash: leaf,
                    entry,
                    checkpoint: log.checkpoint().to_owned(),
                    inclusion_proof: proof,
                    outcome,
                    certificate_entries,
                    duplicate: false,
                })
            }
            Pending::Existing { index } => {
                let log =
                    log.ok_or_else(|| SubmitError::Unavailable("tenant log missing".into()))?;
                let rows = self
                    .reader
                    .entries(tenant, index, index + 1)
                    .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
                let row = rows
                    .into_iter()
                    .next()
                    .ok_or_else(|| SubmitError::Unavailable(format!("entry {index} missing")))?;
                let entry = LogEntry::from_bytes(&row.entry)
                    .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
                let proof = log
                    .inclusion_proof(index, Some(&self.reader))
                    .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
                Ok(Receipt {
                    tenant: tenant.to_owned(),
                    index,
                    leaf_hash: zkscim_proto::merkle::leaf_hash(&row.entry),
                    entry: row.entry,
                    checkpoint: log.checkpoint().to_owned(),
                    inclusion_proof: proof,
                    outcome: ReceiptOutcome::from_logged(&entry.outcome),
                    certificate_entries: Vec::new(),
                    duplicate: true,
                })
            }
        }
    }
}

/// The checkpoint origin of a tenant's log.
pub fn origin_of(prefix: &str, tenant: &str) -> String {
    format!("{prefix}/{tenant}")
}

fn outcome_of(verdict: &Verdict) -> ReceiptOutcome {
    match verdict {
        Verdict::Applied { version, .. } => ReceiptOutcome::Applied {
            version: version.clone(),
        },
        Verdict::Refused(r) => ReceiptOutcome::Refused(r.clone()),
    }
}

/// One entry to append: what was submitted and what became of it.
struct NewEntry<'a> {
    time: u64,
    kind: EntryKind,
    submitted_hash: [u8; 32],
    submitted: &'a [u8],
    outcome: Outcome,
}

fn append_one(
    txn: &mut dyn StoreTxn,
    log: &mut TenantLog,
    tenant: &str,
    new: NewEntry<'_>,
) -> Result<(u64, Hash, Vec<u8>), BatchError> {
    let entry = LogEntry {
        seq: log.next_seq(),
        tenant: tenant.to_owned(),
        time: new.time,
        kind: new.kind,
        prev_hash: log.last_entry_hash(),
        submitted_hash: new.submitted_hash,
        outcome: new.outcome,
    };
    entry
        .validate()
        .map_err(|e| BatchError::Entry(e.to_string()))?;
    let bytes = entry.to_bytes();
    let seq = entry.seq;
    let (leaf, nodes) = log.append(&bytes)?;
    txn.append_entry(tenant, seq, &bytes, &new.submitted_hash, new.submitted)?;
    let nodes: Vec<(u32, u64, [u8; 32])> =
        nodes.iter().map(|n| (n.level, n.index, n.hash)).collect();
    txn.put_nodes(tenant, &nodes)?;
    Ok((seq, leaf, bytes))
}

fn append_decision(
    txn: &mut dyn StoreTxn,
    log: &mut TenantLog,
    job: &Job,
    decision: &Decision,
) -> Result<(u64, Pending), BatchError> {
    let mut certificate_entries = Vec::new();
    for cert in &decision.new_certificates {
        let (seq, _, _) = append_one(
            txn,
            log,
            &job.tenant,
            NewEntry {
                time: job.now,
                kind: EntryKind::Certificate,
                submitted_hash: cert.id().0,
                submitted: cert.bytes(),
                outcome: Outcome::Applied { version: None },
            },
        )?;
        txn.insert_certificate(&job.tenant, &cert.id().0, cert.bytes(), seq)?;
        certificate_entries.push(seq);
    }
    let outcome = match &decision.verdict {
        Verdict::Applied { version, .. } => Outcome::Applied {
            version: version.clone(),
        },
        Verdict::Refused(r) => Outcome::Refused {
            code: r.code.clone(),
            detail: truncate(&r.detail, 4096),
        },
    };
    let (index, leaf, entry) = append_one(
        txn,
        log,
        &job.tenant,
        NewEntry {
            time: job.now,
            kind: decision.kind,
            submitted_hash: job.submitted_hash,
            submitted: &job.bytes,
            outcome,
        },
    )?;
    txn.insert_nonce(&job.tenant, &decision.nonce, &job.submitted_hash)?;
    Ok((
        index,
        Pending::New {
            index,
            leaf,
            entry,
            outcome: outcome_of(&decision.verdict),
            certificate_entries,
        },
    ))
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

fn apply_effects(
    txn: &mut dyn StoreTxn,
    tenant: &str,
    seq: u64,
    decision: &Decision,
    tenants: &mut HashMap<String, TenantInfo>,
) -> Result<(), BatchError> {
    let Verdict::Applied { effects, .. } = &decision.verdict else {
        return Ok(());
    };
    for effect in effects {
        match effect {
            Effect::Genesis { root } => {
                txn.insert_tenant(tenant, &root.to_bytes())?;
                tenants.insert(tenant.to_owned(), TenantInfo::new(tenant, *root));
            }
            Effect::PutResource {
                resource_type,
                id,
                version,
                body,
                indexes,
            } => {
                txn.put_resource(
                    tenant,
                    &ResourceRow {
                        resource_type: resource_type.clone(),
                        id: id.clone(),
                        version: *version,
                        body: zkscim_rules::stored_body_text(body),
                        last_seq: seq,
                    },
                )?;
                let values: Vec<(String, String)> = indexes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                txn.set_indexes(tenant, resource_type, id, &values)?;
            }
            Effect::DeleteResource { resource_type, id } => {
                txn.delete_resource(tenant, resource_type, id)?;
            }
            Effect::Members {
                group,
                remove_all,
                removed,
                added,
            } => {
                if *remove_all {
                    txn.clear_members(tenant, group)?;
                }
                txn.remove_members(tenant, group, removed)?;
                txn.add_members(tenant, group, added)?;
            }
            Effect::Revoke(id) => txn.insert_revocation(tenant, &id.0, seq)?,
            // The approval's bytes were stored with its entry; the rules re-read them there.
            Effect::RecordApproval { approves, .. } => {
                txn.insert_approval(tenant, approves, seq)?
            }
            Effect::SetPolicy(policy) => {
                // The `profile` column holds the whole policy document; a bare profile (written
                // before lifetime caps existed) reads as a policy without caps.
                txn.set_profile(tenant, &policy.to_bytes())?;
                if let Some(t) = tenants.get_mut(tenant) {
                    t.policy = policy.clone();
                }
            }
        }
    }
    Ok(())
}
