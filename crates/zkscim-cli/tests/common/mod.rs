//! Helpers shared by the CLI integration tests: run the real binary in a scratch directory.
#![allow(dead_code)]

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `zkscim args…` in `dir`, with `stdin` fed in and `envs` set. HOME is `dir` (so no
/// user config file leaks in), and no ZKSCIM_* variable of the outer environment does either.
pub fn run_with(dir: &Path, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkscim"));
    cmd.current_dir(dir).args(args).env("HOME", dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZKSCIM_") || k == "XDG_CONFIG_HOME" {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_with(dir, args, None, &[])
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Asserts a failure with `exit` whose stderr mentions `needle` and carries a hint; returns
/// the stderr.
pub fn fails(o: &Output, exit: i32, needle: &str) -> String {
    assert_eq!(
        o.status.code(),
        Some(exit),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(err.contains("hint:"), "expected a hint in: {err}");
    err
}

/// Names of the files in `dir` (no temp files may remain after a failure).
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A tenant `acme` in `dir/acme`, an admin (depth 1, delegate) and an okta connector under it:
/// `admin.pem/.pub/.cert/.chain`, `okta.pem/.pub/.cert/.chain`.
pub fn setup(dir: &Path) {
    ok(&run(
        dir,
        &["tenant", "init", "--tenant", "acme", "--dir", "acme"],
    ));
    issue_chain(dir, &["--cap", "reactivate"]);
}

/// Keys and certificates under the tenant in `dir/acme`: an admin (depth 1, delegate, revoke,
/// reactivate) and an okta connector under it with `connector_extra` arguments.
pub fn issue_chain(dir: &Path, connector_extra: &[&str]) {
    ok(&run(dir, &["key", "generate", "--out", "admin.pem"]));
    ok(&run(dir, &["key", "generate", "--out", "okta.pem"]));
    ok(&run(
        dir,
        &[
            "cert",
            "issue",
            "--issuer-key",
            "acme/root.pem",
            "--tenant",
            "acme",
            "--subject",
            "admin.pub",
            "--ops",
            "create,replace,patch,delete,read",
            "--types",
            "User,Group",
            "--attrs",
            "*",
            "--cap",
            "delegate,revoke,reactivate",
            "--depth",
            "1",
            "--ttl",
            "30d",
            "--label",
            "admin",
            "--out",
            "admin.cert",
            "--chain-out",
            "admin.chain",
        ],
    ));
    let mut args = vec![
        "cert",
        "issue",
        "--issuer-key",
        "admin.pem",
        "--parent",
        "admin.chain",
        "--subject",
        "okta.pub",
        "--ops",
        "create,replace,patch",
        "--types",
        "User",
        "--attrs",
        "active,name.*,userName,externalId,emails,displayName",
        "--ttl",
        "24h",
        "--label",
        "okta-prod",
        "--out",
        "okta.cert",
        "--chain-out",
        "okta.chain",
    ];
    args.extend_from_slice(connector_extra);
    ok(&run(dir, &args));
}

/// A real `zkscim serve` on 127.0.0.1 with a temporary database; killed on drop.
pub struct Server {
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `zkscim serve` on a free loopback port (operator token `op-token`).
pub fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkscim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "op-token",
            "--db",
        ])
        .arg(dir.path().join("z.db"))
        .env_remove("ZKSCIM_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("zkscim listening on ")
        .unwrap()
        .to_owned();
    Server {
        child,
        _stdout: stdout,
        url,
        _dir: dir,
    }
}
