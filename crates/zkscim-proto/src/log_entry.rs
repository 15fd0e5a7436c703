//! Transparency-log entries: their deterministic CBOR encoding, hashes and chain links.
//!
//! Owns: the [`LogEntry`] record (sequence number, tenant, server time, kind, previous-entry
//! hash, submitted-bytes hash, outcome), its integer-keyed CBOR map encoding, strict decoding,
//! the entry hash that chains entries, the RFC 6962 leaf hash that feeds the Merkle tree, and the
//! check that one entry correctly follows another. `spec/log-entry.md` is the normative text.
//!
//! Must never: accept an encoding it would not itself produce (one entry, one byte string, one
//! hash), silently ignore a field it does not know (unknown keys are refused so that future
//! fields cannot be smuggled past an older verifier), read a clock (time is a field the caller
//! fills), or hash anything but the exact entry bytes.

use sha2::{Digest, Sha256};

use crate::codec::{self, CodecError, FieldReader, Limits, MapBuilder, ShapeError, Value};

/// The previous-entry hash of entry 0.
pub const ZERO_HASH: [u8; 32] = [0; 32];
/// Longest tenant id accepted in an entry, in bytes.
pub const MAX_TENANT_BYTES: usize = 256;
/// Longest resulting version (ETag) accepted, in bytes.
pub const MAX_VERSION_BYTES: usize = 256;
/// Longest refusal code accepted, in bytes.
pub const MAX_CODE_BYTES: usize = 128;
/// Longest refusal detail accepted, in bytes.
pub const MAX_DETAIL_BYTES: usize = 4096;
/// Decoding limits for one entry: far above the largest valid entry, far below the codec's.
pub const ENTRY_LIMITS: Limits = Limits {
    max_bytes: 16 * 1024,
    max_depth: 4,
};

/// CBOR keys of the entry map.
const KEY_SEQ: i64 = 1;
const KEY_TENANT: i64 = 2;
const KEY_TIME: i64 = 3;
const KEY_KIND: i64 = 4;
const KEY_PREV_HASH: i64 = 5;
const KEY_SUBMITTED_HASH: i64 = 6;
const KEY_OUTCOME: i64 = 7;
/// CBOR keys of the outcome map.
const OUTCOME_KEY_STATUS: i64 = 1;
const OUTCOME_KEY_VERSION: i64 = 2;
const OUTCOME_KEY_CODE: i64 = 3;
const OUTCOME_KEY_DETAIL: i64 = 4;
/// Outcome status codes.
const STATUS_APPLIED: u64 = 0;
const STATUS_REFUSED: u64 = 1;

/// What was submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The tenant's creation: its root public key enters the system. Always entry 0, only there.
    Genesis,
    /// A delegation certificate seen for the first time.
    Certificate,
    /// A signed SCIM operation.
    Operation,
    /// A certificate revocation.
    Revocation,
    /// A tenant policy or protection profile.
    Policy,
    /// A submission refused before its kind could be established (undecodable, unknown type).
    Refusal,
    /// An approval (co-signature) of another statement.
    Approval,
}

impl EntryKind {
    /// The CBOR code of this kind.
    pub fn code(self) -> u64 {
        match self {
            EntryKind::Genesis => 0,
            EntryKind::Certificate => 1,
            EntryKind::Operation => 2,
            EntryKind::Revocation => 3,
            EntryKind::Policy => 4,
            EntryKind::Refusal => 5,
            EntryKind::Approval => 6,
        }
    }

    /// The kind with CBOR code `code`.
    pub fn from_code(code: u64) -> Option<EntryKind> {
        match code {
            0 => Some(EntryKind::Genesis),
            1 => Some(EntryKind::Certificate),
            2 => Some(EntryKind::Operation),
            3 => Some(EntryKind::Revocation),
            4 => Some(EntryKind::Policy),
            5 => Some(EntryKind::Refusal),
            6 => Some(EntryKind::Approval),
            _ => None,
        }
    }

    /// Lowercase name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Genesis => "genesis",
            EntryKind::Certificate => "certificate",
            EntryKind::Operation => "operation",
            EntryKind::Revocation => "revocation",
            EntryKind::Policy => "policy",
            EntryKind::Refusal => "refusal",
            EntryKind::Approval => "approval",
        }
    }
}

/// What the authority did with the submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; `version` is the resulting resource version (ETag) where there is one.
    Applied {
        /// Resulting version, if the submission produced a versioned resource.
        version: Option<String>,
    },
    /// Refused with a stable error code and a human-readable detail.
    Refused {
        /// Stable error code (`[a-z0-9._-]`, e.g. `scope.attribute_not_allowed`).
        code: String,
        /// What failed, for people.
        detail: String,
    },
}

