//! End to end over real HTTP against the real `zkscim serve` binary on 127.0.0.1 (run from
//! `crates/zkscim-cli` as test targets so `CARGO_BIN_EXE_zkscim` names the binary): tenant
//! creation, delegation, every SCIM write kind on Users, Groups and Agents with receipts that
//! verify, every adversarial refusal with its exact status and code, signed reads, discovery,
//! malformed input, health and metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mod.rs"]
mod support;

use serde_json::{json, Value as Json};
use support::*;
use zkscim_proto::envelope::{Change, Envelope};
use zkscim_proto::log_entry::{EntryKind, LogEntry};
use zkscim_proto::note::NoteVerifier;

/// Asserts an applied submission: 201, `applied`, optional version, and a receipt that verifies.
fn applied(r: &Resp, v: &NoteVerifier, version: Option<&str>) -> Json {
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["outcome"]["status"], "applied", "{j}");
    if let Some(version) = version {
        assert_eq!(j["outcome"]["version"], version, "{j}");
    }
    assert_eq!(j["duplicate"], false);
    verify_receipt(v, &j);
    j
}

/// Asserts a logged refusal: exact status and code, the receipt travels in the error document,
/// verifies, and its entry records the refusal; the log grew by the entries the receipt names.
fn refused_logged(
    server: &Server,
    tenant: &str,
    v: &NoteVerifier,
    r: &Resp,
    status: u16,
    code: &str,
) {
    r.assert_error(status, code);
    let receipt = r.json()["receipt"].clone();
    assert!(
        receipt.is_object(),
        "a logged refusal carries its receipt: {}",
        r.text()
    );
    assert_eq!(receipt["outcome"]["status"], "refused");
    assert_eq!(receipt["outcome"]["code"], code);
    assert_eq!(receipt["outcome"]["httpStatus"], status);
    let cp = verify_receipt(v, &receipt);
    let entry =
        LogEntry::from_bytes(&hex::decode(receipt["entry"].as_str().unwrap()).unwrap()).unwrap();
    match entry.outcome {
        zkscim_proto::log_entry::Outcome::Refused { code: logged, .. } => assert_eq!(logged, code),
        other => panic!("logged as {other:?}"),
    }
    assert!(server.tree_size(tenant) >= cp.size());
}

/// Asserts an unlogged rejection: exact status and code, and the log did not move.
fn rejected_unlogged(server: &Server, tenant: &str, r: &Resp, status: u16, code: &str, size: u64) {
    r.assert_error(status, code);
    assert!(r.json().get("receipt").is_none(), "{}", r.text());
    assert_eq!(server.tree_size(tenant), size, "nothing may be logged");
}

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("zkscim.db"));
    (dir, server)
}

