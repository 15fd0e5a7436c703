//! Attribute paths: `attr`, `attr.sub`, `urn:…:attr[.sub]` (RFC 7644 §3.10) and their
//! resolution against a [`ResourceSchema`].

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::resource_type::ResourceSchema;
use crate::schema::{AttrType, AttributeDef};

/// An attribute path as written: optional schema URN, attribute name, optional sub-attribute.
///
/// Names keep the spelling the client used; comparisons are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN prefix, if the path was schema-qualified.
    pub urn: Option<String>,
    /// Attribute name.
    pub name: String,
    /// Sub-attribute name.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// An unqualified path `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    /// An unqualified path `name.sub`.
    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: Some(sub.into()),
        }
    }

    /// This path as written inside the value filter of `parent` (`emails[type eq "work"]`:
    /// `type` means `emails.type`), or itself when there is no enclosing filter.
    #[must_use]
    pub fn under(&self, parent: Option<&AttrPath>) -> AttrPath {
        match parent {
            Some(p) => AttrPath {
                urn: p.urn.clone(),
                name: p.name.clone(),
                sub_attr: Some(self.name.clone()),
            },
            None => self.clone(),
        }
    }

    /// Parse a complete attribute path string (no filters). Errors are `invalidPath`.
    pub fn parse(s: &str) -> ScimResult<Self> {
        parse_path_token(s).map_err(|why| {
            ScimError::invalid_path(format!(
                "'{}' is not a valid attribute path: {why}",
                clip(s)
            ))
        })
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub_attr {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// Shorten user input for inclusion in error messages.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Whether `c` may appear in a path token (name chars, URN chars, '.', '$').
pub(crate) fn is_path_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'_' | b'-' | b'$')
}

/// Validate an ATTRNAME (`ALPHA *(nameChar)`, plus a leading `$` for `$ref`).
pub(crate) fn valid_attr_name(n: &str) -> bool {
    let mut chars = n.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Parse a path token (`[urn:…:]name[.sub]`). Returns a reason string on failure.
pub(crate) fn parse_path_token(tok: &str) -> Result<AttrPath, String> {
    if tok.is_empty() {
        return Err("the path is empty".into());
    }
    if let Some(bad) = tok.bytes().find(|c| !is_path_char(*c)) {
        return Err(format!("character '{}' is not allowed", char::from(bad)));
    }
    let (urn, rest) = if tok.len() >= 4
        && tok.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        match tok.rfind(':') {
            Some(i) if i > 4 => (
                Some(tok.get(..i).unwrap_or_default().to_owned()),
                tok.get(i + 1..).unwrap_or_default(),
            ),
            _ => return Err("a schema URN must be followed by ':' and an attribute name".into()),
        }
    } else {
        if tok.contains(':') {
            return Err("':' is only allowed in a schema URN prefix starting with 'urn:'".into());
        }
        (None, tok)
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err("at most one sub-attribute level ('attr.sub') is allowed".into());
    }
    if !valid_attr_name(name) {
        return Err(format!("'{}' is not a valid attribute name", clip(name)));
    }
    if let Some(s) = sub {
        if !valid_attr_name(s) {
            return Err(format!("'{}' is not a valid sub-attribute name", clip(s)));
        }
    }
    Ok(AttrPath {
        urn,
        name: name.to_owned(),
        sub_attr: sub.map(str::to_owned),
    })
}

/// An attribute path resolved against a resource schema.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// Canonical URN of the schema holding the attribute.
    pub schema: &'a str,
    /// Whether the attribute lives under its extension's JSON object.
    pub in_extension: bool,
    /// The top-level attribute definition.
    pub attr: &'a AttributeDef,
    /// The sub-attribute definition, if the path names one.
    pub sub: Option<&'a AttributeDef>,
}

