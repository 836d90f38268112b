//! Starts what the config file asks for next to the recorder: the delivery channel
//! (`[delivery]`), the config stream to the channel's SNS topic, and every `[[sinks]]`
//! entry, each sink a task with its own durable cursor.

use crate::config::{Config, SinkKind, SinkSection, CONFIG_STREAM_SINK};
use crate::error::{Context, Error, Result};
use driftlog_api::{ApiError, ChannelDef};
use driftlog_log::Log;
use driftlog_model::Filter;
use driftlog_sinks::{
    run_sink, ChannelSettings, DeliveryChannel, DeliveryStore, NatsTransport, SinkBoard, SinkSpec,
    SinkStart, SnapshotFrequency, SnsTransport, StoreLocation, Transport, WebhookTransport,
};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// The running channel's own stop switch and tasks (its periodic deliveries and the
/// config stream to its topic), so `PutDeliveryChannel` can replace it alone.
struct ChannelRun {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The delivery side of a process: the channel (if any) and the sinks' status.
pub struct Delivery {
    channel: RwLock<Option<Arc<DeliveryChannel>>>,
    /// Status of the running sinks.
    pub board: SinkBoard,
    run: tokio::sync::Mutex<Option<ChannelRun>>,
    cfg: Config,
    log: Arc<Log>,
    /// The server's stop switch and task tracker (none offline: nothing runs).
    running: Option<(watch::Receiver<bool>, TaskTracker)>,
}

impl Delivery {
    /// A channel opened for one command, not running (`driftlog deliver snapshot`).
    pub fn offline(cfg: &Config, log: &Arc<Log>, channel: Option<Arc<DeliveryChannel>>) -> Self {
        Self {
            channel: RwLock::new(channel),
            board: SinkBoard::default(),
            run: tokio::sync::Mutex::new(None),
            cfg: cfg.clone(),
            log: log.clone(),
            running: None,
        }
    }

    /// The channel now in use.
    pub fn channel(&self) -> Option<Arc<DeliveryChannel>> {
        self.channel.read().ok().and_then(|c| c.clone())
    }

    /// Stops the running channel's tasks and waits for them.
    pub async fn shutdown(&self) {
        let run = self.run.lock().await.take();
        if let Some(r) = run {
            let _ = r.stop.send(true);
            for t in r.tasks {
                let _ = t.await;
            }
        }
    }

