//! `serve`: builds the services once, runs every task on one tracker, and returns only when
//! all of them have ended.

use crate::config::{Config, SourceKind};
use crate::error::{Context, Error, Result};
use crate::services::Services;
use crate::stop::wait_stop;
use driftlog_log::{Log, LogOptions};
use driftlog_poll::{SharedFeed, SimEventFeed, SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::SimConfig;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// Ticks the simulated estate has made in this store (written as decimal text before
/// namespaces, which JSON reads as the same number).
const SIM_TICKS: driftlog_log::Namespace<u64> = driftlog_log::Namespace::new("sim_ticks", 1);
/// The simulated estate's settings those ticks belong to.
const SIM_CONFIG: driftlog_log::Namespace<Vec<u8>, driftlog_log::namespace::Bytes> =
    driftlog_log::Namespace::new("sim_config", 1);

/// What `serve` listens on, bound by the caller (tests bind `127.0.0.1:0`; the binary binds
/// the configured address and the data dir's socket).
#[derive(Default)]
pub struct Listeners {
    /// The AWS Config API, with gRPC, `/v1/changes` and `/metrics` on the same port.
    pub api: Option<TcpListener>,
    /// The query socket the CLI talks to (`driftlog status`, `tail`, …).
    pub query: Option<UnixListener>,
}

/// The query socket of a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("driftlog.sock")
}

/// Opens the store with the configured cache and reserve.
///
/// # Errors
/// The data dir cannot be made, or the store cannot be opened (named, with why).
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

/// This recorder's stable id: `[recorder] id`, or its store's id.
pub fn recorder_id(cfg: &Config, log: &Log) -> String {
    if cfg.recorder.id.is_empty() {
        log.id().to_string()
    } else {
        cfg.recorder.id.clone()
    }
}

/// The simulated estate, how often it changes, the ticks it has made so far, and where its
/// CloudTrail events go.
type SimClock = (SimSource, Duration, u64, Option<Arc<SimEventFeed>>);

/// Builds the simulated estate, replaying the ticks an earlier run of this store made.
fn start_sim(cfg: &Config, log: &Log) -> Result<(SimSource, u64)> {
    let s = &cfg.source.sim;
    let t0 = std::time::Instant::now();
    let sim = SimSource::new(SimConfig {
        seed: s.seed,
        accounts: s.accounts,
        first_account: s.first_account,
        regions: s.regions.clone(),
        resources: s.resources,
        churn: s.churn,
        ..SimConfig::default()
    });
    // The sim is deterministic per tick: replay the ticks an earlier run of this store made,
    // so a restarted `serve` continues the same estate instead of recording the whole
    // estate jumping back to its first state. A different sim config starts afresh.
    let mut fingerprint = format!(
        "{}|{}|{:?}|{}|{}",
        s.seed, s.accounts, s.regions, s.resources, s.churn
    );
    if s.first_account != 1 {
        fingerprint.push_str(&format!("|{}", s.first_account));
    }
    let ticks_done = match (SIM_TICKS.get(log, ""), SIM_CONFIG.get(log, "")?) {
        (Ok(Some(t)), Some(c)) if c == fingerprint.as_bytes() => t,
        _ => 0,
    };
    if ticks_done > 0 {
        tracing::info!("Replaying {ticks_done} ticks of the simulated estate from the last run.");
        let mut estate = sim.estate();
        for _ in 0..ticks_done {
            estate.tick();
        }
    }
    // A store that refuses these (a full disk) refuses the first commit too, which the
    // status then reports; the server still starts and serves what was recorded.
    if let Err(e) = SIM_CONFIG
        .put(log, "", &fingerprint.into_bytes())
        .and_then(|()| SIM_TICKS.put(log, "", &ticks_done))
        .and_then(|()| log.flush())
    {
        tracing::warn!(error = %e, "The simulated estate's clock was not saved.");
    }
    tracing::info!(
        "Simulated estate of {} resources (seed {}) built in {:.1}s; data in {}",
        sim.estate().len(),
        s.seed,
        t0.elapsed().as_secs_f64(),
        cfg.data_dir.display()
    );
    Ok((sim, ticks_done))
}

