//! The HTTP API (axum): submissions, log reads, signed SCIM reads, health and metrics.
//!
//! ```text
//! POST /v1/tenants/{tenant}/genesis              operator bearer token; body: genesis (CBOR)
//! POST /v1/tenants/{tenant}/submissions          body: one signed statement (CBOR)
//! POST /v1/tenants/{tenant}/submissions/batch    body: CBOR array of byte strings
//! GET  /v1/tenants/{tenant}/log/checkpoint       latest signed checkpoint (text)
//! GET  /v1/tenants/{tenant}/log/key              log verifier key (C2SP text)
//! GET  /v1/tenants/{tenant}/log/entries?start=&end=
//! GET  /v1/tenants/{tenant}/log/submitted/{sha256-hex}
//! GET  /v1/tenants/{tenant}/log/proof/inclusion?index=&size=
//! GET  /v1/tenants/{tenant}/log/proof/consistency?old=&new=
//! GET  /v1/tenants/{tenant}/digest               directory digest
//! GET  /scim/v2/{tenant}/{Users|Groups|Agents|AgenticApplications}[/{id}]   signed read
//! GET  /scim/v2/{tenant}/{ServiceProviderConfig|ResourceTypes|Schemas}[/{id}]
//! GET  /healthz, /metrics
//! ```
//!
//! Every failure is a SCIM error document (`schemas`, `status`, `scimType`, `detail`) with a
//! stable `zkscimCode`. Refused submissions answer with the refusal's status and carry the
//! receipt, since the refusal is logged.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use zkscim_proto::codec::{self, Value};

use crate::{Authority, ReadError, Receipt, ReceiptOutcome, SubmitError};

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const SCIM_JSON: &str = "application/scim+json";

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// SHA-256 of the operator token that authorises tenant creation; `None` disables genesis
    /// over HTTP.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// Request timeout.
    pub timeout: Duration,
    /// Largest request body (a batch may hold many submissions).
    pub max_body_bytes: usize,
}

impl HttpConfig {
    /// Settings with an operator token.
    pub fn with_admin_token(token: &str) -> HttpConfig {
        HttpConfig {
            admin_token_sha256: Some(Sha256::digest(token.as_bytes()).into()),
            timeout: Duration::from_secs(30),
            max_body_bytes: 16 << 20,
        }
    }
}

#[derive(Clone)]
struct AppState {
    authority: Authority,
    config: HttpConfig,
}

/// An error response.
struct ApiError {
    status: u16,
    code: String,
    detail: String,
    scim_type: Option<&'static str>,
    receipt: Option<Json>,
}

impl ApiError {
    fn new(status: u16, code: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            detail: detail.into(),
            scim_type: None,
            receipt: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("schemas".into(), json!([ERROR_SCHEMA]));
        body.insert("status".into(), json!(self.status.to_string()));
        if let Some(t) = self.scim_type {
            body.insert("scimType".into(), json!(t));
        }
        body.insert("detail".into(), json!(self.detail));
        body.insert("zkscimCode".into(), json!(self.code));
        if let Some(r) = self.receipt {
            body.insert("receipt".into(), r);
        }
        let body = Json::Object(body);
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, SCIM_JSON)],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        let mut err = ApiError::new(e.status(), e.code(), e.to_string());
        if let SubmitError::Refused(r) = &e {
            err.scim_type = r.scim_type;
        }
        err
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        let code = match &e {
            ReadError::NotFound(_) => "read.not_found",
            ReadError::Invalid(_) => "read.invalid",
            ReadError::Store(_) | ReadError::Log(_) => "read.unavailable",
        };
        ApiError::new(e.status(), code, e.to_string())
    }
}

impl From<crate::ListError> for ApiError {
    fn from(e: crate::ListError) -> ApiError {
        match e {
            crate::ListError::Scim(e) => e.into(),
            crate::ListError::Read(e) => e.into(),
        }
    }
}

impl From<zkscim_scim::ScimError> for ApiError {
    fn from(e: zkscim_scim::ScimError) -> ApiError {
        let mut err = ApiError::new(e.status(), e.code(), e.detail());
        err.scim_type = e.scim_type();
        err
    }
}