/// One record of a tenant's transparency log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the tenant's log, from 0.
    pub seq: u64,
    /// Tenant id; every entry of one log names the same tenant.
    pub tenant: String,
    /// Server time of the decision, Unix seconds.
    pub time: u64,
    /// What was submitted.
    pub kind: EntryKind,
    /// [`LogEntry::entry_hash`] of entry `seq - 1`; [`ZERO_HASH`] for entry 0.
    pub prev_hash: [u8; 32],
    /// SHA-256 of the exact bytes submitted.
    pub submitted_hash: [u8; 32],
    /// Applied or refused.
    pub outcome: Outcome,
}

/// Why bytes or a value were refused as a log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogEntryError {
    /// Not deterministic CBOR within [`ENTRY_LIMITS`].
    #[error("log entry is not valid CBOR: {0}")]
    Codec(#[from] CodecError),
    /// A field is missing, unknown or of the wrong CBOR type.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A kind code outside 0–5.
    #[error("log entry has unknown kind code {code}")]
    UnknownKind {
        /// The code.
        code: u64,
    },
    /// An outcome status other than 0 (applied) or 1 (refused).
    #[error("log entry outcome has unknown status {status}")]
    UnknownStatus {
        /// The status.
        status: u64,
    },
    /// An outcome map whose fields do not match its status.
    #[error("log entry outcome: {0}")]
    OutcomeFields(&'static str),
    /// A text field that is empty, too long or outside its alphabet.
    #[error("log entry field {field} is invalid: {reason}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Genesis at a sequence number other than 0, or another kind at 0.
    #[error("log entry {seq}: genesis must be entry 0 and entry 0 must be genesis (found {kind})")]
    GenesisPosition {
        /// Sequence number.
        seq: u64,
        /// Kind found.
        kind: &'static str,
    },
    /// A previous hash that is zero after entry 0, or non-zero at entry 0.
    #[error("log entry {seq}: previous hash must be all zero exactly for entry 0")]
    PrevHashPosition {
        /// Sequence number.
        seq: u64,
    },
    /// A kind that cannot have this outcome (genesis refused, refusal applied).
    #[error("log entry {seq}: a {kind} entry cannot be {outcome}")]
    KindOutcome {
        /// Sequence number.
        seq: u64,
        /// Kind.
        kind: &'static str,
        /// Outcome.
        outcome: &'static str,
    },
}

impl LogEntryError {
    /// Stable machine-readable code (codec and shape errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            LogEntryError::Codec(e) => e.code(),
            LogEntryError::Shape(e) => e.code(),
            LogEntryError::UnknownKind { .. } => "log_entry.unknown_kind",
            LogEntryError::UnknownStatus { .. } => "log_entry.unknown_status",
            LogEntryError::OutcomeFields(_) => "log_entry.outcome_fields",
            LogEntryError::InvalidField { .. } => "log_entry.invalid_field",
            LogEntryError::GenesisPosition { .. } => "log_entry.genesis_position",
            LogEntryError::PrevHashPosition { .. } => "log_entry.prev_hash_position",
            LogEntryError::KindOutcome { .. } => "log_entry.kind_outcome",
        }
    }
}

/// Why one entry does not correctly follow another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Sequence numbers are not consecutive.
    #[error(
        "log entry {seq} does not follow entry {prev_seq}: sequence numbers must be consecutive"
    )]
    SeqGap {
        /// This entry's sequence number.
        seq: u64,
        /// The previous entry's.
        prev_seq: u64,
    },
    /// The entries belong to different tenants.
    #[error(
        "log entry {seq} is for tenant {tenant:?} but entry {prev_seq} is for {prev_tenant:?}"
    )]
    TenantMismatch {
        /// This entry's sequence number.
        seq: u64,
        /// This entry's tenant.
        tenant: String,
        /// The previous entry's sequence number.
        prev_seq: u64,
        /// The previous entry's tenant.
        prev_tenant: String,
    },
    /// The previous hash is not the hash of the previous entry.
    #[error(
        "log entry {seq} names previous hash {found} but entry {prev_seq} hashes to {expected}: \
         the chain is broken"
    )]
    PrevHashMismatch {
        /// This entry's sequence number.
        seq: u64,
        /// The previous entry's sequence number.
        prev_seq: u64,
        /// Hash of the previous entry, hex.
        expected: String,
        /// The hash this entry carries, hex.
        found: String,
    },
}

