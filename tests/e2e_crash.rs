//! Crash safety: SIGKILL under load, restart, and check every receipt against the log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand_core::RngCore;
use serde_json::{json, Value as Json};
use support::*;
use zkscim_proto::cert::CertId;
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::envelope::{self, Change};
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome};
use zkscim_proto::merkle::{self, Hash};
use zkscim_rules::memory::MemoryState;
use zkscim_rules::{Settings, Verdict, Verification};

const THREADS: u64 = 8;
/// Each thread submits up to this many statements: 600 in all.
const PER_THREAD: u64 = 75;

/// What a submitter got back before the kill: the bytes, the receipt, and what it wrote.
struct Got {
    bytes: Vec<u8>,
    receipt: Json,
    target: (String, String),
}

fn hash32(hex_text: &str) -> Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

/// One submitter: creates users and changes them, with a membership change and a refusal mixed
/// in, until it is done, the deadline passes, or the server disappears.
fn submitter(
    base: &str,
    t: &Tenant,
    w: u64,
    group: &str,
    got: &Mutex<Vec<Got>>,
    stop: &AtomicBool,
    odd: &AtomicU64,
) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..PER_THREAD {
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            return;
        }
        let n = w * 10_000 + i / 4;
        let id = uuid(n);
        let (bytes, rtype, rid) = match i % 4 {
            0 => (
                t.op(
                    &t.connector_key,
                    t.connector_chain(),
                    create_user(&id, &token(n), true),
                ),
                "User",
                id.clone(),
            ),
            1 => (
                t.op(
                    &t.connector_key,
                    t.connector_chain(),
                    patch(
                        "User",
                        &id,
                        json!([{"op": "replace", "path": "active", "value": false}]),
                    ),
                ),
                "User",
                id.clone(),
            ),
            // Reactivation by the admin, or (every other time) by the connector: refused.
            2 if i % 8 == 2 => (
                t.op(
                    &t.admin_key,
                    t.admin_chain(),
                    patch(
                        "User",
                        &id,
                        json!([{"op": "replace", "path": "active", "value": true}]),
                    ),
                ),
                "User",
                id.clone(),
            ),
            2 => (
                t.op(
                    &t.connector_key,
                    t.connector_chain(),
                    patch(
                        "User",
                        &id,
                        json!([{"op": "replace", "path": "active", "value": true}]),
                    ),
                ),
                "User",
                id.clone(),
            ),
            _ => (
                t.op(
                    &t.admin_key,
                    t.admin_chain(),
                    patch(
                        "Group",
                        group,
                        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                    ),
                ),
                "Group",
                group.to_owned(),
            ),
        };
        let sent = agent
            .post(format!("{base}/v1/tenants/acme/submissions"))
            .header("content-type", "application/cose")
            .send(&bytes[..]);
        let Ok(response) = sent else {
            // The server is gone (or going): nothing more to send.
            return;
        };
        let r = Resp::from(response);
        let Ok(j) = serde_json::from_slice::<Json>(&r.body) else {
            // A response cut short by the kill carries nothing.
            return;
        };
        let receipt = if r.status == 201 {
            j
        } else {
            j["receipt"].clone()
        };
        if receipt.is_object() {
            got.lock().unwrap().push(Got {
                bytes,
                receipt,
                target: (rtype.to_owned(), rid),
            });
        } else {
            odd.fetch_add(1, Ordering::Relaxed);
            eprintln!("no receipt: {} {}", r.status, r.text());
        }
    }
}

