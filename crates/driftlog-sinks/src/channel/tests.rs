//! The channel's own tests: snapshot ids, a redone history window, the upgrade path.

#![allow(clippy::unwrap_used, reason = "test code")]

use super::*;
use crate::{AwsAccess, SinkBoard, SinkStatus, StoreLocation};
use driftlog_log::LogOptions;
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};

#[test]
fn snapshot_ids_are_uuid_v4() {
    let id = new_snapshot_id();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    assert_ne!(id, new_snapshot_id());
    assert_eq!(
        SnapshotFrequency::parse("Six_Hours").unwrap().every(),
        Duration::from_secs(6 * 3600)
    );
    assert!(SnapshotFrequency::parse("Daily")
        .unwrap_err()
        .contains("TwentyFour_Hours"));
}

/// A crash after a window was stored but before it was marked done: the restart
/// delivers exactly that window again — the same keys, the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_history_window_is_redone_identically() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources: 200,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim);
    Recorder::new(log.clone(), source, RecorderConfig::default())
        .poll_all_once()
        .await
        .unwrap();
    let out = dir.path().join("out");
    let ch = DeliveryChannel::open(
        log.clone(),
        ChannelSettings {
            name: "default".into(),
            location: StoreLocation::Local(out.clone()),
            prefix: None,
            kms_key_arn: None,
            sns_topic_arn: None,
            snapshot_frequency: None,
            history_period: Duration::from_secs(1),
            max_items_per_file: 30,
            access: AwsAccess::default(),
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let all = ch.deliver_history_due(now_ms()).await.unwrap();
    let done = history_done(&log).unwrap();
    assert_eq!(done.through, log.watermark());
    // The last window (discovery may have spanned more than one 1 s period).
    let start = done.end_ms - 1000;
    let tag = format!(
        "_{}_{}_",
        driftlog_deliver::stamp(start),
        driftlog_deliver::stamp(done.end_ms)
    );
    let keys: Vec<String> = all.into_iter().filter(|k| k.contains(&tag)).collect();
    assert!(!keys.is_empty());
    let bytes: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| std::fs::read(out.join(k)).unwrap())
        .collect();

    // The crash: the window stored, nothing marked done, an object torn.
    let run = HistoryRun {
        after: log.seq_at_time(start - 1).unwrap(),
        through: done.through,
        start_ms: start,
        end_ms: done.end_ms,
    };
    HISTORY_RUN.put(&log, ONE, &Some(run)).unwrap();
    HISTORY_DONE.remove(&log, ONE).unwrap();
    std::fs::write(out.join(&keys[0]), b"torn").unwrap();

    let redone = ch.deliver_history_due(now_ms()).await.unwrap();
    assert_eq!(redone, keys);
    for (k, b) in keys.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(out.join(k)).unwrap(), b, "{k}");
    }
    assert_eq!(history_done(&log).unwrap().through, done.through);
    assert!(ch.deliver_history_due(now_ms()).await.unwrap().is_empty());
}

