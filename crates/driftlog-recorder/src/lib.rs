//! The recording pipeline: poll → diff → append → wake subscribers.
//!
//! [`Recorder`] owns the glue. The [`Scheduler`] polls scopes concurrently and sends each
//! finished poll down one bounded channel; a single commit loop diffs it against the log's
//! current state and appends the result as one atomic batch, then re-checks the resources
//! directly related to what changed (as AWS Config re-describes the instances of a changed
//! security group) and records them only if they really changed. One writer means versions
//! and sequence numbers need no locking beyond the log's own.

use driftlog_diff::{diff_complete, diff_partial, diff_removed, DiffStats, Diffed};
use driftlog_log::{Log, StorageFailure};
use driftlog_model::time::now_ms;
use driftlog_model::{
    spec_for, Change, Observed, PartialSnapshot, Relationship, ResourceKey, Scope, Seq, Status,
    TypePattern,
};
use driftlog_poll::{
    PollError, PollOutcome, PollResult, RecordingGroup, Scheduler, SchedulerConfig, Source,
    StatusBoard,
};
use std::collections::BTreeSet;
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use thiserror::Error;
use tokio::sync::{mpsc, watch};

mod events;
pub use events::{
    run_events, EventCommit, EventConfig, EventStats, EventStatus, EventTarget, STORED_EVENT_STATUS,
};

/// Why recording stopped or a commit failed.
#[derive(Debug, Error)]
pub enum Error {
    /// The log refused the batch (storage failure, poisoned writer).
    #[error("log: {0}")]
    Log(#[from] driftlog_log::Error),
    /// A blocking task panicked or was cancelled.
    #[error("commit task failed: {0}")]
    Task(String),
    /// The source failed a targeted refresh.
    #[error("source: {0}")]
    Source(#[from] PollError),
    /// A refresh asked for a type the recording group leaves out.
    #[error("{0} is not recorded (see [recording_group] in the config)")]
    NotRecorded(String),
}

/// The recorder's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The recorder's status per scope as last saved, for `driftlog status` without a server.
pub const STORED_STATUS: driftlog_log::Namespace<Vec<driftlog_poll::ScopeStatus>> =
    driftlog_log::Namespace::new("recorder_status", 1);
/// Whether scheduled recording was on (1) or off (0) when the status was last saved.
pub const STORED_RUNNING: driftlog_log::Namespace<u8> =
    driftlog_log::Namespace::new("recorder_running", 1);

/// How long a DAILY-recorded resource waits between two items: AWS Config's 24 hours.
pub const DAILY_MS: i64 = 24 * 3600 * 1000;

/// Types AWS Config never records daily (PutConfigurationRecorder refuses them in a DAILY
/// override): compliance is history of the rules, kept as it happens.
pub const ALWAYS_CONTINUOUS: [&str; 3] = [
    "AWS::Config::ResourceCompliance",
    "AWS::Config::ConformancePackCompliance",
    "AWS::Config::ConfigurationRecorder",
];

/// AWS Config's `recordingMode`: which types are recorded on every change (CONTINUOUS) and
/// which at most once a day (DAILY) — fewer items, for types whose every flap nobody needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingMode {
    /// The `recordingFrequency` of every type no override names: true for DAILY.
    pub daily: bool,
    /// `recordingModeOverrides`: these types (exact names or globs) recorded DAILY (true)
    /// or CONTINUOUS (false). The first override naming a type decides.
    pub overrides: Vec<(Vec<TypePattern>, bool)>,
}

impl RecordingMode {
    /// True when `resource_type` is recorded at most once per resource per 24 hours.
    pub fn is_daily(&self, resource_type: &str) -> bool {
        if ALWAYS_CONTINUOUS.contains(&resource_type) {
            return false;
        }
        self.overrides
            .iter()
            .find(|(types, _)| types.iter().any(|t| t.matches(resource_type)))
            .map_or(self.daily, |(_, daily)| *daily)
    }

