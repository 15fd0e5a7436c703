#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests: proofs produced from stored perfect subtrees verify, and any single
//! corruption of proof, root, leaf, index or size is rejected.

use proptest::prelude::*;
use zkscim_proto::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root_at, root_from_leaves, verify_consistency,
    verify_inclusion, Frontier, Hash, MemoryTree,
};

fn leaves(n: u64, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut e = i.to_be_bytes().to_vec();
            e.push(salt);
            leaf_hash(&e)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_verifies_and_corruption_fails(
        size in 1u64..=2000,
        idx_seed in any::<u64>(),
        byte_seed in any::<usize>(),
        bit in 0u8..8,
    ) {
        let ls = leaves(size, 1);
        let tree = MemoryTree::from_leaves(&ls).unwrap();
        let index = idx_seed % size;
        let root = tree.root();
        let proof = inclusion_proof(&tree, index, size).unwrap();
        let leaf = ls[index as usize];
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();

        let flip = 1u8 << bit;
        // Any single byte of any proof node.
        if !proof.is_empty() {
            let pos = byte_seed % (proof.len() * 32);
            let mut bad = proof.clone();
            bad[pos / 32][pos % 32] ^= flip;
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        // Root.
        let mut bad_root = root;
        bad_root[byte_seed % 32] ^= flip;
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
        // Leaf.
        let mut bad_leaf = leaf;
        bad_leaf[byte_seed % 32] ^= flip;
        prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
        // Wrong index (any other index in range, and beyond size).
        if size > 1 {
            let other = (index + 1 + (idx_seed >> 32) % (size - 1)) % size;
            prop_assert_ne!(other, index);
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
        }
        prop_assert!(verify_inclusion(&leaf, size, size, &proof, &root).is_err());
        // Wrong size, smaller or larger. The size only fixes the proof's shape, so a size whose
        // shape for this index coincides (e.g. index 0 in 59 vs 60 leaves) legitimately yields
        // the same computation; every size with a different shape must be rejected.
        let big = MemoryTree::from_leaves(&leaves(size * 2, 1)).unwrap();
        for other in [size - 1, size + 1, size * 2] {
            if other > index && other != size {
                let shape = inclusion_proof(&big, index, other).unwrap().len();
                if shape != proof.len() {
                    prop_assert!(verify_inclusion(&leaf, index, other, &proof, &root).is_err());
                }
            }
        }
        // Truncated or extended proofs.
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
    }

    #[test]
    fn consistency_verifies_and_corruption_fails(
        new_size in 1u64..=2000,
        old_seed in any::<u64>(),
        byte_seed in any::<usize>(),
        bit in 0u8..8,
    ) {
        let ls = leaves(new_size, 2);
        let tree = MemoryTree::from_leaves(&ls).unwrap();
        let old_size = old_seed % (new_size + 1);
        let old_root = root_at(&tree, old_size).unwrap();
        let new_root = tree.root();
        prop_assert_eq!(old_root, root_from_leaves(&ls[..old_size as usize]));
        let proof = consistency_proof(&tree, old_size, new_size).unwrap();
        verify_consistency(old_size, new_size, &old_root, &new_root, &proof).unwrap();

        let flip = 1u8 << bit;
        if !proof.is_empty() {
            let pos = byte_seed % (proof.len() * 32);
            let mut bad = proof.clone();
            bad[pos / 32][pos % 32] ^= flip;
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &bad).is_err());
        }
        let mut bad_old = old_root;
        bad_old[byte_seed % 32] ^= flip;
        prop_assert!(verify_consistency(old_size, new_size, &bad_old, &new_root, &proof).is_err());
        // The new root is unconstrained only when the old tree is empty.
        if old_size > 0 {
            let mut bad_new = new_root;
            bad_new[byte_seed % 32] ^= flip;
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &bad_new, &proof).is_err());
        }
        // Wrong sizes, where they change the proof's shape (see the inclusion test).
        if old_size > 0 && old_size < new_size {
            let big = MemoryTree::from_leaves(&leaves(new_size + 1, 2)).unwrap();
            let mut others = vec![(old_size - 1, new_size), (old_size, new_size + 1)];
            if new_size - 1 > old_size {
                others.push((old_size, new_size - 1));
            }
            for (o, n) in others {
                if o == 0 {
                    continue;
                }
                let shape = consistency_proof(&big, o, n).unwrap().len();
                if shape != proof.len() {
                    prop_assert!(verify_consistency(o, n, &old_root, &new_root, &proof).is_err());
                }
            }
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &longer).is_err());
        if !proof.is_empty() {
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof[1..]).is_err());
        }
    }

    #[test]
    fn frontier_memory_tree_and_reference_agree(size in 0u64..=2000) {
        let ls = leaves(size, 3);
        let mut frontier = Frontier::new();
        let mut tree = MemoryTree::new();
        for l in &ls {
            frontier.append(*l).unwrap();
            tree.append(*l).unwrap();
        }
        let reference = root_from_leaves(&ls);
        prop_assert_eq!(frontier.root(), reference);
        prop_assert_eq!(tree.root(), reference);
        prop_assert_eq!(frontier.size(), size);
        prop_assert_eq!(tree.size(), size);
    }

    #[test]
    fn frontier_resumes_from_bytes(split in 0u64..=500, extra in 0u64..=500, cut in any::<usize>()) {
        let ls = leaves(split + extra, 4);
        let mut f = Frontier::new();
        for l in &ls[..split as usize] {
            f.append(*l).unwrap();
        }
        let bytes = f.to_bytes();
        prop_assert_eq!(bytes.len(), 8 + 32 * split.count_ones() as usize);
        let mut resumed = Frontier::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&resumed, &f);
        for l in &ls[split as usize..] {
            resumed.append(*l).unwrap();
        }
        prop_assert_eq!(resumed.root(), root_from_leaves(&ls));

        // Any truncation or extension of the encoding is rejected.
        let short = cut % bytes.len();
        prop_assert!(Frontier::from_bytes(&bytes[..short]).is_err());
        let mut long = bytes.clone();
        long.extend_from_slice(&[0u8; 32][..1 + cut % 32]);
        prop_assert!(Frontier::from_bytes(&long).is_err());
        // A size whose popcount differs from the number of stored hashes is rejected.
        let mut wrong = bytes.clone();
        wrong[..8].copy_from_slice(&(split + 1).to_be_bytes());
        if (split + 1).count_ones() != split.count_ones() {
            prop_assert!(Frontier::from_bytes(&wrong).is_err());
        }
    }

    #[test]
    fn completed_nodes_match_memory_tree(size in 1u64..=600) {
        use zkscim_proto::merkle::NodeSource;
        let ls = leaves(size, 5);
        let tree = MemoryTree::from_leaves(&ls).unwrap();
        let mut f = Frontier::new();
        let mut count = 0u64;
        for l in &ls {
            for n in f.append(*l).unwrap() {
                prop_assert_eq!(tree.node(n.level, n.index).unwrap(), n.hash);
                count += 1;
            }
        }
        // A tree of n leaves has 2n - popcount(n) perfect subtrees.
        prop_assert_eq!(count, 2 * size - u64::from(size.count_ones()));
    }
}
