//! The attribute paths a SCIM operation writes, derived from its structure alone.
//!
//! Attribute *names* stay in the clear even when values are sealed, so the authority can tell
//! which attributes an operation touches without reading any value, and check them against the
//! signer's scope. The normative rules are in `spec/touched-paths.md`; in short:
//!
//! - create: every attribute path present in the resource, down to sub-attributes of complex
//!   values, except `schemas`, `id` and `meta`; extension members are qualified by their schema
//!   URN (`urn:…:enterprise:2.0:user:manager.value`); the resource type's own core schema URN is
//!   stripped, so core attributes are never URN-qualified.
//! - replace: the union of the new resource's paths and the current resource's paths (everything
//!   that could be removed is touched).
//! - patch: per operation, the `path` with any `[filter]` dropped (`emails[type eq "work"].value`
//!   → `emails.value`), or, without a path, one path per member of the value object — each
//!   member is an operation on its own path, as the SCIM engine applies it (dotted, URN-prefixed
//!   and filtered keys, as IdPs send them, are accepted).
//! - delete (and read): nothing.
//!
//! Derivation errs on the side of *more* (or coarser) paths, never fewer: anything it cannot
//! classify with certainty is refused with a [`TouchError`] naming the operation index and the
//! problem, because a path the applier writes but this module did not report would escape the
//! scope check. In particular PATCH operation members are matched case-insensitively and any
//! unknown or repeated member is refused, and the core URN of *another* resource type is refused
//! rather than silently stripped.
//!
//! Owns: path derivation and the scope-check convenience. Must never: look at attribute values
//! beyond their JSON shape, apply an operation, or depend on a schema registry (the SCIM engine
//! validates attributes against schemas separately).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value as Json};

use crate::scope::{AttrPath, Operation, Scope, ScopeError};

/// Core schema URNs of the resource types zkscim knows, by resource type name.
///
/// `User` and `Group` are RFC 7643 §8.7.1; `Agent` and `AgenticApplication` are the core schemas
/// of draft-abbey-scim-agent-extension-00.
pub const CORE_SCHEMAS: [(&str, &str); 4] = [
    ("User", "urn:ietf:params:scim:schemas:core:2.0:User"),
    ("Group", "urn:ietf:params:scim:schemas:core:2.0:Group"),
    ("Agent", "urn:ietf:params:scim:schemas:core:2.0:Agent"),
    (
        "AgenticApplication",
        "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication",
    ),
];

/// Extension schema URNs recognised even when their members arrive as `urn:…:attr` keys or paths.
pub const KNOWN_EXTENSION_SCHEMAS: [&str; 1] =
    ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];

/// Longest PATCH `path` accepted, in bytes.
pub const MAX_PATCH_PATH_LEN: usize = 512;
/// Most PATCH operations accepted in one request.
pub const MAX_PATCH_OPERATIONS: usize = 1000;
/// Deepest nesting of complex values accepted below a top-level attribute.
pub const MAX_VALUE_DEPTH: usize = 16;

/// Top-level resource members that are structure, not attributes an operation writes.
const STRUCTURAL: [&str; 3] = ["schemas", "id", "meta"];

/// Where in the input a problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// The resource of a create or replace.
    Resource,
    /// The current resource a replace is compared with.
    Current,
    /// PATCH operation at this zero-based index.
    Operation(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Resource => f.write_str("resource"),
            Location::Current => f.write_str("current resource"),
            Location::Operation(i) => write!(f, "PATCH operation {i}"),
        }
    }
}

