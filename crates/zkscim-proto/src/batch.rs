//! Batch verification of Ed25519 signatures, as a fast *accept* path in front of
//! [`PublicKey::verify_strict`] (DESIGN §3, `spec/audit.md` §1.1).
//!
//! [`verify_batch`] answers `true` only if every signature passes each per-signature check that
//! `verify_strict` makes (canonical `S`, canonical and not small-order `R`; the key was checked
//! for small order when the [`PublicKey`] was made), and the random linear combination of their
//! verification equations is the identity. `false` means "at least one is bad, or cannot be
//! checked this way": the caller re-verifies each with `verify_strict` to name it.
//!
//! Why not `ed25519_dalek::verify_batch`: it skips the strict per-signature checks (a key holder
//! can make an `R` = identity signature that it accepts and `verify_strict` refuses), and it
//! derives its weights from the batch itself, so whoever arranges the batch (for an auditor: the
//! server that wrote the log) can grind them. Here the weights come from the caller's RNG.
//!
//! What no batch check can do exactly: a signature whose equation is off by a small-order
//! (torsion) point alone. Only the key's holder can make one, by adding a torsion point to `R`;
//! `verify_strict` refuses it, and a batch holding it is refused with probability at least 1/2
//! per check with fresh weights (a torsion point of order 2 vanishes under an even weight). See
//! the spec for what that means for an auditor.
//!
//! Signatures under the same key share one point in the multiscalar multiplication (the
//! weighted challenges are summed per key), so a log whose statements come from a few keys costs
//! about one point per signature instead of two.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha512};

use crate::keys::{KeyId, PublicKey};

/// One signature to check: the key it claims, the exact signed bytes, the 64 signature bytes.
#[derive(Debug, Clone, Copy)]
pub struct BatchEntry<'a> {
    /// The key that must have signed.
    pub key: &'a PublicKey,
    /// The exact bytes signed (for COSE_Sign1, the Sig_structure), as two parts whose
    /// concatenation they are (either may be empty), so a caller need not copy a payload
    /// behind its prefix.
    pub message: [&'a [u8]; 2],
    /// `R || S`.
    pub signature: &'a [u8; 64],
}

/// Whether `y` (little-endian, sign bit ignored) is below p = 2^255 − 19. `verify_strict`
/// compares the encoding of `R` it recomputes, which is always canonical, with the bytes given,
/// so a non-canonical `R` never verifies strictly; decompression alone would accept it.
fn is_canonical_y(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    // y ≥ p exactly when bytes 1..31 are all 0xff (top byte 0x7f once the sign bit is cleared)
    // and the lowest byte is at least 0xed.
    let (low, high) = y.split_at(1);
    let (middle, top) = high.split_at(high.len() - 1);
    let at_least_p = low.first().is_some_and(|b| *b >= 0xed)
        && middle.iter().all(|b| *b == 0xff)
        && top.first().is_some_and(|b| *b == 0x7f);
    !at_least_p
}

/// The y-coordinates (little-endian, below p) of the eight points of small order: 0 (order 4),
/// 1 (the identity), the two of order 8, and p − 1 (order 2). A point on the curve has small
/// order exactly when its y is one of these, whatever the sign of x, since −P has the order of
/// P (checked against `EdwardsPoint::is_small_order` in the tests).
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Whether the point encoded as `encoding` (canonical y) has small order, if it is on the
/// curve: five comparisons instead of three doublings of the decompressed point.
fn has_small_order_y(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    SMALL_ORDER_Y.contains(&y)
}

