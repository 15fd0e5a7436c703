//! `zkscim tenant …`: the tenant directory (offline part).
//!
//! Layout of `--dir`:
//!
//! ```text
//! root.pem       tenant root private key, PKCS#8 PEM, mode 0600
//! root.pub       its public key, `ed25519:<hex>`
//! tenant.secret  seal and blind-index secret, `zksecret1.…`, mode 0600
//! tenant.json    tenant id, root public key and fingerprint, protection profile, server URL
//! ```
//!
//! The secret only ever lives in zeroizing buffers and is never printed.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use zkscim_proto::envelope::{Envelope, Genesis, Header};
use zkscim_proto::keys::{PublicKey, SigningKey};
use zkscim_proto::seal::{Protection, ProtectionProfile, TenantSecret};

use crate::duration::{format_time, now};
use crate::files::{exists, read_limited, write_atomic};
use crate::output::{CliError, Output};

/// Format tag of `tenant.json`.
const TENANT_FORMAT: &str = "zkscim-tenant/1";
const ROOT_KEY: &str = "root.pem";
const ROOT_PUB: &str = "root.pub";
const SECRET: &str = "tenant.secret";
const TENANT_JSON: &str = "tenant.json";

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant directory: root key, seal/index secret and tenant.json (default
    /// protection profile). Confirm the printed fingerprint with the operator out of band.
    ///
    /// With --server and --admin-token it also submits the genesis, verifies the receipt and
    /// records the server's log key (trust on first use: its fingerprint is printed).
    ///
    /// Example: `zkscim tenant init --tenant acme --dir ./acme --server http://127.0.0.1:8422
    /// --admin-token s3cret`
    Init {
        /// Tenant id: 1 to 64 of a-z, 0-9 and '-'.
        #[arg(long)]
        tenant: String,
        /// Directory to create (or fill).
        #[arg(long, env = "ZKSCIM_TENANT_DIR")]
        dir: PathBuf,
        /// The authority's URL, recorded for later commands (else `server` in the config file).
        #[arg(long, env = "ZKSCIM_SERVER")]
        server: Option<String>,
        /// The operator's token that authorises creating a tenant: submit the genesis now.
        #[arg(long, env = "ZKSCIM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Replace an existing tenant in the directory (its old keys are lost).
        #[arg(long)]
        force: bool,
    },
    /// Submit the tenant's genesis to a server (again), verify the receipt and record the
    /// server's URL and log key. If the tenant already exists there with this root key, its log
    /// key is recorded after checking the logged genesis.
    ///
    /// Example: `zkscim tenant register --dir ./acme --server http://127.0.0.1:8422 --admin-token s3cret`
    Register {
        /// The tenant directory.
        #[arg(long, env = "ZKSCIM_TENANT_DIR")]
        dir: PathBuf,
        /// The authority's URL (else `server` in the config file, else tenant.json's).
        #[arg(long, env = "ZKSCIM_SERVER")]
        server: Option<String>,
        /// The operator's token that authorises creating a tenant.
        #[arg(long, env = "ZKSCIM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
    /// Show a tenant directory: tenant, root key fingerprint, profile, files (never secrets).
    ///
    /// Example: `zkscim tenant show --dir ./acme`
    Show {
        /// The tenant directory.
        #[arg(long, env = "ZKSCIM_TENANT_DIR")]
        dir: PathBuf,
    },
    /// Build the signed genesis statement (root key, self-signed) for submission to a server.
    ///
    /// Example: `zkscim tenant genesis --dir ./acme --out genesis.cbor`
    Genesis {
        /// The tenant directory.
        #[arg(long, env = "ZKSCIM_TENANT_DIR")]
        dir: PathBuf,
        /// Where to write the COSE_Sign1 bytes.
        #[arg(long, short)]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
}

/// A loaded tenant directory (public parts; secrets are read on demand).
#[derive(Debug)]
pub struct TenantDir {
    pub dir: PathBuf,
    pub tenant: String,
    pub root: PublicKey,
    pub server: Option<String>,
    json: serde_json::Value,
}

impl TenantDir {
    /// Reads and checks `tenant.json`.
    pub fn load(dir: &Path) -> Result<TenantDir, CliError> {
        let path = dir.join(TENANT_JSON);
        if !path.exists() {
            return Err(CliError::new(
                "tenant.missing",
                format!("{} not found: {} is not a tenant directory", path.display(), dir.display()),
            )
            .hint("create one with `zkscim tenant init --tenant <id> --dir <dir>`, or pass the right --tenant-dir"));
        }
        let bytes = read_limited(&path, 1024 * 1024, "tenant.json")?;
        let bad = |why: String| {
            CliError::new("tenant.invalid", format!("{}: {why}", path.display()))
                .hint("restore tenant.json from your backup; it is written by `zkscim tenant init`")
                .input()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        if json.get("format").and_then(serde_json::Value::as_str) != Some(TENANT_FORMAT) {
            return Err(bad(format!("format must be {TENANT_FORMAT:?}")));
        }
        let tenant = json
            .get("tenant")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("missing tenant".into()))?
            .to_owned();
        zkscim_proto::cert::validate_tenant_id(&tenant).map_err(|e| bad(e.to_string()))?;
        let root = json
            .get("root_public_key")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("missing root_public_key".into()))
            .and_then(|t| {
                PublicKey::from_text(t).map_err(|e| bad(format!("root_public_key: {e}")))
            })?;
        Ok(TenantDir {
            dir: dir.to_path_buf(),
            tenant,
            server: json
                .get("server_url")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            root,
            json,
        })
    }

    /// The protection profile recorded in `tenant.json`.
    pub fn profile(&self) -> Result<ProtectionProfile, CliError> {
        let value = self
            .json
            .get("protection_profile")
            .unwrap_or(&serde_json::Value::Null);
        let bad = |why: String| {
            CliError::new(
                "tenant.profile_invalid",
                format!(
                    "protection profile in {}: {why}",
                    self.dir.join(TENANT_JSON).display()
                ),
            )
            .hint("restore tenant.json from your backup")
            .input()
        };
        if value.is_null() {
            return Err(CliError::new(
                "tenant.profile_missing",
                format!("{} has no protection_profile: cannot tell which attributes to seal", self.dir.join(TENANT_JSON).display()),
            )
            .hint("restore tenant.json from your backup (a new `tenant init` writes the default profile)"));
        }
        profile_from_json(value).map_err(bad)
    }

    /// The log verifier key recorded at registration.
    pub fn log_key(&self) -> Option<String> {
        self.json
            .get("log_key")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    }

    /// Records the server and its log key in `tenant.json` (atomically).
    pub fn record_server(
        &mut self,
        server: &str,
        log_key: Option<&str>,
        genesis_index: Option<u64>,
    ) -> Result<(), CliError> {
        if let serde_json::Value::Object(map) = &mut self.json {
            map.insert("server_url".into(), server.into());
            if let Some(key) = log_key {
                map.insert("log_key".into(), key.trim().into());
                map.insert(
                    "log_key_fingerprint".into(),
                    crate::remote::log_key_fingerprint(key).into(),
                );
                map.insert("registered_at".into(), format_time(now()).into());
            }
            if let Some(i) = genesis_index {
                map.insert("genesis_index".into(), i.into());
            }
        }
        let text = serde_json::to_string_pretty(&self.json).unwrap_or_default() + "\n";
        write_atomic(&self.dir.join(TENANT_JSON), text.as_bytes(), true)?;
        self.server = Some(server.to_owned());
        Ok(())
    }

    /// Reads the tenant secret (mode 0600 enforced).
    pub fn secret(&self) -> Result<TenantSecret, CliError> {
        let path = self.dir.join(SECRET);
        if !path.exists() {
            return Err(CliError::new(
                "tenant.secret_missing",
                format!("{} not found: the tenant secret is needed to seal values", path.display()),
            )
            .hint("restore tenant.secret from your backup; without it sealed values cannot be written or read"));
        }
        let bytes = zkscim_keyfile::read_owner_only(&path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| secret_invalid(&path))?;
        TenantSecret::from_text(text.trim()).map_err(|_| secret_invalid(&path))
    }
}

fn secret_invalid(path: &Path) -> CliError {
    CliError::new(
        "tenant.secret_invalid",
        format!("{} does not hold a tenant secret", path.display()),
    )
    .hint("expected one line `zksecret1.…` as written by `zkscim tenant init`")
    .input()
}

fn protection_name(p: Protection) -> &'static str {
    match p {
        Protection::Clear => "clear",
        Protection::Sealed => "sealed",
        Protection::SealedIndexed => "sealed_indexed",
    }
}

