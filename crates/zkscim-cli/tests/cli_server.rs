//! The server-talking commands (`tenant init/register`, `op`, `revoke`, `get`, `list`) run as
//! the real binary against a real `zkscim serve` on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{fails, files, ok, run, serve, stdout as out};

use std::path::Path;
use std::process::Output;

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn run_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    common::run_with(dir, args, None, envs)
}

/// The JSON a command printed, which must have succeeded.
fn json(o: &Output) -> serde_json::Value {
    ok(o);
    common::json(o)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Tenant `acme` registered at `url`; admin (read, revoke) and okta connector certificates.
fn setup(d: &Path, url: &str) -> serde_json::Value {
    let v = json(&run(
        d,
        &[
            "tenant",
            "init",
            "--tenant",
            "acme",
            "--dir",
            "acme",
            "--server",
            url,
            "--admin-token",
            "op-token",
            "--json",
        ],
    ));
    common::issue_chain(d, &[]);
    v
}

const USER: &str = r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
 "userName": "alice@example.com", "externalId": "Ext-42", "name": {"givenName": "Alice", "familyName": "Smith"},
 "emails": [{"value": "alice@example.com", "type": "work", "primary": true}], "active": true}"#;

const OKTA: [&str; 6] = [
    "--tenant-dir",
    "acme",
    "--key",
    "okta.pem",
    "--chain",
    "okta.chain",
];
const ADMIN: [&str; 6] = [
    "--tenant-dir",
    "acme",
    "--key",
    "admin.pem",
    "--chain",
    "admin.chain",
];

/// The tenant root signs directly (no chain).
const ROOT: [&str; 4] = ["--tenant-dir", "acme", "--key", "acme/root.pem"];

fn with<'a>(args: &[&'a str], signer: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(signer).copied().collect()
}

