//! Query parameters, sorting (RFC 7644 §3.4.2.3), index pagination (§3.4.2.4), cursor
//! pagination (RFC 9865) and the ListResponse message (§3.4.2).

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::datetime::parse_datetime;
use crate::error::{ScimError, ScimResult};
use crate::filter::{cmp_numbers, Filter};
use crate::path::{clip, get_ci, AttrPath};
use crate::project::{parse_attribute_list, project, AttrSelector};
use crate::protection::{Protection, ProtectionProfile};
use crate::resource_type::ResourceSchema;
use crate::schema::{AttrType, Mutability, Returned};

/// URN of the ListResponse message schema.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// `ascending` (default)
    #[default]
    Ascending,
    /// `descending`
    Descending,
}

/// Server-side list limits (mirrors the ServiceProviderConfig `filter` and `pagination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListConfig {
    /// Page size when `count` is absent.
    pub default_page_size: usize,
    /// Largest page returned; larger `count` values are clamped.
    pub max_page_size: usize,
    /// Filters matching more resources than this fail with `tooMany` (`None`: unlimited).
    pub max_results: Option<usize>,
    /// Cursor lifetime in seconds (RFC 9865 `cursorTimeout`).
    pub cursor_timeout_secs: u64,
}

impl Default for ListConfig {
    fn default() -> Self {
        Self {
            default_page_size: 100,
            max_page_size: 1000,
            max_results: None,
            cursor_timeout_secs: 3600,
        }
    }
}

/// Pagination requested by a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// Index pagination; `start_index` is 1-based and already normalised (< 1 becomes 1).
    Index {
        /// 1-based start index.
        start_index: usize,
    },
    /// Cursor pagination (RFC 9865); `None` requests the first page (`cursor` with no value).
    Cursor {
        /// The opaque cursor sent by the client.
        cursor: Option<String>,
    },
}

/// A parsed, validated list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Filter, already checked against the schema and protection profile.
    pub filter: Option<Filter>,
    /// Sort attribute.
    pub sort_by: Option<AttrPath>,
    /// Sort direction.
    pub sort_order: SortOrder,
    /// Page size (clamped to `max_page_size`; 0 returns only `totalResults`).
    pub count: usize,
    /// Pagination mode.
    pub pagination: Pagination,
    /// `attributes`.
    pub attributes: Vec<AttrSelector>,
    /// `excludedAttributes`.
    pub excluded_attributes: Vec<AttrSelector>,
}

fn parse_int(name: &str, v: &str) -> ScimResult<i64> {
    v.trim().parse::<i64>().map_err(|_| {
        ScimError::invalid_value(format!(
            "query parameter '{name}' must be an integer, got '{}'",
            clip(v)
        ))
    })
}

/// Parse list query parameters (`filter`, `sortBy`, `sortOrder`, `startIndex`, `count`,
/// `cursor`, `attributes`, `excludedAttributes`; names case-insensitive; unknown ignored).
pub fn parse_list_query(
    params: &[(&str, &str)],
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    cfg: &ListConfig,
) -> ScimResult<ListQuery> {
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v)
    };
    let filter = match get("filter") {
        Some(f) if !f.trim().is_empty() => {
            let f = Filter::parse(f)?;
            f.check(rs, prot)?;
            Some(f)
        }
        _ => None,
    };
    let sort_by = match get("sortBy") {
        Some(s) if !s.trim().is_empty() => Some(check_sort_by(s.trim(), rs, prot)?),
        _ => None,
    };
    let sort_order = match get("sortOrder") {
        None => SortOrder::Ascending,
        Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
        Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
        Some(s) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder must be 'ascending' or 'descending', got '{}'",
                clip(s)
            )))
        }
    };
    let count = match get("count") {
        None => cfg.default_page_size,
        Some(c) => usize::try_from(parse_int("count", c)?.max(0)).unwrap_or(0),
    }
    .min(cfg.max_page_size);
    let pagination = match (get("startIndex"), get("cursor")) {
        (Some(_), Some(_)) => {
            return Err(ScimError::invalid_value(
                "'startIndex' and 'cursor' cannot be combined (RFC 9865)",
            ))
        }
        (_, Some(c)) => Pagination::Cursor {
            cursor: (!c.is_empty()).then(|| c.to_owned()),
        },
        (Some(s), None) => Pagination::Index {
            start_index: usize::try_from(parse_int("startIndex", s)?.max(1)).unwrap_or(1),
        },
        (None, None) => Pagination::Index { start_index: 1 },
    };
    let attributes = match get("attributes") {
        Some(a) => parse_attribute_list(a, rs)?,
        None => Vec::new(),
    };
    let excluded_attributes = match get("excludedAttributes") {
        Some(a) => parse_attribute_list(a, rs)?,
        None => Vec::new(),
    };
    Ok(ListQuery {
        filter,
        sort_by,
        sort_order,
        count,
        pagination,
        attributes,
        excluded_attributes,
    })
}

