//! The ingest loop: a durable pull consumer on the stream, each fetched batch read
//! ([`parse_message`]), judged against the sources' positions ([`Positions::judge`]),
//! recorded in rounds through [`Recorder::record_received`] with the positions as the
//! batch's tag, and acknowledged only after that (one acknowledgement for the batch:
//! `AckPolicy::All`). Heartbeats are read beside it.

use crate::position::{Gap, Positions, Verdict};
use crate::resync::{Resyncs, Taking};
use crate::status::AggregatorStatus;
use crate::wire::{parse_message, Parsed, Reassembly};
use async_nats::jetstream::{self, consumer, stream};
use driftlog_deliver::CHUNK_HEADER;
use driftlog_deliver::{
    heartbeat_subject, resync_subject, Heartbeat, ResyncRequest, SnapshotMarker, SnapshotPhase,
    HEARTBEAT_SUBJECTS,
};
use driftlog_model::time::now_ms;
use driftlog_model::ReceivedItem;
use driftlog_model::{Attribution, Observed, ResourceKey};
use driftlog_recorder::Recorder;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

/// Opens a NATS connection (the caller knows the URL, credentials and TLS).
pub type Connector = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<async_nats::Client, String>> + Send>>
        + Send
        + Sync,
>;

/// The subjects recorders publish items on (the NATS sink's stream).
const ITEM_SUBJECTS: &str = "driftlog.ci.>";

/// Which rules are the aggregator's own (its org-wide rules): their results are recorded
/// here, not received, so no source's resync deletes them.
#[derive(Clone)]
pub struct OwnRules(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl OwnRules {
    /// `is_own(rule name)` says whether a rule is the aggregator's.
    pub fn new(is_own: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(is_own))
    }

    /// Whether `key` is a result of one of the aggregator's own rules.
    fn holds(&self, key: &ResourceKey) -> bool {
        key.resource_type == driftlog_model::COMPLIANCE_TYPE
            && key
                .resource_id
                .split_once('/')
                .is_some_and(|(rule, _)| (self.0)(rule))
    }
}

impl Default for OwnRules {
    fn default() -> Self {
        Self::new(|_| false)
    }
}

impl std::fmt::Debug for OwnRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnRules")
    }
}

