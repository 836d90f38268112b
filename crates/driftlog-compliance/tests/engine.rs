//! The engine on the simulated estate through the real pipeline (sim → recorder → log →
//! engine → compliance items in the log): change-triggered verdicts, CEL and an external
//! evaluator agreeing with the managed rule, restart without skips or repeats, errors as
//! statuses, deletion, and back-testing.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_compliance::backtest::{backtest, judge_at};
use driftlog_compliance::{Engine, EngineSettings, ExternalKind, ExternalSpec};
use driftlog_log::{HistoryQuery, Log, LogOptions};
use driftlog_model::{Filter, ResourceKey, TypePattern, COMPLIANCE_TYPE};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_rules::{Compliance, Judge};
use driftlog_sim::{Estate, SimConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const SG: &str = "AWS::EC2::SecurityGroup";

const CEL_NO_SSH: &str = "!configuration.ipPermissions.exists(p, (p.ipProtocol == 'tcp' || p.ipProtocol == '-1') && (p.ipProtocol == '-1' || (p.fromPort <= 22 && p.toPort >= 22)) && ((has(p.ipv4Ranges) && p.ipv4Ranges.exists(r, r.cidrIp == '0.0.0.0/0')) || (has(p.ipv6Ranges) && p.ipv6Ranges.exists(r, r.cidrIpv6 == '::/0'))))";

const EVALUATOR: &str = r#"
import json, sys
event = json.load(sys.stdin)
inv = json.loads(event["invokingEvent"])
ci = inv["configurationItem"]
def open22(p):
    proto = p.get("ipProtocol")
    if proto not in ("tcp", "-1"):
        return False
    if proto == "tcp" and not (p.get("fromPort", 0) <= 22 <= p.get("toPort", 65535)):
        return False
    return any(r.get("cidrIp") == "0.0.0.0/0" for r in p.get("ipv4Ranges", [])) or any(r.get("cidrIpv6") == "::/0" for r in p.get("ipv6Ranges", []))
bad = any(open22(p) for p in ci["configuration"].get("ipPermissions", []))
print(json.dumps({"evaluations": [{"ComplianceResourceType": ci["resourceType"], "ComplianceResourceId": ci["resourceId"],
    "ComplianceType": "NON_COMPLIANT" if bad else "COMPLIANT", "OrderingTimestamp": ci["configurationItemCaptureTime"]}]}))
"#;

struct World {
    dir: tempfile::TempDir,
    sim: SimSource,
    log: Arc<Log>,
    rec: Arc<Recorder>,
}

fn world(resources: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
    World { dir, sim, log, rec }
}

fn settings(dir: &std::path::Path) -> EngineSettings {
    let script = dir.join("no_ssh.py");
    std::fs::write(&script, EVALUATOR).unwrap();
    let failing = dir.join("fail.py");
    std::fs::write(
        &failing,
        "import sys\nsys.stdin.read()\nprint('cannot judge', file=sys.stderr)\nsys.exit(1)\n",
    )
    .unwrap();
    EngineSettings {
        evaluators: vec![
            ExternalSpec {
                name: "no-ssh".into(),
                kind: ExternalKind::Command(vec!["python3".into(), script.display().to_string()]),
                timeout: Duration::from_secs(20),
            },
            ExternalSpec {
                name: "broken".into(),
                kind: ExternalKind::Command(vec!["python3".into(), failing.display().to_string()]),
                timeout: Duration::from_secs(20),
            },
        ],
        periodic_check: Duration::from_millis(200),
        ..EngineSettings::default()
    }
}

fn start(
    w: &World,
) -> (
    Arc<Engine>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let engine = Engine::open(w.log.clone(), Some(w.rec.clone()), settings(w.dir.path())).unwrap();
    let (tx, rx) = watch::channel(false);
    let e = engine.clone();
    let h = tokio::spawn(async move {
        e.run(rx).await.unwrap();
    });
    (engine, tx, h)
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ssh_rule(name: &str) -> Value {
    json!({"ConfigRuleName": name, "Scope": {"ComplianceResourceTypes": [SG]},
           "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}})
}

fn verdicts(e: &Engine, rule: &str) -> BTreeMap<String, Compliance> {
    e.results_page(rule, &[], None, usize::MAX)
        .unwrap()
        .0
        .into_iter()
        .map(|r| (r.resource_id, r.compliance))
        .collect()
}

fn sgs(w: &World) -> Vec<ResourceKey> {
    w.sim.estate().keys_of_type(SG)
}

fn open_22(w: &World, k: &ResourceKey) {
    let opened = json!({"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "ipRanges": ["0.0.0.0/0"],
        "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []});
    assert!(w.sim.estate().edit(k, |doc| {
        doc["configuration"]["ipPermissions"]
            .as_array_mut()
            .unwrap()
            .push(opened.clone());
    }));
}

fn close_22(w: &World, k: &ResourceKey) {
    assert!(w.sim.estate().edit(k, |doc| {
        doc["configuration"]["ipPermissions"]
            .as_array_mut()
            .unwrap()
            .retain(|p| {
                !(p["fromPort"] == 22
                    && p["ipv4Ranges"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|r| r["cidrIp"] == "0.0.0.0/0")))
            });
    }));
}

fn compliance_items(log: &Log, rule: &str, k: &ResourceKey) -> Vec<(String, Option<String>)> {
    let key = Engine::compliance_key_of(rule, k);
    let page = log
        .history(
            &key,
            &HistoryQuery {
                order: driftlog_log::Order::Forward,
                limit: 100,
                ..HistoryQuery::default()
            },
        )
        .unwrap();
    page.items
        .iter()
        .map(|ci| {
            let doc = ci.document().unwrap();
            (
                ci.status.as_str().to_string(),
                doc["configuration"]["complianceType"]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_flips_compliance_within_one_poll_and_both_are_recorded() {
    let w = world(400);
    w.rec.poll_all_once().await.unwrap();
    let (engine, stop, h) = start(&w);
    engine.put_rule(&ssh_rule("no-ssh")).unwrap();
    let n = sgs(&w).len();
    wait_for("every SG judged", || verdicts(&engine, "no-ssh").len() == n).await;

    // A compliant group is opened on 22 to the world: one poll later it is non-compliant.
    let before = verdicts(&engine, "no-ssh");
    let k = sgs(&w)
        .into_iter()
        .find(|k| before[&k.resource_id] == Compliance::Compliant)
        .unwrap();
    open_22(&w, &k);
    w.rec.poll_once(&k.scope()).await.unwrap();
    wait_for("non-compliant", || {
        verdicts(&engine, "no-ssh")[&k.resource_id] == Compliance::NonCompliant
    })
    .await;
    close_22(&w, &k);
    w.rec.poll_once(&k.scope()).await.unwrap();
    wait_for("compliant again", || {
        verdicts(&engine, "no-ssh")[&k.resource_id] == Compliance::Compliant
    })
    .await;

    // Both changes are in the log, as versions of the rule's compliance item.
    let hist = compliance_items(&w.log, "no-ssh", &k);
    let kinds: Vec<&str> = hist.iter().map(|(_, c)| c.as_deref().unwrap()).collect();
    assert_eq!(
        kinds,
        ["COMPLIANT", "NON_COMPLIANT", "COMPLIANT"],
        "{hist:?}"
    );
    let r = engine.resource_results(SG, &k.resource_id).unwrap();
    assert_eq!(r.len(), 1);
    let counts = engine.counts("no-ssh");
    assert_eq!((counts.compliant + counts.non_compliant) as usize, n);

    // On demand: ConfigRulesEvaluationStarted goes to the channel's topic.
    let sent: Arc<std::sync::Mutex<Vec<(String, Value)>>> = Arc::default();
    {
        let sent = sent.clone();
        engine.set_notifier(Arc::new(move |subject: &str, body: &Value| {
            sent.lock()
                .unwrap()
                .push((subject.to_string(), body.clone()));
        }));
    }
    engine.start_evaluation(&["no-ssh".to_string()]).unwrap();
    {
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let (subject, body) = &sent[0];
        assert!(
            subject.contains("Config Rules Evaluation Started"),
            "{subject}"
        );
        assert_eq!(body["messageType"], "ConfigRulesEvaluationStarted");
        assert_eq!(body["recordVersion"], "1.0");
        assert_eq!(body["configRuleNames"], json!(["no-ssh"]));
        assert!(body["awsAccountId"].is_string() && body["awsRegion"].is_string());
    }
    // While it runs, another start of the same rule is refused.
    if engine.is_running("no-ssh") {
        assert!(matches!(
            engine.start_evaluation(&["no-ssh".to_string()]),
            Err(driftlog_compliance::EngineError::Busy(_))
        ));
    }
    wait_for("on-demand run over", || !engine.is_running("no-ssh")).await;

    // A poll with nothing new records no compliance item (re-judged, same verdict).
    let mark = w.log.watermark();
    w.rec.refresh(std::slice::from_ref(&k)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.log.watermark(), mark);

    // Deleting the rule ends every result: a deletion per compliance item.
    engine.delete_rule("no-ssh").unwrap();
    wait_for("results ended", || verdicts(&engine, "no-ssh").is_empty()).await;
    let hist = compliance_items(&w.log, "no-ssh", &k);
    assert_eq!(hist.last().unwrap().0, "ResourceDeleted");

    // Each version is one ComplianceChangeNotification with the old and new results.
    let key = Engine::compliance_key_of("no-ssh", &k);
    let items = w
        .log
        .history(
            &key,
            &HistoryQuery {
                order: driftlog_log::Order::Forward,
                limit: 100,
                ..HistoryQuery::default()
            },
        )
        .unwrap()
        .items;
    let msgs: Vec<Value> = items
        .iter()
        .map(|ci| driftlog_deliver::compliance_change_notification(ci, 0).unwrap())
        .collect();
    let pair = |m: &Value| {
        (
            m["newEvaluationResult"]["complianceType"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            m["oldEvaluationResult"]["complianceType"]
                .as_str()
                .map(str::to_string),
        )
    };
    let got: Vec<(String, Option<String>)> = msgs.iter().map(pair).collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (s("COMPLIANT"), None),
            (s("NON_COMPLIANT"), Some(s("COMPLIANT"))),
            (s("COMPLIANT"), Some(s("NON_COMPLIANT"))),
            (s("NOT_APPLICABLE"), Some(s("COMPLIANT"))),
        ]
    );
    let m = &msgs[1];
    assert_eq!(m["messageType"], "ComplianceChangeNotification");
    assert_eq!(m["configRuleName"], "no-ssh");
    assert_eq!(m["resourceType"], SG);
    assert_eq!(m["resourceId"], k.resource_id.as_str());
    assert_eq!(m["awsAccountId"], k.account.as_str());
    assert!(m["configRuleARN"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:config:"));
    let q = &m["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"];
    assert_eq!(q["configRuleName"], "no-ssh");
    assert!(m["newEvaluationResult"]["annotation"]
        .as_str()
        .unwrap()
        .contains("22"));
    assert!(
        m["newEvaluationResult"]["evaluationResultIdentifier"]["orderingTimestamp"].is_string()
    );
    // The old result is whole: its verdict from the diff, its times from this version.
    let old = &m["oldEvaluationResult"];
    assert_eq!(old["complianceType"], "COMPLIANT");
    assert!(
        old["evaluationResultIdentifier"]["orderingTimestamp"].is_string(),
        "{old}"
    );
    assert!(old["resultRecordedTime"].is_string() && old["configRuleInvokedTime"].is_string());
    assert_eq!(
        msgs[0]["newEvaluationResult"]["resultRecordedTime"],
        old["resultRecordedTime"]
    );
    // An ended result's old result has its times too (the last version's).
    assert_eq!(
        msgs[3]["oldEvaluationResult"]["resultRecordedTime"],
        msgs[2]["newEvaluationResult"]["resultRecordedTime"]
    );
    assert!(msgs[3]["oldEvaluationResult"]["resultRecordedTime"].is_string());
    assert!(driftlog_deliver::compliance_subject(m).contains("is NON_COMPLIANT with no-ssh"));
    stop.send(true).unwrap();
    h.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_and_an_external_evaluator_agree_with_the_managed_rule() {
    let w = world(300);
    w.rec.poll_all_once().await.unwrap();
    // Make sure both verdicts occur.
    let groups = sgs(&w);
    open_22(&w, &groups[0]);
    open_22(&w, &groups[1]);
    w.rec.poll_all_once().await.unwrap();
    let (engine, stop, h) = start(&w);
    engine.put_rule(&ssh_rule("managed")).unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "cel", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_POLICY", "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}],
                       "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": CEL_NO_SSH}}}))
        .unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "external", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": "arn:aws:lambda:us-east-1:123456789012:function:no-ssh",
                       "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}]}}))
        .unwrap();
    let n = groups.len();
    wait_for("all three rules judged every SG", || {
        ["managed", "cel", "external"]
            .iter()
            .all(|r| verdicts(&engine, r).len() == n)
    })
    .await;
    let m = verdicts(&engine, "managed");
    assert_eq!(m, verdicts(&engine, "cel"));
    assert_eq!(m, verdicts(&engine, "external"));
    assert!(m.values().any(|c| *c == Compliance::NonCompliant));
    assert!(m.values().any(|c| *c == Compliance::Compliant));
    let st = engine.status("external").unwrap();
    assert!(
        st.last_success_invocation_ms.is_some() && st.last_error_code.is_none(),
        "{st:?}"
    );

    // A failing evaluator and a failing expression give an error status, never a verdict.
    engine
        .put_rule(&json!({"ConfigRuleName": "broken", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": "arn:aws:lambda:us-east-1:123456789012:function:broken",
                       "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}]}}))
        .unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "bad-cel", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_POLICY", "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}],
                       "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": "configuration.noSuchField == 1"}}}))
        .unwrap();
    wait_for("errors reported", || {
        ["broken", "bad-cel"].iter().all(|r| {
            engine
                .status(r)
                .is_some_and(|s| s.last_error_message.is_some())
                && !engine.is_running(r)
        })
    })
    .await;
    assert!(verdicts(&engine, "broken").is_empty());
    assert!(verdicts(&engine, "bad-cel").is_empty());
    let s = engine.status("broken").unwrap();
    assert!(s.last_error_message.unwrap().contains("cannot judge"));
    assert!(s.last_failed_invocation_ms.is_some());
    stop.send(true).unwrap();
    h.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_skips_nor_repeats() {
    let w = world(300);
    w.rec.poll_all_once().await.unwrap();
    let (engine, stop, h) = start(&w);
    engine.put_rule(&ssh_rule("no-ssh")).unwrap();
    let groups = sgs(&w);
    wait_for("judged", || {
        verdicts(&engine, "no-ssh").len() == groups.len()
    })
    .await;
    wait_for("full run over", || !engine.is_running("no-ssh")).await;
    stop.send(true).unwrap();
    h.await.unwrap();
    drop(engine);

    // Changes while the engine is down are judged when it comes back, once.
    let compliant: Vec<ResourceKey> = {
        let e = Engine::open(w.log.clone(), None, EngineSettings::default()).unwrap();
        let v = verdicts(&e, "no-ssh");
        groups
            .iter()
            .filter(|k| v[&k.resource_id] == Compliance::Compliant)
            .take(3)
            .cloned()
            .collect()
    };
    for k in &compliant {
        open_22(&w, k);
    }
    w.rec.poll_all_once().await.unwrap();
    // One group opened and closed again while down: both changes are in the catch-up batch,
    // and both verdicts are recorded, in order.
    let flipped = groups
        .iter()
        .find(|k| {
            !compliant.contains(k) && {
                let e = Engine::open(w.log.clone(), None, EngineSettings::default()).unwrap();
                verdicts(&e, "no-ssh")[&k.resource_id] == Compliance::Compliant
            }
        })
        .unwrap()
        .clone();
    open_22(&w, &flipped);
    w.rec.poll_once(&flipped.scope()).await.unwrap();
    close_22(&w, &flipped);
    w.rec.poll_once(&flipped.scope()).await.unwrap();
    let (engine, stop, h) = start(&w);
    wait_for("changes made while down judged", || {
        let v = verdicts(&engine, "no-ssh");
        compliant
            .iter()
            .all(|k| v[&k.resource_id] == Compliance::NonCompliant)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for k in &compliant {
        let kinds: Vec<String> = compliance_items(&w.log, "no-ssh", k)
            .into_iter()
            .filter_map(|(_, c)| c)
            .collect();
        assert_eq!(kinds, ["COMPLIANT", "NON_COMPLIANT"], "{k}");
    }
    wait_for("the flip judged", || {
        compliance_items(&w.log, "no-ssh", &flipped).len() == 3
    })
    .await;
    let kinds: Vec<String> = compliance_items(&w.log, "no-ssh", &flipped)
        .into_iter()
        .filter_map(|(_, c)| c)
        .collect();
    assert_eq!(kinds, ["COMPLIANT", "NON_COMPLIANT", "COMPLIANT"]);
    assert_eq!(
        verdicts(&engine, "no-ssh")[&flipped.resource_id],
        Compliance::Compliant
    );
    let c = engine.counts("no-ssh");
    assert_eq!((c.compliant + c.non_compliant) as usize, groups.len());
    // Compliance items are items of the log like any other: they tail by type.
    let filter = Filter {
        types: vec![TypePattern::parse(COMPLIANCE_TYPE).unwrap()],
        ..Filter::default()
    };
    let (items, _) = w.log.read_range(0, 1_000_000, &filter).unwrap();
    assert_eq!(items.len(), groups.len() + compliant.len() + 2);
    stop.send(true).unwrap();
    h.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_returns_exactly_the_recorded_intervals() {
    let w = world(200);
    w.rec.poll_all_once().await.unwrap();
    let groups = sgs(&w);
    let judge = Judge::new(driftlog_rules::Rule {
        name: "no-ssh".into(),
        scope: driftlog_rules::Scope {
            resource_types: vec![SG.into()],
            ..Default::default()
        },
        evaluator: driftlog_rules::Evaluator::Managed {
            identifier: "INCOMING_SSH_DISABLED".into(),
            parameters: Default::default(),
        },
    })
    .unwrap();
    let t0 = w.log.state().len() as i64; // unused marker: the window starts after discovery
    let _ = t0;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from = driftlog_model::time::now_ms();
    let start_nc: Vec<String> = judge_at(&w.log, &judge, from)
        .unwrap()
        .into_iter()
        .filter(|j| j.compliance == Some(Compliance::NonCompliant))
        .map(|j| j.resource.resource_id)
        .collect();
    let target = groups
        .iter()
        .find(|k| !start_nc.contains(&k.resource_id))
        .unwrap()
        .clone();
    let mut expected = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        open_22(&w, &target);
        let r = w.rec.poll_once(&target.scope()).await.unwrap();
        let opened_at = w
            .log
            .get(*r.appended.unwrap().end())
            .unwrap()
            .unwrap()
            .capture_time_ms;
        tokio::time::sleep(Duration::from_millis(20)).await;
        close_22(&w, &target);
        let r = w.rec.poll_once(&target.scope()).await.unwrap();
        let closed_at = w
            .log
            .get(*r.appended.unwrap().end())
            .unwrap()
            .unwrap()
            .capture_time_ms;
        expected.push((opened_at, Some(closed_at)));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    open_22(&w, &target);
    let r = w.rec.poll_once(&target.scope()).await.unwrap();
    let last_open = w
        .log
        .get(*r.appended.unwrap().end())
        .unwrap()
        .unwrap()
        .capture_time_ms;
    expected.push((last_open, None));
    let to = driftlog_model::time::now_ms();

    let report = backtest(&w.log, &judge, from, to).unwrap();
    let got: Vec<(i64, Option<i64>)> = report
        .intervals
        .iter()
        .filter(|i| i.resource == target)
        .map(|i| (i.non_compliant_from_ms, i.until_ms))
        .collect();
    assert_eq!(got, expected);
    // Groups already open at the start show as such, and nothing else.
    let others: Vec<&str> = report
        .intervals
        .iter()
        .filter(|i| i.resource != target)
        .map(|i| i.resource.resource_id.as_str())
        .collect();
    assert_eq!(others.len(), start_nc.len());
    assert!(report
        .intervals
        .iter()
        .filter(|i| i.resource != target)
        .all(|i| i.already_at_start && i.until_ms.is_none()));
    // --at: the inventory as it was after the second opening is judged as it was then.
    let at = expected[1].0;
    let then = judge_at(&w.log, &judge, at).unwrap();
    assert_eq!(
        then.iter()
            .find(|j| j.resource == target)
            .unwrap()
            .compliance,
        Some(Compliance::NonCompliant)
    );
    let then = judge_at(&w.log, &judge, expected[1].1.unwrap()).unwrap();
    assert_eq!(
        then.iter()
            .find(|j| j.resource == target)
            .unwrap()
            .compliance,
        Some(Compliance::Compliant)
    );
}

/// An HTTP evaluator in the test: judges SSH like the managed rule (the event's item), and
/// answers a scheduled notification with a verdict on `scheduled_target`. `/slow` answers
/// after 3 s.
async fn http_evaluator(scheduled_target: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let target = scheduled_target.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 16384];
                let (head_end, len) = loop {
                    let n = s.read(&mut tmp).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut tmp).await.unwrap();
                    buf.extend_from_slice(&tmp[..n]);
                }
                let path = String::from_utf8_lossy(&buf)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                if path == "/slow" {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                let event: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                assert!(event["resultToken"].as_str().is_some_and(|t| !t.is_empty()));
                let inv: Value =
                    serde_json::from_str(event["invokingEvent"].as_str().unwrap()).unwrap();
                let evals = if inv["messageType"] == "ScheduledNotification" {
                    json!([{"ComplianceResourceType": SG, "ComplianceResourceId": target,
                            "ComplianceType": "NON_COMPLIANT", "Annotation": "found by the scheduled run",
                            "OrderingTimestamp": inv["notificationCreationTime"]}])
                } else {
                    let ci = &inv["configurationItem"];
                    let v = driftlog_rules::managed::evaluate(
                        "INCOMING_SSH_DISABLED",
                        &serde_json::Map::new(),
                        ci,
                    )
                    .unwrap();
                    json!([{"ComplianceResourceType": ci["resourceType"], "ComplianceResourceId": ci["resourceId"],
                            "ComplianceType": v.compliance.as_str(), "OrderingTimestamp": ci["configurationItemCaptureTime"]}])
                };
                let body = json!({"evaluations": evals}).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_evaluators_periodic_rules_and_timeouts() {
    let w = world(300);
    w.rec.poll_all_once().await.unwrap();
    let groups = sgs(&w);
    let url = http_evaluator(groups[0].resource_id.clone()).await;
    let mut s = settings(w.dir.path());
    s.evaluators.push(ExternalSpec {
        name: "http-ssh".into(),
        kind: ExternalKind::Url(format!("{url}/judge")),
        timeout: Duration::from_secs(10),
    });
    s.evaluators.push(ExternalSpec {
        name: "http-slow".into(),
        kind: ExternalKind::Url(format!("{url}/slow")),
        timeout: Duration::from_millis(300),
    });
    let engine = Engine::open(w.log.clone(), Some(w.rec.clone()), s).unwrap();
    let (stop, rx) = watch::channel(false);
    let e = engine.clone();
    let h = tokio::spawn(async move { e.run(rx).await.unwrap() });

    let change = json!([{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}]);
    let lambda = |f: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{f}");
    engine.put_rule(&ssh_rule("managed")).unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "http", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": lambda("http-ssh"), "SourceDetails": change}}))
        .unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "slow", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": lambda("http-slow"), "SourceDetails": change}}))
        .unwrap();
    // Periodic only: a CEL rule judged every hour, and an external one told when it is time.
    let scheduled = json!([{"EventSource": "aws.config", "MessageType": "ScheduledNotification", "MaximumExecutionFrequency": "One_Hour"}]);
    engine
        .put_rule(
            &json!({"ConfigRuleName": "hourly", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "CUSTOM_POLICY", "SourceDetails": scheduled,
                       "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": CEL_NO_SSH}}}),
        )
        .unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "scheduled-http",
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": lambda("http-ssh"), "SourceDetails": scheduled}}))
        .unwrap();
    let n = groups.len();
    wait_for("HTTP and hourly rules judged every SG", || {
        ["managed", "http", "hourly"]
            .iter()
            .all(|r| verdicts(&engine, r).len() == n)
            && ["managed", "http", "hourly", "slow", "scheduled-http"]
                .iter()
                .all(|r| !engine.is_running(r))
    })
    .await;
    assert_eq!(verdicts(&engine, "http"), verdicts(&engine, "managed"));
    // The scheduled external rule reported what it found for the resource it named.
    let sched = verdicts(&engine, "scheduled-http");
    assert_eq!(sched.len(), 1);
    assert_eq!(sched[&groups[0].resource_id], Compliance::NonCompliant);
    // The slow endpoint timed out: an error status, no verdict.
    let st = engine.status("slow").unwrap();
    assert!(
        st.last_error_message
            .as_deref()
            .unwrap_or("")
            .contains("timed out"),
        "{st:?}"
    );
    assert!(verdicts(&engine, "slow").is_empty());

    // A change is judged at once by the change-triggered rules, not by the hourly one...
    let before = verdicts(&engine, "managed");
    let k = groups
        .iter()
        .find(|k| before[&k.resource_id] == Compliance::Compliant)
        .unwrap()
        .clone();
    open_22(&w, &k);
    w.rec.poll_once(&k.scope()).await.unwrap();
    wait_for("judged on change", || {
        verdicts(&engine, "managed")[&k.resource_id] == Compliance::NonCompliant
            && verdicts(&engine, "http")[&k.resource_id] == Compliance::NonCompliant
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        verdicts(&engine, "hourly")[&k.resource_id],
        Compliance::Compliant
    );
    // ...which runs when it is due.
    w.log.put_kv("rules/lastrun/hourly", b"0").unwrap();
    wait_for("the hourly rule ran", || {
        verdicts(&engine, "hourly")[&k.resource_id] == Compliance::NonCompliant
    })
    .await;
    // A deleted group's result ends at once under every rule, periodic ones included.
    let gone = groups
        .iter()
        .find(|g| **g != k && **g != groups[0])
        .unwrap()
        .clone();
    assert!(w.sim.estate().remove(&gone));
    w.rec.poll_once(&gone.scope()).await.unwrap();
    wait_for("results of the deleted group ended", || {
        ["managed", "http", "hourly"]
            .iter()
            .all(|r| !verdicts(&engine, r).contains_key(&gone.resource_id))
    })
    .await;
    stop.send(true).unwrap();
    h.await.unwrap();
}

/// A deleted rule stays `DELETING` (listed, its definition kept) until its results have
/// ended; meanwhile putting or deleting it again is `ResourceInUseException`, as in AWS.
/// Offline (no recorder, as the CLI opens the store) the cleanup waits for the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_rule_is_deleting_until_its_results_end() {
    use driftlog_compliance::EngineError;
    let w = world(60);
    w.rec.poll_all_once().await.unwrap();
    let (engine, stop, h) = start(&w);
    engine.put_rule(&ssh_rule("no-ssh")).unwrap();
    wait_for("first results", || !verdicts(&engine, "no-ssh").is_empty()).await;
    stop.send(true).unwrap();
    h.await.unwrap();

    let offline = Engine::open(w.log.clone(), None, EngineSettings::default()).unwrap();
    offline.delete_rule("no-ssh").unwrap();
    let deleting = offline.deleting_rules();
    assert_eq!(deleting.len(), 1);
    assert_eq!(deleting[0].name(), "no-ssh");
    assert!(offline.rule("no-ssh").is_none());
    assert!(matches!(
        offline.delete_rule("no-ssh"),
        Err(EngineError::InUse(_))
    ));
    assert!(matches!(
        offline.put_rule(&ssh_rule("no-ssh")),
        Err(EngineError::InUse(_))
    ));
    assert!(matches!(
        offline.delete_rule("never-was"),
        Err(EngineError::NoSuchRule(_))
    ));
    drop(offline);

    // The server finishes the deletion: results end, the rule vanishes, the name is free.
    let (engine, stop, h) = start(&w);
    wait_for("the deletion to finish", || {
        engine.deleting_rules().is_empty()
    })
    .await;
    assert!(verdicts(&engine, "no-ssh").is_empty());
    engine.put_rule(&ssh_rule("no-ssh")).unwrap();
    stop.send(true).unwrap();
    h.await.unwrap();
}

/// Counts its invocations per resource in `<dir>/<resourceId>`; with `flaky` the first
/// invocation for a resource fails and later ones judge as the no-SSH evaluator does,
/// otherwise every invocation fails.
const COUNTING: &str = r#"
import json, os, sys
mode, dir = sys.argv[1], sys.argv[2]
event = json.load(sys.stdin)
ci = json.loads(event["invokingEvent"])["configurationItem"]
path = os.path.join(dir, ci["resourceId"])
tries = open(path).read().count("\n") if os.path.exists(path) else 0
with open(path, "a") as f:
    f.write("try\n")
if mode == "broken" or tries == 0:
    print("flaky evaluator: try again", file=sys.stderr)
    sys.exit(3)
def open22(p):
    proto = p.get("ipProtocol")
    if proto not in ("tcp", "-1"):
        return False
    if proto == "tcp" and not (p.get("fromPort", 0) <= 22 <= p.get("toPort", 65535)):
        return False
    return any(r.get("cidrIp") == "0.0.0.0/0" for r in p.get("ipv4Ranges", [])) or any(r.get("cidrIpv6") == "::/0" for r in p.get("ipv6Ranges", []))
bad = any(open22(p) for p in ci["configuration"].get("ipPermissions", []))
print(json.dumps({"evaluations": [{"ComplianceResourceType": ci["resourceType"], "ComplianceResourceId": ci["resourceId"],
    "ComplianceType": "NON_COMPLIANT" if bad else "COMPLIANT", "OrderingTimestamp": ci["configurationItemCaptureTime"]}]}))
"#;

/// A failed external invocation is tried again (after `retry_after`, doubling), as Lambda
/// retries: a flaky evaluator's verdicts arrive on the second try; one that always fails is
/// tried 1 + `retries` times per resource, then given up, with no verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_external_invocations_are_retried_then_given_up() {
    let w = world(60);
    w.rec.poll_all_once().await.unwrap();
    let groups = sgs(&w);
    open_22(&w, &groups[0]);
    w.rec.poll_all_once().await.unwrap();
    let script = w.dir.path().join("counting.py");
    std::fs::write(&script, COUNTING).unwrap();
    let counter = |mode: &str| {
        let d = w.dir.path().join(mode);
        std::fs::create_dir_all(&d).unwrap();
        ExternalSpec {
            name: mode.into(),
            kind: ExternalKind::Command(vec![
                "python3".into(),
                script.display().to_string(),
                mode.into(),
                d.display().to_string(),
            ]),
            timeout: Duration::from_secs(20),
        }
    };
    let mut s = settings(w.dir.path());
    s.evaluators = vec![counter("flaky"), counter("broken")];
    s.retry_after = Duration::from_millis(100);
    s.retries = 2;
    // Retries are due long before the next periodic check: they must not wait for it.
    s.periodic_check = Duration::from_secs(300);
    let engine = Engine::open(w.log.clone(), Some(w.rec.clone()), s).unwrap();
    let (stop, rx) = watch::channel(false);
    let e = engine.clone();
    let h = tokio::spawn(async move { e.run(rx).await.unwrap() });
    engine.put_rule(&ssh_rule("managed")).unwrap();
    for f in ["flaky", "broken"] {
        engine
            .put_rule(&json!({"ConfigRuleName": f, "Scope": {"ComplianceResourceTypes": [SG]},
                "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"),
                           "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}]}}))
            .unwrap();
    }
    let tries = |mode: &str, k: &ResourceKey| {
        std::fs::read_to_string(w.dir.path().join(mode).join(&k.resource_id))
            .map_or(0, |t| t.lines().count())
    };
    let pending = || w.log.kv_prefix("rules/retry/", usize::MAX).unwrap().len();
    wait_for("retries done", || {
        groups
            .iter()
            .all(|k| tries("flaky", k) == 2 && tries("broken", k) == 3)
            && pending() == 0
            && verdicts(&engine, "flaky").len() == groups.len()
    })
    .await;
    // The second try's verdicts are the managed rule's; the broken rule has none, an error.
    assert_eq!(verdicts(&engine, "flaky"), verdicts(&engine, "managed"));
    assert!(verdicts(&engine, "flaky")
        .values()
        .any(|c| *c == Compliance::NonCompliant));
    assert!(verdicts(&engine, "broken").is_empty());
    let st = engine.status("broken").unwrap();
    assert!(st.last_error_message.unwrap().contains("try again"));
    // Given up: no further tries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for k in &groups {
        assert_eq!(tries("flaky", k), 2, "{}", k.resource_id);
        assert_eq!(tries("broken", k), 3, "{}", k.resource_id);
    }
    stop.send(true).unwrap();
    h.await.unwrap();
}

/// Rule names are unique per region: another region's rule is keyed `name@region`; a name
/// spelling another place's key never takes its rule over; a rule a store kept under its
/// plain name (before names were per region) stays there when its place puts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_keys_per_region_never_collide() {
    use driftlog_compliance::EngineError;
    let w = world(20);
    let engine = Engine::open(w.log.clone(), None, EngineSettings::default()).unwrap();
    let place = |region: &str| {
        let mut c = engine.def_context();
        c.scope_region = Some(region.into());
        c
    };
    let east = engine
        .put_rule_in(&ssh_rule("ssh"), &place("us-east-1"))
        .unwrap();
    let west = engine
        .put_rule_in(&ssh_rule("ssh"), &place("eu-west-1"))
        .unwrap();
    assert_eq!(east.name(), "ssh");
    assert_eq!(west.name(), "ssh@eu-west-1");
    assert_eq!(west.display_name(), "ssh");
    // us-east-1 naming a rule "ssh@eu-west-1" does not replace eu-west-1's "ssh".
    let e = engine
        .put_rule_in(&ssh_rule("ssh@eu-west-1"), &place("us-east-1"))
        .unwrap_err();
    assert!(
        matches!(&e, EngineError::Def(d) if d.code == "InvalidParameterValueException"),
        "{e}"
    );
    assert_eq!(engine.rule("ssh@eu-west-1").unwrap().id, west.id);

    // An older store: eu-west-1's rule under its plain name. Putting it again from
    // eu-west-1 updates that rule (same id), it does not create a second one.
    let mut old = place("ap-south-1");
    old.home_region = "ap-south-1".into();
    let legacy = engine.put_rule_in(&ssh_rule("legacy"), &old).unwrap();
    assert_eq!(legacy.name(), "legacy");
    let again = engine
        .put_rule_in(&ssh_rule("legacy"), &place("ap-south-1"))
        .unwrap();
    assert_eq!(
        (again.name(), again.id.as_str()),
        ("legacy", legacy.id.as_str())
    );
    assert_eq!(engine.rules().len(), 3);
}

/// The upgrade path: a store the previous version wrote — its records under the same keys
/// but without the namespaces' header, written here with raw `put_kv` as that version did —
/// opens and shows its rules, statuses and results, and the engine goes on from it: the
/// unfinished full run runs, the old retry mark and the old empty deleting mark are taken up
/// and removed, and what it rewrites reads back after a restart. Its token key begins as a
/// namespace header does (as one key in 256 did): it is replaced, never a refusal to open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_version_opens_and_works() {
    use driftlog_compliance::{DefContext, EngineError, ResultRecord, RuleDef, RuleStatus};
    let w = world(60);
    w.rec.poll_all_once().await.unwrap();
    let groups = sgs(&w);
    let k = &groups[0];
    let home = EngineSettings::default();
    let ctx = DefContext {
        account: home.account.clone(),
        region: home.region.clone(),
        home_account: home.account.clone(),
        home_region: home.region.clone(),
        ..DefContext::default()
    };
    let def = RuleDef::from_api(&ssh_rule("legacy"), None, &ctx, 1_000).unwrap();
    let status = RuleStatus {
        first_activated_ms: 1_000,
        first_evaluation_started: true,
        last_success_evaluation_ms: Some(2_000),
        evaluations: 7,
        ..RuleStatus::default()
    };
    let result = ResultRecord {
        rule: "legacy".into(),
        account: k.account.clone(),
        region: k.region.clone(),
        resource_type: SG.into(),
        resource_id: k.resource_id.clone(),
        compliance: Compliance::NonCompliant,
        annotation: Some("judged by the previous version".into()),
        ordering_ms: 1_500,
        recorded_ms: 2_000,
        invoked_ms: 2_000,
        item_seq: w.log.latest(k).unwrap().unwrap().seq,
        place_region: None,
    };
    let raw = |key: &str, value: &[u8]| w.log.put_kv(key, value).unwrap();
    let mut token_key = vec![0xD1, 0x07];
    token_key.extend([0x5A; 30]);
    raw("rules/token_key", &token_key);
    raw("rules/def/legacy", &serde_json::to_vec(&def).unwrap());
    raw("rules/pending/legacy", &1u64.to_be_bytes());
    raw("rules/status/legacy", &serde_json::to_vec(&status).unwrap());
    raw(
        &format!("rules/res/legacy\u{1}{SG}\u{1}{}", k.resource_id),
        &serde_json::to_vec(&result).unwrap(),
    );
    raw(
        &format!("rules/byres/{SG}\u{1}{}\u{1}legacy", k.resource_id),
        b"",
    );
    raw("rules/lastrun/legacy", b"1000");
    // A deletion mark of a release that kept no definition in it.
    raw("rules/deleting/gone", b"");
    // A retry mark of a release before `seq`: the rule is not external, so it is dropped.
    raw(
        &format!(
            "rules/retry/legacy\u{1}{SG}\u{1}{}\u{1}{}\u{1}{}",
            k.resource_id, k.account, k.region
        ),
        serde_json::to_string(&json!({"rule": "legacy", "key": k, "failures": 1, "due_ms": 0}))
            .unwrap()
            .as_bytes(),
    );

    // Opened as the CLI opens it: everything shows as it was.
    let offline = Engine::open(w.log.clone(), None, home.clone()).unwrap();
    assert_eq!(offline.rule("legacy"), Some(def.clone()));
    assert_eq!(offline.status("legacy"), Some(status.clone()));
    assert_eq!(
        offline.results_page("legacy", &[], None, 10).unwrap(),
        (vec![result.clone()], None)
    );
    assert_eq!(
        offline.resource_results(SG, &k.resource_id).unwrap(),
        vec![result.clone()]
    );
    let (resources, next) = offline
        .resources_page(Some(SG), None, None, |_| true, 10)
        .unwrap();
    assert_eq!(
        resources,
        vec![(SG.to_string(), k.resource_id.clone(), vec![result.clone()])]
    );
    assert_eq!(next, None);
    assert_eq!(offline.counts("legacy").non_compliant, 1);
    assert!(offline.deleting_rules().is_empty());
    assert!(matches!(
        offline.put_rule(&ssh_rule("gone")),
        Err(EngineError::InUse(_))
    ));
    drop(offline);

    // The server takes up what the old store left and rewrites it in the new form.
    let (engine, stop, h) = start(&w);
    let left = |prefix: &str| w.log.kv_prefix(prefix, usize::MAX).unwrap().len();
    wait_for("the old store's work to be taken up", || {
        verdicts(&engine, "legacy").len() == groups.len()
            && left("rules/pending/") == 0
            && left("rules/retry/") == 0
            && left("rules/deleting/") == 0
            && engine.status("legacy").is_some_and(|s| s.evaluations > 7)
    })
    .await;
    assert_ne!(w.log.get_kv("rules/token_key").unwrap().unwrap(), token_key);
    stop.send(true).unwrap();
    h.await.unwrap();
    let after = verdicts(&engine, "legacy");
    drop(engine);

    let reopened = Engine::open(w.log.clone(), None, home).unwrap();
    assert_eq!(reopened.rule("legacy"), Some(def));
    assert!(reopened
        .status("legacy")
        .is_some_and(|s| s.evaluations > 7 && s.first_activated_ms == 1_000));
    assert_eq!(verdicts(&reopened, "legacy"), after);
    assert_eq!(
        reopened.counts("legacy").compliant + reopened.counts("legacy").non_compliant,
        groups.len() as u64
    );
    assert!(reopened.put_rule(&ssh_rule("gone")).is_ok());
}