#[test]
fn sigkill_under_load_keeps_every_receipt_and_the_log_replays_to_the_directory() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zkscim.db");
    let mut server = Server::start(&db);
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    let key_text = server.get("/v1/tenants/acme/log/key", None).text();
    let group = uuid(0xffff);
    let r = server.submit(
        "acme",
        &t.op(
            &t.admin_key,
            t.admin_chain(),
            body(
                "Group",
                &group,
                Change::create(&json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED})).unwrap(),
                &[("displayname", &token(0xffff))],
                None,
            ),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let got = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let odd = AtomicU64::new(0);
    // A random moment 0.5–4 s in: a debug build streams 35–65 statements a second here, so the
    // kill lands mid-load (600 statements would take 10–17 s).
    let delay = Duration::from_millis(500 + rand_core::OsRng.next_u64() % 3500);
    let base = server.base.clone();
    std::thread::scope(|s| {
        for w in 0..THREADS {
            let (base, t, group, got, stop, odd) = (&base, &t, &group, &got, &stop, &odd);
            s.spawn(move || submitter(base, t, w, group, got, stop, odd));
        }
        std::thread::sleep(delay);
        server.kill();
        stop.store(true, Ordering::Relaxed);
    });
    let got = got.into_inner().unwrap();
    eprintln!(
        "killed after {delay:?}: {} receipts before the kill, {} answers without one",
        got.len(),
        odd.load(Ordering::Relaxed)
    );
    assert_eq!(
        odd.load(Ordering::Relaxed),
        0,
        "every answer before the kill carries a receipt"
    );

    // Receipts verified when received; remember the largest checkpoint seen before the crash.
    let mut seen: Option<Checkpoint> = None;
    for g in &got {
        let cp = verify_receipt(&v, &g.receipt);
        assert_eq!(g.receipt["duplicate"], false);
        if seen.as_ref().is_none_or(|s| s.size() < cp.size()) {
            seen = Some(cp);
        }
    }

    // Restart on the same database.
    let server = Server::start(&db);
    assert_eq!(
        server.get("/v1/tenants/acme/log/key", None).text(),
        key_text,
        "same log key"
    );
    let (checkpoint, _) = Checkpoint::open(&server.checkpoint("acme"), &v).unwrap();
    let size = checkpoint.size();
    let entries = server.entries("acme", 0, size);
    assert_eq!(entries.len() as u64, size);
    for (i, (index, _, _)) in entries.iter().enumerate() {
        assert_eq!(*index, i as u64);
    }

    // Every receipt: its entry, byte for byte, at its index, recording its submission.
    for g in &got {
        let index = g.receipt["index"].as_u64().unwrap();
        assert!(
            index < size,
            "receipt index {index} beyond the restarted log ({size})"
        );
        let (_, entry, submitted) = &entries[index as usize];
        assert_eq!(
            hex::encode(entry),
            g.receipt["entry"].as_str().unwrap(),
            "entry {index} changed"
        );
        assert_eq!(
            *submitted,
            hex::encode(zkscim_proto::log_entry::submitted_hash_of(&g.bytes))
        );
    }

    // The log end to end: hash chain, Merkle root, signed checkpoint, consistency with the past.
    let decoded: Vec<LogEntry> = entries
        .iter()
        .map(|(_, e, _)| LogEntry::from_bytes(e).unwrap())
        .collect();
    assert_eq!(decoded[0].kind, EntryKind::Genesis);
    for pair in decoded.windows(2) {
        pair[1].verify_link(&pair[0]).unwrap();
    }
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|(_, e, _)| merkle::leaf_hash(e))
        .collect();
    assert_eq!(merkle::root_from_leaves(&leaves), *checkpoint.root_hash());
    if let Some(old) = &seen {
        let r = server.get(
            &format!(
                "/v1/tenants/acme/log/proof/consistency?old={}&new={size}",
                old.size()
            ),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let proof: Vec<Hash> = r.json()["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hash32(h.as_str().unwrap()))
            .collect();
        merkle::verify_consistency(
            old.size(),
            size,
            old.root_hash(),
            checkpoint.root_hash(),
            &proof,
        )
        .unwrap();
    }

    // The directory is the replay of the log, verdict by verdict.
    let registry = zkscim_scim::SchemaRegistry::with_builtins();
    let mut state = MemoryState::new();
    let mut cache: HashSet<CertId> = HashSet::new();
    let mut certificates: Vec<Vec<u8>> = Vec::new();
    for ((index, _, submitted_hash), entry) in entries.iter().zip(&decoded) {
        let r = server.get(
            &format!("/v1/tenants/acme/log/submitted/{submitted_hash}"),
            None,
        );
        assert_eq!(
            r.status,
            200,
            "submitted bytes of entry {index}: {}",
            r.text()
        );
        assert_eq!(
            hex::encode(zkscim_proto::log_entry::submitted_hash_of(&r.body)),
            *submitted_hash
        );
        if entry.kind == EntryKind::Certificate {
            certificates.push(r.body);
            continue;
        }
        let statement = envelope::parse_any(&r.body).unwrap();
        let tenant = state.tenant.clone();
        let verification = zkscim_rules::verify(
            &statement,
            tenant.as_ref(),
            "acme",
            entry.time,
            Settings::default(),
            &mut cache,
        );
        assert!(
            !matches!(verification, Verification::Forged(_)),
            "entry {index}: a logged statement does not verify: {verification:?}"
        );
        let decision = zkscim_rules::decide(
            &verification,
            tenant.as_ref(),
            &registry,
            &mut state,
            entry.time,
        )
        .unwrap()
        .unwrap();
        assert_eq!(decision.kind, entry.kind, "entry {index}");
        let replayed_certs: Vec<Vec<u8>> = decision
            .new_certificates
            .iter()
            .map(|c| c.bytes().to_vec())
            .collect();
        assert_eq!(
            replayed_certs,
            std::mem::take(&mut certificates),
            "first-seen certificates before entry {index}"
        );
        match (&decision.verdict, &entry.outcome) {
            (Verdict::Applied { version, .. }, Outcome::Applied { version: logged }) => {
                assert_eq!(version, logged, "entry {index}")
            }
            (Verdict::Refused(r), Outcome::Refused { code, .. }) => {
                assert_eq!(&r.code, code, "entry {index}")
            }
            (replayed, logged) => {
                panic!("entry {index}: replay says {replayed:?}, the log says {logged:?}")
            }
        }
        state.apply("acme", &decision);
    }
    assert!(
        certificates.is_empty(),
        "certificate entries at the end of the log belong to no statement"
    );
    let digest = server.get("/v1/tenants/acme/digest", None).json();
    assert_eq!(digest["treeSize"], size);
    assert_eq!(
        digest["digest"],
        hex::encode(state.digest()),
        "the directory differs from the replay of its log"
    );

    // The resources reflect every applied receipt (reads go through the signed-read path).
    let mut latest: std::collections::BTreeMap<(String, String), u64> =
        std::collections::BTreeMap::new();
    for g in &got {
        if g.receipt["outcome"]["status"] == "applied" {
            let version: u64 = g.receipt["outcome"]["version"]
                .as_str()
                .unwrap()
                .trim_start_matches("W/\"")
                .trim_end_matches('"')
                .parse()
                .unwrap();
            let e = latest.entry(g.target.clone()).or_default();
            *e = (*e).max(version);
        }
    }
    for ((rtype, id), version) in &latest {
        let endpoint = if rtype == "User" { "Users" } else { "Groups" };
        let path = format!("/scim/v2/acme/{endpoint}/{id}");
        let r = server.get(
            &path,
            Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let etag = r.header("etag").unwrap();
        let now_version: u64 = etag
            .trim_start_matches("W/\"")
            .trim_end_matches('"')
            .parse()
            .unwrap();
        assert!(
            now_version >= *version,
            "{path} at {etag}, but a receipt says version {version}"
        );
    }
    let members = {
        let path = format!("/scim/v2/acme/Groups/{group}");
        server
            .get(
                &path,
                Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
            )
            .json()["members"]
            .clone()
    };
    let member_count = members.as_array().map_or(0, Vec::len);
    let added = got
        .iter()
        .filter(|g| g.target.0 == "Group" && g.receipt["outcome"]["status"] == "applied")
        .count();
    assert!(
        member_count >= added,
        "{member_count} members, {added} additions acknowledged"
    );

    // The restarted server answers a pre-crash submission with its original receipt, and
    // continues the log where it stopped.
    if let Some(g) = got.first() {
        let r = server.submit("acme", &g.bytes);
        let j = if r.status < 300 {
            r.json()
        } else {
            r.json()["receipt"].clone()
        };
        assert_eq!(j["duplicate"], true, "{}", r.text());
        assert_eq!(j["index"], g.receipt["index"]);
        verify_receipt(&v, &j);
    }
    let r = server.submit(
        "acme",
        &t.op(
            &t.admin_key,
            t.admin_chain(),
            create_user(&uuid(0xabcdef), &token(0xabcdef), true),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["index"], size);
    verify_receipt(&v, &r.json());
    eprintln!("crash test took {:?}", started.elapsed());
}