/// Why the touched paths of an operation could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TouchError {
    /// The body (or the current resource) is not the JSON type the operation needs.
    #[error("{at} must be a JSON {expected}, found {found}")]
    WrongShape {
        /// Where.
        at: Location,
        /// Expected JSON type.
        expected: &'static str,
        /// Found JSON type.
        found: &'static str,
    },
    /// The PATCH operation list is empty.
    #[error("PATCH has no operations")]
    NoOperations,
    /// More PATCH operations than [`MAX_PATCH_OPERATIONS`].
    #[error("PATCH has {count} operations, more than the {MAX_PATCH_OPERATIONS} allowed")]
    TooManyOperations {
        /// How many were sent.
        count: usize,
    },
    /// A PATCH operation that is not an object with a known `op` and only `op`, `path`, `value`.
    #[error("PATCH operation {index}: {why}")]
    InvalidOperation {
        /// Zero-based operation index.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A `remove` without a `path` (RFC 7644 §3.5.2.2 requires one).
    #[error("PATCH operation {index}: remove requires a path")]
    RemoveWithoutPath {
        /// Zero-based operation index.
        index: usize,
    },
    /// A malformed PATCH `path`.
    #[error("PATCH operation {index}: invalid path {path:?}: {why}")]
    InvalidPath {
        /// Zero-based operation index.
        index: usize,
        /// The path (truncated to 80 characters).
        path: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An `add` or `replace` without a `value`.
    #[error("PATCH operation {index}: {op} requires a value")]
    MissingValue {
        /// Zero-based operation index.
        index: usize,
        /// `add` or `replace`.
        op: &'static str,
    },
    /// A `value` of the wrong JSON shape.
    #[error("PATCH operation {index}: invalid value: {why}")]
    InvalidValue {
        /// Zero-based operation index.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// An attribute name (a JSON member name) that is not a SCIM attribute name.
    #[error("{at}: invalid attribute {name:?}: {why}")]
    InvalidAttribute {
        /// Where.
        at: Location,
        /// The offending name (truncated to 80 characters).
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A URN prefix naming the core schema of another resource type.
    #[error(
        "{at}: schema {urn:?} is the core schema of another resource type than {resource_type:?}"
    )]
    ForeignSchema {
        /// Where.
        at: Location,
        /// The URN.
        urn: String,
        /// The operation's resource type.
        resource_type: String,
    },
    /// Complex values nested deeper than [`MAX_VALUE_DEPTH`].
    #[error("{at}: values nested deeper than {MAX_VALUE_DEPTH} levels")]
    TooDeep {
        /// Where.
        at: Location,
    },
}

impl TouchError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TouchError::WrongShape { .. } => "touch.wrong_shape",
            TouchError::NoOperations => "touch.no_operations",
            TouchError::TooManyOperations { .. } => "touch.too_many_operations",
            TouchError::InvalidOperation { .. } => "touch.invalid_operation",
            TouchError::RemoveWithoutPath { .. } => "touch.remove_without_path",
            TouchError::InvalidPath { .. } => "touch.invalid_path",
            TouchError::MissingValue { .. } => "touch.missing_value",
            TouchError::InvalidValue { .. } => "touch.invalid_value",
            TouchError::InvalidAttribute { .. } => "touch.invalid_attribute",
            TouchError::ForeignSchema { .. } => "touch.foreign_schema",
            TouchError::TooDeep { .. } => "touch.too_deep",
        }
    }
}

/// The attribute paths operation `op` on a resource of type `resource_type` writes.
///
/// `body` is the resource (create, replace) or the RFC 7644 PatchOp `Operations` array (patch);
/// it is ignored for delete and read, which touch nothing. `current` is the stored resource a
/// replace overwrites; when it is `None` (nothing stored yet) only the new resource's paths count.
pub fn touched_paths(
    op: Operation,
    resource_type: &str,
    body: &Json,
    current: Option<&Json>,
) -> Result<BTreeSet<AttrPath>, TouchError> {
    let mut collector = Collector::new(resource_type);
    match op {
        Operation::Create => collector.resource(body)?,
        Operation::Replace => {
            collector.resource(body)?;
            if let Some(current) = current {
                collector.at = Location::Current;
                collector.resource(current)?;
            }
        }
        Operation::Patch => collector.patch(body)?,
        Operation::Delete | Operation::Read => {}
    }
    Ok(collector.out)
}

/// [`touched_paths`] of a patch whose `Operations` array is held as its items, without
/// assembling the array.
pub fn touched_paths_of_operations(
    resource_type: &str,
    operations: &[Json],
) -> Result<BTreeSet<AttrPath>, TouchError> {
    let mut collector = Collector::new(resource_type);
    collector.patch_operations(operations)?;
    Ok(collector.out)
}

/// Checks `paths` (from [`touched_paths`]) and the operation against a verified scope: a thin
/// wrapper over [`Scope::check_action`].
pub fn check_operation_scope(
    verified_scope: &Scope,
    op: Operation,
    resource_type: &str,
    resource_id: &str,
    paths: &BTreeSet<AttrPath>,
) -> Result<(), ScopeError> {
    let paths: Vec<AttrPath> = paths.iter().cloned().collect();
    verified_scope.check_action(op, resource_type, resource_id, &paths)
}

/// The core schema URN of `resource_type` (ASCII case-insensitive), if zkscim knows it.
pub fn own_core_schema(resource_type: &str) -> Option<&'static str> {
    CORE_SCHEMAS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(resource_type))
        .map(|(_, urn)| *urn)
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

/// RFC 7643 §2.1 `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`, plus the
/// reserved sub-attribute `$ref`.
fn is_attr_name(name: &str) -> bool {
    if name.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A schema URN as zkscim accepts it: `urn:` then `:`-separated non-empty segments of ASCII
/// letters, digits, `.`, `-` and `_`.
fn is_urn(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("urn:") else {
        return false;
    };
    !rest.is_empty()
        && rest.split(':').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        })
}