/// The aggregator's settings.
#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    /// The JetStream stream the recorders publish into (created if missing, as the sink
    /// creates it).
    pub stream: String,
    /// The durable consumer's name: its position survives restarts of both sides.
    pub consumer: String,
    /// Messages pulled at once (and read together).
    pub batch: usize,
    /// How often an idle aggregator looks for sources to resync and for shutdown.
    pub wait: Duration,
    /// Items per appended batch, at most.
    pub round_items: usize,
    /// The aggregator's own rules, whose results a resync leaves alone.
    pub own_rules: OwnRules,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            stream: "DRIFTLOG".into(),
            consumer: "driftlog-aggregator".into(),
            batch: 1000,
            wait: Duration::from_millis(250),
            round_items: 10_000,
            own_rules: OwnRules::default(),
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
            // One acknowledgement per fetched batch (its last message) covers the batch:
            // the consumer hands messages over in stream order.
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(60),
            // Room for what is read ahead and a whole round being recorded: acknowledged
            // only once recorded, they all wait for their acknowledgement together.
            max_ack_pending: (settings.round_items + settings.batch * (READ_AHEAD + 2)) as i64,
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
    // Two stages, overlapping: a reader takes messages from the stream as they come and
    // reads them (on all cores), the applier judges and records what was read. What the
    // reader holds when a session ends is read again by the next one (it starts at the
    // recorded position), never lost.
    let messages = consumer
        .stream()
        .max_messages_per_batch(settings.batch)
        .messages()
        .await
        .map_err(|e| format!("consumer {} on {}: {e}", settings.consumer, settings.stream))?;
    let (tx, mut rx) = mpsc::channel::<Fetched>(READ_AHEAD);
    let reader = tokio::spawn(read_stream(messages, settings.batch, tx));
    let mut resyncs = Resyncs::default();
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        ask_for_resyncs(&client, &stream, settings, status, positions, &mut resyncs).await;
        let first = tokio::select! {
            f = rx.recv() => f,
            _ = shutdown.changed() => continue,
            () = tokio::time::sleep(settings.wait) => continue,
        };
        let Some(first) = first else {
            break Err("the stream reader stopped".to_string());
        };
        // Whatever else was read meanwhile is recorded with it, up to a round: one append
        // (one flush) for many fetches when the aggregator is behind.
        let mut fetched = vec![first];
        let mut n = fetched[0].reads.len();
        while n < settings.round_items && fetched.last().is_some_and(|f| f.cut.is_none()) {
            match rx.try_recv() {
                Ok(f) => {
                    n += f.reads.len();
                    fetched.push(f);
                }
                Err(_) => break,
            }
        }
        let cut = fetched.last().and_then(|f| f.cut.clone());
        let reads: Vec<Read> = fetched.iter_mut().flat_map(|f| f.reads.drain(..)).collect();
        if !reads.is_empty() {
            let r = apply(recorder, settings, status, positions, &mut resyncs, reads).await;
            if let Err(e) = r {
                break Err(e);
            }
            // One acknowledgement covers everything up to it (`AckPolicy::All`).
            if let Some(last) = fetched.iter().rev().find_map(|f| f.last.as_ref()) {
                if let Err(e) = last.ack().await {
                    // The position is in the log: nothing depends on this acknowledgement.
                    tracing::debug!(error = %e, "Aggregator: an acknowledgement failed.");
                }
            }
        }
        if let Some(e) = cut {
            break Err(e);
        }
    };
    reader.abort();
    beat_task.abort();
    result
}

/// Batches read ahead of the applier (each up to `settings.batch` messages).
const READ_AHEAD: usize = 8;

/// Below this many whole messages a batch is read on one thread: spawning costs more.
const PARALLEL_FROM: usize = 64;

/// One message, read.
struct Read {
    parsed: Parsed,
    stream_seq: Option<u64>,
    /// Parts of an unfinished item are held after this message: a new session must read
    /// from before their first part, so the position does not move past it.
    parts_held: bool,
}

/// What the reader hands the applier: messages read, in stream order, and the last of them
/// (to acknowledge); or the error that ended the stream after them.
struct Fetched {
    reads: Vec<Read>,
    last: Option<jetstream::Message>,
    cut: Option<String>,
}

/// Takes messages from the stream as they come — the first awaited, then whatever else is
/// there already, up to `batch` — reads them off the runtime, and hands them on in order.
async fn read_stream(
    mut messages: consumer::pull::Stream,
    batch: usize,
    tx: mpsc::Sender<Fetched>,
) {
    let mut parts = Some(Reassembly::default());
    loop {
        let mut msgs = Vec::with_capacity(batch);
        let mut cut = None;
        match messages.next().await {
            Some(Ok(m)) => msgs.push(m),
            Some(Err(e)) => cut = Some(format!("fetch: {e}")),
            None => cut = Some("fetch: the consumer's stream ended".to_string()),
        }
        while cut.is_none() && msgs.len() < batch {
            // Polled once, never waited on: a message not there yet comes with the next.
            match tokio::time::timeout(Duration::ZERO, messages.next()).await {
                Ok(Some(Ok(m))) => msgs.push(m),
                Ok(Some(Err(e))) => cut = Some(format!("fetch: {e}")),
                Ok(None) => cut = Some("fetch: the consumer's stream ended".to_string()),
                Err(_) => break,
            }
        }
        let mut held = parts.take().unwrap_or_default();
        let read = tokio::task::spawn_blocking(move || {
            let reads = read_all(&msgs, &mut held);
            (reads, msgs.pop(), held)
        })
        .await;
        let Ok((reads, last, held)) = read else {
            let _ = tx
                .send(Fetched {
                    reads: Vec::new(),
                    last: None,
                    cut: Some("reading messages: the task failed".to_string()),
                })
                .await;
            return;
        };
        parts = Some(held);
        let end = cut.is_some();
        if tx.send(Fetched { reads, last, cut }).await.is_err() || end {
            return;
        }
    }
}

