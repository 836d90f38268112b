//! Event-driven recording: CloudTrail events → targeted describes → attributed items.
//!
//! A feed delivers messages; each event is mapped to the resources it touched
//! ([`driftlog_events::map`]), events for one resource within a short window are coalesced,
//! and one describe per window goes through [`Source::describe_exact`] and the same diff,
//! append and related re-check as `driftlog refresh`. The items it records carry who made
//! the change ([`Attribution`]). What events miss, the periodic poll still records.
//!
//! Invariants:
//! * An event never deletes by itself: a delete event asks for a describe, and only a
//!   lookup the source vouches for (no error) that does not find the resource records the
//!   deletion.
//! * A message is deleted from its queue only once every resource it named is settled:
//!   recorded, found already recorded, or retried until the describe shows no change (then
//!   the poll is left to record it). A describe that fails leaves the message on the queue,
//!   so it comes back after its visibility timeout; a message that cannot be read is never
//!   deleted, so the queue's redrive policy moves it to the dead-letter queue.
//! * A redelivered event whose id is already on the resource's latest item is settled
//!   without a describe: processing a message twice records one item.

use crate::{Input, Recorder, Result};
use driftlog_events::{attribute, map, CloudTrailEvent, Mapped, Ref, Target};
use driftlog_model::time::now_ms;
use driftlog_model::{Attribution, ResourceKey, Scope, Seq};
use driftlog_poll::{Content, EventMessage, Receipt, SharedFeed};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The event status as last saved, for `driftlog status` without a server.
pub const STORED_EVENT_STATUS: driftlog_log::Namespace<EventStatus> =
    driftlog_log::Namespace::new("event_status", 1);

/// Pacing of event-driven recording.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// A resource is described once no event for it came for this long…
    pub quiet: Duration,
    /// …or this long after its first event, whichever is first: bursts coalesce into one
    /// describe, a steady trickle still gets one per `max_delay`.
    pub max_delay: Duration,
    /// When a describe shows no change (the event arrived before the change was visible),
    /// describe again after these delays, then leave it to the poll.
    pub retries: Vec<Duration>,
    /// Most resources per describe batch.
    pub max_batch: usize,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            quiet: Duration::from_millis(200),
            max_delay: Duration::from_millis(800),
            retries: vec![
                Duration::from_secs(1),
                Duration::from_secs(4),
                Duration::from_secs(15),
            ],
            max_batch: 500,
        }
    }
}

/// One resource an event asks to describe, resolved to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTarget {
    /// The resource.
    pub key: ResourceKey,
    /// Who changed it (one per event, event-time order).
    pub attribution: Vec<Attribution>,
    /// A delete event named it: if the describe vouches it is gone, record the deletion.
    pub delete: bool,
}

/// What one event-driven describe did, per resource.
#[derive(Debug, Default)]
pub struct EventCommit {
    /// Keys that got a new item from this describe.
    pub recorded: HashSet<ResourceKey>,
    /// Keys whose latest item is newer than the describe's start: something else (a poll)
    /// recorded them meanwhile.
    pub recorded_elsewhere: HashSet<ResourceKey>,
}

