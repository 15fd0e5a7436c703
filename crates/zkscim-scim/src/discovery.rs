//! Discovery documents: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`
//! (RFC 7644 §4, RFC 7643 §5–§7, pagination capabilities of RFC 9865).

use serde_json::{json, Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::list::{ListConfig, ListResponse};
use crate::resource_type::SchemaRegistry;

/// An authentication scheme advertised in the ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthScheme {
    /// `type`, e.g. `oauthbearertoken`.
    pub scheme_type: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Specification URI.
    pub spec_uri: Option<String>,
    /// Documentation URI.
    pub documentation_uri: Option<String>,
    /// Whether this is the primary scheme.
    pub primary: bool,
}

/// Pagination capabilities (RFC 9865 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaginationCapabilities {
    /// Cursor pagination supported.
    pub cursor: bool,
    /// Index pagination supported.
    pub index: bool,
    /// `index` or `cursor`.
    pub default_method: String,
    /// Limits shared with the list engine.
    pub limits: ListConfig,
}

/// Service provider configuration (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    /// Help URI.
    pub documentation_uri: Option<String>,
    /// PATCH supported.
    pub patch: bool,
    /// Bulk supported, with max operations and payload size.
    pub bulk: Option<(usize, usize)>,
    /// Filter supported; `maxResults`.
    pub filter_max_results: usize,
    /// changePassword supported.
    pub change_password: bool,
    /// Sorting supported.
    pub sort: bool,
    /// ETags supported.
    pub etag: bool,
    /// Authentication schemes.
    pub authentication_schemes: Vec<AuthScheme>,
    /// Pagination capabilities; `None` omits the RFC 9865 `pagination` attribute.
    pub pagination: Option<PaginationCapabilities>,
}

impl Default for ServiceProviderConfig {
    fn default() -> Self {
        Self {
            documentation_uri: None,
            patch: true,
            bulk: None,
            filter_max_results: 1000,
            change_password: false,
            sort: true,
            etag: true,
            authentication_schemes: vec![AuthScheme {
                scheme_type: "oauthbearertoken".into(),
                name: "OAuth Bearer Token".into(),
                description: "Authentication scheme using the OAuth Bearer Token Standard".into(),
                spec_uri: Some("http://www.rfc-editor.org/info/rfc6750".into()),
                documentation_uri: None,
                primary: true,
            }],
            pagination: Some(PaginationCapabilities {
                cursor: true,
                index: true,
                default_method: "index".into(),
                limits: ListConfig::default(),
            }),
        }
    }
}

impl ServiceProviderConfig {
    /// The `/ServiceProviderConfig` document.
    #[must_use]
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut m = Map::new();
        m.insert(
            "schemas".into(),
            json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]),
        );
        if let Some(d) = &self.documentation_uri {
            m.insert("documentationUri".into(), json!(d));
        }
        m.insert("patch".into(), json!({"supported": self.patch}));
        m.insert(
            "bulk".into(),
            match self.bulk {
                Some((ops, size)) => {
                    json!({"supported": true, "maxOperations": ops, "maxPayloadSize": size})
                }
                None => json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0}),
            },
        );
        m.insert(
            "filter".into(),
            json!({"supported": true, "maxResults": self.filter_max_results}),
        );
        m.insert(
            "changePassword".into(),
            json!({"supported": self.change_password}),
        );
        m.insert("sort".into(), json!({"supported": self.sort}));
        m.insert("etag".into(), json!({"supported": self.etag}));
        m.insert(
            "authenticationSchemes".into(),
            Value::Array(
                self.authentication_schemes
                    .iter()
                    .map(|a| {
                        let mut o = Map::new();
                        o.insert("type".into(), json!(a.scheme_type));
                        o.insert("name".into(), json!(a.name));
                        o.insert("description".into(), json!(a.description));
                        if let Some(s) = &a.spec_uri {
                            o.insert("specUri".into(), json!(s));
                        }
                        if let Some(s) = &a.documentation_uri {
                            o.insert("documentationUri".into(), json!(s));
                        }
                        o.insert("primary".into(), json!(a.primary));
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        if let Some(p) = &self.pagination {
            m.insert(
                "pagination".into(),
                json!({
                    "cursor": p.cursor,
                    "index": p.index,
                    "defaultPaginationMethod": p.default_method,
                    "defaultPageSize": p.limits.default_page_size,
                    "maxPageSize": p.limits.max_page_size,
                    "cursorTimeout": p.limits.cursor_timeout_secs,
                }),
            );
        }
        m.insert(
            "meta".into(),
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
            }),
        );
        Value::Object(m)
    }
}

/// `/ResourceTypes` as a ListResponse.
#[must_use]
pub fn resource_types_document(reg: &SchemaRegistry, base_url: &str) -> Value {
    let resources: Vec<Value> = reg
        .resource_types()
        .iter()
        .map(|r| r.to_json(base_url))
        .collect();
    ListResponse {
        total_results: resources.len(),
        start_index: Some(1),
        resources,
        ..ListResponse::default()
    }
    .to_json()
}

/// `/ResourceTypes/{id}`; unknown ids are 404.
pub fn resource_type_document(reg: &SchemaRegistry, id: &str, base_url: &str) -> ScimResult<Value> {
    reg.resource_type(id)
        .map(|r| r.to_json(base_url))
        .ok_or_else(|| ScimError::not_found(format!("resource type '{id}' not found")))
}

/// `/Schemas` as a ListResponse.
#[must_use]
pub fn schemas_document(reg: &SchemaRegistry, base_url: &str) -> Value {
    let resources: Vec<Value> = reg.schemas().iter().map(|s| s.to_json(base_url)).collect();
    ListResponse {
        total_results: resources.len(),
        start_index: Some(1),
        resources,
        ..ListResponse::default()
    }
    .to_json()
}

/// `/Schemas/{id}` (id matched case-insensitively); unknown ids are 404.
pub fn schema_document(reg: &SchemaRegistry, id: &str, base_url: &str) -> ScimResult<Value> {
    reg.schema(id)
        .map(|s| s.to_json(base_url))
        .ok_or_else(|| ScimError::not_found(format!("schema '{id}' not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents() {
        let reg = SchemaRegistry::with_builtins();
        let rt = resource_types_document(&reg, "https://example.com/v2");
        assert_eq!(rt["totalResults"], 4);
        assert_eq!(rt["Resources"][0]["endpoint"], "/Users");
        let s = schemas_document(&reg, "https://example.com/v2");
        assert_eq!(s["totalResults"], 6);
        assert!(schema_document(&reg, "urn:ietf:params:scim:schemas:core:2.0:group", "x").is_ok());
        assert_eq!(
            schema_document(&reg, "nope", "x").unwrap_err().status(),
            404
        );
        assert_eq!(
            resource_type_document(&reg, "nope", "x")
                .unwrap_err()
                .status(),
            404
        );
        let spc = ServiceProviderConfig::default().to_json("https://example.com/v2");
        assert_eq!(spc["pagination"]["cursorTimeout"], 3600);
        assert_eq!(spc["bulk"]["supported"], false);
    }
}
