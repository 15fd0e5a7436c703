//! Delegated authority: what a certificate allows, and how a child's allowance must shrink.
//!
//! A [`Scope`] has five dimensions: operations, resource types, attribute path patterns, an
//! optional allow-list of groups whose membership may change, and capabilities. (Validity window
//! and delegation depth live on the certificate.) Every dimension attenuates: a child certificate's
//! scope must be a subset of its parent's in *each* dimension, checked both when issuing and when
//! verifying, so a tool that issues sloppily cannot produce a chain that verifies.
//!
//! The on-wire form is canonical (sorted, duplicate-free arrays), so a scope has exactly one
//! encoding and a certificate exactly one id.

use std::collections::BTreeSet;
use std::fmt;

use crate::codec::{FieldReader, MapBuilder, ShapeError, Value};

/// Longest attribute path or pattern accepted.
pub const MAX_PATH_LEN: usize = 512;
/// Most entries accepted in any one scope list.
pub const MAX_SCOPE_ENTRIES: usize = 1024;

/// A kind of request a key may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Create a resource.
    Create,
    /// Replace a resource whole.
    Replace,
    /// Modify a resource with SCIM PATCH operations.
    Patch,
    /// Delete a resource.
    Delete,
    /// Read resources (signed read requests).
    Read,
}

impl Operation {
    /// All operations, in canonical order.
    pub const ALL: [Operation; 5] = [
        Operation::Create,
        Operation::Replace,
        Operation::Patch,
        Operation::Delete,
        Operation::Read,
    ];

    /// The wire and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Replace => "replace",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::Read => "read",
        }
    }

    /// Parses a wire or CLI name.
    pub fn parse(name: &str) -> Result<Operation, ScopeError> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == name)
            .ok_or_else(|| ScopeError::UnknownOperation(name.to_owned()))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A power beyond writing attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Issue child certificates.
    Delegate,
    /// Revoke descendant certificates.
    Revoke,
    /// Turn an inactive identity active again.
    Reactivate,
    /// Change the tenant's protection profile and policy.
    Policy,
    /// Emergency access; allowed, but every use is flagged.
    BreakGlass,
}

impl Capability {
    /// All capabilities, in canonical order.
    pub const ALL: [Capability; 5] = [
        Capability::Delegate,
        Capability::Revoke,
        Capability::Reactivate,
        Capability::Policy,
        Capability::BreakGlass,
    ];

    /// The wire and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Delegate => "delegate",
            Capability::Revoke => "revoke",
            Capability::Reactivate => "reactivate",
            Capability::Policy => "policy",
            Capability::BreakGlass => "break_glass",
        }
    }

    /// Parses a wire or CLI name.
    pub fn parse(name: &str) -> Result<Capability, ScopeError> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| ScopeError::UnknownCapability(name.to_owned()))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised attribute path: ASCII-lowercased, `.` between sub-attributes, and extension
/// attributes prefixed by their schema URN and `:` (`urn:…:enterprise:2.0:user:manager.value`).
/// Core-schema attributes carry no URN. SCIM names are case-insensitive, so lowercasing makes
/// equal names equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrPath(String);

