//! `driftlog bench`: the large-inventory run of the hot paths on the simulated estate,
//! printed as a table next to the disk's own sequential write bandwidth.

use anyhow::{Context, Result};
use driftlog_log::{HistoryQuery, Log, LogOptions};
use driftlog_model::time::now_ms;
use driftlog_model::{Filter, ResourceKey, TypePattern};
use driftlog_poll::{SimEventFeed, SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimChange, SimChangeKind, SimConfig};
use driftlog_subscribe::{subscribe, Start};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// Options of `driftlog bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Resources in the simulated estate (the sizes: 100000 and 1000000).
    #[arg(long, default_value_t = 100_000)]
    resources: usize,
    /// Fraction of resources changed per measured poll.
    #[arg(long, default_value_t = 0.01)]
    churn: f64,
    /// Polls with churn to measure (the median is reported).
    #[arg(long, default_value_t = 3)]
    polls: usize,
    /// Filtered subscribers for the commit → subscriber latency.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// History lookups to sample.
    #[arg(long, default_value_t = 2000)]
    history_samples: usize,
    /// Where to put the scratch store (default: a temporary dir under ./driftlog-bench).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// MiB written to measure the disk's sequential bandwidth (0 skips it).
    #[arg(long, default_value_t = 1024)]
    disk_mb: u64,
    /// Event rates (events per second) at which to measure CloudTrail event → item latency,
    /// comma-separated; empty to skip.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    event_rates: Vec<u64>,
    /// Seconds of events at each rate.
    #[arg(long, default_value_t = 10)]
    event_seconds: u64,
    /// Print the results as JSON too.
    #[arg(long)]
    json: bool,
    /// Measure the AWS source instead, on the accounts of `[source.aws]` in the config
    /// (e.g. moto filled by `tests/aws/estate.py bulk 10000 2000`): seconds per full poll,
    /// API calls per poll, CIs recorded per second.
    #[arg(long)]
    aws: bool,
    /// Measure aggregation instead: three recorders of `--resources`/3 each discovering at
    /// once into NATS JetStream (a nats-server started on loopback), one aggregator:
    /// ingest items/s, commit → aggregate lag during churn polls, aggregate API queries.
    #[arg(long)]
    aggregate: bool,
}

impl BenchArgs {
    /// Where scratch stores go.
    pub(crate) fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./driftlog-bench"))
    }

    pub(crate) fn resources(&self) -> usize {
        self.resources
    }

    pub(crate) fn churn(&self) -> f64 {
        self.churn
    }

    pub(crate) fn polls(&self) -> usize {
        self.polls
    }

    pub(crate) fn json_out(&self) -> bool {
        self.json
    }

    /// `--aggregate`: `bench_aggregate` runs instead.
    pub(crate) fn aggregate(&self) -> bool {
        self.aggregate
    }
}

struct Row {
    name: &'static str,
    value: String,
    target: &'static str,
}

fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// A memory figure of this process from /proc/self/status, in MiB.
fn proc_status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                n += dir_size(&path);
            } else if let Ok(m) = e.metadata() {
                n += m.len();
            }
        }
    }
    n
}

/// Sequential write bandwidth of the disk under `dir`, as `dd bs=1M conv=fdatasync`.
fn disk_bandwidth(dir: &Path, mb: u64) -> Result<f64> {
    let path = dir.join("disk-probe.bin");
    let buf: Vec<u8> = (0..1 << 20).map(|i| (i * 7919 % 251) as u8).collect();
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).context("disk probe")?;
    for _ in 0..mb {
        f.write_all(&buf)?;
    }
    f.sync_data()?;
    let secs = t.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(mb as f64 * 1.048576 / secs)
}

