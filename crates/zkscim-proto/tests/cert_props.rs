//! Property tests for delegation certificates, scopes and chain verification.
//!
//! The oracle is an independent model of scopes (`Model`): plain sets of names, and attribute
//! coverage decided by enumerating a finite universe of concrete attribute paths, never by calling
//! `Scope::check_attenuates` or `PathPattern::includes`.
//!
//! * (a) a child wider than its parent in any dimension is refused by `Certificate::issue`
//!   (`cert.issue`) and, when signed by hand, by `verify_chain` (`chain.attenuation.<dimension>`,
//!   naming a dimension in which it really is wider); a child within its parent is accepted by both;
//! * (b) valid chains of depth 1..=4 verify at every time inside all windows and fail with
//!   `chain.not_yet_valid` / `chain.expired` outside;
//! * (c) flipping any bit of any certificate (or any COSE_Sign1 of each object type) breaks
//!   parsing or verification;
//! * (d) scopes round-trip through their canonical CBOR form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeSet, HashSet};

use proptest::prelude::*;
use zkscim_proto::cert::{
    verify_chain, CertId, Certificate, ChainContext, Claims, NoCache, CLAIM_DEPTH, CLAIM_EXPIRES,
    CLAIM_ISSUED_AT, CLAIM_ISSUER, CLAIM_LABEL, CLAIM_NONCE, CLAIM_NOT_BEFORE, CLAIM_PARENT,
    CLAIM_SCOPE, CLAIM_SUBJECT, CLAIM_TENANT,
};
use zkscim_proto::codec::{self, MapBuilder, Value};
use zkscim_proto::cose::{self, ObjectType};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::scope::{AttrPath, PathPattern, Scope, ScopeBuilder};

const T0: u64 = 1_800_000_000;
const TENANT: &str = "acme";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const OPERATIONS: [&str; 5] = ["create", "replace", "patch", "delete", "read"];
const CAPABILITIES: [&str; 5] = ["delegate", "revoke", "reactivate", "policy", "break_glass"];
const RESOURCE_TYPES: [&str; 4] = ["User", "Group", "Agent", "AgenticApplication"];
const GROUPS: [&str; 4] = ["g-admins", "g-eng", "g-finance", "g-sales"];

/// Attribute patterns scopes are drawn from (mixed case on purpose: names are case-insensitive).
fn pattern_pool() -> Vec<String> {
    vec![
        "*".into(),
        "name".into(),
        "name.givenName".into(),
        "name.familyName".into(),
        "emails".into(),
        "emails.value".into(),
        format!("{ENT}:*"),
        format!("{ENT}:manager"),
        "active".into(),
        "members".into(),
        "displayName".into(),
    ]
}

