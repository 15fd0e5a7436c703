//! The zkscim authority: verifies every signed SCIM operation without reading protected content,
//! applies it to the tenant's directory and appends it to the tenant's transparency log, in one
//! transaction.
//!
//! Owns: the verification pipeline, the SQLite store, the group-commit log writer, checkpoint
//! signing, reads, the axum router and the embedding API ([`Authority`]). The verdict rules
//! themselves live in `zkscim-rules`, shared with the auditor.
//!
//! Must never: decrypt or inspect sealed values (it holds no tenant secret), apply anything it
//! did not log, log anything it did not apply or refuse, log unauthenticated input, or let one
//! tenant's key or query reach another tenant's data.
#![forbid(unsafe_code)]

pub mod export;
pub mod http;
pub mod log;
pub mod metrics;
mod read;
mod read_nonces;
pub mod store;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, oneshot};
use zkscim_proto::cert::CertId;
use zkscim_proto::envelope::{self, EnvelopeError};
use zkscim_proto::keys::{PublicKey, SigningKey};
use zkscim_proto::log_entry::{LogEntry, Outcome};
use zkscim_proto::merkle::{self, Hash, NodeSource};
use zkscim_proto::note::NoteSigner;
use zkscim_rules::{Refusal, Settings, TenantInfo, Verification};
use zkscim_scim::SchemaRegistry;

use crate::log::{LogError, TenantLog};
use crate::metrics::Metrics;
use crate::store::{Reader, SqliteStore, StoreError};

pub use read::{ListError, ReadAuthError};
pub use writer::origin_of;
pub use zkscim_rules::etag;

/// Largest submission accepted, in bytes.
pub const DEFAULT_MAX_SUBMISSION_BYTES: usize = 1 << 20;

/// Where time comes from. Tests pass a fixed clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }
}

/// How to open an authority.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite database file.
    pub database: PathBuf,
    /// Seed of the log (checkpoint) signing key.
    pub log_key_seed: zeroize::Zeroizing<[u8; 32]>,
    /// Checkpoint origin prefix; each tenant's origin is `<prefix>/<tenant>`.
    pub origin_prefix: String,
    /// Verdict settings (issued-at skew).
    pub settings: Settings,
    /// Most submissions per commit batch.
    pub max_batch: usize,
    /// Largest submission in bytes.
    pub max_submission_bytes: usize,
    /// Time source.
    pub clock: Arc<dyn Clock>,
}

impl Config {
    /// Defaults for a database file and log key.
    pub fn new(database: PathBuf, log_key: &SigningKey) -> Config {
        Config {
            database,
            log_key_seed: log_key.seed(),
            origin_prefix: "zkscim.local".to_owned(),
            settings: Settings::default(),
            max_batch: 512,
            max_submission_bytes: DEFAULT_MAX_SUBMISSION_BYTES,
            clock: Arc::new(SystemClock),
        }
    }
}

/// What a submission produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Applied, with the resulting version where there is one.
    Applied {
        /// ETag of the resulting resource version.
        version: Option<String>,
    },
    /// Refused and logged.
    Refused(Refusal),
}

impl ReceiptOutcome {
    fn from_logged(outcome: &Outcome) -> ReceiptOutcome {
        match outcome {
            Outcome::Applied { version } => ReceiptOutcome::Applied {
                version: version.clone(),
            },
            Outcome::Refused { code, detail } => {
                ReceiptOutcome::Refused(zkscim_rules::refusal_from_log(code, detail))
            }
        }
    }
}

/// Proof that a submission is in the log: index, leaf hash, a signed checkpoint that includes
/// it, and the inclusion proof against that checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Tenant.
    pub tenant: String,
    /// Log index of the submission's entry.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: Hash,
    /// The entry bytes.
    pub entry: Vec<u8>,
    /// Signed checkpoint (C2SP signed note) whose tree includes the entry.
    pub checkpoint: String,
    /// Inclusion proof of `index` in the checkpoint's tree.
    pub inclusion_proof: Vec<Hash>,
    /// Applied or refused.
    pub outcome: ReceiptOutcome,
    /// Indices of the first-seen certificate entries logged just before.
    pub certificate_entries: Vec<u64>,
    /// Whether these exact bytes had been submitted before (nothing changed this time).
    pub duplicate: bool,
}

