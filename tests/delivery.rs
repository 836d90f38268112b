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

#[path = "support/cli.rs"]
mod cli_support;
use cli_support::{json_lines, wait, KillOnDrop};

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
    let received = Arc::new(Mutex::new(Received::default()));
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
