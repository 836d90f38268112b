//! The log against its contract: round trips, restarts, queries bounded by time, retention,
//! format checks, and a `BTreeMap` model over random operations and restarts.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_diff::{diff_complete, diff_partial};
use driftlog_log::{Error, HistoryQuery, Log, LogOptions, Order};
use driftlog_model::{
    CompleteSnapshot, Filter, Observed, PartialSnapshot, ResourceKey, Scope, Status, TypePattern,
};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

const SG: &str = "AWS::EC2::SecurityGroup";
const ACCT: &str = "111122223333";
const REGION: &str = "eu-west-1";

fn key(id: &str) -> ResourceKey {
    ResourceKey::new(ACCT, REGION, SG, id)
}

fn sg(id: &str, port: u64, vpc: &str) -> Observed {
    Observed::from_value(
        key(id),
        json!({
            "configuration": {"groupId": id, "ipPermissions": [{"fromPort": port, "ipProtocol": "tcp"}]},
            "relationships": [{"name": "Is contained in Vpc", "resourceId": vpc, "resourceName": null, "resourceType": "AWS::EC2::VPC"}],
        }),
    )
}

fn scope() -> Scope {
    Scope::new(ACCT, REGION, SG)
}

/// Diffs a complete snapshot against the log and appends it, as the recorder does.
fn record(log: &Log, res: Vec<Observed>, t: i64) -> usize {
    let (snap, _) = CompleteSnapshot::new(scope(), res);
    let d = {
        let st = log.state();
        diff_complete(&st, &snap, u64::MAX, |s| {
            log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
        })
        .unwrap()
    };
    log.append(&d.changes, t).unwrap();
    d.changes.len()
}

fn small() -> LogOptions {
    LogOptions {
        cache_bytes: 8 << 20,
        frame_bytes: 512,
        frame_items: 3,
        ..LogOptions::default()
    }
}

