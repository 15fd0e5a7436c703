//! `zkscim audit …` (what an external auditor runs) and `zkscim export` (what an operator runs to
//! hand an auditor the log).

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use zkscim_audit::verdicts::RulesChecker;
use zkscim_audit::{Auditor, Progress, TrustAnchors};
use zkscim_proto::note::{CosignatureSigner, VerifierKey};

use crate::client::Client;
use crate::output::{CliError, Output};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify a tenant's log end to end: hash chain, Merkle roots, checkpoint signatures,
    /// consistency with what you saw before, every verdict re-derived, and the directory replayed.
    ///
    /// Example: `zkscim audit verify --export acme.zkx --root acme/root.pub --log-key "$(cat log.key)" --state acme.audit.json`
    /// Example: `zkscim audit verify --server http://127.0.0.1:8422 --tenant acme --root acme/root.pub --log-key "$(cat log.key)"`
    Verify(VerifyArgs),
    /// Explain one entry (same as `zkscim explain`).
    ///
    /// Example: `zkscim audit explain 42 --tenant acme --server http://127.0.0.1:8422`
    Explain(crate::explain::ExplainArgs),
    /// Witness a log: check the server's newest checkpoint is consistent with the last one this
    /// witness saw, and print a C2SP cosignature line for it.
    ///
    /// Example: `zkscim audit witness --server http://127.0.0.1:8422 --tenant acme --log-key "$(cat log.key)" --key witness.pem --name witness.example --state witness.json`
    Witness(WitnessArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A log export file (`zkscim export`, or `GET /v1/tenants/{t}/log/export`).
    #[arg(long, conflicts_with = "server")]
    export: Option<PathBuf>,
    /// Audit a live server instead: download its export and compare directory digests.
    #[arg(long, env = "ZKSCIM_SERVER")]
    server: Option<String>,
    /// Tenant (live mode).
    #[arg(long, env = "ZKSCIM_TENANT")]
    tenant: Option<String>,
    /// Trust anchor: the tenant root public key (file, or `ed25519:…` text) whose fingerprint was
    /// confirmed out of band.
    #[arg(long)]
    root: String,
    /// Trust anchor: the log's verifier key (`<origin>+<hash>+<base64>` text, or a file holding it).
    #[arg(long)]
    log_key: String,
    /// Witness verifier keys whose cosignatures to check.
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// State file remembering the last verified tree (fork detection, incremental audits).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Issued-at skew the server uses, in seconds.
    #[arg(long, default_value_t = 300)]
    skew_secs: u64,
    /// Verify every statement signature strictly, one by one, instead of in batches. Slower;
    /// batches can miss a signature its own key's holder malleated with a small-order point (at
    /// most half the time per audit, spec/audit.md §1.1).
    #[arg(long)]
    strict_signatures: bool,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// Authority URL.
    #[arg(long, env = "ZKSCIM_SERVER")]
    server: String,
    /// Tenant.
    #[arg(long, env = "ZKSCIM_TENANT")]
    tenant: String,
    /// The log's verifier key (text or file).
    #[arg(long)]
    log_key: String,
    /// The witness's Ed25519 private key (PKCS#8 PEM, 0600).
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (its cosignature key name).
    #[arg(long)]
    name: String,
    /// The witness's state file.
    #[arg(long)]
    state: PathBuf,
    /// Also hand the cosignature to the server, which serves it beside the checkpoint.
    #[arg(long)]
    submit: bool,
}

/// Write a tenant's log as an export file, straight from the database (operator side).
///
/// Example: `zkscim export --db ./zkscim.db --tenant acme --out acme.zkx`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// SQLite database file.
    #[arg(long, env = "ZKSCIM_DB", default_value = "zkscim.db")]
    db: PathBuf,
    /// Tenant.
    #[arg(long)]
    tenant: String,
    /// Output file (refused if it exists, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    /// Checkpoint origin prefix the server uses.
    #[arg(long, env = "ZKSCIM_ORIGIN", default_value = "zkscim.local")]
    origin: String,
    /// The server's log key file, to record its verifier key in the header [default: `<db>.log-key.pem`].
    #[arg(long)]
    log_key: Option<PathBuf>,
}

fn text_or_file(value: &str) -> Result<String, CliError> {
    let path = Path::new(value);
    if !value.contains('+') && path.exists() {
        return std::fs::read_to_string(path)
            .map(|t| t.trim().to_owned())
            .map_err(|e| CliError::new("audit.io", format!("{}: {e}", path.display())));
    }
    Ok(value.trim().to_owned())
}

fn log_key(value: &str) -> Result<VerifierKey, CliError> {
    let text = text_or_file(value)?;
    VerifierKey::parse(&text).map_err(|e| {
        CliError::new(e.code(), format!("log key: {e}"))
            .hint(
                "pass the log verifier key text (GET /v1/tenants/<t>/log/key) or a file holding it",
            )
            .input()
    })
}

