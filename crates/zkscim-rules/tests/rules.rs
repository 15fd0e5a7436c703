//! The verdict rules, exercised through the in-memory state: every refusal the issues name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value as Json};
use zkscim_proto::cert::{CertId, Certificate, Claims};
use zkscim_proto::envelope::{
    self, Change, Envelope, Genesis, Header, OperationBody, PolicyUpdate, Revocation,
};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome};
use zkscim_proto::policy::TenantPolicy;
use zkscim_proto::scope::{Scope, ScopeBuilder};
use zkscim_proto::seal::{Protection, ProtectionProfile};
use zkscim_rules::memory::MemoryState;
use zkscim_rules::replay::Replayer;
use zkscim_rules::{decide, verify, Decision, Effect, Settings, Verdict, Verification};
use zkscim_scim::SchemaRegistry;

const T0: u64 = 1_800_000_000;
const TOKEN_A: &str = "zkx1.AAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "zkx1.BBBBBBBBBBBBBBBBBBBBBA";

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

struct World {
    /// (entry, submitted bytes) as a server would log them.
    log: Vec<(LogEntry, Vec<u8>)>,
    state: MemoryState,
    registry: SchemaRegistry,
    cache: HashSet<CertId>,
    now: u64,
    nonce: u32,
    root: SigningKey,
}

fn claims(subject: &SigningKey, depth: u8, scope: Scope, label: &str) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: "acme".into(),
        not_before: T0 - 10,
        expires: T0 + 86_400,
        issued_at: T0,
        nonce: [depth; 16],
        parent: None,
        depth,
        label: label.into(),
        scope,
    }
}

fn admin_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["*"])
        .attributes(["*"])
        .capabilities(["delegate", "revoke", "reactivate", "policy"])
        .build()
        .unwrap()
}

fn lifecycle_scope() -> Scope {
    ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User"])
        .attributes(["active", "userName", "name", "emails", "displayName"])
        .build()
        .unwrap()
}

impl World {
    fn new() -> World {
        let mut w = World {
            log: Vec::new(),
            state: MemoryState::new(),
            registry: SchemaRegistry::with_builtins(),
            cache: HashSet::new(),
            now: T0,
            nonce: 0,
            root: key(1),
        };
        let genesis = Envelope::new(
            w.header(vec![]),
            Genesis {
                root: w.root.public_key(),
            },
        )
        .sign(&w.root);
        let d = w.submit(&genesis).unwrap();
        assert!(matches!(d.verdict, Verdict::Applied { .. }));
        w
    }

    fn header(&mut self, chain: Vec<Certificate>) -> Header {
        self.nonce += 1;
        let mut nonce = vec![0u8; 16];
        nonce[..4].copy_from_slice(&self.nonce.to_be_bytes());
        Header {
            tenant: "acme".into(),
            nonce,
            issued_at: self.now,
            chain,
        }
    }

    /// Verify, decide and fold; `None` for unauthenticated input.
    fn submit(&mut self, bytes: &[u8]) -> Option<Decision> {
        let statement = match envelope::parse_any(bytes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("unparsable: {e}");
                return None;
            }
        };
        let tenant = self.state.tenant.clone();
        let verification = verify(
            &statement,
            tenant.as_ref(),
            "acme",
            self.now,
            Settings::default(),
            &mut self.cache,
        );
        if let Verification::Forged(e) = verification {
            eprintln!("forged: {e}");
            return None;
        }
        let decision = decide(
            &verification,
            tenant.as_ref(),
            &self.registry,
            &mut self.state,
            self.now,
        )
        .unwrap()
        .unwrap();
        self.state.apply("acme", &decision);
        for cert in &decision.new_certificates {
            self.record(
                EntryKind::Certificate,
                cert.bytes(),
                Outcome::Applied { version: None },
            );
        }
        let outcome = match &decision.verdict {
            Verdict::Applied { version, .. } => Outcome::Applied {
                version: version.clone(),
            },
            Verdict::Refused(r) => Outcome::Refused {
                code: r.code.clone(),
                detail: r.detail.clone(),
            },
        };
        self.record(decision.kind, bytes, outcome);
        Some(decision)
    }

    fn record(&mut self, kind: EntryKind, bytes: &[u8], outcome: Outcome) {
        let entry = LogEntry {
            seq: self.log.len() as u64,
            tenant: "acme".into(),
            time: self.now,
            kind,
            prev_hash: [0; 32],
            submitted_hash: zkscim_proto::log_entry::submitted_hash_of(bytes),
            outcome,
        };
        self.log.push((entry, bytes.to_vec()));
    }

    fn admin_chain(&self) -> Vec<Certificate> {
        vec![
            Certificate::issue(&self.root, None, claims(&key(2), 1, admin_scope(), "admin"))
                .unwrap(),
        ]
    }

    fn connector_chain(&self, scope: Scope) -> Vec<Certificate> {
        let mut chain = self.admin_chain();
        let c = Certificate::issue(&key(2), Some(&chain[0]), claims(&key(3), 0, scope, "okta"))
            .unwrap();
        chain.push(c);
        chain
    }

    fn op(
        &mut self,
        signer: &SigningKey,
        chain: Vec<Certificate>,
        rtype: &str,
        id: &str,
        change: Change,
        indexes: &[(&str, Option<&str>)],
    ) -> Vec<u8> {
        let header = self.header(chain);
        Envelope::new(
            header,
            OperationBody {
                resource_type: rtype.into(),
                resource_id: id.into(),
                if_match: None,
                change,
                indexes: indexes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                    .collect::<BTreeMap<_, _>>(),
            },
        )
        .sign(signer)
    }
}

fn user(user_name: &str, active: bool) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": active,
        "name": {"givenName": SEALED}
    })
}

const SEALED: &str =
    "zk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The refusal's code; every refusal must also come back unchanged from its log entry (a
/// duplicate submission is answered from the log, with the original status and SCIM type).
fn refused(d: &Decision) -> &str {
    &refusal(d).code
}

