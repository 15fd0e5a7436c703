//! RFC 6962 / RFC 9162 §2 Merkle hash trees: hashing, an append-only frontier, proof generation
//! from stored perfect subtrees, and proof verification.
//!
//! Terminology used throughout: a *perfect subtree* at `(level, index)` covers leaves
//! `[index·2^level, (index+1)·2^level)`. Only perfect subtrees are ever stored; every other
//! ("ephemeral") hash a proof needs is recomputed from at most `log2(size)` perfect ones, so a
//! store never has to rewrite a node once written.
//!
//! Every verifier checks the proof length against the length implied by `(index, size)` or
//! `(old, new)` before hashing, so a malformed proof is reported as such instead of as a generic
//! root mismatch.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest: the only hash size this tree ever uses.
pub type Hash = [u8; 32];

/// Domain-separation prefix for leaves (RFC 6962 §2.1); keeps a leaf from ever being read as an
/// interior node (second-preimage resistance).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix for interior nodes.
const NODE_PREFIX: u8 = 0x01;

/// Largest number of hashes a [`Frontier`] can hold: one per set bit of a `u64` size.
const MAX_FRONTIER_HASHES: usize = 64;

/// Errors from Merkle hashing, proof generation and verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// An inclusion proof was requested or checked for a leaf the tree does not contain.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size the proof is relative to.
        size: u64,
    },
    /// The inclusion proof does not have the number of nodes `(index, size)` implies.
    #[error("inclusion proof for index {index} in tree size {size} must have {expected} nodes, got {actual}")]
    InclusionProofLength {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
        /// Node count implied by index and size.
        expected: usize,
        /// Node count supplied.
        actual: usize,
    },
    /// The root recomputed from the leaf and the inclusion proof differs from the expected root.
    #[error(
        "inclusion proof for index {index} in tree size {size} does not lead to the expected root"
    )]
    InclusionRootMismatch {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof was requested or checked from a larger tree to a smaller one.
    #[error("old tree size {old_size} exceeds new tree size {new_size}")]
    OldSizeExceedsNew {
        /// Older (claimed smaller) size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
    },
    /// The consistency proof does not have the number of nodes `(old, new)` implies.
    #[error("consistency proof from size {old_size} to {new_size} must have {expected} nodes, got {actual}")]
    ConsistencyProofLength {
        /// Older size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
        /// Node count implied by the sizes.
        expected: usize,
        /// Node count supplied.
        actual: usize,
    },
    /// The old root recomputed from the consistency proof differs from the supplied old root.
    #[error("consistency proof from size {old_size} to {new_size} does not lead to the old root")]
    ConsistencyOldRootMismatch {
        /// Older size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
    },
    /// The new root recomputed from the consistency proof differs from the supplied new root.
    #[error("consistency proof from size {old_size} to {new_size} does not lead to the new root")]
    ConsistencyNewRootMismatch {
        /// Older size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
    },
    /// A [`NodeSource`] was asked for a perfect subtree it does not hold.
    #[error("no stored node at level {level}, index {index}")]
    NodeMissing {
        /// Level of the missing node (0 = leaves).
        level: u32,
        /// Index of the missing node within its level.
        index: u64,
    },
    /// The frontier already holds `u64::MAX` leaves.
    #[error("tree is full: size {size} cannot grow")]
    TreeFull {
        /// Current size.
        size: u64,
    },
    /// A serialised frontier is too short to hold its size prefix.
    #[error("serialised frontier is {actual} bytes, shorter than the 8-byte size prefix")]
    FrontierTruncated {
        /// Bytes supplied.
        actual: usize,
    },
    /// A serialised frontier's hash count disagrees with popcount(size).
    #[error("serialised frontier for size {size} must be {expected} bytes, got {actual}")]
    FrontierLength {
        /// Size decoded from the prefix.
        size: u64,
        /// Byte length implied by the size.
        expected: usize,
        /// Byte length supplied.
        actual: usize,
    },
}

