//! `zkscim key …`: generate and inspect Ed25519 keys.

use std::path::PathBuf;

use clap::Subcommand;
use zkscim_proto::keys::{PublicKey, SigningKey};

use crate::output::{CliError, Output};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new Ed25519 key as a PKCS#8 PEM file (mode 0600) and its public key beside it.
    ///
    /// Example: `zkscim key generate --out admin.pem` (also writes admin.pub)
    Generate {
        /// Where to write the private key.
        #[arg(long, short)]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Show a key's public key, key id and fingerprint.
    ///
    /// Example: `zkscim key show admin.pem` or `zkscim key show admin.pub`
    Show {
        /// A private key (.pem) or public key (`ed25519:…`) file.
        file: PathBuf,
    },
    /// Print only the short fingerprint (first 8 bytes of the key id), for out-of-band checks.
    ///
    /// Example: `zkscim key fingerprint root.pub`
    Fingerprint {
        /// A private key (.pem) or public key (`ed25519:…`) file, or a public key in text form.
        key: String,
    },
}

/// Reads a public key from a private key file, a public key file, or literal text.
pub fn load_public(spec: &str) -> Result<PublicKey, CliError> {
    if spec
        .trim_start()
        .starts_with(zkscim_proto::keys::PUBLIC_KEY_TEXT_PREFIX)
    {
        return PublicKey::from_text(spec).map_err(|e| CliError::new(e.code(), e).input());
    }
    let path = PathBuf::from(spec);
    let head = std::fs::read(&path).map_err(|e| {
        CliError::new("keyfile.io", format!("{}: {e}", path.display())).hint("check the path")
    })?;
    if head.starts_with(b"-----BEGIN") {
        Ok(zkscim_keyfile::read_private_key(&path)?.public_key())
    } else {
        Ok(zkscim_keyfile::read_public_key(&path)?)
    }
}

pub fn run(cmd: KeyCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        KeyCommand::Generate { out: path, force } => {
            let key = SigningKey::generate(&mut rand_core::OsRng);
            let public_path = path.with_extension("pub");
            if !force && public_path.exists() {
                return Err(zkscim_keyfile::KeyFileError::Exists(public_path).into());
            }
            zkscim_keyfile::write_private_key(&path, &key, force)?;
            zkscim_keyfile::write_public_key(&public_path, &key.public_key(), true)?;
            let pk = key.public_key();
            out.result(
                &format!(
                    "wrote {} (private, mode 0600) and {}\npublic key:  {}\nfingerprint: {}",
                    path.display(),
                    public_path.display(),
                    pk.to_text(),
                    pk.key_id().short()
                ),
                &serde_json::json!({
                    "private_key_file": path,
                    "public_key_file": public_path,
                    "public_key": pk.to_text(),
                    "key_id": pk.key_id().to_hex(),
                    "fingerprint": pk.key_id().short(),
                }),
            );
            Ok(())
        }
        KeyCommand::Show { file } => {
            let pk = load_public(&file.to_string_lossy())?;
            out.result(
                &format!(
                    "public key:  {}\nkey id:      {}\nfingerprint: {}",
                    pk.to_text(),
                    pk.key_id().to_hex(),
                    pk.key_id().short()
                ),
                &serde_json::json!({
                    "public_key": pk.to_text(),
                    "key_id": pk.key_id().to_hex(),
                    "fingerprint": pk.key_id().short(),
                }),
            );
            Ok(())
        }
        KeyCommand::Fingerprint { key } => {
            let pk = load_public(&key)?;
            out.result(
                &pk.key_id().short(),
                &serde_json::json!({ "fingerprint": pk.key_id().short() }),
            );
            Ok(())
        }
    }
}