/// Connects the configured source.
async fn open_source(
    cfg: &Config,
    log: &Log,
) -> Result<(Arc<dyn Source>, Option<SimClock>, Option<SharedFeed>)> {
    if cfg.aggregator.enabled {
        // The aggregator's source is the stream: nothing to poll.
        return Ok((Arc::new(driftlog_aggregate::StreamSource), None, None));
    }
    Ok(match cfg.source.kind {
        SourceKind::Sim => {
            let (sim, ticks_done) = start_sim(cfg, log)?;
            let feed = cfg.source.sim.events.then(|| {
                Arc::new(SimEventFeed::new(
                    cfg.source.sim.seed,
                    Duration::from_secs(1),
                ))
            });
            (
                Arc::new(sim.clone()),
                Some((sim, cfg.source.sim.tick_interval, ticks_done, feed.clone())),
                feed.map(|f| f as SharedFeed),
            )
        }
        SourceKind::Aws => {
            let t0 = std::time::Instant::now();
            let aws = driftlog_aws::AwsSource::connect(&cfg.source.aws.settings())
                .await
                .context("connecting to AWS ([source.aws] in the config file)")?;
            tracing::info!(
                "Recording AWS account(s) {} — {} scopes (account, region, type), connected in {:.1}s; data in {}",
                aws.accounts().join(", "),
                aws.scopes().len(),
                t0.elapsed().as_secs_f64(),
                cfg.data_dir.display()
            );
            let events = &cfg.source.aws.events;
            let feed: Option<SharedFeed> = if events.enabled() {
                let feed = driftlog_aws::SqsEventFeed::connect(
                    &cfg.source.aws.settings(),
                    &events.settings(),
                )
                .await
                .context(
                    "connecting to the event queues ([source.aws.events] in the config file)",
                )?;
                tracing::info!(
                    "Reading CloudTrail events from {}",
                    feed.queues().join(", ")
                );
                Some(Arc::new(feed))
            } else {
                None
            };
            (Arc::new(aws), None, feed)
        }
    })
}

