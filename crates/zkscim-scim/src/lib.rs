//! SCIM 2.0 engine (RFC 7643 / RFC 7644) shared by the authority and the tenant gateway.
//!
//! Owns: schemas and resource types, attribute characteristics, the filter grammar and its
//! evaluation, PATCH paths and their application, projection, sorting, pagination and the SCIM
//! error model. Must never: perform I/O, spawn tasks, read clocks, or decrypt anything.
//!
//! # Overview
//!
//! * [`schema`], [`resource_type`]: attribute definitions with their characteristics, the
//!   built-in User / Group / EnterpriseUser / Agent / AgenticApplication schemas, the
//!   [`SchemaRegistry`] and the per-type [`ResourceSchema`] every operation takes.
//! * [`validate`]: POST / PUT validation and normalisation.
//! * [`filter`], [`path`]: the RFC 7644 filter language (AST, parser, printer, checks,
//!   evaluation) and attribute paths.
//! * [`patch`]: PATCH parsing with identity-provider dialect normalisation, atomic
//!   application, touched-path derivation and membership deltas for large groups.
//! * [`project`](mod@project), [`list`]: `attributes`/`excludedAttributes`, sorting, index and cursor
//!   pagination, ListResponse.
//! * [`protection`]: sealed / blind-indexed attributes and the filter and sort rules they imply.
//! * [`discovery`]: ServiceProviderConfig, ResourceTypes, Schemas.
//! * [`error`]: [`ScimError`], the RFC 7644 §3.12 error model; [`etag`]: version preconditions.
//!
//! The profile (dialects, sealed-value rules, error table) is documented in `spec/scim.md`.
//!
//! ```
//! use serde_json::json;
//! use zkscim_scim::{patch_resource, Filter, ProtectionProfile, SchemaRegistry};
//!
//! let reg = SchemaRegistry::with_builtins();
//! let users = reg.resource_schema("User")?;
//! let prot = ProtectionProfile::clear();
//! let mut user = zkscim_scim::validate_create(
//!     &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen"}),
//!     &users,
//!     &prot,
//! )?;
//! // Entra ID style PATCH: capitalised op, boolean as string.
//! patch_resource(
//!     &mut user,
//!     &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!             "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
//!     &users,
//!     &prot,
//! )?;
//! let f = Filter::parse("userName eq \"BJENSEN\" and active eq false")?;
//! f.check(&users, &prot)?;
//! assert!(f.matches(&user, &users));
//! # Ok::<(), zkscim_scim::ScimError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod datetime;
pub mod discovery;
pub mod error;
pub mod etag;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod project;
pub mod protection;
pub mod resource_type;
pub mod schema;
pub mod validate;

pub use discovery::{
    resource_type_document, resource_types_document, schema_document, schemas_document,
    ServiceProviderConfig,
};
pub use error::{ScimError, ScimResult};
pub use filter::{CompValue, CompareOp, Filter, FilterLimits};
pub use list::{
    parse_list_query, parse_search_request, run_query, sort_resources, ListConfig, ListQuery,
    ListResponse, Pagination, SortOrder,
};
pub use patch::{
    apply_patch, apply_patch_with, parse_patch, patch_members_delta, patch_resource, touched_paths,
    ApplyOptions, MembersDelta, MembershipPlan, PatchLimits, PatchOpKind, PatchOperation,
    PatchOutcome, PresenceIndex, ResolvedPath, TouchedPath,
};
pub use path::{AttrPath, ResolvedAttr};
pub use project::{parse_attribute_list, project, AttrSelector};
pub use protection::{Protection, ProtectionProfile};
pub use resource_type::{AttrRef, ResourceSchema, ResourceType, SchemaExtension, SchemaRegistry};
pub use schema::{AttrType, AttributeDef, Mutability, Returned, Schema, Uniqueness};
pub use validate::{check_resource, validate_create, validate_replace, WriteMode};