/// A revocation of `target` by `signer` under `chain`.
fn revocation(
    w: &mut World,
    signer: &SigningKey,
    chain: Vec<Certificate>,
    target: CertId,
) -> Vec<u8> {
    let header = w.header(chain);
    Envelope::new(
        header,
        Revocation {
            target,
            reason: None,
            certificate: None,
        },
    )
    .sign(signer)
}

/// A patch replacing `active`: deprovisioning, or a reactivation.
fn set_active(active: bool) -> Change {
    Change::patch(&json!([{"op": "replace", "path": "active", "value": active}])).unwrap()
}

/// The refusal of a refused decision, which must come back unchanged from its logged code.
fn refusal(d: &Decision) -> &zkscim_rules::Refusal {
    match &d.verdict {
        Verdict::Refused(r) => {
            assert_eq!(
                zkscim_rules::refusal_from_log(&r.code, &r.detail),
                *r,
                "status or scimType of {} is not derivable from its code",
                r.code
            );
            r
        }
        Verdict::Applied { .. } => panic!("applied, expected a refusal"),
    }
}

fn applied(d: &Decision) -> &Vec<Effect> {
    match &d.verdict {
        Verdict::Applied { effects, .. } => effects,
        Verdict::Refused(r) => panic!("refused: {} {}", r.code, r.detail),
    }
}

fn create_user(w: &mut World, n: u32, token: &str, active: bool) -> Decision {
    let chain = w.connector_chain(lifecycle_scope());
    let bytes = w.op(
        &key(3),
        chain,
        "User",
        &uuid(n),
        Change::create(&user(SEALED, active)).unwrap(),
        &[("username", Some(token))],
    );
    w.submit(&bytes).unwrap()
}

#[test]
fn create_patch_and_first_seen_certificates() {
    let mut w = World::new();
    let d = create_user(&mut w, 1, TOKEN_A, true);
    assert_eq!(
        d.new_certificates.len(),
        2,
        "admin and connector certificates are new"
    );
    applied(&d);
    let d = create_user(&mut w, 2, TOKEN_B, true);
    assert!(d.new_certificates.is_empty());
    applied(&d);
    // Deactivation is always possible with `active` in scope.
    let chain = w.connector_chain(lifecycle_scope());
    let off = w.op(
        &key(3),
        chain,
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap(),
        &[],
    );
    applied(&w.submit(&off).unwrap());
    let stored = w
        .state
        .resources()
        .find(|(_, id, _)| *id == uuid(1))
        .unwrap()
        .2
        .unwrap();
    assert_eq!(stored.body["active"], false);
    assert_eq!(stored.version, 2);
}

#[test]
fn reactivation_needs_the_capability() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, false));
    let chain = w.connector_chain(lifecycle_scope());
    let on = w.op(&key(3), chain, "User", &uuid(1), set_active(true), &[]);
    assert_eq!(
        refused(&w.submit(&on).unwrap()),
        "policy.reactivation_requires_capability"
    );
    let admin = w.admin_chain();
    let on = w.op(&key(2), admin, "User", &uuid(1), set_active(true), &[]);
    applied(&w.submit(&on).unwrap());
}

#[test]
fn scope_profile_index_and_uniqueness_refusals() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    // Same blind index: uniqueness.
    assert_eq!(
        refused(&create_user(&mut w, 2, TOKEN_A, true)),
        "scim.uniqueness"
    );
    // Attribute outside scope.
    let chain = w.connector_chain(lifecycle_scope());
    let title = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "add", "path": "title", "value": SEALED}])).unwrap(),
        &[],
    );
    assert_eq!(
        refused(&w.submit(&title).unwrap()),
        "scope.denied.attribute"
    );
    // Clear value where the profile requires a sealed one: the leak guard.
    let leak = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "replace", "path": "name.givenName", "value": "Barbara"}]))
            .unwrap(),
        &[],
    );
    let d = w.submit(&leak).unwrap();
    assert_eq!(refused(&d), "profile.clear_value_refused");
    // Writing an indexed attribute without its index.
    let no_index = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "replace", "path": "userName", "value": SEALED}])).unwrap(),
        &[],
    );
    assert_eq!(
        refused(&w.submit(&no_index).unwrap()),
        "profile.index_missing"
    );
    // Delete is not in the connector's operations.
    let del = w.op(&key(3), chain, "User", &uuid(1), Change::Delete, &[]);
    assert_eq!(refused(&w.submit(&del).unwrap()), "scope.denied.operation");
}

#[test]
fn membership_needs_members_in_scope_and_the_group_allow_list() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let admin = w.admin_chain();
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": SEALED});
    let g = w.op(
        &key(2),
        admin,
        "Group",
        &uuid(100),
        Change::create(&group).unwrap(),
        &[("displayname", Some(TOKEN_B))],
    );
    applied(&w.submit(&g).unwrap());
    let add = json!([{"op": "add", "path": "members", "value": [{"value": uuid(1)}]}]);
    // A lifecycle-only connector cannot grant access.
    let chain = w.connector_chain(
        ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["User", "Group"])
            .attributes(["active"])
            .build()
            .unwrap(),
    );
    let bytes = w.op(
        &key(3),
        chain,
        "Group",
        &uuid(100),
        Change::patch(&add).unwrap(),
        &[],
    );
    assert_eq!(
        refused(&w.submit(&bytes).unwrap()),
        "scope.denied.attribute"
    );
    // Members in scope but the group is not on the allow-list.
    let chain = w.connector_chain(
        ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["Group"])
            .attributes(["members"])
            .groups([uuid(101)])
            .build()
            .unwrap(),
    );
    let bytes = w.op(
        &key(3),
        chain,
        "Group",
        &uuid(100),
        Change::patch(&add).unwrap(),
        &[],
    );
    assert_eq!(refused(&w.submit(&bytes).unwrap()), "scope.denied.group");
    // Allowed.
    let chain = w.connector_chain(
        ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["Group"])
            .attributes(["members"])
            .groups([uuid(100)])
            .build()
            .unwrap(),
    );
    let bytes = w.op(
        &key(3),
        chain,
        "Group",
        &uuid(100),
        Change::patch(&add).unwrap(),
        &[],
    );
    applied(&w.submit(&bytes).unwrap());
    assert_eq!(w.state.group_members(&uuid(100)), [uuid(1)]);
    // Members must exist.
    let ghost = json!([{"op": "add", "path": "members", "value": [{"value": uuid(999)}]}]);
    let chain = w.admin_chain();
    let bytes = w.op(
        &key(2),
        chain,
        "Group",
        &uuid(100),
        Change::patch(&ghost).unwrap(),
        &[],
    );
    assert_eq!(refused(&w.submit(&bytes).unwrap()), "scim.invalid_value");
}

