//! PATCH (RFC 7644 §3.5.2): request parsing, identity-provider dialect normalisation, path
//! resolution, atomic application, touched-path derivation and a membership-delta API.
//!
//! Pipeline: [`parse_patch`] = structure checks → dialect normalisation steps (each a named
//! function below, documented with the dialect it accepts) → path resolution → value
//! normalisation. [`apply_patch`] applies resolved operations to a resource in place,
//! atomically: on any error every change is rolled back and the error is returned.
//!
//! Large multi-valued attributes: appending values records a truncation marker instead of
//! copying the array, and only the new values are validated, so adding one member to a
//! 100,000-member group does not re-validate or copy the others. For stores that keep members
//! as rows, [`patch_members_delta`] turns a Group PATCH into added/removed member ids.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter, FilterLimits, Parser};
use crate::path::{clip, get_ci, key_ci, valid_attr_name, AttrPath};
use crate::protection::ProtectionProfile;
use crate::resource_type::ResourceSchema;
use crate::schema::{AttrType, AttributeDef, Mutability};
use crate::validate::{check_attr, check_element, check_primary, coerce_boolean_string, AttrCtx};

/// URN of the PATCH request message schema.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `replace`
    Replace,
}

impl PatchOpKind {
    /// RFC spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

/// Limits for PATCH requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchLimits {
    /// Maximum number of operations (after expansion). Exceeding it is 413.
    pub max_operations: usize,
    /// Maximum number of values in one operation's value array. Exceeding it is 413.
    pub max_values_per_operation: usize,
    /// Maximum length of a path string.
    pub max_path_len: usize,
}

impl Default for PatchLimits {
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_values_per_operation: 10_000,
            max_path_len: 2048,
        }
    }
}

/// A PATCH target resolved against the resource schema, with canonical spellings.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPath {
    /// Canonical URN of the schema holding the target.
    pub schema: String,
    /// Whether the target lives under the extension's JSON object.
    pub in_extension: bool,
    /// Canonical top-level attribute name; `None` targets the whole extension object.
    pub attr: Option<String>,
    /// Value-selection filter (`attr[filter]`), paths relative to the attribute's values.
    pub filter: Option<Filter>,
    /// Canonical sub-attribute name.
    pub sub_attr: Option<String>,
}

impl ResolvedPath {
    /// The attribute this path touches, fully qualified and without filter:
    /// `<schema URN>:<attr>[.<sub>]`, or just the extension URN. This is what scope checks use.
    #[must_use]
    pub fn attribute_key(&self) -> String {
        match (&self.attr, &self.sub_attr) {
            (None, _) => self.schema.clone(),
            (Some(a), None) => format!("{}:{a}", self.schema),
            (Some(a), Some(s)) => format!("{}:{a}.{s}", self.schema),
        }
    }
}

impl fmt::Display for ResolvedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.schema)?;
        if let Some(a) = &self.attr {
            write!(f, ":{a}")?;
            if let Some(flt) = &self.filter {
                write!(f, "[{flt}]")?;
            }
            if let Some(s) = &self.sub_attr {
                write!(f, ".{s}")?;
            }
        }
        Ok(())
    }
}

/// One normalised, resolved PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// Operation kind.
    pub op: PatchOpKind,
    /// Resolved target.
    pub path: ResolvedPath,
    /// Value (absent for most removes).
    pub value: Option<Value>,
}

/// Summary of an applied PATCH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatchOutcome {
    /// Whether the resource changed (RFC 7644 §3.5.2: a no-op PATCH may return 204).
    pub changed: bool,
    /// Attribute keys touched (see [`ResolvedPath::attribute_key`]), sorted and deduplicated.
    pub touched: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Dialect normalisation steps

/// Dialect normalisation `normalize_op_name`: Microsoft Entra ID sends `"op": "Replace"`,
/// `"Add"`, `"Remove"`; RFC 7644 names are lower case. Operation names are accepted in any case.
pub fn normalize_op_name(op: &str) -> ScimResult<PatchOpKind> {
    match op.to_ascii_lowercase().as_str() {
        "add" => Ok(PatchOpKind::Add),
        "remove" => Ok(PatchOpKind::Remove),
        "replace" => Ok(PatchOpKind::Replace),
        _ => Err(ScimError::invalid_syntax(format!(
            "unknown PATCH operation '{}' (expected add, remove or replace)",
            clip(op)
        ))),
    }
}

/// Dialect normalisation `expand_pathless_operation`: an `add`/`replace` without `path` carries
/// an object whose keys are attribute names (RFC 7644 §3.5.2.1/§3.5.2.3). Entra ID and others
/// also send keys that are themselves paths: dotted (`"name.givenName"`) or URN-prefixed
/// (`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"`). Every key
/// becomes its own operation with that key as path, which has the same meaning as the RFC
/// no-path form. `schemas` keys are ignored, and so are `id` keys (dialect: Okta sends
/// `{"op":"replace","value":{"id":"…","displayName":"…"}}` when renaming a group; `id` is
/// readOnly and the request URL names the resource, so the key carries no change).
/// A `remove` without path is `noTarget`.
pub fn expand_pathless_operation(
    op: PatchOpKind,
    value: Option<&Value>,
) -> ScimResult<Vec<(String, Value)>> {
    if op == PatchOpKind::Remove {
        return Err(ScimError::no_target(
            "a 'remove' operation requires a 'path' (RFC 7644 §3.5.2.2)",
        ));
    }
    match value {
        Some(Value::Object(o)) => Ok(o
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas") && !k.eq_ignore_ascii_case("id"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()),
        Some(_) => Err(ScimError::invalid_value(format!(
            "an '{}' operation without 'path' requires an object value whose keys are attributes",
            op.as_str()
        ))),
        None => Err(ScimError::invalid_value(format!(
            "an '{}' operation requires a 'value'",
            op.as_str()
        ))),
    }
}

/// Dialect normalisation `split_members_remove_value_list`: Entra ID removes group members
/// with `{"op":"remove","path":"members","value":[{"value":"<id>"}]}`. Under RFC 7644 a remove
/// of `members` without a filter would remove every member; here a remove on a multi-valued
/// attribute without filter but *with* a value list removes only the listed values, as if sent
/// as `members[value eq "<id>"]` one by one.
pub fn split_members_remove_value_list(
    path: &ResolvedPath,
    def: &AttributeDef,
    value: &Value,
) -> ScimResult<Vec<PatchOperation>> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let filter = match (def.attr_type, it) {
            (AttrType::Complex, Value::Object(o)) => {
                let mut f: Option<Filter> = None;
                for (k, v) in o {
                    let sub = def.sub(k).ok_or_else(|| {
                        ScimError::invalid_value(format!(
                            "attribute '{}' has no sub-attribute '{}'",
                            def.name,
                            clip(k)
                        ))
                    })?;
                    let cv = match v {
                        Value::String(s) => CompValue::Str(s.clone()),
                        Value::Bool(b) => CompValue::Bool(*b),
                        Value::Number(n) => CompValue::Number(n.clone()),
                        _ => continue,
                    };
                    let c = Filter::Compare {
                        path: AttrPath::new(sub.name.clone()),
                        op: CompareOp::Eq,
                        value: cv,
                    };
                    f = Some(match f {
                        None => c,
                        Some(prev) => Filter::and(prev, c),
                    });
                }
                f.ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "remove from '{}' lists an empty value",
                        def.name
                    ))
                })?
            }
            (AttrType::Complex, Value::String(s)) if def.sub("value").is_some() => {
                Filter::Compare {
                    path: AttrPath::new("value"),
                    op: CompareOp::Eq,
                    value: CompValue::Str(s.clone()),
                }
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "cannot interpret the value list of a remove on '{}'",
                    def.name
                )))
            }
        };
        out.push(PatchOperation {
            op: PatchOpKind::Remove,
            path: ResolvedPath {
                filter: Some(filter),
                ..path.clone()
            },
            value: None,
        });
    }
    Ok(out)
}

