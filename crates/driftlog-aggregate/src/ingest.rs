//! The ingest loop: a durable pull consumer on the stream, each fetched batch read
//! ([`parse_message`]), judged against the sources' positions ([`Positions::judge`]),
//! recorded in rounds through [`Recorder::record_received`] with the positions as the
//! batch's tag, and acknowledged only after that. Heartbeats are read beside it.

use crate::position::{Gap, Positions, Verdict};
use crate::status::AggregatorStatus;
use crate::wire::{parse_message, Parsed, Reassembly};
use async_nats::jetstream::{self, consumer, stream};
use driftlog_deliver::{heartbeat_subject, Heartbeat, HEARTBEAT_SUBJECTS};
use driftlog_model::time::now_ms;
use driftlog_model::{Attribution, Observed, ResourceKey};
use driftlog_recorder::Recorder;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// Opens a NATS connection (the caller knows the URL, credentials and TLS).
pub type Connector = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<async_nats::Client, String>> + Send>>
        + Send
        + Sync,
>;

/// The subjects recorders publish items on (the NATS sink's stream).
const ITEM_SUBJECTS: &str = "driftlog.ci.>";

/// The aggregator's settings.
#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    /// The JetStream stream the recorders publish into (created if missing, as the sink
    /// creates it).
    pub stream: String,
    /// The durable consumer's name: its position survives restarts of both sides.
    pub consumer: String,
    /// Messages fetched at once.
    pub batch: usize,
    /// How long a fetch waits for its batch to fill.
    pub wait: Duration,
    /// Items per appended batch, at most.
    pub round_items: usize,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            stream: "DRIFTLOG".into(),
            consumer: "driftlog-aggregator".into(),
            batch: 1000,
            wait: Duration::from_millis(250),
            round_items: 10_000,
        }
    }
}

/// Runs the aggregator until `shutdown` turns true: connects (again after any failure,
/// backing off), and applies what the stream holds. Nothing acknowledged to JetStream was
/// not recorded first; a failure to record stops the round, reloads the positions from the
/// log and lets JetStream redeliver.
pub async fn run_aggregator(
    recorder: Arc<Recorder>,
    connect: Connector,
    settings: AggregatorSettings,
    status: Arc<AggregatorStatus>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut positions = stored_positions(&recorder);
        status.positions(&positions, now_ms(), &[]);
        let r = session(
            &recorder,
            &connect,
            &settings,
            &status,
            &mut positions,
            &mut shutdown,
        )
        .await;
        match r {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, stream = %settings.stream, "Aggregator: the stream is unavailable; retrying.");
                status.set_connection(&settings.stream, &settings.consumer, false, Some(e));
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The positions stored with the aggregator's last batch.
fn stored_positions(recorder: &Recorder) -> Positions {
    match recorder.log().last_tag() {
        Ok(Some(tag)) => Positions::from_tag(&tag).unwrap_or_default(),
        Ok(None) => Positions::default(),
        Err(e) => {
            tracing::error!(error = %e, "Aggregator: the stored positions cannot be read; starting from none.");
            Positions::default()
        }
    }
}

async fn session(
    recorder: &Arc<Recorder>,
    connect: &Connector,
    settings: &AggregatorSettings,
    status: &Arc<AggregatorStatus>,
    positions: &mut Positions,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let client = connect().await?;
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec![ITEM_SUBJECTS.to_string()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("stream {}: {e}", settings.stream))?;
    // Where to read on: the log's own record of the last message applied, not the
    // consumer's acknowledgements — after a crash JetStream redelivers unacknowledged
    // messages only after their ack wait, behind newer ones; a consumer made afresh at the
    // recorded position hands everything over in stream order.
    let last = stream
        .get_info()
        .await
        .map_err(|e| format!("stream {}: {e}", settings.stream))?
        .state
        .last_sequence;
    let deliver_policy = if positions.stream_seq == 0 {
        consumer::DeliverPolicy::All
    } else if positions.stream_seq > last {
        tracing::warn!(
            stream = %settings.stream, recorded = positions.stream_seq, last,
            "Aggregator: the stream is behind the position recorded here (was it recreated?); reading it from its start, duplicates dropped."
        );
        consumer::DeliverPolicy::All
    } else {
        consumer::DeliverPolicy::ByStartSequence {
            start_sequence: positions.stream_seq + 1,
        }
    };
    match stream.delete_consumer(&settings.consumer).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("not found") => {}
        Err(e) => tracing::debug!(error = %e, "Aggregator: the old consumer was not deleted."),
    }
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(settings.consumer.clone()),
            filter_subject: ITEM_SUBJECTS.to_string(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: (settings.batch * 4) as i64,
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("consumer {} on {}: {e}", settings.consumer, settings.stream))?;
    let beats = client
        .subscribe(HEARTBEAT_SUBJECTS)
        .await
        .map_err(|e| format!("heartbeats: {e}"))?;
    let beat_task = tokio::spawn(read_heartbeats(beats, status.clone()));
    status.set_connection(&settings.stream, &settings.consumer, true, None);
    tracing::info!(stream = %settings.stream, consumer = %settings.consumer, "Aggregator: reading the stream.");
    let mut parts = Reassembly::default();
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        // Never cancelled half-way: a message taken from the stream is handled (or left
        // unacknowledged for redelivery), never dropped.
        let batch = consumer
            .batch()
            .max_messages(settings.batch)
            .expires(settings.wait)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => break Err(format!("fetch: {e}")),
        };
        let mut msgs = Vec::new();
        let mut cut = None;
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => msgs.push(m),
                Err(e) => {
                    // What follows in the stream may have been handed to this batch and
                    // lost with it: apply what came, then read on from the recorded
                    // position with a fresh consumer.
                    cut = Some(format!("fetch: {e}"));
                    break;
                }
            }
        }
        if !msgs.is_empty() {
            if let Err(e) = apply(recorder, settings, status, positions, &mut parts, &msgs).await {
                break Err(e);
            }
            for m in &msgs {
                if let Err(e) = m.ack().await {
                    // The position is in the log: nothing depends on this acknowledgement.
                    tracing::debug!(error = %e, "Aggregator: an acknowledgement failed.");
                }
            }
        }
        if let Some(e) = cut {
            break Err(e);
        }
    };
    beat_task.abort();
    result
}

