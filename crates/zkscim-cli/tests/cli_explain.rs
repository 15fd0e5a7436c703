//! `zkscim explain` against a real `zkscim serve` on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
mod common;

use std::process::Command;

use common::serve;

use serde_json::json;
use zkscim_proto::cert::{Certificate, Claims};
use zkscim_proto::envelope::{Change, Envelope, Genesis, Header, OperationBody};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::scope::ScopeBuilder;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn post(url: &str, body: &[u8], token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    req.send(body).unwrap().status().as_u16()
}

#[test]
fn explain_names_the_chain_and_what_to_revoke() {
    let server = serve();
    let t = now();
    let root = SigningKey::from_seed(&[1; 32]);
    let admin = SigningKey::from_seed(&[2; 32]);
    let connector = SigningKey::from_seed(&[3; 32]);
    let genesis = Envelope::new(
        Header::new("acme", t, vec![], &mut rand_core::OsRng),
        Genesis {
            root: root.public_key(),
        },
    )
    .sign(&root);
    assert_eq!(
        post(
            &format!("{}/v1/tenants/acme/genesis", server.url),
            &genesis,
            Some("op-token")
        ),
        201
    );
    let claims = |subject: &SigningKey, depth, scope, label: &str| Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: "acme".into(),
        not_before: t - 60,
        expires: t + 3600,
        issued_at: t,
        nonce: [depth; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    };
    let all = ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["*"])
        .attributes(["*"])
        .capabilities(["delegate"])
        .build()
        .unwrap();
    let narrow = ScopeBuilder::new()
        .operations(["create"])
        .resource_types(["User"])
        .attributes(["userName", "active"])
        .build()
        .unwrap();
    let c1 = Certificate::issue(&root, None, claims(&admin, 1, all, "acme-admin")).unwrap();
    let c2 = Certificate::issue(
        &admin,
        Some(&c1),
        claims(&connector, 0, narrow, "okta-prod"),
    )
    .unwrap();
    let mut indexes = BTreeMap::new();
    indexes.insert(
        "username".to_owned(),
        Some("zkx1.AAAAAAAAAAAAAAAAAAAAAA".to_owned()),
    );
    let op = Envelope::new(
        Header::new("acme", t, vec![c1.clone(), c2.clone()], &mut rand_core::OsRng),
        OperationBody {
            resource_type: "User".into(),
            resource_id: "00000000-0000-4000-8000-000000000001".into(),
            if_match: None,
            change: Change::create(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("zk1.{}", "A".repeat(54))})).unwrap(),
            indexes,
        },
    )
    .sign(&connector);
    assert_eq!(
        post(
            &format!("{}/v1/tenants/acme/submissions", server.url),
            &op,
            None
        ),
        201
    );

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkscim"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "explain",
        "3",
        "--tenant",
        "acme",
        "--server",
        &server.url,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chain"][1]["label"], "okta-prod");
    assert_eq!(
        v["chain"][1]["subject_fingerprint"],
        connector.key_id().short()
    );
    let o = run(&["explain", "3", "--tenant", "acme", "--server", &server.url]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("zkscim revoke {}", c2.id().to_hex())),
        "{text}"
    );
    assert!(
        text.contains(&format!("zkscim revoke {}", c1.id().to_hex())),
        "{text}"
    );
    let o = run(&["explain", "1", "--tenant", "acme", "--server", &server.url]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("first sighting of certificate 'acme-admin'")
    );
    // Past the end of the log: bad input.
    let o = run(&["explain", "99", "--tenant", "acme", "--server", &server.url]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Server down: a clear message and a hint.
    let url = server.url.clone();
    drop(server);
    let o = run(&["explain", "3", "--tenant", "acme", "--server", &url]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach the authority") && err.contains("hint:"),
        "{err}"
    );
}
