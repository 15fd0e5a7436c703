//! The workload: tenant keys, the root → admin → connector chain, and a deterministic mix of
//! signed operations (creates, patches, membership changes, deactivations).
//!
//! Operations that target an existing resource only name resources created at least `lag`
//! operations earlier, so that with at most `lag` submissions in flight they are (almost always)
//! applied rather than refused as not found.

use std::collections::{BTreeMap, VecDeque};

use base64::Engine as _;
use serde_json::json;
use zkscim_proto::cert::{CertError, Certificate, Claims};
use zkscim_proto::envelope::{Change, Envelope, Genesis, Header, OperationBody};
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::scope::ScopeBuilder;

/// The tenant every run uses.
pub const TENANT: &str = "bench";
/// How many groups the membership changes spread over.
pub const GROUPS: usize = 8;

/// What kind of operation, for the mix report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// User create.
    Create,
    /// Name/title patch.
    Patch,
    /// Group member add or remove.
    Membership,
    /// `active: false`.
    Deactivate,
    /// Group create (setup only).
    GroupCreate,
}

/// One operation, planned but not yet signed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Kind.
    pub kind: OpKind,
    /// Resource type.
    pub resource_type: &'static str,
    /// Resource id.
    pub id: String,
    /// Create body or patch operations.
    pub change: serde_json::Value,
    /// Blind indexes (field 18).
    pub indexes: BTreeMap<String, Option<String>>,
}

/// Deterministic pseudo-random numbers (xorshift64*): choices only, never key material.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            for (o, b) in chunk.iter_mut().zip(v) {
                *o = b;
            }
        }
        out
    }
}