impl AttrPath {
    /// Normalises and validates `path`.
    pub fn parse(path: &str) -> Result<AttrPath, ScopeError> {
        let normalised = path.to_ascii_lowercase();
        validate_path_chars(&normalised, false)?;
        Ok(AttrPath(normalised))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this path writes group membership: `members` itself or a path below it.
    pub fn touches_members(&self) -> bool {
        is_same_or_below(&self.0, MEMBERS_PATH)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_path_chars(path: &str, allow_star: bool) -> Result<(), ScopeError> {
    let bad = |why: &'static str| ScopeError::InvalidPath {
        path: path.chars().take(80).collect(),
        why,
    };
    if path.is_empty() {
        return Err(bad("empty"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(bad("longer than 512 bytes"));
    }
    if !path.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b':' | b'_' | b'-' | b'$')
            || (allow_star && b == b'*')
    }) {
        return Err(bad(
            "only letters, digits, '.', ':', '_', '-' and '$' are allowed",
        ));
    }
    let last_segment = path.rsplit(':').next().unwrap_or(path);
    if last_segment.split('.').any(str::is_empty) {
        return Err(bad("empty attribute name between dots"));
    }
    Ok(())
}

/// A set of attribute paths a key may write.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathPattern {
    /// `*`: every attribute.
    All,
    /// `name` (or its synonym `name.*`): the attribute and everything beneath it.
    Attribute(String),
    /// `urn:…:User:*`: every attribute of one extension schema; holds the URN with its trailing `:`.
    Schema(String),
}

impl PathPattern {
    /// Parses the text form: `*`, `attr`, `attr.sub`, `attr.*`, `urn:…:attr`, `urn:…:*`.
    pub fn parse(text: &str) -> Result<PathPattern, ScopeError> {
        let normalised = text.trim().to_ascii_lowercase();
        validate_path_chars(&normalised, true)?;
        if normalised == "*" {
            return Ok(PathPattern::All);
        }
        if let Some(urn) = normalised.strip_suffix(":*") {
            check_no_star(urn, text)?;
            return Ok(PathPattern::Schema(format!("{urn}:")));
        }
        let base = normalised.strip_suffix(".*").unwrap_or(&normalised);
        check_no_star(base, text)?;
        Ok(PathPattern::Attribute(base.to_owned()))
    }

    /// Whether writing `path` is allowed by this pattern.
    pub fn covers(&self, path: &AttrPath) -> bool {
        match self {
            PathPattern::All => true,
            PathPattern::Attribute(base) => is_same_or_below(&path.0, base),
            PathPattern::Schema(urn) => path.0.starts_with(urn.as_str()),
        }
    }

    /// Whether every path `other` covers is also covered by `self`.
    pub fn includes(&self, other: &PathPattern) -> bool {
        match (self, other) {
            (PathPattern::All, _) => true,
            (_, PathPattern::All) => false,
            (PathPattern::Attribute(a), PathPattern::Attribute(b)) => is_same_or_below(b, a),
            (PathPattern::Attribute(_), PathPattern::Schema(_)) => false,
            (PathPattern::Schema(u), PathPattern::Attribute(b)) => b.starts_with(u.as_str()),
            (PathPattern::Schema(u), PathPattern::Schema(v)) => v.starts_with(u.as_str()),
        }
    }
}

fn check_no_star(rest: &str, original: &str) -> Result<(), ScopeError> {
    if rest.contains('*') {
        return Err(ScopeError::InvalidPath {
            path: original.chars().take(80).collect(),
            why: "'*' may only stand alone or end a pattern as '.*' or ':*'",
        });
    }
    Ok(())
}

fn is_same_or_below(path: &str, base: &str) -> bool {
    path == base
        || (path.len() > base.len()
            && path.starts_with(base)
            && path.as_bytes().get(base.len()) == Some(&b'.'))
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::All => f.write_str("*"),
            PathPattern::Attribute(base) => f.write_str(base),
            PathPattern::Schema(urn) => write!(f, "{urn}*"),
        }
    }
}

/// The dimension in which a child scope exceeds its parent, or an operation exceeds a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Operations.
    Operations,
    /// Resource types.
    ResourceTypes,
    /// Attribute paths.
    Attributes,
    /// Group allow-list.
    Groups,
    /// Capabilities.
    Capabilities,
    /// Validity window.
    Validity,
    /// Delegation depth.
    Depth,
}

