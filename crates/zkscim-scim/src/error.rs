//! The SCIM error model (RFC 7644 §3.12).
//!
//! Every failure of the engine is a [`ScimError`]. Each variant carries a `detail` string that
//! says precisely what was wrong (which attribute, which position in a filter, why) and maps to
//! an HTTP status, an optional RFC 7644 `scimType` keyword and a stable machine [`ScimError::code`].

use serde_json::{json, Value};

/// URN of the SCIM error message schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An error produced by the SCIM engine.
///
/// The first ten variants correspond one-to-one with the `scimType` keywords of RFC 7644
/// Table 9; the remaining ones are plain HTTP statuses without a `scimType`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    /// `invalidFilter` (400): the filter syntax was invalid or the filter is not allowed.
    #[error("invalid filter: {detail}")]
    InvalidFilter {
        /// What was wrong.
        detail: String,
    },
    /// `tooMany` (400): the query would return too many results.
    #[error("too many results: {detail}")]
    TooMany {
        /// What was wrong.
        detail: String,
    },
    /// `uniqueness` (409): a unique attribute value is already in use.
    #[error("uniqueness violation: {detail}")]
    Uniqueness {
        /// What was wrong.
        detail: String,
    },
    /// `mutability` (400): the request tried to modify a readOnly or immutable attribute.
    #[error("mutability violation: {detail}")]
    Mutability {
        /// What was wrong.
        detail: String,
    },
    /// `invalidSyntax` (400): the request body structure was invalid.
    #[error("invalid syntax: {detail}")]
    InvalidSyntax {
        /// What was wrong.
        detail: String,
    },
    /// `invalidPath` (400): an attribute path was malformed or names no known attribute.
    #[error("invalid path: {detail}")]
    InvalidPath {
        /// What was wrong.
        detail: String,
    },
    /// `noTarget` (400): a PATCH path did not yield a target.
    #[error("no target: {detail}")]
    NoTarget {
        /// What was wrong.
        detail: String,
    },
    /// `invalidValue` (400): a value was missing, of the wrong type or not allowed.
    #[error("invalid value: {detail}")]
    InvalidValue {
        /// What was wrong.
        detail: String,
    },
    /// `invalidVers` (400): the requested protocol version is not supported.
    #[error("invalid version: {detail}")]
    InvalidVers {
        /// What was wrong.
        detail: String,
    },
    /// `sensitive` (403): sensitive information was passed in a request URI (RFC 7644 §7.5.2).
    #[error("sensitive data in request URI: {detail}")]
    Sensitive {
        /// What was wrong.
        detail: String,
    },
    /// RFC 9865 `invalidCursor` (400): the cursor is malformed or belongs to another query.
    #[error("invalid cursor: {detail}")]
    InvalidCursor {
        /// What was wrong.
        detail: String,
    },
    /// RFC 9865 `expiredCursor` (400): the cursor has expired.
    #[error("expired cursor: {detail}")]
    ExpiredCursor {
        /// What was wrong.
        detail: String,
    },
    /// Plain 400 Bad Request without a `scimType`.
    #[error("bad request: {detail}")]
    BadRequest {
        /// What was wrong.
        detail: String,
    },
    /// 404 Not Found.
    #[error("not found: {detail}")]
    NotFound {
        /// What was wrong.
        detail: String,
    },
    /// 409 Conflict without `scimType` (for example a version conflict during a write).
    #[error("conflict: {detail}")]
    Conflict {
        /// What was wrong.
        detail: String,
    },
    /// 412 Precondition Failed (ETag mismatch).
    #[error("precondition failed: {detail}")]
    PreconditionFailed {
        /// What was wrong.
        detail: String,
    },
    /// 413 Payload Too Large (request body or operation count over the limit).
    #[error("payload too large: {detail}")]
    PayloadTooLarge {
        /// What was wrong.
        detail: String,
    },
    /// 500 Internal Server Error (an engine invariant was violated).
    #[error("internal error: {detail}")]
    Internal {
        /// What was wrong.
        detail: String,
    },
    /// 501 Not Implemented (for example bulk, which zkscim does not support).
    #[error("not implemented: {detail}")]
    NotImplemented {
        /// What was wrong.
        detail: String,
    },
}

