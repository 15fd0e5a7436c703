//! End-to-end behaviour the authority and gateway rely on: hostile input, membership deltas,
//! touched paths, non-human identities, sealed values, custom extensions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{json, Value};
use zkscim_scim::list::check_sort_by;
use zkscim_scim::patch::{parse_patch_with_limits, plan_members_delta};
use zkscim_scim::schema::{AGENT_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use zkscim_scim::validate::check_resource;
use zkscim_scim::{
    parse_list_query, parse_patch, patch_members_delta, patch_resource, touched_paths,
    validate_create, AttributeDef, Filter, ListConfig, PatchLimits, PatchOpKind, Protection,
    ProtectionProfile, Schema, SchemaRegistry,
};

const P: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn body(ops: Value) -> Value {
    json!({"schemas": [P], "Operations": ops})
}

#[test]
fn hostile_filters_are_errors_not_crashes() {
    for s in [
        "(".repeat(10_000),
        format!("{}a eq 1{}", "(".repeat(5000), ")".repeat(5000)),
        "not (".repeat(2000),
        "a[".repeat(3000),
        format!("a eq \"{}", "\\".repeat(7000)),
        "a eq 1 and ".repeat(700) + "a eq 1",
        "\u{0}\u{1}\u{ffff}".into(),
    ] {
        let e = Filter::parse(&s).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidFilter"), "{}", e.detail());
    }
    // many terms within limits still parse; deep but legal nesting still works
    assert!(Filter::parse(&format!("{}a eq 1{}", "(".repeat(30), ")".repeat(30))).is_ok());
}

#[test]
fn oversized_patch_is_413() {
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("Group")
        .unwrap();
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "add", "path": "displayName", "value": format!("g{i}")}))
        .collect();
    let e = parse_patch(&body(Value::Array(ops)), &rs).unwrap_err();
    assert_eq!(e.status(), 413);
    let many: Vec<Value> = (0..20).map(|i| json!({"value": format!("m{i}")})).collect();
    let limits = PatchLimits {
        max_values_per_operation: 10,
        ..PatchLimits::default()
    };
    let e = parse_patch_with_limits(
        &body(json!([{"op": "add", "path": "members", "value": many}])),
        &rs,
        &limits,
    )
    .unwrap_err();
    assert_eq!(e.status(), 413);
    let e = parse_patch(
        &body(json!([{"op": "add", "path": "a".repeat(5000), "value": 1}])),
        &rs,
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidPath"));
    let e = parse_patch(&json!({"schemas": [P], "Operations": []}), &rs).unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidSyntax"));
    let e = parse_patch(&json!({"Operations": [{"op": "add"}]}), &rs).unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidSyntax"));
    let e = parse_patch(&body(json!([{"op": "move", "path": "displayName"}])), &rs).unwrap_err();
    assert!(e.detail().contains("Operations[0]") && e.detail().contains("move"));
}

#[test]
fn touched_paths_are_resolved_and_normalised() {
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("User")
        .unwrap();
    let t = touched_paths(
        &body(json!([
            {"op": "Replace", "value": {"Active": "False", "name.givenName": "B",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"}},
            {"op": "add", "path": "EMAILS[type eq \"work\"].VALUE", "value": "x@y"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
        ])),
        &rs,
    )
    .unwrap();
    let keys: Vec<&str> = t.iter().map(|t| t.attribute.as_str()).collect();
    assert_eq!(
        keys,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User:active",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:core:2.0:User:emails.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ]
    );
    assert_eq!(t[0].op, PatchOpKind::Replace);
    assert_eq!(
        t[3].path,
        "urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"].value"
    );
    let ops = parse_patch(
        &body(json!([{"op": "replace", "path": "active", "value": "False"}])),
        &rs,
    )
    .unwrap();
    assert_eq!(ops[0].value, Some(json!(false)));
}

#[test]
fn members_delta_without_loading_members() {
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("Group")
        .unwrap();
    let prot = ProtectionProfile::clear();
    let existing = ["a", "b", "c"];
    let is_member = |id: &str| existing.contains(&id);
    let plan = patch_members_delta(
        &body(json!([
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "d"}, {"value": "d"}]},
            {"op": "remove", "path": "members[value eq \"b\" or value eq \"zz\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "c"}]},
            {"op": "replace", "path": "displayName", "value": "New name"}
        ])),
        &rs,
        &prot,
        &is_member,
    )
    .unwrap()
    .unwrap();
    assert!(!plan.members.remove_all);
    assert_eq!(plan.members.added, vec![json!({"value": "d"})]);
    assert_eq!(plan.members.removed, vec!["b".to_owned(), "c".to_owned()]);
    assert_eq!(plan.other_ops.len(), 1);
    // replace = remove all + add
    let plan = patch_members_delta(
        &body(json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}])),
        &rs,
        &prot,
        &is_member,
    )
    .unwrap()
    .unwrap();
    assert!(plan.members.remove_all);
    assert_eq!(plan.members.added, vec![json!({"value": "a"})]);
    // filters other than value eq fall back to full application
    let ops = parse_patch(
        &body(json!([{"op": "remove", "path": "members[display co \"x\"]"}])),
        &rs,
    )
    .unwrap();
    assert!(plan_members_delta(&ops, &rs, &prot, &is_member)
        .unwrap()
        .is_none());
    // invalid member values are rejected
    let e = patch_members_delta(
        &body(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}])),
        &rs,
        &prot,
        &is_member,
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidValue"));
}

