//! `driftlog bench --aggregate`: three recorders (simulated estates of distinct accounts)
//! discovering at once into NATS JetStream through their item sinks, one aggregator
//! recording what the stream carries — all in this process, on a nats-server this bench
//! starts on loopback. Measures ingest (items/s from the stream into the aggregator's log),
//! the lag from a recorder's commit to the aggregator's during 1%-churn polls, and the
//! aggregate API's queries over everything aggregated.

use crate::bench::{pct, serve_options, BenchArgs};
use anyhow::{bail, Context, Result};
use driftlog_aggregate::{run_aggregator, AggregatorSettings, AggregatorStatus, StreamSource};
use driftlog_api::{ApiSettings, Auth, Caller, ConfigApi, Initial, NoDelivery};
use driftlog_log::Log;
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use driftlog_sinks::{BodyFormat, NatsConnect, NatsTransport, SinkBoard, SinkSpec, SinkStart};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDERS: u64 = 3;
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

/// nats-server for the bench, killed on drop.
struct NatsServer(Child);

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server(store: &Path) -> Result<(NatsServer, String)> {
    let bin = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .find(|p| p.exists())
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/nats-server")).filter(|p| p.exists()))
        .context("bench --aggregate runs a nats-server on loopback: install it (Debian: apt-get install nats-server) or put it on PATH")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nats-server")?;
    let server = NatsServer(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nats-server did not listen on 127.0.0.1:{port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, format!("nats://127.0.0.1:{port}")))
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; `None`
/// where there is no procfs.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), counted from its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // Linux reports in clock ticks of 100 Hz (USER_HZ) on every platform it runs on.
    Some(ticks / 100.0)
}

/// CPU seconds of this process and of nats-server, for "how many cores did it take".
fn cpu_now(nats: &NatsServer) -> (f64, f64) {
    (
        cpu_seconds("self").unwrap_or(0.0),
        cpu_seconds(&nats.0.id().to_string()).unwrap_or(0.0),
    )
}

/// The account of recorder `i` (the simulated estate's numbering: `first_account` 1 is
/// 111122220001).
fn account(i: u64) -> String {
    format!("11112222{:04}", i + 1)
}

/// The last sequence of `recorder` the aggregator applied.
fn applied(status: &AggregatorStatus, recorder: &str) -> u64 {
    status
        .sources()
        .into_iter()
        .find(|s| s.recorder == recorder)
        .map_or(0, |s| s.applied_seq)
}

