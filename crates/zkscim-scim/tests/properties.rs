//! Property tests: filter print/parse round trip, PATCH preserves schema validity (or errors
//! and leaves the resource untouched), hostile filters and paths never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use serde_json::{json, Number, Value};
use zkscim_scim::patch::parse_patch_path;
use zkscim_scim::validate::check_resource;
use zkscim_scim::{
    patch_resource, AttrPath, CompValue, CompareOp, Filter, ProtectionProfile, SchemaRegistry,
};

/// 512 cases by default; `PROPTEST_CASES` overrides for long runs.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

const OPS: [CompareOp; 9] = [
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,7}"
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop::sample::select(vec![
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ])),
        name(),
        prop::option::of(name()),
    )
        .prop_map(|(u, n, s)| AttrPath {
            urn: u.map(str::to_owned),
            name: n,
            sub_attr: s,
        })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|i| CompValue::Number(Number::from(i))),
        (-1.0e12f64..1.0e12).prop_map(|f| CompValue::Number(Number::from_f64(f).unwrap())),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (attr_path(), 0..OPS.len(), comp_value()).prop_map(|(path, i, value)| Filter::Compare {
            path,
            op: OPS[i],
            value
        }),
        attr_path().prop_map(|path| Filter::Present { path }),
    ]
}

fn logic(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
        inner.prop_map(Filter::negate),
    ]
}

fn val_filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, logic)
}

fn filter() -> impl Strategy<Value = Filter> {
    let base = prop_oneof![
        3 => leaf(),
        1 => (name(), val_filter()).prop_map(|(n, f)| Filter::ValuePath {
            path: AttrPath::new(n),
            filter: Box::new(f)
        }),
    ];
    base.prop_recursive(4, 24, 2, logic)
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@example.com", "type": "work", "primary": true}, {"value": "h@example.org", "type": "home"}],
        "active": true,
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"}
    })
}

fn patch_path() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec![
            "userName",
            "displayName",
            "active",
            "emails",
            "emails[type eq \"work\"].value",
            "emails[type eq \"home\"]",
            "emails[value co \"example\"].primary",
            "emails.primary",
            "emails.type",
            "name",
            "name.givenName",
            "name.nosuch",
            "nickName",
            "id",
            "meta.created",
            "groups",
            "password",
            "x509Certificates",
            "phoneNumbers[type eq \"mobile\"].value",
            "addresses[type eq \"work\"].streetAddress",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "nosuch",
            "emails[",
            "emails[type eq \"work\"].nosuch",
        ])
        .prop_map(str::to_owned),
    )
}

fn patch_value() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop::sample::select(vec![
        json!("x"),
        json!(""),
        json!(true),
        json!("False"),
        json!(7),
        json!(null),
        json!({"value": "n@example.com", "type": "work", "primary": true}),
        json!({"value": "n@example.com", "type": "bogus"}),
        json!([{"value": "a@example.com", "type": "home"}, {"value": "c@example.com", "primary": true}]),
        json!([{"value": "a@example.com", "primary": true}, {"value": "c@example.com", "primary": true}]),
        json!({"givenName": "Babs"}),
        json!({"department": "Tours", "manager": "m1"}),
        json!({"displayName": "B", "name.familyName": "J", "active": "true"}),
        json!({"userName": null}),
        json!([]),
        json!({}),
        json!([1, 2]),
    ]))
}