#[test]
fn provision_read_refuse_revoke() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let init = setup(d, &server.url);
    let secret = std::fs::read_to_string(d.join("acme/tenant.secret")).unwrap();
    assert!(!init.to_string().contains(secret.trim()));
    assert!(!init.to_string().contains("op-token"), "no token printed");
    assert_eq!(init["registration"]["genesis_index"], 0);
    let tj = read_json(&d.join("acme/tenant.json"));
    assert_eq!(tj["server_url"], server.url.as_str());
    assert!(tj["log_key"].as_str().unwrap().contains('+'));
    assert_eq!(
        tj["log_key_fingerprint"],
        init["registration"]["log_key_fingerprint"]
    );
    std::fs::write(d.join("user.json"), USER).unwrap();

    // Create through the connector: submitted to the recorded server, receipt verified.
    let o = run(
        d,
        &with(
            &["op", "create", "--type", "User", "user.json", "--json"],
            &OKTA,
        ),
    );
    let v = json(&o);
    assert_eq!(v["status"], "applied");
    assert_eq!(v["version"], "W/\"1\"");
    assert!(v["index"].as_u64().unwrap() >= 3, "{v}");
    assert!(!out(&o).contains("alice"), "nothing clear is printed");
    let id = v["resource_id"].as_str().unwrap().to_owned();

    // Read back through the admin and unseal locally.
    let g = json(&run(d, &with(&["get", "User", &id, "--json"], &ADMIN)));
    assert_eq!(g["userName"], "alice@example.com");
    assert_eq!(g["name"]["givenName"], "Alice");
    assert_eq!(g["emails"][0]["value"], "alice@example.com");
    assert_eq!(g["active"], true);

    // Blind-index filter: case-insensitive userName.
    let l = json(&run(
        d,
        &with(
            &[
                "list",
                "Users",
                "--filter",
                "userName eq \"ALICE@example.com\" and active eq true",
                "--json",
            ],
            &ADMIN,
        ),
    ));
    assert_eq!(l["totalResults"], 1, "{l}");
    assert_eq!(l["Resources"][0]["userName"], "alice@example.com");
    let l = json(&run(
        d,
        &with(
            &[
                "list",
                "User",
                "--filter",
                "userName eq \"bob@example.com\"",
                "--json",
            ],
            &ADMIN,
        ),
    ));
    assert_eq!(l["totalResults"], 0, "{l}");
    // Groups: displayName is sealed + indexed, member ids stay clear.
    std::fs::write(
        d.join("group.json"),
        format!(
            r#"{{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{{"value": "{id}"}}]}}"#
        ),
    )
    .unwrap();
    let g = json(&run(
        d,
        &with(
            &["op", "create", "--type", "Group", "group.json", "--json"],
            &ADMIN,
        ),
    ));
    assert_eq!(g["status"], "applied", "{g}");
    let l = json(&run(
        d,
        &with(
            &[
                "list",
                "Groups",
                "--filter",
                "displayName eq \"engineering\"",
                "--json",
            ],
            &ADMIN,
        ),
    ));
    assert_eq!(l["totalResults"], 1, "{l}");
    assert_eq!(l["Resources"][0]["displayName"], "Engineering");
    assert_eq!(l["Resources"][0]["members"][0]["value"], id.as_str());
    // externalId is case-exact.
    for (value, n) in [("Ext-42", 1), ("ext-42", 0)] {
        let filter = format!("externalId eq \"{value}\"");
        let l = json(&run(
            d,
            &with(&["list", "User", "--filter", &filter, "--json"], &ADMIN),
        ));
        assert_eq!(l["totalResults"], n, "{filter}: {l}");
    }
    // Other operators on sealed attributes are refused locally.
    fails(
        &run(
            d,
            &with(&["list", "User", "--filter", "userName co \"ali\""], &ADMIN),
        ),
        2,
        "only `eq`",
    );
    fails(
        &run(
            d,
            &with(
                &["list", "User", "--filter", "name.givenName eq \"Alice\""],
                &ADMIN,
            ),
        ),
        2,
        "without a blind index",
    );
    // --attributes and --count travel in the signed query.
    let l = json(&run(
        d,
        &with(
            &[
                "list",
                "User",
                "--attributes",
                "userName",
                "--count",
                "1",
                "--json",
            ],
            &ADMIN,
        ),
    ));
    assert_eq!(l["Resources"][0]["userName"], "alice@example.com", "{l}");
    assert!(l["Resources"][0].get("name").is_none(), "{l}");
    // Under another tenant secret nothing opens: a clear error, not garbage.
    std::fs::create_dir(d.join("wrong")).unwrap();
    ok(&run(
        d,
        &["tenant", "init", "--tenant", "acme", "--dir", "wrong/acme"],
    ));
    std::fs::copy(d.join("acme/tenant.json"), d.join("wrong/acme/tenant.json")).unwrap();
    std::fs::copy(d.join("acme/root.pem"), d.join("wrong/acme/root.pem")).unwrap();
    let wrong = [
        "--tenant-dir",
        "wrong/acme",
        "--key",
        "admin.pem",
        "--chain",
        "admin.chain",
    ];
    fails(
        &run(d, &with(&["get", "User", &id], &wrong)),
        1,
        "did not open",
    );
    // The connector may not read.
    fails(
        &run(d, &with(&["get", "User", &id], &OKTA)),
        1,
        "may not read",
    );

    // Out-of-scope attribute: refused with the scope named and a hint, nothing written.
    std::fs::write(
        d.join("title.json"),
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob", "title": "CEO"}"#,
    )
    .unwrap();
    let e = fails(
        &run(
            d,
            &with(&["op", "create", "--type", "User", "title.json"], &OKTA),
        ),
        1,
        "scope",
    );
    assert!(e.contains("title"), "{e}");

    // A logged refusal: stale ETag.
    std::fs::write(
        d.join("patch.json"),
        r#"[{"op": "replace", "path": "active", "value": false}]"#,
    )
    .unwrap();
    let e = fails(
        &run(
            d,
            &with(
                &[
                    "op",
                    "patch",
                    "--type",
                    "User",
                    "--id",
                    &id,
                    "--if-match",
                    "W/\"7\"",
                    "patch.json",
                ],
                &OKTA,
            ),
        ),
        1,
        "precondition.failed",
    );
    assert!(e.contains("zkscim get"), "{e}");
    assert!(e.contains("receipt verified"), "{e}");
    let p = json(&run(
        d,
        &with(
            &[
                "op",
                "patch",
                "--type",
                "User",
                "--id",
                &id,
                "--if-match",
                "W/\"1\"",
                "patch.json",
                "--json",
            ],
            &OKTA,
        ),
    ));
    assert_eq!(p["version"], "W/\"2\"");

    // Revoke the connector by file (the certificate travels with the revocation).
    let r = json(&run(
        d,
        &with(
            &["revoke", "okta.cert", "--reason", "rotated", "--json"],
            &ADMIN,
        ),
    ));
    assert_eq!(r["status"], "applied");
    assert_eq!(r["carried_certificate"], true);
    std::fs::write(
        d.join("bob.json"),
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@example.com"}"#,
    )
    .unwrap();
    let e = fails(
        &run(
            d,
            &with(&["op", "create", "--type", "User", "bob.json"], &OKTA),
        ),
        1,
        "revoked.certificate",
    );
    assert!(e.contains("new certificate"), "{e}");
    // Revoking by id a certificate the log never saw: refused, and the hint says to pass the file.
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
            "okta.pub",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "active",
            "--label",
            "spare",
            "--out",
            "spare.cert",
        ],
    ));
    let spare = json(&run(d, &["cert", "show", "spare.cert", "--json"]));
    let spare_id = spare["certificates"][0]["id"]
        .as_str()
        .or_else(|| spare["id"].as_str())
        .or_else(|| spare[0]["id"].as_str())
        .unwrap_or_else(|| panic!("{spare}"))
        .to_owned();
    fails(
        &run(d, &with(&["revoke", &spare_id], &ADMIN)),
        1,
        "revocation.unknown_certificate",
    );
    // A short id is not enough to revoke.
    fails(&run(d, &with(&["revoke", "abcd1234"], &ADMIN)), 2, "full");

    // Config file: defaults for server, key, chain and tenant dir; env beats the file.
    let cfg_dir = d.join(".config/zkscim");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "server = \"{}\"\nkey = \"../../admin.pem\"\nchain = \"../../admin.chain\"\ntenant_dir = \"../../acme\"\n",
            server.url
        ),
    )
    .unwrap();
    let l = json(&run(d, &["list", "User", "--json"]));
    assert_eq!(l["totalResults"], 1, "{l}");
    let dead = dead_url();
    fails(
        &run_env(d, &["list", "User"], &[("ZKSCIM_SERVER", &dead)]),
        1,
        "cannot reach",
    );
    let other = d.join("other.toml");
    std::fs::write(&other, "server = 3\n").unwrap();
    fails(
        &run_env(
            d,
            &["list", "User"],
            &[("ZKSCIM_CONFIG_FILE", other.to_str().unwrap())],
        ),
        2,
        "other.toml",
    );

    // The genesis of an existing tenant: `register` adopts it after checking the root.
    let again = json(&run(
        d,
        &[
            "tenant",
            "register",
            "--dir",
            "acme",
            "--server",
            &server.url,
            "--admin-token",
            "op-token",
            "--json",
        ],
    ));
    assert_eq!(again["already_registered"], true);
    assert_eq!(again["genesis_index"], 0);
}

