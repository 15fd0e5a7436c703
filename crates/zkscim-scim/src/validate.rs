//! Schema validation of resources and attribute values (RFC 7643 §2, RFC 7644 §3.3, §3.5.1).
//!
//! [`validate_create`] and [`validate_replace`] turn a client request body into the canonical
//! resource to store (canonical attribute spelling, readOnly attributes dropped or carried over,
//! booleans-as-strings coerced), or fail with an error naming the attribute and the reason.

use serde_json::{Map, Value};

use crate::datetime::parse_datetime;
use crate::error::{ScimError, ScimResult};
use crate::path::{clip, get_ci};
use crate::protection::{is_index_token, is_sealed_value, Protection, ProtectionProfile};
use crate::resource_type::ResourceSchema;
use crate::schema::{AttrType, AttributeDef, Mutability};

/// Dialect normalisation `coerce_boolean_string`: Microsoft Entra ID sends booleans as strings
/// (`"active": "False"`, `"primary": "True"`). For an attribute typed `boolean`, the strings
/// `"true"`/`"false"` in any letter case are accepted as the JSON booleans.
#[must_use]
pub fn coerce_boolean_string(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Validation context for one attribute: where its protection is looked up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttrCtx<'a> {
    pub schema: &'a str,
    pub prot: &'a ProtectionProfile,
}

impl AttrCtx<'_> {
    fn protection(&self, attr: &str, sub: Option<&str>) -> Protection {
        self.prot.protection_of(self.schema, attr, sub)
    }
}

fn type_err(name: &dyn std::fmt::Display, def: &AttributeDef, got: &Value) -> ScimError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ScimError::invalid_value(format!(
        "attribute '{name}' must be {}{} but got {kind}",
        if def.multi_valued {
            "an array of "
        } else {
            "of type "
        },
        def.attr_type.as_str()
    ))
}

/// Validate and normalise a simple (non-complex) value. `name` is only formatted into errors
/// (a sub-attribute's `parent.sub` is not built unless one is reported).
fn check_simple(
    def: &AttributeDef,
    v: &Value,
    name: &dyn std::fmt::Display,
    prot: Protection,
) -> ScimResult<Value> {
    if prot != Protection::Clear {
        return match v {
            Value::String(s) if is_sealed_value(s) || is_index_token(s) => Ok(v.clone()),
            _ => Err(ScimError::invalid_value(format!(
                "attribute '{name}' is sealed; its value must be a sealed string (zk1.…), not a plaintext value"
            ))),
        };
    }
    match def.attr_type {
        AttrType::Boolean => coerce_boolean_string(v)
            .map(Value::Bool)
            .ok_or_else(|| type_err(name, def, v)),
        AttrType::Integer => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            _ => Err(type_err(name, def, v)),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(v.clone()),
            _ => Err(type_err(name, def, v)),
        },
        AttrType::DateTime => match v {
            Value::String(s) if parse_datetime(s).is_some() => Ok(v.clone()),
            Value::String(s) => Err(ScimError::invalid_value(format!(
                "attribute '{name}' value '{}' is not a valid dateTime (expected e.g. 2011-05-13T04:42:34Z)",
                clip(s)
            ))),
            _ => Err(type_err(name, def, v)),
        },
        AttrType::Binary => match v {
            Value::String(s)
                if s.bytes().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_')
                }) =>
            {
                Ok(v.clone())
            }
            Value::String(_) => Err(ScimError::invalid_value(format!(
                "attribute '{name}' must be base64-encoded binary"
            ))),
            _ => Err(type_err(name, def, v)),
        },
        AttrType::String | AttrType::Reference => match v {
            Value::String(s) => {
                if def.canonical_values.is_empty() {
                    return Ok(v.clone());
                }
                let found = def.canonical_values.iter().find(|c| {
                    if def.case_exact {
                        *c == s
                    } else {
                        c.eq_ignore_ascii_case(s)
                    }
                });
                match found {
                    Some(c) => Ok(Value::String(c.clone())),
                    None => Err(ScimError::invalid_value(format!(
                        "'{}' is not a canonical value of attribute '{name}' (expected one of: {})",
                        clip(s),
                        def.canonical_values.join(", ")
                    ))),
                }
            }
            _ => Err(type_err(name, def, v)),
        },
        AttrType::Complex => Err(ScimError::Internal {
            detail: format!("check_simple called on complex attribute '{name}'"),
        }),
    }
}

