//! End-to-end tests of issue 2 on the simulated estate, through the real pipeline:
//! SimSource → Scheduler::poll_now → diff → sled log → subscriptions and queries, and the
//! `driftlog` binary itself.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_log::{HistoryQuery, Log, LogOptions};
use driftlog_model::{ChangeType, Filter, ResourceKey, Scope, Status, TypePattern};
use driftlog_poll::{Fault, SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use driftlog_subscribe::{subscribe, Start};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;

const SG: &str = "AWS::EC2::SecurityGroup";
const INSTANCE: &str = "AWS::EC2::Instance";

struct World {
    _dir: tempfile::TempDir,
    sim: SimSource,
    log: Arc<Log>,
    rec: Arc<Recorder>,
}

fn world_with(resources: usize, cfg: RecorderConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, cfg);
    World {
        _dir: dir,
        sim,
        log,
        rec,
    }
}

fn world() -> World {
    world_with(400, RecorderConfig::default())
}

fn scope_of(k: &ResourceKey) -> Scope {
    k.scope()
}

fn first_key(w: &World, ty: &str) -> ResourceKey {
    w.sim
        .estate()
        .keys_of_type(ty)
        .into_iter()
        .next()
        .expect("type present in the sim")
}

/// Items appended after `after`, all types.
fn items_after(log: &Log, after: u64) -> Vec<driftlog_model::ConfigurationItem> {
    log.read_range(after, 1_000_000, &Filter::default())
        .unwrap()
        .0
}

