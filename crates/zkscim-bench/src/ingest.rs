//! `zkscim-bench ingest`: durable ingest rate and latency over loopback HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, Mutex};
use zkscim_proto::checkpoint::Checkpoint;
use zkscim_proto::codec::Value;
use zkscim_proto::keys::SigningKey;
use zkscim_proto::merkle;
use zkscim_proto::note::{NoteVerifier, VerifierKey};

use crate::http::Conn;
use crate::server::{self, Server};
use crate::workload::{sign_all, Generator, Identity, Plan, TENANT};

/// Hard caps, whatever the flags say.
const MAX_OPS: usize = 2_000_000;
const MAX_SECONDS: u64 = 3_600;
const MAX_PREFILL: usize = 2_000_000;
const MAX_CONCURRENCY: usize = 1_024;
const MAX_BATCH: usize = 1_000;
/// Receipts checked after each run.
const SAMPLE: usize = 64;
/// Operations signed and submitted per prefill chunk.
const PREFILL_CHUNK: usize = 20_000;
/// Submissions in flight during prefill.
const PREFILL_WINDOW: usize = 1_024;

/// Drive the server with signed operations and report durable ops/s, p50 and p99.
///
/// Example: `zkscim-bench ingest --ops 100000 --seconds 20 --concurrency 64`
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// The `zkscim` binary [default: beside this executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Serve the same router in this process instead of starting `zkscim serve`.
    #[arg(long)]
    embedded_server: bool,
    /// Operations to submit (at most 2,000,000); the run ends at this count or --seconds.
    #[arg(long, default_value_t = 100_000)]
    ops: usize,
    /// Longest measured run, in seconds (at most 3600).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent HTTP clients (connections), at most 1024.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open-loop target rate in ops/s (latency counted from each operation's scheduled send
    /// time); without it, each client sends its next request when the previous one is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Log entries to preload (through the embedding API, before the measured run); the
    /// benchmark then also measures an empty log for comparison (see --no-baseline).
    #[arg(long, default_value_t = 0)]
    prefill: usize,
    /// With --prefill, skip the empty-log baseline run.
    #[arg(long)]
    no_baseline: bool,
    /// Send K operations per request through /submissions/batch (1 = one per request).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Directory for the throw-away database [default: a new temporary directory].
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Also print a JSON summary (before the final line).
    #[arg(long)]
    json: bool,
}

/// What one measured run produced.
#[derive(Debug, Clone)]
struct Outcome {
    label: String,
    log_size_before: u64,
    submitted: usize,
    applied: usize,
    refused: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    verified: usize,
    sampled: usize,
    metrics: Vec<String>,
    /// Server CPU seconds during the measured run (process, writer thread), when external.
    server_cpu: Option<(f64, f64)>,
    /// This process's CPU seconds during the measured run.
    client_cpu: f64,
    /// Load average (1 min) when the run started.
    load: String,
}

impl Outcome {
    fn completed(&self) -> usize {
        self.applied + self.refused
    }
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.completed() as f64 / secs
        } else {
            0.0
        }
    }
    fn line(&self) -> String {
        format!(
            "ingest: {:.0} ops/s p50 {:.2} ms p99 {:.2} ms",
            self.rate(),
            self.p50_ms,
            self.p99_ms
        )
    }
    fn to_json(&self) -> Json {
        json!({
            "label": self.label,
            "logSizeBefore": self.log_size_before,
            "submitted": self.submitted,
            "applied": self.applied,
            "refused": self.refused,
            "errors": self.errors,
            "firstError": self.first_error,
            "seconds": self.elapsed.as_secs_f64(),
            "opsPerSecond": self.rate(),
            "p50Ms": self.p50_ms,
            "p99Ms": self.p99_ms,
            "maxMs": self.max_ms,
            "receiptsVerified": self.verified,
            "receiptsSampled": self.sampled,
            "serverMetrics": self.metrics,
            "serverCpuSeconds": self.server_cpu.map(|c| c.0),
            "writerCpuSeconds": self.server_cpu.map(|c| c.1),
            "clientCpuSeconds": self.client_cpu,
            "loadAverage": self.load,
        })
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
}