/// Dialect normalisation `wrap_scalar_for_complex`: Entra ID sets the enterprise `manager`
/// with a bare id string (`"value": "26118915-6090-4610-87e4-49d8ca9f808d"`) instead of
/// `{"value": "…"}`. A scalar sent for a single-valued complex attribute that has a `value`
/// sub-attribute is wrapped as `{"value": scalar}`.
#[must_use]
pub fn wrap_scalar_for_complex(def: &AttributeDef, value: Value) -> Value {
    if def.attr_type == AttrType::Complex
        && !def.multi_valued
        && !value.is_object()
        && !value.is_null()
        && def.sub("value").is_some()
    {
        let mut m = Map::new();
        m.insert("value".into(), value);
        return Value::Object(m);
    }
    value
}

/// Dialect normalisation `normalize_boolean_strings`: booleans sent as strings
/// (`"active": "False"`, Entra ID) are converted for `boolean` targets, including
/// boolean sub-attributes inside complex values (`"primary": "True"`).
#[must_use]
pub fn normalize_boolean_strings(
    def: &AttributeDef,
    sub: Option<&AttributeDef>,
    value: Value,
) -> Value {
    fn fix_leaf(d: &AttributeDef, v: Value) -> Value {
        if d.attr_type == AttrType::Boolean {
            if let Some(b) = coerce_boolean_string(&v) {
                return Value::Bool(b);
            }
        }
        v
    }
    fn fix_obj(d: &AttributeDef, v: Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, sv)| {
                        let nv = match d.sub(&k) {
                            Some(sd) => fix_leaf(sd, sv),
                            None => sv,
                        };
                        (k, nv)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    let leaf_def = sub.unwrap_or(def);
    if leaf_def.attr_type != AttrType::Complex {
        return match value {
            Value::Array(a) if leaf_def.multi_valued => {
                Value::Array(a.into_iter().map(|v| fix_leaf(leaf_def, v)).collect())
            }
            other => fix_leaf(leaf_def, other),
        };
    }
    match value {
        Value::Array(a) => Value::Array(a.into_iter().map(|v| fix_obj(leaf_def, v)).collect()),
        other => fix_obj(leaf_def, other),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parse and resolve a PATCH path string against the resource schema.
///
/// Grammar (RFC 7644 §3.5.2): `attrPath / valuePath [subAttr]`, plus a bare extension URN.
pub fn parse_patch_path(s: &str, rs: &ResourceSchema) -> ScimResult<ResolvedPath> {
    parse_patch_path_with(s, rs, &PatchLimits::default())
}

fn parse_patch_path_with(
    s: &str,
    rs: &ResourceSchema,
    limits: &PatchLimits,
) -> ScimResult<ResolvedPath> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ScimError::invalid_path("PATCH path is empty"));
    }
    if t.len() > limits.max_path_len {
        return Err(ScimError::invalid_path(format!(
            "PATCH path is {} bytes long; the maximum is {}",
            t.len(),
            limits.max_path_len
        )));
    }
    if let Some(ext) = rs.extension(t) {
        return Ok(ResolvedPath {
            schema: ext.id.clone(),
            in_extension: true,
            attr: None,
            filter: None,
            sub_attr: None,
        });
    }
    let as_path = |e: ScimError| {
        ScimError::invalid_path(format!("in PATCH path '{}': {}", clip(t), e.detail()))
    };
    let mut p = Parser::new(t, FilterLimits::default(), false);
    let ap = p.parse_path().map_err(as_path)?;
    let mut filter = None;
    let mut sub = ap.sub_attr.clone();
    if p.peek() == Some(b'[') {
        if ap.sub_attr.is_some() {
            return Err(ScimError::invalid_path(format!(
                "in PATCH path '{}': a value filter must follow the attribute name, not '{ap}'",
                clip(t)
            )));
        }
        filter = Some(p.parse_bracket_filter().map_err(as_path)?);
        if p.peek() == Some(b'.') {
            p.advance(1);
            let start = p.position();
            while p
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'$'))
            {
                p.advance(1);
            }
            let name = t.get(start..p.position()).unwrap_or_default();
            if !valid_attr_name(name) {
                return Err(ScimError::invalid_path(format!(
                    "in PATCH path '{}': expected a sub-attribute name after '].' at position {start}",
                    clip(t)
                )));
            }
            sub = Some(name.to_owned());
        }
    }
    if !p.at_end() {
        return Err(ScimError::invalid_path(format!(
            "in PATCH path '{}': unexpected input at position {}",
            clip(t),
            p.position()
        )));
    }
    let base = AttrPath {
        urn: ap.urn.clone(),
        name: ap.name.clone(),
        sub_attr: None,
    };
    let r = rs.resolve(&base)?;
    let sub_def = match &sub {
        None => None,
        Some(sn) => {
            if r.attr.attr_type != AttrType::Complex {
                return Err(ScimError::invalid_path(format!(
                    "attribute '{}' is not complex and has no sub-attribute '{}'",
                    r.attr.name,
                    clip(sn)
                )));
            }
            Some(r.attr.sub(sn).ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "attribute '{}' has no sub-attribute '{}'",
                    r.attr.name,
                    clip(sn)
                ))
            })?)
        }
    };
    if let Some(f) = &filter {
        if r.attr.attr_type != AttrType::Complex || !r.attr.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "a value filter requires a multi-valued complex attribute; '{}' is not one",
                r.attr.name
            )));
        }
        Filter::ValuePath {
            path: base.clone(),
            filter: Box::new(f.clone()),
        }
        .check(rs, &ProtectionProfile::clear())?;
    }
    Ok(ResolvedPath {
        schema: r.schema.to_owned(),
        in_extension: r.in_extension,
        attr: Some(r.attr.name.clone()),
        filter,
        sub_attr: sub_def.map(|d| d.name.clone()),
    })
}

