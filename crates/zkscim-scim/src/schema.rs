//! Schemas, attribute definitions and their characteristics (RFC 7643 §2, §7).
//!
//! Built-in schemas: core User, Group, the EnterpriseUser extension (RFC 7643 §4), and the
//! Agent / AgenticApplication schemas of draft-abbey-scim-agent-extension-00 with zkscim's
//! non-human-identity lifecycle extension (an expiry). Attribute names
//! and schema URNs are matched case-insensitively everywhere.

use serde_json::{json, Map, Value};

/// Schema URN of the core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Schema URN of the core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Schema URN of the Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Schema URN of the Agent schema (draft-abbey-scim-agent-extension).
pub const AGENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";
/// Schema URN of the AgenticApplication schema (draft-abbey-scim-agent-extension).
pub const AGENTIC_APPLICATION_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication";

/// Schema URN of zkscim's non-human-identity lifecycle extension: the expiry a tenant policy
/// may require of agents and applications (spec/policy.md).
pub const NHI_LIFECYCLE_SCHEMA: &str = "urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle";

/// SCIM attribute data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `decimal`
    Decimal,
    /// `integer`
    Integer,
    /// `dateTime` (xsd:dateTime, RFC 3339 profile)
    DateTime,
    /// `binary` (base64)
    Binary,
    /// `reference` (URI)
    Reference,
    /// `complex`
    Complex,
}

impl AttrType {
    /// The RFC 7643 spelling of the type.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

/// The `mutability` characteristic (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Never modifiable by clients.
    ReadOnly,
    /// Freely modifiable.
    ReadWrite,
    /// Settable once (on create, or when not yet set), never changed afterwards.
    Immutable,
    /// Settable, never returned.
    WriteOnly,
}

impl Mutability {
    /// RFC spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

/// The `returned` characteristic (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always returned, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded or another attribute list was requested.
    Default,
    /// Returned only when requested by `attributes`.
    Request,
}

impl Returned {
    /// RFC spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// The `uniqueness` characteristic (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No uniqueness constraint.
    None,
    /// Unique within the service provider (tenant).
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// RFC spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// Definition of one attribute with all its characteristics (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    /// Attribute name (canonical spelling; matched case-insensitively).
    pub name: String,
    /// Data type.
    pub attr_type: AttrType,
    /// Whether the attribute is multi-valued.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: String,
    /// Whether the attribute is required.
    pub required: bool,
    /// Whether string comparison is case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Returned characteristic.
    pub returned: Returned,
    /// Uniqueness.
    pub uniqueness: Uniqueness,
    /// Canonical values (empty: any value).
    pub canonical_values: Vec<String>,
    /// Reference types for `reference` attributes.
    pub reference_types: Vec<String>,
    /// Sub-attributes of a `complex` attribute.
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A new single-valued, optional, readWrite, returned-by-default attribute.
    pub fn new(name: impl Into<String>, attr_type: AttrType) -> Self {
        Self {
            name: name.into(),
            attr_type,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    /// A `string` attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::String)
    }
    /// A `boolean` attribute.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    /// An `integer` attribute.
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Integer)
    }
    /// A `decimal` attribute.
    pub fn decimal(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Decimal)
    }
    /// A `dateTime` attribute.
    pub fn date_time(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::DateTime)
    }
    /// A `binary` attribute.
    pub fn binary(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Binary)
    }
    /// A `reference` attribute with the given reference types.
    pub fn reference(name: impl Into<String>, types: &[&str]) -> Self {
        let mut a = Self::new(name, AttrType::Reference);
        a.reference_types = types.iter().map(|s| (*s).to_owned()).collect();
        a
    }
    /// A `complex` attribute with the given sub-attributes.
    pub fn complex(name: impl Into<String>, subs: Vec<AttributeDef>) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }
    /// Make the attribute multi-valued.
    #[must_use]
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    /// Make the attribute required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Make string comparison case-exact.
    #[must_use]
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Set the mutability.
    #[must_use]
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// Set the returned characteristic.
    #[must_use]
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Set the uniqueness.
    #[must_use]
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    /// Set canonical values.
    #[must_use]
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Set the description.
    #[must_use]
    pub fn describe(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Case-insensitive lookup of a sub-attribute.
    #[must_use]
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether this is a multi-valued complex attribute with a `primary` boolean sub-attribute.
    #[must_use]
    pub fn has_primary(&self) -> bool {
        self.multi_valued
            && self
                .sub("primary")
                .is_some_and(|p| p.attr_type == AttrType::Boolean)
    }

    /// RFC 7643 §7 JSON representation of the attribute definition.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.attr_type.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if self.attr_type != AttrType::Complex {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if self.attr_type == AttrType::Reference {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        m.insert("mutability".into(), json!(self.mutability.as_str()));
        m.insert("returned".into(), json!(self.returned.as_str()));
        if self.attr_type != AttrType::Complex {
            m.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if self.attr_type == AttrType::Complex {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Self::to_json).collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(m)
    }
}

