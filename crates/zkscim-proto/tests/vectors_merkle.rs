#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Checks every vector in `spec/vectors/merkle.json` and `spec/vectors/checkpoint.json` by
//! recomputing it, so the specification and the code cannot drift apart.
//!
//! The files are produced by the ignored test `regenerate_vectors` in this file
//! (`cargo test -p zkscim-proto --test vectors_merkle -- --ignored regenerate_vectors`); the
//! checking tests below never trust a value from the file without recomputing it.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root_at,
    root_from_leaves, verify_consistency, verify_inclusion, Frontier, Hash, MemoryTree,
};
use zkscim_proto::note::{CosignatureSigner, NoteSigner, NoteVerifier, SignedNote, VerifierKey};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors")
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex32(v: &Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
    h
}

fn proof_json(p: &[Hash]) -> Value {
    Value::Array(p.iter().map(|h| Value::String(hx(h))).collect())
}

fn proof_from(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(unhex32).collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The leaf inputs used by the certificate-transparency reference test suite (RFC 6962 era).
const RFC_ENTRIES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Entries of the generated trees: the 8-byte big-endian encoding of the leaf index.
fn u64be_entries(count: u64) -> Vec<Vec<u8>> {
    (0..count).map(|i| i.to_be_bytes().to_vec()).collect()
}

fn tree_entries(tree: &Value) -> Vec<Vec<u8>> {
    if let Some(entries) = tree.get("entries") {
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| hex::decode(s(e)).unwrap())
            .collect()
    } else {
        assert_eq!(s(&tree["entry_rule"]), "u64be");
        u64be_entries(u(&tree["count"]))
    }
}

// RFC 8032 §7.1 test seeds (TEST 1 and TEST 2) and their published public keys.
const SEED_LOG: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUB_LOG: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SEED_WITNESS: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const PUB_WITNESS: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const LOG_NAME: &str = "example.com/zkscim-log";
const WITNESS_NAME: &str = "witness.example/w1";

fn seed(h: &str) -> [u8; 32] {
    let mut s = [0u8; 32];
    hex::decode_to_slice(h, &mut s).unwrap();
    s
}

// The published example of golang.org/x/mod/sumdb/note (data only).
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

#[test]
fn merkle_vectors() {
    let v = load("merkle.json");
    assert_eq!(unhex32(&v["empty_root"]), empty_root());

    for lh in v["leaf_hashes"].as_array().unwrap() {
        let entry = hex::decode(s(&lh["entry"])).unwrap();
        assert_eq!(unhex32(&lh["leaf_hash"]), leaf_hash(&entry));
    }
    for nh in v["node_hashes"].as_array().unwrap() {
        assert_eq!(
            unhex32(&nh["hash"]),
            node_hash(&unhex32(&nh["left"]), &unhex32(&nh["right"]))
        );
    }

    let mut checked = 0usize;
    for tree in v["trees"].as_array().unwrap() {
        let entries = tree_entries(tree);
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let mt = MemoryTree::from_leaves(&leaves).unwrap();
        for r in tree["roots"].as_array().unwrap() {
            let size = u(&r["size"]);
            let want = unhex32(&r["root"]);
            assert_eq!(
                root_from_leaves(&leaves[..size as usize]),
                want,
                "size {size}"
            );
            assert_eq!(root_at(&mt, size).unwrap(), want, "size {size}");
            checked += 1;
        }
        for c in tree["inclusion"].as_array().unwrap() {
            let (index, size) = (u(&c["index"]), u(&c["size"]));
            let proof = proof_from(&c["proof"]);
            assert_eq!(inclusion_proof(&mt, index, size).unwrap(), proof, "{c}");
            let root = root_from_leaves(&leaves[..size as usize]);
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
            checked += 1;
        }
        for c in tree["consistency"].as_array().unwrap() {
            let (old, new) = (u(&c["old_size"]), u(&c["new_size"]));
            let proof = proof_from(&c["proof"]);
            assert_eq!(consistency_proof(&mt, old, new).unwrap(), proof, "{c}");
            let old_root = root_from_leaves(&leaves[..old as usize]);
            let new_root = root_from_leaves(&leaves[..new as usize]);
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
            checked += 1;
        }
        for f in tree["frontiers"].as_array().unwrap() {
            let size = u(&f["size"]);
            let mut fr = Frontier::new();
            for l in &leaves[..size as usize] {
                fr.append(*l).unwrap();
            }
            let bytes = hex::decode(s(&f["bytes"])).unwrap();
            assert_eq!(fr.to_bytes(), bytes, "frontier {size}");
            assert_eq!(Frontier::from_bytes(&bytes).unwrap().root(), fr.root());
            checked += 1;
        }
    }

    for c in v["invalid_inclusion"].as_array().unwrap() {
        let err = verify_inclusion(
            &unhex32(&c["leaf_hash"]),
            u(&c["index"]),
            u(&c["size"]),
            &proof_from(&c["proof"]),
            &unhex32(&c["root"]),
        )
        .unwrap_err();
        assert_eq!(err.code(), s(&c["error"]), "{}", c["description"]);
        checked += 1;
    }
    for c in v["invalid_consistency"].as_array().unwrap() {
        let err = verify_consistency(
            u(&c["old_size"]),
            u(&c["new_size"]),
            &unhex32(&c["old_root"]),
            &unhex32(&c["new_root"]),
            &proof_from(&c["proof"]),
        )
        .unwrap_err();
        assert_eq!(err.code(), s(&c["error"]), "{}", c["description"]);
        checked += 1;
    }
    for c in v["invalid_frontiers"].as_array().unwrap() {
        let err = Frontier::from_bytes(&hex::decode(s(&c["bytes"])).unwrap()).unwrap_err();
        assert_eq!(err.code(), s(&c["error"]), "{}", c["description"]);
        checked += 1;
    }
    assert!(checked > 100, "only {checked} vectors checked");
}