#[test]
fn replay_revocation_and_ancestor_revocation() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    // Same nonce, other bytes: replay.
    let chain = w.connector_chain(lifecycle_scope());
    let a = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        set_active(false),
        &[],
    );
    applied(&w.submit(&a).unwrap());
    w.nonce -= 1;
    let b = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        set_active(true),
        &[],
    );
    assert_eq!(refused(&w.submit(&b).unwrap()), "replay.nonce_reused");
    // The admin revokes the connector; its later operation is refused.
    let admin = w.admin_chain();
    let revoke = revocation(&mut w, &key(2), admin, chain[1].id());
    applied(&w.submit(&revoke).unwrap());
    assert_eq!(
        refused(&create_user(&mut w, 3, TOKEN_B, true)),
        "revoked.certificate"
    );
    // The connector cannot revoke its ancestor.
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let chain = w.connector_chain(
        ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["User"])
            .attributes(["active"])
            .capabilities(["revoke"])
            .build()
            .unwrap(),
    );
    let up = revocation(&mut w, &key(3), chain.clone(), chain[0].id());
    assert_eq!(refused(&w.submit(&up).unwrap()), "revocation.not_ancestor");
    // Revoking the admin revokes the subtree beneath it.
    let root_revokes = revocation(&mut w, &key(1), vec![], chain[0].id());
    applied(&w.submit(&root_revokes).unwrap());
    assert_eq!(
        refused(&create_user(&mut w, 2, TOKEN_B, true)),
        "revoked.certificate"
    );
}

#[test]
fn expired_chain_is_a_logged_refusal_forgery_is_not() {
    let mut w = World::new();
    let chain = w.connector_chain(lifecycle_scope());
    let bytes = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::create(&user(SEALED, true)).unwrap(),
        &[("username", Some(TOKEN_A))],
    );
    w.now = T0 + 86_400 + 1;
    assert_eq!(
        refused(&w.submit(&bytes).unwrap()),
        "envelope.issued_too_long_ago"
    );
    let bytes = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::create(&user(SEALED, true)).unwrap(),
        &[("username", Some(TOKEN_A))],
    );
    assert_eq!(refused(&w.submit(&bytes).unwrap()), "chain.expired");
    // Signed by a key that is not the chain's leaf: never logged.
    w.now = T0;
    let forged = w.op(
        &key(9),
        chain,
        "User",
        &uuid(1),
        Change::create(&user(SEALED, true)).unwrap(),
        &[("username", Some(TOKEN_A))],
    );
    assert!(w.submit(&forged).is_none());
}

#[test]
fn policy_changes_profile_and_replay_digest_is_deterministic() {
    let mut w = World::new();
    let mut profile = ProtectionProfile::default_profile();
    profile
        .set_rule(Some("User"), "title", Protection::Clear)
        .unwrap();
    let header = w.header(w.admin_chain());
    let policy = Envelope::new(
        header,
        PolicyUpdate {
            document: profile.to_cbor(),
        },
    )
    .sign(&key(2));
    applied(&w.submit(&policy).unwrap());
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let admin = w.admin_chain();
    let title = w.op(
        &key(2),
        admin,
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "add", "path": "title", "value": "Engineer"}])).unwrap(),
        &[],
    );
    applied(&w.submit(&title).unwrap());
    let d1 = w.state.digest();
    let d2 = w.state.clone().digest();
    assert_eq!(d1, d2);
}

fn policy_statement(
    w: &mut World,
    chain: Vec<Certificate>,
    signer: &SigningKey,
    doc: zkscim_proto::codec::Value,
) -> Decision {
    let header = w.header(chain);
    let bytes = Envelope::new(header, PolicyUpdate { document: doc }).sign(signer);
    w.submit(&bytes).unwrap()
}

