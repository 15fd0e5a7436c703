//! A rule-consistent log generator: every statement is folded through the published rules
//! (`zkscim_rules::verify` then `decide`, then `MemoryState::apply`) and logged with the outcome
//! the rules give, certificates first seen logged just before the statement that carries them,
//! exactly as a server does. Stages 5 and 6 of an audit of such a log find nothing.
//!
//! The workload mixes what a connector fleet does: users created by an okta-style connector
//! (root → admin → connector chain) with sealed `userName` and its blind index, sealed-name
//! patches, deactivations, groups created by the admin and memberships added by it, and a few
//! refused statements (a duplicate blind index), so refusals are re-derived as well.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use serde_json::{json, Value as Json};
use zkscim_proto::cert::{CertId, Certificate, Claims};
use zkscim_proto::envelope::{self, Change, Envelope, Genesis, Header, OperationBody};
use zkscim_proto::export::ExportWriter;
use zkscim_proto::keys::{KeyId, SigningKey};
use zkscim_proto::log_entry::{
    entry_hash_of, leaf_hash_of, submitted_hash_of, EntryKind, LogEntry, Outcome, ZERO_HASH,
};
use zkscim_proto::merkle::{Frontier, Hash};
use zkscim_proto::note::NoteSigner;
use zkscim_proto::scope::{Scope, ScopeBuilder};
use zkscim_rules::memory::MemoryState;
use zkscim_rules::{decide, verify, Settings, Verdict, Verification};
use zkscim_scim::SchemaRegistry;

use super::{BuildError, TEST_LOG_SEED, TEST_ROOT_SEED};

/// Tenant of the generated log.
pub const CONSISTENT_TENANT: &str = "acme";
/// Origin (and log key name) of the generated log.
pub const CONSISTENT_ORIGIN: &str = "zkscim.example/acme";
/// Start time of the generated log.
const T0: u64 = 1_767_225_600;
/// Entries per second of log time: keeps issued-at within the skew and certificates valid.
const ENTRIES_PER_SECOND: u64 = 50;
const CHECKPOINT_EVERY: u64 = 1_000;
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_digits(mut n: u64, len: usize, salt: u8) -> String {
    let mut out = String::with_capacity(len);
    for i in 0..len {
        let d = if i < 11 {
            let d = (n & 63) as usize;
            n >>= 6;
            d
        } else {
            usize::from(salt.wrapping_add(i as u8) & 63)
        };
        out.push(char::from(*B64URL.get(d).unwrap_or(&b'A')));
    }
    out
}

/// A well-formed sealed value: `zk1.` + 53 base64url characters + `A` (40 bytes). The last
/// character carries 2 of the 6 bits only, so it must end in four zero bits (canonical
/// base64url): `A` always does, whereas a salt-derived one made every sealed value malformed and
/// every create refused, leaving the replayed directory empty.
fn sealed(n: u64, salt: u8) -> String {
    format!("zk1.{}A", b64_digits(n, 53, salt))
}

/// A well-formed blind index: `zkx1.` + 21 characters + `A` (16 bytes).
fn blind_index(n: u64, salt: u8) -> String {
    format!("zkx1.{}A", b64_digits(n, 21, salt))
}

fn uuid(kind: u16, n: u64) -> String {
    format!(
        "00000000-0000-4000-{kind:04x}-{:012x}",
        n & 0xffff_ffff_ffff
    )
}

struct Gen<W: Write> {
    w: ExportWriter<W>,
    log: NoteSigner,
    frontier: Frontier,
    prev_hash: Hash,
    seq: u64,
    target: u64,
    state: MemoryState,
    registry: SchemaRegistry,
    cache: HashSet<CertId>,
    root: SigningKey,
    admin: SigningKey,
    connector: SigningKey,
    admin_chain: Vec<Certificate>,
    connector_chain: Vec<Certificate>,
    nonce: u64,
}

fn wrap(e: impl std::fmt::Display) -> BuildError {
    BuildError::new("testkit.consistent", e)
}

impl<W: Write> Gen<W> {
    fn now(&self) -> u64 {
        T0.saturating_add(self.seq / ENTRIES_PER_SECOND)
    }

    fn header(&mut self, chain: Vec<Certificate>) -> Header {
        self.nonce = self.nonce.saturating_add(1);
        let mut nonce = vec![0x6e; 16];
        if let Some(tail) = nonce.get_mut(8..16) {
            tail.copy_from_slice(&self.nonce.to_be_bytes());
        }
        Header {
            tenant: CONSISTENT_TENANT.to_owned(),
            nonce,
            issued_at: self.now(),
            chain,
        }
    }

