//! Fuzz PATCH parsing and application: never panic; a successful PATCH leaves a resource that
//! passes schema validation; a failed PATCH leaves the resource unchanged.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use zkscim_scim::validate::check_resource;
use zkscim_scim::{patch_resource, touched_paths, ProtectionProfile, SchemaRegistry};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    let body: Value = if mode % 2 == 0 {
        match serde_json::from_str(s) {
            Ok(v) => v,
            Err(_) => return,
        }
    } else {
        // treat the input as a path with a few canned values
        let value = match mode % 8 {
            1 => json!("x"),
            3 => json!({"value": "m1", "type": "work", "primary": true}),
            5 => json!([{"value": "a@example.com"}]),
            _ => json!(null),
        };
        let op = ["add", "replace", "remove"][usize::from(mode / 8) % 3];
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": op, "path": s, "value": value}]})
    };
    let reg = SchemaRegistry::with_builtins();
    let prot = ProtectionProfile::clear();
    let fixtures = [
        (
            "User",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "b",
                   "name": {"givenName": "B"},
                   "emails": [{"value": "b@example.com", "type": "work", "primary": true}, {"value": "h@x.org", "type": "home"}],
                   "meta": {"resourceType": "User"}}),
        ),
        (
            "Group",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G",
                   "members": [{"value": "m0"}, {"value": "m1", "type": "User"}]}),
        ),
    ];
    for (rt, before) in fixtures {
        let rs = reg.resource_schema(rt).unwrap();
        let _ = touched_paths(&body, &rs);
        let mut res = before.clone();
        match patch_resource(&mut res, &body, &rs, &prot) {
            Ok(_) => {
                if let Err(e) = check_resource(&res, &rs, &prot) {
                    panic!("PATCH left invalid {rt}: {e}: {res}");
                }
            }
            Err(_) => assert_eq!(res, before, "resource changed despite error"),
        }
    }
});