/// Concrete attribute paths: rich enough that every non-inclusion between pool patterns has a
/// witness here.
fn universe() -> Vec<String> {
    let ent = ENT.to_ascii_lowercase();
    let mut paths: Vec<String> = [
        "active",
        "name",
        "name.givenname",
        "name.familyname",
        "name.middlename",
        "emails",
        "emails.value",
        "emails.type",
        "members",
        "members.value",
        "displayname",
        "nickname",
        "namex",
        "urn:example:params:other:1.0:thing:x",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for sub in ["manager", "manager.value", "department", "employeenumber"] {
        paths.push(format!("{ent}:{sub}"));
    }
    paths
}

/// Whether the pattern text (any case) allows writing the concrete path: the documented meaning,
/// written from scratch.
fn model_covers(pattern: &str, path: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    if let Some(urn) = pattern.strip_suffix(":*") {
        return path.starts_with(&format!("{urn}:"));
    }
    let base = pattern.strip_suffix(".*").unwrap_or(&pattern);
    path == base || path.starts_with(&format!("{base}."))
}

fn model_set_covers(patterns: &BTreeSet<String>, path: &str) -> bool {
    patterns.iter().any(|p| model_covers(p, path))
}

/// Child patterns within parent patterns, by enumeration of the universe.
fn model_attrs_within(child: &BTreeSet<String>, parent: &BTreeSet<String>) -> bool {
    universe()
        .iter()
        .all(|u| !model_set_covers(child, u) || model_set_covers(parent, u))
}

/// An independent description of a scope.
#[derive(Clone, Debug)]
struct Model {
    ops: BTreeSet<&'static str>,
    /// `None`: every resource type.
    types: Option<BTreeSet<&'static str>>,
    attrs: BTreeSet<String>,
    /// `None`: any group.
    groups: Option<BTreeSet<&'static str>>,
    caps: BTreeSet<&'static str>,
}

impl Model {
    fn scope(&self) -> Scope {
        let mut b = ScopeBuilder::new()
            .operations(&self.ops)
            .attributes(&self.attrs)
            .capabilities(&self.caps);
        b = match &self.types {
            None => b.resource_types(["*"]),
            Some(t) => b.resource_types(t),
        };
        if let Some(g) = &self.groups {
            b = b.groups(g);
        }
        b.build().unwrap()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dim {
    Operations,
    ResourceTypes,
    Attributes,
    Groups,
    Capabilities,
    Validity,
    Depth,
}

impl Dim {
    const ALL: [Dim; 7] = [
        Dim::Operations,
        Dim::ResourceTypes,
        Dim::Attributes,
        Dim::Groups,
        Dim::Capabilities,
        Dim::Validity,
        Dim::Depth,
    ];

    fn chain_code(self) -> &'static str {
        match self {
            Dim::Operations => "chain.attenuation.operations",
            Dim::ResourceTypes => "chain.attenuation.resource_types",
            Dim::Attributes => "chain.attenuation.attributes",
            Dim::Groups => "chain.attenuation.groups",
            Dim::Capabilities => "chain.attenuation.capabilities",
            Dim::Validity => "chain.attenuation.validity",
            Dim::Depth => "chain.attenuation.depth",
        }
    }
}

/// The certificate-level facts the model needs.
#[derive(Clone, Debug)]
struct Node {
    model: Model,
    not_before: u64,
    expires: u64,
    depth: u8,
}

/// Every dimension in which `child` is not within `parent` (parent assumed to hold `delegate`).
fn violations(parent: &Node, child: &Node) -> BTreeSet<u8> {
    let p = &parent.model;
    let c = &child.model;
    let mut out = BTreeSet::new();
    let mut add = |d: Dim| {
        out.insert(Dim::ALL.iter().position(|x| *x == d).unwrap() as u8);
    };
    if !c.ops.is_subset(&p.ops) {
        add(Dim::Operations);
    }
    match (&p.types, &c.types) {
        (None, _) => {}
        (Some(_), None) => add(Dim::ResourceTypes),
        (Some(pt), Some(ct)) => {
            if !ct.is_subset(pt) {
                add(Dim::ResourceTypes);
            }
        }
    }
    if !model_attrs_within(&c.attrs, &p.attrs) {
        add(Dim::Attributes);
    }
    match (&p.groups, &c.groups) {
        (None, _) => {}
        (Some(_), None) => add(Dim::Groups),
        (Some(pg), Some(cg)) => {
            if !cg.is_subset(pg) {
                add(Dim::Groups);
            }
        }
    }
    if !c.caps.is_subset(&p.caps) {
        add(Dim::Capabilities);
    }
    if child.not_before < parent.not_before || child.expires > parent.expires {
        add(Dim::Validity);
    }
    if child.depth >= parent.depth {
        add(Dim::Depth);
    }
    out
}

fn dim_of(index: u8) -> Dim {
    Dim::ALL[usize::from(index)]
}

// ---------------------------------------------------------------------------------------------
// Deterministic generation from a proptest-chosen seed
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, deterministic, good enough to drive structure generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    fn subset<T: Clone + Ord>(&mut self, items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
        items.into_iter().filter(|_| self.chance(1, 2)).collect()
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize].clone())
        }
    }
}

fn random_model(rng: &mut Rng) -> Model {
    let pool = pattern_pool();
    let mut attrs = BTreeSet::new();
    for _ in 0..rng.below(4) {
        attrs.insert(rng.pick(&pool).unwrap());
    }
    Model {
        ops: rng.subset(OPERATIONS),
        types: if rng.chance(1, 4) {
            None
        } else {
            Some(rng.subset(RESOURCE_TYPES))
        },
        attrs,
        groups: if rng.chance(1, 2) {
            None
        } else {
            Some(rng.subset(GROUPS))
        },
        caps: rng.subset(CAPABILITIES),
    }
}

/// A random model within `parent` in every dimension (by the model's own rules).
fn subset_model(rng: &mut Rng, parent: &Model) -> Model {
    let within: Vec<String> = pattern_pool()
        .into_iter()
        .filter(|p| model_attrs_within(&[p.clone()].into_iter().collect(), &parent.attrs))
        .collect();
    let mut attrs = BTreeSet::new();
    for _ in 0..rng.below(4) {
        if let Some(p) = rng.pick(&within) {
            attrs.insert(p);
        }
    }
    Model {
        ops: rng.subset(parent.ops.iter().copied()),
        types: match &parent.types {
            None if rng.chance(1, 3) => None,
            None => Some(rng.subset(RESOURCE_TYPES)),
            Some(t) => Some(rng.subset(t.iter().copied())),
        },
        attrs,
        groups: match &parent.groups {
            None if rng.chance(1, 2) => None,
            None => Some(rng.subset(GROUPS)),
            Some(g) => Some(rng.subset(g.iter().copied())),
        },
        caps: rng.subset(parent.caps.iter().copied()),
    }
}