/// One round of items to record together: distinct keys.
#[derive(Default)]
struct Round {
    upserts: Vec<Observed>,
    deleted: Vec<ResourceKey>,
    who: HashMap<ResourceKey, Vec<Attribution>>,
    keys: HashSet<ResourceKey>,
    capture_ms: i64,
    sources: Vec<String>,
}

impl Round {
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Reads, judges and records one fetched batch.
async fn apply(
    recorder: &Arc<Recorder>,
    settings: &AggregatorSettings,
    status: &AggregatorStatus,
    positions: &mut Positions,
    parts: &mut Reassembly,
    msgs: &[jetstream::Message],
) -> Result<(), String> {
    let (mut applied, mut dups) = (0u64, 0u64);
    let mut round = Round::default();
    for m in msgs {
        let header = |h: &str| {
            m.headers
                .as_ref()
                .and_then(|hm| hm.get(h))
                .map(async_nats::HeaderValue::as_str)
        };
        let inc = match parse_message(m.subject.as_str(), header, &m.payload, parts) {
            Parsed::Part => continue,
            Parsed::Refused { reason, detail } => {
                tracing::warn!(reason, detail = %detail, "Aggregator: message refused, not applied.");
                status.refused(reason, &detail);
                continue;
            }
            Parsed::Item(inc) => inc,
        };
        let gap = match positions.judge(&inc.recorder, &inc.log, inc.seq) {
            Verdict::Duplicate => {
                dups += 1;
                continue;
            }
            Verdict::Apply => None,
            Verdict::Gap { expected, new_log } => {
                tracing::error!(
                    recorder = %inc.recorder, expected, got = inc.seq, new_log,
                    "Aggregator: a gap in a source's items; what follows is applied and the source needs a resync."
                );
                status.gap();
                Some(Gap {
                    expected,
                    got: inc.seq,
                    new_log,
                    found_ms: now_ms(),
                })
            }
        };
        if round.keys.contains(&inc.item.key) || round.len() >= settings.round_items {
            record(recorder, status, positions, std::mem::take(&mut round)).await?;
        }
        let item = inc.item;
        round.keys.insert(item.key.clone());
        round.capture_ms = round.capture_ms.max(item.capture_time_ms);
        if !item.attribution.is_empty() {
            round.who.insert(item.key.clone(), item.attribution);
        }
        match item.observed {
            Some(o) => round.upserts.push(o),
            None => round.deleted.push(item.key),
        }
        if !round.sources.contains(&inc.recorder) {
            round.sources.push(inc.recorder.clone());
        }
        positions.advance(&inc.recorder, &inc.log, inc.seq, gap);
        if let Ok(info) = m.info() {
            positions.stream_seq = info.stream_sequence;
        }
        applied += 1;
    }
    if round.len() > 0 {
        record(recorder, status, positions, round).await?;
    }
    status.count(msgs.len() as u64, applied, dups, 0);
    Ok(())
}

/// Records a round with the positions it reaches as its tag.
async fn record(
    recorder: &Arc<Recorder>,
    status: &AggregatorStatus,
    positions: &Positions,
    round: Round,
) -> Result<(), String> {
    let (stats, _) = recorder
        .record_received(
            round.upserts,
            round.deleted,
            round.who,
            round.capture_ms,
            positions.to_tag(),
        )
        .await
        .map_err(|e| format!("recording received items: {e}"))?;
    status.count(0, 0, 0, stats.discovered + stats.updated + stats.deleted);
    status.positions(positions, now_ms(), &round.sources);
    Ok(())
}

/// Keeps each recorder's last heartbeat; one whose subject is not its own is refused.
async fn read_heartbeats(mut sub: async_nats::Subscriber, status: Arc<AggregatorStatus>) {
    while let Some(m) = sub.next().await {
        match Heartbeat::from_bytes(&m.payload) {
            Ok(h) if heartbeat_subject(&h.recorder) == m.subject.as_str() => status.heartbeat(h),
            Ok(h) => status.refused(
                "heartbeat-mismatch",
                &format!("{}: a heartbeat of recorder {:?}", m.subject, h.recorder),
            ),
            Err(e) => status.refused("bad-heartbeat", &format!("{}: {e}", m.subject)),
        }
    }
}