impl LinkError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::SeqGap { .. } => "log_entry.link.seq_gap",
            LinkError::TenantMismatch { .. } => "log_entry.link.tenant_mismatch",
            LinkError::PrevHashMismatch { .. } => "log_entry.link.prev_hash_mismatch",
        }
    }
}

impl LogEntry {
    /// The CBOR map (keys in `spec/log-entry.md` §2).
    pub fn to_cbor(&self) -> Value {
        let outcome = match &self.outcome {
            Outcome::Applied { version } => MapBuilder::new()
                .field(OUTCOME_KEY_STATUS, Value::Unsigned(STATUS_APPLIED))
                .optional(OUTCOME_KEY_VERSION, version.as_deref().map(Value::text)),
            Outcome::Refused { code, detail } => MapBuilder::new()
                .field(OUTCOME_KEY_STATUS, Value::Unsigned(STATUS_REFUSED))
                .field(OUTCOME_KEY_CODE, Value::text(code.as_str()))
                .field(OUTCOME_KEY_DETAIL, Value::text(detail.as_str())),
        }
        .build();
        MapBuilder::new()
            .field(KEY_SEQ, Value::Unsigned(self.seq))
            .field(KEY_TENANT, Value::text(self.tenant.as_str()))
            .field(KEY_TIME, Value::Unsigned(self.time))
            .field(KEY_KIND, Value::Unsigned(self.kind.code()))
            .field(KEY_PREV_HASH, Value::bytes(self.prev_hash))
            .field(KEY_SUBMITTED_HASH, Value::bytes(self.submitted_hash))
            .field(KEY_OUTCOME, outcome)
            .build()
    }

    /// The deterministic CBOR bytes: what is stored, hashed and served.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_cbor().to_bytes()
    }

    /// Decodes and validates entry bytes, strictly: only the deterministic encoding, no unknown
    /// keys, every field within its limits and the structural rules of [`LogEntry::validate`].
    /// Whatever decodes re-encodes to exactly `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<LogEntry, LogEntryError> {
        let value = codec::decode_with_limits(bytes, ENTRY_LIMITS)?;
        LogEntry::from_cbor(&value)
    }

    /// Validates a decoded CBOR value as an entry (see [`LogEntry::from_bytes`]).
    pub fn from_cbor(value: &Value) -> Result<LogEntry, LogEntryError> {
        let mut r = FieldReader::new("log entry", value)?;
        let seq = r.uint(KEY_SEQ, "seq")?;
        let tenant = r.text(KEY_TENANT, "tenant")?.to_owned();
        let time = r.uint(KEY_TIME, "time")?;
        let kind_code = r.uint(KEY_KIND, "kind")?;
        let prev_hash = r.fixed_bytes::<32>(KEY_PREV_HASH, "prev_hash")?;
        let submitted_hash = r.fixed_bytes::<32>(KEY_SUBMITTED_HASH, "submitted_hash")?;
        let outcome_value = r.required(KEY_OUTCOME, "outcome")?;
        r.finish()?;
        let kind = EntryKind::from_code(kind_code)
            .ok_or(LogEntryError::UnknownKind { code: kind_code })?;
        let outcome = decode_outcome(outcome_value)?;
        let entry = LogEntry {
            seq,
            tenant,
            time,
            kind,
            prev_hash,
            submitted_hash,
            outcome,
        };
        entry.validate()?;
        Ok(entry)
    }

    /// The structural rules every entry obeys on its own (`spec/log-entry.md` §3): field limits,
    /// genesis exactly at 0, zero previous hash exactly at 0, genesis applied, refusal refused.
    /// Writers call it before appending; [`LogEntry::from_bytes`] calls it on every decode.
    pub fn validate(&self) -> Result<(), LogEntryError> {
        check_text("tenant", &self.tenant, MAX_TENANT_BYTES)?;
        match &self.outcome {
            Outcome::Applied { version: Some(v) } => check_text("version", v, MAX_VERSION_BYTES)?,
            Outcome::Applied { version: None } => {}
            Outcome::Refused { code, detail } => {
                check_text("code", code, MAX_CODE_BYTES)?;
                if !code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                {
                    return Err(LogEntryError::InvalidField {
                        field: "code",
                        reason: "only a-z, 0-9, '.', '_' and '-' are allowed".to_owned(),
                    });
                }
                if detail.len() > MAX_DETAIL_BYTES {
                    return Err(LogEntryError::InvalidField {
                        field: "detail",
                        reason: format!(
                            "{} bytes, more than the {MAX_DETAIL_BYTES} allowed",
                            detail.len()
                        ),
                    });
                }
            }
        }
        if (self.seq == 0) != (self.kind == EntryKind::Genesis) {
            return Err(LogEntryError::GenesisPosition {
                seq: self.seq,
                kind: self.kind.name(),
            });
        }
        if (self.seq == 0) != (self.prev_hash == ZERO_HASH) {
            return Err(LogEntryError::PrevHashPosition { seq: self.seq });
        }
        let outcome = match self.outcome {
            Outcome::Applied { .. } => "applied",
            Outcome::Refused { .. } => "refused",
        };
        let allowed = match self.kind {
            EntryKind::Genesis => outcome == "applied",
            EntryKind::Refusal => outcome == "refused",
            _ => true,
        };
        if !allowed {
            return Err(LogEntryError::KindOutcome {
                seq: self.seq,
                kind: self.kind.name(),
                outcome,
            });
        }
        Ok(())
    }

    /// SHA-256 of the entry bytes: what the next entry's `prev_hash` holds.
    pub fn entry_hash(&self) -> [u8; 32] {
        entry_hash_of(&self.to_bytes())
    }

    /// RFC 6962 leaf hash, SHA-256(0x00 ‖ entry bytes): what the Merkle tree holds.
    pub fn leaf_hash(&self) -> [u8; 32] {
        leaf_hash_of(&self.to_bytes())
    }

    /// Checks that `self` directly follows `prev` in one tenant's log: consecutive sequence
    /// numbers, the same tenant, and `self.prev_hash == prev.entry_hash()`.
    pub fn verify_link(&self, prev: &LogEntry) -> Result<(), LinkError> {
        if prev.seq.checked_add(1) != Some(self.seq) {
            return Err(LinkError::SeqGap {
                seq: self.seq,
                prev_seq: prev.seq,
            });
        }
        if prev.tenant != self.tenant {
            return Err(LinkError::TenantMismatch {
                seq: self.seq,
                tenant: self.tenant.clone(),
                prev_seq: prev.seq,
                prev_tenant: prev.tenant.clone(),
            });
        }
        let expected = prev.entry_hash();
        if expected != self.prev_hash {
            return Err(LinkError::PrevHashMismatch {
                seq: self.seq,
                prev_seq: prev.seq,
                expected: hex::encode(expected),
                found: hex::encode(self.prev_hash),
            });
        }
        Ok(())
    }
}

