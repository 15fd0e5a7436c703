//! `zkscim cert …` run as a real process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use base64::Engine as _;
use common::*;

#[test]
fn issue_show_and_verify_a_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let text = std::fs::read_to_string(d.join("okta.chain")).unwrap();
    assert_eq!(
        text.matches("-----BEGIN ZKSCIM CERTIFICATE-----").count(),
        2
    );

    let human = ok(&run(d, &["cert", "show", "okta.cert"]));
    for needle in [
        "okta-prod",
        "tenant:       acme",
        "create, replace, patch",
        "on:           User",
        "reactivate",
        "may not delegate further",
    ] {
        assert!(human.contains(needle), "{needle:?} in {human}");
    }
    assert!(
        human.contains("expires in 23h 59m") || human.contains("expires in 24h"),
        "{human}"
    );
    let v = json(&run(d, &["cert", "show", "okta.chain", "--json"]));
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["label"], "admin");
    assert_eq!(certs[0]["issued_by_root"], true);
    assert_eq!(certs[1]["parent"], certs[0]["id"]);
    assert_eq!(
        certs[1]["scope"]["resource_types"],
        serde_json::json!(["User"])
    );
    assert_eq!(certs[1]["scope"]["groups"], serde_json::Value::Null);
    assert_eq!(certs[1]["depth"], 0);
    assert_eq!(certs[1]["status"], "valid");
    let okta_fp = stdout(&run(d, &["key", "fingerprint", "okta.pub"]));
    assert_eq!(certs[1]["subject_fingerprint"], okta_fp.trim());

    let out = ok(&run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
        ],
    ));
    assert!(
        out.contains("chain OK") && out.contains("admin → okta-prod"),
        "{out}"
    );
    let v = json(&run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
            "--json",
        ],
    ));
    assert_eq!(v["valid"], true);
    assert_eq!(v["labels"], serde_json::json!(["admin", "okta-prod"]));
    assert_eq!(
        v["scope"]["operations"],
        serde_json::json!(["create", "replace", "patch"])
    );

    // Failures name the certificate and the check, exit 1, with a hint.
    let o = run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "other",
        ],
    );
    fails(&o, 1, "issued for tenant 'acme', not 'other'");
    let o = run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "okta.pub",
            "--tenant",
            "acme",
        ],
    );
    fails(&o, 1, "does not start at this root");
    let o = run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
            "--at",
            "2099-01-01T00:00:00Z",
        ],
    );
    fails(&o, 1, "certificate 0 (admin");
    assert!(
        stderr(&o).contains("expired") && stderr(&o).contains("renew"),
        "{}",
        stderr(&o)
    );
    let v = json(&run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
            "--at",
            "1",
            "--json",
        ],
    ));
    assert_eq!(v["error"]["code"], "chain.not_yet_valid");
    // Root and tenant from the tenant directory (flag or environment).
    ok(&run(
        d,
        &["cert", "verify", "okta.chain", "--tenant-dir", "acme"],
    ));
    let o = run_with(
        d,
        &["cert", "verify", "okta.chain"],
        None,
        &[("ZKSCIM_TENANT_DIR", "acme")],
    );
    assert!(stdout(&o).contains("chain OK"), "{}", stderr(&o));
    fails(
        &run(d, &["cert", "verify", "okta.chain"]),
        2,
        "--tenant-dir",
    );
    // A reordered chain file: show warns, verify names the first certificate.
    let okta = std::fs::read_to_string(d.join("okta.cert")).unwrap();
    let admin = std::fs::read_to_string(d.join("admin.cert")).unwrap();
    std::fs::write(d.join("reversed.chain"), format!("{okta}{admin}")).unwrap();
    let out = ok(&run(d, &["cert", "show", "reversed.chain"]));
    assert!(out.contains("partial") && out.contains("WARNING"), "{out}");
    fails(
        &run(
            d,
            &["cert", "verify", "reversed.chain", "--tenant-dir", "acme"],
        ),
        1,
        "certificate 0 (okta-prod",
    );
    // The connector's certificate alone does not start at the root.
    let o = run(
        d,
        &[
            "cert",
            "verify",
            "okta.cert",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("chain.issuer") || stderr(&o).contains("issued by key"),
        "{}",
        stderr(&o)
    );
}