#[tokio::test]
async fn issue_2_one_change_is_exactly_one_ci_with_the_right_diff() {
    let w = world();
    let first = w.rec.poll_all_once().await.unwrap();
    assert!(first.stats.discovered as usize >= w.sim.estate().len());
    // A second poll of an unchanged estate records nothing.
    let mark = w.log.watermark();
    let again = w.rec.poll_all_once().await.unwrap();
    assert_eq!(again.written(), 0);
    assert_eq!(w.log.watermark(), mark);

    let sg = first_key(&w, SG);
    let opened = json!({"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "ipRanges": ["0.0.0.0/0"],
        "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []});
    assert!(w.sim.estate().edit(&sg, |doc| {
        doc["configuration"]["ipPermissions"]
            .as_array_mut()
            .unwrap()
            .push(opened.clone());
    }));
    w.rec.poll_once(&scope_of(&sg)).await.unwrap();
    let new = items_after(&w.log, mark);
    assert_eq!(
        new.len(),
        1,
        "exactly one CI: {:?}",
        new.iter().map(|i| &i.key).collect::<Vec<_>>()
    );
    let ci = &new[0];
    assert_eq!(ci.key, sg);
    assert_eq!(ci.status, Status::Ok);
    assert_eq!(ci.version, 2);
    let changes = ci.field_changes().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0]
        .aws_path()
        .starts_with("Configuration.IpPermissions."));
    assert_eq!(changes[0].change_type, ChangeType::Create);
    assert_eq!(changes[0].updated_value, opened);
    let diff = ci.diff_json().unwrap();
    assert_eq!(diff["changeType"], "UPDATE");
    assert_eq!(diff["changedProperties"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn issue_2_gone_from_complete_snapshot_is_one_deletion() {
    let w = world();
    w.rec.poll_all_once().await.unwrap();
    let mark = w.log.watermark();
    let sg = first_key(&w, SG);
    assert!(w.sim.estate().remove(&sg));
    w.rec.poll_once(&scope_of(&sg)).await.unwrap();
    let new: Vec<_> = items_after(&w.log, mark)
        .into_iter()
        .filter(|i| i.key == sg)
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].status, Status::ResourceDeleted);
    assert_eq!(
        new[0].to_notification_json().unwrap()["configuration"],
        Value::Null
    );
    assert_eq!(new[0].diff_json().unwrap()["changeType"], "DELETE");
    // Polling again records nothing more for it.
    let mark = w.log.watermark();
    w.rec.poll_once(&scope_of(&sg)).await.unwrap();
    assert!(items_after(&w.log, mark).iter().all(|i| i.key != sg));
}

#[tokio::test]
async fn issue_2_failed_partial_or_timed_out_poll_deletes_nothing() {
    let mut cfg = RecorderConfig::default();
    cfg.scheduler.timeout = Duration::from_secs(1);
    let w = world_with(400, cfg);
    w.rec.poll_all_once().await.unwrap();
    let sg = first_key(&w, SG);
    let scope = scope_of(&sg);
    let live_before = w.log.state().live_in(&scope).map_or(0, |m| m.len());
    assert!(live_before >= 2, "the sim must have several SGs in a scope");
    for fault in [
        Fault::Fail {
            code: "AccessDenied".into(),
            message: "not authorized to DescribeSecurityGroups".into(),
        },
        Fault::Partial,
        Fault::Hang,
    ] {
        let mark = w.log.watermark();
        w.sim.inject(&scope, fault.clone());
        let r = w.rec.poll_once(&scope).await.unwrap();
        assert!(r.error.is_some(), "{fault:?} must be reported");
        assert_eq!(r.stats.deleted, 0, "{fault:?} deleted something");
        assert!(items_after(&w.log, mark)
            .iter()
            .all(|i| !i.status.is_deletion()));
        let st = w.rec.status().get(&scope).unwrap();
        assert!(
            st.last_error_code.is_some(),
            "status says what went wrong after {fault:?}"
        );
        assert_eq!(
            w.log.state().live_in(&scope).map_or(0, |m| m.len()),
            live_before
        );
    }
    let st = w.rec.status().get(&scope).unwrap();
    assert_eq!(st.last_error_code.as_deref(), Some("Timeout"));
    // A good poll clears the error.
    w.rec.poll_once(&scope).await.unwrap();
    assert!(w
        .rec
        .status()
        .get(&scope)
        .unwrap()
        .last_error_code
        .is_none());
}

#[tokio::test]
async fn issue_2_reordering_a_set_like_array_records_nothing() {
    let w = world();
    w.rec.poll_all_once().await.unwrap();
    // Find an SG with two or more ingress rules and reverse them, and their ranges.
    let sgs = w.sim.estate().keys_of_type(SG);
    let sg = sgs
        .into_iter()
        .find(|k| {
            w.sim.estate().document(k).unwrap()["configuration"]["ipPermissions"]
                .as_array()
                .is_some_and(|a| a.len() >= 2)
        })
        .expect("an SG with two rules");
    let mark = w.log.watermark();
    w.sim.estate().edit(&sg, |doc| {
        let perms = doc["configuration"]["ipPermissions"]
            .as_array_mut()
            .unwrap();
        perms.reverse();
        for p in perms.iter_mut() {
            if let Some(r) = p["ipRanges"].as_array_mut() {
                r.reverse();
            }
        }
        doc["relationships"].as_array_mut().unwrap().reverse();
    });
    let r = w.rec.poll_once(&scope_of(&sg)).await.unwrap();
    assert_eq!(r.written(), 0);
    assert_eq!(w.log.watermark(), mark);
}

#[tokio::test]
async fn issue_2_volatile_tick_records_nothing_but_is_counted() {
    let w = world();
    w.rec.poll_all_once().await.unwrap();
    let role = first_key(&w, "AWS::IAM::Role");
    let mark = w.log.watermark();
    w.sim.estate().edit(&role, |doc| {
        doc["configuration"]["roleLastUsed"] =
            json!({"lastUsedDate": "2031-01-01T00:00:00.000Z", "region": "eu-west-1"});
    });
    let r = w.rec.poll_once(&scope_of(&role)).await.unwrap();
    assert_eq!(r.written(), 0);
    assert_eq!(r.stats.volatile_only, 1);
    assert_eq!(w.log.watermark(), mark);
    assert_eq!(
        w.rec
            .status()
            .get(&scope_of(&role))
            .unwrap()
            .last_volatile_ticks,
        1
    );
    // The same value again is not counted twice.
    let r = w.rec.poll_once(&scope_of(&role)).await.unwrap();
    assert_eq!(r.stats.volatile_only, 0);
}

#[tokio::test]
async fn issue_2_relationship_change_and_reverse_lookup_now_and_before() {
    let w = world();
    w.rec.poll_all_once().await.unwrap();
    let inst = first_key(&w, INSTANCE);
    let doc = w.sim.estate().document(&inst).unwrap();
    let old_sg = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resourceType"] == SG)
        .expect("instance has an SG edge")["resourceId"]
        .as_str()
        .unwrap()
        .to_string();
    // Another SG in the same account and region.
    let new_sg = w
        .sim
        .estate()
        .keys_of_type(SG)
        .into_iter()
        .find(|k| k.account == inst.account && k.region == inst.region && k.resource_id != old_sg)
        .expect("a second SG")
        .resource_id;
    let holders = |sg: &str, at: Option<u64>| -> Vec<String> {
        w.log
            .related_to(SG, sg, at)
            .unwrap()
            .into_iter()
            .map(|r| r.source.resource_id)
            .collect()
    };
    assert!(holders(&old_sg, None).contains(&inst.resource_id));
    let before = w.log.watermark();
    let t_before = w.log.get(before).unwrap().unwrap().capture_time_ms;

    w.sim.estate().edit(&inst, |doc| {
        for r in doc["relationships"].as_array_mut().unwrap() {
            if r["resourceType"] == SG && r["resourceId"] == old_sg.as_str() {
                r["resourceId"] = json!(new_sg);
            }
        }
        for g in doc["configuration"]["securityGroups"]
            .as_array_mut()
            .unwrap()
        {
            if g["groupId"] == old_sg.as_str() {
                g["groupId"] = json!(new_sg);
            }
        }
    });
    let r = w.rec.poll_once(&scope_of(&inst)).await.unwrap();
    let new = items_after(&w.log, before);
    assert_eq!(
        new.len(),
        1,
        "one CI, on the instance only; none on either SG"
    );
    assert_eq!(new[0].key, inst);
    assert!(new[0]
        .field_changes()
        .unwrap()
        .iter()
        .any(|c| c.aws_path().starts_with("Relationships.")));
    assert!(
        r.related_checked >= 2,
        "the SGs and other neighbours were re-checked"
    );
    assert_eq!(r.related_changed, 0, "and recorded only if they changed");

    assert!(holders(&new_sg, None).contains(&inst.resource_id));
    assert!(!holders(&old_sg, None).contains(&inst.resource_id));
    assert!(holders(&old_sg, Some(before)).contains(&inst.resource_id));
    assert!(!holders(&new_sg, Some(before)).contains(&inst.resource_id));
    // The same question by time.
    let at = w.log.seq_at_time(t_before).unwrap();
    assert!(holders(&old_sg, Some(at)).contains(&inst.resource_id));
}

#[tokio::test]
async fn issue_2_durable_subscriber_resumes_exactly_once_in_order() {
    let w = world_with(300, RecorderConfig::default());
    let filter = Filter {
        types: vec![TypePattern::parse("AWS::EC2::*").unwrap()],
        ..Filter::default()
    };
    let durable = || Start::Durable {
        name: "auditor".into(),
        initial: Box::new(Start::After(0)),
    };
    w.rec.poll_all_once().await.unwrap();
    let mut received: Vec<u64> = Vec::new();
    for round in 0..4 {
        // A subscriber takes some items, acknowledging each after handling it, and is then
        // dropped mid-stream (its reader task ends with it), as a killed process would be.
        let mut sub = subscribe(w.log.clone(), filter.clone(), durable()).unwrap();
        for _ in 0..(37 + round * 11) {
            let Ok(Some(item)) =
                tokio::time::timeout(Duration::from_millis(500), sub.stream.next()).await
            else {
                break;
            };
            let item = item.unwrap();
            received.push(item.seq);
            sub.ack(item.seq).unwrap();
        }
        drop(sub);
        // More changes happen while it is down.
        w.sim.estate().tick();
        w.rec.poll_all_once().await.unwrap();
    }
    let expected: Vec<u64> = w
        .log
        .read_range(0, usize::MAX, &filter)
        .unwrap()
        .0
        .iter()
        .map(|i| i.seq)
        .collect();
    // Drain until everything expected arrived (generous per-item timeout for slow CI),
    // then make sure nothing more follows.
    let mut sub = subscribe(w.log.clone(), filter.clone(), durable()).unwrap();
    while received.len() < expected.len() {
        match tokio::time::timeout(Duration::from_secs(10), sub.stream.next()).await {
            Ok(Some(item)) => received.push(item.unwrap().seq),
            _ => break,
        }
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), sub.stream.next()).await;
    assert!(extra.is_err(), "nothing beyond the log: {extra:?}");
    assert!(expected.len() > 200);
    assert_eq!(received, expected, "every CI exactly once, in order");
}