/// Runs the benchmark and prints the report; the last stdout line is the `ingest:` line.
pub fn run(mut args: IngestArgs) -> Result<(), String> {
    args.ops = args.ops.clamp(1, MAX_OPS);
    args.seconds = args.seconds.clamp(1, MAX_SECONDS);
    args.concurrency = args.concurrency.clamp(1, MAX_CONCURRENCY);
    args.batch = args.batch.clamp(1, MAX_BATCH);
    args.prefill = args.prefill.min(MAX_PREFILL);
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err("--rate must be a positive number of ops/s".into());
        }
    }
    let server_bin = if args.embedded_server {
        None
    } else {
        Some(server::locate_server_bin(args.server_bin.as_deref())?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut outcomes = Vec::new();
    runtime.block_on(async {
        if args.prefill > 0 && !args.no_baseline {
            outcomes.push(one_run(&args, server_bin.as_deref(), 0, "empty log").await?);
        }
        let label = if args.prefill > 0 {
            format!("log prefilled with {} entries", args.prefill)
        } else {
            "empty log".to_owned()
        };
        outcomes.push(one_run(&args, server_bin.as_deref(), args.prefill, &label).await?);
        Ok::<(), String>(())
    })?;
    let server = if args.embedded_server {
        "in-process router".to_owned()
    } else {
        server_bin
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    println!(
        "server: {server}; concurrency {}; batch {}; {}",
        args.concurrency,
        args.batch,
        match args.rate {
            Some(r) => format!("open loop at {r:.0} ops/s"),
            None => "closed loop".to_owned(),
        }
    );
    for o in &outcomes {
        println!(
            "[{}] log size before {}: {} submitted in {:.2} s, {} applied, {} refused with receipt, \
             {} errors{}; {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; receipts verified {}/{}",
            o.label,
            o.log_size_before,
            o.submitted,
            o.elapsed.as_secs_f64(),
            o.applied,
            o.refused,
            o.errors,
            o.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            o.rate(),
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.verified,
            o.sampled
        );
        let per_op = |secs: f64| secs * 1e6 / (o.completed().max(1) as f64);
        match o.server_cpu {
            Some((total, writer)) => println!(
                "  CPU per completed op: server {:.0} µs (writer thread {:.0} µs), client {:.0} µs; load average at start {}",
                per_op(total),
                per_op(writer),
                per_op(o.client_cpu),
                o.load
            ),
            None => println!(
                "  CPU per completed op (client and in-process server): {:.0} µs; load average at start {}",
                per_op(o.client_cpu),
                o.load
            ),
        }
        for m in &o.metrics {
            println!("  {m}");
        }
    }
    if let (Some(empty), Some(full)) = (outcomes.first(), outcomes.get(1)) {
        let ratio = if empty.rate() > 0.0 {
            full.rate() / empty.rate()
        } else {
            0.0
        };
        println!(
            "prefilled/empty rate: {:.3} ({:+.1}%)",
            ratio,
            (ratio - 1.0) * 100.0
        );
    }
    if args.json {
        let runs: Vec<Json> = outcomes.iter().map(Outcome::to_json).collect();
        println!("{}", json!({ "runs": runs }));
    }
    for o in &outcomes {
        if o.sampled > 0 && o.verified < o.sampled {
            return Err(format!(
                "[{}] only {}/{} sampled receipts verified",
                o.label, o.verified, o.sampled
            ));
        }
    }
    let last = outcomes
        .last()
        .ok_or_else(|| "no run completed".to_owned())?;
    println!("{}", last.line());
    Ok(())
}

async fn one_run(
    args: &IngestArgs,
    server_bin: Option<&Path>,
    prefill: usize,
    label: &str,
) -> Result<Outcome, String> {
    let tmp = match &args.workdir {
        Some(dir) => tempfile::Builder::new()
            .prefix("zkscim-bench-")
            .tempdir_in(dir),
        None => tempfile::Builder::new().prefix("zkscim-bench-").tempdir(),
    }
    .map_err(|e| format!("temporary directory: {e}"))?;
    let db = tmp.path().join("bench.db");
    let admin_token = hex::encode(
        SigningKey::generate(&mut rand_core::OsRng)
            .seed()
            .as_slice(),
    );
    let identity = Identity::generate(now_secs()).map_err(|e| e.to_string())?;
    let in_flight = (args.concurrency * args.batch) as u64;
    let mut generator = Generator::new(now_secs(), (PREFILL_WINDOW as u64) * 2);
    let log_key = SigningKey::generate(&mut rand_core::OsRng);

    // Tenant, groups and prefill: through the embedding API when prefilling (fast, no HTTP),
    // else over HTTP once the server is up.
    let mut embedded: Option<zkscim_authority::Authority> = None;
    let mut set_up = false;
    if prefill > 0 || args.embedded_server {
        let authority = server::open_authority(&db, &log_key)?;
        if prefill > 0 {
            setup_library(&authority, &identity, &mut generator).await?;
            prefill_library(&authority, &identity, &mut generator, prefill).await?;
            set_up = true;
        }
        if args.embedded_server {
            embedded = Some(authority);
        } else {
            tokio::task::spawn_blocking(move || authority.shutdown())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let server = match (embedded, server_bin) {
        (Some(authority), _) => Server::start_embedded(authority, &admin_token).await?,
        (None, Some(bin)) => {
            zkscim_keyfile::write_private_key(&server::log_key_path(&db), &log_key, true)
                .map_err(|e| e.to_string())?;
            Server::start_external(bin, &db, &admin_token)?
        }
        (None, None) => return Err("no server to start".into()),
    };
    let addr = server.addr();
    let result = async {
        if !set_up {
            setup_http(addr, &admin_token, &identity, &mut generator).await?;
        }
        let log_size_before = log_size(addr).await?;
        generator.set_lag(in_flight * 2 + 64);
        measure(
            args,
            addr,
            server.pid(),
            &identity,
            &mut generator,
            label,
            log_size_before,
        )
        .await
    }
    .await;
    let stopped = server.stop().await;
    let outcome = result?;
    stopped?;
    drop(tmp);
    Ok(outcome)
}

async fn setup_library(
    authority: &zkscim_authority::Authority,
    identity: &Identity,
    generator: &mut Generator,
) -> Result<(), String> {
    let now = now_secs();
    authority
        .submit(TENANT, identity.genesis(now), true)
        .await
        .map_err(|e| format!("genesis: {e}"))?;
    for plan in generator.setup() {
        let bytes = identity.sign(&plan, now)?;
        let r = authority
            .submit(TENANT, bytes, false)
            .await
            .map_err(|e| format!("group create: {e}"))?;
        if let zkscim_authority::ReceiptOutcome::Refused(r) = r.outcome {
            return Err(format!("group create refused: {}", r.detail));
        }
    }
    Ok(())
}

async fn prefill_library(
    authority: &zkscim_authority::Authority,
    identity: &Identity,
    generator: &mut Generator,
    count: usize,
) -> Result<(), String> {
    let started = Instant::now();
    let mut done = 0usize;
    let mut refused = 0usize;
    let deadline = Duration::from_secs(MAX_SECONDS);
    while done < count {
        if started.elapsed() > deadline {
            return Err(format!(
                "prefill took over {MAX_SECONDS} s; stopped at {done}"
            ));
        }
        let n = PREFILL_CHUNK.min(count - done);
        let plans: Vec<Plan> = (0..n).map(|_| generator.next_plan()).collect();
        let signed = sign_all(identity, &plans, now_secs(), threads());
        let mut set = tokio::task::JoinSet::new();
        for bytes in signed {
            while set.len() >= PREFILL_WINDOW {
                if let Some(r) = set.join_next().await {
                    refused += prefill_result(r)?;
                }
            }
            let a = authority.clone();
            set.spawn(async move { a.submit(TENANT, bytes, false).await });
        }
        while let Some(r) = set.join_next().await {
            refused += prefill_result(r)?;
        }
        done += n;
        eprintln!(
            "prefill: {done}/{count} ({:.0} ops/s, {refused} refused)",
            done as f64 / started.elapsed().as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

type SubmitJoin = Result<
    Result<zkscim_authority::Receipt, zkscim_authority::SubmitError>,
    tokio::task::JoinError,
>;

fn prefill_result(r: SubmitJoin) -> Result<usize, String> {
    match r {
        Ok(Ok(receipt)) => Ok(usize::from(matches!(
            receipt.outcome,
            zkscim_authority::ReceiptOutcome::Refused(_)
        ))),
        Ok(Err(e)) => Err(format!("prefill submission failed: {e}")),
        Err(e) => Err(format!("prefill task: {e}")),
    }
}

async fn setup_http(
    addr: SocketAddr,
    admin_token: &str,
    identity: &Identity,
    generator: &mut Generator,
) -> Result<(), String> {
    let mut conn = Conn::connect(addr).await?;
    let now = now_secs();
    let (status, body) = conn
        .post(
            &format!("/v1/tenants/{TENANT}/genesis"),
            Bytes::from(identity.genesis(now)),
            Some(admin_token),
        )
        .await?;
    if status >= 300 {
        return Err(format!(
            "genesis: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    for plan in generator.setup() {
        let bytes = identity.sign(&plan, now)?;
        let (status, body) = conn
            .post(
                &format!("/v1/tenants/{TENANT}/submissions"),
                Bytes::from(bytes),
                None,
            )
            .await?;
        if status >= 300 {
            return Err(format!(
                "group create: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    Ok(())
}

async fn log_size(addr: SocketAddr) -> Result<u64, String> {
    let mut conn = Conn::connect(addr).await?;
    let (status, body) = conn
        .get(&format!("/v1/tenants/{TENANT}/log/checkpoint"))
        .await?;
    if status != 200 {
        return Err(format!("checkpoint: HTTP {status}"));
    }
    // A checkpoint's second line is the tree size.
    String::from_utf8_lossy(&body)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "checkpoint without a size line".to_owned())
}

/// Per-worker tallies.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    applied: usize,
    refused: usize,
    errors: usize,
    first_error: Option<String>,
    samples: Vec<Bytes>,
    last_done: Option<Instant>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

/// Classifies one single-submission answer: applied (2xx), refused with receipt, or error.
fn classify_single(tally: &mut Tally, status: u16, body: &Bytes) {
    if (200..300).contains(&status) {
        tally.applied += 1;
    } else if body.windows(10).any(|w| w == b"\"receipt\":") {
        tally.refused += 1;
    } else {
        tally.error(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default())
        ));
    }
}

/// Classifies a batch answer (a JSON array of receipts or `{"error": …}`).
fn classify_batch(tally: &mut Tally, status: u16, body: &Bytes, expected: usize) {
    if status != 200 {
        for _ in 0..expected {
            tally.error(format!(
                "batch HTTP {status}: {}",
                String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default())
            ));
        }
        return;
    }
    let Ok(Json::Array(items)) = serde_json::from_slice::<Json>(body) else {
        for _ in 0..expected {
            tally.error("batch answer is not a JSON array".into());
        }
        return;
    };
    for item in &items {
        match item.pointer("/outcome/status").and_then(Json::as_str) {
            Some("applied") => tally.applied += 1,
            Some("refused") => tally.refused += 1,
            _ => tally.error(format!("batch item: {item}")),
        }
    }
    for _ in items.len()..expected {
        tally.error("batch answer too short".into());
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &IngestArgs,
    addr: SocketAddr,
    server_pid: Option<u32>,
    identity: &Identity,
    generator: &mut Generator,
    label: &str,
    log_size_before: u64,
) -> Result<Outcome, String> {
    // Sign everything before the clock starts.
    let plans: Vec<Plan> = (0..args.ops).map(|_| generator.next_plan()).collect();
    let sign_started = Instant::now();
    let signed = sign_all(identity, &plans, now_secs(), threads());
    drop(plans);
    eprintln!(
        "[{label}] signed {} operations in {:.2} s (not measured)",
        signed.len(),
        sign_started.elapsed().as_secs_f64()
    );
    let bodies: Vec<Bytes> = if args.batch > 1 {
        signed
            .chunks(args.batch)
            .map(|c| {
                Bytes::from(
                    Value::Array(c.iter().map(|b| Value::Bytes(b.clone())).collect()).to_bytes(),
                )
            })
            .collect()
    } else {
        signed.into_iter().map(Bytes::from).collect()
    };
    let ops_per_body = args.batch;
    let bodies = Arc::new(bodies);
    let path: Arc<str> = if args.batch > 1 {
        format!("/v1/tenants/{TENANT}/submissions/batch").into()
    } else {
        format!("/v1/tenants/{TENANT}/submissions").into()
    };
    let sample_stride = (bodies.len() / SAMPLE).max(1);
    let deadline = Duration::from_secs(args.seconds);

    // Connections first, so connecting is not measured.
    let mut conns = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        conns.push(Conn::connect(addr).await?);
    }
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    let server_cpu_before = server_pid.map(server::cpu_seconds);
    let client_cpu_before = server::cpu_seconds(std::process::id()).0;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    // Open loop: a pacer hands out (body index, scheduled time); closed loop: a shared counter.
    let queue = match args.rate {
        Some(rate) => {
            let (tx, rx) = mpsc::channel::<(usize, Instant)>(bodies.len().clamp(1, 1 << 16));
            let per_body = Duration::from_secs_f64(ops_per_body as f64 / rate);
            let n = bodies.len();
            tokio::spawn(async move {
                for i in 0..n {
                    let at = start + per_body.mul_f64(i as f64);
                    if at.duration_since(start) > deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                    if tx.send((i, at)).await.is_err() {
                        break;
                    }
                }
            });
            Some(Arc::new(Mutex::new(rx)))
        }
        None => None,
    };
    let mut workers = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let bodies = Arc::clone(&bodies);
        let next = Arc::clone(&next);
        let queue = queue.clone();
        let path = Arc::clone(&path);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            // Bounded: at most one iteration per body, and never past the deadline.
            for _ in 0..bodies.len() {
                if start.elapsed() > deadline {
                    break;
                }
                let (i, scheduled) = match &queue {
                    Some(q) => {
                        let item = {
                            let mut rx = q.lock().await;
                            tokio::time::timeout(
                                deadline.saturating_sub(start.elapsed()),
                                rx.recv(),
                            )
                            .await
                        };
                        match item {
                            Ok(Some(x)) => x,
                            _ => break,
                        }
                    }
                    None => (next.fetch_add(1, Ordering::Relaxed), Instant::now()),
                };
                let Some(body) = bodies.get(i) else { break };
                let sent = if queue.is_some() {
                    scheduled
                } else {
                    Instant::now()
                };
                let answer = conn.post(&path, body.clone(), None).await;
                let done = Instant::now();
                let micros =
                    u32::try_from(done.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
                match answer {
                    Ok((status, answer)) => {
                        let before = tally.applied + tally.refused;
                        if ops_per_body > 1 {
                            classify_batch(&mut tally, status, &answer, ops_per_body);
                        } else {
                            classify_single(&mut tally, status, &answer);
                        }
                        let completed = tally.applied + tally.refused - before;
                        for _ in 0..completed {
                            tally.latencies_us.push(micros);
                        }
                        tally.last_done = Some(done);
                        if i % sample_stride == 0 && completed > 0 {
                            tally.samples.push(answer);
                        }
                    }
                    Err(e) => {
                        for _ in 0..ops_per_body {
                            tally.error(e.clone());
                        }
                        // Reconnect once; give up on this client if that fails.
                        match Conn::connect(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for w in workers {
        let t = w.await.map_err(|e| e.to_string())?;
        total.applied += t.applied;
        total.refused += t.refused;
        total.errors += t.errors;
        if total.first_error.is_none() {
            total.first_error = t.first_error;
        }
        total.latencies_us.extend(t.latencies_us);
        total.samples.extend(t.samples);
        total.last_done = match (total.last_done, t.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let server_cpu = match (server_pid, server_cpu_before) {
        (Some(pid), Some((t0, w0))) => {
            let (t1, w1) = server::cpu_seconds(pid);
            Some((t1 - t0, w1 - w0))
        }
        _ => None,
    };
    let client_cpu = server::cpu_seconds(std::process::id()).0 - client_cpu_before;
    let elapsed = total
        .last_done
        .map(|d| d.duration_since(start))
        .unwrap_or_else(|| start.elapsed());
    let mut lat = std::mem::take(&mut total.latencies_us);
    lat.sort_unstable();
    let pct = |p: usize| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = (lat.len() * p / 100).min(lat.len() - 1);
        f64::from(lat.get(i).copied().unwrap_or_default()) / 1000.0
    };
    let (p50_ms, p99_ms, max_ms) = (pct(50), pct(99), pct(100));
    let submitted = total.applied + total.refused + total.errors;
    let (verified, sampled) = verify_samples(addr, &total.samples).await?;
    let metrics = server_metrics(addr).await.unwrap_or_default();
    Ok(Outcome {
        label: label.to_owned(),
        log_size_before,
        submitted,
        applied: total.applied,
        refused: total.refused,
        errors: total.errors,
        first_error: total.first_error,
        elapsed,
        p50_ms,
        p99_ms,
        max_ms,
        verified,
        sampled,
        metrics,
        server_cpu,
        client_cpu,
        load,
    })
}

/// Checks each sampled receipt: leaf hash, checkpoint signature by the tenant's log key, and
/// inclusion proof against the checkpoint's root.
async fn verify_samples(addr: SocketAddr, samples: &[Bytes]) -> Result<(usize, usize), String> {
    if samples.is_empty() {
        return Ok((0, 0));
    }
    let mut conn = Conn::connect(addr).await?;
    let (status, key) = conn.get(&format!("/v1/tenants/{TENANT}/log/key")).await?;
    if status != 200 {
        return Err(format!("log key: HTTP {status}"));
    }
    let key = VerifierKey::parse(String::from_utf8_lossy(&key).trim())
        .map_err(|e| format!("log key: {e}"))?;
    let verifier = NoteVerifier::new(vec![key]).map_err(|e| e.to_string())?;
    let mut receipts = Vec::new();
    for s in samples {
        match serde_json::from_slice::<Json>(s) {
            Ok(Json::Array(items)) => receipts.extend(items.into_iter().take(1)),
            Ok(Json::Object(mut map)) => match map.remove("receipt") {
                Some(r) => receipts.push(r),
                None => receipts.push(Json::Object(map)),
            },
            _ => receipts.push(Json::Null),
        }
    }
    let ok = receipts
        .iter()
        .filter(|r| verify_receipt(r, &verifier).is_ok())
        .count();
    Ok((ok, receipts.len()))
}

fn verify_receipt(r: &Json, verifier: &NoteVerifier) -> Result<(), String> {
    let hex_field = |k: &str| -> Result<Vec<u8>, String> {
        hex::decode(r.get(k).and_then(Json::as_str).unwrap_or_default()).map_err(|e| e.to_string())
    };
    let entry = hex_field("entry")?;
    let leaf: [u8; 32] = hex_field("leafHash")?
        .try_into()
        .map_err(|_| "leaf hash length".to_owned())?;
    if merkle::leaf_hash(&entry) != leaf {
        return Err("leaf hash does not match the entry".into());
    }
    let index = r.get("index").and_then(Json::as_u64).ok_or("no index")?;
    let proof: Vec<[u8; 32]> = r
        .get("inclusionProof")
        .and_then(Json::as_array)
        .ok_or("no proof")?
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap_or_default())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| "bad proof hash".to_owned())
        })
        .collect::<Result<_, _>>()?;
    let note = r
        .get("checkpoint")
        .and_then(Json::as_str)
        .ok_or("no checkpoint")?;
    let (cp, _) = Checkpoint::open(note, verifier).map_err(|e| e.to_string())?;
    merkle::verify_inclusion(&leaf, index, cp.size(), &proof, cp.root_hash())
        .map_err(|e| e.to_string())
}

/// The commit-batch lines of `/metrics`.
async fn server_metrics(addr: SocketAddr) -> Result<Vec<String>, String> {
    let mut conn = Conn::connect(addr).await?;
    let (_, body) = conn.get("/metrics").await?;
    let text = String::from_utf8_lossy(&body);
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with("zkscim_commit_batches_total")
                || l.starts_with("zkscim_commit_batch_submissions_total")
                || l.starts_with("zkscim_commit_batch_size_max")
                || l.starts_with("zkscim_commit_seconds_sum")
                || l.starts_with("zkscim_submissions_refused_total")
                || l.starts_with("zkscim_submissions_rejected_total")
        })
        .map(str::to_owned)
        .collect();
    let value = |name: &str| -> f64 {
        out.iter()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let batches = value("zkscim_commit_batches_total");
    if batches > 0.0 {
        let per = value("zkscim_commit_batch_submissions_total") / batches;
        let ms = value("zkscim_commit_seconds_sum") * 1000.0 / batches;
        out.push(format!(
            "(server lifetime) mean commit batch {per:.1} submissions, mean batch time {ms:.2} ms"
        ));
    }
    Ok(out)
}