#[test]
fn round_trip_restart_and_history() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), small()).unwrap();
        assert_eq!(
            record(
                &log,
                vec![sg("sg-1", 22, "vpc-1"), sg("sg-2", 22, "vpc-1")],
                1_000
            ),
            2
        );
        assert_eq!(
            record(
                &log,
                vec![sg("sg-1", 443, "vpc-1"), sg("sg-2", 22, "vpc-1")],
                2_000
            ),
            1
        );
        assert_eq!(record(&log, vec![sg("sg-1", 8080, "vpc-1")], 3_000), 2);
        assert_eq!(log.watermark(), 5);
    }
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(log.watermark(), 5);
    // State was rebuilt: re-recording the same snapshot writes nothing.
    assert_eq!(record(&log, vec![sg("sg-1", 8080, "vpc-1")], 4_000), 0);

    let latest = log.latest(&key("sg-1")).unwrap().unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(latest.status, Status::Ok);
    let gone = log.latest(&key("sg-2")).unwrap().unwrap();
    assert_eq!(gone.status, Status::ResourceDeleted);

    let page = log
        .history(
            &key("sg-1"),
            &HistoryQuery {
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.version).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let next = log
        .history(
            &key("sg-1"),
            &HistoryQuery {
                limit: 2,
                token: page.next,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        next.items.iter().map(|i| i.version).collect::<Vec<_>>(),
        vec![1]
    );
    assert!(next.next.is_none());
    let fwd = log
        .history(
            &key("sg-1"),
            &HistoryQuery {
                order: Order::Forward,
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        fwd.items.iter().map(|i| i.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let window = log
        .history(
            &key("sg-1"),
            &HistoryQuery {
                earlier_ms: Some(1_500),
                later_ms: Some(2_500),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(window.items.len(), 1);
    assert_eq!(window.items[0].version, 2);
    assert_eq!(
        log.at_time(&key("sg-1"), 1_999).unwrap().unwrap().version,
        1
    );
}

/// An item a CloudTrail event explained keeps who made it across restarts; items beside it
/// in the same frame (no event) read back with none, as frames written before events did.
#[test]
fn attribution_round_trips_beside_unattributed_items() {
    let dir = tempfile::tempdir().unwrap();
    let who = driftlog_model::Attribution {
        event_id: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0".into(),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time_ms: 1_500,
        principal: "arn:aws:iam::111122223333:role/deploy".into(),
        session_name: Some("ci-run-481".into()),
        source_ip: Some("203.0.113.7".into()),
        user_agent: Some("aws-cli/2.15.0".into()),
    };
    {
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let (snap, _) = CompleteSnapshot::new(
            scope(),
            vec![
                sg("sg-1", 22, "vpc-1"),
                sg("sg-2", 22, "vpc-1"),
                sg("sg-3", 22, "vpc-1"),
            ],
        );
        let mut d = diff_complete(&log.state(), &snap, u64::MAX, |s| {
            log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
        })
        .unwrap();
        d.changes[1].attribution = vec![who.clone()];
        log.append(&d.changes, 1_000).unwrap();
    }
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert!(log.get(1).unwrap().unwrap().attribution.is_empty());
    assert_eq!(log.get(2).unwrap().unwrap().attribution, vec![who]);
    assert!(log.get(3).unwrap().unwrap().attribution.is_empty());
    let v = log.get(2).unwrap().unwrap().to_notification_json().unwrap();
    assert_eq!(
        v["relatedEvents"],
        json!(["0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"])
    );
}

#[test]
fn inventory_at_several_times_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    record(
        &log,
        vec![
            sg("sg-1", 22, "v"),
            sg("sg-2", 22, "v"),
            sg("sg-3", 22, "v"),
        ],
        1_000,
    );
    record(&log, vec![sg("sg-1", 23, "v"), sg("sg-3", 22, "v")], 2_000);
    record(
        &log,
        vec![sg("sg-1", 23, "v"), sg("sg-3", 22, "v"), sg("sg-4", 1, "v")],
        3_000,
    );
    let inv = |t| {
        let mut v = Vec::new();
        log.inventory_at(t, &Filter::default(), |ci| {
            v.push((ci.key.resource_id.clone(), ci.version));
            true
        })
        .unwrap();
        v.sort();
        v
    };
    assert!(inv(999).is_empty());
    assert_eq!(
        inv(1_000),
        vec![("sg-1".into(), 1), ("sg-2".into(), 1), ("sg-3".into(), 1)]
    );
    assert_eq!(inv(2_500), vec![("sg-1".into(), 2), ("sg-3".into(), 1)]);
    assert_eq!(
        inv(9_999),
        vec![("sg-1".into(), 2), ("sg-3".into(), 1), ("sg-4".into(), 1)]
    );
    let mut n = 0;
    log.changes(1_500, 2_500, &Filter::default(), |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 2, "one update and one deletion at t=2000");
    let deleted_only = Filter {
        statuses: vec![Status::ResourceDeleted],
        ..Filter::default()
    };
    let (items, last) = log.read_range(0, 100, &deleted_only).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(last, log.watermark());
}

#[test]
fn reverse_relationships_now_and_before() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    record(
        &log,
        vec![sg("sg-1", 22, "vpc-a"), sg("sg-2", 22, "vpc-a")],
        1_000,
    );
    let before = log.watermark();
    record(
        &log,
        vec![sg("sg-1", 22, "vpc-b"), sg("sg-2", 22, "vpc-a")],
        2_000,
    );
    let ids = |v: Vec<driftlog_log::Related>| {
        v.into_iter()
            .map(|r| r.source.resource_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(log.related_to("AWS::EC2::VPC", "vpc-a", None).unwrap()),
        vec!["sg-2"]
    );
    assert_eq!(
        ids(log.related_to("AWS::EC2::VPC", "vpc-b", None).unwrap()),
        vec!["sg-1"]
    );
    assert_eq!(
        ids(log
            .related_to("AWS::EC2::VPC", "vpc-a", Some(before))
            .unwrap()),
        vec!["sg-1", "sg-2"]
    );
    assert!(log
        .related_to("AWS::EC2::VPC", "vpc-b", Some(before))
        .unwrap()
        .is_empty());
    let r = log.related_to("AWS::EC2::VPC", "vpc-b", None).unwrap();
    assert_eq!(r[0].relationship, "Is contained in Vpc");
}

#[test]
fn partial_refresh_updates_without_deleting() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    record(&log, vec![sg("sg-1", 22, "v"), sg("sg-2", 22, "v")], 1_000);
    let d = {
        let st = log.state();
        diff_partial(
            &st,
            &PartialSnapshot {
                resources: vec![sg("sg-1", 80, "v")],
            },
            u64::MAX,
            |s| log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default()),
        )
        .unwrap()
    };
    assert_eq!(d.changes.len(), 1);
    log.append(&d.changes, 2_000).unwrap();
    assert_eq!(
        log.latest(&key("sg-2")).unwrap().unwrap().status,
        Status::ResourceDiscovered
    );
}

#[test]
fn retention_gives_snapshot_required_not_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 0..5 {
        record(
            &log,
            vec![sg("sg-1", i, "v"), sg("sg-2", i, "v")],
            1_000 * (i as i64 + 1),
        );
    }
    let dropped = log.truncate_before(7).unwrap();
    assert!(dropped >= 3);
    let oldest = log.oldest();
    assert!(oldest > 1 && oldest <= 7);
    match log.read_range(0, 10, &Filter::default()) {
        Err(Error::SnapshotRequired {
            requested: 1,
            oldest: o,
        }) => assert_eq!(o, oldest),
        other => panic!("expected SnapshotRequired, got {other:?}"),
    }
    assert!(log.read_range(oldest - 1, 100, &Filter::default()).is_ok());
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(log.oldest(), oldest);
    assert_eq!(log.watermark(), 10);
}

#[test]
fn unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("format", "driftlog-log/99")
            .unwrap();
        db.flush().unwrap();
    }
    match Log::open(dir.path(), small()) {
        Err(Error::UnknownFormat { found, .. }) => assert_eq!(found, "driftlog-log/99"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a store of another format"),
    }
}

#[test]
fn filter_by_type_glob() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    record(&log, vec![sg("sg-1", 22, "v")], 1_000);
    let f = Filter {
        types: vec![TypePattern::parse("AWS::IAM::*").unwrap()],
        ..Filter::default()
    };
    let (items, last) = log.read_range(0, 10, &f).unwrap();
    assert!(items.is_empty());
    assert_eq!(last, 1, "the cursor moves past filtered-out items");
}