#[tokio::test]
async fn issue_2_inventory_at_equals_the_sims_state_at_several_times() {
    let w = world_with(500, RecorderConfig::default());
    let mut truth: Vec<(i64, BTreeMap<ResourceKey, bytes::Bytes>)> = Vec::new();
    for round in 0..5 {
        if round > 0 {
            for _ in 0..3 {
                w.sim.estate().tick();
            }
        }
        w.rec.poll_all_once().await.unwrap();
        let t = w
            .log
            .get(w.log.watermark())
            .unwrap()
            .unwrap()
            .capture_time_ms;
        let state: BTreeMap<_, _> = w
            .sim
            .estate()
            .iter()
            .map(|o| ((*o.key).clone(), o.doc.clone()))
            .collect();
        truth.push((t, state));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for (t, state) in &truth {
        let mut got: BTreeMap<ResourceKey, bytes::Bytes> = BTreeMap::new();
        w.log
            .inventory_at(*t, &Filter::default(), |ci| {
                got.insert(ci.key.clone(), ci.doc.clone());
                true
            })
            .unwrap();
        assert_eq!(got.len(), state.len(), "resource count at {t}");
        assert!(
            got == *state,
            "inventory at {t} differs from the sim's state then"
        );
    }
    // And one resource's history agrees with `at_time`.
    let (t0, _) = &truth[0];
    let k = truth[0].1.keys().next().unwrap();
    let h = w
        .log
        .history(
            k,
            &HistoryQuery {
                later_ms: Some(*t0),
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(h.items[0].doc, truth[0].1[k]);
}

#[tokio::test]
async fn issue_2_scheduler_runs_scopes_and_stops() {
    let mut cfg = RecorderConfig::default();
    cfg.scheduler.interval = Duration::from_millis(50);
    cfg.scheduler.backoff_base = Duration::from_millis(20);
    let w = world_with(200, cfg);
    let scopes = w.rec.scopes();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(w.rec.clone().run(async move {
        let _ = rx.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = w
            .rec
            .status()
            .snapshot()
            .iter()
            .filter(|s| s.last_success_ms.is_some())
            .count();
        if done == scopes.len() && w.log.state().live_count() == w.sim.estate().len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scheduler did not poll every scope"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.rec.stop();
    assert!(!w.rec.is_recording());
    let _ = tx.send(());
    run.await.unwrap().unwrap();
}

/// Issue 13.7: DAILY recording on the simulated estate with an accelerated clock (one
/// poll per simulated hour, three days): instances DAILY, security groups CONTINUOUS by
/// override. A DAILY resource gets at most one item per 24 hours, each the state at that
/// moment; a change is recorded once its window has passed, a deletion too; continuous
/// types are untouched, and the recorder counts what DAILY saved.
#[tokio::test]
async fn issue_13_daily_recording_writes_at_most_one_item_per_resource_per_day() {
    use driftlog_recorder::{Clock, RecordingMode, DAILY_MS};
    use std::sync::atomic::{AtomicI64, Ordering};
    const HOUR: i64 = 3600 * 1000;
    let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let now = Arc::new(AtomicI64::new(t0));
    let clock = {
        let now = now.clone();
        Clock(Arc::new(move || now.load(Ordering::SeqCst)))
    };
    let mut cfg = RecorderConfig {
        mode: RecordingMode {
            daily: true,
            overrides: vec![(vec![TypePattern::parse(SG).unwrap()], false)],
        },
        clock,
        ..RecorderConfig::default()
    };
    cfg.recheck_related = false;
    let w = world_with(400, cfg);
    w.rec.poll_all_once().await.unwrap();
    let discovered = w.log.watermark();
    assert!(discovered > 0, "first items are never held");

    // A deletion right after discovery waits for its window too.
    let gone = first_key(&w, INSTANCE);
    let mut sg_items = 0;
    let mut deleted_seen_at = None;
    for hour in 1..=72 {
        now.fetch_add(HOUR, Ordering::SeqCst);
        {
            let mut estate = w.sim.estate();
            for _ in 0..3 {
                estate.tick();
            }
            if hour == 2 {
                assert!(estate.remove(&gone));
            }
        }
        let mark = w.log.watermark();
        w.rec.poll_all_once().await.unwrap();
        for i in items_after(&w.log, mark) {
            if i.key.resource_type == SG {
                sg_items += 1;
            }
            if i.key == gone {
                assert_eq!(i.status, Status::ResourceDeleted);
                deleted_seen_at = Some(hour);
            }
        }
    }
    assert_eq!(
        deleted_seen_at,
        Some(24),
        "deleted at hour 2, recorded when its 24 hours passed"
    );
    assert!(
        sg_items > 3,
        "CONTINUOUS by override: security groups recorded hourly"
    );

    // At most one item per DAILY resource per 24 hours; continuous types unchanged.
    let mut last: BTreeMap<ResourceKey, i64> = BTreeMap::new();
    let mut daily_updates = 0;
    for i in items_after(&w.log, 0) {
        if i.key.resource_type == SG {
            continue;
        }
        if let Some(prev) = last.insert(i.key.clone(), i.capture_time_ms) {
            assert!(
                i.capture_time_ms - prev >= DAILY_MS,
                "{} recorded {} ms after its previous item",
                i.key,
                i.capture_time_ms - prev
            );
            daily_updates += 1;
        }
    }
    assert!(
        daily_updates > 0,
        "changes of DAILY types are recorded, once a day"
    );

    // A day without change elsewhere: every held change lands, with the state of now.
    now.fetch_add(DAILY_MS, Ordering::SeqCst);
    w.rec.poll_all_once().await.unwrap();
    let estate = w.sim.estate();
    let state = w.log.state();
    assert_eq!(
        state.live_count(),
        estate.len(),
        "every deletion and discovery recorded"
    );
    for o in estate.iter() {
        let r = state.get(o.id).unwrap();
        assert!(!r.deleted);
        assert_eq!(
            r.doc_hash,
            driftlog_model::canonical::hash128(&o.doc),
            "{} recorded as it is now",
            o.key
        );
    }
    drop(state);
    let saved: u64 = w.rec.daily_saved().values().sum();
    assert!(saved > 0, "DAILY saved items: {:?}", w.rec.daily_saved());
    assert!(!w.rec.daily_saved().contains_key(SG));
}

use crate::support::cli as cli_support;

mod cli {
    use super::cli_support::{json_lines, KillOnDrop};
    use std::process::Command;

    fn driftlog() -> Command {
        Command::new(env!("CARGO_BIN_EXE_driftlog"))
    }

    #[test]
    fn issue_2_help_teaches() {
        let out = driftlog().arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        for cmd in [
            "serve", "tail", "history", "show", "at", "diff", "status", "bench", "sinks", "deliver",
        ] {
            assert!(text.contains(cmd), "--help lists {cmd}");
        }
        assert!(
            text.contains("-2h") || text.contains("-30m"),
            "--help explains time forms"
        );
    }

    #[test]
    fn issue_2_bad_config_names_key_and_line_and_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("driftlog.toml");
        std::fs::write(&cfg, "data_dir = \"d\"\n[recorder]\nconcurency = 4\n").unwrap();
        let out = driftlog()
            .args(["serve", "--config"])
            .arg(&cfg)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("concurency") && err.contains("line 3"),
            "{err}"
        );
        assert!(!dir.path().join("d").exists(), "nothing started");
    }

    /// Exit codes tell a script what kind of failure it met (documented in `--help`).
    #[test]
    fn issue_14_exit_codes_say_what_kind_of_failure() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let code = |args: &[&str]| {
            let out = driftlog()
                .args(args)
                .arg("--data-dir")
                .arg(&data)
                .current_dir(dir.path())
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        // 3: no server (or no store) where the command needs one.
        let (c, err) = code(&["refresh", "AWS::EC2::VPC/vpc-1"]);
        assert_eq!(c, Some(3), "{err}");
        assert!(err.contains("driftlog serve"), "{err}");
        let (c, err) = code(&["status"]);
        assert_eq!(c, Some(3), "{err}");
        // 2: usage errors, clap's and ours, and nothing is started.
        let (c, err) = code(&["history", "AWS::EC2::VPC/vpc-1", "--limit", "0"]);
        assert_eq!(c, Some(2), "{err}");
        let (c, err) = code(&["serve", "--churn", "2"]);
        assert_eq!(c, Some(2), "{err}");
        assert!(err.contains("--churn"), "{err}");
        assert!(!data.exists(), "nothing started");
        // 1: a failure, named.
        let (c, err) = code(&["--config", "no-such-file.toml", "status"]);
        assert_eq!(c, Some(1), "{err}");
        assert!(err.contains("no-such-file.toml"), "{err}");
        let help = driftlog().arg("--help").output().unwrap();
        assert!(String::from_utf8_lossy(&help.stdout).contains("Exit status"));
    }

    /// `serve` in the background, the query commands against it over the socket, then
    /// `kill -9` and the same queries against the store directly.
    #[test]
    fn issue_2_serve_query_kill_9_and_query_offline() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut serve = KillOnDrop(
            driftlog()
                .args([
                    "serve",
                    "--quiet",
                    "--resources",
                    "300",
                    "--interval",
                    "1s",
                    "--tick",
                    "1s",
                    "--churn",
                    "0.05",
                    "--data-dir",
                ])
                .arg(&data)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let q = |args: &[&str]| {
            driftlog()
                .args(args)
                .arg("--data-dir")
                .arg(&data)
                .output()
                .unwrap()
        };
        // Wait for the first discovery to land.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            let out = q(&["status", "--json"]);
            if out.status.success() {
                let v = json_lines(&out).remove(0);
                if v["resources"].as_u64().unwrap_or(0) >= 250 {
                    break v;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve never recorded the estate"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(status["running"], true);
        assert!(!status["scopes"].as_array().unwrap().is_empty());

        let items = json_lines(&q(&[
            "tail",
            "--json",
            "--from",
            "0",
            "--limit",
            "5",
            "--type",
            "AWS::EC2::*",
        ]));
        assert_eq!(items.len(), 5);
        assert!(items[0]["configurationItem"]["resourceType"]
            .as_str()
            .unwrap()
            .starts_with("AWS::EC2::"));
        assert_eq!(
            items[0]["configurationItem"]["configurationItemVersion"],
            "1.3"
        );
        let ty = items[0]["configurationItem"]["resourceType"]
            .as_str()
            .unwrap()
            .to_string();
        let id = items[0]["configurationItem"]["resourceId"]
            .as_str()
            .unwrap()
            .to_string();
        let res = format!("{ty}/{id}");
        let hist = json_lines(&q(&["history", &res, "--json"]));
        assert!(!hist.is_empty());
        assert_eq!(hist.last().unwrap()["version"], 1);
        let at = json_lines(&q(&["at", "now", "--json"]));
        assert!(at[0]["total"].as_u64().unwrap() >= 250);
        // Issue 15: the simulated estate holds every type the AWS source records, so `at
        // now` lists them all once every scope's first poll has landed.
        let mut want = driftlog_aws::supported_types();
        want.sort_unstable();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let at = json_lines(&q(&["at", "now", "--json"])).remove(0);
            let listed: Vec<&str> = at["counts"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            if want.iter().all(|t| listed.contains(t)) {
                assert!(listed.len() >= 34, "{listed:?}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the simulated estate lists {listed:?}, not every one of {want:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let captured = items[0]["configurationItem"]["configurationItemCaptureTime"]
            .as_str()
            .unwrap()
            .to_string();
        let shown = q(&["show", &res, "--at", &captured]);
        assert!(
            shown.status.success(),
            "show {res} --at {captured}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(
            shown["configurationItem"]["configurationItemCaptureTime"],
            captured.as_str()
        );
        let before = q(&["show", &res, "--at", "-1d"]);
        assert!(!before.status.success(), "nothing was recorded a day ago");

        let refreshed = json_lines(&q(&["refresh", &res]));
        assert!(refreshed[0]["recorded"].as_u64().is_some(), "{refreshed:?}");
        let stopped = json_lines(&q(&["stop"]));
        assert_eq!(stopped[0]["recording"], false);
        assert_eq!(json_lines(&q(&["status", "--json"]))[0]["recording"], false);
        let started = json_lines(&q(&["start"]));
        assert_eq!(started[0]["recording"], true);

        serve.0.kill().unwrap(); // SIGKILL
        serve.0.wait().unwrap();
        // The socket file is stale now; the CLI falls back to the store itself.
        let offline = json_lines(&q(&["status", "--json"])).remove(0);
        assert_eq!(offline["running"], false);
        assert!(offline["watermark"].as_u64().unwrap() >= status["watermark"].as_u64().unwrap());
        let again = json_lines(&q(&["history", &res, "--json"]));
        assert!(again.len() >= hist.len());
        let err = q(&["history", "AWS::EC2::SecurityGroup/sg-doesnotexist"]);
        assert!(!err.status.success());
        assert!(String::from_utf8_lossy(&err.stderr).contains("no recorded resource"));
    }

    #[test]
    fn issue_2_config_prints_documented_defaults() {
        let out = driftlog().arg("config").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("interval = \"60s\"") && text.contains("# "));
    }
}

mod tidy {
    /// ARCHITECTURE.md keeps one Code Map section per crate (rust-analyzer's tidy habit).
    #[test]
    fn every_crate_has_a_code_map_section() {
        let root = env!("CARGO_MANIFEST_DIR");
        let arch = std::fs::read_to_string(format!("{root}/ARCHITECTURE.md")).unwrap();
        for e in std::fs::read_dir(format!("{root}/crates")).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                arch.contains(&format!("### crates/{name}")),
                "ARCHITECTURE.md lacks a section for crates/{name}"
            );
        }
    }

    /// No circle of imports between the files of a crate (crates cannot form one: cargo
    /// refuses). A file's imports are its `crate::<module>` paths outside its tests; the
    /// crate root, which declares and re-exports every module, is left out, and so are comments.
    #[test]
    fn no_import_circle_between_the_files_of_a_crate() {
        use std::collections::{BTreeMap, BTreeSet};
        let root = env!("CARGO_MANIFEST_DIR");
        let mut circles = Vec::new();
        for e in std::fs::read_dir(format!("{root}/crates")).unwrap() {
            let dir = e.unwrap().path();
            let src = if dir.join("src").is_dir() {
                dir.join("src")
            } else {
                dir.clone()
            };
            let mut files = Vec::new();
            let mut stack = vec![src.clone()];
            while let Some(d) = stack.pop() {
                for f in std::fs::read_dir(&d).unwrap() {
                    let p = f.unwrap().path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "rs") {
                        files.push(p);
                    }
                }
            }
            // Top-level module of each file (shapes/ec2.rs belongs to `shapes`).
            let module_of = |p: &std::path::Path| -> String {
                let rel = p.strip_prefix(&src).unwrap();
                let first = rel.components().next().unwrap().as_os_str();
                first.to_string_lossy().trim_end_matches(".rs").to_string()
            };
            let modules: BTreeSet<String> = files.iter().map(|p| module_of(p)).collect();
            let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for f in &files {
                let from = module_of(f);
                if ["lib", "main", "build"].contains(&from.as_str()) {
                    continue;
                }
                let text = std::fs::read_to_string(f).unwrap();
                // Code only: outside its tests, without comments (doc links are not imports).
                let code: String = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let mut rest = code.as_str();
                while let Some(i) = rest.find("crate::") {
                    rest = &rest[i + "crate::".len()..];
                    let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                        let end = group.find('}').unwrap_or(group.len());
                        group[..end]
                            .split(',')
                            .map(|n| n.trim().split("::").next().unwrap_or("").trim())
                            .collect()
                    } else {
                        let end = rest
                            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .unwrap_or(rest.len());
                        vec![&rest[..end]]
                    };
                    for n in names {
                        if n != from && modules.contains(n) {
                            edges.entry(from.clone()).or_default().insert(n.to_string());
                        }
                    }
                }
            }
            // A circle is a path back to where it started.
            for start in edges.keys() {
                let mut path = vec![start.clone()];
                let mut seen = BTreeSet::new();
                fn walk(
                    edges: &BTreeMap<String, BTreeSet<String>>,
                    start: &str,
                    path: &mut Vec<String>,
                    seen: &mut BTreeSet<String>,
                ) -> bool {
                    let here = path.last().unwrap().clone();
                    for next in edges.get(&here).into_iter().flatten() {
                        if next == start {
                            return true;
                        }
                        if seen.insert(next.clone()) {
                            path.push(next.clone());
                            if walk(edges, start, path, seen) {
                                return true;
                            }
                            path.pop();
                        }
                    }
                    false
                }
                if walk(&edges, start, &mut path, &mut seen) {
                    circles.push(format!(
                        "{}: {} -> {start}",
                        dir.display(),
                        path.join(" -> ")
                    ));
                }
            }
        }
        assert!(
            circles.is_empty(),
            "import circles:\n{}",
            circles.join("\n")
        );
    }

    /// The README's test command is what CI runs.
    #[test]
    fn ci_runs_the_readme_test_command() {
        let root = env!("CARGO_MANIFEST_DIR");
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
        let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
        assert!(readme.contains("./scripts/test.sh") && ci.contains("./scripts/test.sh"));
    }
}
