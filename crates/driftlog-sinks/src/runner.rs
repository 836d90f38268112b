//! The loop behind every sink: take the next batch from a [`Reader`] on the sink's durable
//! cursor, turn its items into AWS Config messages, send, and acknowledge the batch only
//! after the destination did. How the log is read (order, filtered-out ranges,
//! `SnapshotRequired`, waking on commits) is `driftlog-subscribe`'s, tested there once;
//! retries, holding while the store has failed, and the status are the sink's.

use crate::store::{error_code, DeliveryStore};
use crate::ONE;
use crate::{Message, SendError, Transport};
use driftlog_deliver::{
    change_notification, change_subject, compliance_change_notification, compliance_subject, gzip,
    oversized_key, oversized_notification, KeyParts, SNS_ENVELOPE_BYTES, SNS_MAX_MESSAGE_BYTES,
};
use driftlog_log::Log;
use driftlog_log::Namespace;
use driftlog_model::time::now_ms;
use driftlog_model::{ConfigurationItem, Filter, Seq};
use driftlog_subscribe::{Batch, ReadError, Reader, Start};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Every sink's status as this process last saw it (a JSON list of [`SinkStatus`]), so
/// `driftlog sinks` answers when no server runs. For display only (the flushed cursor is the
/// truth): a refused write is counted, not returned.
pub(crate) const SINK_BOARD: Namespace<Vec<SinkStatus>> = Namespace::new("sink_status", 1);

/// Where a sink seen for the first time starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkStart {
    /// Changes committed from now on.
    Now,
    /// Everything the log holds.
    Beginning,
}

/// One sink's settings.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// Name; its cursor is `sink/<name>` in the store.
    pub name: String,
    /// Which items it carries.
    pub filter: Filter,
    /// Start of a new sink.
    pub start: SinkStart,
    /// Items read (and at most messages sent) per round; bounds memory per sink.
    pub batch: usize,
    /// First retry delay after a failure, doubled per failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// What a message body is.
    pub format: crate::BodyFormat,
}

impl SinkSpec {
    /// A sink with the defaults: from now on, 100 per batch, retries from 1 s up to 60 s.
    pub fn new(name: impl Into<String>, filter: Filter) -> Self {
        Self {
            name: name.into(),
            filter,
            start: SinkStart::Now,
            batch: 100,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            format: crate::BodyFormat::Aws,
        }
    }

    /// The durable cursor's name.
    pub fn cursor_name(&self) -> String {
        cursor_name(&self.name)
    }

    /// Where the sink's reader starts: its durable cursor, or for a sink seen for the
    /// first time its `start`.
    fn reader_start(&self) -> Start {
        let initial = match self.start {
            SinkStart::Now => Start::Now,
            SinkStart::Beginning => Start::Oldest,
        };
        Start::Durable {
            name: self.cursor_name(),
            initial: Box::new(initial),
        }
    }
}

/// The durable cursor name of the sink `name`.
pub fn cursor_name(name: &str) -> String {
    format!("sink/{name}")
}

/// What `driftlog sinks` shows of one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkStatus {
    /// Sink name.
    pub name: String,
    /// `sns`, `webhook`, `nats`.
    pub kind: String,
    /// Topic, URL or server and stream.
    pub target: String,
    /// Last log sequence handled (delivered or filtered out).
    pub cursor: Seq,
    /// Messages delivered since the process started.
    pub delivered: u64,
    /// Failed attempts since the process started.
    pub failures: u64,
    /// `idle`, `delivering`, `retrying`, `stopped`.
    pub state: String,
    /// Last attempt, epoch ms.
    pub last_attempt_ms: Option<i64>,
    /// Last acknowledged delivery, epoch ms.
    pub last_success_ms: Option<i64>,
    /// Last error (`code: message`), kept until a delivery succeeds.
    pub last_error: Option<String>,
}

/// The status of every sink of this process, also kept in the store so that `driftlog
/// sinks` answers when no server runs.
#[derive(Clone, Default)]
pub struct SinkBoard {
    inner: Arc<Mutex<BTreeMap<String, SinkStatus>>>,
}

