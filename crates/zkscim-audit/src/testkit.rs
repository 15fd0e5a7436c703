//! Builders of real tenant logs and exports, for tests and benchmarks: a genesis signed by the
//! root key, certificates issued by it, root-signed SCIM operations, and checkpoints signed by
//! the log key — exactly the objects a server logs, so the auditor is exercised on real bytes.
//!
//! Never for production: the keys are public RFC 8032 test vectors, nonces are derived from the
//! sequence number, and outcomes are written as "applied" without consulting any rules.

use std::collections::BTreeMap;
use std::io::Write;

use zkscim_proto::cert::{Certificate, Claims};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::envelope::{Change, Envelope, Genesis, Header, OperationBody};
use zkscim_proto::export::{self, CheckpointRecord, EntryRecord, ExportWriter, Item};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::log_entry::{
    entry_hash_of, leaf_hash_of, submitted_hash_of, EntryKind, LogEntry, Outcome, ZERO_HASH,
};
use zkscim_proto::merkle::{Frontier, Hash};
use zkscim_proto::note::{NoteSigner, VerifierKey};
use zkscim_proto::scope::ScopeBuilder;

use crate::auditor::TrustAnchors;

mod consistent;
pub use consistent::{generate_consistent_export, CONSISTENT_ORIGIN, CONSISTENT_TENANT};

/// RFC 8032 §7.1 TEST 1 secret key: the test tenant root.
pub const TEST_ROOT_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
/// RFC 8032 §7.1 TEST 1024 secret key: the test log key.
pub const TEST_LOG_SEED: [u8; 32] = [
    0xf5, 0xe5, 0x76, 0x7c, 0xf1, 0x53, 0x31, 0x95, 0x17, 0x63, 0x0f, 0x22, 0x68, 0x76, 0xb8, 0x6c,
    0x81, 0x60, 0xcc, 0x58, 0x3b, 0xc0, 0x13, 0x74, 0x4c, 0x6b, 0xf2, 0x55, 0xf5, 0xcc, 0x0e, 0xe5,
];

/// Why a test log could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct BuildError {
    code: &'static str,
    message: String,
}