    /// True when nothing is recorded daily: the commit path skips the check entirely.
    pub fn all_continuous(&self) -> bool {
        !self.daily && self.overrides.iter().all(|(_, daily)| !daily)
    }
}

/// The recorder's clock (epoch ms): capture times and the DAILY windows. The system clock
/// by default; tests and benchmarks run an accelerated one.
#[derive(Clone)]
pub struct Clock(pub Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// Now, by this clock.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self(Arc::new(now_ms))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Settings of the recorder.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Scheduler pacing.
    pub scheduler: SchedulerConfig,
    /// Which types are recorded.
    pub group: RecordingGroup,
    /// Re-describe resources related to changed ones in the same cycle.
    pub recheck_related: bool,
    /// Upper bound of related resources re-described per commit.
    pub max_related: usize,
    /// Start recording at once.
    pub start_recording: bool,
    /// Which types are recorded daily rather than on every change.
    pub mode: RecordingMode,
    /// The clock of capture times and DAILY windows.
    pub clock: Clock,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            scheduler: SchedulerConfig::default(),
            group: RecordingGroup::default(),
            recheck_related: true,
            max_related: 10_000,
            start_recording: true,
            mode: RecordingMode::default(),
            clock: Clock::default(),
        }
    }
}

/// What one commit did.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    /// Diff counters of the poll (and of the related re-check).
    pub stats: DiffStats,
    /// Sequence range appended for the poll itself.
    pub appended: Option<RangeInclusive<Seq>>,
    /// Related resources re-described.
    pub related_checked: usize,
    /// Of those, how many were recorded because they really changed.
    pub related_changed: usize,
    /// The poll's error, if it was partial or failed.
    pub error: Option<PollError>,
    /// Time spent diffing and appending (flush included), ms.
    pub commit_ms: f64,
    /// Time spent re-checking related resources, ms.
    pub recheck_ms: f64,
}

/// Resources seen by the polls of one group commit, at most: bounds the memory of a batch
/// during the first discovery of a large estate.
pub const GROUP_RESOURCES: usize = 100_000;

impl CommitReport {
    /// Adds another report.
    pub fn merge(&mut self, o: &CommitReport) {
        self.stats.add(&o.stats);
        self.related_checked += o.related_checked;
        self.related_changed += o.related_changed;
        if o.appended.is_some() {
            self.appended = o.appended.clone();
        }
        if o.error.is_some() {
            self.error = o.error.clone();
        }
        self.commit_ms += o.commit_ms;
        self.recheck_ms += o.recheck_ms;
    }

    /// Items written, poll and re-check together.
    pub fn written(&self) -> u64 {
        self.stats.discovered + self.stats.updated + self.stats.deleted
    }
}

/// The recorder: a source, a log, a status board, and the switch that starts and stops it.
pub struct Recorder {
    log: Arc<Log>,
    source: Arc<dyn Source>,
    status: StatusBoard,
    group: Arc<RwLock<RecordingGroup>>,
    running: watch::Sender<bool>,
    cfg: RecorderConfig,
    writer: tokio::sync::Mutex<()>,
    mode: Arc<RwLock<RecordingMode>>,
    daily: Arc<std::sync::Mutex<DailyHeld>>,
    events: Arc<EventStats>,
}

/// What DAILY recording held back: per resource the state last held (to count each state
/// a continuous recorder would have written once), and per type the items saved.
#[derive(Debug, Default)]
struct DailyHeld {
    held: std::collections::HashMap<u128, u128>,
    saved: std::collections::BTreeMap<String, u64>,
}

impl Recorder {
    /// Builds a recorder; nothing runs until [`Recorder::run`] or a `poll_*` call.
    pub fn new(log: Arc<Log>, source: Arc<dyn Source>, cfg: RecorderConfig) -> Arc<Self> {
        let (running, _) = watch::channel(cfg.start_recording);
        let mode = Arc::new(RwLock::new(cfg.mode.clone()));
        Arc::new(Self {
            log,
            source,
            status: StatusBoard::default(),
            group: Arc::new(RwLock::new(cfg.group.clone())),
            running,
            cfg,
            writer: tokio::sync::Mutex::new(()),
            mode,
            daily: Arc::default(),
            events: Arc::default(),
        })
    }

    /// Why recording stopped on its own, if it did: the store refused a write — a commit,
    /// or anyone else's (sled then refuses every write, so the next commit would fail too:
    /// said now rather than at the next change). Derived from the log, which keeps it.
    pub fn failure(&self) -> Option<StorageFailure> {
        self.log.storage_failure()
    }

    fn records(&self, resource_type: &str) -> bool {
        self.group
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .records(resource_type)
    }

