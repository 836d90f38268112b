//! Filtered, resumable reading of the log from a cursor: the one cursor loop of driftlog.
//!
//! Everything that follows the log goes through here, in one of two shapes over one core:
//!
//! - [`Reader`] — pull, batch by batch: the next batch of up to N matching items after the
//!   reader's position, `None` (then [`Reader::wait`]) when caught up, acknowledged
//!   explicitly ([`Reader::ack`]) once the destination confirmed it. The sinks and the
//!   delivery channel (`driftlog-sinks`) read this way, because they move their cursor only
//!   after an outside system answered.
//! - [`subscribe`] — push: a `Stream` of items fed by a task that drives a [`Reader`], for
//!   gRPC, NDJSON and `driftlog tail`; its [`Subscription::ack`] stores the cursor.
//!
//! The rules are the reader's, so they hold for both (and are tested once, here):
//!
//! - **At least once, in log order.** A reader's position (what it handed out) runs ahead
//!   of its durable cursor (what was acknowledged). Only the cursor survives a restart, so
//!   whatever was handed out but not acknowledged comes again; nothing is skipped.
//! - **Filtered-out ranges still move the cursor.** A batch whose items were all filtered
//!   out reports the position it reached; acknowledging it means a narrow filter does not
//!   re-scan the same range after every restart.
//! - **No silent gap.** A position before the log's oldest item (retention dropped what the
//!   reader had not read) is [`SnapshotRequired`], at open and at any later read.
//! - **Woken, never polling, never blocking the recorder.** A reader sleeps on the log's
//!   watermark (a `watch`); a slow one falls behind and catches up, and holds one batch in
//!   memory whatever its lag.

mod reader;

pub use reader::{Batch, ReadError, Reader};

// Named in the docs only.
#[cfg(doc)]
use driftlog_log::Error::{SnapshotRequired, Storage};

use driftlog_log::{Log, Result};
use driftlog_model::{ConfigurationItem, Filter, Seq};
use reader::DEFAULT_BATCH;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Where a reader or a subscription begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Only items committed from now on.
    Now,
    /// Items after this sequence number (0: from the beginning).
    After(Seq),
    /// Every item the log still holds: never [`SnapshotRequired`], where `After(0)` is
    /// once retention has run.
    Oldest,
    /// Items captured at or after this time (epoch ms).
    Time(i64),
    /// The durable cursor of this name; a new name starts as `initial`.
    Durable {
        /// Cursor name, kept in the store.
        name: String,
        /// Where a name seen for the first time starts.
        initial: Box<Start>,
    },
}

/// A live subscription: the stream of items and, for durable ones, the acknowledgement.
pub struct Subscription {
    /// The items, in log order. An `Err` item ends the stream.
    pub stream: ReceiverStream<Result<ConfigurationItem>>,
    /// Position the subscription started after.
    pub started_after: Seq,
    acker: Option<(Arc<Log>, String)>,
}

impl Subscription {
    /// Acknowledges every item up to `seq`: a restart of the same durable subscriber resumes
    /// right after it. Durable (flushed) when it returns. No-op for non-durable ones.
    ///
    /// # Errors
    /// [`Storage`] when the cursor cannot be stored.
    pub fn ack(&self, seq: Seq) -> Result<()> {
        match &self.acker {
            // Never past what was published: an ack from the future would skip items. (The
            // reader runs in a task, so what it handed out is not known here.)
            Some((log, name)) => log.set_cursor(name, seq.min(log.watermark())),
            None => Ok(()),
        }
    }
}

/// The position a start means now, and the durable cursor name if any.
///
/// # Errors
/// [`Storage`] when the cursor or the time index cannot be read.
pub fn resolve_start(log: &Log, start: &Start) -> Result<(Seq, Option<String>)> {
    Ok(match start {
        Start::Now => (log.watermark(), None),
        Start::After(s) => (*s, None),
        Start::Oldest => (log.oldest().saturating_sub(1), None),
        Start::Time(t) => (log.seq_at_time(t.saturating_sub(1))?, None),
        Start::Durable { name, initial } => match log.cursor(name)? {
            Some(s) => (s, Some(name.clone())),
            None => (resolve_start(log, initial)?.0, Some(name.clone())),
        },
    })
}

/// Starts a subscription: a task drives a [`Reader`] and feeds its items into a bounded
/// channel, so the consumer holds at most one batch of items in memory. Must be called
/// inside a tokio runtime (it spawns the task), which ends when the stream is dropped.
///
/// # Errors
/// [`SnapshotRequired`] when the start lies before the oldest item held; [`Storage`] when
/// the durable cursor cannot be read or stored.
pub fn subscribe(log: Arc<Log>, filter: Filter, start: Start) -> Result<Subscription> {
    let reader = Reader::open(log.clone(), filter, start)?;
    let started_after = reader.position();
    let acker = reader.durable_name().map(|n| (log, n.to_string()));
    let (tx, rx) = mpsc::channel(DEFAULT_BATCH);
    tokio::spawn(feed(reader, tx));
    Ok(Subscription {
        stream: ReceiverStream::new(rx),
        started_after,
        acker,
    })
}

/// The subscription's task: batches from the reader, item by item into the channel, until
/// the consumer leaves or the log refuses (that error is the stream's last item).
async fn feed(mut reader: Reader, tx: mpsc::Sender<Result<ConfigurationItem>>) {
    loop {
        let batch = tokio::select! {
            b = reader.next_batch() => b,
            () = tx.closed() => return,
        };
        match batch {
            Ok(batch) => {
                for item in batch.items {
                    if tx.send(Ok(item)).await.is_err() {
                        return; // The consumer went away.
                    }
                }
            }
            Err(ReadError::Log(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            // The read died with the runtime (or panicked): the stream just ends.
            Err(ReadError::Abandoned(_)) => return,
        }
    }
}
