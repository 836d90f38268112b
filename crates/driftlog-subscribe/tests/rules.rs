//! The rules every reader of the log follows, tested once for all of them (sinks, the
//! delivery channel, gRPC, NDJSON, `driftlog tail`), on a real store in a temporary
//! directory: at least once in log order, resumption after a restart, filtered-out ranges
//! moving the cursor, `SnapshotRequired` instead of a gap, and sleeping until a commit.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_log::{Error, Log, LogOptions};
use driftlog_model::time::now_ms;
use driftlog_model::{Change, Filter, ResourceKey, Seq, Status, TypePattern};
use driftlog_subscribe::{subscribe, Batch, ReadError, Reader, Start};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;

const SG: &str = "AWS::EC2::SecurityGroup";
const BUCKET: &str = "AWS::S3::Bucket";

fn open(dir: &Path) -> Arc<Log> {
    let opts = LogOptions {
        cache_bytes: 8 << 20,
        frame_items: 2,
        ..LogOptions::default()
    };
    Arc::new(Log::open(dir.join("store"), opts).unwrap())
}

/// Commits one batch: the next version of each resource named (type, id).
fn commit(log: &Log, resources: &[(&str, &str)]) -> std::ops::RangeInclusive<Seq> {
    let changes: Vec<Change> = resources
        .iter()
        .map(|(rtype, id)| {
            let key = ResourceKey::new("111122223333", "eu-west-1", *rtype, *id);
            let id = key.id_hash();
            let prev = log.state().get(id).map(|s| (s.seq, s.version));
            let version = prev.map_or(1, |(_, v)| v + 1);
            Change {
                key,
                id,
                status: if prev.is_some() {
                    Status::Ok
                } else {
                    Status::ResourceDiscovered
                },
                version,
                prev_seq: prev.map(|(s, _)| s),
                doc: format!(r#"{{"configuration":{{"version":{version}}}}}"#)
                    .into_bytes()
                    .into(),
                volatile: b"{}".to_vec().into(),
                diff: b"[]".to_vec().into(),
                doc_hash: u128::from(version),
                volatile_hash: 0,
                attribution: Vec::new(),
            }
        })
        .collect();
    log.append(&changes, now_ms()).unwrap().unwrap()
}

fn sgs(ids: std::ops::Range<usize>) -> Vec<(&'static str, String)> {
    ids.map(|i| (SG, format!("sg-{i}"))).collect()
}

fn commit_owned(log: &Log, resources: &[(&'static str, String)]) -> std::ops::RangeInclusive<Seq> {
    let borrowed: Vec<(&str, &str)> = resources.iter().map(|(t, id)| (*t, id.as_str())).collect();
    commit(log, &borrowed)
}

fn seqs(batch: &Batch) -> Vec<Seq> {
    batch.items.iter().map(|c| c.seq).collect()
}

fn only_security_groups() -> Filter {
    Filter {
        types: vec![TypePattern::parse(SG).unwrap()],
        ..Filter::default()
    }
}

fn durable(name: &str, initial: Start) -> Start {
    Start::Durable {
        name: name.into(),
        initial: Box::new(initial),
    }
}

/// Closes the store once the subscription tasks holding it have seen their consumer go:
/// then it can be opened again, as after a restart.
async fn close(log: Arc<Log>) {
    while Arc::strong_count(&log) > 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn read(reader: &mut Reader) -> Option<Batch> {
    reader.read().await.unwrap()
}

/// Handed out is not acknowledged: a restart (the store closed and opened again) hands out
/// again exactly what followed the last acknowledgement, in order, and nothing is lost.
#[tokio::test]
async fn at_least_once_in_order_and_a_restart_resumes_after_the_last_ack() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    commit_owned(&log, &sgs(0..6));
    commit_owned(&log, &sgs(6..10));
    assert_eq!(log.watermark(), 10);

    let mut reader = Reader::open(
        log.clone(),
        Filter::default(),
        durable("sink/a", Start::Oldest),
    )
    .unwrap()
    .with_batch_size(4);
    assert_eq!(reader.position(), 0);
    assert_eq!(
        log.cursor("sink/a").unwrap(),
        Some(0),
        "its start stored at once"
    );
    let first = read(&mut reader).await.unwrap();
    assert_eq!(seqs(&first), [1, 2, 3, 4]);
    assert_eq!(first.through, 4);
    reader.ack(first.through).unwrap();
    let second = read(&mut reader).await.unwrap();
    assert_eq!(seqs(&second), [5, 6, 7, 8]);
    assert_eq!(
        reader.position(),
        8,
        "the position runs ahead of the cursor"
    );
    assert_eq!(log.cursor("sink/a").unwrap(), Some(4));
    // The destination never confirmed the second batch: the process dies.
    drop(reader);
    drop(log);

    let log = open(dir.path());
    let mut reader = Reader::open(
        log.clone(),
        Filter::default(),
        durable("sink/a", Start::Now),
    )
    .unwrap()
    .with_batch_size(4);
    assert_eq!(
        reader.position(),
        4,
        "the stored cursor wins over the initial start"
    );
    let mut seen = Vec::new();
    while let Some(b) = read(&mut reader).await {
        seen.extend(seqs(&b));
        reader.ack(b.through).unwrap();
    }
    assert_eq!(
        seen,
        [5, 6, 7, 8, 9, 10],
        "the unacknowledged batch again, then the rest"
    );
    // An acknowledgement never runs ahead of what was handed out.
    reader.ack(1_000).unwrap();
    assert_eq!(log.cursor("sink/a").unwrap(), Some(10));
    drop(reader);
    drop(log);

    let log = open(dir.path());
    let mut reader = Reader::open(
        log.clone(),
        Filter::default(),
        durable("sink/a", Start::Oldest),
    )
    .unwrap();
    assert_eq!(reader.position(), 10);
    assert!(
        read(&mut reader).await.is_none(),
        "nothing handed out twice once acknowledged"
    );
    let next = commit_owned(&log, &sgs(0..1));
    assert_eq!(seqs(&read(&mut reader).await.unwrap()), [*next.start()]);
}

/// A new durable reader's start is stored before its first acknowledgement: a restart in
/// between does not move it to a later "now" and skip what came meanwhile.
#[tokio::test]
async fn a_new_durable_start_survives_a_restart_before_the_first_ack() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    commit_owned(&log, &sgs(0..5));
    let reader = Reader::open(
        log.clone(),
        Filter::default(),
        durable("sink/now", Start::Now),
    )
    .unwrap();
    assert_eq!(reader.position(), 5);
    drop(reader);
    commit_owned(&log, &sgs(5..7));
    drop(log);

    let log = open(dir.path());
    let mut reader = Reader::open(
        log.clone(),
        Filter::default(),
        durable("sink/now", Start::Now),
    )
    .unwrap();
    assert_eq!(seqs(&read(&mut reader).await.unwrap()), [6, 7]);
}

/// A range the filter rejects whole still reports the position it reached, so its
/// acknowledgement moves the cursor past it: a restart does not scan it again.
#[tokio::test]
async fn filtered_out_ranges_are_skipped_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    commit_owned(&log, &sgs(0..3)); // 1..=3
    commit(&log, &[(BUCKET, "b-1"), (BUCKET, "b-2")]); // 4..=5
    let mut reader = Reader::open(
        log.clone(),
        only_security_groups(),
        durable("sink/sg", Start::Oldest),
    )
    .unwrap()
    .with_batch_size(10);
    let b = read(&mut reader).await.unwrap();
    assert_eq!(seqs(&b), [1, 2, 3]);
    assert_eq!(b.through, 5, "the buckets after them are covered too");
    reader.ack(b.through).unwrap();

    // Only buckets: an empty batch that still moves the position.
    let buckets = commit(&log, &[(BUCKET, "b-1"), (BUCKET, "b-3"), (BUCKET, "b-4")]);
    let skipped = read(&mut reader).await.unwrap();
    assert!(skipped.items.is_empty());
    assert_eq!(skipped.through, *buckets.end());
    assert!(
        read(&mut reader).await.is_none(),
        "caught up after the skip"
    );
    reader.ack(skipped.through).unwrap();
    assert_eq!(log.cursor("sink/sg").unwrap(), Some(*buckets.end()));
    drop(reader);
    drop(log);

    let log = open(dir.path());
    let mut reader = Reader::open(
        log.clone(),
        only_security_groups(),
        durable("sink/sg", Start::Oldest),
    )
    .unwrap();
    assert_eq!(reader.position(), *buckets.end());
    let sg = commit(&log, &[(BUCKET, "b-5"), (SG, "sg-9")]);
    let b = read(&mut reader).await.unwrap();
    assert_eq!(seqs(&b), [*sg.end()]);
    assert_eq!(b.items[0].key.resource_type, SG);

    // The stream over the same core passes the same items only.
    let mut sub = subscribe(log.clone(), only_security_groups(), Start::After(0)).unwrap();
    let mut streamed = Vec::new();
    for _ in 0..4 {
        streamed.push(sub.stream.next().await.unwrap().unwrap().seq);
    }
    assert_eq!(streamed, [1, 2, 3, *sg.end()]);
}

/// Retention dropped items a reader had not read: it is told so — at open, or at its next
/// read — and its position does not move past the hole, however often it asks.
#[tokio::test]
async fn a_position_before_the_oldest_item_is_snapshot_required_never_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for _ in 0..10 {
        commit(&log, &[(SG, "sg-1")]); // one resource, ten versions: 1..=10
    }
    log.set_cursor("sink/behind", 3).unwrap();
    let mut early = Reader::open(log.clone(), Filter::default(), Start::After(2)).unwrap();
    assert!(log.truncate_before(7).unwrap() > 0);
    let oldest = log.oldest();
    assert!(oldest > 4 && oldest <= 7, "{oldest}");

    let snapshot_required = |e: &Error, requested: Seq| match e {
        Error::SnapshotRequired {
            requested: r,
            oldest: o,
        } => assert_eq!((*r, *o), (requested, oldest), "{e}"),
        other => panic!("expected SnapshotRequired, got {other:?}"),
    };
    for _ in 0..2 {
        match early.read().await {
            Err(ReadError::Log(e)) => snapshot_required(&e, 3),
            other => panic!("expected SnapshotRequired, got {other:?}"),
        }
        assert_eq!(early.position(), 2, "no gap: the position stays");
    }
    let open_err = |start: Start| match Reader::open(log.clone(), Filter::default(), start) {
        Err(e) => e,
        Ok(r) => panic!("opened at {}", r.position()),
    };
    snapshot_required(&open_err(Start::After(0)), 1);
    snapshot_required(&open_err(durable("sink/behind", Start::Oldest)), 4);
    snapshot_required(&open_err(durable("sink/new", Start::After(0))), 1);
    assert_eq!(
        log.cursor("sink/new").unwrap(),
        None,
        "a refused start is not stored"
    );
    match subscribe(log.clone(), Filter::default(), Start::After(0)) {
        Err(e) => snapshot_required(&e, 1),
        Ok(_) => panic!("subscribed before the oldest item"),
    }
    let text = open_err(Start::After(0)).to_string();
    assert!(
        text.starts_with("snapshot required: seq 1 is older"),
        "{text}"
    );

    // What the log still holds is there, from its oldest item on.
    let mut reader = Reader::open(log.clone(), Filter::default(), Start::Oldest).unwrap();
    let b = read(&mut reader).await.unwrap();
    assert_eq!(seqs(&b), (oldest..=10).collect::<Vec<_>>());
}

