//! `zkscim key …` run as a real process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Command, Output};

fn zkscim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkscim"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn generate_show_fingerprint_and_refuse_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("admin.pem");
    let pem_s = pem.to_str().unwrap();
    let o = zkscim(&["key", "generate", "--out", pem_s, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let fingerprint = v["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 16);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let before = std::fs::read(&pem).unwrap();
    let o = zkscim(&["key", "generate", "--out", pem_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(stderr(&o).contains("hint: pass --force"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&pem).unwrap(),
        before,
        "existing key untouched"
    );

    let o = zkscim(&["key", "fingerprint", pem_s]);
    assert_eq!(stdout(&o).trim(), fingerprint);
    let pubfile = dir.path().join("admin.pub");
    let o = zkscim(&["key", "fingerprint", pubfile.to_str().unwrap()]);
    assert_eq!(stdout(&o).trim(), fingerprint);
    let o = zkscim(&["key", "show", pem_s]);
    assert!(stdout(&o).contains(&format!("fingerprint: {fingerprint}")));
    assert!(
        !stdout(&o).contains("PRIVATE"),
        "never prints the private key"
    );
}

#[test]
fn bad_key_files_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = zkscim(&["key", "show", garbage.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let o = zkscim(&["key", "show", garbage.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["code"], "keyfile.invalid");
    let o = zkscim(&["key", "fingerprint", "ed25519:1234"]);
    assert_eq!(o.status.code(), Some(2));
    let o = zkscim(&["key", "show", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint:"));
}

#[test]
fn completions_are_generated() {
    let o = zkscim(&["completions", "bash"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("zkscim"));
}