/// Makes `child` wider than `parent` in `dim`, if that is possible. Returns whether it did.
fn widen(rng: &mut Rng, parent: &Node, child: &mut Node, dim: Dim) -> bool {
    let p = &parent.model;
    let c = &mut child.model;
    match dim {
        Dim::Operations => {
            let missing: Vec<_> = OPERATIONS
                .into_iter()
                .filter(|o| !p.ops.contains(o))
                .collect();
            rng.pick(&missing).map(|o| c.ops.insert(o)).is_some()
        }
        Dim::ResourceTypes => match &p.types {
            None => false,
            Some(pt) => {
                let missing: Vec<_> = RESOURCE_TYPES
                    .into_iter()
                    .filter(|t| !pt.contains(t))
                    .collect();
                match rng.pick(&missing) {
                    Some(t) if rng.chance(2, 3) => {
                        c.types.get_or_insert_with(BTreeSet::new).insert(t);
                    }
                    _ => c.types = None,
                }
                true
            }
        },
        Dim::Attributes => {
            let outside: Vec<String> = pattern_pool()
                .into_iter()
                .filter(|x| !model_attrs_within(&[x.clone()].into_iter().collect(), &p.attrs))
                .collect();
            rng.pick(&outside).map(|x| c.attrs.insert(x)).is_some()
        }
        Dim::Groups => match &p.groups {
            None => false,
            Some(pg) => {
                let missing: Vec<_> = GROUPS.into_iter().filter(|g| !pg.contains(g)).collect();
                match rng.pick(&missing) {
                    Some(g) if rng.chance(2, 3) => {
                        c.groups.get_or_insert_with(BTreeSet::new).insert(g);
                    }
                    _ => c.groups = None,
                }
                true
            }
        },
        Dim::Capabilities => {
            let missing: Vec<_> = CAPABILITIES
                .into_iter()
                .filter(|x| !p.caps.contains(x))
                .collect();
            rng.pick(&missing).map(|x| c.caps.insert(x)).is_some()
        }
        Dim::Validity => {
            if rng.chance(1, 2) {
                child.not_before = parent.not_before - rng.range(1, 500);
            } else {
                child.expires = parent.expires + rng.range(1, 500);
            }
            true
        }
        Dim::Depth => {
            child.depth = rng.range(u64::from(parent.depth), 7) as u8;
            true
        }
    }
}

fn key(n: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[31] = 0x5a;
    SigningKey::from_seed(&seed)
}

fn claims_for(node: &Node, subject: &SigningKey, label: &str, nonce: u8) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: TENANT.into(),
        not_before: node.not_before,
        expires: node.expires,
        issued_at: node.not_before,
        nonce: [nonce; 16],
        parent: None,
        depth: node.depth,
        label: label.into(),
        scope: node.model.scope(),
    }
}

/// The claim map built by hand (following the claim keys of cert.rs), signed by `issuer`
/// without any of `Certificate::issue`'s checks.
fn hand_signed(
    issuer: &SigningKey,
    parent: Option<CertId>,
    subject: &SigningKey,
    node: &Node,
    scope: &Scope,
    label: &str,
) -> Vec<u8> {
    let claims = MapBuilder::new()
        .field(CLAIM_ISSUER, Value::bytes(issuer.key_id().0.to_vec()))
        .field(
            CLAIM_SUBJECT,
            Value::bytes(subject.public_key().to_bytes().to_vec()),
        )
        .field(CLAIM_EXPIRES, Value::Unsigned(node.expires))
        .field(CLAIM_NOT_BEFORE, Value::Unsigned(node.not_before))
        .field(CLAIM_ISSUED_AT, Value::Unsigned(node.not_before))
        .field(CLAIM_NONCE, Value::bytes(vec![0xab; 16]))
        .field(CLAIM_TENANT, Value::text(TENANT))
        .optional(CLAIM_PARENT, parent.map(|p| Value::bytes(p.0.to_vec())))
        .field(CLAIM_DEPTH, Value::Unsigned(u64::from(node.depth)))
        .field(CLAIM_LABEL, Value::text(label))
        .field(CLAIM_SCOPE, scope.to_cbor())
        .build();
    cose::sign(ObjectType::Certificate, issuer, &claims.to_bytes())
}

