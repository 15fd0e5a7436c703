//! An exact set of fixed-size byte strings that costs about their size in memory: what the
//! replay keeps for every used nonce and every submitted hash, one of each per log entry.
//!
//! A `HashSet<[u8; N]>` sits between 44% and 87.5% full and holds the old and the new table
//! while it grows, so a million 32-byte keys peaked at ~100 MB; a `HashSet<Vec<u8>>` adds a
//! heap allocation per key on top. Here nearly every key lives in one sorted array (no per-key
//! overhead, grown in place, its capacity by half its length at a time), newer keys in a small
//! hash set that is merged into the array whenever it reaches an eighth of it. Membership is
//! exact: keys are compared in full, never through a filter or a truncated hash.
//!
//! The array is ordered by a keyed hash of the key (then by the key), so any key set, chosen by
//! an adversary or sequential like test nonces, spreads evenly over a directory of bucket
//! offsets; a lookup hashes once, reads one directory slot and searches a bucket of a few keys.

#[cfg(test)]
use std::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

/// Keys held in the hash set before they are merged into the sorted array, at least.
const MIN_RECENT: usize = 4_096;
/// The hash set is merged once it holds this fraction (1/n) of the array: a larger fraction
/// moves the array less often, a smaller one keeps less memory in the hash set.
const RECENT_FRACTION: usize = 8;
/// Keys per directory bucket, about (a power of two).
const KEYS_PER_BUCKET: usize = 4;

/// A keyed multiply-rotate hash of short fixed-size keys: SipHash (the standard library's)
/// cost ~6% of the audit's CPU here. Its quality only decides how evenly keys spread: a
/// crowded bucket is binary-searched and the hash set probes further, so a key set built to
/// collide costs time, never exactness.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyed {
    seed: u64,
}

impl Keyed {
    pub(crate) fn new() -> Keyed {
        Keyed {
            seed: RandomState::new().hash_one(0x7a6b_7363_696d_u64),
        }
    }
}

impl Default for Keyed {
    fn default() -> Keyed {
        Keyed::new()
    }
}

