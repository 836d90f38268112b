//! Sink throughput and delivery lag (issue 4): the real recorder over a simulated estate
//! (100K resources by default, `DRIFTLOG_BENCH_RESOURCES` to change), 1% churn per poll,
//! to a webhook receiver in this process, to nats-server JetStream and to an SNS topic on
//! moto with this process's HTTP endpoint subscribed (each when installed: `scripts/test.sh`
//! installs both; the SNS numbers measure moto, a Python server, more than driftlog).
//!
//! For each sink: the catch-up rate after an outage (10 polls recorded while the sink is
//! down, about 10 minutes of changes at the default 60 s interval, then the time to drain
//! them), and the live rate and commit→receipt lag p50/p99 over 10 more polls.
//!
//! Run: `cargo bench -p driftlog-sinks --bench sinks` (release build; prints a table).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a panic is the failure report"
)]

use driftlog_log::{Log, LogOptions};
use driftlog_model::Filter;
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use driftlog_sinks::{
    run_sink, NatsTransport, SinkBoard, SinkSpec, SinkStart, Transport, WebhookTransport,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The allocator of the `driftlog` binary, so the numbers are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../../../tests/support/nats.rs"]
mod nats_support;

#[path = "../../../tests/support/moto.rs"]
mod moto_support;

/// What the SNS endpoint got: (resource id, capture time) and when.
type SnsReceipts = Arc<Mutex<Vec<(String, String, Instant)>>>;

async fn sns_endpoint(
    axum::extract::State(r): axum::extract::State<SnsReceipts>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let at = Instant::now();
    let env: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let msg: serde_json::Value =
        serde_json::from_str(env["Message"].as_str().unwrap_or("{}")).unwrap_or_default();
    let ci = &msg["configurationItem"];
    if let (Some(id), Some(t)) = (
        ci["resourceId"].as_str(),
        ci["configurationItemCaptureTime"].as_str(),
    ) {
        r.lock().unwrap().push((id.to_string(), t.to_string(), at));
    }
    axum::http::StatusCode::OK
}

/// Receipt instants by sequence, shared by the receivers.
type Receipts = Arc<Mutex<BTreeMap<u64, Instant>>>;

async fn hook(
    axum::extract::State(r): axum::extract::State<Receipts>,
    headers: axum::http::HeaderMap,
) -> axum::http::StatusCode {
    let seq: u64 = headers
        .get("X-Driftlog-Seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    r.lock().unwrap().entry(seq).or_insert_with(Instant::now);
    axum::http::StatusCode::OK
}

struct World {
    sim: SimSource,
    log: Arc<Log>,
    rec: Arc<Recorder>,
    commits: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl World {
    async fn rounds(&self, n: usize) {
        for _ in 0..n {
            self.sim.estate().tick();
            self.rec.poll_all_once().await.unwrap();
        }
    }

    /// When the item `seq` became visible.
    fn committed(&self, seq: u64) -> Option<Instant> {
        let c = self.commits.lock().unwrap();
        let i = c.partition_point(|(w, _)| *w < seq);
        c.get(i).map(|(_, t)| *t)
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Outage catch-up and live lag for one sink; `received` counts what its receiver got.
async fn measure<T: Transport>(
    w: &World,
    name: &str,
    transport: T,
    received: impl Fn() -> Vec<(u64, Instant)>,
) {
    let cursor = format!("sink/{name}");
    w.log.set_cursor(&cursor, w.log.watermark()).unwrap();
    let backlog_from = w.log.watermark();
    w.rounds(10).await; // recorded while the sink is down
    let backlog = w.log.watermark() - backlog_from;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t0 = Instant::now();
    let task = tokio::spawn(run_sink(
        w.log.clone(),
        SinkSpec {
            start: SinkStart::Beginning,
            batch: 256,
            ..SinkSpec::new(name, Filter::default())
        },
        transport,
        None,
        SinkBoard::default(),
        stop_rx,
    ));
    let target = w.log.watermark();
    while w.log.cursor(&cursor).unwrap() != Some(target) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let catch_up = t0.elapsed().as_secs_f64();

    // Live: 10 polls with the sink running; lag from commit to receipt per message.
    let live_from = w.log.watermark();
    let t1 = Instant::now();
    w.rounds(10).await;
    let end = w.log.watermark();
    while w.log.cursor(&cursor).unwrap() != Some(end) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let live_secs = t1.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let mut lags: Vec<f64> = received()
        .into_iter()
        .filter(|(s, _)| *s > live_from && *s <= end)
        .filter_map(|(s, at)| Some(at.duration_since(w.committed(s)?).as_secs_f64() * 1000.0))
        .collect();
    let live = end - live_from;
    println!(
        "{name:<8} outage backlog {backlog:>6} msgs drained in {catch_up:>6.2} s = {:>8.0} msgs/s | live {live:>6} msgs over {live_secs:>5.1} s ({:>6.0} msgs/s), lag p50 {:>7.2} ms p99 {:>7.2} ms",
        backlog as f64 / catch_up,
        live as f64 / live_secs,
        pct(&mut lags, 0.5),
        pct(&mut lags, 0.99),
    );
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
            .unwrap_or(100_000);
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
        let sim = SimSource::from_estate(Estate::new(SimConfig {
            resources,
            churn: 0.01,
            ..SimConfig::default()
        }));
        let source: Arc<dyn Source> = Arc::new(sim.clone());
        let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
        let commits = Arc::new(Mutex::new(Vec::new()));
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
        let w = World {
            sim,
            log,
            rec,
            commits,
        };
        let t = Instant::now();
        w.rec.poll_all_once().await.unwrap();
        println!(
            "estate: {} resources discovered in {:.1} s; 1% churn per poll",
            w.log.state().live_count(),
            t.elapsed().as_secs_f64()
        );

        // DRIFTLOG_BENCH_SINKS=webhook,nats,sns picks sinks (default: all).
        let only = std::env::var("DRIFTLOG_BENCH_SINKS").unwrap_or_default();
        let wanted = |k: &str| only.is_empty() || only.split(',').any(|x| x == k);
        if wanted("webhook") {
            let receipts: Receipts = Arc::default();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            let app = axum::Router::new()
                .route("/hook", axum::routing::post(hook))
                .with_state(receipts.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            let hook =
                WebhookTransport::new(&url, Some(b"secret".to_vec()), Duration::from_secs(10))
                    .unwrap();
            let r = receipts.clone();
            measure(&w, "webhook", hook, move || {
                r.lock().unwrap().iter().map(|(s, t)| (*s, *t)).collect()
            })
            .await;
        }

        let store = tempfile::tempdir().unwrap();
        match nats_support::nats(store.path()).filter(|_| wanted("nats")) {
            Some(server) => {
                // Receipt = JetStream's acknowledgement reaching the sink: a subscriber on
                // the subjects records when each message is delivered.
                let client = async_nats::connect(server.url.as_str()).await.unwrap();
                let mut sub = client.subscribe("driftlog.ci.>").await.unwrap();
                let got: Receipts = Arc::default();
                let g = got.clone();
                tokio::spawn(async move {
                    use tokio_stream::StreamExt;
                    while let Some(m) = sub.next().await {
                        if let Some(seq) = m
                            .headers
                            .as_ref()
                            .and_then(|h| h.get("X-Driftlog-Seq"))
                            .and_then(|v| v.as_str().parse::<u64>().ok())
                        {
                            g.lock().unwrap().entry(seq).or_insert_with(Instant::now);
                        }
                    }
                });
                let t =
                    NatsTransport::new(&server.url, "DRIFTLOG", Duration::from_secs(10)).unwrap();
                measure(&w, "nats", t, move || {
                    got.lock().unwrap().iter().map(|(s, t)| (*s, *t)).collect()
                })
                .await;
                drop(server);
            }
            None if wanted("nats") => println!("nats     skipped: nats-server not installed"),
            None => {}
        }

        match wanted("sns").then(moto_support::moto).flatten() {
            Some(m) => {
                for (k, v) in moto_support::CREDENTIALS {
                    std::env::set_var(k, v);
                }
                let got: SnsReceipts = Arc::default();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("http://{}/sns", listener.local_addr().unwrap());
                let app = axum::Router::new()
                    .route("/sns", axum::routing::post(sns_endpoint))
                    .with_state(got.clone());
                tokio::spawn(async move { axum::serve(listener, app).await });
                let topic = moto_support::delivery(&m, &["http-topic", "bench", &url]);
                let access = driftlog_sinks::AwsAccess {
                    endpoint_url: Some(m.url.clone()),
                    region: Some("us-east-1".into()),
                    ..Default::default()
                };
                let t =
                    driftlog_sinks::SnsTransport::new(topic["topicArn"].as_str().unwrap(), &access)
                        .await
                        .unwrap();
                let log = w.log.clone();
                measure(&w, "sns", t, move || {
                    // The endpoint sees AWS's message, not the sequence: find it by resource
                    // and capture time in the log.
                    let items = log.read_range(0, usize::MAX, &Filter::default()).unwrap().0;
                    let seq_of: std::collections::HashMap<(String, String), u64> = items
                        .iter()
                        .map(|c| {
                            (
                                (
                                    c.key.resource_id.clone(),
                                    driftlog_model::time::iso_ms(c.capture_time_ms),
                                ),
                                c.seq,
                            )
                        })
                        .collect();
                    got.lock()
                        .unwrap()
                        .iter()
                        .filter_map(|(id, t, at)| {
                            Some((*seq_of.get(&(id.clone(), t.clone()))?, *at))
                        })
                        .collect()
                })
                .await;
            }
            None => {
                println!("sns      skipped: moto not installed (./scripts/test.sh installs it)")
            }
        }
    });
}