#[test]
fn bad_input_and_server_down() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d, &server.url);
    std::fs::write(d.join("user.json"), USER).unwrap();

    // Wrong key for the chain.
    fails(
        &run(
            d,
            &[
                "op",
                "create",
                "--type",
                "User",
                "user.json",
                "--tenant-dir",
                "acme",
                "--key",
                "admin.pem",
                "--chain",
                "okta.chain",
            ],
        ),
        1,
        "is not the key empowered",
    );
    // Expired chain.
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
            "okta.pub",
            "--ops",
            "create",
            "--types",
            "User",
            "--attrs",
            "userName",
            "--not-before",
            "2020-01-01T00:00:00Z",
            "--ttl",
            "1h",
            "--label",
            "old",
            "--out",
            "old.cert",
            "--chain-out",
            "old.chain",
        ],
    ));
    fails(
        &run(
            d,
            &[
                "op",
                "create",
                "--type",
                "User",
                "user.json",
                "--tenant-dir",
                "acme",
                "--key",
                "okta.pem",
                "--chain",
                "old.chain",
            ],
        ),
        1,
        "cert renew",
    );
    // Malformed JSON: bad input, no output file.
    std::fs::write(d.join("bad.json"), "{\"userName\": ").unwrap();
    fails(
        &run(
            d,
            &with(
                &[
                    "op", "create", "--type", "User", "bad.json", "--out", "x.cbor",
                ],
                &OKTA,
            ),
        ),
        2,
        "malformed JSON",
    );
    assert!(!d.join("x.cbor").exists());
    // Missing protection profile.
    let mut tj = read_json(&d.join("acme/tenant.json"));
    tj.as_object_mut().unwrap().remove("protection_profile");
    std::fs::create_dir(d.join("noprof")).unwrap();
    for f in ["root.pem", "root.pub", "tenant.secret"] {
        std::fs::copy(d.join("acme").join(f), d.join("noprof").join(f)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["root.pem", "tenant.secret"] {
            std::fs::set_permissions(
                d.join("noprof").join(f),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
    }
    std::fs::write(d.join("noprof/tenant.json"), tj.to_string()).unwrap();
    fails(
        &run(
            d,
            &[
                "op",
                "create",
                "--type",
                "User",
                "user.json",
                "--tenant-dir",
                "noprof",
                "--key",
                "okta.pem",
                "--chain",
                "okta.chain",
            ],
        ),
        1,
        "protection_profile",
    );
    // No server known and no --out.
    let mut tj = read_json(&d.join("acme/tenant.json"));
    tj["server_url"] = serde_json::Value::Null;
    std::fs::write(d.join("acme/tenant.json"), tj.to_string()).unwrap();
    fails(
        &run(
            d,
            &with(&["op", "create", "--type", "User", "user.json"], &OKTA),
        ),
        2,
        "--out",
    );
    // --out alone signs offline.
    ok(&run(
        d,
        &with(
            &[
                "op",
                "create",
                "--type",
                "User",
                "user.json",
                "--out",
                "op.cbor",
            ],
            &OKTA,
        ),
    ));
    assert!(d.join("op.cbor").exists());
    // …and `submit` sends it later; resubmitting returns the original receipt.
    let first = json(&run(
        d,
        &[
            "submit",
            "op.cbor",
            "--tenant-dir",
            "acme",
            "--server",
            &server.url,
            "--json",
        ],
    ));
    assert_eq!(first["status"], "applied");
    assert_eq!(first["duplicate"], false);
    let again = json(&run(
        d,
        &[
            "submit",
            "op.cbor",
            "--tenant-dir",
            "acme",
            "--server",
            &server.url,
            "--json",
        ],
    ));
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["index"], first["index"]);
    fails(
        &run(
            d,
            &[
                "submit",
                "user.json",
                "--tenant-dir",
                "acme",
                "--server",
                &server.url,
            ],
        ),
        2,
        "not a signed statement",
    );

    // Server down: clear message, non-zero exit, nothing half-written.
    let dead = dead_url();
    fails(
        &run(
            d,
            &with(
                &[
                    "op",
                    "create",
                    "--type",
                    "User",
                    "user.json",
                    "--out",
                    "y.cbor",
                    "--server",
                    &dead,
                ],
                &OKTA,
            ),
        ),
        1,
        "cannot reach the authority",
    );
    assert!(!d.join("y.cbor").exists());
    let e = fails(
        &run(
            d,
            &[
                "tenant",
                "init",
                "--tenant",
                "beta",
                "--dir",
                "beta",
                "--server",
                &dead,
                "--admin-token",
                "op-token",
            ],
        ),
        1,
        "cannot reach the authority",
    );
    assert!(e.contains("tenant register"), "{e}");
    assert_eq!(
        files(&d.join("beta")),
        ["root.pem", "root.pub", "tenant.json", "tenant.secret"]
    );
    assert!(read_json(&d.join("beta/tenant.json"))
        .get("log_key")
        .is_none());
    // The retry registers it; a wrong operator token is named.
    fails(
        &run(
            d,
            &[
                "tenant",
                "register",
                "--dir",
                "beta",
                "--server",
                &server.url,
                "--admin-token",
                "nope",
            ],
        ),
        1,
        "operator",
    );
    let r = json(&run(
        d,
        &[
            "tenant",
            "register",
            "--dir",
            "beta",
            "--server",
            &server.url,
            "--admin-token",
            "op-token",
            "--json",
        ],
    ));
    assert_eq!(r["already_registered"], false);
    assert_eq!(
        read_json(&d.join("beta/tenant.json"))["server_url"],
        server.url.as_str()
    );
}

/// `zkscim policy`: the root caps connector lifetimes; the day-long connector is refused until
/// the caps are lifted by a new policy (which replaces the old one whole).
#[test]
fn policy_caps_connector_lifetime() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d, &server.url);
    std::fs::write(d.join("user.json"), USER).unwrap();
    let create = |d: &Path, extra: &[&str]| {
        let mut args = vec!["op", "create", "--type", "User", "user.json"];
        args.extend_from_slice(extra);
        run(d, &with(&args, &OKTA))
    };
    let v = json(&run(
        d,
        &with(&["policy", "--lifetime-cap", "2=1h", "--json"], &ROOT),
    ));
    assert_eq!(v["status"], "applied", "{v}");
    // The auditor's explanation of the entry says what the policy set.
    let index = v["index"].as_u64().unwrap().to_string();
    let explained = ok(&run(
        d,
        &[
            "explain",
            &index,
            "--tenant",
            "acme",
            "--server",
            &server.url,
        ],
    ));
    assert!(
        explained.contains("certificate lifetimes level 2 ≤ 3600 s"),
        "{explained}"
    );
    assert_eq!(
        v["lifetime_caps"],
        serde_json::json!([{"level": 2, "seconds": 3600}])
    );
    let e = fails(&create(d, &[]), 1, "policy.lifetime_exceeded");
    assert!(e.contains("okta-prod"), "{e}");
    // Bad caps never leave the machine.
    fails(
        &run(d, &with(&["policy", "--lifetime-cap", "9=1h"], &ROOT)),
        2,
        "levels run from 1",
    );
    // Policy statements are bound by the caps in force too.
    let e = fails(
        &run(d, &with(&["policy"], &OKTA)),
        1,
        "policy.lifetime_exceeded",
    );
    assert!(e.contains("cert renew"), "{e}");
    // A policy without caps lifts them.
    let v = json(&run(d, &with(&["policy", "--json"], &ROOT)));
    assert_eq!(v["lifetime_caps"], serde_json::json!([]));
    assert_eq!(json(&create(d, &["--json"]))["status"], "applied");
    // The connector lacks the `policy` capability: the refusal is logged and says so.
    fails(
        &run(d, &with(&["policy"], &OKTA)),
        1,
        "policy.not_permitted",
    );
}

