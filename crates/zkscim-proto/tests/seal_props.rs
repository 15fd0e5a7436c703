//! Property tests for sealed values, blind indexes, shape checks, protection profiles and log
//! entries (the log-entry properties live here too so the crate's test files stay few).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome, ZERO_HASH};
use zkscim_proto::seal::{
    self, blind_index, check_index_shape, check_sealed_shape, classify, normalize_attribute_path,
    ProtectionProfile, SealContext, TenantSecret, ValueClass,
};

/// A deterministic "RNG" fed from proptest-chosen bytes, so failures reproduce.
struct FixedRng(Vec<u8>, usize);
impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for FixedRng {}

/// Valid attribute paths, pairwise distinct after normalisation.
const PATHS: &[&str] = &[
    "userName",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "phoneNumbers.value",
    "displayName",
    "externalId",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
];

#[derive(Clone, Debug)]
struct Ctx {
    tenant: String,
    resource_type: String,
    resource_id: String,
    path: usize,
}

impl Ctx {
    fn get(&self) -> SealContext<'_> {
        SealContext {
            tenant: &self.tenant,
            resource_type: &self.resource_type,
            resource_id: &self.resource_id,
            attribute_path: PATHS[self.path],
        }
    }
}

fn ctx_strategy() -> impl Strategy<Value = Ctx> {
    (
        "[a-z0-9-]{1,24}",
        prop_oneof![
            Just("User".to_owned()),
            Just("Group".to_owned()),
            "[A-Za-z]{1,16}"
        ],
        "[0-9a-f-]{1,36}",
        0..PATHS.len(),
    )
        .prop_map(|(tenant, resource_type, resource_id, path)| Ctx {
            tenant,
            resource_type,
            resource_id,
            path,
        })
}

