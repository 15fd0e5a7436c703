//! Tenant policy: the document a policy statement carries (spec/policy.md, DESIGN §4).
//!
//! This module owns the policy document's encoding (the protection profile of `seal` plus the
//! tenant's certificate lifetime caps, non-human-identity requirements and privileged groups)
//! and the check of a certificate chain against the caps. It must never consult a clock or any
//! state: a certificate's lifetime is `exp − nbf` of its signed claims, so that verdict depends
//! on the signed bytes and the policy alone, and an auditor replaying the log reaches the same
//! one. The checks that need SCIM, the decision time or the log's state (NHI requirements,
//! approvals) live with the rules; this module holds their data.

use crate::cert::{Certificate, MAX_CHAIN_LEN};
use crate::codec::{self, CodecError, Limits, ShapeError, Value};
use crate::seal::{ProfileError, ProtectionProfile};

/// CBOR key of the lifetime caps in a policy document (keys 1 and 2 are the profile's).
const POLICY_KEY_LIFETIME_CAPS: i64 = 3;

/// CBOR key of the non-human-identity requirements in a policy document.
const POLICY_KEY_NHI: i64 = 4;
/// Keys inside the NHI requirements map.
const NHI_KEY_TYPES: i64 = 1;
const NHI_KEY_MAX_EXPIRY: i64 = 2;
/// CBOR key of the privileged groups in a policy document.
const POLICY_KEY_PRIVILEGED_GROUPS: i64 = 5;
/// How many approvers a privileged group may require at most.
pub const MAX_APPROVERS: u64 = 16;
/// How many privileged groups a policy may list.
const MAX_PRIVILEGED_GROUPS: usize = 1024;
/// The longest group id a policy may name.
const MAX_GROUP_ID_LEN: usize = 128;
/// The longest resource type name the NHI requirements may list.
const MAX_RESOURCE_TYPE_LEN: usize = 64;
/// How many resource types the NHI requirements may list.
const MAX_NHI_TYPES: usize = 64;

/// The longest lifetime a cap may name: 100 years of seconds (a larger cap caps nothing).
pub const MAX_LIFETIME_CAP_SECS: u64 = 100 * 366 * 86_400;

/// Decoding limits: the profile's (map → array → map) plus nothing deeper.
const POLICY_LIMITS: Limits = Limits {
    max_bytes: 256 * 1024,
    max_depth: 4,
};

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The bytes are not deterministic CBOR within limits.
    #[error("policy document is not valid CBOR: {0}")]
    Codec(#[from] CodecError),
    /// The document is not a map with integer keys.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// The protection profile part (keys 1 and 2) is invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Lifetime caps (key 3) present but not a map of level → seconds.
    #[error("lifetime caps must be a map from chain level to seconds, found {found}")]
    CapsShape {
        /// What was found instead.
        found: String,
    },
    /// Lifetime caps present but empty (absent is how "no caps" is written, so the encoding of
    /// a policy stays unique).
    #[error("lifetime caps are empty: leave the field out to set no caps")]
    CapsEmpty,
    /// A level outside 1 to [`MAX_CHAIN_LEN`].
    #[error(
        "lifetime cap for chain level {level}: levels run from 1 (issued by the root) to {max}"
    )]
    CapLevel {
        /// The level found.
        level: u64,
        /// The deepest level a chain can have.
        max: usize,
    },
    /// A cap of 0 seconds or more than [`MAX_LIFETIME_CAP_SECS`].
    #[error("lifetime cap for chain level {level} is {seconds} s; it must be 1 to {max} s")]
    CapSeconds {
        /// The level.
        level: u64,
        /// The cap found.
        seconds: u64,
        /// The largest cap allowed.
        max: u64,
    },
    /// NHI requirements (key 4) not of the documented shape.
    #[error("non-human-identity requirements: {reason}")]
    NhiShape {
        /// What is wrong.
        reason: String,
    },
    /// A resource type name that is empty, too long or not made of letters, digits, `-`, `_`.
    #[error("non-human-identity requirements: {name:?} is not a resource type name (1 to 64 of A-Z, a-z, 0-9, '-', '_')")]
    NhiType {
        /// The name found.
        name: String,
    },
    /// Resource types not strictly ascending (a repeated type).
    #[error("non-human-identity requirements: resource type {name:?} repeats or is out of order")]
    NhiNotCanonical {
        /// The name out of place.
        name: String,
    },
    /// A maximum expiry of 0 s or more than [`MAX_LIFETIME_CAP_SECS`].
    #[error("non-human-identity requirements: maximum expiry {seconds} s must be 1 to {max} s")]
    NhiMaxExpiry {
        /// The value found.
        seconds: u64,
        /// The largest allowed.
        max: u64,
    },
    /// Privileged groups (key 5) not a map of group id to approver count, empty, or too many.
    #[error("privileged groups: {reason}")]
    GroupsShape {
        /// What is wrong.
        reason: String,
    },
    /// A group id that is empty, too long or holds control characters.
    #[error("privileged groups: {id:?} is not a group id (1 to 128 printable characters)")]
    GroupId {
        /// The id found (cut).
        id: String,
    },
    /// An approver count outside 2 to [`MAX_APPROVERS`] (1 would require nothing).
    #[error("privileged group {id:?} requires {count} approvers; it must be 2 to {max}")]
    ApproverCount {
        /// The group.
        id: String,
        /// The count found.
        count: u64,
        /// The largest allowed.
        max: u64,
    },
    /// Levels not strictly ascending (a repeated level).
    #[error("lifetime cap for chain level {level} repeats or is out of order")]
    CapsNotCanonical {
        /// The level out of place.
        level: u64,
    },
}