impl Services {
    /// Builds every service once: the store, the source and its recorder, the delivery
    /// channel and sinks (started on `tracker`), the AWS Config API's control plane (applied
    /// to the recorder before its first poll) and the rules engine.
    async fn open(
        cfg: &Config,
        api_address: Option<std::net::SocketAddr>,
        stop: &watch::Receiver<bool>,
        tracker: &TaskTracker,
    ) -> Result<(Arc<Services>, Option<SimClock>, Option<SharedFeed>)> {
        let log = open_log(cfg)?;
        let (source, sim_clock, feed) = open_source(cfg, &log).await?;
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
        // What a resync's snapshot covers: every pair the recorder is set to record.
        let configured: driftlog_sinks::ConfiguredPairs = {
            let recorder = recorder.clone();
            Arc::new(move || {
                recorder
                    .scopes()
                    .into_iter()
                    .map(|s| (s.account, s.region))
                    .collect()
            })
        };
        let delivery = crate::delivery::start(cfg, &log, configured, stop, tracker).await?;
        if let Some(ch) = &delivery.channel() {
            let s = ch.settings();
            tracing::info!(
                "Delivering history every {:?} and snapshots {} to {}{}{}; `driftlog sinks` shows delivery",
                s.history_period,
                s.snapshot_frequency.map_or("on demand".to_string(), |f| format!("every {}", f.as_str())),
                ch.store().bucket(),
                s.prefix.as_deref().map(|p| format!("/{p}")).unwrap_or_default(),
                s.sns_topic_arn.as_deref().map(|t| format!(", config stream to {t}")).unwrap_or_default(),
            );
        }
        if !cfg.sinks.is_empty() {
            tracing::info!(
                "{} sink(s): {}",
                cfg.sinks.len(),
                cfg.sinks
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // The AWS Config API applies the recorder state it keeps (recording on or off, the
        // recording group) before the first poll.
        let api = crate::http::open_api(cfg, &log, &recorder, &delivery)?;
        // Rules judge every change from the log; the API serves them from the start.
        let (account, region) = crate::http::home(cfg, &log, &recorder);
        let rules = driftlog_compliance::Engine::open(
            log.clone(),
            Some(recorder.clone()),
            crate::http::rules_settings(cfg, account, region),
        )
        .context("opening the rules in the store")?;
        api.set_rules(rules.clone());
        {
            let delivery = delivery.clone();
            rules.set_notifier(Arc::new(move |subject: &str, body: &serde_json::Value| {
                if let Some(ch) = delivery.channel() {
                    ch.notify(subject, body);
                }
            }));
        }
        if !rules.rules().is_empty() {
            tracing::info!(
                "{} config rule(s) judging changes; `driftlog compliance` shows them",
                rules.rules().len()
            );
        }
        let aggregator = cfg
            .aggregator
            .enabled
            .then(|| Arc::new(driftlog_aggregate::AggregatorStatus::default()));
        if let Some(a) = &aggregator {
            api.set_aggregator(a.clone(), cfg.aggregator.outdated_after);
        }
        // Organization aggregators read AWS Organizations with delivery's credentials and
        // endpoint, through their own role.
        api.set_organization_access(driftlog_sinks::AwsAccess {
            role_arn: None,
            ..cfg.delivery.access()
        });
        let services = Arc::new(Services {
            log,
            recorder,
            delivery,
            api,
            rules,
            api_address,
            aggregator,
        });
        Ok((services, sim_clock, feed))
    }
}

/// Runs the recorder, the rules, delivery, the API and the query socket until `shutdown`
/// completes (or recording ends on its own), then stops every task and returns once all
/// have ended and the store is flushed.
///
/// Recording that stopped on its own (a full disk) does not end the server while it runs:
/// reads go on; at shutdown `serve` returns the failure so a supervisor knows.
///
/// # Errors
/// A service that cannot start (the store, the source, a sink, the API settings, named), a
/// recording failure, or a flush that failed at shutdown.
pub async fn serve(
    cfg: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let tracker = TaskTracker::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let api_address = listeners.api.as_ref().and_then(|l| l.local_addr().ok());
    let opened = Services::open(&cfg, api_address, &stop_rx, &tracker).await;
    let (services, sim_clock, feed) = match opened {
        Ok(o) => o,
        Err(e) => {
            // What started before the failure (sinks, the channel) stops with it.
            let _ = stop_tx.send(true);
            tracker.close();
            tracker.wait().await;
            return Err(e);
        }
    };
    let log = services.log.clone();
    let recorder = services.recorder.clone();

    // The simulated estate changes on its own clock.
    if let Some((sim, every, ticks_done, sim_feed)) = sim_clock {
        tracker.spawn(tick_sim(
            sim,
            every,
            ticks_done,
            sim_feed,
            log.clone(),
            stop_rx.clone(),
        ));
    }
    // CloudTrail events drive targeted describes; polls stay the safety net.
    if let Some(feed) = feed {
        tracing::info!(
            "Recording changes from {} CloudTrail events as they arrive; polls every {:?} catch what events miss",
            feed.name(),
            cfg.recorder.interval
        );
        tracker.spawn(driftlog_recorder::run_events(
            recorder.clone(),
            feed,
            cfg.recorder.events(),
            wait_stop(stop_rx.clone()),
        ));
    }
    if let Some(status) = &services.aggregator {
        let a = &cfg.aggregator;
        let connect = a.nats_auth().connect(&a.url, a.timeout, "aggregator")?;
        tracing::info!(
            "Aggregating the recorders that publish to {} stream {} (consumer {}); no polls",
            a.url,
            a.stream,
            a.consumer
        );
        let connector: driftlog_aggregate::Connector = Arc::new(move || {
            let c = connect.clone();
            Box::pin(async move { c.connect().await })
        });
        // Results of the aggregator's own (org-wide) rules are recorded here, not received:
        // no source's resync deletes them.
        let rules = services.rules.clone();
        let settings = driftlog_aggregate::AggregatorSettings {
            own_rules: driftlog_aggregate::OwnRules::new(move |name| {
                rules.rule(name).is_some()
                    || rules.deleting_rules().iter().any(|r| r.rule.name == name)
            }),
            ..a.settings()
        };
        tracker.spawn(driftlog_aggregate::run_aggregator(
            recorder.clone(),
            connector,
            settings,
            status.clone(),
            stop_rx.clone(),
        ));
    }
    for s in cfg.sinks.iter().filter(|s| s.format == "item") {
        let connect = s
            .nats_auth()
            .connect(&s.url, s.timeout, &format!("sinks {:?}", s.name))?;
        tracker.spawn(driftlog_sinks::run_heartbeats(
            connect,
            driftlog_deliver::heartbeat_subject(&recorder_id(&cfg, &log)),
            s.heartbeat,
            heartbeat_maker(&cfg, &recorder, s),
            stop_rx.clone(),
        ));
    }
    tracker.spawn(refresh_organizations(
        services.api.clone(),
        cfg.aggregator.organization_refresh,
        stop_rx.clone(),
    ));
    tracker.spawn(log_rules_end(services.rules.clone().run(stop_rx.clone())));
    if let Some(listener) = listeners.api {
        crate::http::serve(
            log.clone(),
            services.api.clone(),
            listener,
            &stop_rx,
            &tracker,
        )?;
    }
    if let Some(listener) = listeners.query {
        tracing::info!(
            "Recording; query socket open — try `driftlog tail`, `driftlog status` in another terminal; Ctrl-C stops"
        );
        tracker.spawn(crate::socket::accept(
            listener,
            services.clone(),
            stop_rx.clone(),
            tracker.clone(),
        ));
    }
    tracker.spawn(progress(services.clone(), stop_rx.clone()));
    let rec = tracker.spawn(recorder.clone().run(wait_stop(stop_rx.clone())));

    tokio::pin!(rec);
    let result = tokio::select! {
        () = shutdown => {
            tracing::info!("Stopping (finishing the commit in progress, flushing the log).");
            let _ = stop_tx.send(true);
            (&mut rec).await
        }
        r = &mut rec => r,
    };
    let _ = stop_tx.send(true);
    services.delivery.shutdown().await;
    tracker.close();
    tracker.wait().await;
    let flushed = log.flush();
    if log.is_poisoned() {
        // sled's own flush when the store is dropped waits forever after its I/O error:
        // leave the store undropped (what it did not flush was never acknowledged).
        std::mem::forget(log.clone());
    }
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => return Err(e.into()),
    }
    // Recording that stopped on its own ends the server with an error, so a supervisor
    // knows; it did not end the server while it ran.
    if let Some(f) = recorder.failure() {
        return Err(Error::Failed {
            context: format!(
                "recording had stopped at {}",
                driftlog_model::time::iso_ms(f.since_ms)
            ),
            cause: format!("{}; {}", f.message, f.remedy()).into(),
        });
    }
    flushed.context("flushing the store at shutdown")?;
    Ok(())
}

/// What a recorder's heartbeat says, made fresh each time.
fn heartbeat_maker(
    cfg: &Config,
    recorder: &Arc<Recorder>,
    sink: &crate::config::SinkSection,
) -> impl Fn() -> Vec<u8> + Send + 'static {
    let recorder = recorder.clone();
    let id = recorder_id(cfg, recorder.log());
    let cursor = driftlog_sinks::cursor_name(&sink.name);
    let every = sink.heartbeat;
    move || {
        let log = recorder.log();
        driftlog_deliver::Heartbeat {
            recorder: id.clone(),
            log: log.id().to_string(),
            time_ms: driftlog_model::time::now_ms(),
            interval_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            watermark: log.watermark(),
            published: log.cursor(&cursor).ok().flatten().unwrap_or(0),
            recording: recorder.is_recording(),
            scopes: recorder
                .status()
                .snapshot()
                .into_iter()
                .map(|s| driftlog_deliver::ScopeBeat {
                    account: s.account,
                    region: s.region,
                    resource_type: s.resource_type,
                    last_success_ms: s.last_success_ms,
                    last_attempt_ms: s.last_attempt_ms,
                    last_error_code: s.last_error_code,
                    last_error_message: s.last_error_message,
                })
                .collect(),
        }
        .to_bytes()
    }
}