fn issue(d: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "cert",
        "issue",
        "--subject",
        "new.pub",
        "--label",
        "child",
        "--out",
        "child.cert",
    ];
    args.extend_from_slice(extra);
    run(d, &args)
}

#[test]
fn escalation_is_refused_at_issue_naming_the_dimension() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    ok(&run(d, &["key", "generate", "--out", "new.pem"]));
    ok(&run(d, &["key", "generate", "--out", "narrow.pem"]));
    ok(&run(
        d,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "admin.pem",
            "--parent",
            "admin.chain",
            "--subject",
            "narrow.pub",
            "--ops",
            "create,patch",
            "--types",
            "User",
            "--attrs",
            "active,name.*",
            "--groups",
            "g1,g2",
            "--cap",
            "delegate",
            "--depth",
            "0",
            "--ttl",
            "2h",
            "--label",
            "narrow",
            "--out",
            "narrow.cert",
            "--chain-out",
            "narrow.chain",
        ],
    ));
    // narrow has depth 0: nothing may be issued under it.
    let base = [
        "--issuer-key",
        "narrow.pem",
        "--parent",
        "narrow.chain",
        "--types",
        "User",
        "--attrs",
        "active",
        "--ttl",
        "1h",
    ];
    let mut a = base.to_vec();
    a.extend(["--ops", "create"]);
    fails(&issue(d, &a), 1, "in depth");

    // A root-issued parent with depth to spare and narrow lists, to check each list dimension.
    ok(&run(
        d,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "acme/root.pem",
            "--tenant",
            "acme",
            "--subject",
            "narrow.pub",
            "--ops",
            "create,patch",
            "--types",
            "User",
            "--attrs",
            "active,name.*",
            "--groups",
            "g1,g2",
            "--cap",
            "delegate",
            "--depth",
            "1",
            "--ttl",
            "2h",
            "--label",
            "narrow",
            "--out",
            "narrow.cert",
            "--chain-out",
            "narrow.chain",
            "--force",
        ],
    ));
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "--ops",
                "create,delete",
                "--types",
                "User",
                "--attrs",
                "active",
                "--groups",
                "g1",
            ],
            "exceed its parent 'narrow' in operations: operation 'delete'",
            "--ops",
        ),
        (
            &[
                "--ops",
                "create",
                "--types",
                "User,Group",
                "--attrs",
                "active",
                "--groups",
                "g1",
            ],
            "in resource types: resource type 'Group'",
            "--types",
        ),
        (
            &[
                "--ops",
                "create",
                "--types",
                "User",
                "--attrs",
                "active,emails",
                "--groups",
                "g1",
            ],
            "in attributes: attribute pattern 'emails'",
            "--attrs",
        ),
        (
            &[
                "--ops", "create", "--types", "User", "--attrs", "active", "--groups", "g1,g3",
            ],
            "in groups: group 'g3'",
            "--groups",
        ),
        (
            &["--ops", "create", "--types", "User", "--attrs", "active"],
            "in groups: any group",
            "--groups",
        ),
    ];
    for (flags, message, hint) in cases {
        let mut a = vec![
            "--issuer-key",
            "narrow.pem",
            "--parent",
            "narrow.chain",
            "--ttl",
            "1h",
        ];
        a.extend_from_slice(flags);
        let o = issue(d, &a);
        fails(&o, 1, message);
        assert!(
            stderr(&o).contains(&format!("narrow {hint}")),
            "{flags:?}: {}",
            stderr(&o)
        );
        assert!(!d.join("child.cert").exists());
    }

    // Under admin (depth 1, every attribute, User and Group): each dimension on its own.
    let admin = ["--issuer-key", "admin.pem", "--parent", "admin.chain"];
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "--ops", "create", "--types", "Agent", "--attrs", "active", "--ttl", "1h",
            ],
            "in resource types",
            "--types",
        ),
        (
            &[
                "--ops", "create", "--types", "*", "--attrs", "active", "--ttl", "1h",
            ],
            "in resource types",
            "--types",
        ),
        (
            &[
                "--ops", "create", "--types", "User", "--attrs", "active", "--cap", "policy",
                "--ttl", "1h",
            ],
            "in capabilities",
            "--cap",
        ),
        (
            &[
                "--ops", "create", "--types", "User", "--attrs", "active", "--ttl", "90d",
            ],
            "in validity",
            "--ttl",
        ),
        (
            &[
                "--ops", "create", "--types", "User", "--attrs", "active", "--ttl", "1h",
                "--depth", "1",
            ],
            "in depth",
            "--depth 0",
        ),
    ];
    for (flags, message, hint) in cases {
        let mut a = admin.to_vec();
        a.extend_from_slice(flags);
        let o = issue(d, &a);
        fails(&o, 1, message);
        assert!(stderr(&o).contains(hint), "{flags:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("exceed its parent 'admin'"),
            "{}",
            stderr(&o)
        );
    }
    let mut a = admin.to_vec();
    a.extend([
        "--ops",
        "read,create,patch",
        "--types",
        "User",
        "--attrs",
        "active",
        "--ttl",
        "1h",
        "--json",
    ]);
    let o = issue(d, &a);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(d.join("child.cert")).unwrap();
    // okta (no delegate capability) may not issue.
    let o = issue(
        d,
        &[
            "--issuer-key",
            "okta.pem",
            "--parent",
            "okta.chain",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "active",
            "--ttl",
            "1h",
        ],
    );
    fails(&o, 1, "lacks the 'delegate' capability");
    // The wrong key for the parent.
    let o = issue(
        d,
        &[
            "--issuer-key",
            "new.pem",
            "--parent",
            "admin.chain",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "active",
            "--ttl",
            "1h",
        ],
    );
    fails(
        &o,
        1,
        "is not the subject of the parent certificate 'admin'",
    );
    // Nothing was written by any refusal.
    assert!(!d.join("child.cert").exists());
    assert!(
        !files(d).iter().any(|f| f.contains(".tmp")),
        "{:?}",
        files(d)
    );
}

