//! `zkscim get` and `zkscim list`: signed reads, unsealed locally.
//!
//! Each request carries `Authorization: ZKSCIM <base64url(read request)>`, a read request signed
//! under the signer's chain for the exact method and path-and-query sent. Every `zk1.` value of
//! the answer is opened with the tenant secret for (tenant, resource type, resource id,
//! normalised attribute path; a multi-valued complex value uses the parent path, e.g.
//! `emails.value`). `--filter` `eq` comparisons on sealed + indexed attributes are rewritten to
//! their blind-index tokens before sending; other comparisons on sealed attributes are refused
//! here, since the server could not evaluate them.

use base64::Engine as _;
use clap::Args;
use serde_json::{Map, Value as Json};
use zkscim_proto::envelope::{Envelope, ReadRequest};
use zkscim_proto::seal::{self, classify, normalize_attribute_path, SealContext, ValueClass};
use zkscim_scim::{
    AttrPath, AttrType, CompValue, CompareOp, Filter, Protection, ProtectionProfile,
    ResourceSchema, SchemaRegistry,
};

use crate::client::Client;
use crate::config::{Config, SignerArgs};
use crate::output::{CliError, Output};
use crate::signer::{self, Signer};

/// Read one resource and unseal it locally.
///
/// Example: `zkscim get User 2819c223-7f76-453a-919d-413861904646 --tenant-dir ./acme --key
/// admin.pem --chain admin.chain`
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Resource type (User, Group, Agent, AgenticApplication) or its endpoint (Users, …).
    resource_type: String,
    /// Resource id.
    id: String,
    #[command(flatten)]
    signer: SignerArgs,
}

/// List resources (optionally filtered) and unseal them locally.
///
/// Example: `zkscim list User --filter 'userName eq "alice@example.com"' --tenant-dir ./acme
/// --key admin.pem --chain admin.chain`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Resource type (User, Group, Agent, AgenticApplication) or its endpoint (Users, …).
    resource_type: String,
    /// SCIM filter; `eq` on sealed + indexed attributes (userName, externalId, displayName by
    /// default) is sent as a blind-index comparison. Clear attributes filter as usual.
    #[arg(long)]
    filter: Option<String>,
    /// Attributes to return, comma-separated (e.g. `userName,active`).
    #[arg(long)]
    attributes: Option<String>,
    /// Page size.
    #[arg(long)]
    count: Option<u64>,
    /// 1-based index of the first result.
    #[arg(long)]
    start_index: Option<u64>,
    #[command(flatten)]
    signer: SignerArgs,
}

struct Reader {
    signer: Signer,
    secret: seal::TenantSecret,
    client: Client,
    schema: ResourceSchema,
    endpoint: String,
}

fn reader(args: SignerArgs, resource_type: &str) -> Result<Reader, CliError> {
    let cfg = Config::load()?;
    let resolved = args.resolve(&cfg)?;
    let s = signer::load(&resolved)?;
    let server = signer::server(&resolved, &s.tenant).ok_or_else(|| signer::no_server(&cfg))?;
    let registry = SchemaRegistry::with_builtins();
    let rt = registry
        .resource_types()
        .iter()
        .find(|rt| {
            rt.name.eq_ignore_ascii_case(resource_type)
                || rt
                    .endpoint
                    .trim_start_matches('/')
                    .eq_ignore_ascii_case(resource_type)
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<String> = registry
                .resource_types()
                .iter()
                .map(|r| r.name.clone())
                .collect();
            CliError::new(
                "read.resource_type",
                format!("unknown resource type {resource_type:?}"),
            )
            .hint(format!("one of: {}", names.join(", ")))
            .input()
        })?;
    let schema = registry
        .resource_schema(&rt.name)
        .map_err(|e| CliError::new("read.resource_type", format!("{}: {e}", rt.name)).input())?;
    s.verified
        .scope
        .check_action(zkscim_proto::scope::Operation::Read, &rt.name, "", &[])
        .map_err(|e| {
            CliError::new(e.code(), format!("the signer may not read {}: {e}", rt.name)).hint(
                "reads need `read` and the resource type in the chain's scope: sign with another --key/--chain, or issue one with `--ops read`",
            )
        })?;
    let secret = s.tenant.secret()?;
    Ok(Reader {
        signer: s,
        secret,
        client: Client::new(&server),
        schema,
        endpoint: rt.endpoint.trim_start_matches('/').to_owned(),
    })
}

impl Reader {
    fn rtype(&self) -> &str {
        &self.schema.resource_type.name
    }

    fn get(&self, path: &str) -> Result<Json, CliError> {
        let s = &self.signer;
        let read = Envelope::new(
            s.header(),
            ReadRequest {
                method: "GET".into(),
                path_and_query: path.to_owned(),
                body_sha256: None,
            },
        );
        read.validate().map_err(|e| {
            CliError::new(e.code(), format!("cannot sign this read: {e}"))
                .hint("the request path is at most 8192 bytes")
                .input()
        })?;
        let auth = format!(
            "ZKSCIM {}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(read.sign(&s.key))
        );
        self.client.get_json(path, Some(&auth)).map_err(|e| {
            let hint = crate::remote::hint_for(&e.code);
            e.hint(hint)
        })
    }

