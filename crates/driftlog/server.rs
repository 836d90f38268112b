//! `driftlog serve`: the recorder on its source, plus a local query socket so that `tail`,
//! `history`, `status`... work while it holds the store.

use crate::api::{execute, item_answer, Backend, Request, TailFrom};
use crate::config::{Config, SourceKind};
use anyhow::{Context, Result};
use driftlog_log::{Log, LogOptions};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::SimConfig;
use driftlog_subscribe::{subscribe, Start};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::StreamExt;

/// Side records of the simulated source in the store: ticks made, and the config they
/// belong to.
const SIM_TICKS: &str = "sim_ticks";
const SIM_CONFIG: &str = "sim_config";

/// The query socket of a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("driftlog.sock")
}

/// Opens the store with the configured cache.
pub fn open_log(cfg: &Config) -> Result<Arc<Log>> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let log = Log::open(
        cfg.data_dir.join("store"),
        LogOptions {
            cache_bytes: cfg.store.cache_mb << 20,
            reserve_bytes: cfg.store.reserve_mb << 20,
            ..LogOptions::default()
        },
    )?;
    Ok(Arc::new(log))
}

/// The simulated estate, how often it changes, and the ticks it has made so far.
type SimClock = (SimSource, Duration, u64);

/// Builds the simulated estate, replaying the ticks an earlier run of this store made.
fn start_sim(cfg: &Config, log: &Log) -> Result<(SimSource, u64)> {
    let s = &cfg.source.sim;
    let t0 = std::time::Instant::now();
    let sim = SimSource::new(SimConfig {
        seed: s.seed,
        accounts: s.accounts,
        regions: s.regions.clone(),
        resources: s.resources,
        churn: s.churn,
        ..SimConfig::default()
    });
    // The sim is deterministic per tick: replay the ticks an earlier run of this store made,
    // so a restarted `serve` continues the same estate instead of recording the whole
    // estate jumping back to its first state. A different sim config starts afresh.
    let fingerprint = format!(
        "{}|{}|{:?}|{}|{}",
        s.seed, s.accounts, s.regions, s.resources, s.churn
    );
    let ticks_done = match (log.get_kv(SIM_TICKS)?, log.get_kv(SIM_CONFIG)?) {
        (Some(t), Some(c)) if c == fingerprint.as_bytes() => {
            String::from_utf8_lossy(&t).parse::<u64>().unwrap_or(0)
        }
        _ => 0,
    };
    if ticks_done > 0 {
        eprintln!(
            "driftlog: replaying {ticks_done} ticks of the simulated estate from the last run"
        );
        let mut estate = sim.estate();
        for _ in 0..ticks_done {
            estate.tick();
        }
    }
    // A store that refuses these (a full disk) refuses the first commit too, which the
    // status then reports; the server still starts and serves what was recorded.
    if let Err(e) = log
        .put_kv(SIM_CONFIG, fingerprint.as_bytes())
        .and_then(|()| log.put_kv(SIM_TICKS, ticks_done.to_string().as_bytes()))
        .and_then(|()| log.flush())
    {
        tracing::warn!(error = %e, "The simulated estate's clock was not saved.");
    }
    let n = sim.estate().len();
    eprintln!(
        "driftlog: simulated estate of {n} resources (seed {}) built in {:.1}s; data in {}",
        s.seed,
        t0.elapsed().as_secs_f64(),
        cfg.data_dir.display()
    );
    Ok((sim, ticks_done))
}