/// Validate and normalise one value of `def` (one element if multi-valued).
pub(crate) fn check_element(def: &AttributeDef, v: &Value, ctx: AttrCtx<'_>) -> ScimResult<Value> {
    if def.attr_type != AttrType::Complex {
        return check_simple(def, v, &def.name, ctx.protection(&def.name, None));
    }
    let Value::Object(obj) = v else {
        return Err(type_err(&def.name, def, v));
    };
    let mut out = Map::new();
    for (k, sv) in obj {
        let Some(sub) = def.sub(k) else {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' has no sub-attribute '{}'",
                def.name,
                clip(k)
            )));
        };
        if sv.is_null() || sub.mutability == Mutability::ReadOnly {
            // readOnly sub-attributes sent by clients are ignored (RFC 7644 §3.3, §3.5.1)
            continue;
        }
        let nv = check_simple(
            sub,
            sv,
            &format_args!("{}.{}", def.name, sub.name),
            ctx.protection(&def.name, Some(&sub.name)),
        )?;
        out.insert(sub.name.clone(), nv);
    }
    for sub in def.sub_attributes.iter().filter(|s| s.required) {
        if !out.contains_key(&sub.name) {
            return Err(ScimError::invalid_value(format!(
                "required sub-attribute '{}.{}' is missing",
                def.name, sub.name
            )));
        }
    }
    Ok(Value::Object(out))
}

/// Validate and normalise a whole attribute value (the array for a multi-valued attribute).
/// Returns `None` when the value is empty (null, `[]`, `{}`) and the attribute is unassigned.
pub(crate) fn check_attr(
    def: &AttributeDef,
    v: &Value,
    ctx: AttrCtx<'_>,
) -> ScimResult<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            if it.is_null() {
                continue;
            }
            let e = check_element(def, it, ctx)?;
            if e.as_object().is_some_and(Map::is_empty) {
                continue;
            }
            out.push(e);
        }
        check_primary(def, &out)?;
        if out.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Value::Array(out)));
    }
    let e = check_element(def, v, ctx)?;
    if e.as_object().is_some_and(Map::is_empty) {
        return Ok(None);
    }
    Ok(Some(e))
}