    /// Opens every sealed value of `resource` in place; returns the paths that did not open.
    fn unseal(&self, resource: &mut Json) -> Vec<String> {
        let id = resource
            .get("id")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut failed = Vec::new();
        let mut u = Unsealer {
            secret: &self.secret,
            tenant: &self.signer.tenant.tenant,
            resource_type: self.rtype(),
            id: &id,
            failed: &mut failed,
        };
        if let Json::Object(map) = resource {
            u.top(map);
        }
        failed
    }
}

struct Unsealer<'a> {
    secret: &'a seal::TenantSecret,
    tenant: &'a str,
    resource_type: &'a str,
    id: &'a str,
    failed: &'a mut Vec<String>,
}

impl Unsealer<'_> {
    fn top(&mut self, map: &mut Map<String, Json>) {
        for (k, v) in map.iter_mut() {
            if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("meta") {
                continue;
            }
            match v {
                Json::Object(ext)
                    if k.to_ascii_lowercase().starts_with("urn:")
                        && !crate::op::is_attribute_urn(k) =>
                {
                    for (attr, v) in ext.iter_mut() {
                        self.walk(v, &format!("{k}:{attr}"));
                    }
                }
                _ => self.walk(v, k),
            }
        }
    }

    fn walk(&mut self, value: &mut Json, path: &str) {
        match value {
            Json::String(s) if classify(s) == ValueClass::Sealed => {
                let opened = normalize_attribute_path(path).ok().and_then(|norm| {
                    let ctx = SealContext {
                        tenant: self.tenant,
                        resource_type: self.resource_type,
                        resource_id: self.id,
                        attribute_path: &norm,
                    };
                    seal::open(self.secret, &ctx, s).ok()
                });
                match opened {
                    Some(clear) => *s = clear.as_str().to_owned(),
                    None => self.failed.push(format!("{} {}", self.id, path)),
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|i| self.walk(i, path)),
            Json::Object(map) => map
                .iter_mut()
                .for_each(|(k, v)| self.walk(v, &format!("{path}.{k}"))),
            _ => {}
        }
    }
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unseal_failed(failed: &[String]) -> CliError {
    CliError::new(
        "read.unseal_failed",
        format!(
            "{} sealed value(s) did not open with this tenant's secret: {}",
            failed.len(),
            failed.join(", ")
        ),
    )
    .hint("the value was altered, moved to another resource or attribute, or sealed under another secret: check tenant.secret, and audit the log (`zkscim explain`)")
}

fn print(out: &Output, doc: &Json) {
    // SCIM JSON in both modes: it is the result.
    out.result(&serde_json::to_string_pretty(doc).unwrap_or_default(), doc);
}

pub fn get(a: GetArgs, out: &Output) -> Result<(), CliError> {
    let r = reader(a.signer, &a.resource_type)?;
    if !zkscim_proto::envelope::is_canonical_uuid(&a.id.to_ascii_lowercase()) {
        return Err(
            CliError::new("read.id", format!("resource id {:?} is not a UUID", a.id))
                .hint("find ids with `zkscim list <Type>`")
                .input(),
        );
    }
    let path = format!(
        "/scim/v2/{}/{}/{}",
        r.signer.tenant.tenant,
        r.endpoint,
        a.id.to_ascii_lowercase()
    );
    let mut doc = r.get(&path)?;
    let failed = r.unseal(&mut doc);
    print(out, &doc);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(unseal_failed(&failed))
    }
}

pub fn list(a: ListArgs, out: &Output) -> Result<(), CliError> {
    let r = reader(a.signer, &a.resource_type)?;
    let mut query = Vec::new();
    if let Some(f) = &a.filter {
        let translated = translate_filter(f, &r)?;
        query.push(format!("filter={}", encode(&translated)));
    }
    if let Some(attrs) = &a.attributes {
        query.push(format!("attributes={}", encode(attrs)));
    }
    if let Some(i) = a.start_index {
        query.push(format!("startIndex={i}"));
    }
    if let Some(c) = a.count {
        query.push(format!("count={c}"));
    }
    let mut path = format!("/scim/v2/{}/{}", r.signer.tenant.tenant, r.endpoint);
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let mut doc = r.get(&path)?;
    let mut failed = Vec::new();
    if let Some(Json::Array(resources)) = doc.get_mut("Resources") {
        for res in resources.iter_mut() {
            failed.extend(r.unseal(res));
        }
    }
    print(out, &doc);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(unseal_failed(&failed))
    }
}

fn filter_error(message: String, hint: &str) -> CliError {
    CliError::new("read.filter", message).hint(hint).input()
}