#[test]
fn lifetime_caps_bind_every_write_but_deprovisioning_and_revocation() {
    let mut w = World::new();
    // Before any cap, the day-long connector (chain level 2) works.
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let mut policy = TenantPolicy::default_policy();
    policy.lifetime_caps.set(2, 3_600).unwrap();
    let admin = w.admin_chain();
    applied(&policy_statement(&mut w, admin, &key(2), policy.to_cbor()));
    assert_eq!(
        w.state.tenant.as_ref().unwrap().policy.lifetime_caps,
        policy.lifetime_caps
    );
    // Now its creates and patches are refused, naming the certificate and the cap...
    let d = create_user(&mut w, 2, TOKEN_B, true);
    let r = refusal(&d);
    assert_eq!(r.code, "policy.lifetime_exceeded");
    assert!(
        r.detail.contains("level 2") && r.detail.contains("okta") && r.detail.contains("3600"),
        "{}",
        r.detail
    );
    assert_eq!(r.status, 403);
    let chain = w.connector_chain(lifecycle_scope());
    let both = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        Change::patch(&json!([
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "name.givenName", "value": SEALED}
        ]))
        .unwrap(),
        &[],
    );
    assert_eq!(
        refused(&w.submit(&both).unwrap()),
        "policy.lifetime_exceeded"
    );
    // ...but deprovisioning is never blocked,
    let off = w.op(
        &key(3),
        chain.clone(),
        "User",
        &uuid(1),
        set_active(false),
        &[],
    );
    applied(&w.submit(&off).unwrap());
    // and neither is revocation, even by the over-long certificate itself.
    let revoke = revocation(&mut w, &key(3), chain.clone(), chain[1].id());
    applied(&w.submit(&revoke).unwrap());
    // Level 1 is not capped: the admin still writes.
    let admin = w.admin_chain();
    let title = w.op(
        &key(2),
        admin,
        "User",
        &uuid(1),
        Change::patch(&json!([{"op": "replace", "path": "name.givenName", "value": SEALED}]))
            .unwrap(),
        &[],
    );
    applied(&w.submit(&title).unwrap());
    // A connector within the cap works.
    let mut chain = w.admin_chain();
    let mut short = claims(&key(4), 0, lifecycle_scope(), "short");
    short.expires = short.not_before + 3_600;
    chain.push(Certificate::issue(&key(2), Some(&chain[0]), short).unwrap());
    let bytes = w.op(
        &key(4),
        chain,
        "User",
        &uuid(5),
        Change::create(&user(SEALED, true)).unwrap(),
        &[("username", Some(TOKEN_B))],
    );
    applied(&w.submit(&bytes).unwrap());
    // Policy statements are bound too (by the caps in force before them): capping level 1
    // is allowed once, and then the day-long admin can no longer change the policy; the root,
    // which is no certificate, always can.
    policy.lifetime_caps.set(1, 3_600).unwrap();
    let admin = w.admin_chain();
    applied(&policy_statement(
        &mut w,
        admin.clone(),
        &key(2),
        policy.to_cbor(),
    ));
    assert_eq!(
        refused(&policy_statement(&mut w, admin, &key(2), policy.to_cbor())),
        "policy.lifetime_exceeded"
    );
    let root = key(1);
    applied(&policy_statement(
        &mut w,
        vec![],
        &root,
        TenantPolicy::default_policy().to_cbor(),
    ));
    assert!(w
        .state
        .tenant
        .as_ref()
        .unwrap()
        .policy
        .lifetime_caps
        .is_empty());
    // A malformed cap is refused as such, and changes nothing: the caps in force stay.
    let mut capped = TenantPolicy::default_policy();
    capped.lifetime_caps.set(2, 7_200).unwrap();
    applied(&policy_statement(&mut w, vec![], &root, capped.to_cbor()));
    let in_force = w
        .state
        .tenant
        .as_ref()
        .unwrap()
        .policy
        .lifetime_caps
        .clone();
    assert!(!in_force.is_empty());
    let mut doc = TenantPolicy::default_policy().to_cbor();
    if let zkscim_proto::codec::Value::Map(m) = &mut doc {
        m.push((
            zkscim_proto::codec::Value::int(3),
            zkscim_proto::codec::Value::Map(vec![(
                zkscim_proto::codec::Value::Unsigned(0),
                zkscim_proto::codec::Value::Unsigned(60),
            )]),
        ));
    }
    let d = policy_statement(&mut w, vec![], &root, doc);
    assert_eq!(refused(&d), "policy.invalid_lifetime_caps");
    assert_eq!(
        w.state.tenant.as_ref().unwrap().policy.lifetime_caps,
        in_force
    );
    // The whole history replays to the same verdicts.
    assert!(replay_all(&w, &w.log).is_ok());
}

const NHI: &str = "urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle";

fn agent(owner: Option<&str>, expires: Option<&str>) -> Json {
    let mut a = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent", NHI],
        "name": SEALED,
        "active": true,
    });
    if let Some(o) = owner {
        a["owners"] = json!([{"value": o}]);
    }
    if let Some(e) = expires {
        a[NHI] = json!({"expiresAt": e});
    }
    a
}