/// Runs the recorder and the query socket until Ctrl-C.
pub async fn serve(cfg: Config, quiet: bool, listen_required: bool) -> Result<()> {
    let log = open_log(&cfg)?;
    let (source, sim_clock): (Arc<dyn Source>, Option<SimClock>) = match cfg.source.kind {
        SourceKind::Sim => {
            let (sim, ticks_done) = start_sim(&cfg, &log)?;
            (
                Arc::new(sim.clone()),
                Some((sim, cfg.source.sim.tick_interval, ticks_done)),
            )
        }
        SourceKind::Aws => {
            let t0 = std::time::Instant::now();
            let aws = driftlog_aws::AwsSource::connect(&cfg.source.aws.settings())
                .await
                .context("connecting to AWS ([source.aws] in the config file)")?;
            eprintln!(
                    "driftlog: recording AWS account(s) {} — {} scopes (account, region, type), connected in {:.1}s; data in {}",
                    aws.accounts().join(", "),
                    aws.scopes().len(),
                    t0.elapsed().as_secs_f64(),
                    cfg.data_dir.display()
                );
            (Arc::new(aws), None)
        }
    };
    let recorder = Recorder::new(
        log.clone(),
        source,
        RecorderConfig {
            scheduler: cfg.recorder.scheduler(),
            group: cfg.group(),
            recheck_related: cfg.recorder.recheck_related,
            start_recording: cfg.recorder.start,
            mode: cfg.recorder.mode(),
            ..RecorderConfig::default()
        },
    );

    let sock = socket_path(&cfg.data_dir);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("binding query socket {}", sock.display()))?;
    eprintln!(
        "driftlog: recording; query socket {} — try `driftlog tail`, `driftlog status` in another terminal; Ctrl-C stops",
        sock.display()
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let (delivery, delivery_tasks) = crate::delivery::start(&cfg, &log, &stop_rx).await?;
    if let Some(ch) = &delivery.channel() {
        let s = ch.settings();
        eprintln!(
            "driftlog: delivering history every {:?} and snapshots {} to {}{}{}; `driftlog sinks` shows delivery",
            s.history_period,
            s.snapshot_frequency.map_or("on demand".to_string(), |f| format!("every {}", f.as_str())),
            ch.store().bucket(),
            s.prefix.as_deref().map(|p| format!("/{p}")).unwrap_or_default(),
            s.sns_topic_arn.as_deref().map(|t| format!(", config stream to {t}")).unwrap_or_default(),
        );
    }
    if !cfg.sinks.is_empty() {
        eprintln!(
            "driftlog: {} sink(s): {}",
            cfg.sinks.len(),
            cfg.sinks
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // The simulated estate changes on its own clock.
    let ticker = sim_clock.map(|(sim, every, ticks_done)| {
        let stop = wait_stop(stop_rx.clone());
        let log = log.clone();
        tokio::spawn(async move {
            tokio::pin!(stop);
            let mut iv = tokio::time::interval(every);
            iv.tick().await;
            let mut done = ticks_done;
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = iv.tick() => {
                        sim.estate().tick();
                        done += 1;
                        // Flushed with the next commit; losing the last few on a crash only
                        // means the estate resumes a few ticks back.
                        let _ = log.put_kv(SIM_TICKS, done.to_string().as_bytes());
                    }
                }
            }
        })
    });

    // The AWS Config API applies the recorder state it keeps (recording on or off, the
    // recording group) before the first poll.
    let api = crate::http::open_api(&cfg, &log, &recorder, &delivery)?;
    // Rules judge every change from the log; the API serves them from the start.
    let (account, region) = crate::http::home(&cfg, &log, &recorder);
    let engine = driftlog_compliance::Engine::open(
        log.clone(),
        Some(recorder.clone()),
        crate::http::rules_settings(&cfg, account, region),
    )
    .context("opening the rules in the store")?;
    api.set_rules(engine.clone());
    {
        let delivery = delivery.clone();
        engine.set_notifier(Arc::new(move |subject: &str, body: &serde_json::Value| {
            if let Some(ch) = delivery.channel() {
                ch.notify(subject, body);
            }
        }));
    }
    if !engine.rules().is_empty() {
        eprintln!(
            "driftlog: {} config rule(s) judging changes; `driftlog compliance` shows them",
            engine.rules().len()
        );
    }
    let rules_task = tokio::spawn(engine.clone().run(stop_rx.clone()));
    let http_task = match cfg.api.address()? {
        Some(addr) => {
            crate::http::serve(log.clone(), api.clone(), addr, &stop_rx, listen_required).await?
        }
        None => None,
    };

    let rec_task = tokio::spawn(recorder.clone().run(wait_stop(stop_rx.clone())));

    let progress = {
        let recorder = recorder.clone();
        let log = log.clone();
        let stop = wait_stop(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(stop);
            let mut iv = tokio::time::interval(Duration::from_secs(2));
            let mut last = (u64::MAX, 0);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = iv.tick() => {}
                }
                let st = recorder.status().snapshot();
                let total = recorder.scopes().len();
                let done = st.iter().filter(|s| s.last_success_ms.is_some()).count();
                let failing = st.iter().filter(|s| s.last_error_code.is_some()).count();
                let now = (log.watermark(), failing);
                if quiet || now == last {
                    continue;
                }
                last = now;
                let resources = log.state().live_count();
                let phase = if done < total {
                    format!("first discovery {done}/{total} scopes")
                } else {
                    format!("{total} scopes")
                };
                eprintln!(
                    "driftlog: {phase}, {resources} resources, {} items logged, {failing} scopes failing",
                    log.watermark()
                );
            }
        })
    };

    let delivery_ref = delivery.clone();
    let recorder_ref = recorder.clone();
    let backend = Arc::new(Backend {
        log: log.clone(),
        recorder: Some(recorder.clone()),
        delivery: Some(delivery),
        api: Some(api),
        rules: Some(engine),
    });
    let accept = {
        let stop = wait_stop(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    c = listener.accept() => {
                        if let Ok((stream, _)) = c {
                            let b = backend.clone();
                            tokio::spawn(async move {
                                if let Err(e) = handle(b, stream).await {
                                    tracing::debug!(error = %e, "Query connection ended.");
                                }
                            });
                        }
                    }
                }
            }
        })
    };

    let mut rec_done = Box::pin(wait_rec(rec_task));
    let result = tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            eprintln!("driftlog: stopping (finishing the commit in progress, flushing the log)");
            let _ = stop_tx.send(true);
            rec_done.await
        }
        r = &mut rec_done => r,
    };
    let _ = stop_tx.send(true);
    if let Some(t) = ticker {
        let _ = t.await;
    }
    let _ = progress.await;
    let _ = accept.await;
    match rules_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "Rules engine stopped with an error."),
        Err(e) => tracing::warn!(error = %e, "Rules engine task failed."),
        Ok(Ok(())) => {}
    }
    if let Some(t) = http_task {
        let _ = t.await;
    }
    delivery_ref.shutdown().await;
    for t in delivery_tasks {
        let _ = t.await;
    }
    let flushed = log.flush();
    if log.is_poisoned() {
        // sled's own flush when the store is dropped waits forever after its I/O error:
        // leave the store undropped (what it did not flush was never acknowledged).
        std::mem::forget(log.clone());
    }
    let _ = std::fs::remove_file(&sock);
    let _ = std::io::stderr().flush();
    result?;
    // Recording that stopped on its own ends the process with an error, so a supervisor
    // knows; it did not end the server while it ran.
    if let Some(f) = recorder_ref.failure() {
        anyhow::bail!(
            "recording had stopped at {}: {}; {}",
            driftlog_model::time::iso_ms(f.since_ms),
            f.message,
            f.remedy()
        );
    }
    flushed.context("flushing the store at shutdown")?;
    Ok(())
}