impl Recorder {
    /// Describes the resources events named and records what changed, with who changed it;
    /// then re-checks related resources like any commit. Keys of types not recorded are
    /// skipped.
    ///
    /// # Errors
    /// [`crate::Error::Source`] when the describe fails (nothing is recorded),
    /// [`crate::Error::Log`] when the batch cannot be appended.
    pub async fn record_events(&self, targets: &[EventTarget]) -> Result<EventCommit> {
        let targets: Vec<&EventTarget> = targets
            .iter()
            .filter(|t| self.records(&t.key.resource_type))
            .collect();
        if targets.is_empty() {
            return Ok(EventCommit::default());
        }
        let keys: Vec<ResourceKey> = targets.iter().map(|t| t.key.clone()).collect();
        let as_of = self.log.watermark();
        let timeout = self.cfg.scheduler.timeout;
        let described = match tokio::time::timeout(timeout, self.source.describe_exact(&keys)).await
        {
            Ok(r) => r?,
            Err(_) => return Err(driftlog_poll::PollError::Timeout(timeout).into()),
        };
        let found: HashSet<&ResourceKey> = described
            .snapshot
            .resources
            .iter()
            .map(|o| &*o.key)
            .collect();
        let unsure: HashSet<&ResourceKey> = described.unsure.iter().collect();
        let gone: Vec<ResourceKey> = targets
            .iter()
            .filter(|t| t.delete && !found.contains(&t.key) && !unsure.contains(&t.key))
            .map(|t| t.key.clone())
            .collect();
        let who: HashMap<ResourceKey, Vec<Attribution>> = targets
            .iter()
            .map(|t| (t.key.clone(), t.attribution.clone()))
            .collect();
        let snapshot = described.snapshot;
        let (stats, _appended, changes) = self
            .diff_and_append(vec![Input::Events(snapshot, gone, as_of, who)])
            .await?;
        let mut out = EventCommit::default();
        for c in &changes {
            out.recorded.insert(c.key.clone());
        }
        {
            let state = self.log.state();
            for k in &keys {
                if !out.recorded.contains(k)
                    && state.get(k.id_hash()).is_some_and(|s| s.seq > as_of)
                {
                    out.recorded_elsewhere.insert(k.clone());
                }
            }
        }
        let mut report = crate::CommitReport {
            stats: stats.into_iter().next().unwrap_or_default(),
            ..crate::CommitReport::default()
        };
        self.recheck(&changes, &[], &mut report).await?;
        Ok(out)
    }
}

/// Counters of event-driven recording, shared with status displays and `/metrics`.
#[derive(Debug, Default)]
pub struct EventStats {
    feed: Mutex<String>,
    messages: AtomicU64,
    events: AtomicU64,
    mapped: AtomicU64,
    read_only: AtomicU64,
    failed_calls: AtomicU64,
    ignored: AtomicU64,
    unmapped: AtomicU64,
    not_recorded: AtomicU64,
    unresolved: AtomicU64,
    poison: AtomicU64,
    record_errors: AtomicU64,
    receive_errors: AtomicU64,
    describes: AtomicU64,
    keys_described: AtomicU64,
    describe_errors: AtomicU64,
    recorded: AtomicU64,
    already_recorded: AtomicU64,
    covered: AtomicU64,
    recorded_elsewhere: AtomicU64,
    left_to_poll: AtomicU64,
    acked: AtomicU64,
    pending: AtomicU64,
    backlog: Mutex<Option<u64>>,
    last_queue_lag_ms: Mutex<Option<i64>>,
    last_event_lag_ms: Mutex<Option<i64>>,
    unmapped_by_name: Mutex<BTreeMap<String, u64>>,
    /// Receive times of recent events, for events/s over the last minute.
    recent: Mutex<VecDeque<Instant>>,
    /// Event received → item committed, ms, the last [`LATENCY_SAMPLES`].
    latencies: Mutex<VecDeque<f64>>,
}

/// Latency samples kept for the status's percentiles.
const LATENCY_SAMPLES: usize = 10_000;

