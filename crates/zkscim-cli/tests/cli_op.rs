//! `zkscim op …` run as a real process: sealing, blind indexes, signing, and every refusal
//! leaving no output file behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;

use common::*;
use zkscim_proto::cert::ChainContext;
use zkscim_proto::envelope::{OperationBody, Signed};
use zkscim_proto::keys::PublicKey;
use zkscim_proto::seal::{blind_index, open, SealContext, TenantSecret};

const USER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "BJensen",
  "externalId": "E-1",
  "name": {"givenName": "Barbara", "familyName": "Jensen"},
  "active": true,
  "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}]
}"#;

const ID: &str = "2819c223-7f76-453a-919d-413861904646";

fn secret(d: &Path) -> TenantSecret {
    TenantSecret::from_text(
        std::fs::read_to_string(d.join("acme/tenant.secret"))
            .unwrap()
            .trim(),
    )
    .unwrap()
}

fn root(d: &Path) -> PublicKey {
    PublicKey::from_text(&std::fs::read_to_string(d.join("acme/root.pub")).unwrap()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn parse(d: &Path, file: &str) -> Signed<OperationBody> {
    let signed = Signed::<OperationBody>::parse(&std::fs::read(d.join(file)).unwrap()).unwrap();
    let root = root(d);
    let ctx = ChainContext {
        tenant: "acme",
        root: &root,
        now: now(),
    };
    signed
        .verify(&ctx, 300, &mut zkscim_proto::cert::NoCache)
        .unwrap();
    signed
}

fn opened(d: &Path, id: &str, path: &str, sealed: &serde_json::Value) -> String {
    let ctx = SealContext {
        tenant: "acme",
        resource_type: "User",
        resource_id: id,
        attribute_path: path,
    };
    open(&secret(d), &ctx, sealed.as_str().unwrap())
        .unwrap()
        .to_string()
}

const CONNECTOR: [&str; 6] = [
    "--tenant-dir",
    "acme",
    "--key",
    "okta.pem",
    "--chain",
    "okta.chain",
];

fn op(d: &Path, verb: &str, extra: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut a = vec!["op", verb];
    a.extend_from_slice(&CONNECTOR);
    a.extend_from_slice(extra);
    run_with(d, &a, stdin, &[])
}

fn op_as(d: &Path, key: &str, chain: &str, extra: &[&str]) -> std::process::Output {
    let mut a = vec![
        "op",
        "create",
        "--tenant-dir",
        "acme",
        "--key",
        key,
        "--chain",
        chain,
        "--type",
        "User",
    ];
    a.extend_from_slice(extra);
    run(d, &a)
}

#[test]
fn create_seals_indexes_and_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    std::fs::write(d.join("user.json"), USER).unwrap();
    let v = json(&op(
        d,
        "create",
        &["--type", "User", "user.json", "--out", "op.cbor", "--json"],
        None,
    ));
    let id = v["resource_id"].as_str().unwrap().to_owned();
    assert!(zkscim_proto::envelope::is_canonical_uuid(&id), "{id}");
    assert_eq!(v["indexed"], serde_json::json!(["externalid", "username"]));

    let signed = parse(d, "op.cbor");
    let body = signed.body();
    assert_eq!(body.resource_id, id);
    let json = body.body_json().unwrap();
    assert!(json["userName"].as_str().unwrap().starts_with("zk1."));
    assert_eq!(opened(d, &id, "username", &json["userName"]), "BJensen");
    assert_eq!(
        opened(d, &id, "name.givenname", &json["name"]["givenName"]),
        "Barbara"
    );
    assert_eq!(
        opened(d, &id, "emails.value", &json["emails"][0]["value"]),
        "bjensen@example.com"
    );
    assert_eq!(json["active"], true, "clear attributes stay clear");
    assert_eq!(json["emails"][0]["primary"], true);
    assert_eq!(
        json["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
    let raw = std::fs::read(d.join("op.cbor")).unwrap();
    assert!(
        !raw.windows(7).any(|w| w == b"BJensen"),
        "no clear value in the signed bytes"
    );
    // Indexes: userName folds case, externalId is case-exact.
    let s = secret(d);
    let expected = blind_index(&s, "acme", "User", "userName", false, "bjensen").unwrap();
    assert_eq!(body.indexes["username"].as_deref(), Some(expected.as_str()));
    let expected = blind_index(&s, "acme", "User", "externalId", true, "E-1").unwrap();
    assert_eq!(
        body.indexes["externalid"].as_deref(),
        Some(expected.as_str())
    );
    assert!(
        !json.to_string().contains("zkx1."),
        "indexes travel in field 18, not the resource"
    );

    // --id is honoured, and a matching "id" in the body is accepted.
    let with_id = USER.replacen('{', &format!("{{\"id\": \"{ID}\","), 1);
    std::fs::write(d.join("user-id.json"), with_id).unwrap();
    ok(&op(
        d,
        "create",
        &[
            "--type",
            "User",
            "--id",
            ID,
            "user-id.json",
            "--out",
            "op2.cbor",
        ],
        None,
    ));
    assert_eq!(parse(d, "op2.cbor").body().resource_id, ID);
    let o = op(
        d,
        "create",
        &[
            "--type",
            "User",
            "--id",
            "3819c223-7f76-453a-919d-413861904646",
            "user-id.json",
            "--out",
            "op3.cbor",
        ],
        None,
    );
    fails(&o, 2, "differs from the resource's");
    // Existing output is not replaced without --force.
    fails(
        &op(
            d,
            "create",
            &["--type", "User", "user.json", "--out", "op.cbor"],
            None,
        ),
        1,
        "already exists",
    );
    assert_eq!(std::fs::read(d.join("op.cbor")).unwrap(), raw);
}

#[test]
fn patch_replace_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let patch = r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "active", "value": false},
        {"op": "replace", "path": "name.givenName", "value": "Babs"},
        {"op": "add", "value": {"userName": "babs", "emails": [{"value": "b@example.com"}]}},
        {"op": "remove", "path": "externalId"}
    ]}"#;
    let o = op(
        d,
        "patch",
        &["--type", "User", "--id", ID, "-", "--out", "p.cbor"],
        Some(patch),
    );
    let out = ok(&o);
    assert!(
        out.contains("sealed:  emails.value, name.givenname, username"),
        "{out}"
    );
    let body = parse(d, "p.cbor").body().clone();
    let ops = body.body_json().unwrap();
    assert_eq!(ops[0]["value"], false);
    assert_eq!(opened(d, ID, "name.givenname", &ops[1]["value"]), "Babs");
    assert_eq!(
        opened(d, ID, "username", &ops[2]["value"]["userName"]),
        "babs"
    );
    assert_eq!(
        body.indexes["externalid"], None,
        "remove carries a null index"
    );
    assert!(body.indexes["username"].is_some());

    // A bare Operations array from a file, a replace, and a delete.
    std::fs::write(
        d.join("ops.json"),
        r#"[{"op":"replace","path":"active","value":true}]"#,
    )
    .unwrap();
    ok(&op(
        d,
        "patch",
        &["--type", "User", "--id", ID, "ops.json", "--out", "p2.cbor"],
        None,
    ));
    std::fs::write(d.join("user.json"), USER).unwrap();
    ok(&op(
        d,
        "replace",
        &[
            "--type",
            "User",
            "--id",
            ID,
            "--if-match",
            "W/\"3\"",
            "user.json",
            "--out",
            "r.cbor",
        ],
        None,
    ));
    assert_eq!(
        parse(d, "r.cbor").body().if_match.as_deref(),
        Some("W/\"3\"")
    );
    // okta may not delete; the root (no chain) may.
    let o = op(
        d,
        "delete",
        &["--type", "User", "--id", ID, "--out", "d.cbor"],
        None,
    );
    fails(&o, 1, "operation 'delete' is not allowed");
    assert!(!d.join("d.cbor").exists());
    ok(&run(
        d,
        &[
            "op",
            "delete",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "User",
            "--id",
            ID,
            "--out",
            "d.cbor",
        ],
    ));
    assert!(matches!(
        parse(d, "d.cbor").body().change,
        zkscim_proto::envelope::Change::Delete
    ));
    fails(
        &op(
            d,
            "delete",
            &[
                "--type",
                "User",
                "--id",
                ID,
                "user.json",
                "--out",
                "d2.cbor",
            ],
            None,
        ),
        2,
        "takes no input",
    );
    fails(
        &op(
            d,
            "patch",
            &["--type", "User", "ops.json", "--out", "p3.cbor"],
            None,
        ),
        2,
        "--id is required",
    );
    fails(
        &op(
            d,
            "patch",
            &[
                "--type", "User", "--id", "nope", "ops.json", "--out", "p3.cbor",
            ],
            None,
        ),
        2,
        "not a UUID",
    );
}

