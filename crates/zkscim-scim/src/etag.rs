//! Resource versioning preconditions (RFC 7644 §3.14): `If-Match` / `If-None-Match` against
//! `meta.version` ETags, with weak comparison (RFC 7232 §2.3.2).

use crate::error::{ScimError, ScimResult};
use crate::path::clip;

fn opaque(tag: &str) -> &str {
    let t = tag.trim();
    t.strip_prefix("W/").unwrap_or(t)
}

fn list_matches(header: &str, current: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || (!t.is_empty() && opaque(t) == opaque(current)))
}

/// Check an `If-Match` precondition for PUT / PATCH / DELETE. No header passes; a header that
/// matches no current version is 412 Precondition Failed.
pub fn check_if_match(if_match: Option<&str>, current_version: &str) -> ScimResult<()> {
    match if_match {
        None => Ok(()),
        Some(h) if list_matches(h, current_version) => Ok(()),
        Some(h) => Err(ScimError::PreconditionFailed {
            detail: format!(
                "If-Match '{}' does not match the current version {current_version}",
                clip(h)
            ),
        }),
    }
}

/// For GET: whether `If-None-Match` matches the current version (the caller answers 304).
#[must_use]
pub fn if_none_match_hits(if_none_match: Option<&str>, current_version: &str) -> bool {
    if_none_match.is_some_and(|h| list_matches(h, current_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions() {
        let v = "W/\"e180ee84f0671b1\"";
        assert!(check_if_match(None, v).is_ok());
        assert!(check_if_match(Some(v), v).is_ok());
        assert!(check_if_match(Some("\"e180ee84f0671b1\""), v).is_ok());
        assert!(check_if_match(Some("W/\"x\", W/\"e180ee84f0671b1\""), v).is_ok());
        assert!(check_if_match(Some("*"), v).is_ok());
        let e = check_if_match(Some("W/\"old\""), v).unwrap_err();
        assert_eq!(e.status(), 412);
        assert!(if_none_match_hits(Some(v), v));
        assert!(!if_none_match_hits(Some("W/\"old\""), v));
        assert!(!if_none_match_hits(None, v));
    }
}
