//! `zkscim policy`: sign and submit a tenant policy statement (spec/policy.md), verify its receipt.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use zkscim_proto::envelope::{Envelope, PolicyUpdate};
use zkscim_proto::policy::{LifetimeCaps, NhiRequirements, PrivilegedGroups, TenantPolicy};

use crate::config::{Config, SignerArgs};
use crate::duration::parse_duration;
use crate::output::{CliError, Output};
use crate::signer;

/// Set the tenant policy: the protection profile recorded in tenant.json, certificate lifetime
/// caps by chain level, and what non-human identities must carry. Signed by the tenant root or a
/// key with the `policy` capability. The new policy replaces the old one whole: caps and
/// requirements not given are removed.
///
/// Level 1 is a certificate issued by the root, level 2 one issued under it, and so on; a cap
/// also binds every deeper level that has none of its own. Deprovisioning and revocation are
/// never blocked by caps.
///
/// With --nhi-type, every resource of that type (Agent, AgenticApplication) must name an owner
/// and carry an expiry (`urn:zkscim:params:scim:schemas:extension:nhi:2.0:Lifecycle:expiresAt`),
/// which --nhi-max-expiry bounds; deactivation is never blocked.
///
/// Example: `zkscim policy --lifetime-cap 1=90d --lifetime-cap 2=24h --nhi-type Agent
/// --nhi-max-expiry 90d --tenant-dir ./acme --key acme/root.pem`
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// A cap as LEVEL=DURATION (`2=24h`: connectors at most a day). Repeat for more levels.
    #[arg(long = "lifetime-cap", value_name = "LEVEL=DURATION")]
    lifetime_caps: Vec<String>,
    /// A resource type whose resources must name an owner and carry an expiry. Repeatable.
    #[arg(long = "nhi-type", value_name = "TYPE")]
    nhi_types: Vec<String>,
    /// The latest expiry accepted, as a duration from each decision (needs --nhi-type).
    #[arg(long, value_name = "DURATION", requires = "nhi_types")]
    nhi_max_expiry: Option<String>,
    /// A group whose membership changes need N distinct approvers (the signer and keys that
    /// ran `zkscim approve` on the exact statement), as GROUP_ID=N with N from 2 to 16.
    #[arg(long = "privileged-group", value_name = "GROUP_ID=N")]
    privileged_groups: Vec<String>,
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

/// Builds the NHI requirements from `--nhi-type` and `--nhi-max-expiry`.
fn parse_nhi(types: &[String], max_expiry: Option<&str>) -> Result<NhiRequirements, CliError> {
    let bad = |e: zkscim_proto::policy::PolicyError| {
        CliError::new(e.code(), e.to_string())
            .hint("name resource types as the server lists them (Agent, AgenticApplication); give --nhi-max-expiry as a duration such as 90d")
            .input()
    };
    let mut nhi = NhiRequirements::none();
    for t in types {
        nhi.require(t).map_err(bad)?;
    }
    if let Some(text) = max_expiry {
        nhi.set_max_expiry(parse_duration(text)?).map_err(bad)?;
    }
    Ok(nhi)
}

/// What a policy sets, in words.
pub fn describe(policy: &TenantPolicy) -> String {
    let mut parts = vec![format!(
        "protection profile with {} rules",
        policy.profile.rules().len()
    )];
    if policy.lifetime_caps.is_empty() {
        parts.push("no certificate lifetime caps".to_owned());
    } else {
        let caps: Vec<String> = policy
            .lifetime_caps
            .caps()
            .iter()
            .map(|(level, seconds)| format!("level {level} ≤ {seconds} s"))
            .collect();
        parts.push(format!("certificate lifetimes {}", caps.join(", ")));
    }
    if !policy.privileged_groups.is_empty() {
        let groups: Vec<String> = policy
            .privileged_groups
            .groups()
            .iter()
            .map(|(id, n)| format!("{id} needs {n} approvers"))
            .collect();
        parts.push(format!("privileged groups: {}", groups.join(", ")));
    }
    if policy.nhi.is_empty() {
        parts.push("no non-human-identity requirements".to_owned());
    } else {
        parts.push(format!(
            "{} must name an owner and carry an expiry{}",
            policy.nhi.types().join(", "),
            policy
                .nhi
                .max_expiry()
                .map(|m| format!(" at most {m} s ahead"))
                .unwrap_or_default()
        ));
    }
    parts.join("; ")
}