/// Look up the definitions a resolved path designates.
fn defs_of<'a>(
    rs: &'a ResourceSchema,
    path: &ResolvedPath,
) -> ScimResult<Option<(&'a AttributeDef, Option<&'a AttributeDef>)>> {
    let Some(a) = &path.attr else { return Ok(None) };
    let urn = if path.in_extension {
        Some(path.schema.as_str())
    } else {
        None
    };
    let r = rs.lookup(urn, a).ok_or_else(|| ScimError::Internal {
        detail: format!("resolved attribute '{a}' vanished from schema"),
    })?;
    let sub = match &path.sub_attr {
        Some(s) => Some(r.def.sub(s).ok_or_else(|| ScimError::Internal {
            detail: format!("resolved sub-attribute '{a}.{s}' vanished from schema"),
        })?),
        None => None,
    };
    Ok(Some((r.def, sub)))
}

/// Parse a PATCH request body into normalised, resolved operations (default limits).
pub fn parse_patch(body: &Value, rs: &ResourceSchema) -> ScimResult<Vec<PatchOperation>> {
    parse_patch_with_limits(body, rs, &PatchLimits::default())
}

/// Parse a PATCH request body with explicit limits.
pub fn parse_patch_with_limits(
    body: &Value,
    rs: &ResourceSchema,
    limits: &PatchLimits,
) -> ScimResult<Vec<PatchOperation>> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(
            "PATCH body must be a JSON object",
        ));
    };
    let schemas_ok = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            })
        });
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "PATCH body 'schemas' must contain '{PATCH_OP_SCHEMA}'"
        )));
    }
    let Some(Value::Array(raw_ops)) = get_ci(obj, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "PATCH body must have an 'Operations' array",
        ));
    };
    if raw_ops.is_empty() {
        return Err(ScimError::invalid_syntax("PATCH 'Operations' is empty"));
    }
    if raw_ops.len() > limits.max_operations {
        return Err(ScimError::payload_too_large(format!(
            "PATCH has {} operations; the maximum is {}",
            raw_ops.len(),
            limits.max_operations
        )));
    }
    let mut out = Vec::new();
    for (i, raw) in raw_ops.iter().enumerate() {
        let ctx = |e: ScimError| prefix_err(e, i);
        let Value::Object(o) = raw else {
            return Err(ctx(ScimError::invalid_syntax(
                "operation must be a JSON object",
            )));
        };
        let op_name = get_ci(o, "op").and_then(Value::as_str).ok_or_else(|| {
            ctx(ScimError::invalid_syntax(
                "operation is missing a string 'op'",
            ))
        })?;
        let op = normalize_op_name(op_name).map_err(ctx)?;
        let value = get_ci(o, "value");
        if let Some(Value::Array(a)) = value {
            if a.len() > limits.max_values_per_operation {
                return Err(ctx(ScimError::payload_too_large(format!(
                    "value has {} items; the maximum is {}",
                    a.len(),
                    limits.max_values_per_operation
                ))));
            }
        }
        let path = match get_ci(o, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ctx(ScimError::invalid_path("'path' must be a string"))),
        };
        let pairs: Vec<(String, Option<Value>)> = match path {
            Some(p) => vec![(p.to_owned(), value.cloned())],
            None => expand_pathless_operation(op, value)
                .map_err(ctx)?
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        };
        for (p, v) in pairs {
            let rp = parse_patch_path_with(&p, rs, limits).map_err(ctx)?;
            normalise_one(op, rp, v, rs, &mut out).map_err(ctx)?;
            if out.len() > limits.max_operations {
                return Err(ScimError::payload_too_large(format!(
                    "PATCH expands to more than {} operations",
                    limits.max_operations
                )));
            }
        }
    }
    Ok(out)
}

fn prefix_err(e: ScimError, i: usize) -> ScimError {
    let detail = format!("Operations[{i}]: {}", e.detail());
    match e {
        ScimError::InvalidFilter { .. } => ScimError::InvalidFilter { detail },
        ScimError::Mutability { .. } => ScimError::Mutability { detail },
        ScimError::InvalidSyntax { .. } => ScimError::InvalidSyntax { detail },
        ScimError::InvalidPath { .. } => ScimError::InvalidPath { detail },
        ScimError::NoTarget { .. } => ScimError::NoTarget { detail },
        ScimError::InvalidValue { .. } => ScimError::InvalidValue { detail },
        ScimError::PayloadTooLarge { .. } => ScimError::PayloadTooLarge { detail },
        other => other,
    }
}

fn normalise_one(
    op: PatchOpKind,
    path: ResolvedPath,
    value: Option<Value>,
    rs: &ResourceSchema,
    out: &mut Vec<PatchOperation>,
) -> ScimResult<()> {
    let defs = defs_of(rs, &path)?;
    let value = match (value, defs) {
        (Some(Value::Null), _) if op != PatchOpKind::Remove => {
            // RFC 7644 §3.5.2.3: replacing with null unassigns the attribute.
            if op == PatchOpKind::Replace {
                out.push(PatchOperation {
                    op: PatchOpKind::Remove,
                    path,
                    value: None,
                });
                return Ok(());
            }
            return Err(ScimError::invalid_value(
                "an 'add' operation requires a non-null 'value'",
            ));
        }
        (Some(v), Some((def, sub))) => {
            let v = if sub.is_none() && path.filter.is_none() {
                wrap_scalar_for_complex(def, v)
            } else {
                v
            };
            Some(normalize_boolean_strings(def, sub, v))
        }
        (v, _) => v,
    };
    if op == PatchOpKind::Remove {
        if let (Some((def, None)), None, Some(v)) = (defs, &path.filter, &value) {
            if def.multi_valued && !v.is_null() {
                out.extend(split_members_remove_value_list(&path, def, v)?);
                return Ok(());
            }
        }
        out.push(PatchOperation {
            op,
            path,
            value: None,
        });
        return Ok(());
    }
    if value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "an '{}' operation on '{}' requires a 'value'",
            op.as_str(),
            path.attribute_key()
        )));
    }
    out.push(PatchOperation { op, path, value });
    Ok(())
}

