//! Readable scope flags (`--ops create,patch --types User --attrs 'active,name.*'`) and scopes
//! described in words and JSON.

use clap::Args;
use zkscim_proto::scope::{ResourceTypes, Scope, ScopeBuilder};

use crate::output::CliError;

/// What a new certificate allows. Every dimension must fit inside the parent's.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Operations: create, replace, patch, delete, read (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub ops: Vec<String>,
    /// Resource types such as User, Group, Agent, or `*` for all (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub types: Vec<String>,
    /// Writable attribute patterns: `active`, `name.*`, `urn:…:User:*`, `members`, `*`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub attrs: Vec<String>,
    /// Only these group ids' membership may change (default: any group the parent allows).
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// Capabilities: delegate, revoke, reactivate, policy, break_glass (comma-separated).
    #[arg(long = "cap", value_delimiter = ',')]
    pub capabilities: Vec<String>,
}

impl ScopeArgs {
    /// Builds and validates the scope.
    pub fn build(&self) -> Result<Scope, CliError> {
        let mut builder = ScopeBuilder::new()
            .operations(self.ops.iter().map(|s| s.trim()))
            .resource_types(self.types.iter().map(|s| s.trim()))
            .attributes(self.attrs.iter().map(|s| s.trim()))
            .capabilities(self.capabilities.iter().map(|s| s.trim()));
        if let Some(groups) = &self.groups {
            builder = builder.groups(groups.iter().map(|s| s.trim()));
        }
        builder.build().map_err(|e| {
            CliError::new(e.code(), format!("invalid scope: {e}"))
                .hint("see `zkscim cert issue --help` for the accepted names and patterns")
                .input()
        })
    }
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The scope in words, one line per dimension, each prefixed by `indent`.
pub fn describe(scope: &Scope, indent: &str) -> String {
    let types = match &scope.resource_types {
        ResourceTypes::All => "every resource type".to_owned(),
        ResourceTypes::Only(set) => join(set),
    };
    let attrs = if scope
        .attributes
        .iter()
        .any(|p| matches!(p, zkscim_proto::scope::PathPattern::All))
    {
        "every attribute".to_owned()
    } else {
        // A pattern covers the attribute and everything beneath it; say so once.
        format!("{} (each with its sub-attributes)", join(&scope.attributes))
    };
    let groups = match &scope.groups {
        None => "membership of any group (if `members` is writable)".to_owned(),
        Some(g) => format!("membership of only: {}", join(g)),
    };
    format!(
        "{indent}operations:   {}\n{indent}on:           {types}\n{indent}attributes:   {attrs}\n{indent}groups:       {groups}\n{indent}capabilities: {}",
        join(&scope.operations),
        join(&scope.capabilities)
    )
}

/// The scope as JSON: lists of names, `"*"` for all resource types, `null` for any group.
pub fn to_json(scope: &Scope) -> serde_json::Value {
    let strings = |it: Vec<String>| serde_json::Value::from(it);
    serde_json::json!({
        "operations": strings(scope.operations.iter().map(ToString::to_string).collect()),
        "resource_types": match &scope.resource_types {
            ResourceTypes::All => serde_json::Value::from("*"),
            ResourceTypes::Only(set) => strings(set.iter().cloned().collect()),
        },
        "attributes": strings(scope.attributes.iter().map(ToString::to_string).collect()),
        "groups": scope.groups.as_ref().map(|g| g.iter().cloned().collect::<Vec<_>>()),
        "capabilities": strings(scope.capabilities.iter().map(ToString::to_string).collect()),
    })
}
