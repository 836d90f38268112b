//! The delivery channel on a local directory, and the webhook and NATS JetStream sinks
//! against real receivers on loopback (an HTTP server in the test, Debian's nats-server),
//! fed by the real recorder over the simulated estate; each receiver is taken down while
//! changes keep coming and must get every message, in order, after it comes back.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_model::time::now_ms;
use driftlog_model::{Filter, TypePattern};
use driftlog_sinks::{
    run_sink, AwsAccess, ChannelSettings, DeliveryChannel, NatsTransport, SinkBoard, SinkSpec,
    SinkStart, StoreLocation, WebhookTransport,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::StreamExt;

use crate::common::{ci_id, dedup, log_ids, wait_for, world, World};

use crate::nats_support;

const SG: &str = "AWS::EC2::SecurityGroup";

fn gunzip(path: &std::path::Path) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap()
}

fn local_settings(dir: &std::path::Path) -> ChannelSettings {
    ChannelSettings {
        name: "default".into(),
        location: StoreLocation::Local(dir.to_path_buf()),
        prefix: Some("audit".into()),
        kms_key_arn: None,
        sns_topic_arn: None,
        snapshot_frequency: None,
        history_period: Duration::from_secs(1),
        max_items_per_file: 40,
        access: AwsAccess::default(),
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_files_hold_every_item_once_and_snapshots_the_inventory() {
    let w = world(300);
    w.rec.poll_all_once().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let ch = DeliveryChannel::open(w.log.clone(), local_settings(out.path()))
        .await
        .unwrap();
    ch.check_writable().await.unwrap();
    assert!(
        out.path()
            .join("audit/AWSLogs/000000000001/Config/ConfigWritabilityCheckFile")
            .exists()
            || files_under(out.path())
                .iter()
                .any(|p| p.ends_with("Config/ConfigWritabilityCheckFile"))
    );

    // Nothing before the period is over (1 s periods, a quarter of it as grace).
    assert!(ch.deliver_history_due(now_ms()).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let first = ch.deliver_history_due(now_ms()).await.unwrap();
    assert!(!first.is_empty());
    // Delivered periods are not delivered again.
    assert!(ch.deliver_history_due(now_ms()).await.unwrap().is_empty());
    w.churn(3).await;
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let second = ch.deliver_history_due(now_ms()).await.unwrap();
    assert!(!second.is_empty());
    assert!(first.iter().all(|k| !second.contains(k)), "no key twice");

    // Every item of the log in exactly one file, files by account, region and type, split
    // at 40 items; keys as AWS Config writes them.
    let mut from_files = Vec::new();
    for key in first.iter().chain(&second) {
        assert!(key.starts_with("audit/AWSLogs/"), "{key}");
        let name = key.rsplit('/').next().unwrap();
        let parts: Vec<&str> = key.split('/').collect();
        let (account, region) = (parts[2], parts[4]);
        assert_eq!(parts[3], "Config");
        assert_eq!(parts[8], "ConfigHistory");
        assert!(name.starts_with(&format!("{account}_Config_{region}_ConfigHistory_")));
        assert!(name.ends_with(".json.gz"));
        let v = gunzip(&out.path().join(key));
        assert_eq!(v["fileVersion"], "1.0");
        let items = v["configurationItems"].as_array().unwrap();
        assert!(!items.is_empty() && items.len() <= 40);
        for ci in items {
            assert_eq!(ci["awsAccountId"], account);
            assert_eq!(ci["awsRegion"], region);
            assert!(name.contains(&format!(
                "_ConfigHistory_{}_",
                ci["resourceType"].as_str().unwrap()
            )));
            from_files.push(ci_id(ci));
        }
    }
    let mut expected = log_ids(&w.items(&Filter::default()));
    let n = from_files.len();
    from_files.sort();
    from_files.dedup();
    assert_eq!(from_files.len(), n, "an item in two files");
    expected.sort();
    assert_eq!(from_files, expected, "history files = the log");
    let st = ch.status();
    assert_eq!(st.config_history_delivery_info.last_status, "Success");
    assert_eq!(st.history_through_seq, w.log.watermark());

    // A snapshot: one file per account and region, the live inventory, its id inside.
    let report = ch
        .deliver_snapshot(Some("11111111-2222-4333-8444-555555555555".into()))
        .await
        .unwrap();
    assert_eq!(report.items as usize, w.log.state().live_count());
    let mut n = 0;
    for (key, count) in &report.files {
        assert!(key.contains("/ConfigSnapshot/"), "{key}");
        assert!(key.ends_with("_11111111-2222-4333-8444-555555555555.json.gz"));
        let v = gunzip(&out.path().join(key));
        assert_eq!(
            v["configSnapshotId"],
            "11111111-2222-4333-8444-555555555555"
        );
        let items = v["configurationItems"].as_array().unwrap();
        assert_eq!(items.len() as u64, *count);
        assert!(items
            .iter()
            .all(|c| c["configurationItemStatus"] != "ResourceDeleted"));
        n += items.len();
    }
    assert_eq!(n, w.log.state().live_count());
    assert_eq!(
        ch.status().config_snapshot_delivery_info.last_status,
        "Success"
    );
}

#[derive(Default)]
struct Receiver {
    seqs: Mutex<Vec<u64>>,
    bodies: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
    refused: AtomicUsize,
    failing: AtomicBool,
}

const SECRET: &[u8] = b"whsec-test";

async fn receive(
    axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let sig = headers
        .get(driftlog_deliver::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if driftlog_deliver::verify(SECRET, sig, &body, chrono::Utc::now().timestamp(), 300).is_err() {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    if r.failing.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    let seq: u64 = headers
        .get(driftlog_deliver::SEQ_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    r.seqs.lock().unwrap().push(seq);
    r.bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::OK
}

fn fast_spec(name: &str, filter: Filter) -> SinkSpec {
    SinkSpec {
        start: SinkStart::Beginning,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..SinkSpec::new(name, filter)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_signed_messages_in_order_through_an_outage() {
    let w = world(200);
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let board = SinkBoard::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let hook = WebhookTransport::new(&url, Some(SECRET.to_vec()), Duration::from_secs(5)).unwrap();
    let task = tokio::spawn(run_sink(
        w.log.clone(),
        fast_spec("hook", Filter::default()),
        hook,
        None,
        board.clone(),
        stop_rx,
    ));
    // A second sink whose receiver is down for the whole test: it must hold back only
    // its own cursor.
    let dead_url = format!("http://127.0.0.1:{}/hook", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let dead = tokio::spawn(run_sink(
        w.log.clone(),
        fast_spec("dead", Filter::default()),
        WebhookTransport::new(&dead_url, None, Duration::from_secs(1)).unwrap(),
        None,
        board.clone(),
        stop_tx.subscribe(),
    ));
    w.rec.poll_all_once().await.unwrap();
    let discovered = w.log.watermark();
    wait_for("discovery delivered", Duration::from_secs(60), || {
        r.seqs.lock().unwrap().last() == Some(&discovered)
    })
    .await;

    // The receiver fails while changes keep coming: the sink retries, nothing is lost.
    r.failing.store(true, Ordering::SeqCst);
    w.churn(3).await;
    wait_for("a refused delivery", Duration::from_secs(10), || {
        r.refused.load(Ordering::SeqCst) >= 3
    })
    .await;
    // Between attempts the sink says it is retrying (during one, "delivering").
    wait_for(
        "the sink says it is retrying",
        Duration::from_secs(10),
        || {
            board
                .snapshot()
                .iter()
                .any(|s| s.name == "hook" && s.state == "retrying")
        },
    )
    .await;
    let st = board.snapshot();
    let hook_st = st.iter().find(|s| s.name == "hook").unwrap();
    let err = hook_st.last_error.as_deref().unwrap_or("");
    assert!(err.starts_with("HTTP 500"), "{st:?}");
    assert!(hook_st.cursor <= discovered);
    r.failing.store(false, Ordering::SeqCst);
    w.churn(2).await;
    let end = w.log.watermark();
    assert!(end > discovered);
    wait_for("everything delivered", Duration::from_secs(60), || {
        r.seqs.lock().unwrap().last() == Some(&end)
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap();
    dead.await.unwrap();
    let st = board.snapshot();
    let dead_st = st.iter().find(|s| s.name == "dead").unwrap();
    assert_eq!(dead_st.delivered, 0);
    assert!(
        dead_st
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("Unreachable"),
        "{dead_st:?}"
    );
    assert_eq!(w.log.cursor("sink/dead").unwrap(), Some(0));

    let expected: Vec<u64> = w.items(&Filter::default()).iter().map(|c| c.seq).collect();
    assert_eq!(
        dedup(&r.seqs.lock().unwrap()),
        expected,
        "every sequence, in order"
    );
    assert_eq!(r.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(
        board
            .snapshot()
            .iter()
            .find(|s| s.name == "hook")
            .unwrap()
            .cursor,
        end
    );
    assert_eq!(w.log.cursor("sink/hook").unwrap(), Some(end));
    // AWS Config's change message, about the item its sequence names.
    let bodies = r.bodies.lock().unwrap();
    let b = bodies.last().unwrap();
    assert_eq!(b["messageType"], "ConfigurationItemChangeNotification");
    assert_eq!(b["recordVersion"], "1.3");
    let last = w.log.get(end).unwrap().unwrap();
    assert_eq!(
        b["configurationItem"]["resourceId"],
        last.key.resource_id.as_str()
    );
    assert!(b["configurationItemDiff"]["changeType"].is_string());
}

/// A batch far above the NATS client's limit of acknowledgements in flight (5,000) is
/// published and acknowledged in full, not stuck: the sink allows batches of 10,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_batch_above_the_clients_in_flight_limit_is_acknowledged() {
    let store = tempfile::tempdir().unwrap();
    let Some(server) = nats_support::nats(store.path()) else {
        return;
    };
    let transport = NatsTransport::new(&server.url, "BIG", Duration::from_secs(5)).unwrap();
    let batch: Vec<driftlog_sinks::Message> = (1..=12_000u64)
        .map(|seq| driftlog_sinks::Message {
            seq,
            key: driftlog_model::ResourceKey::new(
                "123456789012",
                "us-east-1",
                SG,
                format!("sg-{seq:08x}"),
            ),
            message_type: "ConfigurationItemChangeNotification",
            subject: "s".into(),
            body: format!("{{\"seq\":{seq}}}"),
        })
        .collect();
    use driftlog_sinks::Transport;
    tokio::time::timeout(Duration::from_secs(120), transport.send(&batch))
        .await
        .expect("no deadlock")
        .unwrap();
    let client = async_nats::connect(server.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("BIG").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 12_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_consumer_filtered_on_security_groups_gets_exactly_them_through_a_server_crash() {
    let store = tempfile::tempdir().unwrap();
    let Some(mut server) = nats_support::nats(store.path()) else {
        return;
    };
    let w = world(300);
    let board = SinkBoard::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let transport = NatsTransport::new(&server.url, "DRIFTLOG", Duration::from_secs(2)).unwrap();
    let task = tokio::spawn(run_sink(
        w.log.clone(),
        fast_spec("js", Filter::default()),
        transport,
        None,
        board.clone(),
        stop_rx,
    ));
    let cursor = |w: &World| w.log.cursor("sink/js").unwrap().unwrap_or(0);
    w.rec.poll_all_once().await.unwrap();
    let discovered = w.log.watermark();
    wait_for("discovery published", Duration::from_secs(60), || {
        cursor(&w) == discovered
    })
    .await;

    // The server dies (SIGKILL) while changes keep coming, then comes back.
    server.kill();
    w.churn(3).await;
    wait_for("the outage noticed", Duration::from_secs(20), || {
        board.snapshot()[0].last_error.is_some()
    })
    .await;
    assert!(
        cursor(&w) < w.log.watermark(),
        "nothing acknowledged while down"
    );
    server.restart();
    w.churn(2).await;
    let end = w.log.watermark();
    wait_for("everything published", Duration::from_secs(90), || {
        cursor(&w) == end
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap();

    // A consumer filtered on the server by subject (one filter_subject: nats-server 2.9).
    let client = async_nats::connect(server.url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("DRIFTLOG").await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("sg".into()),
            filter_subject: format!("driftlog.ci.*.*.{SG}"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut seqs = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let before = seqs.len();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(v["configurationItem"]["resourceType"], SG);
            seqs.push(
                m.headers
                    .as_ref()
                    .and_then(|h| h.get(driftlog_deliver::SEQ_HEADER))
                    .unwrap()
                    .as_str()
                    .parse::<u64>()
                    .unwrap(),
            );
            m.ack().await.unwrap();
        }
        if seqs.len() == before {
            break;
        }
    }
    let sg_filter = Filter {
        types: vec![TypePattern::parse(SG).unwrap()],
        ..Filter::default()
    };
    let expected: Vec<u64> = w.items(&sg_filter).iter().map(|c| c.seq).collect();
    assert!(expected.len() > 10);
    assert_eq!(
        dedup(&seqs),
        expected,
        "exactly the security-group changes, in order"
    );
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "JetStream de-duplicated republished messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_above_256_kb_goes_to_the_bucket_and_the_sink_gets_the_pointer() {
    let w = world(100);
    w.rec.poll_all_once().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let ch = DeliveryChannel::open(w.log.clone(), local_settings(out.path()))
        .await
        .unwrap();
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_sink(
        w.log.clone(),
        SinkSpec::new("big", Filter::default()),
        WebhookTransport::new(&url, Some(SECRET.to_vec()), Duration::from_secs(5)).unwrap(),
        Some(ch.store().clone()),
        SinkBoard::default(),
        stop_rx,
    ));
    // A security group whose description grew to 300 KB.
    let sg = w.sim.estate().keys_of_type(SG).into_iter().next().unwrap();
    w.sim.estate().edit(&sg, |doc| {
        doc["configuration"]["description"] = Value::String("x".repeat(300 * 1024));
    });
    w.rec.poll_once(&sg.scope()).await.unwrap();
    let seq = w.log.watermark();
    wait_for("the oversized notice", Duration::from_secs(30), || {
        r.seqs.lock().unwrap().contains(&seq)
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let bodies = r.bodies.lock().unwrap();
    let b = bodies.last().unwrap();
    assert_eq!(
        b["messageType"],
        "OversizedConfigurationItemChangeNotification"
    );
    assert_eq!(b["recordVersion"], "1.0");
    assert!(b["configurationItemSummary"].get("configuration").is_none());
    assert_eq!(
        b["configurationItemSummary"]["resourceId"],
        sg.resource_id.as_str()
    );
    assert_eq!(b["configurationItemSummary"]["changeType"], "UPDATE");
    let location = b["s3DeliverySummary"]["s3BucketLocation"].as_str().unwrap();
    let key = location
        .strip_prefix(&format!("{}/", out.path().display()))
        .unwrap();
    assert!(
        key.contains("/OversizedChangeNotification/AWS::EC2::SecurityGroup/"),
        "{key}"
    );
    let full = gunzip(&out.path().join(key));
    assert_eq!(full["messageType"], "ConfigurationItemChangeNotification");
    assert_eq!(
        full["configurationItem"]["configuration"]["description"]
            .as_str()
            .unwrap()
            .len(),
        300 * 1024
    );
}
