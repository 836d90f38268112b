//! Filtered, resumable subscriptions to the log.
//!
//! A subscriber gives a [`Filter`] and a [`Start`] and gets a `Stream` of items. Its task
//! reads the log from its cursor and is only *woken* by commits (a `watch` of the
//! watermark): a slow subscriber falls behind and catches up, it never loses an item, never
//! blocks the recorder, and holds at most one bounded channel of items in memory. A durable
//! subscriber's cursor lives in the store; after a restart it resumes right after the last
//! item it acknowledged. A cursor older than the log's oldest item ends the stream with
//! [`driftlog_log::Error::SnapshotRequired`], never a silent gap.

use driftlog_log::{Error, Log, Result};
use driftlog_model::{ConfigurationItem, Filter, Seq};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Where a subscription begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Only items committed from now on.
    Now,
    /// Items after this sequence number (0: from the beginning).
    After(Seq),
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

/// Items per read and the depth of the channel to the consumer: bounds memory per
/// subscriber whatever its lag.
const CHUNK: usize = 256;

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
    /// [`Error::Storage`] when the cursor cannot be stored.
    pub fn ack(&self, seq: Seq) -> Result<()> {
        match &self.acker {
            // Never past what was published: an ack from the future would skip items.
            Some((log, name)) => log.set_cursor(name, seq.min(log.watermark())),
            None => Ok(()),
        }
    }
}

/// The position a start means now, and the durable cursor name if any.
///
/// # Errors
/// [`Error::Storage`] when the cursor or the time index cannot be read.
pub fn resolve_start(log: &Log, start: &Start) -> Result<(Seq, Option<String>)> {
    Ok(match start {
        Start::Now => (log.watermark(), None),
        Start::After(s) => (*s, None),
        Start::Time(t) => (log.seq_at_time(t.saturating_sub(1))?, None),
        Start::Durable { name, initial } => match log.cursor(name)? {
            Some(s) => (s, Some(name.clone())),
            None => (resolve_start(log, initial)?.0, Some(name.clone())),
        },
    })
}

/// Starts a subscription. Must be called inside a tokio runtime (it spawns the reader).
///
/// # Errors
/// [`Error::SnapshotRequired`] when the start lies before the oldest item held;
/// [`Error::Storage`] when the durable cursor cannot be read.
pub fn subscribe(log: Arc<Log>, filter: Filter, start: Start) -> Result<Subscription> {
    let (after, durable) = resolve_start(&log, &start)?;
    if after.saturating_add(1) < log.oldest() {
        return Err(Error::SnapshotRequired {
            requested: after.saturating_add(1),
            oldest: log.oldest(),
        });
    }
    if let Some(name) = &durable {
        // Persist where a new durable subscriber starts, so a restart before its first
        // acknowledgement does not move its start to a later "now".
        if log.cursor(name)?.is_none() {
            log.set_cursor(name, after)?;
        }
    }
    let (tx, rx) = mpsc::channel(CHUNK);
    let mut wake = log.subscribe_watermark();
    let reader_log = log.clone();
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            // Close behind the head, the frames are in the log's cache and a read takes
            // microseconds: do it inline (a hop to the blocking pool would cost more than
            // the read, times a hundred subscribers). Far behind, reads may touch the disk:
            // keep them off the async workers.
            let read = if reader_log.watermark().saturating_sub(cursor) <= CHUNK as u64 {
                Ok(reader_log.read_range(cursor, CHUNK, &filter))
            } else {
                let log = reader_log.clone();
                let filter = filter.clone();
                tokio::task::spawn_blocking(move || log.read_range(cursor, CHUNK, &filter)).await
            };
            let (items, last) = match read {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                Err(_) => return,
            };
            let caught_up = last == cursor;
            for item in items {
                if tx.send(Ok(item)).await.is_err() {
                    return; // The consumer went away.
                }
            }
            cursor = last;
            if caught_up || cursor >= *wake.borrow_and_update() {
                // Nothing more to read: sleep until the next commit (or the consumer leaves).
                tokio::select! {
                    r = wake.changed() => { if r.is_err() { return } }
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(Subscription {
        stream: ReceiverStream::new(rx),
        started_after: after,
        acker: durable.map(|n| (log, n)),
    })
}
