//! Signed statement envelopes (operations, revocations, policies, read requests, genesis).