impl MerkleError {
    /// Stable machine-readable code for this error, suitable for logs and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IndexOutOfRange { .. } => "merkle.inclusion.index_out_of_range",
            Self::InclusionProofLength { .. } => "merkle.inclusion.proof_length",
            Self::InclusionRootMismatch { .. } => "merkle.inclusion.root_mismatch",
            Self::OldSizeExceedsNew { .. } => "merkle.consistency.old_exceeds_new",
            Self::ConsistencyProofLength { .. } => "merkle.consistency.proof_length",
            Self::ConsistencyOldRootMismatch { .. } => "merkle.consistency.old_root_mismatch",
            Self::ConsistencyNewRootMismatch { .. } => "merkle.consistency.new_root_mismatch",
            Self::NodeMissing { .. } => "merkle.source.node_missing",
            Self::TreeFull { .. } => "merkle.tree.full",
            Self::FrontierTruncated { .. } => "merkle.frontier.truncated",
            Self::FrontierLength { .. } => "merkle.frontier.length",
        }
    }
}

/// Error from proof generation: either the request is invalid, or the node store failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError<E> {
    /// The request itself is invalid (e.g. index beyond size).
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// The [`NodeSource`] could not supply a perfect subtree the proof needs.
    #[error("node source failed at level {level}, index {index}: {source}")]
    Source {
        /// Level requested.
        level: u32,
        /// Index requested.
        index: u64,
        /// The store's own error.
        source: E,
    },
}

impl<E> ProofError<E> {
    /// Stable machine-readable code; store failures all map to `merkle.source.failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Merkle(e) => e.code(),
            Self::Source { .. } => "merkle.source.failed",
        }
    }
}

/// Hash of a log entry as a leaf: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly below `n` (RFC 6962's split point `k`). Requires `n >= 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Reference root computation straight from the RFC 6962 recursive definition of MTH.
///
/// O(n) hashes with recursion depth log2(n) and no allocation; an independent oracle for tests
/// and for cross-checking the incremental structures, not a production code path.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            // `split_point` < len, so both halves are non-empty.
            let k = usize::try_from(split_point(leaves.len() as u64)).unwrap_or(leaves.len() / 2);
            let (l, r) = leaves.split_at(k);
            node_hash(&root_from_leaves(l), &root_from_leaves(r))
        }
    }
}

/// A perfect subtree that has just become complete, reported so a store can persist it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedNode {
    /// Height above the leaves (0 = the leaf itself).
    pub level: u32,
    /// Position within the level, counted from the left.
    pub index: u64,
    /// The subtree's hash.
    pub hash: Hash,
}

/// The right edge of an append-only tree: one hash per perfect subtree in the binary
/// decomposition of `size`, from the largest (leftmost) to the smallest.
///
/// This is all that is needed to append and to compute the current root, so a log can persist it
/// (see [`Frontier::to_bytes`]) and resume without replaying its entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// Invariant: `hashes.len() == size.count_ones()`, ordered from highest level to lowest.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// An empty frontier (tree size 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree hashes of the right edge, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash, calling `completed` for the leaf and for every perfect subtree the
    /// append completes, from the leaf upwards. Allocation-free, for hot paths.
    pub fn append_with(
        &mut self,
        leaf: Hash,
        mut completed: impl FnMut(CompletedNode),
    ) -> Result<(), MerkleError> {
        let index = self.size;
        let new_size = index
            .checked_add(1)
            .ok_or(MerkleError::TreeFull { size: self.size })?;
        completed(CompletedNode {
            level: 0,
            index,
            hash: leaf,
        });
        let mut hash = leaf;
        let mut level = 0u32;
        // Each trailing 1 bit of the old size is a left sibling waiting for exactly this right
        // neighbour; merging them is binary carry propagation.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // Unreachable while the popcount invariant holds; fail closed rather than panic.
                return Err(MerkleError::FrontierLength {
                    size: self.size,
                    expected: self.size.count_ones() as usize * 32,
                    actual: self.hashes.len() * 32,
                });
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(CompletedNode {
                level,
                index: index >> level,
                hash,
            });
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }

    /// Appends a leaf hash and returns the leaf and every perfect subtree it completed (leaf
    /// first), so a store can persist them for later proof generation.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<CompletedNode>, MerkleError> {
        let mut out = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        self.append_with(leaf, |n| out.push(n))?;
        Ok(out)
    }

    /// Root hash of the tree of the current size.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(first) = iter.next() else {
            return empty_root();
        };
        // The smallest subtree is the rightmost; RFC 6962 hangs each larger one to its left.
        iter.fold(*first, |acc, left| node_hash(left, &acc))
    }

    /// Serialises as `size (u64 big-endian) ‖ hashes (32 bytes each, largest subtree first)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Parses [`Frontier::to_bytes`] output, rejecting any length other than
    /// `8 + 32·popcount(size)`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MerkleError> {
        let (prefix, rest) =
            bytes
                .split_first_chunk::<8>()
                .ok_or(MerkleError::FrontierTruncated {
                    actual: bytes.len(),
                })?;
        let size = u64::from_be_bytes(*prefix);
        let count = size.count_ones() as usize;
        let expected = 8 + 32 * count;
        if bytes.len() != expected {
            return Err(MerkleError::FrontierLength {
                size,
                expected,
                actual: bytes.len(),
            });
        }
        let mut hashes = Vec::with_capacity(count.min(MAX_FRONTIER_HASHES));
        for chunk in rest.chunks_exact(32) {
            let mut h = [0u8; 32];
            h.copy_from_slice(chunk);
            hashes.push(h);
        }
        Ok(Self { size, hashes })
    }
}

