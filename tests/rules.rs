//! Issue 6 end to end through the `driftlog` binary on the simulated estate (whose churn
//! opens security groups to 0.0.0.0/0 on 22 and 3389): `driftlog rules add` (a managed
//! rule and its CEL twin), compliance recorded in the log and notified to a webhook sink as
//! ComplianceChangeNotification, `kill -9` and a restart in the middle, then: the engine's
//! verdicts equal the rule re-run over the inventory, the CEL rule agrees, no compliance
//! change was recorded twice, every one was notified, and a back-test over the recorded
//! window returns exactly the intervals the live engine recorded.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_compliance::backtest::{backtest, judge_at};
use driftlog_compliance::{Engine, EngineSettings};
use driftlog_log::{Log, LogOptions};
use driftlog_model::{Filter, TypePattern, COMPLIANCE_TYPE};
use driftlog_rules::{Compliance, Judge};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::cli as cli_support;
use cli_support::{wait, KillOnDrop};

const SG: &str = "AWS::EC2::SecurityGroup";
const CEL_NO_SSH: &str = "!configuration.ipPermissions.exists(p, (p.ipProtocol == 'tcp' || p.ipProtocol == '-1') && (p.ipProtocol == '-1' || (p.fromPort <= 22 && p.toPort >= 22)) && ((has(p.ipv4Ranges) && p.ipv4Ranges.exists(r, r.cidrIp == '0.0.0.0/0')) || (has(p.ipv6Ranges) && p.ipv6Ranges.exists(r, r.cidrIpv6 == '::/0'))))";

/// Messages the webhook received, with their log sequence.
type Received = Arc<Mutex<Vec<(u64, Value)>>>;

async fn hook(
    axum::extract::State(r): axum::extract::State<Received>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let seq: u64 = headers
        .get("X-Driftlog-Seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    r.lock()
        .unwrap()
        .push((seq, serde_json::from_slice(&body).unwrap()));
    axum::http::StatusCode::OK
}

fn driftlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftlog"))
}