#[derive(Debug, Clone)]
enum Op {
    /// Complete snapshot of these (id, port) pairs.
    Poll(Vec<(u8, u8)>),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0u8..6, 0u8..3), 0..6).prop_map(Op::Poll),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// The log's latest state, history lengths and inventory match a BTreeMap model across
    /// random polls and restarts.
    #[test]
    fn log_matches_btreemap_model(ops in prop::collection::vec(op(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small()).unwrap();
        // id -> (port, versions, live)
        let mut model: BTreeMap<String, (u8, u64, bool)> = BTreeMap::new();
        let mut t = 1_000;
        for op in ops {
            match op {
                Op::Restart => {
                    drop(log);
                    log = Log::open(dir.path(), small()).unwrap();
                }
                Op::Poll(res) => {
                    t += 1_000;
                    let mut seen: BTreeMap<String, u8> = BTreeMap::new();
                    for (id, port) in res {
                        seen.entry(format!("sg-{id}")).or_insert(port);
                    }
                    record(&log, seen.iter().map(|(id, p)| sg(id, u64::from(*p), "v")).collect(), t);
                    for (id, m) in model.iter_mut() {
                        if m.2 && !seen.contains_key(id) {
                            m.1 += 1;
                            m.2 = false;
                        }
                    }
                    for (id, p) in seen {
                        let m = model.entry(id).or_insert((p, 0, false));
                        if !m.2 || m.0 != p {
                            m.1 += 1;
                        }
                        *m = (p, m.1, true);
                    }
                }
            }
        }
        for (id, (port, versions, live)) in &model {
            let latest = log.latest(&key(id)).unwrap().unwrap();
            prop_assert_eq!(latest.version, *versions);
            prop_assert_eq!(!latest.status.is_deletion(), *live);
            if *live {
                let doc: serde_json::Value = serde_json::from_slice(&latest.doc).unwrap();
                prop_assert_eq!(doc["configuration"]["ipPermissions"][0]["fromPort"].as_u64(), Some(u64::from(*port)));
            }
            let all = log.history(&key(id), &HistoryQuery { limit: 1000, ..Default::default() }).unwrap();
            prop_assert_eq!(all.items.len() as u64, *versions);
        }
        let mut live = 0;
        log.inventory_at(i64::MAX, &Filter::default(), |_| { live += 1; true }).unwrap();
        prop_assert_eq!(live, model.values().filter(|m| m.2).count() as u64);
    }
}