/// At most one value of a multi-valued attribute may have `primary: true` (RFC 7643 §2.4).
pub(crate) fn check_primary(def: &AttributeDef, items: &[Value]) -> ScimResult<()> {
    if !def.has_primary() {
        return Ok(());
    }
    let n = items
        .iter()
        .filter(|e| {
            e.as_object()
                .and_then(|o| get_ci(o, "primary"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .count();
    if n > 1 {
        return Err(ScimError::invalid_value(format!(
            "attribute '{}' has {n} values with primary=true; at most one is allowed",
            def.name
        )));
    }
    Ok(())
}

/// Whether the request is a create (POST) or a replace (PUT) of `current`.
#[derive(Debug, Clone, Copy)]
pub enum WriteMode<'a> {
    /// POST: readOnly attributes are ignored, immutable attributes may be set.
    Create,
    /// PUT: readOnly attributes are carried over from `current`; immutable attributes that
    /// already have a value must not change.
    Replace {
        /// The stored resource being replaced.
        current: &'a Value,
    },
}

/// Validate a POST body; returns the canonical resource to store (without `id`/`meta`,
/// which the caller assigns).
pub fn validate_create(
    body: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<Value> {
    validate_write(body, rs, prot, WriteMode::Create)
}

/// Validate a PUT body against the stored resource; returns the canonical replacement
/// (readOnly attributes such as `id` and `meta` carried over from `current`).
pub fn validate_replace(
    body: &Value,
    current: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<Value> {
    validate_write(body, rs, prot, WriteMode::Replace { current })
}

fn schemas_list(body: &Map<String, Value>) -> ScimResult<Vec<String>> {
    let Some(v) = get_ci(body, "schemas") else {
        return Err(ScimError::invalid_syntax(
            "request body is missing the 'schemas' attribute",
        ));
    };
    let Value::Array(a) = v else {
        return Err(ScimError::invalid_syntax(
            "'schemas' must be an array of URN strings",
        ));
    };
    a.iter()
        .map(|s| {
            s.as_str().map(str::to_owned).ok_or_else(|| {
                ScimError::invalid_syntax("'schemas' must be an array of URN strings")
            })
        })
        .collect()
}

/// Validate a write (create or replace).
pub fn validate_write(
    body: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    mode: WriteMode<'_>,
) -> ScimResult<Value> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(
            "request body must be a JSON object",
        ));
    };
    let declared = schemas_list(obj)?;
    if !declared.iter().any(|s| s.eq_ignore_ascii_case(&rs.core.id)) {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain '{}' for resource type '{}'",
            rs.core.id, rs.resource_type.name
        )));
    }
    for s in &declared {
        if rs.canonical_urn(s).is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' lists '{}', which is not a schema of resource type '{}'",
                clip(s),
                rs.resource_type.name
            )));
        }
    }
    let current = match mode {
        WriteMode::Replace { current } => current.as_object(),
        WriteMode::Create => None,
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = rs.extension(k) {
            let Value::Object(eo) = v else {
                if v.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_syntax(format!(
                    "extension '{}' must be a JSON object",
                    ext.id
                )));
            };
            let cur_ext = current
                .and_then(|c| get_ci(c, &ext.id))
                .and_then(Value::as_object);
            let mut eout = Map::new();
            for (ek, ev) in eo {
                let def = ext.attribute(ek).ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "attribute '{}' is not defined in schema '{}'",
                        clip(ek),
                        ext.id
                    ))
                })?;
                let ctx = AttrCtx {
                    schema: &ext.id,
                    prot,
                };
                write_attr(
                    def,
                    ev,
                    cur_ext,
                    &mut eout,
                    ctx,
                    &format!("{}:{}", ext.id, def.name),
                )?;
            }
            if !eout.is_empty() {
                out.insert(ext.id.clone(), Value::Object(eout));
            }
            continue;
        }
        let Some(r) = rs.lookup(None, k) else {
            return Err(ScimError::invalid_syntax(format!(
                "attribute '{}' is not defined for resource type '{}'",
                clip(k),
                rs.resource_type.name
            )));
        };
        let ctx = AttrCtx {
            schema: r.schema,
            prot,
        };
        write_attr(r.def, v, current, &mut out, ctx, &r.def.name)?;
    }
    // Carry over readOnly and untouched immutable attributes on replace.
    if let Some(cur) = current {
        for def in rs.common.iter().chain(rs.core.attributes.iter()) {
            let carry = def.mutability == Mutability::ReadOnly
                || (def.mutability == Mutability::Immutable && !out.contains_key(&def.name));
            if carry {
                if let Some(cv) = get_ci(cur, &def.name) {
                    out.insert(def.name.clone(), cv.clone());
                }
            }
        }
    }
    // Required attributes and extensions.
    for def in rs
        .core
        .attributes
        .iter()
        .filter(|d| d.required && d.mutability != Mutability::ReadOnly)
    {
        if !out.contains_key(&def.name) {
            return Err(ScimError::invalid_value(format!(
                "required attribute '{}' is missing",
                def.name
            )));
        }
    }
    for (ext, required) in &rs.extensions {
        if let Some(Value::Object(eo)) = out.get(&ext.id) {
            for def in ext
                .attributes
                .iter()
                .filter(|d| d.required && d.mutability != Mutability::ReadOnly)
            {
                if !eo.contains_key(&def.name) {
                    return Err(ScimError::invalid_value(format!(
                        "required attribute '{}:{}' is missing",
                        ext.id, def.name
                    )));
                }
            }
        } else if *required {
            return Err(ScimError::invalid_value(format!(
                "required schema extension '{}' is missing",
                ext.id
            )));
        }
    }
    let mut schemas = vec![Value::String(rs.core.id.clone())];
    for (ext, _) in &rs.extensions {
        if out.contains_key(&ext.id) {
            schemas.push(Value::String(ext.id.clone()));
        }
    }
    let mut result = Map::new();
    result.insert("schemas".into(), Value::Array(schemas));
    result.extend(out);
    Ok(Value::Object(result))
}

fn write_attr(
    def: &AttributeDef,
    v: &Value,
    current: Option<&Map<String, Value>>,
    out: &mut Map<String, Value>,
    ctx: AttrCtx<'_>,
    display: &str,
) -> ScimResult<()> {
    if def.mutability == Mutability::ReadOnly {
        // RFC 7644 §3.3 / §3.5.1: readOnly values sent by the client are ignored.
        return Ok(());
    }
    let nv = check_attr(def, v, ctx).map_err(|e| match e {
        ScimError::InvalidValue { detail } if display != def.name => ScimError::InvalidValue {
            detail: format!("{detail} (in '{display}')"),
        },
        other => other,
    })?;
    if def.mutability == Mutability::Immutable {
        if let Some(cv) = current.and_then(|c| get_ci(c, &def.name)) {
            if nv.as_ref() != Some(cv) {
                return Err(ScimError::mutability(format!(
                    "attribute '{display}' is immutable and already has a value; it cannot be changed"
                )));
            }
        }
    }
    if let Some(nv) = nv {
        out.insert(def.name.clone(), nv);
    }
    Ok(())
}