#[test]
fn tampered_truncated_and_raw_certificate_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let text = std::fs::read_to_string(d.join("okta.chain")).unwrap();
    // Decode the second certificate, flip a byte of its signature, re-armor.
    let blocks: Vec<&str> = text.split("-----BEGIN ZKSCIM CERTIFICATE-----\n").collect();
    let second = blocks[2]
        .split("-----END")
        .next()
        .unwrap()
        .replace('\n', "");
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&second)
        .unwrap();
    let n = raw.len();
    raw[n - 5] ^= 0x01;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    let tampered = text.replace(&second[..60], &b64[..60]);
    let tampered = {
        // Replace the whole body of the second block.
        let start = tampered
            .rfind("-----BEGIN ZKSCIM CERTIFICATE-----\n")
            .unwrap()
            + 35;
        let end = tampered.rfind("-----END").unwrap();
        format!("{}{}\n{}", &tampered[..start], b64, &tampered[end..])
    };
    std::fs::write(d.join("tampered.chain"), tampered).unwrap();
    let o = run(
        d,
        &[
            "cert",
            "verify",
            "tampered.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
        ],
    );
    fails(&o, 1, "signature does not verify");
    assert!(
        stderr(&o).contains("certificate 1 (okta-prod"),
        "{}",
        stderr(&o)
    );

    let garbled = text.replacen("\n", "\n!!!", 3);
    std::fs::write(d.join("garbled.chain"), garbled).unwrap();
    let o = run(d, &["cert", "show", "garbled.chain"]);
    fails(&o, 2, "garbled.chain");

    let cut = &text[..text.len() - 40];
    std::fs::write(d.join("cut.chain"), cut).unwrap();
    fails(&run(d, &["cert", "show", "cut.chain"]), 2, "truncated");

    std::fs::write(d.join("junk.cert"), b"\xd2\x84junk").unwrap();
    fails(
        &run(d, &["cert", "show", "junk.cert"]),
        2,
        "not a valid certificate",
    );

    // Raw COSE bytes are accepted as a certificate file.
    let first = blocks[1]
        .split("-----END")
        .next()
        .unwrap()
        .replace('\n', "");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(first)
        .unwrap();
    std::fs::write(d.join("admin.cose"), raw).unwrap();
    let v = json(&run(d, &["cert", "show", "admin.cose", "--json"]));
    assert_eq!(v["certificates"][0]["label"], "admin");
    ok(&run(
        d,
        &[
            "cert",
            "verify",
            "admin.cose",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
        ],
    ));
}