/// What a PATCH touches, for scope checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedPath {
    /// Operation kind.
    pub op: PatchOpKind,
    /// Fully qualified attribute key (`<schema URN>:<attr>[.<sub>]` or an extension URN).
    pub attribute: String,
    /// The full resolved path including any value filter, for display and audit.
    pub path: String,
}

/// For a PATCH body, the normalised operations with resolved attribute paths: "which attribute
/// paths does this request touch". Fails exactly when [`parse_patch`] fails.
pub fn touched_paths(body: &Value, rs: &ResourceSchema) -> ScimResult<Vec<TouchedPath>> {
    Ok(parse_patch(body, rs)?
        .into_iter()
        .map(|o| TouchedPath {
            op: o.op,
            attribute: o.path.attribute_key(),
            path: o.path.to_string(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Application

#[derive(Debug)]
enum Undo {
    /// Restore `key` in the container (root if `ext` is `None`) to `old` (absent if `None`).
    Restore {
        ext: Option<String>,
        key: String,
        old: Option<Value>,
    },
    /// Truncate the array at `key` back to `len`.
    Truncate {
        ext: Option<String>,
        key: String,
        len: usize,
    },
    /// Re-insert removed array elements at their original indices (ascending).
    Reinsert {
        ext: Option<String>,
        key: String,
        removed: Vec<(usize, Value)>,
    },
}

fn container_of<'r>(
    root: &'r mut Map<String, Value>,
    ext: Option<&str>,
) -> Option<&'r mut Map<String, Value>> {
    match ext {
        None => Some(root),
        Some(e) => root.get_mut(e).and_then(Value::as_object_mut),
    }
}

fn rollback(root: &mut Map<String, Value>, undo: Vec<Undo>) {
    for u in undo.into_iter().rev() {
        match u {
            Undo::Restore { ext, key, old } => {
                if let Some(c) = container_of(root, ext.as_deref()) {
                    match old {
                        Some(v) => {
                            c.insert(key, v);
                        }
                        None => {
                            c.remove(&key);
                        }
                    }
                }
            }
            Undo::Truncate { ext, key, len } => {
                if let Some(Value::Array(a)) =
                    container_of(root, ext.as_deref()).and_then(|c| c.get_mut(&key))
                {
                    a.truncate(len);
                }
            }
            Undo::Reinsert { ext, key, removed } => {
                if let Some(c) = container_of(root, ext.as_deref()) {
                    let entry = c.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = entry {
                        for (i, v) in removed {
                            let at = i.min(a.len());
                            a.insert(at, v);
                        }
                    }
                }
            }
        }
    }
}

/// Options for [`apply_patch_with`].
#[derive(Clone, Copy, Default)]
pub struct ApplyOptions<'a> {
    /// Index answering "does multi-valued attribute `attr_key` (as in
    /// [`ResolvedPath::attribute_key`], e.g. `urn:…:Group:members`) already hold a value equal to
    /// `new_value`" for the resource *as stored before this PATCH* (same `value` and `type`).
    /// When set, an `add` to that attribute skips the linear duplicate scan the RFC "no change
    /// if already present" rule otherwise needs, so adding one member to a 100,000-member group
    /// costs microseconds. It is consulted only for the first operation of a request that
    /// touches the attribute; later ones fall back to the scan.
    pub already_present: Option<PresenceIndex<'a>>,
}

/// A store-supplied lookup: `(attribute key, new value) -> already present?`.
pub type PresenceIndex<'a> = &'a dyn Fn(&str, &Value) -> bool;

impl fmt::Debug for ApplyOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("already_present", &self.already_present.is_some())
            .finish()
    }
}

struct Applier<'a> {
    rs: &'a ResourceSchema,
    prot: &'a ProtectionProfile,
    opts: ApplyOptions<'a>,
    /// Attributes already touched by an earlier operation of this request.
    seen_locs: HashSet<Loc>,
    undo: Vec<Undo>,
    snapshotted: HashSet<(Option<String>, String)>,
    /// Attributes that need a whole-attribute re-validation at the end.
    revalidate: HashSet<(Option<String>, String)>,
    changed: bool,
}

/// Location of a top-level attribute: extension key in the root (if any) and attribute key.
type Loc = (Option<String>, String);