impl PolicyError {
    /// Stable machine-readable code (profile, codec and shape errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Codec(e) => e.code(),
            PolicyError::Shape(e) => e.code(),
            PolicyError::Profile(e) => e.code(),
            PolicyError::CapsShape { .. } => "policy.caps_shape",
            PolicyError::CapsEmpty => "policy.caps_empty",
            PolicyError::CapLevel { .. } => "policy.cap_level",
            PolicyError::CapSeconds { .. } => "policy.cap_seconds",
            PolicyError::CapsNotCanonical { .. } => "policy.caps_not_canonical",
            PolicyError::NhiShape { .. } => "policy.nhi_shape",
            PolicyError::NhiType { .. } => "policy.nhi_type",
            PolicyError::NhiNotCanonical { .. } => "policy.nhi_not_canonical",
            PolicyError::NhiMaxExpiry { .. } => "policy.nhi_max_expiry",
            PolicyError::GroupsShape { .. } => "policy.groups_shape",
            PolicyError::GroupId { .. } => "policy.group_id",
            PolicyError::ApproverCount { .. } => "policy.approver_count",
        }
    }

    /// Which part of the document is wrong: the framing or the profile (keys 1, 2), the lifetime
    /// caps (key 3), the non-human-identity requirements (key 4) or the privileged groups
    /// (key 5).
    pub fn part(&self) -> PolicyPart {
        match self {
            PolicyError::Codec(_) | PolicyError::Shape(_) | PolicyError::Profile(_) => {
                PolicyPart::Profile
            }
            PolicyError::CapsShape { .. }
            | PolicyError::CapsEmpty
            | PolicyError::CapLevel { .. }
            | PolicyError::CapSeconds { .. }
            | PolicyError::CapsNotCanonical { .. } => PolicyPart::LifetimeCaps,
            PolicyError::NhiShape { .. }
            | PolicyError::NhiType { .. }
            | PolicyError::NhiNotCanonical { .. }
            | PolicyError::NhiMaxExpiry { .. } => PolicyPart::Nhi,
            PolicyError::GroupsShape { .. }
            | PolicyError::GroupId { .. }
            | PolicyError::ApproverCount { .. } => PolicyPart::PrivilegedGroups,
        }
    }
}

/// A part of a policy document, as [`PolicyError::part`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyPart {
    /// The framing or the protection profile.
    Profile,
    /// The lifetime caps.
    LifetimeCaps,
    /// The non-human-identity requirements.
    Nhi,
    /// The privileged groups.
    PrivilegedGroups,
}

/// A certificate in a chain lives longer than the tenant's policy allows at its level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "certificate at chain level {level} ({label}, id {id}) is valid for {lifetime} s; the tenant \
     policy caps level {level} at {cap} s: issue a shorter-lived certificate"
)]
pub struct LifetimeExceeded {
    /// 1 = issued by the root.
    pub level: usize,
    /// The certificate's label.
    pub label: String,
    /// The certificate's short id.
    pub id: String,
    /// `exp − nbf` in seconds.
    pub lifetime: u64,
    /// The cap that applies at this level.
    pub cap: u64,
}

/// Certificate lifetime caps by chain level (DESIGN §4, "short-lived credentials").
///
/// Level 1 is a certificate issued by the tenant root, level 2 one issued under it, and so on.
/// The cap of a level is the one configured at the deepest level at or above it, so
/// `{2: 86400}` caps connectors and everything beneath them at 24 h and leaves level 1 free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifetimeCaps {
    /// `(level, seconds)`, strictly ascending by level.
    caps: Vec<(u8, u64)>,
}

impl LifetimeCaps {
    /// No caps.
    pub fn none() -> LifetimeCaps {
        LifetimeCaps::default()
    }