fn header<'m>(m: &'m jetstream::Message, name: &str) -> Option<&'m str> {
    m.headers
        .as_ref()
        .and_then(|hm| hm.get(name))
        .map(async_nats::HeaderValue::as_str)
}

/// Reads `msgs` in order. Whole messages are read on all cores (they share nothing); parts
/// of large items are put together in order, in `parts`.
fn read_all(msgs: &[jetstream::Message], parts: &mut Reassembly) -> Vec<Read> {
    let whole = |m: &jetstream::Message| header(m, CHUNK_HEADER).is_none();
    let read_one = |m: &jetstream::Message, parts: &mut Reassembly| {
        parse_message(m.subject.as_str(), |h| header(m, h), &m.payload, parts)
    };
    let mut slots: Vec<Option<Parsed>> = (0..msgs.len()).map(|_| None).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(msgs.len().div_ceil(PARALLEL_FROM))
        .max(1);
    let per = msgs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (ms, out) in msgs.chunks(per).zip(slots.chunks_mut(per)) {
            let mut work = move || {
                let mut none = Reassembly::default();
                for (m, slot) in ms.iter().zip(out.iter_mut()) {
                    if whole(m) {
                        *slot = Some(read_one(m, &mut none));
                    }
                }
            };
            if threads == 1 {
                work();
            } else {
                s.spawn(work);
            }
        }
    });
    msgs.iter()
        .zip(slots)
        .map(|(m, slot)| {
            let parsed = slot.unwrap_or_else(|| read_one(m, parts));
            Read {
                parsed,
                stream_seq: m.info().ok().map(|i| i.stream_sequence),
                parts_held: parts.held() > 0,
            }
        })
        .collect()
}

/// One round of items to record together: distinct keys.
#[derive(Default)]
struct Round {
    upserts: Vec<Observed>,
    deleted: Vec<ResourceKey>,
    who: HashMap<ResourceKey, Vec<Attribution>>,
    /// The resources' identities (`ResourceKey::id_hash`, the store's own).
    keys: driftlog_model::IdSet,
    capture_ms: i64,
    sources: Vec<String>,
}

impl Round {
    fn len(&self) -> usize {
        self.keys.len()
    }
}

impl Round {
    /// Adds an item; a round that already holds its resource, or is full, is recorded
    /// first.
    async fn push(
        &mut self,
        item: ReceivedItem,
        recorder: &str,
        ctx: (&Arc<Recorder>, &AggregatorStatus, &Positions, usize),
    ) -> Result<(), String> {
        let (rec, status, positions, round_items) = ctx;
        let id = item
            .observed
            .as_ref()
            .map_or_else(|| item.key.id_hash(), |o| o.id);
        if self.keys.contains(&id) || self.len() >= round_items {
            record(rec, status, positions, std::mem::take(self)).await?;
        }
        self.keys.insert(id);
        self.capture_ms = self.capture_ms.max(item.capture_time_ms);
        if !item.attribution.is_empty() {
            self.who.insert(item.key.clone(), item.attribution);
        }
        match item.observed {
            Some(o) => self.upserts.push(o),
            None => self.deleted.push(item.key),
        }
        if !self.sources.iter().any(|s| s == recorder) {
            self.sources.push(recorder.to_string());
        }
        Ok(())
    }
}

