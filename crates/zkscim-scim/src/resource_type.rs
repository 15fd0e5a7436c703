//! Resource types (RFC 7643 §6), the [`SchemaRegistry`] and the per-type [`ResourceSchema`] view.

use serde_json::{json, Value};

use crate::error::{ScimError, ScimResult};
use crate::schema::{
    agent_schema, agentic_application_schema, common_attributes, enterprise_user_schema,
    group_schema, nhi_lifecycle_schema, user_schema, AttributeDef, Schema,
    AGENTIC_APPLICATION_SCHEMA, AGENT_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA,
    NHI_LIFECYCLE_SCHEMA, USER_SCHEMA,
};

/// A schema extension attached to a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaExtension {
    /// Extension schema URN.
    pub schema: String,
    /// Whether resources of this type must carry the extension.
    pub required: bool,
}

/// A resource type (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// Identifier, e.g. `User`.
    pub id: String,
    /// Name, e.g. `User`.
    pub name: String,
    /// Endpoint relative to the base URL, e.g. `/Users`.
    pub endpoint: String,
    /// Description.
    pub description: String,
    /// Core schema URN.
    pub schema: String,
    /// Schema extensions.
    pub extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// A new resource type without extensions.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        description: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            id: name.clone(),
            name,
            endpoint: endpoint.into(),
            description: description.into(),
            schema: schema.into(),
            extensions: Vec::new(),
        }
    }

    /// RFC 7643 §6 JSON representation (as served at `/ResourceTypes/{id}`).
    #[must_use]
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema,
            "meta": {
                "location": format!("{}/ResourceTypes/{}", base_url.trim_end_matches('/'), self.id),
                "resourceType": "ResourceType"
            }
        });
        if !self.extensions.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "schemaExtensions".into(),
                    Value::Array(
                        self.extensions
                            .iter()
                            .map(|e| json!({"schema": e.schema, "required": e.required}))
                            .collect(),
                    ),
                );
            }
        }
        v
    }
}

/// Registry of schemas and resource types. Cheap to clone; build once at start-up.
#[derive(Debug, Clone, Default)]
pub struct SchemaRegistry {
    schemas: Vec<Schema>,
    resource_types: Vec<ResourceType>,
    /// See [`SchemaRegistry::revision`]. 0 only for the empty registry.
    revision: u64,
}

