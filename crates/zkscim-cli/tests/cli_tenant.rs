//! `zkscim tenant …` run as a real process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use zkscim_proto::envelope::{Genesis, Signed};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_writes_the_tenant_directory_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = run(
        d,
        &[
            "tenant",
            "init",
            "--tenant",
            "acme",
            "--dir",
            "acme",
            "--server",
            "https://scim.example",
            "--json",
        ],
    );
    let v = json(&o);
    assert!(o.status.success());
    let fp = v["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(
        files(&d.join("acme")),
        ["root.pem", "root.pub", "tenant.json", "tenant.secret"]
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&d.join("acme/root.pem")), 0o600);
        assert_eq!(mode(&d.join("acme/tenant.secret")), 0o600);
    }
    let secret = std::fs::read_to_string(d.join("acme/tenant.secret")).unwrap();
    assert!(secret.starts_with("zksecret1."));
    assert!(
        !stdout(&o).contains(secret.trim()),
        "the secret is never printed"
    );
    let tj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("acme/tenant.json")).unwrap())
            .unwrap();
    assert_eq!(tj["tenant"], "acme");
    assert_eq!(tj["root_fingerprint"], fp.as_str());
    assert_eq!(tj["server_url"], "https://scim.example");
    assert_eq!(tj["protection_profile"]["default"], "sealed");
    let rules = tj["protection_profile"]["rules"].as_array().unwrap();
    assert!(rules
        .iter()
        .any(|r| r["path"] == "username" && r["protection"] == "sealed_indexed"));
    assert!(rules
        .iter()
        .any(|r| r["path"] == "active" && r["protection"] == "clear"));
    assert_eq!(
        stdout(&run(d, &["key", "fingerprint", "acme/root.pub"])).trim(),
        fp
    );

    // Human output names the fingerprint and the next step.
    let human = ok(&run(
        d,
        &["tenant", "init", "--tenant", "beta", "--dir", "beta"],
    ));
    assert!(
        human.contains("fingerprint:")
            && human.contains("out of band")
            && human.contains("cert issue"),
        "{human}"
    );

    // A second init refuses and changes nothing.
    let before = std::fs::read(d.join("acme/root.pem")).unwrap();
    let o = run(d, &["tenant", "init", "--tenant", "acme", "--dir", "acme"]);
    fails(&o, 1, "already exists");
    assert!(stderr(&o).contains("--force"));
    assert_eq!(std::fs::read(d.join("acme/root.pem")).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(d.join("acme/tenant.secret")).unwrap(),
        secret
    );
    // Even a directory with only one of the files is refused, and nothing is added to it.
    std::fs::create_dir(d.join("partial")).unwrap();
    std::fs::write(d.join("partial/tenant.json"), "{}").unwrap();
    fails(
        &run(
            d,
            &["tenant", "init", "--tenant", "acme", "--dir", "partial"],
        ),
        1,
        "tenant.json already exists",
    );
    assert_eq!(files(&d.join("partial")), ["tenant.json"]);
    // --force replaces.
    let v = json(&run(
        d,
        &[
            "tenant", "init", "--tenant", "acme", "--dir", "acme", "--force", "--json",
        ],
    ));
    assert_ne!(v["fingerprint"].as_str().unwrap(), fp);
    assert_eq!(
        files(&d.join("acme")),
        ["root.pem", "root.pub", "tenant.json", "tenant.secret"]
    );

    fails(
        &run(
            d,
            &["tenant", "init", "--tenant", "Acme Corp", "--dir", "x"],
        ),
        2,
        "invalid tenant id",
    );
    assert!(!d.join("x").exists());
}

#[test]
fn show_and_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = json(&run(
        d,
        &[
            "tenant", "init", "--tenant", "acme", "--dir", "acme", "--json",
        ],
    ));
    let fp = v["fingerprint"].as_str().unwrap().to_owned();
    let secret = std::fs::read_to_string(d.join("acme/tenant.secret")).unwrap();
    let out = ok(&run(d, &["tenant", "show", "--dir", "acme"]));
    assert!(
        out.contains("acme") && out.contains(&fp) && out.contains("username"),
        "{out}"
    );
    assert!(!out.contains(secret.trim()));
    // The directory also comes from the environment.
    let o = run_with(
        d,
        &["tenant", "show", "--json"],
        None,
        &[("ZKSCIM_TENANT_DIR", "acme")],
    );
    let v = json(&o);
    assert_eq!(v["fingerprint"], fp.as_str());
    assert_eq!(v["secret"], "present (mode 0600)");

    ok(&run(
        d,
        &[
            "tenant",
            "genesis",
            "--dir",
            "acme",
            "--out",
            "genesis.cbor",
        ],
    ));
    let bytes = std::fs::read(d.join("genesis.cbor")).unwrap();
    let genesis = Signed::<Genesis>::parse(&bytes).unwrap();
    assert_eq!(genesis.header().tenant, "acme");
    assert_eq!(genesis.body().root.key_id().short(), fp);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    genesis.verify_genesis(now, 300).unwrap();
    fails(
        &run(
            d,
            &[
                "tenant",
                "genesis",
                "--dir",
                "acme",
                "--out",
                "genesis.cbor",
            ],
        ),
        1,
        "already exists",
    );

    fails(
        &run(d, &["tenant", "show", "--dir", "nowhere"]),
        1,
        "tenant init",
    );
    std::fs::write(d.join("acme/tenant.json"), "{not json").unwrap();
    fails(&run(d, &["tenant", "show", "--dir", "acme"]), 2, "not JSON");
}