impl Dimension {
    /// Stable name, used in error codes and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Operations => "operations",
            Dimension::ResourceTypes => "resource_types",
            Dimension::Attributes => "attributes",
            Dimension::Groups => "groups",
            Dimension::Capabilities => "capabilities",
            Dimension::Validity => "validity",
            Dimension::Depth => "depth",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a scope, or an action against a scope, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// An operation name we do not know.
    #[error("unknown operation {0:?} (expected create, replace, patch, delete or read)")]
    UnknownOperation(String),
    /// A capability name we do not know.
    #[error(
        "unknown capability {0:?} (expected delegate, revoke, reactivate, policy or break_glass)"
    )]
    UnknownCapability(String),
    /// A malformed attribute path or pattern.
    #[error("invalid attribute path {path:?}: {why}")]
    InvalidPath {
        /// The offending text (truncated).
        path: String,
        /// Why.
        why: &'static str,
    },
    /// The wire form is not canonical or not well-shaped.
    #[error("scope encoding: {0}")]
    Shape(#[from] ShapeError),
    /// A child scope is wider than its parent.
    #[error("scope exceeds its parent in {dimension}: {detail}")]
    Attenuation {
        /// The dimension.
        dimension: Dimension,
        /// What exactly is wider.
        detail: String,
    },
    /// An action falls outside the scope.
    #[error("outside the signer's scope ({dimension}): {detail}")]
    NotPermitted {
        /// The dimension.
        dimension: Dimension,
        /// What was not allowed.
        detail: String,
    },
}

impl ScopeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ScopeError::UnknownOperation(_) => "scope.unknown_operation",
            ScopeError::UnknownCapability(_) => "scope.unknown_capability",
            ScopeError::InvalidPath { .. } => "scope.invalid_path",
            ScopeError::Shape(e) => e.code(),
            ScopeError::Attenuation { dimension, .. } => match dimension {
                Dimension::Operations => "scope.attenuation.operations",
                Dimension::ResourceTypes => "scope.attenuation.resource_types",
                Dimension::Attributes => "scope.attenuation.attributes",
                Dimension::Groups => "scope.attenuation.groups",
                Dimension::Capabilities => "scope.attenuation.capabilities",
                Dimension::Validity => "scope.attenuation.validity",
                Dimension::Depth => "scope.attenuation.depth",
            },
            ScopeError::NotPermitted { dimension, .. } => match dimension {
                Dimension::Operations => "scope.denied.operation",
                Dimension::ResourceTypes => "scope.denied.resource_type",
                Dimension::Attributes => "scope.denied.attribute",
                Dimension::Groups => "scope.denied.group",
                Dimension::Capabilities => "scope.denied.capability",
                Dimension::Validity => "scope.denied.validity",
                Dimension::Depth => "scope.denied.depth",
            },
        }
    }
}

/// Which resource types a scope covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ResourceTypes {
    /// `*`: every resource type, including ones registered later.
    All,
    /// Exactly these (SCIM resource type names such as `User`, `Group`, `Agent`).
    Only(BTreeSet<String>),
}

impl ResourceTypes {
    /// Whether `name` is covered.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            ResourceTypes::All => true,
            ResourceTypes::Only(set) => set.contains(name),
        }
    }
}

/// What a certificate allows (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Operations allowed.
    pub operations: BTreeSet<Operation>,
    /// Resource types allowed.
    pub resource_types: ResourceTypes,
    /// Attribute paths writable.
    pub attributes: BTreeSet<PathPattern>,
    /// Groups whose membership may change; `None` means any group.
    pub groups: Option<BTreeSet<String>>,
    /// Capabilities granted.
    pub capabilities: BTreeSet<Capability>,
}

const KEY_OPERATIONS: i64 = 1;
const KEY_RESOURCE_TYPES: i64 = 2;
const KEY_ATTRIBUTES: i64 = 3;
const KEY_GROUPS: i64 = 4;
const KEY_CAPABILITIES: i64 = 5;

/// The attribute that carries group membership; writes to it need the group allow-list.
pub const MEMBERS_PATH: &str = "members";