/// Source of [`SchemaRegistry::revision`] values; 0 is reserved for the empty registry.
static NEXT_REVISION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_revision() -> u64 {
    NEXT_REVISION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl SchemaRegistry {
    /// An empty registry.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// An identity of this registry's contents, for memoising what is derived from them: two
    /// registries with the same revision hold the same schemas and resource types (a clone keeps
    /// its original's revision; every successful change takes a revision never used before in
    /// this process). Equal contents may still have different revisions.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The built-in registry: User (with the EnterpriseUser extension), Group, Agent and
    /// AgenticApplication (each with the optional NHI lifecycle extension).
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut user = ResourceType::new("User", "/Users", "User Account", USER_SCHEMA);
        user.extensions.push(SchemaExtension {
            schema: ENTERPRISE_USER_SCHEMA.into(),
            required: false,
        });
        let nhi = || SchemaExtension {
            schema: NHI_LIFECYCLE_SCHEMA.into(),
            required: false,
        };
        let mut agent = ResourceType::new("Agent", "/Agents", "AI agent", AGENT_SCHEMA);
        agent.extensions.push(nhi());
        let mut application = ResourceType::new(
            "AgenticApplication",
            "/AgenticApplications",
            "Agentic application",
            AGENTIC_APPLICATION_SCHEMA,
        );
        application.extensions.push(nhi());
        Self {
            schemas: vec![
                user_schema(),
                group_schema(),
                enterprise_user_schema(),
                agent_schema(),
                agentic_application_schema(),
                nhi_lifecycle_schema(),
            ],
            resource_types: vec![
                user,
                ResourceType::new("Group", "/Groups", "Group", GROUP_SCHEMA),
                agent,
                application,
            ],
            revision: next_revision(),
        }
    }

    /// Register a (custom) schema. Fails with 409 if a schema with that id already exists.
    pub fn register_schema(&mut self, schema: Schema) -> ScimResult<()> {
        if self.schema(&schema.id).is_some() {
            return Err(ScimError::Conflict {
                detail: format!("schema '{}' is already registered", schema.id),
            });
        }
        if !schema.id.to_ascii_lowercase().starts_with("urn:") {
            return Err(ScimError::invalid_value(format!(
                "schema id '{}' must be a URN",
                schema.id
            )));
        }
        self.schemas.push(schema);
        self.revision = next_revision();
        Ok(())
    }

    /// Register a resource type; its core schema and extension schemas must be registered.
    pub fn register_resource_type(&mut self, rt: ResourceType) -> ScimResult<()> {
        if self.resource_type(&rt.name).is_some() {
            return Err(ScimError::Conflict {
                detail: format!("resource type '{}' is already registered", rt.name),
            });
        }
        for urn in std::iter::once(&rt.schema).chain(rt.extensions.iter().map(|e| &e.schema)) {
            if self.schema(urn).is_none() {
                return Err(ScimError::invalid_value(format!(
                    "resource type '{}' references unknown schema '{urn}'",
                    rt.name
                )));
            }
        }
        self.resource_types.push(rt);
        self.revision = next_revision();
        Ok(())
    }

    /// Attach a registered extension schema to a registered resource type.
    pub fn add_extension(
        &mut self,
        resource_type: &str,
        schema_urn: &str,
        required: bool,
    ) -> ScimResult<()> {
        let canonical = self
            .schema(schema_urn)
            .map(|s| s.id.clone())
            .ok_or_else(|| {
                ScimError::not_found(format!("schema '{schema_urn}' is not registered"))
            })?;
        let rt = self
            .resource_types
            .iter_mut()
            .find(|r| r.name.eq_ignore_ascii_case(resource_type))
            .ok_or_else(|| {
                ScimError::not_found(format!("resource type '{resource_type}' is not registered"))
            })?;
        if rt
            .extensions
            .iter()
            .any(|e| e.schema.eq_ignore_ascii_case(&canonical))
        {
            return Err(ScimError::Conflict {
                detail: format!("'{canonical}' is already an extension of '{resource_type}'"),
            });
        }
        rt.extensions.push(SchemaExtension {
            schema: canonical,
            required,
        });
        self.revision = next_revision();
        Ok(())
    }

    /// Case-insensitive schema lookup by URN.
    #[must_use]
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// All registered schemas.
    #[must_use]
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// Case-insensitive resource type lookup by name or id.
    #[must_use]
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name) || r.id.eq_ignore_ascii_case(name))
    }

    /// All registered resource types.
    #[must_use]
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The resolved schema view of a resource type, used by every engine operation.
    pub fn resource_schema(&self, resource_type: &str) -> ScimResult<ResourceSchema> {
        let rt = self.resource_type(resource_type).ok_or_else(|| {
            ScimError::not_found(format!("resource type '{resource_type}' is not registered"))
        })?;
        let core = self
            .schema(&rt.schema)
            .cloned()
            .ok_or_else(|| ScimError::Internal {
                detail: format!("schema '{}' missing from registry", rt.schema),
            })?;
        let mut extensions = Vec::new();
        for e in &rt.extensions {
            let s = self
                .schema(&e.schema)
                .cloned()
                .ok_or_else(|| ScimError::Internal {
                    detail: format!("schema '{}' missing from registry", e.schema),
                })?;
            extensions.push((s, e.required));
        }
        Ok(ResourceSchema {
            resource_type: rt.clone(),
            core,
            extensions,
            common: common_attributes(),
        })
    }
}

/// A located attribute definition: which schema it belongs to and its definition.
#[derive(Debug, Clone, Copy)]
pub struct AttrRef<'a> {
    /// Canonical URN of the schema holding the attribute (core schema for common attributes).
    pub schema: &'a str,
    /// True if the attribute lives in an extension (i.e. under the extension's JSON object).
    pub in_extension: bool,
    /// True for the common attributes `id`, `externalId`, `meta`.
    pub common: bool,
    /// The definition.
    pub def: &'a AttributeDef,
}

/// Everything the engine needs to know about one resource type: its core schema, its
/// extensions and the common attributes.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// The resource type.
    pub resource_type: ResourceType,
    /// Core schema.
    pub core: Schema,
    /// Extension schemas with their `required` flag.
    pub extensions: Vec<(Schema, bool)>,
    /// Common attributes (`id`, `externalId`, `meta`).
    pub common: Vec<AttributeDef>,
}