/// Issue 13.3: a batch a storage failure tore (sled kept some of its frames, not all — a
/// hole, a lost end, a lost extent) is dropped whole at the next open: never acknowledged,
/// never published, it cannot reappear as half a batch. Whole batches stay.
#[test]
fn a_torn_last_batch_is_dropped_whole_at_open() {
    let ids: Vec<String> = (0..7).map(|i| format!("sg-{i}")).collect();
    let batch = |port: u64, n: usize| -> Vec<Observed> {
        ids[..n].iter().map(|id| sg(id, port, "v")).collect()
    };
    // Batch 1: seqs 1..=4 (frames 1-3, 4); batch 2: 5..=11 (frames 5-7, 8-10, 11).
    let tear = |damage: &dyn Fn(&sled::Db)| {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Log::open(dir.path(), small()).unwrap();
            assert_eq!(record(&log, batch(22, 4), 1_000), 4);
            assert_eq!(record(&log, batch(80, 7), 2_000), 7);
            assert_eq!(log.watermark(), 11);
        }
        {
            let db = sled_open_when_released(dir.path());
            damage(&db);
            db.flush().unwrap();
        }
        let log = log_open_when_released(dir.path());
        let w = log.watermark();
        let seqs: Vec<u64> = log
            .read_range(0, 100, &Filter::default())
            .unwrap()
            .0
            .iter()
            .map(|i| i.seq)
            .collect();
        assert_eq!(seqs, (1..=w).collect::<Vec<_>>(), "no hole");
        // The next batch continues right after what is left.
        let n = record(&log, batch(443, 7), 3_000);
        assert_eq!(log.watermark(), w + n as u64);
        drop(log);
        (w, dir)
    };
    // The frames of batch 2 (from seq 5 on), as the store cut them.
    let frames_of_batch_2 = |db: &sled::Db| -> Vec<u64> {
        db.open_tree("log")
            .unwrap()
            .range(5u64.to_be_bytes()..)
            .keys()
            .map(|k| u64::from_be_bytes(k.unwrap().as_ref().try_into().unwrap()))
            .collect()
    };
    let remove = |db: &sled::Db, tree: &str, key: u64| {
        assert!(db
            .open_tree(tree)
            .unwrap()
            .remove(key.to_be_bytes())
            .unwrap()
            .is_some());
    };
    let (w, _d) = tear(&|_| {});
    assert_eq!(w, 11, "a whole batch stays");
    let (w, _d) = tear(&|db| {
        let f = frames_of_batch_2(db);
        assert!(f.len() >= 3, "{f:?}");
        remove(db, "log", f[1]);
    });
    assert_eq!(w, 4, "a hole in the last batch drops it");
    let (w, _d) = tear(&|db| remove(db, "log", *frames_of_batch_2(db).last().unwrap()));
    assert_eq!(w, 4, "a lost end drops it");
    let (w, _d) = tear(&|db| {
        remove(db, "batches", 5);
        remove(db, "log", *frames_of_batch_2(db).last().unwrap());
    });
    assert_eq!(w, 4, "frames without their extent are dropped");
    let (w, _d) = tear(&|db| {
        for k in frames_of_batch_2(db) {
            remove(db, "log", k);
        }
    });
    assert_eq!(w, 4, "an extent without frames is dropped");
}