    /// Starts the periodic deliveries and the config stream of `ch`, stopping with the
    /// process or when the channel is replaced.
    async fn start_channel(&self, ch: &Arc<DeliveryChannel>) -> Result<()> {
        let Some((process_stop, tracker)) = &self.running else {
            return Ok(());
        };
        let (tx, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(topic) = &ch.settings().sns_topic_arn {
            // AWS Config's config stream: every change to the channel's topic.
            let t = SnsTransport::new(topic, &self.cfg.delivery.access())
                .await
                .map_err(Error::invalid)?;
            let spec = SinkSpec::new(CONFIG_STREAM_SINK, Filter::default());
            tasks.push(spawn(
                tracker,
                &self.log,
                spec,
                t,
                Some(ch.store().clone()),
                &self.board,
                &rx,
            ));
        }
        tasks.push(tracker.spawn(ch.clone().run(rx)));
        // The process's stop stops this channel too; a replaced channel's stop ends this
        // forwarder with it.
        let mut ps = process_stop.clone();
        let fwd = tx.clone();
        tracker.spawn(async move {
            tokio::select! {
                _ = ps.wait_for(|s| *s) => {}
                () = fwd.closed() => {}
            }
            let _ = fwd.send(true);
        });
        *self.run.lock().await = Some(ChannelRun { stop: tx, tasks });
        Ok(())
    }
}

/// The local directory delivery writes to when no S3 bucket is configured.
fn local_root(cfg: &Config) -> PathBuf {
    let d = cfg.delivery.local_dir.trim();
    if d.is_empty() {
        cfg.data_dir.join("delivery")
    } else {
        PathBuf::from(d)
    }
}

/// True when delivery goes to S3 (a bucket or an S3 endpoint is configured), else to
/// local directories.
fn uses_s3(cfg: &Config) -> bool {
    !cfg.delivery.s3_bucket.trim().is_empty() || !cfg.delivery.endpoint_url.trim().is_empty()
}

/// The channel the config file defines, in the API's terms (the recorder's channel until
/// `PutDeliveryChannel` replaces it). Without S3 the "bucket" is the local directory.
pub fn config_channel(cfg: &Config) -> Option<ChannelDef> {
    if !cfg.delivery.enabled {
        return None;
    }
    let d = &cfg.delivery;
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    Some(ChannelDef {
        name: "default".into(),
        s3_bucket_name: opt(&d.s3_bucket).unwrap_or_else(|| local_root(cfg).display().to_string()),
        s3_key_prefix: opt(&d.s3_key_prefix),
        s3_kms_key_arn: opt(&d.s3_kms_key_arn),
        sns_topic_arn: opt(&d.sns_topic_arn),
        delivery_frequency: SnapshotFrequency::parse(&d.snapshot_frequency)
            .ok()
            .map(|f| f.as_str().to_string()),
    })
}

/// The channel settings of an API-defined channel: its bucket, prefix, key, topic and
/// frequency; credentials, endpoint, history period and file size from the config. Without
/// S3, a bucket name is a directory under `local_dir` (the config's own directory stays
/// itself).
pub fn channel_settings(cfg: &Config, def: &ChannelDef) -> ChannelSettings {
    let base = cfg.delivery.channel(&cfg.data_dir);
    let root = local_root(cfg);
    let location = if uses_s3(cfg) {
        StoreLocation::S3 {
            bucket: def.s3_bucket_name.clone(),
        }
    } else if def.s3_bucket_name == root.display().to_string() {
        StoreLocation::Local(root)
    } else {
        StoreLocation::Local(root.join(&def.s3_bucket_name))
    };
    ChannelSettings {
        name: def.name.clone(),
        location,
        prefix: def.s3_key_prefix.clone(),
        kms_key_arn: def.s3_kms_key_arn.clone(),
        sns_topic_arn: def.sns_topic_arn.clone(),
        snapshot_frequency: def
            .delivery_frequency
            .as_deref()
            .and_then(|f| SnapshotFrequency::parse(f).ok()),
        ..base
    }
}

/// Opens the delivery channel in use: the one set through the AWS Config API if any
/// (`PutDeliveryChannel`, kept in the store), else the config file's (`None` when there is
/// none).
///
/// # Errors
/// A directory, bucket, topic or credentials setting that cannot work, named.
pub async fn open_channel(cfg: &Config, log: &Arc<Log>) -> Result<Option<Arc<DeliveryChannel>>> {
    let (def, from_api) = match driftlog_api::stored_channel(log) {
        Some(def) => (def, true),
        None => (config_channel(cfg), false),
    };
    let Some(def) = def else {
        return Ok(None);
    };
    let ch = DeliveryChannel::open(log.clone(), channel_settings(cfg, &def))
        .await
        .with_context(|| {
            if from_api {
                format!(
                    "the delivery channel {:?} set through the AWS Config API",
                    def.name
                )
            } else {
                "[delivery] in the config file".to_string()
            }
        })?;
    Ok(Some(ch))
}

/// AWS's error for a channel whose bucket cannot be written.
fn channel_error(def: &ChannelDef, e: &driftlog_sinks::Error) -> ApiError {
    match driftlog_sinks::error_code(e).as_str() {
        "NoSuchBucket" => ApiError::new(
            "NoSuchBucketException",
            format!("Cannot find a S3 bucket with name {}.", def.s3_bucket_name),
        ),
        _ => ApiError::new(
            "InsufficientDeliveryPolicyException",
            format!(
                "Your Amazon S3 bucket policy does not allow driftlog to write to it ({}): {e}",
                def.s3_bucket_name
            ),
        ),
    }
}

#[async_trait::async_trait]
impl driftlog_api::DeliveryControl for Delivery {
    fn run_in_background(
        &self,
        job: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) {
        match &self.running {
            Some((_, tracker)) => {
                tracker.spawn(job);
            }
            None => {
                tokio::spawn(job);
            }
        }
    }

    fn channel(&self) -> Option<Arc<DeliveryChannel>> {
        Delivery::channel(self)
    }

    fn sinks(&self) -> Vec<driftlog_sinks::SinkStatus> {
        self.board.snapshot()
    }