/// URN of the SearchRequest message schema (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Parse a `POST /.search` body (RFC 7644 §3.4.3) into a [`ListQuery`].
pub fn parse_search_request(
    body: &Value,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
    cfg: &ListConfig,
) -> ScimResult<ListQuery> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax(
            "search request must be a JSON object",
        ));
    };
    let ok = get_ci(o, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
            })
        });
    if !ok {
        return Err(ScimError::invalid_syntax(format!(
            "search request 'schemas' must contain '{SEARCH_REQUEST_SCHEMA}'"
        )));
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    for name in [
        "filter",
        "sortBy",
        "sortOrder",
        "startIndex",
        "count",
        "cursor",
        "attributes",
        "excludedAttributes",
    ] {
        let Some(v) = get_ci(o, name) else { continue };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_owned).ok_or_else(|| {
                        ScimError::invalid_syntax(format!("'{name}' must be an array of strings"))
                    })
                })
                .collect::<ScimResult<Vec<_>>>()?
                .join(","),
            Value::Null => continue,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "search request member '{name}' has the wrong type"
                )))
            }
        };
        params.push((name, text));
    }
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    parse_list_query(&borrowed, rs, prot, cfg)
}

/// Validate a `sortBy` attribute: it must exist, not be complex without sub-attribute, and not
/// be sealed (ciphertext order says nothing about plaintext order): sealed attributes are
/// refused with `invalidFilter`.
pub fn check_sort_by(
    s: &str,
    rs: &ResourceSchema,
    prot: &ProtectionProfile,
) -> ScimResult<AttrPath> {
    let p = AttrPath::parse(s)?;
    let r = rs.resolve(&p)?;
    let leaf_name = match (r.sub, r.attr.attr_type) {
        (Some(sd), _) => Some(sd.name.as_str()),
        (None, AttrType::Complex) => match r.attr.sub("value") {
            Some(v) => Some(v.name.as_str()),
            None => {
                return Err(ScimError::invalid_value(format!(
                    "cannot sort by complex attribute '{}'; name a sub-attribute",
                    r.attr.name
                )))
            }
        },
        (None, _) => None,
    };
    if r.attr.returned == Returned::Never || r.attr.mutability == Mutability::WriteOnly {
        return Err(ScimError::invalid_value(format!(
            "cannot sort by '{}': the attribute is never returned",
            r.qualified_name()
        )));
    }
    if prot.protection_of(r.schema, &r.attr.name, leaf_name) != Protection::Clear {
        return Err(ScimError::invalid_filter(format!(
            "cannot sort by '{}': the attribute is sealed and its ciphertext has no meaningful order",
            r.qualified_name()
        )));
    }
    Ok(p)
}

