//! Per-tenant transparency log state held by the writer: the next index, the last entry hash,
//! the Merkle frontier, a cache of recent subtree hashes for fast receipts, and checkpoint signing.
//!
//! The frontier is persisted with every batch (in the log head), so start-up never replays the
//! log. The cache only speeds up proofs; every node it holds is also in the store, and a cache
//! miss falls back to the store.

use std::collections::VecDeque;

use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::log_entry::ZERO_HASH;
use zkscim_proto::merkle::{self, CompletedNode, Frontier, Hash, NodeSource};
use zkscim_proto::note::NoteSigner;

use crate::store::{LogHead, Reader, StoreError};

/// How many of the most recent completed nodes each level keeps in memory. Receipts need the
/// siblings of recent leaves, which are always among the last few nodes of each level.
const RECENT_NODES_PER_LEVEL: usize = 4096;

/// Why log bookkeeping failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Merkle arithmetic refused (corrupt frontier, size overflow).
    #[error("merkle: {0}")]
    Merkle(#[from] merkle::MerkleError),
    /// A stored node is missing or unreadable.
    #[error("merkle node level {level} index {index} unavailable: {reason}")]
    Node {
        /// Level.
        level: u32,
        /// Index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// Checkpoint or note signing refused.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Store failure.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl LogError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            LogError::Merkle(e) => e.code(),
            LogError::Node { .. } => "log.node_unavailable",
            LogError::Checkpoint(_) => "log.checkpoint",
            LogError::Store(e) => e.code(),
        }
    }
}

/// Recent completed subtree hashes, per level.
#[derive(Debug, Default, Clone)]
pub struct NodeCache {
    levels: Vec<VecDeque<(u64, Hash)>>,
}

impl NodeCache {
    fn insert(&mut self, node: &CompletedNode) {
        let level = node.level as usize;
        while self.levels.len() <= level {
            self.levels.push(VecDeque::new());
        }
        if let Some(queue) = self.levels.get_mut(level) {
            queue.push_back((node.index, node.hash));
            if queue.len() > RECENT_NODES_PER_LEVEL {
                queue.pop_front();
            }
        }
    }

    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        let queue = self.levels.get(level as usize)?;
        let (first, _) = queue.front()?;
        let offset = usize::try_from(index.checked_sub(*first)?).ok()?;
        queue
            .get(offset)
            .filter(|(i, _)| *i == index)
            .map(|(_, h)| *h)
    }
}

/// Nodes from the cache, else from a store reader.
#[derive(Debug)]
pub struct LogNodes<'a> {
    /// Tenant whose tree this is.
    pub tenant: &'a str,
    /// Recent nodes.
    pub cache: &'a NodeCache,
    /// Fallback.
    pub reader: Option<&'a Reader>,
}

impl NodeSource for LogNodes<'_> {
    type Error = LogError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, LogError> {
        if let Some(hash) = self.cache.get(level, index) {
            return Ok(hash);
        }
        let missing = |reason: &str| LogError::Node {
            level,
            index,
            reason: reason.to_owned(),
        };
        let reader = self
            .reader
            .ok_or_else(|| missing("not cached and no store reader"))?;
        reader
            .node(self.tenant, level, index)?
            .ok_or_else(|| missing("not in the store"))
    }
}

/// The writer's view of one tenant's log.
#[derive(Debug, Clone)]
pub struct TenantLog {
    /// Tenant id.
    pub tenant: String,
    /// Checkpoint origin line (`<prefix>/<tenant>`), also the signing key's note name.
    pub origin: String,
    frontier: Frontier,
    last_entry_hash: Hash,
    cache: NodeCache,
    checkpoint: String,
}

impl TenantLog {
    /// An empty log.
    pub fn new(tenant: &str, origin: String) -> TenantLog {
        TenantLog {
            tenant: tenant.to_owned(),
            origin,
            frontier: Frontier::new(),
            last_entry_hash: ZERO_HASH,
            cache: NodeCache::default(),
            checkpoint: String::new(),
        }
    }

    /// Resumes from a persisted head.
    pub fn resume(tenant: &str, origin: String, head: &LogHead) -> Result<TenantLog, LogError> {
        let frontier = Frontier::from_bytes(&head.frontier)?;
        if frontier.size() != head.size {
            return Err(LogError::Checkpoint(format!(
                "stored frontier covers {} entries but the head says {}",
                frontier.size(),
                head.size
            )));
        }
        // The receipts of leaves appended from now on need, of the nodes completed before, only
        // the frontier's: every older sibling on their paths is a perfect subtree of the tree
        // as it is now (one per set bit of the size). Seeded here, no receipt reads the store.
        let mut cache = NodeCache::default();
        let size = frontier.size();
        let levels = (0..u64::BITS)
            .rev()
            .filter(|level| (size >> level) & 1 == 1);
        for (level, hash) in levels.zip(frontier.hashes()) {
            cache.insert(&CompletedNode {
                level,
                index: (size >> level) - 1,
                hash: *hash,
            });
        }
        Ok(TenantLog {
            tenant: tenant.to_owned(),
            origin,
            frontier,
            last_entry_hash: head.last_entry_hash,
            cache,
            checkpoint: head.checkpoint.clone(),
        })
    }

    /// Index the next entry gets.
    pub fn next_seq(&self) -> u64 {
        self.frontier.size()
    }

