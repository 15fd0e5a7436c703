//! Crash safety of the real binary: eight clients stream signed creates, patches, membership
//! changes and refusals while the test SIGKILLs the server at a random point (twice), then stops
//! it with SIGTERM under the same load. After every restart on the same database: each receipt
//! received is in the log at its index, byte for byte; the hash chain links; the Merkle root over
//! every leaf is the signed checkpoint's; the checkpoint is consistent with the last one seen
//! before the crash; and the directory digest equals the replay of the log (a hand-written fold
//! of `verify` + `decide` + `MemoryState`, and the auditor's `Replayer`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
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
/// Stop-and-restart rounds on one database: SIGKILL in all but the last, SIGTERM in the last.
const ROUNDS: u64 = 3;
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

/// What the submitters share with the test: receipts, the stop flag, answers without a receipt.
struct Shared {
    got: Mutex<Vec<Got>>,
    stop: AtomicBool,
    odd: AtomicU64,
    /// `503 submit.unavailable` answers: legitimate only while shutting down gracefully.
    unavailable: AtomicU64,
}

/// One submitter: creates users and changes them, with a membership change and a refusal mixed
/// in, until it is done, the deadline passes, or the server disappears.
fn submitter(base: &str, t: &Tenant, w: u64, round: u64, group: &str, shared: &Shared) {
    let Shared {
        got,
        stop,
        odd,
        unavailable,
    } = shared;
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
        let n = round * 100_000 + w * 10_000 + i / 4;
        let id = uuid(n);
        let (bytes, rtype, rid) = match i % 4 {
            0 => (
                t.connector_op(create_user(&id, &token(n), true)),
                "User",
                id.clone(),
            ),
            1 => (t.connector_op(set_active(&id, false)), "User", id.clone()),
            // Reactivation by the admin, or (every other time) by the connector: refused.
            2 if i % 8 == 2 => (t.admin_op(set_active(&id, true)), "User", id.clone()),
            2 => (t.connector_op(set_active(&id, true)), "User", id.clone()),
            _ => (
                t.admin_op(patch(
                    "Group",
                    group,
                    json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                )),
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
        } else if r.status == 503 && r.code() == "submit.unavailable" {
            unavailable.fetch_add(1, Ordering::Relaxed);
        } else {
            odd.fetch_add(1, Ordering::Relaxed);
            eprintln!("no receipt: {} {}", r.status, r.text());
        }
    }
}