#[test]
fn agents_follow_the_user_lifecycle() {
    let reg = SchemaRegistry::with_builtins();
    let rs = reg.resource_schema("Agent").unwrap();
    let prot = ProtectionProfile::clear();
    let mut agent = validate_create(
        &json!({"schemas": [AGENT_SCHEMA], "name": "trip-planner", "displayName": "Trip planner",
                "agentType": "Assistant", "active": true,
                "protocols": [{"type": "MCP-Server", "value": "https://agents.example.com/mcp"}],
                "owners": [{"value": "2819c223", "type": "User"}]}),
        &rs,
        &prot,
    )
    .unwrap();
    patch_resource(
        &mut agent,
        &body(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        &rs,
        &prot,
    )
    .unwrap();
    assert_eq!(agent["active"], false);
    check_resource(&agent, &rs, &prot).unwrap();
    let e = patch_resource(
        &mut agent,
        &body(json!([{"op": "remove", "path": "name"}])),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("mutability"));
    let e = validate_create(
        &json!({"schemas": [AGENT_SCHEMA], "displayName": "x"}),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert!(e.detail().contains("'name'"));
    let app = reg.resource_schema("AgenticApplication").unwrap();
    assert!(validate_create(
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:AgenticApplication"], "name": "travel-suite",
                "applicationUrl": "https://travel.example.com"}),
        &app,
        &prot
    )
    .is_ok());
    // agents can be group members
    let grs = reg.resource_schema("Group").unwrap();
    let mut g = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "bots"});
    patch_resource(
        &mut g,
        &body(json!([{"op": "add", "path": "members", "value": [{"value": "agent-1", "type": "Agent"}]}])),
        &grs,
        &prot,
    )
    .unwrap();
    assert_eq!(g["members"][0]["type"], "Agent");
}

#[test]
fn sealed_values_filters_and_sorting() {
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("User")
        .unwrap();
    let prot = ProtectionProfile::clear()
        .with(USER_SCHEMA, "userName", Protection::SealedIndexed)
        .with(USER_SCHEMA, "emails.value", Protection::SealedIndexed)
        .with(ENTERPRISE_USER_SCHEMA, "employeeNumber", Protection::Sealed);
    let cfg = ListConfig::default();
    let q = |f: &str| parse_list_query(&[("filter", f)], &rs, &prot, &cfg);
    assert!(q("userName eq \"zkx1.q9Zx\"").is_ok());
    assert!(q("emails[type eq \"work\" and value eq \"zkx1.abc\"]").is_ok());
    for bad in [
        "userName eq \"bjensen\"",
        "userName co \"zkx1.q9Zx\"",
        "userName pr",
        "emails co \"example.com\"",
        "emails[value sw \"b\"]",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"zkx1.a\"",
    ] {
        let e = q(bad).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidFilter"), "{bad}");
        assert!(e.detail().contains("sealed"), "{bad}: {}", e.detail());
    }
    let e = parse_list_query(&[("sortBy", "emails")], &rs, &prot, &cfg).unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidFilter"));
    assert!(check_sort_by("displayName", &rs, &prot).is_ok());
    // PATCHing a sealed attribute requires a sealed value
    let mut u = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "zk1.AAAA"});
    let e = patch_resource(
        &mut u,
        &body(json!([{"op": "replace", "path": "userName", "value": "plain"}])),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert!(e.detail().contains("sealed"));
    patch_resource(
        &mut u,
        &body(json!([{"op": "replace", "path": "userName", "value": "zk1.BBBB"}])),
        &rs,
        &prot,
    )
    .unwrap();
    // value filters inside PATCH paths follow the same rules
    let e = patch_resource(
        &mut u,
        &body(json!([{"op": "remove", "path": "emails[value eq \"b@example.com\"]"}])),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("invalidFilter"));
    assert!(e.detail().contains("Operations[0]"));
    patch_resource(
        &mut u,
        &body(json!([{"op": "remove", "path": "emails[value eq \"zkx1.tok\"]"}])),
        &rs,
        &prot,
    )
    .unwrap();
}