/// The value a resource sorts by: for multi-valued attributes the primary value, else the first.
fn sort_key<'v>(res: &'v Value, path: &AttrPath, rs: &ResourceSchema) -> Option<&'v Value> {
    let r = rs.lookup(path.urn.as_deref(), &path.name)?;
    let obj = res.as_object()?;
    let container = if r.in_extension {
        get_ci(obj, r.schema)?.as_object()?
    } else {
        obj
    };
    let v = get_ci(container, &r.def.name)?;
    let sub = path
        .sub_attr
        .as_deref()
        .or(if r.def.attr_type == AttrType::Complex {
            Some("value")
        } else {
            None
        });
    let pick = |v: &'v Value| -> Option<&'v Value> {
        match sub {
            Some(s) => v.as_object().and_then(|o| get_ci(o, s)),
            None => Some(v),
        }
    };
    match v {
        Value::Array(a) => {
            let primary = a.iter().find(|e| {
                e.as_object()
                    .and_then(|o| get_ci(o, "primary"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            });
            primary.or_else(|| a.first()).and_then(pick)
        }
        other => pick(other),
    }
    .filter(|v| !v.is_null())
}

fn cmp_values(a: &Value, b: &Value, case_exact: bool, ty: Option<AttrType>) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if ty == Some(AttrType::DateTime) {
                if let (Some(p), Some(q)) = (parse_datetime(x), parse_datetime(y)) {
                    return p.cmp(&q);
                }
            }
            if case_exact {
                x.cmp(y)
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
        }
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Sort resources by `sort_by` (stable). Unassigned values sort last in both directions;
/// ties keep their input order.
pub fn sort_resources(
    resources: &mut [Value],
    sort_by: &AttrPath,
    order: SortOrder,
    rs: &ResourceSchema,
) {
    let cmp = sort_comparator(sort_by, order, rs);
    resources.sort_by(|a, b| cmp(a, b));
}

fn sort_comparator<'a>(
    sort_by: &'a AttrPath,
    order: SortOrder,
    rs: &'a ResourceSchema,
) -> impl Fn(&Value, &Value) -> Ordering + 'a {
    let def = rs.resolve(sort_by).ok().map(|r| {
        let leaf = r.sub.or_else(|| r.attr.sub("value")).unwrap_or(r.attr);
        (leaf.case_exact, leaf.attr_type)
    });
    let (case_exact, ty) = def.map_or((false, None), |(c, t)| (c, Some(t)));
    move |a: &Value, b: &Value| match (sort_key(a, sort_by, rs), sort_key(b, sort_by, rs)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let o = cmp_values(x, y, case_exact, ty);
            match order {
                SortOrder::Ascending => o,
                SortOrder::Descending => o.reverse(),
            }
        }
    }
}

/// RFC 7644 §3.4.2.4 index pagination: the 0-based range of `total` items for a 1-based
/// `start_index` and `count`.
#[must_use]
pub fn index_page(total: usize, start_index: usize, count: usize) -> std::ops::Range<usize> {
    let start = start_index.saturating_sub(1).min(total);
    let end = start.saturating_add(count).min(total);
    start..end
}

/// 64-bit FNV-1a, used to bind cursors to their query.
fn fnv1a(data: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint binding a cursor to the query that issued it (filter, sortBy, sortOrder).
#[must_use]
pub fn query_fingerprint(q: &ListQuery) -> u64 {
    fnv1a(&format!(
        "{}|{}|{:?}",
        q.filter
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        q.sort_by
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        q.sort_order
    ))
}

/// Encode an RFC 9865 cursor: `c1.<offset>.<issued_at>.<fingerprint>` in hex. The cursor is
/// opaque to clients; it is not authenticated (a tampered offset only moves within results
/// the client may see anyway). Callers may wrap it in a MAC.
#[must_use]
pub fn encode_cursor(offset: usize, issued_at: u64, fingerprint: u64) -> String {
    format!("c1.{offset:x}.{issued_at:x}.{fingerprint:016x}")
}

/// Decode and check a cursor: `invalidCursor` if malformed or issued for another query,
/// `expiredCursor` if older than `timeout_secs` at `now` (seconds; the caller supplies time).
pub fn decode_cursor(s: &str, fingerprint: u64, now: u64, timeout_secs: u64) -> ScimResult<usize> {
    let bad = || ScimError::InvalidCursor {
        detail: format!(
            "cursor '{}' is malformed or was not issued by this server",
            clip(s)
        ),
    };
    let mut parts = s.split('.');
    if parts.next() != Some("c1") {
        return Err(bad());
    }
    let mut next_hex = || {
        parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 16)
            .and_then(|p| u64::from_str_radix(p, 16).ok())
    };
    let (Some(off), Some(issued), Some(fp)) = (next_hex(), next_hex(), next_hex()) else {
        return Err(bad());
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    if fp != fingerprint {
        return Err(ScimError::InvalidCursor {
            detail: "cursor was issued for a different filter or sort order".into(),
        });
    }
    if now.saturating_sub(issued) > timeout_secs {
        return Err(ScimError::ExpiredCursor {
            detail: format!(
                "cursor expired {}s after issue (timeout {timeout_secs}s)",
                now.saturating_sub(issued)
            ),
        });
    }
    usize::try_from(off).map_err(|_| bad())
}

/// A ListResponse (RFC 7644 §3.4.2, RFC 9865 §2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListResponse {
    /// Total number of matching resources.
    pub total_results: usize,
    /// 1-based index of the first returned resource (index pagination only).
    pub start_index: Option<usize>,
    /// The page of resources.
    pub resources: Vec<Value>,
    /// Cursor for the next page (cursor pagination, absent on the last page).
    pub next_cursor: Option<String>,
    /// Cursor for the previous page (cursor pagination, absent on the first page).
    pub previous_cursor: Option<String>,
}