impl BuildError {
    fn new(code: &'static str, e: impl std::fmt::Display) -> BuildError {
        BuildError {
            code,
            message: e.to_string(),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// The appending side of a log: chain head, Merkle frontier, keys.
#[derive(Debug)]
struct Core {
    tenant: String,
    origin: String,
    root: SigningKey,
    log: NoteSigner,
    frontier: Frontier,
    prev_hash: Hash,
    next_seq: u64,
    time: u64,
}

impl Core {
    fn new(
        tenant: &str,
        origin: &str,
        root_seed: &[u8; 32],
        log_seed: &[u8; 32],
        time: u64,
    ) -> Result<Core, BuildError> {
        Ok(Core {
            tenant: tenant.to_owned(),
            origin: origin.to_owned(),
            root: SigningKey::from_seed(root_seed),
            log: NoteSigner::from_seed(origin, log_seed)
                .map_err(|e| BuildError::new("testkit.log_key", e))?,
            frontier: Frontier::new(),
            prev_hash: ZERO_HASH,
            next_seq: 0,
            time,
        })
    }

    fn nonce(&self, salt: u8) -> Vec<u8> {
        let mut nonce = vec![salt; 16];
        if let Some(tail) = nonce.get_mut(8..16) {
            tail.copy_from_slice(&self.next_seq.to_be_bytes());
        }
        nonce
    }

    fn append(
        &mut self,
        kind: EntryKind,
        submitted: Vec<u8>,
        outcome: Outcome,
    ) -> Result<EntryRecord, BuildError> {
        let entry = LogEntry {
            seq: self.next_seq,
            tenant: self.tenant.clone(),
            time: self.time,
            kind,
            prev_hash: self.prev_hash,
            submitted_hash: submitted_hash_of(&submitted),
            outcome,
        };
        let bytes = entry.to_bytes();
        self.frontier
            .append_with(leaf_hash_of(&bytes), |_| {})
            .map_err(|e| BuildError::new("testkit.merkle", e))?;
        self.prev_hash = entry_hash_of(&bytes);
        self.next_seq = self.next_seq.saturating_add(1);
        self.time = self.time.saturating_add(1);
        Ok(EntryRecord {
            seq: entry.seq,
            entry: bytes,
            submitted,
        })
    }

    fn genesis(&mut self) -> Result<EntryRecord, BuildError> {
        let header = Header {
            tenant: self.tenant.clone(),
            nonce: self.nonce(0x47),
            issued_at: self.time,
            chain: Vec::new(),
        };
        let body = Genesis {
            root: self.root.public_key(),
        };
        let bytes = Envelope::new(header, body).sign(&self.root);
        self.append(
            EntryKind::Genesis,
            bytes,
            Outcome::Applied { version: None },
        )
    }

    fn operation(&mut self) -> Result<EntryRecord, BuildError> {
        let seq = self.next_seq;
        let id = format!("00000000-0000-4000-8000-{:012x}", seq & 0xffff_ffff_ffff);
        let resource = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("zk1.user{seq}"),
            "active": true,
        });
        let change =
            Change::create(&resource).map_err(|e| BuildError::new("testkit.operation", e))?;
        let header = Header {
            tenant: self.tenant.clone(),
            nonce: self.nonce(0x4f),
            issued_at: self.time,
            chain: Vec::new(),
        };
        let body = OperationBody {
            resource_type: "User".to_owned(),
            resource_id: id,
            if_match: None,
            change,
            indexes: BTreeMap::new(),
        };
        let bytes = Envelope::new(header, body).sign(&self.root);
        self.append(
            EntryKind::Operation,
            bytes,
            Outcome::Applied {
                version: Some("W/\"1\"".to_owned()),
            },
        )
    }

    fn certificate(&mut self) -> Result<EntryRecord, BuildError> {
        let mut subject_seed = [0x5a; 32];
        if let Some(tail) = subject_seed.get_mut(24..32) {
            tail.copy_from_slice(&self.next_seq.to_be_bytes());
        }
        let mut nonce = [0x43; 16];
        if let Some(tail) = nonce.get_mut(8..16) {
            tail.copy_from_slice(&self.next_seq.to_be_bytes());
        }
        let scope = ScopeBuilder::new()
            .operations(["create", "patch"])
            .resource_types(["User"])
            .attributes(["active"])
            .build()
            .map_err(|e| BuildError::new("testkit.scope", e))?;
        let claims = Claims {
            issuer: KeyId([0; 32]),
            subject: SigningKey::from_seed(&subject_seed).public_key(),
            tenant: self.tenant.clone(),
            not_before: self.time,
            expires: self.time.saturating_add(86_400),
            issued_at: self.time,
            nonce,
            parent: None,
            depth: 0,
            label: "test-connector".to_owned(),
            scope,
        };
        let cert = Certificate::issue(&self.root, None, claims)
            .map_err(|e| BuildError::new("testkit.certificate", e))?;
        self.append(
            EntryKind::Certificate,
            cert.bytes().to_vec(),
            Outcome::Applied { version: None },
        )
    }

    fn checkpoint(&self) -> Result<String, BuildError> {
        let cp = Checkpoint::new(&self.origin, self.frontier.size(), self.frontier.root())
            .map_err(|e| BuildError::new("testkit.checkpoint", e))?;
        self.log
            .sign(&cp.to_text())
            .map_err(|e| BuildError::new("testkit.checkpoint", e))
    }

    fn anchors(&self) -> Result<TrustAnchors, BuildError> {
        Ok(TrustAnchors {
            root_key: self.root.public_key(),
            log_key: self
                .log
                .verifier_key()
                .map_err(|e| BuildError::new("testkit.log_key", e))?,
            witness_keys: Vec::new(),
        })
    }

    fn header(&self, first_seq: u64, count: u64) -> Result<export::Header, BuildError> {
        Ok(export::Header {
            tenant: self.tenant.clone(),
            origin: self.origin.clone(),
            log_key: self.anchors()?.log_key.to_string(),
            root_key: self.root.public_key().to_text(),
            first_seq,
            count,
        })
    }
}

/// An in-memory log: every record kept, so tests can export it whole, in part, or tampered.
#[derive(Debug)]
pub struct LogBuilder {
    core: Core,
    items: Vec<Item>,
    leaves: Vec<Hash>,
}

impl LogBuilder {
    /// A log for `tenant` whose checkpoints carry `origin` (also the log key's name), with the
    /// genesis entry already appended. Keys are the RFC 8032 test keys.
    pub fn new(tenant: &str, origin: &str) -> Result<LogBuilder, BuildError> {
        LogBuilder::with_keys(tenant, origin, &TEST_ROOT_SEED, &TEST_LOG_SEED)
    }

    /// Like [`LogBuilder::new`] with chosen key seeds; the genesis names the root key.
    pub fn with_keys(
        tenant: &str,
        origin: &str,
        root_seed: &[u8; 32],
        log_seed: &[u8; 32],
    ) -> Result<LogBuilder, BuildError> {
        let mut b = LogBuilder {
            core: Core::new(tenant, origin, root_seed, log_seed, 1_767_225_600)?,
            items: Vec::new(),
            leaves: Vec::new(),
        };
        let g = b.core.genesis()?;
        b.push(g);
        Ok(b)
    }

