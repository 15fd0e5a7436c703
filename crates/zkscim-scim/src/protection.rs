//! Sealed-value awareness: the [`ProtectionProfile`] says, per attribute path, whether values are
//! clear, sealed (`zk1.…`), or sealed with a blind index (`zkx1.…` tokens).
//!
//! The engine never decrypts. It uses the profile to refuse filters and sorts the server cannot
//! answer honestly on ciphertext: a sealed attribute can only be filtered with `eq` and a
//! client-computed blind-index token, and only if it is indexed; it can never be sorted on.

use std::collections::BTreeMap;

/// Prefix of a sealed value.
pub const SEALED_PREFIX: &str = "zk1.";
/// Prefix of a blind-index token.
pub const INDEX_TOKEN_PREFIX: &str = "zkx1.";

/// Protection level of one attribute path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protection {
    /// Stored and compared in clear.
    #[default]
    Clear,
    /// Sealed; the server cannot compare it at all.
    Sealed,
    /// Sealed, with a blind index allowing equality via `zkx1.` tokens.
    SealedIndexed,
}

/// Per-attribute protection levels. Paths are fully qualified (`<schema URN>:<attr>[.<sub>]`)
/// and matched case-insensitively; protecting a complex attribute protects all its
/// sub-attributes unless a sub-attribute has its own entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectionProfile {
    entries: BTreeMap<String, Protection>,
}

impl ProtectionProfile {
    /// A profile where everything is clear.
    #[must_use]
    pub fn clear() -> Self {
        Self::default()
    }

    /// Set the protection of `attr_path` (`attr` or `attr.sub`) in schema `schema_urn`.
    pub fn set(&mut self, schema_urn: &str, attr_path: &str, protection: Protection) {
        self.entries.insert(
            format!("{}:{}", schema_urn, attr_path).to_ascii_lowercase(),
            protection,
        );
    }

    /// Builder form of [`ProtectionProfile::set`].
    #[must_use]
    pub fn with(mut self, schema_urn: &str, attr_path: &str, protection: Protection) -> Self {
        self.set(schema_urn, attr_path, protection);
        self
    }

    /// Protection of `attr` / `attr.sub` in `schema_urn`.
    #[must_use]
    pub fn protection_of(&self, schema_urn: &str, attr: &str, sub: Option<&str>) -> Protection {
        // One buffer for `urn:attr` and `urn:attr.sub`, lowercased in place: validation asks
        // this for every attribute it checks.
        let mut key =
            String::with_capacity(schema_urn.len() + attr.len() + 2 + sub.map_or(0, str::len));
        key.push_str(schema_urn);
        key.push(':');
        key.push_str(attr);
        let base_len = key.len();
        if let Some(s) = sub {
            key.push('.');
            key.push_str(s);
            key.make_ascii_lowercase();
            if let Some(p) = self.entries.get(&key) {
                return *p;
            }
            key.truncate(base_len);
        }
        key.make_ascii_lowercase();
        self.entries.get(&key).copied().unwrap_or_default()
    }

    /// Whether any sub-attribute of `attr` (or `attr` itself) is protected.
    #[must_use]
    pub fn any_protected_under(&self, schema_urn: &str, attr: &str) -> bool {
        let base = format!("{schema_urn}:{attr}").to_ascii_lowercase();
        self.entries.iter().any(|(k, p)| {
            *p != Protection::Clear
                && (k == &base || k.strip_prefix(&base).is_some_and(|r| r.starts_with('.')))
        })
    }

    /// Whether the profile protects nothing.
    #[must_use]
    pub fn is_clear(&self) -> bool {
        self.entries.values().all(|p| *p == Protection::Clear)
    }
}

/// Whether `s` looks like a sealed value.
#[must_use]
pub fn is_sealed_value(s: &str) -> bool {
    s.starts_with(SEALED_PREFIX)
}

/// Whether `s` looks like a blind-index token.
#[must_use]
pub fn is_index_token(s: &str) -> bool {
    s.starts_with(INDEX_TOKEN_PREFIX) && s.len() > INDEX_TOKEN_PREFIX.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::USER_SCHEMA;

    #[test]
    fn lookup_inherits_from_parent() {
        let p = ProtectionProfile::clear()
            .with(USER_SCHEMA, "emails", Protection::Sealed)
            .with(USER_SCHEMA, "emails.value", Protection::SealedIndexed);
        assert_eq!(
            p.protection_of(USER_SCHEMA, "Emails", Some("VALUE")),
            Protection::SealedIndexed
        );
        assert_eq!(
            p.protection_of(USER_SCHEMA, "emails", Some("type")),
            Protection::Sealed
        );
        assert_eq!(
            p.protection_of(USER_SCHEMA, "userName", None),
            Protection::Clear
        );
        // Case-insensitive throughout, and an unknown sub-attribute falls back to its parent.
        assert_eq!(
            p.protection_of(&USER_SCHEMA.to_uppercase(), "EMAILS", Some("Display")),
            Protection::Sealed
        );
        assert!(p.any_protected_under(USER_SCHEMA, "emails"));
        assert!(!p.any_protected_under(USER_SCHEMA, "email"));
        assert!(is_index_token("zkx1.abc"));
        assert!(!is_index_token("zkx1."));
    }
}
