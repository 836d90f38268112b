//! Issue 16 through `serve`: the simulated estate's CloudTrail events record each change
//! with who made it while the poll interval is an hour, and every reader shows it: `tail`
//! (text, `--json`, `--by`), `history`, `status`, `stats`, `/v1/changes?by=`, `/metrics`,
//! and the AWS Config API's `relatedEvents`.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use crate::support::cli::{driftlog_within as driftlog, http_get, json_lines, wait};
use crate::support::server;
use serde_json::Value;

#[test]
fn issue_16_sim_events_record_changes_with_who_made_them_between_hourly_polls() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 400
churn = 0.05
tick_interval = "1s"
[recorder]
interval = "1h"
[api]
listen = "127.0.0.1:0"
[delivery]
enabled = false
"#,
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let srv = server::start(&cfg);
    let events = || {
        srv.status()
            .map(|s| s["events"].clone())
            .unwrap_or_default()
    };
    wait("items recorded from events", 60, || {
        events()["recorded"].as_u64().unwrap_or(0) >= 20
    });
    let e = events();
    assert_eq!(e["feed"], "sim");
    assert_eq!(e["poison"], 0);
    assert_eq!(e["unmapped"], 0, "the sim only sends mapped APIs: {e}");
    assert!(e["latencyP99Ms"].as_f64().is_some(), "{e}");

    // Every item after the first discovery came from an event (the poll runs hourly), and
    // says who made it. `tail` follows: it is asked for no more items than are recorded.
    let stats = driftlog(&cfg, &["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    let recorded = stats["items"].as_u64().unwrap().to_string();
    let out = driftlog(
        &cfg,
        &["tail", "--from", "0", "--json", "--limit", &recorded],
    );
    let items = json_lines(&out);
    let first_poll = items
        .iter()
        .filter(|i| i["changedBy"].is_null())
        .map(|i| i["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    let by_events: Vec<&Value> = items
        .iter()
        .filter(|i| i["seq"].as_u64().unwrap() > first_poll)
        .collect();
    assert!(by_events.len() >= 20);
    for i in &by_events {
        let who = &i["changedBy"][0];
        assert!(
            who["principal"].as_str().unwrap().starts_with("arn:aws:"),
            "{i}"
        );
        let ci = &i["configurationItem"];
        assert_eq!(ci["relatedEvents"][0], who["eventId"], "{ci}");
    }

    // --by keeps one principal's changes (server side, as the socket streams them).
    let out = driftlog(
        &cfg,
        &[
            "tail",
            "--from",
            "0",
            "--json",
            "--by",
            "arn:aws:iam::*:user/terraform",
            "--limit",
            "3",
        ],
    );
    for i in json_lines(&out) {
        assert!(i["changedBy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["principal"]
                .as_str()
                .unwrap()
                .ends_with(":user/terraform")));
    }

    // Text: who, or AWS Config's words for what a poll found.
    let one = by_events[0];
    let ci = &one["configurationItem"];
    let resource = format!(
        "{}/{}/{}/{}",
        ci["awsAccountId"].as_str().unwrap(),
        ci["awsRegion"].as_str().unwrap(),
        ci["resourceType"].as_str().unwrap(),
        ci["resourceId"].as_str().unwrap()
    );
    let text = String::from_utf8(
        driftlog(&cfg, &["history", &resource, "--forward", "--limit", "3"]).stdout,
    )
    .unwrap();
    assert!(text.contains(" — by arn:aws:"), "{text}");
    if one["version"] != 1 {
        assert!(text.contains("found by periodic examination"), "{text}");
    }

    let st = srv.status().unwrap();
    assert!(st["events"]["describes"].as_u64().unwrap() >= 1);
    let stats = driftlog(&cfg, &["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert!(
        !stats["principals"].as_array().unwrap().is_empty(),
        "{stats}"
    );

    // /v1/changes?by= and /metrics.
    let body = http_get(
        srv.port,
        "/v1/changes?from=0&limit=5&by=arn:aws:iam::*:role/*",
    );
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let lines: Vec<Value> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object) // not the chunk sizes
        .collect();
    assert!(!lines.is_empty(), "{body}");
    for l in &lines {
        assert!(l["changedBy"][0]["principal"]
            .as_str()
            .unwrap()
            .contains(":role/"));
    }
    let metrics = http_get(srv.port, "/metrics");
    assert!(
        metrics.contains("driftlog_events_total{outcome=\"mapped\"}"),
        "{metrics}"
    );
    srv.stop().unwrap();
}