/// A well-shaped sealed value (`zk1.` + 48 bytes base64url): the server only checks its shape.
fn sealed(rng: &mut Rng) -> String {
    let b: [u8; 48] = rng.bytes();
    format!(
        "zk1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// A well-shaped blind index (`zkx1.` + 16 bytes base64url), unique per call in practice.
fn index_token(rng: &mut Rng) -> String {
    let b: [u8; 16] = rng.bytes();
    format!(
        "zkx1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

fn uuid(kind: u8, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// Keys and the depth-2 delegation chain.
#[derive(Debug)]
pub struct Identity {
    /// Tenant root key.
    pub root: SigningKey,
    /// Connector key (signs every operation).
    pub connector: SigningKey,
    /// `[admin, connector]` certificates.
    pub chain: Vec<Certificate>,
}

impl Identity {
    /// Fresh keys; certificates valid for `[now - 600, now + 86400]`.
    pub fn generate(now: u64) -> Result<Identity, CertError> {
        let mut os = rand_core::OsRng;
        let root = SigningKey::generate(&mut os);
        let admin = SigningKey::generate(&mut os);
        let connector = SigningKey::generate(&mut os);
        let claims = |subject: &SigningKey, depth, scope, label: &str, nonce: u8| Claims {
            issuer: KeyId([0; 32]),
            subject: subject.public_key(),
            tenant: TENANT.into(),
            not_before: now.saturating_sub(600),
            expires: now + 86_400,
            issued_at: now,
            nonce: [nonce; 16],
            parent: None,
            depth,
            label: label.into(),
            scope,
        };
        let admin_scope = ScopeBuilder::new()
            .operations(["create", "replace", "patch", "delete"])
            .resource_types(["*"])
            .attributes(["*"])
            .capabilities(["delegate", "revoke"])
            .build()
            .map_err(CertError::from)?;
        let connector_scope = ScopeBuilder::new()
            .operations(["create", "patch"])
            .resource_types(["User", "Group"])
            .attributes([
                "active",
                "userName",
                "name",
                "title",
                "displayName",
                "members",
            ])
            .build()
            .map_err(CertError::from)?;
        let admin_cert = Certificate::issue(
            &root,
            None,
            claims(&admin, 1, admin_scope, "bench-admin", 1),
        )?;
        let connector_cert = Certificate::issue(
            &admin,
            Some(&admin_cert),
            claims(&connector, 0, connector_scope, "bench-connector", 2),
        )?;
        Ok(Identity {
            root,
            connector,
            chain: vec![admin_cert, connector_cert],
        })
    }

    /// The signed genesis creating the tenant.
    pub fn genesis(&self, now: u64) -> Vec<u8> {
        let header = Header::new(TENANT, now, Vec::new(), &mut rand_core::OsRng);
        Envelope::new(
            header,
            Genesis {
                root: self.root.public_key(),
            },
        )
        .sign(&self.root)
    }

    /// Signs a planned operation, issued at `now`.
    pub fn sign(&self, plan: &Plan, now: u64) -> Result<Vec<u8>, String> {
        let change = match plan.kind {
            OpKind::Create | OpKind::GroupCreate => Change::create(&plan.change),
            _ => Change::patch(&plan.change),
        }
        .map_err(|e| e.to_string())?;
        let header = Header::new(TENANT, now, self.chain.clone(), &mut rand_core::OsRng);
        Ok(Envelope::new(
            header,
            OperationBody {
                resource_type: plan.resource_type.into(),
                resource_id: plan.id.clone(),
                if_match: None,
                change,
                indexes: plan.indexes.clone(),
            },
        )
        .sign(&self.connector))
    }
}

/// Signs plans on `threads` threads, keeping order.
pub fn sign_all(identity: &Identity, plans: &[Plan], now: u64, threads: usize) -> Vec<Vec<u8>> {
    let threads = threads.clamp(1, 16);
    let per = plans.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|p| identity.sign(p, now).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Plans the mix, remembering what exists so later operations target real resources.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    planned: u64,
    lag: u64,
    /// (planned-at, user id) of every user create.
    users: Vec<(u64, String)>,
    groups: Vec<String>,
    /// Per group: (planned-at, member) added and not yet removed.
    members: Vec<VecDeque<(u64, String)>>,
}

impl Generator {
    /// A generator; `lag` is the least distance between a create and operations on its result.
    pub fn new(seed: u64, lag: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            planned: 0,
            lag,
            users: Vec::new(),
            groups: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Changes the lag (e.g. between prefill and measurement).
    pub fn set_lag(&mut self, lag: u64) {
        self.lag = lag;
    }

    /// The group creates that must be applied before the mix starts.
    pub fn setup(&mut self) -> Vec<Plan> {
        (0..GROUPS)
            .map(|g| {
                let id = uuid(0x6, g as u64);
                self.groups.push(id.clone());
                self.members.push(VecDeque::new());
                let mut indexes = BTreeMap::new();
                indexes.insert("displayname".to_owned(), Some(index_token(&mut self.rng)));
                Plan {
                    kind: OpKind::GroupCreate,
                    resource_type: "Group",
                    id,
                    change: json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": sealed(&mut self.rng),
                    }),
                    indexes,
                }
            })
            .collect()
    }

    /// Users created at least `lag` operations ago.
    fn eligible(&self) -> usize {
        let cutoff = self.planned.saturating_sub(self.lag);
        self.users.partition_point(|(at, _)| *at < cutoff)
    }

    /// The next operation of the mix: ~40% creates, ~30% patches, ~15% membership, ~15%
    /// deactivations.
    pub fn next_plan(&mut self) -> Plan {
        let eligible = if self.planned < self.lag {
            0
        } else {
            self.eligible()
        };
        let roll = self.rng.below(100);
        let plan = if eligible == 0 || roll < 40 {
            self.create()
        } else if roll < 70 {
            let target = self.pick(eligible);
            self.patch(target)
        } else if roll < 85 && !self.groups.is_empty() {
            self.membership(eligible)
        } else {
            let target = self.pick(eligible);
            Plan {
                kind: OpKind::Deactivate,
                resource_type: "User",
                id: target,
                change: json!([{"op": "replace", "path": "active", "value": false}]),
                indexes: BTreeMap::new(),
            }
        };
        self.planned += 1;
        plan
    }

    fn pick(&mut self, eligible: usize) -> String {
        let i = self.rng.below(eligible);
        self.users
            .get(i)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }

    fn create(&mut self) -> Plan {
        let id = uuid(0x1, self.users.len() as u64);
        self.users.push((self.planned, id.clone()));
        let mut indexes = BTreeMap::new();
        indexes.insert("username".to_owned(), Some(index_token(&mut self.rng)));
        Plan {
            kind: OpKind::Create,
            resource_type: "User",
            id,
            change: json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": sealed(&mut self.rng),
                "name": {"givenName": sealed(&mut self.rng), "familyName": sealed(&mut self.rng)},
                "title": sealed(&mut self.rng),
                "active": true,
            }),
            indexes,
        }
    }

    fn patch(&mut self, target: String) -> Plan {
        let change = if self.rng.below(2) == 0 {
            json!([{"op": "replace", "path": "name.givenName", "value": sealed(&mut self.rng)}])
        } else {
            json!([
                {"op": "replace", "path": "title", "value": sealed(&mut self.rng)},
                {"op": "replace", "path": "name.familyName", "value": sealed(&mut self.rng)},
            ])
        };
        Plan {
            kind: OpKind::Patch,
            resource_type: "User",
            id: target,
            change,
            indexes: BTreeMap::new(),
        }
    }

    fn membership(&mut self, eligible: usize) -> Plan {
        let g = self.rng.below(self.groups.len());
        let group = self.groups.get(g).cloned().unwrap_or_default();
        let cutoff = self.planned.saturating_sub(self.lag);
        let planned = self.planned;
        let remove_now = self.rng.below(2) == 0;
        let Some(members) = self.members.get_mut(g) else {
            return self.create();
        };
        let removable = members.front().is_some_and(|(at, _)| *at < cutoff);
        let change = if remove_now && removable {
            let (_, member) = members.pop_front().unwrap_or_default();
            json!([{"op": "remove", "path": format!("members[value eq \"{member}\"]")}])
        } else {
            let i = self.rng.below(eligible);
            let member = self
                .users
                .get(i)
                .map(|(_, id)| id.clone())
                .unwrap_or_default();
            if let Some(members) = self.members.get_mut(g) {
                members.push_back((planned, member.clone()));
            }
            json!([{"op": "add", "path": "members", "value": [{"value": member}]}])
        };
        Plan {
            kind: OpKind::Membership,
            resource_type: "Group",
            id: group,
            change,
            indexes: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn mix_is_roughly_as_documented() {
        let mut g = Generator::new(7, 100);
        let _ = g.setup();
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            let i = match g.next_plan().kind {
                OpKind::Create => 0,
                OpKind::Patch => 1,
                OpKind::Membership => 2,
                OpKind::Deactivate | OpKind::GroupCreate => 3,
            };
            counts[i] += 1;
        }
        let pct = |n: usize| n * 100 / 20_000;
        assert!((38..=43).contains(&pct(counts[0])), "{counts:?}");
        assert!((27..=32).contains(&pct(counts[1])), "{counts:?}");
        assert!((12..=17).contains(&pct(counts[2])), "{counts:?}");
        assert!((12..=17).contains(&pct(counts[3])), "{counts:?}");
    }

    #[test]
    fn shapes_pass_the_default_profile() {
        let p = zkscim_proto::seal::ProtectionProfile::default_profile();
        let mut rng = Rng::new(3);
        p.check_value("User", "userName", &sealed(&mut rng))
            .unwrap();
        p.check_index("User", "userName", &index_token(&mut rng))
            .unwrap();
    }
}
