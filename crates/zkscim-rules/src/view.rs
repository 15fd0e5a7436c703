//! What the rules read of a tenant's state. The authority answers from SQLite inside its write
//! transaction; the auditor answers from the state it rebuilt by replaying the log.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use zkscim_proto::cert::CertId;

/// The state could not be read (a storage failure, not a verdict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant state unavailable: {0}")]
pub struct StateError(pub String);

/// A resource as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// Version counter.
    pub version: u64,
    /// JSON with `id` and `meta`, without group members.
    pub body: Json,
    /// Equality-search values: attribute path → token or normalised clear value.
    pub indexes: BTreeMap<String, String>,
}

/// Read access to one tenant's state.
pub trait StateView {
    /// Whether a logged statement already used `nonce`.
    fn nonce_used(&mut self, nonce: &[u8]) -> Result<bool, StateError>;
    /// Whether the certificate is revoked.
    fn is_revoked(&mut self, id: &CertId) -> Result<bool, StateError>;
    /// Whether the certificate has a first-seen entry.
    fn certificate_seen(&mut self, id: &CertId) -> Result<bool, StateError>;
    /// A seen certificate's bytes.
    fn certificate(&mut self, id: &CertId) -> Result<Option<Vec<u8>>, StateError>;
    /// A resource.
    fn resource(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StateError>;
    /// Whether any resource (identity or group) has this id.
    fn identity_exists(&mut self, id: &str) -> Result<bool, StateError>;
    /// Whether `member` is in `group`.
    fn has_member(&mut self, group: &str, member: &str) -> Result<bool, StateError>;
    /// All members of `group`, sorted.
    fn members(&mut self, group: &str) -> Result<Vec<String>, StateError>;
    /// The approval statements (their exact bytes, in log order) recorded for the statement
    /// whose SHA-256 is `approves`.
    fn approvals(&mut self, approves: &[u8; 32]) -> Result<Vec<Vec<u8>>, StateError>;
    /// Ids of resources of `resource_type` holding `value` at `attribute`.
    fn index_owners(
        &mut self,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<String>, StateError>;
}
