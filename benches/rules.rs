//! The rules benchmark (issue 6), on the real recorder over a simulated estate (1M
//! resources by default, `DRIFTLOG_BENCH_RESOURCES` to change) with the rules engine as
//! `serve` runs it:
//!
//! - a full evaluation of the inventory by all 14 managed rules (first: every result is new
//!   and recorded; again: the periodic case, verdicts mostly unchanged);
//! - change-triggered evaluation: 5 polls at 1% churn recorded while the engine is stopped,
//!   then its catch-up from the log — changes and evaluations per second;
//! - the cost of one evaluation, CEL against the managed rule it mirrors;
//! - a back-test over the resources × 10 versions (`DRIFTLOG_BENCH_BACKTEST_RESOURCES`,
//!   default 1M): 9 polls at 100% churn, then the rule run over the whole window.
//!
//! Run: `cargo bench --bench rules` (release; prints a table).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a panic is the failure report"
)]

use driftlog_compliance::backtest::backtest;
use driftlog_compliance::{Engine, EngineSettings};
use driftlog_log::{Log, LogOptions};
use driftlog_model::{Filter, TypePattern};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_rules::cel::CelRule;
use driftlog_rules::{managed, Evaluator, Judge, Rule, Scope};
use driftlog_sim::{Estate, SimConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SG: &str = "AWS::EC2::SecurityGroup";
const CEL_NO_SSH: &str = "!configuration.ipPermissions.exists(p, (p.ipProtocol == 'tcp' || p.ipProtocol == '-1') && (p.ipProtocol == '-1' || (p.fromPort <= 22 && p.toPort >= 22)) && ((has(p.ipv4Ranges) && p.ipv4Ranges.exists(r, r.cidrIp == '0.0.0.0/0')) || (has(p.ipv6Ranges) && p.ipv6Ranges.exists(r, r.cidrIpv6 == '::/0'))))";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn wait_idle(engine: &Engine, names: &[String]) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    while names.iter().any(|n| engine.is_running(n)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn evaluations(engine: &Engine, names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| engine.status(n).map_or(0, |s| s.evaluations))
        .sum()
}

struct World {
    _dir: tempfile::TempDir,
    sim: SimSource,
    log: Arc<Log>,
    rec: Arc<Recorder>,
}

async fn world(resources: usize, churn: f64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path().join("store"),
            LogOptions {
                cache_bytes: 256 << 20,
                ..LogOptions::default()
            },
        )
        .unwrap(),
    );
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources,
        churn,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
    let t = Instant::now();
    rec.poll_all_once().await.unwrap();
    println!(
        "estate: {} resources discovered in {:.1} s",
        log.state().live_count(),
        t.elapsed().as_secs_f64()
    );
    World {
        _dir: dir,
        sim,
        log,
        rec,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resources = env("DRIFTLOG_BENCH_RESOURCES", 1_000_000);
        let mut rows: Vec<(String, String)> = Vec::new();
        {
            let w = world(resources, 0.01).await;
            let settings = EngineSettings { periodic_check: Duration::from_secs(3600), ..EngineSettings::default() };

            // Full evaluation by all managed rules: the first one records every result.
            let engine = Engine::open(w.log.clone(), Some(w.rec.clone()), settings.clone()).unwrap();
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let run = tokio::spawn(engine.clone().run(stop_rx));
            let before = w.log.watermark();
            let t = Instant::now();
            let names: Vec<String> = driftlog_compliance::def::all_managed()
                .iter()
                .map(|r| engine.put_rule(r).unwrap().name().to_string())
                .collect();
            wait_idle(&engine, &names).await;
            let secs = t.elapsed().as_secs_f64();
            let evals = evaluations(&engine, &names);
            let recorded = w.log.watermark() - before;
            rows.push((
                format!("first full evaluation, 14 managed rules, {resources} resources"),
                format!("{secs:.1} s: {evals} evaluations ({:.0}/s), {recorded} results recorded", evals as f64 / secs),
            ));

            // Again (the periodic case): verdicts unchanged, nothing to record.
            let before = w.log.watermark();
            let e0 = evaluations(&engine, &names);
            let t = Instant::now();
            engine.start_evaluation(&names).unwrap();
            wait_idle(&engine, &names).await;
            let secs = t.elapsed().as_secs_f64();
            let evals = evaluations(&engine, &names) - e0;
            rows.push((
                format!("periodic full evaluation, 14 managed rules, {resources} resources"),
                format!("{secs:.1} s: {evals} evaluations ({:.0}/s), {} recorded", evals as f64 / secs, w.log.watermark() - before),
            ));
            stop_tx.send(true).unwrap();
            run.await.unwrap().unwrap();
            drop(engine);

            // Change-triggered: changes recorded while the engine is stopped, then caught up.
            let from = w.log.watermark();
            for _ in 0..5 {
                w.sim.estate().tick();
                w.rec.poll_all_once().await.unwrap();
            }
            let changes = w.log.watermark() - from;
            let engine = Engine::open(w.log.clone(), Some(w.rec.clone()), settings).unwrap();
            let e0 = evaluations(&engine, &names);
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let target = w.log.watermark();
            let t = Instant::now();
            let run = tokio::spawn(engine.clone().run(stop_rx));
            while w.log.cursor("rules/changes").unwrap().unwrap_or(0) < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let secs = t.elapsed().as_secs_f64();
            let evals = evaluations(&engine, &names) - e0;
            rows.push((
                format!("change-triggered, 14 managed rules, {changes} changes (5 polls at 1%)"),
                format!(
                    "{secs:.2} s: {:.0} changes/s, {evals} evaluations ({:.0}/s), {} results recorded",
                    changes as f64 / secs,
                    evals as f64 / secs,
                    w.log.watermark() - target
                ),
            ));
            stop_tx.send(true).unwrap();
            run.await.unwrap().unwrap();

            // One evaluation: CEL against the managed rule, on the same security groups.
            let items: Vec<Value> = {
                let filter = Filter { types: vec![TypePattern::parse(SG).unwrap()], ..Filter::default() };
                let mut v = Vec::new();
                w.log
                    .inventory_at(driftlog_model::time::now_ms(), &filter, |ci| {
                        v.push(ci.to_notification_json().unwrap());
                        v.len() < 20_000
                    })
                    .unwrap();
                v
            };
            let cel = CelRule::compile(CEL_NO_SSH).unwrap();
            let params = serde_json::Map::new();
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed() < Duration::from_secs(3) {
                for it in &items {
                    std::hint::black_box(cel.evaluate(it, &params).unwrap());
                    n += 1;
                }
            }
            let cel_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t = Instant::now();
            let mut m = 0;
            while t.elapsed() < Duration::from_secs(3) {
                for it in &items {
                    std::hint::black_box(managed::evaluate("INCOMING_SSH_DISABLED", &params, it).unwrap());
                    m += 1;
                }
            }
            let managed_us = t.elapsed().as_secs_f64() * 1e6 / m as f64;
            rows.push((
                "one evaluation of a security group (no SSH to the world)".into(),
                format!("CEL {cel_us:.1} µs, managed rule {managed_us:.2} µs"),
            ));
        }

        // Back-test over resources × 10 versions.
        let bt = env("DRIFTLOG_BENCH_BACKTEST_RESOURCES", resources);
        let w = world(bt, 1.0).await;
        let from = driftlog_model::time::now_ms();
        let t = Instant::now();
        for _ in 0..9 {
            w.sim.estate().tick();
            w.rec.poll_all_once().await.unwrap();
        }
        let to = driftlog_model::time::now_ms();
        println!(
            "history: {} items ({} resources × up to 10 versions) recorded in {:.1} s, store {} MB",
            w.log.watermark(),
            w.log.state().live_count(),
            t.elapsed().as_secs_f64(),
            w.log.size_on_disk() >> 20
        );
        let judge = Judge::new(Rule {
            name: "tags".into(),
            scope: Scope::default(),
            evaluator: Evaluator::Managed {
                identifier: "REQUIRED_TAGS".into(),
                parameters: json!({"tag1Key": "owner"}).as_object().unwrap().clone(),
            },
        })
        .unwrap();
        let log = w.log.clone();
        let t = Instant::now();
        let r = tokio::task::spawn_blocking(move || backtest(&log, &judge, from - 1, to)).await.unwrap().unwrap();
        let secs = t.elapsed().as_secs_f64();
        rows.push((
            format!("back-test REQUIRED_TAGS, {bt} resources × 10 versions"),
            format!(
                "{secs:.1} s: {} versions judged ({:.0}/s), {} stretches of non-compliance",
                r.evaluated,
                r.evaluated as f64 / secs,
                r.intervals.len()
            ),
        ));

        println!();
        println!("| measure | result |");
        println!("|---|---|");
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
    });
}
