//! The verdict rules of zkscim: given an authenticated statement and a view of the tenant's
//! current state, decide whether it is applied or refused, and exactly what changes.
//!
//! Owns: the semantics of every statement (genesis, operation, revocation, policy): replay,
//! revocation, scope against touched paths, protection profile, reactivation, SCIM validation,
//! preconditions, uniqueness, membership. The authority executes its decisions; the auditor
//! re-derives them from the log and compares. "State is a fold of the log" holds because both
//! fold with this one function.
//!
//! Must never: perform I/O, read a clock (the decision time is the log entry's time), hold
//! tenant secrets, or decide on anything the log does not record.
#![forbid(unsafe_code)]
