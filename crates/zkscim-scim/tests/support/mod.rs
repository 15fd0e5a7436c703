//! Fixture kinds other than `patch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;
use zkscim_scim::SchemaRegistry;

pub fn run_fixture(name: &str, kind: &str, _fx: &Value, _reg: &SchemaRegistry) {
    panic!("{name}: unknown fixture kind '{kind}'");
}