#[test]
fn tenant_delegation_crud_and_receipts() {
    let (dir, mut server) = start();
    let t = Tenant::new("acme");

    // Tenant creation needs the operator token; nothing exists before it.
    server
        .post("/v1/tenants/acme/genesis", &t.genesis(), None)
        .assert_error(401, "auth.operator_token");
    server
        .post("/v1/tenants/acme/genesis", &t.genesis(), Some("wrong"))
        .assert_error(401, "auth.operator_token");
    assert_eq!(server.get("/v1/tenants/acme/log/key", None).status, 404);
    // A genesis through the ordinary submission route is not an operator-authorised creation.
    let r = server.submit("acme", &t.genesis());
    assert!(r.status == 401 || r.status == 404, "{}", r.text());

    let r = server.genesis(&t);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = server.verifier("acme");
    let g = r.json();
    assert_eq!(g["index"], 0);
    assert_eq!(g["tenant"], "acme");
    verify_receipt(&v, &g);
    // A second genesis for the same tenant is refused and not logged.
    let again = server.genesis(&Tenant::new("acme"));
    again.assert_error(409, "tenant.exists");
    assert_eq!(server.tree_size("acme"), 1);

    // root → admin → connector: the connector's first operation brings both certificates.
    let u1 = uuid(1);
    let r = server.submit("acme", &t.connector_op(create_user(&u1, &token(1), true)));
    let j = applied(&r, &v, Some("W/\"1\""));
    assert_eq!(j["certificateEntries"], json!([1, 2]));
    assert_eq!(j["index"], 3);
    let entries = server.entries("acme", 0, 4);
    assert_eq!(entries.len(), 4);
    for (i, cert) in [(1usize, &t.admin), (2, &t.connector)] {
        let e = LogEntry::from_bytes(&entries[i].1).unwrap();
        assert_eq!(e.kind, EntryKind::Certificate);
        assert_eq!(entries[i].2, cert.id().to_hex());
        let raw = server.get(
            &format!("/v1/tenants/acme/log/submitted/{}", cert.id().to_hex()),
            None,
        );
        assert_eq!(raw.status, 200);
        assert_eq!(
            raw.body,
            cert.bytes(),
            "the certificate travels and is logged as sent"
        );
    }
    // Certificates already seen are not logged again.
    let u2 = uuid(2);
    let r = server.submit("acme", &t.admin_op(create_user(&u2, &token(2), true)));
    let j = applied(&r, &v, Some("W/\"1\""));
    assert_eq!(j["certificateEntries"], json!([]));

    // Users: patch (connector suspends), replace (admin), patch back (admin may reactivate).
    let r = server.submit("acme", &t.connector_op(set_active(&u1, false)));
    applied(&r, &v, Some("W/\"2\""));
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "User",
            &u2,
            Change::replace(&user_json(true)).unwrap(),
            &[("username", &token(2))],
            Some("W/\"1\""),
        )),
    );
    applied(&r, &v, Some("W/\"2\""));
    let r = server.submit("acme", &t.admin_op(set_active(&u1, true)));
    applied(&r, &v, Some("W/\"3\""));

    // Groups: create with a member, patch membership, replace, delete.
    let g1 = uuid(100);
    let group =
        json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED, "members": [{"value": u1}]});
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "Group",
            &g1,
            Change::create(&group).unwrap(),
            &[("displayname", &token(100))],
            None,
        )),
    );
    applied(&r, &v, Some("W/\"1\""));
    let r = server.submit(
        "acme",
        &t.admin_op(patch(
            "Group",
            &g1,
            json!([{"op": "add", "path": "members", "value": [{"value": u2}]}]),
        )),
    );
    applied(&r, &v, Some("W/\"2\""));
    let replaced =
        json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED, "members": [{"value": u2}]});
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "Group",
            &g1,
            Change::replace(&replaced).unwrap(),
            &[("displayname", &token(100))],
            None,
        )),
    );
    applied(&r, &v, Some("W/\"3\""));
    let read = |path: &str| {
        server.get(
            path,
            Some(&t.read_auth(&t.admin_key, t.admin_chain(), path)),
        )
    };
    let r = read(&format!("/scim/v2/acme/Groups/{g1}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["members"], json!([{"value": u2}]));

    // Agents (draft-abbey-scim-agent-extension): `name` is required and sealed.
    let a1 = uuid(200);
    let agent =
        json!({"schemas": [AGENT_SCHEMA], "name": SEALED, "agentType": SEALED, "active": true});
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "Agent",
            &a1,
            Change::create(&agent).unwrap(),
            &[],
            None,
        )),
    );
    applied(&r, &v, Some("W/\"1\""));
    let r = server.submit(
        "acme",
        &t.admin_op(patch(
            "Agent",
            &a1,
            json!([{"op": "add", "path": "description", "value": SEALED}]),
        )),
    );
    applied(&r, &v, Some("W/\"2\""));
    let agent2 = json!({"schemas": [AGENT_SCHEMA], "name": SEALED, "active": false});
    let r = server.submit(
        "acme",
        &t.admin_op(body(
            "Agent",
            &a1,
            Change::replace(&agent2).unwrap(),
            &[],
            None,
        )),
    );
    applied(&r, &v, Some("W/\"3\""));
    let r = read(&format!("/scim/v2/acme/Agents/{a1}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], false);
    assert!(r.json().get("description").is_none(), "replace dropped it");

    // Deletes.
    for (rtype, id, endpoint) in [
        ("Agent", &a1, "Agents"),
        ("Group", &g1, "Groups"),
        ("User", &u2, "Users"),
    ] {
        let r = server.submit(
            "acme",
            &t.admin_op(body(rtype, id, Change::Delete, &[], None)),
        );
        applied(&r, &v, None);
        let r = read(&format!("/scim/v2/acme/{endpoint}/{id}"));
        r.assert_error(404, "scim.not_found");
    }
    let r = read(&format!("/scim/v2/acme/Users/{u1}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag").as_deref(), Some("W/\"3\""));

    // Inclusion proofs on demand, against the latest checkpoint.
    let (latest, _) =
        zkscim_proto::checkpoint::Checkpoint::open(&server.checkpoint("acme"), &v).unwrap();
    let all = server.entries("acme", 0, latest.size());
    for (index, entry, _) in &all {
        let r = server.get(
            &format!(
                "/v1/tenants/acme/log/proof/inclusion?index={index}&size={}",
                latest.size()
            ),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let proof: Vec<[u8; 32]> = r.json()["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        zkscim_proto::merkle::verify_inclusion(
            &zkscim_proto::merkle::leaf_hash(entry),
            *index,
            latest.size(),
            &proof,
            latest.root_hash(),
        )
        .unwrap();
    }

    // Graceful stop (SIGTERM) and restart: the log and the directory are as they were.
    let size = server.tree_size("acme");
    let digest = server.get("/v1/tenants/acme/digest", None).json()["digest"].clone();
    server.stop();
    let server = Server::start(&dir.path().join("zkscim.db"));
    assert_eq!(server.tree_size("acme"), size);
    assert_eq!(
        server.get("/v1/tenants/acme/digest", None).json()["digest"],
        digest
    );
    let v2 = server.verifier("acme");
    let (cp, _) =
        zkscim_proto::checkpoint::Checkpoint::open(&server.checkpoint("acme"), &v2).unwrap();
    assert_eq!(cp.size(), size);
}

#[test]
fn adversarial_submissions_are_refused_precisely() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    let b = Tenant::new("beta");
    assert_eq!(server.genesis(&t).status, 201);
    assert_eq!(server.genesis(&b).status, 201);
    let v = server.verifier("acme");
    let u1 = uuid(1);
    applied(
        &server.submit("acme", &t.connector_op(create_user(&u1, &token(1), true))),
        &v,
        None,
    );
    let g1 = uuid(100);
    applied(
        &server.submit(
            "acme",
            &t.admin_op(body(
                "Group",
                &g1,
                Change::create(&json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED})).unwrap(),
                &[("displayname", &token(100))],
                None,
            )),
        ),
        &v,
        None,
    );
    let suspend = || set_active(&u1, false);

    // Forged signature: flip the last byte of the signature. 401, not logged.
    let size = server.tree_size("acme");
    let mut forged = t.connector_op(suspend());
    let last = forged.len() - 1;
    forged[last] ^= 1;
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", &forged),
        401,
        "cose.bad_signature",
        size,
    );
    // Signed by a key the chain does not empower.
    let wrong_key = t.op(&random_key(), t.connector_chain(), suspend());
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", &wrong_key),
        401,
        "envelope.signer_mismatch",
        size,
    );

    // Another tenant's chain: beta's admin signs for acme and submits to acme. 401, not logged.
    let foreign = Envelope::new(t.header(b.admin_chain()), suspend()).sign(&b.admin_key);
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", &foreign),
        401,
        "chain.issuer",
        size,
    );
    // And beta's own, well-formed statement presented at acme.
    let beta_op = b.admin_op(create_user(&uuid(9), &token(9), true));
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", &beta_op),
        401,
        "chain.issuer",
        size,
    );

    // acme's own root certifies a key for tenant beta: well signed under acme's root, so the
    // refusal is logged at acme; at beta the same chain authenticates nothing.
    let k = random_key();
    let t0 = now();
    let for_beta = zkscim_proto::cert::Certificate::issue(
        &t.root,
        None,
        claims(
            "beta",
            &k,
            0,
            connector_scope(),
            "for-beta",
            (t0 - 60, t0 + 3600),
        ),
    )
    .unwrap();
    let r = server.submit("acme", &t.op(&k, vec![for_beta.clone()], suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "chain.tenant");
    let size = server.tree_size("acme");
    let beta_size = server.tree_size("beta");
    let at_beta = Envelope::new(b.header(vec![for_beta]), suspend()).sign(&k);
    rejected_unlogged(
        &server,
        "beta",
        &server.submit("beta", &at_beta),
        401,
        "chain.issuer",
        beta_size,
    );
    assert_eq!(server.tree_size("acme"), size);

    // Expired and not-yet-valid certificates: well signed, so refused and logged.
    let now = now();
    let k = random_key();
    let expired = t.issue_connector(&k, connector_scope(), (now - 7200, now - 3600));
    let r = server.submit("acme", &t.op(&k, expired, suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "chain.expired");
    assert_eq!(
        r.json()["receipt"]["certificateEntries"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the new certificate is logged too"
    );
    let k = random_key();
    let future = t.issue_connector(&k, connector_scope(), (now + 3600, now + 7200));
    let r = server.submit("acme", &t.op(&k, future, suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "chain.not_yet_valid");

    // Revoked certificate: the admin revokes a connector; its next operation is refused.
    let k = random_key();
    let chain = t.issue_connector(&k, connector_scope(), (now - 60, now + 3600));
    applied(
        &server.submit("acme", &t.op(&k, chain.clone(), suspend())),
        &v,
        None,
    );
    applied(
        &server.submit(
            "acme",
            &t.revocation(&t.admin_key, t.admin_chain(), &chain[1]),
        ),
        &v,
        None,
    );
    let r = server.submit("acme", &t.op(&k, chain, suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "revoked.certificate");
    // Revoked ancestor: the root revokes a second admin; the connector beneath it is refused.
    let admin2_key = random_key();
    let admin2 = zkscim_proto::cert::Certificate::issue(
        &t.root,
        None,
        claims(
            "acme",
            &admin2_key,
            1,
            admin_scope(),
            "admin-2",
            (now - 600, now + 86_400),
        ),
    )
    .unwrap();
    let k = random_key();
    let leaf = zkscim_proto::cert::Certificate::issue(
        &admin2_key,
        Some(&admin2),
        claims(
            "acme",
            &k,
            0,
            connector_scope(),
            "connector-2",
            (now - 60, now + 3600),
        ),
    )
    .unwrap();
    let chain2 = vec![admin2.clone(), leaf];
    applied(
        &server.submit("acme", &t.op(&k, chain2.clone(), suspend())),
        &v,
        None,
    );
    applied(
        &server.submit("acme", &t.revocation(&t.root, vec![], &admin2)),
        &v,
        None,
    );
    let r = server.submit("acme", &t.op(&k, chain2, suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "revoked.certificate");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("certificate 0"),
        "{}",
        r.text()
    );

    // A child wider than its parent, hand-signed past `Certificate::issue`'s own check.
    let k = random_key();
    let wide = hand_signed(
        &t.admin_key,
        Some(&t.admin),
        &claims(
            "acme",
            &k,
            0,
            scope(&["patch"], &["User"], &["active"], &["break_glass"]),
            "wide",
            (now - 60, now + 3600),
        ),
    );
    let r = server.submit("acme", &t.op(&k, vec![t.admin.clone(), wide], suspend()));
    refused_logged(
        &server,
        "acme",
        &v,
        &r,
        403,
        "chain.attenuation.capabilities",
    );
    let mid_key = random_key();
    let mid = zkscim_proto::cert::Certificate::issue(
        &t.admin_key,
        Some(&t.admin),
        claims(
            "acme",
            &mid_key,
            0,
            scope(&["patch"], &["User"], &["active"], &[]),
            "mid",
            (now - 60, now + 3600),
        ),
    )
    .unwrap();
    let k = random_key();
    let below = hand_signed(
        &mid_key,
        Some(&mid),
        &claims(
            "acme",
            &k,
            0,
            scope(&["patch", "delete"], &["User"], &["active"], &[]),
            "below",
            (now - 60, now + 3600),
        ),
    );
    let r = server.submit(
        "acme",
        &t.op(&k, vec![t.admin.clone(), mid, below], suspend()),
    );
    // `mid` has neither `delegate` nor depth: the first failing dimension is named.
    let code = r.code();
    assert!(code.starts_with("chain.attenuation."), "{}", r.text());
    refused_logged(&server, "acme", &v, &r, 403, &code);
    let root_child_key = random_key();
    let narrow_admin = zkscim_proto::cert::Certificate::issue(
        &t.root,
        None,
        claims(
            "acme",
            &root_child_key,
            1,
            scope(&["patch"], &["User"], &["active"], &["delegate"]),
            "narrow-admin",
            (now - 60, now + 3600),
        ),
    )
    .unwrap();
    let k = random_key();
    let wider_ops = hand_signed(
        &root_child_key,
        Some(&narrow_admin),
        &claims(
            "acme",
            &k,
            0,
            scope(&["patch", "delete"], &["User"], &["active"], &[]),
            "wider-ops",
            (now - 60, now + 3600),
        ),
    );
    let r = server.submit("acme", &t.op(&k, vec![narrow_admin, wider_ops], suspend()));
    refused_logged(&server, "acme", &v, &r, 403, "chain.attenuation.operations");

    // Writing an attribute outside the scope.
    let r = server.submit(
        "acme",
        &t.connector_op(patch(
            "User",
            &u1,
            json!([{"op": "add", "path": "title", "value": SEALED}]),
        )),
    );
    refused_logged(&server, "acme", &v, &r, 403, "scope.denied.attribute");
    // A lifecycle-only key cannot grant access: membership is out of its scope.
    let r = server.submit(
        "acme",
        &t.connector_op(patch(
            "Group",
            &g1,
            json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]),
        )),
    );
    refused_logged(&server, "acme", &v, &r, 403, "scope.denied.attribute");
    assert!(
        r.json()["detail"].as_str().unwrap().contains("members"),
        "{}",
        r.text()
    );

    // Reactivation without the capability: suspend (allowed), then try to turn it back on.
    applied(&server.submit("acme", &t.connector_op(suspend())), &v, None);
    let r = server.submit("acme", &t.connector_op(set_active(&u1, true)));
    refused_logged(
        &server,
        "acme",
        &v,
        &r,
        403,
        "policy.reactivation_requires_capability",
    );

    // Replay: the same nonce with other bytes.
    let header = t.header(t.connector_chain());
    let first = Envelope::new(
        header.clone(),
        patch(
            "User",
            &u1,
            json!([{"op": "replace", "path": "name.givenName", "value": SEALED}]),
        ),
    )
    .sign(&t.connector_key);
    let other = Envelope::new(
        header,
        patch(
            "User",
            &u1,
            json!([{"op": "replace", "path": "name.familyName", "value": SEALED}]),
        ),
    )
    .sign(&t.connector_key);
    let original = applied(&server.submit("acme", &first), &v, None);
    let r = server.submit("acme", &other);
    refused_logged(&server, "acme", &v, &r, 409, "replay.nonce_reused");
    // Identical resubmission: the original receipt, nothing new in the log.
    let size = server.tree_size("acme");
    let r = server.submit("acme", &first);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["duplicate"], true);
    assert_eq!(j["index"], original["index"]);
    assert_eq!(j["entry"], original["entry"]);
    verify_receipt(&v, &j);
    assert_eq!(server.tree_size("acme"), size);
    let hash = hex::encode(zkscim_proto::log_entry::submitted_hash_of(&first));
    let logged = server
        .entries("acme", 0, size)
        .into_iter()
        .filter(|(_, _, h)| *h == hash)
        .count();
    assert_eq!(logged, 1, "one log entry for the submission");

    // Clear value where the profile requires a sealed one.
    let r = server.submit(
        "acme",
        &t.connector_op(patch(
            "User",
            &u1,
            json!([{"op": "replace", "path": "name.givenName", "value": "Barbara"}]),
        )),
    );
    refused_logged(&server, "acme", &v, &r, 400, "profile.clear_value_refused");
    assert_eq!(r.json()["scimType"], "invalidValue");

    // Stale ETag.
    let mut stale = set_active(&u1, false);
    stale.if_match = Some("W/\"1\"".into());
    let r = server.submit("acme", &t.admin_op(stale));
    refused_logged(&server, "acme", &v, &r, 412, "precondition.failed");

    // Operation, resource type and group allow-list dimensions of the scope.
    let r = server.submit(
        "acme",
        &t.connector_op(body("User", &u1, Change::Delete, &[], None)),
    );
    refused_logged(&server, "acme", &v, &r, 403, "scope.denied.operation");
    let agent = json!({"schemas": [AGENT_SCHEMA], "name": SEALED});
    let r = server.submit(
        "acme",
        &t.connector_op(body(
            "Agent",
            &uuid(300),
            Change::create(&agent).unwrap(),
            &[],
            None,
        )),
    );
    refused_logged(&server, "acme", &v, &r, 403, "scope.denied.resource_type");
    let k = random_key();
    let other_group_only = t.issue_connector(
        &k,
        zkscim_proto::scope::ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["Group"])
            .attributes(["members"])
            .groups([uuid(101)])
            .build()
            .unwrap(),
        (now - 60, now + 3600),
    );
    let add_member = || {
        patch(
            "Group",
            &g1,
            json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]),
        )
    };
    let r = server.submit("acme", &t.op(&k, other_group_only, add_member()));
    refused_logged(&server, "acme", &v, &r, 403, "scope.denied.group");
    let k = random_key();
    let this_group = t.issue_connector(
        &k,
        zkscim_proto::scope::ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["Group"])
            .attributes(["members"])
            .groups([g1.clone()])
            .build()
            .unwrap(),
        (now - 60, now + 3600),
    );
    applied(
        &server.submit("acme", &t.op(&k, this_group, add_member())),
        &v,
        Some("W/\"2\""),
    );

    // Resource existence and uniqueness.
    let r = server.submit("acme", &t.admin_op(create_user(&u1, &token(50), true)));
    refused_logged(&server, "acme", &v, &r, 409, "resource.exists");
    let r = server.submit("acme", &t.admin_op(create_user(&uuid(2), &token(1), true)));
    refused_logged(&server, "acme", &v, &r, 409, "scim.uniqueness");
    let r = server.submit("acme", &t.admin_op(set_active(&uuid(404), false)));
    refused_logged(&server, "acme", &v, &r, 404, "resource.not_found");

    // Unknown tenant: not logged anywhere.
    let r = server.submit("nobody", &t.admin_op(suspend()));
    r.assert_error(404, "tenant.unknown");

    // Every entry links to the one before, and beta's log saw none of acme's traffic.
    let size = server.tree_size("acme");
    let entries = server.entries("acme", 0, size);
    for pair in entries.windows(2) {
        let prev = LogEntry::from_bytes(&pair[0].1).unwrap();
        let next = LogEntry::from_bytes(&pair[1].1).unwrap();
        next.verify_link(&prev).unwrap();
    }
    assert_eq!(server.tree_size("beta"), 1);
}

