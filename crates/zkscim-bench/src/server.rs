//! The server under test: the `zkscim` binary as a child process, or the same router served
//! in-process (`--embedded-server`). Both listen on 127.0.0.1:0 with a throw-away database.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zkscim_authority::http::{router, HttpConfig};
use zkscim_authority::{Authority, Config};
use zkscim_proto::keys::SigningKey;

use crate::http::check_loopback;

/// Longest wait for the server to start or stop.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server.
#[derive(Debug)]
pub enum Server {
    /// `zkscim serve` child process.
    External {
        /// The child.
        child: Child,
        /// Listening address.
        addr: SocketAddr,
    },
    /// The router served by this process.
    Embedded {
        /// The authority behind it.
        authority: Authority,
        /// Listening address.
        addr: SocketAddr,
        /// Tells the server to stop.
        stop: tokio::sync::oneshot::Sender<()>,
        /// The serving task.
        task: tokio::task::JoinHandle<()>,
    },
}

/// Where `zkscim` is: `--server-bin`, else beside this executable (same target directory), else
/// one directory up (when run as a test binary from `target/<profile>/deps`).
pub fn locate_server_bin(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--server-bin {}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let name = format!("zkscim{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Some(dir) = exe.parent() {
        candidates.push(dir.join(&name));
        if let Some(up) = dir.parent() {
            candidates.push(up.join(&name));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "no zkscim binary beside {}: build it (cargo build --release -p zkscim-cli), \
             pass --server-bin PATH, or use --embedded-server",
            exe.display()
        )
    })
}

/// The log key file the server reads (`<db>.log-key.pem`).
pub fn log_key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".log-key.pem");
    db.with_file_name(name)
}

impl Server {
    /// Starts `bin serve` on `db` and waits for its listening line.
    pub fn start_external(bin: &Path, db: &Path, admin_token: &str) -> Result<Server, String> {
        let stderr_path = db.with_extension("server.log");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| format!("{}: {e}", stderr_path.display()))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--db")
            .arg(db)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--admin-token")
            .arg(admin_token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .env_remove("ZKSCIM_CONFIG")
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "no stdout from the server".to_owned())?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads the first line, then drains the rest so the server never blocks on its stdout.
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(stdout);
            for line in reader.lines().take(1_000_000) {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!("the server did not start: {log}"));
            }
        };
        let addr: SocketAddr = first
            .trim()
            .strip_prefix("zkscim listening on http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {first}"))?;
        check_loopback(&addr)?;
        Ok(Server::External { child, addr })
    }

    /// Serves the router in this process; the caller's runtime runs it.
    pub async fn start_embedded(authority: Authority, admin_token: &str) -> Result<Server, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let app = router(authority.clone(), HttpConfig::with_admin_token(admin_token));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Server::Embedded {
            authority,
            addr,
            stop,
            task,
        })
    }

    /// The server's process id when it is a child process.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Server::External { child, .. } => Some(child.id()),
            Server::Embedded { .. } => None,
        }
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::External { addr, .. } | Server::Embedded { addr, .. } => *addr,
        }
    }

    /// Graceful stop: SIGTERM for the child (killed if it does not exit in time), shutdown
    /// signal and writer drain in-process.
    pub async fn stop(self) -> Result<(), String> {
        match self {
            Server::External { mut child, .. } => {
                let pid = child.id().to_string();
                let _ = Command::new("kill")
                    .args(["-TERM", &pid])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let started = Instant::now();
                while started.elapsed() < STOP_TIMEOUT {
                    if let Ok(Some(status)) = child.try_wait() {
                        return if status.success() {
                            Ok(())
                        } else {
                            Err(format!("the server exited with {status}"))
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = child.kill();
                let _ = child.wait();
                Err("the server did not stop after SIGTERM; killed it".into())
            }
            Server::Embedded {
                authority,
                stop,
                task,
                ..
            } => {
                let _ = stop.send(());
                let _ = tokio::time::timeout(STOP_TIMEOUT, task).await;
                tokio::task::spawn_blocking(move || authority.shutdown())
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Opens an authority on `db` with `log_key`, as the server would.
pub fn open_authority(db: &Path, log_key: &SigningKey) -> Result<Authority, String> {
    Authority::open(Config::new(db.to_path_buf(), log_key)).map_err(|e| e.to_string())
}

/// CPU seconds (user + system) of a process, and of its thread named `zkscim-writer`, from
/// `/proc` (Linux; zero elsewhere). Clock ticks are taken as 100 per second.
pub fn cpu_seconds(pid: u32) -> (f64, f64) {
    let ticks = |stat: &str| -> f64 {
        let (user, system) = zkscim_audit::bench::stat_cpu_seconds(stat);
        user + system
    };
    let total = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| ticks(&s))
        .unwrap_or(0.0);
    let mut writer = 0.0;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in dir.take(4096).flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim() == "zkscim-writer" {
                writer += std::fs::read_to_string(path.join("stat"))
                    .map(|s| ticks(&s))
                    .unwrap_or(0.0);
            }
        }
    }
    (total, writer)
}