/// `zkscim policy --nhi-type`: the CLI leaves an Agent's expiry clear (the default profile says
/// so) and seals the rest, so the server can check it; an Agent without an owner is refused.
#[test]
fn nhi_policy_through_the_cli() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d, &server.url);
    ok(&run(d, &["key", "generate", "--out", "bot-admin.pem"]));
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
            "bot-admin.pub",
            "--ops",
            "create,patch,read",
            "--types",
            "Agent",
            "--attrs",
            "*",
            "--cap",
            "policy",
            "--ttl",
            "1d",
            "--label",
            "bot-admin",
            "--out",
            "bot-admin.cert",
            "--chain-out",
            "bot-admin.chain",
        ],
    ));
    const BOT_ADMIN: [&str; 6] = [
        "--tenant-dir",
        "acme",
        "--key",
        "bot-admin.pem",
        "--chain",
        "bot-admin.chain",
    ];
    ok(&run(
        d,
        &with(
            &["policy", "--nhi-type", "Agent", "--nhi-max-expiry", "30d"],
            &BOT_ADMIN,
        ),
    ));
    let nhi = "urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle";
    let expires = zkscim_scim::datetime::format_rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 7 * 86_400,
    );
    let agent = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent", nhi],
        "name": "build-bot",
        "owners": [{"value": "00000000-0000-4000-8000-000000000001"}],
        nhi: {"expiresAt": expires},
    });
    std::fs::write(d.join("agent.json"), agent.to_string()).unwrap();
    let v = json(&run(
        d,
        &with(
            &["op", "create", "--type", "Agent", "agent.json", "--json"],
            &BOT_ADMIN,
        ),
    ));
    assert_eq!(v["status"], "applied", "{v}");
    let id = v["resource_id"].as_str().unwrap().to_owned();
    let g = json(&run(d, &with(&["get", "Agent", &id, "--json"], &BOT_ADMIN)));
    assert_eq!(g[nhi]["expiresAt"], expires.as_str());
    assert_eq!(
        g["owners"][0]["value"],
        "00000000-0000-4000-8000-000000000001"
    );
    std::fs::write(
        d.join("orphan.json"),
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent"], "name": "orphan-bot"}"#,
    )
    .unwrap();
    let e = fails(
        &run(
            d,
            &with(
                &["op", "create", "--type", "Agent", "orphan.json"],
                &BOT_ADMIN,
            ),
        ),
        1,
        "policy.nhi_owner_missing",
    );
    assert!(e.contains("expiresAt"), "{e}");
}