/// The router, ready to serve or to nest in another application.
pub fn router(authority: Authority, config: HttpConfig) -> Router {
    let max_body = config.max_body_bytes;
    let timeout = config.timeout;
    let state = AppState { authority, config };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/tenants/{tenant}/genesis", post(genesis))
        .route("/v1/tenants/{tenant}/submissions", post(submit))
        .route("/v1/tenants/{tenant}/submissions/batch", post(submit_batch))
        .route("/v1/tenants/{tenant}/log/checkpoint", get(checkpoint))
        .route("/v1/tenants/{tenant}/log/key", get(log_key))
        .route("/v1/tenants/{tenant}/log/cosignatures", post(cosign))
        .route("/v1/tenants/{tenant}/log/entries", get(entries))
        .route("/v1/tenants/{tenant}/log/submitted/{hash}", get(submitted))
        .route("/v1/tenants/{tenant}/log/proof/inclusion", get(inclusion))
        .route(
            "/v1/tenants/{tenant}/log/proof/consistency",
            get(consistency),
        )
        .route("/v1/tenants/{tenant}/digest", get(digest))
        .route("/v1/tenants/{tenant}/log/export", get(export_log))
        .route("/scim/v2/{tenant}/{endpoint}", get(scim_collection))
        .route("/scim/v2/{tenant}/{endpoint}/{id}", get(scim_item))
        .fallback(|| async { ApiError::new(404, "http.not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(scim_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Turns the plain-text rejections of layers and extractors (body limit, timeout, malformed
/// query) into SCIM error documents, so every failure has the same shape.
async fn scim_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let (code, detail) = match status.as_u16() {
        413 => (
            "submit.too_large",
            "request body larger than the server accepts".to_owned(),
        ),
        408 => ("http.timeout", "the request took too long".to_owned()),
        405 => (
            "http.method_not_allowed",
            "method not allowed on this endpoint".to_owned(),
        ),
        400 => ("http.bad_request", format!("malformed request: {text}")),
        _ => (
            "http.error",
            if text.is_empty() {
                status.to_string()
            } else {
                text
            },
        ),
    };
    ApiError::new(status.as_u16(), code, detail).into_response()
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(
        400,
        "read.invalid",
        format!("query parameters: {}", e.body_text()),
    )
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.authority.metrics().render(),
    )
}

fn receipt_response(receipt: &Receipt, created: bool) -> Response {
    match &receipt.outcome {
        ReceiptOutcome::Applied { .. } => {
            let status = if created && !receipt.duplicate {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                receipt.to_json().to_string(),
            )
                .into_response()
        }
        ReceiptOutcome::Refused(r) => ApiError {
            status: r.status,
            code: r.code.clone(),
            detail: r.detail.clone(),
            scim_type: r.scim_type,
            receipt: Some(receipt.to_json()),
        }
        .into_response(),
    }
}

fn bearer_ok(headers: &HeaderMap, expected: Option<[u8; 32]>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let got: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    // Comparing digests keeps the comparison's timing independent of the token's content.
    got.iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

async fn genesis(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !bearer_ok(&headers, s.config.admin_token_sha256) {
        return Err(ApiError::new(
            401,
            "auth.operator_token",
            "creating a tenant needs the operator token: Authorization: Bearer <token>",
        ));
    }
    let receipt = s.authority.submit(&tenant, body.to_vec(), true).await?;
    Ok(receipt_response(&receipt, true))
}

async fn submit(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let receipt = s.authority.submit(&tenant, body.to_vec(), false).await?;
    Ok(receipt_response(&receipt, true))
}

async fn submit_batch(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let limits = codec::Limits {
        max_bytes: s.config.max_body_bytes,
        max_depth: 2,
    };
    let value = codec::decode_with_limits(&body, limits)
        .map_err(|e| ApiError::new(400, e.code(), format!("batch body: {e}")))?;
    let Value::Array(items) = value else {
        return Err(ApiError::new(
            400,
            "batch.shape",
            "a batch is a CBOR array of byte strings",
        ));
    };
    if items.len() > 1000 {
        return Err(ApiError::new(
            413,
            "batch.too_many",
            "at most 1000 submissions per batch",
        ));
    }
    let mut tasks = Vec::with_capacity(items.len());
    for item in items {
        let Value::Bytes(bytes) = item else {
            return Err(ApiError::new(
                400,
                "batch.shape",
                "a batch is a CBOR array of byte strings",
            ));
        };
        let authority = s.authority.clone();
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            authority.submit(&tenant, bytes, false).await
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        let result = match task.await {
            Ok(Ok(receipt)) => receipt.to_json(),
            Ok(Err(e)) => {
                json!({"error": {"status": e.status(), "code": e.code(), "detail": e.to_string()}})
            }
            Err(e) => {
                json!({"error": {"status": 500, "code": "batch.task", "detail": e.to_string()}})
            }
        };
        results.push(result);
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Json::Array(results).to_string(),
    )
        .into_response())
}

async fn checkpoint(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let (size, note) = s.authority.checkpoint(&tenant)?;
    let mut response =
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response();
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        response.headers_mut().insert("x-zkscim-tree-size", v);
    }
    Ok(response)
}

async fn cosign(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let line = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            400,
            "cosignature.invalid",
            "the body must be one UTF-8 text line",
        )
    })?;
    let size = s
        .authority
        .add_cosignature(&tenant, line)
        .map_err(|e| match e {
            ReadError::Invalid(d) => ApiError::new(400, "cosignature.invalid", d),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, axum::Json(json!({"treeSize": size}))).into_response())
}