/// Read access to the hashes of complete perfect subtrees of a tree.
///
/// `node(level, index)` must return the hash of the perfect subtree covering leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 is the leaf hashes. The proof functions in this
/// module only ask for subtrees lying entirely below the tree size they are given.
pub trait NodeSource {
    /// The store's error type (I/O failure, missing node, ...).
    type Error;

    /// Hash of the complete perfect subtree at `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}

fn fetch<S: NodeSource + ?Sized>(
    source: &S,
    level: u32,
    index: u64,
) -> Result<Hash, ProofError<S::Error>> {
    source
        .node(level, index)
        .map_err(|source| ProofError::Source {
            level,
            index,
            source,
        })
}

/// Hash of the leaf range `[start, end)` where `start` is a multiple of the smallest power of two
/// `>= end - start` (true of every range RFC 6962's recursion produces). Such a range is a run of
/// perfect subtrees of strictly decreasing size, so it is folded from the right.
fn range_hash<S: NodeSource + ?Sized>(
    source: &S,
    start: u64,
    end: u64,
) -> Result<Hash, ProofError<S::Error>> {
    if start >= end {
        return Ok(empty_root());
    }
    let mut len = end - start;
    let mut pos = start;
    // At most 64 pieces: one per set bit of `len`.
    let mut pieces: [Option<Hash>; 64] = [None; 64];
    let mut n = 0usize;
    while len > 0 {
        let level = 63 - len.leading_zeros();
        let h = fetch(source, level, pos >> level)?;
        if let Some(slot) = pieces.get_mut(n) {
            *slot = Some(h);
        }
        n += 1;
        pos += 1u64 << level;
        len -= 1u64 << level;
    }
    let mut acc: Option<Hash> = None;
    for piece in pieces.iter().take(n).rev().flatten() {
        acc = Some(match acc {
            None => *piece,
            Some(right) => node_hash(piece, &right),
        });
    }
    Ok(acc.unwrap_or_else(empty_root))
}

/// Root of the tree of `size` leaves held by `source` (which may hold more).
pub fn root_at<S: NodeSource + ?Sized>(
    source: &S,
    size: u64,
) -> Result<Hash, ProofError<S::Error>> {
    range_hash(source, 0, size)
}

/// RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `tree_size` leaves, ordered from the
/// leaf's sibling upwards.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    source: &S,
    index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        }
        .into());
    }
    // Walk top-down recording siblings, then reverse: the RFC lists them bottom-up.
    let mut proof = Vec::with_capacity(64);
    let (mut lo, mut hi, mut m) = (0u64, tree_size, index);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < k {
            proof.push(range_hash(source, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(source, lo, lo + k)?);
            lo += k;
            m -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// RFC 6962 §2.1.2 consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves. Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(MerkleError::OldSizeExceedsNew { old_size, new_size }.into());
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // Iterative SUBPROOF(m, D[lo:hi], b), collected top-down then reversed.
    let mut proof = Vec::with_capacity(64);
    let (mut lo, mut hi, mut m, mut whole) = (0u64, new_size, old_size, true);
    loop {
        if m == hi - lo {
            if !whole {
                proof.push(range_hash(source, lo, hi)?);
            }
            break;
        }
        let k = split_point(hi - lo);
        if m <= k {
            proof.push(range_hash(source, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(source, lo, lo + k)?);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Number of nodes in a valid inclusion proof for `(index, size)`, by running the RFC 9162
/// §2.1.3.2 index walk without hashing. Requires `index < size`.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut f, mut s) = (index, size - 1);
    let mut n = 0;
    while s > 0 {
        if f & 1 == 1 || f == s {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        n += 1;
        f >>= 1;
        s >>= 1;
    }
    n
}

/// Node count of a valid consistency proof for `0 < old < new` (RFC 9162 §2.1.4.2 walk).
fn consistency_len(old: u64, new: u64) -> usize {
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut n = 0;
    while s > 0 {
        if f & 1 == 1 || f == s {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        n += 1;
        f >>= 1;
        s >>= 1;
    }
    // The walk consumes the path after its seed; the seed is omitted from the proof only when
    // `old` is a power of two (it is then the old root itself).
    if old.is_power_of_two() {
        n
    } else {
        n + 1
    }
}

/// Verifies an inclusion proof per RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let expected = inclusion_len(index, tree_size);
    if proof.len() != expected {
        return Err(MerkleError::InclusionProofLength {
            index,
            size: tree_size,
            expected,
            actual: proof.len(),
        });
    }
    let (mut f, mut s) = (index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // `s == 0` is implied by the length check above.
    if s != 0 || r != *root {
        return Err(MerkleError::InclusionRootMismatch {
            index,
            size: tree_size,
        });
    }
    Ok(())
}

/// Verifies a consistency proof per RFC 9162 §2.1.4.2.
///
/// Conventions for the degenerate cases, which the RFC leaves to the caller: when
/// `old_size == new_size` the proof must be empty and the roots equal; when `old_size == 0` the
/// proof must be empty and `old_root` must be the empty-tree root (every tree extends the empty
/// one, so `new_root` is not constrained).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::OldSizeExceedsNew { old_size, new_size });
    }
    let expected = if old_size == 0 || old_size == new_size {
        0
    } else {
        consistency_len(old_size, new_size)
    };
    if proof.len() != expected {
        return Err(MerkleError::ConsistencyProofLength {
            old_size,
            new_size,
            expected,
            actual: proof.len(),
        });
    }
    if old_size == 0 {
        if *old_root != empty_root() {
            return Err(MerkleError::ConsistencyOldRootMismatch { old_size, new_size });
        }
        return Ok(());
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(MerkleError::ConsistencyNewRootMismatch { old_size, new_size });
        }
        return Ok(());
    }
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            // Unreachable: the length check guarantees a seed; fail closed.
            None => {
                return Err(MerkleError::ConsistencyProofLength {
                    old_size,
                    new_size,
                    expected,
                    actual: 0,
                })
            }
        }
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr != *old_root {
        return Err(MerkleError::ConsistencyOldRootMismatch { old_size, new_size });
    }
    if s != 0 || sr != *new_root {
        return Err(MerkleError::ConsistencyNewRootMismatch { old_size, new_size });
    }
    Ok(())
}

/// An in-memory tree holding every perfect subtree; for tests, benches and auditors that
/// mirror a log. Append is amortised O(1) hashes.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the perfect subtree `(l, i)`; only complete subtrees are present.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from leaf hashes.
    pub fn from_leaves(leaves: &[Hash]) -> Result<Self, MerkleError> {
        let mut t = Self::new();
        for l in leaves {
            t.append(*l)?;
        }
        Ok(t)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash, storing every perfect subtree it completes.
    pub fn append(&mut self, leaf: Hash) -> Result<(), MerkleError> {
        let size = self.size();
        if size == u64::MAX {
            return Err(MerkleError::TreeFull { size });
        }
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return Err(MerkleError::NodeMissing {
                    level: level as u32,
                    index: 0,
                });
            };
            row.push(hash);
            let len = row.len();
            if len % 2 == 1 {
                return Ok(());
            }
            // `len` is even and >= 2, so both siblings exist.
            match (row.get(len - 2), row.get(len - 1)) {
                (Some(l), Some(r)) => hash = node_hash(l, r),
                _ => return Ok(()),
            }
            level += 1;
        }
    }

    /// Root of the current tree.
    pub fn root(&self) -> Hash {
        // MemoryTree holds every node it would ever be asked for; a miss cannot happen.
        root_at(self, self.size()).unwrap_or_else(|_| empty_root())
    }
}

