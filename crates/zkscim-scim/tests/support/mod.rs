//! Fixture kinds other than `patch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{json, Value};
use zkscim_scim::discovery::AuthScheme;
use zkscim_scim::list::{decode_cursor, query_fingerprint};
use zkscim_scim::resource_type::{ResourceType, SchemaExtension};
use zkscim_scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use zkscim_scim::validate::check_resource;
use zkscim_scim::{
    parse_attribute_list, parse_list_query, parse_search_request, project, run_query,
    validate_create, validate_replace, Filter, ListConfig, ProtectionProfile, SchemaRegistry,
    ScimError, ServiceProviderConfig,
};

pub fn generate_users(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"schemas": [USER_SCHEMA], "id": format!("user{i:03}"), "userName": format!("user{i:03}"),
                   "displayName": format!("Smith {i:03}")})
        })
        .collect()
}

fn check_err(name: &str, e: &ScimError, expect: &Value) {
    let b = e.to_json();
    assert_eq!(b["status"], expect["status"], "{name}: {e}");
    if let Some(t) = expect.get("scimType") {
        assert_eq!(&b["scimType"], t, "{name}: {e}");
    }
}

fn resources_of(fx: &Value) -> Vec<Value> {
    match fx.get("generate_users").and_then(Value::as_u64) {
        Some(n) => generate_users(usize::try_from(n).unwrap()),
        None => fx["resources"].as_array().cloned().unwrap_or_default(),
    }
}

fn check_summary(name: &str, got: &Value, s: &Value) {
    for k in ["totalResults", "itemsPerPage", "startIndex"] {
        assert_eq!(got[k], s[k], "{name}: {k}");
    }
    assert_eq!(got["Resources"][0]["id"], s["first_id"], "{name}");
}