/// A valid chain of `len` certificates, each a random subset of its parent, validity nested.
struct Chain {
    root: SigningKey,
    keys: Vec<SigningKey>,
    nodes: Vec<Node>,
    certs: Vec<Certificate>,
}

fn valid_chain(rng: &mut Rng, len: usize) -> Chain {
    let base = rng.next() % 1000;
    let root = key(base * 16);
    let keys: Vec<SigningKey> = (1..=len as u64).map(|i| key(base * 16 + i)).collect();
    let mut nodes: Vec<Node> = Vec::new();
    let mut certs: Vec<Certificate> = Vec::new();
    for i in 0..len {
        let remaining = (len - 1 - i) as u64;
        let node = match nodes.last() {
            None => {
                let mut model = random_model(rng);
                if remaining > 0 {
                    model.caps.insert("delegate");
                }
                let not_before = T0 + rng.below(10_000);
                Node {
                    model,
                    not_before,
                    expires: not_before + rng.range(len as u64 * 2, 1_000_000),
                    depth: rng.range(remaining, 7) as u8,
                }
            }
            Some(parent) => {
                let mut model = subset_model(rng, &parent.model);
                if remaining > 0 {
                    model.caps.insert("delegate");
                }
                // Nested window, never empty: each level can shrink by at most a third.
                let span = parent.expires - parent.not_before;
                let not_before = parent.not_before + rng.below(span / 3);
                let expires = parent.expires - rng.below(span / 3);
                Node {
                    model,
                    not_before,
                    expires,
                    depth: rng.range(remaining, u64::from(parent.depth) - 1) as u8,
                }
            }
        };
        let issuer = if i == 0 { &root } else { &keys[i - 1] };
        let claims = claims_for(&node, &keys[i], &format!("level-{i}"), i as u8);
        let cert = Certificate::issue(issuer, certs.last(), claims)
            .unwrap_or_else(|e| panic!("issuing a valid level {i} failed: {e} ({:?})", node.model));
        nodes.push(node);
        certs.push(cert);
    }
    Chain {
        root,
        keys,
        nodes,
        certs,
    }
}

fn window(nodes: &[Node]) -> (u64, u64) {
    let nb = nodes.iter().map(|n| n.not_before).max().unwrap();
    let exp = nodes.iter().map(|n| n.expires).min().unwrap();
    (nb, exp)
}

// ---------------------------------------------------------------------------------------------
// (a) attenuation enforced on both sides
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn wider_child_refused_by_issue_and_by_verify(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let root = key(1);
        let admin = key(2);
        let child_key = key(3);

        let mut parent_model = random_model(&mut rng);
        parent_model.caps.insert("delegate");
        let not_before = T0 + rng.below(1000);
        let parent = Node {
            model: parent_model,
            not_before,
            expires: not_before + rng.range(1000, 100_000),
            depth: rng.range(1, 6) as u8,
        };
        let parent_cert =
            Certificate::issue(&root, None, claims_for(&parent, &admin, "admin", 1)).unwrap();

        // The child: independent (1/6), within the parent (1/6), or within the parent and then
        // widened in exactly one dimension (1/2) or in two (1/6). Single-dimension widening is
        // what catches a check missing in one dimension only, so it gets the most cases.
        let mode = rng.below(6);
        let mut child = if mode == 0 {
            let c_nb = rng.range(parent.not_before - 500, parent.expires - 1);
            let lo = c_nb.max(parent.not_before) + 1;
            Node {
                model: random_model(&mut rng),
                not_before: c_nb,
                expires: rng.range(lo, parent.expires + 500),
                depth: rng.range(0, 7) as u8,
            }
        } else {
            Node {
                model: subset_model(&mut rng, &parent.model),
                not_before: parent.not_before + rng.below(100),
                expires: parent.expires - rng.below(100),
                depth: rng.range(0, u64::from(parent.depth) - 1) as u8,
            }
        };
        let widenings = match mode {
            2..=4 => 1,
            5 => 2,
            _ => 0,
        };
        for _ in 0..widenings {
            // Retry until a dimension that can be widened is found (validity and depth always can).
            loop {
                let dim = Dim::ALL[rng.below(7) as usize];
                if widen(&mut rng, &parent, &mut child, dim) {
                    break;
                }
            }
        }
        let expected = violations(&parent, &child);

        // Issuing side.
        let issued = Certificate::issue(
            &admin,
            Some(&parent_cert),
            claims_for(&child, &child_key, "child", 2),
        );
        if expected.is_empty() {
            prop_assert!(issued.is_ok(), "within-parent child refused: {:?}", issued.err());
        } else {
            let err = issued.expect_err("wider child issued");
            prop_assert_eq!(err.code(), "cert.issue", "{}", err);
        }

        // Verifying side, child signed by hand.
        let scope = child.model.scope();
        let bytes = hand_signed(&admin, Some(parent_cert.id()), &child_key, &child, &scope, "child");
        let rogue = Certificate::parse(&bytes).unwrap();
        let root_pk = root.public_key();
        let (now, _) = window(&[parent.clone(), child.clone()]);
        let ctx = ChainContext { tenant: TENANT, root: &root_pk, now };
        let outcome = verify_chain(&[parent_cert.clone(), rogue], &ctx, &mut NoCache);
        if expected.is_empty() {
            let verified = outcome.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&*verified.scope, &scope);
            prop_assert_eq!(verified.signer, child_key.public_key());
        } else {
            let err = outcome.expect_err("wider hand-signed child verified");
            prop_assert_eq!(err.position, 1);
            let allowed: Vec<&str> = expected.iter().map(|d| dim_of(*d).chain_code()).collect();
            prop_assert!(
                allowed.contains(&err.code()),
                "got {} ({}), expected one of {:?}", err.code(), err, allowed
            );
            if expected.len() == 1 {
                prop_assert_eq!(err.code(), allowed[0]);
            }
        }
    }
}

