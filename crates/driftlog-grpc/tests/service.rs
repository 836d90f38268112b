//! The gRPC service against a store whose oldest items were dropped by retention: a start
//! before what the log holds gets FAILED_PRECONDITION ("snapshot required"), never a
//! stream with a silent gap; a start within it streams in order.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_diff::diff_complete;
use driftlog_grpc::pb;
use driftlog_grpc::pb::driftlog_server::Driftlog;
use driftlog_grpc::DriftlogService;
use driftlog_log::{Log, LogOptions};
use driftlog_model::{CompleteSnapshot, Observed, ResourceKey, Scope};
use serde_json::json;
use std::sync::Arc;
use tokio_stream::StreamExt;

const SG: &str = "AWS::EC2::SecurityGroup";

fn sg(id: &str, port: u64) -> Observed {
    Observed::from_value(
        ResourceKey::new("111122223333", "eu-west-1", SG, id),
        json!({"configuration": {"groupId": id, "ipPermissions": [{"fromPort": port, "ipProtocol": "tcp"}]}}),
    )
}

fn record(log: &Log, res: Vec<Observed>, t: i64) {
    let (snap, _) = CompleteSnapshot::new(Scope::new("111122223333", "eu-west-1", SG), res);
    let d = {
        let st = log.state();
        diff_complete(&st, &snap, u64::MAX, |s| {
            log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
        })
        .unwrap()
    };
    log.append(&d.changes, t).unwrap();
}

#[tokio::test]
async fn a_start_older_than_the_log_is_snapshot_required_never_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path(),
            LogOptions {
                cache_bytes: 8 << 20,
                frame_bytes: 512,
                frame_items: 3,
                ..LogOptions::default()
            },
        )
        .unwrap(),
    );
    for i in 0..6 {
        record(
            &log,
            vec![sg("sg-1", i), sg("sg-2", i)],
            1_000 * (i as i64 + 1),
        );
    }
    log.truncate_before(7).unwrap();
    let oldest = log.oldest();
    assert!(oldest > 1);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let svc = DriftlogService::new(log.clone(), stop);
    let req = |start| {
        tonic::Request::new(pb::SubscribeRequest {
            filter: None,
            start: Some(start),
            durable_name: String::new(),
        })
    };
    let err = match svc
        .subscribe(req(pb::subscribe_request::Start::AfterSeq(0)))
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a stream from before the oldest item"),
    };
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("snapshot required"),
        "{}",
        err.message()
    );
    // From the oldest held item on: everything, in order.
    let mut s = svc
        .subscribe(req(pb::subscribe_request::Start::AfterSeq(oldest - 1)))
        .await
        .unwrap()
        .into_inner();
    let mut seqs = Vec::new();
    while seqs.len() < (log.watermark() - oldest + 1) as usize {
        seqs.push(s.next().await.unwrap().unwrap().item.unwrap().seq);
    }
    assert_eq!(seqs, (oldest..=log.watermark()).collect::<Vec<_>>());
    // ListChanges says the same.
    let e = svc
        .list_changes(tonic::Request::new(pb::ListChangesRequest {
            after_seq: 0,
            limit: 10,
            filter: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
}