    /// Hash of the last entry (the next entry's `prev_hash`).
    pub fn last_entry_hash(&self) -> Hash {
        self.last_entry_hash
    }

    /// Appends an entry given its bytes; returns its leaf hash and the completed nodes to store.
    pub fn append(&mut self, entry_bytes: &[u8]) -> Result<(Hash, Vec<CompletedNode>), LogError> {
        let leaf = merkle::leaf_hash(entry_bytes);
        let nodes = self.frontier.append(leaf)?;
        for node in &nodes {
            self.cache.insert(node);
        }
        self.last_entry_hash = zkscim_proto::log_entry::entry_hash_of(entry_bytes);
        Ok((leaf, nodes))
    }

    /// Current tree size.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Signs a checkpoint of the current tree and remembers it.
    pub fn sign_checkpoint(&mut self, signer: &NoteSigner) -> Result<String, LogError> {
        let checkpoint = Checkpoint::new(&self.origin, self.size(), self.root())
            .map_err(|e| LogError::Checkpoint(e.to_string()))?;
        let note = signer
            .sign(&checkpoint.to_text())
            .map_err(|e| LogError::Checkpoint(e.to_string()))?;
        self.checkpoint = note.clone();
        Ok(note)
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The head to persist.
    pub fn head(&self) -> LogHead {
        LogHead {
            size: self.size(),
            last_entry_hash: self.last_entry_hash,
            frontier: self.frontier.to_bytes(),
            checkpoint: self.checkpoint.clone(),
        }
    }

    /// Inclusion proof of leaf `index` in the current tree.
    pub fn inclusion_proof(
        &self,
        index: u64,
        reader: Option<&Reader>,
    ) -> Result<Vec<Hash>, LogError> {
        let nodes = LogNodes {
            tenant: &self.tenant,
            cache: &self.cache,
            reader,
        };
        merkle::inclusion_proof(&nodes, index, self.size()).map_err(proof_error)
    }
}

/// Flattens a proof-generation error.
pub fn proof_error(e: merkle::ProofError<LogError>) -> LogError {
    match e {
        merkle::ProofError::Merkle(m) => LogError::Merkle(m),
        merkle::ProofError::Source { source, .. } => source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_from_cache_verify_and_resume_keeps_root() {
        let signer = NoteSigner::from_seed("test/acme", &[7; 32]).unwrap();
        let mut log = TenantLog::new("acme", "test/acme".into());
        let mut leaves = Vec::new();
        for i in 0..300u32 {
            let (leaf, _) = log.append(&i.to_be_bytes()).unwrap();
            leaves.push(leaf);
        }
        log.sign_checkpoint(&signer).unwrap();
        let root = log.root();
        for index in [0u64, 150, 298, 299] {
            let proof = log.inclusion_proof(index, None).unwrap();
            merkle::verify_inclusion(&leaves[index as usize], index, 300, &proof, &root).unwrap();
        }
        let resumed = TenantLog::resume("acme", "test/acme".into(), &log.head()).unwrap();
        assert_eq!(resumed.root(), root);
        assert_eq!(resumed.last_entry_hash(), log.last_entry_hash());
        assert_eq!(resumed.checkpoint(), log.checkpoint());
    }

    /// After a restart the cache holds the frontier's nodes: receipts of new leaves need no
    /// store at all (at a 10^6-entry log, reading old siblings once cost an eighth of the
    /// writer), while proofs of older leaves still come from it.
    #[test]
    fn resumed_log_serves_receipts_without_the_store() {
        use crate::store::{SqliteStore, Store};
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("z.db")).unwrap();
        let mut log = TenantLog::new("acme", "test/acme".into());
        let mut leaves = Vec::new();
        let append =
            |log: &mut TenantLog, store: &mut SqliteStore, leaves: &mut Vec<Hash>, n: u32| {
                let mut txn = store.begin().unwrap();
                for i in 0..n {
                    let (leaf, nodes) = log
                        .append(&(leaves.len() as u32 + i).to_be_bytes())
                        .unwrap();
                    leaves.push(leaf);
                    let rows: Vec<(u32, u64, Hash)> =
                        nodes.iter().map(|n| (n.level, n.index, n.hash)).collect();
                    txn.put_nodes("acme", &rows).unwrap();
                }
                txn.commit().unwrap();
            };
        // 20,000 = 0b100111000100000: five frontier nodes, at levels 14, 11, 10, 9 and 5.
        append(&mut log, &mut store, &mut leaves, 20_000);
        let reader = store.reader().unwrap();
        let mut resumed = TenantLog::resume("acme", "test/acme".into(), &log.head()).unwrap();
        assert!(
            resumed.inclusion_proof(19_999, None).is_err(),
            "an old leaf's proof needs the store"
        );
        let root = resumed.root();
        let proof = resumed.inclusion_proof(19_999, Some(&reader)).unwrap();
        merkle::verify_inclusion(&leaves[19_999], 19_999, 20_000, &proof, &root).unwrap();
        // New leaves, across the completion of higher subtrees: no reader given.
        for _ in 0..40 {
            append(&mut resumed, &mut store, &mut leaves, 1);
            let size = resumed.size();
            let root = resumed.root();
            let index = size - 1;
            let proof = resumed.inclusion_proof(index, None).unwrap();
            merkle::verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
        }
    }
}
