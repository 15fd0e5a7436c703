//! A small blocking HTTP client for the authority's API (plain HTTP; put TLS in front).

use std::time::Duration;

use serde_json::Value as Json;
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::merkle;
use zkscim_proto::note::{NoteVerifier, VerifierKey};

use crate::output::CliError;

/// An authority at a base URL.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A JSON answer with its status.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Json,
}

fn unreachable(base: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(
        "server.unreachable",
        format!("cannot reach the authority at {base}: {e}"),
    )
    .hint("is `zkscim serve` running there? Set --server or ZKSCIM_SERVER")
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8422`).
    pub fn new(base: &str) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a text body; returns the JSON answer whatever its status.
    pub fn post_text(&self, path: &str, text: &str) -> Result<Response, CliError> {
        let mut resp = self
            .agent
            .post(&self.url(path))
            .header("content-type", "text/plain; charset=utf-8")
            .send(text.as_bytes())
            .map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable(&self.base, e))?;
        let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok(Response { status, body })
    }

    /// POSTs CBOR bytes; returns the JSON answer whatever its status.
    pub fn post_cbor(
        &self,
        path: &str,
        bytes: &[u8],
        bearer: Option<&str>,
    ) -> Result<Response, CliError> {
        let mut req = self
            .agent
            .post(&self.url(path))
            .header("content-type", "application/cbor");
        if let Some(token) = bearer {
            req = req.header("authorization", &format!("Bearer {token}"));
        }
        let mut resp = req.send(bytes).map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable(&self.base, e))?;
        let body = serde_json::from_str(&text).map_err(|_| {
            CliError::new(
                "server.bad_answer",
                format!(
                    "HTTP {status} with a non-JSON body: {}",
                    text.chars().take(200).collect::<String>()
                ),
            )
        })?;
        Ok(Response { status, body })
    }

    fn get(&self, path: &str, auth: Option<&str>) -> Result<(u16, String), CliError> {
        let mut req = self.agent.get(&self.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut resp = req.call().map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| unreachable(&self.base, e))?;
        Ok((status, text))
    }

    /// GETs JSON; a non-2xx status becomes an error carrying the server's detail.
    pub fn get_json(&self, path: &str, auth: Option<&str>) -> Result<Json, CliError> {
        let (status, text) = self.get(path, auth)?;
        let body: Json = serde_json::from_str(&text).map_err(|_| {
            CliError::new(
                "server.bad_answer",
                format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ),
            )
        })?;
        if !(200..300).contains(&status) {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }

    /// GETs text; a non-2xx status becomes an error.
    pub fn get_text(&self, path: &str) -> Result<String, CliError> {
        let (status, text) = self.get(path, None)?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
            return Err(server_error(status, &body));
        }
        Ok(text)
    }

    /// GETs raw bytes (at most 4 MiB).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CliError> {
        self.get_bytes_limited(path, 4 << 20)
    }

    /// GETs raw bytes, at most `limit`.
    pub fn get_bytes_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>, CliError> {
        let mut resp = self
            .agent
            .get(&self.url(path))
            .call()
            .map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| unreachable(&self.base, e))?;
        if !(200..300).contains(&status) {
            return Err(CliError::new(
                "server.error",
                format!("HTTP {status} for {path}"),
            ));
        }
        Ok(bytes)
    }
}

fn server_error(status: u16, body: &Json) -> CliError {
    let code = body
        .get("zkscimCode")
        .and_then(Json::as_str)
        .unwrap_or("server.error");
    let detail = body
        .get("detail")
        .and_then(Json::as_str)
        .unwrap_or("no detail");
    CliError::new(code, format!("the server answered {status}: {detail}"))
}

impl Response {
    fn receipt(&self) -> Option<&Json> {
        if self.body.get("index").is_some() {
            Some(&self.body)
        } else {
            self.body.get("receipt")
        }
    }

    /// Whether the answer is a receipt with an applied outcome.
    pub fn receipt_applied(&self) -> bool {
        self.receipt()
            .and_then(|r| r.pointer("/outcome/status"))
            .and_then(Json::as_str)
            == Some("applied")
    }

    /// The log index of the receipt.
    pub fn index(&self) -> Option<u64> {
        self.receipt()
            .and_then(|r| r.get("index"))
            .and_then(Json::as_u64)
    }

    /// The refusal code and detail, if the answer is a logged refusal.
    pub fn refusal(&self) -> Option<(String, String)> {
        let outcome = self.receipt()?.get("outcome")?;
        if outcome.get("status")?.as_str()? != "refused" {
            return None;
        }
        Some((
            outcome.get("code")?.as_str()?.to_owned(),
            outcome.get("detail")?.as_str()?.to_owned(),
        ))
    }

    /// Verifies the receipt: checkpoint signature under the log key and the inclusion proof.
    pub fn verify_receipt(&self, log_key_text: &str) -> Result<(), CliError> {
        let receipt = self.receipt().ok_or_else(|| {
            CliError::new(
                "receipt.missing",
                format!("HTTP {} without a receipt: {}", self.status, self.body),
            )
        })?;
        verify_receipt_json(receipt, log_key_text)
    }
}

fn bad(what: impl std::fmt::Display) -> CliError {
    CliError::new(
        "receipt.invalid",
        format!("the receipt does not verify: {what}"),
    )
    .hint("do not trust this server's answer; keep the receipt and report it")
}

fn hex32(v: &Json) -> Result<[u8; 32], CliError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap_or_default(), &mut out)
        .map_err(|_| bad("a hash is not 64 hex digits"))?;
    Ok(out)
}

/// Verifies a receipt JSON (see spec/authority.md) against the log's verifier key text.
pub fn verify_receipt_json(receipt: &Json, log_key_text: &str) -> Result<(), CliError> {
    let key = VerifierKey::parse(log_key_text.trim()).map_err(bad)?;
    let verifier = NoteVerifier::new(vec![key]).map_err(bad)?;
    let note = receipt
        .get("checkpoint")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let (checkpoint, _) = Checkpoint::open(note, &verifier).map_err(bad)?;
    let entry = hex::decode(
        receipt
            .get("entry")
            .and_then(Json::as_str)
            .unwrap_or_default(),
    )
    .map_err(bad)?;
    let leaf = merkle::leaf_hash(&entry);
    if leaf != hex32(receipt.get("leafHash").unwrap_or(&Json::Null))? {
        return Err(bad("leaf hash is not the hash of the entry"));
    }
    let index = receipt
        .get("index")
        .and_then(Json::as_u64)
        .ok_or_else(|| bad("no index"))?;
    let proof: Vec<[u8; 32]> = receipt
        .get("inclusionProof")
        .and_then(Json::as_array)
        .ok_or_else(|| bad("no inclusion proof"))?
        .iter()
        .map(hex32)
        .collect::<Result<_, _>>()?;
    merkle::verify_inclusion(
        &leaf,
        index,
        checkpoint.size(),
        &proof,
        checkpoint.root_hash(),
    )
    .map_err(bad)
}