/// Judges and records messages read, in stream order.
async fn apply(
    recorder: &Arc<Recorder>,
    settings: &AggregatorSettings,
    status: &AggregatorStatus,
    positions: &mut Positions,
    resyncs: &mut Resyncs,
    reads: Vec<Read>,
) -> Result<(), String> {
    let (mut applied, mut dups) = (0u64, 0u64);
    let received = reads.len() as u64;
    let mut round = Round::default();
    for r in reads {
        let handled = handle(
            r.parsed,
            (recorder, settings, status),
            positions,
            resyncs,
            &mut round,
        )
        .await?;
        match handled {
            Handled::Applied => applied += 1,
            Handled::Duplicate => dups += 1,
            Handled::Other => {}
        }
        // Where a new session reads on: past this message — unless an item is partly
        // received, whose earlier parts (held in memory only) a new session must read again.
        if let (Some(q), false) = (r.stream_seq, r.parts_held) {
            positions.stream_seq = q;
        }
    }
    if round.len() > 0 {
        record(recorder, status, positions, round).await?;
    }
    status.count(received, applied, dups, 0);
    Ok(())
}

/// What one message came to.
enum Handled {
    /// The next item of its source, applied.
    Applied,
    /// Already applied.
    Duplicate,
    /// A part, a marker, a snapshot item, a refusal.
    Other,
}

/// Judges one message read and adds it to `round` (recording the round first when needed).
async fn handle(
    parsed: Parsed,
    (recorder, settings, status): (&Arc<Recorder>, &AggregatorSettings, &AggregatorStatus),
    positions: &mut Positions,
    resyncs: &mut Resyncs,
    round: &mut Round,
) -> Result<Handled, String> {
    let inc = match parsed {
        Parsed::Part => return Ok(Handled::Other),
        Parsed::Refused { reason, detail } => {
            tracing::warn!(reason, detail = %detail, "Aggregator: message refused, not applied.");
            status.refused(reason, &detail);
            return Ok(Handled::Other);
        }
        Parsed::Marker(marker) => {
            let ctx = (recorder, status, settings);
            snapshot_marker(&marker, positions, resyncs, round, ctx).await?;
            return Ok(Handled::Other);
        }
        Parsed::Item(inc) => inc,
    };
    if let Some(snapshot) = &inc.snapshot {
        // A snapshot's item: applied only while receiving that snapshot.
        let Some(t) = resyncs.taking(&inc.recorder, snapshot, &inc.log) else {
            return Ok(Handled::Other);
        };
        t.last_ms = now_ms();
        if !t.seen.insert(inc.item.key.clone())
            || t.newer.contains(&inc.item.key)
            || inc.item.observed.is_none()
        {
            return Ok(Handled::Other);
        }
        let ctx = (recorder, status, &*positions, settings.round_items);
        round.push(inc.item, &inc.recorder, ctx).await?;
        return Ok(Handled::Other);
    }
    let gap = match positions.judge(&inc.recorder, &inc.log, inc.seq) {
        Verdict::Duplicate => return Ok(Handled::Duplicate),
        Verdict::Apply => None,
        Verdict::Gap { expected, new_log } => {
            // A snapshot being received cannot repair a hole that opened after it began.
            resyncs.spoil(&inc.recorder);
            let held = positions
                .sources
                .get(&inc.recorder)
                .and_then(|p| p.gap.clone());
            if held.is_none() {
                tracing::error!(
                    recorder = %inc.recorder, expected, got = inc.seq, new_log,
                    "Aggregator: a gap in a source's items; what follows is applied and the source is asked for a snapshot (resync)."
                );
                status.gap();
            }
            // A gap already open keeps its first description.
            Some(held.unwrap_or(Gap {
                expected,
                got: inc.seq,
                new_log,
                found_ms: now_ms(),
            }))
        }
    };
    resyncs.applied(&inc.recorder, &inc.item.key, inc.seq);
    let ctx = (recorder, status, &*positions, settings.round_items);
    round.push(inc.item, &inc.recorder, ctx).await?;
    positions.advance(&inc.recorder, &inc.log, inc.seq, gap);
    Ok(Handled::Applied)
}