impl Scope {
    /// Everything: the implicit scope of a tenant root key.
    pub fn unlimited() -> Scope {
        Scope {
            operations: Operation::ALL.into_iter().collect(),
            resource_types: ResourceTypes::All,
            attributes: [PathPattern::All].into_iter().collect(),
            groups: None,
            capabilities: Capability::ALL.into_iter().collect(),
        }
    }

    /// Whether the capability is granted.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Refuses `self` unless it is a subset of `parent` in every dimension.
    pub fn check_attenuates(&self, parent: &Scope) -> Result<(), ScopeError> {
        let wider = |dimension, detail: String| ScopeError::Attenuation { dimension, detail };
        if let Some(op) = self.operations.difference(&parent.operations).next() {
            return Err(wider(
                Dimension::Operations,
                format!("operation '{op}' is not allowed to the parent"),
            ));
        }
        match (&parent.resource_types, &self.resource_types) {
            (ResourceTypes::All, _) => {}
            (ResourceTypes::Only(_), ResourceTypes::All) => {
                return Err(wider(
                    Dimension::ResourceTypes,
                    "'*' (all resource types) exceeds the parent's list".into(),
                ))
            }
            (ResourceTypes::Only(p), ResourceTypes::Only(c)) => {
                if let Some(t) = c.difference(p).next() {
                    return Err(wider(
                        Dimension::ResourceTypes,
                        format!("resource type '{t}' is not allowed to the parent"),
                    ));
                }
            }
        }
        for pattern in &self.attributes {
            if !parent.attributes.iter().any(|p| p.includes(pattern)) {
                return Err(wider(
                    Dimension::Attributes,
                    format!("attribute pattern '{pattern}' is not within the parent's patterns"),
                ));
            }
        }
        match (&parent.groups, &self.groups) {
            (None, _) => {}
            (Some(_), None) => {
                return Err(wider(
                    Dimension::Groups,
                    "any group (no allow-list) exceeds the parent's allow-list".into(),
                ))
            }
            (Some(p), Some(c)) => {
                if let Some(g) = c.difference(p).next() {
                    return Err(wider(
                        Dimension::Groups,
                        format!("group '{g}' is not in the parent's allow-list"),
                    ));
                }
            }
        }
        if let Some(c) = self.capabilities.difference(&parent.capabilities).next() {
            return Err(wider(
                Dimension::Capabilities,
                format!("capability '{c}' is not held by the parent"),
            ));
        }
        Ok(())
    }

    /// Refuses an operation of kind `op` on `resource_type`/`resource_id` touching `paths`
    /// unless this scope allows all of it. Membership changes (paths at or below `members` on a
    /// `Group`) also need the group in the allow-list, when there is one.
    pub fn check_action(
        &self,
        op: Operation,
        resource_type: &str,
        resource_id: &str,
        paths: &[AttrPath],
    ) -> Result<(), ScopeError> {
        let denied = |dimension, detail: String| ScopeError::NotPermitted { dimension, detail };
        if !self.operations.contains(&op) {
            return Err(denied(
                Dimension::Operations,
                format!("operation '{op}' is not allowed"),
            ));
        }
        if !self.resource_types.allows(resource_type) {
            return Err(denied(
                Dimension::ResourceTypes,
                format!("resource type '{resource_type}' is not allowed"),
            ));
        }
        for path in paths {
            if !self.attributes.iter().any(|p| p.covers(path)) {
                return Err(denied(
                    Dimension::Attributes,
                    format!("attribute '{path}' is not writable"),
                ));
            }
        }
        if let Some(groups) = &self.groups {
            let touches_members = resource_type.eq_ignore_ascii_case("Group")
                && paths.iter().any(AttrPath::touches_members);
            if touches_members && !groups.contains(resource_id) {
                return Err(denied(
                    Dimension::Groups,
                    format!("membership of group '{resource_id}' may not be changed"),
                ));
            }
        }
        Ok(())
    }

