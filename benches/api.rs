//! The API benchmark (issue 5): the real recorder over a simulated estate (1M resources by
//! default, `DRIFTLOG_BENCH_RESOURCES` to change) with a few 1%-churn polls recorded, the
//! AWS Config API and the gRPC API served on loopback exactly as `serve` serves them.
//!
//! - GetResourceConfigHistory (limit 10, random resources) and BatchGetResourceConfig (100
//!   random keys) with 16 concurrent HTTP clients: requests per second, latency p50/p99.
//! - gRPC `Subscribe` catch-up throughput to one client (every item) and to 100 clients at
//!   once, each filtered (one type, or one account and region).
//! - Commit → client latency p50/p99 of a live subscriber over 5 more polls.
//!
//! Run: `cargo bench --bench api` (release; prints a table).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a panic is the failure report"
)]

use driftlog_api::{ApiSettings, Auth, ConfigApi, Initial, NoDelivery};
use driftlog_grpc::pb;
use driftlog_log::{Log, LogOptions};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// 16 clients for `secs`, each sending bodies from `body(i)`; (requests/s, p50 ms, p99 ms).
async fn load(
    url: &str,
    op: &str,
    secs: u64,
    body: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> (f64, f64, f64) {
    let client = reqwest::Client::new();
    let lat = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + Duration::from_secs(secs);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let (client, lat, body, url) = (client.clone(), lat.clone(), body.clone(), url.to_string());
        let target = format!("StarlingDoveService.{op}");
        tasks.push(tokio::spawn(async move {
            let mut i = c * 7919;
            let mut mine = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("X-Amz-Target", &target)
                    .header("Content-Type", "application/x-amz-json-1.1")
                    .body(body(i))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                r.bytes().await.unwrap();
                mine.push(t.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut l = lat.lock().unwrap().clone();
    let n = l.len() as f64;
    (
        n / t0.elapsed().as_secs_f64(),
        pct(&mut l, 0.5),
        pct(&mut l, 0.99),
    )
}

async fn grpc(
    port: u16,
) -> driftlog_grpc::DriftlogClient<driftlog_grpc::tonic::transport::Channel> {
    let ch =
        driftlog_grpc::tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
    driftlog_grpc::DriftlogClient::new(ch)
}

/// Reads a subscription from `after` until `upto`; items received.
async fn drain(port: u16, after: u64, upto: u64, filter: Option<pb::Filter>) -> u64 {
    let mut c = grpc(port).await;
    let mut s = c
        .subscribe(pb::SubscribeRequest {
            filter,
            start: Some(pb::subscribe_request::Start::AfterSeq(after)),
            durable_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    // A filtered stream may end before `upto` on a non-matching item: stop when idle.
    while let Ok(Ok(Some(ch))) = tokio::time::timeout(Duration::from_secs(3), s.message()).await {
        n += 1;
        if ch.item.unwrap().seq >= upto {
            break;
        }
    }
    n
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resources: usize = std::env::var("DRIFTLOG_BENCH_RESOURCES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            Log::open(dir.path().join("store"), LogOptions { cache_bytes: 256 << 20, ..LogOptions::default() }).unwrap(),
        );
        let sim = SimSource::from_estate(Estate::new(SimConfig {
            resources,
            churn: 0.01,
            ..SimConfig::default()
        }));
        let source: Arc<dyn Source> = Arc::new(sim.clone());
        let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
        let t = Instant::now();
        rec.poll_all_once().await.unwrap();
        let discovered = log.watermark();
        println!(
            "estate: {} resources discovered in {:.1} s",
            log.state().live_count(),
            t.elapsed().as_secs_f64()
        );
        for _ in 0..3 {
            sim.estate().tick();
            rec.poll_all_once().await.unwrap();
        }
        println!("log: {} items after 3 polls at 1% churn", log.watermark());

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let api = ConfigApi::open(
            log.clone(),
            Some(rec.clone()),
            Arc::new(NoDelivery),
            ApiSettings { auth: Auth::Off, account: "000000000000".into(), region: "us-east-1".into() },
            Initial::default(),
        )
        .unwrap();
        let app = driftlog_grpc::routes(log.clone(), driftlog_grpc::Shutdown::on(stop_rx)).fallback_service(driftlog_api::router(api));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await
                .unwrap()
        });
        let url = format!("http://127.0.0.1:{port}/");

        // Random resources that had versions recorded.
        let keys: Vec<(String, String)> = {
            let state = log.state();
            let all: Vec<_> = state.keys().collect();
            (0..20_000)
                .map(|_| {
                    let k = &all[fastrand::usize(..all.len())];
                    (k.resource_type.clone(), k.resource_id.clone())
                })
                .collect()
        };
        let keys = Arc::new(keys);
        println!("\n| operation (16 clients, 10 s) | requests/s | p50 | p99 |\n|---|---|---|---|");
        let k = keys.clone();
        let (rps, p50, p99) = load(&url, "GetResourceConfigHistory", 10, Arc::new(move |i| {
            let (t, id) = &k[i % k.len()];
            json!({"resourceType": t, "resourceId": id, "limit": 10}).to_string()
        }))
        .await;
        println!("| GetResourceConfigHistory (limit 10) | {rps:.0} | {p50:.2} ms | {p99:.2} ms |");
        let k = keys.clone();
        let (rps, p50, p99) = load(&url, "BatchGetResourceConfig", 10, Arc::new(move |i| {
            let ks: Vec<_> = (0..100)
                .map(|j| {
                    let (t, id) = &k[(i * 100 + j) % k.len()];
                    json!({"resourceType": t, "resourceId": id})
                })
                .collect();
            json!({"resourceKeys": ks}).to_string()
        }))
        .await;
        println!("| BatchGetResourceConfig (100 keys) | {rps:.0} ({:.0} items/s) | {p50:.2} ms | {p99:.2} ms |", rps * 100.0);

        // SelectResourceConfig: a type-pinned query paged through, and a full-scan count.
        let client = reqwest::Client::new();
        let select = |expr: &str, token: Option<String>| {
            let mut body = json!({"Expression": expr, "Limit": 100});
            if let Some(t) = token {
                body["NextToken"] = json!(t);
            }
            client
                .post(&url)
                .header("X-Amz-Target", "StarlingDoveService.SelectResourceConfig")
                .header("Content-Type", "application/x-amz-json-1.1")
                .body(body.to_string())
                .send()
        };
        println!("\n| SelectResourceConfig | rows | first page | all pages |\n|---|---|---|---|");
        for expr in [
            "SELECT resourceId, configuration.groupName WHERE resourceType = 'AWS::EC2::SecurityGroup'",
            "SELECT resourceType, COUNT(*) GROUP BY resourceType",
        ] {
            let t = Instant::now();
            let mut token = None;
            let mut rows = 0;
            let mut first = None;
            loop {
                let v: serde_json::Value = select(expr, token.take()).await.unwrap().json().await.unwrap();
                rows += v["Results"].as_array().map_or(0, Vec::len);
                first.get_or_insert(t.elapsed());
                match v["NextToken"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            println!(
                "| `{expr}` | {rows} | {:.2} s | {:.2} s |",
                first.unwrap().as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
        }

        // gRPC catch-up: the whole log to one client, then 100 filtered clients at once.
        let upto = log.watermark();
        let t = Instant::now();
        let n = drain(port, 0, upto, None).await;
        let secs = t.elapsed().as_secs_f64();
        println!("\n| gRPC Subscribe | items | time | items/s |\n|---|---|---|---|");
        println!("| 1 client, whole log | {n} | {secs:.1} s | {:.0} |", n as f64 / secs);
        let types: Vec<&str> = driftlog_model::KNOWN_TYPES.iter().map(|t| t.resource_type).collect();
        let scopes: Vec<(String, String)> = {
            let state = log.state();
            let mut v: Vec<_> = state.scopes().map(|(s, _, _)| (s.account.clone(), s.region.clone())).collect();
            v.sort();
            v.dedup();
            v
        };
        let from = discovered; // the three churn polls: a backlog every client reads
        let t = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let filter = if i % 2 == 0 {
                pb::Filter { types: vec![types[i / 2 % types.len()].to_string()], ..Default::default() }
            } else {
                let (a, r) = &scopes[i / 2 % scopes.len()];
                pb::Filter { accounts: vec![a.clone()], regions: vec![r.clone()], ..Default::default() }
            };
            tasks.push(tokio::spawn(drain(port, from, upto, Some(filter))));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        // Each idle stream waits 3 s before it is known to be done.
        let secs = (t.elapsed().as_secs_f64() - 3.0).max(0.001);
        println!(
            "| 100 filtered clients, {} items each scanned | {total} delivered | {secs:.1} s | {:.0} delivered, {:.0} scanned |",
            upto - from,
            total as f64 / secs,
            (upto - from) as f64 * 100.0 / secs
        );

        // Live: commit → client latency.
        let commits = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
        {
            let mut wm = log.subscribe_watermark();
            let commits = commits.clone();
            tokio::spawn(async move {
                while wm.changed().await.is_ok() {
                    let w = *wm.borrow_and_update();
                    commits.lock().unwrap().push((w, Instant::now()));
                }
            });
        }
        let mut c = grpc(port).await;
        let mut s = c
            .subscribe(pb::SubscribeRequest { filter: None, start: Some(pb::subscribe_request::Start::Now(true)), durable_name: String::new() })
            .await
            .unwrap()
            .into_inner();
        let receipts = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
        let r2 = receipts.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(ch)) = s.message().await {
                r2.lock().unwrap().push((ch.item.unwrap().seq, Instant::now()));
            }
        });
        for _ in 0..5 {
            sim.estate().tick();
            rec.poll_all_once().await.unwrap();
        }
        let end = log.watermark();
        let t = Instant::now();
        while receipts.lock().unwrap().last().map_or(0, |r| r.0) < end && t.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let c = commits.lock().unwrap().clone();
        let mut lags: Vec<f64> = receipts
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(seq, at)| {
                let i = c.partition_point(|(w, _)| w < seq);
                c.get(i).map(|(_, t)| at.duration_since(*t).as_secs_f64() * 1000.0)
            })
            .collect();
        println!(
            "\nlive: {} items over 5 polls; commit → gRPC client p50 {:.1} ms, p99 {:.1} ms",
            lags.len(),
            pct(&mut lags, 0.5),
            pct(&mut lags, 0.99)
        );
        reader.abort();
        let _ = stop_tx.send(true);
    });
}