/// A snapshot's begin or end. A begin is taken only from a source with an open gap (other
/// aggregators' snapshots pass by); an end completes the snapshot it closes: what the
/// snapshot did not hold is deleted, the gap closed, in one batch.
async fn snapshot_marker(
    m: &SnapshotMarker,
    positions: &mut Positions,
    resyncs: &mut Resyncs,
    round: &mut Round,
    (recorder, status, settings): (&Arc<Recorder>, &AggregatorStatus, &AggregatorSettings),
) -> Result<(), String> {
    let round_items = settings.round_items;
    let has_gap = positions
        .sources
        .get(&m.recorder)
        .is_some_and(|p| p.gap.is_some());
    match m.phase {
        SnapshotPhase::Begin => {
            if !has_gap {
                return Ok(());
            }
            // From here the source stands at the snapshot's sequence: its items up to it
            // are in the snapshot.
            let p = positions.sources.entry(m.recorder.clone()).or_default();
            if p.log != m.log {
                m.log.clone_into(&mut p.log);
                p.seq = m.seq;
            } else {
                p.seq = p.seq.max(m.seq);
            }
            resyncs
                .sources
                .entry(m.recorder.clone())
                .or_default()
                .taking = Some(Taking::new(&m.snapshot, &m.log, m.seq));
            tracing::info!(recorder = %m.recorder, snapshot = %m.snapshot, seq = m.seq, "Aggregator: receiving a source's snapshot (resync).");
            status.resync_state(
                &m.recorder,
                Some(format!(
                    "receiving snapshot {} (the inventory at its seq {})",
                    m.snapshot, m.seq
                )),
            );
        }
        SnapshotPhase::End => {
            let Some(t) = resyncs.taking(&m.recorder, &m.snapshot, &m.log) else {
                return Ok(());
            };
            let t = std::mem::replace(t, Taking::new("", "", 0));
            if let Some(r) = resyncs.sources.get_mut(&m.recorder) {
                r.taking = None;
                r.asked_ms = None;
            }
            if t.spoiled {
                tracing::warn!(
                    recorder = %m.recorder, snapshot = %m.snapshot,
                    "Aggregator: another gap opened while a snapshot came; asking again."
                );
                resyncs.failed(&m.recorder);
                status.resync_state(
                    &m.recorder,
                    Some(format!(
                        "snapshot {} was overtaken by another gap while it came; asking again",
                        m.snapshot
                    )),
                );
                return Ok(());
            }
            if t.seen.len() as u64 != m.items {
                resyncs.failed(&m.recorder);
                tracing::warn!(
                    recorder = %m.recorder, snapshot = %m.snapshot, sent = m.items, received = t.seen.len(),
                    "Aggregator: a snapshot came incomplete; asking again."
                );
                status.resync_state(
                    &m.recorder,
                    Some(format!(
                        "snapshot {} came incomplete ({} of {} items); asking again",
                        m.snapshot,
                        t.seen.len(),
                        m.items
                    )),
                );
                return Ok(());
            }
            // Every snapshot item is recorded before the deletions are worked out.
            if round.len() > 0 {
                record(recorder, status, positions, std::mem::take(round)).await?;
            }
            let mut pairs: HashSet<(String, String)> = m.scopes.iter().cloned().collect();
            pairs.extend(t.seen.iter().map(|k| (k.account.clone(), k.region.clone())));
            let gone: Vec<ResourceKey> = {
                let st = recorder.log().state();
                let scopes: Vec<driftlog_model::Scope> = st
                    .scopes()
                    .filter(|(s, live, _)| {
                        *live > 0 && pairs.contains(&(s.account.clone(), s.region.clone()))
                    })
                    .map(|(s, _, _)| s.clone())
                    .collect();
                scopes
                    .iter()
                    .flat_map(|s| {
                        st.live_in(s).into_iter().flat_map(move |live| {
                            live.values().map(move |id| ResourceKey {
                                account: s.account.clone(),
                                region: s.region.clone(),
                                resource_type: s.resource_type.clone(),
                                resource_id: id.clone(),
                            })
                        })
                    })
                    .filter(|k| {
                        !t.seen.contains(k) && !t.newer.contains(k) && !settings.own_rules.holds(k)
                    })
                    .collect()
            };
            let deleted = gone.len();
            let mut chunks: Vec<&[ResourceKey]> = gone.chunks(round_items.max(1)).collect();
            // The gap is closed with the last batch (alone when nothing is deleted): a crash
            // before it leaves the gap open, and the resync is asked for again.
            let last = chunks.pop().unwrap_or(&[]);
            let deletions = |chunk: &[ResourceKey]| Round {
                deleted: chunk.to_vec(),
                keys: chunk.iter().map(ResourceKey::id_hash).collect(),
                capture_ms: now_ms(),
                sources: vec![m.recorder.clone()],
                ..Round::default()
            };
            for chunk in chunks {
                record(recorder, status, positions, deletions(chunk)).await?;
            }
            positions.repaired(&m.recorder);
            record(recorder, status, positions, deletions(last)).await?;
            resyncs.succeeded(&m.recorder);
            tracing::info!(
                recorder = %m.recorder, snapshot = %m.snapshot, seq = m.seq, items = m.items, deleted,
                "Aggregator: source resynced from its snapshot; the gap is closed."
            );
            status.resynced(
                &m.recorder,
                format!(
                    "at {}: snapshot {} of {} items at its seq {}, {} resources it no longer holds deleted",
                    driftlog_model::time::iso_ms(now_ms()),
                    m.snapshot,
                    m.items,
                    m.seq,
                    deleted
                ),
            );
        }
    }
    Ok(())
}