fn protection_from_name(name: &str) -> Option<Protection> {
    match name {
        "clear" => Some(Protection::Clear),
        "sealed" => Some(Protection::Sealed),
        "sealed_indexed" => Some(Protection::SealedIndexed),
        _ => None,
    }
}

/// `{"default": "sealed", "rules": [{"resource_type": null, "path": "id", "protection": "clear"}, …]}`
pub fn profile_to_json(profile: &ProtectionProfile) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = profile
        .rules()
        .iter()
        .map(|r| {
            serde_json::json!({
                "resource_type": r.resource_type,
                "path": r.path,
                "protection": protection_name(r.protection),
            })
        })
        .collect();
    serde_json::json!({
        "default": protection_name(profile.default_protection()),
        "rules": rules,
    })
}

fn profile_from_json(value: &serde_json::Value) -> Result<ProtectionProfile, String> {
    let default = value
        .get("default")
        .and_then(serde_json::Value::as_str)
        .and_then(protection_from_name)
        .ok_or("default must be clear, sealed or sealed_indexed")?;
    let mut profile = ProtectionProfile::new(default);
    let rules = value
        .get("rules")
        .and_then(serde_json::Value::as_array)
        .ok_or("rules must be an array")?;
    for (i, rule) in rules.iter().enumerate() {
        let path = rule
            .get("path")
            .and_then(serde_json::Value::as_str)
            .ok_or(format!("rule {i}: missing path"))?;
        let protection = rule
            .get("protection")
            .and_then(serde_json::Value::as_str)
            .and_then(protection_from_name)
            .ok_or(format!(
                "rule {i}: protection must be clear, sealed or sealed_indexed"
            ))?;
        let rt = rule
            .get("resource_type")
            .and_then(serde_json::Value::as_str);
        profile
            .set_rule(rt, path, protection)
            .map_err(|e| format!("rule {i}: {e}"))?;
    }
    Ok(profile)
}

