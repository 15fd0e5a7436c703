//! Certificate and chain files, and atomic writes.
//!
//! A certificate file holds one certificate; a chain file holds several, root-signed first. Both
//! are text: each certificate is the base64 of its exact COSE_Sign1 bytes between
//! `-----BEGIN ZKSCIM CERTIFICATE-----` and `-----END ZKSCIM CERTIFICATE-----` lines, so it can be
//! pasted into a ticket or a chat. Lines outside the blocks (the `# label …` comments the CLI
//! writes) are ignored. A file holding the raw COSE bytes of one certificate is accepted too.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zkscim_proto::cert::{Certificate, MAX_CHAIN_LEN};

use crate::output::CliError;

/// First line of an armored certificate.
pub const BEGIN: &str = "-----BEGIN ZKSCIM CERTIFICATE-----";
/// Last line of an armored certificate.
pub const END: &str = "-----END ZKSCIM CERTIFICATE-----";
/// Largest certificate or chain file read: a certificate is well under 64 KiB.
const MAX_CERT_FILE_BYTES: u64 = 1024 * 1024;
/// Largest JSON input read by `op`.
pub const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// The armored text of one certificate, preceded by a comment naming it.
pub fn armor(cert: &Certificate) -> String {
    let body = STANDARD.encode(cert.bytes());
    let mut out = format!(
        "# {} (id {}, tenant {})\n{BEGIN}\n",
        cert.claims().label,
        cert.id().short(),
        cert.claims().tenant
    );
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// The armored text of a chain.
pub fn armor_chain(chain: &[Certificate]) -> String {
    chain.iter().map(armor).collect()
}

/// Reads at most `max` bytes of `path` (`-` is stdin), refusing larger input.
pub fn read_limited(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let io = |e: std::io::Error| {
        CliError::new("file.io", format!("{}: {e}", path.display()))
            .hint(format!("check the path of the {what}"))
    };
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
    } else {
        fs::File::open(path)
            .map_err(io)?
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
    }
    if buf.len() as u64 > max {
        return Err(CliError::new(
            "file.too_large",
            format!("{} is larger than {max} bytes", path.display()),
        )
        .hint(format!("is this really a {what}?"))
        .input());
    }
    Ok(buf)
}

/// Reads a certificate or chain file (armored, or raw COSE bytes of one certificate).
pub fn read_certificates(path: &Path) -> Result<Vec<Certificate>, CliError> {
    let bytes = read_limited(path, MAX_CERT_FILE_BYTES, "certificate file")?;
    let shown = path.display().to_string();
    let blobs = decode_blobs(&bytes, &shown)?;
    if blobs.len() > MAX_CHAIN_LEN {
        return Err(CliError::new(
            "cert.file.too_long",
            format!(
                "{shown} holds {} certificates, more than the {MAX_CHAIN_LEN} a chain may have",
                blobs.len()
            ),
        )
        .input());
    }
    blobs
        .iter()
        .enumerate()
        .map(|(i, blob)| {
            Certificate::parse(blob).map_err(|e| {
                CliError::new(
                    e.code(),
                    format!("{shown}: certificate {i} is not a valid certificate: {e}"),
                )
                .hint("the file is damaged or was altered; get a fresh copy from its issuer")
                .input()
            })
        })
        .collect()
}

fn decode_blobs(bytes: &[u8], shown: &str) -> Result<Vec<Vec<u8>>, CliError> {
    let bad = |why: String| {
        CliError::new("cert.file.armor", format!("{shown}: {why}"))
            .hint(format!(
                "expected one or more {BEGIN} … {END} blocks, or raw certificate bytes"
            ))
            .input()
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Not text: raw COSE bytes of one certificate.
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        if text.trim().is_empty() {
            return Err(bad("empty file".into()));
        }
        return Ok(vec![bytes.to_vec()]);
    }
    let mut blobs = Vec::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        match (&mut current, line) {
            (None, BEGIN) => current = Some(String::new()),
            (None, l) if l.starts_with("-----") => {
                return Err(bad(format!("line {}: unexpected {l:?}", n + 1)))
            }
            (None, _) => {}
            (Some(body), END) => {
                let decoded = STANDARD
                    .decode(body.as_bytes())
                    .map_err(|e| bad(format!("line {}: certificate is not base64: {e}", n + 1)))?;
                blobs.push(decoded);
                current = None;
            }
            (Some(_), l) if l.starts_with("-----") => {
                return Err(bad(format!(
                    "line {}: unexpected {l:?} inside a block",
                    n + 1
                )))
            }
            (Some(body), l) => body.push_str(l),
        }
    }
    if current.is_some() {
        return Err(bad(format!("missing {END} (file truncated?)")));
    }
    if blobs.is_empty() {
        return Err(bad("no certificate found".into()));
    }
    Ok(blobs)
}

/// Writes `contents` to `path` atomically: a temporary file beside it, fsync, rename. Nothing
/// half-written is left behind on error. Without `overwrite`, an existing file is refused.
pub fn write_atomic(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), CliError> {
    if !overwrite && path.exists() {
        return Err(exists(path));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let io = |p: &Path| {
        let shown = p.display().to_string();
        move |e: std::io::Error| {
            CliError::new("file.io", format!("{shown}: {e}"))
                .hint("check that the directory exists and is writable")
        }
    };
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(contents).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        if !overwrite && path.exists() {
            return Err(exists(path));
        }
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The error for an existing output file.
pub fn exists(path: &Path) -> CliError {
    CliError::new(
        "file.exists",
        format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        ),
    )
    .hint("pass --force to replace it, or choose another path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_refusals() {
        assert!(decode_blobs(b"", "f").is_err());
        assert!(decode_blobs(format!("{BEGIN}\nAAAA\n").as_bytes(), "f").is_err());
        assert!(decode_blobs(format!("{BEGIN}\n!!\n{END}\n").as_bytes(), "f").is_err());
        let two = format!("# a\n{BEGIN}\nAAAA\n{END}\n{BEGIN}\nAAE=\n{END}\n");
        assert_eq!(decode_blobs(two.as_bytes(), "f").unwrap().len(), 2);
    }
}