/// `R` and `S` of a signature that passes the per-signature strict checks, else `None`.
fn strict_parts(signature: &[u8; 64]) -> Option<(EdwardsPoint, Scalar)> {
    let (r_half, s_half) = signature.split_at(32);
    let r_bytes: [u8; 32] = r_half.try_into().ok()?;
    let s_bytes: [u8; 32] = s_half.try_into().ok()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    if !is_canonical_y(&r_bytes) || has_small_order_y(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    Some((r, s))
}

/// The Ed25519 challenge `k = SHA-512(R || A || M) mod ℓ`.
fn challenge(signature: &[u8; 64], key: &PublicKey, message: [&[u8]; 2]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(signature.get(..32).unwrap_or_default());
    hash.update(key.to_bytes());
    for part in message {
        hash.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// Bytes of randomness per weight: 128-bit weights bound the chance that a batch holding a
/// signature off by a large-order point is accepted to 2^-128.
const WEIGHT_BYTES: usize = 16;

/// `true` only if every signature in `entries` would pass `verify_strict` (up to the torsion
/// caveat in the module documentation); `false` if any fails or cannot be batched, or if `rng`
/// fails (the caller then verifies one by one, as for any failed batch). An empty batch is
/// `true`. `rng` supplies the weights: it must be unpredictable to whoever chose the entries.
pub fn verify_batch(entries: &[BatchEntry<'_>], rng: &mut impl CryptoRngCore) -> bool {
    if entries.is_empty() {
        return true;
    }
    let mut randomness = vec![0u8; entries.len() * WEIGHT_BYTES];
    if rng.try_fill_bytes(&mut randomness).is_err() {
        return false;
    }

    // Points: B, then each R, then each distinct key once.
    let mut scalars: Vec<Scalar> = Vec::with_capacity(entries.len() + 2);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(entries.len() + 2);
    scalars.push(Scalar::ZERO);
    points.push(ED25519_BASEPOINT_POINT);
    let mut base_coefficient = Scalar::ZERO;
    // Per distinct key: its point and Σ zᵢkᵢ over its signatures.
    let mut key_terms: HashMap<KeyId, (EdwardsPoint, Scalar)> = HashMap::new();

    for (entry, weight_bytes) in entries.iter().zip(randomness.chunks_exact(WEIGHT_BYTES)) {
        let Some((r, s)) = strict_parts(entry.signature) else {
            return false;
        };
        let mut weight = [0u8; WEIGHT_BYTES];
        weight.copy_from_slice(weight_bytes);
        let z = Scalar::from(u128::from_le_bytes(weight));
        let k = challenge(entry.signature, entry.key, entry.message);
        base_coefficient += z * s;
        scalars.push(z);
        points.push(r);
        key_terms
            .entry(entry.key.key_id())
            .or_insert_with(|| (entry.key.as_dalek().to_edwards(), Scalar::ZERO))
            .1 += z * k;
    }
    if let Some(first) = scalars.first_mut() {
        *first = -base_coefficient;
    }
    for (point, coefficient) in key_terms.into_values() {
        points.push(point);
        scalars.push(coefficient);
    }
    // Σ zᵢRᵢ + Σ_A (Σ_{i: Aᵢ = A} zᵢkᵢ) A − (Σ zᵢsᵢ) B: the identity when every
    // Rᵢ = sᵢB − kᵢAᵢ, which is what `verify_strict` checks one at a time.
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::keys::SigningKey;
    use curve25519_dalek::constants::EIGHT_TORSION;

    #[test]
    fn the_small_order_table_is_exactly_the_eight_torsion_points() {
        // Every torsion point, with either sign bit, is in the table...
        for t in EIGHT_TORSION {
            for sign in [0, 0x80] {
                let mut encoding = t.compress().to_bytes();
                encoding[31] |= sign;
                assert!(has_small_order_y(&encoding), "{encoding:02x?}");
            }
        }
        // ...and no point of large order is, with or without a torsion component.
        let mut rng = rng(7);
        for i in 0..2000 {
            let mut wide = [0u8; 64];
            rand_core::RngCore::fill_bytes(&mut rng, &mut wide);
            let point = ED25519_BASEPOINT_POINT * Scalar::from_bytes_mod_order_wide(&wide)
                + EIGHT_TORSION[i % 8];
            let encoding = point.compress().to_bytes();
            assert_eq!(
                has_small_order_y(&encoding),
                point.is_small_order(),
                "{encoding:02x?}"
            );
        }
    }

    /// A deterministic RNG for tests: SHA-512 in counter mode over a seed.
    struct CounterRng {
        seed: u64,
        counter: u64,
    }

    impl rand_core::RngCore for CounterRng {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(64) {
                let mut h = Sha512::new();
                h.update(self.seed.to_le_bytes());
                h.update(self.counter.to_le_bytes());
                self.counter += 1;
                let out = h.finalize();
                chunk.copy_from_slice(&out[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for CounterRng {}

    fn rng(seed: u64) -> CounterRng {
        CounterRng { seed, counter: 0 }
    }

    fn key(i: u8) -> SigningKey {
        SigningKey::from_seed(&[i; 32])
    }

    struct Signed {
        key: PublicKey,
        message: Vec<u8>,
        signature: [u8; 64],
    }

    fn honest(count: usize, keys: u8) -> Vec<Signed> {
        (0..count)
            .map(|i| {
                let k = key(1 + (i % usize::from(keys)) as u8);
                let message = format!("statement {i}").into_bytes();
                Signed {
                    key: k.public_key(),
                    signature: k.sign(&message),
                    message,
                }
            })
            .collect()
    }

    fn entries(signed: &[Signed]) -> Vec<BatchEntry<'_>> {
        signed
            .iter()
            .map(|s| BatchEntry {
                key: &s.key,
                message: [&s.message, &[]],
                signature: &s.signature,
            })
            .collect()
    }

    /// A signature with `R = r·B + torsion` and `S = r + k·a`: made by the key's holder, off
    /// from the strict equation by exactly `torsion`.
    fn signed_with(seed: u8, message: &[u8], r: Scalar, torsion: EdwardsPoint) -> Signed {
        let dalek = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let key = PublicKey::from_bytes(&dalek.verifying_key().to_bytes()).unwrap();
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion)
            .compress()
            .to_bytes();
        let mut h = Sha512::new();
        h.update(big_r);
        h.update(key.to_bytes());
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * dalek.to_scalar();
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        Signed {
            key,
            message: message.to_vec(),
            signature,
        }
    }

    /// The torsion part `ℓ·P` of a point P found by hashing, of exactly the order asked.
    fn torsion_of_order(order: u64) -> EdwardsPoint {
        let l_minus_one = -Scalar::ONE;
        for i in 0u32.. {
            let mut h = Sha512::new();
            h.update(i.to_le_bytes());
            let bytes: [u8; 32] = h.finalize()[..32].try_into().unwrap();
            let Some(p) = CompressedEdwardsY(bytes).decompress() else {
                continue;
            };
            let t = p * l_minus_one + p;
            let mut multiple = t;
            let mut actual = 1;
            while !multiple.is_identity() {
                multiple += t;
                actual += 1;
            }
            if actual == order {
                return t;
            }
        }
        unreachable!()
    }

    /// An RNG that always fails.
    struct BrokenRng;

    impl rand_core::RngCore for BrokenRng {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
            Err(rand_core::Error::from(
                std::num::NonZeroU32::new(rand_core::Error::CUSTOM_START).unwrap(),
            ))
        }
    }
    impl rand_core::CryptoRng for BrokenRng {}

    /// Without randomness there are no safe weights: the batch is refused (never accepted with
    /// zero or predictable weights), so the caller falls back to strict checks.
    #[test]
    fn a_failing_rng_refuses_the_batch() {
        let signed = honest(16, 2);
        assert!(verify_batch(&entries(&signed), &mut rng(5)));
        assert!(!verify_batch(&entries(&signed), &mut BrokenRng));
    }

    #[test]
    fn honest_batches_pass_under_one_or_many_keys() {
        for keys in [1u8, 3, 64] {
            let signed = honest(64, keys);
            assert!(verify_batch(&entries(&signed), &mut rng(1)), "{keys} keys");
        }
        assert!(verify_batch(&[], &mut rng(1)));
    }

    #[test]
    fn one_bad_signature_fails_the_batch_wherever_it_is() {
        for position in [0usize, 17, 63] {
            let mut signed = honest(64, 2);
            signed[position].message.push(b'!');
            assert!(!verify_batch(&entries(&signed), &mut rng(2)));
            let mut signed = honest(64, 2);
            signed[position].signature[40] ^= 1;
            assert!(!verify_batch(&entries(&signed), &mut rng(2)));
            let mut signed = honest(64, 2);
            signed[position].key = key(99).public_key();
            assert!(!verify_batch(&entries(&signed), &mut rng(2)));
        }
    }

    /// `R` = identity and `S = k·a` satisfies the cofactorless equation exactly, so dalek's batch
    /// accepts it; `verify_strict` refuses it (small-order `R`), and so must we.
    #[test]
    fn identity_r_is_refused_although_dalek_batches_accept_it() {
        let message = b"identity R".to_vec();
        let dalek = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let key = PublicKey::from_bytes(&dalek.verifying_key().to_bytes()).unwrap();
        let r_bytes = EdwardsPoint::default().compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(key.to_bytes());
        h.update(&message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = k * dalek.to_scalar();
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        let forged = Signed {
            key,
            message,
            signature,
        };
        assert!(forged
            .key
            .verify_strict(&forged.message, &forged.signature)
            .is_err());
        let mut signed = honest(16, 1);
        signed.push(forged);
        let messages: Vec<&[u8]> = signed.iter().map(|s| s.message.as_slice()).collect();
        let sigs: Vec<ed25519_dalek::Signature> = signed
            .iter()
            .map(|s| ed25519_dalek::Signature::from_bytes(&s.signature))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> =
            signed.iter().map(|s| *s.key.as_dalek()).collect();
        assert!(ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok());
        assert!(!verify_batch(&entries(&signed), &mut rng(3)));
    }

    #[test]
    fn non_canonical_s_and_r_are_refused() {
        let mut signed = honest(8, 1);
        // S + ℓ: the same scalar mod ℓ, not canonical.
        let l: [u8; 32] = {
            let mut l = (-Scalar::ONE).to_bytes();
            l[0] += 1;
            l
        };
        let mut s = [0u8; 32];
        s.copy_from_slice(&signed[3].signature[32..]);
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s[i]) + u16::from(l[i]) + carry;
            s[i] = sum as u8;
            carry = sum >> 8;
        }
        signed[3].signature[32..].copy_from_slice(&s);
        assert!(!verify_batch(&entries(&signed), &mut rng(4)));

        // Encodings of p, p + 1, p + 18 and 2^255 − 1: y ≥ p.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p));
        let mut p1 = p;
        p1[0] = 0xee;
        assert!(!is_canonical_y(&p1));
        assert!(
            CompressedEdwardsY(p1).decompress().is_some(),
            "decompression alone accepts y = p + 1"
        );
        let mut top = [0xffu8; 32];
        assert!(!is_canonical_y(&top));
        top[0] = 0xec;
        top[31] = 0x7f;
        assert!(is_canonical_y(&top), "p − 1 is canonical");
        top[31] = 0xff;
        assert!(is_canonical_y(&top), "the sign bit is not part of y");
        assert!(is_canonical_y(&[0u8; 32]));
    }

    /// A torsion-malleated signature fails `verify_strict`. The batch equation sees only the
    /// weight times the torsion point, so it is caught when that product is not the identity:
    /// always for some weights, never for all. With fresh weights it is caught at least half
    /// the time (order 2), 3/4 (order 4) or 7/8 (order 8).
    #[test]
    fn torsion_malleated_signatures_are_caught_with_fresh_weights() {
        for (order, at_least) in [(2u64, 20), (4, 36), (8, 44)] {
            let torsion = torsion_of_order(order);
            let forged = signed_with(9, b"malleated", Scalar::from(12345u64), torsion);
            assert!(forged
                .key
                .verify_strict(&forged.message, &forged.signature)
                .is_err());
            let mut caught = 0;
            for seed in 0..64 {
                let mut signed = honest(15, 2);
                signed.push(signed_with(
                    9,
                    b"malleated",
                    Scalar::from(12345u64),
                    torsion,
                ));
                if !verify_batch(&entries(&signed), &mut rng(seed)) {
                    caught += 1;
                }
            }
            assert!(
                caught >= at_least,
                "order {order}: caught {caught} of 64 runs"
            );
            // Without the torsion point the same construction is an honest signature.
            let fine = signed_with(
                9,
                b"malleated",
                Scalar::from(12345u64),
                EdwardsPoint::default(),
            );
            assert!(fine
                .key
                .verify_strict(&fine.message, &fine.signature)
                .is_ok());
            assert!(verify_batch(&entries(&[fine]), &mut rng(0)));
        }
    }
}