impl<'a> ResolvedAttr<'a> {
    /// The definition the path ends at.
    #[must_use]
    pub fn leaf(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    /// Fully qualified canonical name: `<schema URN>:<attr>[.<sub>]`.
    #[must_use]
    pub fn qualified_name(&self) -> String {
        match self.sub {
            Some(s) => format!("{}:{}.{}", self.schema, self.attr.name, s.name),
            None => format!("{}:{}", self.schema, self.attr.name),
        }
    }
}

impl ResourceSchema {
    /// Resolve an attribute path; unknown schemas, attributes or sub-attributes are
    /// `invalidPath` errors naming the offending part.
    pub fn resolve(&self, path: &AttrPath) -> ScimResult<ResolvedAttr<'_>> {
        if let Some(u) = &path.urn {
            if self.canonical_urn(u).is_none() {
                return Err(ScimError::invalid_path(format!(
                    "schema '{}' in path '{path}' is not a schema of resource type '{}'",
                    clip(u),
                    self.resource_type.name
                )));
            }
        }
        let r = self
            .lookup(path.urn.as_deref(), &path.name)
            .ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "attribute '{}' is not defined for resource type '{}'",
                    clip(&path.name),
                    self.resource_type.name
                ))
            })?;
        let sub = match &path.sub_attr {
            None => None,
            Some(s) => {
                if r.def.attr_type != AttrType::Complex {
                    return Err(ScimError::invalid_path(format!(
                        "attribute '{}' is not complex and has no sub-attribute '{}'",
                        r.def.name,
                        clip(s)
                    )));
                }
                Some(r.def.sub(s).ok_or_else(|| {
                    ScimError::invalid_path(format!(
                        "attribute '{}' has no sub-attribute '{}'",
                        r.def.name,
                        clip(s)
                    ))
                })?)
            }
        };
        Ok(ResolvedAttr {
            schema: r.schema,
            in_extension: r.in_extension,
            attr: r.def,
            sub,
        })
    }
}

/// Case-insensitive key lookup in a JSON object (exact match first).
#[must_use]
pub fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The actual key spelling in `obj` matching `key` case-insensitively.
#[must_use]
pub fn key_ci(obj: &Map<String, Value>, key: &str) -> Option<String> {
    if obj.contains_key(key) {
        return Some(key.to_owned());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_type::SchemaRegistry;

    #[test]
    fn paths_inside_a_value_filter_belong_to_its_attribute() {
        let parent = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:emails").unwrap();
        let inner = AttrPath::new("type");
        let full = inner.under(Some(&parent));
        assert_eq!(full.urn, parent.urn);
        assert_eq!(
            (full.name.as_str(), full.sub_attr.as_deref()),
            ("emails", Some("type"))
        );
        assert_eq!(inner.under(None), inner);
    }

    #[test]
    fn parse_paths() {
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(p, AttrPath::with_sub("name", "givenName"));
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        assert!(AttrPath::parse("members.$ref").is_ok());
        for bad in [
            "",
            "a.b.c",
            "1abc",
            "a b",
            "foo:bar",
            "urn:",
            "name.",
            "emails[x]",
        ] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type(), Some("invalidPath"), "{bad}");
        }
    }

    #[test]
    fn resolve_paths() {
        let reg = SchemaRegistry::with_builtins();
        let u = reg.resource_schema("User").unwrap();
        let r = u
            .resolve(&AttrPath::parse("EMAILS.Value").unwrap())
            .unwrap();
        assert_eq!(
            r.qualified_name(),
            "urn:ietf:params:scim:schemas:core:2.0:User:emails.value"
        );
        let e = u.resolve(&AttrPath::parse("nosuch").unwrap()).unwrap_err();
        assert!(e.detail().contains("nosuch"));
        let e = u
            .resolve(&AttrPath::parse("userName.x").unwrap())
            .unwrap_err();
        assert!(e.detail().contains("not complex"));
        let e = u
            .resolve(
                &AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:Group:displayName")
                    .unwrap(),
            )
            .unwrap_err();
        assert!(e.detail().contains("not a schema of resource type 'User'"));
    }
}