type Mutator = Box<dyn Fn(&mut Node)>;

/// Each dimension on its own: a child within the parent except in exactly that dimension is
/// refused with exactly that dimension's code.
#[test]
fn each_dimension_alone_is_named() {
    let root = key(11);
    let admin = key(12);
    let child_key = key(13);
    let parent = Node {
        model: Model {
            ops: ["create", "patch"].into_iter().collect(),
            types: Some(["User", "Group"].into_iter().collect()),
            attrs: [
                "name".to_owned(),
                format!("{ENT}:manager"),
                "members".into(),
            ]
            .into_iter()
            .collect(),
            groups: Some(["g-eng"].into_iter().collect()),
            caps: ["delegate", "revoke"].into_iter().collect(),
        },
        not_before: T0,
        expires: T0 + 10_000,
        depth: 2,
    };
    let parent_cert =
        Certificate::issue(&root, None, claims_for(&parent, &admin, "admin", 1)).unwrap();
    let base = Node {
        model: Model {
            ops: ["patch"].into_iter().collect(),
            types: Some(["User"].into_iter().collect()),
            attrs: ["name.givenName".to_owned()].into_iter().collect(),
            groups: Some(BTreeSet::new()),
            caps: BTreeSet::new(),
        },
        not_before: T0 + 1,
        expires: T0 + 9_000,
        depth: 1,
    };
    let cases: Vec<(Dim, Mutator)> = vec![
        (
            Dim::Operations,
            Box::new(|n: &mut Node| {
                n.model.ops.insert("delete");
            }),
        ),
        (
            Dim::ResourceTypes,
            Box::new(|n: &mut Node| n.model.types = None),
        ),
        (
            Dim::ResourceTypes,
            Box::new(|n: &mut Node| {
                n.model.types.as_mut().unwrap().insert("Agent");
            }),
        ),
        (
            Dim::Attributes,
            Box::new(|n: &mut Node| {
                n.model.attrs.insert(format!("{ENT}:*"));
            }),
        ),
        (
            Dim::Attributes,
            Box::new(|n: &mut Node| {
                n.model.attrs.insert("*".into());
            }),
        ),
        (
            Dim::Attributes,
            Box::new(|n: &mut Node| {
                n.model.attrs.insert("emails".into());
            }),
        ),
        (Dim::Groups, Box::new(|n: &mut Node| n.model.groups = None)),
        (
            Dim::Groups,
            Box::new(|n: &mut Node| {
                n.model.groups.as_mut().unwrap().insert("g-sales");
            }),
        ),
        (
            Dim::Capabilities,
            Box::new(|n: &mut Node| {
                n.model.caps.insert("break_glass");
            }),
        ),
        (
            Dim::Validity,
            Box::new(|n: &mut Node| n.not_before = T0 - 1),
        ),
        (
            Dim::Validity,
            Box::new(|n: &mut Node| n.expires = T0 + 10_001),
        ),
        (Dim::Depth, Box::new(|n: &mut Node| n.depth = 2)),
    ];
    let root_pk = root.public_key();
    for (dim, mutate) in cases {
        let mut child = base.clone();
        mutate(&mut child);
        assert_eq!(
            violations(&parent, &child).len(),
            1,
            "{dim:?}: test setup violates more than one dimension"
        );
        let err = Certificate::issue(
            &admin,
            Some(&parent_cert),
            claims_for(&child, &child_key, "c", 2),
        )
        .unwrap_err();
        assert_eq!(err.code(), "cert.issue", "{dim:?}");
        let bytes = hand_signed(
            &admin,
            Some(parent_cert.id()),
            &child_key,
            &child,
            &child.model.scope(),
            "c",
        );
        let rogue = Certificate::parse(&bytes).unwrap();
        let ctx = ChainContext {
            tenant: TENANT,
            root: &root_pk,
            now: T0 + 5,
        };
        let err = verify_chain(&[parent_cert.clone(), rogue], &ctx, &mut NoCache).unwrap_err();
        assert_eq!(err.code(), dim.chain_code(), "{dim:?}: {err}");
        assert_eq!(err.position, 1);
    }
    // And the unmodified base child is fine on both sides.
    Certificate::issue(
        &admin,
        Some(&parent_cert),
        claims_for(&base, &child_key, "c", 2),
    )
    .unwrap();
}