impl ListResponse {
    /// The JSON body. `itemsPerPage` is the number of resources in this page; `Resources` is
    /// omitted when empty (e.g. `count=0`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("schemas".into(), json!([LIST_RESPONSE_SCHEMA]));
        m.insert("totalResults".into(), json!(self.total_results));
        m.insert("itemsPerPage".into(), json!(self.resources.len()));
        if let Some(s) = self.start_index {
            m.insert("startIndex".into(), json!(s));
        }
        if let Some(c) = &self.previous_cursor {
            m.insert("previousCursor".into(), json!(c));
        }
        if let Some(c) = &self.next_cursor {
            m.insert("nextCursor".into(), json!(c));
        }
        if !self.resources.is_empty() {
            m.insert("Resources".into(), Value::Array(self.resources.clone()));
        }
        Value::Object(m)
    }
}

/// Run a query over in-memory resources: filter, sort, paginate, project.
/// `now` (Unix seconds) is only used for cursor issue/expiry.
pub fn run_query<'a>(
    resources: impl IntoIterator<Item = &'a Value>,
    q: &ListQuery,
    rs: &ResourceSchema,
    cfg: &ListConfig,
    now: u64,
) -> ScimResult<ListResponse> {
    let mut matched: Vec<&Value> = match &q.filter {
        Some(f) => resources.into_iter().filter(|r| f.matches(r, rs)).collect(),
        None => resources.into_iter().collect(),
    };
    if let Some(max) = cfg.max_results {
        if matched.len() > max {
            return Err(ScimError::too_many(format!(
                "the filter matches {} resources; the maximum is {max}",
                matched.len()
            )));
        }
    }
    if let Some(sb) = &q.sort_by {
        let cmp = sort_comparator(sb, q.sort_order, rs);
        matched.sort_by(|a, b| cmp(a, b));
    }
    page(matched, q, rs, cfg, now)
}

