//! A tenant's state held in memory and folded from decisions: what the auditor rebuilds by
//! replaying a log, and what tests use. The authority keeps the same state in SQLite.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use zkscim_proto::cert::{CertId, Certificate};
use zkscim_proto::envelope::{MAX_NONCE_LEN, MIN_NONCE_LEN};

use crate::exact_set::{ExactSet, Keyed};
use crate::view::{StateError, StateView, StoredResource};
use crate::{Decision, Effect, TenantInfo, Verdict};

/// A resource as kept here: its body as the JSON text the server stores
/// ([`crate::stored_body_text`]), parsed again only when a statement reads it. A
/// `serde_json::Value` costs ~3–5 KB per SCIM user (a B-tree node per object, an allocation per
/// string); the text is its length. Reading through text is also what the server does (SQLite
/// `TEXT`, parsed on read), so the replay sees exactly the values the server's rules saw.
#[derive(Debug, Clone)]
struct Compact {
    version: u64,
    body: Box<str>,
    indexes: Box<[(Box<str>, Box<str>)]>,
    /// Whether the body holds a floating-point number: the only JSON value whose text may not
    /// survive `parse → to_string` (serde_json's float parsing is not exact), so the digest
    /// must round-trip such bodies as the server does; any other body's text is already what
    /// the round trip gives.
    has_float: bool,
}

/// Whether `value` holds a floating-point number anywhere.
fn has_float(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(items) => items.iter().any(has_float),
        serde_json::Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// Ids holding one index value: nearly always one (blind indexes of unique attributes), so
/// that case costs no set.
#[derive(Debug, Clone)]
enum Owners {
    One(Box<str>),
    Many(BTreeSet<Box<str>>),
}

impl Owners {
    fn insert(&mut self, id: &str) {
        match self {
            Owners::One(existing) if &**existing == id => {}
            Owners::One(existing) => {
                let first = std::mem::take(existing);
                *self = Owners::Many(BTreeSet::from([first, id.into()]));
            }
            Owners::Many(set) => {
                set.insert(id.into());
            }
        }
    }

    /// Removes `id`; returns whether no owner is left.
    fn remove(&mut self, id: &str) -> bool {
        match self {
            Owners::One(existing) => &**existing == id,
            Owners::Many(set) => {
                set.remove(id);
                set.is_empty()
            }
        }
    }

    fn to_vec(&self) -> Vec<String> {
        match self {
            Owners::One(id) => vec![String::from(&**id)],
            Owners::Many(set) => set.iter().map(|id| String::from(&**id)).collect(),
        }
    }
}

/// Used nonces, exactly. Nonces are 16 to 32 bytes (`envelope.md`); 16-byte ones (what every
/// client draws) are kept as they are, longer ones with their length in front, so no two
/// nonces share a key. Any other length (the envelope refuses them) is still kept, as is.
#[derive(Debug, Clone, Default)]
struct NonceSet {
    short: ExactSet<16>,
    long: ExactSet<{ 1 + MAX_NONCE_LEN }>,
    other: HashSet<Box<[u8]>>,
}

impl NonceSet {
    fn key(nonce: &[u8]) -> Result<[u8; 16], Option<[u8; 1 + MAX_NONCE_LEN]>> {
        if let Ok(short) = <[u8; 16]>::try_from(nonce) {
            return Ok(short);
        }
        let mut long = [0u8; 1 + MAX_NONCE_LEN];
        match (u8::try_from(nonce.len()), long.get_mut(1..=nonce.len())) {
            (Ok(len), Some(tail)) if nonce.len() >= MIN_NONCE_LEN => {
                tail.copy_from_slice(nonce);
                long[0] = len;
                Err(Some(long))
            }
            _ => Err(None),
        }
    }

    fn contains(&self, nonce: &[u8]) -> bool {
        match NonceSet::key(nonce) {
            Ok(short) => self.short.contains(&short),
            Err(Some(long)) => self.long.contains(&long),
            Err(None) => self.other.contains(nonce),
        }
    }

    fn insert(&mut self, nonce: &[u8]) {
        match NonceSet::key(nonce) {
            Ok(short) => {
                self.short.insert(short);
            }
            Err(Some(long)) => {
                self.long.insert(long);
            }
            Err(None) => {
                self.other.insert(nonce.into());
            }
        }
    }
}

/// One indexed attribute's values and their owners.
type IndexValues = HashMap<Box<str>, Owners, Keyed>;

/// The resources of one type in id order (what the digest is defined over).
fn sorted_by_id(by_id: &HashMap<Box<str>, Compact, Keyed>) -> Vec<(&str, &Compact)> {
    let mut sorted: Vec<(&str, &Compact)> = by_id.iter().map(|(id, r)| (&**id, r)).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    sorted
}

/// One tenant's directory and log-derived state.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The tenant, once its genesis is applied.
    pub tenant: Option<TenantInfo>,
    nonces: NonceSet,
    /// Certificate ids are SHA-256 outputs and compared in full; the keyed hash only spreads
    /// them (SipHash on the ids was ~2% of the replay: every statement checks its chain).
    revoked: HashSet<CertId, Keyed>,
    certificates: HashMap<CertId, Vec<u8>, Keyed>,
    /// Type → id → resource. Ids are hashed, not ordered: nearly every statement looks one up
    /// and a B-tree of half a million ids cost ~10% of the replay in string comparisons; the
    /// digest and [`MemoryState::resources`] sort the ids when they need (type, id) order. A
    /// lookup borrows the caller's strings instead of building a key. The hash is the exact
    /// set's keyed multiply-rotate (SipHash cost ~2.5% of the replay at 10^6 entries): keys
    /// are compared in full, so ids chosen to collide cost time, never a wrong answer.
    resources: BTreeMap<String, HashMap<Box<str>, Compact, Keyed>>,
    members: BTreeMap<String, BTreeSet<String>>,
    /// Type → attribute → value → owners (hashed, for the same reason; never iterated).
    index: BTreeMap<String, BTreeMap<String, IndexValues>>,
    /// Approved statement hash → the approvals' bytes, in log order.
    approvals: HashMap<[u8; 32], Vec<Vec<u8>>, Keyed>,
}

