//! `zkscim explain <log-index>`: who authorised an entry, under what scope, and what to revoke to
//! stop it. Reads the entry and its exact submitted bytes from the server and decodes them
//! locally; nothing the server says about the chain is taken on trust except the bytes.

use clap::Args;
use serde_json::{json, Value as Json};
use zkscim_proto::cert::Certificate;
use zkscim_proto::envelope::{self, Statement};
use zkscim_proto::log_entry::{EntryKind, LogEntry, Outcome};
use zkscim_proto::scope::{ResourceTypes, Scope};

use crate::client::Client;
use crate::output::{CliError, Output};

/// Explain one log entry: the signer's chain with labels and fingerprints, the scope it had, the
/// outcome, and which certificate to revoke to stop it.
///
/// Example: `zkscim explain 42 --tenant acme --server http://127.0.0.1:8422`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Log index of the entry.
    index: u64,
    /// Tenant whose log it is.
    #[arg(long, env = "ZKSCIM_TENANT")]
    tenant: String,
    /// Authority URL (else `server` in the config file, else http://127.0.0.1:8422).
    #[arg(long, env = "ZKSCIM_SERVER")]
    server: Option<String>,
}

fn scope_words(scope: &Scope) -> String {
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    let types = match &scope.resource_types {
        ResourceTypes::All => "all".to_owned(),
        ResourceTypes::Only(t) => list(t.iter().cloned().collect()),
    };
    format!(
        "operations: {}; resource types: {types}; attributes: {}; groups: {}; capabilities: {}",
        list(
            scope
                .operations
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect()
        ),
        list(scope.attributes.iter().map(ToString::to_string).collect()),
        scope
            .groups
            .as_ref()
            .map_or_else(|| "any".to_owned(), |g| list(g.iter().cloned().collect())),
        list(
            scope
                .capabilities
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect()
        ),
    )
}

fn cert_json(c: &Certificate) -> Json {
    json!({
        "id": c.id().to_hex(),
        "label": c.claims().label,
        "subject_fingerprint": c.claims().subject.key_id().short(),
        "issuer_fingerprint": c.claims().issuer.short(),
        "not_before": c.claims().not_before,
        "expires": c.claims().expires,
        "depth": c.claims().depth,
        "scope": scope_words(&c.claims().scope),
    })
}

