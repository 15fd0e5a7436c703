//! Key files on disk.
//!
//! Owns: reading and writing Ed25519 private keys as PKCS#8 PEM files with owner-only
//! permissions (0600), and public keys in the `ed25519:<hex>` text form.
//!
//! Must never: print, log or leave key material anywhere but the file asked for; overwrite a key
//! file unless told to; read a private key that other users can read (as ssh refuses to), since
//! such a key must be presumed compromised.
#![forbid(unsafe_code)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;
use zkscim_proto::keys::{KeyError, PublicKey, SigningKey};

/// Largest key file read, in bytes: a PEM Ed25519 key is about 120 bytes.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists and overwriting was not requested.
    #[error("{0} already exists; refusing to overwrite a key (pass --force to replace it)")]
    Exists(PathBuf),
    /// Group or others may access the private key file.
    #[error("{path} is accessible by other users (mode {mode:o}); run `chmod 600 {path}` and check whether the key leaked")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any key file.
    #[error("{0} is too large to be a key file")]
    TooLarge(PathBuf),
    /// The contents are not a key.
    #[error("{path} does not hold a valid key: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// The filesystem refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl KeyFileError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyFileError::Exists(_) => "keyfile.exists",
            KeyFileError::Permissions { .. } => "keyfile.permissions",
            KeyFileError::TooLarge(_) => "keyfile.too_large",
            KeyFileError::Invalid { .. } => "keyfile.invalid",
            KeyFileError::Io { .. } => "keyfile.io",
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `key` to `path` as PKCS#8 PEM with mode 0600.
///
/// Writes to a temporary file beside `path` and renames it into place, so a crash never leaves
/// a half-written key. Without `overwrite`, an existing file is an error.
pub fn write_private_key(
    path: &Path,
    key: &SigningKey,
    overwrite: bool,
) -> Result<(), KeyFileError> {
    if !overwrite && path.exists() {
        return Err(KeyFileError::Exists(path.to_path_buf()));
    }
    let pem = key.to_pkcs8_pem().map_err(|source| KeyFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    write_owner_only(path, pem.as_bytes(), overwrite)
}

/// Writes `contents` to `path` with mode 0600, atomically (temporary file, fsync, rename).
pub fn write_owner_only(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), KeyFileError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_owned());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
        file.write_all(contents).map_err(io_error(&tmp))?;
        file.sync_all().map_err(io_error(&tmp))?;
        if !overwrite && path.exists() {
            return Err(KeyFileError::Exists(path.to_path_buf()));
        }
        fs::rename(&tmp, path).map_err(io_error(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a PKCS#8 PEM private key, refusing files other users can access.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let pem = read_owner_only(path)?;
    let text = std::str::from_utf8(&pem).map_err(|_| KeyFileError::Invalid {
        path: path.to_path_buf(),
        source: KeyError::PrivateKeyPem("not UTF-8 text".into()),
    })?;
    SigningKey::from_pkcs8_pem(text).map_err(|source| KeyFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a secret file (key or tenant secret) that must be accessible to its owner only.
pub fn read_owner_only(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    let metadata = file.metadata().map_err(io_error(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge(path.to_path_buf()));
    }
    let mut contents = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut contents)
        .map_err(io_error(path))?;
    if contents.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge(path.to_path_buf()));
    }
    Ok(contents)
}

/// Writes a public key in text form (`ed25519:<hex>` and a newline). Public, so mode 0644.
pub fn write_public_key(path: &Path, key: &PublicKey, overwrite: bool) -> Result<(), KeyFileError> {
    if !overwrite && path.exists() {
        return Err(KeyFileError::Exists(path.to_path_buf()));
    }
    fs::write(path, format!("{}\n", key.to_text())).map_err(io_error(path))
}

/// Reads a public key in text form.
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyFileError> {
    let metadata = fs::metadata(path).map_err(io_error(path))?;
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge(path.to_path_buf()));
    }
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    PublicKey::from_text(&text).map_err(|source| KeyFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn write_read_roundtrip_0600_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = SigningKey::from_seed(&[5; 32]);
        write_private_key(&path, &key, false).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read_private_key(&path).unwrap().key_id(), key.key_id());
        let other = SigningKey::from_seed(&[6; 32]);
        assert_eq!(
            write_private_key(&path, &other, false).unwrap_err().code(),
            "keyfile.exists"
        );
        assert_eq!(read_private_key(&path).unwrap().key_id(), key.key_id());
        write_private_key(&path, &other, true).unwrap();
        assert_eq!(read_private_key(&path).unwrap().key_id(), other.key_id());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        write_private_key(&path, &SigningKey::from_seed(&[5; 32]), false).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private_key(&path).unwrap_err();
        assert_eq!(err.code(), "keyfile.permissions");
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn refuses_garbage_oversized_and_mismatched_public_half() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("g.pem");
        write_owner_only(&garbage, b"not a key", false).unwrap();
        assert_eq!(
            read_private_key(&garbage).unwrap_err().code(),
            "keyfile.invalid"
        );
        let big = dir.path().join("big.pem");
        write_owner_only(&big, &vec![b'A'; 20_000], false).unwrap();
        assert_eq!(
            read_private_key(&big).unwrap_err().code(),
            "keyfile.too_large"
        );
        // A PKCS#8 v2 file whose embedded public key belongs to another seed.
        let key = SigningKey::from_seed(&[5; 32]);
        let other = SigningKey::from_seed(&[6; 32]).public_key().to_bytes();
        let pem = key.to_pkcs8_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = STANDARD.decode(body).unwrap();
        let n = der.len();
        der[n - 32..].copy_from_slice(&other);
        let tampered = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let path = dir.path().join("t.pem");
        write_owner_only(&path, tampered.as_bytes(), false).unwrap();
        assert_eq!(
            read_private_key(&path).unwrap_err().code(),
            "keyfile.invalid"
        );
        let missing = dir.path().join("missing.pem");
        assert_eq!(read_private_key(&missing).unwrap_err().code(), "keyfile.io");
    }

    #[test]
    fn public_key_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        let pk = SigningKey::from_seed(&[5; 32]).public_key();
        write_public_key(&path, &pk, false).unwrap();
        assert_eq!(read_public_key(&path).unwrap(), pk);
    }
}