    /// Whether no cap is set.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty()
    }

    /// The caps, ascending by level.
    pub fn caps(&self) -> &[(u8, u64)] {
        &self.caps
    }

    /// Sets (or replaces) the cap of `level`.
    pub fn set(&mut self, level: u64, seconds: u64) -> Result<(), PolicyError> {
        let level_u8 = valid_level(level)?;
        valid_seconds(level, seconds)?;
        match self.caps.binary_search_by_key(&level_u8, |(l, _)| *l) {
            Ok(i) => {
                if let Some(slot) = self.caps.get_mut(i) {
                    slot.1 = seconds;
                }
            }
            Err(i) => self.caps.insert(i, (level_u8, seconds)),
        }
        Ok(())
    }

    /// The cap that applies to a certificate at `level` (1-based), if any.
    pub fn cap_for(&self, level: usize) -> Option<u64> {
        self.caps
            .iter()
            .rev()
            .find(|(l, _)| usize::from(*l) <= level)
            .map(|(_, seconds)| *seconds)
    }

    /// Checks every certificate of `chain` (root-issued first) against its level's cap.
    pub fn check(&self, chain: &[Certificate]) -> Result<(), LifetimeExceeded> {
        if self.caps.is_empty() {
            return Ok(());
        }
        for (position, cert) in chain.iter().enumerate() {
            let level = position + 1;
            let Some(cap) = self.cap_for(level) else {
                continue;
            };
            let claims = cert.claims();
            let lifetime = claims.expires.saturating_sub(claims.not_before);
            if lifetime > cap {
                return Err(LifetimeExceeded {
                    level,
                    label: claims.label.clone(),
                    id: cert.id().short(),
                    lifetime,
                    cap,
                });
            }
        }
        Ok(())
    }

    fn to_cbor(&self) -> Value {
        Value::Map(
            self.caps
                .iter()
                .map(|(level, seconds)| {
                    (
                        Value::Unsigned(u64::from(*level)),
                        Value::Unsigned(*seconds),
                    )
                })
                .collect(),
        )
    }

    fn from_cbor(value: &Value) -> Result<LifetimeCaps, PolicyError> {
        let Value::Map(entries) = value else {
            return Err(PolicyError::CapsShape {
                found: value.type_name().to_owned(),
            });
        };
        if entries.is_empty() {
            return Err(PolicyError::CapsEmpty);
        }
        let mut caps: Vec<(u8, u64)> = Vec::with_capacity(entries.len());
        for (key, seconds) in entries {
            let (Value::Unsigned(level), Value::Unsigned(seconds)) = (key, seconds) else {
                return Err(PolicyError::CapsShape {
                    found: format!("an entry {} → {}", key.type_name(), seconds.type_name()),
                });
            };
            let level_u8 = valid_level(*level)?;
            valid_seconds(*level, *seconds)?;
            if caps.last().is_some_and(|(prev, _)| *prev >= level_u8) {
                return Err(PolicyError::CapsNotCanonical { level: *level });
            }
            caps.push((level_u8, *seconds));
        }
        Ok(LifetimeCaps { caps })
    }
}

fn valid_level(level: u64) -> Result<u8, PolicyError> {
    let in_range = level >= 1 && usize::try_from(level).is_ok_and(|l| l <= MAX_CHAIN_LEN);
    match u8::try_from(level) {
        Ok(l) if in_range => Ok(l),
        _ => Err(PolicyError::CapLevel {
            level,
            max: MAX_CHAIN_LEN,
        }),
    }
}

/// Whether `seconds` can be a cap or a maximum expiry: 1 s to [`MAX_LIFETIME_CAP_SECS`].
fn seconds_in_range(seconds: u64) -> bool {
    (1..=MAX_LIFETIME_CAP_SECS).contains(&seconds)
}

fn valid_seconds(level: u64, seconds: u64) -> Result<(), PolicyError> {
    if !seconds_in_range(seconds) {
        return Err(PolicyError::CapSeconds {
            level,
            seconds,
            max: MAX_LIFETIME_CAP_SECS,
        });
    }
    Ok(())
}

/// Non-human-identity requirements (DESIGN §4): resources of the listed types must carry an owner
/// and an expiry, and the expiry may be bounded. The check itself needs SCIM and the decision
/// time, so it lives with the rules; this is the data and its encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NhiRequirements {
    /// Resource type names, strictly ascending.
    types: Vec<String>,
    /// Longest time from the decision to the expiry, when bounded.
    max_expiry: Option<u64>,
}

impl NhiRequirements {
    /// No requirements.
    pub fn none() -> NhiRequirements {
        NhiRequirements::default()
    }

    /// Whether no resource type is listed (then nothing is required).
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The listed resource types, ascending.
    pub fn types(&self) -> &[String] {
        &self.types
    }

    /// The longest time from a decision to the expiry it accepts, if bounded.
    pub fn max_expiry(&self) -> Option<u64> {
        self.max_expiry
    }

