//! `zkscim quickstart`: the whole system in under a minute, on a temporary database.
//!
//! Starts the authority on 127.0.0.1 (random port), creates a tenant, delegates
//! root → admin → connector, provisions users and a group with sealed values and blind indexes,
//! deactivates one user, shows an out-of-scope write being refused (and logged), reads the
//! directory back through a signed read and unseals it locally, verifies the transparency log by
//! replaying it, and removes everything it created.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value as Json};
use zkscim_authority::http::{router, HttpConfig};
use zkscim_authority::{Authority, Config};
use zkscim_proto::cert::{Certificate, Claims};
use zkscim_proto::envelope::{Change, Envelope, Genesis, Header, OperationBody, ReadRequest};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::scope::{Scope, ScopeBuilder};
use zkscim_proto::seal::{self, SealContext, TenantSecret};

use crate::client::{Client, Response};
use crate::output::{CliError, Output};
use crate::verify::verify_log;

const TENANT: &str = "acme";

struct Step<'a> {
    out: &'a Output,
    n: u32,
    log: Vec<Json>,
}

impl Step<'_> {
    fn say(&mut self, what: &str, detail: &str) {
        self.n += 1;
        if !self.out.is_json() {
            println!("{:>2}. {what}", self.n);
            for line in detail.lines().filter(|l| !l.is_empty()) {
                println!("      {line}");
            }
        }
        self.log
            .push(json!({"step": self.n, "what": what, "detail": detail}));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn uuid(rng: &mut rand_core::OsRng) -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(rng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Seals `value` for an attribute of a resource.
fn seal_value(
    secret: &TenantSecret,
    rtype: &str,
    id: &str,
    path: &str,
    value: &str,
) -> Result<String, CliError> {
    let ctx = SealContext {
        tenant: TENANT,
        resource_type: rtype,
        resource_id: id,
        attribute_path: path,
    };
    seal::seal(secret, &ctx, value, &mut rand_core::OsRng).map_err(|e| CliError::new(e.code(), e))
}

fn blind_index(
    secret: &TenantSecret,
    rtype: &str,
    path: &str,
    value: &str,
) -> Result<String, CliError> {
    seal::blind_index(secret, TENANT, rtype, path, false, value)
        .map_err(|e| CliError::new(e.code(), e))
}

fn claims(subject: &SigningKey, depth: u8, scope: Scope, label: &str, t: u64) -> Claims {
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: TENANT.into(),
        not_before: t - 60,
        expires: t + 3600,
        issued_at: t,
        nonce,
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

fn scope_err(e: impl std::fmt::Display) -> CliError {
    CliError::new("quickstart.scope", e)
}

pub fn run(out: &Output) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().map_err(|e| CliError::new("quickstart.tempdir", e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new("quickstart.runtime", e))?;
    let log_key = SigningKey::generate(&mut rand_core::OsRng);
    let config = Config::new(dir.path().join("quickstart.db"), &log_key);
    let operator_token = hex::encode({
        let mut t = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut t);
        t
    });
    let (authority, base) = runtime.block_on(async {
        let authority = Authority::open(config).map_err(|e| CliError::new("quickstart.open", e))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| CliError::new("quickstart.bind", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::new("quickstart.bind", e))?;
        let app = router(
            authority.clone(),
            HttpConfig::with_admin_token(&operator_token),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok::<_, CliError>((authority, format!("http://{addr}")))
    })?;
    let client = Client::new(&base);
    let mut step = Step {
        out,
        n: 0,
        log: Vec::new(),
    };
    step.say(
        "Started an authority on a temporary SQLite database",
        &format!(
            "{base}  (log key {})",
            log_key.public_key().key_id().short()
        ),
    );

    let result = scenario(&client, &mut step, &operator_token);
    let digest_check = result.as_ref().ok().cloned();

    let shut = authority.clone();
    runtime.block_on(async move {
        let _ = tokio::task::spawn_blocking(move || shut.shutdown()).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(dir);
    let summary = result?;
    step.say(
        "Stopped the server and removed the temporary database",
        &format!("done in {} ms", started.elapsed().as_millis()),
    );
    out.result(
        &format!("\nquickstart passed: {} log entries verified, directory digest {}", summary.0, summary.1),
        &json!({"steps": step.log, "entries_verified": digest_check.as_ref().map(|d| d.0), "digest": digest_check.map(|d| d.1)}),
    );
    Ok(())
}

fn expect_applied(resp: &Response, what: &str) -> Result<u64, CliError> {
    if resp.receipt_applied() {
        return resp.index().ok_or_else(|| {
            CliError::new(
                "quickstart.receipt",
                format!("{what}: receipt without index"),
            )
        });
    }
    Err(CliError::new(
        "quickstart.refused",
        format!("{what} was refused: {}", resp.body),
    ))
}

#[allow(clippy::too_many_lines)]
fn scenario(
    client: &Client,
    step: &mut Step<'_>,
    operator_token: &str,
) -> Result<(u64, String), CliError> {
    let rng = &mut rand_core::OsRng;
    let t = now();
    // Tenant keys stay with the tenant: the server never sees the secret.
    let root = SigningKey::generate(rng);
    let admin = SigningKey::generate(rng);
    let connector = SigningKey::generate(rng);
    let secret = TenantSecret::generate(rng);

    let genesis = Envelope::new(
        Header::new(TENANT, t, vec![], rng),
        Genesis {
            root: root.public_key(),
        },
    )
    .sign(&root);
    let resp = client.post_cbor(
        &format!("/v1/tenants/{TENANT}/genesis"),
        &genesis,
        Some(operator_token),
    )?;
    let index = expect_applied(&resp, "genesis")?;
    let log_key_text = client.get_text(&format!("/v1/tenants/{TENANT}/log/key"))?;
    resp.verify_receipt(&log_key_text)?;
    step.say(
        "Created tenant 'acme' (genesis entry)",
        &format!(
            "root key fingerprint {} — confirm it out of band\nlog index {index}, receipt verified against the log key",
            root.public_key().key_id().short()
        ),
    );

    let admin_scope = ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete", "read"])
        .resource_types(["*"])
        .attributes(["*"])
        .capabilities(["delegate", "revoke", "reactivate"])
        .build()
        .map_err(scope_err)?;
    let admin_cert =
        Certificate::issue(&root, None, claims(&admin, 1, admin_scope, "acme-admin", t))
            .map_err(scope_err)?;
    let connector_scope = ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User", "Group"])
        .attributes(["active", "userName", "name", "emails"])
        .build()
        .map_err(scope_err)?;
    let connector_cert = Certificate::issue(
        &admin,
        Some(&admin_cert),
        claims(&connector, 0, connector_scope, "okta-connector", t),
    )
    .map_err(scope_err)?;
    let admin_chain = vec![admin_cert.clone()];
    let connector_chain = vec![admin_cert, connector_cert];
    step.say(
        "Delegated root → admin → IdP connector",
        &format!(
            "admin     {}: everything, may delegate, revoke, reactivate\nconnector {}: create+patch Users and Groups; active, userName, name, emails only (no `members`)",
            admin.public_key().key_id().short(),
            connector.public_key().key_id().short()
        ),
    );

    let mut users = BTreeMap::new();
    for (login, given, family) in [
        ("alice", "Alice", "Liddell"),
        ("bob", "Bob", "Builder"),
        ("carol", "Carol", "Danvers"),
    ] {
        let id = uuid(rng);
        let user_name = format!("{login}@acme.example");
        let resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": seal_value(&secret, "User", &id, "userName", &user_name)?,
            "name": {
                "givenName": seal_value(&secret, "User", &id, "name.givenName", given)?,
                "familyName": seal_value(&secret, "User", &id, "name.familyName", family)?,
            },
            "emails": [{
                "value": seal_value(&secret, "User", &id, "emails.value", &user_name)?,
                "type": seal_value(&secret, "User", &id, "emails.type", "work")?,
                "primary": true
            }],
            "active": true
        });
        let mut indexes = BTreeMap::new();
        indexes.insert(
            "username".to_owned(),
            Some(blind_index(&secret, "User", "userName", &user_name)?),
        );
        let op = Envelope::new(
            Header::new(TENANT, t, connector_chain.clone(), rng),
            OperationBody {
                resource_type: "User".into(),
                resource_id: id.clone(),
                if_match: None,
                change: Change::create(&resource).map_err(|e| CliError::new(e.code(), e))?,
                indexes,
            },
        )
        .sign(&connector);
        let resp = client.post_cbor(&format!("/v1/tenants/{TENANT}/submissions"), &op, None)?;
        let index = expect_applied(&resp, "user create")?;
        resp.verify_receipt(&log_key_text)?;
        users.insert(login, (id, user_name));
        step.say(
            &format!("Connector provisioned user {login}"),
            &format!("userName, name and email sealed on the client; userName blind-indexed\nlog index {index}, receipt verified"),
        );
    }

    let group_id = uuid(rng);
    let members: Vec<Json> = ["alice", "bob"]
        .iter()
        .filter_map(|l| users.get(l))
        .map(|(id, _)| json!({"value": id}))
        .collect();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": seal_value(&secret, "Group", &group_id, "displayName", "Engineering")?,
        "members": members
    });
    let mut indexes = BTreeMap::new();
    indexes.insert(
        "displayname".to_owned(),
        Some(blind_index(&secret, "Group", "displayName", "Engineering")?),
    );
    let op = Envelope::new(
        Header::new(TENANT, t, admin_chain.clone(), rng),
        OperationBody {
            resource_type: "Group".into(),
            resource_id: group_id.clone(),
            if_match: None,
            change: Change::create(&group).map_err(|e| CliError::new(e.code(), e))?,
            indexes,
        },
    )
    .sign(&admin);
    let resp = client.post_cbor(&format!("/v1/tenants/{TENANT}/submissions"), &op, None)?;
    expect_applied(&resp, "group create")?;
    resp.verify_receipt(&log_key_text)?;
    step.say(
        "Admin created group Engineering with alice and bob",
        "membership is an authorisation change: the admin's key, not the connector's",
    );

    let (carol_id, _) = users.get("carol").cloned().unwrap_or_default();
    let deactivate = |active: bool| -> Result<Vec<u8>, CliError> {
        Ok(Envelope::new(
            Header::new(
                TENANT,
                now(),
                connector_chain.clone(),
                &mut rand_core::OsRng,
            ),
            OperationBody {
                resource_type: "User".into(),
                resource_id: carol_id.clone(),
                if_match: None,
                change: Change::patch(
                    &json!([{"op": "replace", "path": "active", "value": active}]),
                )
                .map_err(|e| CliError::new(e.code(), e))?,
                indexes: BTreeMap::new(),
            },
        )
        .sign(&connector))
    };
    let resp = client.post_cbor(
        &format!("/v1/tenants/{TENANT}/submissions"),
        &deactivate(false)?,
        None,
    )?;
    expect_applied(&resp, "deactivation")?;
    step.say(
        "Connector deactivated carol",
        "deprovisioning is never blocked for a key whose scope covers `active`",
    );

    let add_carol = Envelope::new(
        Header::new(TENANT, t, connector_chain.clone(), rng),
        OperationBody {
            resource_type: "Group".into(),
            resource_id: group_id.clone(),
            if_match: None,
            change: Change::patch(
                &json!([{"op": "add", "path": "members", "value": [{"value": carol_id}]}]),
            )
            .map_err(|e| CliError::new(e.code(), e))?,
            indexes: BTreeMap::new(),
        },
    )
    .sign(&connector);
    let resp = client.post_cbor(
        &format!("/v1/tenants/{TENANT}/submissions"),
        &add_carol,
        None,
    )?;
    let refusal = resp.refusal().ok_or_else(|| {
        CliError::new(
            "quickstart.unexpected",
            format!("the out-of-scope write was not refused: {}", resp.body),
        )
    })?;
    resp.verify_receipt(&log_key_text)?;
    step.say(
        "Connector tried to add carol to Engineering: REFUSED (and logged)",
        &format!("HTTP {} {}: {}", resp.status, refusal.0, refusal.1),
    );
    let resp = client.post_cbor(
        &format!("/v1/tenants/{TENANT}/submissions"),
        &deactivate(true)?,
        None,
    )?;
    let refusal = resp.refusal().ok_or_else(|| {
        CliError::new(
            "quickstart.unexpected",
            "reactivation without the capability was not refused",
        )
    })?;
    step.say(
        "Connector tried to reactivate carol: REFUSED (needs the 'reactivate' capability)",
        &format!("{}: {}", refusal.0, refusal.1),
    );

    // Read back with a signed read, filter by blind index, unseal locally.
    let (alice_id, alice_name) = users.get("alice").cloned().unwrap_or_default();
    let token = blind_index(&secret, "User", "userName", &alice_name)?;
    let path = format!("/scim/v2/{TENANT}/Users?filter=userName%20eq%20%22{token}%22");
    let read = Envelope::new(
        Header::new(TENANT, now(), admin_chain, rng),
        ReadRequest {
            method: "GET".into(),
            path_and_query: path.clone(),
            body_sha256: None,
        },
    )
    .sign(&admin);
    let auth = format!(
        "ZKSCIM {}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(read)
    );
    let list = client.get_json(&path, Some(&auth))?;
    let found = list
        .get("Resources")
        .and_then(Json::as_array)
        .and_then(|r| r.first())
        .cloned()
        .ok_or_else(|| {
            CliError::new(
                "quickstart.read",
                format!("the blind-index search found nothing: {list}"),
            )
        })?;
    let sealed_name = found
        .get("userName")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let ctx = SealContext {
        tenant: TENANT,
        resource_type: "User",
        resource_id: &alice_id,
        attribute_path: "userName",
    };
    let opened = seal::open(&secret, &ctx, sealed_name).map_err(|e| CliError::new(e.code(), e))?;
    step.say(
        "Signed read: Users?filter=userName eq <blind index of alice>",
        &format!(
            "server returned {}…  (sealed: it cannot read it)\nunsealed locally: {}",
            sealed_name.chars().take(24).collect::<String>(),
            opened.as_str()
        ),
    );

    let report = verify_log(client, TENANT, &log_key_text, &root.public_key())?;
    step.say(
        "Verified the transparency log end to end",
        &format!(
            "{} entries: hash chain, Merkle root = signed checkpoint, every verdict re-derived\nreplayed directory digest equals the server's: {}",
            report.entries, report.digest
        ),
    );
    Ok((report.entries, report.digest))
}
