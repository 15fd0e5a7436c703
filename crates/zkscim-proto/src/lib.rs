//! zkscim wire formats: the single source of truth for every byte that is signed, hashed or
//! logged.
//!
//! Owns: the CBOR codec (the only place in the workspace that encodes or decodes CBOR), keys and
//! key ids, COSE_Sign1, delegation certificates and chain verification, scopes and their
//! attenuation, operation envelopes and the paths they touch, sealed values and blind indexes,
//! log entries, RFC 6962 Merkle trees and proofs, C2SP checkpoints and signed notes.
//!
//! Must never: perform I/O, read the system clock or an ambient RNG (time and randomness are
//! parameters), hold a tenant secret longer than the caller asks, or print key material.
#![forbid(unsafe_code)]

pub mod batch;
pub mod cert;
pub mod checkpoint;
pub mod codec;
pub mod cose;
pub mod envelope;
pub mod export;
pub mod keys;
pub mod log_entry;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod scope;
pub mod seal;
pub mod touch;
