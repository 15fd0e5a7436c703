//! `zkscim quickstart` runs the whole system and verifies its own log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

#[test]
fn quickstart_runs_clean_and_explains_itself() {
    let o = Command::new(env!("CARGO_BIN_EXE_zkscim"))
        .args(["quickstart", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["entries_verified"], 10);
    let steps: Vec<String> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap().to_owned())
        .collect();
    assert!(steps.iter().any(|s| s.contains("REFUSED")), "{steps:?}");
    let refusal = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["what"].as_str().unwrap().contains("add carol"))
        .unwrap();
    assert!(
        refusal["detail"]
            .as_str()
            .unwrap()
            .contains("scope.denied.attribute"),
        "{refusal}"
    );
    assert!(steps
        .last()
        .unwrap()
        .contains("removed the temporary database"));
}
