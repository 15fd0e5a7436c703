//! Smoke test: a short run against the in-process server ends with a well-formed `ingest:` line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

fn parse_line(line: &str) -> (f64, f64, f64) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 9, "{line}");
    assert_eq!(parts[0], "ingest:");
    assert_eq!(parts[2], "ops/s");
    assert_eq!(parts[3], "p50");
    assert_eq!(parts[5], "ms");
    assert_eq!(parts[6], "p99");
    assert_eq!(parts[8], "ms");
    (
        parts[1].parse().unwrap(),
        parts[4].parse().unwrap(),
        parts[7].parse().unwrap(),
    )
}

#[test]
fn ingest_smoke_embedded() {
    let out = Command::new(env!("CARGO_BIN_EXE_zkscim-bench"))
        .args([
            "ingest",
            "--embedded-server",
            "--ops",
            "200",
            "--seconds",
            "20",
            "--concurrency",
            "8",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let last = stdout.lines().last().unwrap();
    let (rate, p50, p99) = parse_line(last);
    assert!(rate > 0.0, "{last}");
    assert!(p50 > 0.0 && p99 >= p50, "{last}");
    assert!(stdout.contains(" 0 errors"), "{stdout}");
    assert!(stdout.contains("receipts verified"), "{stdout}");
}

#[test]
fn ingest_smoke_batches_and_prefill() {
    let out = Command::new(env!("CARGO_BIN_EXE_zkscim-bench"))
        .args([
            "ingest",
            "--embedded-server",
            "--ops",
            "200",
            "--seconds",
            "20",
            "--concurrency",
            "4",
            "--batch",
            "10",
            "--prefill",
            "300",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let (rate, _, _) = parse_line(stdout.lines().last().unwrap());
    assert!(rate > 0.0);
    assert!(stdout.contains("prefilled/empty rate"), "{stdout}");
    assert!(
        stdout.contains("[log prefilled with 300 entries] log size before 3"),
        "{stdout}"
    );
}

/// A small audit run generates its export, audits it clean (the bench fails otherwise), reports
/// its CPU, and ends with a well-formed `audit:` line; a second run reuses the export and
/// reports the same outcome.
#[test]
fn audit_smoke() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_zkscim-bench"))
            .args(["audit", "--entries", "600", "--workdir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
        (stdout, stderr)
    };
    let (stdout, stderr) = run();
    let last = stdout.lines().last().unwrap();
    let parts: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(parts.len(), 6, "{last}");
    assert_eq!(
        (parts[0], parts[2], parts[3], parts[5]),
        ("audit:", "entries/s", "peak", "MiB")
    );
    assert!(parts[1].parse::<f64>().unwrap() > 0.0, "{last}");
    assert!(stderr.contains("µs per entry on all threads"), "{stderr}");
    assert!(stderr.contains("generating a 600-entry export"), "{stderr}");
    let fingerprint = |s: &str| {
        s.lines()
            .find(|l| l.contains("outcome fingerprint"))
            .unwrap()
            .to_owned()
    };
    let (_, again) = run();
    assert!(!again.contains("generating"), "{again}");
    assert_eq!(fingerprint(&stderr), fingerprint(&again));
}