/// Runs the aggregation benchmark; prints a table (and JSON with `--json`).
pub async fn run(a: &BenchArgs) -> Result<()> {
    let say = |s: &str| eprintln!("bench: {s}");
    let base = a
        .dir()
        .join(format!("aggregate-{}", driftlog_model::time::now_ms()));
    std::fs::create_dir_all(&base)?;
    let (nats, url) = nats_server(&base.join("nats"))?;
    say(&format!("nats-server with JetStream on {url}"));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let per = (a.resources() as u64 / RECORDERS) as usize;
    say(&format!(
        "building {RECORDERS} simulated estates of ~{per} resources (distinct accounts and regions)"
    ));
    let mut recorders = Vec::new();
    let board = SinkBoard::default();
    for i in 0..RECORDERS {
        let estate = Estate::new(SimConfig {
            resources: per,
            churn: a.churn(),
            accounts: 1,
            first_account: i + 1,
            regions: vec![REGIONS[i as usize].to_string()],
            ..SimConfig::default()
        });
        let sim = SimSource::from_estate(estate);
        let log = Arc::new(Log::open(base.join(format!("rec{i}")), serve_options())?);
        let source: Arc<dyn Source> = Arc::new(sim.clone());
        let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
        let id = format!("bench-{i}");
        let transport = NatsTransport::new(&url, "DRIFTLOG", Duration::from_secs(30))
            .map_err(anyhow::Error::msg)?
            .with_publisher(&id, log.id());
        let spec = SinkSpec {
            start: SinkStart::Beginning,
            batch: 2000,
            format: BodyFormat::Item,
            // Named apart: the board shows each sink, and their sum is what was published.
            ..SinkSpec::new(format!("org-{i}"), driftlog_model::Filter::default())
        };
        tokio::spawn(driftlog_sinks::run_sink(
            log.clone(),
            spec,
            transport,
            None,
            board.clone(),
            stop.clone(),
        ));
        recorders.push((id, sim, log, rec));
    }
    let agg_log = Arc::new(Log::open(base.join("aggregator"), serve_options())?);
    let agg_rec = Recorder::new(
        agg_log.clone(),
        Arc::new(StreamSource),
        RecorderConfig::default(),
    );
    let status = Arc::new(AggregatorStatus::default());
    let connect_url = url.clone();
    let connector: driftlog_aggregate::Connector = Arc::new(move || {
        let c = NatsConnect::new(&connect_url, Duration::from_secs(30));
        Box::pin(async move { c.connect().await })
    });
    tokio::spawn(run_aggregator(
        agg_rec.clone(),
        connector,
        AggregatorSettings::default(),
        status.clone(),
        stop.clone(),
    ));

    say("first discovery of all three at once, the aggregator ingesting as they publish");
    let cpu0 = cpu_now(&nats);
    let t0 = Instant::now();
    let polls: Vec<_> = recorders
        .iter()
        .map(|(_, _, _, rec)| {
            let rec = rec.clone();
            tokio::spawn(async move { rec.poll_all_once().await.map(|_| Instant::now()) })
        })
        .collect();
    for p in polls {
        p.await??;
    }
    let discovered_secs = t0.elapsed().as_secs_f64();
    let marks: Vec<u64> = recorders.iter().map(|(_, _, l, _)| l.watermark()).collect();
    let total: u64 = marks.iter().sum();
    let mut last_say = Instant::now();
    loop {
        let done: u64 = recorders
            .iter()
            .map(|(id, _, _, _)| applied(&status, id))
            .sum();
        if done >= total {
            break;
        }
        if last_say.elapsed() > Duration::from_secs(5) {
            let published: u64 = board.snapshot().iter().map(|s| s.cursor).sum();
            say(&format!(
                "  aggregated {done} of {total} items ({published} published by the recorders)"
            ));
            last_say = Instant::now();
        }
        if t0.elapsed() > Duration::from_secs(3600) {
            bail!("the aggregator did not catch up within an hour ({done} of {total})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ingest_secs = t0.elapsed().as_secs_f64();
    let ingest = total as f64 / ingest_secs;
    let cpu1 = cpu_now(&nats);
    let (ours_cores, nats_cores) = (
        (cpu1.0 - cpu0.0) / ingest_secs,
        (cpu1.1 - cpu0.1) / ingest_secs,
    );
    say(&format!(
        "  CPU while ingesting: recorders + sinks + aggregator {ours_cores:.2} cores, nats-server {nats_cores:.2} cores"
    ));
    say(&format!(
        "  {total} items: recorders committed in {discovered_secs:.1} s, all aggregated after {ingest_secs:.1} s = {ingest:.0} items/s"
    ));

    let rounds = a.polls().max(10);
    say(&format!(
        "{rounds} rounds of {}% churn polls on the three, lag from each recorder's commit to the aggregator's",
        a.churn() * 100.0
    ));
    let mut lags = Vec::new();
    for _ in 0..rounds {
        for (_, sim, _, _) in &recorders {
            sim.estate().tick();
        }
        let polls: Vec<_> = recorders
            .iter()
            .map(|(_, _, log, rec)| {
                let (rec, log) = (rec.clone(), log.clone());
                tokio::spawn(async move {
                    rec.poll_all_once().await?;
                    Ok::<_, driftlog_recorder::Error>((Instant::now(), log.watermark()))
                })
            })
            .collect();
        let mut committed = Vec::new();
        for p in polls {
            committed.push(p.await??);
        }
        let mut pending: Vec<usize> = (0..recorders.len()).collect();
        let t = Instant::now();
        while !pending.is_empty() {
            pending.retain(|&i| {
                let (at, w) = committed[i];
                if applied(&status, &recorders[i].0) >= w {
                    lags.push(at.elapsed().as_secs_f64() * 1e3);
                    false
                } else {
                    true
                }
            });
            if t.elapsed() > Duration::from_secs(600) {
                bail!("the aggregator fell more than 10 minutes behind");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let (lag50, lag99) = (pct(&mut lags.clone(), 0.5), pct(&mut lags.clone(), 0.99));

    // The aggregator's own capacity: a second aggregator reads the whole stream (every item
    // published above) from its start while the recorders are idle — what one aggregator
    // ingests when its recorders run on other machines.
    say("the aggregator alone: a second aggregator reads the whole stream from its start");
    let in_stream: u64 = recorders.iter().map(|(_, _, l, _)| l.watermark()).sum();
    let drain_log = Arc::new(Log::open(base.join("aggregator-alone"), serve_options())?);
    let drain_rec = Recorder::new(drain_log, Arc::new(StreamSource), RecorderConfig::default());
    let drain_status = Arc::new(AggregatorStatus::default());
    let (drain_stop_tx, drain_stop) = tokio::sync::watch::channel(false);
    let connect_url = url.clone();
    let drain_connector: driftlog_aggregate::Connector = Arc::new(move || {
        let c = NatsConnect::new(&connect_url, Duration::from_secs(30));
        Box::pin(async move { c.connect().await })
    });
    let cpu0 = cpu_now(&nats);
    let t = Instant::now();
    tokio::spawn(run_aggregator(
        drain_rec,
        drain_connector,
        AggregatorSettings {
            consumer: "driftlog-aggregator-alone".into(),
            ..AggregatorSettings::default()
        },
        drain_status.clone(),
        drain_stop,
    ));
    loop {
        let done: u64 = recorders
            .iter()
            .map(|(id, _, _, _)| applied(&drain_status, id))
            .sum();
        if done >= in_stream {
            break;
        }
        if t.elapsed() > Duration::from_secs(3600) {
            bail!("the second aggregator did not read the stream within an hour ({done} of {in_stream})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let alone_secs = t.elapsed().as_secs_f64();
    let cpu1 = cpu_now(&nats);
    let _ = drain_stop_tx.send(true);
    let alone = in_stream as f64 / alone_secs;
    let (alone_cores, alone_nats) = (
        (cpu1.0 - cpu0.0) / alone_secs,
        (cpu1.1 - cpu0.1) / alone_secs,
    );
    say(&format!(
        "  {in_stream} items in {alone_secs:.1} s = {alone:.0} items/s (aggregator {alone_cores:.2} cores, nats-server {alone_nats:.2} cores)"
    ));

    say("aggregate queries through the AWS Config API (in process)");
    let api = ConfigApi::open(
        agg_log.clone(),
        Some(agg_rec.clone()),
        Arc::new(NoDelivery),
        ApiSettings {
            auth: Auth::Off,
            account: account(0),
            region: REGIONS[0].to_string(),
        },
        Initial::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let call = |who: Caller, op: &'static str, body: Value| {
        let api = api.clone();
        async move {
            let input = driftlog_api::Input::parse(body.to_string().as_bytes())
                .map_err(|e| anyhow::anyhow!("{op}: {e}"))?;
            api.call(&who, op, &input)
                .await
                .map_err(|e| anyhow::anyhow!("{op}: {e}"))
        }
    };
    let home = Caller::default();
    let accounts: Vec<String> = (0..RECORDERS).map(account).collect();
    call(
        home.clone(),
        "PutConfigurationAggregator",
        json!({"ConfigurationAggregatorName": "org",
            "AccountAggregationSources": [{"AccountIds": accounts, "AllAwsRegions": true}]}),
    )
    .await?;
    for acct in accounts.iter().skip(1) {
        let source = Caller {
            account: Some(acct.clone()),
            ..Caller::default()
        };
        call(
            source,
            "PutAggregationAuthorization",
            json!({"AuthorizedAccountId": account(0), "AuthorizedAwsRegion": REGIONS[0]}),
        )
        .await?;
    }
    let sg = "AWS::EC2::SecurityGroup";
    let queries: [(&str, &'static str, Value); 3] = [
        (
            "ListAggregateDiscoveredResources page",
            "ListAggregateDiscoveredResources",
            json!({"ConfigurationAggregatorName": "org", "ResourceType": sg, "Limit": 100}),
        ),
        (
            "GetAggregateDiscoveredResourceCounts by account",
            "GetAggregateDiscoveredResourceCounts",
            json!({"ConfigurationAggregatorName": "org", "GroupByKey": "ACCOUNT_ID"}),
        ),
        (
            "SelectAggregateResourceConfig, type-pinned",
            "SelectAggregateResourceConfig",
            json!({"ConfigurationAggregatorName": "org", "Limit": 100,
                "Expression": format!("SELECT resourceId, accountId, configuration.groupName WHERE resourceType = '{sg}'")}),
        ),
    ];
    let counted = call(
        home.clone(),
        "GetAggregateDiscoveredResourceCounts",
        json!({"ConfigurationAggregatorName": "org"}),
    )
    .await?;
    let aggregated = counted["TotalDiscoveredResources"].as_u64().unwrap_or(0);
    let mut rows = vec![
        (
            "ingest".to_string(),
            format!("{total} items from {RECORDERS} recorders discovering at once: {ingest:.0} items/s into the aggregator's log (recorders committed in {discovered_secs:.1} s, all aggregated after {ingest_secs:.1} s; all on this machine: recorders, sinks and aggregator {ours_cores:.2} cores, nats-server {nats_cores:.2} cores)"),
            ">= 50K items/s",
        ),
        (
            "ingest, the aggregator alone".to_string(),
            format!("{in_stream} items read from the stream's start by a second aggregator while the recorders are idle: {alone:.0} items/s (aggregator {alone_cores:.2} cores, nats-server {alone_nats:.2} cores)"),
            ">= 50K items/s",
        ),
        (
            "lag".to_string(),
            format!("recorder commit → aggregator commit during {}% churn polls: p50 {lag50:.0} ms, p99 {lag99:.0} ms ({} samples)", a.churn() * 100.0, lags.len()),
            "p99 <= 2 s",
        ),
    ];
    for (name, op, body) in queries {
        let mut ms = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            call(home.clone(), op, body.clone()).await?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        rows.push((
            name.to_string(),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms at {aggregated} aggregated resources",
                pct(&mut ms.clone(), 0.5),
                pct(&mut ms, 0.99)
            ),
            "",
        ));
    }
    let _ = stop_tx.send(true);
    println!("\ndriftlog bench --aggregate, {RECORDERS} recorders × ~{per} resources\n");
    for (name, value, target) in &rows {
        println!(
            "{name:<50} {value}{}",
            if target.is_empty() {
                String::new()
            } else {
                format!("   [target {target}]")
            }
        );
    }
    if a.json_out() {
        let v: Vec<Value> = rows
            .iter()
            .map(|(n, v, t)| json!({"name": n, "value": v, "target": t}))
            .collect();
        println!("{}", Value::Array(v));
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