fn progress_bar(enabled: bool) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} auditing {pos}/{len} entries [{elapsed}] {per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub fn run(cmd: AuditCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify(args) => verify(args, out),
        AuditCommand::Explain(args) => crate::explain::run(args, out),
        AuditCommand::Witness(args) => witness(args, out),
    }
}

fn verify(args: VerifyArgs, out: &Output) -> Result<(), CliError> {
    let root = crate::key::load_public(&args.root)?;
    let anchors = TrustAnchors {
        root_key: root,
        log_key: log_key(&args.log_key)?,
        witness_keys: args
            .witness_keys
            .iter()
            .map(|k| log_key(k))
            .collect::<Result<_, _>>()?,
    };
    // Verdicts are re-derived below, so reading ahead on its own thread pays.
    let mut auditor = Auditor::new(anchors)
        .map_err(|e| CliError::new("audit.anchors", e).input())?
        .with_pipeline(true);
    if let Some(state) = &args.state {
        auditor = auditor.with_state_file(state);
    }
    // Live mode: download the export to a temporary file, and the server's directory digest.
    let mut _download = None;
    let (path, expected_digest) = match (&args.export, &args.server) {
        (Some(p), _) => (p.clone(), None),
        (None, Some(server)) => {
            let tenant = args
                .tenant
                .as_deref()
                .ok_or_else(|| CliError::new("audit.usage", "live mode needs --tenant").input())?;
            let client = Client::new(server);
            let digest = client.get_json(&format!("/v1/tenants/{tenant}/digest"), None)?;
            let file = tempfile::NamedTempFile::new().map_err(|e| CliError::new("audit.io", e))?;
            let bytes =
                client.get_bytes_limited(&format!("/v1/tenants/{tenant}/log/export"), 8 << 30)?;
            std::fs::write(file.path(), bytes).map_err(|e| CliError::new("audit.io", e))?;
            let mut expected = None;
            if let Some(hex_digest) = digest.get("digest").and_then(|d| d.as_str()) {
                let mut raw = [0u8; 32];
                if hex::decode_to_slice(hex_digest, &mut raw).is_ok() {
                    expected = Some((
                        raw,
                        digest
                            .get("treeSize")
                            .and_then(|s| s.as_u64())
                            .unwrap_or_default(),
                    ));
                }
            }
            let path = file.path().to_path_buf();
            _download = Some(file);
            (path, expected)
        }
        (None, None) => {
            return Err(CliError::new(
                "audit.usage",
                "give --export FILE, or --server URL --tenant T",
            )
            .input());
        }
    };
    let input = std::fs::File::open(&path).map_err(|e| {
        CliError::new("audit.io", format!("{}: {e}", path.display()))
            .hint("check the --export path")
    })?;
    let size_hint = expected_digest.map(|(_, size)| size);
    let mut checker = RulesChecker::new(
        root,
        zkscim_rules::Settings {
            skew_secs: args.skew_secs,
        },
        expected_digest.map(|(d, _)| d),
    )
    .with_batch_signatures(!args.strict_signatures);
    let signature_check = if args.strict_signatures {
        "strict, one by one"
    } else {
        "batches with random weights, strict on failure (spec/audit.md §1.1)"
    };
    let bar = progress_bar(!out.is_json());
    let mut on_progress = |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.entries);
    };
    let report = auditor
        .audit_export(BufReader::new(input), Some(&mut checker), &mut on_progress)
        .map_err(|e| CliError::new("audit.failed", e))?;
    bar.finish_and_clear();
    let summary = checker.summary();
    let mut human = report.summary();
    human.push_str(&format!("\nstatement signatures: {signature_check}\n"));
    human.push_str("activity by key (chain labels):\n");
    for (who, a) in &summary.keys {
        human.push_str(&format!(
            "  {who}: {} applied, {} refused, entries {}..{}{}\n",
            a.applied,
            a.refused,
            a.first_index,
            a.last_index,
            if a.break_glass > 0 {
                format!(", {} BREAK-GLASS uses", a.break_glass)
            } else {
                String::new()
            }
        ));
    }
    if !summary.revocations.is_empty() {
        human.push_str(&format!(
            "revocations at entries: {:?}\n",
            summary.revocations
        ));
    }
    if !summary.refusals.is_empty() {
        human.push_str("refusals by reason:\n");
        for (code, n) in &summary.refusals {
            human.push_str(&format!("  {code}: {n}\n"));
        }
    }
    if let (Some(d), Some(size)) = (&summary.directory_digest, size_hint) {
        human.push_str(&format!(
            "replayed directory digest {d} (server at tree size {size})\n"
        ));
    }
    out.result(
        human.trim_end(),
        &json!({
            "report": report.to_json(),
            "summary": summary,
            "signatures": if args.strict_signatures { "strict" } else { "batch" },
        }),
    );
    if report.is_clean() {
        Ok(())
    } else {
        Err(CliError::new("audit.findings", "the log has findings (see the report above)")
            .hint("each finding names the entry index, what was expected and what was found; `zkscim audit explain <index>` shows who authorised it")
            .reported())
    }
}