#[test]
fn signed_reads_and_discovery() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    let b = Tenant::new("beta");
    assert_eq!(server.genesis(&t).status, 201);
    assert_eq!(server.genesis(&b).status, 201);
    let v = server.verifier("acme");
    let u1 = uuid(1);
    applied(
        &server.submit("acme", &t.admin_op(create_user(&u1, &token(1), true))),
        &v,
        None,
    );
    applied(
        &server.submit("acme", &t.admin_op(create_user(&uuid(2), &token(2), true))),
        &v,
        None,
    );

    let path = format!("/scim/v2/acme/Users/{u1}");
    let r = server.get(
        &path,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
    let user = r.json();
    assert_eq!(user["id"], u1);
    assert_eq!(user["userName"], SEALED);
    assert_eq!(user["meta"]["resourceType"], "User");

    // Equality filter on the blind index.
    let filter = format!(
        "/scim/v2/acme/Users?filter=userName%20eq%20%22{}%22",
        token(1)
    );
    let r = server.get(
        &filter,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &filter)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], u1);
    let none = format!(
        "/scim/v2/acme/Users?filter=userName%20eq%20%22{}%22",
        token(77)
    );
    let r = server.get(
        &none,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &none)),
    );
    assert_eq!(r.json()["totalResults"], 0);
    let all = "/scim/v2/acme/Users";
    let r = server.get(all, Some(&t.read_auth(&t.admin_key, t.admin_chain(), all)));
    assert_eq!(r.json()["totalResults"], 2);

    // A key without `read`.
    server
        .get(
            &path,
            Some(&t.read_auth(&t.connector_key, t.connector_chain(), &path)),
        )
        .assert_error(403, "scope.denied.operation");
    // Bound to another path (and to another query).
    let other = format!("/scim/v2/acme/Users/{}", uuid(2));
    server
        .get(
            &path,
            Some(&t.read_auth(&t.admin_key, t.admin_chain(), &other)),
        )
        .assert_error(401, "auth.read_binding");
    server
        .get(
            &filter,
            Some(&t.read_auth(&t.admin_key, t.admin_chain(), &none)),
        )
        .assert_error(401, "auth.read_binding");
    // No signature, or not base64url.
    server
        .get(&path, None)
        .assert_error(401, "auth.read_signature");
    server
        .get(&path, Some("Bearer x"))
        .assert_error(401, "auth.read_signature");
    server
        .get(&path, Some("ZKSCIM !!!"))
        .assert_error(401, "auth.read_signature");
    // Signed under acme, presented at beta (bound to beta's path): beta's root empowers nobody here.
    let beta_path = format!("/scim/v2/beta/Users/{u1}");
    let r = server.get(
        &beta_path,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &beta_path)),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.code(), "chain.issuer");
    // The root key itself reads (empty chain, unlimited scope); unknown ids are SCIM 404s.
    let missing = format!("/scim/v2/acme/Users/{}", uuid(999));
    server
        .get(&missing, Some(&t.read_auth(&t.root, vec![], &missing)))
        .assert_error(404, "scim.not_found");
    // A revoked reader is refused.
    let k = random_key();
    let now = now();
    let reader = t.issue_connector(
        &k,
        scope(&["read"], &["User"], &[], &[]),
        (now - 60, now + 3600),
    );
    let r = server.get(&path, Some(&t.read_auth(&k, reader.clone(), &path)));
    assert_eq!(r.status, 200, "{}", r.text());
    // (Revoking such a read-only certificate: see `read_only_certificate_can_be_revoked`.)

    // Tenant isolation: beta's own admin sees nothing of acme's.
    let r = server.get(
        &beta_path,
        Some(&b.read_auth(&b.admin_key, b.admin_chain(), &beta_path)),
    );
    r.assert_error(404, "scim.not_found");
    let beta_all = "/scim/v2/beta/Users";
    let r = server.get(
        beta_all,
        Some(&b.read_auth(&b.admin_key, b.admin_chain(), beta_all)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["totalResults"], 0);
    let acme_entries = server.entries("acme", 0, server.tree_size("acme"));
    let r = server.get(
        &format!("/v1/tenants/beta/log/submitted/{}", acme_entries[3].2),
        None,
    );
    r.assert_error(404, "read.not_found");
    assert_eq!(server.tree_size("beta"), 1);

    // Discovery needs no signature.
    for endpoint in [
        "ServiceProviderConfig",
        "ResourceTypes",
        "Schemas",
        "ResourceTypes/User",
        "Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    ] {
        let r = server.get(&format!("/scim/v2/acme/{endpoint}"), None);
        assert_eq!(r.status, 200, "{endpoint}: {}", r.text());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/scim+json")
        );
        r.json();
    }
    let types = server.get("/scim/v2/acme/ResourceTypes", None).json();
    let names: Vec<String> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "Agent"), "{names:?}");
    server
        .get("/scim/v2/acme/Widgets", None)
        .assert_error(404, "scim.not_found");
    server
        .get("/nope", None)
        .assert_error(404, "http.not_found");
}

