//! Client-side verification of a tenant's whole log over HTTP: hash chain, Merkle root against
//! the signed checkpoint, every verdict re-derived by replay, and the replayed directory against
//! the server's digest. (The full offline auditor, with findings and incremental state, is
//! `zkscim audit`; this is the compact check the quickstart runs.)

use serde_json::Value as Json;
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::keys::PublicKey;
use zkscim_proto::log_entry::LogEntry;
use zkscim_proto::merkle::{self, Frontier};
use zkscim_proto::note::{NoteVerifier, VerifierKey};
use zkscim_rules::replay::Replayer;
use zkscim_rules::Settings;
use zkscim_scim::SchemaRegistry;

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

fn finding(index: u64, what: impl std::fmt::Display) -> CliError {
    CliError::new("audit.finding", format!("log entry {index}: {what}")).hint(
        "the log does not verify: keep the evidence and run `zkscim audit` for the full report",
    )
}

/// Verifies `tenant`'s log served by `client`, trusting `root` and the log key.
pub fn verify_log(
    client: &Client,
    tenant: &str,
    log_key_text: &str,
    root: &PublicKey,
    registry: &SchemaRegistry,
) -> Result<LogReport, CliError> {
    let key = VerifierKey::parse(log_key_text.trim()).map_err(|e| CliError::new(e.code(), e))?;
    let verifier = NoteVerifier::new(vec![key]).map_err(|e| CliError::new(e.code(), e))?;
    let note = client.get_text(&format!("/v1/tenants/{tenant}/log/checkpoint"))?;
    let (checkpoint, _) =
        Checkpoint::open(&note, &verifier).map_err(|e| CliError::new(e.code(), e))?;
    let size = checkpoint.size();
    let mut frontier = Frontier::new();
    let mut previous: Option<LogEntry> = None;
    let mut replayer = Replayer::new(tenant, *root, Settings::default(), registry.clone());
    let mut start = 0;
    while start < size {
        let page = client.get_json(
            &format!("/v1/tenants/{tenant}/log/entries?start={start}&end={size}"),
            None,
        )?;
        let rows = page
            .get("entries")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if rows.is_empty() {
            return Err(finding(
                start,
                "the server returned no entries below the checkpoint's size",
            ));
        }
        for row in rows {
            let index = start;
            let bytes = hex::decode(row.get("entry").and_then(Json::as_str).unwrap_or_default())
                .map_err(|_| finding(index, "entry is not hex"))?;
            let entry = LogEntry::from_bytes(&bytes).map_err(|e| finding(index, e))?;
            if entry.seq != index || entry.tenant != tenant {
                return Err(finding(
                    index,
                    format!("entry says seq {} tenant '{}'", entry.seq, entry.tenant),
                ));
            }
            match &previous {
                Some(prev) => entry.verify_link(prev).map_err(|e| finding(index, e))?,
                None if entry.prev_hash != zkscim_proto::log_entry::ZERO_HASH => {
                    return Err(finding(index, "the first entry does not start the chain"))
                }
                None => {}
            }
            frontier
                .append(merkle::leaf_hash(&bytes))
                .map_err(|e| finding(index, e))?;
            let submitted = client.get_bytes(&format!(
                "/v1/tenants/{tenant}/log/submitted/{}",
                hex::encode(entry.submitted_hash)
            ))?;
            replayer.replay(&entry, &submitted).map_err(|f| {
                finding(
                    index,
                    format!("{}: expected {}, found {}", f.code, f.expected, f.found),
                )
            })?;
            previous = Some(entry);
            start += 1;
        }
    }
    if frontier.root() != *checkpoint.root_hash() {
        return Err(finding(
            size,
            "the Merkle root of the entries differs from the signed checkpoint",
        ));
    }
    let digest = hex::encode(replayer.state().digest());
    let server = client.get_json(&format!("/v1/tenants/{tenant}/digest"), None)?;
    let server_digest = server
        .get("digest")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let server_size = server
        .get("treeSize")
        .and_then(Json::as_u64)
        .unwrap_or_default();
    if server_size == size && server_digest != digest {
        return Err(finding(
            size,
            format!("replayed directory digest {digest} differs from the server's {server_digest}"),
        ));
    }
    Ok(LogReport {
        entries: size,
        digest,
    })
}