impl MemoryState {
    /// An empty state (no tenant yet).
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    /// Records a certificate's first-seen entry.
    pub fn see_certificate(&mut self, certificate: &Certificate) {
        self.certificates
            .entry(certificate.id())
            .or_insert_with(|| certificate.bytes().to_vec());
    }

    /// Folds a decision in: first-seen certificates, the nonce, and the effects if applied.
    pub fn apply(&mut self, tenant_id: &str, decision: &Decision) {
        for certificate in &decision.new_certificates {
            self.see_certificate(certificate);
        }
        if !decision.nonce.is_empty() {
            self.nonces.insert(&decision.nonce);
        }
        if let Verdict::Applied { effects, .. } = &decision.verdict {
            for effect in effects {
                self.apply_effect(tenant_id, effect);
            }
        }
    }

    fn apply_effect(&mut self, tenant_id: &str, effect: &Effect) {
        match effect {
            Effect::Genesis { root } => {
                self.tenant = Some(TenantInfo::new(tenant_id, *root));
            }
            Effect::PutResource {
                resource_type,
                id,
                version,
                body,
                indexes,
            } => {
                self.drop_index(resource_type, id);
                if !indexes.is_empty() {
                    let by_attribute = self.index.entry(resource_type.clone()).or_default();
                    for (attribute, value) in indexes {
                        let values = match by_attribute.get_mut(attribute.as_str()) {
                            Some(values) => values,
                            None => by_attribute.entry(attribute.clone()).or_default(),
                        };
                        match values.get_mut(value.as_str()) {
                            Some(owners) => owners.insert(id),
                            None => {
                                values
                                    .insert(value.as_str().into(), Owners::One(id.as_str().into()));
                            }
                        }
                    }
                }
                let compact = Compact {
                    version: *version,
                    has_float: has_float(body),
                    body: crate::stored_body_text(body).into_boxed_str(),
                    indexes: indexes
                        .iter()
                        .map(|(a, v)| (a.as_str().into(), v.as_str().into()))
                        .collect(),
                };
                let by_id = match self.resources.get_mut(resource_type.as_str()) {
                    Some(by_id) => by_id,
                    None => self.resources.entry(resource_type.clone()).or_default(),
                };
                match by_id.get_mut(id.as_str()) {
                    Some(slot) => *slot = compact,
                    None => {
                        by_id.insert(id.as_str().into(), compact);
                    }
                }
            }
            Effect::RecordApproval {
                approves,
                statement,
            } => {
                self.approvals
                    .entry(*approves)
                    .or_default()
                    .push(statement.clone());
            }
            Effect::DeleteResource { resource_type, id } => {
                self.drop_index(resource_type, id);
                if let Some(by_id) = self.resources.get_mut(resource_type.as_str()) {
                    by_id.remove(id.as_str());
                    if by_id.is_empty() {
                        self.resources.remove(resource_type.as_str());
                    }
                }
                self.members.remove(id);
                for group in self.members.values_mut() {
                    group.remove(id);
                }
            }
            Effect::Members {
                group,
                remove_all,
                removed,
                added,
            } => {
                let set = self.members.entry(group.clone()).or_default();
                if *remove_all {
                    set.clear();
                }
                for m in removed {
                    set.remove(m);
                }
                set.extend(added.iter().cloned());
            }
            Effect::Revoke(id) => {
                self.revoked.insert(*id);
            }
            Effect::SetPolicy(policy) => {
                if let Some(t) = &mut self.tenant {
                    t.policy = policy.clone();
                }
            }
        }
    }