pub fn run_fixture(name: &str, kind: &str, fx: &Value, reg: &SchemaRegistry) {
    let prot = ProtectionProfile::clear();
    let cfg = ListConfig::default();
    let rs = fx
        .get("resource_type")
        .and_then(Value::as_str)
        .map(|r| reg.resource_schema(r).unwrap());
    match kind {
        "filter" => {
            let rs = rs.unwrap();
            let resources = resources_of(fx);
            for c in fx["cases"].as_array().unwrap() {
                let text = c["filter"].as_str().unwrap();
                let parsed = Filter::parse(text).and_then(|f| f.check(&rs, &prot).map(|()| f));
                if let Some(expect) = c.get("expect_error") {
                    check_err(name, &parsed.unwrap_err(), expect);
                    continue;
                }
                let f = parsed.unwrap_or_else(|e| panic!("{name}: {text}: {e}"));
                assert_eq!(
                    Filter::parse(&f.to_string()).unwrap(),
                    f,
                    "{name}: roundtrip {text}"
                );
                let ids: Vec<Value> = resources
                    .iter()
                    .filter(|r| f.matches(r, &rs))
                    .map(|r| r["id"].clone())
                    .collect();
                assert_eq!(Value::Array(ids), c["expect_ids"], "{name}: {text}");
            }
        }
        "resource" => {
            let rs = rs.unwrap();
            let res = &fx["resource"];
            check_resource(res, &rs, &prot).unwrap_or_else(|e| panic!("{name}: {e}"));
            // As a POST body: readOnly attributes (id, meta, groups) are ignored.
            let created =
                validate_create(res, &rs, &prot).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                created.get("id").is_none() && created.get("meta").is_none(),
                "{name}"
            );
            assert!(created.get("groups").is_none(), "{name}");
            // Default projection never returns the password.
            let shown = project(res, &rs, &[], &[]);
            assert!(shown.get("password").is_none(), "{name}");
            let mut expect = res.clone();
            expect.as_object_mut().unwrap().remove("password");
            assert_eq!(shown, expect, "{name}");
        }
        "spc" => {
            let mut spc = ServiceProviderConfig {
                documentation_uri: Some("http://example.com/help/scim.html".into()),
                patch: true,
                bulk: Some((1000, 1_048_576)),
                filter_max_results: 200,
                change_password: true,
                sort: true,
                etag: true,
                authentication_schemes: vec![],
                pagination: None,
            };
            spc.authentication_schemes = vec![
                AuthScheme {
                    scheme_type: "oauthbearertoken".into(),
                    name: "OAuth Bearer Token".into(),
                    description: "Authentication scheme using the OAuth Bearer Token Standard"
                        .into(),
                    spec_uri: Some("http://www.rfc-editor.org/info/rfc6750".into()),
                    documentation_uri: Some("http://example.com/help/oauth.html".into()),
                    primary: true,
                },
                AuthScheme {
                    scheme_type: "httpbasic".into(),
                    name: "HTTP Basic".into(),
                    description: "Authentication scheme using the HTTP Basic Standard".into(),
                    spec_uri: Some("http://www.rfc-editor.org/info/rfc2617".into()),
                    documentation_uri: Some("http://example.com/help/httpBasic.html".into()),
                    primary: false,
                },
            ];
            let mut got = spc.to_json("https://example.com/v2");
            let mut expect = fx["expect"].clone();
            // The RFC example omits primary=false on the second scheme; created/lastModified/
            // version are store metadata the caller adds.
            expect["authenticationSchemes"][1]["primary"] = json!(false);
            for k in ["created", "lastModified", "version"] {
                got["meta"][k] = expect["meta"][k].clone();
            }
            assert_eq!(got, expect, "{name}");
        }
        "resource_types" => {
            let mut reg2 = SchemaRegistry::empty();
            for s in reg.schemas() {
                reg2.register_schema(s.clone()).unwrap();
            }
            let mut user = ResourceType::new("User", "/Users", "User Account", USER_SCHEMA);
            user.extensions.push(SchemaExtension {
                schema: ENTERPRISE_USER_SCHEMA.into(),
                required: true,
            });
            reg2.register_resource_type(user).unwrap();
            reg2.register_resource_type(reg.resource_type("Group").unwrap().clone())
                .unwrap();
            let got: Vec<Value> = reg2
                .resource_types()
                .iter()
                .map(|r| r.to_json("https://example.com/v2"))
                .collect();
            assert_eq!(Value::Array(got), fx["expect"], "{name}");
        }
        "error" => {
            let d = fx["detail"].as_str().unwrap();
            let e = match fx["error"].as_str().unwrap() {
                "not_found" => ScimError::not_found(d),
                "mutability" => ScimError::mutability(d),
                other => panic!("{name}: {other}"),
            };
            assert_eq!(e.to_json(), fx["expect"], "{name}");
        }
        "create" => {
            let rs = rs.unwrap();
            let r = validate_create(&fx["request"], &rs, &prot);
            match fx.get("expect_error") {
                Some(exp) => check_err(name, &r.unwrap_err(), exp),
                None => assert_eq!(
                    r.unwrap_or_else(|e| panic!("{name}: {e}")),
                    fx["expect"],
                    "{name}"
                ),
            }
        }
        "replace" => {
            let rs = rs.unwrap();
            let r = validate_replace(&fx["request"], &fx["before"], &rs, &prot)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r, fx["after"], "{name}");
        }
        "project" => {
            let rs = rs.unwrap();
            let a = parse_attribute_list(fx["attributes"].as_str().unwrap_or(""), &rs).unwrap();
            let x =
                parse_attribute_list(fx["excludedAttributes"].as_str().unwrap_or(""), &rs).unwrap();
            assert_eq!(
                project(&fx["resource"], &rs, &a, &x),
                fx["expect"],
                "{name}"
            );
        }
        "list" | "search" => {
            let rs = rs.unwrap();
            let q = if kind == "search" {
                parse_search_request(&fx["request"], &rs, &prot, &cfg).unwrap()
            } else {
                let params: Vec<(String, String)> = fx["query"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap().to_owned(),
                            p[1].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                let borrowed: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                parse_list_query(&borrowed, &rs, &prot, &cfg).unwrap()
            };
            let resources = resources_of(fx);
            let got = run_query(&resources, &q, &rs, &cfg, 0).unwrap().to_json();
            if let Some(e) = fx.get("expect") {
                assert_eq!(&got, e, "{name}");
            }
            if let Some(s) = fx.get("expect_summary") {
                check_summary(name, &got, s);
            }
        }
        "cursor" => {
            let rs = rs.unwrap();
            let resources = resources_of(fx);
            let count = fx["count"].as_u64().unwrap().to_string();
            let mut cursor = String::new();
            let mut pages = 0;
            let mut ids = Vec::new();
            loop {
                let q = parse_list_query(
                    &[("cursor", cursor.as_str()), ("count", count.as_str())],
                    &rs,
                    &prot,
                    &cfg,
                )
                .unwrap();
                let r = run_query(&resources, &q, &rs, &cfg, 1_000).unwrap();
                let j = r.to_json();
                assert!(
                    j.get("startIndex").is_none(),
                    "{name}: cursor responses have no startIndex"
                );
                assert_eq!(j.get("previousCursor").is_some(), pages > 0, "{name}");
                ids.extend(r.resources.iter().map(|v| v["id"].clone()));
                pages += 1;
                match r.next_cursor {
                    Some(c) => {
                        assert!(decode_cursor(&c, query_fingerprint(&q), 1_000, 3600).is_ok());
                        cursor = c;
                    }
                    None => break,
                }
            }
            assert_eq!(pages, fx["expect_pages"].as_u64().unwrap(), "{name}");
            assert_eq!(ids.len(), resources.len(), "{name}");
        }
        "schema_attrs" => {
            for (urn, attrs) in fx["schemas"].as_object().unwrap() {
                let ours = reg.schema(urn).unwrap().to_json("https://example.com/v2");
                for expect in attrs.as_array().unwrap() {
                    let an = expect["name"].as_str().unwrap();
                    let got = ours["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["name"] == an)
                        .unwrap_or_else(|| panic!("{name}: {urn}:{an} missing"));
                    contains(&format!("{name}: {urn}:{an}"), got, expect);
                }
            }
        }
        "etag" => {
            let v = fx["version"].as_str().unwrap();
            for c in fx["cases"].as_array().unwrap() {
                let r = zkscim_scim::etag::check_if_match(c["if_match"].as_str(), v);
                if c["ok"] == true {
                    r.unwrap_or_else(|e| panic!("{name}: {e}"));
                } else {
                    assert_eq!(r.unwrap_err().status(), 412, "{name}");
                }
            }
            for c in fx["if_none_match"].as_array().unwrap() {
                assert_eq!(
                    zkscim_scim::etag::if_none_match_hits(c["header"].as_str(), v),
                    c["not_modified"] == true,
                    "{name}"
                );
            }
        }
        other => panic!("{name}: unknown fixture kind '{other}'"),
    }
}

/// `got` must contain every member of `expect` with an equal value; string arrays in `got` may
/// hold extra entries; `subAttributes` are matched by name.
fn contains(ctx: &str, got: &Value, expect: &Value) {
    for (k, ev) in expect.as_object().unwrap() {
        let gv = got.get(k).unwrap_or_else(|| panic!("{ctx}: missing '{k}'"));
        match (k.as_str(), ev) {
            ("subAttributes", Value::Array(subs)) => {
                for es in subs {
                    let sn = &es["name"];
                    let gs = gv
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| &x["name"] == sn)
                        .unwrap_or_else(|| panic!("{ctx}: sub-attribute {sn} missing"));
                    contains(&format!("{ctx}.{}", sn.as_str().unwrap()), gs, es);
                }
            }
            (_, Value::Array(items)) => {
                for it in items {
                    assert!(
                        gv.as_array().unwrap().contains(it),
                        "{ctx}: '{k}' lacks {it}"
                    );
                }
            }
            _ => assert_eq!(gv, ev, "{ctx}: '{k}'"),
        }
    }
}