#[test]
fn nhi_policy_requires_owner_and_expiry_but_never_blocks_deprovisioning() {
    let at = |secs: u64| zkscim_scim::datetime::format_rfc3339(secs);
    let mut w = World::new();
    let admin_op = |w: &mut World, id: u32, change: Change| {
        let admin = w.admin_chain();
        let bytes = w.op(&key(2), admin, "Agent", &uuid(id), change, &[]);
        w.submit(&bytes).unwrap()
    };
    // Before the policy an agent needs neither.
    applied(&admin_op(
        &mut w,
        1,
        Change::create(&agent(None, None)).unwrap(),
    ));
    let mut policy = TenantPolicy::default_policy();
    policy.nhi.require("Agent").unwrap();
    policy.nhi.set_max_expiry(30 * 86_400).unwrap();
    let admin = w.admin_chain();
    applied(&policy_statement(&mut w, admin, &key(2), policy.to_cbor()));
    let create = |w: &mut World, id: u32, owner: Option<&str>, expires: Option<String>| {
        admin_op(
            w,
            id,
            Change::create(&agent(owner, expires.as_deref())).unwrap(),
        )
    };
    let d = create(&mut w, 2, None, Some(at(T0 + 86_400)));
    assert_eq!(refused(&d), "policy.nhi_owner_missing");
    let d = create(&mut w, 2, Some(SEALED), None);
    assert_eq!(refused(&d), "policy.nhi_expiry_missing");
    // A clear expiry that is not a date-time never reaches this check: SCIM validation
    // refuses it first.
    let d = create(&mut w, 2, Some(SEALED), Some("next tuesday".to_owned()));
    assert_eq!(refused(&d), "scim.invalid_value");
    let d = create(&mut w, 2, Some(SEALED), Some(at(T0)));
    assert_eq!(refused(&d), "policy.nhi_expired");
    let d = create(&mut w, 2, Some(SEALED), Some(at(T0 + 31 * 86_400)));
    let r = refusal(&d);
    assert_eq!(r.code, "policy.nhi_expiry_too_far");
    assert!(r.detail.contains("2592000"), "{}", r.detail);
    applied(&create(&mut w, 2, Some(SEALED), Some(at(T0 + 86_400))));
    // A type the policy does not list is not bound.
    let admin = w.admin_chain();
    let app = w.op(
        &key(2),
        admin,
        "AgenticApplication",
        &uuid(3),
        Change::create(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:AgenticApplication"],
            "name": SEALED
        }))
        .unwrap(),
        &[],
    );
    applied(&w.submit(&app).unwrap());
    // The agent created before the policy: any other write must bring it into line...
    let d = admin_op(
        &mut w,
        1,
        Change::patch(&json!([{"op": "replace", "path": "description", "value": SEALED}])).unwrap(),
    );
    assert_eq!(refused(&d), "policy.nhi_owner_missing");
    // ...but deactivating it is always possible.
    applied(&admin_op(&mut w, 1, set_active(false)));
    // A tenant that seals the expiry can still require it (by presence), but not bound it.
    let mut sealed = TenantPolicy::default_policy();
    sealed
        .profile
        .set_rule(None, &format!("{NHI}:expiresAt"), Protection::Sealed)
        .unwrap();
    sealed.nhi.require("Agent").unwrap();
    let admin = w.admin_chain();
    applied(&policy_statement(
        &mut w,
        admin.clone(),
        &key(2),
        sealed.to_cbor(),
    ));
    applied(&create(&mut w, 4, Some(SEALED), Some(SEALED.to_owned())));
    sealed.nhi.set_max_expiry(86_400).unwrap();
    applied(&policy_statement(&mut w, admin, &key(2), sealed.to_cbor()));
    let d = create(&mut w, 5, Some(SEALED), Some(SEALED.to_owned()));
    assert_eq!(refused(&d), "policy.nhi_expiry_sealed");
    // A malformed requirement is refused as such.
    let mut doc = TenantPolicy::default_policy().to_cbor();
    if let zkscim_proto::codec::Value::Map(m) = &mut doc {
        m.push((
            zkscim_proto::codec::Value::int(4),
            zkscim_proto::codec::Value::Null,
        ));
    }
    let admin = w.admin_chain();
    assert_eq!(
        refused(&policy_statement(&mut w, admin, &key(2), doc)),
        "policy.invalid_nhi"
    );
    assert!(replay_all(&w, &w.log).is_ok());
}

/// An approval by `signer` (with `chain`) of the statement `approved`.
fn approval(
    w: &mut World,
    signer: &SigningKey,
    chain: Vec<Certificate>,
    approved: &[u8],
) -> Vec<u8> {
    let header = w.header(chain);
    Envelope::new(
        header,
        zkscim_proto::envelope::Approval {
            approves: zkscim_proto::log_entry::submitted_hash_of(approved),
        },
    )
    .sign(signer)
}

/// The replay credits an approval to its signer's chain (the audit summary's "activity by key"
/// and break-glass flags come from these labels), not to the root.
#[test]
fn replayed_approvals_carry_their_signers_labels() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let second = admin_with(&w, 6, admin_scope(), "second-admin");
    let approved = b"a statement to approve".to_vec();
    let a = approval(&mut w, &key(6), second, &approved);
    applied(&w.submit(&a).unwrap());
    let mut r = Replayer::new(
        "acme",
        w.root.public_key(),
        Settings::default(),
        SchemaRegistry::with_builtins(),
    );
    let mut approvals = 0;
    for (entry, bytes) in &w.log {
        let replayed = r.replay(entry, bytes).unwrap();
        if entry.kind == EntryKind::Approval {
            assert_eq!(replayed.labels, ["second-admin"]);
            approvals += 1;
        }
    }
    assert_eq!(approvals, 1);
}

/// A second root-issued admin (key `k`) with `scope`.
fn admin_with(w: &World, k: u8, scope: Scope, label: &str) -> Vec<Certificate> {
    vec![Certificate::issue(&w.root, None, claims(&key(k), 0, scope, label)).unwrap()]
}