/// Follows the organizations of organization aggregators, reading them `every` so often,
/// until `stop` turns true.
async fn refresh_organizations(
    api: Arc<driftlog_api::ConfigApi>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(every.max(Duration::from_secs(1)));
    // The first tick is at once: an aggregator's accounts were read when it was put.
    every.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => {}
            _ = every.tick() => {}
        }
        if *stop.borrow() {
            break;
        }
        api.refresh_organization_aggregators().await;
    }
}

async fn log_rules_end(run: impl Future<Output = Result<(), driftlog_compliance::EngineError>>) {
    if let Err(e) = run.await {
        tracing::warn!(error = %e, "Rules engine stopped with an error.");
    }
}

/// The simulated estate's clock: one tick every `every`, the count kept in the store.
async fn tick_sim(
    sim: SimSource,
    every: Duration,
    ticks_done: u64,
    feed: Option<Arc<SimEventFeed>>,
    log: Arc<Log>,
    stop: watch::Receiver<bool>,
) {
    let stop = wait_stop(stop);
    tokio::pin!(stop);
    let mut iv = tokio::time::interval(every);
    iv.tick().await;
    let mut done = ticks_done;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = iv.tick() => {
                let changes = sim.estate().tick();
                if let Some(feed) = &feed {
                    // What CloudTrail would have sent for these changes, as they happen
                    // (ticks replayed at start emit nothing: they were recorded before).
                    feed.publish(&changes, driftlog_model::time::now_ms());
                }
                done += 1;
                // Flushed with the next commit; losing the last few on a crash only means
                // the estate resumes a few ticks back.
                SIM_TICKS.put_or_count(&log, "", &done);
            }
        }
    }
}

/// A progress line every 2 s while something changes: discovery, items, failing scopes.
async fn progress(s: Arc<Services>, stop: watch::Receiver<bool>) {
    let stop = wait_stop(stop);
    tokio::pin!(stop);
    let mut iv = tokio::time::interval(Duration::from_secs(2));
    let mut last = (u64::MAX, 0);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = iv.tick() => {}
        }
        let st = s.recorder.status().snapshot();
        let total = s.recorder.scopes().len();
        let done = st.iter().filter(|s| s.last_success_ms.is_some()).count();
        let failing = st.iter().filter(|s| s.last_error_code.is_some()).count();
        let now = (s.log.watermark(), failing);
        if now == last {
            continue;
        }
        last = now;
        let resources = s.log.state().live_count();
        let phase = if done < total {
            format!("first discovery {done}/{total} scopes")
        } else {
            format!("{total} scopes")
        };
        tracing::info!(
            "{phase}, {resources} resources, {} items logged, {failing} scopes failing",
            s.log.watermark()
        );
    }
}
