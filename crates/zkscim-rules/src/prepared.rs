//! Statements parsed, and their signatures verified, ahead of the sequential fold — in batches,
//! on another thread if the caller likes (DESIGN §3: batch verification is a fast accept path
//! only, `zkscim_proto::batch`, which makes the strict per-signature checks itself; on a batch
//! failure every signature is re-verified one by one with `verify_strict`, and one that fails is
//! simply not marked verified, so the fold's own strict check names it).
//!
//! The only way to obtain a [`Prepared`] whose signature counts as verified is
//! [`prepare_batch`], which verified it; the fold then skips only the statement signature's
//! re-verification, and only for exactly the bytes and the signer key that were verified.

use std::collections::{BTreeSet, HashSet};

use rand_core::CryptoRngCore;
use zkscim_proto::batch::{verify_batch, BatchEntry};
use zkscim_proto::cert::{CertId, VerifiedCache};
use zkscim_proto::envelope::{self, Change, EnvelopeError, Statement};
use zkscim_proto::keys::PublicKey;
use zkscim_proto::scope::AttrPath;

/// Batches smaller than this are verified one by one (batching does not pay below it).
pub const MIN_BATCH: usize = 8;

/// One statement prepared for [`crate::replay::Replayer::replay_prepared`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The statement parsed from the exact bytes, or why it does not parse.
    pub(crate) statement: Result<Statement, EnvelopeError>,
    /// The key under which the statement's signature verified (strict, or the DESIGN §3 batch
    /// fast path with the strict per-signature checks), if it did.
    pub(crate) verified_signer: Option<PublicKey>,
    /// SHA-256 of the exact bytes prepared.
    pub(crate) submitted_hash: [u8; 32],
    /// For an operation whose touched paths do not depend on the stored resource (all but
    /// replace): its touched paths, or why they cannot be had, computed ahead so the sequential
    /// fold does not walk the body itself.
    pub(crate) touched: Option<TouchedPaths>,
}

/// What [`zkscim_proto::envelope::OperationBody::touched_paths`] answers.
pub(crate) type TouchedPaths = Result<BTreeSet<AttrPath>, EnvelopeError>;

/// The touched paths of `statement`, if it is an operation whose answer does not depend on the
/// stored resource.
fn touched_ahead(statement: &Statement) -> Option<TouchedPaths> {
    match statement {
        Statement::Operation(s) if !matches!(s.body().change, Change::Replace(_)) => {
            Some(s.body().touched_paths(None))
        }
        _ => None,
    }
}

impl Prepared {
    /// Whether the signature was verified ahead (for tests and statistics).
    pub fn signature_verified(&self) -> bool {
        self.verified_signer.is_some()
    }
}

/// The key that must have signed `statement` if its chain holds: the subject of the last
/// certificate, or the tenant root when the chain is empty. `None` for statements whose
/// signer is found otherwise (genesis) or that are not log statements (read requests).
fn expected_signer(statement: &Statement, root: &PublicKey) -> Option<PublicKey> {
    let chain = match statement {
        Statement::Operation(s) => &s.header().chain,
        Statement::Revocation(s) => &s.header().chain,
        Statement::Policy(s) => &s.header().chain,
        Statement::Approval(s) => &s.header().chain,
        Statement::ReadRequest(_) | Statement::Genesis(_) => return None,
    };
    Some(chain.last().map_or(*root, |c| c.claims().subject))
}

fn sign1_of(statement: &Statement) -> Option<&zkscim_proto::cose::Sign1> {
    match statement {
        Statement::Operation(s) => Some(s.sign1()),
        Statement::Revocation(s) => Some(s.sign1()),
        Statement::Policy(s) => Some(s.sign1()),
        Statement::Approval(s) => Some(s.sign1()),
        Statement::ReadRequest(_) | Statement::Genesis(_) => None,
    }
}

/// One statement for [`prepare_batch`]: its exact bytes and, when the caller has already
/// computed it, their SHA-256 (the auditor's first stage does, for every entry it accepts).
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    /// The exact statement bytes.
    pub bytes: &'a [u8],
    /// SHA-256 of `bytes`, if known. Taken as given: the replay compares it with the entry's
    /// submitted hash, so it must be the hash of these very bytes.
    pub sha256: Option<[u8; 32]>,
}

/// Parses every submitted statement and verifies the signatures of those whose `kid` names the
/// key their chain empowers (under the tenant `root`): together with
/// [`zkscim_proto::batch::verify_batch`] (weights from `rng`) when there are at least
/// [`MIN_BATCH`], else, or if the batch fails, one by one with `verify_strict`. `rng` must be
/// unpredictable to whoever wrote the statements and arranged them (for an auditor: the server).
/// Pure; safe to run on any thread.
pub fn prepare_batch(
    submitted: &[Submitted<'_>],
    root: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Vec<Prepared> {
    let mut out: Vec<Prepared> = submitted
        .iter()
        .map(|s| {
            let statement = envelope::parse_any(s.bytes);
            let touched = statement.as_ref().ok().and_then(touched_ahead);
            Prepared {
                statement,
                verified_signer: None,
                submitted_hash: s
                    .sha256
                    .unwrap_or_else(|| zkscim_proto::log_entry::submitted_hash_of(s.bytes)),
                touched,
            }
        })
        .collect();
    // (index, signer, its Sign1)
    let candidates: Vec<(usize, PublicKey, &zkscim_proto::cose::Sign1)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let statement = p.statement.as_ref().ok()?;
            let signer = expected_signer(statement, root)?;
            let sign1 = sign1_of(statement)?;
            (sign1.kid == signer.key_id()).then_some((i, signer, sign1))
        })
        .collect();
    let batch_ok = candidates.len() >= MIN_BATCH && {
        // The Sig_structure up to the payload, per candidate: hashed before the payload itself.
        let prefixes: Vec<Vec<u8>> = candidates
            .iter()
            .map(|(_, _, sign1)| sign1.to_be_signed_parts().0)
            .collect();
        let entries: Vec<BatchEntry<'_>> = candidates
            .iter()
            .zip(&prefixes)
            .map(|((_, key, sign1), prefix)| BatchEntry {
                key,
                message: [prefix, &sign1.payload],
                signature: &sign1.signature,
            })
            .collect();
        verify_batch(&entries, rng)
    };
    let verified: Vec<(usize, PublicKey)> = candidates
        .into_iter()
        .filter(|(_, signer, sign1)| {
            batch_ok
                || signer
                    .verify_strict(&sign1.to_be_signed(), &sign1.signature)
                    .is_ok()
        })
        .map(|(i, signer, _)| (i, signer))
        .collect();
    for (i, signer) in verified {
        if let Some(p) = out.get_mut(i) {
            p.verified_signer = Some(signer);
        }
    }
    out
}

/// The replayer's certificate cache plus the one statement signature verified ahead.
pub(crate) struct WithSignature<'a> {
    pub(crate) certs: &'a mut HashSet<CertId, crate::exact_set::Keyed>,
    pub(crate) signer: Option<PublicKey>,
    pub(crate) bytes: &'a [u8],
}

impl VerifiedCache for WithSignature<'_> {
    fn is_verified(&self, id: &CertId) -> bool {
        self.certs.contains(id)
    }

    fn mark_verified(&mut self, id: CertId) {
        self.certs.insert(id);
    }

    fn statement_signature_verified(&self, signer: &PublicKey, statement_bytes: &[u8]) -> bool {
        self.signer.as_ref() == Some(signer) && statement_bytes == self.bytes
    }
}
