//! Throughput of audit stages 0–4 over a generated 100,000-entry export (real signed
//! statements, a checkpoint every 1,000 entries): full audit from genesis, and the cost of
//! reading the export alone (framing, CBOR, end digest) for comparison.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zkscim_audit::testkit::{generate_export, LogBuilder};
use zkscim_audit::Auditor;
use zkscim_proto::export::ExportReader;

const ENTRIES: u64 = 100_000;

fn stages(c: &mut Criterion) {
    let bytes = generate_export(Vec::new(), "acme", "zkscim.example/acme", ENTRIES, 1_000).unwrap();
    let anchors = LogBuilder::new("acme", "zkscim.example/acme")
        .unwrap()
        .anchors()
        .unwrap();
    let auditor = Auditor::new(anchors.clone()).unwrap().with_pipeline(true);
    let sequential = Auditor::new(anchors).unwrap().with_pipeline(false);
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("read_export_100k", |b| {
        b.iter(|| {
            let mut r = ExportReader::new(&bytes[..]).unwrap();
            while r.next_item().unwrap().is_some() {}
        })
    });
    for (name, auditor) in [
        ("stages_0_to_4_100k_pipelined", &auditor),
        ("stages_0_to_4_100k_one_thread", &sequential),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let (report, _) = auditor
                    .audit_with_state(&bytes[..], None, None, &mut |_| {})
                    .unwrap();
                assert!(report.is_clean());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