impl NodeSource for MemoryTree {
    type Error = MerkleError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MerkleError::NodeMissing { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Frontier::new().root(), empty_root());
        assert_eq!(MemoryTree::new().root(), empty_root());
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        // RFC 6962 leaf hash of the empty entry.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&cat));
    }

    #[test]
    fn structures_agree_small() {
        for n in 0..70u64 {
            let ls = leaves(n);
            let mut f = Frontier::new();
            let mut completed = Vec::new();
            for l in &ls {
                completed.extend(f.append(*l).unwrap());
            }
            let t = MemoryTree::from_leaves(&ls).unwrap();
            assert_eq!(f.root(), root_from_leaves(&ls), "n={n}");
            assert_eq!(t.root(), root_from_leaves(&ls), "n={n}");
            // Every completed node reported by the frontier is the one the memory tree holds.
            for c in completed {
                assert_eq!(t.node(c.level, c.index).unwrap(), c.hash);
            }
            assert_eq!(Frontier::from_bytes(&f.to_bytes()).unwrap(), f);
        }
    }

    #[test]
    fn all_proofs_small() {
        let ls = leaves(33);
        let t = MemoryTree::from_leaves(&ls).unwrap();
        for n in 1..=33u64 {
            let root = root_at(&t, n).unwrap();
            assert_eq!(root, root_from_leaves(&ls[..n as usize]));
            for i in 0..n {
                let p = inclusion_proof(&t, i, n).unwrap();
                verify_inclusion(&ls[i as usize], i, n, &p, &root).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(&t, m, n).unwrap();
                let old = root_at(&t, m).unwrap();
                verify_consistency(m, n, &old, &root, &p).unwrap();
            }
        }
    }

    #[test]
    fn verifier_errors_are_precise() {
        let ls = leaves(7);
        let t = MemoryTree::from_leaves(&ls).unwrap();
        let root = t.root();
        let p = inclusion_proof(&t, 3, 7).unwrap();
        assert_eq!(
            verify_inclusion(&ls[3], 7, 7, &p, &root)
                .unwrap_err()
                .code(),
            "merkle.inclusion.index_out_of_range"
        );
        assert_eq!(
            verify_inclusion(&ls[3], 3, 7, &p[..2], &root)
                .unwrap_err()
                .code(),
            "merkle.inclusion.proof_length"
        );
        assert_eq!(
            verify_inclusion(&ls[4], 3, 7, &p, &root)
                .unwrap_err()
                .code(),
            "merkle.inclusion.root_mismatch"
        );
        let c = consistency_proof(&t, 3, 7).unwrap();
        let old = root_at(&t, 3).unwrap();
        assert_eq!(
            verify_consistency(7, 3, &old, &root, &c)
                .unwrap_err()
                .code(),
            "merkle.consistency.old_exceeds_new"
        );
        assert_eq!(
            verify_consistency(3, 7, &root, &root, &c)
                .unwrap_err()
                .code(),
            "merkle.consistency.old_root_mismatch"
        );
        assert_eq!(
            verify_consistency(3, 7, &old, &old, &c).unwrap_err().code(),
            "merkle.consistency.new_root_mismatch"
        );
        assert_eq!(
            inclusion_proof(&t, 1, 8).unwrap_err().code(),
            "merkle.source.failed"
        );
    }

    #[test]
    fn frontier_rejects_bad_lengths() {
        assert_eq!(
            Frontier::from_bytes(&[0; 7]).unwrap_err().code(),
            "merkle.frontier.truncated"
        );
        let mut f = Frontier::new();
        for l in leaves(5) {
            f.append(l).unwrap();
        }
        let mut b = f.to_bytes();
        b.push(0);
        assert_eq!(
            Frontier::from_bytes(&b).unwrap_err().code(),
            "merkle.frontier.length"
        );
    }

    #[test]
    fn full_frontier_refuses_to_grow() {
        let mut bytes = u64::MAX.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[7u8; 64 * 32]);
        let mut f = Frontier::from_bytes(&bytes).unwrap();
        assert_eq!(f.append([0; 32]).unwrap_err().code(), "merkle.tree.full");
    }
}
