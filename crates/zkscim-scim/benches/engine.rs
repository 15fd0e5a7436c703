//! Engine benchmarks: filter parse+evaluate over 100,000 resources, and PATCH of a group with
//! 100,000 members (one-member add in place with the RFC duplicate scan, in place with a
//! store-supplied member index, as a membership delta, and the full rewrite they avoid).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use zkscim_scim::schema::{GROUP_SCHEMA, USER_SCHEMA};
use zkscim_scim::{
    apply_patch_with, parse_patch, patch_members_delta, patch_resource, validate_replace,
    ApplyOptions, Filter, ProtectionProfile, SchemaRegistry,
};

const N: usize = 100_000;
const P: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn users() -> Vec<Value> {
    (0..N)
        .map(|i| {
            json!({
                "schemas": [USER_SCHEMA],
                "id": format!("{i:08x}-0000-4000-8000-000000000000"),
                "userName": format!("user{i}"),
                "active": i % 3 != 0,
                "title": if i % 2 == 0 { "Engineer" } else { "Tour Guide" },
                "emails": [
                    {"value": format!("user{i}@example.com"), "type": "work", "primary": true},
                    {"value": format!("u{i}@home.example.org"), "type": "home"}
                ],
                "meta": {"resourceType": "User", "lastModified": format!("2024-01-{:02}T00:00:00Z", 1 + i % 28)}
            })
        })
        .collect()
}

fn group() -> Value {
    let members: Vec<Value> = (0..N)
        .map(|i| json!({"value": format!("m{i:08}"), "type": "User"}))
        .collect();
    json!({"schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Everyone", "members": members,
           "meta": {"resourceType": "Group"}})
}

fn bench(c: &mut Criterion) {
    let reg = SchemaRegistry::with_builtins();
    let urs = reg.resource_schema("User").unwrap();
    let grs = reg.resource_schema("Group").unwrap();
    let prot = ProtectionProfile::clear();
    let all = users();
    let text = "userName sw \"user1\" and (emails[type eq \"work\" and value co \"@example.com\"] or active eq false) and meta.lastModified ge \"2024-01-10T00:00:00Z\"";

    let mut g = c.benchmark_group("scim");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));

    g.bench_function("filter_parse_check_eval_100k_users", |b| {
        b.iter(|| {
            let f = Filter::parse(black_box(text)).unwrap();
            f.check(&urs, &prot).unwrap();
            all.iter().filter(|u| f.matches(u, &urs)).count()
        })
    });

    let mut grp = group();
    let mut next = 0u64;
    g.bench_function("group_100k_patch_add_one_member_in_place", |b| {
        b.iter(|| {
            next += 1;
            let body = json!({"schemas": [P], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": format!("new{next}"), "type": "User"}]}]});
            patch_resource(&mut grp, &body, &grs, &prot).unwrap()
        })
    });

    let ids: HashSet<String> = (0..N).map(|i| format!("m{i:08}")).collect();
    let index = |_attr: &str, v: &Value| v["value"].as_str().is_some_and(|id| ids.contains(id));
    g.bench_function("group_100k_patch_add_one_member_in_place_with_index", |b| {
        b.iter(|| {
            next += 1;
            let body = json!({"schemas": [P], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": format!("new{next}"), "type": "User"}]}]});
            let ops = parse_patch(&body, &grs).unwrap();
            let opts = ApplyOptions {
                already_present: Some(&index),
            };
            apply_patch_with(&mut grp, &ops, &grs, &prot, opts).unwrap()
        })
    });
    let is_member = |id: &str| ids.contains(id);
    g.bench_function("group_100k_patch_add_one_member_delta", |b| {
        b.iter(|| {
            next += 1;
            let body = json!({"schemas": [P], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": format!("new{next}"), "type": "User"}]}]});
            patch_members_delta(&body, &grs, &prot, &is_member).unwrap()
        })
    });

    let current = group();
    let mut put = group();
    put["members"]
        .as_array_mut()
        .unwrap()
        .push(json!({"value": "extra", "type": "User"}));
    g.bench_function("group_100k_full_rewrite_put_validate_serialise", |b| {
        b.iter(|| {
            let v = validate_replace(black_box(&put), &current, &grs, &prot).unwrap();
            serde_json::to_vec(&v).unwrap().len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