/// How a URN-prefixed key or path names what it writes.
enum UrnTarget {
    /// The whole schema: a container whose members are its attributes. `None` = own core schema.
    Schema(Option<String>),
    /// One attribute (`rest`, possibly dotted) of the schema. `None` = own core schema.
    Attribute(Option<String>, String),
}

struct Collector<'a> {
    resource_type: &'a str,
    own_core: Option<&'static str>,
    at: Location,
    /// PATCH value members: accept IdP dialects (dotted keys, `urn:…:attr` keys), skip only
    /// `schemas`, and touch each member's own path (one operation per member).
    dialect: bool,
    out: BTreeSet<AttrPath>,
}

impl<'a> Collector<'a> {
    fn new(resource_type: &'a str) -> Collector<'a> {
        Collector {
            resource_type,
            own_core: own_core_schema(resource_type),
            at: Location::Resource,
            dialect: false,
            out: BTreeSet::new(),
        }
    }

    fn attr_error(&self, name: &str, why: &'static str) -> TouchError {
        TouchError::InvalidAttribute {
            at: self.at,
            name: truncate(name),
            why,
        }
    }

    /// Members skipped at the top of a resource: `schemas`, `id`, `meta` (the engine sets or
    /// checks them). In PATCH values only `schemas` is skipped, as the engine does: `id` and
    /// `meta` there are writes it refuses, and must still be reported.
    fn is_structural(&self, name: &str) -> bool {
        if self.dialect {
            name.eq_ignore_ascii_case("schemas")
        } else {
            STRUCTURAL.iter().any(|s| s.eq_ignore_ascii_case(name))
        }
    }

    fn emit(&mut self, path: &str) -> Result<(), TouchError> {
        let parsed = AttrPath::parse(path).map_err(|e| match e {
            ScopeError::InvalidPath { why, .. } => self.attr_error(path, why),
            _ => self.attr_error(path, "not a valid attribute path"),
        })?;
        self.out.insert(parsed);
        Ok(())
    }

    /// Classifies a key or path that starts with `urn:` (known to be a valid URN-ish text).
    /// `object_value` says whether the member's value is a JSON object, used only to tell an
    /// unknown extension schema container from an unknown extension's attribute in dialect mode.
    fn classify_urn(&self, text: &str, object_value: bool) -> Result<UrnTarget, TouchError> {
        let lower = text.to_ascii_lowercase();
        for (_, urn) in CORE_SCHEMAS {
            let urn_lower = urn.to_ascii_lowercase();
            let rest = if lower == urn_lower {
                None
            } else if let Some(rest) = lower.strip_prefix(&format!("{urn_lower}:")) {
                Some(rest.to_owned())
            } else {
                continue;
            };
            if self.own_core != Some(urn) {
                return Err(TouchError::ForeignSchema {
                    at: self.at,
                    urn: urn.to_owned(),
                    resource_type: self.resource_type.to_owned(),
                });
            }
            return Ok(match rest {
                None => UrnTarget::Schema(None),
                Some(rest) => UrnTarget::Attribute(None, rest),
            });
        }
        for urn in KNOWN_EXTENSION_SCHEMAS {
            let urn_lower = urn.to_ascii_lowercase();
            if lower == urn_lower {
                return Ok(UrnTarget::Schema(Some(urn_lower)));
            }
            if let Some(rest) = lower.strip_prefix(&format!("{urn_lower}:")) {
                return Ok(UrnTarget::Attribute(Some(urn_lower), rest.to_owned()));
            }
        }
        if !is_urn(&lower) {
            return Err(self.attr_error(text, "not a valid schema URN"));
        }
        if !self.dialect || object_value {
            return Ok(UrnTarget::Schema(Some(lower)));
        }
        match lower.rsplit_once(':') {
            Some((urn, attr)) if urn.len() > "urn:".len() => {
                Ok(UrnTarget::Attribute(Some(urn.to_owned()), attr.to_owned()))
            }
            _ => Err(self.attr_error(text, "URN-prefixed attribute without a schema")),
        }
    }

    /// A create/replace resource (or the current one).
    fn resource(&mut self, body: &Json) -> Result<(), TouchError> {
        let Json::Object(members) = body else {
            return Err(TouchError::WrongShape {
                at: self.at,
                expected: "object",
                found: json_type(body),
            });
        };
        self.members(members)
    }

    /// The members of a resource or of a PATCH value object without a path.
    fn members(&mut self, members: &Map<String, Json>) -> Result<(), TouchError> {
        for (key, value) in members {
            if self.is_structural(key) {
                continue;
            }
            if let (true, Location::Operation(index)) = (self.dialect, self.at) {
                if key.contains(['[', ']', '"']) {
                    // A member key with a value filter (`emails[type eq "work"].value`): the
                    // engine reads every member key as a PATCH path, so parse it as one.
                    match self.patch_path(index, key)? {
                        PathTarget::Attribute(path) => self.emit(&path)?,
                        PathTarget::Schema(_) => {
                            return Err(
                                self.attr_error(key, "a filtered key must name an attribute")
                            )
                        }
                    }
                    continue;
                }
            }
            if starts_with_urn(key) {
                self.urn_member(key, value)?;
            } else {
                self.attribute("", key, value)?;
            }
        }
        Ok(())
    }

    fn urn_member(&mut self, key: &str, value: &Json) -> Result<(), TouchError> {
        match self.classify_urn(key, value.is_object())? {
            UrnTarget::Schema(schema) => {
                let Json::Object(members) = value else {
                    return Err(self.attr_error(key, "a schema's value must be an object"));
                };
                match schema {
                    None => {
                        // The own core schema as a container: its members are core attributes.
                        for (name, v) in members {
                            if self.is_structural(name) {
                                continue;
                            }
                            if starts_with_urn(name) {
                                return Err(self.attr_error(name, "a schema inside a schema"));
                            }
                            self.attribute("", name, v)?;
                        }
                        Ok(())
                    }
                    Some(urn) => {
                        let prefix = format!("{urn}:");
                        for (name, v) in members {
                            self.attribute(&prefix, name, v)?;
                        }
                        Ok(())
                    }
                }
            }
            UrnTarget::Attribute(schema, rest) => {
                let prefix = schema.map(|u| format!("{u}:")).unwrap_or_default();
                self.attribute(&prefix, &rest, value)
            }
        }
    }

    /// A named attribute (`name`, or `name.sub` in dialect mode) under `prefix` (empty or
    /// `urn:…:`) with its value.
    fn attribute(&mut self, prefix: &str, name: &str, value: &Json) -> Result<(), TouchError> {
        let mut segments = name.split('.');
        let first = segments.next().unwrap_or_default();
        let sub = segments.next();
        if segments.next().is_some() || (sub.is_some() && !self.dialect) {
            return Err(self.attr_error(
                name,
                "dotted member names are accepted only in PATCH values, with one sub-attribute",
            ));
        }
        for segment in std::iter::once(first).chain(sub) {
            if !is_attr_name(segment) {
                return Err(self.attr_error(
                    name,
                    "attribute names are a letter followed by letters, digits, '-' or '_'",
                ));
            }
        }
        let mut path = format!("{prefix}{}", first.to_ascii_lowercase());
        if let Some(sub) = sub {
            path.push('.');
            path.push_str(&sub.to_ascii_lowercase());
        }
        if self.dialect {
            // A PATCH value member is an operation on that member's path (RFC 7644 §3.5.2.1 and
            // §3.5.2.3): replacing a multi-valued attribute replaces all its values, so the
            // member's own path is touched, not only the sub-attributes the value spells out.
            return self.emit(&path);
        }
        self.value(path, value, usize::from(sub.is_some()))
    }

    /// Emits `path` for a leaf, or recurses into the sub-attributes of complex values.
    fn value(&mut self, path: String, value: &Json, depth: usize) -> Result<(), TouchError> {
        if depth > MAX_VALUE_DEPTH {
            return Err(TouchError::TooDeep { at: self.at });
        }
        match value {
            Json::Object(members) if !members.is_empty() => {
                self.sub_attributes(&path, members, depth)
            }
            Json::Array(items) if !items.is_empty() => {
                for item in items {
                    match item {
                        Json::Object(members) if !members.is_empty() => {
                            self.sub_attributes(&path, members, depth)?;
                        }
                        Json::Array(_) => {
                            return Err(self.attr_error(&path, "arrays may not contain arrays"))
                        }
                        _ => self.emit(&path)?,
                    }
                }
                Ok(())
            }
            _ => self.emit(&path),
        }
    }

    fn sub_attributes(
        &mut self,
        path: &str,
        members: &Map<String, Json>,
        depth: usize,
    ) -> Result<(), TouchError> {
        for (name, v) in members {
            if !is_attr_name(name) {
                return Err(self.attr_error(
                    name,
                    "sub-attribute names are a letter followed by letters, digits, '-' or '_'",
                ));
            }
            self.value(
                format!("{path}.{}", name.to_ascii_lowercase()),
                v,
                depth + 1,
            )?;
        }
        Ok(())
    }

    fn patch(&mut self, body: &Json) -> Result<(), TouchError> {
        let Json::Array(operations) = body else {
            return Err(TouchError::WrongShape {
                at: Location::Resource,
                expected: "array of PATCH operations",
                found: json_type(body),
            });
        };
        self.patch_operations(operations)
    }

    fn patch_operations(&mut self, operations: &[Json]) -> Result<(), TouchError> {
        if operations.is_empty() {
            return Err(TouchError::NoOperations);
        }
        if operations.len() > MAX_PATCH_OPERATIONS {
            return Err(TouchError::TooManyOperations {
                count: operations.len(),
            });
        }
        for (index, operation) in operations.iter().enumerate() {
            self.at = Location::Operation(index);
            self.patch_operation(index, operation)?;
        }
        Ok(())
    }

    fn patch_operation(&mut self, index: usize, operation: &Json) -> Result<(), TouchError> {
        let invalid = |why: String| TouchError::InvalidOperation { index, why };
        let Json::Object(members) = operation else {
            return Err(invalid(format!(
                "must be an object, found {}",
                json_type(operation)
            )));
        };
        let (mut op, mut path, mut value) = (None, None, None);
        for (name, v) in members {
            let slot = match name.to_ascii_lowercase().as_str() {
                "op" => &mut op,
                "path" => &mut path,
                "value" => &mut value,
                _ => {
                    return Err(invalid(format!(
                        "unknown member {:?} (only op, path and value are allowed)",
                        truncate(name)
                    )))
                }
            };
            if slot.replace(v).is_some() {
                return Err(invalid(format!(
                    "member {:?} appears more than once (names are case-insensitive)",
                    truncate(name)
                )));
            }
        }
        let op = match op {
            None => return Err(invalid("missing \"op\"".into())),
            Some(Json::String(op)) => op,
            Some(other) => {
                return Err(invalid(format!(
                    "\"op\" must be a string, found {}",
                    json_type(other)
                )))
            }
        };
        let op: &'static str = match op.to_ascii_lowercase().as_str() {
            "add" => "add",
            "remove" => "remove",
            "replace" => "replace",
            _ => {
                return Err(invalid(format!(
                    "unknown op {:?} (expected add, remove or replace)",
                    truncate(op)
                )))
            }
        };
        let path = match path {
            None => None,
            Some(Json::String(p)) => Some(p.as_str()),
            Some(other) => {
                return Err(invalid(format!(
                    "\"path\" must be a string, found {}",
                    json_type(other)
                )))
            }
        };
        match (op, path) {
            ("remove", None) => Err(TouchError::RemoveWithoutPath { index }),
            ("remove", Some(path)) => match self.patch_path(index, path)? {
                PathTarget::Attribute(p) => self.emit(&p),
                PathTarget::Schema(_) => Err(TouchError::InvalidPath {
                    index,
                    path: truncate(path),
                    why: "a path must name an attribute, not a whole schema",
                }),
            },
            (op, path) => {
                let value = value.ok_or(TouchError::MissingValue { index, op })?;
                let target = match path {
                    None => PathTarget::Schema(None),
                    Some(path) => self.patch_path(index, path)?,
                };
                match target {
                    PathTarget::Attribute(p) => self.emit(&p),
                    PathTarget::Schema(schema) => {
                        let Json::Object(members) = value else {
                            return Err(TouchError::InvalidValue {
                                index,
                                why: "without an attribute path the value must be an object",
                            });
                        };
                        self.dialect = true;
                        let outcome = match schema {
                            None => self.members(members),
                            Some(urn) => {
                                let prefix = format!("{urn}:");
                                members
                                    .iter()
                                    .try_for_each(|(name, v)| self.attribute(&prefix, name, v))
                            }
                        };
                        self.dialect = false;
                        outcome
                    }
                }
            }
        }
    }

