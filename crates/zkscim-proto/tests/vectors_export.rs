//! Test vectors for the log export format (`spec/vectors/export.json`, described in
//! `spec/export.md`).
//!
//! Every committed vector is re-checked through the public API (valid exports encode to the
//! committed bytes and decode to the committed records; invalid ones fail with the committed
//! error code), and the committed file must equal what this test generates.
//! Regenerate with `ZKSCIM_REGENERATE_VECTORS=1 cargo test -p zkscim-proto --test vectors_export`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{json, Value as Json};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::export::{
    self, CheckpointRecord, EntryRecord, ExportReader, Header, Item, Record, MAX_RECORD_BYTES,
};
use zkscim_proto::keys::SigningKey;
use zkscim_proto::log_entry::{submitted_hash_of, EntryKind, LogEntry, Outcome, ZERO_HASH};
use zkscim_proto::merkle::Frontier;
use zkscim_proto::note::NoteSigner;

const ROOT_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const LOG_SEED: &str = "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5";
const ORIGIN: &str = "zkscim.example/acme";

fn seed(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).unwrap();
    out
}

/// A two-entry log with one checkpoint after each entry (the second cosigned).
fn sample() -> (Header, Vec<Item>) {
    let log = NoteSigner::from_seed(ORIGIN, &seed(LOG_SEED)).unwrap();
    let root = SigningKey::from_seed(&seed(ROOT_SEED));
    let witness =
        zkscim_proto::note::CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).unwrap();
    let mut frontier = Frontier::new();
    let mut prev = ZERO_HASH;
    let mut items = Vec::new();
    for (seq, submitted) in [
        (0u64, b"genesis bytes".to_vec()),
        (1, b"operation".to_vec()),
    ] {
        let entry = LogEntry {
            seq,
            tenant: "acme".into(),
            time: 1_767_225_600 + seq,
            kind: if seq == 0 {
                EntryKind::Genesis
            } else {
                EntryKind::Operation
            },
            prev_hash: prev,
            submitted_hash: submitted_hash_of(&submitted),
            outcome: Outcome::Applied { version: None },
        };
        prev = entry.entry_hash();
        frontier.append(entry.leaf_hash()).unwrap();
        items.push(Item::Entry(EntryRecord {
            seq,
            entry: entry.to_bytes(),
            submitted,
        }));
        let text = Checkpoint::new(ORIGIN, frontier.size(), frontier.root())
            .unwrap()
            .to_text();
        let cosignatures = if seq == 1 {
            vec![witness.cosignature_line(&text, 1_767_225_700).unwrap()]
        } else {
            Vec::new()
        };
        items.push(Item::Checkpoint(CheckpointRecord {
            note: log.sign(&text).unwrap(),
            cosignatures,
        }));
    }
    let header = Header {
        tenant: "acme".into(),
        origin: ORIGIN.into(),
        log_key: log.verifier_key().unwrap().to_string(),
        root_key: root.public_key().to_text(),
        first_seq: 0,
        count: 2,
    };
    (header, items)
}

fn record_json(r: &Record) -> Json {
    match r {
        Record::Header(h) => json!({
            "type": "header", "tenant": h.tenant, "origin": h.origin, "log_key": h.log_key,
            "root_key": h.root_key, "first_seq": h.first_seq, "count": h.count,
        }),
        Record::Entry(e) => json!({
            "type": "entry", "seq": e.seq, "entry": hex::encode(&e.entry),
            "submitted": hex::encode(&e.submitted),
        }),
        Record::Checkpoint(c) => json!({
            "type": "checkpoint", "note": c.note, "cosignatures": c.cosignatures,
        }),
        Record::End(e) => json!({
            "type": "end", "count": e.count, "sha256": hex::encode(e.sha256),
        }),
    }
}

fn item_record(i: &Item) -> Record {
    match i {
        Item::Entry(e) => Record::Entry(e.clone()),
        Item::Checkpoint(c) => Record::Checkpoint(c.clone()),
    }
}

fn frame(r: &Record) -> Vec<u8> {
    r.to_framed()
}

