//! The delivery channel and SNS sinks against moto (S3, SNS, SQS) on loopback, read back
//! with boto3 (tests/aws/delivery.py) as AWS Config users read theirs: history files and
//! snapshots under AWS Config's keys in the bucket; change notifications and delivery
//! events in an SQS queue subscribed to the topics of two regions; and moto killed while
//! changes keep coming, with every message delivered after it is back.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_model::time::now_ms;
use driftlog_model::{Filter, ResourceKey, TypePattern};
use driftlog_sinks::{
    run_sink, AwsAccess, ChannelSettings, DeliveryChannel, SinkBoard, SinkSpec, SinkStart,
    SnsTransport, StoreLocation,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{ci_id, dedup, log_ids, wait_for, world, World};

use crate::moto_support as support;
use support::{delivery, moto, Moto};

const SG: &str = "AWS::EC2::SecurityGroup";
const BUCKET: &str = "config-bucket";

fn credentials() {
    for (k, v) in support::CREDENTIALS {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
}

/// Bucket, a topic in two regions, one queue subscribed to both.
fn receivers(m: &Moto) -> Value {
    delivery(m, &["bucket", BUCKET]);
    delivery(
        m,
        &[
            "topics",
            "config-topic",
            "config-queue",
            "us-east-1",
            "eu-west-1",
        ],
    )
}

fn access(m: &Moto) -> AwsAccess {
    AwsAccess {
        endpoint_url: Some(m.url.clone()),
        region: Some("us-east-1".into()),
        ..AwsAccess::default()
    }
}

fn sg_filter(region: &str) -> Filter {
    Filter {
        types: vec![TypePattern::parse(SG).unwrap()],
        regions: vec![region.into()],
        ..Filter::default()
    }
}

/// Two SNS sinks — the eu-west-1 security groups to the eu-west-1 topic, the us-east-1 ones
/// to the us-east-1 topic — until the returned sender says stop.
async fn start_sinks(
    w: &World,
    m: &Moto,
    topics: &Value,
    board: &SinkBoard,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for region in ["eu-west-1", "us-east-1"] {
        let t = SnsTransport::new(topics[region].as_str().unwrap(), &access(m))
            .await
            .unwrap();
        let spec = SinkSpec {
            start: SinkStart::Beginning,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..SinkSpec::new(format!("sns-{region}"), sg_filter(region))
        };
        tasks.push(tokio::spawn(run_sink(
            w.log.clone(),
            spec,
            t,
            None,
            board.clone(),
            stop_rx.clone(),
        )));
    }
    (stop_tx, tasks)
}

fn cursors_at(w: &World, seq: u64) -> bool {
    ["sns-eu-west-1", "sns-us-east-1"]
        .iter()
        .all(|n| w.log.cursor(&format!("sink/{n}")).unwrap() == Some(seq))
}

fn receive(m: &Moto, queue: &str) -> Vec<Value> {
    delivery(m, &["receive", queue, "2"])
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_files_and_sns_to_sqs_on_moto_survive_a_moto_crash() {
    let Some(mut m) = moto() else { return };
    credentials();
    let r = receivers(&m);
    let queue = r["queueUrl"].as_str().unwrap().to_string();
    let w = world(300);
    let ch = DeliveryChannel::open(
        w.log.clone(),
        ChannelSettings {
            name: "default".into(),
            location: StoreLocation::S3 {
                bucket: BUCKET.into(),
            },
            prefix: Some("org".into()),
            kms_key_arn: None,
            sns_topic_arn: Some(r["topics"]["us-east-1"].as_str().unwrap().into()),
            snapshot_frequency: None,
            history_period: Duration::from_secs(1),
            max_items_per_file: 1000,
            access: access(&m),
        },
    )
    .await
    .unwrap();
    let board = SinkBoard::default();
    let (stop, tasks) = start_sinks(&w, &m, &r["topics"], &board).await;

    // Discovery, then one security group opened to the world on port 22.
    w.rec.poll_all_once().await.unwrap();
    let sg: ResourceKey = w.sim.estate().keys_of_type(SG).into_iter().next().unwrap();
    let opened = json!({"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "ipRanges": ["0.0.0.0/0"],
        "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []});
    w.sim.estate().edit(&sg, |doc| {
        doc["configuration"]["ipPermissions"]
            .as_array_mut()
            .unwrap()
            .push(opened.clone());
    });
    w.rec.poll_once(&sg.scope()).await.unwrap();
    let edit_seq = w.log.watermark();
    assert_eq!(w.log.get(edit_seq).unwrap().unwrap().key, sg);
    wait_for("both sinks caught up", Duration::from_secs(60), || {
        cursors_at(&w, edit_seq)
    })
    .await;

    let got = receive(&m, &queue);
    let changes: Vec<&Value> = got
        .iter()
        .filter(|g| g["message"]["messageType"] == "ConfigurationItemChangeNotification")
        .collect();
    let topics: std::collections::BTreeSet<&str> = changes
        .iter()
        .map(|g| g["topicArn"].as_str().unwrap())
        .collect();
    assert_eq!(topics.len(), 2, "one queue, the topics of two regions");
    let edit = changes
        .iter()
        .find(|g| g["seq"] == edit_seq)
        .expect("the edit's notification reached the queue");
    let msg = &edit["message"];
    assert_eq!(msg["configurationItemDiff"]["changeType"], "UPDATE");
    let props = msg["configurationItemDiff"]["changedProperties"]
        .as_object()
        .unwrap();
    let (path, change) = props
        .iter()
        .find(|(k, _)| k.starts_with("Configuration.IpPermissions."))
        .expect("the rule in changedProperties");
    assert!(path.split('.').nth(2).unwrap().parse::<usize>().is_ok());
    assert_eq!(change["updatedValue"]["fromPort"], 22);
    assert_eq!(change["updatedValue"]["ipRanges"], json!(["0.0.0.0/0"]));
    assert_eq!(
        msg["configurationItem"]["resourceId"],
        sg.resource_id.as_str()
    );
    assert_eq!(
        edit["subject"],
        format!(
            "[AWS Config:{}] {SG} {} Updated in Account {}",
            sg.region, sg.resource_id, sg.account
        )
    );
    let mut seqs: Vec<u64> = changes.iter().map(|g| g["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = w
        .items(&Filter {
            types: vec![TypePattern::parse(SG).unwrap()],
            ..Filter::default()
        })
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(dedup(&seqs), expected, "every security-group change, once");

    // History and a snapshot in the bucket under AWS Config's keys, with the delivery
    // events on the channel's topic.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let keys = ch.deliver_history_due(now_ms()).await.unwrap();
    assert!(!keys.is_empty());
    let listed = delivery(&m, &["keys", BUCKET, "org/AWSLogs/"]);
    for k in &keys {
        assert!(
            listed.as_array().unwrap().iter().any(|l| l == k),
            "{k} in bucket"
        );
    }
    let mut in_files = Vec::new();
    for k in &keys {
        let f = delivery(&m, &["get", BUCKET, k]);
        for ci in f["configurationItems"].as_array().unwrap() {
            in_files.push(ci_id(ci));
        }
    }
    in_files.sort();
    let mut all = log_ids(&w.items(&Filter::default()));
    all.sort();
    assert_eq!(in_files, all, "history files = the log");
    let snap = ch.deliver_snapshot(None).await.unwrap();
    let f = delivery(&m, &["get", BUCKET, &snap.files[0].0]);
    assert_eq!(f["configSnapshotId"], snap.config_snapshot_id.as_str());
    assert_eq!(snap.s3_bucket, BUCKET);
    // Deliveries queue their events; the channel's run loop (here: the test) publishes them.
    assert!(ch.publish_events().await.unwrap() >= 3);
    let events = receive(&m, &queue);
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["message"]["messageType"].as_str().unwrap())
        .collect();
    for t in [
        "ConfigurationHistoryDeliveryCompleted",
        "ConfigurationSnapshotDeliveryStarted",
        "ConfigurationSnapshotDeliveryCompleted",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let h = events
        .iter()
        .find(|e| e["message"]["messageType"] == "ConfigurationHistoryDeliveryCompleted")
        .unwrap();
    assert_eq!(h["message"]["s3Bucket"], BUCKET);
    assert!(keys
        .iter()
        .any(|k| h["message"]["s3ObjectKey"] == k.as_str()));

    // moto dies (SIGKILL) while changes keep coming: the sinks retry, nothing moves.
    let before = w.log.watermark();
    m.kill();
    w.churn(3).await;
    wait_for("the outage noticed", Duration::from_secs(30), || {
        board.snapshot().iter().all(|s| s.last_error.is_some())
    })
    .await;
    assert!(ch.deliver_snapshot(None).await.is_err());
    assert_eq!(
        ch.status().config_snapshot_delivery_info.last_status,
        "Failure"
    );
    // The sinks stop (as with a restart of driftlog), moto comes back empty and the
    // receivers are set up again; the sinks resume from their durable cursors.
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    m.restart();
    let r2 = receivers(&m);
    assert_eq!(r2["queueUrl"], queue.as_str());
    let (stop, tasks) = start_sinks(&w, &m, &r2["topics"], &board).await;
    w.churn(1).await;
    let end = w.log.watermark();
    wait_for(
        "caught up after the outage",
        Duration::from_secs(90),
        || cursors_at(&w, end),
    )
    .await;
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    // The delivery events queued while the topic was down go out now, in order.
    assert!(ch.status().pending_events >= 1);
    assert!(ch.publish_events().await.unwrap() >= 1);
    assert_eq!(ch.status().pending_events, 0);
    let got = receive(&m, &queue);
    assert!(
        got.iter()
            .any(|g| g["message"]["messageType"] == "ConfigurationSnapshotDeliveryFailed"),
        "the failure event survived the outage"
    );
    let mut after: Vec<u64> = got
        .iter()
        .filter(|g| g["message"]["messageType"] == "ConfigurationItemChangeNotification")
        .map(|g| g["seq"].as_u64().unwrap())
        .collect();
    after.sort_unstable();
    let expected_after: Vec<u64> = expected_sg_after(&w, before);
    assert!(
        !expected_after.is_empty(),
        "the churn changed security groups"
    );
    let delivered_after: Vec<u64> = dedup(&after).into_iter().filter(|s| *s > before).collect();
    assert_eq!(
        delivered_after, expected_after,
        "no sequence missing after the outage"
    );
    let _ = Arc::strong_count(&w.log);
}

fn expected_sg_after(w: &World, after: u64) -> Vec<u64> {
    w.log
        .read_range(
            after,
            usize::MAX,
            &Filter {
                types: vec![TypePattern::parse(SG).unwrap()],
                ..Filter::default()
            },
        )
        .unwrap()
        .0
        .iter()
        .map(|c| c.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_assumes_the_recorders_role_and_writes_with_sse_kms() {
    let Some(m) = moto() else { return };
    credentials();
    delivery(&m, &["bucket", BUCKET]);
    let w = world(50);
    w.rec.poll_all_once().await.unwrap();
    let ch = DeliveryChannel::open(
        w.log.clone(),
        ChannelSettings {
            name: "default".into(),
            location: StoreLocation::S3 {
                bucket: BUCKET.into(),
            },
            prefix: None,
            kms_key_arn: Some(
                "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
                    .into(),
            ),
            sns_topic_arn: None,
            snapshot_frequency: None,
            history_period: Duration::from_secs(1),
            max_items_per_file: 1000,
            access: AwsAccess {
                role_arn: Some("arn:aws:iam::123456789012:role/config-delivery".into()),
                ..access(&m)
            },
        },
    )
    .await
    .unwrap();
    ch.check_writable().await.unwrap();
    let snap = ch.deliver_snapshot(None).await.unwrap();
    let keys = delivery(&m, &["keys", BUCKET]);
    assert!(keys
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == snap.files[0].0.as_str()));
    assert!(keys.as_array().unwrap().iter().any(|k| k
        .as_str()
        .unwrap()
        .ends_with("/Config/ConfigWritabilityCheckFile")));
    let head = delivery(&m, &["head", BUCKET, &snap.files[0].0]);
    assert_eq!(head["sse"], "aws:kms");
    assert!(head["kmsKeyId"]
        .as_str()
        .unwrap()
        .contains("11111111-2222-3333-4444-555555555555"));
}