/// The signed genesis statement of a tenant: its root public key, self-signed, issued now.
pub fn genesis_statement(
    tenant: &str,
    root: &SigningKey,
    issued_at: u64,
) -> Result<Vec<u8>, CliError> {
    let header = Header::new(tenant, issued_at, Vec::new(), &mut rand_core::OsRng);
    let envelope = Envelope::new(
        header,
        Genesis {
            root: root.public_key(),
        },
    );
    envelope
        .validate()
        .map_err(|e| CliError::new(e.code(), format!("cannot build the genesis statement: {e}")))?;
    Ok(envelope.sign(root))
}

pub fn run(cmd: TenantCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TenantCommand::Init {
            tenant,
            dir,
            server,
            admin_token,
            force,
        } => {
            let server = server.or(crate::config::Config::load()?.server);
            init(&tenant, &dir, server, admin_token, force, out)
        }
        TenantCommand::Register {
            dir,
            server,
            admin_token,
        } => {
            let mut t = TenantDir::load(&dir)?;
            let server = server
                .or(crate::config::Config::load()?.server)
                .or_else(|| t.server.clone())
                .ok_or_else(|| {
                    CliError::new("input.server", "no server to register with")
                        .hint("pass --server URL or set ZKSCIM_SERVER")
                        .input()
                })?;
            let r = register(&mut t, &server, &admin_token)?;
            out.result(
                &format!("tenant {} registered at {server}\n{}", t.tenant, r.human()),
                &r.json(&t.tenant, &server),
            );
            Ok(())
        }
        TenantCommand::Show { dir } => show(&dir, out),
        TenantCommand::Genesis {
            dir,
            out: path,
            force,
        } => {
            let t = TenantDir::load(&dir)?;
            let key = zkscim_keyfile::read_private_key(&dir.join(ROOT_KEY))?;
            if key.public_key() != t.root {
                return Err(CliError::new(
                    "tenant.root_mismatch",
                    format!(
                        "{} does not match the root public key in tenant.json",
                        dir.join(ROOT_KEY).display()
                    ),
                )
                .hint("the tenant directory is inconsistent: restore it from backup"));
            }
            let bytes = genesis_statement(&t.tenant, &key, now())?;
            write_atomic(&path, &bytes, force)?;
            out.result(
                &format!("wrote genesis of tenant {} ({} bytes) to {}\nroot fingerprint: {}", t.tenant, bytes.len(), path.display(), t.root.key_id().short()),
                &serde_json::json!({"tenant": t.tenant, "file": path, "bytes": bytes.len(), "root_fingerprint": t.root.key_id().short()}),
            );
            Ok(())
        }
    }
}