#[test]
fn privileged_groups_need_distinct_approvers_and_reactivation_can_be_co_signed() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let admin = w.admin_chain();
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": SEALED});
    let g = w.op(
        &key(2),
        admin,
        "Group",
        &uuid(100),
        Change::create(&group).unwrap(),
        &[("displayname", Some(TOKEN_B))],
    );
    applied(&w.submit(&g).unwrap());
    let mut policy = TenantPolicy::default_policy();
    policy.privileged_groups.set(&uuid(100), 3).unwrap();
    let admin = w.admin_chain();
    applied(&policy_statement(&mut w, admin, &key(2), policy.to_cbor()));
    let add = json!([{"op": "add", "path": "members", "value": [{"value": uuid(1)}]}]);
    let change = |w: &mut World| {
        let admin = w.admin_chain();
        w.op(
            &key(2),
            admin,
            "Group",
            &uuid(100),
            Change::patch(&add).unwrap(),
            &[],
        )
    };
    // The admin alone: one approver of three.
    let alone = change(&mut w);
    let d = w.submit(&alone).unwrap();
    let r = refusal(&d);
    assert_eq!(r.code, "policy.approvals_required");
    assert!(
        r.detail.contains("needs 3") && r.detail.contains("found 1"),
        "{}",
        r.detail
    );
    // Approvals that do not count: the signer's own, one for other bytes, one by a key whose
    // scope does not reach the group's members, one by a key revoked since.
    let statement = change(&mut w);
    let admin = w.admin_chain();
    let own = approval(&mut w, &key(2), admin, &statement);
    applied(&w.submit(&own).unwrap());
    let lifecycle = admin_with(&w, 5, lifecycle_scope(), "lifecycle-admin");
    let narrow = approval(&mut w, &key(5), lifecycle, &statement);
    applied(&w.submit(&narrow).unwrap());
    let second = admin_with(&w, 6, admin_scope(), "second-admin");
    let other = approval(&mut w, &key(6), second.clone(), &alone);
    applied(&w.submit(&other).unwrap());
    let revoked = admin_with(&w, 7, admin_scope(), "revoked-admin");
    let by_revoked = approval(&mut w, &key(7), revoked.clone(), &statement);
    applied(&w.submit(&by_revoked).unwrap());
    let revoke = revocation(&mut w, &key(1), vec![], revoked[0].id());
    applied(&w.submit(&revoke).unwrap());
    // An approver whose certificate has expired by the time the statement is decided.
    let mut short = claims(&key(10), 0, admin_scope(), "short-admin");
    short.expires = T0 + 60;
    let expiring = vec![Certificate::issue(&w.root, None, short).unwrap()];
    let by_expiring = approval(&mut w, &key(10), expiring, &statement);
    applied(&w.submit(&by_expiring).unwrap());
    // One that counts, twice (the same key counts once): still two of three.
    let counts = approval(&mut w, &key(6), second.clone(), &statement);
    applied(&w.submit(&counts).unwrap());
    let again = approval(&mut w, &key(6), second, &statement);
    applied(&w.submit(&again).unwrap());
    // Submitting the exact bytes later is what the approvals name: refused, two of three
    // (the expired approver no longer counts; its approval was valid when logged).
    w.now = T0 + 120;
    let d = w.submit(&statement).unwrap();
    let r = refusal(&d);
    assert_eq!(r.code, "policy.approvals_required");
    assert!(r.detail.contains("found 2"), "{}", r.detail);
    // Deleting the group is a membership change too.
    let admin = w.admin_chain();
    let delete = w.op(&key(2), admin, "Group", &uuid(100), Change::Delete, &[]);
    assert_eq!(
        refused(&w.submit(&delete).unwrap()),
        "policy.approvals_required"
    );
    // A third distinct key's approval of a fresh statement with two others: applied.
    let statement = change(&mut w);
    for (k, label) in [(6u8, "second-admin"), (8, "third-admin")] {
        let chain = admin_with(&w, k, admin_scope(), label);
        let a = approval(&mut w, &key(k), chain, &statement);
        applied(&w.submit(&a).unwrap());
    }
    applied(&w.submit(&statement).unwrap());
    // Reactivation by a key without the capability, approved by one that has it.
    let chain = w.connector_chain(lifecycle_scope());
    let off = w.op(&key(3), chain, "User", &uuid(1), set_active(false), &[]);
    applied(&w.submit(&off).unwrap());
    let on = |w: &mut World| {
        let chain = w.connector_chain(lifecycle_scope());
        w.op(&key(3), chain, "User", &uuid(1), set_active(true), &[])
    };
    let unapproved = on(&mut w);
    assert_eq!(
        refused(&w.submit(&unapproved).unwrap()),
        "policy.reactivation_requires_capability"
    );
    let approved = on(&mut w);
    // An approver without `reactivate` does not lift it…
    let lifecycle = admin_with(&w, 5, lifecycle_scope(), "lifecycle-admin");
    let weak = approval(&mut w, &key(5), lifecycle, &approved);
    applied(&w.submit(&weak).unwrap());
    let fresh = on(&mut w);
    let lifecycle = admin_with(&w, 5, lifecycle_scope(), "lifecycle-admin");
    let weak_only = approval(&mut w, &key(5), lifecycle, &fresh);
    applied(&w.submit(&weak_only).unwrap());
    assert_eq!(
        refused(&w.submit(&fresh).unwrap()),
        "policy.reactivation_requires_capability"
    );
    // …one with it does.
    let admin = w.admin_chain();
    let strong = approval(&mut w, &key(2), admin, &approved);
    applied(&w.submit(&strong).unwrap());
    applied(&w.submit(&approved).unwrap());
    // Approvals are statements like any other: bound by the tenant's lifetime caps.
    let mut capped = TenantPolicy::default_policy();
    capped.lifetime_caps.set(1, 3_600).unwrap();
    applied(&policy_statement(&mut w, vec![], &key(1), capped.to_cbor()));
    let statement = change(&mut w);
    let day_long = admin_with(&w, 9, admin_scope(), "day-long-admin");
    let a = approval(&mut w, &key(9), day_long, &statement);
    assert_eq!(refused(&w.submit(&a).unwrap()), "policy.lifetime_exceeded");
    // The whole history replays to the same verdicts.
    assert!(replay_all(&w, &w.log).is_ok());
}

fn replay_all(w: &World, log: &[(LogEntry, Vec<u8>)]) -> Result<[u8; 32], (u64, String)> {
    let mut r = Replayer::new(
        "acme",
        w.root.public_key(),
        Settings::default(),
        SchemaRegistry::with_builtins(),
    );
    for (entry, bytes) in log {
        r.replay(entry, bytes)
            .map_err(|f| (entry.seq, f.code.to_owned()))?;
    }
    Ok(r.state().digest())
}

#[test]
fn replay_reproduces_the_directory_and_catches_forged_verdicts() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, false));
    let chain = w.connector_chain(lifecycle_scope());
    let on = w.op(&key(3), chain, "User", &uuid(1), set_active(true), &[]);
    assert_eq!(
        refused(&w.submit(&on).unwrap()),
        "policy.reactivation_requires_capability"
    );
    let digest = replay_all(&w, &w.log).unwrap();
    assert_eq!(digest, w.state.digest(), "replay reproduces the directory");

    // The server claims it applied the refused reactivation.
    let mut forged = w.log.clone();
    let last = forged.len() - 1;
    forged[last].0.outcome = Outcome::Applied {
        version: Some("W/\"2\"".into()),
    };
    assert_eq!(
        replay_all(&w, &forged).unwrap_err(),
        (
            last as u64,
            "audit.verdict.applied_should_refuse".to_owned()
        )
    );
    // A valid operation logged as refused.
    let mut forged = w.log.clone();
    let create = forged
        .iter()
        .position(|(e, _)| e.kind == EntryKind::Operation)
        .unwrap();
    forged[create].0.outcome = Outcome::Refused {
        code: "scope.denied.attribute".into(),
        detail: "no".into(),
    };
    assert_eq!(
        replay_all(&w, &forged).unwrap_err().1,
        "audit.verdict.refused_should_apply"
    );
    // Submitted bytes swapped.
    let mut forged = w.log.clone();
    forged[create].1[10] ^= 1;
    assert_eq!(
        replay_all(&w, &forged).unwrap_err().1,
        "audit.submitted.hash_mismatch"
    );
    // A certificate entry removed: its first use now introduces it.
    let mut forged = w.log.clone();
    let cert = forged
        .iter()
        .position(|(e, _)| e.kind == EntryKind::Certificate)
        .unwrap();
    forged.remove(cert);
    assert_eq!(
        replay_all(&w, &forged).unwrap_err().1,
        "audit.certificate.not_logged_first"
    );
    // Another root in genesis.
    let mut r = Replayer::new(
        "acme",
        key(9).public_key(),
        Settings::default(),
        SchemaRegistry::with_builtins(),
    );
    assert_eq!(
        r.replay(&w.log[0].0, &w.log[0].1).unwrap_err().code,
        "audit.genesis.root_mismatch"
    );
}