    /// Parses a PATCH path (RFC 7644 §3.5.2 `PATH`) into what it names.
    fn patch_path(&self, index: usize, path: &str) -> Result<PathTarget, TouchError> {
        let bad = |why: &'static str| TouchError::InvalidPath {
            index,
            path: truncate(path),
            why,
        };
        if path.is_empty() {
            return Err(bad("empty"));
        }
        if path.len() > MAX_PATCH_PATH_LEN {
            return Err(bad("longer than 512 bytes"));
        }
        let (before, after, filtered) = split_filter(path).map_err(bad)?;
        if !before
            .bytes()
            .chain(after.bytes())
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'$'))
        {
            return Err(bad(
                "outside a filter only letters, digits, '.', ':', '-', '_' and '$' are allowed",
            ));
        }
        if !starts_with_urn(before) {
            return attribute_with_sub(before, after, filtered)
                .map(PathTarget::Attribute)
                .map_err(bad);
        }
        // A path that is exactly a known schema URN names the whole schema.
        let known_schema = KNOWN_EXTENSION_SCHEMAS
            .iter()
            .chain(CORE_SCHEMAS.iter().map(|(_, urn)| urn))
            .any(|urn| urn.eq_ignore_ascii_case(before));
        if known_schema && !filtered && after.is_empty() {
            return match self.classify_urn(before, true)? {
                UrnTarget::Schema(schema) => Ok(PathTarget::Schema(schema)),
                UrnTarget::Attribute(..) => Err(bad("not a valid schema URN")),
            };
        }
        // Otherwise the attribute follows the last ':' (ATTRNAME never contains one).
        let Some((urn, attr)) = before.rsplit_once(':') else {
            return Err(bad("a URN must be followed by ':' and an attribute name"));
        };
        if !is_urn(urn) {
            return Err(bad("not a valid schema URN"));
        }
        let attr = attribute_with_sub(attr, after, filtered).map_err(bad)?;
        match self.classify_urn(urn, true)? {
            UrnTarget::Schema(None) => Ok(PathTarget::Attribute(attr)),
            UrnTarget::Schema(Some(schema)) => {
                Ok(PathTarget::Attribute(format!("{schema}:{attr}")))
            }
            UrnTarget::Attribute(..) => Err(bad(
                "a known schema URN may be followed by one attribute only",
            )),
        }
    }
}