#[test]
fn malformed_input_health_and_metrics() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");

    let r = server.get("/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
    let before = server.metrics();

    let size = server.tree_size("acme");
    let good = t.admin_op(create_user(&uuid(1), &token(1), true));
    let r = server.submit("acme", &[0xff; 10]);
    assert_eq!(r.status, 400, "{}", r.text());
    let garbage_code = r.code();
    r.assert_error(400, &garbage_code);
    let r = server.submit("acme", &good[..good.len() / 2]);
    assert_eq!(r.status, 400, "{}", r.text());
    let truncated_code = r.code();
    r.assert_error(400, &truncated_code);
    assert!(
        truncated_code.starts_with("cbor.") || truncated_code.starts_with("cose."),
        "{truncated_code}"
    );
    // A certificate is a COSE_Sign1 of the wrong `typ` for a submission.
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", t.admin.bytes()),
        400,
        "cose.wrong_type",
        size,
    );
    // A read request is no log statement.
    let read = Envelope::new(
        t.header(t.admin_chain()),
        zkscim_proto::envelope::ReadRequest {
            method: "GET".into(),
            path_and_query: "/scim/v2/acme/Users".into(),
            body_sha256: None,
        },
    )
    .sign(&t.admin_key);
    let r = server.submit("acme", &read);
    rejected_unlogged(&server, "acme", &r, 401, "envelope.tenant_mismatch", size);
    // Over the 1 MiB submission limit.
    let r = server.submit("acme", &vec![0u8; (1 << 20) + 1]);
    rejected_unlogged(&server, "acme", &r, 413, "submit.too_large", size);
    // Empty body.
    rejected_unlogged(
        &server,
        "acme",
        &server.submit("acme", &[]),
        400,
        "cbor.truncated",
        size,
    );
    // A genesis for another tenant than the route's, even with the operator token.
    let r = server.post("/v1/tenants/beta/genesis", &t.genesis(), Some(ADMIN_TOKEN));
    r.assert_error(401, "envelope.tenant_mismatch");
    assert_eq!(
        server.get("/v1/tenants/beta/log/checkpoint", None).status,
        404
    );
    assert_eq!(
        server.tree_size("acme"),
        size,
        "nothing malformed is logged"
    );

    // One applied, one refused: the counters move.
    applied(&server.submit("acme", &good), &v, None);
    let r = server.submit(
        "acme",
        &t.connector_op(patch(
            "User",
            &uuid(1),
            json!([{"op": "add", "path": "title", "value": SEALED}]),
        )),
    );
    assert_eq!(r.code(), "scope.denied.attribute");
    let after = server.metrics();
    assert_eq!(
        counter(&after, "zkscim_submissions_applied_total"),
        counter(&before, "zkscim_submissions_applied_total") + 1,
        "{after}"
    );
    let refused = "zkscim_submissions_refused_total{reason=\"scope.denied.attribute\"}";
    assert_eq!(
        counter(&after, refused),
        counter(&before, refused) + 1,
        "{after}"
    );
    for code in [
        garbage_code.as_str(),
        truncated_code.as_str(),
        "cose.wrong_type",
        "submit.too_large",
    ] {
        let name = format!("zkscim_submissions_rejected_total{{reason=\"{code}\"}}");
        assert!(
            counter(&after, &name) > counter(&before, &name),
            "{name}: {after}"
        );
    }
    assert!(counter(&after, "zkscim_commit_batches_total") >= 2);

    // A batch: each item gets its own result.
    let batch_items = [
        t.admin_op(create_user(&uuid(2), &token(2), true)),
        vec![0xff, 0x00],
    ];
    let cbor = zkscim_proto::codec::Value::Array(
        batch_items
            .iter()
            .map(|b| zkscim_proto::codec::Value::bytes(b.clone()))
            .collect(),
    )
    .to_bytes();
    let r = server.post("/v1/tenants/acme/submissions/batch", &cbor, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json();
    assert_eq!(results[0]["outcome"]["status"], "applied", "{results}");
    verify_receipt(&v, &results[0]);
    assert_eq!(results[1]["error"]["status"], 400, "{results}");
}

