//! The cursor loop itself: a pull reader that hands out the log batch by batch.

use crate::{resolve_start, Start};
use driftlog_log::{Error, Log, Result};
use driftlog_model::{ConfigurationItem, Filter, Seq};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::watch;

/// Items per batch unless [`Reader::with_batch_size`] says otherwise: bounds memory per
/// reader whatever its lag.
pub(crate) const DEFAULT_BATCH: usize = 256;

/// Lag (in sequences) up to which a read runs on the caller's task. Close behind the head
/// the frames are in the log's cache and a read takes microseconds: a hop to the blocking
/// pool would cost more than the read, times a hundred subscribers. Further behind, reads
/// may touch the disk and go to the blocking pool, off the async workers.
const INLINE_LAG: u64 = 256;

/// Why a [`Reader`] handed out no batch.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The log refused. [`Error::SnapshotRequired`]: the position is older than what the
    /// log still holds, and no retry brings it back. Anything else (a storage error) may
    /// pass: the position has not moved, so the same read can be tried again.
    #[error(transparent)]
    Log(#[from] Error),
    /// The read on the blocking pool died (it panicked, or the runtime is shutting down):
    /// this reader cannot go on.
    #[error("log read abandoned: {0}")]
    Abandoned(String),
}

/// One batch of a [`Reader`]: what the log holds after the position the reader had.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The items the filter passed, in log order. Empty when every item of the range was
    /// filtered out: the range still counts, so acknowledging [`Batch::through`] moves the
    /// cursor past it and a restart does not read it again.
    pub items: Vec<ConfigurationItem>,
    /// The last sequence this batch covers, delivered or filtered out: what to acknowledge
    /// once the destination has confirmed the items.
    pub through: Seq,
}

/// A filtered, resumable read of the log, batch by batch, for consumers that confirm what
/// they handled: sinks, the delivery channel, and (through a task) [`crate::subscribe`].
///
/// Two positions, on purpose: [`Reader::position`] is what was handed out (the next read
/// starts after it), the durable cursor is what was acknowledged ([`Reader::ack`]). Only
/// the acknowledgement survives a restart, so every item handed out but not acknowledged
/// is handed out again: at least once, in log order, never a gap.
pub struct Reader {
    log: Arc<Log>,
    filter: Filter,
    batch: usize,
    position: Seq,
    durable: Option<String>,
    wake: watch::Receiver<Seq>,
}

impl Reader {
    /// Opens a reader at `start`. A durable name seen for the first time has its start
    /// stored now, so a restart before its first acknowledgement does not move it to a
    /// later "now".
    ///
    /// # Errors
    /// [`Error::SnapshotRequired`] when the start lies before the oldest item held (then
    /// nothing is stored); [`Error::Storage`] (or [`Error::Poisoned`]) when the durable
    /// cursor cannot be read or stored.
    pub fn open(log: Arc<Log>, filter: Filter, start: Start) -> Result<Self> {
        let (after, durable) = resolve_start(&log, &start)?;
        log.ensure_held(after)?;
        if let Some(name) = &durable {
            if log.cursor(name)?.is_none() {
                log.set_cursor(name, after)?;
            }
        }
        // Subscribed before the first read: a commit from now on wakes `wait`.
        let wake = log.subscribe_watermark();
        Ok(Self {
            log,
            filter,
            batch: DEFAULT_BATCH,
            position: after,
            durable,
            wake,
        })
    }

    /// At most `n` items per batch (at least 1): the consumer's unit of work and of
    /// memory. A filtered-out item does not count, so a batch may cover a longer range.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// The last sequence handed out or skipped: the next batch starts after it.
    pub fn position(&self) -> Seq {
        self.position
    }

    /// The durable cursor's name, if the reader has one.
    pub fn durable_name(&self) -> Option<&str> {
        self.durable.as_deref()
    }

    /// The next batch the log holds now, without waiting: `None` when there is nothing
    /// after the position yet (then [`Reader::wait`]). The position moves to the batch's
    /// end when it is returned, not when it is acknowledged.
    ///
    /// Cancel-safe: dropped before it returns, the position has not moved.
    ///
    /// # Errors
    /// [`ReadError::Log`] with [`Error::SnapshotRequired`] when retention dropped items
    /// this reader had not read, or a storage error; the position stays where it was.
    pub async fn read(&mut self) -> std::result::Result<Option<Batch>, ReadError> {
        // Marked seen before the read: a commit during it wakes the next `wait` at once.
        self.wake.borrow_and_update();
        let after = self.position;
        let (items, through) = if self.log.watermark().saturating_sub(after) <= INLINE_LAG {
            self.log.read_range(after, self.batch, &self.filter)?
        } else {
            let (log, filter, batch) = (self.log.clone(), self.filter.clone(), self.batch);
            tokio::task::spawn_blocking(move || log.read_range(after, batch, &filter))
                .await
                .map_err(|e| ReadError::Abandoned(e.to_string()))??
        };
        if through <= after {
            return Ok(None);
        }
        self.position = through;
        Ok(Some(Batch { items, through }))
    }

    /// Waits for the first commit after the last [`Reader::read`] (returns at once if one
    /// came meanwhile). Woken by the log's watermark, never by polling: an idle reader
    /// costs nothing. Cancel-safe.
    pub async fn wait(&mut self) {
        if self.wake.changed().await.is_err() {
            // The watermark's sender lives in the log this reader holds: it cannot go
            // away first. Should it ever, no commit can come either.
            std::future::pending::<()>().await;
        }
    }

    /// The next batch, waiting for commits while there is none: [`Reader::read`] and
    /// [`Reader::wait`] in a loop. Cancel-safe.
    ///
    /// # Errors
    /// As [`Reader::read`].
    pub async fn next_batch(&mut self) -> std::result::Result<Batch, ReadError> {
        loop {
            if let Some(batch) = self.read().await? {
                return Ok(batch);
            }
            self.wait().await;
        }
    }

    /// Acknowledges every item up to `seq` (clamped to what was handed out: an
    /// acknowledgement from the future would skip items). Durable (flushed) when it
    /// returns; a restart resumes right after it. No-op for a reader without a durable
    /// name. A refused acknowledgement leaves the cursor behind, which only means items
    /// are handed out again after a restart.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Poisoned`] when the cursor cannot be stored.
    pub fn ack(&self, seq: Seq) -> Result<()> {
        match &self.durable {
            Some(name) => self.log.set_cursor(name, seq.min(self.position)),
            None => Ok(()),
        }
    }
}