fn init(
    tenant: &str,
    dir: &Path,
    server: Option<String>,
    admin_token: Option<String>,
    force: bool,
    out: &Output,
) -> Result<(), CliError> {
    zkscim_proto::cert::validate_tenant_id(tenant).map_err(|e| {
        CliError::new(e.code(), e.to_string())
            .hint("for example --tenant acme")
            .input()
    })?;
    let files = [ROOT_KEY, ROOT_PUB, SECRET, TENANT_JSON].map(|f| dir.join(f));
    // Check every file first: refusing after writing some would leave a half-made tenant.
    if !force {
        if let Some(existing) = files.iter().find(|f| f.exists()) {
            return Err(exists(existing).hint(
                "this directory already holds a tenant; pass --force only if you mean to discard its keys",
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::new("file.io", format!("{}: {e}", dir.display()))
            .hint("check the path and its permissions")
    })?;
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let secret = TenantSecret::generate(&mut rand_core::OsRng);
    let pk = key.public_key();
    let json = serde_json::json!({
        "format": TENANT_FORMAT,
        "tenant": tenant,
        "root_public_key": pk.to_text(),
        "root_key_id": pk.key_id().to_hex(),
        "root_fingerprint": pk.key_id().short(),
        "server_url": server,
        "created_at": format_time(now()),
        "protection_profile": profile_to_json(&ProtectionProfile::default_profile()),
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    let [key_path, pub_path, secret_path, json_path] = &files;
    let result = (|| {
        zkscim_keyfile::write_private_key(key_path, &key, force)?;
        let mut secret_text = secret.to_text();
        secret_text.push('\n');
        zkscim_keyfile::write_owner_only(secret_path, secret_text.as_bytes(), force)?;
        zkscim_keyfile::write_public_key(pub_path, &pk, true)?;
        write_atomic(json_path, text.as_bytes(), force)
    })();
    if let Err(e) = result {
        // Nothing half-made: a tenant without all four files is useless and confusing.
        if !force {
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
        }
        return Err(e);
    }
    let registered = match (&server, &admin_token) {
        (Some(url), Some(token)) => {
            let mut t = TenantDir::load(dir)?;
            let r = register(&mut t, url, token).map_err(|e| {
                let hint = format!(
                    "{}. The tenant directory {} was created and is complete: it works offline (cert issue, op --out); once the server is reachable, run `zkscim tenant register --dir {} --server {url} --admin-token <token>`",
                    e.hint.clone().unwrap_or_default().trim_end_matches('.'),
                    dir.display(),
                    dir.display()
                );
                CliError {
                    message: format!("created the tenant directory, but could not register it: {}", e.message),
                    hint: Some(hint),
                    ..e
                }
            })?;
            Some(r)
        }
        _ => None,
    };
    let next = match (&registered, &server) {
        (Some(r), Some(url)) => format!("registered at {url}\n{}", r.human()),
        (None, Some(url)) => format!("not registered yet: submit the genesis with `zkscim tenant register --dir {} --server {url} --admin-token <operator token>`", dir.display()),
        _ => format!("not registered yet: `zkscim tenant register --dir {} --server <url> --admin-token <operator token>`", dir.display()),
    };
    out.result(
        &format!(
            "created tenant {tenant} in {}\n  root key:     {} (private, mode 0600)\n  secret:       {} (seal and blind-index secret, mode 0600: back it up, it cannot be recovered)\n  root public:  {}\n  fingerprint:  {}\nConfirm this fingerprint with the operator out of band, and delegate an admin:\n  zkscim key generate --out admin.pem\n  zkscim cert issue --issuer-key {} --tenant {tenant} --subject admin.pub --ops create,replace,patch,delete,read --types '*' --attrs '*' --cap delegate,revoke,reactivate --depth 1 --ttl 30d --label admin --out admin.cert --chain-out admin.chain\n{next}",
            dir.display(),
            key_path.display(),
            secret_path.display(),
            pk.to_text(),
            pk.key_id().short(),
            key_path.display(),
        ),
        &serde_json::json!({
            "tenant": tenant,
            "dir": dir,
            "root_public_key": pk.to_text(),
            "root_key_id": pk.key_id().to_hex(),
            "fingerprint": pk.key_id().short(),
            "files": files,
            "server_url": server,
            "registration": registered.as_ref().zip(server.as_deref()).map(|(r, url)| r.json(tenant, url)),
        }),
    );
    Ok(())
}

/// A verified registration.
#[derive(Debug)]
pub struct Registered {
    /// Log index of the genesis.
    pub index: u64,
    /// The log verifier key now recorded.
    pub log_key: String,
    /// Whether the tenant already existed with this root (its log key was adopted).
    pub existed: bool,
}

impl Registered {
    fn human(&self) -> String {
        format!(
            "  genesis:      log index {}{} (receipt verified: inclusion proof and checkpoint signature)\n  log key:      {}\n  log key fingerprint: {} (trusted on first use and recorded in tenant.json: compare it with the operator's)",
            self.index,
            if self.existed { ", already logged" } else { "" },
            self.log_key.split('+').next().unwrap_or_default(),
            crate::remote::log_key_fingerprint(&self.log_key),
        )
    }

    fn json(&self, tenant: &str, server: &str) -> serde_json::Value {
        serde_json::json!({
            "tenant": tenant,
            "server_url": server,
            "genesis_index": self.index,
            "already_registered": self.existed,
            "log_key": self.log_key,
            "log_key_fingerprint": crate::remote::log_key_fingerprint(&self.log_key),
        })
    }
}

/// Submits the genesis (or adopts an existing registration with the same root), verifies the
/// receipt under the server's log key (checked against a recorded one) and records both.
pub fn register(t: &mut TenantDir, server: &str, token: &str) -> Result<Registered, CliError> {
    let key = zkscim_keyfile::read_private_key(&t.dir.join(ROOT_KEY))?;
    if key.public_key() != t.root {
        return Err(CliError::new(
            "tenant.root_mismatch",
            format!(
                "{} does not match the root public key in tenant.json",
                t.dir.join(ROOT_KEY).display()
            ),
        )
        .hint("the tenant directory is inconsistent: restore it from backup"));
    }
    let client = crate::client::Client::new(server);
    let genesis = genesis_statement(&t.tenant, &key, now())?;
    let resp = client.post_cbor(
        &format!("/v1/tenants/{}/genesis", t.tenant),
        &genesis,
        Some(token),
    )?;
    let code = resp
        .body
        .get("zkscimCode")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if resp.index().is_none() && code != "tenant.exists" {
        let err = crate::remote::answer_error(&resp);
        return Err(if code == "auth.operator_token" {
            err.hint("pass the operator's token with --admin-token or ZKSCIM_ADMIN_TOKEN (the one `zkscim serve` printed or was given)")
        } else {
            err
        });
    }
    let log_key = client.get_text(&format!("/v1/tenants/{}/log/key", t.tenant))?;
    let log_key = log_key.trim().to_owned();
    if let Some(recorded) = t.log_key() {
        if recorded.trim() != log_key {
            return Err(CliError::new(
                "tenant.log_key_changed",
                format!(
                    "the server's log key ({}) is not the one recorded in tenant.json ({})",
                    crate::remote::log_key_fingerprint(&log_key),
                    crate::remote::log_key_fingerprint(&recorded)
                ),
            )
            .hint("a log never changes its key: this is another server, or it was reset; ask the operator before trusting it"));
        }
    }
    let (index, existed) = if code == "tenant.exists" {
        (adopt(&client, t, &log_key)?, true)
    } else {
        let entry = crate::remote::verify(&resp, &log_key, &genesis)?;
        (entry.seq, false)
    };
    t.record_server(server, Some(&log_key), Some(index))?;
    Ok(Registered {
        index,
        log_key,
        existed,
    })
}

/// The tenant exists on the server: accept it only if its logged genesis (entry 0, proven in
/// a checkpoint signed by `log_key`) names this tenant's root key.
fn adopt(client: &crate::client::Client, t: &TenantDir, log_key: &str) -> Result<u64, CliError> {
    let tenant = &t.tenant;
    let page = client.get_json(
        &format!("/v1/tenants/{tenant}/log/entries?start=0&end=1"),
        None,
    )?;
    let row = page
        .get("entries")
        .and_then(serde_json::Value::as_array)
        .and_then(|e| e.first())
        .cloned()
        .unwrap_or_default();
    let entry_hex = row
        .get("entry")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let bad = |why: &str| {
        CliError::new(
            "tenant.exists_unverified",
            format!("tenant '{tenant}' exists on the server, but {why}"),
        )
        .hint("ask the operator; do not use this server for the tenant until it is explained")
    };
    let entry_bytes = hex::decode(entry_hex).map_err(|_| bad("its first log entry is not hex"))?;
    let entry = zkscim_proto::log_entry::LogEntry::from_bytes(&entry_bytes)
        .map_err(|_| bad("its first log entry does not decode"))?;
    let submitted = client.get_bytes(&format!(
        "/v1/tenants/{tenant}/log/submitted/{}",
        hex::encode(entry.submitted_hash)
    ))?;
    if zkscim_proto::log_entry::submitted_hash_of(&submitted) != entry.submitted_hash {
        return Err(bad("its genesis bytes do not match the log entry"));
    }
    let genesis = zkscim_proto::envelope::Signed::<Genesis>::parse(&submitted)
        .map_err(|_| bad("its first entry is not a genesis"))?;
    if genesis.body().root != t.root {
        return Err(CliError::new(
            "tenant.exists",
            format!(
                "tenant '{tenant}' already exists on the server with another root key ({})",
                genesis.body().root.key_id().short()
            ),
        )
        .hint("choose another tenant id (`zkscim tenant init --tenant …`), or ask the operator"));
    }
    // Prove entry 0 is in the log the key signs.
    let note = client.get_text(&format!("/v1/tenants/{tenant}/log/checkpoint"))?;
    let size = note
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse::<u64>().ok())
        .unwrap_or_default();
    let proof = client.get_json(
        &format!("/v1/tenants/{tenant}/log/proof/inclusion?index=0&size={size}"),
        None,
    )?;
    let receipt = serde_json::json!({
        "index": 0,
        "entry": entry_hex,
        "leafHash": hex::encode(zkscim_proto::merkle::leaf_hash(&entry_bytes)),
        "checkpoint": note,
        "inclusionProof": proof.get("proof").cloned().unwrap_or_default(),
    });
    crate::client::verify_receipt_json(&receipt, log_key)?;
    Ok(entry.seq)
}

fn show(dir: &Path, out: &Output) -> Result<(), CliError> {
    let t = TenantDir::load(dir)?;
    let profile = t.profile()?;
    let secret_state = match t.secret() {
        Ok(_) => "present (mode 0600)".to_owned(),
        Err(e) => format!("UNUSABLE: {}", e.message),
    };
    let key_state = match zkscim_keyfile::read_private_key(&dir.join(ROOT_KEY)) {
        Ok(k) if k.public_key() == t.root => "present, matches".to_owned(),
        Ok(_) => "MISMATCH: root.pem is not the key in tenant.json".to_owned(),
        Err(e) => format!("unavailable: {e}"),
    };
    let by = |p: Protection| {
        profile
            .rules()
            .iter()
            .filter(|r| r.protection == p)
            .map(|r| match &r.resource_type {
                Some(rt) => format!("{rt}:{}", r.path),
                None => r.path.clone(),
            })
            .collect::<Vec<_>>()
    };
    let default = profile.default_protection();
    let list = |v: Vec<String>, is_default: bool| match (v.is_empty(), is_default) {
        (true, true) => "every other string value (the default)".to_owned(),
        (true, false) => "none".to_owned(),
        (false, true) => format!(
            "{}, and every other string value (the default)",
            v.join(", ")
        ),
        (false, false) => v.join(", "),
    };
    out.result(
        &format!(
            "tenant:       {}\n  dir:          {}\n  root public:  {}\n  fingerprint:  {}\n  root key:     {key_state}\n  secret:       {secret_state}\n  server:       {}\n  log key:      {}\n  profile:      default {}\n    clear:          {}\n    sealed+indexed: {}\n    sealed:         {}",
            t.tenant,
            dir.display(),
            t.root.to_text(),
            t.root.key_id().short(),
            t.server.as_deref().unwrap_or("(none)"),
            t.log_key().map_or_else(
                || "(not registered: `zkscim tenant register`)".to_owned(),
                |k| format!("fingerprint {}", crate::remote::log_key_fingerprint(&k))
            ),
            protection_name(default),
            list(by(Protection::Clear), default == Protection::Clear),
            list(by(Protection::SealedIndexed), default == Protection::SealedIndexed),
            list(by(Protection::Sealed), default == Protection::Sealed),
        ),
        &serde_json::json!({
            "tenant": t.tenant,
            "dir": dir,
            "root_public_key": t.root.to_text(),
            "fingerprint": t.root.key_id().short(),
            "server_url": t.server,
            "log_key": t.log_key(),
            "log_key_fingerprint": t.log_key().map(|k| crate::remote::log_key_fingerprint(&k)),
            "root_key": key_state,
            "secret": secret_state,
            "protection_profile": profile_to_json(&profile),
        }),
    );
    Ok(())
}