#[test]
fn skew_duplicate_refusals_and_concurrent_resubmission() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    applied(
        &server.submit("acme", &t.admin_op(create_user(&uuid(1), &token(1), true))),
        &v,
        None,
    );
    let suspend = || set_active(&uuid(1), false);

    // Issued-at outside the skew window: well signed, so logged, and refused as 401.
    let mut header = t.header(t.admin_chain());
    header.issued_at = now() - 3600;
    let old = Envelope::new(header, suspend()).sign(&t.admin_key);
    let r = server.submit("acme", &old);
    refused_logged(&server, "acme", &v, &r, 401, "envelope.issued_too_long_ago");
    let first = r.json()["receipt"].clone();
    let mut header = t.header(t.admin_chain());
    header.issued_at = now() + 3600;
    let future = Envelope::new(header, suspend()).sign(&t.admin_key);
    let r = server.submit("acme", &future);
    refused_logged(&server, "acme", &v, &r, 401, "envelope.issued_in_future");
    // Resubmitting a refused statement answers as the original did, from the log.
    let size = server.tree_size("acme");
    let r = server.submit("acme", &old);
    r.assert_error(401, "envelope.issued_too_long_ago");
    let again = r.json()["receipt"].clone();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["index"], first["index"]);
    verify_receipt(&v, &again);
    assert_eq!(server.tree_size("acme"), size);

    // The same bytes from eight clients at once: one entry, one receipt index for all.
    let bytes = t.admin_op(suspend());
    let answers: Vec<Json> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| server.submit("acme", &bytes)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let r = h.join().unwrap();
                assert!(r.status == 201 || r.status == 200, "{}", r.text());
                r.json()
            })
            .collect()
    });
    assert_eq!(server.tree_size("acme"), size + 1);
    assert!(answers.iter().all(|a| a["index"] == size));
    assert_eq!(
        answers.iter().filter(|a| a["duplicate"] == false).count(),
        1
    );
    answers.iter().for_each(|a| {
        verify_receipt(&v, a);
    });

    // Eight different roots race to create one new tenant: exactly one genesis is logged.
    let rivals: Vec<Tenant> = (0..8).map(|_| Tenant::new("gamma")).collect();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = rivals
            .iter()
            .map(|r| s.spawn(|| server.genesis(r)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1);
    for r in answers.iter().filter(|r| r.status != 201) {
        r.assert_error(409, "tenant.exists");
    }
    assert_eq!(server.tree_size("gamma"), 1);

    // One nonce, eight different statements at once: exactly one is applied, the rest are replays.
    let header = t.header(t.admin_chain());
    let statements: Vec<Vec<u8>> = (0..8u64)
        .map(|i| {
            Envelope::new(
                header.clone(),
                create_user(&uuid(100 + i), &token(100 + i), true),
            )
            .sign(&t.admin_key)
        })
        .collect();
    let statuses: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = statements
            .iter()
            .map(|b| s.spawn(|| server.submit("acme", b)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|r| r.status == 201).count(), 1);
    for r in statuses.iter().filter(|r| r.status != 201) {
        refused_logged(&server, "acme", &v, r, 409, "replay.nonce_reused");
    }
    assert_eq!(server.tree_size("acme"), size + 9);
}