    /// Whether resources of `resource_type` (exact name) must carry an owner and an expiry.
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.types
            .binary_search_by(|t| t.as_str().cmp(resource_type))
            .is_ok()
    }

    /// Lists `resource_type` (idempotent).
    pub fn require(&mut self, resource_type: &str) -> Result<(), PolicyError> {
        valid_type_name(resource_type)?;
        if let Err(i) = self
            .types
            .binary_search_by(|t| t.as_str().cmp(resource_type))
        {
            if self.types.len() >= MAX_NHI_TYPES {
                return Err(PolicyError::NhiShape {
                    reason: format!("more than {MAX_NHI_TYPES} resource types"),
                });
            }
            self.types.insert(i, resource_type.to_owned());
        }
        Ok(())
    }

    /// Bounds the expiry to at most `seconds` after the decision.
    pub fn set_max_expiry(&mut self, seconds: u64) -> Result<(), PolicyError> {
        valid_max_expiry(seconds)?;
        self.max_expiry = Some(seconds);
        Ok(())
    }

    fn to_cbor(&self) -> Value {
        crate::codec::MapBuilder::new()
            .field(
                NHI_KEY_TYPES,
                Value::Array(self.types.iter().map(Value::text).collect()),
            )
            .optional(NHI_KEY_MAX_EXPIRY, self.max_expiry.map(Value::Unsigned))
            .build()
    }

    fn from_cbor(value: &Value) -> Result<NhiRequirements, PolicyError> {
        let shape = |e: ShapeError| PolicyError::NhiShape {
            reason: e.to_string(),
        };
        let mut reader = crate::codec::FieldReader::new("non-human-identity requirements", value)
            .map_err(shape)?;
        let types = reader.text_array(NHI_KEY_TYPES, "types").map_err(shape)?;
        let max_expiry = match reader.optional(NHI_KEY_MAX_EXPIRY) {
            Some(Value::Unsigned(seconds)) => Some(*seconds),
            Some(other) => {
                return Err(PolicyError::NhiShape {
                    reason: format!(
                        "maximum expiry must be an unsigned integer, found {}",
                        other.type_name()
                    ),
                })
            }
            None => None,
        };
        reader.finish().map_err(shape)?;
        if types.is_empty() {
            return Err(PolicyError::NhiShape {
                reason: "no resource type listed: leave the field out to require nothing".into(),
            });
        }
        if types.len() > MAX_NHI_TYPES {
            return Err(PolicyError::NhiShape {
                reason: format!("more than {MAX_NHI_TYPES} resource types"),
            });
        }
        let mut out: Vec<String> = Vec::with_capacity(types.len());
        for name in types {
            valid_type_name(name)?;
            if out.last().is_some_and(|prev| prev.as_str() >= name) {
                return Err(PolicyError::NhiNotCanonical {
                    name: name.to_owned(),
                });
            }
            out.push(name.to_owned());
        }
        if let Some(seconds) = max_expiry {
            valid_max_expiry(seconds)?;
        }
        Ok(NhiRequirements {
            types: out,
            max_expiry,
        })
    }
}

fn valid_type_name(name: &str) -> Result<(), PolicyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_RESOURCE_TYPE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(PolicyError::NhiType {
            name: name.chars().take(MAX_RESOURCE_TYPE_LEN + 1).collect(),
        })
    }
}

fn valid_max_expiry(seconds: u64) -> Result<(), PolicyError> {
    if !seconds_in_range(seconds) {
        return Err(PolicyError::NhiMaxExpiry {
            seconds,
            max: MAX_LIFETIME_CAP_SECS,
        });
    }
    Ok(())
}

/// Privileged groups (DESIGN §4): a membership change of a listed group needs that many distinct
/// approvers, the signer and the keys whose approvals of the exact statement were logged before
/// it. Counting them needs the log's state, so it lives with the rules; this is the data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivilegedGroups {
    /// `(group id, approvers)`, strictly ascending by id.
    groups: Vec<(String, u8)>,
}

impl PrivilegedGroups {
    /// No privileged group.
    pub fn none() -> PrivilegedGroups {
        PrivilegedGroups::default()
    }

    /// Whether no group is listed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The listed groups with their approver counts, ascending by id.
    pub fn groups(&self) -> &[(String, u8)] {
        &self.groups
    }

    /// How many distinct approvers a membership change of `group` needs, if it is privileged.
    pub fn approvers_for(&self, group: &str) -> Option<u8> {
        self.groups
            .binary_search_by(|(id, _)| id.as_str().cmp(group))
            .ok()
            .and_then(|i| self.groups.get(i))
            .map(|(_, n)| *n)
    }

    /// Lists `group` (or changes its count).
    pub fn set(&mut self, group: &str, approvers: u64) -> Result<(), PolicyError> {
        let n = valid_group(group, approvers)?;
        match self
            .groups
            .binary_search_by(|(id, _)| id.as_str().cmp(group))
        {
            Ok(i) => {
                if let Some(slot) = self.groups.get_mut(i) {
                    slot.1 = n;
                }
            }
            Err(i) => {
                if self.groups.len() >= MAX_PRIVILEGED_GROUPS {
                    return Err(PolicyError::GroupsShape {
                        reason: format!("more than {MAX_PRIVILEGED_GROUPS} groups"),
                    });
                }
                self.groups.insert(i, (group.to_owned(), n));
            }
        }
        Ok(())
    }

    fn to_cbor(&self) -> Value {
        Value::Map(
            self.groups
                .iter()
                .map(|(id, n)| (Value::text(id.as_str()), Value::Unsigned(u64::from(*n))))
                .collect(),
        )
    }

    fn from_cbor(value: &Value) -> Result<PrivilegedGroups, PolicyError> {
        let Value::Map(entries) = value else {
            return Err(PolicyError::GroupsShape {
                reason: format!("expected a map, found {}", value.type_name()),
            });
        };
        if entries.is_empty() {
            return Err(PolicyError::GroupsShape {
                reason: "no group listed: leave the field out to list none".into(),
            });
        }
        if entries.len() > MAX_PRIVILEGED_GROUPS {
            return Err(PolicyError::GroupsShape {
                reason: format!("more than {MAX_PRIVILEGED_GROUPS} groups"),
            });
        }
        let mut groups: Vec<(String, u8)> = Vec::with_capacity(entries.len());
        for (key, count) in entries {
            let (Value::Text(id), Value::Unsigned(count)) = (key, count) else {
                return Err(PolicyError::GroupsShape {
                    reason: format!(
                        "an entry {} → {}; expected text → unsigned",
                        key.type_name(),
                        count.type_name()
                    ),
                });
            };
            groups.push((id.clone(), valid_group(id, *count)?));
        }
        // Deterministic CBOR orders text keys by length, then bytes, and the byte decoder
        // refuses repeats; a map built in memory may still hold one, found once sorted by id.
        groups.sort();
        if let Some((id, _)) = groups
            .iter()
            .zip(groups.iter().skip(1))
            .find_map(|(a, b)| (a.0 == b.0).then_some(a))
        {
            return Err(PolicyError::GroupsShape {
                reason: format!("group {id:?} is listed twice"),
            });
        }
        Ok(PrivilegedGroups { groups })
    }
}