async fn wait_rec(t: tokio::task::JoinHandle<driftlog_recorder::Result<()>>) -> Result<()> {
    match t.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(anyhow::anyhow!("recorder task: {e}")),
    }
}

/// One query connection: a JSON request line, NDJSON answer lines; for a durable tail, the
/// client sends `ack <seq>` lines back after it has handled each item.
async fn handle(b: Arc<Backend>, stream: UnixStream) -> Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    // One request line, at most 1 MiB, within 30 s: a stray client cannot pin a task.
    let mut first = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        (&mut reader).take(1 << 20).read_until(b'\n', &mut first),
    )
    .await;
    if !matches!(read, Ok(Ok(n)) if n > 0 && first.ends_with(b"\n")) {
        let msg =
            json!({"error": "bad request: expected one JSON line (at most 1 MiB) within 30 s"});
        let _ = wr.write_all((msg.to_string() + "\n").as_bytes()).await;
        return Ok(());
    }
    let line = String::from_utf8_lossy(&first).into_owned();
    let mut lines = reader.lines();
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let msg = json!({"error": format!("bad request: {e}")}).to_string() + "\n";
            wr.write_all(msg.as_bytes()).await?;
            return Ok(());
        }
    };
    if let Request::Tail {
        filter,
        from,
        durable,
        limit,
    } = req
    {
        let filter = match filter.to_filter() {
            Ok(f) => f,
            Err(e) => {
                let msg = json!({"error": crate::report(&e)}).to_string() + "\n";
                wr.write_all(msg.as_bytes()).await?;
                return Ok(());
            }
        };
        let durable_name = durable.clone();
        let start = tail_start(from, durable);
        let sub = match subscribe(b.log.clone(), filter, start) {
            Ok(s) => s,
            Err(e) => {
                let msg = json!({"error": e.to_string()}).to_string() + "\n";
                wr.write_all(msg.as_bytes()).await?;
                return Ok(());
            }
        };
        let driftlog_subscribe::Subscription { mut stream, .. } = sub;
        let acker = DurableAcker {
            log: b.log.clone(),
            name: durable_name,
        };
        let mut sent = 0u64;
        loop {
            tokio::select! {
                // Acks first: what the client has handled is stored before more is sent.
                biased;
                l = lines.next_line() => match l? {
                    Some(l) => acker.ack_line(&l)?,
                    None => return Ok(()), // Client left.
                },
                item = stream.next() => {
                    let Some(item) = item else { break };
                    let (mut line, is_err) = match item.map_err(anyhow::Error::from).and_then(|ci| item_answer(&ci)?.into_line()) {
                        Ok(line) => (line, false),
                        Err(e) => (json!({"error": crate::report(&e)}).to_string().into_bytes(), true),
                    };
                    line.push(b'\n');
                    if wr.write_all(&line).await.is_err() {
                        break; // Client gone: still read the acks it sent.
                    }
                    sent += 1;
                    if is_err || limit.is_some_and(|l| sent >= l) { break }
                }
            }
        }
        let _ = wr.shutdown().await;
        // Read the remaining acks until the client closes.
        while let Ok(Some(l)) = lines.next_line().await {
            acker.ack_line(&l)?;
        }
        return Ok(());
    }
    // Answer from a blocking thread writing straight to the socket: a slow reader slows
    // the answer down instead of making us buffer it (an inventory can be millions of lines).
    let stream = lines.into_inner().into_inner().reunite(wr)?.into_std()?;
    stream.set_nonblocking(false)?;
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut w = std::io::BufWriter::new(stream);
        let mut broken = false;
        let r = rt.block_on(execute(&b, req, &mut |a| {
            broken = match a.into_line() {
                Ok(line) => w
                    .write_all(&line)
                    .and_then(|()| w.write_all(b"\n"))
                    .is_err(),
                Err(_) => false,
            };
            !broken
        }));
        if let Err(e) = r {
            writeln!(w, "{}", json!({"error": crate::report(&e)}))?;
        }
        w.flush()?;
        Ok(())
    })
    .await??;
    Ok(())
}

struct DurableAcker {
    log: Arc<Log>,
    name: Option<String>,
}

impl DurableAcker {
    fn ack_line(&self, line: &str) -> Result<()> {
        if let (Some(name), Some(seq)) = (&self.name, line.strip_prefix("ack ")) {
            let seq: u64 = seq.trim().parse().context("bad ack line")?;
            // Never past what was published: an ack from the future would skip items.
            self.log.set_cursor(name, seq.min(self.log.watermark()))?;
        }
        Ok(())
    }
}

/// The subscription start of a tail request.
pub fn tail_start(from: TailFrom, durable: Option<String>) -> Start {
    let initial = match from {
        TailFrom::Now => Start::Now,
        TailFrom::Seq(s) => Start::After(s),
        TailFrom::Time(t) => Start::Time(t),
    };
    match durable {
        Some(name) => Start::Durable {
            name,
            initial: Box::new(initial),
        },
        None => initial,
    }
}