/// Asks every source with an open gap and no snapshot coming for one (core NATS; the
/// recorder answers in the stream). Asked again every [`crate::resync::ASK_AGAIN_MS`] until
/// a snapshot begins.
async fn ask_for_resyncs(
    client: &async_nats::Client,
    stream: &jetstream::stream::Stream,
    settings: &AggregatorSettings,
    status: &AggregatorStatus,
    positions: &Positions,
    resyncs: &mut Resyncs,
) {
    let now = now_ms();
    let mut stream_last = None;
    for (id, p) in &positions.sources {
        let Some(g) = &p.gap else { continue };
        if !resyncs.should_ask(id, now, positions.stream_seq) {
            continue;
        }
        // A snapshot asked for comes after what the stream holds now: until the aggregator
        // has read that far, no answer can have been missed, and it does not ask again.
        if stream_last.is_none() {
            stream_last = Some(match stream.get_info().await {
                Ok(info) => info.state.last_sequence,
                Err(_) => positions.stream_seq,
            });
        }
        let reason = format!(
            "expected seq {}, got {}{}",
            g.expected,
            g.got,
            if g.new_log { " of a new store" } else { "" }
        );
        let body = serde_json::to_vec(&ResyncRequest {
            aggregator: settings.consumer.clone(),
            reason: reason.clone(),
        })
        .unwrap_or_default();
        let sent = client.publish(resync_subject(id), body.into()).await;
        let r = resyncs.sources.entry(id.clone()).or_default();
        r.asked_ms = Some(now);
        r.asked_at_stream = stream_last.unwrap_or(positions.stream_seq);
        r.asks += 1;
        match sent {
            Ok(()) => {
                tracing::info!(recorder = %id, reason = %reason, "Aggregator: asked a source for a snapshot (resync).");
                status.resync_state(
                    id,
                    Some(format!(
                        "asked for a snapshot at {} ({} requests so far)",
                        driftlog_model::time::iso_ms(now),
                        r.asks
                    )),
                );
            }
            Err(e) => status.resync_state(
                id,
                Some(format!("could not ask for a snapshot: {e}; asking again")),
            ),
        }
    }
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