    fn push(&mut self, e: EntryRecord) -> u64 {
        self.leaves.push(leaf_hash_of(&e.entry));
        let seq = e.seq;
        self.items.push(Item::Entry(e));
        seq
    }

    /// Appends a root-signed SCIM create; returns its sequence number.
    pub fn operation(&mut self) -> Result<u64, BuildError> {
        let e = self.core.operation()?;
        Ok(self.push(e))
    }

    /// Appends a certificate the root issued; returns its sequence number.
    pub fn certificate(&mut self) -> Result<u64, BuildError> {
        let e = self.core.certificate()?;
        Ok(self.push(e))
    }

    /// Appends an entry with arbitrary submitted bytes.
    pub fn raw(
        &mut self,
        kind: EntryKind,
        submitted: Vec<u8>,
        outcome: Outcome,
    ) -> Result<u64, BuildError> {
        let e = self.core.append(kind, submitted, outcome)?;
        Ok(self.push(e))
    }

    /// Appends a checkpoint over everything so far, signed by the log key; returns its note.
    pub fn checkpoint(&mut self) -> Result<String, BuildError> {
        let note = self.core.checkpoint()?;
        self.items.push(Item::Checkpoint(CheckpointRecord {
            note: note.clone(),
            cosignatures: Vec::new(),
        }));
        Ok(note)
    }

    /// The trust anchors matching this log's keys.
    pub fn anchors(&self) -> Result<TrustAnchors, BuildError> {
        self.core.anchors()
    }

    /// The log's note verifier key.
    pub fn log_key(&self) -> Result<VerifierKey, BuildError> {
        Ok(self.core.anchors()?.log_key)
    }

    /// The records so far, in order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The leaf hashes so far (for proofs).
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.core.next_seq
    }

    /// The header of an export starting at `first_seq` with `count` entries.
    pub fn header(&self, first_seq: u64, count: u64) -> Result<export::Header, BuildError> {
        self.core.header(first_seq, count)
    }

    /// A full export of the log as it stands.
    pub fn export(&self) -> Result<Vec<u8>, BuildError> {
        self.export_items(0, &self.items)
    }

    /// An incremental export: entries from `first_seq` on, and the checkpoints after them.
    pub fn export_from(&self, first_seq: u64) -> Result<Vec<u8>, BuildError> {
        let mut seq = 0u64;
        let mut items = Vec::new();
        for item in &self.items {
            match item {
                Item::Entry(e) => {
                    seq = e.seq.saturating_add(1);
                    if e.seq >= first_seq {
                        items.push(item.clone());
                    }
                }
                Item::Checkpoint(_) => {
                    if seq > first_seq {
                        items.push(item.clone());
                    }
                }
            }
        }
        self.export_items(first_seq, &items)
    }

    /// Exports chosen (possibly tampered) records with a correct header count and end digest,
    /// the way a dishonest server that controls the export would.
    pub fn export_items(&self, first_seq: u64, items: &[Item]) -> Result<Vec<u8>, BuildError> {
        let count = items.iter().filter(|i| matches!(i, Item::Entry(_))).count() as u64;
        let header = self.header(first_seq, count)?;
        export::encode(&header, items).map_err(|e| BuildError::new("testkit.export", e))
    }
}

/// Streams an `entries`-entry export (genesis, then root-signed operations with a certificate
/// every 100th entry) to `out`, with a checkpoint every `checkpoint_every` entries and one at
/// the end, holding one entry in memory at a time. For benchmarks at 10^6 entries.
pub fn generate_export<W: Write>(
    out: W,
    tenant: &str,
    origin: &str,
    entries: u64,
    checkpoint_every: u64,
) -> Result<W, BuildError> {
    let mut core = Core::new(
        tenant,
        origin,
        &TEST_ROOT_SEED,
        &TEST_LOG_SEED,
        1_767_225_600,
    )?;
    let header = core.header(0, entries)?;
    let wrap = |e| BuildError::new("testkit.export", e);
    let mut w = ExportWriter::new(out, &header).map_err(wrap)?;
    let every = checkpoint_every.max(1);
    for i in 0..entries {
        let e = if i == 0 {
            core.genesis()?
        } else if i % 100 == 1 {
            core.certificate()?
        } else {
            core.operation()?
        };
        w.write_entry(e.seq, &e.entry, &e.submitted).map_err(wrap)?;
        let size = i.saturating_add(1);
        if size % every == 0 || size == entries {
            w.write_checkpoint(&core.checkpoint()?, &[]).map_err(wrap)?;
        }
    }
    w.finish().map_err(wrap)
}
