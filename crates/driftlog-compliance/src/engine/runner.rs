//! The runner: everything that judges and records. The change loop follows the log with a
//! durable cursor; full runs judge the inventory (a rule put, periodic, on demand); failed
//! external invocations are retried; a deleted rule's results are ended. Whatever judges,
//! what it produced ([`Outcome`]s) is recorded by one path, [`Engine::apply`].

mod apply;
mod full_run;
mod judge;
mod retry;

use super::{Engine, EngineError, Result};
use crate::def::frequency_ms;
use crate::item::ResultRecord;
use crate::namespaces::{
    rule_results, rule_retries, CHANGES_CURSOR, DELETING, LAST_RUN, PENDING, RESULTS, RETRIES,
    STATUSES,
};
use driftlog_log::Batch;
use driftlog_model::time::now_ms;
use driftlog_model::{Filter, ResourceKey, Seq, COMPLIANCE_TYPE};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Items judged per batch of the change loop (one append of results per batch).
const BATCH: usize = 1024;
/// How long a store that failed is left before the next try: long enough not to spin on a
/// full disk, short enough to resume soon after it is freed.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// What judging produced, before it is recorded.
pub(super) enum Outcome {
    /// A verdict, with the generation of the rule definition that gave it.
    Result(ResultRecord, u64),
    Ended {
        rule: String,
        resource_type: String,
        resource_id: String,
        /// Only if the result came from an item at or before this position (a full run's
        /// snapshot): a newer result, from the change loop, stays.
        judged_by: Option<Seq>,
    },
    Failed {
        rule: String,
        message: String,
        invocation: bool,
        /// The resource whose external invocation failed: it is tried again later.
        retry: Option<(ResourceKey, Seq)>,
    },
    Invoked {
        rule: String,
        /// The resource the evaluator was invoked for: a pending retry of it is done.
        key: Option<ResourceKey>,
    },
}

/// A result's [`ResultRecord::place_region`]: the judging rule's region where it differs
/// from the resource's.
pub(super) fn place_region(rule_region: Option<&String>, resource_region: &str) -> Option<String> {
    rule_region.filter(|r| *r != resource_region).cloned()
}

/// Full runs queued and running. One lock for the three, as each change to one is
/// decided by the others (a rule queued while the drain task ends must start a new one).
#[derive(Default)]
struct FullRuns {
    /// Rules queued for or in a full run: a second start of one is refused.
    running: HashSet<String>,
    /// Rules queued for the drain task's next round.
    queued: HashSet<String>,
    /// A task drains the queue.
    draining: bool,
}

/// The runner's own state: which full runs are due, whether retries are under way, and
/// the one recording in progress.
pub(super) struct Runner {
    /// Every task the engine starts (full runs, retries, cleanups, the scheduler): the
    /// change loop's end cancels and joins them, so the server's shutdown waits for them.
    tasks: TaskTracker,
    /// Cancels those tasks at their next await: a run cut short is resumed at the next
    /// start (its pending mark stays), as after a crash.
    cancel: CancellationToken,
    full_runs: Mutex<FullRuns>,
    /// True while a task retries failed external invocations.
    retrying: AtomicBool,
    /// One recording at a time: each reads the results it replaces, so two at once could
    /// both replace the same one and count it twice.
    apply_lock: tokio::sync::Mutex<()>,
}