#[test]
fn never_logged_certificates_are_revoked_by_carrying_them() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    // A certificate issued but never used in a logged statement (like a read-only key's).
    let admin = w.admin_chain();
    let reader_scope = ScopeBuilder::new()
        .operations(["patch"])
        .resource_types(["User"])
        .attributes(["active"])
        .build()
        .unwrap();
    let reader = Certificate::issue(
        &key(2),
        Some(&admin[0]),
        claims(&key(7), 0, reader_scope, "reader"),
    )
    .unwrap();
    let revoke = |w: &mut World, certificate: Option<Box<Certificate>>| {
        let header = w.header(w.admin_chain());
        Envelope::new(
            header,
            Revocation {
                target: reader.id(),
                reason: None,
                certificate,
            },
        )
        .sign(&key(2))
    };
    let bytes = revoke(&mut w, None);
    assert_eq!(
        refused(&w.submit(&bytes).unwrap()),
        "revocation.unknown_certificate"
    );
    let bytes = revoke(&mut w, Some(Box::new(reader.clone())));
    let d = w.submit(&bytes).unwrap();
    applied(&d);
    assert!(
        d.new_certificates.iter().any(|c| c.id() == reader.id()),
        "the revoked certificate gets a first-seen entry"
    );
    let digest = replay_all(&w, &w.log).unwrap();
    assert_eq!(digest, w.state.digest());
}

#[test]
fn deleting_a_group_is_a_membership_change() {
    let mut w = World::new();
    let admin = w.admin_chain();
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": SEALED});
    let g = w.op(
        &key(2),
        admin,
        "Group",
        &uuid(100),
        Change::create(&group).unwrap(),
        &[("displayname", Some(TOKEN_B))],
    );
    applied(&w.submit(&g).unwrap());
    let lifecycle = ScopeBuilder::new()
        .operations(["delete"])
        .resource_types(["Group"])
        .attributes(["active"])
        .build()
        .unwrap();
    let chain = w.connector_chain(lifecycle);
    let del = w.op(&key(3), chain, "Group", &uuid(100), Change::Delete, &[]);
    assert_eq!(refused(&w.submit(&del).unwrap()), "scope.denied.attribute");
    let other_group = ScopeBuilder::new()
        .operations(["delete"])
        .resource_types(["Group"])
        .attributes(["members"])
        .groups([uuid(101)])
        .build()
        .unwrap();
    let chain = w.connector_chain(other_group);
    let del = w.op(&key(3), chain, "Group", &uuid(100), Change::Delete, &[]);
    assert_eq!(refused(&w.submit(&del).unwrap()), "scope.denied.group");
    let allowed = ScopeBuilder::new()
        .operations(["delete"])
        .resource_types(["Group"])
        .attributes(["members"])
        .groups([uuid(100)])
        .build()
        .unwrap();
    let chain = w.connector_chain(allowed);
    let del = w.op(&key(3), chain, "Group", &uuid(100), Change::Delete, &[]);
    applied(&w.submit(&del).unwrap());
}

#[test]
fn a_registry_changed_between_statements_is_the_one_applied() {
    // The rules memoise what they derive from the registry; a registry extended between two
    // statements must be seen as extended, not as it was when first used.
    let mut w = World::new();
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let with_badge = || {
        let mut u = user(SEALED, true);
        u["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", urn]);
        u[urn] = json!({ "badge": SEALED });
        u
    };
    let chain = w.admin_chain();
    let bytes = w.op(
        &key(2),
        chain.clone(),
        "User",
        &uuid(1),
        Change::create(&with_badge()).unwrap(),
        &[("username", Some(TOKEN_A))],
    );
    let d = w.submit(&bytes).unwrap();
    assert_eq!(refused(&d), "scim.invalid_syntax", "{:?}", d.verdict);

    w.registry
        .register_schema(zkscim_scim::Schema::new(
            urn,
            "Acme",
            "Acme",
            vec![zkscim_scim::AttributeDef::string("badge")],
        ))
        .unwrap();
    w.registry.add_extension("User", urn, false).unwrap();
    let bytes = w.op(
        &key(2),
        chain,
        "User",
        &uuid(2),
        Change::create(&with_badge()).unwrap(),
        &[("username", Some(TOKEN_B))],
    );
    let d = w.submit(&bytes).unwrap();
    applied(&d);
}