/// Every failure should be a SCIM error document with a `zkscimCode` (http.rs promises it), but
/// rejections produced by layers and extractors before the handlers answer in plain text.
#[test]

fn every_failure_is_a_scim_error_document() {
    use std::io::{Read, Write};
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    // Past the HTTP body limit: only the headers are sent; the server answers at once.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /v1/tenants/acme/submissions HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        17u64 << 20
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: application/scim+json"),
        "{raw}"
    );
    // A log read without its required query parameter.
    server
        .get("/v1/tenants/acme/log/entries", None)
        .assert_error(400, "read.invalid");
}

/// Reads are not logged, so a read-only certificate never gets a first-seen entry: its revocation
/// must carry it (field 19), else it is refused as unknown.
#[test]
fn read_only_certificate_can_be_revoked() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    applied(
        &server.submit("acme", &t.admin_op(create_user(&uuid(1), &token(1), true))),
        &v,
        None,
    );
    let k = random_key();
    let now = now();
    let reader = t.issue_connector(
        &k,
        scope(&["read"], &["User"], &[], &[]),
        (now - 60, now + 3600),
    );
    let path = format!("/scim/v2/acme/Users/{}", uuid(1));
    let r = server.get(&path, Some(&t.read_auth(&k, reader.clone(), &path)));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server.submit(
        "acme",
        &t.revocation(&t.admin_key, t.admin_chain(), &reader[1]),
    );
    refused_logged(
        &server,
        "acme",
        &v,
        &r,
        404,
        "revocation.unknown_certificate",
    );
    assert_eq!(
        server
            .get(&path, Some(&t.read_auth(&k, reader.clone(), &path)))
            .status,
        200
    );
    // The admin, an ancestor, revokes the reader's certificate, carrying it: it is logged first.
    let size = server.tree_size("acme");
    let r = server.submit(
        "acme",
        &t.revocation_with(&t.admin_key, t.admin_chain(), &reader[1], true),
    );
    let j = applied(&r, &v, None);
    assert_eq!(j["certificateEntries"], json!([size]), "{j}");
    let logged = server.entries("acme", size, size + 1);
    assert_eq!(logged[0].2, reader[1].id().to_hex());
    server
        .get(&path, Some(&t.read_auth(&k, reader, &path)))
        .assert_error(403, "revoked.certificate");
}