impl Runner {
    pub(super) fn new() -> Self {
        Self {
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            full_runs: Mutex::new(FullRuns::default()),
            retrying: AtomicBool::new(false),
            apply_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `fut` as one of the engine's tasks until it ends or the engine stops.
    pub(super) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<Option<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => None,
                out = fut => Some(out),
            }
        })
    }

    /// Cancels every task of the engine and waits until all have ended.
    pub(super) async fn stop_tasks(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// True while a full run of `name` is queued or runs.
    pub(super) fn is_running(&self, name: &str) -> bool {
        self.full_runs().running.contains(name)
    }

    /// The first of `names` whose full run is queued or runs.
    pub(super) fn first_running(&self, names: &[String]) -> Option<String> {
        let runs = self.full_runs();
        names.iter().find(|n| runs.running.contains(*n)).cloned()
    }

    /// Queues a full run of `name`; true when no task drains the queue, so the caller
    /// starts one.
    fn queue(&self, name: String) -> bool {
        let mut runs = self.full_runs();
        runs.running.insert(name.clone());
        runs.queued.insert(name);
        !std::mem::replace(&mut runs.draining, true)
    }

    /// The rules of the drain task's next round, in name order; `None` ends the task.
    fn next_round(&self) -> Option<Vec<String>> {
        let mut runs = self.full_runs();
        if runs.queued.is_empty() {
            runs.draining = false;
            return None;
        }
        let mut v: Vec<String> = runs.queued.drain().collect();
        v.sort();
        Some(v)
    }

    /// A round of `names` is over; those queued again meanwhile still run.
    fn round_done(&self, names: &[String]) {
        let mut runs = self.full_runs();
        for n in names {
            if !runs.queued.contains(n) {
                runs.running.remove(n);
            }
        }
    }

    /// A panic in a full run must not keep rules "running" forever: a poisoned lock is
    /// used as is (each change under it is made in full).
    fn full_runs(&self) -> MutexGuard<'_, FullRuns> {
        self.full_runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Engine {
    /// [`Engine::run`].
    pub(super) async fn run_until(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> Result<()> {
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        self.resume_unfinished()?;
        self.spawn_scheduler(stop.clone());
        let Some(mut cursor) = self.open_cursor(&mut stop).await else {
            self.runner.stop_tasks().await;
            return Ok(());
        };
        let mut water = self.log.subscribe_watermark();
        let result = loop {
            if *stop.borrow() {
                break Ok(());
            }
            match self.change_step(cursor).await {
                Ok(Some(next)) => {
                    cursor = next;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "Rules change loop failed; retrying in 5 s.");
                    tokio::select! {
                        _ = tokio::time::sleep(STORE_RETRY) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
            tokio::select! {
                _ = water.changed() => {}
                _ = stop.changed() => {}
            }
        };
        self.runner.stop_tasks().await;
        result
    }

    /// Takes up what a previous process left: full runs of rules put but not yet
    /// evaluated, results of deleted rules not yet ended.
    fn resume_unfinished(self: &Arc<Self>) -> Result<()> {
        for (name, _) in PENDING.all(&self.log)? {
            self.spawn_full_run(name, "put before restart");
        }
        for (name, _) in DELETING.all(&self.log)? {
            self.spawn_clean_deleted(name, false);
        }
        Ok(())
    }

    /// Starts the task that looks for due periodic rules every `periodic_check` and
    /// retries failed invocations as soon as due (every `retry_after` at most).
    fn spawn_scheduler(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let me = self.clone();
        self.runner.spawn(async move {
            let tick = me
                .settings
                .periodic_check
                .min(me.settings.retry_after)
                .max(Duration::from_millis(50));
            let mut last_periodic: Option<Instant> = None;
            loop {
                if last_periodic.is_none_or(|t| t.elapsed() >= me.settings.periodic_check) {
                    last_periodic = Some(Instant::now());
                    me.start_due_periodic();
                }
                me.spawn_due_retries();
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
            }
        });
    }

    /// The change loop's cursor; on the first start, the log's end (resources recorded so
    /// far are judged by each rule's full run). A store that refuses the cursor (a full
    /// disk) is retried, never a reason to stop; `None` once `stop` turns true.
    async fn open_cursor(&self, stop: &mut watch::Receiver<bool>) -> Option<Seq> {
        loop {
            let stored = self.log.cursor(CHANGES_CURSOR).and_then(|c| match c {
                Some(c) => Ok(c),
                None => {
                    let w = self.log.watermark();
                    self.log.set_cursor(CHANGES_CURSOR, w).map(|()| w)
                }
            });
            match stored {
                Ok(c) => return Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "Rules cursor not stored; retrying in 5 s.");
                    tokio::select! {
                        _ = tokio::time::sleep(STORE_RETRY) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return None;
                    }
                }
            }
        }
    }

    /// Judges the next batch of changes after `cursor` with the change-triggered rules and
    /// records the results, then moves the cursor. `None` when nothing is new.
    async fn change_step(&self, cursor: Seq) -> Result<Option<Seq>> {
        let (items, last) = self.log.read_range(cursor, BATCH, &Filter::default())?;
        if last == cursor {
            return Ok(None);
        }
        let (rules, others): (Vec<_>, Vec<_>) = self
            .store
            .all()
            .into_iter()
            .partition(|a| a.def.triggers.on_change);
        // A deleted resource's results end under every rule, periodic ones included.
        let mut outcomes: Vec<Outcome> = items
            .iter()
            .filter(|i| i.status.is_deletion() && i.key.resource_type != COMPLIANCE_TYPE)
            .flat_map(|i| {
                others
                    .iter()
                    .filter(|a| {
                        a.def.rule.applies_to_scope(
                            &i.key.account,
                            &i.key.region,
                            &i.key.resource_type,
                        )
                    })
                    .map(|a| Outcome::Ended {
                        rule: a.def.rule.name.clone(),
                        resource_type: i.key.resource_type.clone(),
                        resource_id: i.key.resource_id.clone(),
                        judged_by: Some(i.seq),
                    })
            })
            .collect();
        let relevant = items.iter().any(|i| i.key.resource_type != COMPLIANCE_TYPE);
        if !rules.is_empty() && relevant {
            outcomes.extend(self.judge_items(&rules, items, false).await);
        }
        if !outcomes.is_empty() {
            self.apply(outcomes, false).await?;
        }
        // After the results: a crash in between judges the batch again, and the diff stage
        // finds the recorded results unchanged — so the cursor need not wait for the disk.
        self.log.set_cursor_lazy(CHANGES_CURSOR, last)?;
        Ok(Some(last))
    }

    /// Queues full runs of the periodic rules whose period has passed since their last run
    /// (since they were created, before the first).
    fn start_due_periodic(self: &Arc<Self>) {
        let now = now_ms();
        let due: Vec<String> = self
            .store
            .all()
            .iter()
            .filter_map(|a| {
                let period = frequency_ms(a.def.triggers.periodic.as_deref()?)?;
                let last = LAST_RUN
                    .get(&self.log, &a.def.rule.name)
                    .ok()
                    .flatten()
                    .unwrap_or(a.def.created_ms);
                (now - last >= period).then(|| a.def.rule.name.clone())
            })
            .collect();
        for name in due {
            if !self.is_running(&name) {
                self.spawn_full_run(name, "periodic");
            }
        }
    }

    /// Ends a deleted rule's results in the background; its [`DELETING`] mark stays
    /// until that is done, so a failure is taken up again at the next start.
    pub(super) fn spawn_clean_deleted(self: &Arc<Self>, name: String, just_deleted: bool) {
        let me = self.clone();
        self.runner.spawn(async move {
            if let Err(e) = me.clean_deleted(&name).await {
                if just_deleted {
                    tracing::warn!(rule = %name, error = %e, "Cleaning a deleted rule's results failed; retried at next start.");
                } else {
                    tracing::warn!(rule = %name, error = %e, "Cleaning a deleted rule's results failed.");
                }
            }
        });
    }

    /// Ends every result of a deleted rule, then forgets it.
    async fn clean_deleted(&self, name: &str) -> Result<()> {
        let under = rule_results(name);
        loop {
            if self.store.get(name).is_some() {
                // Cannot happen (a rule being deleted cannot be put), but never end a live
                // rule's results.
                return Ok(());
            }
            let page = RESULTS.page_under(&self.log, &under, None, 1024)?;
            if page.is_empty() {
                break;
            }
            let mut outcomes = Vec::new();
            for (k, stored) in page {
                match stored.into_value() {
                    Some(r) => outcomes.push(Outcome::Ended {
                        rule: r.rule,
                        resource_type: r.resource_type,
                        resource_id: r.resource_id,
                        judged_by: None,
                    }),
                    None => {
                        tracing::warn!(key = %k, "Unreadable result of a deleted rule; removed.");
                        RESULTS.remove(&self.log, &k)?;
                    }
                }
            }
            self.apply(outcomes, false).await?;
        }
        self.results.forget_counts(name);
        let mut batch = Batch::default();
        for (k, _) in RETRIES.page_under(&self.log, &rule_retries(name), None, usize::MAX)? {
            batch.remove(&RETRIES, &k);
        }
        batch.remove(&DELETING, name);
        batch.remove(&STATUSES, name);
        batch.remove(&LAST_RUN, name);
        batch.apply(&self.log)?;
        Ok(())
    }
}
