//! Fuzz the filter parser, printer, checker and evaluator: never panic, and anything that
//! parses must print to a string that parses back to the same AST.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use zkscim_scim::{Filter, Protection, ProtectionProfile, SchemaRegistry};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let reg = SchemaRegistry::with_builtins();
    let rs = reg.resource_schema("User").unwrap();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "bjensen", "active": true, "title": "Guide",
        "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"}
    });
    if let Ok(f) = Filter::parse(s) {
        let printed = f.to_string();
        assert_eq!(
            Filter::parse(&printed),
            Ok(f.clone()),
            "round trip of {printed:?}"
        );
        let _ = f.check(&rs, &ProtectionProfile::clear());
        let sealed = ProtectionProfile::clear().with(
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "userName",
            Protection::SealedIndexed,
        );
        let _ = f.check(&rs, &sealed);
        let _ = f.matches(&user, &rs);
        let _ = f.attribute_paths(&rs);
    }
});