fn starts_with_urn(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// What a PATCH path names.
enum PathTarget {
    /// A normalised attribute path.
    Attribute(String),
    /// A whole schema (`None` = the resource's own core schema): the value's members are written.
    Schema(Option<String>),
}

/// `attr` must be `ATTRNAME` or `ATTRNAME.ATTRNAME`; `after` (following a filter) must be empty or
/// `.ATTRNAME`, and only one sub-attribute may appear in total. Returns the lowercased path.
fn attribute_with_sub(attr: &str, after: &str, filtered: bool) -> Result<String, &'static str> {
    let mut segments = attr.split('.');
    let name = segments.next().unwrap_or_default();
    let sub = segments.next();
    if segments.next().is_some() {
        return Err("at most one sub-attribute is allowed");
    }
    if filtered && sub.is_some() {
        return Err("a filter must directly follow the attribute name");
    }
    let after_sub = if after.is_empty() {
        None
    } else {
        match after.strip_prefix('.') {
            Some(s) => Some(s),
            None => return Err("only '.subAttribute' may follow a filter"),
        }
    };
    let sub = sub.or(after_sub);
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return Err("attribute names are a letter followed by letters, digits, '-' or '_'");
    }
    let mut out = name.to_ascii_lowercase();
    if let Some(sub) = sub {
        out.push('.');
        out.push_str(&sub.to_ascii_lowercase());
    }
    Ok(out)
}