/// A caught-up reader sleeps on the watermark (no polling) and wakes at the next commit;
/// giving up on the wait loses nothing. The stream does the same through its task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_reader_sleeps_until_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    commit_owned(&log, &sgs(0..3));
    let mut reader = Reader::open(log.clone(), Filter::default(), Start::Now).unwrap();
    let mut sub = subscribe(log.clone(), Filter::default(), Start::Now).unwrap();
    assert_eq!(sub.started_after, 3);
    assert!(read(&mut reader).await.is_none());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), reader.next_batch())
            .await
            .is_err(),
        "nothing to hand out: it waits"
    );
    assert_eq!(reader.position(), 3, "a cancelled wait moved nothing");

    let writer = log.clone();
    let committer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        commit_owned(&writer, &sgs(3..5))
    });
    let b = tokio::time::timeout(Duration::from_secs(10), reader.next_batch())
        .await
        .expect("woken by the commit")
        .unwrap();
    assert_eq!(seqs(&b), [4, 5]);
    committer.await.unwrap();
    for want in [4, 5] {
        let item = tokio::time::timeout(Duration::from_secs(10), sub.stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(item.seq, want);
    }
}

/// The stream's acknowledgement is the same durable cursor: a durable subscriber dropped
/// mid-stream resumes right after what it acknowledged.
#[tokio::test]
async fn a_durable_subscription_resumes_after_its_ack() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    commit_owned(&log, &sgs(0..8));
    let start = || durable("tail", Start::After(0));
    let mut sub = subscribe(log.clone(), Filter::default(), start()).unwrap();
    for want in 1..=5 {
        let item = sub.stream.next().await.unwrap().unwrap();
        assert_eq!(item.seq, want);
        if want == 3 {
            sub.ack(item.seq).unwrap();
        }
    }
    drop(sub);
    close(log).await;

    let log = open(dir.path());
    let mut sub = subscribe(log.clone(), Filter::default(), start()).unwrap();
    assert_eq!(sub.started_after, 3);
    for want in 4..=8 {
        assert_eq!(sub.stream.next().await.unwrap().unwrap().seq, want);
    }
}