    fn append(
        &mut self,
        kind: EntryKind,
        submitted: &[u8],
        outcome: Outcome,
        time: u64,
    ) -> Result<(), BuildError> {
        let entry = LogEntry {
            seq: self.seq,
            tenant: CONSISTENT_TENANT.to_owned(),
            time,
            kind,
            prev_hash: self.prev_hash,
            submitted_hash: submitted_hash_of(submitted),
            outcome,
        };
        let bytes = entry.to_bytes();
        self.frontier
            .append_with(leaf_hash_of(&bytes), |_| {})
            .map_err(wrap)?;
        self.prev_hash = entry_hash_of(&bytes);
        self.w
            .write_entry(self.seq, &bytes, submitted)
            .map_err(wrap)?;
        self.seq = self.seq.saturating_add(1);
        if self.seq.is_multiple_of(CHECKPOINT_EVERY) || self.seq == self.target {
            let cp = zkscim_proto::checkpoint::Checkpoint::new(
                CONSISTENT_ORIGIN,
                self.frontier.size(),
                self.frontier.root(),
            )
            .map_err(wrap)?;
            let note = self.log.sign(&cp.to_text()).map_err(wrap)?;
            self.w.write_checkpoint(&note, &[]).map_err(wrap)?;
        }
        Ok(())
    }

    /// Verifies, decides, folds and logs one statement; certificates first seen go first.
    fn submit(&mut self, bytes: &[u8]) -> Result<bool, BuildError> {
        let now = self.now();
        let statement = envelope::parse_any(bytes).map_err(wrap)?;
        let tenant = self.state.tenant.clone();
        let verification = verify(
            &statement,
            tenant.as_ref(),
            CONSISTENT_TENANT,
            now,
            Settings::default(),
            &mut self.cache,
        );
        if let Verification::Forged(e) = &verification {
            return Err(wrap(format!("generated statement is not authentic: {e}")));
        }
        let decision = decide(
            &verification,
            tenant.as_ref(),
            &self.registry,
            &mut self.state,
            now,
        )
        .map_err(wrap)?
        .ok_or_else(|| wrap("no decision"))?;
        self.state.apply(CONSISTENT_TENANT, &decision);
        for cert in &decision.new_certificates {
            self.append(
                EntryKind::Certificate,
                cert.bytes(),
                Outcome::Applied { version: None },
                now,
            )?;
        }
        let (outcome, applied) = match &decision.verdict {
            Verdict::Applied { version, .. } => (
                Outcome::Applied {
                    version: version.clone(),
                },
                true,
            ),
            Verdict::Refused(r) => (
                Outcome::Refused {
                    code: r.code.clone(),
                    detail: r.detail.clone(),
                },
                false,
            ),
        };
        self.append(decision.kind, bytes, outcome, now)?;
        Ok(applied)
    }

    fn op(
        &mut self,
        by_admin: bool,
        rtype: &str,
        id: String,
        change: Change,
        indexes: BTreeMap<String, Option<String>>,
    ) -> Vec<u8> {
        let chain = if by_admin {
            self.admin_chain.clone()
        } else {
            self.connector_chain.clone()
        };
        let header = self.header(chain);
        let body = OperationBody {
            resource_type: rtype.to_owned(),
            resource_id: id,
            if_match: None,
            change,
            indexes,
        };
        let key = if by_admin {
            &self.admin
        } else {
            &self.connector
        };
        Envelope::new(header, body).sign(key)
    }
}

fn claims(subject: &SigningKey, depth: u8, scope: Scope, label: &str, salt: u8) -> Claims {
    Claims {
        issuer: KeyId([0; 32]),
        subject: subject.public_key(),
        tenant: CONSISTENT_TENANT.to_owned(),
        not_before: T0.saturating_sub(10),
        expires: T0.saturating_add(10 * 365 * 86_400),
        issued_at: T0,
        nonce: [salt; 16],
        parent: None,
        depth,
        label: label.to_owned(),
        scope,
    }
}