fn valid_group(id: &str, approvers: u64) -> Result<u8, PolicyError> {
    if id.is_empty() || id.len() > MAX_GROUP_ID_LEN || id.chars().any(char::is_control) {
        return Err(PolicyError::GroupId {
            id: id.chars().take(MAX_GROUP_ID_LEN + 1).collect(),
        });
    }
    match u8::try_from(approvers) {
        Ok(n) if (2..=MAX_APPROVERS).contains(&approvers) => Ok(n),
        _ => Err(PolicyError::ApproverCount {
            id: id.to_owned(),
            count: approvers,
            max: MAX_APPROVERS,
        }),
    }
}

/// A tenant's policy: what a policy statement sets, evaluated at every later decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPolicy {
    /// Which attributes are clear, sealed, or sealed + indexed.
    pub profile: ProtectionProfile,
    /// Certificate lifetime caps by chain level.
    pub lifetime_caps: LifetimeCaps,
    /// What non-human identities must carry.
    pub nhi: NhiRequirements,
    /// Groups whose membership changes need several approvers.
    pub privileged_groups: PrivilegedGroups,
}

impl TenantPolicy {
    /// The policy of a new tenant: the default profile, no caps, no requirements, no privileged
    /// group (the same as [`TenantPolicy::default`]).
    pub fn default_policy() -> TenantPolicy {
        TenantPolicy::default()
    }

    /// The CBOR form: the profile's map (keys 1 and 2) plus keys 3 (lifetime caps), 4 (NHI
    /// requirements) and 5 (privileged groups), each only when set. A policy with none of them
    /// therefore encodes exactly as its profile does.
    pub fn to_cbor(&self) -> Value {
        let caps = (!self.lifetime_caps.is_empty()).then(|| self.lifetime_caps.to_cbor());
        let nhi = (!self.nhi.is_empty()).then(|| self.nhi.to_cbor());
        let groups = (!self.privileged_groups.is_empty()).then(|| self.privileged_groups.to_cbor());
        self.profile
            .cbor_fields()
            .optional(POLICY_KEY_LIFETIME_CAPS, caps)
            .optional(POLICY_KEY_NHI, nhi)
            .optional(POLICY_KEY_PRIVILEGED_GROUPS, groups)
            .build()
    }