impl BuildHasher for Keyed {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix { h: self.seed }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix {
    h: u64,
}

impl Mix {
    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(head) = w.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.word(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.word(n as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's finaliser: every input bit reaches the top bits (the directory's) and the
        // low ones (the hash set's).
        let mut h = self.h;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// An exact set of `[u8; N]`.
#[derive(Debug, Clone)]
pub struct ExactSet<const N: usize> {
    hasher: Keyed,
    /// Ordered by (`position`, key), no duplicates.
    sorted: Vec<[u8; N]>,
    /// `directory[b]` is the first index of `sorted` whose position's top `bits` bits are `b`;
    /// one extra slot holds `sorted.len()`.
    directory: Vec<u32>,
    bits: u32,
    /// Keys not yet in `sorted` (disjoint from it).
    recent: HashSet<[u8; N], Keyed>,
}

impl<const N: usize> Default for ExactSet<N> {
    fn default() -> Self {
        ExactSet::new()
    }
}

impl<const N: usize> ExactSet<N> {
    /// An empty set.
    pub fn new() -> ExactSet<N> {
        let hasher = Keyed::new();
        ExactSet {
            hasher,
            sorted: Vec::new(),
            directory: vec![0, 0],
            bits: 0,
            recent: HashSet::with_hasher(hasher),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.sorted.len().saturating_add(self.recent.len())
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn position(&self, key: &[u8; N]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[cfg(test)]
    fn order(&self, a: &[u8; N], b: &[u8; N]) -> Ordering {
        self.position(a)
            .cmp(&self.position(b))
            .then_with(|| a.cmp(b))
    }

    fn bucket(&self, position: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (position >> (64 - self.bits)) as usize
        }
    }

    /// Whether `key` is in the sorted array.
    fn in_sorted(&self, key: &[u8; N]) -> bool {
        let position = self.position(key);
        let b = self.bucket(position);
        let lo = self.directory.get(b).map_or(0, |&i| i as usize);
        let hi = self
            .directory
            .get(b.saturating_add(1))
            .map_or(self.sorted.len(), |&i| i as usize);
        let Some(bucket) = self.sorted.get(lo..hi) else {
            return false;
        };
        // Buckets hold a few keys unless positions collide; a binary search by (position, key)
        // keeps even a crowded bucket logarithmic.
        bucket
            .binary_search_by(|probe| {
                self.position(probe)
                    .cmp(&position)
                    .then_with(|| probe.cmp(key))
            })
            .is_ok()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8; N]) -> bool {
        self.recent.contains(key) || self.in_sorted(key)
    }

    /// Adds `key`; returns whether it was new.
    pub fn insert(&mut self, key: [u8; N]) -> bool {
        if self.in_sorted(&key) || !self.recent.insert(key) {
            return false;
        }
        if self.recent.len() >= MIN_RECENT.max(self.sorted.len() / RECENT_FRACTION) {
            self.merge();
        }
        true
    }

    /// Moves the hash set's keys into the sorted array, in place: the array grows by their
    /// number and is filled from its end, so no second copy of it is ever held. Its capacity
    /// grows by half at a time (not exactly by the keys merged), so the array is moved to fresh
    /// memory a few times over a log rather than at every merge.
    fn merge(&mut self) {
        let mut incoming: Vec<(u64, [u8; N])> = self
            .recent
            .drain()
            .map(|k| (self.hasher.hash_one(k), k))
            .collect();
        incoming.sort_unstable();
        let old = self.sorted.len();
        let needed = old.saturating_add(incoming.len());
        if needed > self.sorted.capacity() {
            self.sorted.reserve_exact(incoming.len().max(old / 2));
        }
        self.sorted.resize(needed, [0; N]);
        // Backward merge: `write` is always at or after `read + remaining incoming`, so every
        // key is moved once and none is overwritten before it is read.
        let mut read = old;
        let mut write = self.sorted.len();
        while let Some((position, next)) = incoming.pop() {
            // Shift the block of existing keys greater than `next` up, then place `next`. Keys
            // below `read` have not moved yet, so the directory (built for them) bounds the
            // search to `next`'s bucket: every key of an earlier bucket is smaller, every key of
            // a later one greater.
            let b = self.bucket(position);
            let lo = self.directory.get(b).map_or(0, |&i| i as usize).min(read);
            let hi = self
                .directory
                .get(b.saturating_add(1))
                .map_or(read, |&i| i as usize)
                .min(read);
            let keep = lo.saturating_add(self.sorted.get(lo..hi).map_or(0, |s| {
                s.partition_point(|k| (self.position(k), k) < (position, &next))
            }));
            let block = read.saturating_sub(keep);
            write = write.saturating_sub(block);
            self.sorted.copy_within(keep..read, write);
            read = keep;
            write = write.saturating_sub(1);
            if let Some(slot) = self.sorted.get_mut(write) {
                *slot = next;
            }
        }
        self.rebuild_directory();
    }

    fn rebuild_directory(&mut self) {
        let len = self.sorted.len();
        let buckets = (len / KEYS_PER_BUCKET).max(1).next_power_of_two();
        self.bits = buckets.trailing_zeros();
        let mut directory = Vec::with_capacity(buckets.saturating_add(1));
        let mut i = 0usize;
        for b in 0..buckets {
            while self
                .sorted
                .get(i)
                .is_some_and(|k| self.bucket(self.position(k)) < b)
            {
                i = i.saturating_add(1);
            }
            directory.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        directory.push(u32::try_from(len).unwrap_or(u32::MAX));
        self.directory = directory;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> [u8; 16] {
        let mut k = [0x6e; 16];
        k[8..].copy_from_slice(&n.to_be_bytes());
        k
    }

    #[test]
    fn exact_over_merges() {
        let mut set = ExactSet::<16>::new();
        let n = 50_000u64;
        for i in 0..n {
            assert!(set.insert(key(i * 2)), "{i} is new");
            assert!(!set.insert(key(i * 2)), "{i} is a repeat");
        }
        assert_eq!(set.len(), n as usize);
        assert!(set.sorted.len() > set.recent.len(), "most keys merged");
        for i in 0..n {
            assert!(set.contains(&key(i * 2)), "{i} found");
            assert!(!set.contains(&key(i * 2 + 1)), "{i} odd absent");
            assert!(!set.insert(key(i * 2)), "{i} still a repeat after merges");
        }
        // The array stays strictly ordered, so every key is findable where lookups search.
        assert!(set
            .sorted
            .windows(2)
            .all(|w| set.order(&w[0], &w[1]) == Ordering::Less));
    }

    #[test]
    fn keys_differing_in_one_byte_are_distinct() {
        let mut set = ExactSet::<32>::new();
        let base = [7u8; 32];
        assert!(set.insert(base));
        for i in 0..32 {
            for bit in 0..8 {
                let mut k = base;
                k[i] ^= 1 << bit;
                assert!(!set.contains(&k));
                assert!(set.insert(k));
            }
        }
        for _ in 0..3 {
            // Enough keys to force merges past the neighbours above.
            for i in 0..10_000u64 {
                let mut k = [0u8; 32];
                k[..8].copy_from_slice(&i.to_le_bytes());
                set.insert(k);
            }
        }
        assert!(!set.insert(base));
        assert_eq!(set.len(), 1 + 256 + 10_000);
    }
}
