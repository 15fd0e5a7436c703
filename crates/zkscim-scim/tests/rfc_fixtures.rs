//! Runs every fixture under `tests/fixtures/`. File names carry the RFC section they come from
//! (`rfc7644_3.5.2.1_add_member.json`) or the dialect normalisation they exercise
//! (`dialect_entra_boolean_string.json`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use serde_json::Value;
use zkscim_scim::validate::check_resource;
use zkscim_scim::{patch_resource, ProtectionProfile, SchemaRegistry};

mod support;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn assert_error(name: &str, err: &zkscim_scim::ScimError, expect: &Value) {
    let body = err.to_json();
    assert_eq!(body["status"], expect["status"], "{name}: {err}");
    if let Some(t) = expect.get("scimType") {
        assert_eq!(&body["scimType"], t, "{name}: {err}");
    }
    assert!(!err.detail().is_empty());
}

#[test]
fn all_fixtures() {
    let reg = SchemaRegistry::with_builtins();
    let prot = ProtectionProfile::clear();
    let mut ran = 0;
    for (name, fx) in fixtures() {
        let kind = fx["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no kind"));
        match kind {
            "patch" => {
                let rs = reg
                    .resource_schema(fx["resource_type"].as_str().unwrap())
                    .unwrap();
                let before = fx["before"].clone();
                check_resource(&before, &rs, &prot)
                    .unwrap_or_else(|e| panic!("{name}: before invalid: {e}"));
                let mut res = before.clone();
                let r = patch_resource(&mut res, &fx["request"], &rs, &prot);
                if let Some(expect) = fx.get("expect_error") {
                    let err = r.expect_err(&name);
                    assert_error(&name, &err, expect);
                    assert_eq!(res, before, "{name}: resource changed despite error");
                } else {
                    r.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(res, fx["after"], "{name}");
                    check_resource(&res, &rs, &prot)
                        .unwrap_or_else(|e| panic!("{name}: after invalid: {e}"));
                }
            }
            other => support::run_fixture(&name, other, &fx, &reg),
        }
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} fixtures ran");
}