    /// The log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Counters of event-driven recording (all zero without an event feed).
    pub fn event_stats(&self) -> &Arc<EventStats> {
        &self.events
    }

    /// The per-scope recorder status.
    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// Starts (or resumes) scheduled polling.
    pub fn start(&self) {
        self.running.send_replace(true);
        self.save_status();
    }

    /// Stops scheduled polling; what was recorded stays readable.
    pub fn stop(&self) {
        self.running.send_replace(false);
        self.save_status();
    }

    /// True while scheduled polling is on and recording has not failed.
    pub fn is_recording(&self) -> bool {
        *self.running.borrow() && self.failure().is_none()
    }

    /// True while the user's switch is on (whatever happened since).
    pub fn is_switched_on(&self) -> bool {
        *self.running.borrow()
    }

    /// Changes which types are recorded, from the next poll on.
    pub fn set_group(&self, group: RecordingGroup) {
        *self.group.write().unwrap_or_else(|p| p.into_inner()) = group;
    }

    /// Changes which types are recorded daily, from the next commit on.
    pub fn set_mode(&self, mode: RecordingMode) {
        *self.mode.write().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    /// The recording mode in force.
    pub fn mode(&self) -> RecordingMode {
        self.mode.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Items DAILY recording saved since the recorder started, per type: the changes a
    /// continuous recorder would have written that were held back and never written.
    pub fn daily_saved(&self) -> std::collections::BTreeMap<String, u64> {
        self.daily
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .saved
            .clone()
    }

    /// The scopes that are recorded now.
    pub fn scopes(&self) -> Vec<Scope> {
        self.group
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .scopes_of(&*self.source)
    }

    /// Re-describes resources with the poll timeout: a hung source must not stall the
    /// commit loop or a waiting `refresh`.
    async fn describe(&self, keys: &[ResourceKey]) -> Result<PartialSnapshot, PollError> {
        let timeout = self.cfg.scheduler.timeout;
        match tokio::time::timeout(timeout, self.source.describe(keys)).await {
            Ok(r) => r,
            Err(_) => Err(PollError::Timeout(timeout)),
        }
    }

    /// Polls one scope now (with the timeout, recording the attempt in the status), as of
    /// the current log position.
    async fn poll_scope(&self, scope: &Scope) -> PollResult {
        Scheduler::poll_now(
            &*self.source,
            scope,
            self.cfg.scheduler.timeout,
            &self.status,
            self.log.watermark(),
        )
        .await
    }

    /// Polls one scope now and commits the outcome.
    ///
    /// # Errors
    /// [`Error::Log`] when the batch cannot be appended.
    pub async fn poll_once(&self, scope: &Scope) -> Result<CommitReport> {
        let r = self.poll_scope(scope).await;
        self.commit(r).await
    }

    /// Polls every recorded scope once and commits the results in groups (one flush per
    /// group of up to [`GROUP_RESOURCES`] resources seen), each poll's items still atomic.
    ///
    /// # Errors
    /// [`Error::Log`] when a batch cannot be appended.
    pub async fn poll_all_once(&self) -> Result<CommitReport> {
        let mut total = CommitReport::default();
        let mut pending: Vec<PollResult> = Vec::new();
        let mut pending_size = 0;
        let all = self.scopes();
        for scope in all.clone() {
            let r = self.poll_scope(&scope).await;
            pending_size += r.size();
            pending.push(r);
            if pending_size >= GROUP_RESOURCES {
                let group = std::mem::take(&mut pending);
                total.merge(&self.commit_group_covering(group, &all).await?);
                pending_size = 0;
            }
        }
        if !pending.is_empty() {
            total.merge(&self.commit_group_covering(pending, &all).await?);
        }
        Ok(total)
    }

    /// Re-describes `keys` now and records those that changed (never deletes).
    ///
    /// # Errors
    /// [`Error::Source`] when the source cannot describe; [`Error::Log`] on append failure.
    pub async fn refresh(&self, keys: &[ResourceKey]) -> Result<CommitReport> {
        if let Some(k) = keys.iter().find(|k| !self.records(&k.resource_type)) {
            return Err(Error::NotRecorded(k.resource_type.clone()));
        }
        let as_of = self.log.watermark();
        let snap = self.describe(keys).await?;
        let (stats, appended, changes) = self
            .diff_and_append(vec![Input::Partial(snap, as_of)])
            .await?;
        let mut report = CommitReport {
            stats: stats.into_iter().next().unwrap_or_default(),
            appended,
            ..CommitReport::default()
        };
        self.recheck(&changes, &[], &mut report).await?;
        Ok(report)
    }

    /// Records items derived from the log rather than polled (the rules engine's compliance
    /// results): `upserts` are diffed like a partial poll (an unchanged one writes nothing),
    /// and the live items among `ended` are recorded as deleted — the producer knows they
    /// ended, which a poll never does. One batch, under the same writer lock as polls, so
    /// versions stay consecutive. Nothing is re-checked: derived items have no neighbours
    /// to describe.
    ///
    /// # Errors
    /// [`Error::Log`] when the batch cannot be appended.
    pub async fn record_derived(
        &self,
        upserts: Vec<Observed>,
        ended: Vec<ResourceKey>,
    ) -> Result<(DiffStats, Option<RangeInclusive<Seq>>)> {
        if upserts.is_empty() && ended.is_empty() {
            return Ok((DiffStats::default(), None));
        }
        let as_of = self.log.watermark();
        let (stats, appended, _) = self
            .diff_and_append(vec![Input::Derived(
                PartialSnapshot { resources: upserts },
                ended,
                as_of,
            )])
            .await?;
        Ok((stats.into_iter().next().unwrap_or_default(), appended))
    }

    /// Records one round of items another recorder recorded (an aggregator's input): the
    /// resources in `upserts` as it recorded them (diffed like a partial poll: one already
    /// recorded here writes nothing), the keys in `deleted` recorded as deleted, each
    /// change attributed as the publisher attributed it, at `capture_time_ms` (kept after
    /// the last batch's time: the log's time index only moves forward), with `tag` stored
    /// atomically with the batch — or alone when nothing changed. Keys are distinct within
    /// a round. Nothing is re-checked: the publisher re-checked what it had to.
    ///
    /// # Errors
    /// [`Error::Log`] when the batch cannot be appended.
    pub async fn record_received(
        &self,
        upserts: Vec<Observed>,
        deleted: Vec<ResourceKey>,
        who: std::collections::HashMap<ResourceKey, Vec<driftlog_model::Attribution>>,
        capture_time_ms: i64,
        tag: Vec<u8>,
    ) -> Result<(DiffStats, Option<RangeInclusive<Seq>>)> {
        let as_of = self.log.watermark();
        // Diffed on all cores: the round cut into consecutive parts, one input each (keys
        // are distinct, and inputs are appended in order: the batch keeps the round's
        // order, deletions last). An update's diff reads the previous version from its
        // frame, the heaviest step of a round of changes.
        let parts = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(upserts.len() / RECEIVED_PER_THREAD)
            .max(1);
        let per = upserts.len().div_ceil(parts).max(1);
        let mut who = who;
        let mut chunks: Vec<Vec<Observed>> = Vec::with_capacity(parts);
        let mut rest = upserts.into_iter();
        loop {
            let chunk: Vec<Observed> = rest.by_ref().take(per).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let last = chunks.len() - 1;
        let mut deleted = Some(deleted);
        let inputs: Vec<Input> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, resources)| {
                let mine = if i == last {
                    std::mem::take(&mut who)
                } else {
                    resources
                        .iter()
                        .filter_map(|o| who.remove_entry(&*o.key))
                        .collect()
                };
                let gone = if i == last {
                    deleted.take().unwrap_or_default()
                } else {
                    Vec::new()
                };
                Input::Received(PartialSnapshot { resources }, gone, as_of, mine)
            })
            .collect();
        let (stats, appended, _) = self
            .diff_and_append_at(inputs, Some((capture_time_ms, tag)))
            .await?;
        let mut total = DiffStats::default();
        for s in &stats {
            total.add(s);
        }
        Ok((total, appended))
    }

    /// Diffs and appends one finished poll, then re-checks related resources.
    ///
    /// # Errors
    /// [`Error::Log`] when the batch cannot be appended.
    pub async fn commit(&self, r: PollResult) -> Result<CommitReport> {
        self.commit_group(vec![r]).await
    }

    /// Diffs several finished polls of distinct scopes and appends all their items in one
    /// batch (one flush: group commit), then re-checks related resources once.
    ///
    /// # Errors
    /// [`Error::Log`] when the batch cannot be appended.
    pub async fn commit_group(&self, results: Vec<PollResult>) -> Result<CommitReport> {
        self.commit_group_covering(results, &[]).await
    }

    /// As [`Recorder::commit_group`]; `also_covered` names scopes polled completely in the
    /// same cycle but committed in another group, whose resources need no re-check.
    async fn commit_group_covering(
        &self,
        results: Vec<PollResult>,
        also_covered: &[Scope],
    ) -> Result<CommitReport> {
        let mut report = CommitReport::default();
        let mut inputs = Vec::with_capacity(results.len());
        let mut scopes = Vec::with_capacity(results.len());
        for r in results {
            match r.outcome {
                PollOutcome::Complete(s) => {
                    scopes.push(r.scope);
                    inputs.push(Input::Complete(s, r.as_of));
                }
                PollOutcome::Partial(p, e) => {
                    // A partial poll changes nothing (not even what it did see): the scope
                    // is recorded whole by its next complete poll, and the status says why.
                    tracing::warn!(scope = %r.scope, error = %e, seen = p.resources.len(),
                        "Partial poll; nothing changed.");
                    report.error = Some(e);
                }
                PollOutcome::Failed(e) => {
                    tracing::warn!(scope = %r.scope, error = %e, "Poll failed; nothing changed.");
                    report.error = Some(e);
                }
            }
        }
        if inputs.is_empty() {
            return Ok(report);
        }
        let t0 = std::time::Instant::now();
        let (per_input, appended, changes) = self.diff_and_append(inputs).await?;
        report.commit_ms = t0.elapsed().as_secs_f64() * 1e3;
        for (scope, stats) in scopes.iter().zip(&per_input) {
            report.stats.add(stats);
            self.status.update(scope, |s| {
                s.last_changes = stats.discovered + stats.updated + stats.deleted;
                s.last_volatile_ticks = stats.volatile_only;
                s.total_changes += s.last_changes;
                s.total_volatile_ticks += stats.volatile_only;
            });
        }
        if let Some(range) = &appended {
            tracing::info!(
                polls = scopes.len(),
                first = range.start(),
                last = range.end(),
                discovered = report.stats.discovered,
                updated = report.stats.updated,
                deleted = report.stats.deleted,
                "Appended batch."
            );
        }
        report.appended = appended;
        let t1 = std::time::Instant::now();
        let mut covered = scopes.clone();
        covered.extend(also_covered.iter().cloned());
        self.recheck(&changes, &covered, &mut report).await?;
        report.recheck_ms = t1.elapsed().as_secs_f64() * 1e3;
        self.save_status();
        Ok(report)
    }

    /// Keeps the status in the store so `driftlog status` can read it offline. A store
    /// that refuses it has failed ([`Recorder::failure`] reports that); the refusal is
    /// counted and logged by the store, and the status is rewritten after the next poll.
    fn save_status(&self) {
        STORED_STATUS.put_or_count(&self.log, "", &self.status.snapshot());
        STORED_RUNNING.put_or_count(&self.log, "", &u8::from(self.is_switched_on()));
    }

    /// Diffs every input against the current state and appends all items as one batch.
    /// Inputs cover distinct scopes, so their diffs are independent of each other.
    async fn diff_and_append(
        &self,
        inputs: Vec<Input>,
    ) -> Result<(Vec<DiffStats>, Option<RangeInclusive<Seq>>, Vec<Change>)> {
        self.diff_and_append_at(inputs, None).await
    }

    /// As [`Recorder::diff_and_append`]; `at` gives the capture time (instead of the clock)
    /// and a tag stored atomically with the batch ([`Log::append_tagged`]).
    async fn diff_and_append_at(
        &self,
        inputs: Vec<Input>,
        at: Option<(i64, Vec<u8>)>,
    ) -> Result<(Vec<DiffStats>, Option<RangeInclusive<Seq>>, Vec<Change>)> {
        // One diff-and-append at a time: two concurrent diffs against the same state would
        // give one resource two "next" versions.
        let _writer = self.writer.lock().await;
        let log = self.log.clone();
        let mode = self.mode();
        let clock = self.cfg.clock.clone();
        let daily = self.daily.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let load = |seq: Seq| -> driftlog_log::Result<bytes::Bytes> { log.doc_at(seq) };
            // A derived item that ends (a compliance result) keeps its last evaluation's
            // times (volatile) in the deletion's previous value, for the notification's old
            // result.
            let load_whole = |seq: Seq| -> driftlog_log::Result<bytes::Bytes> {
                match log.get(seq)?.and_then(|ci| ci.document().ok()) {
                    Some(doc) => Ok(bytes::Bytes::from(doc.to_string())),
                    None => log.doc_at(seq),
                }
            };
            // Inputs are distinct scopes: diff them on all cores, merge in input order.
            let results: Vec<driftlog_log::Result<Diffed>> = {
                let state = log.state();
                let next = AtomicUsize::new(0);
                let threads = std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(inputs.len())
                    .max(1);
                let mut slots: Vec<Option<driftlog_log::Result<Diffed>>> =
                    (0..inputs.len()).map(|_| None).collect();
                let done: Vec<Vec<(usize, driftlog_log::Result<Diffed>)>> =
                    std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                s.spawn(|| {
                                    let mut mine = Vec::new();
                                    loop {
                                        let i = next.fetch_add(1, Ordering::Relaxed);
                                        let Some(input) = inputs.get(i) else { break };
                                        let r = match input {
                                            Input::Complete(snap, as_of) => {
                                                diff_complete(&state, snap, *as_of, load)
                                            }
                                            Input::Partial(p, as_of) => {
                                                diff_partial(&state, p, *as_of, load)
                                            }
                                            Input::Derived(p, gone, as_of) => diff_partial(
                                                &state, p, *as_of, load,
                                            )
                                            .and_then(|mut d| {
                                                let r =
                                                    diff_removed(&state, gone, *as_of, load_whole)?;
                                                d.changes.extend(r.changes);
                                                d.stats.add(&r.stats);
                                                Ok(d)
                                            }),
                                            Input::Received(p, gone, as_of, _) => diff_partial(
                                                &state, p, *as_of, load,
                                            )
                                            .and_then(|mut d| {
                                                // Ended compliance results keep their
                                                // times, as the publisher's do.
                                                let (derived, plain): (Vec<_>, Vec<_>) =
                                                    gone.iter().cloned().partition(|k| {
                                                        k.resource_type
                                                            == driftlog_model::COMPLIANCE_TYPE
                                                    });
                                                for (keys, whole) in
                                                    [(plain, false), (derived, true)]
                                                {
                                                    let r = if whole {
                                                        diff_removed(
                                                            &state, &keys, *as_of, load_whole,
                                                        )?
                                                    } else {
                                                        diff_removed(&state, &keys, *as_of, load)?
                                                    };
                                                    d.changes.extend(r.changes);
                                                    d.stats.add(&r.stats);
                                                }
                                                Ok(d)
                                            }),
                                            Input::Events(p, gone, as_of, _) => diff_partial(
                                                &state, p, *as_of, load,
                                            )
                                            .and_then(|mut d| {
                                                let r = diff_removed(&state, gone, *as_of, load)?;
                                                d.changes.extend(r.changes);
                                                d.stats.add(&r.stats);
                                                Ok(d)
                                            }),
                                        };
                                        mine.push((i, r));
                                    }
                                    mine
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                            .collect()
                    });
                for (i, r) in done.into_iter().flatten() {
                    slots[i] = Some(r);
                }
                slots.into_iter().flatten().collect()
            };
            let (now, tag) = match at {
                Some((t, tag)) => (t, Some(tag)),
                None => (clock.now(), None),
            };
            let mut changes = Vec::new();
            let mut per_input = Vec::with_capacity(inputs.len());
            let mut ticks = Vec::new();
            for (r, input) in results.into_iter().zip(&inputs) {
                let Diffed {
                    changes: mut c,
                    volatile_ticks,
                    mut stats,
                } = r?;
                if !mode.all_continuous()
                    && !matches!(input, Input::Derived(..) | Input::Received(..))
                {
                    hold_daily(&log, &mode, &daily, now, &mut c, &mut stats)?;
                }
                if let Input::Events(_, _, _, who) | Input::Received(_, _, _, who) = input {
                    for change in &mut c {
                        if let Some(a) = who.get(&change.key) {
                            change.attribution.clone_from(a);
                        }
                    }
                }
                changes.extend(c);
                ticks.extend(volatile_ticks);
                per_input.push(stats);
            }
            log.note_volatile(&ticks);
            let appended = log.append_tagged(&changes, now, tag.as_deref())?;
            Ok((per_input, appended, changes))
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Re-describes the resources directly related to updated or deleted ones and records
    /// those that really changed. Discoveries are not re-checked: their neighbours are being
    /// discovered by their own polls.
    ///
    /// Neighbours in `covered` scopes are skipped: a complete snapshot of their scope was
    /// diffed in this same commit, so they have just been checked.
    async fn recheck(
        &self,
        changes: &[Change],
        covered: &[Scope],
        report: &mut CommitReport,
    ) -> Result<()> {
        if !self.cfg.recheck_related {
            return Ok(());
        }
        let changed: BTreeSet<&ResourceKey> = changes.iter().map(|c| &c.key).collect();
        let mut related: BTreeSet<ResourceKey> = BTreeSet::new();
        for c in changes
            .iter()
            .filter(|c| c.status != Status::ResourceDiscovered)
        {
            for r in doc_relationships(&c.doc) {
                let region = if spec_for(&r.resource_type).global {
                    "global".to_string()
                } else {
                    c.key.region.clone()
                };
                related.insert(ResourceKey::new(
                    &c.key.account,
                    region,
                    r.resource_type,
                    r.resource_id,
                ));
            }
            related.extend(
                self.log
                    .pointing_at(&c.key.resource_type, &c.key.resource_id),
            );
            if related.len() >= self.cfg.max_related {
                break;
            }
        }
        related.retain(|k| {
            !changed.contains(k)
                && self.records(&k.resource_type)
                && !covered.iter().any(|s| s.contains(k))
        });
        if related.is_empty() {
            return Ok(());
        }
        let keys: Vec<ResourceKey> = related.into_iter().collect();
        let as_of = self.log.watermark();
        let snap = match self.describe(&keys).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, n = keys.len(), "Re-check of related resources failed; nothing changed.");
                return Ok(());
            }
        };
        let (stats, _, _) = self
            .diff_and_append(vec![Input::Partial(snap, as_of)])
            .await?;
        let stats = stats.into_iter().next().unwrap_or_default();
        report.related_checked += keys.len();
        report.related_changed += (stats.discovered + stats.updated) as usize;
        report.stats.add(&DiffStats { seen: 0, ..stats });
        Ok(())
    }

    /// Runs scheduled polling and commits until `shutdown` resolves. A commit that fails
    /// stops polling — nothing more can be recorded — but not this task: it waits for
    /// `shutdown` like a healthy one, and [`Recorder::failure`] says why recording stopped,
    /// so the rest of the server (reads, the API, delivery of what was recorded) goes on.
    ///
    /// # Errors
    /// None today; the result is kept for callers that stop on an error.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let (tx, mut rx) = mpsc::channel::<PollResult>(self.cfg.scheduler.concurrency.max(1) * 2);
        let (stop_tx, stop_rx) = watch::channel(false);
        let scheduler = Scheduler::new(
            self.source.clone(),
            self.cfg.scheduler.clone(),
            self.group.clone(),
            self.running.subscribe(),
            self.status.clone(),
            {
                let log = self.log.clone();
                Arc::new(move || log.watermark())
            },
        );
        let mut stop_sched = stop_rx.clone();
        let sched = tokio::spawn(scheduler.run(tx, async move {
            let _ = stop_sched.wait_for(|s| *s).await;
        }));
        tokio::pin!(shutdown);
        // A poll of a scope already in the group waits for the next group: two polls of one
        // scope diffed against the same state would record every change twice.
        let mut carry: Option<PollResult> = None;
        let result = loop {
            let first = match carry.take() {
                Some(r) => r,
                None => tokio::select! {
                    _ = &mut shutdown => break Ok(()),
                    r = rx.recv() => match r {
                        Some(r) => r,
                        None => break Ok(()),
                    },
                },
            };
            // Group commit: take every poll that finished meanwhile, one flush.
            let mut size = first.size();
            let mut group = vec![first];
            while size < GROUP_RESOURCES {
                match rx.try_recv() {
                    Ok(more) if group.iter().any(|g| g.scope == more.scope) => {
                        carry = Some(more);
                        break;
                    }
                    Ok(more) => {
                        size += more.size();
                        group.push(more);
                    }
                    Err(_) => break,
                }
            }
            match self.commit_group(group).await {
                Ok(_) => {}
                // The store takes no more writes: polling on would only throw polls away.
                Err(e) if self.log.is_poisoned() => {
                    if let Some(f) = self.failure() {
                        tracing::error!(code = f.code, error = %f.message,
                            "Recording stopped; reads and the API go on: {}.", f.remedy());
                    }
                    break Err(e);
                }
                // One group that could not be diffed (a frame that failed to read, a
                // panicked diff) records nothing; its scopes are polled again.
                Err(e) => {
                    tracing::error!(error = %e, "Commit failed; nothing recorded, the scopes are polled again.");
                }
            }
        };
        let _ = stop_tx.send(true);
        let _ = sched.await;
        if result.is_err() {
            // Polls would only be thrown away: wait for the server to stop.
            drop(rx);
            shutdown.await;
        }
        self.save_status();
        if let Err(e) = self.log.flush() {
            tracing::debug!(error = %e, "Final flush failed.");
        }
        Ok(())
    }
}

