//! Signed reads: read-request authorisation and SCIM listing with blind-index filters.

use serde_json::Value as Json;
use zkscim_proto::envelope;

use crate::{Authority, ReadError, SharedCache};

/// Why a signed read was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ReadAuthError {
    status: u16,
    code: String,
    detail: String,
}

impl ReadAuthError {
    fn new(status: u16, code: impl Into<String>, detail: impl Into<String>) -> ReadAuthError {
        ReadAuthError {
            status,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }
}

/// Why a SCIM list failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The query is invalid (filter, sort, pagination).
    #[error(transparent)]
    Scim(#[from] zkscim_scim::ScimError),
    /// The store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Authority {
    /// Verifies a signed read request for `method` and `path_and_query` on `resource_type`:
    /// signature and chain to the tenant root, tenant, time window, no revoked certificate,
    /// the `read` operation and the resource type in scope, and the request bound to exactly
    /// this method and path. Reads are not logged.
    pub fn authorize_read(
        &self,
        tenant: &str,
        bytes: &[u8],
        method: &str,
        path_and_query: &str,
        resource_type: &str,
    ) -> Result<(), ReadAuthError> {
        let info = self.tenant(tenant).ok_or_else(|| {
            ReadAuthError::new(
                404,
                "tenant.unknown",
                format!("tenant '{tenant}' does not exist"),
            )
        })?;
        let signed = envelope::Signed::<envelope::ReadRequest>::parse(bytes)
            .map_err(|e| ReadAuthError::new(401, e.code(), format!("read request: {e}")))?;
        let ctx = zkscim_proto::cert::ChainContext {
            tenant: &info.tenant,
            root: &info.root,
            now: self.inner.config.clock.now(),
        };
        let mut cache = SharedCache(&self.inner.cert_cache);
        let verified = signed
            .verify(&ctx, self.inner.config.settings.skew_secs, &mut cache)
            .map_err(|e| {
                let status = if e.after_authentication() { 403 } else { 401 };
                ReadAuthError::new(status, e.code(), format!("read request: {e}"))
            })?;
        let body = verified.body();
        if body.method != method || body.path_and_query != path_and_query {
            return Err(ReadAuthError::new(
                401,
                "auth.read_binding",
                format!(
                    "the read request was signed for {} {}, not {method} {path_and_query}",
                    body.method, body.path_and_query
                ),
            ));
        }
        for (position, id) in verified.chain().certificate_ids.iter().enumerate() {
            let revoked = self
                .with_reader(|r| Ok(r.is_revoked(tenant, &id.0)?))
                .map_err(|e| ReadAuthError::new(503, "read.unavailable", e.to_string()))?;
            if revoked {
                return Err(ReadAuthError::new(
                    403,
                    "revoked.certificate",
                    format!(
                        "certificate {position} (id {}) in the chain is revoked",
                        id.short()
                    ),
                ));
            }
        }
        verified
            .chain()
            .scope
            .check_action(zkscim_proto::scope::Operation::Read, resource_type, "", &[])
            .map_err(|e| ReadAuthError::new(403, e.code(), e.to_string()))?;
        // Last, so that a request refused for its authorisation does not use up its nonce
        // (one authorised and then refused for its content, a bad filter say, does).
        let header = verified.header();
        self.inner
            .read_nonces
            .lock()
            .map_err(|_| ReadAuthError::new(503, "read.unavailable", "read guard poisoned"))?
            .record(
                tenant,
                &header.nonce,
                header.issued_at,
                self.inner.config.settings.skew_secs,
                ctx.now,
            )
            .map_err(|e| ReadAuthError::new(e.status(), e.code(), format!("read request: {e}")))?;
        Ok(())
    }

    /// A SCIM list (`filter`, `sortBy`, `startIndex`, `count`, `attributes`, cursors) over a
    /// resource type. Filters on sealed+indexed attributes compare blind-index tokens.
    pub fn list(&self, tenant: &str, resource_type: &str, query: &str) -> Result<Json, ListError> {
        let info = self
            .tenant(tenant)
            .ok_or_else(|| ReadError::NotFound(format!("tenant '{tenant}' does not exist")))?;
        let rs = self.inner.registry.resource_schema(resource_type)?;
        let profile = zkscim_rules::scim_profile(&info.policy.profile, &rs);
        let params: Vec<(String, String)> = form_pairs(query);
        let borrowed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cfg = zkscim_scim::ListConfig::default();
        let mut q = zkscim_scim::parse_list_query(&borrowed, &rs, &profile, &cfg)?;
        let resources = self.resources(tenant, resource_type)?;
        let matched: Vec<Json> = match q.filter.take() {
            None => resources,
            Some(filter) => {
                let mut out = Vec::new();
                for resource in resources {
                    let id = resource
                        .get("id")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    // The filter sees blind-index tokens where the resource holds sealed values.
                    let mut view = resource.clone();
                    if let Json::Object(map) = &mut view {
                        for (attribute, token) in
                            self.resource_indexes(tenant, resource_type, &id)?
                        {
                            if token.starts_with(zkscim_proto::seal::INDEX_PREFIX) {
                                if let Some(key) = map
                                    .keys()
                                    .find(|k| k.eq_ignore_ascii_case(&attribute))
                                    .cloned()
                                {
                                    map.insert(key, Json::String(token));
                                }
                            }
                        }
                    }
                    if filter.matches(&view, &rs) {
                        out.push(resource);
                    }
                }
                out
            }
        };
        let now = self.inner.config.clock.now();
        let response = zkscim_scim::run_query(matched.iter(), &q, &rs, &cfg, now)?;
        Ok(response.to_json())
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = bytes
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_decoding() {
        let pairs = super::form_pairs("filter=userName%20eq%20%22zkx1.A%22&count=2&x");
        assert_eq!(pairs[0], ("filter".into(), "userName eq \"zkx1.A\"".into()));
        assert_eq!(pairs[1], ("count".into(), "2".into()));
        assert_eq!(pairs[2], ("x".into(), String::new()));
        assert_eq!(super::form_pairs("a=%zz")[0].1, "%zz");
    }
}
