//! Single-use signed reads.
//!
//! A read request is not logged, so the log's nonce table cannot catch its replay. This guard
//! remembers the nonce of every authorised read request until its issued-at has left the skew
//! window; after that the time check refuses the request anyway, so memory is bounded by the
//! read rate times the window. A captured `Authorization` header therefore works once. Time is
//! a parameter, so tests control it; the guard never reads a clock.

use std::collections::{HashMap, HashSet, VecDeque};

/// How many read nonces are remembered at most (about 250 bytes each with their bookkeeping,
/// so ~250 MB when full): at the default 300 s window, ~1,700 authorised reads per second
/// sustained.
pub const MAX_TRACKED_READS: usize = 1 << 20;

/// How many of them one tenant may hold, so that one tenant's keys flooding reads make only
/// that tenant's reads wait, not everyone's.
pub const MAX_TRACKED_READS_PER_TENANT: usize = 1 << 18;

/// Why a read request's nonce was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadNonceError {
    /// The same tenant already served a read request with this nonce inside the window.
    #[error("this read request (nonce {nonce}) was already used: sign a fresh one for every read")]
    Replayed {
        /// The nonce, hex.
        nonce: String,
    },
    /// More reads inside the window than the guard remembers (for this tenant, or in all).
    #[error("more than {max} signed reads inside the skew window; retry shortly")]
    Full {
        /// The limit reached.
        max: usize,
    },
}

impl ReadNonceError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReadNonceError::Replayed { .. } => "auth.read_replayed",
            ReadNonceError::Full { .. } => "read.busy",
        }
    }

    /// HTTP status: a replay is an authentication failure, a full guard a temporary one.
    pub fn status(&self) -> u16 {
        match self {
            ReadNonceError::Replayed { .. } => 401,
            ReadNonceError::Full { .. } => 503,
        }
    }
}

/// (tenant, nonce) of the read requests seen inside the skew window.
#[derive(Debug)]
pub(crate) struct ReadNonces {
    seen: HashSet<(String, Vec<u8>)>,
    /// In arrival order with the time after which each may be forgotten. Arrival order is only
    /// roughly expiry order (issued-at varies within the window), so an entry may outlive its
    /// expiry behind a later one: memory errs long, never short.
    order: VecDeque<(u64, (String, Vec<u8>))>,
    per_tenant: HashMap<String, usize>,
    max: usize,
    max_per_tenant: usize,
}

impl ReadNonces {
    pub(crate) fn new(max: usize, max_per_tenant: usize) -> ReadNonces {
        ReadNonces {
            seen: HashSet::new(),
            order: VecDeque::new(),
            per_tenant: HashMap::new(),
            max,
            max_per_tenant,
        }
    }

    /// Records the nonce of an authorised read request issued at `issued_at`, refusing one
    /// already recorded. `skew` is the window the time check allows on either side of `now`.
    pub(crate) fn record(
        &mut self,
        tenant: &str,
        nonce: &[u8],
        issued_at: u64,
        skew: u64,
        now: u64,
    ) -> Result<(), ReadNonceError> {
        self.forget_expired(now);
        let key = (tenant.to_owned(), nonce.to_vec());
        if self.seen.contains(&key) {
            return Err(ReadNonceError::Replayed {
                nonce: hex::encode(nonce),
            });
        }
        if self.seen.len() >= self.max {
            return Err(ReadNonceError::Full { max: self.max });
        }
        let held = self.per_tenant.get(tenant).copied().unwrap_or(0);
        if held >= self.max_per_tenant {
            return Err(ReadNonceError::Full {
                max: self.max_per_tenant,
            });
        }
        match self.per_tenant.get_mut(tenant) {
            Some(count) => *count += 1,
            None => {
                self.per_tenant.insert(key.0.clone(), 1);
            }
        }
        self.seen.insert(key.clone());
        // The time check accepts this request while now ≤ issued_at + skew.
        self.order.push_back((issued_at.saturating_add(skew), key));
        Ok(())
    }

    fn forget_expired(&mut self, now: u64) {
        while let Some((expires, _)) = self.order.front() {
            if *expires >= now {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                if let Some(held) = self.per_tenant.get_mut(&key.0) {
                    *held = held.saturating_sub(1);
                    if *held == 0 {
                        self.per_tenant.remove(&key.0);
                    }
                }
                self.seen.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_works_once_per_tenant_while_the_window_lasts() {
        let mut g = ReadNonces::new(16, 16);
        g.record("acme", b"n1", 1_000, 300, 1_000).unwrap();
        let e = g.record("acme", b"n1", 1_000, 300, 1_200).unwrap_err();
        assert_eq!(e.code(), "auth.read_replayed");
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains("6e31"), "{e}");
        // Another tenant's identical nonce is its own.
        g.record("beta", b"n1", 1_000, 300, 1_200).unwrap();
        // Still remembered at the last second the time check would accept it…
        assert!(g.record("acme", b"n1", 1_000, 300, 1_300).is_err());
        // …and forgotten after, when the time check refuses it instead.
        g.record("acme", b"n2", 1_301, 300, 1_301).unwrap();
        assert_eq!(g.len(), 1, "acme/n1 and beta/n1 expired, acme/n2 remains");
    }

    #[test]
    fn a_full_guard_refuses_rather_than_forgets() {
        let mut g = ReadNonces::new(2, 2);
        g.record("acme", b"a", 1_000, 300, 1_000).unwrap();
        g.record("acme", b"b", 1_000, 300, 1_000).unwrap();
        let e = g.record("acme", b"c", 1_000, 300, 1_000).unwrap_err();
        assert_eq!((e.code(), e.status()), ("read.busy", 503));
        // The replay is still caught while full.
        assert_eq!(
            g.record("acme", b"a", 1_000, 300, 1_000)
                .unwrap_err()
                .code(),
            "auth.read_replayed"
        );
        // Room again once the window has passed.
        g.record("acme", b"c", 1_400, 300, 1_400).unwrap();
    }

    #[test]
    fn one_tenant_filling_its_share_leaves_the_others_served() {
        let mut g = ReadNonces::new(16, 2);
        g.record("noisy", b"a", 1_000, 300, 1_000).unwrap();
        g.record("noisy", b"b", 1_000, 300, 1_000).unwrap();
        let e = g.record("noisy", b"c", 1_000, 300, 1_000).unwrap_err();
        assert_eq!(e, ReadNonceError::Full { max: 2 });
        g.record("quiet", b"a", 1_000, 300, 1_000).unwrap();
        // The share comes back as the window passes.
        g.record("noisy", b"c", 1_400, 300, 1_400).unwrap();
        assert_eq!(g.per_tenant.get("noisy"), Some(&1));
        assert_eq!(g.per_tenant.get("quiet"), None, "an empty share is dropped");
    }

    #[test]
    fn entries_behind_a_longer_lived_one_are_kept_not_lost() {
        let mut g = ReadNonces::new(16, 16);
        // Issued late in the window first, then one issued early.
        g.record("acme", b"late", 1_290, 300, 1_000).unwrap();
        g.record("acme", b"early", 710, 300, 1_000).unwrap();
        // At 1_100 "early" has expired but sits behind "late": it is kept (errs long).
        assert!(g.record("acme", b"early", 710, 300, 1_100).is_err());
        // Past both expiries both go.
        g.record("acme", b"x", 1_600, 300, 1_600).unwrap();
        assert_eq!(g.len(), 1);
    }
}