pub(crate) fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Runs the benchmark.
pub async fn run(a: BenchArgs, aws: driftlog_aws::AwsSettings) -> Result<()> {
    if a.aws {
        return run_aws(a, aws).await;
    }
    let base = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./driftlog-bench"));
    std::fs::create_dir_all(&base)?;
    let dir = base.join(format!("run-{}", now_ms()));
    std::fs::create_dir_all(&dir)?;
    let mut rows: Vec<Row> = Vec::new();
    let say = |s: &str| eprintln!("bench: {s}");

    let disk = if a.disk_mb > 0 {
        say(&format!(
            "measuring sequential disk writes ({} MiB, fdatasync)",
            a.disk_mb
        ));
        disk_bandwidth(&dir, a.disk_mb)?
    } else {
        0.0
    };

    say(&format!(
        "building a simulated estate of ~{} resources",
        a.resources
    ));
    let t = Instant::now();
    let estate = Estate::new(SimConfig {
        resources: a.resources,
        churn: a.churn,
        ..SimConfig::default()
    });
    let n = estate.len();
    let doc_bytes: u64 = estate.iter().map(|o| o.doc.len() as u64).sum();
    let gen_secs = t.elapsed().as_secs_f64();
    let sim = SimSource::from_estate(estate);
    // What the simulated estate itself holds (its own copy of every document), so the
    // recorder's share of the peak can be told apart.
    let rss_sim = proc_status_mb("VmRSS:");
    let log = Arc::new(Log::open(dir.join("store"), serve_options())?);
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, RecorderConfig::default());

    say("first discovery");
    let t = Instant::now();
    let r = rec.poll_all_once().await?;
    let secs = t.elapsed().as_secs_f64();
    log.flush()?;
    let disk_bytes = dir_size(&dir.join("store"));
    let cis = r.stats.discovered;
    rows.push(Row { name: "estate", value: format!("{n} resources, {:.2} KB canonical JSON each, generated in {gen_secs:.1} s (not part of any figure below)", doc_bytes as f64 / n.max(1) as f64 / 1000.0), target: "" });
    rows.push(Row {
        name: "first discovery",
        value: format!(
            "{cis} CIs in {secs:.2} s = {:.0} CIs/s, {:.0} MB/s of CI JSON, {:.0} MB/s to disk",
            cis as f64 / secs,
            doc_bytes as f64 / 1e6 / secs,
            disk_bytes as f64 / 1e6 / secs
        ),
        target: ">= 100K CIs/s",
    });
    if disk > 0.0 {
        rows.push(Row {
            name: "disk sequential write",
            value: format!(
                "{disk:.0} MB/s (dd-like, 1 MiB blocks, fdatasync); discovery used {:.0}% of it",
                100.0 * disk_bytes as f64 / 1e6 / secs / disk
            ),
            target: "",
        });
    }
    let t_discovery = log.get(log.watermark())?.map_or(0, |i| i.capture_time_ms);

    say(&format!(
        "  memory: {:.0} MiB now, {:.0} MiB peak",
        proc_status_mb("VmRSS:"),
        peak_rss_mb()
    ));
    say("full polls with churn");
    let mut poll_secs = Vec::new();
    let mut breakdown: Vec<(f64, (f64, f64, f64))> = Vec::new();
    for _ in 0..a.polls.max(1) {
        sim.estate().tick();
        let t = Instant::now();
        let r = rec.poll_all_once().await?;
        poll_secs.push(t.elapsed().as_secs_f64());
        let total = poll_secs.last().copied().unwrap_or(0.0);
        let parts = (
            total - (r.commit_ms + r.recheck_ms) / 1e3,
            r.commit_ms / 1e3,
            r.recheck_ms / 1e3,
        );
        say(&format!(
            "  poll: {} written, {} volatile ticks, {} related re-checked; {total:.2} s = source {:.2} s + diff/append {:.2} s + related re-check {:.2} s",
            r.written(),
            r.stats.volatile_only,
            r.related_checked,
            parts.0,
            parts.1,
            parts.2
        ));
        breakdown.push((total, parts));
    }
    let med = pct(&mut poll_secs.clone(), 0.5);
    rows.push(Row {
        name: "full poll, churn",
        value: {
            breakdown.sort_by(|x, y| x.0.total_cmp(&y.0));
            let b = breakdown.get(breakdown.len() / 2).map_or((0.0, 0.0, 0.0), |b| b.1);
            format!(
                "{med:.3} s per poll ({:.0} resources diffed/s), churn {}%: source {:.2} s + diff/append {:.2} s + related re-check {:.2} s",
                n as f64 / med,
                a.churn * 100.0,
                b.0,
                b.1,
                b.2
            )
        },
        target: "<= 1 s at 1M",
    });

    say(&format!(
        "  memory: {:.0} MiB now, {:.0} MiB peak",
        proc_status_mb("VmRSS:"),
        peak_rss_mb()
    ));
    say("inventory_at");
    let t = Instant::now();
    let mut count = 0u64;
    log.inventory_at(i64::MAX, &Filter::default(), |_| {
        count += 1;
        true
    })?;
    let now_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut count_past = 0u64;
    log.inventory_at(t_discovery, &Filter::default(), |_| {
        count_past += 1;
        true
    })?;
    let past_secs = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: "inventory_at (now)",
        value: format!("{count} CIs in {now_secs:.2} s"),
        target: "<= 2 s at 1M",
    });
    rows.push(Row {
        name: "inventory_at (past T)",
        value: format!("{count_past} CIs in {past_secs:.2} s (two passes over the log)"),
        target: "<= 2 s at 1M",
    });

    say(&format!(
        "  memory: {:.0} MiB now, {:.0} MiB peak",
        proc_status_mb("VmRSS:"),
        peak_rss_mb()
    ));
    say("history lookups");
    let keys: Vec<ResourceKey> = {
        let st = log.state();
        let all: Vec<ResourceKey> = st.keys().take(200_000).collect();
        let mut rng = fastrand::Rng::with_seed(1);
        (0..a.history_samples)
            .filter_map(|_| all.get(rng.usize(0..all.len().max(1))).cloned())
            .collect()
    };
    let mut lat = Vec::with_capacity(keys.len());
    for k in &keys {
        let t = Instant::now();
        let page = log.history(k, &HistoryQuery::default())?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(page);
    }
    rows.push(Row {
        name: "history of one resource",
        value: format!(
            "p50 {:.3} ms, p99 {:.3} ms ({} samples, up to 10 versions)",
            pct(&mut lat.clone(), 0.5),
            pct(&mut lat, 0.99),
            keys.len()
        ),
        target: "p99 <= 1 ms",
    });

    say(&format!(
        "commit -> subscriber latency, {} filtered subscribers",
        a.subscribers
    ));
    let types: Vec<String> = {
        let mut t: Vec<String> = rec.scopes().into_iter().map(|s| s.resource_type).collect();
        t.sort();
        t.dedup();
        t
    };
    let commits: Arc<Mutex<Vec<(u64, u64, Instant)>>> = Arc::default();
    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..a.subscribers {
        let f = Filter {
            types: vec![TypePattern::parse(&types[i % types.len()])?],
            ..Filter::default()
        };
        let mut sub = subscribe(log.clone(), f, Start::Now)?;
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(item)) = sub.stream.next().await {
                let now = Instant::now();
                if let Ok(mut r) = received.lock() {
                    r.push((item.seq, now));
                }
            }
        }));
    }
    // Steady churn: every round 20 random resources change (a tag), are re-described and
    // committed as one batch, then the subscribers' receive times are compared with the
    // moment the commit returned (flushed and published).
    let all_keys: Vec<ResourceKey> = sim.estate().iter().map(|o| (*o.key).clone()).collect();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..200u32 {
        let keys: Vec<ResourceKey> = (0..20)
            .map(|_| all_keys[rng.usize(0..all_keys.len())].clone())
            .collect();
        for k in &keys {
            sim.estate().edit(k, |doc| {
                doc["tags"]["bench-round"] = json!(round.to_string());
            });
        }
        let snap = sim
            .describe(&keys)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let log2 = log.clone();
        let commits2 = commits.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let d = {
                let st = log2.state();
                driftlog_diff::diff_partial(&st, &snap, u64::MAX, |s| {
                    log2.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
                })?
            };
            let t0 = Instant::now();
            let range = log2.append(&d.changes, now_ms())?;
            let flush = t0.elapsed();
            if let (Some(r), Ok(mut c)) = (range, commits2.lock()) {
                // Receivers may already hold items of this batch; they look the commit up
                // afterwards, and the commit instant is when `append` returned.
                c.push((*r.start(), *r.end(), t0 + flush));
            }
            Ok(())
        })
        .await??;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for t in &tasks {
        t.abort();
    }
    let commits = commits.lock().map(|c| c.clone()).unwrap_or_default();
    let mut l: Vec<f64> = received
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(seq, at)| {
            commits
                .iter()
                .find(|(f, l, _)| *f <= seq && seq <= *l)
                .map(|c| at.saturating_duration_since(c.2).as_secs_f64() * 1e3)
        })
        .collect();
    rows.push(Row {
        name: "commit -> subscriber",
        value: format!(
            "p50 {:.2} ms, p99 {:.2} ms ({} deliveries to {} subscribers)",
            pct(&mut l.clone(), 0.5),
            pct(&mut l, 0.99),
            l.len(),
            a.subscribers
        ),
        target: "p99 <= 10 ms",
    });

    if !a.event_rates.is_empty() {
        events_bench(&a, &rec, &sim, &all_keys, &mut rows).await?;
    }

    log.flush()?;
    let size = dir_size(&dir.join("store"));
    rows.push(Row {
        name: "bytes on disk per CI",
        value: format!(
            "{:.0} B ({:.1} MB for {} CIs)",
            size as f64 / log.watermark().max(1) as f64,
            size as f64 / 1e6,
            log.watermark()
        ),
        target: "",
    });
    rows.push(Row {
        name: "peak RSS",
        value: format!(
            "{:.0} MiB for the process; {:.0} MiB of it is the simulated estate (measured before recording), so the recorder's share is ~{:.0} MiB",
            peak_rss_mb(),
            rss_sim,
            peak_rss_mb() - rss_sim
        ),
        target: "<= 1 GiB at 1M",
    });

    // Rules: all 14 managed rules over the inventory, then one poll's changes.
    say("rules: 14 managed rules over the inventory, then one poll's changes");
    let engine = driftlog_compliance::Engine::open(
        log.clone(),
        Some(rec.clone()),
        driftlog_compliance::EngineSettings {
            periodic_check: Duration::from_secs(3600),
            ..Default::default()
        },
    )?;
    let (rules_stop, rules_rx) = tokio::sync::watch::channel(false);
    let rules_task = tokio::spawn(engine.clone().run(rules_rx));
    let evaluations = |names: &[String]| -> u64 {
        names
            .iter()
            .map(|n| engine.status(n).map_or(0, |s| s.evaluations))
            .sum()
    };
    let t = Instant::now();
    let mut names = Vec::new();
    for r in driftlog_compliance::def::all_managed() {
        names.push(engine.put_rule(&r)?.name().to_string());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    while names.iter().any(|n| engine.is_running(n)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let full = evaluations(&names);
    rows.push(Row {
        name: "rules: full evaluation",
        value: format!(
            "14 managed rules over {n} resources: {full} evaluations in {secs:.1} s ({:.0}/s), results recorded in the log",
            full as f64 / secs
        ),
        target: "",
    });
    sim.estate().tick();
    rec.poll_all_once().await?;
    let target = log.watermark();
    let t = Instant::now();
    while log.cursor("rules/changes")?.unwrap_or(0) < target {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let changed = evaluations(&names) - full;
    rows.push(Row {
        name: "rules: on change",
        value: format!(
            "one poll's changes judged in {:.0} ms after the commit ({changed} evaluations, {:.0}/s)",
            secs * 1e3,
            changed as f64 / secs.max(1e-9)
        ),
        target: "",
    });
    let _ = rules_stop.send(true);
    let _ = rules_task.await;

    println!(
        "driftlog bench: {} resources, churn {}%, {} cores",
        n,
        a.churn * 100.0,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<26} {:<16} RESULT", "MEASURE", "TARGET");
    for r in &rows {
        println!("{:<26} {:<16} {}", r.name, r.target, r.value);
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| json!({"measure": r.name, "target": r.target, "result": r.value}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    drop(rec);
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `driftlog bench --aws`: the AWS source end to end (SDK, service, shaping, diff, log).
async fn run_aws(a: BenchArgs, settings: driftlog_aws::AwsSettings) -> Result<()> {
    let base = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./driftlog-bench"));
    let dir = base.join(format!("aws-{}", now_ms()));
    std::fs::create_dir_all(&dir)?;
    let say = |s: &str| eprintln!("bench: {s}");
    let t = Instant::now();
    let source = Arc::new(driftlog_aws::AwsSource::connect(&settings).await?);
    say(&format!(
        "connected to {} account(s), {} scopes, in {:.2} s",
        source.accounts().len(),
        source.scopes().len(),
        t.elapsed().as_secs_f64()
    ));
    let log = Arc::new(Log::open(dir.join("store"), serve_options())?);
    let rec = Recorder::new(log.clone(), source.clone(), RecorderConfig::default());
    let mut rows = Vec::new();
    // Poll 0 discovers the estate; the others find it unchanged (or changed by whoever
    // changes the account meanwhile).
    let steady = a.polls.max(1);
    for i in 0..=steady {
        let name = if i == 0 {
            say("discovery: first full poll");
            "discovery (full poll)"
        } else {
            say(&format!("steady full poll {i}/{steady}"));
            "steady full poll"
        };
        let before = source.api_calls();
        let t = Instant::now();
        let r = rec.poll_all_once().await?;
        let secs = t.elapsed().as_secs_f64();
        let calls: Vec<(&str, u64)> = source
            .api_calls()
            .into_iter()
            .map(|(k, n)| (k, n - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let by: Vec<String> = calls.iter().map(|(k, n)| format!("{k} {n}")).collect();
        rows.push(Row {
            name,
            value: format!(
                "{secs:.2} s, {} API calls ({}), {} CIs, {:.0} CIs/s",
                calls.iter().map(|(_, n)| n).sum::<u64>(),
                by.join(", "),
                r.written(),
                r.written() as f64 / secs.max(1e-9)
            ),
            target: "",
        });
    }
    let live = log.state().live_count();
    println!(
        "driftlog bench --aws: {} resources in {} scopes of {} account(s)",
        live,
        source.scopes().len(),
        source.accounts().len()
    );
    println!("{:<26} RESULT", "MEASURE");
    for r in &rows {
        println!("{:<26} {}", r.name, r.value);
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| json!({"measure": r.name, "result": r.value}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    drop(rec);
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The store as `serve` opens it by default (its disk reserve checked before each append
/// included), so the hot paths are measured as they run.
/// Event received → item committed, at each rate: the simulated estate changes random
/// resources (a tag) and sends the CloudTrail event AWS would, through the real parser, the
/// intake's coalescing, `describe_exact`, the diff, the append and the related re-check.
async fn events_bench(
    a: &BenchArgs,
    rec: &Arc<Recorder>,
    sim: &SimSource,
    keys: &[ResourceKey],
    rows: &mut Vec<Row>,
) -> Result<()> {
    let say = |s: &str| eprintln!("bench: {s}");
    let feed = Arc::new(SimEventFeed::new(3, Duration::from_millis(100)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(driftlog_recorder::run_events(
        rec.clone(),
        feed.clone(),
        driftlog_recorder::EventConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let stats = rec.event_stats().clone();
    let scopes = rec.scopes().len();
    for &rate in &a.event_rates {
        say(&format!(
            "events: {rate}/s for {} s, event received -> item committed",
            a.event_seconds
        ));
        stats.reset_latencies();
        let before = stats.snapshot();
        let mut rng = fastrand::Rng::with_seed(rate);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(a.event_seconds) {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "counts"
            )]
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            let mut changes = Vec::new();
            {
                let mut estate = sim.estate();
                while sent < due {
                    let k = &keys[rng.usize(0..keys.len())];
                    let n = sent;
                    if estate.edit(k, |doc| {
                        doc["tags"]["bench-event"] = json!(n.to_string());
                    }) {
                        if let Some(o) = estate.describe(k) {
                            changes.push(SimChange {
                                key: k.clone(),
                                kind: SimChangeKind::Modified,
                                observed: o,
                            });
                        }
                    }
                    sent += 1;
                }
            }
            feed.publish(&changes, now_ms());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drain = Instant::now();
        while drain.elapsed() < Duration::from_secs(60) {
            let s = stats.snapshot();
            if s.pending == 0 && s.events - before.events >= sent && s.backlog == Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s = stats.snapshot();
        let events = s.events - before.events;
        let described = s.keys_described - before.keys_described;
        let calls = s.describes - before.describes;
        let recorded = s.recorded - before.recorded;
        let secs = a.event_seconds.max(1) as f64;
        let p99_s = s.latency_p99_ms.unwrap_or(0.0) / 1e3;
        rows.push(Row {
            name: match rate {
                10 => "event -> CI, 10/s",
                100 => "event -> CI, 100/s",
                1000 => "event -> CI, 1000/s",
                _ => "event -> CI",
            },
            value: format!(
                "p50 {:.0} ms, p99 {:.0} ms; {events} events, {recorded} CIs with who made them, {described} resources in {calls} describe batches ({:.2} describes per event); polls as fresh (every {:.1} s) would list {} scopes {:.0} times an hour, events describe {:.0} batches an hour, a 15-minute poll lists them 4 times",
                s.latency_p50_ms.unwrap_or(0.0),
                s.latency_p99_ms.unwrap_or(0.0),
                described as f64 / events.max(1) as f64,
                p99_s,
                scopes,
                3600.0 / p99_s.max(1e-3),
                calls as f64 / secs * 3600.0,
            ),
            target: if rate == 100 { "p99 <= 1 s" } else { "" },
        });
    }
    let _ = stop.send(());
    let _ = task.await;
    Ok(())
}

pub(crate) fn serve_options() -> LogOptions {
    LogOptions {
        reserve_bytes: driftlog_server::config::StoreSection::default().reserve_mb << 20,
        ..LogOptions::default()
    }
}