/// The event status: what `driftlog status` and `/metrics` show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStatus {
    /// The feed (`sqs`, `sim`).
    pub feed: String,
    /// Messages received.
    pub messages: u64,
    /// CloudTrail events read from them.
    pub events: u64,
    /// Events over the last minute, per second.
    pub events_per_second: f64,
    /// Events mapped to resources.
    pub mapped: u64,
    /// Read-only events (ignored).
    pub read_only: u64,
    /// Calls that failed (`errorCode`): they changed nothing.
    pub failed_calls: u64,
    /// Messages that were valid but no API call (other EventBridge events, S3 test events).
    pub ignored: u64,
    /// Write events the mapping table cannot place, left to the poll.
    pub unmapped: u64,
    /// Of those, per `eventSource`/`eventName`.
    pub unmapped_by_name: BTreeMap<String, u64>,
    /// Resources of types, accounts or regions not recorded.
    pub not_recorded: u64,
    /// Resources named by a name or ARN that no recorded resource has (left to the poll).
    pub unresolved: u64,
    /// Messages that could not be read (never deleted: the redrive policy dead-letters them).
    pub poison: u64,
    /// Records of log files that could not be read (skipped, named in the log).
    pub record_errors: u64,
    /// Failed receives from the feed.
    pub receive_errors: u64,
    /// Describe calls made for events.
    pub describes: u64,
    /// Resources described for events (a resource described twice counts twice).
    pub keys_described: u64,
    /// Describes that failed (their messages stay on the queue).
    pub describe_errors: u64,
    /// Resources recorded by an event-driven describe, with attribution.
    pub recorded: u64,
    /// Redelivered events already on the resource's latest item (no describe made).
    pub already_recorded: u64,
    /// Events for a resource described since the call was made (its `eventTime`, to the
    /// second, plus a second before the describe began): that describe saw the change, so
    /// none is made again — how a burst of events on few resources costs one describe each.
    pub covered: u64,
    /// Resources a poll recorded while their describe ran.
    pub recorded_elsewhere: u64,
    /// Resources whose describes showed no change after every retry: left to the poll.
    pub left_to_poll: u64,
    /// Messages deleted from their queue.
    pub acked: u64,
    /// Resources waiting for their describe now.
    pub pending: u64,
    /// Messages waiting in the queues (when the feed can tell).
    pub backlog: Option<u64>,
    /// Time the last message spent in its queue, ms.
    pub queue_lag_ms: Option<i64>,
    /// Time from the last event's `eventTime` to its receipt, ms.
    pub event_lag_ms: Option<i64>,
    /// Event received → item committed, ms, median of recent events.
    pub latency_p50_ms: Option<f64>,
    /// Same, 99th percentile.
    pub latency_p99_ms: Option<f64>,
    /// Number of latency samples behind the percentiles.
    pub latency_samples: u64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventStats {
    /// A snapshot for display.
    pub fn snapshot(&self) -> EventStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let per_second = {
            let mut r = lock(&self.recent);
            let cutoff = Instant::now().checked_sub(Duration::from_secs(60));
            while r.front().is_some_and(|t| cutoff.is_some_and(|c| *t < c)) {
                r.pop_front();
            }
            r.len() as f64 / 60.0
        };
        let (p50, p99, n) = {
            let l = lock(&self.latencies);
            let mut v: Vec<f64> = l.iter().copied().collect();
            v.sort_by(f64::total_cmp);
            let pct = |p: f64| -> Option<f64> {
                if v.is_empty() {
                    return None;
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "an index"
                )]
                let i = ((v.len() as f64 - 1.0) * p).round() as usize;
                v.get(i).copied()
            };
            (pct(0.5), pct(0.99), v.len() as u64)
        };
        EventStatus {
            feed: lock(&self.feed).clone(),
            messages: get(&self.messages),
            events: get(&self.events),
            events_per_second: per_second,
            mapped: get(&self.mapped),
            read_only: get(&self.read_only),
            failed_calls: get(&self.failed_calls),
            ignored: get(&self.ignored),
            unmapped: get(&self.unmapped),
            unmapped_by_name: lock(&self.unmapped_by_name).clone(),
            not_recorded: get(&self.not_recorded),
            unresolved: get(&self.unresolved),
            poison: get(&self.poison),
            record_errors: get(&self.record_errors),
            receive_errors: get(&self.receive_errors),
            describes: get(&self.describes),
            keys_described: get(&self.keys_described),
            describe_errors: get(&self.describe_errors),
            recorded: get(&self.recorded),
            already_recorded: get(&self.already_recorded),
            covered: get(&self.covered),
            recorded_elsewhere: get(&self.recorded_elsewhere),
            left_to_poll: get(&self.left_to_poll),
            acked: get(&self.acked),
            pending: get(&self.pending),
            backlog: *lock(&self.backlog),
            queue_lag_ms: *lock(&self.last_queue_lag_ms),
            event_lag_ms: *lock(&self.last_event_lag_ms),
            latency_p50_ms: p50,
            latency_p99_ms: p99,
            latency_samples: n,
        }
    }

    /// Forgets the latency samples (a benchmark measures one rate at a time).
    pub fn reset_latencies(&self) {
        lock(&self.latencies).clear();
    }

    fn latency(&self, ms: f64) {
        let mut l = lock(&self.latencies);
        if l.len() >= LATENCY_SAMPLES {
            l.pop_front();
        }
        l.push_back(ms);
    }
}