    /// The canonical CBOR form.
    pub fn to_cbor(&self) -> Value {
        let texts = |items: Vec<String>| Value::Array(items.into_iter().map(Value::Text).collect());
        let resource_types = match &self.resource_types {
            ResourceTypes::All => vec!["*".to_owned()],
            ResourceTypes::Only(set) => set.iter().cloned().collect(),
        };
        MapBuilder::new()
            .field(
                KEY_OPERATIONS,
                texts(sorted_unique(
                    self.operations.iter().map(|o| o.as_str().to_owned()),
                )),
            )
            .field(KEY_RESOURCE_TYPES, texts(resource_types))
            .field(
                KEY_ATTRIBUTES,
                texts(sorted_unique(
                    self.attributes.iter().map(ToString::to_string),
                )),
            )
            .optional(
                KEY_GROUPS,
                self.groups
                    .as_ref()
                    .map(|g| texts(g.iter().cloned().collect())),
            )
            .field(
                KEY_CAPABILITIES,
                texts(sorted_unique(
                    self.capabilities.iter().map(|c| c.as_str().to_owned()),
                )),
            )
            .build()
    }

    /// Reads the canonical CBOR form; refuses unsorted or repeated entries and unknown names.
    pub fn from_cbor(value: &Value) -> Result<Scope, ScopeError> {
        let mut reader = FieldReader::new("scope", value)?;
        let operations = canonical_list(&mut reader, KEY_OPERATIONS, "operations", |s| {
            Operation::parse(s).map(|o| (o.as_str().to_owned(), o))
        })?;
        let resource_types =
            canonical_list(&mut reader, KEY_RESOURCE_TYPES, "resource_types", |s| {
                if s.is_empty() || s.len() > 128 {
                    return Err(ScopeError::InvalidPath {
                        path: s.to_owned(),
                        why: "resource type names are 1 to 128 bytes",
                    });
                }
                Ok((s.to_owned(), s.to_owned()))
            })?;
        let resource_types = if resource_types.iter().any(|t| t == "*") {
            if resource_types.len() != 1 {
                return Err(reader
                    .invalid(KEY_RESOURCE_TYPES, "resource_types", "'*' must stand alone")
                    .into());
            }
            ResourceTypes::All
        } else {
            ResourceTypes::Only(resource_types.into_iter().collect())
        };
        let attributes = canonical_list(&mut reader, KEY_ATTRIBUTES, "attributes", |s| {
            let pattern = PathPattern::parse(s)?;
            Ok((pattern.to_string(), pattern))
        })?;
        let groups = match reader.optional(KEY_GROUPS) {
            None => None,
            Some(_) => Some(
                canonical_list(&mut reader, KEY_GROUPS, "groups", |s| {
                    if s.is_empty() || s.len() > 256 {
                        return Err(ScopeError::InvalidPath {
                            path: s.chars().take(80).collect(),
                            why: "group ids are 1 to 256 bytes",
                        });
                    }
                    Ok((s.to_owned(), s.to_owned()))
                })?
                .into_iter()
                .collect(),
            ),
        };
        let capabilities = canonical_list(&mut reader, KEY_CAPABILITIES, "capabilities", |s| {
            Capability::parse(s).map(|c| (c.as_str().to_owned(), c))
        })?;
        reader.finish()?;
        Ok(Scope {
            operations: operations.into_iter().collect(),
            resource_types,
            attributes: attributes.into_iter().collect(),
            groups,
            capabilities: capabilities.into_iter().collect(),
        })
    }
}

fn sorted_unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = items.collect();
    set.into_iter().collect()
}

