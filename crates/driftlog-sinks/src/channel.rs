//! AWS Config's delivery channel: configuration history files per delivery period,
//! configuration snapshots on demand and periodically, and the delivery events on the
//! channel's SNS topic.
//!
//! A history window's items are read through a [`Reader`] (`driftlog-subscribe`'s one
//! cursor loop); the window's position is the channel's own record (`HistoryRun`, then
//! `HistoryDone`), because it also holds the window's end, which keeps every file's key and
//! bytes the same when a delivery is redone. The config stream is a sink ([`crate::run_sink`]).

use crate::store::{error_code, DeliveryStore};
use crate::ONE;
use crate::{Error, Result, SnsTransport};
use driftlog_deliver::{
    history_delivery_completed, period_of, snapshot_delivery_completed, snapshot_delivery_failed,
    snapshot_delivery_started, snapshot_key, writability_check_key, FileWriter, HistoryBatcher,
    HistoryFile, KeyParts,
};
use driftlog_log::{Batch, Log};
use driftlog_model::time::now_ms;
use driftlog_model::{Filter, Seq};
use driftlog_subscribe::{ReadError, Reader, Start};
use records::{DELIVERY_STATUS, HISTORY_DONE, HISTORY_RUN, OLD_OUTBOX, OUTBOX, SNAPSHOT_LAST};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

mod records;
mod settings;
pub use settings::{
    ChannelSettings, DeliveryInfo, DeliveryStatus, SnapshotFrequency, SnapshotReport,
};

/// A history delivery in progress, stored before its first object is written, so a crash
/// is followed by the same delivery (same range, same keys, same bytes), never a gap or a
/// second copy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct HistoryRun {
    after: Seq,
    through: Seq,
    start_ms: i64,
    end_ms: i64,
}

/// How far history has been delivered: the last sequence in a file and the end of the last
/// window. A later window never starts before that end, so no key is ever written twice
/// with different contents (an item committed after its period was delivered goes into
/// the next window's files).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct HistoryDone {
    through: Seq,
    end_ms: i64,
}

/// The most delivery events kept while the topic is unreachable (a 6 h history period
/// with many accounts, regions and types still fits); past it the oldest are dropped, with
/// an error in the log and the status — files are never affected, only their notices.
const MAX_QUEUED_EVENTS: usize = 100_000;

/// The delivery channel of a running recorder.
pub struct DeliveryChannel {
    log: Arc<Log>,
    settings: ChannelSettings,
    store: Arc<DeliveryStore>,
    topic: Option<SnsTransport>,
    status: Mutex<DeliveryStatus>,
    history_lock: tokio::sync::Mutex<()>,
    outbox_lock: Mutex<()>,
    next_event: std::sync::atomic::AtomicU64,
    /// Events in the queue, counted here so queueing one never scans the queue.
    queued: std::sync::atomic::AtomicUsize,
    events_queued: tokio::sync::Notify,
    publish_lock: tokio::sync::Mutex<()>,
}

/// A delivery event waiting in the store for the channel's topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    subject: String,
    body: String,
}

impl DeliveryChannel {
    /// Opens the store and the topic client (nothing is contacted yet).
    ///
    /// # Errors
    /// [`Error::Settings`] for a bad directory, bucket, topic or credentials.
    pub async fn open(log: Arc<Log>, settings: ChannelSettings) -> Result<Arc<Self>> {
        if settings.history_period < Duration::from_secs(1) {
            return Err(Error::Settings(
                "delivery.history_period must be at least 1s (AWS: 6h)".into(),
            ));
        }
        let store = Arc::new(
            DeliveryStore::open(
                settings.location.clone(),
                settings.prefix.clone(),
                settings.kms_key_arn.clone(),
                &settings.access,
            )
            .await?,
        );
        let topic = match &settings.sns_topic_arn {
            Some(arn) => Some(
                SnsTransport::new(arn, &settings.access)
                    .await
                    .map_err(Error::Settings)?,
            ),
            None => None,
        };
        // The status is a view of the deliveries: an unreadable one starts afresh (said).
        let mut status = unreadable_as_none(DELIVERY_STATUS.get(&log, ONE), "delivery status")?
            .unwrap_or_default();
        status.name.clone_from(&settings.name);
        let (queued, last_event) = outbox_extent(&log)?;
        let channel = Arc::new(Self {
            log,
            settings,
            store,
            topic,
            status: Mutex::new(status),
            history_lock: tokio::sync::Mutex::new(()),
            outbox_lock: Mutex::new(()),
            next_event: std::sync::atomic::AtomicU64::new(last_event + 1),
            queued: std::sync::atomic::AtomicUsize::new(queued),
            events_queued: tokio::sync::Notify::new(),
            publish_lock: tokio::sync::Mutex::new(()),
        });
        channel.migrate_old_outbox()?;
        Ok(channel)
    }