    /// The deterministic CBOR bytes of [`TenantPolicy::to_cbor`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_cbor().to_bytes()
    }

    /// Decodes and validates bytes produced by [`TenantPolicy::to_bytes`] (or a bare protection
    /// profile, which is a policy with nothing else), strictly: one policy has exactly one
    /// encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<TenantPolicy, PolicyError> {
        let value = codec::decode_with_limits(bytes, POLICY_LIMITS)?;
        TenantPolicy::from_cbor(&value)
    }

    /// Validates a decoded CBOR value as a policy document (see [`TenantPolicy::from_bytes`]).
    pub fn from_cbor(value: &Value) -> Result<TenantPolicy, PolicyError> {
        let Value::Map(entries) = value else {
            return Err(ShapeError::WrongType {
                object: "policy document",
                expected: "map",
                found: value.type_name(),
            }
            .into());
        };
        let mut profile_entries = Vec::with_capacity(entries.len());
        let mut caps = None;
        let mut nhi = None;
        let mut groups = None;
        for (key, item) in entries {
            match key.as_i64() {
                Some(POLICY_KEY_LIFETIME_CAPS) => caps = Some(LifetimeCaps::from_cbor(item)?),
                Some(POLICY_KEY_NHI) => nhi = Some(NhiRequirements::from_cbor(item)?),
                Some(POLICY_KEY_PRIVILEGED_GROUPS) => {
                    groups = Some(PrivilegedGroups::from_cbor(item)?)
                }
                _ => profile_entries.push((key.clone(), item.clone())),
            }
        }
        let profile = ProtectionProfile::from_cbor(&Value::Map(profile_entries))?;
        Ok(TenantPolicy {
            profile,
            lifetime_caps: caps.unwrap_or_default(),
            nhi: nhi.unwrap_or_default(),
            privileged_groups: groups.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Claims;
    use crate::keys::{KeyId, SigningKey};
    use crate::scope::ScopeBuilder;

    fn caps(pairs: &[(u64, u64)]) -> LifetimeCaps {
        let mut c = LifetimeCaps::none();
        for (level, seconds) in pairs {
            c.set(*level, *seconds).unwrap();
        }
        c
    }

    #[test]
    fn cap_of_a_level_is_the_deepest_configured_at_or_above_it() {
        let c = caps(&[(2, 86_400), (4, 3_600)]);
        assert_eq!(c.cap_for(1), None);
        assert_eq!(c.cap_for(2), Some(86_400));
        assert_eq!(c.cap_for(3), Some(86_400));
        assert_eq!(c.cap_for(4), Some(3_600));
        assert_eq!(c.cap_for(8), Some(3_600));
    }

    #[test]
    fn policy_without_caps_encodes_as_its_profile() {
        let p = TenantPolicy::default_policy();
        assert_eq!(
            p.to_bytes(),
            ProtectionProfile::default_profile().to_bytes()
        );
        let back = TenantPolicy::from_bytes(&p.to_bytes()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn policy_with_caps_round_trips() {
        let p = TenantPolicy {
            profile: ProtectionProfile::default_profile(),
            lifetime_caps: caps(&[(1, 90 * 86_400), (2, 86_400)]),
            nhi: nhi(&["Agent", "AgenticApplication"], Some(30 * 86_400)),
            privileged_groups: PrivilegedGroups::none(),
        };
        let bytes = p.to_bytes();
        assert_eq!(TenantPolicy::from_bytes(&bytes).unwrap(), p);
        // A bare profile is read as a policy without caps.
        let bare = ProtectionProfile::default_profile().to_bytes();
        assert!(TenantPolicy::from_bytes(&bare)
            .unwrap()
            .lifetime_caps
            .is_empty());
    }

    /// The vector of spec/policy.md: the default profile, connectors capped at a day and
    /// root-issued certificates at 90 days.
    #[test]
    fn spec_vector() {
        let p = TenantPolicy {
            profile: ProtectionProfile::default_profile(),
            lifetime_caps: caps(&[(1, 90 * 86_400), (2, 86_400)]),
            nhi: NhiRequirements::none(),
            privileged_groups: PrivilegedGroups::none(),
        };
        assert_eq!(
            hex::encode(p.to_bytes()),
            "a30101028ea202666163746976650300a2026b646973706c61796e616d650302a2026a65787465726e616c69640302a2026b67726f7570732e247265660300a2026b67726f7570732e747970650300a2026c67726f7570732e76616c75650300a2026269640300a2026c6d656d626572732e247265660300a2026c6d656d626572732e747970650300a2026d6d656d626572732e76616c75650300a202646d6574610300a20267736368656d61730300a202784475726e3a7a6b7363696d3a706172616d733a7363696d3a736368656d61733a657874656e73696f6e3a6e68693a322e303a6c6966656379636c653a6578706972657361740300a20268757365726e616d65030203a2011a0076a700021a00015180"
        );
    }

    /// The second vector of spec/policy.md: Agents and agentic applications must name an owner
    /// and carry an expiry at most 90 days ahead.
    #[test]
    fn spec_vector_nhi() {
        let p = TenantPolicy {
            nhi: nhi(&["Agent", "AgenticApplication"], Some(90 * 86_400)),
            ..TenantPolicy::default_policy()
        };
        assert_eq!(
            hex::encode(p.to_bytes()),
            "a30101028ea202666163746976650300a2026b646973706c61796e616d650302a2026a65787465726e616c69640302a2026b67726f7570732e247265660300a2026b67726f7570732e747970650300a2026c67726f7570732e76616c75650300a2026269640300a2026c6d656d626572732e247265660300a2026c6d656d626572732e747970650300a2026d6d656d626572732e76616c75650300a202646d6574610300a20267736368656d61730300a202784475726e3a7a6b7363696d3a706172616d733a7363696d3a736368656d61733a657874656e73696f6e3a6e68693a322e303a6c6966656379636c653a6578706972657361740300a20268757365726e616d65030204a20182654167656e74724167656e7469634170706c69636174696f6e021a0076a700"
        );
    }

    fn nhi(types: &[&str], max_expiry: Option<u64>) -> NhiRequirements {
        let mut n = NhiRequirements::none();
        for t in types {
            n.require(t).unwrap();
        }
        if let Some(m) = max_expiry {
            n.set_max_expiry(m).unwrap();
        }
        n
    }

    #[test]
    fn nhi_requirements_round_trip_and_hostile_input_is_refused() {
        let n = nhi(&["AgenticApplication", "Agent", "Agent"], None);
        assert_eq!(n.types(), ["Agent", "AgenticApplication"]);
        assert!(n.applies_to("Agent") && !n.applies_to("agent") && !n.applies_to("User"));
        let p = TenantPolicy {
            nhi: n,
            ..TenantPolicy::default_policy()
        };
        assert_eq!(TenantPolicy::from_bytes(&p.to_bytes()).unwrap(), p);
        let doc = |nhi: Value| {
            let Value::Map(mut m) = ProtectionProfile::default_profile().to_cbor() else {
                panic!("profile is a map")
            };
            m.push((Value::int(4), nhi));
            Value::Map(m)
        };
        let types = |names: &[&str]| Value::Array(names.iter().map(|n| Value::text(*n)).collect());
        let cases: Vec<(Value, &str)> = vec![
            (Value::Null, "policy.nhi_shape"),
            (Value::Map(vec![]), "policy.nhi_shape"),
            (
                Value::Map(vec![(Value::int(1), types(&[]))]),
                "policy.nhi_shape",
            ),
            (
                Value::Map(vec![(Value::int(1), types(&[""]))]),
                "policy.nhi_type",
            ),
            (
                Value::Map(vec![(Value::int(1), types(&["Agent Smith"]))]),
                "policy.nhi_type",
            ),
            (
                Value::Map(vec![(Value::int(1), types(&[&"A".repeat(65)]))]),
                "policy.nhi_type",
            ),
            (
                Value::Map(vec![(Value::int(1), types(&["Agent", "Agent"]))]),
                "policy.nhi_not_canonical",
            ),
            (
                Value::Map(vec![(Value::int(1), types(&["User", "Agent"]))]),
                "policy.nhi_not_canonical",
            ),
            (
                Value::Map(vec![
                    (Value::int(1), types(&["Agent"])),
                    (Value::int(2), Value::Unsigned(0)),
                ]),
                "policy.nhi_max_expiry",
            ),
            (
                Value::Map(vec![
                    (Value::int(1), types(&["Agent"])),
                    (Value::int(2), Value::text("30d")),
                ]),
                "policy.nhi_shape",
            ),
            (
                Value::Map(vec![
                    (Value::int(1), types(&["Agent"])),
                    (Value::int(3), Value::Null),
                ]),
                "policy.nhi_shape",
            ),
            (
                Value::Map(vec![(
                    Value::int(1),
                    Value::Array((0..65).map(|i| Value::text(format!("T{i:03}"))).collect()),
                )]),
                "policy.nhi_shape",
            ),
        ];
        for (nhi, code) in cases {
            let e = TenantPolicy::from_cbor(&doc(nhi.clone())).unwrap_err();
            assert_eq!(e.code(), code, "{nhi:?}: {e}");
            assert_eq!(e.part(), PolicyPart::Nhi);
        }
        let mut n = NhiRequirements::none();
        assert_eq!(
            n.require("no spaces").unwrap_err().code(),
            "policy.nhi_type"
        );
        assert_eq!(
            n.set_max_expiry(0).unwrap_err().code(),
            "policy.nhi_max_expiry"
        );
    }

    #[test]
    fn privileged_groups_round_trip_and_hostile_input_is_refused() {
        let mut p = TenantPolicy::default_policy();
        p.privileged_groups.set("admins", 2).unwrap();
        p.privileged_groups
            .set("a-much-longer-group-id", 3)
            .unwrap();
        assert_eq!(p.privileged_groups.approvers_for("admins"), Some(2));
        assert_eq!(p.privileged_groups.approvers_for("Admins"), None);
        assert_eq!(TenantPolicy::from_bytes(&p.to_bytes()).unwrap(), p);
        let doc = |groups: Value| {
            let Value::Map(mut m) = ProtectionProfile::default_profile().to_cbor() else {
                panic!("profile is a map")
            };
            m.push((Value::int(5), groups));
            Value::Map(m)
        };
        let cases: Vec<(Value, &str)> = vec![
            (Value::Array(vec![]), "policy.groups_shape"),
            (Value::Map(vec![]), "policy.groups_shape"),
            (
                Value::Map(vec![(Value::Unsigned(1), Value::Unsigned(2))]),
                "policy.groups_shape",
            ),
            (
                Value::Map(vec![(Value::text(""), Value::Unsigned(2))]),
                "policy.group_id",
            ),
            (
                Value::Map(vec![(Value::text("a\nb"), Value::Unsigned(2))]),
                "policy.group_id",
            ),
            (
                Value::Map(vec![(Value::text("x".repeat(129)), Value::Unsigned(2))]),
                "policy.group_id",
            ),
            (
                Value::Map(vec![(Value::text("admins"), Value::Unsigned(1))]),
                "policy.approver_count",
            ),
            (
                Value::Map(vec![(Value::text("admins"), Value::Unsigned(17))]),
                "policy.approver_count",
            ),
            (
                Value::Map(vec![
                    (Value::text("admins"), Value::Unsigned(2)),
                    (Value::text("admins"), Value::Unsigned(3)),
                ]),
                "policy.groups_shape",
            ),
        ];
        for (groups, code) in cases {
            let e = TenantPolicy::from_cbor(&doc(groups.clone())).unwrap_err();
            assert_eq!(e.code(), code, "{groups:?}: {e}");
            assert_eq!(e.part(), PolicyPart::PrivilegedGroups);
        }
        let mut g = PrivilegedGroups::none();
        assert_eq!(g.set("", 2).unwrap_err().code(), "policy.group_id");
        assert_eq!(
            g.set("admins", 0).unwrap_err().code(),
            "policy.approver_count"
        );
    }

    fn with_caps(caps: Value) -> Value {
        let Value::Map(mut m) = ProtectionProfile::default_profile().to_cbor() else {
            panic!("profile is a map")
        };
        m.push((Value::int(3), caps));
        Value::Map(m)
    }

    #[test]
    fn hostile_caps_are_refused_with_their_code() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::Map(vec![]), "policy.caps_empty"),
            (Value::Array(vec![]), "policy.caps_shape"),
            (
                Value::Map(vec![(Value::text("2"), Value::Unsigned(60))]),
                "policy.caps_shape",
            ),
            (
                Value::Map(vec![(Value::Unsigned(2), Value::Negative(0))]),
                "policy.caps_shape",
            ),
            (
                Value::Map(vec![(Value::Unsigned(0), Value::Unsigned(60))]),
                "policy.cap_level",
            ),
            (
                Value::Map(vec![(Value::Unsigned(9), Value::Unsigned(60))]),
                "policy.cap_level",
            ),
            (
                Value::Map(vec![(Value::Unsigned(u64::MAX), Value::Unsigned(60))]),
                "policy.cap_level",
            ),
            (
                Value::Map(vec![(Value::Unsigned(2), Value::Unsigned(0))]),
                "policy.cap_seconds",
            ),
            (
                Value::Map(vec![(
                    Value::Unsigned(2),
                    Value::Unsigned(MAX_LIFETIME_CAP_SECS + 1),
                )]),
                "policy.cap_seconds",
            ),
            (
                Value::Map(vec![
                    (Value::Unsigned(3), Value::Unsigned(60)),
                    (Value::Unsigned(2), Value::Unsigned(60)),
                ]),
                "policy.caps_not_canonical",
            ),
            (
                Value::Map(vec![
                    (Value::Unsigned(2), Value::Unsigned(60)),
                    (Value::Unsigned(2), Value::Unsigned(70)),
                ]),
                "policy.caps_not_canonical",
            ),
        ];
        for (caps, code) in cases {
            let e = TenantPolicy::from_cbor(&with_caps(caps.clone())).unwrap_err();
            assert_eq!(e.code(), code, "{caps:?}: {e}");
            assert_eq!(e.part(), PolicyPart::LifetimeCaps);
        }
        // Not a map at all, unknown keys and profile errors keep their own codes.
        let e = TenantPolicy::from_cbor(&Value::Array(vec![])).unwrap_err();
        assert_eq!(e.code(), "shape.wrong_type");
        assert_eq!(e.part(), PolicyPart::Profile);
        let Value::Map(mut m) =
            with_caps(Value::Map(vec![(Value::Unsigned(2), Value::Unsigned(60))]))
        else {
            panic!()
        };
        m.push((Value::int(6), Value::Null));
        let e = TenantPolicy::from_cbor(&Value::Map(m)).unwrap_err();
        assert_eq!(e.code(), "shape.unknown_field");
        assert!(TenantPolicy::from_bytes(&[0xff; 8]).is_err());
    }

    #[test]
    fn set_refuses_what_decoding_refuses() {
        let mut c = LifetimeCaps::none();
        assert_eq!(c.set(0, 60).unwrap_err().code(), "policy.cap_level");
        assert_eq!(c.set(9, 60).unwrap_err().code(), "policy.cap_level");
        assert_eq!(c.set(1, 0).unwrap_err().code(), "policy.cap_seconds");
        c.set(2, 60).unwrap();
        c.set(2, 120).unwrap();
        assert_eq!(c.caps(), &[(2, 120)]);
    }

    fn chain(lifetimes: &[u64]) -> Vec<Certificate> {
        let scope = ScopeBuilder::new()
            .operations(["create", "patch"])
            .resource_types(["User"])
            .attributes(["*"])
            .capabilities(["delegate"])
            .build()
            .unwrap();
        let mut issuer = SigningKey::from_seed(&[1; 32]);
        let mut out: Vec<Certificate> = Vec::new();
        for (i, lifetime) in lifetimes.iter().enumerate() {
            let subject = SigningKey::from_seed(&[i as u8 + 2; 32]);
            let claims = Claims {
                issuer: KeyId([0; 32]),
                subject: subject.public_key(),
                tenant: "acme".into(),
                not_before: 1_000,
                expires: 1_000 + lifetime,
                issued_at: 1_000,
                nonce: [i as u8; 16],
                parent: None,
                depth: (lifetimes.len() - 1 - i) as u8,
                label: format!("level-{}", i + 1),
                scope: scope.clone(),
            };
            let cert = Certificate::issue(&issuer, out.last(), claims).unwrap();
            out.push(cert);
            issuer = subject;
        }
        out
    }

    #[test]
    fn chain_check_names_the_certificate_over_its_cap() {
        let c = caps(&[(2, 86_400), (3, 3_600)]);
        // Level 1 is not capped; level 2 is capped at a day, level 3 (and deeper) at an hour.
        assert!(c.check(&chain(&[365 * 86_400, 86_400, 3_600])).is_ok());
        let e = c.check(&chain(&[365 * 86_400, 86_400, 3_601])).unwrap_err();
        assert_eq!((e.level, e.lifetime, e.cap), (3, 3_601, 3_600));
        assert_eq!(e.label, "level-3");
        assert!(e.to_string().contains("level 3"), "{e}");
        let e = c.check(&chain(&[365 * 86_400, 86_401])).unwrap_err();
        assert_eq!((e.level, e.cap), (2, 86_400));
        assert!(LifetimeCaps::none()
            .check(&chain(&[u32::MAX.into()]))
            .is_ok());
    }
}