/// Full schema check of a stored resource (used by tests and the PATCH post-condition):
/// every attribute known, typed and canonical; required attributes present; `schemas` consistent.
pub fn check_resource(
    resource: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<()> {
    let Value::Object(obj) = resource else {
        return Err(ScimError::invalid_syntax("resource must be a JSON object"));
    };
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = rs.extension(k) {
            let Value::Object(eo) = v else {
                return Err(ScimError::invalid_value(format!(
                    "extension '{}' must be an object",
                    ext.id
                )));
            };
            for (ek, ev) in eo {
                let def = ext.attribute(ek).ok_or_else(|| {
                    ScimError::invalid_value(format!("unknown attribute '{}:{}'", ext.id, clip(ek)))
                })?;
                check_attr(
                    def,
                    ev,
                    AttrCtx {
                        schema: &ext.id,
                        prot,
                    },
                )?;
            }
            continue;
        }
        let r = rs
            .lookup(None, k)
            .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{}'", clip(k))))?;
        if r.common {
            continue;
        }
        check_attr(
            r.def,
            v,
            AttrCtx {
                schema: r.schema,
                prot,
            },
        )?;
    }
    for def in rs
        .core
        .attributes
        .iter()
        .filter(|d| d.required && d.mutability != Mutability::ReadOnly)
    {
        if get_ci(obj, &def.name).is_none_or(Value::is_null) {
            return Err(ScimError::invalid_value(format!(
                "required attribute '{}' is missing",
                def.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_type::SchemaRegistry;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn user() -> ResourceSchema {
        SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap()
    }

    #[test]
    fn create_normalises() {
        let rs = user();
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "USERNAME": "bjensen",
            "id": "ignored",
            "active": "True",
            "emails": [{"Value": "b@example.com", "type": "Work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"department": "Tour"}
        });
        let r = validate_create(&body, &rs, &ProtectionProfile::clear()).unwrap();
        assert_eq!(r["userName"], "bjensen");
        assert!(r.get("id").is_none());
        assert_eq!(r["active"], true);
        assert_eq!(r["emails"][0]["type"], "work");
        assert_eq!(r["emails"][0]["value"], "b@example.com");
        assert_eq!(r[ENTERPRISE_USER_SCHEMA]["department"], "Tour");
        assert_eq!(r["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
    }

    #[test]
    fn create_errors() {
        let rs = user();
        let p = ProtectionProfile::clear();
        let e = validate_create(&json!({"schemas": [USER_SCHEMA]}), &rs, &p).unwrap_err();
        assert!(e.detail().contains("required attribute 'userName'"));
        let e = validate_create(&json!({"userName": "x"}), &rs, &p).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidSyntax"));
        let e = validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "x", "active": 3}),
            &rs,
            &p,
        )
        .unwrap_err();
        assert!(e.detail().contains("'active'"), "{}", e.detail());
        let e = validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
            &rs,
            &p,
        )
        .unwrap_err();
        assert!(e.detail().contains("at most one"));
        let e = validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [{"value": "a", "type": "office"}]}),
            &rs,
            &p,
        )
        .unwrap_err();
        assert!(e.detail().contains("canonical"), "{}", e.detail());
        let e = validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "x", "foo": 1}),
            &rs,
            &p,
        )
        .unwrap_err();
        assert!(e.detail().contains("'foo'"));
    }

    #[test]
    fn replace_keeps_readonly_and_immutable() {
        let reg = SchemaRegistry::with_builtins();
        let rs = reg.resource_schema("Group").unwrap();
        let p = ProtectionProfile::clear();
        let cur = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "A", "meta": {"resourceType": "Group"}});
        let r = validate_replace(
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "B", "id": "other"}),
            &cur,
            &rs,
            &p,
        )
        .unwrap();
        assert_eq!(r["id"], "g1");
        assert_eq!(r["displayName"], "B");
        assert_eq!(r["meta"]["resourceType"], "Group");
    }

    #[test]
    fn sealed_values_must_be_sealed() {
        let rs = user();
        let p = ProtectionProfile::clear().with(USER_SCHEMA, "userName", Protection::SealedIndexed);
        assert!(validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "zk1.abc"}),
            &rs,
            &p
        )
        .is_ok());
        let e = validate_create(
            &json!({"schemas": [USER_SCHEMA], "userName": "bjensen"}),
            &rs,
            &p,
        )
        .unwrap_err();
        assert!(e.detail().contains("sealed"));
    }
}