fn page(
    matched: Vec<&Value>,
    q: &ListQuery,
    rs: &ResourceSchema,
    cfg: &ListConfig,
    now: u64,
) -> ScimResult<ListResponse> {
    let total = matched.len();
    let (range, start_index, next, prev) = match &q.pagination {
        Pagination::Index { start_index } => (
            index_page(total, *start_index, q.count),
            Some(*start_index),
            None,
            None,
        ),
        Pagination::Cursor { cursor } => {
            let fp = query_fingerprint(q);
            let offset = match cursor {
                None => 0,
                Some(c) => decode_cursor(c, fp, now, cfg.cursor_timeout_secs)?,
            };
            let r = index_page(total, offset.saturating_add(1), q.count);
            let next = (r.end < total).then(|| encode_cursor(r.end, now, fp));
            let prev = (r.start > 0)
                .then(|| encode_cursor(r.start.saturating_sub(q.count.max(1)), now, fp));
            (r, None, next, prev)
        }
    };
    let resources = matched
        .get(range)
        .unwrap_or_default()
        .iter()
        .map(|r| project(r, rs, &q.attributes, &q.excluded_attributes))
        .collect();
    Ok(ListResponse {
        total_results: total,
        start_index,
        resources,
        next_cursor: next,
        previous_cursor: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_type::SchemaRegistry;
    use crate::schema::USER_SCHEMA;

    fn users() -> Vec<Value> {
        (0..10)
            .map(|i| {
                json!({"schemas": [USER_SCHEMA], "id": format!("u{i}"), "userName": format!("user{}", 9 - i),
                       "emails": [{"value": format!("e{i}@x"), "primary": i % 2 == 0}]})
            })
            .collect()
    }

    #[test]
    fn index_and_sort() {
        let rs = SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap();
        let cfg = ListConfig::default();
        let p = ProtectionProfile::clear();
        let q = parse_list_query(
            &[
                ("sortBy", "userName"),
                ("startIndex", "3"),
                ("count", "2"),
                ("attributes", "userName"),
            ],
            &rs,
            &p,
            &cfg,
        )
        .unwrap();
        let us = users();
        let r = run_query(&us, &q, &rs, &cfg, 0).unwrap();
        assert_eq!(r.total_results, 10);
        let j = r.to_json();
        assert_eq!(j["startIndex"], 3);
        assert_eq!(j["itemsPerPage"], 2);
        assert_eq!(j["Resources"][0]["userName"], "user2");
        let q0 = parse_list_query(&[("count", "0")], &rs, &p, &cfg).unwrap();
        let j = run_query(&us, &q0, &rs, &cfg, 0).unwrap().to_json();
        assert_eq!(j["totalResults"], 10);
        assert!(j.get("Resources").is_none());
        assert_eq!(index_page(10, 0, 5), 0..5);
        assert_eq!(index_page(10, 11, 5), 10..10);
        assert!(parse_list_query(&[("startIndex", "x")], &rs, &p, &cfg).is_err());
        assert!(parse_list_query(&[("sortOrder", "up")], &rs, &p, &cfg).is_err());
    }

    #[test]
    fn cursor_pages() {
        let rs = SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap();
        let cfg = ListConfig::default();
        let p = ProtectionProfile::clear();
        let us = users();
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let q = parse_list_query(
                &[("cursor", cursor.as_str()), ("count", "4")],
                &rs,
                &p,
                &cfg,
            )
            .unwrap();
            let r = run_query(&us, &q, &rs, &cfg, 100).unwrap();
            assert!(r.start_index.is_none());
            seen.extend(r.resources.iter().map(|v| v["id"].clone()));
            match r.next_cursor {
                Some(c) => cursor = c,
                None => break,
            }
        }
        assert_eq!(seen.len(), 10);
        let q =
            parse_list_query(&[("cursor", "c1.4.64.0"), ("count", "4")], &rs, &p, &cfg).unwrap();
        let e = run_query(&us, &q, &rs, &cfg, 100).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidCursor"));
        let fp = query_fingerprint(&q);
        let q2 = parse_list_query(
            &[("cursor", encode_cursor(4, 0, fp).as_str()), ("count", "4")],
            &rs,
            &p,
            &cfg,
        )
        .unwrap();
        let e = run_query(&us, &q2, &rs, &cfg, 10_000).unwrap_err();
        assert_eq!(e.scim_type(), Some("expiredCursor"));
        assert!(parse_list_query(&[("cursor", ""), ("startIndex", "1")], &rs, &p, &cfg).is_err());
    }

    #[test]
    fn sealed_sort_refused() {
        let rs = SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap();
        let p = ProtectionProfile::clear().with(USER_SCHEMA, "userName", Protection::SealedIndexed);
        let e = check_sort_by("userName", &rs, &p).unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidFilter"));
        assert!(e.detail().contains("sealed"));
        assert!(check_sort_by("displayName", &rs, &p).is_ok());
    }
}
