//! Criterion benchmarks of the hot paths: diff, append, fan-out, replay. The large-estate
//! figures (1M resources) come from `driftlog bench`; these are the per-operation numbers.

#![allow(
    clippy::unwrap_used,
    reason = "test and bench code: a panic is the failure report"
)]
#![allow(missing_docs, reason = "criterion generates undocumented items")]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use driftlog_diff::{diff_complete, structural};
use driftlog_log::{HistoryQuery, Log, LogOptions};
use driftlog_model::{spec_for, CompleteSnapshot, Filter, Observed, TypePattern};
use driftlog_sim::{Estate, SimConfig};
use std::convert::Infallible;

const N: usize = 10_000;

fn estate() -> Estate {
    Estate::new(SimConfig {
        resources: N,
        ..SimConfig::default()
    })
}

fn snapshots(e: &Estate) -> Vec<CompleteSnapshot> {
    e.scopes()
        .into_iter()
        .map(|s| {
            let res = e.snapshot(&s);
            CompleteSnapshot::new(s, res).0
        })
        .collect()
}

fn record_all(log: &Log, snaps: &[CompleteSnapshot]) {
    for s in snaps {
        let d = {
            let st = log.state();
            diff_complete(&st, s, u64::MAX, |q| {
                log.get(q).map(|i| i.map(|i| i.doc).unwrap_or_default())
            })
            .unwrap()
        };
        log.append(&d.changes, driftlog_model::time::now_ms())
            .unwrap();
    }
}

fn diff(c: &mut Criterion) {
    let e = estate();
    let snaps = snapshots(&e);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    record_all(&log, &snaps);
    let mut g = c.benchmark_group("diff");
    g.throughput(Throughput::Elements(e.len() as u64));
    g.bench_function("unchanged_estate_hash_check", |b| {
        b.iter(|| {
            let st = log.state();
            let mut n = 0;
            for s in &snaps {
                n += diff_complete(&st, s, u64::MAX, |_| {
                    Ok::<_, Infallible>(bytes::Bytes::new())
                })
                .unwrap()
                .stats
                .unchanged;
            }
            n
        })
    });
    let sg = e.keys_of_type("AWS::EC2::SecurityGroup").remove(0);
    let a = e.document(&sg).unwrap();
    let mut b2 = a.clone();
    b2["configuration"]["ipPermissions"].as_array_mut().unwrap().push(serde_json::json!({"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": ["0.0.0.0/0"]}));
    b2["tags"]["changed"] = serde_json::json!("yes");
    let spec = spec_for("AWS::EC2::SecurityGroup");
    g.throughput(Throughput::Elements(1));
    g.bench_function("structural_diff_one_sg", |b| {
        b.iter(|| structural::diff(spec, &a, &b2))
    });
    g.bench_function("canonicalize_one_sg", |b| {
        b.iter_batched(
            || b2.clone(),
            |v| Observed::from_value(sg.clone(), v),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let e = estate();
    let snaps = snapshots(&e);
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(e.len() as u64));
    g.sample_size(10);
    g.bench_function("first_discovery_10k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let log = Log::open(dir.path(), LogOptions::default()).unwrap();
                record_all(&log, &snaps);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn fan_out_and_replay(c: &mut Criterion) {
    let e = estate();
    let snaps = snapshots(&e);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    record_all(&log, &snaps);
    let sg_only = Filter {
        types: vec![TypePattern::parse("AWS::EC2::SecurityGroup").unwrap()],
        ..Filter::default()
    };
    let mut g = c.benchmark_group("fan_out");
    g.throughput(Throughput::Elements(log.watermark()));
    g.bench_function("filtered_read_whole_log", |b| {
        b.iter(|| {
            let mut after = 0;
            let mut n = 0;
            loop {
                let (items, last) = log.read_range(after, 256, &sg_only).unwrap();
                n += items.len();
                if last == after {
                    break n;
                }
                after = last;
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(e.len() as u64));
    g.sample_size(10);
    g.bench_function("inventory_at_now_10k", |b| {
        b.iter(|| {
            log.inventory_at(i64::MAX, &Filter::default(), |_| true)
                .unwrap()
        })
    });
    let first_t = log.get(1).unwrap().unwrap().capture_time_ms;
    g.bench_function("inventory_at_past_10k", |b| {
        b.iter(|| {
            log.inventory_at(first_t + 1, &Filter::default(), |_| true)
                .unwrap()
        })
    });
    let key = e.keys_of_type("AWS::EC2::Instance").remove(0);
    g.throughput(Throughput::Elements(1));
    g.bench_function("history_one_resource", |b| {
        b.iter(|| log.history(&key, &HistoryQuery::default()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, diff, append, fan_out_and_replay);
criterion_main!(benches);