impl ScimError {
    /// HTTP status code of this error.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidFilter { .. }
            | Self::TooMany { .. }
            | Self::Mutability { .. }
            | Self::InvalidSyntax { .. }
            | Self::InvalidPath { .. }
            | Self::NoTarget { .. }
            | Self::InvalidValue { .. }
            | Self::InvalidVers { .. }
            | Self::InvalidCursor { .. }
            | Self::ExpiredCursor { .. }
            | Self::BadRequest { .. } => 400,
            Self::Sensitive { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Uniqueness { .. } | Self::Conflict { .. } => 409,
            Self::PreconditionFailed { .. } => 412,
            Self::PayloadTooLarge { .. } => 413,
            Self::Internal { .. } => 500,
            Self::NotImplemented { .. } => 501,
        }
    }

    /// The RFC 7644 / RFC 9865 `scimType` keyword, if this error has one.
    #[must_use]
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            Self::InvalidFilter { .. } => Some("invalidFilter"),
            Self::TooMany { .. } => Some("tooMany"),
            Self::Uniqueness { .. } => Some("uniqueness"),
            Self::Mutability { .. } => Some("mutability"),
            Self::InvalidSyntax { .. } => Some("invalidSyntax"),
            Self::InvalidPath { .. } => Some("invalidPath"),
            Self::NoTarget { .. } => Some("noTarget"),
            Self::InvalidValue { .. } => Some("invalidValue"),
            Self::InvalidVers { .. } => Some("invalidVers"),
            Self::Sensitive { .. } => Some("sensitive"),
            Self::InvalidCursor { .. } => Some("invalidCursor"),
            Self::ExpiredCursor { .. } => Some("expiredCursor"),
            _ => None,
        }
    }

    /// A stable machine-readable code, `scim.<kind>`, for logs and metrics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidFilter { .. } => "scim.invalid_filter",
            Self::TooMany { .. } => "scim.too_many",
            Self::Uniqueness { .. } => "scim.uniqueness",
            Self::Mutability { .. } => "scim.mutability",
            Self::InvalidSyntax { .. } => "scim.invalid_syntax",
            Self::InvalidPath { .. } => "scim.invalid_path",
            Self::NoTarget { .. } => "scim.no_target",
            Self::InvalidValue { .. } => "scim.invalid_value",
            Self::InvalidVers { .. } => "scim.invalid_vers",
            Self::Sensitive { .. } => "scim.sensitive",
            Self::InvalidCursor { .. } => "scim.invalid_cursor",
            Self::ExpiredCursor { .. } => "scim.expired_cursor",
            Self::BadRequest { .. } => "scim.bad_request",
            Self::NotFound { .. } => "scim.not_found",
            Self::Conflict { .. } => "scim.conflict",
            Self::PreconditionFailed { .. } => "scim.precondition_failed",
            Self::PayloadTooLarge { .. } => "scim.payload_too_large",
            Self::Internal { .. } => "scim.internal",
            Self::NotImplemented { .. } => "scim.not_implemented",
        }
    }

    /// The error whose [`ScimError::code`] is `code`, with `detail`: the inverse of `code`, so a
    /// refusal stored as code and detail (a log entry, say) answers again with the same status
    /// and `scimType`. `None` for a code that is not a SCIM error's.
    #[must_use]
    pub fn from_code(code: &str, detail: impl Into<String>) -> Option<ScimError> {
        let detail = detail.into();
        Some(match code {
            "scim.invalid_filter" => Self::InvalidFilter { detail },
            "scim.too_many" => Self::TooMany { detail },
            "scim.uniqueness" => Self::Uniqueness { detail },
            "scim.mutability" => Self::Mutability { detail },
            "scim.invalid_syntax" => Self::InvalidSyntax { detail },
            "scim.invalid_path" => Self::InvalidPath { detail },
            "scim.no_target" => Self::NoTarget { detail },
            "scim.invalid_value" => Self::InvalidValue { detail },
            "scim.invalid_vers" => Self::InvalidVers { detail },
            "scim.sensitive" => Self::Sensitive { detail },
            "scim.invalid_cursor" => Self::InvalidCursor { detail },
            "scim.expired_cursor" => Self::ExpiredCursor { detail },
            "scim.bad_request" => Self::BadRequest { detail },
            "scim.not_found" => Self::NotFound { detail },
            "scim.conflict" => Self::Conflict { detail },
            "scim.precondition_failed" => Self::PreconditionFailed { detail },
            "scim.payload_too_large" => Self::PayloadTooLarge { detail },
            "scim.internal" => Self::Internal { detail },
            "scim.not_implemented" => Self::NotImplemented { detail },
            _ => return None,
        })
    }

    /// The human-readable detail message.
    #[must_use]
    pub fn detail(&self) -> &str {
        match self {
            Self::InvalidFilter { detail }
            | Self::TooMany { detail }
            | Self::Uniqueness { detail }
            | Self::Mutability { detail }
            | Self::InvalidSyntax { detail }
            | Self::InvalidPath { detail }
            | Self::NoTarget { detail }
            | Self::InvalidValue { detail }
            | Self::InvalidVers { detail }
            | Self::Sensitive { detail }
            | Self::InvalidCursor { detail }
            | Self::ExpiredCursor { detail }
            | Self::BadRequest { detail }
            | Self::NotFound { detail }
            | Self::Conflict { detail }
            | Self::PreconditionFailed { detail }
            | Self::PayloadTooLarge { detail }
            | Self::Internal { detail }
            | Self::NotImplemented { detail } => detail,
        }
    }

    /// The RFC 7644 §3.12 error response body.
    ///
    /// `status` is a string, `scimType` is present only when the error has one.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status().to_string(),
            "detail": self.detail(),
        });
        if let (Some(t), Some(obj)) = (self.scim_type(), body.as_object_mut()) {
            obj.insert("scimType".to_owned(), Value::String(t.to_owned()));
        }
        body
    }

    /// Shorthand constructor for [`ScimError::InvalidFilter`].
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::InvalidFilter {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::InvalidPath`].
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::InvalidPath {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::InvalidValue`].
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::InvalidValue {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::InvalidSyntax`].
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::InvalidSyntax {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::Mutability`].
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::Mutability {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::NoTarget`].
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::NoTarget {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::Uniqueness`].
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::Uniqueness {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::NotFound`].
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::TooMany`].
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::TooMany {
            detail: detail.into(),
        }
    }
    /// Shorthand constructor for [`ScimError::PayloadTooLarge`].
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::PayloadTooLarge {
            detail: detail.into(),
        }
    }
}

