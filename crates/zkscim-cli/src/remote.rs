//! Submitting signed statements and checking what the server answers: a receipt is only
//! believed once its checkpoint verifies under the tenant's recorded log key, its inclusion proof
//! verifies, and its entry records the hash of the exact bytes sent.

use serde_json::Value as Json;
use zkscim_proto::log_entry::{submitted_hash_of, LogEntry};

use crate::client::{Client, Response};
use crate::output::CliError;
use crate::tenant::TenantDir;

/// An applied, verified submission.
#[derive(Debug)]
pub struct Applied {
    /// Log index of the statement's entry.
    pub index: u64,
    /// Resulting version (ETag) for operations.
    pub version: Option<String>,
    /// Whether the server had already logged these exact bytes.
    pub duplicate: bool,
    /// Tree size of the checkpoint that includes it.
    pub tree_size: u64,
    /// The receipt as received.
    pub receipt: Json,
}

/// What to do next about a refusal or error code.
pub fn hint_for(code: &str) -> String {
    let family = code.split('.').next().unwrap_or_default();
    match (family, code) {
        (_, "chain.expired") => "a certificate of the chain has expired: renew it with `zkscim cert renew <cert> --issuer-key <issuer.pem> --parent <issuer.chain> --ttl 24h --out <cert> --chain-out <chain> --force`, then retry".into(),
        (_, "chain.not_yet_valid") => "a certificate is not valid yet: wait, or re-issue it with an earlier --not-before".into(),
        ("chain", _) => "check the chain with `zkscim cert verify <chain> --tenant-dir <dir>`; rebuild it with `zkscim cert issue --chain-out`".into(),
        ("scope", _) => "the signer's certificate does not allow this (see the detail for the dimension): widen it by issuing a new certificate with `zkscim cert issue … --ops/--types/--attrs/--cap`, or sign with a key whose chain allows it (--key/--chain); `zkscim cert show <chain>` shows what it allows".into(),
        ("revoked", _) => "a certificate of the signer's chain is revoked, which is irreversible: get a new certificate from an issuer that is not revoked, and sign with that key and chain".into(),
        ("revocation", _) => "only the tenant root, the certificate's own key, or an ancestor with the `revoke` capability may revoke; pass the certificate file so the server can check its ancestry".into(),
        ("profile", _) => "a value breaks the tenant's protection profile: pass clear values (the CLI seals them), and check tenant.json's protection_profile matches the one the server holds (`zkscim tenant show`)".into(),
        (_, "precondition.failed") => "the resource changed since you read it: `zkscim get <Type> <id>` shows the new ETag (meta.version); re-apply your change and retry with --if-match <new ETag>".into(),
        ("replay", _) => "this nonce was already used: run the command again to sign a fresh operation (resubmitting identical bytes returns the original receipt)".into(),
        (_, "resource.exists") => "a resource with this id exists: use `zkscim op replace` or `zkscim op patch`, or create with another --id".into(),
        (_, "resource.not_found") | (_, "scim.not_found") => "no such resource: find its id with `zkscim list <Type>`".into(),
        (_, "policy.lifetime_exceeded") => "a certificate of the chain lives longer than the tenant policy allows at its level: renew it shorter with `zkscim cert renew <cert> --issuer-key <issuer.pem> --parent <issuer.chain> --ttl <within the cap> --out <cert> --chain-out <chain> --force`, then retry (deactivations and revocations are never blocked)".into(),
        (_, "policy.invalid_lifetime_caps") | (_, "policy.invalid_profile") => "the policy document does not decode: see the detail; `zkscim policy --lifetime-cap LEVEL=DURATION` builds a valid one from tenant.json".into(),
        _ if code.starts_with("policy.nhi_") => "the tenant policy requires this type of non-human identity to name an owner (owners[].value) and carry an expiry (urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle:expiresAt) within its bound: add them and retry; a deactivation is always accepted".into(),
        ("policy", _) => "the tenant policy refused it: the detail names the capability or approval needed".into(),
        ("scim", _) => "fix the SCIM document as the detail says, then retry".into(),
        ("envelope", _) => "check this machine's clock (issued-at must be within the server's skew window), then retry".into(),
        (_, "tenant.unknown") => "the tenant does not exist on this server: register it with `zkscim tenant register --dir <dir> --server <url> --admin-token <token>`".into(),
        (_, "auth.read_replayed") => "this signed read was already used: every read needs a fresh signature (run the command again; zkscim signs one per request)".into(),
        (_, "read.busy") => "the server holds as many signed reads for this tenant as its skew window allows: retry in a few seconds".into(),
        ("auth", _) | ("cose", _) | ("cert", _) => "the server could not authenticate the signer under this tenant's root: is the tenant directory the one registered on this server, and --key/--chain the matching pair?".into(),
        _ => "see the detail; `zkscim explain <index> --tenant <tenant>` shows who signed a logged entry and why it was refused".into(),
    }
}

