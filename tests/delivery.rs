//! Issue 4 end to end through the `driftlog` binary: `serve` with a delivery channel on a
//! local directory and a signed webhook sink whose receiver runs in this test; `driftlog
//! sinks` and `driftlog deliver snapshot` against it; `kill -9` and a restart in the middle,
//! after which the webhook has every security-group change, in order, none missing.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_log::{Log, LogOptions};
use driftlog_model::{Filter, TypePattern};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::cli as cli_support;
use cli_support::{api_port, interrupt, json_lines, wait, KillOnDrop};

const SECRET: &str = "hook-secret";
const SG: &str = "AWS::EC2::SecurityGroup";

#[derive(Default)]
struct Received {
    seqs: Vec<u64>,
    types: Vec<String>,
    bad_signatures: usize,
}

async fn hook(
    axum::extract::State(r): axum::extract::State<Arc<Mutex<Received>>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut r = r.lock().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if driftlog_deliver::verify(
        SECRET.as_bytes(),
        h("X-Driftlog-Signature"),
        &body,
        now,
        300,
    )
    .is_err()
    {
        r.bad_signatures += 1;
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    r.types.push(
        v["configurationItem"]["resourceType"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    );
    r.seqs.push(h("X-Driftlog-Seq").parse().unwrap());
    axum::http::StatusCode::OK
}

/// The webhook receiver, on loopback in `rt`: its URL and what it received.
fn receiver(rt: &tokio::runtime::Runtime) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn driftlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftlog"))
}

fn serve(cfg: &std::path::Path) -> KillOnDrop {
    KillOnDrop(
        driftlog()
            .args(["serve", "--quiet", "--config"])
            .arg(cfg)
            .env("DRIFTLOG_HOOK_SECRET", SECRET)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn issue_4_serve_delivers_files_and_a_signed_webhook_through_kill_9() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, received) = receiver(&rt);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 300
churn = 0.05
tick_interval = "1s"
[recorder]
interval = "1s"
[delivery]
history_period = "2s"
snapshot_frequency = "off"
s3_key_prefix = "audit"
[[sinks]]
name = "security"
kind = "webhook"
url = "{url}"
secret_env = "DRIFTLOG_HOOK_SECRET"
types = ["{SG}"]
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
    let mut server = serve(&cfg);
    wait("first changes at the webhook", 60, || {
        received.lock().unwrap().seqs.len() > 10
    });
    let sinks = &json_lines(&q(&["sinks", "--json"]))[0];
    assert_eq!(sinks["running"], true);
    let s = &sinks["sinks"][0];
    assert_eq!(s["name"], "security");
    assert_eq!(s["kind"], "webhook");
    assert_eq!(s["target"], url.as_str());
    assert!(s["cursor"].as_u64().unwrap() > 0);
    assert!(s["lag"].is_u64());
    let table = String::from_utf8(q(&["sinks"]).stdout).unwrap();
    assert!(
        table.contains("security") && table.contains("webhook"),
        "{table}"
    );

    // An on-demand snapshot, on disk under AWS Config's key.
    let snap = &json_lines(&q(&["deliver", "snapshot"]))[0];
    let id = snap["configSnapshotId"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    for f in snap["files"].as_array().unwrap() {
        let key = f["s3ObjectKey"].as_str().unwrap();
        assert!(key.starts_with("audit/AWSLogs/") && key.contains("/ConfigSnapshot/"));
        assert!(key.ends_with(&format!("_{id}.json.gz")));
        assert!(data.join("delivery").join(key).exists(), "{key}");
    }

    // kill -9 in the middle of the stream, then a restart: the sink resumes from its
    // durable cursor.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = server.0.kill();
    let _ = server.0.wait();
    let offline = &json_lines(&q(&["sinks", "--json"]))[0];
    assert_eq!(offline["running"], false);
    assert_eq!(offline["sinks"][0]["state"], "stopped");
    server = serve(&cfg);
    std::thread::sleep(Duration::from_secs(4));
    let done = &json_lines(&q(&["sinks", "--json"]))[0];
    let history_through = done["deliveryChannel"]["historyThroughSeq"]
        .as_u64()
        .unwrap();
    assert!(history_through > 0, "history delivered: {done}");
    let _ = server.0.kill();
    let _ = server.0.wait();

    // Everything up to the sink's cursor arrived, in order, signed, security groups only.
    let log = Log::open(data.join("store"), LogOptions::default()).unwrap();
    let cursor = log.cursor("sink/security").unwrap().unwrap();
    let expected: Vec<u64> = log
        .read_range(
            0,
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
        .filter(|s| *s <= cursor)
        .collect();
    let r = received.lock().unwrap();
    let mut last = 0;
    let kept: Vec<u64> = r
        .seqs
        .iter()
        .copied()
        .filter(|s| {
            let keep = *s > last;
            last = last.max(*s);
            keep
        })
        .filter(|s| *s <= cursor)
        .collect();
    assert!(expected.len() > 10);
    assert_eq!(kept, expected, "every security-group change, in order");
    assert_eq!(r.bad_signatures, 0);
    assert!(r.types.iter().all(|t| t == SG));
    let history = std::fs::read_dir(data.join("delivery/audit/AWSLogs"))
        .unwrap()
        .count();
    assert!(history > 0);
}

use crate::support::disk;

/// The running server's `status --json`, once its socket answers: before that, a query
/// reads the store directly — and may find it locked by the server that is starting.
fn live(q: &dyn Fn(&[&str]) -> std::process::Output) -> Option<Value> {
    let o = q(&["status", "--json"]);
    o.status
        .success()
        .then(|| json_lines(&o).remove(0))
        .filter(|v| v["running"] == true)
}

/// One AWS Config API call with authentication off; the answer's JSON body.
fn config_api(port: u16, operation: &str, body: &str) -> Value {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: StarlingDoveService.{operation}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    let body = s.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn serve_logging(cfg: &std::path::Path, stderr: &std::path::Path) -> KillOnDrop {
    KillOnDrop(
        driftlog()
            .args(["serve", "--config"])
            .arg(cfg)
            .env("DRIFTLOG_HOOK_SECRET", SECRET)
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// When the disk fills, in the full-disk scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Moment {
    /// The first discovery does not fit.
    Discovery,
    /// After discovery, while polls record the churn.
    Poll,
    /// Recording paused, a rule is added: its definition and first results are written.
    RuleEvaluation,
    /// Recording paused, a snapshot is delivered to a directory on the full disk.
    Delivery,
}

/// Issue 13.1–3: the data dir's disk fills at `moment` while `serve` records, judges a
/// rule, delivers history files and feeds a webhook. Recording stops — and says so in
/// `status`, `/metrics` and DescribeConfigurationRecorderStatus — while the server keeps
/// answering; Ctrl-C then ends it with the cause said once. Restarted with space, it
/// records again, and the webhook has every item of the log once, in order: a batch that
/// failed (mid-batch, for a discovery too big for the disk) and may or may not have reached
/// the disk cannot be told from any other.
fn full_disk_at(moment: Moment) {
    let small = moment == Moment::Discovery;
    let Some(disk) = disk::SmallDisk::mount(if small { 8 } else { 48 }) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, received) = receiver(&rt);

    let dir = tempfile::tempdir().unwrap();
    let data = disk.path().join("data");
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = {}
churn = 0.05
tick_interval = "1s"
[recorder]
interval = "1s"
[api]
listen = "127.0.0.1:0"
[delivery]
history_period = "2s"
snapshot_frequency = "off"
[[sinks]]
name = "everything"
kind = "webhook"
url = "{url}"
secret_env = "DRIFTLOG_HOOK_SECRET"
start = "beginning"
"#,
            data.display(),
            if small { 30_000 } else { 1500 }
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
    let ok = |args: &[&str]| {
        let o = q(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let status = || json_lines(&q(&["status", "--json"])).remove(0);

    let phase = |what: &str| eprintln!("[{moment:?}] {what}");
    let mut server = serve_logging(&cfg, &dir.path().join("serve-1.log"));
    if !small {
        wait("first discovery", 120, || {
            live(&q).is_some_and(|v| v["resources"].as_u64() > Some(0))
        });
        ok(&[
            "rules",
            "add",
            "no-ssh",
            "--managed",
            "INCOMING_SSH_DISABLED",
            "--type",
            "AWS::EC2::SecurityGroup",
        ]);
        wait("compliance results recorded", 60, || {
            String::from_utf8_lossy(
                &q(&[
                    "at",
                    "now",
                    "--type",
                    "AWS::Config::ResourceCompliance",
                    "--json",
                ])
                .stdout,
            )
            .contains("ResourceCompliance")
        });
        let healthy = config_api(
            api_port(&status()),
            "DescribeConfigurationRecorderStatus",
            "{}",
        );
        assert_eq!(
            healthy["ConfigurationRecordersStatus"][0]["recording"],
            true
        );
    }
    phase("filling the disk");
    match moment {
        Moment::Discovery => {}
        Moment::Poll => disk.fill(),
        Moment::RuleEvaluation => {
            ok(&["stop"]);
            disk.fill();
            // Rules over every resource: each is refused or judged, and their definitions
            // and results meet the full disk (sled first fills the space its files hold).
            for i in 0..20 {
                let _ = q(&[
                    "rules",
                    "add",
                    &format!("tagged-{i}"),
                    "--managed",
                    "REQUIRED_TAGS",
                    "--param",
                    &format!("tag1Key=owner-{i}"),
                ]);
                if live(&q).is_some_and(|v| v["recordingFailure"].is_object()) {
                    break;
                }
            }
        }
        Moment::Delivery => {
            ok(&["stop"]);
            // The store may release its reserve when the disk fills (its next write stops
            // short of it), which makes room for a snapshot: fill again until none fits.
            let mut refused = None;
            for _ in 0..5 {
                disk.fill();
                let snap = q(&["deliver", "snapshot"]);
                if !snap.status.success() {
                    refused = Some(snap);
                    break;
                }
            }
            let snap = refused.expect("a snapshot cannot fit on a full disk");
            let err = String::from_utf8_lossy(&snap.stderr);
            assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
            // Recording again: its first commit meets the full disk — or, if the store
            // already refused the delivery's bookkeeping, `start` itself says so.
            let start = q(&["start"]);
            if !start.status.success() {
                let err = String::from_utf8_lossy(&start.stderr);
                assert!(err.contains("No space left on device"), "{err}");
            }
        }
    }
    phase("waiting for the failure to be reported");
    wait("recording reported stopped", 180, || {
        live(&q).is_some_and(|v| v["recordingFailure"]["code"] == "StorageFull")
    });
    let st = status();
    let failed_at = st["watermark"].as_u64().unwrap();
    assert_eq!(st["recording"], false, "{st}");
    assert!(
        st["recordingFailure"]["message"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{st}"
    );
    let text = String::from_utf8(q(&["status"]).stdout).unwrap();
    assert!(
        text.contains("recording: STOPPED")
            && text.contains("StorageFull")
            && text.contains("free space"),
        "{text}"
    );
    let metrics = cli_support::http_get(api_port(&status()), "/metrics");
    assert!(metrics.contains("driftlog_recorder_up 0"), "{metrics}");
    assert!(
        metrics.contains("driftlog_log_writer_poisoned 1"),
        "{metrics}"
    );
    let api = config_api(
        api_port(&status()),
        "DescribeConfigurationRecorderStatus",
        "{}",
    );
    let s = &api["ConfigurationRecordersStatus"][0];
    assert_eq!(s["recording"], false, "{api}");
    assert_eq!(s["lastStatus"], "Failure", "{api}");
    assert_eq!(s["lastErrorCode"], "StorageFull", "{api}");
    assert!(
        s["lastErrorMessage"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{api}"
    );

    phase("checking the server still serves");
    // Still serving, well after the failure: reads, the API, the query socket.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "serve exited on a full disk"
    );
    let read = q(&["at", "now", "--json"]);
    assert!(
        read.status.success(),
        "reads go on: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let again = config_api(api_port(&status()), "DescribeConfigurationRecorders", "{}");
    assert!(again["ConfigurationRecorders"].is_array(), "{again}");

    phase("Ctrl-C");
    // Ctrl-C: a non-zero exit saying why, the cause once.
    let exit = interrupt(&mut server, 60);
    assert!(!exit.success());
    let log1 = std::fs::read_to_string(dir.path().join("serve-1.log")).unwrap();
    let last = log1
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(last.contains("recording had stopped"), "{log1}");
    assert_eq!(last.matches("No space left on device").count(), 1, "{last}");

    phase("restarting with space");
    // With space again, recording resumes where the log ends.
    disk.free();
    if small {
        disk.grow(512);
    }
    let mut server = serve_logging(&cfg, &dir.path().join("serve-2.log"));
    if matches!(moment, Moment::RuleEvaluation | Moment::Delivery) {
        wait("the restarted server answers", 120, || live(&q).is_some());
        ok(&["start"]);
    }
    wait("recording again", 300, || {
        live(&q).is_some_and(|v| v["recording"] == true && v["resources"].as_u64() > Some(0))
    });
    let resumed_at = status()["watermark"].as_u64().unwrap();
    wait("new items recorded and delivered", 300, || {
        let w = status()["watermark"].as_u64().unwrap();
        w > resumed_at + 20
            && received.lock().unwrap().seqs.iter().max() >= Some(&(resumed_at + 20))
    });
    let exit = interrupt(&mut server, 60);
    assert!(
        exit.success(),
        "{}",
        std::fs::read_to_string(dir.path().join("serve-2.log")).unwrap()
    );

    // Every item of the log, up to the sink's cursor. Delivery is at-least-once: a batch
    // the webhook acknowledged just as the store refused the sink's cursor is sent again
    // after the restart — only such a batch, from before the failure. Everything the failed
    // run could not publish (the failed batch, whether or not it reached the disk) and
    // everything after arrives exactly once, in log order.
    let log = Log::open(data.join("store"), LogOptions::default()).unwrap();
    let cursor = log.cursor("sink/everything").unwrap().unwrap();
    assert!(cursor > resumed_at + 20);
    let r = received.lock().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut in_order = Vec::new();
    for &s in r.seqs.iter().filter(|s| **s <= cursor) {
        if seen.insert(s) {
            in_order.push(s);
        } else {
            assert!(
                s <= failed_at,
                "seq {s} (after the failure at {failed_at}) delivered twice"
            );
        }
    }
    // Said briefly: the first place the deliveries differ from 1..=cursor.
    let first_gap = in_order
        .iter()
        .enumerate()
        .find(|(i, s)| **s != *i as u64 + 1)
        .map(|(i, s)| (i as u64 + 1, *s));
    assert_eq!(
        (first_gap, in_order.len() as u64),
        (None, cursor),
        "every item once, in log order (first gap: expected seq, delivered seq); failed at {failed_at}, resumed at {resumed_at}"
    );
    assert_eq!(r.bad_signatures, 0);
}

#[test]
fn issue_13_disk_full_during_discovery_stops_recording_not_the_server() {
    full_disk_at(Moment::Discovery);
}

#[test]
fn issue_13_disk_full_during_a_poll_stops_recording_not_the_server() {
    full_disk_at(Moment::Poll);
}

#[test]
fn issue_13_disk_full_during_rule_evaluation_stops_recording_not_the_server() {
    full_disk_at(Moment::RuleEvaluation);
}

#[test]
fn issue_13_disk_full_during_delivery_stops_recording_not_the_server() {
    full_disk_at(Moment::Delivery);
}

/// Issue 13.7 through the API: PutConfigurationRecorder's `recordingMode` DAILY reaches
/// the running recorder. Every resource was recorded minutes ago, so from then on the
/// churn writes no update items (only discoveries, which are never held), and `driftlog
/// stats` shows what DAILY saved.
#[test]
fn issue_13_put_recorder_daily_is_applied_to_the_running_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[source.sim]\nresources = 400\nchurn = 0.1\ntick_interval = \"500ms\"\n[recorder]\ninterval = \"500ms\"\n[api]\nlisten = \"127.0.0.1:0\"\n[delivery]\nenabled = false\n",
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
    let status = || json_lines(&q(&["status", "--json"])).remove(0);
    // In-process: nothing here needs a process of its own.
    let server = crate::support::server::start(&cfg);
    wait("first discovery and some updates", 120, || {
        live(&q).is_some_and(|v| v["watermark"].as_u64() > Some(450))
    });
    let port = api_port(&status());
    let put = config_api(
        port,
        "PutConfigurationRecorder",
        r#"{"ConfigurationRecorder": {"name": "default", "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingMode": {"recordingFrequency": "DAILY"}}}"#,
    );
    assert!(put.as_object().is_some_and(|o| o.is_empty()), "{put}");
    let echo = config_api(port, "DescribeConfigurationRecorders", "{}");
    assert_eq!(
        echo["ConfigurationRecorders"][0]["recordingMode"]["recordingFrequency"], "DAILY",
        "{echo}"
    );
    // The API shows DAILY on the items of a type recorded daily, with their delivery time.
    let one = json_lines(&q(&[
        "at",
        "now",
        "--type",
        "AWS::EC2::SecurityGroup",
        "--items",
        "--json",
    ]))
    .remove(0);
    let one = match &one["configurationItem"] {
        Value::Object(_) => one["configurationItem"].clone(),
        _ => one,
    };
    let history = config_api(
        port,
        "GetResourceConfigHistory",
        &serde_json::json!({"resourceType": one["resourceType"], "resourceId": one["resourceId"]})
            .to_string(),
    );
    let ci = &history["configurationItems"][0];
    assert_eq!(ci["recordingFrequency"], "DAILY", "{history}");
    assert!(ci["configurationItemDeliveryTime"].is_number(), "{history}");
    // A commit in flight may still have been diffed under CONTINUOUS: start counting after it.
    std::thread::sleep(Duration::from_secs(2));
    let mark = status()["watermark"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let stats = json_lines(&q(&["stats", "--json"])).remove(0);
    let saved: u64 = stats["dailySavedSinceStart"]
        .as_object()
        .unwrap_or_else(|| panic!("{stats}"))
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(saved > 0, "{stats}");
    let text = String::from_utf8(q(&["stats"]).stdout).unwrap();
    assert!(text.contains("items DAILY recording saved"), "{text}");
    let stopped = server.stop();
    assert!(stopped.is_ok(), "serve stops cleanly: {stopped:?}");
    let log = Log::open(data.join("store"), LogOptions::default()).unwrap();
    let (items, _) = log
        .read_range(mark, usize::MAX, &Filter::default())
        .unwrap();
    let updates: Vec<_> = items
        .iter()
        .filter(|i| i.status == driftlog_model::Status::Ok || i.status.is_deletion())
        .map(|i| i.key.to_string())
        .collect();
    assert!(
        updates.is_empty(),
        "updates or deletions recorded under DAILY: {updates:?}"
    );
}