/// One resource waiting for its describe.
struct Pending {
    attribution: Vec<Attribution>,
    delete: bool,
    first: Instant,
    due: Instant,
    /// Describes already made that showed no change.
    attempts: usize,
    /// Messages that named it.
    messages: Vec<u64>,
    /// When the earliest of its events was received: the latency's start.
    received: Instant,
}

/// A message waiting for its resources to settle.
struct Tracked {
    receipt: Receipt,
    outstanding: usize,
    /// False once one of its resources could not be described: it is then left on the
    /// queue to come back.
    ackable: bool,
}

/// Resolves names and ARNs (IAM roles by name, RDS instances by identifier) to keys from
/// the recorded heads' `resourceName` and `arn`, per scope, rebuilt on a miss at most once
/// per [`NAME_INDEX_TTL`].
#[derive(Default)]
struct NameIndex {
    scopes: HashMap<Scope, (Instant, HashMap<String, ResourceKey>)>,
}

const NAME_INDEX_TTL: Duration = Duration::from_secs(5);

/// How long a describe's start is remembered to cover late events of the same resource.
const DESCRIBED_KEPT_MS: i64 = 120_000;
/// `eventTime` is to the second: a call stamped T happened before T + 1 s.
const EVENT_TIME_PRECISION_MS: i64 = 1_000;

impl NameIndex {
    fn resolve(&mut self, log: &driftlog_log::Log, t: &Target) -> Option<ResourceKey> {
        let wanted = match &t.reference {
            Ref::Id(_) => return t.resource_key(),
            Ref::Name(n) => n.as_str(),
            Ref::Arn(a) => a.as_str(),
        };
        let scope = Scope::new(&t.account, &t.region, t.resource_type);
        if let Some((_, m)) = self.scopes.get(&scope) {
            if let Some(k) = m.get(wanted) {
                return Some(k.clone());
            }
        }
        let fresh = self
            .scopes
            .get(&scope)
            .is_some_and(|(built, _)| built.elapsed() < NAME_INDEX_TTL);
        if fresh {
            return None;
        }
        let m = names_in(log, &scope);
        let found = m.get(wanted).cloned();
        self.scopes.insert(scope, (Instant::now(), m));
        found
    }
}

fn names_in(log: &driftlog_log::Log, scope: &Scope) -> HashMap<String, ResourceKey> {
    #[derive(Deserialize)]
    struct Names {
        #[serde(rename = "resourceName")]
        name: Option<String>,
        arn: Option<String>,
    }
    let heads: Vec<(String, Seq)> = {
        let state = log.state();
        let Some(live) = state.live_in(scope) else {
            return HashMap::new();
        };
        live.iter()
            .filter_map(|(id, rid)| state.get(*id).map(|s| (rid.clone(), s.seq)))
            .collect()
    };
    let mut m = HashMap::new();
    for (rid, seq) in heads {
        let Ok(doc) = log.doc_at(seq) else { continue };
        let Ok(n) = serde_json::from_slice::<Names>(&doc) else {
            continue;
        };
        let key = ResourceKey::new(&scope.account, &scope.region, &scope.resource_type, rid);
        for v in [n.name, n.arn].into_iter().flatten() {
            m.insert(v, key.clone());
        }
    }
    m
}