impl Receipt {
    /// The receipt as JSON (hex for hashes and bytes).
    pub fn to_json(&self) -> Json {
        let outcome = match &self.outcome {
            ReceiptOutcome::Applied { version } => json!({"status": "applied", "version": version}),
            ReceiptOutcome::Refused(r) => json!({
                "status": "refused", "code": r.code, "detail": r.detail,
                "httpStatus": r.status, "scimType": r.scim_type,
            }),
        };
        json!({
            "tenant": self.tenant,
            "index": self.index,
            "leafHash": hex::encode(self.leaf_hash),
            "entry": hex::encode(&self.entry),
            "checkpoint": self.checkpoint,
            "inclusionProof": self.inclusion_proof.iter().map(hex::encode).collect::<Vec<_>>(),
            "outcome": outcome,
            "certificateEntries": self.certificate_entries,
            "duplicate": self.duplicate,
        })
    }
}

/// Why a submission got no receipt.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Larger than the limit.
    #[error("submission is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not a well-formed statement.
    #[error("malformed submission: {0}")]
    Malformed(EnvelopeError),
    /// The tenant does not exist.
    #[error("tenant '{0}' does not exist")]
    UnknownTenant(String),
    /// Not signed by a key the tenant's root empowers.
    #[error("not authenticated: {0}")]
    Unauthenticated(EnvelopeError),
    /// Refused without logging (only a genesis for an existing tenant).
    #[error("{}", .0.detail)]
    Refused(Refusal),
    /// The writer or the store failed; nothing was applied.
    #[error("temporarily unavailable, nothing was applied: {0}")]
    Unavailable(String),
}

impl SubmitError {
    /// Stable machine-readable code.
    pub fn code(&self) -> String {
        match self {
            SubmitError::TooLarge { .. } => "submit.too_large".into(),
            SubmitError::Malformed(e) => e.code().into(),
            SubmitError::UnknownTenant(_) => "tenant.unknown".into(),
            SubmitError::Unauthenticated(e) => e.code().into(),
            SubmitError::Refused(r) => r.code.clone(),
            SubmitError::Unavailable(_) => "submit.unavailable".into(),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            SubmitError::TooLarge { .. } => 413,
            SubmitError::Malformed(_) => 400,
            SubmitError::UnknownTenant(_) => 404,
            SubmitError::Unauthenticated(_) => 401,
            SubmitError::Refused(r) => r.status,
            SubmitError::Unavailable(_) => 503,
        }
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// Bad request parameters.
    #[error("{0}")]
    Invalid(String),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Proof generation failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl ReadError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ReadError::NotFound(_) => 404,
            ReadError::Invalid(_) => 400,
            ReadError::Store(_) | ReadError::Log(_) => 500,
        }
    }
}

struct Inner {
    config: Config,
    tenants: Arc<RwLock<HashMap<String, TenantInfo>>>,
    cert_cache: Mutex<HashSet<CertId>>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Reader>>,
    metrics: Arc<Metrics>,
    registry: Arc<SchemaRegistry>,
    log_public: PublicKey,
    /// Nonces of the signed reads inside the skew window (reads are single-use).
    read_nonces: Mutex<read_nonces::ReadNonces>,
}

use writer::Job;

/// An open authority. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Authority {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("database", &self.inner.config.database)
            .finish_non_exhaustive()
    }
}

/// Why the authority could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Log state failure.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A stored tenant root or profile does not decode.
    #[error("stored tenant '{0}' is corrupt: {1}")]
    Tenant(String, String),
}