#[test]
fn refusals_leave_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    std::fs::write(d.join("user.json"), USER).unwrap();
    let before = files(d);

    // No server known and no --out: nowhere to deliver, so nothing is sent or written, and the
    // hint names both ways out.
    let err = fails(
        &op(d, "create", &["--type", "User", "user.json"], None),
        2,
        "no server to talk to",
    );
    assert!(err.contains("--out FILE"), "{err}");

    // Malformed JSON.
    fails(
        &op(
            d,
            "create",
            &["--type", "User", "-", "--out", "x.cbor"],
            Some("{\"userName\": "),
        ),
        2,
        "malformed JSON",
    );
    fails(
        &op(
            d,
            "create",
            &["--type", "User", "-", "--out", "x.cbor"],
            Some("[1, 2]"),
        ),
        2,
        "must be a JSON object",
    );
    fails(
        &op(
            d,
            "patch",
            &["--type", "User", "--id", ID, "-", "--out", "x.cbor"],
            Some("{\"op\": \"add\"}"),
        ),
        2,
        "PatchOp",
    );
    // Outside the connector's scope (title is not writable).
    fails(
        &op(
            d,
            "create",
            &["--type", "User", "-", "--out", "x.cbor"],
            Some(
                r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "title": "boss"}"#,
            ),
        ),
        1,
        "attribute 'title' is not writable",
    );
    fails(
        &op(
            d,
            "create",
            &["--type", "Group", "-", "--out", "x.cbor"],
            Some(
                r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x"}"#,
            ),
        ),
        1,
        "resource type",
    );
    // A value that is already a blind index, or a sealed value in a clear attribute.
    fails(
        &op(
            d,
            "create",
            &["--type", "User", "-", "--out", "x.cbor"],
            Some(
                r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "zkx1.AAAAAAAAAAAAAAAAAAAAAA"}"#,
            ),
        ),
        2,
        "blind index",
    );
    // Wrong key for the chain.
    let o = op_as(
        d,
        "admin.pem",
        "okta.chain",
        &["user.json", "--out", "x.cbor"],
    );
    fails(
        &o,
        1,
        "is not the key empowered by the chain's last certificate 'okta-prod'",
    );
    let o = run_with(
        d,
        &[
            "op",
            "create",
            "--tenant-dir",
            "acme",
            "--key",
            "okta.pem",
            "--type",
            "User",
            "user.json",
            "--out",
            "x.cbor",
            "--json",
        ],
        None,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"]["code"], "op.key_mismatch");
    // A garbage key file.
    std::fs::write(d.join("bad.pem"), "nope").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("bad.pem"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    fails(
        &op_as(
            d,
            "bad.pem",
            "okta.chain",
            &["user.json", "--out", "x.cbor"],
        ),
        1,
        "does not hold a valid key",
    );
    // An expired chain: the root issued okta a certificate that ended an hour ago.
    let hours_ago = (now() - 7200).to_string();
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
            "*",
            "--ttl",
            "1h",
            "--not-before",
            &hours_ago,
            "--label",
            "stale",
            "--out",
            "stale.cert",
        ],
    ));
    let o = op_as(
        d,
        "okta.pem",
        "stale.cert",
        &["user.json", "--out", "x.cbor"],
    );
    fails(&o, 1, "expired at");
    assert!(stderr(&o).contains("cert renew"), "{}", stderr(&o));
    // A tampered chain.
    let chain = std::fs::read_to_string(d.join("okta.chain")).unwrap();
    let pos = chain.rfind("-----END").unwrap() - 10;
    let mut bytes = chain.into_bytes();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    std::fs::write(d.join("tampered.chain"), bytes).unwrap();
    let o = op_as(
        d,
        "okta.pem",
        "tampered.chain",
        &["user.json", "--out", "x.cbor"],
    );
    assert!(matches!(o.status.code(), Some(1 | 2)), "{}", stderr(&o));
    assert!(stderr(&o).contains("hint:"));

    let after = files(d);
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert_eq!(
        new,
        ["bad.pem", "stale.cert", "tampered.chain"],
        "no output or temp file left"
    );
}