fn generated() -> Json {
    let (header, items) = sample();
    let bytes = export::encode(&header, &items).unwrap();
    let mut records = vec![record_json(&Record::Header(header.clone()))];
    records.extend(items.iter().map(|i| record_json(&item_record(i))));
    let end_len = frame(&Record::End(export::End {
        count: 0,
        sha256: [0; 32],
    }))
    .len();
    let body = &bytes[..bytes.len() - end_len];
    let end = Record::End(export::End {
        count: 2,
        sha256: sha2_digest(body),
    });
    records.push(record_json(&end));

    let header_framed = frame(&Record::Header(header.clone()));
    let mut invalid = Vec::new();
    let mut case = |description: &str, bytes: Vec<u8>, error: &str| {
        invalid
            .push(json!({"description": description, "hex": hex::encode(bytes), "error": error}));
    };
    case("empty file", Vec::new(), "export.bad_magic");
    let mut b = bytes.clone();
    b[14] = b'2';
    case("wrong magic (version 2)", b, "export.bad_magic");
    case(
        "truncated: the end record is missing",
        bytes[..bytes.len() - end_len].to_vec(),
        "export.truncated",
    );
    case(
        "truncated inside a record",
        bytes[..bytes.len() - 7].to_vec(),
        "export.truncated",
    );
    let mut b = bytes.clone();
    b.push(0);
    case("a byte after the end record", b, "export.trailing_bytes");
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    case("end digest altered", b, "export.digest_mismatch");
    // An entry's submitted bytes altered: still well-formed, caught by the end digest.
    let mut b = bytes.clone();
    let pos = b.windows(9).position(|w| w == b"operation").unwrap();
    b[pos] = b'O';
    case("a submitted byte altered", b, "export.digest_mismatch");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&frame(&item_record(&items[0])));
    case("first record is not the header", b, "export.misplaced");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&header_framed);
    case("second header", b, "export.misplaced");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&(MAX_RECORD_BYTES as u32 + 1).to_be_bytes());
    case("record length above the limit", b, "export.record_length");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&[0, 0, 0, 0]);
    case("zero-length record", b, "export.record_length");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&[0, 0, 0, 3, 0xa1, 0x01, 0x09]);
    case("unknown record type 9", b, "export.unknown_type");
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&[0, 0, 0, 4, 0xa1, 0x18, 0x01, 0x01]);
    case(
        "non-deterministic CBOR (key 1 in two bytes)",
        b,
        "export.cbor",
    );
    let mut b = export::MAGIC.to_vec();
    b.extend_from_slice(&header_framed);
    b.extend_from_slice(&[0, 0, 0, 5, 0xa2, 0x01, 0x03, 0x02, 0x00]);
    case("end record without its digest", b, "export.shape");
    // Header announces 2 entries, the end record (with a correct digest) says 1.
    let one = export::encode(
        &Header {
            count: 1,
            ..header.clone()
        },
        &items[..2],
    )
    .unwrap();
    case(
        "header count 1 but two entry records",
        {
            let mut b = one[..one.len() - end_len].to_vec();
            b.extend_from_slice(&frame(&item_record(&items[2])));
            let end = Record::End(export::End {
                count: 1,
                sha256: sha2_digest(&b),
            });
            b.extend_from_slice(&frame(&end));
            b
        },
        "export.count_mismatch",
    );

    json!({
        "description": "zkscim log export vectors; see spec/export.md",
        "valid": [{
            "description": "two entries, a checkpoint after each, the second cosigned",
            "hex": hex::encode(&bytes),
            "records": records,
        }],
        "invalid": invalid,
    })
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

fn vectors_path() -> String {
    format!(
        "{}/../../spec/vectors/export.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn committed_vectors_match_generated() {
    let text = serde_json::to_string_pretty(&generated()).unwrap() + "\n";
    let path = vectors_path();
    if std::env::var_os("ZKSCIM_REGENERATE_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "export.json is stale: regenerate with ZKSCIM_REGENERATE_VECTORS=1 and review the diff"
    );
}

#[test]
fn committed_vectors_verify() {
    let path = vectors_path();
    let v: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in v["valid"].as_array().unwrap() {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let mut reader = ExportReader::new(&bytes[..]).unwrap();
        let mut got = vec![record_json(&Record::Header(reader.header().clone()))];
        while let Some(p) = reader.next_item().unwrap() {
            got.push(record_json(&item_record(&p.item)));
        }
        let want = case["records"].as_array().unwrap();
        assert_eq!(&got[..], &want[..want.len() - 1]);
        // Re-encoding record by record reproduces the bytes.
        let mut again = export::MAGIC.to_vec();
        let mut records: Vec<Record> = Vec::new();
        let mut r = ExportReader::new(&bytes[..]).unwrap();
        records.push(Record::Header(r.header().clone()));
        while let Some(p) = r.next_item().unwrap() {
            records.push(item_record(&p.item));
        }
        for rec in &records {
            again.extend_from_slice(&rec.to_framed());
        }
        let end = want.last().unwrap();
        let digest = hex::decode(end["sha256"].as_str().unwrap()).unwrap();
        assert_eq!(sha2_digest(&again).to_vec(), digest);
    }
    for case in v["invalid"].as_array().unwrap() {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let result = ExportReader::new(&bytes[..]).and_then(|mut r| {
            while r.next_item()?.is_some() {}
            Ok(())
        });
        let err = result.expect_err(case["description"].as_str().unwrap());
        assert_eq!(err.code(), case["error"], "{}: {err}", case["description"]);
    }
}