impl<'a> Applier<'a> {
    fn ctx(&self, schema: &'a str) -> AttrCtx<'a> {
        AttrCtx {
            schema,
            prot: self.prot,
        }
    }

    /// Find (or create, recording undo) the container and the actual attribute key.
    fn locate(
        &mut self,
        root: &mut Map<String, Value>,
        path: &ResolvedPath,
        attr: &str,
        create: bool,
    ) -> Option<Loc> {
        let ext = if path.in_extension {
            match key_ci(root, &path.schema) {
                Some(k) => Some(k),
                None if create => {
                    self.undo.push(Undo::Restore {
                        ext: None,
                        key: path.schema.clone(),
                        old: None,
                    });
                    root.insert(path.schema.clone(), Value::Object(Map::new()));
                    Some(path.schema.clone())
                }
                None => return None,
            }
        } else {
            None
        };
        let c = container_of(root, ext.as_deref())?;
        let key = key_ci(c, attr).unwrap_or_else(|| attr.to_owned());
        Some((ext, key))
    }

    fn snapshot(&mut self, root: &mut Map<String, Value>, loc: &Loc) {
        self.revalidate.insert(loc.clone());
        if !self.snapshotted.insert(loc.clone()) {
            return;
        }
        let old = container_of(root, loc.0.as_deref()).and_then(|c| c.get(&loc.1).cloned());
        self.undo.push(Undo::Restore {
            ext: loc.0.clone(),
            key: loc.1.clone(),
            old,
        });
    }

    fn apply(&mut self, root: &mut Map<String, Value>, op: &PatchOperation) -> ScimResult<()> {
        let Some((def, sub)) = defs_of(self.rs, &op.path)? else {
            return self.apply_extension(root, op);
        };
        let schema: &'a str =
            self.rs
                .canonical_urn(&op.path.schema)
                .ok_or_else(|| ScimError::Internal {
                    detail: "resolved schema vanished".into(),
                })?;
        let shown = op.path.to_string();
        check_path_filter(&op.path, self.rs, self.prot)?;
        if def.mutability == Mutability::ReadOnly
            || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
        {
            return Err(ScimError::mutability(format!(
                "attribute '{}' is readOnly and cannot be modified",
                op.path.attribute_key()
            )));
        }
        let create = op.op != PatchOpKind::Remove;
        let Some(loc) = self.locate(root, &op.path, &def.name, create) else {
            // remove inside an absent extension: nothing to do
            return Ok(());
        };
        let r = match op.op {
            PatchOpKind::Remove => self.remove(root, &loc, def, sub, op, &shown),
            PatchOpKind::Add | PatchOpKind::Replace => {
                let value = op.value.as_ref().ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "'{}' on '{shown}' requires a value",
                        op.op.as_str()
                    ))
                })?;
                self.set(root, &loc, def, sub, op, value, schema, &shown)
            }
        };
        self.seen_locs.insert(loc);
        r
    }

    fn apply_extension(
        &mut self,
        root: &mut Map<String, Value>,
        op: &PatchOperation,
    ) -> ScimResult<()> {
        match op.op {
            PatchOpKind::Remove => {
                // Removing an optional extension is fine even if it has required attributes;
                // a required extension is caught by the post-condition check.
                if let Some(k) = key_ci(root, &op.path.schema) {
                    let loc = (None, k);
                    self.snapshot(root, &loc);
                    if let Some(c) = container_of(root, None) {
                        c.remove(&loc.1);
                    }
                }
                Ok(())
            }
            PatchOpKind::Add | PatchOpKind::Replace => {
                let Some(Value::Object(o)) = &op.value else {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' on extension '{}' requires an object value",
                        op.op.as_str(),
                        op.path.schema
                    )));
                };
                let ext =
                    self.rs
                        .extension(&op.path.schema)
                        .ok_or_else(|| ScimError::Internal {
                            detail: "extension vanished".into(),
                        })?;
                for (k, v) in o {
                    let def = ext.attribute(k).ok_or_else(|| {
                        ScimError::invalid_path(format!(
                            "attribute '{}' is not defined in schema '{}'",
                            clip(k),
                            ext.id
                        ))
                    })?;
                    let sub_op = PatchOperation {
                        op: op.op,
                        path: ResolvedPath {
                            attr: Some(def.name.clone()),
                            ..op.path.clone()
                        },
                        value: Some(normalize_boolean_strings(
                            def,
                            None,
                            wrap_scalar_for_complex(def, v.clone()),
                        )),
                    };
                    if sub_op.value.as_ref().is_some_and(Value::is_null) {
                        let rm = PatchOperation {
                            op: PatchOpKind::Remove,
                            value: None,
                            ..sub_op
                        };
                        self.apply(root, &rm)?;
                    } else {
                        self.apply(root, &sub_op)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn remove(
        &mut self,
        root: &mut Map<String, Value>,
        loc: &Loc,
        def: &AttributeDef,
        sub: Option<&AttributeDef>,
        op: &PatchOperation,
        shown: &str,
    ) -> ScimResult<()> {
        let exists = container_of(root, loc.0.as_deref()).is_some_and(|c| c.contains_key(&loc.1));
        if op.path.filter.is_none() && sub.is_none() {
            if def.required {
                return Err(ScimError::mutability(format!(
                    "attribute '{shown}' is required and cannot be removed"
                )));
            }
            if def.mutability == Mutability::Immutable && exists {
                return Err(ScimError::mutability(format!(
                    "attribute '{shown}' is immutable and cannot be removed"
                )));
            }
        }
        if let Some(s) = sub {
            if s.required {
                return Err(ScimError::mutability(format!(
                    "sub-attribute '{shown}' is required and cannot be removed"
                )));
            }
            if s.mutability == Mutability::Immutable {
                return Err(ScimError::mutability(format!(
                    "sub-attribute '{shown}' is immutable and cannot be removed"
                )));
            }
        }
        if !exists {
            return Ok(());
        }
        let rs = self.rs;
        match (&op.path.filter, sub) {
            (None, None) => {
                self.snapshot(root, loc);
                if let Some(c) = container_of(root, loc.0.as_deref()) {
                    c.remove(&loc.1);
                }
            }
            (Some(f), None) => {
                let Some(Value::Array(arr)) =
                    container_of(root, loc.0.as_deref()).and_then(|c| c.get_mut(&loc.1))
                else {
                    return Ok(());
                };
                let mut removed = Vec::new();
                let mut i = 0usize;
                arr.retain(|e| {
                    let m = f.matches_element(e, rs, def);
                    if m {
                        removed.push((i, e.clone()));
                    }
                    i += 1;
                    !m
                });
                let now_empty = arr.is_empty();
                if !removed.is_empty() {
                    self.undo.push(Undo::Reinsert {
                        ext: loc.0.clone(),
                        key: loc.1.clone(),
                        removed,
                    });
                }
                if now_empty {
                    if let Some(c) = container_of(root, loc.0.as_deref()) {
                        c.remove(&loc.1);
                    }
                }
            }
            (f, Some(s)) => {
                self.snapshot(root, loc);
                if let Some(v) =
                    container_of(root, loc.0.as_deref()).and_then(|c| c.get_mut(&loc.1))
                {
                    let strip = |e: &mut Value| {
                        if let Some(o) = e.as_object_mut() {
                            if let Some(k) = key_ci(o, &s.name) {
                                o.remove(&k);
                            }
                        }
                    };
                    match v {
                        Value::Array(a) => {
                            for e in a.iter_mut() {
                                if f.as_ref().is_none_or(|f| f.matches_element(e, rs, def)) {
                                    strip(e);
                                }
                            }
                            a.retain(|e| !e.as_object().is_some_and(Map::is_empty));
                        }
                        other => strip(other),
                    }
                }
            }
        }
        self.cleanup(root, loc);
        Ok(())
    }

    /// Remove the attribute if it became empty (`[]` or `{}`).
    fn cleanup(&mut self, root: &mut Map<String, Value>, loc: &Loc) {
        if let Some(c) = container_of(root, loc.0.as_deref()) {
            let empty = match c.get(&loc.1) {
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Object(o)) => o.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                c.remove(&loc.1);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        root: &mut Map<String, Value>,
        loc: &Loc,
        def: &AttributeDef,
        sub: Option<&AttributeDef>,
        op: &PatchOperation,
        value: &Value,
        schema: &'a str,
        shown: &str,
    ) -> ScimResult<()> {
        let ctx = self.ctx(schema);
        let rs = self.rs;
        let current = container_of(root, loc.0.as_deref()).and_then(|c| c.get(&loc.1));
        let exists = current.is_some_and(|v| !v.is_null());
        if def.mutability == Mutability::Immutable && exists {
            // Allowed only if it does not change anything; checked after computing the value.
            let nv = check_attr(def, value, ctx)?;
            if nv.as_ref() != current {
                return Err(ScimError::mutability(format!(
                    "attribute '{shown}' is immutable and already has a value"
                )));
            }
            return Ok(());
        }
        match (&op.path.filter, sub) {
            (None, None) if def.multi_valued => {
                let items: Vec<&Value> = match value {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                let mut new_items = Vec::with_capacity(items.len());
                for it in items {
                    if it.is_null() {
                        continue;
                    }
                    new_items.push(check_element(def, it, ctx)?);
                }
                check_primary(def, &new_items)?;
                if op.op == PatchOpKind::Replace || !exists {
                    self.snapshot(root, loc);
                    if let Some(c) = container_of(root, loc.0.as_deref()) {
                        if new_items.is_empty() {
                            c.remove(&loc.1);
                        } else {
                            c.insert(loc.1.clone(), Value::Array(new_items));
                        }
                    }
                    return Ok(());
                }
                // add to an existing multi-valued attribute: append non-duplicates
                let new_primary = new_items.iter().any(is_primary);
                // Full snapshot when other values may change (primary reset) or the stored
                // value is not an array; otherwise a cheap truncation marker suffices.
                let full_snapshot = new_primary || !current.is_some_and(Value::is_array);
                if full_snapshot {
                    self.snapshot(root, loc);
                }
                let Some(c) = container_of(root, loc.0.as_deref()) else {
                    return Ok(());
                };
                let slot = c
                    .entry(loc.1.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    let old = std::mem::take(slot);
                    *slot = Value::Array(vec![old]);
                }
                let Value::Array(arr) = slot else {
                    return Ok(());
                };
                let len = arr.len();
                let mut fresh: Vec<Value> = Vec::new();
                let oracle = self
                    .opts
                    .already_present
                    .filter(|_| !self.seen_locs.contains(loc));
                if let Some(present) = oracle {
                    let key = format!("{schema}:{}", def.name);
                    for it in new_items {
                        if !present(&key, &it) && !fresh.iter().any(|e| same_value(e, &it)) {
                            fresh.push(it);
                        }
                    }
                } else if new_items.len() > 16 {
                    // many new values: index the existing ones once
                    let seen: HashSet<String> = arr.iter().map(identity_key).collect();
                    for it in new_items {
                        let k = identity_key(&it);
                        if !seen.contains(&k) && !fresh.iter().any(|e| same_value(e, &it)) {
                            fresh.push(it);
                        }
                    }
                } else {
                    // few new values: one allocation-free scan per value
                    for it in new_items {
                        if !arr.iter().any(|e| same_value(e, &it))
                            && !fresh.iter().any(|e| same_value(e, &it))
                        {
                            fresh.push(it);
                        }
                    }
                }
                if new_primary && fresh.iter().any(is_primary) {
                    for e in arr.iter_mut() {
                        clear_primary(e);
                    }
                }
                arr.extend(fresh);
                if !full_snapshot && arr.len() > len {
                    self.undo.push(Undo::Truncate {
                        ext: loc.0.clone(),
                        key: loc.1.clone(),
                        len,
                    });
                }
                Ok(())
            }
            (None, None) => {
                let nv = check_element(def, value, ctx)?;
                self.snapshot(root, loc);
                let Some(c) = container_of(root, loc.0.as_deref()) else {
                    return Ok(());
                };
                match (nv, c.get_mut(&loc.1)) {
                    (Value::Object(new), Some(Value::Object(cur))) => {
                        for (k, v) in new {
                            let key = key_ci(cur, &k).unwrap_or(k);
                            cur.insert(key, v);
                        }
                    }
                    (nv, _) => {
                        c.insert(loc.1.clone(), nv);
                    }
                }
                self.cleanup(root, loc);
                Ok(())
            }
            (None, Some(s)) => {
                if s.mutability == Mutability::Immutable {
                    return Err(ScimError::mutability(format!(
                        "sub-attribute '{shown}' is immutable"
                    )));
                }
                let nv = check_sub_value(def, s, value, ctx)?;
                self.snapshot(root, loc);
                let Some(c) = container_of(root, loc.0.as_deref()) else {
                    return Ok(());
                };
                if def.multi_valued {
                    match c.get_mut(&loc.1) {
                        Some(Value::Array(a)) if !a.is_empty() => {
                            for e in a.iter_mut() {
                                set_sub(e, &s.name, nv.clone());
                            }
                        }
                        _ if op.op == PatchOpKind::Add => {
                            let mut m = Map::new();
                            m.insert(s.name.clone(), nv);
                            c.insert(loc.1.clone(), Value::Array(vec![Value::Object(m)]));
                        }
                        _ => {
                            return Err(ScimError::no_target(format!(
                                "attribute '{}' has no values whose '{}' could be replaced",
                                def.name, s.name
                            )))
                        }
                    }
                } else {
                    let slot = c
                        .entry(loc.1.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    set_sub(slot, &s.name, nv);
                }
                Ok(())
            }
            (Some(f), s) => {
                if s.is_some_and(|s| s.mutability == Mutability::Immutable) {
                    return Err(ScimError::mutability(format!(
                        "sub-attribute '{shown}' is immutable"
                    )));
                }
                let nv = match s {
                    Some(s) => check_sub_value(def, s, value, ctx)?,
                    None => check_element(def, value, ctx)?,
                };
                self.snapshot(root, loc);
                let Some(c) = container_of(root, loc.0.as_deref()) else {
                    return Ok(());
                };
                let sets_primary = match s {
                    Some(s) => s.name == "primary" && nv == Value::Bool(true),
                    None => is_primary(&nv),
                };
                let mut matched = 0usize;
                if let Some(Value::Array(a)) = c.get_mut(&loc.1) {
                    for e in a.iter_mut() {
                        if !f.matches_element(e, rs, def) {
                            continue;
                        }
                        matched += 1;
                        match s {
                            Some(s) => set_sub(e, &s.name, nv.clone()),
                            None if op.op == PatchOpKind::Replace => *e = nv.clone(),
                            None => merge_into(e, &nv),
                        }
                    }
                    if sets_primary && matched == 1 {
                        for e in a.iter_mut() {
                            if !f.matches_element(e, rs, def) {
                                clear_primary(e);
                            }
                        }
                    }
                }
                if matched > 0 {
                    return Ok(());
                }
                if op.op == PatchOpKind::Add {
                    // Dialect `add_filter_upsert`: Entra ID sends
                    // {"op":"add","path":"emails[type eq \"work\"].value","value":"x"} when no
                    // work email exists yet; build the new value from the filter's eq clauses.
                    if let Some(mut elem) = element_from_eq_filter(f) {
                        match s {
                            Some(s) => set_sub(&mut elem, &s.name, nv),
                            None => merge_into(&mut elem, &nv),
                        }
                        let elem = check_element(def, &elem, ctx)?;
                        let slot = c
                            .entry(loc.1.clone())
                            .or_insert_with(|| Value::Array(Vec::new()));
                        let Value::Array(a) = slot else {
                            return Err(ScimError::Internal {
                                detail: format!("stored attribute '{}' is not an array", def.name),
                            });
                        };
                        if is_primary(&elem) {
                            for e in a.iter_mut() {
                                clear_primary(e);
                            }
                        }
                        a.push(elem);
                        return Ok(());
                    }
                }
                Err(ScimError::no_target(format!(
                    "no value of '{}' matches the filter in path '{shown}'",
                    def.name
                )))
            }
        }
    }
}

/// Apply the sealed-value filter rules of [`Filter::check`] to a PATCH value filter: a filter
/// on a sealed attribute inside a PATCH path is as meaningless on ciphertext as in a query.
fn check_path_filter(
    path: &ResolvedPath,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<()> {
    let (Some(f), Some(attr)) = (&path.filter, &path.attr) else {
        return Ok(());
    };
    if prot.is_clear() {
        return Ok(());
    }
    Filter::ValuePath {
        path: AttrPath {
            urn: Some(path.schema.clone()),
            name: attr.clone(),
            sub_attr: None,
        },
        filter: Box::new(f.clone()),
    }
    .check(rs, prot)
}

/// Whether two values of a multi-valued attribute denote the same value: complex values with a
/// `value` sub-attribute are compared on `value` and `type`, anything else on full equality.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(x), Some(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(vx), Some(vy)) => vx == vy && get_ci(x, "type") == get_ci(y, "type"),
            _ => a == b,
        },
        _ => a == b,
    }
}

/// Hashable form of [`same_value`]'s identity.
fn identity_key(e: &Value) -> String {
    match e.as_object() {
        Some(o) => match get_ci(o, "value") {
            Some(v) => format!(
                "{v}\u{1}{}",
                get_ci(o, "type").map(Value::to_string).unwrap_or_default()
            ),
            None => e.to_string(),
        },
        None => e.to_string(),
    }
}

fn is_primary(e: &Value) -> bool {
    e.as_object()
        .and_then(|o| get_ci(o, "primary"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn clear_primary(e: &mut Value) {
    if let Some(o) = e.as_object_mut() {
        if let Some(k) = key_ci(o, "primary") {
            o.insert(k, Value::Bool(false));
        }
    }
}

fn set_sub(e: &mut Value, name: &str, v: Value) {
    if let Some(o) = e.as_object_mut() {
        let k = key_ci(o, name).unwrap_or_else(|| name.to_owned());
        o.insert(k, v);
    }
}

fn merge_into(e: &mut Value, nv: &Value) {
    if let (Some(o), Some(n)) = (e.as_object_mut(), nv.as_object()) {
        for (k, v) in n {
            let key = key_ci(o, k).unwrap_or_else(|| k.clone());
            o.insert(key, v.clone());
        }
    }
}

fn check_sub_value(
    def: &AttributeDef,
    s: &AttributeDef,
    value: &Value,
    ctx: AttrCtx<'_>,
) -> ScimResult<Value> {
    let mut m = Map::new();
    m.insert(s.name.clone(), value.clone());
    let checked = check_element(
        &AttributeDef {
            sub_attributes: vec![AttributeDef {
                required: false,
                ..s.clone()
            }],
            multi_valued: false,
            ..def.clone()
        },
        &Value::Object(m),
        ctx,
    )?;
    checked
        .as_object()
        .and_then(|o| o.get(&s.name))
        .cloned()
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "'{}.{}' requires a non-null value",
                def.name, s.name
            ))
        })
}

/// Build `{sub: value, …}` from a filter made only of `sub eq "literal"` joined by `and`.
fn element_from_eq_filter(f: &Filter) -> Option<Value> {
    fn walk(f: &Filter, m: &mut Map<String, Value>) -> bool {
        match f {
            Filter::And(a, b) => walk(a, m) && walk(b, m),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub_attr.is_none() => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                m.insert(path.name.clone(), v);
                true
            }
            _ => false,
        }
    }
    let mut m = Map::new();
    walk(f, &mut m).then_some(Value::Object(m))
}