    async fn apply(&self, def: Option<ChannelDef>) -> Result<(), ApiError> {
        let new = match &def {
            Some(def) => {
                let ch = DeliveryChannel::open(self.log.clone(), channel_settings(&self.cfg, def))
                    .await
                    .map_err(|e| channel_error(def, &e))?;
                // AWS writes its writability probe before accepting the channel.
                ch.check_writable()
                    .await
                    .map_err(|e| channel_error(def, &e))?;
                Some(ch)
            }
            None => None,
        };
        self.shutdown().await;
        if let Ok(mut c) = self.channel.write() {
            c.clone_from(&new);
        }
        if let Some(ch) = &new {
            self.start_channel(ch)
                .await
                .map_err(|e| ApiError::new("InvalidSNSTopicARNException", format!("{e:#}")))?;
        }
        Ok(())
    }
}

fn spawn<T: Transport>(
    tracker: &TaskTracker,
    log: &Arc<Log>,
    spec: SinkSpec,
    transport: T,
    oversize: Option<Arc<DeliveryStore>>,
    board: &SinkBoard,
    stop: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    tracker.spawn(run_sink(
        log.clone(),
        spec,
        transport,
        oversize,
        board.clone(),
        stop.clone(),
    ))
}

fn spec_of(s: &SinkSection) -> Result<SinkSpec> {
    Ok(SinkSpec {
        start: if s.start == "beginning" {
            SinkStart::Beginning
        } else {
            SinkStart::Now
        },
        batch: s.batch,
        ..SinkSpec::new(s.name.clone(), s.filter()?)
    })
}

/// Starts the channel's periodic deliveries and every sink on `tracker`; they stop when
/// `stop` turns true.
///
/// # Errors
/// A sink that cannot be set up (a webhook secret variable that is not set, a bad topic).
pub async fn start(
    cfg: &Config,
    log: &Arc<Log>,
    configured: driftlog_sinks::ConfiguredPairs,
    stop: &watch::Receiver<bool>,
    tracker: &TaskTracker,
) -> Result<Arc<Delivery>> {
    let channel = open_channel(cfg, log).await?;
    let delivery = Arc::new(Delivery {
        channel: RwLock::new(channel.clone()),
        board: SinkBoard::default(),
        run: tokio::sync::Mutex::new(None),
        cfg: cfg.clone(),
        log: log.clone(),
        running: Some((stop.clone(), tracker.clone())),
    });
    let board = delivery.board.clone();
    let oversize = channel.as_ref().map(|c| c.store().clone());
    let access = cfg.delivery.access();
    if let Some(ch) = &channel {
        delivery.start_channel(ch).await?;
    }
    for s in &cfg.sinks {
        let spec = spec_of(s)?;
        let at = || format!("sinks {:?}", s.name);
        match s.kind {
            SinkKind::Webhook => {
                let secret = if s.secret_env.is_empty() {
                    tracing::warn!(
                        sink = %s.name,
                        "Sink sends unsigned webhooks; set secret_env to sign them."
                    );
                    None
                } else {
                    Some(
                        std::env::var(&s.secret_env)
                            .with_context(|| {
                                format!(
                                    "{}: secret_env = {:?}, but that variable is not set",
                                    at(),
                                    s.secret_env
                                )
                            })?
                            .into_bytes(),
                    )
                };
                let t = WebhookTransport::new(&s.url, secret, s.timeout)
                    .map_err(Error::invalid)
                    .with_context(at)?;
                spawn(tracker, log, spec, t, oversize.clone(), &board, stop);
            }
            SinkKind::Sns => {
                let t = SnsTransport::new(&s.topic_arn, &access)
                    .await
                    .map_err(Error::invalid)
                    .with_context(at)?;
                spawn(tracker, log, spec, t, oversize.clone(), &board, stop);
            }
            SinkKind::Nats => {
                let t = NatsTransport::new(&s.url, &s.stream, s.timeout)
                    .map_err(Error::invalid)
                    .with_context(at)?
                    .with_connect(s.nats_auth().connect(&s.url, s.timeout, &at())?)
                    .with_publisher(&crate::recorder_id(cfg, log), log.id());
                let mut spec = spec;
                if s.format == "item" {
                    // Every item, from the log's beginning for a new sink: an aggregator
                    // needs each store's sequences from the first.
                    spec.format = driftlog_sinks::BodyFormat::Item;
                    spec.start = SinkStart::Beginning;
                    spec.batch = spec.batch.max(500);
                    // An aggregator that lost items asks for a snapshot, published through
                    // the sink's own transport so that it is ordered with the items.
                    let t = Arc::new(t);
                    tracker.spawn(driftlog_sinks::run_resync_responder(
                        log.clone(),
                        t.clone(),
                        configured.clone(),
                        stop.clone(),
                    ));
                    spawn(tracker, log, spec, t, oversize.clone(), &board, stop);
                    continue;
                }
                spawn(tracker, log, spec, t, oversize.clone(), &board, stop);
            }
        }
    }
    Ok(delivery)
}
