//! Shared pieces of the end-to-end tests: start the real `zkscim` binary on loopback, talk to it
//! over real HTTP, build tenants, chains and signed statements, and verify receipts and logs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value as Json};
use zkscim_proto::cert::{
    Certificate, Claims, CLAIM_DEPTH, CLAIM_EXPIRES, CLAIM_ISSUED_AT, CLAIM_ISSUER, CLAIM_LABEL,
    CLAIM_NONCE, CLAIM_NOT_BEFORE, CLAIM_PARENT, CLAIM_SCOPE, CLAIM_SUBJECT, CLAIM_TENANT,
};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::codec::{MapBuilder, Value};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::envelope::{
    Change, Envelope, Genesis, Header, OperationBody, ReadRequest, Revocation,
};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::merkle::{self, Hash};
use zkscim_proto::note::{NoteVerifier, VerifierKey};
use zkscim_proto::scope::{Scope, ScopeBuilder};

pub const ADMIN_TOKEN: &str = "e2e-operator-token";
pub const SEALED: &str =
    "zk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const AGENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";

/// The real binary, running on 127.0.0.1 with its own database. Killed on drop, so a failing
/// test never leaves a server behind.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub db: PathBuf,
    agent: ureq::Agent,
}

impl Server {
    /// Starts `zkscim serve` on `db` (created if missing) on a free loopback port.
    pub fn start(db: &Path) -> Server {
        let log = db.with_extension("stderr.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zkscim"))
            .arg("serve")
            .arg("--db")
            .arg(db)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--admin-token")
            .arg(ADMIN_TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start zkscim serve");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let base = first
            .trim()
            .strip_prefix("zkscim listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Server {
            child: Some(child),
            base,
            db: db.to_owned(),
            agent,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "graceful shutdown exited with {status}");
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("the server did not stop within 10 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn get(&self, path: &str, authorization: Option<&str>) -> Resp {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        Resp::from(req.call().expect("GET"))
    }

    /// GET that reports transport failures instead of panicking (the server may be dead).
    pub fn try_post(&self, path: &str, body: &[u8], bearer: Option<&str>) -> Option<Resp> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/cose");
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send(body).ok().map(Resp::from)
    }

    pub fn post(&self, path: &str, body: &[u8], bearer: Option<&str>) -> Resp {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/cose");
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        Resp::from(
            req.send(body)
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
    }

    pub fn genesis(&self, tenant: &Tenant) -> Resp {
        self.post(
            &format!("/v1/tenants/{}/genesis", tenant.name),
            &tenant.genesis(),
            Some(ADMIN_TOKEN),
        )
    }

    pub fn submit(&self, tenant: &str, bytes: &[u8]) -> Resp {
        self.post(&format!("/v1/tenants/{tenant}/submissions"), bytes, None)
    }

    pub fn tree_size(&self, tenant: &str) -> u64 {
        let r = self.get(&format!("/v1/tenants/{tenant}/log/checkpoint"), None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.header("x-zkscim-tree-size").unwrap().parse().unwrap()
    }

    pub fn checkpoint(&self, tenant: &str) -> String {
        let r = self.get(&format!("/v1/tenants/{tenant}/log/checkpoint"), None);
        assert_eq!(r.status, 200);
        r.text()
    }

    pub fn verifier(&self, tenant: &str) -> NoteVerifier {
        let r = self.get(&format!("/v1/tenants/{tenant}/log/key"), None);
        assert_eq!(r.status, 200, "{}", r.text());
        NoteVerifier::new(vec![VerifierKey::parse(r.text().trim()).unwrap()]).unwrap()
    }

    /// Log entries `[start, end)`: (index, entry bytes, submitted hash).
    pub fn entries(&self, tenant: &str, start: u64, end: u64) -> Vec<(u64, Vec<u8>, String)> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let r = self.get(
                &format!("/v1/tenants/{tenant}/log/entries?start={at}&end={end}"),
                None,
            );
            assert_eq!(r.status, 200, "{}", r.text());
            let page = r.json();
            let items = page["entries"].as_array().unwrap();
            assert!(!items.is_empty(), "no entries from {at}");
            for item in items {
                out.push((
                    item["index"].as_u64().unwrap(),
                    hex::decode(item["entry"].as_str().unwrap()).unwrap(),
                    item["submittedHash"].as_str().unwrap().to_owned(),
                ));
            }
            at = out.last().unwrap().0 + 1;
        }
        out
    }