/// Result alias used throughout the crate.
pub type ScimResult<T> = Result<T, ScimError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape() {
        let e = ScimError::mutability("Attribute 'id' is readOnly");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "scimType": "mutability",
                "detail": "Attribute 'id' is readOnly",
                "status": "400"
            })
        );
        let nf = ScimError::not_found("Resource 2819c223 not found");
        assert_eq!(
            nf.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": "Resource 2819c223 not found",
                "status": "404"
            })
        );
    }

    #[test]
    fn statuses_and_types() {
        let all = [
            (ScimError::invalid_filter("x"), 400, Some("invalidFilter")),
            (ScimError::too_many("x"), 400, Some("tooMany")),
            (ScimError::uniqueness("x"), 409, Some("uniqueness")),
            (ScimError::mutability("x"), 400, Some("mutability")),
            (ScimError::invalid_syntax("x"), 400, Some("invalidSyntax")),
            (ScimError::invalid_path("x"), 400, Some("invalidPath")),
            (ScimError::no_target("x"), 400, Some("noTarget")),
            (ScimError::invalid_value("x"), 400, Some("invalidValue")),
            (
                ScimError::InvalidVers { detail: "x".into() },
                400,
                Some("invalidVers"),
            ),
            (
                ScimError::Sensitive { detail: "x".into() },
                403,
                Some("sensitive"),
            ),
            (
                ScimError::PreconditionFailed { detail: "x".into() },
                412,
                None,
            ),
            (ScimError::payload_too_large("x"), 413, None),
        ];
        for (e, s, t) in all {
            assert_eq!(e.status(), s, "{e}");
            assert_eq!(e.scim_type(), t, "{e}");
            assert!(e.code().starts_with("scim."));
            assert_eq!(e.to_json()["status"], Value::String(s.to_string()));
        }
    }

    #[test]
    fn every_code_maps_back_to_its_error() {
        let d = || "x".to_owned();
        let every = [
            ScimError::InvalidFilter { detail: d() },
            ScimError::TooMany { detail: d() },
            ScimError::Uniqueness { detail: d() },
            ScimError::Mutability { detail: d() },
            ScimError::InvalidSyntax { detail: d() },
            ScimError::InvalidPath { detail: d() },
            ScimError::NoTarget { detail: d() },
            ScimError::InvalidValue { detail: d() },
            ScimError::InvalidVers { detail: d() },
            ScimError::Sensitive { detail: d() },
            ScimError::InvalidCursor { detail: d() },
            ScimError::ExpiredCursor { detail: d() },
            ScimError::BadRequest { detail: d() },
            ScimError::NotFound { detail: d() },
            ScimError::Conflict { detail: d() },
            ScimError::PreconditionFailed { detail: d() },
            ScimError::PayloadTooLarge { detail: d() },
            ScimError::Internal { detail: d() },
            ScimError::NotImplemented { detail: d() },
        ];
        for e in every {
            assert_eq!(ScimError::from_code(e.code(), "x"), Some(e.clone()), "{e}");
        }
        assert_eq!(ScimError::from_code("scim.nonsense", "x"), None);
        assert_eq!(
            ScimError::from_code("profile.clear_value_refused", "x"),
            None
        );
    }
}
