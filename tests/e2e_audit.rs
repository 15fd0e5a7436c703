//! The auditor against a real server: `zkscim export`, `zkscim audit verify` (file and live),
//! tampering caught with the exact finding, fork caught through the saved state, and
//! `zkscim audit witness`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Output};

use support::*;

fn zkscim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkscim"))
        .args(args)
        .output()
        .unwrap()
}

fn populated() -> (tempfile::TempDir, Server, Tenant) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("zkscim.db"));
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    for n in 1..=5 {
        let r = server.submit(
            "acme",
            &t.connector_op(create_user(&uuid(n), &token(n), true)),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // One logged refusal: a duplicate blind index.
    let r = server.submit(
        "acme",
        &t.connector_op(create_user(&uuid(9), &token(1), true)),
    );
    assert_eq!(r.status, 409);
    (dir, server, t)
}

#[test]
fn export_verify_tamper_fork_and_witness() {
    let (dir, server, t) = populated();
    let key = server
        .get("/v1/tenants/acme/log/key", None)
        .text()
        .trim()
        .to_owned();
    let root = t.root.public_key().to_text();
    let export = dir.path().join("acme.zkx");
    let db = server.db.to_str().unwrap().to_owned();
    let o = zkscim(&[
        "export",
        "--db",
        &db,
        "--tenant",
        "acme",
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Clean audit from the file, with a state file.
    let state = dir.path().join("audit.json");
    let verify = |file: &std::path::Path, state: &std::path::Path| {
        zkscim(&[
            "audit",
            "verify",
            "--json",
            "--export",
            file.to_str().unwrap(),
            "--root",
            &root,
            "--log-key",
            &key,
            "--state",
            state.to_str().unwrap(),
        ])
    };
    let o = verify(&export, &state);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signatures"], "batch");
    assert_eq!(v["summary"]["refusals"]["scim.uniqueness"], 1);
    assert!(
        v["summary"]["keys"]["admin → okta-connector"]["applied"]
            .as_u64()
            .unwrap()
            >= 5,
        "{v}"
    );

    // Live mode compares the replayed directory with the server's digest; here with every
    // signature verified strictly.
    let o = zkscim(&[
        "audit",
        "verify",
        "--strict-signatures",
        "--server",
        &server.base,
        "--tenant",
        "acme",
        "--root",
        &root,
        "--log-key",
        &key,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("statement signatures: strict, one by one"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A flipped byte in a submitted statement (end digest recomputed, as a dishonest server would).
    let bytes = std::fs::read(&export).unwrap();
    let tampered = dir.path().join("tampered.zkx");
    let mut t2 = bytes.clone();
    let at = t2.len() / 2;
    t2[at] ^= 0x01;
    std::fs::write(&tampered, &t2).unwrap();
    let o = verify(&tampered, &dir.path().join("fresh.json"));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !v["report"]["findings"].as_array().unwrap().is_empty(),
        "{v}"
    );

    // The witness cosigns the log, then again after it grows.
    let wkey = dir.path().join("witness.pem");
    let o = zkscim(&["key", "generate", "--out", wkey.to_str().unwrap()]);
    assert!(o.status.success());
    let wstate = dir.path().join("witness.json");
    let witness = || {
        zkscim(&[
            "audit",
            "witness",
            "--server",
            &server.base,
            "--tenant",
            "acme",
            "--log-key",
            &key,
            "--key",
            wkey.to_str().unwrap(),
            "--name",
            "witness.example",
            "--state",
            wstate.to_str().unwrap(),
        ])
    };
    let o = witness();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("— witness.example "));
    // Submitted, the cosignature is served beside the checkpoint and checked by auditors.
    let o = zkscim(&[
        "audit",
        "witness",
        "--json",
        "--submit",
        "--server",
        &server.base,
        "--tenant",
        "acme",
        "--log-key",
        &key,
        "--key",
        wkey.to_str().unwrap(),
        "--name",
        "witness.example",
        "--state",
        wstate.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let witness_key = w["witness_key"].as_str().unwrap().to_owned();
    assert!(server.checkpoint("acme").contains("— witness.example "));
    let o = zkscim(&[
        "audit",
        "verify",
        "--server",
        &server.base,
        "--tenant",
        "acme",
        "--root",
        &root,
        "--log-key",
        &key,
        "--witness-key",
        &witness_key,
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Garbage is not stored.
    server
        .post(
            "/v1/tenants/acme/log/cosignatures",
            b"not a signature line",
            None,
        )
        .assert_error(400, "cosignature.invalid");
    let r = server.submit(
        "acme",
        &t.connector_op(create_user(&uuid(20), &token(20), true)),
    );
    assert_eq!(r.status, 201);
    let o = witness();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Rewrites an export the way a dishonest operator holding the log key would: change entries,
/// then recompute every hash link, the Merkle root and a freshly signed checkpoint, so only the
/// verdict re-derivation can tell.
fn forge(
    export: &[u8],
    log_key_pem: &std::path::Path,
    origin: &str,
    change: impl Fn(&mut zkscim_proto::log_entry::LogEntry),
) -> Vec<u8> {
    use zkscim_proto::export::{ExportReader, ExportWriter, Item};
    use zkscim_proto::log_entry::LogEntry;
    let mut reader = ExportReader::new(export).unwrap();
    let header = reader.header().clone();
    let mut entries = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        if let Item::Entry(e) = item.item {
            entries.push((LogEntry::from_bytes(&e.entry).unwrap(), e.submitted));
        }
    }
    let key = zkscim_keyfile::read_private_key(log_key_pem).unwrap();
    let signer = zkscim_proto::note::NoteSigner::from_seed(origin, &key.seed()).unwrap();
    let mut frontier = zkscim_proto::merkle::Frontier::new();
    let mut prev = [0u8; 32];
    let mut writer = ExportWriter::new(Vec::new(), &header).unwrap();
    for (mut entry, submitted) in entries {
        change(&mut entry);
        entry.prev_hash = prev;
        let bytes = entry.to_bytes();
        prev = zkscim_proto::log_entry::entry_hash_of(&bytes);
        frontier
            .append(zkscim_proto::merkle::leaf_hash(&bytes))
            .unwrap();
        writer.write_entry(entry.seq, &bytes, &submitted).unwrap();
    }
    let cp = zkscim_proto::checkpoint::Checkpoint::new(origin, frontier.size(), frontier.root())
        .unwrap();
    writer
        .write_checkpoint(&signer.sign(&cp.to_text()).unwrap(), &[])
        .unwrap();
    writer.finish().unwrap()
}

/// The tenant's log exported from the server's database, and an auditor run on any bytes
/// (written under `name` in `dir`) with the tenant's root and the server's log key.
struct Audit<'a> {
    dir: &'a std::path::Path,
    root: String,
    key: String,
}

impl Audit<'_> {
    fn new<'a>(dir: &'a std::path::Path, server: &Server, t: &Tenant) -> (Audit<'a>, Vec<u8>) {
        let key = server
            .get("/v1/tenants/acme/log/key", None)
            .text()
            .trim()
            .to_owned();
        let export = dir.join("acme.zkx");
        let db = server.db.to_str().unwrap().to_owned();
        assert!(zkscim(&[
            "export",
            "--db",
            &db,
            "--tenant",
            "acme",
            "--out",
            export.to_str().unwrap()
        ])
        .status
        .success());
        let audit = Audit {
            dir,
            root: t.root.public_key().to_text(),
            key,
        };
        (audit, std::fs::read(&export).unwrap())
    }

    /// Audits `original` as exported (it must be clean), then with entry `index`'s refusal
    /// rewritten into "applied" by the operator holding the log key (the log re-hashed and
    /// re-signed), and returns the findings of the latter.
    fn clean_then_forged_applied(&self, original: &[u8], index: u64) -> Vec<(u64, String)> {
        let clean = self.run(original, "clean.zkx");
        assert!(
            clean.status.success(),
            "{}",
            String::from_utf8_lossy(&clean.stdout)
        );
        let forged = forge(
            original,
            &self.dir.join("zkscim.db.log-key.pem"),
            "zkscim.local/acme",
            |e| {
                if e.seq == index {
                    e.outcome = zkscim_proto::log_entry::Outcome::Applied {
                        version: Some("W/\"1\"".into()),
                    };
                }
            },
        );
        let o = self.run(&forged, "forged.zkx");
        assert_eq!(o.status.code(), Some(1));
        findings(&o)
    }

    fn run(&self, bytes: &[u8], name: &str) -> Output {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        zkscim(&[
            "audit",
            "verify",
            "--json",
            "--export",
            path.to_str().unwrap(),
            "--root",
            &self.root,
            "--log-key",
            &self.key,
        ])
    }
}

fn findings(o: &Output) -> Vec<(u64, String)> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().unwrap_or(u64::MAX),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn forged_verdicts_with_a_valid_log_are_caught_by_re_derivation() {
    use zkscim_proto::log_entry::Outcome;
    let (dir, server, t) = populated();
    // An out-of-scope write (refused, logged), then a revocation and the revoked key's attempt.
    let out_of_scope = server.submit(
        "acme",
        &t.connector_op(patch("User", &uuid(1), serde_json::json!([{"op": "add", "path": "title", "value": format!("zk1.{}", "A".repeat(54))}]))),
    );
    let out_of_scope_index = out_of_scope.refused_at(403, "scope.denied.attribute");
    let revoke = server.submit(
        "acme",
        &t.revocation(&t.admin_key, t.admin_chain(), &t.connector),
    );
    assert_eq!(revoke.status, 201, "{}", revoke.text());
    let late = server.submit(
        "acme",
        &t.connector_op(create_user(&uuid(30), &token(30), true)),
    );
    let late_index = late.refused_at(403, "revoked.certificate");
    let (auditor, original) = Audit::new(dir.path(), &server, &t);
    let log_key_pem = dir.path().join("zkscim.db.log-key.pem");
    let audit = |bytes: &[u8], name: &str| auditor.run(bytes, name);
    assert!(audit(&original, "clean.zkx").status.success());

    let applied = |index: u64| {
        move |e: &mut zkscim_proto::log_entry::LogEntry| {
            if e.seq == index {
                e.outcome = Outcome::Applied {
                    version: Some("W/\"2\"".into()),
                };
            }
        }
    };
    // A forged "applied" for the out-of-scope operation.
    let o = audit(
        &forge(
            &original,
            &log_key_pem,
            "zkscim.local/acme",
            applied(out_of_scope_index),
        ),
        "a.zkx",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        findings(&o),
        [(
            out_of_scope_index,
            "audit.verdict.applied_should_refuse".to_owned()
        )]
    );
    // The revoked key's later operation marked applied.
    let o = audit(
        &forge(
            &original,
            &log_key_pem,
            "zkscim.local/acme",
            applied(late_index),
        ),
        "b.zkx",
    );
    assert_eq!(
        findings(&o),
        [(late_index, "audit.verdict.applied_should_refuse".to_owned())]
    );
    // A refusal logged for a valid operation (the first user create, entry 3).
    let o = audit(
        &forge(&original, &log_key_pem, "zkscim.local/acme", |e| {
            if e.seq == 3 {
                e.outcome = Outcome::Refused {
                    code: "scope.denied.attribute".into(),
                    detail: "forged".into(),
                };
            }
        }),
        "c.zkx",
    );
    assert_eq!(
        findings(&o)[0],
        (3, "audit.verdict.refused_should_apply".to_owned())
    );
}

/// The auditor re-derives lifetime-cap verdicts from the logged policy: a clean log with a
/// policy and a capped refusal audits clean, and the refusal forged into "applied" is caught.
#[test]
fn lifetime_cap_verdicts_are_re_derived() {
    use zkscim_proto::policy::TenantPolicy;
    let (dir, server, t) = populated();
    let mut policy = TenantPolicy::default_policy();
    policy.lifetime_caps.set(2, 1_800).unwrap();
    let statement = t.policy(&t.admin_key, t.admin_chain(), &policy);
    assert_eq!(server.submit("acme", &statement).status, 201);
    let capped = server.submit(
        "acme",
        &t.connector_op(create_user(&uuid(40), &token(40), true)),
    );
    let capped_index = capped.refused_at(403, "policy.lifetime_exceeded");
    // Deactivation under the same over-long connector is applied.
    let off = server.submit("acme", &t.connector_op(set_active(&uuid(1), false)));
    assert_eq!(off.status, 201, "{}", off.text());
    let (auditor, original) = Audit::new(dir.path(), &server, &t);
    assert_eq!(
        auditor.clean_then_forged_applied(&original, capped_index),
        [(
            capped_index,
            "audit.verdict.applied_should_refuse".to_owned()
        )]
    );
}

/// The auditor replays approvals: a log where a privileged group change was refused alone and
/// applied with an approval audits clean, and the refusal forged into "applied" is caught.
#[test]
fn approval_verdicts_are_re_derived() {
    use zkscim_proto::policy::TenantPolicy;
    let (dir, server, t) = populated();
    let group = serde_json::json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED});
    let g = uuid(100);
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "Group",
            &g,
            zkscim_proto::envelope::Change::create(&group).unwrap(),
            &[("displayname", &token(100))],
            None,
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let mut policy = TenantPolicy::default_policy();
    policy.privileged_groups.set(&g, 2).unwrap();
    assert_eq!(
        server
            .submit("acme", &t.policy(&t.admin_key, t.admin_chain(), &policy))
            .status,
        201
    );
    let add = || {
        t.admin_op(patch(
            "Group",
            &g,
            serde_json::json!([{"op": "add", "path": "members", "value": [{"value": uuid(1)}]}]),
        ))
    };
    let alone = server.submit("acme", &add());
    let alone_index = alone.refused_at(403, "policy.approvals_required");
    let (second_key, second) = t.second_admin("second-admin");
    let statement = add();
    let approval = t.approval(&second_key, second, &statement);
    assert_eq!(server.submit("acme", &approval).status, 201);
    assert_eq!(server.submit("acme", &statement).status, 201);
    let (auditor, original) = Audit::new(dir.path(), &server, &t);
    assert_eq!(
        auditor.clean_then_forged_applied(&original, alone_index),
        [(
            alone_index,
            "audit.verdict.applied_should_refuse".to_owned()
        )]
    );
}