impl SinkBoard {
    /// Every sink's status, by name.
    pub fn snapshot(&self) -> Vec<SinkStatus> {
        self.inner
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The statuses the last server stored, cursors read fresh from the store.
    pub fn stored(log: &Log) -> Vec<SinkStatus> {
        let mut list = SINK_BOARD.get(log, ONE).map_or_else(
            |e| {
                tracing::warn!(error = %e, "The stored sink statuses cannot be read.");
                Vec::new()
            },
            Option::unwrap_or_default,
        );
        for s in &mut list {
            if let Ok(Some(c)) = log.cursor(&cursor_name(&s.name)) {
                s.cursor = c;
            }
            if s.state != "stopped" {
                s.state = "stopped".into();
            }
        }
        list
    }

    fn update(&self, log: &Log, name: &str, f: impl FnOnce(&mut SinkStatus)) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        let s = m.entry(name.to_string()).or_default();
        s.name = name.to_string();
        f(s);
        let list: Vec<SinkStatus> = m.values().cloned().collect();
        // Not flushed here: the cursor (flushed) is the truth, this is for display; a
        // refused write is counted in `/metrics` and logged, and redone at the next change.
        SINK_BOARD.put_or_count(log, ONE, &list);
    }
}

/// Turns items into config-stream messages. A message above SNS's 256 KB limit is written
/// to the delivery channel's bucket and replaced by an
/// `OversizedConfigurationItemChangeNotification` pointing at it (the delivery-failed form
/// when that write fails). An item whose stored form cannot be rendered is reported and
/// skipped, never retried forever.
pub async fn messages(
    items: &[ConfigurationItem],
    oversize: Option<&DeliveryStore>,
    format: crate::BodyFormat,
) -> (Vec<Message>, Vec<String>) {
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for ci in items {
        let now = now_ms();
        if format == crate::BodyFormat::Item {
            // driftlog's own line, whole: the transport cuts what its destination cannot
            // carry in one message.
            let mut body = Vec::with_capacity(ci.doc.len() + 512);
            match ci.write_event_json(&mut body) {
                Ok(()) => out.push(Message {
                    seq: ci.seq,
                    key: ci.key.clone(),
                    message_type: "DriftlogItem",
                    subject: change_subject(ci),
                    body: String::from_utf8_lossy(&body).into_owned(),
                }),
                Err(e) => problems.push(e.to_string()),
            }
            continue;
        }
        if ci.key.resource_type == driftlog_model::COMPLIANCE_TYPE {
            // A rule's result changed: AWS's compliance message, small by construction.
            match compliance_change_notification(ci, now) {
                Ok(v) => out.push(Message {
                    seq: ci.seq,
                    key: ci.key.clone(),
                    message_type: "ComplianceChangeNotification",
                    subject: compliance_subject(&v),
                    body: v.to_string(),
                }),
                Err(e) => problems.push(e.to_string()),
            }
            continue;
        }
        let body = match change_notification(ci, now) {
            Ok(v) => v.to_string(),
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let (message_type, body) = if body.len() + SNS_ENVELOPE_BYTES <= SNS_MAX_MESSAGE_BYTES {
            ("ConfigurationItemChangeNotification", body)
        } else {
            let delivered = match oversize {
                Some(store) => {
                    let key = oversized_key(
                        &KeyParts {
                            prefix: store.prefix(),
                            account: &ci.key.account,
                            region: &ci.key.region,
                        },
                        &ci.key.resource_type,
                        &ci.key.resource_id,
                        ci.capture_time_ms,
                        ci.state_id(),
                    );
                    match gzip(body.as_bytes()) {
                        Ok(gz) => match store.put(&key, gz).await {
                            Ok(()) => Ok((store.bucket(), key)),
                            Err(e) => Err((error_code(&e), e.to_string())),
                        },
                        Err(e) => Err(("InternalError".to_string(), e.to_string())),
                    }
                }
                None => Err((
                    "NoSuchBucket".to_string(),
                    "no delivery channel bucket to hold an oversized change".to_string(),
                )),
            };
            let v = match &delivered {
                Ok((bucket, key)) => oversized_notification(ci, Ok((bucket, key)), now),
                Err((code, msg)) => oversized_notification(ci, Err((code, msg)), now),
            };
            match v {
                Ok(v) => (
                    if delivered.is_ok() {
                        "OversizedConfigurationItemChangeNotification"
                    } else {
                        "OversizedConfigurationItemChangeDeliveryFailed"
                    },
                    v.to_string(),
                ),
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            }
        };
        out.push(Message {
            seq: ci.seq,
            key: ci.key.clone(),
            message_type,
            subject: change_subject(ci),
            body,
        });
    }
    (out, problems)
}

/// Runs one sink until `shutdown` turns true: at-least-once, in log order, its cursor
/// durable after every acknowledged batch. A destination that is down is retried with
/// exponential backoff (its cursor waits, nothing else does); memory stays one batch.
/// A cursor older than the log (retention dropped what it had not delivered) stops the
/// sink with an error rather than skip items silently; any other read error is retried.
///
/// The log is read through a [`Reader`] on the durable cursor `sink/<name>`: the reading
/// rules (order, filtered-out ranges, `SnapshotRequired`) are `driftlog-subscribe`'s; what
/// is here is the sink's policy — batches turned into messages, retries, holding while the
/// store has failed, and the status.
pub async fn run_sink<T: Transport>(
    log: Arc<Log>,
    spec: SinkSpec,
    transport: T,
    oversize: Option<Arc<DeliveryStore>>,
    board: SinkBoard,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = spec.name.clone();
    let set = |f: &dyn Fn(&mut SinkStatus)| board.update(&log, &name, |s| f(s));
    let (kind, target) = (transport.kind().to_string(), transport.target());
    // A cursor the log no longer reaches: said in the status and the log, and the sink
    // stops — only a snapshot and a new start can fill that hole.
    let stop = |e: &driftlog_log::Error| {
        let msg = format!(
            "{e}; deliver a snapshot (`driftlog deliver snapshot`) and remove the sink's cursor to start it again"
        );
        set(&|s| {
            s.state = "stopped".into();
            s.last_error = Some(msg.clone());
        });
        tracing::error!(sink = %name, error = %msg, "Sink stopped.");
    };
    // The first position is stored before anything is sent. A store that refuses it (a
    // full disk) is reported and retried, like a destination that is down.
    let mut delay = spec.backoff_base;
    let mut reader = loop {
        match Reader::open(log.clone(), spec.filter.clone(), spec.reader_start()) {
            Ok(r) => break r.with_batch_size(spec.batch),
            Err(e @ driftlog_log::Error::SnapshotRequired { .. }) => {
                let stored = log.cursor(&spec.cursor_name()).ok().flatten();
                set(&|s| {
                    s.kind = kind.clone();
                    s.target = target.clone();
                    s.cursor = stored.unwrap_or_default();
                });
                stop(&e);
                return;
            }
            Err(e) => {
                let what = "Sink could not store its cursor; retrying.";
                storage_pause(&board, &log, what, &e, &mut delay, &spec, &mut shutdown).await;
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    };
    // Last position handled (delivered or filtered out), as the status shows it.
    let mut cursor = reader.position();
    set(&|s| {
        s.kind = kind.clone();
        s.target = target.clone();
        s.cursor = cursor;
        s.state = "idle".into();
    });
    let mut read_delay = spec.backoff_base;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // A store that failed (a full disk) cannot keep this sink's cursor: what is sent now
        // would all be sent again after the restart. Hold, and say why.
        if let Some(f) = log.storage_failure() {
            set(&|s| {
                s.state = "held".into();
                s.last_error = Some(format!(
                    "{}: {}; the sink resumes from its cursor after a restart",
                    f.code, f.message
                ));
            });
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            continue;
        }
        let batch = match reader.read().await {
            Ok(batch) => {
                read_delay = spec.backoff_base;
                batch
            }
            Err(ReadError::Log(e @ driftlog_log::Error::SnapshotRequired { .. })) => {
                stop(&e);
                break;
            }
            Err(ReadError::Log(e)) => {
                // A storage error may pass (disk full, a busy moment): the cursor waits and
                // the read is retried, like a destination that is down.
                let what = "Sink could not read the log; retrying.";
                storage_pause(
                    &board,
                    &log,
                    what,
                    &e,
                    &mut read_delay,
                    &spec,
                    &mut shutdown,
                )
                .await;
                continue;
            }
            Err(ReadError::Abandoned(_)) => break,
        };
        let Some(Batch { items, through }) = batch else {
            set(&|s| s.state = "idle".into());
            tokio::select! {
                () = reader.wait() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        if items.is_empty() {
            // Only filtered-out items: move past them. A cursor the store refused is
            // behind, which only means these are read again after a restart.
            cursor = through;
            if let Err(e) = reader.ack(cursor) {
                set(&|s| s.last_error = Some(format!("Storage: {e}")));
            }
            set(&|s| s.cursor = cursor);
            continue;
        }
        let (msgs, problems) = messages(&items, oversize.as_deref(), spec.format).await;
        for p in &problems {
            tracing::error!(sink = %name, problem = %p, "Item skipped: it cannot be rendered.");
        }
        let mut pending: &[Message] = &msgs;
        let mut delay = spec.backoff_base;
        while !pending.is_empty() {
            set(&|s| {
                s.state = "delivering".into();
                s.last_attempt_ms = Some(now_ms());
            });
            match transport.send(pending).await {
                Ok(()) => {
                    let n = pending.len() as u64;
                    set(&|s| {
                        s.delivered += n;
                        s.last_success_ms = Some(now_ms());
                        s.last_error = None;
                    });
                    pending = &[];
                }
                Err(SendError {
                    delivered,
                    code,
                    message,
                }) => {
                    let delivered = delivered.min(pending.len());
                    if delivered > 0 {
                        let acked = pending[delivered - 1].seq;
                        if reader.ack(acked).is_ok() {
                            cursor = acked;
                        }
                        pending = &pending[delivered..];
                    }
                    let err = format!("{code}: {message}");
                    tracing::warn!(sink = %name, error = %err, retry_in = ?delay, "Sink delivery failed; retrying.");
                    set(&|s| {
                        s.state = "retrying".into();
                        s.failures += 1;
                        s.delivered += delivered as u64;
                        s.cursor = cursor;
                        s.last_error = Some(err.clone());
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(jittered(delay)) => {}
                        _ = shutdown.changed() => {}
                    }
                    if *shutdown.borrow() {
                        return;
                    }
                    delay = (delay * 2).min(spec.backoff_max);
                }
            }
        }
        cursor = through;
        if let Err(e) = reader.ack(cursor) {
            set(&|s| s.last_error = Some(format!("Storage: {e}")));
        }
        set(&|s| s.cursor = cursor);
    }
}

/// A store that refused the sink (a read or its cursor): said in its status and the log,
/// then a jittered pause — cut short by shutdown — after which `delay` has doubled, up to
/// the sink's `backoff_max`, as for a destination that is down.
async fn storage_pause(
    board: &SinkBoard,
    log: &Log,
    what: &str,
    e: &driftlog_log::Error,
    delay: &mut Duration,
    spec: &SinkSpec,
    shutdown: &mut watch::Receiver<bool>,
) {
    let err = format!("Storage: {e}");
    tracing::warn!(sink = %spec.name, error = %err, retry_in = ?*delay, "{what}");
    board.update(log, &spec.name, |s| {
        s.state = "retrying".into();
        s.failures += 1;
        s.last_error = Some(err.clone());
    });
    tokio::select! {
        _ = tokio::time::sleep(jittered(*delay)) => {}
        _ = shutdown.changed() => {}
    }
    *delay = (*delay * 2).min(spec.backoff_max);
}

/// ±20%, so many sinks failing at once do not retry in lockstep.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.8 + 0.4 * fastrand::f64())
}