/// Apply resolved operations to `resource` in place, atomically.
///
/// Enforces mutability (readOnly, immutable, required), types, canonical values and `primary`
/// uniqueness; keeps `schemas` in sync with the extensions present. On error the resource is
/// left exactly as it was.
pub fn apply_patch(
    resource: &mut Value,
    ops: &[PatchOperation],
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<PatchOutcome> {
    apply_patch_with(resource, ops, rs, prot, ApplyOptions::default())
}

/// [`apply_patch`] with [`ApplyOptions`] (e.g. a store's member index).
pub fn apply_patch_with(
    resource: &mut Value,
    ops: &[PatchOperation],
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    opts: ApplyOptions<'_>,
) -> ScimResult<PatchOutcome> {
    let Value::Object(root) = resource else {
        return Err(ScimError::Internal {
            detail: "stored resource is not a JSON object".into(),
        });
    };
    let mut ap = Applier {
        rs,
        prot,
        opts,
        seen_locs: HashSet::new(),
        undo: Vec::new(),
        snapshotted: HashSet::new(),
        revalidate: HashSet::new(),
        changed: false,
    };
    let mut result = Ok(());
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = ap.apply(root, op) {
            result = Err(prefix_err(e, i));
            break;
        }
    }
    if result.is_ok() {
        result = finalize(root, &ap);
    }
    if let Err(e) = result {
        rollback(root, ap.undo);
        return Err(e);
    }
    // Determine whether anything changed from the undo log.
    for u in &ap.undo {
        ap.changed |= match u {
            Undo::Restore { ext, key, old } => {
                container_of(root, ext.as_deref()).and_then(|c| c.get(key)) != old.as_ref()
            }
            Undo::Truncate { .. } | Undo::Reinsert { .. } => true,
        };
    }
    let changed = ap.changed;
    sync_schemas(root, rs);
    let mut touched: Vec<String> = ops.iter().map(|o| o.path.attribute_key()).collect();
    touched.sort();
    touched.dedup();
    Ok(PatchOutcome { changed, touched })
}