/// Consumes `feed` until `shutdown`: the event-driven half of recording. Events are taken
/// only while recording is switched on (a stopped recorder leaves them on the queue).
pub async fn run_events(
    recorder: Arc<Recorder>,
    feed: SharedFeed,
    cfg: EventConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let stats = recorder.event_stats().clone();
    feed.name().clone_into(&mut lock(&stats.feed));
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<EventMessage>)>(4);
    let receiver = {
        let feed = feed.clone();
        let recorder = recorder.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            loop {
                if !recorder.is_recording() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                match feed.receive().await {
                    Ok(m) => {
                        backoff = Duration::from_millis(500);
                        if !m.is_empty() && tx.send((Instant::now(), m)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        bump(&stats.receive_errors, 1);
                        tracing::warn!(feed = feed.name(), error = %e, "Receiving events failed; retrying.");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    };
    let backlog = {
        let feed = feed.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            loop {
                *lock(&stats.backlog) = feed.backlog().await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        })
    };
    let mut intake = Intake {
        recorder: recorder.clone(),
        feed,
        cfg,
        stats: stats.clone(),
        pending: HashMap::new(),
        messages: HashMap::new(),
        next_message: 0,
        names: NameIndex::default(),
        described_at: HashMap::new(),
        recorded_scopes: (Instant::now(), HashSet::new()),
        to_ack: Vec::new(),
    };
    intake.refresh_scopes(true);
    tokio::pin!(shutdown);
    let mut save = tokio::time::interval(Duration::from_secs(5));
    loop {
        // A stopped recorder records nothing: what was received waits, and is described
        // once recording is switched on again.
        let next_due = if recorder.is_recording() {
            intake.pending.values().map(|p| p.due).min()
        } else {
            Some(Instant::now() + Duration::from_secs(1))
        };
        let sleep = async {
            match next_due {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            got = rx.recv() => {
                let Some((at, batch)) = got else { break };
                for m in batch {
                    intake.take(at, m);
                }
            }
            () = sleep => {
                if recorder.is_recording() {
                    intake.describe_due().await;
                }
            }
            _ = save.tick() => {
                STORED_EVENT_STATUS.put_or_count(recorder.log(), "", &stats.snapshot());
            }
        }
        intake.flush_acks().await;
        stats
            .pending
            .store(intake.pending.len() as u64, Ordering::Relaxed);
    }
    receiver.abort();
    backlog.abort();
    STORED_EVENT_STATUS.put_or_count(recorder.log(), "", &stats.snapshot());
}

struct Intake {
    recorder: Arc<Recorder>,
    feed: SharedFeed,
    cfg: EventConfig,
    stats: Arc<EventStats>,
    pending: HashMap<ResourceKey, Pending>,
    messages: HashMap<u64, Tracked>,
    next_message: u64,
    names: NameIndex,
    /// When each resource's last event-driven describe began (epoch ms), for
    /// [`EventStats::covered`]; entries older than [`DESCRIBED_KEPT_MS`] are dropped.
    described_at: HashMap<ResourceKey, i64>,
    /// (account, region) pairs recorded, refreshed every minute.
    recorded_scopes: (Instant, HashSet<(String, String)>),
    to_ack: Vec<Receipt>,
}

impl Intake {
    fn refresh_scopes(&mut self, force: bool) {
        if !force && self.recorded_scopes.0.elapsed() < Duration::from_secs(60) {
            return;
        }
        let set = self
            .recorder
            .scopes()
            .into_iter()
            .map(|s| (s.account, s.region))
            .collect();
        self.recorded_scopes = (Instant::now(), set);
    }

    /// Reads one message into pending describes.
    fn take(&mut self, received: Instant, m: EventMessage) {
        bump(&self.stats.messages, 1);
        let now = now_ms();
        if let Some(sent) = m.sent_ms {
            *lock(&self.stats.last_queue_lag_ms) = Some(now - sent);
        }
        let events = match m.content {
            Content::Poison(why) => {
                bump(&self.stats.poison, 1);
                tracing::warn!(queue = %m.receipt.queue, receives = m.receive_count, reason = %why,
                    "Unreadable message left on its queue (its redrive policy will dead-letter it).");
                return;
            }
            Content::Ignored(why) => {
                bump(&self.stats.ignored, 1);
                tracing::debug!(reason = %why, "Message without an API call.");
                self.to_ack.push(m.receipt);
                return;
            }
            Content::Events(events, errors) => {
                for e in &errors {
                    tracing::warn!(queue = %m.receipt.queue, error = %e, "Skipped a CloudTrail record.");
                }
                bump(&self.stats.record_errors, errors.len() as u64);
                events
            }
        };
        self.refresh_scopes(false);
        let id = self.next_message;
        self.next_message += 1;
        let mut keys: HashSet<ResourceKey> = HashSet::new();
        {
            let mut r = lock(&self.stats.recent);
            for _ in 0..events.len() {
                r.push_back(received);
            }
            while r.len() > 1_000_000 {
                r.pop_front();
            }
        }
        for event in &events {
            bump(&self.stats.events, 1);
            *lock(&self.stats.last_event_lag_ms) = Some(now - event.event_time_ms);
            for (key, delete) in self.targets_of(event) {
                // A describe that began after this call was made saw its change already.
                if !self.pending.contains_key(&key)
                    && self.described_at.get(&key).is_some_and(|d| {
                        event.event_time_ms.saturating_add(EVENT_TIME_PRECISION_MS) <= *d
                    })
                {
                    bump(&self.stats.covered, 1);
                    continue;
                }
                let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
                    attribution: Vec::new(),
                    delete: false,
                    first: received,
                    due: received + self.cfg.quiet,
                    attempts: 0,
                    messages: Vec::new(),
                    received,
                });
                let a = attribute(event);
                if !p.attribution.iter().any(|x| x.event_id == a.event_id) {
                    p.attribution.push(a);
                    p.attribution.sort_by_key(|x| x.event_time_ms);
                }
                p.delete |= delete;
                p.due = if p.attempts == 0 {
                    (received + self.cfg.quiet).min(p.first + self.cfg.max_delay)
                } else {
                    // Waiting to retry: a new event is news, describe soon.
                    p.due.min(received + self.cfg.quiet)
                };
                if keys.insert(key) {
                    p.messages.push(id);
                }
            }
        }
        if keys.is_empty() {
            self.to_ack.push(m.receipt);
        } else {
            self.messages.insert(
                id,
                Tracked {
                    receipt: m.receipt,
                    outstanding: keys.len(),
                    ackable: true,
                },
            );
        }
    }

    /// The recorded resources an event names, with whether it deleted them.
    fn targets_of(&mut self, event: &CloudTrailEvent) -> Vec<(ResourceKey, bool)> {
        let targets = match map(event) {
            Mapped::Resources(t) => t,
            Mapped::ReadOnly => {
                bump(&self.stats.read_only, 1);
                return Vec::new();
            }
            Mapped::Failed { .. } => {
                bump(&self.stats.failed_calls, 1);
                return Vec::new();
            }
            Mapped::Unmapped { source, name } => {
                bump(&self.stats.unmapped, 1);
                *lock(&self.stats.unmapped_by_name)
                    .entry(format!("{source} {name}"))
                    .or_default() += 1;
                return Vec::new();
            }
        };
        bump(&self.stats.mapped, 1);
        let mut out = Vec::new();
        for t in targets {
            if !self.recorder.records(t.resource_type)
                || !self
                    .recorded_scopes
                    .1
                    .contains(&(t.account.clone(), t.region.clone()))
            {
                bump(&self.stats.not_recorded, 1);
                continue;
            }
            match self.names.resolve(self.recorder.log(), &t) {
                Some(k) => out.push((k, t.op == driftlog_events::table::Op::Delete)),
                None => {
                    bump(&self.stats.unresolved, 1);
                    tracing::debug!(target = %t, "Event names a resource not recorded yet; left to the poll.");
                }
            }
        }
        out
    }

    /// Describes every resource whose window closed.
    async fn describe_due(&mut self) {
        let now = Instant::now();
        let mut due: Vec<ResourceKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        for chunk in due.chunks(self.cfg.max_batch.max(1)) {
            let mut batch = Vec::with_capacity(chunk.len());
            for k in chunk {
                let Some(p) = self.pending.get(k) else {
                    continue;
                };
                if self.already_recorded(k, &p.attribution) {
                    bump(&self.stats.already_recorded, 1);
                    self.settle(k, true);
                    continue;
                }
                batch.push(EventTarget {
                    key: k.clone(),
                    attribution: p.attribution.clone(),
                    delete: p.delete,
                });
            }
            if batch.is_empty() {
                continue;
            }
            bump(&self.stats.describes, 1);
            bump(&self.stats.keys_described, batch.len() as u64);
            let started = now_ms();
            self.described_at
                .retain(|_, d| *d > started - DESCRIBED_KEPT_MS);
            for t in &batch {
                self.described_at.insert(t.key.clone(), started);
            }
            match self.recorder.record_events(&batch).await {
                Ok(done) => {
                    for t in &batch {
                        if done.recorded.contains(&t.key) {
                            if let Some(p) = self.pending.get(&t.key) {
                                self.stats.latency(p.received.elapsed().as_secs_f64() * 1e3);
                            }
                            bump(&self.stats.recorded, 1);
                            self.settle(&t.key, true);
                        } else if done.recorded_elsewhere.contains(&t.key) {
                            bump(&self.stats.recorded_elsewhere, 1);
                            self.settle(&t.key, true);
                        } else {
                            self.retry_later(&t.key, true);
                        }
                    }
                }
                Err(crate::Error::Log(e)) => {
                    // Recording has failed (the writer is poisoned): keep every message
                    // on its queue for after the restart.
                    tracing::warn!(error = %e, "Event-driven commit failed; messages stay on their queues.");
                    for t in &batch {
                        self.retry_later(&t.key, false);
                    }
                }
                Err(e) => {
                    bump(&self.stats.describe_errors, 1);
                    tracing::warn!(error = %e, n = batch.len(), "Describe for events failed; will retry, messages stay on their queues.");
                    for t in &batch {
                        self.retry_later(&t.key, false);
                    }
                }
            }
        }
    }

    /// True when every event of `who` is on the resource's latest item already (a
    /// redelivered message after a crash between commit and delete).
    fn already_recorded(&self, key: &ResourceKey, who: &[Attribution]) -> bool {
        let log = self.recorder.log();
        let Some(seq) = log.state().get(key.id_hash()).map(|s| s.seq) else {
            return false;
        };
        let Ok(Some(item)) = log.get(seq) else {
            return false;
        };
        !who.is_empty()
            && who
                .iter()
                .all(|a| item.attribution.iter().any(|b| b.event_id == a.event_id))
    }

    /// Describes `key` again later, or leaves it to the poll after the last retry.
    fn retry_later(&mut self, key: &ResourceKey, described: bool) {
        let Some(p) = self.pending.get_mut(key) else {
            return;
        };
        if let Some(d) = self.cfg.retries.get(p.attempts) {
            p.due = Instant::now() + *d;
            p.attempts += 1;
            return;
        }
        if described {
            bump(&self.stats.left_to_poll, 1);
        }
        self.settle(key, described);
    }

    /// `key` needs nothing more; a message all of whose resources are settled is deleted
    /// (unless one of them could not be described).
    fn settle(&mut self, key: &ResourceKey, ok: bool) {
        let Some(p) = self.pending.remove(key) else {
            return;
        };
        for id in p.messages {
            let Some(t) = self.messages.get_mut(&id) else {
                continue;
            };
            t.outstanding = t.outstanding.saturating_sub(1);
            t.ackable &= ok;
            if t.outstanding == 0 {
                if let Some(t) = self.messages.remove(&id) {
                    if t.ackable {
                        self.to_ack.push(t.receipt);
                    }
                }
            }
        }
    }

    async fn flush_acks(&mut self) {
        if self.to_ack.is_empty() {
            return;
        }
        let receipts = std::mem::take(&mut self.to_ack);
        match self.feed.ack(&receipts).await {
            Ok(()) => bump(&self.stats.acked, receipts.len() as u64),
            Err(e) => {
                // Not deleted: they come back after their visibility timeout, and are
                // settled then without a describe (their events are on the items).
                tracing::warn!(error = %e, n = receipts.len(), "Deleting handled messages failed.");
            }
        }
    }
}