/// SHA-256 of stored entry bytes (equal to [`LogEntry::entry_hash`] for bytes that decode).
pub fn entry_hash_of(entry_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(entry_bytes).into()
}

/// SHA-256(0x00 ‖ entry bytes): the RFC 6962 leaf hash of stored entry bytes.
pub fn leaf_hash_of(entry_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry_bytes);
    hasher.finalize().into()
}

/// SHA-256 of submitted bytes, for [`LogEntry::submitted_hash`].
pub fn submitted_hash_of(submitted: &[u8]) -> [u8; 32] {
    Sha256::digest(submitted).into()
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), LogEntryError> {
    if value.is_empty() {
        return Err(LogEntryError::InvalidField {
            field,
            reason: "empty".to_owned(),
        });
    }
    if value.len() > max {
        return Err(LogEntryError::InvalidField {
            field,
            reason: format!("{} bytes, more than the {max} allowed", value.len()),
        });
    }
    Ok(())
}

fn decode_outcome(value: &Value) -> Result<Outcome, LogEntryError> {
    let mut r = FieldReader::new("log entry outcome", value)?;
    let status = r.uint(OUTCOME_KEY_STATUS, "status")?;
    let outcome = match status {
        STATUS_APPLIED => {
            let version = r
                .optional_text(OUTCOME_KEY_VERSION, "version")?
                .map(str::to_owned);
            if r.optional(OUTCOME_KEY_CODE).is_some() || r.optional(OUTCOME_KEY_DETAIL).is_some() {
                return Err(LogEntryError::OutcomeFields(
                    "an applied outcome carries no refusal code or detail",
                ));
            }
            Outcome::Applied { version }
        }
        STATUS_REFUSED => {
            if r.optional(OUTCOME_KEY_VERSION).is_some() {
                return Err(LogEntryError::OutcomeFields(
                    "a refused outcome carries no version",
                ));
            }
            let code = r.text(OUTCOME_KEY_CODE, "code")?.to_owned();
            let detail = r.text(OUTCOME_KEY_DETAIL, "detail")?.to_owned();
            Outcome::Refused { code, detail }
        }
        status => return Err(LogEntryError::UnknownStatus { status }),
    };
    r.finish()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> LogEntry {
        LogEntry {
            seq: 0,
            tenant: "acme".to_owned(),
            time: 1_767_225_600,
            kind: EntryKind::Genesis,
            prev_hash: ZERO_HASH,
            submitted_hash: submitted_hash_of(b"genesis"),
            outcome: Outcome::Applied { version: None },
        }
    }

    fn next(prev: &LogEntry, kind: EntryKind, outcome: Outcome) -> LogEntry {
        LogEntry {
            seq: prev.seq + 1,
            tenant: prev.tenant.clone(),
            time: prev.time + 1,
            kind,
            prev_hash: prev.entry_hash(),
            submitted_hash: submitted_hash_of(b"op"),
            outcome,
        }
    }

    #[test]
    fn round_trip_hashes_and_links() {
        let g = genesis();
        let op = next(
            &g,
            EntryKind::Operation,
            Outcome::Applied {
                version: Some("W/\"1\"".to_owned()),
            },
        );
        let refused = next(
            &op,
            EntryKind::Refusal,
            Outcome::Refused {
                code: "cose.bad_signature".to_owned(),
                detail: "signature does not verify".to_owned(),
            },
        );
        for e in [&g, &op, &refused] {
            let bytes = e.to_bytes();
            let back = LogEntry::from_bytes(&bytes).unwrap();
            assert_eq!(&back, e);
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(e.entry_hash(), entry_hash_of(&bytes));
            assert_ne!(e.entry_hash(), e.leaf_hash());
        }
        op.verify_link(&g).unwrap();
        refused.verify_link(&op).unwrap();
        assert_eq!(
            refused.verify_link(&g).unwrap_err().code(),
            "log_entry.link.seq_gap"
        );
        let mut forged = refused.clone();
        forged.prev_hash = g.entry_hash();
        let err = forged.verify_link(&op).unwrap_err();
        assert_eq!(err.code(), "log_entry.link.prev_hash_mismatch");
        assert!(err.to_string().contains("log entry 2"), "{err}");
        let mut other = refused.clone();
        other.tenant = "globex".to_owned();
        assert_eq!(
            other.verify_link(&op).unwrap_err().code(),
            "log_entry.link.tenant_mismatch"
        );
    }

    #[test]
    fn structural_rules() {
        let g = genesis();
        let mut e = g.clone();
        e.kind = EntryKind::Operation;
        assert_eq!(
            e.validate().unwrap_err().code(),
            "log_entry.genesis_position"
        );
        let mut e = g.clone();
        e.prev_hash = [1; 32];
        assert_eq!(
            e.validate().unwrap_err().code(),
            "log_entry.prev_hash_position"
        );
        let mut e = g.clone();
        e.outcome = Outcome::Refused {
            code: "x".to_owned(),
            detail: String::new(),
        };
        assert_eq!(e.validate().unwrap_err().code(), "log_entry.kind_outcome");
        let mut e = next(&g, EntryKind::Operation, Outcome::Applied { version: None });
        e.outcome = Outcome::Refused {
            code: "Bad Code".to_owned(),
            detail: String::new(),
        };
        assert_eq!(e.validate().unwrap_err().code(), "log_entry.invalid_field");
        let mut e = g.clone();
        e.tenant = String::new();
        assert_eq!(e.validate().unwrap_err().code(), "log_entry.invalid_field");
    }

    #[test]
    fn decode_refuses_unknown_and_mismatched_fields() {
        let g = genesis();
        let Value::Map(mut entries) = g.to_cbor() else {
            unreachable!()
        };
        entries.push((Value::Unsigned(8), Value::Null));
        let err = LogEntry::from_bytes(&Value::Map(entries).to_bytes()).unwrap_err();
        assert_eq!(err.code(), "shape.unknown_field");
        let bad_outcome = MapBuilder::new()
            .field(1, Value::Unsigned(0))
            .field(3, Value::text("x"))
            .build();
        assert_eq!(
            decode_outcome(&bad_outcome).unwrap_err().code(),
            "log_entry.outcome_fields"
        );
        let bad_status = MapBuilder::new().field(1, Value::Unsigned(2)).build();
        assert_eq!(
            decode_outcome(&bad_status).unwrap_err().code(),
            "log_entry.unknown_status"
        );
    }
}