#[test]
fn policy_changes_the_protection_profile() {
    use zkscim_proto::envelope::PolicyUpdate;
    use zkscim_proto::seal::{Protection, ProtectionProfile};
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    let u1 = uuid(1);
    applied(
        &server.submit("acme", &t.admin_op(create_user(&u1, &token(1), true))),
        &v,
        None,
    );
    let title = || {
        patch(
            "User",
            &u1,
            json!([{"op": "add", "path": "title", "value": "Engineer"}]),
        )
    };
    // Under the default profile `title` is sealed: a clear value is refused.
    let r = server.submit("acme", &t.admin_op(title()));
    refused_logged(&server, "acme", &v, &r, 400, "profile.clear_value_refused");

    let mut profile = ProtectionProfile::default_profile();
    profile
        .set_rule(Some("User"), "title", Protection::Clear)
        .unwrap();
    let policy = |signer: &zkscim_proto::keys::SigningKey, chain| {
        Envelope::new(
            t.header(chain),
            PolicyUpdate {
                document: profile.to_cbor(),
            },
        )
        .sign(signer)
    };
    // The connector lacks the `policy` capability.
    let r = server.submit("acme", &policy(&t.connector_key, t.connector_chain()));
    refused_logged(&server, "acme", &v, &r, 403, "policy.not_permitted");
    let r = server.submit("acme", &policy(&t.admin_key, t.admin_chain()));
    applied(&r, &v, None);
    let r = server.submit("acme", &t.admin_op(title()));
    applied(&r, &v, Some("W/\"2\""));
    let path = format!("/scim/v2/acme/Users/{u1}");
    let r = server.get(
        &path,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
    );
    assert_eq!(r.json()["title"], "Engineer");
    // Everything else keeps its protection.
    let r = server.submit(
        "acme",
        &t.admin_op(patch(
            "User",
            &u1,
            json!([{"op": "replace", "path": "name.givenName", "value": "Barbara"}]),
        )),
    );
    refused_logged(&server, "acme", &v, &r, 400, "profile.clear_value_refused");
}

/// DESIGN §4 short-lived credentials: a tenant policy caps certificate lifetime by chain level;
/// the caps survive a restart, and deprovisioning is never blocked by them.
#[test]
fn policy_caps_certificate_lifetime_by_level() {
    use zkscim_proto::policy::TenantPolicy;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zkscim.db");
    let mut server = Server::start(&db);
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    let (u1, u2) = (uuid(1), uuid(2));
    let create = |u: &str, n| t.connector_op(create_user(u, &token(n), true));
    applied(&server.submit("acme", &create(&u1, 1)), &v, None);
    // Connectors (level 2) at most 30 minutes: the two-hour connector is now too long-lived.
    let mut policy = TenantPolicy::default_policy();
    policy.lifetime_caps.set(2, 1_800).unwrap();
    let statement = t.policy(&t.admin_key, t.admin_chain(), &policy);
    applied(&server.submit("acme", &statement), &v, None);
    let r = server.submit("acme", &create(&u2, 2));
    refused_logged(&server, "acme", &v, &r, 403, "policy.lifetime_exceeded");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("okta-connector"),
        "{}",
        r.json()
    );
    // The caps are part of the stored tenant: still in force after a restart.
    server.stop();
    let mut server = Server::start(&db);
    let r = server.submit("acme", &create(&u2, 2));
    refused_logged(&server, "acme", &v, &r, 403, "policy.lifetime_exceeded");
    // Deprovisioning stays possible for the over-long connector.
    let off = set_active(&u1, false);
    applied(
        &server.submit("acme", &t.connector_op(off)),
        &v,
        Some("W/\"2\""),
    );
    // A connector issued within the cap works.
    let short_key = random_key();
    let now = now();
    let short = t.issue_connector(&short_key, connector_scope(), (now - 60, now + 1_700));
    applied(
        &server.submit(
            "acme",
            &t.op(&short_key, short, create_user(&u2, &token(2), true)),
        ),
        &v,
        None,
    );
    server.stop();
}