fn op_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["add", "remove", "replace", "Replace", "ADD", "move"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn filter_print_parse_roundtrip(f in filter()) {
        let printed = f.to_string();
        let parsed = Filter::parse(&printed);
        prop_assert_eq!(parsed, Ok(f), "printed: {}", printed);
    }

    #[test]
    fn garbage_filters_never_panic(s in "\\PC{0,200}") {
        let rs = SchemaRegistry::with_builtins().resource_schema("User").unwrap();
        if let Ok(f) = Filter::parse(&s) {
            let _ = f.check(&rs, &ProtectionProfile::clear());
            let _ = f.matches(&user(), &rs);
            prop_assert_eq!(Filter::parse(&f.to_string()), Ok(f));
        }
    }

    #[test]
    fn filterish_garbage_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "(", ")", "[", "]", " ", "not", "and", "or", "eq", "pr", "\"", "\\", "emails", ".", ":",
        "urn:x:y", "1", "-", "e5", "true", "null", "\"a\"", "userName", "value", "$ref",
    ]), 0..60)) {
        let s: String = parts.concat();
        let rs = SchemaRegistry::with_builtins().resource_schema("User").unwrap();
        if let Ok(f) = Filter::parse(&s) {
            let _ = f.check(&rs, &ProtectionProfile::clear());
            let _ = f.matches(&user(), &rs);
        }
        let _ = parse_patch_path(&s, &rs);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn garbage_paths_never_panic(s in "\\PC{0,120}") {
        let rs = SchemaRegistry::with_builtins().resource_schema("User").unwrap();
        let _ = parse_patch_path(&s, &rs);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn patch_keeps_resource_valid(ops in prop::collection::vec((op_name(), patch_path(), patch_value()), 1..6)) {
        let reg = SchemaRegistry::with_builtins();
        let rs = reg.resource_schema("User").unwrap();
        let prot = ProtectionProfile::clear();
        let before = user();
        check_resource(&before, &rs, &prot).unwrap();
        let operations: Vec<Value> = ops
            .iter()
            .map(|(op, path, value)| {
                let mut o = serde_json::Map::new();
                o.insert("op".into(), json!(op));
                if let Some(p) = path {
                    o.insert("path".into(), json!(p));
                }
                if let Some(v) = value {
                    o.insert("value".into(), v.clone());
                }
                Value::Object(o)
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        let mut res = before.clone();
        match patch_resource(&mut res, &body, &rs, &prot) {
            Ok(_) => {
                if let Err(e) = check_resource(&res, &rs, &prot) {
                    prop_assert!(false, "PATCH left an invalid resource: {e}\nbody: {body}\nresult: {res}");
                }
                // schemas lists exactly the extensions present
                let has_ext = res.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").is_some();
                prop_assert_eq!(res["schemas"].as_array().unwrap().len(), if has_ext { 2 } else { 1 });
            }
            Err(e) => {
                prop_assert_eq!(&res, &before, "resource changed despite error {}", e);
                prop_assert!(!e.detail().is_empty());
            }
        }
    }
}

fn member_op() -> impl Strategy<Value = Value> {
    let id = prop::sample::select(vec!["m0", "m1", "m2", "m5", "m6"]);
    let ids = prop::collection::vec(id.clone(), 0..4);
    prop_oneof![
        ids.clone()
            .prop_map(|v| json!({"op": "add", "path": "members",
            "value": v.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()})),
        ids.clone()
            .prop_map(|v| json!({"op": "replace", "path": "members",
            "value": v.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()})),
        id.clone()
            .prop_map(|i| json!({"op": "remove", "path": format!("members[value eq \"{i}\"]")})),
        (id.clone(), id.clone()).prop_map(|(a, b)| json!({"op": "remove",
            "path": format!("members[value eq \"{a}\" or value eq \"{b}\"]")})),
        ids.prop_map(|v| json!({"op": "Remove", "path": "members",
            "value": v.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()})),
        Just(json!({"op": "remove", "path": "members"})),
        Just(json!({"op": "replace", "path": "displayName", "value": "renamed"})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The membership delta a row-based store applies yields exactly the members a full
    /// in-place application yields.
    #[test]
    fn members_delta_agrees_with_full_application(ops in prop::collection::vec(member_op(), 1..6)) {
        use std::collections::BTreeSet;
        let reg = SchemaRegistry::with_builtins();
        let rs = reg.resource_schema("Group").unwrap();
        let prot = ProtectionProfile::clear();
        let initial = ["m0", "m1", "m2"];
        let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g",
            "displayName": "G", "members": initial.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()});
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let mut full = group.clone();
        let full_res = patch_resource(&mut full, &body, &rs, &prot);
        let is_member = |id: &str| initial.contains(&id);
        let delta = zkscim_scim::patch_members_delta(&body, &rs, &prot, &is_member);
        match (full_res, delta) {
            (Ok(_), Ok(Some(plan))) => {
                let mut set: BTreeSet<String> = if plan.members.remove_all {
                    BTreeSet::new()
                } else {
                    initial.iter().map(|s| (*s).to_owned()).collect()
                };
                for r in &plan.members.removed {
                    prop_assert!(set.remove(r), "removed non-member {}", r);
                }
                for a in &plan.members.added {
                    prop_assert!(set.insert(a["value"].as_str().unwrap().to_owned()), "added twice {}", a);
                }
                let got: BTreeSet<String> = full
                    .get("members")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                prop_assert_eq!(set, got, "body: {}", body);
            }
            (Ok(_), Ok(None)) => {}
            (Err(_), Err(_)) => {}
            (f, d) => prop_assert!(false, "full {:?} vs delta {:?} for {}", f.map(|_| ()), d.map(|_| ()), body),
        }
    }
}
