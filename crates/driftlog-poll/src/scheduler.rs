use crate::{PollError, PollOutcome, RecordingGroup, Source, StatusBoard};
use driftlog_model::time::now_ms;
use driftlog_model::Scope;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How the scheduler paces polls. Defaults suit a real account; the sim is fine with them.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Time between two polls of one scope.
    pub interval: Duration,
    /// Random spread of each interval, as a fraction (0.1 = ±10%), so scopes do not poll in
    /// lockstep and hit API rate limits together.
    pub jitter: f64,
    /// A poll running longer is abandoned and counts as failed.
    pub timeout: Duration,
    /// Polls running at once.
    pub concurrency: usize,
    /// First retry delay after a failure; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            jitter: 0.1,
            timeout: Duration::from_secs(120),
            concurrency: 4,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
        }
    }
}

/// One finished poll, on its way to the diff stage.
#[derive(Debug)]
pub struct PollResult {
    /// The scope polled.
    pub scope: Scope,
    /// What the poll produced.
    pub outcome: PollOutcome,
    /// When it started, epoch ms.
    pub started_ms: i64,
    /// The log position when the poll started: anything recorded after it is newer than
    /// what this poll saw, so the poll must neither delete nor revert it.
    pub as_of: u64,
    /// How long it took.
    pub duration: Duration,
}

impl PollResult {
    /// Resources the poll carries (to bound the size of a group commit).
    pub fn size(&self) -> usize {
        match &self.outcome {
            PollOutcome::Complete(s) => s.resources().len(),
            PollOutcome::Partial(p, _) => p.resources.len(),
            PollOutcome::Failed(_) => 0,
        }
    }
}

/// The wait before the next poll of a scope: the interval after a success, else
/// `backoff_base × 2^(failures-1)` capped at `backoff_max`; either spread by ±jitter, where
/// `unit` is a uniform random number in [0, 1).
pub fn next_delay(cfg: &SchedulerConfig, failures: u32, unit: f64) -> Duration {
    let base = if failures == 0 {
        cfg.interval
    } else {
        cfg.backoff_base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(cfg.backoff_max)
    };
    let j = cfg.jitter.clamp(0.0, 1.0);
    base.mul_f64(1.0 + j * (unit * 2.0 - 1.0))
}

/// Runs every scope of a source on its own timer.
pub struct Scheduler {
    source: Arc<dyn Source>,
    cfg: SchedulerConfig,
    group: Arc<RwLock<RecordingGroup>>,
    running: watch::Receiver<bool>,
    status: StatusBoard,
    position: Position,
}

/// Reads the log position (the recorder passes the log's watermark).
pub type Position = Arc<dyn Fn() -> u64 + Send + Sync>;

impl Scheduler {
    /// A scheduler over `source`; `group` and `running` may change while it runs.
    pub fn new(
        source: Arc<dyn Source>,
        cfg: SchedulerConfig,
        group: Arc<RwLock<RecordingGroup>>,
        running: watch::Receiver<bool>,
        status: StatusBoard,
        position: Position,
    ) -> Self {
        Self {
            source,
            cfg,
            group,
            running,
            status,
            position,
        }
    }

    /// Polls one scope now, with the timeout, and records the attempt in the status.
    pub async fn poll_now(
        source: &dyn Source,
        scope: &Scope,
        timeout: Duration,
        status: &StatusBoard,
        as_of: u64,
    ) -> PollResult {
        let started_ms = now_ms();
        status.update(scope, |s| s.last_attempt_ms = Some(started_ms));
        let t0 = Instant::now();
        let outcome = match tokio::time::timeout(timeout, source.poll(scope)).await {
            Ok(o) => o,
            Err(_) => PollOutcome::Failed(PollError::Timeout(timeout)),
        };
        let duration = t0.elapsed();
        status.update(scope, |s| {
            s.last_duration_ms = duration.as_millis() as u64;
            s.polls += 1;
            if !matches!(outcome, PollOutcome::Complete(_)) {
                s.poll_errors += 1;
            }
            match &outcome {
                PollOutcome::Complete(snap) => {
                    s.last_success_ms = Some(now_ms());
                    s.last_error_code = None;
                    s.last_error_message = None;
                    s.consecutive_failures = 0;
                    s.resources_seen = snap.resources().len() as u64;
                }
                PollOutcome::Partial(p, e) => {
                    s.last_error_code = Some(e.code().to_string());
                    s.last_error_message = Some(format!(
                        "{e} (partial: {} resources kept, nothing deleted)",
                        p.resources.len()
                    ));
                    s.consecutive_failures += 1;
                    s.resources_seen = p.resources.len() as u64;
                }
                PollOutcome::Failed(e) => {
                    s.last_error_code = Some(e.code().to_string());
                    s.last_error_message = Some(format!("{e} (nothing changed)"));
                    s.consecutive_failures += 1;
                }
            }
        });
        PollResult {
            scope: scope.clone(),
            outcome,
            started_ms,
            as_of,
            duration,
        }
    }

    fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        next_delay(&self.cfg, failures, rng.f64())
    }

    /// Runs until `shutdown` resolves, sending every finished poll to `tx` (bounded, so a
    /// slow diff stage slows polling instead of growing memory).
    pub async fn run(mut self, tx: mpsc::Sender<PollResult>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rng = fastrand::Rng::with_seed(now_ms() as u64);
        let permits = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let mut due: BTreeMap<Scope, Instant> = BTreeMap::new();
        let mut in_flight: JoinSet<(Scope, u32)> = JoinSet::new();
        // Which scope each task polls, so a task that panics frees its scope.
        let mut task_scope: std::collections::HashMap<tokio::task::Id, Scope> = Default::default();
        let mut busy: std::collections::HashSet<Scope> = Default::default();
        loop {
            if !*self.running.borrow() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    r = self.running.changed() => { if r.is_err() { break } }
                }
                continue;
            }
            // Scopes can appear (new regions, types); recording groups can change.
            let scopes: Vec<Scope> = self
                .group
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .scopes_of(&*self.source);
            let now = Instant::now();
            due.retain(|s, _| scopes.contains(s));
            for s in &scopes {
                due.entry(s.clone()).or_insert(now);
            }
            for (scope, at) in due.iter() {
                if *at <= now && !busy.contains(scope) {
                    busy.insert(scope.clone());
                    let source = self.source.clone();
                    let scope = scope.clone();
                    let tx = tx.clone();
                    let permits = permits.clone();
                    let status = self.status.clone();
                    let timeout = self.cfg.timeout;
                    let position = self.position.clone();
                    let task_key = scope.clone();
                    let handle = in_flight.spawn(async move {
                        let _permit = permits.acquire_owned().await;
                        let as_of = position();
                        let r =
                            Scheduler::poll_now(&*source, &scope, timeout, &status, as_of).await;
                        let failures = status.get(&scope).map_or(0, |s| s.consecutive_failures);
                        let _ = tx.send(r).await;
                        (scope, failures)
                    });
                    task_scope.insert(handle.id(), task_key);
                }
            }
            let next = due
                .iter()
                .filter(|(s, _)| !busy.contains(*s))
                .map(|(_, t)| *t)
                .min()
                .unwrap_or(now + self.cfg.interval);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(next) => {}
                r = self.running.changed() => { if r.is_err() { break } }
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    let finished = match done {
                        Ok((id, r)) => {
                            task_scope.remove(&id);
                            Some(r)
                        }
                        Err(e) => {
                            // A panicking source must not stop its scope forever.
                            tracing::error!(error = %e, "A poll task failed; its scope is retried.");
                            task_scope.remove(&e.id()).map(|scope| (scope, 1))
                        }
                    };
                    if let Some((scope, failures)) = finished {
                        let d = self.delay(failures, &mut rng);
                        let at = Instant::now() + d;
                        self.status.update(&scope, |s| s.next_poll_ms = Some(now_ms() + d.as_millis() as i64));
                        busy.remove(&scope);
                        due.insert(scope, at);
                    }
                }
            }
        }
        in_flight.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_spreads() {
        let cfg = SchedulerConfig {
            interval: Duration::from_secs(60),
            jitter: 0.1,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..SchedulerConfig::default()
        };
        let mid = |f| next_delay(&cfg, f, 0.5);
        assert_eq!(mid(0), Duration::from_secs(60));
        assert_eq!(mid(1), Duration::from_secs(5));
        assert_eq!(mid(2), Duration::from_secs(10));
        assert_eq!(mid(3), Duration::from_secs(20));
        assert_eq!(mid(5), Duration::from_secs(60), "capped");
        assert_eq!(mid(40), Duration::from_secs(60), "no overflow");
        assert_eq!(next_delay(&cfg, 0, 0.0), Duration::from_secs(54));
        assert!(next_delay(&cfg, 0, 0.999_999) <= Duration::from_secs(66));
    }
}