    /// Moves a queue stored by an older version as one list into per-event records.
    fn migrate_old_outbox(&self) -> Result<()> {
        let old = match OLD_OUTBOX.get(&self.log, ONE) {
            Ok(Some(old)) => old,
            Ok(None) => return Ok(()),
            // Nothing of it can be sent: dropped (as before), but said.
            Err(e @ driftlog_log::Error::BadRecord { .. }) => {
                tracing::error!(error = %e, "The delivery events queued by an older version are unreadable; dropped.");
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        for e in &old {
            self.queue_event(e)?;
        }
        OLD_OUTBOX.remove(&self.log, ONE)?;
        self.log.flush()?;
        Ok(())
    }

    /// The store (shared with the sinks for oversized changes).
    pub fn store(&self) -> &Arc<DeliveryStore> {
        &self.store
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ChannelSettings {
        &self.settings
    }

    /// The current status.
    pub fn status(&self) -> DeliveryStatus {
        let mut s = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        s.history_through_seq = self.history_through();
        s.pending_events = self.pending_events();
        s
    }

    /// The status the last server stored (for `driftlog sinks` without a server).
    pub fn stored_status(log: &Log) -> Option<DeliveryStatus> {
        let mut s = match DELIVERY_STATUS.get(log, ONE) {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(error = %e, "The stored delivery status cannot be read.");
                return None;
            }
        };
        s.history_through_seq = shown_history_done(log).through;
        s.pending_events = OUTBOX.len(log).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "The queued delivery events cannot be counted.");
            0
        });
        Some(s)
    }

    /// Changes the status and saves it (a view, rewritten at the next change: a refused
    /// write is counted in `/metrics` and logged, not returned to the delivery).
    fn update(&self, f: impl FnOnce(&mut DeliveryStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
            DELIVERY_STATUS.put_or_count(&self.log, ONE, &s);
        }
    }

    fn history_through(&self) -> Seq {
        shown_history_done(&self.log).through
    }

    /// Writes the zero-byte `ConfigWritabilityCheckFile` for every recorded account, as AWS
    /// Config does when a channel is put: a bucket that cannot be written is found now.
    ///
    /// # Errors
    /// [`Error::Store`] with the store's reason.
    pub async fn check_writable(&self) -> Result<()> {
        let mut accounts: Vec<String> =
            self.log.state().keys().map(|k| k.account.clone()).collect();
        accounts.sort();
        accounts.dedup();
        for a in accounts {
            self.store
                .put(&writability_check_key(self.store.prefix(), &a), Vec::new())
                .await?;
        }
        Ok(())
    }

    /// Queues a delivery event for the channel's topic in the store (flushed) and wakes
    /// [`Self::run`], which publishes the queue ([`Self::publish_events`]) outside any
    /// delivery: an SNS outage never holds back the files or an API call. Events are never lost to an outage and go
    /// out in order once the topic is reachable again (at least once: a crash between a
    /// publish and its removal from the queue repeats it).
    /// Queues a message for the channel's SNS topic (durably, in order with the delivery
    /// events; nothing without a topic): delivery events, and the rules engine's
    /// `ConfigRulesEvaluationStarted`.
    pub fn notify(&self, subject: &str, body: &serde_json::Value) {
        if self.topic.is_none() {
            return;
        }
        let event = Event {
            subject: subject.to_string(),
            body: body.to_string(),
        };
        if let Err(e) = self
            .queue_event(&event)
            .and_then(|()| Ok(self.log.flush()?))
        {
            tracing::error!(error = %e, subject, "Delivery event could not be queued.");
        }
        self.events_queued.notify_one();
    }

    fn queue_event(&self, event: &Event) -> Result<()> {
        let _g = self
            .outbox_lock
            .lock()
            .map_err(|_| Error::Settings("delivery event queue lock poisoned".into()))?;
        let n = self
            .next_event
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OUTBOX.put(&self.log, &event_key(n), event)?;
        let queued = self
            .queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if queued > MAX_QUEUED_EVENTS {
            let oldest = outbox_page(&self.log, None, queued - MAX_QUEUED_EVENTS)?;
            let mut drop = Batch::default();
            for (k, _) in &oldest {
                drop.remove(&OUTBOX, k);
            }
            drop.apply(&self.log)?;
            for _ in &oldest {
                self.dequeued();
            }
            tracing::error!(
                dropped = queued - MAX_QUEUED_EVENTS,
                "The delivery topic has been unreachable for too long: the oldest queued delivery events were dropped (the files are delivered)."
            );
        }
        Ok(())
    }

    /// Publishes the queued delivery events in order, stopping at the first failure (kept
    /// for the next try, shown in the stream status). Returns how many went out.
    ///
    /// # Errors
    /// The topic's error; the events stay queued.
    pub async fn publish_events(&self) -> std::result::Result<usize, crate::SendError> {
        let Some(topic) = &self.topic else {
            return Ok(0);
        };
        let _one = self.publish_lock.lock().await;
        let mut sent = 0;
        loop {
            let next = outbox_page(&self.log, None, 1)
                .map_err(|e| crate::SendError::new("Storage", e.to_string()))?;
            let Some((key, event)) = next.into_iter().next() else {
                break;
            };
            let Some(e) = event else {
                tracing::error!(key, "A queued delivery event is unreadable; dropped.");
                // A removal the store refuses would hand the same record back at once:
                // stop, and try again at the next round rather than in a tight loop.
                OUTBOX
                    .remove(&self.log, &key)
                    .map_err(|e| crate::SendError::new("Storage", e.to_string()))?;
                self.dequeued();
                continue;
            };
            self.update(|s| s.config_stream_delivery_info.attempt(now_ms()));
            match topic.publish(&e.subject, &e.body).await {
                Ok(()) => {
                    sent += 1;
                    // A store that refuses the removal (a full disk) would hand the same
                    // event back at once: stop here, and publish it again later (delivery
                    // is at-least-once) rather than in a tight loop.
                    if let Err(e) = OUTBOX
                        .remove(&self.log, &key)
                        .and_then(|()| self.log.flush())
                    {
                        return Err(crate::SendError::new("Storage", e.to_string()));
                    }
                    self.dequeued();
                    self.update(|s| s.config_stream_delivery_info.outcome(now_ms(), None));
                }
                Err(err) => {
                    self.update(|s| {
                        s.config_stream_delivery_info
                            .outcome(now_ms(), Some((err.code.clone(), err.message.clone())))
                    });
                    return Err(err);
                }
            }
        }
        Ok(sent)
    }

    fn dequeued(&self) {
        let _ = self.queued.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| Some(n.saturating_sub(1)),
        );
    }

    /// Delivery events waiting for the topic.
    pub fn pending_events(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Delivers the history of every delivery period that has ended (a `grace` after its
    /// end, so polls finishing at the boundary are in): one file per account, region and
    /// type that changed, then `ConfigurationHistoryDeliveryCompleted` per file. Redoes an
    /// interrupted delivery first. Returns the keys written.
    ///
    /// # Errors
    /// The store failed; what was delivered stays delivered and the rest is retried.
    pub async fn deliver_history_due(&self, now: i64) -> Result<Vec<String>> {
        let _one = self.history_lock.lock().await;
        let period = i64::try_from(self.settings.history_period.as_millis()).unwrap_or(i64::MAX);
        let grace = (period / 4).min(60_000);
        let mut keys = Vec::new();
        let result = async {
            if let Some(run) = self.pending_run()? {
                keys.extend(self.run_history(run).await?);
            }
            loop {
                let done = history_done(&self.log)?;
                let after = done.through.max(self.log.oldest().saturating_sub(1));
                if after >= self.log.watermark() {
                    break;
                }
                let first = {
                    let log = self.log.clone();
                    tokio::task::spawn_blocking(move || log.get(after + 1))
                        .await
                        .map_err(|e| Error::Settings(format!("history reader: {e}")))??
                };
                let Some(first) = first else { break };
                let (mut start_ms, mut end_ms) = period_of(first.capture_time_ms, period);
                if start_ms < done.end_ms {
                    start_ms = done.end_ms;
                    end_ms = period_of(done.end_ms, period).1;
                }
                if now < end_ms.saturating_add(grace) {
                    break;
                }
                let through = self.log.seq_at_time(end_ms - 1)?.max(after + 1);
                let run = HistoryRun {
                    after,
                    through,
                    start_ms,
                    end_ms,
                };
                HISTORY_RUN.put(&self.log, ONE, &Some(run))?;
                self.log.flush()?;
                keys.extend(self.run_history(run).await?);
            }
            Ok::<(), Error>(())
        }
        .await;
        let at = now_ms();
        let next = {
            let (_, end) = period_of(at, period);
            end + grace
        };
        self.update(|s| {
            let h = &mut s.config_history_delivery_info;
            h.next_delivery_time = Some(next);
            match &result {
                Ok(()) if !keys.is_empty() => {
                    h.attempt(at);
                    h.outcome(at, None);
                }
                Ok(()) => {}
                Err(e) => {
                    h.attempt(at);
                    h.outcome(at, Some((error_code(e), e.to_string())));
                }
            }
        });
        result.map(|()| keys)
    }

    /// The window a crash interrupted, if any. An unreadable one is skipped (said): the
    /// next window is computed from [`HistoryDone`] again, which did not move.
    ///
    /// # Errors
    /// The store could not be read: the delivery is retried, never done from a guess.
    fn pending_run(&self) -> Result<Option<HistoryRun>> {
        Ok(unreadable_as_none(
            HISTORY_RUN.get(&self.log, ONE),
            "interrupted history window",
        )?
        .flatten())
    }

    async fn run_history(&self, run: HistoryRun) -> Result<Vec<String>> {
        let mut batcher =
            HistoryBatcher::new(run.start_ms, run.end_ms, self.settings.max_items_per_file);
        let mut files: Vec<HistoryFile> = Vec::new();
        let mut keys = Vec::new();
        // A fixed range, not a tail: the window's own record (`HistoryRun`, then
        // `HistoryDone`) is its cursor, so the reader is not durable and never waits.
        let mut reader =
            Reader::open(self.log.clone(), Filter::default(), Start::After(run.after))?
                .with_batch_size(1024);
        while reader.position() < run.through {
            let batch = reader.read().await.map_err(|e| match e {
                ReadError::Log(e) => Error::Log(e),
                ReadError::Abandoned(e) => Error::Settings(format!("history reader: {e}")),
            })?;
            let Some(batch) = batch else { break };
            for ci in batch.items.iter().filter(|c| c.seq <= run.through) {
                files.extend(batcher.push(ci)?);
            }
            for f in files.drain(..) {
                keys.push(self.put_history(f).await?);
            }
        }
        for f in batcher.finish()? {
            keys.push(self.put_history(f).await?);
        }
        let done = HistoryDone {
            through: run.through,
            end_ms: run.end_ms,
        };
        // Both at once: the window is either still to redo or done, never both or neither.
        let mut b = Batch::default();
        b.put(&HISTORY_DONE, ONE, &done)?;
        b.put(&HISTORY_RUN, ONE, &None)?;
        b.apply(&self.log)?;
        self.log.flush()?;
        Ok(keys)
    }

    async fn put_history(&self, f: HistoryFile) -> Result<String> {
        let key = f.key(self.store.prefix());
        let (account, region) = (f.account.clone(), f.region.clone());
        self.store.put(&key, f.body).await?;
        self.notify(
            &format!(
                "[AWS Config:{region}] Configuration History Delivery Completed for Account {account}"
            ),
            &history_delivery_completed(&self.store.bucket(), &key, now_ms()),
        );
        Ok(key)
    }

    /// Delivers a configuration snapshot of the inventory as it is now: one object per
    /// account and region, all under one `configSnapshotId` (`id`, or a new one), with
    /// `ConfigurationSnapshotDeliveryStarted` and `…Completed` (or `…Failed`) on the topic.
    ///
    /// # Errors
    /// The log could not be read or the store refused; the failure is also in the status
    /// and on the topic.
    pub async fn deliver_snapshot(&self, id: Option<String>) -> Result<SnapshotReport> {
        let id = id.unwrap_or_else(new_snapshot_id);
        let at = now_ms();
        self.update(|s| s.config_snapshot_delivery_info.attempt(at));
        let result = self.snapshot(&id, at).await;
        let done = now_ms();
        if let Err(e) = &result {
            self.notify(
                "[AWS Config] Configuration Snapshot Delivery Failed",
                &snapshot_delivery_failed(
                    &id,
                    &self.store.bucket(),
                    &error_code(e),
                    &e.to_string(),
                    done,
                ),
            );
        }
        let next = self
            .settings
            .snapshot_frequency
            .map(|f| done + i64::try_from(f.every().as_millis()).unwrap_or(i64::MAX));
        self.update(|s| {
            let i = &mut s.config_snapshot_delivery_info;
            i.outcome(
                done,
                result
                    .as_ref()
                    .err()
                    .map(|e| (error_code(e), e.to_string())),
            );
            i.next_delivery_time = next;
        });
        result
    }

    async fn snapshot(&self, id: &str, at: i64) -> Result<SnapshotReport> {
        let log = self.log.clone();
        let id_owned = id.to_string();
        let files = tokio::task::spawn_blocking(move || {
            let mut files: BTreeMap<(String, String), FileWriter> = BTreeMap::new();
            let mut bad = None;
            // The item as of `at` of every resource that existed then, one file per
            // account and region (the scope of one AWS Config recorder).
            log.inventory_at(at, &Filter::default(), |ci| {
                let w = files
                    .entry((ci.key.account.clone(), ci.key.region.clone()))
                    .or_insert_with(|| FileWriter::new(Some(&id_owned)));
                match w.push(&ci) {
                    Ok(()) => true,
                    Err(e) => {
                        bad = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = bad {
                return Err(Error::Format(e));
            }
            let mut out = Vec::with_capacity(files.len());
            for ((account, region), w) in files {
                let n = w.len() as u64;
                let (body, _, _) = w.finish()?;
                out.push((account, region, n, body));
            }
            Ok::<_, Error>(out)
        })
        .await
        .map_err(|e| Error::Settings(format!("snapshot reader: {e}")))??;
        for (account, region, _, _) in &files {
            self.notify(
                &format!(
                    "[AWS Config:{region}] Configuration Snapshot Delivery Started for Account {account}"
                ),
                &snapshot_delivery_started(id, now_ms()),
            );
        }
        let mut report = SnapshotReport {
            config_snapshot_id: id.to_string(),
            s3_bucket: self.store.bucket(),
            files: Vec::with_capacity(files.len()),
            items: 0,
            at_ms: at,
        };
        for (account, region, n, body) in files {
            let key = snapshot_key(
                &KeyParts {
                    prefix: self.store.prefix(),
                    account: &account,
                    region: &region,
                },
                at,
                id,
            );
            self.store.put(&key, body).await?;
            self.notify(
                &format!(
                    "[AWS Config:{region}] Configuration Snapshot Delivery Completed for Account {account}"
                ),
                &snapshot_delivery_completed(id, &self.store.bucket(), &key, now_ms()),
            );
            report.files.push((key, n));
            report.items += n;
        }
        Ok(report)
    }

    /// Runs the periodic deliveries until `shutdown`: history when a period has ended,
    /// snapshots at the configured frequency (the first one a full interval after the
    /// channel was first started, as AWS does). Failures are retried at the next wake-up
    /// (at most a minute later) and shown in the status.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.check_writable().await {
            tracing::warn!(error = %e, "Delivery bucket is not writable; deliveries will be retried.");
            let at = now_ms();
            self.update(|s| {
                s.config_history_delivery_info
                    .outcome(at, Some((error_code(&e), e.to_string())));
            });
        }
        let period = i64::try_from(self.settings.history_period.as_millis()).unwrap_or(i64::MAX);
        let grace = (period / 4).min(60_000);
        let every = self
            .settings
            .snapshot_frequency
            .map(|f| i64::try_from(f.every().as_millis()).unwrap_or(i64::MAX));
        // The first periodic snapshot is a full interval after the channel first ran (a
        // record that cannot be read is replaced, as before).
        if every.is_some() && !matches!(SNAPSHOT_LAST.get(&self.log, ONE), Ok(Some(_))) {
            SNAPSHOT_LAST.put_or_count(&self.log, ONE, &now_ms());
        }
        let mut snapshot_not_before = 0_i64;
        let mut history_not_before = 0_i64;
        let mut history_retry = SNAPSHOT_RETRY_MIN;
        let mut last_snapshot = i64::MIN;
        let mut snapshot_retry = SNAPSHOT_RETRY_MIN;
        loop {
            let now = now_ms();
            let history_due = {
                let (_, end) = period_of(now, period);
                end + grace
            };
            // The last snapshot's time as stored, or as remembered when the store refused
            // it: a refused write must not make the next snapshot due at once.
            let snapshot_due = every.map(|e| {
                snapshot_last(&self.log)
                    .max(last_snapshot)
                    .saturating_add(e)
            });
            self.update(|s| {
                s.config_history_delivery_info.next_delivery_time = Some(history_due);
                s.config_snapshot_delivery_info.next_delivery_time = snapshot_due;
            });
            if now >= history_not_before {
                match self.deliver_history_due(now).await {
                    Ok(_) => history_retry = SNAPSHOT_RETRY_MIN,
                    Err(e) => {
                        // Retried after a growing pause (a bucket that is down, a store that
                        // refuses the window: a full disk), never in a tight loop.
                        tracing::warn!(error = %e, retry_in = ?history_retry, "History delivery failed; retrying.");
                        history_not_before = now_ms().saturating_add(
                            i64::try_from(history_retry.as_millis()).unwrap_or(i64::MAX),
                        );
                        history_retry = (history_retry * 2).min(SNAPSHOT_RETRY_MAX);
                    }
                }
            }
            let events_waiting = self.publish_events().await.is_err();
            if snapshot_due.is_some_and(|d| d <= now) && now >= snapshot_not_before {
                match self.deliver_snapshot(None).await {
                    Ok(r) => {
                        last_snapshot = r.at_ms;
                        // Remembered in `last_snapshot` when the store refuses it.
                        SNAPSHOT_LAST.put_or_count(&self.log, ONE, &r.at_ms);
                        snapshot_retry = SNAPSHOT_RETRY_MIN;
                        continue;
                    }
                    Err(e) => {
                        // Retried after a growing pause, never in a tight loop.
                        tracing::warn!(error = %e, retry_in = ?snapshot_retry, "Snapshot delivery failed; retrying.");
                        snapshot_not_before = now_ms().saturating_add(
                            i64::try_from(snapshot_retry.as_millis()).unwrap_or(i64::MAX),
                        );
                        snapshot_retry = (snapshot_retry * 2).min(SNAPSHOT_RETRY_MAX);
                    }
                }
            }
            let history_next = history_due.max(history_not_before);
            let next = snapshot_due.map_or(history_next, |d| {
                d.max(snapshot_not_before).min(history_next)
            });
            let most = if events_waiting { 5_000 } else { 60_000 };
            let wait = u64::try_from(next.saturating_sub(now_ms()))
                .unwrap_or(0)
                .clamp(50, most);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = self.events_queued.notified(), if !events_waiting => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}

/// First pause after a failed periodic snapshot, doubled per failure up to the maximum.
const SNAPSHOT_RETRY_MIN: Duration = Duration::from_secs(5);
const SNAPSHOT_RETRY_MAX: Duration = Duration::from_secs(300);

/// The key in [`OUTBOX`] of the `n`th queued event: 20 digits, so keys sort as numbers.
pub(crate) fn event_key(n: u64) -> String {
    format!("{n:020}")
}

/// Events the outbox pages hold per read when it is scanned whole.
const OUTBOX_PAGE: usize = 1024;

/// Up to `max` queued events after the key `after` (from the first when `None`), in order,
/// each with its key; an event that cannot be decoded is `None`, so one bad record is
/// dropped by its reader instead of stopping the queue.
fn outbox_page(
    log: &Log,
    after: Option<&str>,
    max: usize,
) -> driftlog_log::Result<Vec<(String, Option<Event>)>> {
    Ok(OUTBOX
        .page_each(log, "", after, max)?
        .into_iter()
        .map(|(k, e)| (k, e.ok()))
        .collect())
}

/// How many events the outbox holds, and the number of the last one (0 when empty): new
/// events are numbered after it. Read a page at a time.
fn outbox_extent(log: &Log) -> driftlog_log::Result<(usize, u64)> {
    let mut count = 0;
    let mut last: Option<String> = None;
    loop {
        let page = outbox_page(log, last.as_deref(), OUTBOX_PAGE)?;
        let Some((k, _)) = page.last() else { break };
        count += page.len();
        last = Some(k.clone());
        if page.len() < OUTBOX_PAGE {
            break;
        }
    }
    Ok((count, last.and_then(|k| k.parse().ok()).unwrap_or(0)))
}

/// A channel record as read, with an undecodable one as absent (logged as `what`): the
/// channel goes on as before namespaces did, rather than stopping on one bad record. Store
/// failures stay errors.
fn unreadable_as_none<T>(
    read: driftlog_log::Result<Option<T>>,
    what: &str,
) -> driftlog_log::Result<Option<T>> {
    match read {
        Err(e @ driftlog_log::Error::BadRecord { .. }) => {
            tracing::error!(error = %e, "The stored {what} is unreadable; ignored.");
            Ok(None)
        }
        read => read,
    }
}

/// How far history was delivered (nothing yet when there is no record).
///
/// # Errors
/// The store could not be read.
fn history_done(log: &Log) -> driftlog_log::Result<HistoryDone> {
    Ok(unreadable_as_none(HISTORY_DONE.get(log, ONE), "history position")?.unwrap_or_default())
}

/// [`history_done`] for the status, which is shown even when the store cannot be read.
fn shown_history_done(log: &Log) -> HistoryDone {
    history_done(log).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "The history position cannot be read.");
        HistoryDone::default()
    })
}

/// When the last periodic snapshot was taken (0 when never, or when it cannot be read:
/// then a snapshot is due, and its time is written anew).
fn snapshot_last(log: &Log) -> i64 {
    SNAPSHOT_LAST.get(log, ONE).map_or_else(
        |e| {
            tracing::warn!(error = %e, "The last snapshot's time cannot be read.");
            0
        },
        |t| t.unwrap_or(0),
    )
}

/// A random version-4 UUID, the form of AWS's `configSnapshotId`.
pub fn new_snapshot_id() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests;