/// `zkscim policy --privileged-group` and `zkscim approve`: a membership change signed with
/// `--out` is refused alone, approved by the root, then submitted and applied.
#[test]
fn privileged_group_approved_through_the_cli() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d, &server.url);
    std::fs::write(d.join("user.json"), USER).unwrap();
    let user = json(&run(
        d,
        &with(
            &["op", "create", "--type", "User", "user.json", "--json"],
            &ADMIN,
        ),
    ));
    let user_id = user["resource_id"].as_str().unwrap().to_owned();
    std::fs::write(
        d.join("group.json"),
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Admins"}"#,
    )
    .unwrap();
    let group = json(&run(
        d,
        &with(
            &["op", "create", "--type", "Group", "group.json", "--json"],
            &ADMIN,
        ),
    ));
    let group_id = group["resource_id"].as_str().unwrap().to_owned();
    let rule = format!("{group_id}=2");
    let v = json(&run(
        d,
        &with(&["policy", "--privileged-group", &rule, "--json"], &ROOT),
    ));
    assert_eq!(v["privileged_groups"][0]["approvers"], 2, "{v}");
    std::fs::write(
        d.join("add.json"),
        format!(r#"[{{"op": "add", "path": "members", "value": [{{"value": "{user_id}"}}]}}]"#),
    )
    .unwrap();
    let patch = |out: &str| {
        run(
            d,
            &with(
                &[
                    "op", "patch", "--type", "Group", "--id", &group_id, "add.json", "--out", out,
                ],
                &ADMIN,
            ),
        )
    };
    // Alone: refused, with the next step in the message.
    ok(&patch("alone.cbor"));
    let e = fails(
        &run(d, &["submit", "alone.cbor", "--tenant-dir", "acme"]),
        1,
        "policy.approvals_required",
    );
    assert!(e.contains("zkscim approve"), "{e}");
    // Approved by the root first: applied.
    ok(&patch("change.cbor"));
    let a = json(&run(d, &with(&["approve", "change.cbor", "--json"], &ROOT)));
    assert_eq!(a["status"], "applied", "{a}");
    let s = json(&run(
        d,
        &["submit", "change.cbor", "--tenant-dir", "acme", "--json"],
    ));
    assert_eq!(s["status"], "applied", "{s}");
    // `zkscim approve` refuses what is not an operation, before signing anything.
    fails(
        &run(d, &with(&["approve", "user.json"], &ROOT)),
        2,
        "not a signed statement",
    );
}
