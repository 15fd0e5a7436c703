//! `attributes` / `excludedAttributes` projection (RFC 7644 §3.4.2.5, §3.9) honouring the
//! `returned` characteristic (RFC 7643 §2.2).

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::path::{clip, get_ci, AttrPath};
use crate::resource_type::ResourceSchema;
use crate::schema::{AttributeDef, Mutability, Returned};

/// One entry of an `attributes` / `excludedAttributes` list, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSelector {
    /// Canonical schema URN.
    pub schema: String,
    /// Whether the attribute lives under the extension object.
    pub in_extension: bool,
    /// Canonical attribute name; `None` selects a whole extension.
    pub attr: Option<String>,
    /// Canonical sub-attribute name.
    pub sub: Option<String>,
}

/// Parse a comma-separated attribute list (`userName,name.givenName,urn:…:User:manager`).
///
/// Malformed entries are `invalidPath`. Well-formed names that the resource type does not
/// define are ignored, as clients commonly ask for attributes across resource types.
pub fn parse_attribute_list(s: &str, rs: &ResourceSchema) -> ScimResult<Vec<AttrSelector>> {
    let mut out = Vec::new();
    for raw in s.split(',') {
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(urn) = rs.canonical_urn(t) {
            if urn != rs.core.id {
                out.push(AttrSelector {
                    schema: urn.to_owned(),
                    in_extension: true,
                    attr: None,
                    sub: None,
                });
            }
            continue;
        }
        let p = AttrPath::parse(t)
            .map_err(|e| ScimError::invalid_path(format!("in attribute list: {}", e.detail())))?;
        let Ok(r) = rs.resolve(&p) else { continue };
        out.push(AttrSelector {
            schema: r.schema.to_owned(),
            in_extension: r.in_extension,
            attr: Some(r.attr.name.clone()),
            sub: r.sub.map(|d| d.name.clone()),
        });
        if out.len() > 1000 {
            return Err(ScimError::invalid_path(format!(
                "attribute list '{}' has too many entries",
                clip(s)
            )));
        }
    }
    Ok(out)
}

fn never_returned(d: &AttributeDef) -> bool {
    d.returned == Returned::Never || d.mutability == Mutability::WriteOnly
}

/// Project one attribute value; `subs` restricts sub-attributes (`None` = all).
fn project_value(
    def: &AttributeDef,
    v: &Value,
    include_subs: Option<&[&str]>,
    exclude_subs: &[&str],
) -> Option<Value> {
    if def.sub_attributes.is_empty() {
        return Some(v.clone());
    }
    let proj_obj = |o: &Map<String, Value>| -> Value {
        let mut m = Map::new();
        for (k, sv) in o {
            let Some(sd) = def.sub(k) else {
                continue;
            };
            if never_returned(sd) {
                continue;
            }
            let named = |l: &[&str]| l.iter().any(|n| n.eq_ignore_ascii_case(&sd.name));
            let keep = if sd.returned == Returned::Always {
                true
            } else if let Some(inc) = include_subs {
                named(inc)
            } else {
                sd.returned != Returned::Request && !named(exclude_subs)
            };
            if keep {
                m.insert(k.clone(), sv.clone());
            }
        }
        Value::Object(m)
    };
    let out = match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|e| match e.as_object() {
                    Some(o) => proj_obj(o),
                    None => e.clone(),
                })
                .filter(|e| !e.as_object().is_some_and(Map::is_empty))
                .collect(),
        ),
        Value::Object(o) => proj_obj(o),
        other => other.clone(),
    };
    let empty = match &out {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    (!empty).then_some(out)
}

