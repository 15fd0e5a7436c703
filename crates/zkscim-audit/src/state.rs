//! The auditor's and the witness's small local memory: what they verified last time, so the next
//! run can prove the log only grew (and, for the auditor, verify only what is new).

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use zkscim_proto::merkle::{Frontier, Hash};

/// Current state file version.
pub const STATE_VERSION: u32 = 1;

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid state JSON.
    #[error("state file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl StateError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Io { .. } => "audit.state.io",
            StateError::Invalid { .. } => "audit.state.invalid",
        }
    }
}

/// What an auditor verified last time, for one tenant log. Saved only after a clean audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Tenant id.
    pub tenant: String,
    /// Log origin.
    pub origin: String,
    /// Number of entries verified (tree size).
    pub size: u64,
    /// Merkle root at `size`, hex.
    pub root_hash: String,
    /// Merkle frontier at `size` ([`Frontier::to_bytes`], hex): lets an incremental audit append
    /// new leaves without re-reading old entries.
    pub frontier: String,
    /// Entry hash of entry `size - 1` (hex; zeros when `size` is 0): the next entry's prev hash.
    pub last_entry_hash: String,
    /// Newest checkpoint note that verified.
    pub checkpoint: Option<String>,
    /// Its tree size.
    pub checkpoint_size: Option<u64>,
}

impl AuditState {
    /// The saved frontier, checked against `size` and `root_hash`.
    pub fn frontier(&self) -> Result<Frontier, String> {
        let bytes = hex::decode(&self.frontier).map_err(|e| format!("frontier: {e}"))?;
        let frontier = Frontier::from_bytes(&bytes).map_err(|e| format!("frontier: {e}"))?;
        if frontier.size() != self.size {
            return Err(format!(
                "frontier size {} differs from size {}",
                frontier.size(),
                self.size
            ));
        }
        if hex::encode(frontier.root()) != self.root_hash {
            return Err("frontier root differs from root_hash".to_owned());
        }
        Ok(frontier)
    }

    /// The saved root.
    pub fn root(&self) -> Result<Hash, String> {
        parse_hash(&self.root_hash).ok_or_else(|| "root_hash is not 32 bytes of hex".to_owned())
    }

    /// The saved last entry hash.
    pub fn last_entry(&self) -> Result<Hash, String> {
        parse_hash(&self.last_entry_hash)
            .ok_or_else(|| "last_entry_hash is not 32 bytes of hex".to_owned())
    }

    /// Checks internal consistency (version, frontier against size and root, hashes parse).
    pub fn validate(&self) -> Result<(), String> {
        if self.version != STATE_VERSION {
            return Err(format!(
                "version {} (this auditor reads {STATE_VERSION})",
                self.version
            ));
        }
        self.frontier()?;
        self.root()?;
        self.last_entry()?;
        Ok(())
    }
}

/// What a witness cosigned last time, for one log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Log origin.
    pub origin: String,
    /// Tree size of the last cosigned checkpoint.
    pub size: u64,
    /// Its root hash, hex.
    pub root_hash: String,
    /// The checkpoint note as cosigned (log signature only).
    pub checkpoint: String,
}

impl WitnessState {
    /// The saved root.
    pub fn root(&self) -> Option<Hash> {
        parse_hash(&self.root_hash)
    }
}

pub(crate) fn parse_hash(text: &str) -> Option<Hash> {
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Reads a JSON state file; `Ok(None)` when it does not exist yet.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StateError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Writes a JSON state file atomically (temporary file in the same directory, then rename), so
/// a crash never leaves a half-written state that would weaken the next audit.
pub fn save<T: Serialize>(path: &Path, state: &T) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = serde_json::to_string_pretty(state).map_err(|e| StateError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text.as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