impl ResourceSchema {
    /// Canonical spelling of `urn` if it is the core schema or one of the extensions.
    #[must_use]
    pub fn canonical_urn(&self, urn: &str) -> Option<&str> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(&self.core.id);
        }
        self.extension(urn).map(|s| s.id.as_str())
    }

    /// Extension schema by URN (case-insensitive).
    #[must_use]
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Locate a top-level attribute. `urn` = `None` or the core URN searches the common
    /// attributes and the core schema; an extension URN searches that extension.
    #[must_use]
    pub fn lookup(&self, urn: Option<&str>, name: &str) -> Option<AttrRef<'_>> {
        let core_scope = urn.is_none_or(|u| self.core.id.eq_ignore_ascii_case(u));
        if core_scope {
            if let Some(def) = self
                .common
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                return Some(AttrRef {
                    schema: &self.core.id,
                    in_extension: false,
                    common: true,
                    def,
                });
            }
            return self.core.attribute(name).map(|def| AttrRef {
                schema: &self.core.id,
                in_extension: false,
                common: false,
                def,
            });
        }
        let ext = self.extension(urn.unwrap_or_default())?;
        ext.attribute(name).map(|def| AttrRef {
            schema: &ext.id,
            in_extension: true,
            common: false,
            def,
        })
    }

    /// Fully qualified names (`<schema URN>:<attr>`) of the attributes with `uniqueness`
    /// `server` or `global`, which the store must enforce (reporting
    /// [`ScimError::Uniqueness`], 409). `id` is included.
    #[must_use]
    pub fn unique_attributes(&self) -> Vec<(String, crate::schema::Uniqueness)> {
        let core = self
            .common
            .iter()
            .chain(self.core.attributes.iter())
            .map(|a| (self.core.id.as_str(), a));
        let ext = self
            .extensions
            .iter()
            .flat_map(|(s, _)| s.attributes.iter().map(move |a| (s.id.as_str(), a)));
        core.chain(ext)
            .filter(|(_, a)| a.uniqueness != crate::schema::Uniqueness::None)
            .map(|(s, a)| (format!("{s}:{}", a.name), a.uniqueness))
            .collect()
    }

    /// All schema URNs of this type (core first).
    #[must_use]
    pub fn schema_urns(&self) -> Vec<&str> {
        std::iter::once(self.core.id.as_str())
            .chain(self.extensions.iter().map(|(s, _)| s.id.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttrType, AttributeDef};

    #[test]
    fn builtins_resolve() {
        let reg = SchemaRegistry::with_builtins();
        let u = reg.resource_schema("user").unwrap();
        assert!(u.lookup(None, "username").is_some());
        assert!(u.lookup(None, "ID").unwrap().common);
        let m = u
            .lookup(
                Some("URN:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "Manager",
            )
            .unwrap();
        assert!(m.in_extension);
        assert_eq!(m.def.attr_type, AttrType::Complex);
        assert!(reg.resource_schema("Agent").is_ok());
        let uniq: Vec<String> = u.unique_attributes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            uniq,
            [
                "urn:ietf:params:scim:schemas:core:2.0:User:id",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName"
            ]
        );
        assert!(reg.resource_schema("agenticapplication").is_ok());
        assert!(matches!(
            reg.resource_schema("Nope"),
            Err(ScimError::NotFound { .. })
        ));
    }

    #[test]
    fn custom_extension_registration() {
        let mut reg = SchemaRegistry::with_builtins();
        let s = Schema::new(
            "urn:example:params:scim:schemas:extension:acme:2.0:User",
            "Acme",
            "Acme extension",
            vec![AttributeDef::string("badge").case_exact()],
        );
        reg.register_schema(s.clone()).unwrap();
        assert!(reg.register_schema(s).is_err());
        reg.add_extension(
            "User",
            "urn:example:params:scim:schemas:extension:acme:2.0:user",
            false,
        )
        .unwrap();
        let u = reg.resource_schema("User").unwrap();
        assert!(u
            .lookup(
                Some("urn:example:params:scim:schemas:extension:acme:2.0:User"),
                "BADGE"
            )
            .is_some());
        assert_eq!(
            reg.resource_type("User").unwrap().to_json("https://x")["schemaExtensions"][1]
                ["schema"],
            "urn:example:params:scim:schemas:extension:acme:2.0:User"
        );
    }

    #[test]
    fn revision_changes_with_every_change_and_only_then() {
        let mut reg = SchemaRegistry::with_builtins();
        let other = SchemaRegistry::with_builtins();
        assert_ne!(
            reg.revision(),
            other.revision(),
            "two builds, two revisions"
        );
        assert_eq!(SchemaRegistry::empty().revision(), 0);
        let clone = reg.clone();
        assert_eq!(
            clone.revision(),
            reg.revision(),
            "a clone has the same contents"
        );
        let before = reg.revision();
        let urn = "urn:example:params:scim:schemas:extension:rev:2.0:User";
        let schema = Schema::new(urn, "Rev", "Rev", vec![AttributeDef::string("badge")]);
        reg.register_schema(schema.clone()).unwrap();
        let registered = reg.revision();
        assert_ne!(registered, before);
        assert!(reg.register_schema(schema).is_err());
        assert_eq!(
            reg.revision(),
            registered,
            "a refused change changes nothing"
        );
        reg.add_extension("User", urn, false).unwrap();
        assert_ne!(reg.revision(), registered);
        assert_eq!(clone.revision(), before, "the clone did not change");
    }
}
