//! A recorder's answer to an aggregator that lost some of its items: its whole inventory,
//! published into the stream between two markers (`driftlog_deliver`'s resync module
//! defines the wire). Requests arrive on core NATS; requests that pile up while a snapshot
//! is being published are answered by one more snapshot, not one each.

use crate::nats::NatsTransport;
use crate::runner::messages;
use crate::{BodyFormat, SendError};
use driftlog_deliver::{
    resync_subject, snapshot_marker_id, snapshot_subject, ResyncRequest, SnapshotMarker,
    SnapshotPhase, LOG_HEADER, NATS_MSG_ID_HEADER, RECORDER_HEADER, SEQ_HEADER, SNAPSHOT_HEADER,
};
use driftlog_log::Log;
use driftlog_model::{ConfigurationItem, Filter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// Items read from the log and published per round.
const ROUND: usize = 512;

/// What one snapshot published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReceipt {
    /// Its id.
    pub snapshot: String,
    /// The sequence it is the inventory at.
    pub seq: u64,
    /// Items published.
    pub items: u64,
}

impl NatsTransport {
    /// Publishes the inventory now as a snapshot: begin marker, every live resource's
    /// current item, end marker naming the count and the `(account, region)` pairs this
    /// recorder has ever recorded (every scope of its store). Each message is acknowledged by JetStream before the
    /// next round; a failure leaves a snapshot without its end, which aggregators never
    /// complete (they ask again).
    ///
    /// # Errors
    /// The log cannot be read, or JetStream refused or did not acknowledge a message.
    pub async fn publish_snapshot(
        &self,
        log: Arc<Log>,
        configured: &ConfiguredPairs,
    ) -> Result<SnapshotReceipt, SendError> {
        let snapshot = crate::new_snapshot_id();
        let recorder = self.recorder().to_string();
        let begin = |seq| SnapshotMarker {
            phase: SnapshotPhase::Begin,
            snapshot: snapshot.clone(),
            recorder: recorder.clone(),
            log: log.id().to_string(),
            seq,
            items: 0,
            scopes: Vec::new(),
        };
        // The inventory is read under the lock the item sink publishes under, and the begin
        // marker published before the lock is let go: no item newer than the snapshot comes
        // before the marker (older ones may still follow it, from a sink that lags: the
        // aggregator drops those as duplicates).
        let (seq, heads) = self
            .publish_raw(|| log.heads_now(), |(seq, _)| marker_message(&begin(*seq)))
            .await?;
        let mut marker = begin(seq);
        // The frames are read on a blocking thread, a round at a time, while the previous
        // round is published.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ConfigurationItem>>(2);
        let reader_log = log.clone();
        let reader = tokio::task::spawn_blocking(move || {
            let mut round = Vec::with_capacity(ROUND);
            let r = reader_log.items_at_seqs(heads, &Filter::default(), |ci| {
                round.push(ci);
                if round.len() == ROUND {
                    return tx.blocking_send(std::mem::take(&mut round)).is_ok();
                }
                true
            });
            if !round.is_empty() {
                let _ = tx.blocking_send(round);
            }
            r
        });
        let mut items = 0u64;
        while let Some(round) = rx.recv().await {
            let (msgs, problems) = messages(&round, None, BodyFormat::Item).await;
            if let Some(p) = problems.first() {
                return Err(SendError::new("Unrenderable", p.clone()));
            }
            self.publish(&msgs, Some(&snapshot)).await?;
            items += msgs.len() as u64;
        }
        match reader.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(SendError::new("Storage", e.to_string())),
            Err(e) => return Err(SendError::new("Storage", e.to_string())),
        }
        marker.phase = SnapshotPhase::End;
        marker.items = items;
        let mut pairs: std::collections::BTreeSet<(String, String)> =
            recorded_pairs(&log).into_iter().collect();
        pairs.extend(configured());
        marker.scopes = pairs.into_iter().collect();
        self.publish_raw(|| (), |()| marker_message(&marker))
            .await?;
        Ok(SnapshotReceipt {
            snapshot,
            seq,
            items,
        })
    }
}

/// The `(account, region)` pairs the recorder is set to record now. A snapshot's end marker
/// names them with those its store holds: a resync taken before the first poll of a pair
/// finished must still let the aggregator drop what that pair held before.
pub type ConfiguredPairs = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Every `(account, region)` the store has recorded anything in.
fn recorded_pairs(log: &Log) -> Vec<(String, String)> {
    let pairs: std::collections::BTreeSet<(String, String)> = log
        .state()
        .scopes()
        .map(|(s, _, _)| (s.account.clone(), s.region.clone()))
        .collect();
    pairs.into_iter().collect()
}

/// A marker's subject, headers and body.
fn marker_message(m: &SnapshotMarker) -> (String, async_nats::HeaderMap, bytes::Bytes) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(
        NATS_MSG_ID_HEADER,
        snapshot_marker_id(&m.recorder, &m.snapshot, m.phase).as_str(),
    );
    h.insert(RECORDER_HEADER, m.recorder.as_str());
    h.insert(LOG_HEADER, m.log.as_str());
    h.insert(SEQ_HEADER, m.seq.to_string().as_str());
    h.insert(SNAPSHOT_HEADER, m.snapshot.as_str());
    (snapshot_subject(&m.recorder), h, m.to_bytes().into())
}

/// Answers resync requests for this recorder until `stop` turns true: subscribes to
/// `driftlog.resync.<id>` (again after any failure) and publishes a snapshot per burst of
/// requests through `transport` — the item sink's own, so that the snapshot's begin marker
/// is ordered with its items.
pub async fn run_resync_responder(
    log: Arc<Log>,
    transport: Arc<NatsTransport>,
    configured: ConfiguredPairs,
    mut stop: watch::Receiver<bool>,
) {
    let subject = resync_subject(transport.recorder());
    let mut delay = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            return;
        }
        let sub = match transport.connection().connect().await {
            Ok(c) => c
                .subscribe(subject.clone())
                .await
                .map(|s| (c, s))
                .map_err(|e| format!("subscribe {subject}: {e}")),
            Err(e) => Err(e),
        };
        let (_client, mut sub) = match sub {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "Resync: NATS unreachable; trying again.");
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        delay = Duration::from_secs(1);
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                m = sub.next() => m,
            };
            let Some(first) = first else { break };
            // Requests that came together get one snapshot.
            let mut asked = vec![first];
            while let Ok(Some(m)) = tokio::time::timeout(Duration::ZERO, sub.next()).await {
                asked.push(m);
            }
            let who: Vec<String> = asked
                .iter()
                .map(
                    |m| match serde_json::from_slice::<ResyncRequest>(&m.payload) {
                        Ok(r) => format!("{} ({})", r.aggregator, r.reason),
                        Err(_) => "an unnamed aggregator".to_string(),
                    },
                )
                .collect();
            tracing::info!(asked_by = ?who, "Resync: an aggregator asked for this recorder's inventory; publishing a snapshot.");
            match transport.publish_snapshot(log.clone(), &configured).await {
                Ok(r) => tracing::info!(
                    snapshot = %r.snapshot, seq = r.seq, items = r.items,
                    "Resync: snapshot published."
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "Resync: the snapshot could not be published; the aggregator will ask again."
                ),
            }
        }
    }
}
