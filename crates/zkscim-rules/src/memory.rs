//! A tenant's state held in memory and folded from decisions: what the auditor rebuilds by
//! replaying a log, and what tests use. The authority keeps the same state in SQLite.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use zkscim_proto::cert::{CertId, Certificate};

use crate::view::{StateError, StateView, StoredResource};
use crate::{Decision, Effect, TenantInfo, Verdict};

/// One tenant's directory and log-derived state.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The tenant, once its genesis is applied.
    pub tenant: Option<TenantInfo>,
    nonces: HashSet<Vec<u8>>,
    revoked: HashSet<CertId>,
    certificates: HashMap<CertId, Vec<u8>>,
    resources: BTreeMap<(String, String), StoredResource>,
    members: BTreeMap<String, BTreeSet<String>>,
    index: BTreeMap<(String, String, String), BTreeSet<String>>,
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
            self.nonces.insert(decision.nonce.clone());
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
                self.tenant = Some(TenantInfo {
                    tenant: tenant_id.to_owned(),
                    root: *root,
                    profile: zkscim_proto::seal::ProtectionProfile::default_profile(),
                });
            }
            Effect::PutResource {
                resource_type,
                id,
                version,
                body,
                indexes,
            } => {
                self.drop_index(resource_type, id);
                for (attribute, value) in indexes {
                    self.index
                        .entry((resource_type.clone(), attribute.clone(), value.clone()))
                        .or_default()
                        .insert(id.clone());
                }
                self.resources.insert(
                    (resource_type.clone(), id.clone()),
                    StoredResource {
                        version: *version,
                        body: body.clone(),
                        indexes: indexes.clone(),
                    },
                );
            }
            Effect::DeleteResource { resource_type, id } => {
                self.drop_index(resource_type, id);
                self.resources.remove(&(resource_type.clone(), id.clone()));
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
            Effect::SetProfile(profile) => {
                if let Some(t) = &mut self.tenant {
                    t.profile = profile.clone();
                }
            }
        }
    }

    fn drop_index(&mut self, resource_type: &str, id: &str) {
        let key = (resource_type.to_owned(), id.to_owned());
        if let Some(old) = self.resources.get(&key) {
            for (attribute, value) in &old.indexes {
                let k = (resource_type.to_owned(), attribute.clone(), value.clone());
                if let Some(owners) = self.index.get_mut(&k) {
                    owners.remove(id);
                    if owners.is_empty() {
                        self.index.remove(&k);
                    }
                }
            }
        }
    }

    /// Every resource, ordered by (type, id).
    pub fn resources(&self) -> impl Iterator<Item = (&(String, String), &StoredResource)> {
        self.resources.iter()
    }

    /// Members of a group.
    pub fn group_members(&self, group: &str) -> Vec<String> {
        self.members
            .get(group)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The directory digest (see [`crate::digest`]).
    pub fn digest(&self) -> [u8; 32] {
        let mut d = crate::DirectoryDigest::new();
        for ((rtype, id), resource) in &self.resources {
            d.resource(rtype, id, resource.version, &resource.body);
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
        Ok(self
            .resources
            .get(&(resource_type.to_owned(), id.to_owned()))
            .cloned())
    }
    fn identity_exists(&mut self, id: &str) -> Result<bool, StateError> {
        Ok(self.resources.keys().any(|(_, rid)| rid == id))
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
            .get(&(
                resource_type.to_owned(),
                attribute.to_owned(),
                value.to_owned(),
            ))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }
}
