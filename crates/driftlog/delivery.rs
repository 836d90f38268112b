//! Starts what the config file asks for next to the recorder: the delivery channel
//! (`[delivery]`), the config stream to the channel's SNS topic, and every `[[sinks]]`
//! entry, each sink a task with its own durable cursor.

use crate::config::{Config, SinkKind, SinkSection, CONFIG_STREAM_SINK};
use anyhow::{Context, Result};
use driftlog_log::Log;
use driftlog_model::Filter;
use driftlog_sinks::{
    run_sink, DeliveryChannel, DeliveryStore, NatsTransport, SinkBoard, SinkSpec, SinkStart,
    SnsTransport, Transport, WebhookTransport,
};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The delivery side of a process: the channel (if enabled) and the sinks' status.
#[derive(Default)]
pub struct Delivery {
    /// The delivery channel.
    pub channel: Option<Arc<DeliveryChannel>>,
    /// Status of the running sinks.
    pub board: SinkBoard,
}

/// Opens the delivery channel of the config (`None` when `delivery.enabled = false`).
///
/// # Errors
/// A directory, bucket, topic or credentials setting that cannot work, named.
pub async fn open_channel(cfg: &Config, log: &Arc<Log>) -> Result<Option<Arc<DeliveryChannel>>> {
    if !cfg.delivery.enabled {
        return Ok(None);
    }
    let ch = DeliveryChannel::open(log.clone(), cfg.delivery.channel(&cfg.data_dir))
        .await
        .context("[delivery] in the config file")?;
    Ok(Some(ch))
}

fn spawn<T: Transport>(
    log: &Arc<Log>,
    spec: SinkSpec,
    transport: T,
    oversize: Option<Arc<DeliveryStore>>,
    board: &SinkBoard,
    stop: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(run_sink(
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

/// Starts the channel's periodic deliveries and every sink; they stop when `stop` turns
/// true. Returns the handles to wait for.
///
/// # Errors
/// A sink that cannot be set up (a webhook secret variable that is not set, a bad topic).
pub async fn start(
    cfg: &Config,
    log: &Arc<Log>,
    stop: &watch::Receiver<bool>,
) -> Result<(Arc<Delivery>, Vec<JoinHandle<()>>)> {
    let channel = open_channel(cfg, log).await?;
    let board = SinkBoard::default();
    let oversize = channel.as_ref().map(|c| c.store().clone());
    let access = cfg.delivery.access();
    let mut tasks = Vec::new();
    if let Some(ch) = &channel {
        if let Some(topic) = &ch.settings().sns_topic_arn {
            // AWS Config's config stream: every change to the channel's topic.
            let t = SnsTransport::new(topic, &access)
                .await
                .map_err(anyhow::Error::msg)?;
            let spec = SinkSpec::new(CONFIG_STREAM_SINK, Filter::default());
            tasks.push(spawn(log, spec, t, oversize.clone(), &board, stop));
        }
        tasks.push(tokio::spawn(ch.clone().run(stop.clone())));
    }
    for s in &cfg.sinks {
        let spec = spec_of(s)?;
        let at = || format!("sinks {:?}", s.name);
        match s.kind {
            SinkKind::Webhook => {
                let secret = if s.secret_env.is_empty() {
                    eprintln!(
                        "driftlog: warning: sink {:?} sends unsigned webhooks; set secret_env to sign them",
                        s.name
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
                    .map_err(anyhow::Error::msg)
                    .with_context(at)?;
                tasks.push(spawn(log, spec, t, oversize.clone(), &board, stop));
            }
            SinkKind::Sns => {
                let t = SnsTransport::new(&s.topic_arn, &access)
                    .await
                    .map_err(anyhow::Error::msg)
                    .with_context(at)?;
                tasks.push(spawn(log, spec, t, oversize.clone(), &board, stop));
            }
            SinkKind::Nats => {
                let t = NatsTransport::new(&s.url, &s.stream, s.timeout)
                    .map_err(anyhow::Error::msg)
                    .with_context(at)?;
                tasks.push(spawn(log, spec, t, oversize.clone(), &board, stop));
            }
        }
    }
    Ok((Arc::new(Delivery { channel, board }), tasks))
}
