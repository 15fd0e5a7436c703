//! SCIM 2.0 engine (RFC 7643 / RFC 7644) shared by the authority and the tenant gateway.
//!
//! Owns: schemas and resource types, attribute characteristics, the filter grammar and its
//! evaluation, PATCH paths and their application, projection, sorting, pagination and the SCIM
//! error model. Must never: perform I/O, spawn tasks, read clocks, or decrypt anything.
#![forbid(unsafe_code)]

pub mod datetime;
pub mod discovery;
pub mod error;
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
    apply_patch, parse_patch, patch_members_delta, patch_resource, touched_paths, MembersDelta,
    MembershipPlan, PatchLimits, PatchOpKind, PatchOperation, PatchOutcome, ResolvedPath,
    TouchedPath,
};
pub use path::{AttrPath, ResolvedAttr};
pub use project::{parse_attribute_list, project, AttrSelector};
pub use protection::{Protection, ProtectionProfile};
pub use resource_type::{AttrRef, ResourceSchema, ResourceType, SchemaExtension, SchemaRegistry};
pub use schema::{AttrType, AttributeDef, Mutability, Returned, Schema, Uniqueness};
pub use validate::{check_resource, validate_create, validate_replace, WriteMode};