/// Turns a non-receipt error answer into a CLI error with a hint.
pub fn answer_error(resp: &Response) -> CliError {
    let code = resp
        .body
        .get("zkscimCode")
        .and_then(Json::as_str)
        .unwrap_or("server.error")
        .to_owned();
    let detail = resp
        .body
        .get("detail")
        .and_then(Json::as_str)
        .unwrap_or("no detail");
    CliError::new(
        code.clone(),
        format!("the server answered {}: {detail}", resp.status),
    )
    .hint(hint_for(&code))
}

/// Verifies a receipt fully: checkpoint signature, inclusion proof, and that its entry records
/// the SHA-256 of `sent`. Returns the entry.
pub fn verify(resp: &Response, log_key: &str, sent: &[u8]) -> Result<LogEntry, CliError> {
    resp.verify_receipt(log_key)?;
    let receipt = receipt_of(resp);
    let entry_hex = receipt
        .and_then(|r| r.get("entry"))
        .and_then(Json::as_str)
        .unwrap_or_default();
    let bad = |why: String| {
        CliError::new(
            "receipt.invalid",
            format!("the receipt does not verify: {why}"),
        )
        .hint("do not trust this server's answer; keep the receipt and report it")
    };
    let bytes = hex::decode(entry_hex).map_err(|_| bad("the entry is not hex".into()))?;
    let entry = LogEntry::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
    if entry.submitted_hash != submitted_hash_of(sent) {
        return Err(bad(
            "the logged entry is not for the bytes that were sent".into()
        ));
    }
    Ok(entry)
}

fn receipt_of(resp: &Response) -> Option<&Json> {
    if resp.body.get("index").is_some() {
        Some(&resp.body)
    } else {
        resp.body.get("receipt")
    }
}

fn tree_size(receipt: &Json) -> u64 {
    receipt
        .get("checkpoint")
        .and_then(Json::as_str)
        .and_then(|n| n.lines().nth(1))
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_default()
}

/// The recorded log key, or what to do without one.
pub fn log_key(tenant: &TenantDir) -> Result<String, CliError> {
    tenant.log_key().ok_or_else(|| {
        CliError::new(
            "tenant.log_key_missing",
            format!(
                "{} records no log key, so the server's receipts cannot be verified",
                tenant.dir.join("tenant.json").display()
            ),
        )
        .hint(format!(
            "register the tenant: `zkscim tenant register --dir {} --server <url> --admin-token <token>` (if it already exists there, this records its log key after checking its genesis)",
            tenant.dir.display()
        ))
    })
}

/// Submits one signed statement and returns the verified, applied result; a logged refusal
/// (after verifying its receipt) becomes an error with its code and a hint.
pub fn submit(server: &str, tenant: &TenantDir, bytes: &[u8]) -> Result<Applied, CliError> {
    let key = log_key(tenant)?;
    let client = Client::new(server);
    let resp = client.post_cbor(
        &format!("/v1/tenants/{}/submissions", tenant.tenant),
        bytes,
        None,
    )?;
    finish(&resp, &key, bytes).map_err(|e| match &tenant.server {
        Some(registered)
            if e.code == "receipt.invalid"
                && registered.trim_end_matches('/') != server.trim_end_matches('/') =>
        {
            let hint = format!(
                "the tenant is registered at {registered} and its recorded log key is that server's, but this went to {server}: submit there, or register with this server"
            );
            e.hint(hint)
        }
        _ => e,
    })
}

/// Checks a submission's answer.
pub fn finish(resp: &Response, log_key: &str, sent: &[u8]) -> Result<Applied, CliError> {
    let Some(receipt) = receipt_of(resp) else {
        return Err(answer_error(resp));
    };
    let entry = verify(resp, log_key, sent)?;
    if let Some((code, detail)) = resp.refusal() {
        return Err(CliError::new(
            code.clone(),
            format!(
                "refused and logged at index {} (receipt verified): {code}: {detail}",
                entry.seq
            ),
        )
        .hint(hint_for(&code)));
    }
    if !resp.receipt_applied() {
        return Err(CliError::new(
            "receipt.unexpected",
            format!("the receipt has no applied or refused outcome: {receipt}"),
        ));
    }
    Ok(Applied {
        index: entry.seq,
        version: receipt
            .pointer("/outcome/version")
            .and_then(Json::as_str)
            .map(str::to_owned),
        duplicate: receipt
            .get("duplicate")
            .and_then(Json::as_bool)
            .unwrap_or(false),
        tree_size: tree_size(receipt),
        receipt: receipt.clone(),
    })
}

/// A short fingerprint of a log verifier key: the first 8 bytes of the SHA-256 of its text.
pub fn log_key_fingerprint(key: &str) -> String {
    hex::encode(submitted_hash_of(key.trim().as_bytes()))
        .chars()
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::hint_for;

    #[test]
    fn hints_name_the_next_step_for_policy_and_read_refusals() {
        for (code, needle) in [
            ("policy.lifetime_exceeded", "cert renew"),
            ("policy.invalid_lifetime_caps", "zkscim policy"),
            ("policy.nhi_owner_missing", "expiresAt"),
            ("auth.read_replayed", "fresh signature"),
            ("read.busy", "retry"),
            ("auth.read_binding", "authenticate"),
        ] {
            let hint = hint_for(code);
            assert!(hint.contains(needle), "{code}: {hint}");
        }
    }
}