#[test]
fn missing_secret_or_profile_and_env_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    std::fs::write(d.join("user.json"), USER).unwrap();
    // Key, chain and tenant directory from the environment.
    let envs = [
        ("ZKSCIM_TENANT_DIR", "acme"),
        ("ZKSCIM_KEY", "okta.pem"),
        ("ZKSCIM_CHAIN", "okta.chain"),
    ];
    ok(&run_with(
        d,
        &[
            "op",
            "create",
            "--type",
            "User",
            "user.json",
            "--out",
            "e.cbor",
        ],
        None,
        &envs,
    ));
    parse(d, "e.cbor");

    // Without the secret nothing can be sealed.
    std::fs::rename(d.join("acme/tenant.secret"), d.join("secret.bak")).unwrap();
    let o = run_with(
        d,
        &[
            "op",
            "create",
            "--type",
            "User",
            "user.json",
            "--out",
            "x.cbor",
        ],
        None,
        &envs,
    );
    fails(&o, 1, "tenant.secret not found");
    assert!(!d.join("x.cbor").exists());
    std::fs::rename(d.join("secret.bak"), d.join("acme/tenant.secret")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            d.join("acme/tenant.secret"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let o = run_with(
            d,
            &[
                "op",
                "create",
                "--type",
                "User",
                "user.json",
                "--out",
                "x.cbor",
            ],
            None,
            &envs,
        );
        fails(&o, 1, "chmod 600");
        std::fs::set_permissions(
            d.join("acme/tenant.secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    // Without the protection profile the CLI cannot tell what to seal.
    let path = d.join("acme/tenant.json");
    let mut tj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    tj.as_object_mut().unwrap().remove("protection_profile");
    std::fs::write(&path, serde_json::to_string(&tj).unwrap()).unwrap();
    let o = run_with(
        d,
        &[
            "op",
            "create",
            "--type",
            "User",
            "user.json",
            "--out",
            "x.cbor",
            "--json",
        ],
        None,
        &envs,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"]["code"], "tenant.profile_missing");
    assert!(!d.join("x.cbor").exists());
    // Without a tenant directory at all.
    let o = run_with(
        d,
        &[
            "op",
            "create",
            "--type",
            "User",
            "user.json",
            "--out",
            "x.cbor",
            "--tenant-dir",
            "nowhere",
        ],
        None,
        &envs,
    );
    fails(&o, 1, "not a tenant directory");
    assert!(!files(d).iter().any(|f| f.contains(".tmp") || f == "x.cbor"));
}

/// What the CLI writes is what the authority accepts: genesis, then a sealed and indexed create
/// and a patch from the connector, each applied; a second user with the same userName (in
/// another case) is refused by the blind-index uniqueness check.
#[test]
fn the_authority_applies_what_the_cli_signs() {
    use zkscim_authority::{Authority, Config, ReceiptOutcome};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    ok(&run(
        d,
        &[
            "tenant",
            "genesis",
            "--dir",
            "acme",
            "--out",
            "genesis.cbor",
        ],
    ));
    // Non-string leaves under sealed attributes (emails.primary) stay clear, as seal.md §8.1
    // says ("string values only"); the SCIM engine's profile view currently demands them sealed
    // too (reported to the lead), so this user has none.
    let user = USER.replace(", \"primary\": true", "");
    std::fs::write(d.join("user.json"), &user).unwrap();
    ok(&op(
        d,
        "create",
        &[
            "--type",
            "User",
            "--id",
            ID,
            "user.json",
            "--out",
            "create.cbor",
        ],
        None,
    ));
    let patch = r#"[{"op": "replace", "path": "name.givenName", "value": "Babs"}, {"op": "replace", "path": "active", "value": false}]"#;
    ok(&op(
        d,
        "patch",
        &["--type", "User", "--id", ID, "-", "--out", "patch.cbor"],
        Some(patch),
    ));
    let twin = user.replace("BJensen", "bjensen").replace("E-1", "E-2");
    std::fs::write(d.join("twin.json"), twin).unwrap();
    ok(&op(
        d,
        "create",
        &["--type", "User", "twin.json", "--out", "twin.cbor"],
        None,
    ));

    let log_key = zkscim_proto::keys::SigningKey::generate(&mut rand_core::OsRng);
    let authority = Authority::open(Config::new(d.join("zkscim.db"), &log_key)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let submit = |file: &str, genesis: bool| {
        let bytes = std::fs::read(d.join(file)).unwrap();
        rt.block_on(authority.submit("acme", bytes, genesis))
            .unwrap()
            .outcome
    };
    for (file, genesis) in [
        ("genesis.cbor", true),
        ("create.cbor", false),
        ("patch.cbor", false),
    ] {
        let outcome = submit(file, genesis);
        assert!(
            matches!(outcome, ReceiptOutcome::Applied { .. }),
            "{file}: {outcome:?}"
        );
    }
    // The root key (no chain) writes a Group with members and a user with the enterprise
    // extension: sealed sub-attributes and URN-qualified paths as the authority derives them.
    let group = format!(
        r#"{{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Admins",
            "members": [{{"value": "{ID}", "display": "Babs", "type": "User"}}]}}"#
    );
    let ent = r#"{"userName": "alice", "name": {"givenName": "Alice"}}"#;
    let o = run_with(
        d,
        &[
            "op",
            "create",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "User",
            "-",
            "--out",
            "ent.cbor",
        ],
        Some(ent),
        &[],
    );
    fails(&o, 2, "no \"schemas\"");
    assert!(
        stderr(&o).contains("urn:ietf:params:scim:schemas:core:2.0:User"),
        "{}",
        stderr(&o)
    );
    let ent = r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "alice", "name": {"givenName": "Alice"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
            {"employeeNumber": "42", "manager": {"value": "2819c223-7f76-453a-919d-413861904646"}}}"#;
    let root_op = |verb: &str, rtype: &str, input: &str, out: &str| {
        ok(&run_with(
            d,
            &[
                "op",
                verb,
                "--tenant-dir",
                "acme",
                "--key",
                "acme/root.pem",
                "--type",
                rtype,
                "-",
                "--out",
                out,
            ],
            Some(input),
            &[],
        ))
    };
    let out = root_op("create", "Group", &group, "group.cbor");
    assert!(
        out.contains("sealed:  displayname, members.display"),
        "{out}"
    );
    let out = root_op("create", "User", ent, "ent.cbor");
    assert!(
        out.contains("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber"),
        "{out}"
    );
    // PATCH spellings IdPs send: a filtered path, an extension attribute path, a whole
    // extension object, and URN-qualified keys in a path-less value.
    let ent_id = json(&run_with(
        d,
        &[
            "op",
            "create",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "User",
            "-",
            "--out",
            "ent.cbor",
            "--force",
            "--json",
        ],
        Some(ent),
        &[],
    ))["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let ent_patch = format!(
        r#"[{{"op": "add", "path": "emails", "value": [{{"value": "a@example.com", "type": "work"}}]}},
            {{"op": "replace", "path": "emails.value", "value": "alice@example.com"}},
            {{"op": "replace", "path": "{ext}:department", "value": "R&D"}},
            {{"op": "add", "path": "{ext}", "value": {{"costCenter": "7"}}}},
            {{"op": "replace", "value": {{"{ext}:division": "Labs", "name.familyName": "Liddell"}}}}]"#
    );
    let out = ok(&run_with(
        d,
        &[
            "op",
            "patch",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "User",
            "--id",
            &ent_id,
            "-",
            "--out",
            "ent-patch.cbor",
        ],
        Some(&ent_patch),
        &[],
    ));
    for path in [
        "emails.value",
        "name.familyname",
        "enterprise:2.0:user:department",
        "enterprise:2.0:user:costcenter",
        "enterprise:2.0:user:division",
    ] {
        assert!(out.contains(path), "{path} in {out}");
    }
    let patched = parse(d, "ent-patch.cbor").body().body_json().unwrap();
    let ctx_open = |path: &str, v: &serde_json::Value| opened(d, &ent_id, path, v);
    assert_eq!(
        ctx_open("emails.value", &patched[1]["value"]),
        "alice@example.com"
    );
    assert_eq!(
        ctx_open(&format!("{ext}:department"), &patched[2]["value"]),
        "R&D"
    );
    // A filter on a sealed attribute would send its value in the clear: refused locally.
    let leaky = r#"[{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@example.com"}]"#;
    let o = run_with(
        d,
        &[
            "op",
            "patch",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "User",
            "--id",
            &ent_id,
            "-",
            "--out",
            "leaky.cbor",
        ],
        Some(leaky),
        &[],
    );
    fails(&o, 2, "filters on emails.type, which is sealed");
    // Filters on clear attributes (membership ids) are fine.
    let unlink = format!(r#"[{{"op": "remove", "path": "members[value eq \"{ID}\"]"}}]"#);
    let group_id = parse(d, "group.cbor").body().resource_id.clone();
    ok(&run_with(
        d,
        &[
            "op",
            "patch",
            "--tenant-dir",
            "acme",
            "--key",
            "acme/root.pem",
            "--type",
            "Group",
            "--id",
            &group_id,
            "-",
            "--out",
            "unlink.cbor",
        ],
        Some(&unlink),
        &[],
    ));
    for file in ["group.cbor", "ent.cbor", "ent-patch.cbor", "unlink.cbor"] {
        let outcome = submit(file, false);
        assert!(
            matches!(outcome, ReceiptOutcome::Applied { .. }),
            "{file}: {outcome:?}"
        );
    }
    let outcome = submit("twin.cbor", false);
    match outcome {
        ReceiptOutcome::Refused(r) => assert!(r.code.contains("uniq"), "{r:?}"),
        other => panic!("twin applied: {other:?}"),
    }
    authority.shutdown();
}