/// Reads an array of text that must already be in canonical form: each item's canonical text
/// equals the item, and items are strictly ascending. One scope, one encoding.
fn canonical_list<T>(
    reader: &mut FieldReader<'_>,
    key: i64,
    name: &'static str,
    parse: impl Fn(&str) -> Result<(String, T), ScopeError>,
) -> Result<Vec<T>, ScopeError> {
    let items = reader.text_array(key, name)?;
    if items.len() > MAX_SCOPE_ENTRIES {
        return Err(reader
            .invalid(key, name, format!("more than {MAX_SCOPE_ENTRIES} entries"))
            .into());
    }
    let mut out = Vec::with_capacity(items.len());
    let mut previous: Option<&str> = None;
    for item in items {
        let (canonical, parsed) = parse(item)?;
        if canonical != item {
            return Err(reader
                .invalid(
                    key,
                    name,
                    format!("entry {item:?} is not in canonical form {canonical:?}"),
                )
                .into());
        }
        if let Some(prev) = previous {
            if prev >= item {
                return Err(reader
                    .invalid(key, name, "entries must be sorted and unique")
                    .into());
            }
        }
        previous = Some(item);
        out.push(parsed);
    }
    Ok(out)
}

/// Builds a scope from the readable lists the CLI accepts.
#[derive(Debug, Default, Clone)]
pub struct ScopeBuilder {
    operations: Vec<String>,
    resource_types: Vec<String>,
    attributes: Vec<String>,
    groups: Option<Vec<String>>,
    capabilities: Vec<String>,
}

impl ScopeBuilder {
    /// An empty builder (no operations, no types, no attributes, no capabilities).
    pub fn new() -> Self {
        ScopeBuilder::default()
    }