#[test]
fn renew_keeps_scope_with_new_validity() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let before = json(&run(d, &["cert", "show", "okta.cert", "--json"]))["certificates"][0].clone();
    // Refuses to overwrite without --force.
    let o = run(
        d,
        &[
            "cert",
            "renew",
            "okta.cert",
            "--issuer-key",
            "admin.pem",
            "--parent",
            "admin.chain",
            "--ttl",
            "12h",
            "--out",
            "okta.cert",
        ],
    );
    fails(&o, 1, "already exists");
    // Needs the parent.
    let o = run(
        d,
        &[
            "cert",
            "renew",
            "okta.cert",
            "--issuer-key",
            "admin.pem",
            "--ttl",
            "12h",
            "--out",
            "x.cert",
        ],
    );
    fails(&o, 2, "issued under a parent certificate");
    ok(&run(
        d,
        &[
            "cert",
            "renew",
            "okta.cert",
            "--issuer-key",
            "admin.pem",
            "--parent",
            "admin.chain",
            "--ttl",
            "12h",
            "--out",
            "okta.cert",
            "--force",
            "--chain-out",
            "okta.chain",
        ],
    ));
    let after = json(&run(d, &["cert", "show", "okta.cert", "--json"]))["certificates"][0].clone();
    assert_ne!(after["id"], before["id"]);
    assert_ne!(after["nonce"], before["nonce"]);
    for field in ["label", "scope", "subject", "depth", "tenant", "parent"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(
        after["expires_unix"].as_u64().unwrap() - after["not_before_unix"].as_u64().unwrap(),
        12 * 3600
    );
    ok(&run(
        d,
        &[
            "cert",
            "verify",
            "okta.chain",
            "--root",
            "acme/root.pub",
            "--tenant",
            "acme",
        ],
    ));
    // Renewal is still attenuated: not beyond the parent's expiry.
    let o = run(
        d,
        &[
            "cert",
            "renew",
            "okta.cert",
            "--issuer-key",
            "admin.pem",
            "--parent",
            "admin.chain",
            "--ttl",
            "60d",
            "--out",
            "y.cert",
        ],
    );
    fails(&o, 1, "in validity");
    assert!(!d.join("y.cert").exists());
    // A root-issued certificate renews without a parent.
    ok(&run(
        d,
        &[
            "cert",
            "renew",
            "admin.cert",
            "--issuer-key",
            "acme/root.pem",
            "--ttl",
            "7d",
            "--out",
            "admin2.cert",
        ],
    ));
}

#[test]
fn bad_durations_times_and_help_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    for (flag, value, needle) in [
        ("--ttl", "24", "missing unit"),
        ("--ttl", "3y", "unknown unit"),
        ("--not-before", "tomorrow", "invalid time"),
    ] {
        let o = run(
            d,
            &[
                "cert",
                "issue",
                "--issuer-key",
                "acme/root.pem",
                "--tenant",
                "acme",
                "--subject",
                "okta.pub",
                "--ops",
                "create",
                "--types",
                "User",
                "--attrs",
                "active",
                "--label",
                "x",
                "--out",
                "x.cert",
                flag,
                value,
            ],
        );
        fails(&o, 2, needle);
    }
    let o = run(
        d,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "acme/root.pem",
            "--subject",
            "okta.pub",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "active",
            "--label",
            "x",
            "--out",
            "x.cert",
        ],
    );
    fails(&o, 2, "--tenant is required");
    let o = run(
        d,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "acme/root.pem",
            "--tenant",
            "acme",
            "--subject",
            "okta.pub",
            "--ops",
            "create,fly",
            "--types",
            "User",
            "--attrs",
            "active",
            "--label",
            "x",
            "--out",
            "x.cert",
        ],
    );
    fails(&o, 2, "unknown operation");
    let o = run(
        d,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "okta.pub",
            "--tenant",
            "acme",
            "--subject",
            "okta.pub",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "active",
            "--label",
            "x",
            "--out",
            "x.cert",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!d.join("x.cert").exists());
    for sub in [
        vec!["cert", "issue"],
        vec!["cert", "show"],
        vec!["cert", "verify"],
        vec!["cert", "renew"],
        vec!["tenant", "init"],
        vec!["tenant", "show"],
        vec!["tenant", "genesis"],
        vec!["op", "create"],
        vec!["op", "replace"],
        vec!["op", "patch"],
        vec!["op", "delete"],
    ] {
        let mut a = sub.clone();
        a.push("--help");
        let out = ok(&run(d, &a));
        assert!(out.contains("Example:"), "{sub:?}: {out}");
    }
}