/// Streams an `entries`-entry export of tenant [`CONSISTENT_TENANT`] whose every outcome the
/// rules re-derive (see the module docs), with a checkpoint every 1,000 entries and one at the
/// end, to `out`. Memory grows only with the directory the rules keep. The trust anchors are
/// [`super::LogBuilder::new`]`(CONSISTENT_TENANT, CONSISTENT_ORIGIN)`'s.
pub fn generate_consistent_export<W: Write>(out: W, entries: u64) -> Result<W, BuildError> {
    let root = SigningKey::from_seed(&TEST_ROOT_SEED);
    let admin = SigningKey::from_seed(&[0xad; 32]);
    let connector = SigningKey::from_seed(&[0xc0; 32]);
    let admin_scope = ScopeBuilder::new()
        .operations(["create", "replace", "patch", "delete"])
        .resource_types(["*"])
        .attributes(["*"])
        .capabilities(["delegate", "revoke", "reactivate", "policy"])
        .build()
        .map_err(wrap)?;
    let lifecycle = ScopeBuilder::new()
        .operations(["create", "patch"])
        .resource_types(["User"])
        .attributes(["active", "userName", "name", "emails", "displayName"])
        .build()
        .map_err(wrap)?;
    let admin_cert = Certificate::issue(&root, None, claims(&admin, 1, admin_scope, "admin", 1))
        .map_err(wrap)?;
    let connector_cert = Certificate::issue(
        &admin,
        Some(&admin_cert),
        claims(&connector, 0, lifecycle, "okta-prod-connector", 2),
    )
    .map_err(wrap)?;
    let log = NoteSigner::from_seed(CONSISTENT_ORIGIN, &TEST_LOG_SEED).map_err(wrap)?;
    let header = zkscim_proto::export::Header {
        tenant: CONSISTENT_TENANT.to_owned(),
        origin: CONSISTENT_ORIGIN.to_owned(),
        log_key: log.verifier_key().map_err(wrap)?.to_string(),
        root_key: root.public_key().to_text(),
        first_seq: 0,
        count: entries,
    };
    let w = ExportWriter::new(out, &header).map_err(wrap)?;
    let mut g = Gen {
        w,
        log,
        frontier: Frontier::new(),
        prev_hash: ZERO_HASH,
        seq: 0,
        target: entries,
        state: MemoryState::new(),
        registry: SchemaRegistry::with_builtins(),
        cache: HashSet::new(),
        root,
        admin,
        connector,
        admin_chain: vec![admin_cert.clone()],
        connector_chain: vec![admin_cert, connector_cert],
        nonce: 0,
    };
    if entries > 0 {
        let header = g.header(Vec::new());
        let genesis = Envelope::new(
            header,
            Genesis {
                root: g.root.public_key(),
            },
        )
        .sign(&g.root);
        g.submit(&genesis)?;
    }
    let mut users = 0u64;
    let mut groups = 0u64;
    let mut step = 0u64;
    // Leave room for up to two first-seen certificates before the last statement.
    while g.seq.saturating_add(3) <= entries {
        step = step.saturating_add(1);
        let bytes = match step % 10 {
            // Patch the sealed given name of an earlier user.
            3 | 7 if users > 0 => {
                let n = step.wrapping_mul(7919) % users;
                let patch =
                    json!([{"op": "replace", "path": "name.givenName", "value": sealed(step, 9)}]);
                g.op(
                    false,
                    "User",
                    uuid(0x8000, n),
                    Change::patch(&patch).map_err(wrap)?,
                    BTreeMap::new(),
                )
            }
            // Deactivate an earlier user.
            5 if users > 0 => {
                let n = step.wrapping_mul(104_729) % users;
                let patch = json!([{"op": "replace", "path": "active", "value": false}]);
                g.op(
                    false,
                    "User",
                    uuid(0x8000, n),
                    Change::patch(&patch).map_err(wrap)?,
                    BTreeMap::new(),
                )
            }
            // A group every 200 steps, then memberships into the newest group.
            9 if users > 0 => {
                if step % 200 == 9 || groups == 0 {
                    let group: Json = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": sealed(groups, 3),
                    });
                    let idx =
                        BTreeMap::from([("displayname".to_owned(), Some(blind_index(groups, 4)))]);
                    groups = groups.saturating_add(1);
                    g.op(
                        true,
                        "Group",
                        uuid(0x9000, groups.saturating_sub(1)),
                        Change::create(&group).map_err(wrap)?,
                        idx,
                    )
                } else {
                    let member = step.wrapping_mul(31) % users;
                    let add = json!([{"op": "add", "path": "members", "value": [{"value": uuid(0x8000, member)}]}]);
                    g.op(
                        true,
                        "Group",
                        uuid(0x9000, groups.saturating_sub(1)),
                        Change::patch(&add).map_err(wrap)?,
                        BTreeMap::new(),
                    )
                }
            }
            // Create a user; one in 97 reuses an earlier blind index and is refused.
            _ => {
                let dup = users > 0 && step.is_multiple_of(97);
                let token = if dup {
                    blind_index(users.saturating_sub(1), 5)
                } else {
                    blind_index(users, 5)
                };
                let user = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": sealed(users, 1),
                    "active": true,
                    "name": {"givenName": sealed(users, 2), "familyName": sealed(users, 7)},
                });
                let id = if dup {
                    users.saturating_add(1 << 40)
                } else {
                    users
                };
                let bytes = g.op(
                    false,
                    "User",
                    uuid(0x8000, id),
                    Change::create(&user).map_err(wrap)?,
                    BTreeMap::from([("username".to_owned(), Some(token))]),
                );
                if !dup {
                    users = users.saturating_add(1);
                }
                bytes
            }
        };
        g.submit(&bytes)?;
    }
    // Fill up to exactly `entries` with root-signed creates (no certificates needed).
    while g.seq < entries {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": sealed(users, 1),
            "active": true,
        });
        let header = g.header(Vec::new());
        let body = OperationBody {
            resource_type: "User".to_owned(),
            resource_id: uuid(0x8000, users),
            if_match: None,
            change: Change::create(&user).map_err(wrap)?,
            indexes: BTreeMap::from([("username".to_owned(), Some(blind_index(users, 5)))]),
        };
        users = users.saturating_add(1);
        let bytes = Envelope::new(header, body).sign(&g.root);
        g.submit(&bytes)?;
    }
    g.w.finish().map_err(wrap)
}
