//! The compact log check the quickstart runs: the server's export audited by the independent
//! auditor (`zkscim-audit`, every stage, verdicts re-derived), and the replayed directory digest
//! compared with the server's. `zkscim audit verify` is the full command around the same auditor.

use serde_json::Value as Json;
use zkscim_audit::verdicts::RulesChecker;
use zkscim_audit::{Auditor, TrustAnchors};
use zkscim_proto::keys::PublicKey;
use zkscim_proto::note::VerifierKey;
use zkscim_rules::Settings;

use crate::client::Client;
use crate::output::CliError;

/// What a clean verification established.
#[derive(Debug, Clone)]
pub struct LogReport {
    /// Entries verified.
    pub entries: u64,
    /// Replayed directory digest (hex), equal to the server's.
    pub digest: String,
}

/// Verifies `tenant`'s log served by `client`, trusting `root` and the log key.
pub fn verify_log(
    client: &Client,
    tenant: &str,
    log_key_text: &str,
    root: &PublicKey,
) -> Result<LogReport, CliError> {
    let log_key =
        VerifierKey::parse(log_key_text.trim()).map_err(|e| CliError::new(e.code(), e))?;
    let auditor = Auditor::new(TrustAnchors {
        root_key: *root,
        log_key,
        witness_keys: Vec::new(),
    })
    .map_err(|e| CliError::new("audit.anchors", e))?
    .with_pipeline(true);
    let server = client.get_json(&format!("/v1/tenants/{tenant}/digest"), None)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(
        server
            .get("digest")
            .and_then(Json::as_str)
            .unwrap_or_default(),
        &mut expected,
    )
    .map_err(|_| {
        CliError::new(
            "server.bad_answer",
            "the server's directory digest is not 64 hex digits",
        )
    })?;
    let export = client.get_bytes_limited(&format!("/v1/tenants/{tenant}/log/export"), 1 << 30)?;
    let mut checker = RulesChecker::new(*root, Settings::default(), Some(expected));
    let report = auditor
        .audit_export(export.as_slice(), Some(&mut checker), &mut |_| {})
        .map_err(|e| CliError::new("audit.failed", e))?;
    if let Some(f) = report.findings.first() {
        return Err(CliError::new(
            "audit.finding",
            format!(
                "log entry {}: {}: expected {}, found {}",
                f.index.map_or_else(|| "-".to_owned(), |i| i.to_string()),
                f.code,
                f.expected,
                f.found
            ),
        )
        .hint("the log does not verify: keep the evidence and run `zkscim audit verify` for the full report"));
    }
    Ok(LogReport {
        entries: report.tree_size,
        digest: checker
            .summary()
            .directory_digest
            .clone()
            .unwrap_or_default(),
    })
}