#[test]
fn custom_extension_end_to_end() {
    let mut reg = SchemaRegistry::with_builtins();
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    reg.register_schema(Schema::new(
        urn,
        "AcmeUser",
        "Acme",
        vec![
            AttributeDef::string("badge").case_exact().required(),
            AttributeDef::integer("clearance"),
        ],
    ))
    .unwrap();
    reg.add_extension("User", urn, false).unwrap();
    let rs = reg.resource_schema("User").unwrap();
    let prot = ProtectionProfile::clear();
    let mut u = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "b"});
    patch_resource(
        &mut u,
        &body(json!([{"op": "add", "path": urn, "value": {"badge": "B-7", "clearance": 3}}])),
        &rs,
        &prot,
    )
    .unwrap();
    assert_eq!(u["schemas"], json!([USER_SCHEMA, urn]));
    let f = Filter::parse(&format!("{urn}:clearance ge 2")).unwrap();
    f.check(&rs, &prot).unwrap();
    assert!(f.matches(&u, &rs));
    let e = patch_resource(
        &mut u,
        &body(json!([{"op": "remove", "path": format!("{urn}:badge")}])),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), Some("mutability"));
    let e = patch_resource(
        &mut u,
        &body(json!([{"op": "replace", "path": format!("{urn}:clearance"), "value": "high"}])),
        &rs,
        &prot,
    )
    .unwrap_err();
    assert!(e.detail().contains("clearance"));
    // an optional extension can be removed as a whole even though it has required attributes
    patch_resource(
        &mut u,
        &body(json!([{"op": "remove", "path": urn}])),
        &rs,
        &prot,
    )
    .unwrap();
    assert_eq!(u["schemas"], json!([USER_SCHEMA]));
    assert!(u.get(urn).is_none());
    check_resource(&u, &rs, &prot).unwrap();
}

#[test]
fn primary_is_kept_unique() {
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("User")
        .unwrap();
    let prot = ProtectionProfile::clear();
    let mut u = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "b",
        "emails": [{"value": "a@x", "type": "work", "primary": true}, {"value": "b@x", "type": "home"}]});
    patch_resource(
        &mut u,
        &body(json!([{"op": "add", "path": "emails", "value": [{"value": "c@x", "type": "other", "primary": "True"}]}])),
        &rs,
        &prot,
    )
    .unwrap();
    let prim: Vec<&Value> = u["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(prim.len(), 1);
    assert_eq!(prim[0]["value"], "c@x");
    patch_resource(
        &mut u,
        &body(
            json!([{"op": "replace", "path": "emails[value eq \"b@x\"].primary", "value": true}]),
        ),
        &rs,
        &prot,
    )
    .unwrap();
    let prim: Vec<&Value> = u["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(prim.len(), 1);
    assert_eq!(prim[0]["value"], "b@x");
    check_resource(&u, &rs, &prot).unwrap();
}

#[test]
fn apply_with_member_index() {
    use zkscim_scim::{apply_patch_with, ApplyOptions};
    let rs = SchemaRegistry::with_builtins()
        .resource_schema("Group")
        .unwrap();
    let prot = ProtectionProfile::clear();
    let mut g = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G",
        "members": [{"value": "a"}, {"value": "b"}]});
    let index = |key: &str, v: &Value| {
        assert_eq!(key, "urn:ietf:params:scim:schemas:core:2.0:Group:members");
        matches!(v["value"].as_str(), Some("a" | "b"))
    };
    let opts = ApplyOptions {
        already_present: Some(&index),
    };
    let ops = parse_patch(
        &body(json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "c"}, {"value": "c"}]}])),
        &rs,
    )
    .unwrap();
    let out = apply_patch_with(&mut g, &ops, &rs, &prot, opts).unwrap();
    assert!(out.changed);
    assert_eq!(
        g["members"],
        json!([{"value": "a"}, {"value": "b"}, {"value": "c"}])
    );
    // after an earlier op on the same attribute the index is stale: the scan is used instead
    let ops = parse_patch(
        &body(json!([
            {"op": "remove", "path": "members[value eq \"a\"]"},
            {"op": "add", "path": "members", "value": [{"value": "a"}]}
        ])),
        &rs,
    )
    .unwrap();
    apply_patch_with(&mut g, &ops, &rs, &prot, opts).unwrap();
    let ids: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "c", "a"]);
}
