//! Issue 5: the gRPC change-stream API and its NDJSON twin, through the `driftlog serve`
//! binary: a durable subscription resumes across a server crash (`kill -9`) with no item
//! missed or repeated; a changed-property prefix filter delivers exactly the matching
//! changes; history, inventory, pages and the audit trail; `driftlog tail --server`; open
//! streams end cleanly when the server stops.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_grpc::{pb, DriftlogClient};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cli as cli_support;
use crate::support::server as server_support;
use cli_support::{http_get, serve_process};

const SG: &str = "AWS::EC2::SecurityGroup";

fn config(dir: &Path) -> PathBuf {
    let cfg = dir.join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 600
churn = 0.05
tick_interval = "1s"
[recorder]
interval = "1s"
[delivery]
enabled = false
[api]
listen = "127.0.0.1:0"
"#,
            dir.join("data").display()
        ),
    )
    .unwrap();
    cfg
}

async fn client(port: u16) -> DriftlogClient<driftlog_grpc::tonic::transport::Channel> {
    let ch =
        driftlog_grpc::tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
    DriftlogClient::new(ch)
}

fn sg_filter() -> Option<pb::Filter> {
    Some(pb::Filter {
        types: vec![SG.into()],
        ..Default::default()
    })
}

/// Every security-group item in the log up to `upto`, through ListChanges pages.
async fn all_sg_seqs(
    c: &mut DriftlogClient<driftlog_grpc::tonic::transport::Channel>,
    upto: u64,
) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = 0;
    while after < upto {
        let page = c
            .list_changes(pb::ListChangesRequest {
                after_seq: after,
                limit: 1000,
                filter: sg_filter(),
            })
            .await
            .unwrap()
            .into_inner();
        for ch in &page.changes {
            let seq = ch.item.as_ref().unwrap().seq;
            if seq <= upto {
                out.push(seq);
            }
        }
        if page.last_seq == after {
            break;
        }
        after = page.last_seq;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_subscription_resumes_across_a_crash_with_nothing_missed_or_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (mut server, port) = serve_process(&cfg);
    let mut c = client(port).await;

    // First life: read some security-group changes from the beginning, acknowledging
    // each after "handling" it; stop in the middle of the stream.
    let mut got: Vec<u64> = Vec::new();
    let mut stream = c
        .subscribe(pb::SubscribeRequest {
            filter: sg_filter(),
            start: Some(pb::subscribe_request::Start::AfterSeq(0)),
            durable_name: "audit-team".into(),
        })
        .await
        .unwrap()
        .into_inner();
    while got.len() < 40 {
        let ch = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let item = ch.item.unwrap();
        assert_eq!(item.resource_type, SG);
        got.push(item.seq);
        c.ack(pb::AckRequest {
            durable_name: "audit-team".into(),
            seq: item.seq,
        })
        .await
        .unwrap();
    }
    // A received but unacknowledged item is delivered again after the crash.
    let unacked = tokio::time::timeout(Duration::from_secs(60), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .item
        .unwrap()
        .seq;
    drop(stream);
    drop(c);
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    drop(server);

    // Second life: the same durable name resumes right after the last acknowledgement.
    let (_server, port) = serve_process(&cfg);
    let mut c = client(port).await;
    let mut stream = c
        .subscribe(pb::SubscribeRequest {
            filter: sg_filter(),
            start: Some(pb::subscribe_request::Start::Now(true)),
            durable_name: "audit-team".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap().item.unwrap().seq;
    assert_eq!(first, unacked, "resumes at the first unacknowledged item");
    got.push(first);
    while got.len() < 120 {
        let ch = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(ch.item.unwrap().seq);
    }
    let upto = *got.last().unwrap();
    let expected = all_sg_seqs(&mut c, upto).await;
    assert_eq!(
        got, expected,
        "every security-group item up to {upto}, once, in order"
    );

    // A changed-property prefix: only changes under Configuration.IpPermissions.
    let mut stream = c
        .subscribe(pb::SubscribeRequest {
            filter: Some(pb::Filter {
                property_prefixes: vec!["Configuration.IpPermissions".into()],
                ..Default::default()
            }),
            start: Some(pb::subscribe_request::Start::AfterSeq(0)),
            durable_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut prefixed = Vec::new();
    while prefixed.len() < 5 {
        let ch = tokio::time::timeout(Duration::from_secs(90), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            ch.changed_properties
                .iter()
                .any(|p| p.path.starts_with("Configuration.IpPermissions")),
            "{:?}",
            ch.changed_properties
        );
        prefixed.push(ch.item.unwrap().seq);
    }
    // Exactly those: every item up to the fifth that touches the path, none else.
    let upto = prefixed[4];
    let mut all = Vec::new();
    let mut after = 0;
    while after < upto {
        let page = c
            .list_changes(pb::ListChangesRequest {
                after_seq: after,
                limit: 1000,
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
        for ch in page.changes {
            let seq = ch.item.as_ref().unwrap().seq;
            if seq <= upto
                && ch.changed_properties.iter().any(|p| {
                    p.path == "Configuration.IpPermissions"
                        || p.path.starts_with("Configuration.IpPermissions.")
                })
            {
                all.push(seq);
            }
        }
        after = page.last_seq;
    }
    assert_eq!(prefixed, all);
    // An unknown durable name cannot be acknowledged.
    let e = c
        .ack(pb::AckRequest {
            durable_name: "never-subscribed".into(),
            seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), driftlog_grpc::tonic::Code::NotFound);
    let e = c
        .subscribe(pb::SubscribeRequest {
            filter: Some(pb::Filter {
                statuses: vec!["Exploded".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), driftlog_grpc::tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_inventory_audit_ndjson_tail_and_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    // In-process on 127.0.0.1:0: the test stops it as Ctrl-C does.
    let cfg = config(dir.path());
    let server = server_support::start(&cfg);
    let port = server.port;
    let mut c = client(port).await;
    // Wait for discovery.
    let t = Instant::now();
    let first_sg = loop {
        let page = c
            .list_changes(pb::ListChangesRequest {
                after_seq: 0,
                limit: 1,
                filter: sg_filter(),
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(ch) = page.changes.into_iter().next() {
            break ch.item.unwrap();
        }
        assert!(t.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let h = c
        .get_history(pb::GetHistoryRequest {
            resource_type: SG.into(),
            resource_id: first_sg.resource_id.clone(),
            account: first_sg.account.clone(),
            region: first_sg.region.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.items.last().unwrap().seq,
        first_sg.seq,
        "newest first, ending at the discovery"
    );
    let v: serde_json::Value = serde_json::from_str(&h.items[0].configuration_item_json).unwrap();
    assert_eq!(v["resourceId"], first_sg.resource_id.as_str());
    let mut inv = c
        .get_inventory_at(pb::GetInventoryAtRequest {
            at_time_ms: 0,
            filter: sg_filter(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = BTreeSet::new();
    while let Some(item) = inv.message().await.unwrap() {
        assert_eq!(item.resource_type, SG);
        assert!(
            ids.insert((item.account, item.region, item.resource_id)),
            "each resource once"
        );
    }
    assert!(!ids.is_empty());

    // An AWS Config API call shows on the audit trail through gRPC.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: StarlingDoveService.DescribeConfigurationRecorders\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let events = c
        .list_audit_events(pb::ListAuditEventsRequest {
            before: 0,
            limit: 10,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let e: serde_json::Value = serde_json::from_str(&events[0].json).unwrap();
    assert_eq!(e["operation"], "DescribeConfigurationRecorders");

    // The same stream as NDJSON over plain HTTP.
    let body = http_get(port, &format!("/v1/changes?type={SG}&from=0&limit=5"));
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = body
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(serde_json::Value::is_object) // not the chunk sizes
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(lines
        .iter()
        .all(|l| l["configurationItem"]["resourceType"] == SG));
    assert!(http_get(port, "/v1/changes?bogus=1").starts_with("HTTP/1.1 400"));

    // driftlog tail --server: the gRPC stream, printed as tail prints.
    let out = Command::new(env!("CARGO_BIN_EXE_driftlog"))
        .args([
            "tail",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--type",
            SG,
            "--from",
            "0",
            "--limit",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed.len(), 3);
    assert_eq!(printed[0]["seq"], first_sg.seq);
    assert!(printed[0]["configurationItemDiff"]["changeType"].is_string());

    // Ctrl-C with a stream open: the stream ends cleanly and the server exits.
    let mut stream = c
        .subscribe(pb::SubscribeRequest {
            filter: sg_filter(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let stopped = std::thread::spawn(move || server.stop());
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the stream ends when the server stops");
    assert!(end.is_ok(), "ended cleanly: {end:?}");
    let t = Instant::now();
    while !stopped.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "serve did not return within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served = stopped.join().unwrap();
    assert!(served.is_ok(), "serve returns Ok on Ctrl-C: {served:?}");
}