/// A reference CI's stored members (what the simulator keeps of a resource).
fn reference_doc(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driftlog-sim/tests/fixtures/ci-shapes")
        .join(format!("{name}.json"));
    let ci: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let mut doc = serde_json::Map::new();
    for k in [
        "arn",
        "resourceName",
        "availabilityZone",
        "resourceCreationTime",
        "tags",
        "relationships",
        "configuration",
        "supplementaryConfiguration",
    ] {
        let v = if k == "arn" { &ci["ARN"] } else { &ci[k] };
        doc.insert(k.to_string(), v.clone());
    }
    Value::Object(doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_judging_from_related_items_see_the_current_ones() {
    const VPC: &str = "AWS::EC2::VPC";
    let w = world(200);
    // Start from an estate without flow logs and trails; the test adds its own.
    for t in ["AWS::EC2::FlowLog", "AWS::CloudTrail::Trail"] {
        let keys = w.sim.estate().keys_of_type(t);
        for k in keys {
            assert!(w.sim.estate().remove(&k));
        }
    }
    w.rec.poll_all_once().await.unwrap();
    let (engine, stop, h) = start(&w);
    engine
        .put_rule(&json!({"ConfigRuleName": "flow-logs",
            "Source": {"Owner": "AWS", "SourceIdentifier": "VPC_FLOW_LOGS_ENABLED"}}))
        .unwrap();
    engine
        .put_rule(&json!({"ConfigRuleName": "trail",
            "InputParameters": "{\"s3BucketName\":\"example-cloudtrail-logs\"}",
            "Source": {"Owner": "AWS", "SourceIdentifier": "MULTI_REGION_CLOUD_TRAIL_ENABLED"}}))
        .unwrap();
    // AWS's triggers: both are periodic only, every 24 hours unless told otherwise.
    let def = engine.rule("flow-logs").unwrap();
    assert!(!def.triggers.on_change);
    assert_eq!(def.triggers.periodic.as_deref(), Some("TwentyFour_Hours"));

    let vpcs = w.sim.estate().keys_of_type(VPC);
    assert!(vpcs.len() >= 2);
    let accounts: std::collections::BTreeSet<String> =
        vpcs.iter().map(|k| k.account.clone()).collect();
    assert!(accounts.len() >= 2);
    wait_for("every VPC judged", || {
        verdicts(&engine, "flow-logs").len() == vpcs.len()
    })
    .await;
    wait_for("every account judged", || {
        verdicts(&engine, "trail").len() == accounts.len()
    })
    .await;
    // No flow logs, no trails.
    assert!(verdicts(&engine, "flow-logs")
        .values()
        .all(|c| *c == Compliance::NonCompliant));
    let trail_results = engine
        .results_page("trail", &[], None, usize::MAX)
        .unwrap()
        .0;
    for r in &trail_results {
        assert_eq!(r.resource_type, "AWS::::Account");
        assert_eq!(r.resource_id, r.account);
        assert_eq!(r.region, "us-east-1", "judged once, in the server's region");
        assert_eq!(r.compliance, Compliance::NonCompliant);
        assert_eq!(
            r.annotation.as_deref(),
            Some("no CloudTrail trail is recorded in the account")
        );
    }

    // A flow log for one VPC; a multi-region trail in the other region of one account.
    let vpc = vpcs[0].clone();
    let mut fl = reference_doc("AWS_EC2_FlowLog");
    fl["configuration"]["resourceId"] = json!(vpc.resource_id);
    let fl_key = ResourceKey::new(&vpc.account, &vpc.region, "AWS::EC2::FlowLog", "fl-0test");
    w.sim.estate().insert(fl_key.clone(), fl);
    let with_trail = vpc.account.clone();
    let other_region = if vpc.region == "eu-west-1" {
        "us-east-1"
    } else {
        "eu-west-1"
    };
    let trail_key = ResourceKey::new(
        &with_trail,
        other_region,
        "AWS::CloudTrail::Trail",
        "org-audit",
    );
    w.sim
        .estate()
        .insert(trail_key.clone(), reference_doc("AWS_CloudTrail_Trail"));
    w.rec.poll_once(&fl_key.scope()).await.unwrap();
    w.rec.poll_once(&trail_key.scope()).await.unwrap();
    let names = ["flow-logs".to_string(), "trail".to_string()];
    wait_for("runs over", || {
        !engine.is_running("flow-logs") && !engine.is_running("trail")
    })
    .await;
    engine.start_evaluation(&names).unwrap();
    wait_for("the VPC with a flow log compliant", || {
        verdicts(&engine, "flow-logs")[&vpc.resource_id] == Compliance::Compliant
    })
    .await;
    wait_for("the account with a trail compliant", || {
        verdicts(&engine, "trail")[&with_trail] == Compliance::Compliant
    })
    .await;
    let flows = verdicts(&engine, "flow-logs");
    assert_eq!(
        flows
            .values()
            .filter(|c| **c == Compliance::Compliant)
            .count(),
        1,
        "only the VPC of the flow log: {flows:?}"
    );
    let trails = verdicts(&engine, "trail");
    assert!(trails
        .iter()
        .all(|(acc, c)| (acc == &with_trail) == (*c == Compliance::Compliant)));

    // The flow log goes: the next run finds the VPC without one.
    assert!(w.sim.estate().remove(&fl_key));
    w.rec.poll_once(&fl_key.scope()).await.unwrap();
    wait_for("run over", || !engine.is_running("flow-logs")).await;
    engine.start_evaluation(&names[..1]).unwrap();
    wait_for("non-compliant again", || {
        verdicts(&engine, "flow-logs")[&vpc.resource_id] == Compliance::NonCompliant
    })
    .await;
    stop.send(true).unwrap();
    h.await.unwrap();
}