/// A parent without `delegate` cannot have children, on either side.
#[test]
fn parent_without_delegate_cannot_delegate() {
    let root = key(21);
    let admin = key(22);
    let child_key = key(23);
    let mut parent = Node {
        model: Model {
            ops: OPERATIONS.into_iter().collect(),
            types: None,
            attrs: ["*".to_owned()].into_iter().collect(),
            groups: None,
            caps: ["revoke"].into_iter().collect(),
        },
        not_before: T0,
        expires: T0 + 100,
        depth: 3,
    };
    let parent_cert =
        Certificate::issue(&root, None, claims_for(&parent, &admin, "admin", 1)).unwrap();
    parent.model.caps.clear();
    let mut child = parent.clone();
    child.depth = 0;
    let err = Certificate::issue(
        &admin,
        Some(&parent_cert),
        claims_for(&child, &child_key, "c", 2),
    )
    .unwrap_err();
    assert_eq!(err.code(), "cert.issue");
    let bytes = hand_signed(
        &admin,
        Some(parent_cert.id()),
        &child_key,
        &child,
        &child.model.scope(),
        "c",
    );
    let root_pk = root.public_key();
    let ctx = ChainContext {
        tenant: TENANT,
        root: &root_pk,
        now: T0,
    };
    let err = verify_chain(
        &[parent_cert, Certificate::parse(&bytes).unwrap()],
        &ctx,
        &mut NoCache,
    )
    .unwrap_err();
    assert_eq!(err.code(), "chain.attenuation.capabilities");
}

// ---------------------------------------------------------------------------------------------
// (b) valid chains and time
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn valid_chains_verify_exactly_inside_their_windows(seed in any::<u64>(), len in 1usize..=4) {
        let mut rng = Rng(seed);
        let chain = valid_chain(&mut rng, len);
        let root_pk = chain.root.public_key();
        let (nb, exp) = window(&chain.nodes);
        prop_assert!(nb < exp);
        let mut cache = HashSet::new();
        let inside = [nb, exp - 1, rng.range(nb, exp - 1), rng.range(nb, exp - 1)];
        for (i, now) in inside.into_iter().enumerate() {
            let ctx = ChainContext { tenant: TENANT, root: &root_pk, now };
            let warm = verify_chain(&chain.certs, &ctx, &mut cache)
                .map_err(|e| TestCaseError::fail(format!("at {now}: {e}")))?;
            let cold = if i == 0 {
                verify_chain(&chain.certs, &ctx, &mut NoCache).unwrap()
            } else {
                warm.clone()
            };
            prop_assert_eq!(&cold, &warm);
            prop_assert_eq!(cold.signer, chain.keys[len - 1].public_key());
            prop_assert_eq!(&*cold.scope, &chain.nodes[len - 1].model.scope());
            prop_assert_eq!(cold.expires, exp);
            prop_assert_eq!(
                cold.certificate_ids,
                chain.certs.iter().map(Certificate::id).collect::<Vec<_>>()
            );
            prop_assert_eq!(cold.break_glass, chain.nodes[len - 1].model.caps.contains("break_glass"));
        }
        prop_assert_eq!(cache.len(), len);
        let before = [0, nb - 1, rng.range(0, nb - 1), rng.range(nb.saturating_sub(100), nb - 1)];
        for (i, now) in before.into_iter().enumerate() {
            let ctx = ChainContext { tenant: TENANT, root: &root_pk, now };
            for warm in [true, i != 0] {
                let err = if warm {
                    verify_chain(&chain.certs, &ctx, &mut cache)
                } else {
                    verify_chain(&chain.certs, &ctx, &mut NoCache)
                }
                .expect_err("verified before its window");
                prop_assert_eq!(err.code(), "chain.not_yet_valid", "at {}: {}", now, err);
            }
        }
        let after = [exp, exp + 1, rng.range(exp, exp + 1_000_000), u64::MAX];
        for (i, now) in after.into_iter().enumerate() {
            let ctx = ChainContext { tenant: TENANT, root: &root_pk, now };
            for warm in [true, i != 0] {
                let err = if warm {
                    verify_chain(&chain.certs, &ctx, &mut cache)
                } else {
                    verify_chain(&chain.certs, &ctx, &mut NoCache)
                }
                .expect_err("verified after its window");
                prop_assert_eq!(err.code(), "chain.expired", "at {}: {}", now, err);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) bit flips
// ---------------------------------------------------------------------------------------------

/// Whether a chain with `bytes` in place of certificate `index` still verifies at `now`.
fn flipped_chain_verifies(
    chain: &Chain,
    index: usize,
    bytes: &[u8],
    now: u64,
    cache: &mut HashSet<CertId>,
) -> bool {
    let Ok(flipped) = Certificate::parse(bytes) else {
        return false;
    };
    let mut certs = chain.certs.clone();
    certs[index] = flipped;
    let root_pk = chain.root.public_key();
    let ctx = ChainContext {
        tenant: TENANT,
        root: &root_pk,
        now,
    };
    verify_chain(&certs, &ctx, cache).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random single-bit flips in random chains never verify. The cache holds the genuine
    /// certificates (a flipped certificate has a new id, so it is always verified afresh).
    #[test]
    fn random_bit_flips_in_chains_are_caught(
        seed in any::<u64>(),
        len in 1usize..=4,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..8), 12),
    ) {
        let mut rng = Rng(seed);
        let chain = valid_chain(&mut rng, len);
        let (now, _) = window(&chain.nodes);
        let mut warm: HashSet<CertId> = chain.certs.iter().map(Certificate::id).collect();
        for (which, byte, bit) in flips {
            let index = which.index(len);
            let mut bytes = chain.certs[index].bytes().to_vec();
            let at = byte.index(bytes.len());
            bytes[at] ^= 1 << bit;
            prop_assert!(
                !flipped_chain_verifies(&chain, index, &bytes, now, &mut warm),
                "cert {index} byte {at} bit {bit} still verifies"
            );
        }
    }
}

