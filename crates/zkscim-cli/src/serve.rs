//! `zkscim serve`: run the authority over HTTP on SQLite.
//!
//! Settings come from flags, else the environment (`ZKSCIM_*`), else a TOML config file, else
//! defaults. The log key is generated on first start and kept beside the database (0600).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use zkscim_authority::http::{router, HttpConfig};
use zkscim_authority::{Authority, Config};
use zkscim_proto::keys::SigningKey;

use crate::output::{CliError, Output};

/// Run the authority server.
///
/// Example: `ZKSCIM_ADMIN_TOKEN=s3cret zkscim serve --db ./zkscim.db --listen 127.0.0.1:8422`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// SQLite database file [default: ./zkscim.db].
    #[arg(long, env = "ZKSCIM_DB")]
    db: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8422].
    #[arg(long, env = "ZKSCIM_LISTEN")]
    listen: Option<SocketAddr>,
    /// Operator token that authorises tenant creation. Without one, a random token is written
    /// beside the database (`<db>.admin-token`, 0600) and its path printed.
    #[arg(long, env = "ZKSCIM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Log key (PKCS#8 PEM) [default: `<db>.log-key.pem`, generated on first start].
    #[arg(long, env = "ZKSCIM_LOG_KEY")]
    log_key: Option<PathBuf>,
    /// Checkpoint origin prefix; each tenant's log is `<prefix>/<tenant>` [default: zkscim.local].
    #[arg(long, env = "ZKSCIM_ORIGIN")]
    origin: Option<String>,
    /// Allowed clock skew for issued-at, in seconds [default: 300].
    #[arg(long, env = "ZKSCIM_SKEW_SECS")]
    skew_secs: Option<u64>,
    /// TOML config file with any of: db, listen, admin_token_file, log_key, origin, skew_secs.
    #[arg(long, env = "ZKSCIM_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin_token_file: Option<PathBuf>,
    log_key: Option<PathBuf>,
    origin: Option<String>,
    skew_secs: Option<u64>,
}

fn read_config(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::new("config.io", format!("{}: {e}", path.display()))
            .hint("check the --config path")
    })?;
    toml::from_str(&text).map_err(|e| {
        CliError::new("config.invalid", format!("{}: {e}", path.display()))
            .hint("allowed keys: db, listen, admin_token_file, log_key, origin, skew_secs")
            .input()
    })
}

fn load_or_create_log_key(path: &Path) -> Result<SigningKey, CliError> {
    if path.exists() {
        return Ok(zkscim_keyfile::read_private_key(path)?);
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    zkscim_keyfile::write_private_key(path, &key, false)?;
    tracing::info!(path = %path.display(), "generated a new log key");
    Ok(key)
}

fn load_or_create_admin_token(path: &Path) -> Result<String, CliError> {
    if path.exists() {
        let bytes = zkscim_keyfile::read_owner_only(path)?;
        return Ok(String::from_utf8_lossy(&bytes).trim().to_owned());
    }
    let mut raw = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    let token = hex::encode(raw);
    zkscim_keyfile::write_owner_only(path, format!("{token}\n").as_bytes(), false)?;
    Ok(token)
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    db.with_file_name(name)
}

pub fn run(args: ServeArgs, out: &Output) -> Result<(), CliError> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => FileConfig::default(),
    };
    let db = args
        .db
        .or(file.db)
        .unwrap_or_else(|| PathBuf::from("zkscim.db"));
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8422)));
    let log_key_path = args
        .log_key
        .or(file.log_key)
        .unwrap_or_else(|| beside(&db, ".log-key.pem"));
    let log_key = load_or_create_log_key(&log_key_path)?;
    let (admin_token, token_file) = match args.admin_token {
        Some(t) => (t, None),
        None => {
            let path = file
                .admin_token_file
                .unwrap_or_else(|| beside(&db, ".admin-token"));
            (load_or_create_admin_token(&path)?, Some(path))
        }
    };
    let mut config = Config::new(db.clone(), &log_key);
    if let Some(origin) = args.origin.or(file.origin) {
        config.origin_prefix = origin;
    }
    if let Some(skew) = args.skew_secs.or(file.skew_secs) {
        config.settings.skew_secs = skew;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("serve.runtime", e))?;
    runtime.block_on(async move {
        let authority = Authority::open(config).map_err(|e| {
            CliError::new("serve.open", format!("{}: {e}", db.display()))
                .hint("is another zkscim serving this database, or was the file damaged?")
        })?;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            CliError::new("serve.bind", format!("cannot listen on {listen}: {e}"))
                .hint("pick another --listen address, or 127.0.0.1:0 for any free port")
        })?;
        let local = listener.local_addr().map_err(|e| CliError::new("serve.bind", e))?;
        out.result(
            &format!(
                "zkscim listening on http://{local}\ndatabase: {}\nlog key:  {} ({})\noperator token: {}",
                db.display(),
                log_key_path.display(),
                log_key.public_key().key_id().short(),
                token_file
                    .as_ref()
                    .map_or_else(|| "from --admin-token / ZKSCIM_ADMIN_TOKEN".to_owned(), |p| format!("in {}", p.display()))
            ),
            &serde_json::json!({
                "listen": format!("http://{local}"),
                "database": db,
                "log_key": log_key_path,
                "log_public_key": log_key.public_key().to_text(),
                "admin_token_file": token_file,
            }),
        );
        let app = router(authority.clone(), HttpConfig::with_admin_token(&admin_token));
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| CliError::new("serve.http", e))?;
        // Let the writer finish the batch in flight before the process exits.
        let writer = authority.clone();
        tokio::task::spawn_blocking(move || writer.shutdown())
            .await
            .map_err(|e| CliError::new("serve.shutdown", e))?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the batch in flight");
}