/// The upgrade: a store written by the version before namespaces (raw side records, no
/// header, exactly as its `put_kv` calls wrote them) is read by this one — the channel's
/// status, history position and window, snapshot time, both forms of the event queue,
/// and the sink board — and what this version writes back is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_before_namespaces_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let mut old_status = DeliveryStatus {
        name: "old".into(),
        ..DeliveryStatus::default()
    };
    old_status
        .config_snapshot_delivery_info
        .outcome(1_000, None);
    old_status
        .config_history_delivery_info
        .outcome(2_000, Some(("NoSuchBucket".into(), "gone".into())));
    let event = |n: u32| Event {
        subject: format!("subject {n}"),
        body: format!("{{\"n\":{n}}}"),
    };
    // The old code's writes, byte for byte.
    log.put_kv("delivery_status", &serde_json::to_vec(&old_status).unwrap())
        .unwrap();
    log.put_kv(
        "delivery_history_through",
        &serde_json::to_vec(&HistoryDone {
            through: 42,
            end_ms: 9_000,
        })
        .unwrap(),
    )
    .unwrap();
    log.put_kv("delivery_history_run", b"null").unwrap();
    log.put_kv("delivery_snapshot_last_ms", &1_234_i64.to_be_bytes())
        .unwrap();
    for n in [7_u32, 8] {
        log.put_kv(
            &format!("delivery_events/{:020}", n),
            &serde_json::to_vec(&event(n)).unwrap(),
        )
        .unwrap();
    }
    log.put_kv("delivery_events/00000000000000000009", b"not json")
        .unwrap();
    log.put_kv("delivery_events", &serde_json::to_vec(&[event(1)]).unwrap())
        .unwrap();
    let board = vec![SinkStatus {
        name: "hook".into(),
        kind: "webhook".into(),
        state: "delivering".into(),
        delivered: 3,
        ..SinkStatus::default()
    }];
    log.put_kv("sink_status", &serde_json::to_vec(&board).unwrap())
        .unwrap();

    // Read without a server, as `driftlog sinks` does.
    let stored = DeliveryChannel::stored_status(&log).unwrap();
    assert_eq!(stored.name, "old");
    assert_eq!(
        stored.config_history_delivery_info,
        old_status.config_history_delivery_info
    );
    assert_eq!(stored.history_through_seq, 42);
    assert_eq!(
        stored.pending_events, 3,
        "the queued events, the bad one too"
    );
    let sinks = SinkBoard::stored(&log);
    assert_eq!(sinks.len(), 1);
    assert_eq!((sinks[0].name.as_str(), sinks[0].delivered), ("hook", 3));
    assert_eq!(sinks[0].state, "stopped");
    assert_eq!(SNAPSHOT_LAST.get(&log, ONE).unwrap(), Some(1_234));
    assert!(matches!(HISTORY_RUN.get(&log, ONE).unwrap(), Some(None)));
    let run = HistoryRun {
        after: 40,
        through: 42,
        start_ms: 8_000,
        end_ms: 9_000,
    };
    log.put_kv("delivery_history_run", &serde_json::to_vec(&run).unwrap())
        .unwrap();
    let read = HISTORY_RUN.get(&log, ONE).unwrap().flatten().unwrap();
    assert_eq!((read.after, read.through, read.end_ms), (40, 42, 9_000));
    log.put_kv("delivery_history_run", b"null").unwrap();
    let queue = outbox_page(&log, None, 10).unwrap();
    let keys: Vec<String> = queue.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, [event_key(7), event_key(8), event_key(9)]);
    assert_eq!(queue[1].1.as_ref().unwrap().subject, "subject 8");
    assert!(
        queue[2].1.is_none(),
        "an unreadable event is named, not fatal"
    );

    // Opened by this version: the old list moves into the queue after its last event.
    let ch = DeliveryChannel::open(
        log.clone(),
        ChannelSettings {
            name: "default".into(),
            location: StoreLocation::Local(dir.path().join("out")),
            prefix: None,
            kms_key_arn: None,
            sns_topic_arn: None,
            snapshot_frequency: None,
            history_period: Duration::from_secs(1),
            max_items_per_file: 30,
            access: AwsAccess::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(ch.pending_events(), 4);
    assert_eq!(log.get_kv("delivery_events").unwrap(), None);
    let moved = OUTBOX.get(&log, &event_key(10)).unwrap().unwrap();
    assert_eq!(moved.subject, "subject 1");
    let status = ch.status();
    assert_eq!(status.name, "default");
    assert_eq!(status.history_through_seq, 42);
    assert_eq!(
        status.config_snapshot_delivery_info,
        old_status.config_snapshot_delivery_info
    );

    // Written back with a header, and read again.
    assert!(ch.deliver_history_due(now_ms()).await.unwrap().is_empty());
    let raw = log.get_kv("delivery_status").unwrap().unwrap();
    assert_eq!(raw[0], 0xD1, "written by a namespace");
    let stored = DeliveryChannel::stored_status(&log).unwrap();
    assert_eq!(stored.name, "default");
    assert!(stored
        .config_history_delivery_info
        .next_delivery_time
        .is_some());
    assert_eq!(log.side_write_failures(), 0);
}