fn serve(cfg: &std::path::Path) -> KillOnDrop {
    KillOnDrop(
        driftlog()
            .args(["serve", "--quiet", "--config"])
            .arg(cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn verdicts(e: &Engine, rule: &str) -> BTreeMap<String, Compliance> {
    e.results_page(rule, &[], None, usize::MAX)
        .unwrap()
        .0
        .into_iter()
        .map(|r| (r.resource_id, r.compliance))
        .collect()
}

#[test]
fn issue_6_rules_judge_changes_record_and_notify_compliance_through_kill_9() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 400
churn = 0.1
tick_interval = "1s"
[recorder]
interval = "1s"
[api]
listen = ""
[[sinks]]
name = "compliance"
kind = "webhook"
url = "{url}"
types = ["{COMPLIANCE_TYPE}"]
start = "beginning"
"#,
            data.display()
        ),
    )
    .unwrap();
    let q = |args: &[&str]| {
        driftlog()
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let text = |args: &[&str]| {
        let o = q(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };

    // A rule added before serve ever ran is stored and evaluated when serve starts.
    std::fs::create_dir_all(&data).unwrap();
    let mut server = serve(&cfg);
    wait("first discovery", 60, || {
        q(&["at", "now", "--json"]).status.success() && text(&["at", "now", "--json"]).contains(SG)
    });
    let out = text(&[
        "rules",
        "add",
        "no-ssh",
        "--managed",
        "INCOMING_SSH_DISABLED",
        "--type",
        SG,
    ]);
    assert!(out.contains("stored as config-rule-"), "{out}");
    let out = text(&["rules", "add", "cel-ssh", "--cel", CEL_NO_SSH, "--type", SG]);
    assert!(out.contains("stored as"), "{out}");
    // Bad rules are refused with the reason, and nothing is stored.
    let bad = q(&["rules", "add", "x", "--managed", "NO_SUCH_RULE"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NO_SUCH_RULE"));
    let bad = q(&["rules", "add", "y", "--cel", "configuration.("]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CEL"));

    // The churn opens groups to the world: a compliant group flips to non-compliant and the
    // webhook hears it.
    wait("a group flips to NON_COMPLIANT, notified", 120, || {
        received.lock().unwrap().iter().any(|(_, m)| {
            m["newEvaluationResult"]["complianceType"] == "NON_COMPLIANT"
                && m["oldEvaluationResult"]["complianceType"] == "COMPLIANT"
        })
    });
    let list = text(&["rules", "list"]);
    assert!(
        list.contains("no-ssh") && list.contains("INCOMING_SSH_DISABLED"),
        "{list}"
    );
    let table = text(&["compliance"]);
    assert!(
        table.contains("NON_COMPLIANT") && table.contains("cel-ssh"),
        "{table}"
    );
    let window_from = driftlog_model::time::now_ms();

    // kill -9 while changes keep coming, then a restart.
    std::thread::sleep(Duration::from_secs(2));
    let _ = server.0.kill();
    let _ = server.0.wait();
    // Offline, the rules and their compliance stay readable.
    assert!(text(&["rules", "list"]).contains("no-ssh"));
    server = serve(&cfg);
    std::thread::sleep(Duration::from_secs(6));
    assert!(q(&["stop"]).status.success());
    // Let the engine and the sink drain, then stop.
    std::thread::sleep(Duration::from_secs(4));
    let per_resource = text(&[
        "compliance",
        "--resource",
        &format!("{SG}/{}", {
            let v: Value =
                serde_json::from_str(text(&["compliance", "--rule", "no-ssh", "--json"]).trim())
                    .unwrap();
            v[1]["nonCompliant"][0]["resource_id"]
                .as_str()
                .unwrap_or("sg-none")
                .to_string()
        }),
    ]);
    assert!(
        per_resource.contains("no-ssh") && per_resource.contains("cel-ssh"),
        "{per_resource}"
    );
    let at = text(&["compliance", "--at", "now"]);
    assert!(
        at.contains("replayed from the log") && at.contains("no-ssh"),
        "{at}"
    );
    let backtest_out = text(&["rules", "backtest", "no-ssh", "--from", "-10m"]);
    assert!(
        backtest_out.contains("stretches of non-compliance"),
        "{backtest_out}"
    );
    // --at judges the whole inventory then; a new rule can be back-tested without adding it.
    let at: Value = serde_json::from_str(
        text(&["rules", "backtest", "no-ssh", "--at", "now", "--json"]).trim(),
    )
    .unwrap();
    assert!(at["resources"].as_array().unwrap().len() > 10, "{at}");
    let fresh = text(&["rules", "backtest", "rdp", "--cel", "!configuration.ipPermissions.exists(p, has(p.fromPort) && p.fromPort <= 3389 && p.toPort >= 3389)", "--type", SG, "--from", "-10m"]);
    assert!(fresh.contains("rule rdp"), "{fresh}");
    assert!(
        !text(&["rules", "list"]).contains("rdp"),
        "a back-tested rule is not added"
    );
    let _ = server.0.kill();
    let _ = server.0.wait();
    let window_to = driftlog_model::time::now_ms();

    let log = Arc::new(Log::open(data.join("store"), LogOptions::default()).unwrap());
    let engine = Engine::open(log.clone(), None, EngineSettings::default()).unwrap();
    let judge = Judge::new(engine.rule("no-ssh").unwrap().rule).unwrap();

    // The engine missed nothing across kill -9: its verdicts are the rule re-run now.
    let live = verdicts(&engine, "no-ssh");
    let rerun: BTreeMap<String, Compliance> = judge_at(&log, &judge, window_to)
        .unwrap()
        .into_iter()
        .map(|j| (j.resource.resource_id, j.compliance.unwrap()))
        .collect();
    assert!(live.len() > 10);
    assert_eq!(live, rerun);
    // The CEL twin agrees on every group.
    assert_eq!(verdicts(&engine, "cel-ssh"), live);

    // No compliance change recorded twice; every one notified.
    let filter = Filter {
        types: vec![TypePattern::parse(COMPLIANCE_TYPE).unwrap()],
        ..Filter::default()
    };
    let items = log.read_range(0, usize::MAX, &filter).unwrap().0;
    let mut last: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for ci in &items {
        if ci.status.is_deletion() {
            last.remove(&ci.key.resource_id);
            continue;
        }
        let c = ci.document().unwrap()["configuration"].clone();
        let now = (
            c["complianceType"].as_str().unwrap().to_string(),
            c["annotation"].as_str().map(str::to_string),
        );
        assert_ne!(
            last.get(&ci.key.resource_id),
            Some(&now),
            "{} recorded twice",
            ci.key
        );
        last.insert(ci.key.resource_id.clone(), now);
    }
    let cursor = log.cursor("sink/compliance").unwrap().unwrap();
    let got: std::collections::BTreeSet<u64> =
        received.lock().unwrap().iter().map(|(s, _)| *s).collect();
    for ci in items.iter().filter(|c| c.seq <= cursor) {
        assert!(
            got.contains(&ci.seq),
            "compliance change {} not notified",
            ci.seq
        );
    }
    for (_, m) in received.lock().unwrap().iter() {
        assert_eq!(m["messageType"], "ComplianceChangeNotification");
        assert_eq!(m["recordVersion"], "1.0");
        assert!(m["configRuleARN"]
            .as_str()
            .unwrap()
            .contains(":config-rule/config-rule-"));
    }

    // A back-test over the recorded window returns exactly what the engine recorded live:
    // for every group, the times it became non-compliant (the judged item's capture time)
    // and compliant again.
    let report = backtest(&log, &judge, window_from, window_to).unwrap();
    let mut from_backtest: BTreeMap<String, Vec<(i64, Option<i64>)>> = BTreeMap::new();
    for i in report.intervals.iter().filter(|i| !i.already_at_start) {
        from_backtest
            .entry(i.resource.resource_id.clone())
            .or_default()
            .push((i.non_compliant_from_ms, i.until_ms));
    }
    let mut recorded: BTreeMap<String, Vec<(i64, Option<i64>)>> = BTreeMap::new();
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    let prefix = format!("no-ssh/{SG}/");
    for ci in items
        .iter()
        .filter(|c| c.key.resource_id.starts_with(&prefix))
    {
        if ci.status.is_deletion() {
            // The group was deleted: the back-test ends its stretch at the group's own
            // deletion item.
            let id = ci.key.resource_id[prefix.len()..].to_string();
            if let Some(start) = open.remove(&id) {
                let key =
                    driftlog_model::ResourceKey::new(&ci.key.account, &ci.key.region, SG, &id);
                let gone = log.latest(&key).unwrap().unwrap();
                assert!(gone.status.is_deletion());
                if start != i64::MIN {
                    recorded
                        .entry(id)
                        .or_default()
                        .push((start, Some(gone.capture_time_ms)));
                }
            }
            continue;
        }
        let d = ci.document().unwrap();
        let c = &d["configuration"];
        let id = c["resourceId"].as_str().unwrap().to_string();
        let t = driftlog_model::time::parse_rfc3339_ms(c["orderingTimestamp"].as_str().unwrap())
            .unwrap();
        if t <= window_from {
            if c["complianceType"] == "NON_COMPLIANT" {
                open.insert(id, i64::MIN);
            } else {
                open.remove(&id);
            }
            continue;
        }
        match (
            c["complianceType"].as_str().unwrap(),
            open.get(&id).copied(),
        ) {
            ("NON_COMPLIANT", None) => {
                open.insert(id, t);
            }
            ("NON_COMPLIANT", Some(_)) => {}
            (_, Some(start)) => {
                open.remove(&id);
                if start != i64::MIN {
                    recorded.entry(id).or_default().push((start, Some(t)));
                }
            }
            _ => {}
        }
    }
    for (id, start) in open {
        if start != i64::MIN {
            recorded.entry(id).or_default().push((start, None));
        }
    }
    assert!(
        !recorded.is_empty(),
        "the churn opened groups in the window"
    );
    assert_eq!(from_backtest, recorded);
}