fn finalize(root: &mut Map<String, Value>, ap: &Applier<'_>) -> ScimResult<()> {
    let rs = ap.rs;
    for (ext, key) in &ap.revalidate {
        let Some(v) = container_of(root, ext.as_deref()).and_then(|c| c.get(key)) else {
            continue;
        };
        let (schema, def) = match ext {
            None => match rs.lookup(None, key) {
                Some(r) => (r.schema, r.def),
                None => continue, // whole-extension snapshot key
            },
            Some(e) => match rs
                .extension(e)
                .and_then(|s| s.attribute(key).map(|d| (s.id.as_str(), d)))
            {
                Some(x) => x,
                None => continue,
            },
        };
        check_attr(
            def,
            v,
            AttrCtx {
                schema,
                prot: ap.prot,
            },
        )?;
    }
    for def in rs.core.attributes.iter().filter(|d| d.required) {
        if get_ci(root, &def.name).is_none_or(Value::is_null) {
            return Err(ScimError::mutability(format!(
                "required attribute '{}' would be left unassigned",
                def.name
            )));
        }
    }
    for (ext, required) in &rs.extensions {
        match get_ci(root, &ext.id).and_then(Value::as_object) {
            Some(eo) if !eo.is_empty() => {
                for def in ext.attributes.iter().filter(|d| d.required) {
                    if get_ci(eo, &def.name).is_none_or(Value::is_null) {
                        return Err(ScimError::mutability(format!(
                            "required attribute '{}:{}' would be left unassigned",
                            ext.id, def.name
                        )));
                    }
                }
            }
            _ if *required => {
                return Err(ScimError::mutability(format!(
                    "required extension '{}' would be left unassigned",
                    ext.id
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn sync_schemas(root: &mut Map<String, Value>, rs: &ResourceSchema) {
    let mut schemas = vec![Value::String(rs.core.id.clone())];
    for (ext, _) in &rs.extensions {
        match key_ci(root, &ext.id) {
            Some(k)
                if root
                    .get(&k)
                    .and_then(Value::as_object)
                    .is_some_and(|o| !o.is_empty()) =>
            {
                schemas.push(Value::String(ext.id.clone()));
            }
            Some(k) => {
                root.remove(&k);
            }
            None => {}
        }
    }
    let key = key_ci(root, "schemas").unwrap_or_else(|| "schemas".to_owned());
    root.insert(key, Value::Array(schemas));
}

/// Parse, normalise and apply a PATCH body to `resource` (atomic).
pub fn patch_resource(
    resource: &mut Value,
    body: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<PatchOutcome> {
    let ops = parse_patch(body, rs)?;
    apply_patch(resource, &ops, rs, prot)
}

// ---------------------------------------------------------------------------------------------
// Membership delta

/// Membership changes of a multi-valued `members` attribute, expressed as row operations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MembersDelta {
    /// When true, all existing members are removed first (RFC remove/replace of `members`).
    pub remove_all: bool,
    /// Member ids to delete (only ids that are current members per the caller's lookup).
    pub removed: Vec<String>,
    /// Validated member values to insert (never already-present ids).
    pub added: Vec<Value>,
}

/// A PATCH split into a membership delta and the remaining operations on other attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MembershipPlan {
    /// Changes to `members`.
    pub members: MembersDelta,
    /// Operations on other attributes, to apply with [`apply_patch`] to the group document
    /// held without its members.
    pub other_ops: Vec<PatchOperation>,
}

/// Turn a PATCH of a resource with a `members` attribute (Group) into a [`MembershipPlan`]
/// without touching the existing members: `is_member(id)` answers membership from the store.
///
/// Returns `Ok(None)` if some operation on `members` cannot be expressed as a delta (for
/// example a filter other than `value eq "…"` joined by `or`); the caller then loads the
/// group and uses [`apply_patch`].
pub fn patch_members_delta(
    body: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    is_member: &dyn Fn(&str) -> bool,
) -> ScimResult<Option<MembershipPlan>> {
    let ops = parse_patch(body, rs)?;
    plan_members_delta(&ops, rs, prot, is_member)
}

/// [`patch_members_delta`] on already parsed operations.
pub fn plan_members_delta(
    ops: &[PatchOperation],
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    is_member: &dyn Fn(&str) -> bool,
) -> ScimResult<Option<MembershipPlan>> {
    let Some(mdef) = rs
        .lookup(None, "members")
        .filter(|r| !r.in_extension && !r.common)
    else {
        return Err(ScimError::BadRequest {
            detail: format!(
                "resource type '{}' has no 'members' attribute",
                rs.resource_type.name
            ),
        });
    };
    let ctx = AttrCtx {
        schema: mdef.schema,
        prot,
    };
    let mut plan = MembershipPlan::default();
    let mut removed: HashSet<String> = HashSet::new();
    let mut added_ids: HashSet<String> = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        let is_members = !op.path.in_extension
            && op
                .path
                .attr
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&mdef.def.name));
        if !is_members {
            plan.other_ops.push(op.clone());
            continue;
        }
        if op.path.sub_attr.is_some() {
            return Ok(None);
        }
        check_path_filter(&op.path, rs, prot).map_err(|e| prefix_err(e, i))?;
        let d = &mut plan.members;
        match (op.op, &op.path.filter) {
            (PatchOpKind::Remove, None) => {
                d.remove_all = true;
                d.added.clear();
                d.removed.clear();
                added_ids.clear();
                removed.clear();
            }
            (PatchOpKind::Remove, Some(f)) => {
                let Some(ids) = value_eq_ids(f) else {
                    return Ok(None);
                };
                for id in ids {
                    if added_ids.remove(&id) {
                        d.added.retain(|m| member_id(m) != Some(id.as_str()));
                    }
                    if !d.remove_all && is_member(&id) && removed.insert(id.clone()) {
                        d.removed.push(id);
                    }
                }
            }
            (PatchOpKind::Add | PatchOpKind::Replace, None) => {
                if op.op == PatchOpKind::Replace {
                    d.remove_all = true;
                    d.added.clear();
                    d.removed.clear();
                    added_ids.clear();
                    removed.clear();
                }
                let items: Vec<&Value> = match &op.value {
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(v) => vec![v],
                    None => Vec::new(),
                };
                for it in items {
                    let m = check_element(mdef.def, it, ctx).map_err(|e| prefix_err(e, i))?;
                    let Some(id) = member_id(&m).map(str::to_owned).filter(|s| !s.is_empty())
                    else {
                        return Err(prefix_err(
                            ScimError::invalid_value(
                                "each member needs a non-empty string 'value'",
                            ),
                            i,
                        ));
                    };
                    let was_removed = removed.remove(&id);
                    if was_removed {
                        d.removed.retain(|r| r != &id);
                        // it is still a member in the store: nothing to add
                        continue;
                    }
                    let present = !d.remove_all && is_member(&id);
                    if !present && added_ids.insert(id) {
                        d.added.push(m);
                    }
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(plan))
}

fn member_id(m: &Value) -> Option<&str> {
    m.as_object()
        .and_then(|o| get_ci(o, "value"))
        .and_then(Value::as_str)
}

/// Ids from a filter of the form `value eq "a" or value eq "b" …`.
fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Or(a, b) => {
            let mut x = value_eq_ids(a)?;
            x.extend(value_eq_ids(b)?);
            Some(x)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(s),
        } if path.urn.is_none()
            && path.sub_attr.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        _ => None,
    }
}