/// DAILY recording (AWS Config's `recordingMode`): a change of a DAILY type whose resource
/// already has an item captured less than [`DAILY_MS`] ago is held back — not written, so
/// the state keeps the last item and the next poll after the window sees the change again
/// and records the state of that moment (deletions too). A change that went back within
/// the window records nothing. A resource's first item is never held.
fn hold_daily(
    log: &Log,
    mode: &RecordingMode,
    daily: &std::sync::Mutex<DailyHeld>,
    now: i64,
    changes: &mut Vec<Change>,
    stats: &mut DiffStats,
) -> Result<()> {
    let mut d = daily.lock().unwrap_or_else(|p| p.into_inner());
    let mut kept = Vec::with_capacity(changes.len());
    for c in changes.drain(..) {
        let held = match c.prev_seq {
            Some(prev) if mode.is_daily(&c.key.resource_type) => {
                now.saturating_sub(log.capture_time_at(prev)?) < DAILY_MS
            }
            _ => false,
        };
        if held {
            // Each distinct state held is one item a continuous recorder would have written.
            if d.held.insert(c.id, c.doc_hash) != Some(c.doc_hash) {
                *d.saved.entry(c.key.resource_type.clone()).or_default() += 1;
            }
            match c.status {
                Status::ResourceDiscovered => {
                    stats.discovered = stats.discovered.saturating_sub(1);
                }
                s if s.is_deletion() => stats.deleted = stats.deleted.saturating_sub(1),
                _ => stats.updated = stats.updated.saturating_sub(1),
            }
            stats.daily_held += 1;
            continue;
        }
        // Written now: if this very state was held before, it was counted as saved.
        if d.held.remove(&c.id) == Some(c.doc_hash) {
            if let Some(n) = d.saved.get_mut(&c.key.resource_type) {
                *n = n.saturating_sub(1);
            }
        }
        kept.push(c);
    }
    *changes = kept;
    Ok(())
}