fn project_container(
    obj: &Map<String, Value>,
    defs: &mut dyn Iterator<Item = &AttributeDef>,
    schema: &str,
    include: &[AttrSelector],
    exclude: &[AttrSelector],
    whole_included: bool,
    whole_excluded: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for def in defs {
        let Some(v) = get_ci(obj, &def.name) else {
            continue;
        };
        if never_returned(def) {
            continue;
        }
        let sel = |l: &[AttrSelector]| -> Vec<AttrSelector> {
            l.iter()
                .filter(|s| {
                    s.schema == schema
                        && s.attr
                            .as_deref()
                            .is_some_and(|a| a.eq_ignore_ascii_case(&def.name))
                })
                .cloned()
                .collect()
        };
        let inc = sel(include);
        let exc = sel(exclude);
        let exc_subs: Vec<&str> = exc.iter().filter_map(|s| s.sub.as_deref()).collect();
        let projected = if def.returned == Returned::Always {
            Some(v.clone())
        } else if !include.is_empty() {
            if whole_included || inc.iter().any(|s| s.sub.is_none()) {
                project_value(def, v, None, &[])
            } else if !inc.is_empty() {
                let subs: Vec<&str> = inc.iter().filter_map(|s| s.sub.as_deref()).collect();
                project_value(def, v, Some(&subs), &[])
            } else {
                None
            }
        } else if def.returned == Returned::Request
            || whole_excluded
            || exc.iter().any(|s| s.sub.is_none())
        {
            None
        } else {
            project_value(def, v, None, &exc_subs)
        };
        if let Some(p) = projected {
            out.insert(def.name.clone(), p);
        }
    }
    out
}

/// Project a stored resource for a response.
///
/// * `returned: never` (and writeOnly) attributes are never included;
/// * `returned: always` attributes (`schemas`, `id`, …) are always included;
/// * with a non-empty `attributes` list only those (and `always`) are included, and
///   `excludedAttributes` is ignored;
/// * otherwise `default` attributes are included unless excluded; `request` ones are not.
#[must_use]
pub fn project(
    resource: &Value,
    rs: &ResourceSchema,
    attributes: &[AttrSelector],
    excluded: &[AttrSelector],
) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let excluded: &[AttrSelector] = if attributes.is_empty() { excluded } else { &[] };
    let core_id = rs.core.id.as_str();
    let mut out = project_container(
        obj,
        &mut rs.common.iter().chain(rs.core.attributes.iter()),
        core_id,
        attributes,
        excluded,
        false,
        false,
    );
    let mut schemas = vec![Value::String(rs.core.id.clone())];
    for (ext, _) in &rs.extensions {
        let Some(eo) = get_ci(obj, &ext.id).and_then(Value::as_object) else {
            continue;
        };
        let whole = |l: &[AttrSelector]| l.iter().any(|s| s.schema == ext.id && s.attr.is_none());
        let pe = project_container(
            eo,
            &mut ext.attributes.iter(),
            &ext.id,
            attributes,
            excluded,
            whole(attributes),
            whole(excluded),
        );
        if !pe.is_empty() {
            schemas.push(Value::String(ext.id.clone()));
            out.insert(ext.id.clone(), Value::Object(pe));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_type::SchemaRegistry;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    #[test]
    fn projection_rules() {
        let rs = SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap();
        let u = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "1", "userName": "b", "password": "secret", "displayName": "B",
            "name": {"givenName": "Bar", "familyName": "J"},
            "emails": [{"value": "a@x", "type": "work"}],
            "meta": {"resourceType": "User"},
            ENTERPRISE_USER_SCHEMA: {"department": "D", "employeeNumber": "7"}
        });
        let all = project(&u, &rs, &[], &[]);
        assert!(all.get("password").is_none());
        assert_eq!(all[ENTERPRISE_USER_SCHEMA]["department"], "D");
        let a = parse_attribute_list("userName, name.givenName", &rs).unwrap();
        let p = project(&u, &rs, &a, &[]);
        assert_eq!(
            p,
            json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "b", "name": {"givenName": "Bar"}})
        );
        let x = parse_attribute_list(
            "emails,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,id",
            &rs,
        )
        .unwrap();
        let p = project(&u, &rs, &[], &x);
        assert!(p.get("emails").is_none());
        assert_eq!(p["id"], "1");
        assert_eq!(p[ENTERPRISE_USER_SCHEMA], json!({"employeeNumber": "7"}));
        let w = parse_attribute_list(ENTERPRISE_USER_SCHEMA, &rs).unwrap();
        let p = project(&u, &rs, &w, &[]);
        assert_eq!(p[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "7");
        assert!(p.get("userName").is_none());
        assert!(parse_attribute_list("a b", &rs).is_err());
        assert!(parse_attribute_list("nosuch", &rs).unwrap().is_empty());
    }
}