async fn log_key(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if !s.authority.tenant_exists(&tenant) {
        return Err(ApiError::new(
            404,
            "tenant.unknown",
            format!("tenant '{tenant}' does not exist"),
        ));
    }
    Ok(format!("{}\n", s.authority.log_verifier_key(&tenant)?).into_response())
}

#[derive(serde::Deserialize)]
struct Range {
    start: u64,
    end: Option<u64>,
}

async fn entries(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(range) = range.map_err(bad_query)?;
    let (size, _) = s.authority.checkpoint(&tenant)?;
    let end = range
        .end
        .unwrap_or(size)
        .min(size)
        .min(range.start.saturating_add(1000));
    let rows = s
        .authority
        .entries(&tenant, range.start, end.max(range.start))?;
    let items: Vec<Json> = rows
        .iter()
        .map(|r| json!({"index": r.seq, "entry": hex::encode(&r.entry), "submittedHash": hex::encode(r.submitted_hash)}))
        .collect();
    Ok(axum::Json(json!({"treeSize": size, "entries": items})).into_response())
}

async fn submitted(
    State(s): State<AppState>,
    Path((tenant, hash)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(&hash, &mut raw)
        .map_err(|_| ApiError::new(400, "read.invalid", "the hash must be 64 hex digits"))?;
    let bytes = s.authority.submitted(&tenant, &raw)?;
    Ok(([(header::CONTENT_TYPE, "application/cbor")], bytes).into_response())
}

#[derive(serde::Deserialize)]
struct InclusionQuery {
    index: u64,
    size: Option<u64>,
}

async fn inclusion(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let size = match q.size {
        Some(size) => size,
        None => s.authority.checkpoint(&tenant)?.0,
    };
    let proof = s.authority.inclusion_proof(&tenant, q.index, size)?;
    Ok(axum::Json(json!({"index": q.index, "treeSize": size, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()})).into_response())
}

#[derive(serde::Deserialize)]
struct ConsistencyQuery {
    old: u64,
    new: Option<u64>,
}

async fn consistency(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let new = match q.new {
        Some(n) => n,
        None => s.authority.checkpoint(&tenant)?.0,
    };
    let proof = s.authority.consistency_proof(&tenant, q.old, new)?;
    Ok(axum::Json(json!({"old": q.old, "new": new, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()})).into_response())
}

/// A `Write` that hands chunks to the response stream; blocks when the client reads slowly.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// The whole log as an export file (`spec/export.md`), streamed.
async fn export_log(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let (size, _) = s.authority.checkpoint(&tenant)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let authority = s.authority.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        match authority.export(&tenant, writer) {
            Ok((mut w, _)) => {
                let _ = std::io::Write::flush(&mut w);
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut response = axum::body::Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.zkscim.export"),
    );
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        response.headers_mut().insert("x-zkscim-tree-size", v);
    }
    Ok(response)
}

async fn digest(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let (size, _) = s.authority.checkpoint(&tenant)?;
    let digest = s.authority.directory_digest(&tenant)?;
    Ok(axum::Json(json!({"treeSize": size, "digest": hex::encode(digest)})).into_response())
}

/// Discovery endpoints need no signature: they describe the server, not the tenant's data.
fn discovery(
    s: &AppState,
    tenant: &str,
    endpoint: &str,
    id: Option<&str>,
) -> Option<Result<Json, ApiError>> {
    let base = format!("/scim/v2/{tenant}");
    let registry = s.authority.registry();
    Some(match (endpoint, id) {
        ("ServiceProviderConfig", None) => Ok(service_provider_config().to_json(&base)),
        ("ResourceTypes", None) => Ok(zkscim_scim::resource_types_document(registry, &base)),
        ("ResourceTypes", Some(id)) => {
            zkscim_scim::resource_type_document(registry, id, &base).map_err(Into::into)
        }
        ("Schemas", None) => Ok(zkscim_scim::schemas_document(registry, &base)),
        ("Schemas", Some(id)) => {
            zkscim_scim::schema_document(registry, id, &base).map_err(Into::into)
        }
        _ => return None,
    })
}

/// What this server supports: reads only (writes are signed statements submitted to `/v1`),
/// authenticated by signed read requests rather than bearer tokens.
fn service_provider_config() -> zkscim_scim::ServiceProviderConfig {
    zkscim_scim::ServiceProviderConfig {
        patch: false,
        change_password: false,
        authentication_schemes: vec![zkscim_scim::discovery::AuthScheme {
            scheme_type: "zkscim-signed-request".into(),
            name: "zkscim signed read request".into(),
            description: "Authorization: ZKSCIM <base64url COSE_Sign1 read request bound to the method and path>, signed under the tenant's delegation chain with the 'read' operation in scope".into(),
            spec_uri: None,
            documentation_uri: None,
            primary: true,
        }],
        ..zkscim_scim::ServiceProviderConfig::default()
    }
}

fn scim_json(value: Json) -> Response {
    ([(header::CONTENT_TYPE, SCIM_JSON)], value.to_string()).into_response()
}

fn resource_type_for(s: &AppState, endpoint: &str) -> Option<String> {
    s.authority
        .registry()
        .resource_types()
        .iter()
        .find(|rt| {
            rt.endpoint
                .trim_start_matches('/')
                .eq_ignore_ascii_case(endpoint)
        })
        .map(|rt| rt.name.clone())
}

/// Checks the `Authorization: ZKSCIM <base64url read request>` header against this request.
fn authorize_read(
    s: &AppState,
    tenant: &str,
    resource_type: &str,
    request: &Request,
) -> Result<(), ApiError> {
    let header_value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("ZKSCIM "))
        .ok_or_else(|| {
            ApiError::new(
                401,
                "auth.read_signature",
                "reads need a signed read request: Authorization: ZKSCIM <base64url>",
            )
        })?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header_value.trim())
        .map_err(|_| {
            ApiError::new(
                401,
                "auth.read_signature",
                "the read request is not base64url",
            )
        })?;
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    s.authority
        .authorize_read(
            tenant,
            &bytes,
            request.method().as_str(),
            &path_and_query,
            resource_type,
        )
        .map_err(|e| {
            let mut err = ApiError::new(e.status(), e.code(), e.to_string());
            if e.status() == 403 {
                err.scim_type = None;
            }
            err
        })
}