fn secret_strategy() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn entry_strategy() -> impl Strategy<Value = LogEntry> {
    let kind = prop_oneof![
        Just(EntryKind::Certificate),
        Just(EntryKind::Operation),
        Just(EntryKind::Revocation),
        Just(EntryKind::Policy),
        Just(EntryKind::Refusal),
        Just(EntryKind::Approval),
    ];
    let outcome = prop_oneof![
        proptest::option::of("[ -~]{1,40}").prop_map(|version| Outcome::Applied { version }),
        ("[a-z0-9._-]{1,40}", ".{0,80}")
            .prop_map(|(code, detail)| Outcome::Refused { code, detail }),
    ];
    (
        any::<u64>(),
        ".{1,32}",
        any::<u64>(),
        kind,
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        outcome,
    )
        .prop_map(
            |(seq, tenant, time, kind, prev_hash, submitted_hash, outcome)| {
                let seq = seq.max(1);
                // Keep the structural rules: refusal entries are refused, later entries chain.
                let outcome = match (kind, outcome) {
                    (EntryKind::Refusal, Outcome::Applied { .. }) => Outcome::Refused {
                        code: "x".to_owned(),
                        detail: String::new(),
                    },
                    (_, o) => o,
                };
                let prev_hash = if prev_hash == ZERO_HASH {
                    [1; 32]
                } else {
                    prev_hash
                };
                LogEntry {
                    seq,
                    tenant: tenant.chars().take(32).collect(),
                    time,
                    kind,
                    prev_hash,
                    submitted_hash,
                    outcome,
                }
            },
        )
        .prop_filter("tenant within limits", |e| {
            !e.tenant.is_empty() && e.tenant.len() <= 256
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trips(key in secret_strategy(), ctx in ctx_strategy(),
                             plaintext in ".{0,200}", nonce in any::<[u8; 24]>()) {
        let secret = TenantSecret::from_bytes(key);
        let mut rng = FixedRng(nonce.to_vec(), 0);
        let sealed = seal::seal(&secret, &ctx.get(), &plaintext, &mut rng).unwrap();
        prop_assert!(check_sealed_shape(&sealed).is_ok());
        prop_assert_eq!(classify(&sealed), ValueClass::Sealed);
        let opened = seal::open(&secret, &ctx.get(), &sealed).unwrap();
        prop_assert_eq!(opened.as_str(), plaintext.as_str());
    }

    #[test]
    fn any_changed_context_field_fails(key in secret_strategy(), ctx in ctx_strategy(),
                                       plaintext in ".{0,64}", field in 0usize..4,
                                       other in ctx_strategy()) {
        let secret = TenantSecret::from_bytes(key);
        let sealed = seal::seal_with_nonce(&secret, &ctx.get(), &plaintext, &[7; 24]).unwrap();
        let mut changed = ctx.clone();
        match field {
            0 => changed.tenant = format!("{}x", other.tenant),
            1 => changed.resource_type = format!("{}X", other.resource_type),
            2 => changed.resource_id = format!("{}0", other.resource_id),
            _ => changed.path = (ctx.path + 1 + other.path % (PATHS.len() - 1)) % PATHS.len(),
        }
        prop_assume!(changed.get() != ctx.get());
        let err = seal::open(&secret, &changed.get(), &sealed).unwrap_err();
        prop_assert_eq!(err.code(), "seal.open.authentication_failed");
    }

    #[test]
    fn any_flipped_payload_bit_fails(key in secret_strategy(), ctx in ctx_strategy(),
                                     plaintext in ".{0,64}", position in any::<prop::sample::Index>(),
                                     bit in 0u8..8) {
        let secret = TenantSecret::from_bytes(key);
        let sealed = seal::seal_with_nonce(&secret, &ctx.get(), &plaintext, &[9; 24]).unwrap();
        let mut payload = URL_SAFE_NO_PAD.decode(&sealed[4..]).unwrap();
        let i = position.index(payload.len());
        payload[i] ^= 1 << bit;
        let tampered = format!("zk1.{}", URL_SAFE_NO_PAD.encode(&payload));
        let err = seal::open(&secret, &ctx.get(), &tampered).unwrap_err();
        prop_assert_eq!(err.code(), "seal.open.authentication_failed");
    }

    #[test]
    fn any_changed_token_character_fails(key in secret_strategy(), ctx in ctx_strategy(),
                                         plaintext in ".{0,64}", position in any::<prop::sample::Index>(),
                                         replacement in any::<char>()) {
        let secret = TenantSecret::from_bytes(key);
        let sealed = seal::seal_with_nonce(&secret, &ctx.get(), &plaintext, &[3; 24]).unwrap();
        let chars: Vec<char> = sealed.chars().collect();
        let i = position.index(chars.len());
        prop_assume!(chars[i] != replacement);
        let mut changed = chars.clone();
        changed[i] = replacement;
        let tampered: String = changed.into_iter().collect();
        prop_assert!(seal::open(&secret, &ctx.get(), &tampered).is_err());
    }

    #[test]
    fn another_tenants_secret_fails(key in secret_strategy(), other in secret_strategy(),
                                    ctx in ctx_strategy(), plaintext in ".{0,64}") {
        prop_assume!(key != other);
        let sealed = seal::seal_with_nonce(&TenantSecret::from_bytes(key), &ctx.get(), &plaintext, &[1; 24]).unwrap();
        let err = seal::open(&TenantSecret::from_bytes(other), &ctx.get(), &sealed).unwrap_err();
        prop_assert_eq!(err.code(), "seal.open.authentication_failed");
    }

    #[test]
    fn blind_index_is_deterministic(key in secret_strategy(), ctx in ctx_strategy(),
                                    value in ".{0,64}", case_exact in any::<bool>()) {
        let secret = TenantSecret::from_bytes(key);
        let c = ctx.get();
        let a = blind_index(&secret, c.tenant, c.resource_type, c.attribute_path, case_exact, &value).unwrap();
        let b = blind_index(&secret, c.tenant, c.resource_type, c.attribute_path, case_exact, &value).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(check_index_shape(&a).is_ok());
        prop_assert_eq!(classify(&a), ValueClass::Index);
        // Another attribute of the same tenant gives an unrelated index.
        let other_path = PATHS[(ctx.path + 1) % PATHS.len()];
        let c2 = blind_index(&secret, c.tenant, c.resource_type, other_path, case_exact, &value).unwrap();
        prop_assert_ne!(a, c2);
    }

    #[test]
    fn blind_index_case_insensitive_iff_not_case_exact(key in secret_strategy(), value in "[a-zA-Z0-9 .@]{1,40}") {
        let secret = TenantSecret::from_bytes(key);
        let i = |case_exact, v: &str| blind_index(&secret, "acme", "User", "userName", case_exact, v).unwrap();
        let upper = value.to_uppercase();
        let lower = value.to_lowercase();
        prop_assert_eq!(i(false, &upper), i(false, &lower));
        prop_assert_eq!(i(false, &value), i(false, &lower));
        if upper != lower {
            prop_assert_ne!(i(true, &upper), i(true, &lower));
        }
    }

    #[test]
    fn nfc_equivalent_inputs_index_equally(key in secret_strategy(), value in "\\PC{0,40}",
                                           case_exact in any::<bool>()) {
        let secret = TenantSecret::from_bytes(key);
        let nfd: String = value.nfd().collect();
        let nfc: String = value.nfc().collect();
        let i = |v: &str| blind_index(&secret, "acme", "Group", "displayName", case_exact, v).unwrap();
        prop_assert_eq!(i(&nfd), i(&value));
        prop_assert_eq!(i(&nfc), i(&value));
    }

    #[test]
    fn shape_checks_never_panic_and_agree_with_decoding(input in ".{0,120}",
                                                        prefix in prop_oneof![Just(""), Just("zk1."), Just("zkx1.")],
                                                        bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        for candidate in [format!("{prefix}{input}"), format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&bytes))] {
            if check_sealed_shape(&candidate).is_ok() {
                prop_assert!(candidate.starts_with("zk1."));
                let decoded = URL_SAFE_NO_PAD.decode(&candidate[4..]).unwrap();
                prop_assert!(decoded.len() >= 40);
                prop_assert_eq!(URL_SAFE_NO_PAD.encode(&decoded), &candidate[4..]);
            }
            if check_index_shape(&candidate).is_ok() {
                prop_assert!(candidate.starts_with("zkx1."));
                prop_assert_eq!(URL_SAFE_NO_PAD.decode(&candidate[5..]).unwrap().len(), 16);
            }
            let class = classify(&candidate);
            prop_assert_eq!(class == ValueClass::Sealed, candidate.starts_with("zk1."));
            prop_assert_eq!(class == ValueClass::Index, candidate.starts_with("zkx1."));
        }
    }

    #[test]
    fn path_normalisation_is_idempotent(path in "[A-Za-z0-9:._$\\[\\] -]{0,60}") {
        if let Ok(normalised) = normalize_attribute_path(&path) {
            prop_assert_eq!(normalize_attribute_path(&normalised).unwrap(), normalised.clone());
            prop_assert_eq!(normalised.to_ascii_lowercase(), normalised);
        }
    }

    #[test]
    fn leak_guard_refuses_every_clear_value_in_sealed_attributes(value in ".{0,40}", path in 0..PATHS.len()) {
        prop_assume!(classify(&value) == ValueClass::Clear);
        let profile = ProtectionProfile::default_profile();
        let err = profile.check_value("User", PATHS[path], &value).unwrap_err();
        prop_assert_eq!(err.code(), "profile.clear_value_refused");
    }

    #[test]
    fn profile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(profile) = ProtectionProfile::from_bytes(&bytes) {
            prop_assert_eq!(profile.to_bytes(), bytes);
        }
    }

    #[test]
    fn log_entry_round_trips(entry in entry_strategy()) {
        prop_assert!(entry.validate().is_ok());
        let bytes = entry.to_bytes();
        let decoded = LogEntry::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&decoded, &entry);
        prop_assert_eq!(decoded.to_bytes(), bytes);
    }

    #[test]
    fn flipped_entry_byte_fails_or_changes_hash(entry in entry_strategy(),
                                                position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bytes = entry.to_bytes();
        let mut mutated = bytes.clone();
        let i = position.index(mutated.len());
        mutated[i] ^= 1 << bit;
        if let Ok(decoded) = LogEntry::from_bytes(&mutated) {
            prop_assert_ne!(&decoded, &entry);
            prop_assert_eq!(decoded.to_bytes(), mutated);
            prop_assert_ne!(decoded.entry_hash(), entry.entry_hash());
            prop_assert_ne!(decoded.leaf_hash(), entry.leaf_hash());
        }
    }

    #[test]
    fn log_entry_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(entry) = LogEntry::from_bytes(&bytes) {
            prop_assert_eq!(entry.to_bytes(), bytes);
        }
    }

    #[test]
    fn chained_entries_link(entry in entry_strategy(), time in any::<u64>()) {
        prop_assume!(entry.seq < u64::MAX);
        let next = LogEntry {
            seq: entry.seq + 1,
            tenant: entry.tenant.clone(),
            time,
            kind: EntryKind::Operation,
            prev_hash: entry.entry_hash(),
            submitted_hash: [5; 32],
            outcome: Outcome::Applied { version: None },
        };
        prop_assert!(next.verify_link(&entry).is_ok());
        let mut broken = next.clone();
        broken.prev_hash[0] ^= 1;
        prop_assert_eq!(broken.verify_link(&entry).unwrap_err().code(), "log_entry.link.prev_hash_mismatch");
    }
}
