//! Durations (`24h`, `30m`, `7d`, `1h30m`) and points in time (RFC 3339 or unix seconds), parsed
//! with errors that show an accepted form, and formatted for people ("expires in 23h 59m").
//!
//! Hand-written rather than pulling a date crate: the CLI only needs UTC, whole seconds and the
//! proleptic Gregorian calendar, and every certificate time is unix seconds anyway.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::output::CliError;

/// Now, in unix seconds (0 if the clock is before 1970, which no certificate check survives).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses `90s`, `30m`, `24h`, `7d`, `2w` or a sum such as `1h30m` into seconds (at least 1).
pub fn parse_duration(text: &str) -> Result<u64, CliError> {
    let bad = |why: &str| {
        CliError::new(
            "input.duration",
            format!("invalid duration {text:?}: {why}"),
        )
        .hint("use a number and a unit: 90s, 30m, 24h, 7d, 2w, or a sum such as 1h30m")
        .input()
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or_else(|| bad("too large"))?;
            number = Some(n);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad(&format!("unknown unit {c:?}"))),
        };
        let n = number
            .take()
            .ok_or_else(|| bad("a unit must follow a number"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| bad("too large"))?;
    }
    if number.is_some() {
        return Err(bad("missing unit after the last number (e.g. 24h, not 24)"));
    }
    if total == 0 {
        return Err(bad("must be longer than zero"));
    }
    Ok(total)
}

/// Parses an RFC 3339 time (`2026-11-23T10:00:00Z`, `…+02:00`, fractions ignored) or unix
/// seconds (`1795000000`) into unix seconds.
pub fn parse_time(text: &str) -> Result<u64, CliError> {
    let text = text.trim();
    let bad = |why: &str| {
        CliError::new("input.time", format!("invalid time {text:?}: {why}"))
            .hint("use RFC 3339 such as 2026-11-23T10:00:00Z, or unix seconds such as 1795000000")
            .input()
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map_err(|_| bad("too large"));
    }
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if b.len() < 20 || !sep(4, b"-") || !sep(7, b"-") || !sep(10, b"Tt ") || !sep(13, b":") {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SSZ"));
    }
    if !sep(16, b":") {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SSZ"));
    }
    let field = |r, what: &str| digits(r).ok_or_else(|| bad(&format!("bad {what}")));
    let year = field(0..4, "year")?;
    let month = field(5..7, "month")?;
    let day = field(8..10, "day")?;
    let hour = field(11..13, "hour")?;
    let minute = field(14..16, "minute")?;
    let second = field(17..19, "second")?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > zkscim_scim::datetime::days_in_month(year, month)
    {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("no such time of day"));
    }
    let mut rest = text.get(19..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return Err(bad("empty fraction of a second"));
        }
        rest = frac.get(end..).unwrap_or_default();
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(bad("missing time zone (Z or ±HH:MM)")),
            };
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob.get(3) != Some(&b':') {
                return Err(bad("time zone offset must be ±HH:MM"));
            }
            let parse2 = |r: std::ops::Range<usize>| {
                rest.get(r)
                    .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|s| s.parse::<i64>().ok())
            };
            let (h, m) = parse2(1..3)
                .zip(parse2(4..6))
                .ok_or_else(|| bad("time zone offset must be ±HH:MM"))?;
            if h > 23 || m > 59 {
                return Err(bad("time zone offset out of range"));
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = zkscim_scim::datetime::days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second.min(59) - offset;
    u64::try_from(secs).map_err(|_| bad("before 1970"))
}

/// RFC 3339 in UTC, whole seconds: `2026-11-23T10:00:00Z`.
pub fn format_time(unix: u64) -> String {
    zkscim_scim::datetime::format_rfc3339(unix)
}

/// A span for people: `45s`, `12m`, `23h 59m`, `36h`, `6d 23h` (hours up to two days, where
/// a certificate's lifetime is usually reckoned).
pub fn format_span(secs: u64) -> String {
    if (86_400..172_800).contains(&secs) {
        let (h, m) = (secs / 3_600, (secs % 3_600) / 60);
        return if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h {m}m")
        };
    }
    let (d, h, m, s) = (
        secs / 86_400,
        (secs % 86_400) / 3_600,
        (secs % 3_600) / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

/// Where `[not_before, expires)` stands at `now`, in words and as a status word.
pub fn validity_words(not_before: u64, expires: u64, now: u64) -> (String, &'static str) {
    if now >= expires {
        (
            format!("EXPIRED {} ago", format_span(now - expires)),
            "expired",
        )
    } else if now < not_before {
        (
            format!(
                "not yet valid (starts in {})",
                format_span(not_before - now)
            ),
            "not_yet_valid",
        )
    } else {
        (
            format!("expires in {}", format_span(expires - now)),
            "valid",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("30m").unwrap(), 1_800);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400);
        for bad in ["", "24", "h", "0h", "3y", "99999999999999999999d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_roundtrip() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("1795000000").unwrap(), 1_795_000_000);
        let t = parse_time("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(format_time(t), "2026-11-23T10:00:00Z");
        assert_eq!(parse_time("2026-11-23T12:00:00.123+02:00").unwrap(), t);
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z").map(format_time).unwrap(),
            "2024-02-29T00:00:00Z"
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-23",
            "2026-11-23T10:00:00",
            "yesterday",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans() {
        assert_eq!(format_span(86_399), "23h 59m");
        assert_eq!(format_span(45), "45s");
        assert_eq!(validity_words(0, 10, 20).1, "expired");
        assert_eq!(validity_words(5, 10, 1).1, "not_yet_valid");
    }
}