    pub fn metrics(&self) -> String {
        let r = self.get("/metrics", None);
        assert_eq!(r.status, 200);
        r.text()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<ureq::http::Response<ureq::Body>> for Resp {
    fn from(mut r: ureq::http::Response<ureq::Body>) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = r.body_mut().read_to_vec().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
    pub fn code(&self) -> String {
        self.json()["zkscimCode"].as_str().unwrap_or("").to_owned()
    }

    /// Asserts status and `zkscimCode`, and the SCIM error document's shape.
    /// A refusal that was logged: [`Resp::assert_error`], then the log index of its receipt.
    pub fn refused_at(&self, status: u16, code: &str) -> u64 {
        self.assert_error(status, code);
        self.json()["receipt"]["index"]
            .as_u64()
            .unwrap_or_else(|| panic!("a logged refusal has a receipt: {}", self.text()))
    }

    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let j = self.json();
        assert_eq!(j["zkscimCode"], code, "{j}");
        assert_eq!(
            j["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{j}"
        );
        assert_eq!(j["status"], status.to_string(), "{j}");
        assert!(j["detail"].as_str().is_some_and(|d| !d.is_empty()), "{j}");
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/scim+json")
        );
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn random_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

pub fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A well-formed blind index (16 bytes, canonical base64url) derived from `n`.
pub fn token(n: u64) -> String {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&n.to_be_bytes());
    raw[8] = 0x5a;
    format!(
        "zkx1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

pub fn scope(ops: &[&str], types: &[&str], attrs: &[&str], caps: &[&str]) -> Scope {
    ScopeBuilder::new()
        .operations(ops.iter().copied())
        .resource_types(types.iter().copied())
        .attributes(attrs.iter().copied())
        .capabilities(caps.iter().copied())
        .build()
        .unwrap()
}

pub fn admin_scope() -> Scope {
    scope(
        &["create", "replace", "patch", "delete", "read"],
        &["*"],
        &["*"],
        &["delegate", "revoke", "reactivate", "policy"],
    )
}

/// A lifecycle connector: creates and suspends users, never touches membership.
pub fn connector_scope() -> Scope {
    scope(
        &["create", "patch"],
        &["User", "Group"],
        &["active", "userName", "name"],
        &[],
    )
}

pub fn claims(
    tenant: &str,
    subject: &SigningKey,
    depth: u8,
    scope: Scope,
    label: &str,
    window: (u64, u64),
) -> Claims {
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: tenant.into(),
        not_before: window.0,
        expires: window.1,
        issued_at: now(),
        nonce,
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

/// Signs claims directly, bypassing `Certificate::issue`'s attenuation check, as an attacker
/// holding a real key would.
pub fn hand_signed(issuer: &SigningKey, parent: Option<&Certificate>, c: &Claims) -> Certificate {
    let payload = MapBuilder::new()
        .field(CLAIM_ISSUER, Value::bytes(issuer.key_id().0.to_vec()))
        .field(CLAIM_SUBJECT, Value::bytes(c.subject.to_bytes().to_vec()))
        .field(CLAIM_EXPIRES, Value::Unsigned(c.expires))
        .field(CLAIM_NOT_BEFORE, Value::Unsigned(c.not_before))
        .field(CLAIM_ISSUED_AT, Value::Unsigned(c.issued_at))
        .field(CLAIM_NONCE, Value::bytes(c.nonce.to_vec()))
        .field(CLAIM_TENANT, Value::text(c.tenant.clone()))
        .optional(
            CLAIM_PARENT,
            parent.map(|p| Value::bytes(p.id().0.to_vec())),
        )
        .field(CLAIM_DEPTH, Value::Unsigned(u64::from(c.depth)))
        .field(CLAIM_LABEL, Value::text(c.label.clone()))
        .field(CLAIM_SCOPE, c.scope.to_cbor())
        .build()
        .to_bytes();
    Certificate::parse(&cose::sign(ObjectType::Certificate, issuer, &payload)).unwrap()
}

/// A tenant: its root key, and an admin and a connector delegated beneath it.
pub struct Tenant {
    pub name: String,
    pub root: SigningKey,
    pub admin_key: SigningKey,
    pub admin: Certificate,
    pub connector_key: SigningKey,
    pub connector: Certificate,
}

impl Tenant {
    pub fn new(name: &str) -> Tenant {
        let root = random_key();
        let admin_key = random_key();
        let connector_key = random_key();
        let t = now();
        let admin = Certificate::issue(
            &root,
            None,
            claims(
                name,
                &admin_key,
                1,
                admin_scope(),
                "admin",
                (t - 86_400, t + 86_400),
            ),
        )
        .unwrap();
        let connector = Certificate::issue(
            &admin_key,
            Some(&admin),
            claims(
                name,
                &connector_key,
                0,
                connector_scope(),
                "okta-connector",
                (t - 3600, t + 3600),
            ),
        )
        .unwrap();
        Tenant {
            name: name.into(),
            root,
            admin_key,
            admin,
            connector_key,
            connector,
        }
    }

    pub fn header(&self, chain: Vec<Certificate>) -> Header {
        Header::new(self.name.clone(), now(), chain, &mut rand_core::OsRng)
    }

    pub fn genesis(&self) -> Vec<u8> {
        Envelope::new(
            self.header(vec![]),
            Genesis {
                root: self.root.public_key(),
            },
        )
        .sign(&self.root)
    }

    pub fn admin_chain(&self) -> Vec<Certificate> {
        vec![self.admin.clone()]
    }

    pub fn connector_chain(&self) -> Vec<Certificate> {
        vec![self.admin.clone(), self.connector.clone()]
    }

    /// A connector certificate with `scope` and `window`, issued by the admin.
    pub fn issue_connector(
        &self,
        key: &SigningKey,
        scope: Scope,
        window: (u64, u64),
    ) -> Vec<Certificate> {
        let c = Certificate::issue(
            &self.admin_key,
            Some(&self.admin),
            claims(&self.name, key, 0, scope, "extra-connector", window),
        )
        .unwrap();
        vec![self.admin.clone(), c]
    }

    /// A policy statement setting `policy`, with a fresh nonce.
    pub fn policy(
        &self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        policy: &zkscim_proto::policy::TenantPolicy,
    ) -> Vec<u8> {
        Envelope::new(
            self.header(chain),
            zkscim_proto::envelope::PolicyUpdate {
                document: policy.to_cbor(),
            },
        )
        .sign(signer)
    }

    /// Another root-issued admin (admin scope, valid for the next hour): its key and chain.
    pub fn second_admin(&self, label: &str) -> (SigningKey, Vec<Certificate>) {
        let key = random_key();
        let t = now();
        let cert = Certificate::issue(
            &self.root,
            None,
            claims(
                &self.name,
                &key,
                1,
                admin_scope(),
                label,
                (t - 60, t + 3600),
            ),
        )
        .unwrap();
        (key, vec![cert])
    }

    /// An approval by `signer` of the statement whose exact bytes are `approved`.
    pub fn approval(
        &self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        approved: &[u8],
    ) -> Vec<u8> {
        Envelope::new(
            self.header(chain),
            zkscim_proto::envelope::Approval {
                approves: zkscim_proto::log_entry::submitted_hash_of(approved),
            },
        )
        .sign(signer)
    }

    /// An operation with a fresh nonce.
    pub fn op(&self, signer: &SigningKey, chain: Vec<Certificate>, body: OperationBody) -> Vec<u8> {
        Envelope::new(self.header(chain), body).sign(signer)
    }

    /// An operation signed by the tenant's admin (root → admin).
    pub fn admin_op(&self, body: OperationBody) -> Vec<u8> {
        self.op(&self.admin_key, self.admin_chain(), body)
    }

    /// An operation signed by the tenant's connector (root → admin → connector).
    pub fn connector_op(&self, body: OperationBody) -> Vec<u8> {
        self.op(&self.connector_key, self.connector_chain(), body)
    }

    pub fn revocation(
        &self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        target: &Certificate,
    ) -> Vec<u8> {
        self.revocation_with(signer, chain, target, false)
    }

    /// A revocation that also carries the revoked certificate (field 19), so the log can record
    /// a certificate it has never seen.
    pub fn revocation_with(
        &self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        target: &Certificate,
        carry: bool,
    ) -> Vec<u8> {
        Envelope::new(
            self.header(chain),
            Revocation {
                target: target.id(),
                reason: Some("e2e".into()),
                certificate: carry.then(|| Box::new(target.clone())),
            },
        )
        .sign(signer)
    }

    /// `Authorization` header value of a signed read bound to `GET path_and_query`.
    pub fn read_auth(
        &self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        path_and_query: &str,
    ) -> String {
        let bytes = Envelope::new(
            self.header(chain),
            ReadRequest {
                method: "GET".into(),
                path_and_query: path_and_query.into(),
                body_sha256: None,
            },
        )
        .sign(signer);
        format!(
            "ZKSCIM {}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }
}

pub fn body(
    rtype: &str,
    id: &str,
    change: Change,
    indexes: &[(&str, &str)],
    if_match: Option<&str>,
) -> OperationBody {
    OperationBody {
        resource_type: rtype.into(),
        resource_id: id.into(),
        if_match: if_match.map(str::to_owned),
        change,
        indexes: indexes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
            .collect(),
    }
}

pub fn user_json(active: bool) -> Json {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": SEALED,
        "active": active,
        "name": {"givenName": SEALED, "familyName": SEALED}
    })
}

pub fn create_user(id: &str, token: &str, active: bool) -> OperationBody {
    body(
        "User",
        id,
        Change::create(&user_json(active)).unwrap(),
        &[("username", token)],
        None,
    )
}

pub fn patch(rtype: &str, id: &str, ops: Json) -> OperationBody {
    body(rtype, id, Change::patch(&ops).unwrap(), &[], None)
}

/// Turns a user on or off (`active` replaced): deprovisioning, or a reactivation.
pub fn set_active(id: &str, active: bool) -> OperationBody {
    patch(
        "User",
        id,
        serde_json::json!([{"op": "replace", "path": "active", "value": active}]),
    )
}

/// Checks a receipt end to end: the entry hashes to the leaf, the checkpoint is signed by the
/// tenant's log key (fetched from `/log/key`), and the inclusion proof reaches its root.
pub fn verify_receipt(verifier: &NoteVerifier, receipt: &Json) -> Checkpoint {
    let (checkpoint, _) = Checkpoint::open(receipt["checkpoint"].as_str().unwrap(), verifier)
        .unwrap_or_else(|e| panic!("checkpoint does not verify: {e}: {receipt}"));
    let entry = hex::decode(receipt["entry"].as_str().unwrap()).unwrap();
    let leaf: Hash = hex::decode(receipt["leafHash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(merkle::leaf_hash(&entry), leaf);
    let index = receipt["index"].as_u64().unwrap();
    let logged = zkscim_proto::log_entry::LogEntry::from_bytes(&entry).unwrap();
    assert_eq!(logged.seq, index);
    let proof: Vec<Hash> = receipt["inclusionProof"]
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
    merkle::verify_inclusion(
        &leaf,
        index,
        checkpoint.size(),
        &proof,
        checkpoint.root_hash(),
    )
    .unwrap_or_else(|e| panic!("inclusion proof does not verify: {e}: {receipt}"));
    checkpoint
}

/// The counter `name` (with its label set, e.g. `{reason="x"}`) in a Prometheus text page.
pub fn counter(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .map_or(0, |v| v.trim().parse().unwrap())
}