/// A schema: a URN id and its attribute definitions (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Schema URN.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Top-level attributes.
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// A new schema.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        attributes: Vec<AttributeDef>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            attributes,
        }
    }

    /// Case-insensitive lookup of a top-level attribute.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// RFC 7643 §7 JSON representation (as served at `/Schemas/{id}`).
    #[must_use]
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            }
        })
    }
}

/// The common attributes every resource carries (RFC 7643 §3, §3.1): `schemas`, `id`,
/// `externalId`, `meta`.
#[must_use]
pub fn common_attributes() -> Vec<AttributeDef> {
    vec![
        AttributeDef::reference("schemas", &["uri"])
            .multi()
            .required()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .describe("Schema URNs the resource conforms to."),
        AttributeDef::string("id")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server)
            .describe("Service-provider issued identifier of the resource."),
        AttributeDef::string("externalId")
            .case_exact()
            .describe("Identifier of the resource as defined by the provisioning client."),
        AttributeDef::complex(
            "meta",
            vec![
                AttributeDef::string("resourceType")
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
                AttributeDef::date_time("created").mutability(Mutability::ReadOnly),
                AttributeDef::date_time("lastModified").mutability(Mutability::ReadOnly),
                AttributeDef::reference("location", &["uri"])
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
                AttributeDef::string("version")
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .mutability(Mutability::ReadOnly)
        .describe("Resource metadata."),
    ]
}

fn multi_complex(
    name: &str,
    value: AttributeDef,
    types: &[&str],
    extra: Vec<AttributeDef>,
) -> AttributeDef {
    let mut subs = vec![
        value,
        AttributeDef::string("display").describe("Human-readable name of the value."),
        AttributeDef::string("type")
            .canonical(types)
            .describe("Label indicating the function of the value."),
        AttributeDef::boolean("primary")
            .describe("Marks the preferred value; at most one is true."),
    ];
    subs.extend(extra);
    AttributeDef::complex(name, subs).multi()
}

fn member_ref(name: &str, types: &[&str]) -> AttributeDef {
    AttributeDef::complex(
        name,
        vec![
            AttributeDef::string("value")
                .mutability(Mutability::Immutable)
                .describe("Identifier of the referenced resource."),
            AttributeDef::reference("$ref", types)
                .mutability(Mutability::Immutable)
                .describe("URI of the referenced resource."),
            AttributeDef::string("display").describe("Display name of the referenced resource."),
            AttributeDef::string("type")
                .canonical(types)
                .mutability(Mutability::Immutable)
                .describe("Type of the referenced resource."),
        ],
    )
}

/// The core User schema (RFC 7643 §4.1 / §8.7.1).
#[must_use]
pub fn user_schema() -> Schema {
    let attrs = vec![
        AttributeDef::string("userName")
            .required()
            .uniqueness(Uniqueness::Server)
            .describe("Unique identifier used by the user to authenticate."),
        AttributeDef::complex(
            "name",
            vec![
                AttributeDef::string("formatted"),
                AttributeDef::string("familyName"),
                AttributeDef::string("givenName"),
                AttributeDef::string("middleName"),
                AttributeDef::string("honorificPrefix"),
                AttributeDef::string("honorificSuffix"),
            ],
        )
        .describe("Components of the user's name."),
        AttributeDef::string("displayName").describe("Name suitable for display."),
        AttributeDef::string("nickName").describe("Casual name."),
        AttributeDef::reference("profileUrl", &["external"]).describe("Online profile URL."),
        AttributeDef::string("title").describe("Job title."),
        AttributeDef::string("userType").describe("Relationship to the organisation."),
        AttributeDef::string("preferredLanguage").describe("Preferred written or spoken language."),
        AttributeDef::string("locale").describe("Default location for localisation."),
        AttributeDef::string("timezone").describe("IANA time zone name."),
        AttributeDef::boolean("active").describe("Administrative status."),
        AttributeDef::string("password")
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never)
            .describe("Clear-text password; write only."),
        multi_complex(
            "emails",
            AttributeDef::string("value").describe("Email address."),
            &["work", "home", "other"],
            vec![],
        ),
        multi_complex(
            "phoneNumbers",
            AttributeDef::string("value").describe("Phone number."),
            &["work", "home", "mobile", "fax", "pager", "other"],
            vec![],
        ),
        multi_complex(
            "ims",
            AttributeDef::string("value").describe("Instant messaging address."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            vec![],
        ),
        multi_complex(
            "photos",
            AttributeDef::reference("value", &["external"]).describe("Photo URL."),
            &["photo", "thumbnail"],
            vec![],
        ),
        AttributeDef::complex(
            "addresses",
            vec![
                AttributeDef::string("formatted"),
                AttributeDef::string("streetAddress"),
                AttributeDef::string("locality"),
                AttributeDef::string("region"),
                AttributeDef::string("postalCode"),
                AttributeDef::string("country"),
                AttributeDef::string("type").canonical(&["work", "home", "other"]),
                AttributeDef::boolean("primary"),
            ],
        )
        .multi()
        .describe("Physical mailing addresses."),
        AttributeDef::complex(
            "groups",
            vec![
                AttributeDef::string("value").mutability(Mutability::ReadOnly),
                AttributeDef::reference("$ref", &["User", "Group"])
                    .mutability(Mutability::ReadOnly),
                AttributeDef::string("display").mutability(Mutability::ReadOnly),
                AttributeDef::string("type")
                    .canonical(&["direct", "indirect"])
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .multi()
        .mutability(Mutability::ReadOnly)
        .describe("Groups the user belongs to (managed through Group membership)."),
        multi_complex("entitlements", AttributeDef::string("value"), &[], vec![]),
        multi_complex("roles", AttributeDef::string("value"), &[], vec![]),
        multi_complex(
            "x509Certificates",
            AttributeDef::binary("value"),
            &[],
            vec![],
        ),
    ];
    Schema::new(USER_SCHEMA, "User", "User Account", attrs)
}

/// The core Group schema (RFC 7643 §4.2 / §8.7.1).
#[must_use]
pub fn group_schema() -> Schema {
    Schema::new(
        GROUP_SCHEMA,
        "Group",
        "Group",
        vec![
            AttributeDef::string("displayName")
                .required()
                .describe("Human-readable name of the group."),
            member_ref("members", &["User", "Group", "Agent", "AgenticApplication"])
                .multi()
                .describe("Members of the group."),
        ],
    )
}

/// The Enterprise User extension schema (RFC 7643 §4.3).
#[must_use]
pub fn enterprise_user_schema() -> Schema {
    Schema::new(
        ENTERPRISE_USER_SCHEMA,
        "EnterpriseUser",
        "Enterprise User",
        vec![
            AttributeDef::string("employeeNumber"),
            AttributeDef::string("costCenter"),
            AttributeDef::string("organization"),
            AttributeDef::string("division"),
            AttributeDef::string("department"),
            AttributeDef::complex(
                "manager",
                vec![
                    AttributeDef::string("value").describe("id of the manager's User resource."),
                    AttributeDef::reference("$ref", &["User"]),
                    AttributeDef::string("displayName").mutability(Mutability::ReadOnly),
                ],
            )
            .describe("The user's manager."),
        ],
    )
}

/// zkscim's lifecycle extension for non-human identities (attached, optional, to Agent and
/// AgenticApplication): when the identity expires. A tenant policy can require it.
#[must_use]
pub fn nhi_lifecycle_schema() -> Schema {
    Schema::new(
        NHI_LIFECYCLE_SCHEMA,
        "NhiLifecycle",
        "Non-human identity lifecycle",
        vec![AttributeDef::date_time("expiresAt")
            .describe("When this non-human identity expires (RFC 3339).")],
    )
}

fn owners() -> AttributeDef {
    member_ref("owners", &["User", "Group"])
        .multi()
        .describe("Users or groups responsible for this resource.")
}

/// The Agent schema of draft-abbey-scim-agent-extension-00 (modelled on its key attributes).
#[must_use]
pub fn agent_schema() -> Schema {
    Schema::new(
        AGENT_SCHEMA,
        "Agent",
        "AI agent (non-human identity)",
        vec![
            AttributeDef::string("name")
                .required()
                .uniqueness(Uniqueness::Server)
                .describe("Unique name of the agent."),
            AttributeDef::string("displayName"),
            AttributeDef::string("description"),
            AttributeDef::string("agentType").describe("Classification, e.g. Assistant."),
            AttributeDef::boolean("active").describe("Administrative status."),
            multi_complex(
                "protocols",
                AttributeDef::string("value").describe("Protocol endpoint or identifier."),
                &["A2A", "OpenAPI", "MCP-Server"],
                vec![],
            ),
            owners(),
            member_ref("parent", &["Agent"]).describe("Parent agent in a hierarchy."),
            member_ref("application", &["AgenticApplication"])
                .describe("Agentic application hosting this agent."),
            multi_complex("entitlements", AttributeDef::string("value"), &[], vec![]),
            multi_complex("roles", AttributeDef::string("value"), &[], vec![]),
            AttributeDef::complex(
                "groups",
                vec![
                    AttributeDef::string("value").mutability(Mutability::ReadOnly),
                    AttributeDef::reference("$ref", &["Group"]).mutability(Mutability::ReadOnly),
                    AttributeDef::string("display").mutability(Mutability::ReadOnly),
                ],
            )
            .multi()
            .mutability(Mutability::ReadOnly),
        ],
    )
}

/// The AgenticApplication schema of draft-abbey-scim-agent-extension-00.
#[must_use]
pub fn agentic_application_schema() -> Schema {
    Schema::new(
        AGENTIC_APPLICATION_SCHEMA,
        "AgenticApplication",
        "Application hosting one or more agents",
        vec![
            AttributeDef::string("name")
                .required()
                .uniqueness(Uniqueness::Server)
                .describe("Unique name of the application."),
            AttributeDef::string("displayName"),
            AttributeDef::string("description"),
            AttributeDef::boolean("active"),
            AttributeDef::reference("applicationUrl", &["external"]),
            owners(),
            member_ref("agents", &["Agent"])
                .multi()
                .mutability(Mutability::ReadOnly)
                .describe("Agents hosted by the application."),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        let u = user_schema();
        assert!(u.attribute("USERNAME").is_some());
        let emails = u.attribute("Emails").unwrap();
        assert!(emails.has_primary());
        assert!(emails.sub("VALUE").is_some());
    }

    #[test]
    fn schema_json_has_rfc_fields() {
        let j = user_schema().to_json("https://example.com/v2");
        assert_eq!(j["id"], USER_SCHEMA);
        assert_eq!(j["attributes"][0]["name"], "userName");
        assert_eq!(j["attributes"][0]["uniqueness"], "server");
        assert_eq!(
            j["meta"]["location"],
            "https://example.com/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
        );
    }
}