/// Parses a filter, rewrites `eq` on sealed + indexed attributes to blind-index tokens, and
/// refuses any other use of a sealed attribute.
fn translate_filter(text: &str, r: &Reader) -> Result<String, CliError> {
    let filter = Filter::parse(text).map_err(|e| {
        filter_error(
            format!("invalid --filter: {e}"),
            "SCIM filter syntax, e.g. 'userName eq \"alice@example.com\"' or 'active eq true'",
        )
    })?;
    let profile = r.signer.tenant.profile()?;
    let scim_profile = zkscim_rules::scim_profile(&profile, &r.schema);
    let t = Translator {
        r,
        profile: &scim_profile,
        secret: &r.secret,
    };
    let out = t.rewrite(filter, None)?;
    Ok(out.to_string())
}

struct Translator<'a> {
    r: &'a Reader,
    profile: &'a ProtectionProfile,
    secret: &'a seal::TenantSecret,
}

const SEALED_HINT: &str = "only `eq` on sealed + indexed attributes (userName, externalId, displayName by default) can be searched; list without that condition and filter the unsealed output locally (e.g. with jq)";

impl Translator<'_> {
    fn rewrite(&self, f: Filter, parent: Option<&AttrPath>) -> Result<Filter, CliError> {
        Ok(match f {
            Filter::And(a, b) => Filter::and(self.rewrite(*a, parent)?, self.rewrite(*b, parent)?),
            Filter::Or(a, b) => Filter::or(self.rewrite(*a, parent)?, self.rewrite(*b, parent)?),
            Filter::Not(a) => Filter::negate(self.rewrite(*a, parent)?),
            Filter::ValuePath { path, filter } => Filter::ValuePath {
                filter: Box::new(self.rewrite(*filter, Some(&path))?),
                path,
            },
            Filter::Present { path } => {
                let (protection, shown, _) = self.classify(&path, parent)?;
                if protection != Protection::Clear {
                    return Err(filter_error(
                        format!(
                            "attribute {shown} is sealed: `pr` cannot be evaluated by the server"
                        ),
                        SEALED_HINT,
                    ));
                }
                Filter::Present { path }
            }
            Filter::Compare { path, op, value } => {
                let (protection, shown, norm) = self.classify(&path, parent)?;
                match protection {
                    Protection::Clear => Filter::Compare { path, op, value },
                    Protection::Sealed => {
                        return Err(filter_error(
                            format!("attribute {shown} is sealed without a blind index: it cannot be searched"),
                            SEALED_HINT,
                        ))
                    }
                    Protection::SealedIndexed => {
                        if op != CompareOp::Eq {
                            return Err(filter_error(
                                format!(
                                    "operator `{}` on sealed attribute {shown}: only `eq` can be evaluated on blind indexes",
                                    op.as_str()
                                ),
                                SEALED_HINT,
                            ));
                        }
                        let CompValue::Str(clear) = &value else {
                            return Err(filter_error(
                                format!("attribute {shown} compares strings; got {value}"),
                                "quote the value, e.g. userName eq \"alice@example.com\"",
                            ));
                        };
                        let token = if classify(clear) == ValueClass::Index {
                            clear.clone()
                        } else {
                            seal::blind_index(
                                self.secret,
                                &self.r.signer.tenant.tenant,
                                self.r.rtype(),
                                &norm,
                                crate::op::case_exact(&norm),
                                clear,
                            )
                            .map_err(|e| CliError::new(e.code(), format!("{shown}: {e}")).input())?
                        };
                        Filter::Compare {
                            path,
                            op,
                            value: CompValue::Str(token),
                        }
                    }
                }
            }
        })
    }

    /// The protection of a filter's attribute, its display name and its normalised path.
    fn classify(
        &self,
        path: &AttrPath,
        parent: Option<&AttrPath>,
    ) -> Result<(Protection, String, String), CliError> {
        let full = path.under(parent);
        let resolved = self.r.schema.resolve(&full).map_err(|e| {
            filter_error(
                format!("--filter: {e}"),
                "use attribute names of the resource type's schema (e.g. userName, name.familyName, emails.value)",
            )
        })?;
        let mut sub = resolved.sub;
        if sub.is_none() && resolved.attr.attr_type == AttrType::Complex {
            // `emails eq "x"` compares the `value` sub-attribute.
            sub = resolved.attr.sub("value");
        }
        let protection = self.profile.protection_of(
            resolved.schema,
            &resolved.attr.name,
            sub.map(|s| s.name.as_str()),
        );
        let qualified = match sub {
            Some(s) => format!("{}:{}.{}", resolved.schema, resolved.attr.name, s.name),
            None => format!("{}:{}", resolved.schema, resolved.attr.name),
        };
        let norm = normalize_attribute_path(&qualified)
            .map_err(|e| filter_error(format!("--filter: {e}"), "check the attribute path"))?;
        Ok((protection, full.to_string(), norm))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encoding() {
        assert_eq!(
            super::encode("userName eq \"zkx1.A-_\""),
            "userName%20eq%20%22zkx1.A-_%22"
        );
    }
}
