//! Witness mode: check that a log's newest checkpoint extends the one this witness cosigned
//! last, and only then cosign it (C2SP `cosignature/v1`), so a log cannot show two histories to
//! two parties without one of them seeing an uncosigned checkpoint.

use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::merkle::{empty_root, verify_consistency, Hash};
use zkscim_proto::note::{CosignatureSigner, NoteVerifier, VerifierKey};

use crate::state::{WitnessState, STATE_VERSION};

/// Why a witness refused to cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The log key is unusable.
    #[error("log key unusable: {0}")]
    LogKey(String),
    /// The checkpoint does not verify under the log key.
    #[error("checkpoint does not verify: {0}")]
    Checkpoint(String),
    /// The checkpoint is for another log than the one this witness follows.
    #[error("checkpoint origin {found:?} is not the witnessed log {expected:?}")]
    OriginMismatch {
        /// The witnessed origin.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// The saved state is unusable.
    #[error("witness state is unusable: {0}")]
    BadState(String),
    /// The new tree is smaller than the one already cosigned.
    #[error(
        "tree size {new_size} is smaller than the cosigned size {old_size}: refusing a rollback"
    )]
    Rollback {
        /// Cosigned size.
        old_size: u64,
        /// Offered size.
        new_size: u64,
    },
    /// Same size, different root: two histories.
    #[error("fork at tree size {size}: cosigned root {old_root}, offered root {new_root}")]
    Fork {
        /// The size.
        size: u64,
        /// Root already cosigned, hex.
        old_root: String,
        /// Root offered, hex.
        new_root: String,
    },
    /// The consistency proof does not show the old tree is a prefix of the new one.
    #[error(
        "no valid consistency proof from size {old_size} to {new_size} (a fork or a bad proof): \
         {reason}"
    )]
    Inconsistent {
        /// Cosigned size.
        old_size: u64,
        /// Offered size.
        new_size: u64,
        /// Why verification failed.
        reason: String,
    },
    /// Producing the cosignature failed.
    #[error("cosigning failed: {0}")]
    Cosign(String),
}

impl WitnessError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WitnessError::LogKey(_) => "witness.log_key",
            WitnessError::Checkpoint(_) => "witness.checkpoint",
            WitnessError::OriginMismatch { .. } => "witness.origin_mismatch",
            WitnessError::BadState(_) => "witness.bad_state",
            WitnessError::Rollback { .. } => "witness.rollback",
            WitnessError::Fork { .. } => "witness.fork",
            WitnessError::Inconsistent { .. } => "witness.inconsistent",
            WitnessError::Cosign(_) => "witness.cosign",
        }
    }
}

/// Verifies `checkpoint_note` under `log_key`, checks that it extends the checkpoint in `state`
/// (the empty tree when there is none) with `proof` (RFC 9162 consistency proof from the old
/// size to the new), and returns a cosignature line for it at time `now` (unix seconds). On
/// success `state` now holds the new checkpoint; on refusal it is unchanged.
pub fn witness(
    state: &mut Option<WitnessState>,
    checkpoint_note: &str,
    proof: &[Hash],
    log_key: &VerifierKey,
    signer: &CosignatureSigner,
    now: u64,
) -> Result<String, WitnessError> {
    let verifier = NoteVerifier::new(vec![log_key.clone()])
        .map_err(|e| WitnessError::LogKey(e.to_string()))?;
    let (cp, verified) = Checkpoint::open(checkpoint_note, &verifier)
        .map_err(|e| WitnessError::Checkpoint(format!("{}: {e}", e.code())))?;
    let (old_size, old_root) = match state.as_ref() {
        Some(s) => {
            if s.origin != cp.origin() {
                return Err(WitnessError::OriginMismatch {
                    expected: s.origin.clone(),
                    found: cp.origin().to_owned(),
                });
            }
            let root = s
                .root()
                .ok_or_else(|| WitnessError::BadState("root_hash is not 32 bytes of hex".into()))?;
            (s.size, root)
        }
        // A new witness starts from the empty tree, which every tree extends.
        None => (0, empty_root()),
    };
    let new_size = cp.size();
    if new_size < old_size {
        return Err(WitnessError::Rollback { old_size, new_size });
    }
    if new_size == old_size && &old_root != cp.root_hash() {
        return Err(WitnessError::Fork {
            size: new_size,
            old_root: hex::encode(old_root),
            new_root: hex::encode(cp.root_hash()),
        });
    }
    verify_consistency(old_size, new_size, &old_root, cp.root_hash(), proof).map_err(|e| {
        WitnessError::Inconsistent {
            old_size,
            new_size,
            reason: format!("{}: {e}", e.code()),
        }
    })?;
    let line = signer
        .cosignature_line(&verified.text, now)
        .map_err(|e| WitnessError::Cosign(e.to_string()))?;
    *state = Some(WitnessState {
        version: STATE_VERSION,
        origin: cp.origin().to_owned(),
        size: new_size,
        root_hash: hex::encode(cp.root_hash()),
        checkpoint: checkpoint_note.to_owned(),
    });
    Ok(line)
}