/// Every bit of the deepest certificate of a fixed depth-3 chain (the other positions get random
/// flips above; debug-build signature checks cost ~10 ms, so exhaustive runs stay targeted). The
/// cache is pre-filled with the genuine certificates, so only the flipped one is re-verified, and
/// a cache keyed on anything weaker than the exact bytes would show here.
#[test]
fn every_bit_flip_of_a_certificate_is_caught() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let chain = valid_chain(&mut rng, 3);
    let (now, _) = window(&chain.nodes);
    let mut warm: HashSet<CertId> = chain.certs.iter().map(Certificate::id).collect();
    let index = 2;
    let cert = &chain.certs[index];
    for at in 0..cert.bytes().len() {
        for bit in 0..8 {
            let mut bytes = cert.bytes().to_vec();
            bytes[at] ^= 1 << bit;
            assert!(
                !flipped_chain_verifies(&chain, index, &bytes, now, &mut warm),
                "cert {index} byte {at} bit {bit} still verifies"
            );
        }
    }
    assert_eq!(
        warm.len(),
        3,
        "a flipped certificate was cached as verified"
    );
}

/// Every bit of a COSE_Sign1 of each object type: parsing as that type and verifying under the
/// signer's key never succeeds. Signature bytes are type-independent, so they are flipped
/// exhaustively for one type; every other byte for all six.
#[test]
fn every_bit_flip_of_each_cose_type_is_caught() {
    let types = [
        ObjectType::Certificate,
        ObjectType::Operation,
        ObjectType::Revocation,
        ObjectType::Policy,
        ObjectType::ReadRequest,
        ObjectType::Genesis,
    ];
    let signer = key(77);
    let pk = signer.public_key();
    let payload = Value::Map(vec![(Value::int(1), Value::text("a"))]).to_bytes();
    for typ in types {
        let bytes = cose::sign(typ, &signer, &payload);
        let genuine = cose::parse(&bytes, typ).unwrap();
        genuine.verify(&pk).unwrap();
        let signature_start = bytes.len() - 64;
        let end = if typ == ObjectType::Operation {
            bytes.len()
        } else {
            signature_start
        };
        for at in 0..end {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                let outcome = cose::parse(&flipped, typ).and_then(|s| s.verify(&pk));
                assert!(
                    outcome.is_err(),
                    "{typ:?}: byte {at} bit {bit} still verifies"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Random flips in COSE objects with ~300-byte random payloads, each type.
    #[test]
    fn random_bit_flips_in_cose_objects_are_caught(
        payload in prop::collection::vec(any::<u8>(), 250..350),
        type_index in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 24),
    ) {
        let typ = [
            ObjectType::Certificate,
            ObjectType::Operation,
            ObjectType::Revocation,
            ObjectType::Policy,
            ObjectType::ReadRequest,
            ObjectType::Genesis,
        ][type_index];
        let signer = key(78);
        let pk = signer.public_key();
        let bytes = cose::sign(typ, &signer, &payload);
        for (at, bit) in flips {
            let mut flipped = bytes.clone();
            let at = at.index(flipped.len());
            flipped[at] ^= 1 << bit;
            let outcome = cose::parse(&flipped, typ).and_then(|s| s.verify(&pk));
            prop_assert!(outcome.is_err(), "{:?}: byte {} bit {} still verifies", typ, at, bit);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) scope round trip, and the model against the implementation's pattern semantics
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scopes_round_trip_through_cbor(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let model = random_model(&mut rng);
        let scope = model.scope();
        let value = scope.to_cbor();
        let bytes = value.to_bytes();
        let decoded = codec::decode(&bytes).unwrap();
        let back = Scope::from_cbor(&decoded)
            .map_err(|e| TestCaseError::fail(format!("{e}: {model:?}")))?;
        prop_assert_eq!(&back, &scope);
        prop_assert_eq!(back.to_cbor().to_bytes(), bytes);
    }

    /// Patterns given with different case or as `attr.*` denote the same scope and encode the same.
    #[test]
    fn scope_text_variants_encode_identically(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let model = random_model(&mut rng);
        let mut shouted = model.clone();
        shouted.attrs = model
            .attrs
            .iter()
            .map(|p| {
                let p = if rng.chance(1, 2) { p.to_ascii_uppercase() } else { p.clone() };
                if !p.ends_with('*') && rng.chance(1, 2) { format!("{p}.*") } else { p }
            })
            .collect();
        prop_assert_eq!(shouted.scope().to_cbor().to_bytes(), model.scope().to_cbor().to_bytes());
    }
}

/// The model's coverage and inclusion agree with the implementation's on the whole pool and
/// universe (a check of the oracle as much as of the code).
#[test]
fn model_agrees_with_pattern_semantics() {
    let pool = pattern_pool();
    let paths = universe();
    for p in &pool {
        let pattern = PathPattern::parse(p).unwrap();
        for u in &paths {
            assert_eq!(
                pattern.covers(&AttrPath::parse(u).unwrap()),
                model_covers(p, u),
                "{p} covers {u}"
            );
        }
        for q in &pool {
            let other = PathPattern::parse(q).unwrap();
            let single_p: BTreeSet<String> = [p.clone()].into_iter().collect();
            let single_q: BTreeSet<String> = [q.clone()].into_iter().collect();
            assert_eq!(
                pattern.includes(&other),
                model_attrs_within(&single_q, &single_p),
                "{p} includes {q}"
            );
        }
    }
}

/// `Scope`'s fields are public, so `ResourceTypes::Only({"*"})` (a list naming a type literally
/// called `*`, which allows nothing real) can be built directly. Its wire form is `["*"]`, which
/// reads back as `ResourceTypes::All`, so `Certificate::issue` must refuse it rather than sign a
/// certificate wider than the claims it was handed.
#[test]
fn every_constructible_scope_round_trips() {
    use zkscim_proto::scope::ResourceTypes;
    let mut narrow = Model {
        ops: ["patch"].into_iter().collect(),
        types: Some(BTreeSet::new()),
        attrs: ["active".to_owned()].into_iter().collect(),
        groups: None,
        caps: BTreeSet::new(),
    }
    .scope();
    narrow.resource_types = ResourceTypes::Only(["*".to_owned()].into_iter().collect());
    assert!(!narrow.resource_types.allows("User"));
    // Such a scope has no faithful wire form; the guarantee is that issuing refuses it rather
    // than signing something wider.
    // Through issuing: either refused, or the certificate says what the caller asked for.
    let node = Node {
        model: Model {
            ops: BTreeSet::new(),
            types: None,
            attrs: BTreeSet::new(),
            groups: None,
            caps: BTreeSet::new(),
        },
        not_before: T0,
        expires: T0 + 10,
        depth: 0,
    };
    let mut claims = claims_for(&node, &key(32), "narrow", 1);
    claims.scope = narrow.clone();
    if let Ok(cert) = Certificate::issue(&key(31), None, claims) {
        assert!(
            !cert.claims().scope.resource_types.allows("User"),
            "issued certificate allows every resource type"
        );
    }
}