/// Splits `path` around its one optional `[filter]`: the text before it, the text after it, and
/// whether there was a filter. Inside the filter, quoted strings (with `\` escapes) and nested
/// brackets are skipped, so `]`, `"`, `[` and `:` in filter values never end it early.
fn split_filter(path: &str) -> Result<(&str, &str, bool), &'static str> {
    let Some(open) = path.find(['[', ']', '"']) else {
        return Ok((path, "", false));
    };
    if path.as_bytes().get(open) != Some(&b'[') {
        return Err("']' or '\"' outside a filter");
    }
    let before = path.get(..open).unwrap_or_default();
    if before.is_empty() {
        return Err("a filter must follow an attribute name");
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut close = None;
    for (i, c) in path.char_indices().skip_while(|(i, _)| *i < open) {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(if in_string {
            "unterminated string in filter"
        } else {
            "unbalanced '[' (filter not closed)"
        });
    };
    let filter = path.get(open + 1..close).unwrap_or_default();
    if filter.trim().is_empty() {
        return Err("empty filter");
    }
    let after = path.get(close + 1..).unwrap_or_default();
    if after.contains(['[', ']', '"']) {
        return Err("at most one filter, and nothing but '.subAttribute' after it");
    }
    Ok((before, after, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_held_as_items_touch_what_the_array_touches() {
        let too_many: Vec<Json> = (0..=MAX_PATCH_OPERATIONS)
            .map(|_| json!({"op": "remove", "path": "title"}))
            .collect();
        let cases = [
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "x"}]),
            json!([{"op": "add", "value": {"title": "t", "name.givenName": "g"}}]),
            json!([{"op": "remove", "path": "members[value eq \"1\"]"}, {"op": "bogus"}]),
            json!([{"op": "add", "path": "not a path", "value": 1}]),
            json!([]),
            Json::Array(too_many),
        ];
        for ops in cases {
            let items = ops.as_array().cloned().unwrap_or_default();
            assert_eq!(
                touched_paths_of_operations("User", &items),
                touched_paths(Operation::Patch, "User", &ops, None),
                "{ops}"
            );
        }
    }

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn paths(op: Operation, body: Json, current: Option<Json>) -> Vec<String> {
        touched_paths(op, "User", &body, current.as_ref())
            .unwrap()
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    fn patch(ops: Json) -> Vec<String> {
        paths(Operation::Patch, ops, None)
    }

    fn patch_err(ops: Json) -> TouchError {
        touched_paths(Operation::Patch, "User", &ops, None).unwrap_err()
    }

    #[test]
    fn create_lists_leaves_and_qualifies_extensions() {
        let body = json!({
            "schemas": [CORE_USER, ENT],
            "id": "x", "meta": {"version": "1"},
            "userName": "zk1.abc",
            "name": {"givenName": "zk1.a", "familyName": "zk1.b"},
            "emails": [{"value": "zk1.c", "type": "work"}, {"value": "zk1.d", "primary": true}],
            "active": true,
            "nickName": null,
            "phoneNumbers": [],
            ENT: {"employeeNumber": "zk1.e", "manager": {"value": "m"}},
        });
        assert_eq!(
            paths(Operation::Create, body, None),
            [
                "active",
                "emails.primary",
                "emails.type",
                "emails.value",
                "name.familyname",
                "name.givenname",
                "nickname",
                "phonenumbers",
                &format!("{}:employeenumber", ENT.to_ascii_lowercase()),
                &format!("{}:manager.value", ENT.to_ascii_lowercase()),
                "username",
            ]
        );
    }

    #[test]
    fn own_core_urn_is_stripped_foreign_refused() {
        let body = json!({ CORE_USER: {"displayName": "x"}, "urn:ietf:params:scim:schemas:core:2.0:User:title": "t" });
        assert_eq!(
            paths(Operation::Create, body, None),
            ["displayname", "title"]
        );
        let foreign = json!({"urn:ietf:params:scim:schemas:core:2.0:Group:displayName": "x"});
        assert_eq!(
            touched_paths(Operation::Create, "User", &foreign, None)
                .unwrap_err()
                .code(),
            "touch.foreign_schema"
        );
        let agent = json!({"urn:ietf:params:scim:schemas:core:2.0:Agent": {"agentType": "x"}});
        let got = touched_paths(Operation::Create, "Agent", &agent, None).unwrap();
        assert_eq!(got.into_iter().next().unwrap().as_str(), "agenttype");
    }

    #[test]
    fn create_refuses_bad_names() {
        for body in [
            json!({"name.givenName": "x"}),
            json!({"1abc": "x"}),
            json!({"a b": "x"}),
            json!({"name": {"given name": "x"}}),
            json!({"emails": [[1]]}),
            json!({"urn:bad urn": {"a": 1}}),
            json!({ENT: "not an object"}),
            json!({CORE_USER: {CORE_USER: {"title": "x"}}}),
        ] {
            let err = touched_paths(Operation::Create, "User", &body, None).unwrap_err();
            assert_eq!(err.code(), "touch.invalid_attribute", "{body}: {err}");
        }
        assert_eq!(
            touched_paths(Operation::Create, "User", &json!([1]), None)
                .unwrap_err()
                .code(),
            "touch.wrong_shape"
        );
    }

    #[test]
    fn replace_unions_current() {
        let new = json!({"userName": "a", "active": true});
        let current = json!({"userName": "a", "title": "t", "name": {"givenName": "g"}});
        assert_eq!(
            paths(Operation::Replace, new.clone(), Some(current)),
            ["active", "name.givenname", "title", "username"]
        );
        assert_eq!(paths(Operation::Replace, new, None), ["active", "username"]);
    }

    #[test]
    fn patch_paths_drop_filters_keep_sub() {
        let ent = ENT.to_ascii_lowercase();
        let ops = json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "zk1.x"},
            {"op": "Remove", "path": "members[value eq \"x]\\\"[y\"]"},
            {"op": "add", "path": format!("{ENT}:manager"), "value": {"value": "m"}},
            {"op": "REPLACE", "path": format!("{CORE_USER}:name.givenName"), "value": "zk1.y"},
            {"op": "add", "path": "addresses[type eq \"work\" and urn:x:y eq \"a:b\" and emails[value co \"[\"]]", "value": {}},
            {"op": "replace", "path": "active", "value": false},
        ]);
        assert_eq!(
            patch(ops),
            [
                "active",
                "addresses",
                "emails.value",
                "members",
                "name.givenname",
                &format!("{ent}:manager"),
            ]
        );
    }

    #[test]
    fn patch_without_path_accepts_dialects() {
        let ent = ENT.to_ascii_lowercase();
        let ops = json!([
            {"op": "replace", "value": {
                "active": false,
                "name.givenName": "zk1.a",
                format!("{ENT}:employeeNumber"): "zk1.b",
                format!("{ENT}:manager"): {"value": "m"},
                ENT: {"department": "zk1.c"},
                "urn:example:ext:1.0:Thing:color": "zk1.d",
                "urn:example:ext:1.0:Other": {"size": 1},
                "emails": [{"value": "zk1.e"}],
                "addresses[type eq \"work\"].locality": "zk1.g",
            }},
            {"op": "add", "path": ENT, "value": {"costCenter": "zk1.f"}},
        ]);
        assert_eq!(
            patch(ops),
            [
                "active",
                "addresses.locality",
                "emails",
                "name.givenname",
                "urn:example:ext:1.0:other:size",
                "urn:example:ext:1.0:thing:color",
                &format!("{ent}:costcenter"),
                &format!("{ent}:department"),
                &format!("{ent}:employeenumber"),
                &format!("{ent}:manager"),
            ]
        );
    }

    #[test]
    fn patch_errors_name_index_and_problem() {
        let cases = [
            (json!([{"op": "remove"}]), "touch.remove_without_path"),
            (json!([{"op": "add", "path": "a"}]), "touch.missing_value"),
            (json!([{"op": "add", "value": [1]}]), "touch.invalid_value"),
            (
                json!([{"op": "move", "path": "a"}]),
                "touch.invalid_operation",
            ),
            (json!([{"path": "a"}]), "touch.invalid_operation"),
            (
                json!([{"op": "add", "path": "a", "value": 1, "from": "b"}]),
                "touch.invalid_operation",
            ),
            (
                json!([{"op": "add", "Path": "a", "path": "b", "value": 1}]),
                "touch.invalid_operation",
            ),
            (json!(["add"]), "touch.invalid_operation"),
            (
                json!([{"op": "remove", "path": "emails[type eq \"work\""}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails]"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails[]"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails[type eq \"x]"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails[a eq 1][b eq 2]"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails[a eq 1]value"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "emails.value[a eq 1]"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "name..givenName"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "a.b.c"}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "na me"}]),
                "touch.invalid_path",
            ),
            (json!([{"op": "remove", "path": ""}]), "touch.invalid_path"),
            (
                json!([{"op": "remove", "path": "x".repeat(513)}]),
                "touch.invalid_path",
            ),
            (
                json!([{"op": "remove", "path": "urn::x"}]),
                "touch.invalid_path",
            ),
            (json!([{"op": "remove", "path": ENT}]), "touch.invalid_path"),
            (
                json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:x"}]),
                "touch.foreign_schema",
            ),
            (json!([]), "touch.no_operations"),
            (json!({"Operations": []}), "touch.wrong_shape"),
        ];
        for (ops, code) in cases {
            let err = patch_err(ops.clone());
            assert_eq!(err.code(), code, "{ops}: {err}");
        }
        let err = patch_err(json!([{"op": "add", "path": "a", "value": 1}, {"op": "remove"}]));
        assert!(err.to_string().contains("operation 1"), "{err}");
        let many: Vec<Json> = (0..=MAX_PATCH_OPERATIONS)
            .map(|_| json!({"op": "remove", "path": "a"}))
            .collect();
        assert_eq!(
            patch_err(Json::Array(many)).code(),
            "touch.too_many_operations"
        );
    }

    #[test]
    fn delete_touches_nothing_and_scope_wrapper() {
        assert!(paths(Operation::Delete, json!(null), None).is_empty());
        let scope = crate::scope::ScopeBuilder::new()
            .operations(["patch"])
            .resource_types(["User"])
            .attributes(["name.givenName", "active"])
            .build()
            .unwrap();
        let ok = touched_paths(
            Operation::Patch,
            "User",
            &json!([{"op": "replace", "value": {"name.givenName": "x", "active": true}}]),
            None,
        )
        .unwrap();
        check_operation_scope(&scope, Operation::Patch, "User", "u", &ok).unwrap();
        let wide = touched_paths(
            Operation::Patch,
            "User",
            &json!([{"op": "replace", "path": "name", "value": {"givenName": "x"}}]),
            None,
        )
        .unwrap();
        assert_eq!(
            check_operation_scope(&scope, Operation::Patch, "User", "u", &wide)
                .unwrap_err()
                .code(),
            "scope.denied.attribute"
        );
    }

    #[test]
    fn too_deep_refused() {
        let mut v = json!("leaf");
        for _ in 0..=MAX_VALUE_DEPTH + 1 {
            v = json!({ "a": v });
        }
        let body = json!({ "x": v });
        assert_eq!(
            touched_paths(Operation::Create, "User", &body, None)
                .unwrap_err()
                .code(),
            "touch.too_deep"
        );
    }
}