/// A diff input with the log position its observation started at.
/// A received round is diffed on several threads only from this many items per thread.
const RECEIVED_PER_THREAD: usize = 256;

enum Input {
    Complete(driftlog_model::CompleteSnapshot, Seq),
    Partial(PartialSnapshot, Seq),
    /// Derived items (compliance results): these upserts, and these keys ended.
    Derived(PartialSnapshot, Vec<ResourceKey>, Seq),
    /// A describe driven by CloudTrail events: what it found, the keys a delete event named
    /// that it vouched are gone, and who made each change.
    Events(
        PartialSnapshot,
        Vec<ResourceKey>,
        Seq,
        std::collections::HashMap<ResourceKey, Vec<driftlog_model::Attribution>>,
    ),
    /// Items another recorder recorded (an aggregator's input): the resources as it
    /// recorded them, the keys it recorded as deleted, and who made each change.
    Received(
        PartialSnapshot,
        Vec<ResourceKey>,
        Seq,
        std::collections::HashMap<ResourceKey, Vec<driftlog_model::Attribution>>,
    ),
}

fn doc_relationships(doc: &[u8]) -> Vec<Relationship> {
    #[derive(serde::Deserialize)]
    struct Edges {
        #[serde(default)]
        relationships: Vec<Relationship>,
    }
    serde_json::from_slice::<Edges>(doc)
        .map(|e| e.relationships)
        .unwrap_or_default()
}