/// Issue 17: a batch's tag (an aggregator's positions) is stored with it — a tag alone when
/// nothing changed —, survives a restart, and goes with its batch when a torn batch is
/// dropped, so the tag read at open always describes exactly the items in the log. The
/// store's id is kept across restarts and differs between stores.
#[test]
fn a_tag_lives_and_dies_with_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let changes = |log: &Log, port: u64| {
        let (snap, _) = CompleteSnapshot::new(
            scope(),
            (0..4).map(|i| sg(&format!("sg-{i}"), port, "v")).collect(),
        );
        let st = log.state();
        diff_complete(&st, &snap, u64::MAX, |s| {
            log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
        })
        .unwrap()
        .changes
    };
    let id = {
        let log = Log::open(dir.path(), small()).unwrap();
        assert_eq!(log.last_tag().unwrap(), None);
        let c = changes(&log, 22);
        log.append_tagged(&c, 1_000, Some(b"a")).unwrap();
        assert_eq!(log.last_tag().unwrap().as_deref(), Some(&b"a"[..]));
        // Nothing changed: the tag alone moves on.
        assert_eq!(log.append_tagged(&[], 1_500, Some(b"b")).unwrap(), None);
        assert_eq!(log.watermark(), 4);
        // Many tags: old ones are pruned, the last stays.
        for port in 0..30 {
            let c = changes(&log, 1000 + port);
            log.append_tagged(&c, 2_000 + port as i64, Some(format!("t{port}").as_bytes()))
                .unwrap();
        }
        assert_eq!(log.last_tag().unwrap().as_deref(), Some(&b"t29"[..]));
        let c = changes(&log, 80);
        log.append_tagged(&c, 9_000, Some(b"torn")).unwrap();
        log.id().to_string()
    };
    {
        // Tear the last batch (drop its last frame): it goes, and its tag with it.
        let db = sled_open_when_released(dir.path());
        let frames = db.open_tree("log").unwrap();
        let (k, _) = frames.last().unwrap().unwrap();
        frames.remove(k).unwrap();
        db.flush().unwrap();
    }
    let log = log_open_when_released(dir.path());
    assert_eq!(log.watermark(), 4 * 31);
    assert_eq!(log.last_tag().unwrap().as_deref(), Some(&b"t29"[..]));
    assert_eq!(log.id(), id);
    assert_eq!(id.len(), 32);
    let other = tempfile::tempdir().unwrap();
    assert_ne!(Log::open(other.path(), small()).unwrap().id(), id);
}

/// Opens the store's sled directly once the `Log` just dropped has let go of its lock:
/// sled's flusher thread holds the database for a moment after the last handle is dropped
/// (postmortem: `could not acquire lock … WouldBlock` in one CI run).
fn sled_open_when_released(dir: &std::path::Path) -> sled::Db {
    let t = std::time::Instant::now();
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if t.elapsed() < std::time::Duration::from_secs(10) => {
                assert!(e.to_string().contains("lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("sled stayed locked for 10 s: {e}"),
        }
    }
}

/// As [`sled_open_when_released`], for the `Log` over a database just dropped.
fn log_open_when_released(dir: &std::path::Path) -> Log {
    let t = std::time::Instant::now();
    loop {
        match Log::open(dir, small()) {
            Ok(log) => return log,
            Err(e) if t.elapsed() < std::time::Duration::from_secs(10) => {
                assert!(e.to_string().contains("lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the store stayed locked for 10 s: {e}"),
        }
    }
}