fn verifier_from(keys: &Value) -> NoteVerifier {
    NoteVerifier::new(
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| VerifierKey::parse(s(k)).unwrap())
            .collect(),
    )
    .unwrap()
}

#[test]
fn checkpoint_vectors() {
    let v = load("checkpoint.json");

    // Keys: recompute public key, key id and both text forms from the seed.
    for k in v["keys"].as_array().unwrap() {
        let name = s(&k["name"]);
        let seed = seed(s(&k["seed"]));
        let (vkey, skey, pk) = match u(&k["type"]) {
            1 => {
                let sk = NoteSigner::from_seed(name, &seed).unwrap();
                let vk = sk.verifier_key().unwrap();
                (vk.to_string(), sk.to_private_text().to_string(), vk)
            }
            4 => {
                let sk = CosignatureSigner::from_seed(name, &seed).unwrap();
                let vk = sk.verifier_key().unwrap();
                (vk.to_string(), sk.to_private_text().to_string(), vk)
            }
            t => panic!("unknown type {t}"),
        };
        assert_eq!(hx(pk.verifying_key().as_bytes()), s(&k["public_key"]));
        assert_eq!(hx(&pk.key_id()), s(&k["key_id"]));
        assert_eq!(vkey, s(&k["vkey"]));
        assert_eq!(skey, s(&k["skey"]));
        assert_eq!(VerifierKey::parse(&vkey).unwrap(), pk);
    }

    for c in v["checkpoints"].as_array().unwrap() {
        let ext: Vec<String> = c["extensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| s(e).to_owned())
            .collect();
        let cp = Checkpoint::with_extensions(
            s(&c["origin"]),
            u(&c["size"]),
            unhex32(&c["root_hash"]),
            ext,
        )
        .unwrap();
        assert_eq!(cp.to_text(), s(&c["text"]));
        assert_eq!(Checkpoint::parse(s(&c["text"])).unwrap(), cp);
    }

    for c in v["invalid_checkpoints"].as_array().unwrap() {
        let err = Checkpoint::parse(s(&c["text"])).unwrap_err();
        assert_eq!(err.code(), s(&c["error"]), "{}", c["description"]);
    }

    // Signing is deterministic, so recomputed notes must match byte for byte.
    for c in v["signed"].as_array().unwrap() {
        let text = s(&c["text"]);
        let mut note = NoteSigner::parse(s(&c["signer_skey"]))
            .unwrap()
            .sign(text)
            .unwrap();
        if let Some(cos) = c.get("cosigner_skey") {
            note = CosignatureSigner::parse(s(cos))
                .unwrap()
                .cosign(&note, u(&c["timestamp"]))
                .unwrap();
        }
        assert_eq!(note, s(&c["note"]), "{}", c["description"]);
    }

    for c in v["valid_notes"].as_array().unwrap() {
        let verifier = verifier_from(&c["trusted_vkeys"]);
        let out = verifier.verify(s(&c["note"])).unwrap();
        assert_eq!(out.text, s(&c["text"]));
        let names: Vec<&str> = out.signatures.iter().map(|x| x.name.as_str()).collect();
        let want: Vec<&str> = c["verified_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(s)
            .collect();
        assert_eq!(names, want, "{}", c["description"]);
        assert_eq!(out.unknown_signatures as u64, u(&c["unknown_signatures"]));
        let stamps: Vec<Value> = out
            .signatures
            .iter()
            .map(|x| x.timestamp.map_or(Value::Null, |t| json!(t)))
            .collect();
        assert_eq!(
            Value::Array(stamps),
            c["timestamps"],
            "{}",
            c["description"]
        );
        if c["is_checkpoint"].as_bool().unwrap() {
            Checkpoint::open(s(&c["note"]), &verifier).unwrap();
        }
        // Flip every bit-0 of the note. Changes inside a line of a key the verifier does not know
        // are invisible to it by design (such lines are ignored), so they are skipped. Any other
        // change must either reject the note or drop the altered signature from the verified set
        // (e.g. renaming a signer turns its line into an unknown one).
        let note = s(&c["note"]);
        let parsed = SignedNote::parse(note).unwrap();
        let mut unknown_ranges = Vec::new();
        let mut offset = parsed.text().len() + 1;
        for (sig, line) in parsed
            .signatures()
            .iter()
            .zip(note[offset..].split_inclusive('\n'))
        {
            let known = verifier
                .keys()
                .iter()
                .any(|k| k.name() == sig.name && k.key_id() == sig.key_id);
            if !known {
                unknown_ranges.push(offset..offset + line.len() - 1);
            }
            offset += line.len();
        }
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            if unknown_ranges.iter().any(|r| r.contains(&i)) {
                continue;
            }
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            if let Ok(got) = verifier.verify_bytes(&b) {
                assert!(
                    got.signatures.len() < out.signatures.len() && got.text == out.text,
                    "{}: flip at {i} accepted",
                    c["description"]
                );
                if c["is_checkpoint"].as_bool().unwrap() && i > parsed.text().len() {
                    // Whatever survives, the log's own signature line must still be intact for the
                    // checkpoint to open.
                    if Checkpoint::open(std::str::from_utf8(&b).unwrap(), &verifier).is_ok() {
                        assert!(got
                            .signatures
                            .iter()
                            .any(|x| x.name == s(&c["text"]).lines().next().unwrap()));
                    }
                }
            }
        }
    }

    for c in v["invalid_notes"].as_array().unwrap() {
        let verifier = verifier_from(&c["trusted_vkeys"]);
        let note = s(&c["note"]);
        let err = if c["as_checkpoint"].as_bool().unwrap_or(false) {
            Checkpoint::open(note, &verifier).unwrap_err().code()
        } else {
            verifier.verify(note).unwrap_err().code()
        };
        assert_eq!(err, s(&c["error"]), "{}", c["description"]);
    }

    for c in v["invalid_vkeys"].as_array().unwrap() {
        let err = VerifierKey::parse(s(&c["vkey"])).unwrap_err();
        assert_eq!(err.code(), s(&c["error"]), "{}", c["description"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Generation (run explicitly; the output is committed under spec/vectors)
// ---------------------------------------------------------------------------------------------

fn tree_json(
    name: &str,
    entries: &[Vec<u8>],
    explicit: bool,
    sizes: &[u64],
    pairs: &[(u64, u64)],
    cons: &[(u64, u64)],
) -> Value {
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let mt = MemoryTree::from_leaves(&leaves).unwrap();
    let roots: Vec<Value> = sizes
        .iter()
        .map(|&n| json!({"size": n, "root": hx(&root_at(&mt, n).unwrap())}))
        .collect();
    let inclusion: Vec<Value> = pairs
        .iter()
        .map(|&(i, n)| json!({"index": i, "size": n, "proof": proof_json(&inclusion_proof(&mt, i, n).unwrap())}))
        .collect();
    let consistency: Vec<Value> = cons
        .iter()
        .map(|&(m, n)| json!({"old_size": m, "new_size": n, "proof": proof_json(&consistency_proof(&mt, m, n).unwrap())}))
        .collect();
    let frontiers: Vec<Value> = sizes
        .iter()
        .map(|&n| {
            let mut f = Frontier::new();
            for l in &leaves[..n as usize] {
                f.append(*l).unwrap();
            }
            json!({"size": n, "bytes": hx(&f.to_bytes())})
        })
        .collect();
    let mut t = json!({
        "name": name,
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "frontiers": frontiers,
    });
    if explicit {
        t["entries"] = Value::Array(entries.iter().map(|e| Value::String(hx(e))).collect());
    } else {
        t["entry_rule"] = json!("u64be");
        t["count"] = json!(entries.len());
    }
    t
}

fn merkle_json() -> Value {
    let rfc: Vec<Vec<u8>> = RFC_ENTRIES
        .iter()
        .map(|e| hex::decode(e).unwrap())
        .collect();
    let rfc_leaves: Vec<Hash> = rfc.iter().map(|e| leaf_hash(e)).collect();
    let mut all_pairs = Vec::new();
    let mut all_cons = Vec::new();
    for n in 1..=8u64 {
        for i in 0..n {
            all_pairs.push((i, n));
        }
        for m in 0..=n {
            all_cons.push((m, n));
        }
    }
    let small = tree_json(
        "rfc6962-reference-8",
        &rfc,
        true,
        &(0..=8).collect::<Vec<_>>(),
        &all_pairs,
        &all_cons,
    );

    let big_entries = u64be_entries(1000);
    let big_sizes = [1, 2, 3, 7, 8, 9, 31, 32, 33, 127, 128, 129, 500, 999, 1000];
    let big_pairs = [
        (0, 1000),
        (999, 1000),
        (511, 1000),
        (512, 1000),
        (313, 999),
        (64, 129),
        (128, 129),
        (6, 7),
    ];
    let big_cons = [
        (1, 1000),
        (2, 1000),
        (3, 1000),
        (512, 1000),
        (513, 1000),
        (999, 1000),
        (1000, 1000),
        (31, 33),
        (32, 33),
        (127, 500),
        (0, 1000),
    ];
    let big = tree_json(
        "u64be-1000",
        &big_entries,
        false,
        &big_sizes,
        &big_pairs,
        &big_cons,
    );

    let mt = MemoryTree::from_leaves(&rfc_leaves).unwrap();
    let root8 = mt.root();
    let root = |n| root_at(&mt, n).unwrap();
    let p38 = inclusion_proof(&mt, 3, 8).unwrap();
    let flip = |p: &[Hash], node: usize| {
        let mut q = p.to_vec();
        q[node][0] ^= 0x01;
        q
    };
    let mut bad_root = root8;
    bad_root[31] ^= 0x80;
    let inc = |desc: &str, leaf: Hash, i: u64, n: u64, proof: &[Hash], r: Hash| {
        let code = verify_inclusion(&leaf, i, n, proof, &r).unwrap_err().code();
        json!({"description": desc, "leaf_hash": hx(&leaf), "index": i, "size": n, "proof": proof_json(proof), "root": hx(&r), "error": code})
    };
    let l = &rfc_leaves;
    let invalid_inclusion = vec![
        inc("index equal to tree size", l[3], 8, 8, &p38, root8),
        inc("empty tree", l[0], 0, 0, &[], root(0)),
        inc("proof missing its last node", l[3], 3, 8, &p38[..2], root8),
        inc(
            "proof with an extra node",
            l[3],
            3,
            8,
            &[p38.clone(), vec![root8]].concat(),
            root8,
        ),
        inc(
            "first proof node altered",
            l[3],
            3,
            8,
            &flip(&p38, 0),
            root8,
        ),
        inc("last proof node altered", l[3], 3, 8, &flip(&p38, 2), root8),
        inc("wrong leaf", l[2], 3, 8, &p38, root8),
        inc("wrong index for the proof", l[3], 2, 8, &p38, root8),
        inc("wrong root", l[3], 3, 8, &p38, bad_root),
        inc(
            "proof for size 8 checked against size 7",
            l[3],
            3,
            7,
            &p38,
            root(7),
        ),
        inc(
            "leaf hash used as its own root without proof",
            l[0],
            0,
            2,
            &[],
            l[0],
        ),
    ];
    let c38 = consistency_proof(&mt, 3, 8).unwrap();
    let c48 = consistency_proof(&mt, 4, 8).unwrap();
    let con = |desc: &str, m: u64, n: u64, old: Hash, new: Hash, proof: &[Hash]| {
        let code = verify_consistency(m, n, &old, &new, proof)
            .unwrap_err()
            .code();
        json!({"description": desc, "old_size": m, "new_size": n, "old_root": hx(&old), "new_root": hx(&new), "proof": proof_json(proof), "error": code})
    };
    let invalid_consistency = vec![
        con("old size larger than new size", 8, 3, root8, root(3), &c38),
        con("proof missing a node", 3, 8, root(3), root8, &c38[..c38.len() - 1]),
        con("proof with an extra node", 3, 8, root(3), root8, &[c38.clone(), vec![root8]].concat()),
        con("non-empty proof between equal sizes", 8, 8, root8, root8, &c38[..1]),
        con("non-empty proof from the empty tree", 0, 8, root(0), root8, &c38[..1]),
        con("first proof node altered", 3, 8, root(3), root8, &flip(&c38, 0)),
        con("last proof node altered", 3, 8, root(3), root8, &flip(&c38, c38.len() - 1)),
        con("old root altered", 3, 8, root(2), root8, &c38),
        con("new root altered", 3, 8, root(3), bad_root, &c38),
        con("power-of-two old size, new root altered", 4, 8, root(4), bad_root, &c48),
        con("power-of-two old size, old root altered (the old root seeds the new-root computation, so it surfaces as a new-root mismatch)", 4, 8, root(3), root8, &c48),
        con("equal sizes, different roots", 8, 8, root8, root(7), &[]),
        con("empty old tree with a non-empty-tree root", 0, 8, root(1), root8, &[]),
    ];
    let f5 = {
        let mut f = Frontier::new();
        for x in &l[..5] {
            f.append(*x).unwrap();
        }
        f.to_bytes()
    };
    let invalid_frontiers = vec![
        json!({"description": "shorter than the size prefix", "bytes": "00000000000000", "error": Frontier::from_bytes(&[0; 7]).unwrap_err().code()}),
        json!({"description": "size 5 with one hash missing", "bytes": hx(&f5[..f5.len() - 32]), "error": Frontier::from_bytes(&f5[..f5.len() - 32]).unwrap_err().code()}),
        json!({"description": "size 5 with a trailing byte", "bytes": hx(&[f5.clone(), vec![0]].concat()), "error": Frontier::from_bytes(&[f5.clone(), vec![0]].concat()).unwrap_err().code()}),
        json!({"description": "size 0 with a hash", "bytes": hx(&[vec![0u8; 8], vec![0u8; 32]].concat()), "error": Frontier::from_bytes(&[vec![0u8; 8], vec![0u8; 32]].concat()).unwrap_err().code()}),
    ];

    json!({
        "description": "RFC 6962 / RFC 9162 Merkle tree vectors for zkscim. See spec/merkle.md. Hashes are lowercase hex. Entries are raw log entries (leaf hash = SHA-256(0x00 || entry)). Trees with entry_rule \"u64be\" have entries i = 8-byte big-endian i for i in 0..count.",
        "version": 1,
        "empty_root": hx(&empty_root()),
        "leaf_hashes": rfc.iter().map(|e| json!({"entry": hx(e), "leaf_hash": hx(&leaf_hash(e))})).collect::<Vec<_>>(),
        "node_hashes": [
            {"left": hx(&l[0]), "right": hx(&l[1]), "hash": hx(&node_hash(&l[0], &l[1]))},
            {"left": hx(&l[1]), "right": hx(&l[0]), "hash": hx(&node_hash(&l[1], &l[0]))},
        ],
        "trees": [small, big],
        "invalid_inclusion": invalid_inclusion,
        "invalid_consistency": invalid_consistency,
        "invalid_frontiers": invalid_frontiers,
    })
}

fn checkpoint_json() -> Value {
    let log = NoteSigner::from_seed(LOG_NAME, &seed(SEED_LOG)).unwrap();
    let witness = CosignatureSigner::from_seed(WITNESS_NAME, &seed(SEED_WITNESS)).unwrap();
    let log_vk = log.verifier_key().unwrap();
    let wit_vk = witness.verifier_key().unwrap();
    assert_eq!(hx(log_vk.verifying_key().as_bytes()), PUB_LOG);
    assert_eq!(hx(wit_vk.verifying_key().as_bytes()), PUB_WITNESS);
    // The same RFC 8032 seed as a plain Ed25519 key for a second, unrelated log.
    let other = NoteSigner::from_seed("example.com/other-log", &seed(SEED_WITNESS)).unwrap();
    let other_vk = other.verifier_key().unwrap();
    let key = |name: &str, sd: &str, t: u8, vk: &VerifierKey, sk: String| json!({"name": name, "seed": sd, "type": t, "public_key": hx(vk.verifying_key().as_bytes()), "key_id": hx(&vk.key_id()), "vkey": vk.to_string(), "skey": sk});
    let keys = vec![
        key(
            LOG_NAME,
            SEED_LOG,
            1,
            &log_vk,
            log.to_private_text().to_string(),
        ),
        key(
            WITNESS_NAME,
            SEED_WITNESS,
            4,
            &wit_vk,
            witness.to_private_text().to_string(),
        ),
        key(
            "example.com/other-log",
            SEED_WITNESS,
            1,
            &other_vk,
            other.to_private_text().to_string(),
        ),
    ];

    let rfc_leaves: Vec<Hash> = RFC_ENTRIES
        .iter()
        .map(|e| leaf_hash(&hex::decode(e).unwrap()))
        .collect();
    let cp8 = Checkpoint::new(LOG_NAME, 8, root_from_leaves(&rfc_leaves)).unwrap();
    let cp0 = Checkpoint::new(LOG_NAME, 0, empty_root()).unwrap();
    let cpx = Checkpoint::with_extensions(
        LOG_NAME,
        3,
        root_from_leaves(&rfc_leaves[..3]),
        vec!["zkscim-epoch 7".into()],
    )
    .unwrap();
    let cps: Vec<Value> = [&cp0, &cp8, &cpx]
        .iter()
        .map(|c| json!({"origin": c.origin(), "size": c.size(), "root_hash": hx(c.root_hash()), "extensions": c.extensions(), "text": c.to_text()}))
        .collect();

    let root8 = root_from_leaves(&rfc_leaves);
    let root_b64 = STANDARD.encode(root8);
    let short_b64 = STANDARD.encode(&root8[..31]);
    // Same 32 bytes, but the unused low bits of the last base64 digit set: decoders that accept
    // it would give one root two textual forms.
    let sloppy_b64 = {
        let mut t = root_b64.clone().into_bytes();
        let pos = t.len() - 2;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let idx = alphabet.iter().position(|&a| a == t[pos]).unwrap();
        t[pos] = alphabet[idx ^ 1];
        String::from_utf8(t).unwrap()
    };
    let urlsafe_b64 = root_b64.replace('+', "-").replace('/', "_");
    assert_ne!(urlsafe_b64, root_b64);
    let inv = |desc: &str, text: String| {
        let code = Checkpoint::parse(&text).unwrap_err().code();
        json!({"description": desc, "text": text, "error": code})
    };
    let invalid_checkpoints = vec![
        inv(
            "missing final newline",
            format!("{LOG_NAME}\n8\n{root_b64}"),
        ),
        inv(
            "leading zero in size",
            format!("{LOG_NAME}\n08\n{root_b64}\n"),
        ),
        inv("signed size", format!("{LOG_NAME}\n+8\n{root_b64}\n")),
        inv(
            "size above 2^64-1",
            format!("{LOG_NAME}\n18446744073709551616\n{root_b64}\n"),
        ),
        inv("empty origin", format!("\n8\n{root_b64}\n")),
        inv("only two lines", format!("{LOG_NAME}\n8\n")),
        inv(
            "root hash without padding",
            format!("{LOG_NAME}\n8\n{}\n", root_b64.trim_end_matches('=')),
        ),
        inv(
            "root hash of 31 bytes",
            format!("{LOG_NAME}\n8\n{short_b64}\n"),
        ),
        inv(
            "root hash with non-zero padding bits",
            format!("{LOG_NAME}\n8\n{sloppy_b64}\n"),
        ),
        inv(
            "root hash in URL-safe base64",
            format!("{LOG_NAME}\n8\n{urlsafe_b64}\n"),
        ),
        inv(
            "empty extension line",
            format!("{LOG_NAME}\n8\n{root_b64}\n\n"),
        ),
        inv("carriage return", format!("{LOG_NAME}\r\n8\n{root_b64}\n")),
    ];

    let text8 = cp8.to_text();
    let note8 = log.sign(&text8).unwrap();
    let ts = 1_700_000_000u64;
    let cosigned8 = witness.cosign(&note8, ts).unwrap();
    let peter_note = format!("{PETER_TEXT}\n{PETER_SIG}");
    let signed = vec![
        json!({"description": "log signs the size-8 checkpoint", "text": text8, "signer_skey": log.to_private_text().to_string(), "note": note8}),
        json!({"description": "witness cosigns it at a fixed timestamp", "text": text8, "signer_skey": log.to_private_text().to_string(), "cosigner_skey": witness.to_private_text().to_string(), "timestamp": ts, "note": cosigned8}),
        json!({"description": "golang.org/x/mod/sumdb/note published example", "text": PETER_TEXT, "signer_skey": PETER_SKEY, "note": peter_note}),
    ];

    let lv = log_vk.to_string();
    let wv = wit_vk.to_string();
    let ov = other_vk.to_string();
    let valid = |desc: &str,
                 note: &str,
                 text: &str,
                 trusted: Vec<&str>,
                 names: Vec<&str>,
                 unknown: usize,
                 stamps: Value,
                 is_cp: bool| {
        json!({"description": desc, "note": note, "text": text, "trusted_vkeys": trusted, "verified_names": names, "unknown_signatures": unknown, "timestamps": stamps, "is_checkpoint": is_cp})
    };
    let valid_notes = vec![
        valid(
            "log-signed checkpoint",
            &note8,
            &text8,
            vec![&lv],
            vec![LOG_NAME],
            0,
            json!([null]),
            true,
        ),
        valid(
            "cosigned checkpoint, both keys trusted",
            &cosigned8,
            &text8,
            vec![&lv, &wv],
            vec![LOG_NAME, WITNESS_NAME],
            0,
            json!([null, ts]),
            true,
        ),
        valid(
            "cosigned checkpoint, witness unknown",
            &cosigned8,
            &text8,
            vec![&lv],
            vec![LOG_NAME],
            1,
            json!([null]),
            true,
        ),
        valid(
            "published Go example",
            &peter_note,
            PETER_TEXT,
            vec![PETER_VKEY],
            vec!["PeterNeumann"],
            0,
            json!([null]),
            false,
        ),
        valid(
            "published Go example with an unknown second signer",
            &format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}"),
            PETER_TEXT,
            vec![PETER_VKEY],
            vec!["PeterNeumann"],
            1,
            json!([null]),
            false,
        ),
        valid(
            "published Go example, both signers trusted",
            &format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}"),
            PETER_TEXT,
            vec![PETER_VKEY, ENOCH_VKEY],
            vec!["PeterNeumann", "EnochRoot"],
            0,
            json!([null, null]),
            false,
        ),
    ];

    let sig_line = note8
        .strip_prefix(&format!("{text8}\n"))
        .unwrap()
        .to_owned();
    let cos_line = cosigned8.strip_prefix(&note8).unwrap().to_owned();
    let tampered_sig = {
        let (head, b64) = sig_line.trim_end().rsplit_once(' ').unwrap();
        let mut raw = STANDARD.decode(b64).unwrap();
        raw[10] ^= 0x01;
        format!("{head} {}\n", STANDARD.encode(raw))
    };
    let invalid = |desc: &str, note: String, trusted: Vec<&str>, as_cp: bool| {
        let v = NoteVerifier::new(
            trusted
                .iter()
                .map(|k| VerifierKey::parse(k).unwrap())
                .collect(),
        )
        .unwrap();
        let code = if as_cp {
            Checkpoint::open(&note, &v).unwrap_err().code()
        } else {
            v.verify(&note).unwrap_err().code()
        };
        json!({"description": desc, "note": note, "trusted_vkeys": trusted, "as_checkpoint": as_cp, "error": code})
    };
    let invalid_notes = vec![
        invalid("no trusted key signed", note8.clone(), vec![&wv], false),
        invalid(
            "signature bytes altered",
            format!("{text8}\n{tampered_sig}"),
            vec![&lv],
            false,
        ),
        invalid(
            "text altered after signing",
            note8.replacen("\n8\n", "\n9\n", 1),
            vec![&lv],
            false,
        ),
        invalid(
            "no blank line before signatures",
            note8.replacen(&format!("\n\n{}", "\u{2014}"), "\n\u{2014}", 1),
            vec![&lv],
            false,
        ),
        invalid(
            "signature line without em dash",
            format!("{text8}\n{}", sig_line.replacen('\u{2014}', "-", 1)),
            vec![&lv],
            false,
        ),
        invalid(
            "missing final newline",
            note8.trim_end().to_owned(),
            vec![&lv],
            false,
        ),
        invalid(
            "junk line after signatures",
            format!("{note8}junk\n"),
            vec![&lv],
            false,
        ),
        invalid(
            "tab character in text",
            format!("{LOG_NAME}\t\n{}", &note8[LOG_NAME.len() + 1..]),
            vec![&lv],
            false,
        ),
        invalid(
            "101 signature lines",
            format!("{text8}\n{}", sig_line.repeat(101)),
            vec![&lv],
            false,
        ),
        invalid(
            "only a witness cosignature, opened as checkpoint",
            format!("{text8}\n{cos_line}"),
            vec![&lv, &wv],
            true,
        ),
        invalid(
            "checkpoint signed by another log's key",
            other.sign(&text8).unwrap(),
            vec![&lv, &ov],
            true,
        ),
        invalid(
            "cosignature replayed with a different timestamp",
            {
                let (head, b64) = cos_line.trim_end().rsplit_once(' ').unwrap();
                let mut raw = STANDARD.decode(b64).unwrap();
                raw[11] ^= 0x01;
                format!("{note8}{head} {}\n", STANDARD.encode(raw))
            },
            vec![&lv, &wv],
            false,
        ),
    ];

    let bad_vkey = |desc: &str, k: String| {
        let code = VerifierKey::parse(&k).unwrap_err().code();
        json!({"description": desc, "vkey": k, "error": code})
    };
    let invalid_vkeys = vec![
        bad_vkey(
            "key id off by one",
            PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        ),
        bad_vkey(
            "upper-case key id",
            PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        ),
        bad_vkey(
            "space in name",
            PETER_VKEY.replace("PeterNeumann", "Peter Neumann"),
        ),
        bad_vkey("missing key material", "PeterNeumann+c74f20a3".to_owned()),
        bad_vkey(
            "unknown signature type",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".to_owned(),
        ),
        bad_vkey(
            "truncated key",
            PETER_VKEY[..PETER_VKEY.len() - 4].to_owned(),
        ),
    ];

    json!({
        "description": "C2SP tlog-checkpoint, signed-note (Ed25519, type 0x01) and tlog-cosignature (cosignature/v1, type 0x04) vectors for zkscim. See spec/checkpoint.md. Seeds are RFC 8032 section 7.1 TEST 1 and TEST 2. Hashes and seeds are lowercase hex.",
        "version": 1,
        "keys": keys,
        "checkpoints": cps,
        "invalid_checkpoints": invalid_checkpoints,
        "signed": signed,
        "valid_notes": valid_notes,
        "invalid_notes": invalid_notes,
        "invalid_vkeys": invalid_vkeys,
    })
}

#[test]
#[ignore = "writes spec/vectors/*.json; run explicitly to regenerate"]
fn regenerate_vectors() {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, v) in [
        ("merkle.json", merkle_json()),
        ("checkpoint.json", checkpoint_json()),
    ] {
        let mut text = serde_json::to_string_pretty(&v).unwrap();
        text.push('\n');
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// The committed files are exactly what the generator produces, so regenerating is a no-op.
#[test]
fn committed_vectors_are_current() {
    assert_eq!(load("merkle.json"), merkle_json());
    assert_eq!(load("checkpoint.json"), checkpoint_json());
}