/// Parses `GROUP_ID=N` arguments.
fn parse_groups(args: &[String]) -> Result<PrivilegedGroups, CliError> {
    let mut groups = PrivilegedGroups::none();
    for arg in args {
        let bad = |why: String| {
            CliError::new(
                "policy.privileged_group",
                format!("--privileged-group {arg:?}: {why}"),
            )
            .hint("write GROUP_ID=N, e.g. 3f2c…=2: the group's id and how many distinct approvers (2 to 16)")
            .input()
        };
        let (id, n) = arg
            .rsplit_once('=')
            .ok_or_else(|| bad("missing '='".into()))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("{n:?} is not a number")))?;
        if groups.approvers_for(id).is_some() {
            return Err(bad(format!("group {id:?} is given twice")));
        }
        groups.set(id, n).map_err(|e| bad(e.to_string()))?;
    }
    Ok(groups)
}

pub fn run(a: PolicyArgs, out: &Output) -> Result<(), CliError> {
    let caps = parse_caps(&a.lifetime_caps)?;
    let privileged_groups = parse_groups(&a.privileged_groups)?;
    let nhi = parse_nhi(&a.nhi_types, a.nhi_max_expiry.as_deref())?;
    let cfg = Config::load()?;
    let resolved = a.signer.clone().resolve(&cfg)?;
    let s = signer::load(&resolved)?;
    let policy = TenantPolicy {
        profile: s.tenant.profile()?,
        lifetime_caps: caps,
        nhi,
        privileged_groups,
    };
    let bytes = Envelope::new(
        s.header(),
        PolicyUpdate {
            document: policy.to_cbor(),
        },
    )
    .sign(&s.key);
    let applied = signer::deliver(&resolved, &s, &cfg, &bytes, a.out.as_deref(), a.force)?;
    let caps_text = describe(&policy);
    let human = match &applied {
        Some(r) => format!(
            "tenant policy set at log index {} (receipt verified): {caps_text}",
            r.index
        ),
        None => format!(
            "signed the tenant policy ({caps_text}) → {}",
            signer::written_to(a.out.as_deref())
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
            "privileged_groups": policy
                .privileged_groups
                .groups()
                .iter()
                .map(|(id, n)| json!({"group": id, "approvers": n}))
                .collect::<Vec<_>>(),
            "nhi": {
                "types": policy.nhi.types(),
                "max_expiry_seconds": policy.nhi.max_expiry(),
            },
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

    #[test]
    fn privileged_group_flags_parse_and_refuse_clearly() {
        let g = parse_groups(&strings(&["admins=2", "root-ops=3"])).unwrap();
        assert_eq!(g.approvers_for("admins"), Some(2));
        assert_eq!(g.approvers_for("root-ops"), Some(3));
        for (bad, needle) in [
            ("admins", "missing '='"),
            ("admins=x", "not a number"),
            ("admins=1", "2 to 16"),
            ("=2", "not a group id"),
        ] {
            let e = parse_groups(&strings(&[bad])).unwrap_err();
            assert!(e.message.contains(needle), "{bad}: {e:?}");
            assert_eq!(e.exit, 2);
        }
        let e = parse_groups(&strings(&["admins=2", "admins=3"])).unwrap_err();
        assert!(e.message.contains("twice"), "{e:?}");
    }

    #[test]
    fn nhi_flags_parse_and_refuse_clearly() {
        let nhi = parse_nhi(&strings(&["Agent", "AgenticApplication"]), Some("90d")).unwrap();
        assert_eq!(nhi.types(), ["Agent", "AgenticApplication"]);
        assert_eq!(nhi.max_expiry(), Some(90 * 86_400));
        let e = parse_nhi(&strings(&["Agent Smith"]), None).unwrap_err();
        assert_eq!((e.code.as_str(), e.exit), ("policy.nhi_type", 2));
        let e = parse_nhi(&strings(&["Agent"]), Some("0s")).unwrap_err();
        assert_eq!(e.exit, 2, "{e:?}");
    }
}