fn witness(args: WitnessArgs, out: &Output) -> Result<(), CliError> {
    let key = zkscim_keyfile::read_private_key(&args.key)?;
    let signer = CosignatureSigner::from_seed(&args.name, &key.seed())
        .map_err(|e| CliError::new(e.code(), e).input())?;
    let log = log_key(&args.log_key)?;
    let client = Client::new(&args.server);
    let note = client.get_text(&format!("/v1/tenants/{}/log/checkpoint", args.tenant))?;
    let mut state: Option<zkscim_audit::WitnessState> =
        zkscim_audit::state::load(&args.state).map_err(|e| CliError::new("audit.state", e))?;
    let new_size = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or_default();
    let old_size = state.as_ref().map_or(0, |s| s.size);
    let proof: Vec<[u8; 32]> = if old_size > 0 && old_size < new_size {
        let v = client.get_json(
            &format!(
                "/v1/tenants/{}/log/proof/consistency?old={old_size}&new={new_size}",
                args.tenant
            ),
            None,
        )?;
        v.get("proof")
            .and_then(|p| p.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str())
                    .filter_map(|h| {
                        let mut raw = [0u8; 32];
                        hex::decode_to_slice(h, &mut raw).ok().map(|_| raw)
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let line = zkscim_audit::witness::witness(
        &mut state,
        &note,
        &proof,
        &log,
        &signer,
        crate::duration::now(),
    )
    .map_err(|e| {
        CliError::new(e.code(), e).hint(
            "a witness never cosigns a checkpoint inconsistent with one it saw: report this log",
        )
    })?;
    if let Some(state) = &state {
        zkscim_audit::state::save(&args.state, state)
            .map_err(|e| CliError::new("audit.state", e))?;
    }
    if args.submit {
        let resp = client.post_text(
            &format!("/v1/tenants/{}/log/cosignatures", args.tenant),
            &line,
        )?;
        if resp.status != 201 {
            return Err(CliError::new(
                "audit.cosignature_refused",
                format!("the server refused the cosignature: {}", resp.body),
            ));
        }
    }
    let verifier = signer
        .verifier_key()
        .map(|k| k.to_string())
        .unwrap_or_default();
    out.result(
        line.trim_end(),
        &json!({"cosignature": line, "tree_size": new_size, "witness_key": verifier, "submitted": args.submit}),
    );
    Ok(())
}

pub fn export(args: ExportArgs, out: &Output) -> Result<(), CliError> {
    if args.out.exists() && !args.force {
        return Err(CliError::new(
            "export.exists",
            format!("{} already exists", args.out.display()),
        )
        .hint("pass --force to replace it"));
    }
    let reader = zkscim_authority::store::open_reader(&args.db).map_err(|e| {
        CliError::new(e.code(), format!("{}: {e}", args.db.display())).hint("check --db")
    })?;
    let origin = zkscim_authority::origin_of(&args.origin, &args.tenant);
    let key_path = args.log_key.clone().unwrap_or_else(|| {
        let mut name = args
            .db
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".log-key.pem");
        args.db.with_file_name(name)
    });
    let key_text = match zkscim_keyfile::read_private_key(&key_path) {
        Ok(k) => zkscim_proto::note::NoteSigner::from_seed(&origin, &k.seed())
            .and_then(|s| s.verifier_key())
            .map(|v| v.to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let tmp = args.out.with_extension("partial");
    let file = std::fs::File::create(&tmp)
        .map_err(|e| CliError::new("export.io", format!("{}: {e}", tmp.display())))?;
    let result = zkscim_authority::export::write_export(
        &reader,
        &args.tenant,
        &origin,
        &key_text,
        BufWriter::new(file),
    );
    let (writer, count) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(CliError::new("export.failed", e));
        }
    };
    let mut file = writer
        .into_inner()
        .map_err(|e| CliError::new("export.io", e.to_string()))?;
    file.flush().map_err(|e| CliError::new("export.io", e))?;
    file.sync_all().map_err(|e| CliError::new("export.io", e))?;
    std::fs::rename(&tmp, &args.out).map_err(|e| CliError::new("export.io", e))?;
    out.result(
        &format!(
            "wrote {count} entries of tenant '{}' to {}",
            args.tenant,
            args.out.display()
        ),
        &json!({"entries": count, "file": args.out}),
    );
    Ok(())
}