    fn drop_index(&mut self, resource_type: &str, id: &str) {
        let Some(old) = self
            .resources
            .get(resource_type)
            .and_then(|by_id| by_id.get(id))
        else {
            return;
        };
        let Some(by_attribute) = self.index.get_mut(resource_type) else {
            return;
        };
        for (attribute, value) in old.indexes.iter() {
            let Some(values) = by_attribute.get_mut(&**attribute) else {
                continue;
            };
            if values
                .get_mut(&**value)
                .is_some_and(|owners| owners.remove(id))
            {
                values.remove(&**value);
            }
        }
    }

    fn stored(resource: &Compact) -> Result<StoredResource, StateError> {
        Ok(StoredResource {
            version: resource.version,
            body: serde_json::from_str(&resource.body)
                .map_err(|e| StateError(format!("stored resource body: {e}")))?,
            indexes: resource
                .indexes
                .iter()
                .map(|(a, v)| (String::from(&**a), String::from(&**v)))
                .collect(),
        })
    }

    /// Every resource as (type, id, resource), ordered by (type, id). Bodies are parsed on the
    /// way: this is for tests and reports, not for the replay's inner loop.
    pub fn resources(
        &self,
    ) -> impl Iterator<Item = (&str, &str, Result<StoredResource, StateError>)> {
        self.resources.iter().flat_map(|(rtype, by_id)| {
            sorted_by_id(by_id)
                .into_iter()
                .map(move |(id, r)| (rtype.as_str(), id, MemoryState::stored(r)))
        })
    }