impl Authority {
    /// Opens the database (creating it), loads tenants and log heads (never replaying the log),
    /// and starts the writer thread. Must be called inside a Tokio runtime.
    pub fn open(config: Config) -> Result<Authority, OpenError> {
        let store = SqliteStore::open(&config.database)?;
        let reader = store.reader()?;
        let mut tenants = HashMap::new();
        let mut logs = HashMap::new();
        for row in reader.tenants()? {
            let root = PublicKey::from_bytes(&row.root_key)
                .map_err(|e| OpenError::Tenant(row.tenant.clone(), e.to_string()))?;
            let policy = match &row.profile {
                Some(bytes) => zkscim_proto::policy::TenantPolicy::from_bytes(bytes)
                    .map_err(|e| OpenError::Tenant(row.tenant.clone(), e.to_string()))?,
                None => zkscim_proto::policy::TenantPolicy::default_policy(),
            };
            if let Some(head) = reader.head(&row.tenant)? {
                let origin = origin_of(&config.origin_prefix, &row.tenant);
                logs.insert(
                    row.tenant.clone(),
                    TenantLog::resume(&row.tenant, origin, &head)?,
                );
            }
            let info = TenantInfo {
                tenant: row.tenant.clone(),
                root,
                policy,
            };
            tenants.insert(row.tenant, info);
        }
        let tenants = Arc::new(RwLock::new(tenants));
        let metrics = Arc::new(Metrics::default());
        let registry = Arc::new(SchemaRegistry::with_builtins());
        let (tx, rx) = mpsc::channel(config.max_batch.max(1) * 4);
        let writer = writer::Writer {
            reader: store.reader()?,
            store,
            logs,
            tenants: Arc::clone(&tenants),
            registry: Arc::clone(&registry),
            log_seed: config.log_key_seed.clone(),
            signers: HashMap::new(),
            origin_prefix: config.origin_prefix.clone(),
            max_batch: config.max_batch.max(1),
            metrics: Arc::clone(&metrics),
        };
        let handle = std::thread::Builder::new()
            .name("zkscim-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| {
                OpenError::Store(StoreError::Corrupt(format!(
                    "cannot start the writer thread: {e}"
                )))
            })?;
        let log_public = SigningKey::from_seed(&config.log_key_seed).public_key();
        Ok(Authority {
            inner: Arc::new(Inner {
                config,
                tenants,
                cert_cache: Mutex::new(HashSet::new()),
                queue: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                readers: Mutex::new(vec![reader]),
                metrics,
                registry,
                log_public,
                read_nonces: Mutex::new(read_nonces::ReadNonces::new(
                    read_nonces::MAX_TRACKED_READS,
                    read_nonces::MAX_TRACKED_READS_PER_TENANT,
                )),
            }),
        })
    }

    /// The log's public key.
    pub fn log_public_key(&self) -> PublicKey {
        self.inner.log_public
    }

    /// The C2SP verifier key text of a tenant's log (`<origin>+<hash>+<base64>`).
    pub fn log_verifier_key(&self, tenant: &str) -> Result<String, ReadError> {
        let origin = origin_of(&self.inner.config.origin_prefix, tenant);
        let signer = NoteSigner::from_seed(&origin, &self.inner.config.log_key_seed)
            .map_err(|e| ReadError::Invalid(e.to_string()))?;
        Ok(signer
            .verifier_key()
            .map_err(|e| ReadError::Invalid(e.to_string()))?
            .to_string())
    }

    /// The checkpoint origin of a tenant's log.
    pub fn origin(&self, tenant: &str) -> String {
        origin_of(&self.inner.config.origin_prefix, tenant)
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The SCIM schema registry in use.
    pub fn registry(&self) -> &SchemaRegistry {
        &self.inner.registry
    }

    /// Whether the tenant exists.
    pub fn tenant_exists(&self, tenant: &str) -> bool {
        self.inner
            .tenants
            .read()
            .map(|t| t.contains_key(tenant))
            .unwrap_or(false)
    }

    /// A tenant's protection profile and root key.
    pub fn tenant(&self, tenant: &str) -> Option<TenantInfo> {
        self.inner.tenants.read().ok()?.get(tenant).cloned()
    }

    /// Submits a signed statement (operation, revocation, policy) to `tenant`'s log, or a
    /// genesis creating `tenant` when `allow_genesis` (the caller authenticated the operator).
    /// Refusals of well-signed statements come back as receipts with a refused outcome.
    pub async fn submit(
        &self,
        tenant: &str,
        bytes: Vec<u8>,
        allow_genesis: bool,
    ) -> Result<Receipt, SubmitError> {
        let max = self.inner.config.max_submission_bytes;
        if bytes.len() > max {
            self.inner.metrics.record_rejected("submit.too_large");
            return Err(SubmitError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        // Verified right here, on whichever runtime thread runs this submission: concurrent
        // submissions (and the items of a batch, each its own task) spread over every worker.
        // A statement costs one signature check once its chain's certificates are cached, tens
        // of microseconds; handing each to the blocking pool cost more in thread wake-ups
        // (measured: futex and scheduler time were ~12% of the server's CPU).
        let verified = verify_submission(&self.inner, tenant, bytes, allow_genesis);
        let (verification, bytes, now) = match verified {
            Ok(v) => v,
            Err(e) => {
                self.inner.metrics.record_rejected(&e.code());
                return Err(e);
            }
        };
        let submitted_hash = zkscim_proto::log_entry::submitted_hash_of(&bytes);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            tenant: tenant.to_owned(),
            verification,
            bytes,
            submitted_hash,
            now,
            reply,
        };
        let sender = self
            .inner
            .queue
            .lock()
            .ok()
            .and_then(|q| q.clone())
            .ok_or_else(|| SubmitError::Unavailable("the authority is shutting down".into()))?;
        sender
            .send(job)
            .await
            .map_err(|_| SubmitError::Unavailable("the log writer stopped".into()))?;
        answer
            .await
            .map_err(|_| SubmitError::Unavailable("the log writer stopped".into()))?
    }

    /// Stops accepting submissions, lets the writer finish the batch in flight, and waits for it.
    pub fn shutdown(&self) {
        if let Ok(mut q) = self.inner.queue.lock() {
            q.take();
        }
        let handle = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        let pooled = self.inner.readers.lock().ok().and_then(|mut p| p.pop());
        let reader = match pooled {
            Some(r) => r,
            None => store::open_reader(&self.inner.config.database)?,
        };
        let result = f(&reader);
        if let Ok(mut pool) = self.inner.readers.lock() {
            if pool.len() < 8 {
                pool.push(reader);
            }
        }
        result
    }

    /// Stores a witness's cosignature line (C2SP tlog-cosignature) for the latest checkpoint.
    /// The server cannot judge witnesses (it does not know their keys); it only checks the line
    /// is a well-formed signature line on the checkpoint, and serves it for clients to verify.
    pub fn add_cosignature(&self, tenant: &str, line: &str) -> Result<u64, ReadError> {
        let (size, note) = self.checkpoint_only(tenant)?;
        let mut line = line.trim_end_matches(['\r', '\n']).to_owned();
        line.push('\n');
        if line.matches('\n').count() != 1 || !line.starts_with("— ") {
            return Err(ReadError::Invalid(
                "a cosignature is one signature line: '— <name> <base64>'".into(),
            ));
        }
        let combined = format!("{note}{line}");
        let parsed = zkscim_proto::note::SignedNote::parse(&combined).map_err(|e| {
            ReadError::Invalid(format!("not a signature line for this checkpoint: {e}"))
        })?;
        let before = zkscim_proto::note::SignedNote::parse(&note)
            .map_err(|e| ReadError::Invalid(e.to_string()))?;
        if parsed.signatures().len() != before.signatures().len() + 1 {
            return Err(ReadError::Invalid("the line adds no signature".into()));
        }
        if !store::add_cosignature(&self.inner.config.database, tenant, size, &line)? {
            return Err(ReadError::Invalid(format!(
                "this checkpoint already has {} cosignatures",
                store::MAX_COSIGNATURES
            )));
        }
        Ok(size)
    }

    fn checkpoint_only(&self, tenant: &str) -> Result<(u64, String), ReadError> {
        self.with_reader(|r| {
            let head = r
                .head(tenant)?
                .ok_or_else(|| ReadError::NotFound(format!("tenant '{tenant}' has no log")))?;
            Ok((head.size, head.checkpoint))
        })
    }

    /// Log size and latest signed checkpoint, with the witness cosignatures stored for it.
    pub fn checkpoint(&self, tenant: &str) -> Result<(u64, String), ReadError> {
        let (size, mut note) = self.checkpoint_only(tenant)?;
        for line in self.with_reader(|r| Ok(r.cosignatures(tenant, size)?))? {
            note.push_str(&line);
        }
        Ok((size, note))
    }

    /// Log entries `[start, end)` with their submitted-bytes hashes: the event feed. Resume after
    /// any index by asking from it; entries never change, so re-reading is idempotent.
    pub fn entries(
        &self,
        tenant: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<store::EntryRow>, ReadError> {
        if end < start || end - start > 10_000 {
            return Err(ReadError::Invalid(
                "ask for at most 10,000 entries, with start ≤ end".into(),
            ));
        }
        self.with_reader(|r| Ok(r.entries(tenant, start, end)?))
    }

    /// The event feed: decoded log entries from index `cursor` on (at most `limit`, ≤ 1000), and
    /// the cursor to pass next time. The log is the feed, so resuming after any index is exact
    /// and re-reading is idempotent.
    pub fn events(
        &self,
        tenant: &str,
        cursor: u64,
        limit: u64,
    ) -> Result<(Vec<LogEntry>, u64), ReadError> {
        let (size, _) = self.checkpoint(tenant)?;
        let end = size.min(cursor.saturating_add(limit.min(1000)));
        if cursor >= end {
            return Ok((Vec::new(), cursor));
        }
        let rows = self.entries(tenant, cursor, end)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(
                LogEntry::from_bytes(&row.entry)
                    .map_err(|e| ReadError::Store(StoreError::Corrupt(e.to_string())))?,
            );
        }
        Ok((events, end))
    }

    /// Writes the tenant's log as an export file (see [`export::write_export`]).
    pub fn export<W: std::io::Write>(
        &self,
        tenant: &str,
        out: W,
    ) -> Result<(W, u64), export::ExportFailure> {
        let key = self
            .log_verifier_key(tenant)
            .map_err(|e| export::ExportFailure::Store(StoreError::Corrupt(e.to_string())))?;
        let reader = store::open_reader(&self.inner.config.database)?;
        export::write_export(&reader, tenant, &self.origin(tenant), &key, out)
    }

    /// The exact bytes submitted with a given hash.
    pub fn submitted(&self, tenant: &str, hash: &[u8; 32]) -> Result<Vec<u8>, ReadError> {
        self.with_reader(|r| {
            r.submitted(tenant, hash)?.ok_or_else(|| {
                ReadError::NotFound(format!(
                    "no submission {} in tenant '{tenant}'",
                    hex::encode(hash)
                ))
            })
        })
    }

    /// Inclusion proof of `index` in the tree of size `size`.
    pub fn inclusion_proof(
        &self,
        tenant: &str,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ReadError> {
        self.with_reader(|r| {
            let source = StoredNodes { reader: r, tenant };
            merkle::inclusion_proof(&source, index, size)
                .map_err(|e| ReadError::Invalid(e.to_string()))
        })
    }

    /// Consistency proof between tree sizes `old` and `new`.
    pub fn consistency_proof(
        &self,
        tenant: &str,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, ReadError> {
        self.with_reader(|r| {
            let source = StoredNodes { reader: r, tenant };
            merkle::consistency_proof(&source, old, new)
                .map_err(|e| ReadError::Invalid(e.to_string()))
        })
    }

    /// One resource as SCIM JSON (group members assembled), with its version.
    pub fn resource(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<(Json, u64), ReadError> {
        self.with_reader(|r| {
            let row = r
                .resource(tenant, resource_type, id)?
                .ok_or_else(|| ReadError::NotFound(format!("{resource_type} '{id}' not found")))?;
            Ok((assemble(r, tenant, resource_type, &row)?, row.version))
        })
    }

    /// Every resource of a type, as SCIM JSON, ordered by id.
    pub fn resources(&self, tenant: &str, resource_type: &str) -> Result<Vec<Json>, ReadError> {
        self.with_reader(|r| {
            r.resources(tenant, resource_type)?
                .iter()
                .map(|row| assemble(r, tenant, resource_type, row))
                .collect()
        })
    }

    /// Equality-search values of a resource (attribute → token or normalised clear value).
    pub fn resource_indexes(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>, ReadError> {
        self.with_reader(|r| Ok(r.resource_indexes(tenant, resource_type, id)?))
    }

    /// Members of a group.
    pub fn members(&self, tenant: &str, group: &str) -> Result<Vec<String>, ReadError> {
        self.with_reader(|r| Ok(r.members(tenant, group)?))
    }

    /// Whether an identity is active (absent `active` counts as active).
    pub fn is_active(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<bool, ReadError> {
        let (body, _) = self.resource(tenant, resource_type, id)?;
        Ok(body.get("active").and_then(Json::as_bool).unwrap_or(true))
    }

    /// The directory digest (see `zkscim_rules::DirectoryDigest`), for auditors.
    pub fn directory_digest(&self, tenant: &str) -> Result<[u8; 32], ReadError> {
        self.with_reader(|r| {
            let mut digest = zkscim_rules::DirectoryDigest::new();
            for row in r.all_resources(tenant)? {
                let body: Json = serde_json::from_str(&row.body)
                    .map_err(|e| ReadError::Store(StoreError::Corrupt(e.to_string())))?;
                digest.resource(&row.resource_type, &row.id, row.version, &body);
            }
            for (group, member) in r.all_members(tenant)? {
                digest.member(&group, &member);
            }
            Ok(digest.finish())
        })
    }
}

fn assemble(
    r: &Reader,
    tenant: &str,
    resource_type: &str,
    row: &store::ResourceRow,
) -> Result<Json, ReadError> {
    let mut body: Json = serde_json::from_str(&row.body)
        .map_err(|e| ReadError::Store(StoreError::Corrupt(e.to_string())))?;
    if resource_type == "Group" {
        let members = r.members(tenant, &row.id)?;
        if let Json::Object(map) = &mut body {
            map.insert(
                "members".into(),
                Json::Array(members.into_iter().map(|m| json!({"value": m})).collect()),
            );
        }
    }
    Ok(body)
}

struct StoredNodes<'a> {
    reader: &'a Reader,
    tenant: &'a str,
}

impl NodeSource for StoredNodes<'_> {
    type Error = LogError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, LogError> {
        self.reader
            .node(self.tenant, level, index)?
            .ok_or_else(|| LogError::Node {
                level,
                index,
                reason: "not in the store".into(),
            })
    }
}

/// Verified certificate ids shared by all verifying threads. A certificate id covers its signed
/// bytes, so an entry never goes stale; revocation is checked separately, against the store.
struct SharedCache<'a>(&'a Mutex<HashSet<CertId>>);

impl zkscim_proto::cert::VerifiedCache for SharedCache<'_> {
    fn is_verified(&self, id: &CertId) -> bool {
        self.0.lock().map(|c| c.contains(id)).unwrap_or(false)
    }
    fn mark_verified(&mut self, id: CertId) {
        if let Ok(mut c) = self.0.lock() {
            c.insert(id);
        }
    }
}

/// Stage A: parse and verify without state. Returns the verification, the bytes and the decision time.
fn verify_submission(
    inner: &Inner,
    tenant: &str,
    bytes: Vec<u8>,
    allow_genesis: bool,
) -> Result<(Verification, Vec<u8>, u64), SubmitError> {
    let statement = envelope::parse_any(&bytes).map_err(SubmitError::Malformed)?;
    let is_genesis = matches!(statement, envelope::Statement::Genesis(_));
    if is_genesis && !allow_genesis {
        return Err(SubmitError::Unauthenticated(
            EnvelopeError::TenantMismatch {
                expected: "an operator-authorised tenant creation".into(),
                found: "a genesis without operator credentials".into(),
            },
        ));
    }
    let info = inner
        .tenants
        .read()
        .ok()
        .and_then(|t| t.get(tenant).cloned());
    if info.is_none() && !is_genesis {
        return Err(SubmitError::UnknownTenant(tenant.to_owned()));
    }
    let now = inner.config.clock.now();
    let mut cache = SharedCache(&inner.cert_cache);
    let verification = zkscim_rules::verify(
        &statement,
        info.as_ref(),
        tenant,
        now,
        inner.config.settings,
        &mut cache,
    );
    match verification {
        Verification::Forged(e) => Err(SubmitError::Unauthenticated(e)),
        v => Ok((v, bytes, now)),
    }
}