    /// Adds operations by name.
    pub fn operations<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.operations
            .extend(names.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Adds resource types by name (`*` for all).
    pub fn resource_types<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.resource_types
            .extend(names.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Adds attribute path patterns.
    pub fn attributes<S: AsRef<str>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.attributes
            .extend(patterns.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Restricts membership changes to these groups.
    pub fn groups<S: AsRef<str>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.groups
            .get_or_insert_with(Vec::new)
            .extend(ids.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Adds capabilities by name.
    pub fn capabilities<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.capabilities
            .extend(names.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Validates every name and pattern.
    pub fn build(self) -> Result<Scope, ScopeError> {
        let operations = self
            .operations
            .iter()
            .map(|s| Operation::parse(s))
            .collect::<Result<_, _>>()?;
        let resource_types = if self.resource_types.iter().any(|t| t == "*") {
            ResourceTypes::All
        } else {
            ResourceTypes::Only(self.resource_types.into_iter().collect())
        };
        let attributes = self
            .attributes
            .iter()
            .map(|s| PathPattern::parse(s))
            .collect::<Result<_, _>>()?;
        let capabilities = self
            .capabilities
            .iter()
            .map(|s| Capability::parse(s))
            .collect::<Result<_, _>>()?;
        Ok(Scope {
            operations,
            resource_types,
            attributes,
            groups: self.groups.map(|g| g.into_iter().collect()),
            capabilities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }
    fn a(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    #[test]
    fn pattern_coverage() {
        assert!(p("name.*").covers(&a("name.givenName")));
        assert!(p("name").covers(&a("name")));
        assert!(!p("name").covers(&a("nameX")));
        assert!(!p("name.givenName").covers(&a("name")));
        assert!(p("*").covers(&a("anything.at.all")));
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert!(p(&format!("{ent}:*")).covers(&a(&format!("{ent}:manager.value"))));
        assert!(!p(&format!("{ent}:*")).covers(&a("manager")));
        assert!(p("EMAILS").covers(&a("emails.value")));
    }

    #[test]
    fn pattern_inclusion() {
        assert!(p("name").includes(&p("name.givenName")));
        assert!(!p("name.givenName").includes(&p("name")));
        assert!(p("*").includes(&p("urn:x:y:*")));
        assert!(!p("urn:x:y:*").includes(&p("*")));
        assert!(p("urn:x:y:*").includes(&p("urn:x:y:manager")));
        assert!(!p("urn:x:y:manager").includes(&p("urn:x:y:*")));
        assert!(!p("name").includes(&p("urn:x:y:*")));
    }

    #[test]
    fn bad_patterns() {
        for bad in ["", "a..b", "na*me", "*.x", "a b", ".a", "a.", "urn:x:*:y"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn scope(ops: &[&str], types: &[&str], attrs: &[&str], caps: &[&str]) -> Scope {
        ScopeBuilder::new()
            .operations(ops)
            .resource_types(types)
            .attributes(attrs)
            .capabilities(caps)
            .build()
            .unwrap()
    }

    #[test]
    fn attenuation_each_dimension() {
        let parent = scope(
            &["create", "patch"],
            &["User"],
            &["active", "name"],
            &["delegate"],
        );
        let ok = scope(&["patch"], &["User"], &["name.givenName"], &[]);
        ok.check_attenuates(&parent).unwrap();
        let cases = [
            (
                scope(&["delete"], &["User"], &["active"], &[]),
                "scope.attenuation.operations",
            ),
            (
                scope(&["patch"], &["Group"], &["active"], &[]),
                "scope.attenuation.resource_types",
            ),
            (
                scope(&["patch"], &["*"], &["active"], &[]),
                "scope.attenuation.resource_types",
            ),
            (
                scope(&["patch"], &["User"], &["members"], &[]),
                "scope.attenuation.attributes",
            ),
            (
                scope(&["patch"], &["User"], &["*"], &[]),
                "scope.attenuation.attributes",
            ),
            (
                scope(&["patch"], &["User"], &["active"], &["reactivate"]),
                "scope.attenuation.capabilities",
            ),
        ];
        for (child, code) in cases {
            assert_eq!(child.check_attenuates(&parent).unwrap_err().code(), code);
        }
        let mut limited = parent.clone();
        limited.groups = Some(["g1".to_owned()].into_iter().collect());
        assert_eq!(
            parent.check_attenuates(&limited).unwrap_err().code(),
            "scope.attenuation.groups"
        );
    }

    #[test]
    fn action_checks() {
        let s = ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["Group"])
            .attributes(["members"])
            .groups(["g1"])
            .build()
            .unwrap();
        s.check_action(Operation::Patch, "Group", "g1", &[a("members")])
            .unwrap();
        assert_eq!(
            s.check_action(Operation::Patch, "Group", "g2", &[a("members.value")])
                .unwrap_err()
                .code(),
            "scope.denied.group"
        );
        assert_eq!(
            s.check_action(Operation::Patch, "Group", "g1", &[a("displayName")])
                .unwrap_err()
                .code(),
            "scope.denied.attribute"
        );
        assert_eq!(
            s.check_action(Operation::Delete, "Group", "g1", &[])
                .unwrap_err()
                .code(),
            "scope.denied.operation"
        );
    }

    #[test]
    fn cbor_roundtrip_and_canonical_only() {
        let s = ScopeBuilder::new()
            .operations(["patch", "create"])
            .resource_types(["User", "Group"])
            .attributes(["name.*", "Active"])
            .groups(["b", "a"])
            .capabilities(["reactivate"])
            .build()
            .unwrap();
        let bytes = s.to_cbor().to_bytes();
        let back = Scope::from_cbor(&codec::decode(&bytes).unwrap()).unwrap();
        assert_eq!(back, s);
        // Unsorted operations are refused.
        let unsorted = Value::Map(vec![
            (
                Value::int(1),
                Value::Array(vec![Value::text("patch"), Value::text("create")]),
            ),
            (Value::int(2), Value::Array(vec![Value::text("User")])),
            (Value::int(3), Value::Array(vec![])),
            (Value::int(5), Value::Array(vec![])),
        ]);
        assert_eq!(
            Scope::from_cbor(&unsorted).unwrap_err().code(),
            "shape.invalid_field"
        );
    }
}