/// Streams the workload from [`THREADS`] clients and SIGKILLs the server (or, when `graceful`,
/// SIGTERMs it and waits for a clean exit) at a random moment. Returns the receipts received.
fn stream_and_kill(
    server: &mut Server,
    t: &Tenant,
    group: &str,
    round: u64,
    graceful: bool,
) -> Vec<Got> {
    let shared = Shared {
        got: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        odd: AtomicU64::new(0),
        unavailable: AtomicU64::new(0),
    };
    // A random moment, chosen by progress rather than wall time so it lands mid-load whatever
    // the machine's speed: once a random number of receipts (between 1/12 and 11/12 of the
    // workload) has come back, plus a random sub-millisecond jitter. 30 s caps the whole run.
    let total = THREADS * PER_THREAD;
    let target = total / 12 + rand_core::OsRng.next_u64() % (total * 10 / 12);
    let jitter = Duration::from_micros(rand_core::OsRng.next_u64() % 1000);
    let base = server.base.clone();
    let streaming = Instant::now();
    let finished = AtomicU64::new(0);
    std::thread::scope(|s| {
        for w in 0..THREADS {
            let (base, shared, finished) = (&base, &shared, &finished);
            s.spawn(move || {
                submitter(base, t, w, round, group, shared);
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        while (shared.got.lock().unwrap().len() as u64) < target
            && finished.load(Ordering::Relaxed) < THREADS
            && streaming.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(jitter);
        if graceful {
            server.stop();
        } else {
            server.kill();
        }
        shared.stop.store(true, Ordering::Relaxed);
    });
    let odd = shared.odd.load(Ordering::Relaxed);
    let unavailable = shared.unavailable.load(Ordering::Relaxed);
    assert!(
        graceful || unavailable == 0,
        "{unavailable} submissions found the writer unavailable before the kill"
    );
    let got = shared.got.into_inner().unwrap();
    eprintln!(
        "round {round}: {} after {:?} (target {target}): {} receipts, {unavailable} unavailable",
        if graceful { "SIGTERM" } else { "SIGKILL" },
        streaming.elapsed(),
        got.len(),
    );
    assert_eq!(odd, 0, "every answer before the kill carries a receipt");
    assert!(
        (got.len() as u64) < total,
        "the kill should land before the workload ends"
    );
    got
}

/// After a restart: every receipt ever received is in the log at its index, the log verifies
/// end to end and is consistent with `seen` (the largest checkpoint received before the crash),
/// the directory equals the replay of the log, and the resources reflect every applied receipt.
fn verify_after_restart(
    server: &Server,
    t: &Tenant,
    v: &zkscim_proto::note::NoteVerifier,
    group: &str,
    got: &[Got],
    seen: Option<&Checkpoint>,
) -> Checkpoint {
    let (checkpoint, _) = Checkpoint::open(&server.checkpoint("acme"), v).unwrap();
    let size = checkpoint.size();
    let entries = server.entries("acme", 0, size);
    assert_eq!(entries.len() as u64, size);
    for (i, (index, _, _)) in entries.iter().enumerate() {
        assert_eq!(*index, i as u64);
    }

    // Every receipt: its entry, byte for byte, at its index, recording its submission.
    for g in got {
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
    if let Some(old) = seen {
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
    // The auditor's replayer folds the same log independently of the hand-written fold below.
    let mut replayer = zkscim_rules::replay::Replayer::new(
        "acme",
        t.root.public_key(),
        Settings::default(),
        zkscim_scim::SchemaRegistry::with_builtins(),
    );
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
        if let Err(finding) = replayer.replay(entry, &r.body) {
            panic!("entry {index}: the replayer disagrees with the log: {finding:?}");
        }
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
    assert_eq!(
        digest["digest"],
        hex::encode(replayer.state().digest()),
        "the directory differs from the auditor's replay"
    );

    // The resources reflect every applied receipt (reads go through the signed-read path).
    let version_of = |etag: &str| -> u64 {
        etag.trim_start_matches("W/\"")
            .trim_end_matches('"')
            .parse()
            .unwrap()
    };
    let mut latest: BTreeMap<(String, String), u64> = BTreeMap::new();
    for g in got {
        if g.receipt["outcome"]["status"] == "applied" {
            let version = version_of(g.receipt["outcome"]["version"].as_str().unwrap());
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
        assert!(
            version_of(&etag) >= *version,
            "{path} at {etag}, but a receipt says version {version}"
        );
    }
    let path = format!("/scim/v2/acme/Groups/{group}");
    let members = server
        .get(
            &path,
            Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
        )
        .json()["members"]
        .clone();
    let members: HashSet<String> = members
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| x["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    for g in got {
        if g.target.0 == "Group" && g.receipt["outcome"]["status"] == "applied" {
            let payload = envelope::parse_any(&g.bytes).unwrap();
            let envelope::Statement::Operation(op) = payload else {
                panic!("not an operation")
            };
            let added = op.body().body_json().unwrap()[0]["value"][0]["value"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                members.contains(&added),
                "acknowledged member {added} is missing"
            );
        }
    }
    checkpoint
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
        &t.admin_op(body(
            "Group",
            &group,
            Change::create(&json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED})).unwrap(),
            &[("displayname", &token(0xffff))],
            None,
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // Two crashes in a row on the same database, then a graceful stop under the same load:
    // recovery must hold every time.
    let mut all: Vec<Got> = Vec::new();
    for round in 0..ROUNDS {
        let got = stream_and_kill(&mut server, &t, &group, round, round == ROUNDS - 1);
        // Receipts verified when received; the largest checkpoint seen before the crash.
        let mut seen: Option<Checkpoint> = None;
        for g in &got {
            let cp = verify_receipt(&v, &g.receipt);
            assert_eq!(g.receipt["duplicate"], false);
            if seen.as_ref().is_none_or(|s| s.size() < cp.size()) {
                seen = Some(cp);
            }
        }
        all.extend(got);
        server = Server::start(&db);
        assert_eq!(
            server.get("/v1/tenants/acme/log/key", None).text(),
            key_text,
            "same log key"
        );
        verify_after_restart(&server, &t, &v, &group, &all, seen.as_ref());
    }

    // The restarted server answers a pre-crash submission with its original receipt, and
    // continues the log where it stopped.
    let size = server.tree_size("acme");
    for g in all.iter().step_by(97) {
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
        &t.admin_op(create_user(&uuid(0xabcdef), &token(0xabcdef), true)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["index"], size);
    verify_receipt(&v, &r.json());
    eprintln!("crash test took {:?}", started.elapsed());
}
