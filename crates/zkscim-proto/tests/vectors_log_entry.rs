//! Recomputes every vector in `spec/vectors/log_entry.json` (spec/log-entry.md).
//!
//! The vectors were produced by an independent encoder written from the spec, so agreement here
//! checks the Rust code against the text, not against itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value as Json;
use zkscim_proto::log_entry::{
    entry_hash_of, leaf_hash_of, submitted_hash_of, EntryKind, LogEntry, Outcome,
};

fn vectors() -> Json {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/log_entry.json"
    ));
    serde_json::from_str(text).unwrap()
}

fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

fn hash(v: &Json, key: &str) -> [u8; 32] {
    hex::decode(s(v, key)).unwrap().try_into().unwrap()
}

fn entry_from_json(e: &Json) -> LogEntry {
    let kind = match s(e, "kind") {
        "genesis" => EntryKind::Genesis,
        "certificate" => EntryKind::Certificate,
        "operation" => EntryKind::Operation,
        "revocation" => EntryKind::Revocation,
        "policy" => EntryKind::Policy,
        "refusal" => EntryKind::Refusal,
        "approval" => EntryKind::Approval,
        other => panic!("unknown kind {other}"),
    };
    let o = &e["outcome"];
    let outcome = match s(o, "status") {
        "applied" => Outcome::Applied {
            version: o["version"].as_str().map(str::to_owned),
        },
        "refused" => Outcome::Refused {
            code: s(o, "code").to_owned(),
            detail: s(o, "detail").to_owned(),
        },
        other => panic!("unknown status {other}"),
    };
    LogEntry {
        seq: e["seq"].as_u64().unwrap(),
        tenant: s(e, "tenant").to_owned(),
        time: e["time"].as_u64().unwrap(),
        kind,
        prev_hash: hash(e, "prev_hash"),
        submitted_hash: hash(e, "submitted_hash"),
        outcome,
    }
}

#[test]
fn entry_vectors() {
    let v = vectors();
    let entries = v["entries"].as_array().unwrap();
    let mut previous: Option<LogEntry> = None;
    for case in entries {
        let entry = entry_from_json(&case["entry"]);
        let bytes = entry.to_bytes();
        assert_eq!(hex::encode(&bytes), s(case, "encoding_hex"), "{case}");
        assert_eq!(hex::encode(entry.entry_hash()), s(case, "entry_hash_hex"));
        assert_eq!(hex::encode(entry.leaf_hash()), s(case, "leaf_hash_hex"));
        assert_eq!(
            hex::encode(entry_hash_of(&bytes)),
            s(case, "entry_hash_hex")
        );
        assert_eq!(hex::encode(leaf_hash_of(&bytes)), s(case, "leaf_hash_hex"));
        if let Some(submitted) = case["submitted_bytes_hex"].as_str() {
            assert_eq!(
                submitted_hash_of(&hex::decode(submitted).unwrap()),
                entry.submitted_hash
            );
        }
        let decoded = LogEntry::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, entry);
        // Entries 0..=6 form one chain.
        if let Some(prev) = &previous {
            if prev.seq + 1 == entry.seq {
                entry.verify_link(prev).unwrap();
            }
        }
        previous = Some(entry);
    }
}

#[test]
fn link_vectors() {
    let v = vectors();
    for case in v["links"].as_array().unwrap() {
        let entry = LogEntry::from_bytes(&hex::decode(s(case, "entry_hex")).unwrap()).unwrap();
        let prev = LogEntry::from_bytes(&hex::decode(s(case, "prev_hex")).unwrap()).unwrap();
        let result = entry.verify_link(&prev);
        match case["error"].as_str() {
            None => result.unwrap(),
            Some(code) => {
                let err = result.unwrap_err();
                assert_eq!(err.code(), code, "{}: {err}", s(case, "why"));
                assert!(
                    err.to_string()
                        .contains(&format!("log entry {}", entry.seq)),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn invalid_vectors() {
    let v = vectors();
    for case in v["invalid"].as_array().unwrap() {
        let bytes = match case.get("generated") {
            Some(g) => hex::decode(s(g, "fill_hex"))
                .unwrap()
                .repeat(usize::try_from(g["count"].as_u64().unwrap()).unwrap()),
            None => hex::decode(s(case, "encoding_hex")).unwrap(),
        };
        let err = LogEntry::from_bytes(&bytes).unwrap_err();
        assert_eq!(err.code(), s(case, "error"), "{}: {err}", s(case, "why"));
    }
}