    /// Members of a group.
    pub fn group_members(&self, group: &str) -> Vec<String> {
        self.members
            .get(group)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The directory digest (see [`crate::digest`]). Each body goes through
    /// `parse → to_string`, as on the server (which parses its stored text, then digests), so
    /// the two agree byte for byte even where a JSON value would not survive a round trip.
    /// Only a body with a float can change in the round trip: serde_json's own text of strings,
    /// integers, booleans, null, arrays and objects (keys in map order, no duplicates) parses
    /// back to the same value and prints the same text, so such a body is digested as stored.
    pub fn digest(&self) -> [u8; 32] {
        let mut d = crate::DirectoryDigest::new();
        for (rtype, by_id) in &self.resources {
            for (id, resource) in sorted_by_id(by_id) {
                if !resource.has_float {
                    d.resource_text(rtype, id, resource.version, &resource.body);
                    continue;
                }
                match serde_json::from_str::<serde_json::Value>(&resource.body) {
                    Ok(body) => d.resource(rtype, id, resource.version, &body),
                    // Never happens (the text is serde_json's own output); digest the text
                    // itself rather than skip the resource, so a difference still shows.
                    Err(_) => d.resource_text(rtype, id, resource.version, &resource.body),
                }
            }
        }
        for (group, members) in &self.members {
            for member in members {
                d.member(group, member);
            }
        }
        d.finish()
    }
}

impl StateView for MemoryState {
    fn nonce_used(&mut self, nonce: &[u8]) -> Result<bool, StateError> {
        Ok(self.nonces.contains(nonce))
    }
    fn approvals(&mut self, approves: &[u8; 32]) -> Result<Vec<Vec<u8>>, StateError> {
        Ok(self.approvals.get(approves).cloned().unwrap_or_default())
    }
    fn is_revoked(&mut self, id: &CertId) -> Result<bool, StateError> {
        Ok(self.revoked.contains(id))
    }
    fn certificate_seen(&mut self, id: &CertId) -> Result<bool, StateError> {
        Ok(self.certificates.contains_key(id))
    }
    fn certificate(&mut self, id: &CertId) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.certificates.get(id).cloned())
    }
    fn resource(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StateError> {
        self.resources
            .get(resource_type)
            .and_then(|by_id| by_id.get(id))
            .map(MemoryState::stored)
            .transpose()
    }
    fn identity_exists(&mut self, id: &str) -> Result<bool, StateError> {
        // A lookup per resource type (a handful), not a scan of the directory.
        Ok(self.resources.values().any(|by_id| by_id.contains_key(id)))
    }
    fn has_member(&mut self, group: &str, member: &str) -> Result<bool, StateError> {
        Ok(self.members.get(group).is_some_and(|s| s.contains(member)))
    }
    fn members(&mut self, group: &str) -> Result<Vec<String>, StateError> {
        Ok(self.group_members(group))
    }
    fn index_owners(
        &mut self,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<String>, StateError> {
        Ok(self
            .index
            .get(resource_type)
            .and_then(|by_attribute| by_attribute.get(attribute))
            .and_then(|values| values.get(value))
            .map(Owners::to_vec)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkscim_proto::log_entry::EntryKind;

    fn put(state: &mut MemoryState, rtype: &str, id: &str, version: u64, body: serde_json::Value) {
        state.apply(
            "acme",
            &Decision {
                kind: EntryKind::Operation,
                new_certificates: Vec::new(),
                nonce: Vec::new(),
                verdict: Verdict::Applied {
                    version: None,
                    effects: vec![Effect::PutResource {
                        resource_type: rtype.to_owned(),
                        id: id.to_owned(),
                        version,
                        body,
                        indexes: BTreeMap::new(),
                    }],
                },
            },
        );
    }

    /// The digest as defined: every stored body parsed and printed again.
    fn reference_digest(state: &MemoryState) -> [u8; 32] {
        let mut d = crate::DirectoryDigest::new();
        for (rtype, id, resource) in state.resources() {
            let Ok(resource) = resource else {
                panic!("stored body does not parse");
            };
            d.resource(rtype, id, resource.version, &resource.body);
        }
        for (group, members) in &state.members {
            for member in members {
                d.member(group, member);
            }
        }
        d.finish()
    }

    #[test]
    fn digest_of_stored_text_equals_the_round_trip() {
        let mut state = MemoryState::new();
        let bodies = [
            serde_json::json!({"id": "a", "userName": "zk1.x", "active": true, "n": null}),
            serde_json::json!({"b": "quote \" backslash \\ tab \t nl \n ctl \u{1} del \u{7f}"}),
            serde_json::json!({"u": "Zoë 日本 🦀 \u{2028}", "z": [1, -2, 18446744073709551615u64]}),
            serde_json::json!({"neg": i64::MIN, "nested": {"k": [{"v": "x"}, [], {}]}}),
            serde_json::json!({"f": 0.1, "g": -0.0, "h": 1e300, "i": 5e-324, "j": 123456.789}),
            serde_json::json!({"subnormal_edge": 2.225_073_858_507_201e-308}),
            // serde_json parses this text one unit in the last place off: the round trip
            // prints 1.0715660391465825e-75, and so must the digest.
            serde_json::json!({"inexact": 1.0715660391465826e-75}),
            serde_json::json!([]),
        ];
        for (i, body) in bodies.iter().enumerate() {
            let id = format!("{i:02}");
            put(&mut state, "User", &id, i as u64 + 1, body.clone());
        }
        put(
            &mut state,
            "Group",
            "g",
            7,
            serde_json::json!({"displayName": "ops"}),
        );
        assert_eq!(state.digest(), reference_digest(&state));
    }

    #[test]
    fn resources_come_in_type_then_id_order() {
        let mut state = MemoryState::new();
        let mut expected = Vec::new();
        for rtype in ["User", "Group", "Device"] {
            for n in 0..300u64 {
                let id = format!("{:08x}", n.wrapping_mul(0x9e37_79b9) % 1_000_003);
                put(&mut state, rtype, &id, 1, serde_json::json!({"n": n}));
                expected.push((rtype.to_owned(), id));
            }
        }
        expected.sort();
        expected.dedup();
        let found: Vec<(String, String)> = state
            .resources()
            .map(|(rtype, id, _)| (rtype.to_owned(), id.to_owned()))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn stored_text_is_the_display_text() {
        let body = serde_json::json!({
            "a": "quote \" \u{1} 日本", "b": [1, -2, 1.5, null, true], "c": {"d": {}},
            "e": "\\ \u{8}\u{9}\n\u{c}\r\u{1f}\u{7f} / é", "\"k\\\n": -0.0,
            "f": [1e300, -1.5e-7, u64::MAX, i64::MIN]
        });
        assert_eq!(crate::stored_body_text(&body), body.to_string());
        assert_eq!(
            crate::stored_body_text(&body),
            serde_json::to_string(&body).unwrap()
        );
    }

    #[test]
    fn stored_text_is_as_the_spec_spells_it() {
        // spec/rules.md §6: sorted keys, the escapes, DEL and non-ASCII raw, ryu's numbers.
        let body = serde_json::json!({
            "b": [1.5, 100.0, 1e300, 5e-324, -0.0, 7, -7],
            "a\u{7f}/é": "\u{1}\u{8}\t\n\u{c}\r\"\\",
        });
        assert_eq!(
            crate::stored_body_text(&body),
            "{\"a\u{7f}/é\":\"\\u0001\\b\\t\\n\\f\\r\\\"\\\\\",\"b\":[1.5,100.0,1e+300,5e-324,-0.0,7,-7]}"
        );
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        // Strings drawn to hit every escape: controls, quotes, backslashes, DEL, non-ASCII.
        let text = proptest::collection::vec(
            prop_oneof![
                (0u32..0x80).prop_map(|c| char::from_u32(c).unwrap_or('x')),
                Just('"'),
                Just('\\'),
                Just('é'),
                Just('日'),
                Just('\u{1F600}'),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>());
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            text.clone().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..6).prop_map(|members| {
                    serde_json::Value::Object(members.into_iter().collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn stored_text_is_serde_jsons_text_for_any_value(value in arbitrary_json()) {
            proptest::prop_assert_eq!(crate::stored_body_text(&value), value.to_string());
        }
    }

    #[test]
    fn floats_are_found_at_any_depth() {
        assert!(!has_float(&serde_json::json!({"a": [1, -1, {"b": "1.5"}]})));
        assert!(has_float(&serde_json::json!({"a": [1, {"b": [1.5]}]})));
        assert!(has_float(&serde_json::json!(-0.0)));
    }
}