pub fn run(args: ExplainArgs, out: &Output) -> Result<(), CliError> {
    let server = match args.server {
        Some(s) => s,
        None => crate::config::Config::load()?
            .server
            .unwrap_or_else(|| "http://127.0.0.1:8422".to_owned()),
    };
    let client = Client::new(&server);
    let tenant = &args.tenant;
    let page = client.get_json(
        &format!(
            "/v1/tenants/{tenant}/log/entries?start={}&end={}",
            args.index,
            args.index + 1
        ),
        None,
    )?;
    let row = page
        .get("entries")
        .and_then(Json::as_array)
        .and_then(|e| e.first())
        .ok_or_else(|| {
            CliError::new(
                "explain.no_entry",
                format!("tenant '{tenant}' has no log entry {}", args.index),
            )
            .hint("see the log size with: curl <server>/v1/tenants/<tenant>/log/checkpoint")
            .input()
        })?;
    let bytes =
        hex::decode(row.get("entry").and_then(Json::as_str).unwrap_or_default()).map_err(|_| {
            CliError::new(
                "explain.bad_entry",
                "the server sent an entry that is not hex",
            )
        })?;
    let entry = LogEntry::from_bytes(&bytes).map_err(|e| CliError::new(e.code(), e))?;
    let submitted = client.get_bytes(&format!(
        "/v1/tenants/{tenant}/log/submitted/{}",
        hex::encode(entry.submitted_hash)
    ))?;
    if zkscim_proto::log_entry::submitted_hash_of(&submitted) != entry.submitted_hash {
        return Err(CliError::new(
            "explain.submitted_mismatch",
            "the server's submitted bytes do not match the entry's hash",
        )
        .hint("the server is misbehaving: run `zkscim audit` and keep the evidence"));
    }
    let outcome = match &entry.outcome {
        Outcome::Applied { version } => format!(
            "applied{}",
            version
                .as_ref()
                .map(|v| format!(" → version {v}"))
                .unwrap_or_default()
        ),
        Outcome::Refused { code, detail } => format!("REFUSED {code}: {detail}"),
    };
    let mut lines = vec![
        format!(
            "entry {} of tenant '{}', {:?}, {}",
            entry.seq,
            entry.tenant,
            entry.kind,
            zkscim_rules::rfc3339(entry.time)
        ),
        format!("outcome: {outcome}"),
    ];
    let mut value = serde_json::Map::new();
    value.insert("index".into(), json!(entry.seq));
    value.insert("kind".into(), json!(format!("{:?}", entry.kind)));
    value.insert("time".into(), json!(entry.time));
    value.insert("outcome".into(), json!(outcome));
    if entry.kind == EntryKind::Certificate {
        let cert = Certificate::parse(&submitted).map_err(|e| CliError::new(e.code(), e))?;
        lines.push(format!(
            "first sighting of certificate '{}' ({}) for key {}",
            cert.claims().label,
            cert.id().short(),
            cert.claims().subject.key_id().short()
        ));
        lines.push(format!("it allows: {}", scope_words(&cert.claims().scope)));
        lines.push(format!("to stop it: zkscim revoke {}", cert.id().to_hex()));
        value.insert("certificate".into(), cert_json(&cert));
        out.result(&lines.join("\n"), &Json::Object(value));
        return Ok(());
    }
    let statement = envelope::parse_any(&submitted).map_err(|e| CliError::new(e.code(), e))?;
    let header = statement.header().clone();
    let what = match &statement {
        Statement::Operation(s) => format!(
            "{} {} {}",
            s.body().operation(),
            s.body().resource_type,
            s.body().resource_id
        ),
        Statement::Revocation(s) => format!("revoke certificate {}", s.body().target.to_hex()),
        Statement::Policy(s) => {
            format!("tenant policy update: {}", policy_words(&s.body().document))
        }
        Statement::Genesis(g) => format!(
            "tenant genesis with root key {}",
            g.body().root.key_id().short()
        ),
        Statement::Approval(a) => format!(
            "approval of the statement whose SHA-256 is {}",
            hex::encode(a.body().approves)
        ),
        Statement::ReadRequest(_) => "read request".to_owned(),
    };
    lines.push(format!("statement: {what}"));
    lines.push(format!("signed by key {}", statement_signer(&statement)));
    if header.chain.is_empty() {
        lines.push("authorised by: the tenant root key itself (no delegation)".to_owned());
    } else {
        lines.push("authorised by the chain (root-signed first):".to_owned());
        for (i, c) in header.chain.iter().enumerate() {
            lines.push(format!(
                "  {i}. '{}' cert {} → key {} (issued by {})",
                c.claims().label,
                c.id().short(),
                c.claims().subject.key_id().short(),
                if i == 0 {
                    "the tenant root".to_owned()
                } else {
                    c.claims().issuer.short()
                }
            ));
        }
        if let Some(leaf) = header.chain.last() {
            lines.push(format!(
                "what the signer's certificate allowed: {}",
                scope_words(&leaf.claims().scope)
            ));
            lines.push(format!(
                "to stop this key:          zkscim revoke {}",
                leaf.id().to_hex()
            ));
            if header.chain.len() > 1 {
                if let Some(parent) = header.chain.get(header.chain.len() - 2) {
                    lines.push(format!(
                        "to stop its whole branch:  zkscim revoke {}  ('{}')",
                        parent.id().to_hex(),
                        parent.claims().label
                    ));
                }
            }
        }
    }
    value.insert("statement".into(), json!(what));
    value.insert(
        "chain".into(),
        Json::Array(header.chain.iter().map(cert_json).collect()),
    );
    out.result(&lines.join("\n"), &Json::Object(value));
    Ok(())
}

/// What a policy document sets, in words (or why it does not decode: the log records the
/// refusal then).
fn policy_words(document: &zkscim_proto::codec::Value) -> String {
    match zkscim_proto::policy::TenantPolicy::from_cbor(document) {
        Ok(p) => crate::policy::describe(&p),
        Err(e) => format!("an invalid document ({e})"),
    }
}

fn statement_signer(statement: &Statement) -> String {
    let kid = match statement {
        Statement::Operation(s) => s.sign1().kid,
        Statement::Revocation(s) => s.sign1().kid,
        Statement::Policy(s) => s.sign1().kid,
        Statement::ReadRequest(s) => s.sign1().kid,
        Statement::Genesis(s) => s.sign1().kid,
        Statement::Approval(s) => s.sign1().kid,
    };
    kid.short()
}
