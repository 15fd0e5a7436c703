//! Writing a tenant's log as an export file (`spec/export.md`): every entry with the exact bytes
//! it records, then the latest signed checkpoint. Streams page by page, so memory stays flat.

use std::io::Write;

use zkscim_proto::export::{ExportError, ExportWriter, Header};
use zkscim_proto::keys::PublicKey;

use crate::store::{Reader, StoreError};

/// Entries read from the store per page.
const PAGE: u64 = 1000;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// The store failed, or holds something inconsistent.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The tenant has no log.
    #[error("tenant '{0}' has no log")]
    NoLog(String),
}

/// Writes `tenant`'s whole log to `out`. `log_key` is the log's verifier key text, recorded in
/// the header for information (auditors use the key they trust, never this one).
pub fn write_export<W: Write>(
    reader: &Reader,
    tenant: &str,
    origin: &str,
    log_key: &str,
    out: W,
) -> Result<(W, u64), ExportFailure> {
    let head = reader
        .head(tenant)?
        .ok_or_else(|| ExportFailure::NoLog(tenant.to_owned()))?;
    let root = reader
        .tenants()?
        .into_iter()
        .find(|t| t.tenant == tenant)
        .and_then(|t| PublicKey::from_bytes(&t.root_key).ok())
        .map(|k| k.to_text())
        .unwrap_or_default();
    let header = Header {
        tenant: tenant.to_owned(),
        origin: origin.to_owned(),
        log_key: log_key.to_owned(),
        root_key: root,
        first_seq: 0,
        count: head.size,
    };
    let mut writer = ExportWriter::new(out, &header)?;
    let mut start = 0;
    while start < head.size {
        let end = head.size.min(start + PAGE);
        let rows = reader.entries(tenant, start, end)?;
        if rows.len() as u64 != end - start {
            return Err(
                StoreError::Corrupt(format!("entries {start}..{end} are incomplete")).into(),
            );
        }
        for row in rows {
            let submitted = reader
                .submitted(tenant, &row.submitted_hash)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("submitted bytes of entry {} are missing", row.seq))
                })?;
            writer.write_entry(row.seq, &row.entry, &submitted)?;
        }
        start = end;
    }
    let cosignatures = reader.cosignatures(tenant, head.size)?;
    writer.write_checkpoint(&head.checkpoint, &cosignatures)?;
    Ok((writer.finish()?, head.size))
}