/// Used nonces are kept in a compact exact set (sorted array plus a hash set merged into it):
/// a replay must be refused whether its nonce sits in the hash set, in the array after a
/// merge, or in the set for nonces longer than 16 bytes.
#[test]
fn replayed_nonces_are_refused_after_the_nonce_set_compacts() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    // A 24-byte nonce, used once.
    let chain = w.connector_chain(lifecycle_scope());
    let mut long_header = w.header(chain.clone());
    long_header.nonce = vec![0xab; 24];
    // Deactivation, applied every time (reactivation would need a capability).
    let patch = || OperationBody {
        resource_type: "User".into(),
        resource_id: uuid(1),
        if_match: None,
        change: set_active(false),
        indexes: BTreeMap::new(),
    };
    let long = Envelope::new(long_header.clone(), patch()).sign(&key(3));
    applied(&w.submit(&long).unwrap());
    // Enough statements (each with its own nonce) to merge the recent nonces into the array
    // more than once.
    let first = w.nonce + 1;
    for _ in 0..9_000 {
        let header = w.header(chain.clone());
        let bytes = Envelope::new(header, patch()).sign(&key(3));
        applied(&w.submit(&bytes).unwrap());
    }
    let last = w.nonce;
    for n in [first, first + 4_000, last - 1, last] {
        let saved = w.nonce;
        w.nonce = n - 1;
        let header = w.header(chain.clone());
        w.nonce = saved;
        let replay = Envelope::new(header, patch()).sign(&key(3));
        assert_eq!(
            refused(&w.submit(&replay).unwrap()),
            "replay.nonce_reused",
            "nonce #{n}"
        );
    }
    let replay = Envelope::new(long_header.clone(), patch()).sign(&key(3));
    assert_eq!(refused(&w.submit(&replay).unwrap()), "replay.nonce_reused");
    // A nonce never used is not taken for one: 23 bytes of the same value, and a 16-byte
    // nonce one past the last.
    let mut fresh = long_header;
    fresh.nonce = vec![0xab; 23];
    applied(
        &w.submit(&Envelope::new(fresh, patch()).sign(&key(3)))
            .unwrap(),
    );
    let header = w.header(chain);
    applied(
        &w.submit(&Envelope::new(header, patch()).sign(&key(3)))
            .unwrap(),
    );
}

/// `verify_owned` moves the statement instead of copying it, and must say exactly what
/// `verify` says: verified, refused after authentication (the statement handed back), forged,
/// genesis, and no tenant.
#[test]
fn verify_owned_agrees_with_verify() {
    let mut w = World::new();
    let chain = w.connector_chain(lifecycle_scope());
    let mut statements = Vec::new();
    let mut push = |w: &mut World, signer: u8, chain: Vec<Certificate>| {
        let bytes = w.op(
            &key(signer),
            chain,
            "User",
            &uuid(1),
            Change::create(&user(SEALED, true)).unwrap(),
            &[("username", Some(TOKEN_A))],
        );
        statements.push(envelope::parse_any(&bytes).unwrap());
    };
    push(&mut w, 3, chain.clone());
    // Signed by a key that is not the chain's leaf: forged.
    push(&mut w, 9, chain.clone());
    // An approval (of the first statement), which takes the same moving path.
    let first = statements[0].bytes().to_vec();
    let approved = approval(&mut w, &key(3), chain.clone(), &first);
    statements.push(envelope::parse_any(&approved).unwrap());
    let genesis = Envelope::new(
        w.header(vec![]),
        Genesis {
            root: w.root.public_key(),
        },
    )
    .sign(&w.root);
    statements.push(envelope::parse_any(&genesis).unwrap());
    let tenant = w.state.tenant.clone();
    let mut kinds = BTreeMap::new();
    for now in [T0, T0 + 86_400 + 1, T0 + 2 * 86_400] {
        for statement in &statements {
            for tenant in [tenant.as_ref(), None] {
                let expected = verify(
                    statement,
                    tenant,
                    "acme",
                    now,
                    Settings::default(),
                    &mut HashSet::new(),
                );
                let owned = zkscim_rules::verify_owned(
                    statement.clone(),
                    tenant,
                    "acme",
                    now,
                    Settings::default(),
                    &mut HashSet::new(),
                );
                assert_eq!(format!("{owned:?}"), format!("{expected:?}"));
                let kind = match &owned {
                    Verification::Forged(_) => "forged",
                    Verification::Genesis(_) => "genesis",
                    Verification::Refused { .. } => "refused",
                    Verification::Operation(_) => "operation",
                    Verification::Revocation(_)
                    | Verification::Policy(_)
                    | Verification::Approval(_) => "other",
                };
                *kinds.entry(kind).or_insert(0) += 1;
            }
        }
    }
    // Every path of `verify_owned` was taken.
    for kind in ["forged", "genesis", "refused", "operation", "other"] {
        assert!(kinds.contains_key(kind), "{kind} not exercised: {kinds:?}");
    }
}

/// A patch keeps `meta.created` from the stored body, sets `lastModified` to the decision time
/// and bumps the version; the patched attribute changes and nothing else does.
#[test]
fn patch_keeps_created_and_moves_last_modified() {
    let mut w = World::new();
    applied(&create_user(&mut w, 1, TOKEN_A, true));
    let body_of = |w: &World| {
        w.state
            .resources()
            .find(|(rtype, id, _)| *rtype == "User" && *id == uuid(1))
            .map(|(_, _, r)| r.unwrap())
            .unwrap()
    };
    let before = body_of(&w);
    w.now = T0 + 3_600;
    let chain = w.connector_chain(lifecycle_scope());
    let off = w.op(&key(3), chain, "User", &uuid(1), set_active(false), &[]);
    applied(&w.submit(&off).unwrap());
    let after = body_of(&w);
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        after.body["meta"]["created"],
        json!(zkscim_rules::rfc3339(T0))
    );
    assert_eq!(
        after.body["meta"]["lastModified"],
        json!(zkscim_rules::rfc3339(T0 + 3_600))
    );
    assert_eq!(after.body["meta"]["version"], json!("W/\"2\""));
    assert_eq!(after.body["active"], json!(false));
    let mut unchanged = after.body.clone();
    unchanged["active"] = json!(true);
    unchanged["meta"] = before.body["meta"].clone();
    assert_eq!(unchanged, before.body);
    assert_eq!(after.indexes, before.indexes);
}
