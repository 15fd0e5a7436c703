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
            &t.op(
                &t.connector_key,
                t.connector_chain(),
                create_user(&uuid(n), &token(n), true),
            ),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // One logged refusal: a duplicate blind index.
    let r = server.submit(
        "acme",
        &t.op(
            &t.connector_key,
            t.connector_chain(),
            create_user(&uuid(9), &token(1), true),
        ),
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
    assert_eq!(v["summary"]["refusals"]["scim.uniqueness"], 1);
    assert!(
        v["summary"]["keys"]["admin → okta-connector"]["applied"]
            .as_u64()
            .unwrap()
            >= 5,
        "{v}"
    );

    // Live mode compares the replayed directory with the server's digest.
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
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

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
    let r = server.submit(
        "acme",
        &t.op(
            &t.connector_key,
            t.connector_chain(),
            create_user(&uuid(20), &token(20), true),
        ),
    );
    assert_eq!(r.status, 201);
    let o = witness();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
