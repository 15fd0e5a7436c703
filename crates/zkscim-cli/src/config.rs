//! Client defaults: a flag beats its environment variable, which beats the config file.
//!
//! The config file is `$ZKSCIM_CONFIG_FILE` if set (it must then exist), else
//! `$XDG_CONFIG_HOME/zkscim/config.toml`, else `~/.config/zkscim/config.toml` (optional):
//!
//! ```toml
//! server = "http://127.0.0.1:8422"
//! key = "~/zkscim/admin.pem"
//! chain = "~/zkscim/admin.chain"
//! tenant_dir = "~/zkscim/acme"
//! ```
//!
//! Relative paths are relative to the directory holding the config file; `~/` is the home
//! directory. For the server, a URL recorded in the tenant's `tenant.json` comes last.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::files::read_limited;
use crate::output::CliError;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "ZKSCIM_CONFIG_FILE";

/// What the config file may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Authority URL.
    pub server: Option<String>,
    /// Signing key (.pem).
    pub key: Option<PathBuf>,
    /// Chain file of the signing key.
    pub chain: Option<PathBuf>,
    /// Tenant directory.
    pub tenant_dir: Option<PathBuf>,
    /// Where it was read from (for messages).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The config file's path, and whether it was named explicitly (then it must exist).
pub fn config_path() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some((base.join("zkscim").join("config.toml"), false))
}

fn expand(p: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        if let Some(h) = home() {
            return h.join(rest);
        }
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Config {
    /// Reads the config file, or the empty config when there is none.
    pub fn load() -> Result<Config, CliError> {
        let Some((path, explicit)) = config_path() else {
            return Ok(Config::default());
        };
        if !path.exists() {
            if explicit {
                return Err(CliError::new(
                    "config.missing",
                    format!(
                        "{CONFIG_ENV} names {}, which does not exist",
                        path.display()
                    ),
                )
                .hint(format!("create it, or unset {CONFIG_ENV}"))
                .input());
            }
            return Ok(Config::default());
        }
        let bytes = read_limited(&path, 64 * 1024, "config file")?;
        let bad = |why: String| {
            CliError::new("config.invalid", format!("{}: {why}", path.display()))
                .hint("the config file is TOML with optional keys server, key, chain, tenant_dir")
                .input()
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
        let mut cfg: Config = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        for p in [&mut cfg.key, &mut cfg.chain, &mut cfg.tenant_dir]
            .into_iter()
            .flatten()
        {
            *p = expand(p, &base);
        }
        cfg.path = Some(path);
        Ok(cfg)
    }

    /// The tenant directory: `flag` (`--tenant-dir` or `ZKSCIM_TENANT_DIR`), else the config
    /// file's, else an error saying where it may come from.
    pub fn tenant_dir_or(&self, flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
        flag.or_else(|| self.tenant_dir.clone()).ok_or_else(|| {
            CliError::new("input.tenant_dir", "no tenant directory given")
                .hint(self.sources("--tenant-dir", "ZKSCIM_TENANT_DIR", "tenant_dir"))
                .input()
        })
    }

    /// Where a setting may come from, for messages.
    pub fn sources(&self, flag: &str, env: &str, key: &str) -> String {
        match &self.path {
            Some(p) => format!("pass {flag}, set {env}, or set `{key}` in {}", p.display()),
            None => match config_path() {
                Some((p, _)) => format!(
                    "pass {flag}, set {env}, or set `{key}` in the config file {}",
                    p.display()
                ),
                None => format!("pass {flag} or set {env}"),
            },
        }
    }
}

/// Who signs, for which tenant, and where to send it: shared by every command that signs.
#[derive(Debug, Args, Clone)]
pub struct SignerArgs {
    /// The tenant directory (tenant.json, tenant.secret); else `tenant_dir` in the config file.
    #[arg(long, env = "ZKSCIM_TENANT_DIR")]
    pub tenant_dir: Option<PathBuf>,
    /// The signing key (.pem): the subject of the chain's last certificate, or the tenant root;
    /// else `key` in the config file.
    #[arg(long, env = "ZKSCIM_KEY")]
    pub key: Option<PathBuf>,
    /// The signer's chain file, root-signed first; else `chain` in the config file; omit when
    /// the tenant root key signs.
    #[arg(long, env = "ZKSCIM_CHAIN")]
    pub chain: Option<PathBuf>,
    /// Authority URL; else `server` in the config file, else the tenant's recorded server.
    #[arg(long, env = "ZKSCIM_SERVER")]
    pub server: Option<String>,
}

/// The settings after applying flag > environment > config file.
#[derive(Debug)]
pub struct Resolved {
    pub tenant_dir: PathBuf,
    pub key: PathBuf,
    pub chain: Option<PathBuf>,
    /// Server from flag or environment only.
    pub server_flag: Option<String>,
    /// Server from the config file.
    pub server_config: Option<String>,
}

impl SignerArgs {
    /// Applies the config file's defaults.
    pub fn resolve(self, cfg: &Config) -> Result<Resolved, CliError> {
        let tenant_dir = cfg.tenant_dir_or(self.tenant_dir)?;
        let key = self.key.or_else(|| cfg.key.clone()).ok_or_else(|| {
            CliError::new("input.key", "no signing key given")
                .hint(cfg.sources("--key", "ZKSCIM_KEY", "key"))
                .input()
        })?;
        Ok(Resolved {
            tenant_dir,
            key,
            chain: self.chain.or_else(|| cfg.chain.clone()),
            server_flag: self.server,
            server_config: cfg.server.clone(),
        })
    }
}
