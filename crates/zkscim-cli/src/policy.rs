//! `zkscim policy`: sign and submit a tenant policy statement (spec/policy.md), verify its receipt.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use zkscim_proto::envelope::{Envelope, Header, PolicyUpdate};
use zkscim_proto::policy::{LifetimeCaps, TenantPolicy};

use crate::config::{Config, SignerArgs};
use crate::duration::{now, parse_duration};
use crate::files::write_atomic;
use crate::output::{CliError, Output};
use crate::signer;

/// Set the tenant policy: the protection profile recorded in tenant.json plus certificate
/// lifetime caps by chain level. Signed by the tenant root or a key with the `policy`
/// capability. The new policy replaces the old one whole: caps not given are removed.
///
/// Level 1 is a certificate issued by the root, level 2 one issued under it, and so on; a cap
/// also binds every deeper level that has none of its own. Deprovisioning and revocation are
/// never blocked by caps.
///
/// Example: `zkscim policy --lifetime-cap 1=90d --lifetime-cap 2=24h --tenant-dir ./acme --key
/// acme/root.pem`
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// A cap as LEVEL=DURATION (`2=24h`: connectors at most a day). Repeat for more levels.
    #[arg(long = "lifetime-cap", value_name = "LEVEL=DURATION")]
    lifetime_caps: Vec<String>,
    #[command(flatten)]
    signer: SignerArgs,
    /// Also (or, without --server, only) write the signed policy statement here.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

/// Parses `LEVEL=DURATION` arguments into caps.
fn parse_caps(args: &[String]) -> Result<LifetimeCaps, CliError> {
    let mut caps = LifetimeCaps::none();
    for arg in args {
        let bad = |why: String| {
            CliError::new(
                "policy.lifetime_cap",
                format!("--lifetime-cap {arg:?}: {why}"),
            )
            .hint("write LEVEL=DURATION, e.g. 2=24h; level 1 is issued by the root, up to 8")
            .input()
        };
        let (level, duration) = arg
            .split_once('=')
            .ok_or_else(|| bad("missing '='".into()))?;
        let level: u64 = level
            .trim()
            .parse()
            .map_err(|_| bad(format!("level {level:?} is not a number")))?;
        if caps.caps().iter().any(|(l, _)| u64::from(*l) == level) {
            return Err(bad(format!("level {level} is given twice")));
        }
        let seconds = parse_duration(duration)?;
        caps.set(level, seconds).map_err(|e| bad(e.to_string()))?;
    }
    Ok(caps)
}

pub fn run(a: PolicyArgs, out: &Output) -> Result<(), CliError> {
    let caps = parse_caps(&a.lifetime_caps)?;
    let cfg = Config::load()?;
    let resolved = a.signer.clone().resolve(&cfg)?;
    let s = signer::load(&resolved)?;
    let policy = TenantPolicy {
        profile: s.tenant.profile()?,
        lifetime_caps: caps,
    };
    let server = match (&a.out, &resolved.server_flag) {
        (Some(_), None) => None,
        _ => Some(signer::server(&resolved, &s.tenant).ok_or_else(|| signer::no_server(&cfg))?),
    };
    if server.is_some() {
        crate::remote::log_key(&s.tenant)?;
    }
    if let Some(path) = &a.out {
        if !a.force && path.exists() {
            return Err(crate::files::exists(path));
        }
    }
    let bytes = Envelope::new(
        Header::new(
            s.tenant.tenant.clone(),
            now(),
            s.chain.clone(),
            &mut rand_core::OsRng,
        ),
        PolicyUpdate {
            document: policy.to_cbor(),
        },
    )
    .sign(&s.key);
    let applied = match &server {
        Some(url) => Some(crate::remote::submit(url, &s.tenant, &bytes)?),
        None => None,
    };
    if let Some(path) = &a.out {
        write_atomic(path, &bytes, a.force)?;
    }
    let caps_text = if policy.lifetime_caps.is_empty() {
        "no lifetime caps".to_owned()
    } else {
        policy
            .lifetime_caps
            .caps()
            .iter()
            .map(|(level, seconds)| format!("level {level} ≤ {seconds} s"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let human = match &applied {
        Some(r) => format!(
            "tenant policy set at log index {} (receipt verified): {caps_text}",
            r.index
        ),
        None => format!(
            "signed the tenant policy ({caps_text}) → {}",
            a.out
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
    };
    out.result(
        &human,
        &json!({
            "status": if applied.is_some() { "applied" } else { "signed" },
            "lifetime_caps": policy
                .lifetime_caps
                .caps()
                .iter()
                .map(|(level, seconds)| json!({"level": level, "seconds": seconds}))
                .collect::<Vec<_>>(),
            "index": applied.as_ref().map(|r| r.index),
            "receipt": applied.as_ref().map(|r| r.receipt.clone()),
            "file": a.out,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn caps_parse_and_refuse_clearly() {
        let caps = parse_caps(&strings(&["2=24h", "1=90d"])).unwrap();
        assert_eq!(caps.caps(), &[(1, 90 * 86_400), (2, 86_400)]);
        assert!(parse_caps(&[]).unwrap().is_empty());
        for (bad, needle) in [
            ("2", "missing '='"),
            ("x=1h", "not a number"),
            ("0=1h", "levels run from 1"),
            ("9=1h", "levels run from 1"),
            ("2=forever", "invalid duration"),
        ] {
            let e = parse_caps(&strings(&[bad])).unwrap_err();
            assert!(e.message.contains(needle), "{bad}: {e:?}");
            assert_eq!(e.exit, 2);
        }
        let e = parse_caps(&strings(&["2=1h", "2=2h"])).unwrap_err();
        assert!(e.message.contains("twice"), "{e:?}");
    }
}