async fn scim_collection(
    State(s): State<AppState>,
    Path((tenant, endpoint)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(doc) = discovery(&s, &tenant, &endpoint, None) {
        return doc.map(scim_json);
    }
    let resource_type = resource_type_for(&s, &endpoint)
        .ok_or_else(|| ApiError::new(404, "scim.not_found", format!("no endpoint '{endpoint}'")))?;
    authorize_read(&s, &tenant, &resource_type, &request)?;
    let query = request.uri().query().unwrap_or_default().to_owned();
    let authority = s.authority.clone();
    let list = tokio::task::spawn_blocking(move || authority.list(&tenant, &resource_type, &query))
        .await
        .map_err(|e| ApiError::new(500, "read.task", e.to_string()))??;
    Ok(scim_json(list))
}

async fn scim_item(
    State(s): State<AppState>,
    Path((tenant, endpoint, id)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(doc) = discovery(&s, &tenant, &endpoint, Some(&id)) {
        return doc.map(scim_json);
    }
    let resource_type = resource_type_for(&s, &endpoint)
        .ok_or_else(|| ApiError::new(404, "scim.not_found", format!("no endpoint '{endpoint}'")))?;
    authorize_read(&s, &tenant, &resource_type, &request)?;
    let (body, version) =
        s.authority
            .resource(&tenant, &resource_type, &id)
            .map_err(|e| match e {
                ReadError::NotFound(d) => ApiError::new(404, "scim.not_found", d),
                other => other.into(),
            })?;
    let mut response = scim_json(body);
    if let Ok(v) = HeaderValue::from_str(&crate::etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}
