//! The zkscim authority: verifies every signed SCIM operation without reading protected content,
//! applies it to the tenant's directory and appends it to the tenant's transparency log, in one
//! transaction.
//!
//! Owns: the verification pipeline, tenant policy enforcement, the SQLite store, the group-commit
//! log writer, checkpoint signing, the axum router and the embedding API.
//!
//! Must never: decrypt or inspect sealed values (it holds no tenant secret), apply anything it
//! did not log, log anything it did not apply or refuse, or let one tenant's key or query reach
//! another tenant's data.
#![forbid(unsafe_code)]

pub mod log;
pub mod store;