/// DESIGN §4: a tenant policy can require non-human identities to name an owner and carry a
/// bounded expiry; the expiry stays readable (lifecycle metadata, clear by default).
#[test]
fn policy_requires_nhi_owner_and_expiry() {
    use zkscim_proto::policy::TenantPolicy;
    const NHI: &str = "urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle";
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    let mut policy = TenantPolicy::default_policy();
    policy.nhi.require("Agent").unwrap();
    policy.nhi.set_max_expiry(30 * 86_400).unwrap();
    let statement = t.policy(&t.admin_key, t.admin_chain(), &policy);
    applied(&server.submit("acme", &statement), &v, None);
    let expires = zkscim_scim::datetime::format_rfc3339(now() + 7 * 86_400);
    let agent = |owner: bool| {
        let mut a = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent", NHI],
            "name": SEALED,
            NHI: {"expiresAt": expires},
        });
        if owner {
            a["owners"] = json!([{"value": SEALED}]);
        }
        body("Agent", &uuid(1), Change::create(&a).unwrap(), &[], None)
    };
    let r = server.submit("acme", &t.admin_op(agent(false)));
    refused_logged(&server, "acme", &v, &r, 400, "policy.nhi_owner_missing");
    applied(
        &server.submit("acme", &t.admin_op(agent(true))),
        &v,
        Some("W/\"1\""),
    );
    let path = format!("/scim/v2/acme/Agents/{}", uuid(1));
    let r = server.get(
        &path,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[NHI]["expiresAt"], expires.as_str(), "{}", r.text());
}

/// A signed read is single-use: a captured Authorization header replayed (to the same path, or
/// after the first use failed nowhere) is refused, and a fresh signature works.
#[test]
fn signed_reads_are_single_use() {
    let (_dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let path = "/scim/v2/acme/Users";
    let auth = t.read_auth(&t.admin_key, t.admin_chain(), path);
    assert_eq!(server.get(path, Some(&auth)).status, 200);
    server
        .get(path, Some(&auth))
        .assert_error(401, "auth.read_replayed");
    // A request refused before it would be served does not use up its nonce: signed for
    // another path it is refused for the binding, and still works where it belongs.
    let other = "/scim/v2/acme/Groups";
    let auth = t.read_auth(&t.admin_key, t.admin_chain(), path);
    server
        .get(other, Some(&auth))
        .assert_error(401, "auth.read_binding");
    assert_eq!(server.get(path, Some(&auth)).status, 200);
    let fresh = t.read_auth(&t.admin_key, t.admin_chain(), path);
    assert_eq!(server.get(path, Some(&fresh)).status, 200);
}

/// DESIGN §4: a privileged group's membership change needs N distinct approvers. Approvals are
/// logged statements, kept across a restart, and counted for the exact statement they name.
#[test]
fn privileged_group_changes_need_approvals() {
    use zkscim_proto::policy::TenantPolicy;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zkscim.db");
    let mut server = Server::start(&db);
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let v = server.verifier("acme");
    let (u1, g1) = (uuid(1), uuid(100));
    applied(
        &server.submit("acme", &t.admin_op(create_user(&u1, &token(1), true))),
        &v,
        None,
    );
    let group = json!({"schemas": [GROUP_SCHEMA], "displayName": SEALED});
    applied(
        &server.submit(
            "acme",
            &t.admin_op(body(
                "Group",
                &g1,
                Change::create(&group).unwrap(),
                &[("displayname", &token(100))],
                None,
            )),
        ),
        &v,
        None,
    );
    let mut policy = TenantPolicy::default_policy();
    policy.privileged_groups.set(&g1, 2).unwrap();
    applied(
        &server.submit("acme", &t.policy(&t.admin_key, t.admin_chain(), &policy)),
        &v,
        None,
    );
    let add = || {
        t.admin_op(patch(
            "Group",
            &g1,
            json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]),
        ))
    };
    let r = server.submit("acme", &add());
    refused_logged(&server, "acme", &v, &r, 403, "policy.approvals_required");
    // A second admin approves the exact statement; the approval is logged and kept.
    let (second_key, second) = t.second_admin("second-admin");
    let statement = add();
    let approval = t.approval(&second_key, second, &statement);
    applied(&server.submit("acme", &approval), &v, None);
    server.stop();
    let mut server = Server::start(&db);
    applied(&server.submit("acme", &statement), &v, Some("W/\"2\""));
    let path = format!("/scim/v2/acme/Groups/{g1}");
    let r = server.get(
        &path,
        Some(&t.read_auth(&t.admin_key, t.admin_chain(), &path)),
    );
    assert_eq!(r.json()["members"][0]["value"], u1.as_str(), "{}", r.text());
    server.stop();
}

/// One log, one writer: a second server on the same database must refuse to start. Today it
/// starts; its writer keeps stale log heads (its interleaved submissions fail with 503 until it
/// reloads) and a stale copy of each tenant's protection profile, so it could decide under a
/// profile a policy entry has already replaced.
#[test]

fn a_second_server_on_the_same_database_refuses_to_start() {
    use std::io::{BufRead, BufReader};
    let (dir, server) = start();
    let t = Tenant::new("acme");
    assert_eq!(server.genesis(&t).status, 201);
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_zkscim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN_TOKEN,
            "--db",
        ])
        .arg(dir.path().join("zkscim.db"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(second.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let listening = first.starts_with("zkscim listening on");
    let _ = second.kill();
    let _ = second.wait();
    assert!(
        !listening,
        "a second server is serving the same database: {first}"
    );
}
