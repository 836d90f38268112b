//! Issue 17: one aggregator over NATS JetStream for three recorders (simulated estates of
//! distinct accounts and regions), all real: Debian's nats-server with JetStream on file
//! storage, the recorders in-process, the aggregator a `driftlog serve --aggregator`
//! process killed with SIGKILL mid-ingest. Every item of every recorder ends up in the
//! aggregate exactly once; forged and malformed messages are refused and never applied.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use crate::support::cli::{
    driftlog_within as driftlog, json_lines, running_status, serve_process, wait,
};
use crate::support::moto::{config_api_calls, venv_bin};
use crate::support::nats::nats;
use crate::support::server;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Calls through boto3 against the API on `port` as the aggregator's account (its key, where
/// the API checks signatures).
fn boto(port: u16, calls: &Value) -> Vec<Value> {
    boto_as(port, ("AKIDAGGREGATOR", "aggregator-secret"), calls)
}

/// Calls through boto3 signed with `key`.
fn boto_as(port: u16, key: (&str, &str), calls: &Value) -> Vec<Value> {
    config_api_calls(&format!("http://127.0.0.1:{port}"), key, "eu-west-1", calls)
}

/// The aggregator API's keys: the aggregator's account's, and one per source account
/// (which authorize the aggregator).
const API_KEYS: &str = r#"auth = "sigv4"
access_keys = [
  { access_key_id = "AKIDAGGREGATOR", secret_access_key = "aggregator-secret", account = "" },
  { access_key_id = "AKIDSOURCE2", secret_access_key = "source2-secret", account = "111122220002" },
  { access_key_id = "AKIDSOURCE3", secret_access_key = "source3-secret", account = "111122220003" },
]"#;

fn ok(r: &Value) -> &Value {
    assert!(r.get("ok").is_some(), "expected success, got {r}");
    &r["ok"]
}

const ORG: [&str; 3] = ["111122220001", "111122220002", "111122220003"];
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

fn items(cfg: &Path, watermark: u64) -> BTreeMap<(String, u64), (String, Value)> {
    if watermark == 0 {
        return BTreeMap::new();
    }
    let out = driftlog(
        cfg,
        &[
            "tail",
            "--from",
            "0",
            "--json",
            "--limit",
            &watermark.to_string(),
        ],
    );
    json_lines(&out)
        .into_iter()
        .map(|i| {
            let ci = &i["configurationItem"];
            let key = format!(
                "{}/{}/{}/{}",
                ci["awsAccountId"].as_str().unwrap(),
                ci["awsRegion"].as_str().unwrap(),
                ci["resourceType"].as_str().unwrap(),
                ci["resourceId"].as_str().unwrap()
            );
            (
                (key, i["version"].as_u64().unwrap()),
                (
                    ci["configurationItemStatus"].as_str().unwrap().to_string(),
                    ci["configuration"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn issue_17_three_recorders_one_aggregator_every_item_once_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats_server) = nats(&dir.path().join("nats")) else {
        return;
    };
    let url = nats_server.url.clone();
    let recorder_cfg = |i: usize, first: u64, region: &str| {
        let path = dir.path().join(format!("rec{i}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"data_dir = "{}"
[source.sim]
resources = 4000
accounts = 1
first_account = {first}
regions = ["{region}"]
churn = 0.02
tick_interval = "1s"
[recorder]
id = "rec-{i}"
interval = "1s"
[api]
listen = "off"
[delivery]
enabled = false
[[sinks]]
name = "org"
kind = "nats"
url = "{url}"
format = "item"
heartbeat = "1s"
"#,
                dir.path().join(format!("rec{i}")).display()
            ),
        )
        .unwrap();
        path
    };
    let cfgs = [
        recorder_cfg(0, 1, "eu-west-1"),
        recorder_cfg(1, 2, "us-east-1"),
        recorder_cfg(2, 3, "ap-southeast-2"),
    ];
    let recorders: Vec<server::InProcess> = cfgs.iter().map(|c| server::start(c)).collect();

    let agg_cfg = dir.path().join("agg.toml");
    std::fs::write(
        &agg_cfg,
        format!(
            r#"data_dir = "{}"
[aggregator]
enabled = true
url = "{url}"
batch = 200
outdated_after = "3s"
account = "111122220001"
region = "eu-west-1"
[api]
listen = "127.0.0.1:0"
{API_KEYS}
[delivery]
enabled = false
"#,
            dir.path().join("agg").display()
        ),
    )
    .unwrap();
    let (mut agg, _port) = serve_process(&agg_cfg);
    let applied = |st: &Value| -> u64 { st["aggregator"]["applied"].as_u64().unwrap_or(0) };
    wait(
        "the aggregator applies items of all three recorders",
        120,
        || {
            running_status(&agg_cfg).is_some_and(|st| {
                st["aggregator"]["sources"].as_array().is_some_and(|s| {
                    s.iter()
                        .filter(|s| s["appliedSeq"].as_u64() > Some(0))
                        .count()
                        == 3
                })
            })
        },
    );
    // The AWS Config aggregator API, with boto3: an aggregator over the three accounts,
    // the state of its sources from the recorders' heartbeats.
    let port = crate::support::cli::api_port(&running_status(&agg_cfg).unwrap());
    let put = boto(
        port,
        &json!([
            {"op": "PutConfigurationAggregator", "params": {
                "ConfigurationAggregatorName": "org",
                "AccountAggregationSources": [{"AccountIds": ORG, "AllAwsRegions": true}]}},
            {"op": "PutConfigurationAggregator", "params": {
                "ConfigurationAggregatorName": "by-region",
                "AccountAggregationSources": [{"AccountIds": ORG, "AwsRegions": REGIONS}]}},
            {"op": "PutConfigurationAggregator", "params": {
                "ConfigurationAggregatorName": "bad",
                "AccountAggregationSources": [{"AccountIds": ORG, "AllAwsRegions": true, "AwsRegions": REGIONS}]}},
            {"op": "DescribeConfigurationAggregators", "params": {"ConfigurationAggregatorNames": ["nope"]}},
        ]),
    );
    let arn = ok(&put[0])["ConfigurationAggregator"]["ConfigurationAggregatorArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:config:eu-west-1:")
            && arn.contains(":config-aggregator/config-aggregator-"),
        "{arn}"
    );
    assert_eq!(
        put[2]["error"]["code"], "InvalidParameterValueException",
        "{}",
        put[2]
    );
    assert_eq!(
        put[3]["error"]["code"], "NoSuchConfigurationAggregatorException",
        "{}",
        put[3]
    );
    // Aggregation authorizations, as in AWS: the other accounts' resources are left out
    // (FAILED, saying why) until each authorizes the aggregator's account and region.
    let status = boto(
        port,
        &json!([{"op": "DescribeConfigurationAggregatorSourcesStatus",
            "params": {"ConfigurationAggregatorName": "by-region", "UpdateStatus": ["FAILED"]}}]),
    );
    let failed = ok(&status[0])["AggregatedSourceStatusList"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(failed.len(), 6, "{failed:?}");
    assert!(failed.iter().all(
        |r| r["LastErrorCode"] == "AggregationAuthorizationNotFound" && r["SourceId"] != ORG[0]
    ));
    let counted = boto(
        port,
        &json!([{"op": "GetAggregateDiscoveredResourceCounts", "params": {
            "ConfigurationAggregatorName": "org", "GroupByKey": "ACCOUNT_ID"}}]),
    );
    let groups = ok(&counted[0])["GroupedResourceCounts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        groups.iter().all(|g| g["GroupName"] == ORG[0]),
        "{groups:?}"
    );
    let source2 = ("AKIDSOURCE2", "source2-secret");
    let source3 = ("AKIDSOURCE3", "source3-secret");
    let pending = boto_as(
        port,
        source2,
        &json!([
            {"op": "DescribePendingAggregationRequests", "params": {}},
            {"op": "PutAggregationAuthorization", "params": {
                "AuthorizedAccountId": ORG[0], "AuthorizedAwsRegion": "eu-west-1"}},
            {"op": "DescribeAggregationAuthorizations", "params": {}},
            {"op": "DescribePendingAggregationRequests", "params": {}},
            {"op": "PutAggregationAuthorization", "params": {
                "AuthorizedAccountId": "12", "AuthorizedAwsRegion": "eu-west-1"}},
        ]),
    );
    assert_eq!(
        ok(&pending[0])["PendingAggregationRequests"],
        json!([{"RequesterAccountId": ORG[0], "RequesterAwsRegion": "eu-west-1"}])
    );
    let auth = &ok(&pending[1])["AggregationAuthorization"];
    assert_eq!(
        auth["AggregationAuthorizationArn"],
        format!(
            "arn:aws:config:eu-west-1:{}:aggregation-authorization/{}/eu-west-1",
            ORG[1], ORG[0]
        )
    );
    assert_eq!(
        ok(&pending[2])["AggregationAuthorizations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(ok(&pending[3])["PendingAggregationRequests"], json!([]));
    assert_eq!(
        pending[4]["error"]["code"], "ValidationException",
        "{}",
        pending[4]
    );
    // The third account declines first (its request is no longer pending), then authorizes.
    let r = boto_as(
        port,
        source3,
        &json!([
            {"op": "DeletePendingAggregationRequest", "params": {
                "RequesterAccountId": ORG[0], "RequesterAwsRegion": "eu-west-1"}},
            {"op": "DescribePendingAggregationRequests", "params": {}},
            {"op": "PutAggregationAuthorization", "params": {
                "AuthorizedAccountId": ORG[0], "AuthorizedAwsRegion": "eu-west-1"}},
        ]),
    );
    assert_eq!(ok(&r[1])["PendingAggregationRequests"], json!([]));
    ok(&r[2]);
    wait("every recorder's account and region SUCCEEDED", 60, || {
        let r = boto(
            port,
            &json!([{"op": "DescribeConfigurationAggregatorSourcesStatus",
            "params": {"ConfigurationAggregatorName": "by-region"}}]),
        );
        let rows = ok(&r[0])["AggregatedSourceStatusList"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rows.len(), 9, "{rows:?}");
        (0..3).all(|i| {
            rows.iter().any(|row| {
                row["SourceId"] == ORG[i]
                    && row["AwsRegion"] == REGIONS[i]
                    && row["LastUpdateStatus"] == "SUCCEEDED"
                    && row["SourceType"] == "ACCOUNT"
                    && row["LastUpdateTime"].is_number()
            })
        }) && rows
            .iter()
            .filter(|row| row["LastUpdateStatus"] == "OUTDATED")
            .count()
            == 6
    });

    // SIGKILL mid-ingest (the recorders keep changing), then a restart.
    let before = applied(&running_status(&agg_cfg).unwrap());
    assert!(before > 0);
    agg.0.kill().unwrap();
    agg.0.wait().unwrap();
    let (_agg, port) = serve_process(&agg_cfg);

    // nats-server restarted mid-stream (its file store kept): recorders and the aggregator
    // reconnect and catch up.
    wait("the restarted aggregator applies again", 60, || {
        running_status(&agg_cfg).is_some_and(|st| applied(&st) > 0)
    });
    nats_server.restart();

    // Forged and malformed messages: refused, counted, never applied.
    let forged = forge(&url);

    // Stop the recorders' changes: each restarts not recording, so its sink publishes
    // what it had not yet and nothing more is recorded; the aggregate then catches up.
    let mut watermarks = Vec::new();
    let mut idle = Vec::new();
    for (r, c) in recorders.into_iter().zip(&cfgs) {
        r.stop().unwrap();
        let text = std::fs::read_to_string(c).unwrap();
        std::fs::write(c, text.replace("[api]", "start = false\n[api]")).unwrap();
        let r = server::start(c);
        watermarks.push(r.status().unwrap()["watermark"].as_u64().unwrap());
        idle.push(r);
    }
    wait("the aggregate catches up with every recorder", 180, || {
        let st = running_status(&agg_cfg).unwrap();
        let sources = st["aggregator"]["sources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (0..3).all(|i| {
            sources.iter().any(|s| {
                s["recorder"] == format!("rec-{i}")
                    && s["appliedSeq"].as_u64() == Some(watermarks[i])
            })
        })
    });
    let st = running_status(&agg_cfg).unwrap();
    let a = &st["aggregator"];
    eprintln!("recorders {watermarks:?}, killed at {before} applied; after the restart: {a}");
    assert_eq!(a["gaps"], 0, "{a}");
    for s in a["sources"].as_array().unwrap() {
        assert!(s["gap"].is_null(), "{s}");
    }
    let refused: u64 = a["refused"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(refused >= forged, "{a}");

    // Every item once: the aggregate holds exactly the union of the recorders' items.
    let mut union = BTreeMap::new();
    let mut resources = 0;
    for ((c, w), r) in cfgs.iter().zip(&watermarks).zip(&idle) {
        let mine = items(c, *w);
        assert_eq!(
            mine.len() as u64,
            *w,
            "a recorder's items are numbered densely"
        );
        union.extend(mine);
        resources += r.status().unwrap()["resources"].as_u64().unwrap();
    }
    let total: u64 = watermarks.iter().sum();
    assert_eq!(
        st["watermark"].as_u64().unwrap(),
        total,
        "one aggregate item per recorder item"
    );
    let aggregate = items(&agg_cfg, total);
    assert_eq!(aggregate.len(), union.len());
    for (k, v) in &union {
        assert_eq!(aggregate.get(k), Some(v), "{k:?}");
    }
    assert_eq!(st["resources"].as_u64().unwrap(), resources);

    let metrics = crate::support::cli::http_get(port, "/metrics");
    for want in [
        "driftlog_aggregator_messages_total{outcome=\"applied\"}",
        "driftlog_aggregator_refused_total{reason=\"subject-mismatch\"} 1",
        "driftlog_aggregator_source_behind{recorder=\"rec-0\"} 0",
    ] {
        assert!(metrics.contains(want), "{want} in {metrics}");
    }

    // The aggregate through the AWS Config API (boto3), equal to the recorders' own.
    let mut by_account = BTreeMap::new();
    for (i, r) in idle.iter().enumerate() {
        by_account.insert(
            ORG[i].to_string(),
            r.status().unwrap()["resources"].as_u64().unwrap(),
        );
    }
    let sg = "AWS::EC2::SecurityGroup";
    let r = boto(
        port,
        &json!([
            {"op": "GetAggregateDiscoveredResourceCounts", "params": {
                "ConfigurationAggregatorName": "org", "GroupByKey": "ACCOUNT_ID"}},
            {"op": "GetAggregateDiscoveredResourceCounts", "params": {
                "ConfigurationAggregatorName": "org", "Filters": {"ResourceType": sg}}},
            {"op": "ListAggregateDiscoveredResources", "paginate": "ResourceIdentifiers", "params": {
                "ConfigurationAggregatorName": "org", "ResourceType": sg}},
            {"op": "DescribeConfigurationAggregators", "params": {}},
        ]),
    );
    let counts = ok(&r[0]);
    assert_eq!(
        counts["TotalDiscoveredResources"].as_u64().unwrap(),
        resources,
        "{counts}"
    );
    for g in counts["GroupedResourceCounts"].as_array().unwrap() {
        assert_eq!(
            g["ResourceCount"].as_u64(),
            by_account.get(g["GroupName"].as_str().unwrap()).copied(),
            "{g}"
        );
    }
    assert_eq!(counts["GroupedResourceCounts"].as_array().unwrap().len(), 3);
    let sgs = ok(&r[2])["items"].as_array().unwrap().clone();
    assert_eq!(
        sgs.len() as u64,
        ok(&r[1])["TotalDiscoveredResources"].as_u64().unwrap()
    );
    assert!(ok(&r[2])["pages"].as_u64().unwrap() > 1, "paged by 100");
    assert_eq!(
        ok(&r[3])["ConfigurationAggregators"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let ids: Vec<Value> = sgs[..2]
        .iter()
        .map(|s| {
            json!({"SourceAccountId": s["SourceAccountId"], "SourceRegion": s["SourceRegion"],
                   "ResourceId": s["ResourceId"], "ResourceType": sg})
        })
        .collect();
    let r = boto(
        port,
        &json!([
            {"op": "GetAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "org", "ResourceIdentifier": ids[0]}},
            {"op": "BatchGetAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "org", "ResourceIdentifiers": ids}},
            {"op": "GetAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "org", "ResourceIdentifier": {
                    "SourceAccountId": ORG[0], "SourceRegion": "eu-west-1",
                    "ResourceId": "sg-does-not-exist", "ResourceType": sg}}},
            {"op": "PutConfigurationAggregator", "params": {
                "ConfigurationAggregatorName": "tmp",
                "AccountAggregationSources": [{"AccountIds": [ORG[0]], "AwsRegions": ["eu-west-1"]}]}},
            {"op": "DeleteConfigurationAggregator", "params": {"ConfigurationAggregatorName": "tmp"}},
            {"op": "DeleteConfigurationAggregator", "params": {"ConfigurationAggregatorName": "tmp"}},
        ]),
    );
    let ci = &ok(&r[0])["ConfigurationItem"];
    assert_eq!(ci["resourceId"], ids[0]["ResourceId"]);
    assert_eq!(ci["accountId"], ids[0]["SourceAccountId"]);
    assert!(
        ci["configuration"].as_str().unwrap().contains("groupId"),
        "{ci}"
    );
    assert_eq!(
        ok(&r[1])["BaseConfigurationItems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        r[2]["error"]["code"], "ResourceNotDiscoveredException",
        "{}",
        r[2]
    );
    assert!(r[4].get("ok").is_some(), "{}", r[4]);
    assert_eq!(
        r[5]["error"]["code"], "NoSuchConfigurationAggregatorException",
        "{}",
        r[5]
    );
    // The aws CLI, unchanged.
    let aws = venv_bin("aws").expect("the aws CLI in the virtualenv");
    let out = Command::new(aws)
        .args([
            "configservice",
            "describe-configuration-aggregators",
            "--endpoint-url",
        ])
        .arg(format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDAGGREGATOR")
        .env("AWS_SECRET_ACCESS_KEY", "aggregator-secret")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["ConfigurationAggregators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ConfigurationAggregatorName"] == "org"),
        "{v}"
    );

    // Recorders gone: after outdated_after, their accounts are OUTDATED.
    drop(idle);
    wait("sources OUTDATED once the recorders stop", 30, || {
        let r = boto(
            port,
            &json!([{"op": "DescribeConfigurationAggregatorSourcesStatus",
            "params": {"ConfigurationAggregatorName": "by-region", "UpdateStatus": ["OUTDATED"]}}]),
        );
        ok(&r[0])["AggregatedSourceStatusList"]
            .as_array()
            .unwrap()
            .len()
            == 9
    });
}

/// Publishes what no recorder would: an item under another account's subject, bad JSON,
/// no recorder header. Returns how many.
fn forge(url: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let item = r#"{"configurationItem":{"ARN":null,"availabilityZone":null,"awsAccountId":"111122220001","awsRegion":"eu-west-1","configuration":{"vpcId":"vpc-forged"},"configurationItemCaptureTime":"2024-05-01T10:00:00.000Z","configurationItemStatus":"ResourceDiscovered","configurationItemVersion":"1.3","configurationStateId":1,"configurationStateMd5Hash":"","relatedEvents":[],"relationships":[],"resourceCreationTime":null,"resourceId":"vpc-forged","resourceName":null,"resourceType":"AWS::EC2::VPC","supplementaryConfiguration":{},"tags":{}},"configurationItemDiff":{"changedProperties":{},"changeType":"CREATE"},"seq":1,"version":1}"#;
        let send = |subject: &'static str, body: &'static str, headers: bool| {
            let js = js.clone();
            async move {
                let mut h = async_nats::HeaderMap::new();
                if headers {
                    h.insert("Driftlog-Recorder", "forger");
                    h.insert("Driftlog-Log", "x");
                    h.insert("X-Driftlog-Seq", "1");
                }
                js.publish_with_headers(subject, h, body.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        };
        // The item names account 111122220001; the subject another account.
        send("driftlog.ci.999999999999.eu-west-1.AWS::EC2::VPC", item, true).await;
        send("driftlog.ci.111122220001.eu-west-1.AWS::EC2::VPC", "{not json", true).await;
        send("driftlog.ci.111122220001.eu-west-1.AWS::EC2::VPC", item, false).await;
    });
    3
}

/// A recorder can publish only its own accounts' subjects: nats-server with a user per
/// recorder (password from an environment variable), each allowed the subjects of its
/// accounts and its heartbeat. A recorder whose estate holds another account is refused
/// by the server — its sink says so — and nothing of it reaches the aggregate, while the
/// recorder with the right credentials is aggregated.
#[test]
fn issue_17_a_recorder_publishes_only_its_own_accounts_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let recorder_user = |user: &str, account: &str| {
        format!(
            r#"{{ user: "{user}", password: "secret-{user}", permissions: {{
                publish: {{ allow: ["driftlog.ci.{account}.>", "driftlog.ci._snapshot.{user}", "driftlog.heartbeat.{user}", "$JS.API.STREAM.INFO.DRIFTLOG", "$JS.API.STREAM.CREATE.DRIFTLOG"] }},
                subscribe: {{ allow: ["_INBOX.>", "driftlog.resync.{user}"] }} }} }}"#
        )
    };
    let conf = format!(
        r#"authorization {{
  users = [
    {}
    {}
    {{ user: "aggregator", password: "secret-aggregator", permissions: {{
        publish: {{ allow: ["$JS.API.>", "$JS.ACK.>", "driftlog.resync.*"] }},
        subscribe: {{ allow: ["_INBOX.>", "driftlog.heartbeat.*"] }} }} }}
  ]
}}
"#,
        recorder_user("rec-a", "111122220001"),
        recorder_user("rec-b", "111122220002"),
    );
    let Some(nats) = crate::support::nats::nats_with_config(&dir.path().join("nats"), &conf) else {
        return;
    };
    for user in ["rec-a", "rec-b", "aggregator"] {
        // SAFETY of the test: read by this process's servers and the aggregator it spawns.
        std::env::set_var(
            format!(
                "DRIFTLOG_TEST_NATS_{}",
                user.replace('-', "_").to_uppercase()
            ),
            format!("secret-{user}"),
        );
    }
    let recorder = |id: &str, first: u64| {
        let path = dir.path().join(format!("{id}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"data_dir = "{}"
[source.sim]
resources = 500
accounts = 1
first_account = {first}
regions = ["eu-west-1"]
[recorder]
id = "{id}"
[api]
listen = "off"
[delivery]
enabled = false
[[sinks]]
name = "org"
kind = "nats"
url = "{}"
format = "item"
heartbeat = "1s"
timeout = "2s"
user = "{id}"
password_env = "DRIFTLOG_TEST_NATS_{}"
"#,
                dir.path().join(id).display(),
                nats.url,
                id.replace('-', "_").to_uppercase()
            ),
        )
        .unwrap();
        path
    };
    // rec-a records its own account; rec-b is allowed account 2 but records account 3.
    let a_cfg = recorder("rec-a", 1);
    let b_cfg = recorder("rec-b", 3);
    let a = server::start(&a_cfg);
    let b = server::start(&b_cfg);
    let agg_cfg = dir.path().join("agg.toml");
    std::fs::write(
        &agg_cfg,
        format!(
            r#"data_dir = "{}"
[aggregator]
enabled = true
url = "{}"
user = "aggregator"
password_env = "DRIFTLOG_TEST_NATS_AGGREGATOR"
[api]
listen = "127.0.0.1:0"
[delivery]
enabled = false
"#,
            dir.path().join("agg").display(),
            nats.url
        ),
    )
    .unwrap();
    let (_agg, _port) = serve_process(&agg_cfg);
    let a_items = a.status().unwrap()["watermark"].as_u64().unwrap();
    assert!(a_items > 0);
    wait("the permitted recorder is aggregated", 60, || {
        running_status(&agg_cfg).is_some_and(|st| {
            st["aggregator"]["sources"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["recorder"] == "rec-a" && s["appliedSeq"].as_u64() >= Some(a_items))
            })
        })
    });
    // rec-b's sink is refused by the server: an error, nothing delivered.
    wait("rec-b's sink reports the refusal", 60, || {
        let sinks = &json_lines(&driftlog(&b_cfg, &["sinks", "--json"]))[0];
        let s = &sinks["sinks"][0];
        s["lastError"].is_string() && s["delivered"] == 0
    });
    let st = running_status(&agg_cfg).unwrap();
    for s in st["aggregator"]["sources"].as_array().unwrap() {
        if s["recorder"] == "rec-b" {
            assert_eq!(s["appliedSeq"], 0, "{s}");
        }
    }
    drop((a, b));
}

/// An item larger than NATS's message limit (1 MB by default) travels in parts and is
/// put back together byte for byte: an IAM policy with a 3 MB document, from a recorder's
/// log through its item sink and JetStream into an aggregator's log.
#[test]
fn issue_17_a_3_mb_policy_travels_in_parts() {
    use driftlog_model::{Observed, ResourceKey};
    use std::sync::Arc;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = nats(&dir.path().join("nats")) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = |name: &str| {
        Arc::new(
            driftlog_log::Log::open(dir.path().join(name), driftlog_log::LogOptions::default())
                .unwrap(),
        )
    };
    let recorder = |log: Arc<driftlog_log::Log>| {
        driftlog_recorder::Recorder::new(
            log,
            Arc::new(driftlog_aggregate::StreamSource),
            driftlog_recorder::RecorderConfig::default(),
        )
    };
    // A policy whose document is 3 MB of statements.
    let statements: Vec<Value> = (0..30_000)
        .map(|i| json!({"Effect": "Allow", "Action": format!("s3:GetObject{i:05}"), "Resource": format!("arn:aws:s3:::bucket-{i:05}/some/long/prefix/*")}))
        .collect();
    let document = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    assert!(document.len() > 3_000_000, "{}", document.len());
    let key = ResourceKey::new("111122220001", "global", "AWS::IAM::Policy", "ANPAHUGE");
    // Shaped as every source shapes a document (all members present).
    let observed = Observed::new(
        key.clone(),
        &driftlog_model::Document {
            arn: Some("arn:aws:iam::111122220001:policy/huge".into()),
            resource_name: Some("huge".into()),
            configuration: json!({"policyName": "huge", "policyVersionList": [
                {"document": document, "isDefaultVersion": true, "versionId": "v1"}]}),
            ..driftlog_model::Document::default()
        },
    );
    let source_log = open("source");
    let source = recorder(source_log.clone());
    rt.block_on(source.record_derived(vec![observed.clone()], Vec::new()))
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let transport =
        driftlog_sinks::NatsTransport::new(&nats.url, "DRIFTLOG", Duration::from_secs(10))
            .unwrap()
            .with_publisher("big", source_log.id());
    let mut spec = driftlog_sinks::SinkSpec::new("org", driftlog_model::Filter::default());
    spec.format = driftlog_sinks::BodyFormat::Item;
    spec.start = driftlog_sinks::SinkStart::Beginning;
    rt.spawn(driftlog_sinks::run_sink(
        source_log.clone(),
        spec,
        transport,
        None,
        driftlog_sinks::SinkBoard::default(),
        stop_rx.clone(),
    ));
    let agg_log = open("aggregate");
    let status = Arc::new(driftlog_aggregate::AggregatorStatus::default());
    let connect = driftlog_sinks::NatsConnect::new(&nats.url, Duration::from_secs(10));
    let connector: driftlog_aggregate::Connector = Arc::new(move || {
        let c = connect.clone();
        Box::pin(async move { c.connect().await })
    });
    rt.spawn(driftlog_aggregate::run_aggregator(
        recorder(agg_log.clone()),
        connector,
        driftlog_aggregate::AggregatorSettings::default(),
        status.clone(),
        stop_rx,
    ));
    wait("the 3 MB item in the aggregate", 60, || {
        agg_log.watermark() == 1
    });
    let got = agg_log.latest(&key).unwrap().unwrap();
    assert!(
        got.doc == observed.doc,
        "{} bytes came back for {}",
        got.doc.len(),
        observed.doc.len()
    );
    assert!(got.volatile == observed.volatile);
    assert!(status.refused_counts().is_empty(), "{:?}", status.to_json());
    let _ = stop_tx.send(true);
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// Every live resource of an inventory (`driftlog at now --items`): key → configuration,
/// without its volatile fields (`availableIpAddressCount`: a change of those alone is no
/// new version, on a recorder as on an aggregator).
fn inventory(cfg: &Path, account: &str) -> BTreeMap<String, Value> {
    let out = driftlog(cfg, &["at", "now", "--items", "--account", account]);
    json_lines(&out)
        .into_iter()
        .map(|i| {
            let ci = i.get("configurationItem").unwrap_or(&i);
            let rtype = ci["resourceType"].as_str().unwrap();
            let mut conf = ci["configuration"].clone();
            for path in driftlog_model::spec_for(rtype).volatile_paths {
                if let (Some(field), Some(o)) =
                    (path.strip_prefix("configuration."), conf.as_object_mut())
                {
                    o.remove(field);
                }
            }
            (
                format!(
                    "{}/{rtype}/{}",
                    ci["awsRegion"].as_str().unwrap(),
                    ci["resourceId"].as_str().unwrap()
                ),
                conf,
            )
        })
        .collect()
}

/// Stream retention shorter than an outage: the aggregator is killed, the recorder keeps
/// changing while the stream forgets its items (max age 10 s), and the restarted aggregator
/// finds the gap, asks the recorder for a snapshot, applies it — deleting what the recorder
/// no longer holds — and says so; its inventory then equals the recorder's.
#[test]
fn issue_17_a_gap_past_the_streams_retention_is_repaired_by_a_resync() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats_server) = nats(&dir.path().join("nats")) else {
        return;
    };
    let url = nats_server.url.clone();
    // The stream, made before anyone else makes it with the defaults: it keeps 10 s.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
            js.create_stream(async_nats::jetstream::stream::Config {
                name: "DRIFTLOG".into(),
                subjects: vec!["driftlog.ci.>".into()],
                storage: async_nats::jetstream::stream::StorageType::File,
                max_age: std::time::Duration::from_secs(10),
                duplicate_window: std::time::Duration::from_secs(5),
                ..Default::default()
            })
            .await
            .unwrap();
        });
    let account = "111122220009";
    let rec_cfg = dir.path().join("rec.toml");
    std::fs::write(
        &rec_cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 800
accounts = 1
first_account = 9
regions = ["eu-west-1"]
churn = 0.02
tick_interval = "1s"
[recorder]
id = "rec-r"
interval = "1s"
[api]
listen = "off"
[delivery]
enabled = false
[[sinks]]
name = "org"
kind = "nats"
url = "{url}"
format = "item"
heartbeat = "1s"
"#,
            dir.path().join("rec").display()
        ),
    )
    .unwrap();
    let agg_cfg = dir.path().join("agg.toml");
    std::fs::write(
        &agg_cfg,
        format!(
            r#"data_dir = "{}"
[aggregator]
enabled = true
url = "{url}"
outdated_after = "3s"
account = "111122220009"
[api]
listen = "127.0.0.1:0"
[delivery]
enabled = false
"#,
            dir.path().join("agg").display()
        ),
    )
    .unwrap();
    let (mut agg, _) = serve_process(&agg_cfg);
    let rec = server::start(&rec_cfg);
    // A rule on the recorder: its compliance items travel like any item.
    let added = driftlog(
        &rec_cfg,
        &[
            "rules",
            "add",
            "no-ssh",
            "--managed",
            "INCOMING_SSH_DISABLED",
            "--type",
            "AWS::EC2::SecurityGroup",
        ],
    );
    assert!(added.status.success(), "{added:?}");
    let source = |st: &Value| -> Value {
        st["aggregator"]["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["recorder"] == "rec-r").cloned())
            .unwrap_or(Value::Null)
    };
    // (Were the first items gone before the aggregator came up, it resyncs at once.)
    wait("the aggregator applies the recorder's items", 120, || {
        running_status(&agg_cfg).is_some_and(|st| {
            let src = source(&st);
            src["appliedSeq"].as_u64() > Some(0) && src["gap"].is_null()
        })
    });
    let before = source(&running_status(&agg_cfg).unwrap());
    assert!(before["gap"].is_null(), "{before}");

    // The outage: longer than the stream keeps anything, the recorder changing meanwhile.
    agg.0.kill().unwrap();
    agg.0.wait().unwrap();
    let w0 = rec.status().unwrap()["watermark"].as_u64().unwrap();
    wait("the recorder records on during the outage", 60, || {
        rec.status().unwrap()["watermark"].as_u64().unwrap() > w0 + 20
    });
    std::thread::sleep(std::time::Duration::from_secs(12));
    let (_agg, port) = serve_process(&agg_cfg);
    wait(
        "the restarted aggregator finds the gap and resyncs",
        240,
        || {
            running_status(&agg_cfg).is_some_and(|st| {
                st["aggregator"]["gaps"].as_u64() >= Some(1)
                    && st["aggregator"]["resyncs"].as_u64() >= Some(1)
                    && source(&st)["gap"].is_null()
            })
        },
    );

    let gaps = running_status(&agg_cfg).unwrap()["aggregator"]["gaps"].clone();

    // The recorder offline for a while: OUTDATED for its account; back: SUCCEEDED, no gap.
    let put = boto(
        port,
        &json!([{"op": "PutConfigurationAggregator", "params": {
            "ConfigurationAggregatorName": "org",
            "AccountAggregationSources": [{"AccountIds": [account], "AwsRegions": ["eu-west-1"]}]}}]),
    );
    ok(&put[0]);
    let source_status = || {
        let r = boto(
            port,
            &json!([{"op": "DescribeConfigurationAggregatorSourcesStatus",
                "params": {"ConfigurationAggregatorName": "org"}}]),
        );
        ok(&r[0])["AggregatedSourceStatusList"][0].clone()
    };
    wait("the recorder's account SUCCEEDED", 60, || {
        source_status()["LastUpdateStatus"] == "SUCCEEDED"
    });
    rec.stop().unwrap();
    wait(
        "the recorder's account OUTDATED while it is offline",
        60,
        || source_status()["LastUpdateStatus"] == "OUTDATED",
    );
    let rec = server::start(&rec_cfg);
    wait("the recorder's account SUCCEEDED again", 60, || {
        source_status()["LastUpdateStatus"] == "SUCCEEDED"
    });
    rec.stop().unwrap();
    // It comes back not recording: its sink publishes the rest, nothing more changes.
    let text = std::fs::read_to_string(&rec_cfg).unwrap();
    std::fs::write(&rec_cfg, text.replace("[api]", "start = false\n[api]")).unwrap();
    let rec = server::start(&rec_cfg);
    let w = rec.status().unwrap()["watermark"].as_u64().unwrap();
    wait("the aggregate catches up with the recorder", 120, || {
        running_status(&agg_cfg).is_some_and(|st| source(&st)["appliedSeq"].as_u64() == Some(w))
    });
    let st = running_status(&agg_cfg).unwrap();
    assert_eq!(
        st["aggregator"]["gaps"], gaps,
        "no new gap after the recorder came back"
    );
    let src = source(&st);
    eprintln!("after the resync: {src}");
    assert!(src["gap"].is_null(), "{src}");
    assert!(
        src["lastResync"].as_str().unwrap().contains("snapshot"),
        "{src}"
    );
    // Said in `driftlog status` and /metrics.
    let text = driftlog(&agg_cfg, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("resynced 1 time(s), last at "), "{text}");
    let metrics = crate::support::cli::http_get(port, "/metrics");
    assert!(
        metrics.contains("driftlog_aggregator_messages_total{outcome=\"resynced\"}")
            && metrics.contains("driftlog_aggregator_source_gap{recorder=\"rec-r\"} 0"),
        "{metrics}"
    );

    // The aggregate's inventory of the recorder's account equals the recorder's own.
    let mine = inventory(&rec_cfg, account);
    let aggregate = inventory(&agg_cfg, account);
    assert!(mine.len() > 700, "{}", mine.len());
    let missing: Vec<_> = mine
        .keys()
        .filter(|k| !aggregate.contains_key(*k))
        .collect();
    let extra: Vec<_> = aggregate
        .keys()
        .filter(|k| !mine.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (k, v) in &mine {
        assert_eq!(aggregate.get(k), Some(v), "{k}");
    }
    aggregate_queries(port, account, &mine);
    whole_driftlog_on_the_aggregate(&agg_cfg, port, account, &mine);

    // The recorder reset: its store replaced by a new one of a smaller estate. Its new
    // sequences start again under another log id: a gap, repaired by a resync that deletes
    // what the new store does not hold.
    rec.stop().unwrap();
    std::fs::remove_dir_all(dir.path().join("rec")).unwrap();
    let text = std::fs::read_to_string(&rec_cfg).unwrap();
    std::fs::write(
        &rec_cfg,
        text.replace("start = false\n", "")
            .replace("resources = 800", "resources = 300"),
    )
    .unwrap();
    let rec = server::start(&rec_cfg);
    let new_log = rec.status().unwrap()["logId"].clone();
    wait("the aggregator resyncs the reset recorder", 240, || {
        running_status(&agg_cfg).is_some_and(|st| {
            let src = source(&st);
            src["resyncs"].as_u64() >= Some(2) && src["gap"].is_null()
        })
    });
    rec.stop().unwrap();
    let text = std::fs::read_to_string(&rec_cfg).unwrap();
    std::fs::write(&rec_cfg, text.replace("[api]", "start = false\n[api]")).unwrap();
    let rec = server::start(&rec_cfg);
    let w = rec.status().unwrap()["watermark"].as_u64().unwrap();
    wait("the aggregate catches up with the new store", 120, || {
        running_status(&agg_cfg).is_some_and(|st| {
            let src = source(&st);
            src["appliedSeq"].as_u64() == Some(w) && src["log"] == new_log
        })
    });
    let src = source(&running_status(&agg_cfg).unwrap());
    eprintln!("after the reset: {src}");
    let mine = inventory(&rec_cfg, account);
    assert!(mine.len() < 400, "{}", mine.len());
    // The aggregator's own rule judges what it holds: its results are its own, and the
    // resync left them alone; those of groups the reset deleted are ended by the rule.
    let own = "eu-west-1/AWS::Config::ResourceCompliance/org-ssh/";
    let judged = |aggregate: &BTreeMap<String, Value>| -> Vec<String> {
        aggregate
            .keys()
            .filter_map(|k| k.strip_prefix(own).map(|r| format!("eu-west-1/{r}")))
            .collect()
    };
    wait(
        "the org-wide rule judges exactly the groups left",
        60,
        || {
            let j = judged(&inventory(&agg_cfg, account));
            !j.is_empty() && j.iter().all(|r| mine.contains_key(r))
        },
    );
    let mut aggregate = inventory(&agg_cfg, account);
    aggregate.retain(|k, _| !k.starts_with(own));
    let only_mine: Vec<_> = mine
        .keys()
        .filter(|k| !aggregate.contains_key(*k))
        .collect();
    let only_agg: Vec<_> = aggregate
        .keys()
        .filter(|k| !mine.contains_key(*k))
        .collect();
    assert!(
        only_mine.is_empty() && only_agg.is_empty(),
        "only in the recorder: {only_mine:?}; only in the aggregate: {only_agg:?}"
    );
    for (k, v) in &mine {
        assert_eq!(aggregate.get(k), Some(v), "{k}");
    }
    drop(rec);
}

/// The aggregate's SQL and compliance operations through boto3 agree with the recorder's own
/// inventory `mine` (key → configuration) of `account` in eu-west-1, aggregated as `org`.
fn aggregate_queries(port: u16, account: &str, mine: &BTreeMap<String, Value>) {
    let sg = "AWS::EC2::SecurityGroup";
    let groups = mine
        .keys()
        .filter(|k| k.contains(&format!("/{sg}/")))
        .count();
    let verdicts: Vec<&Value> = mine
        .iter()
        .filter(|(k, _)| k.contains("/AWS::Config::ResourceCompliance/no-ssh/"))
        .map(|(_, v)| v)
        .collect();
    let non_compliant = verdicts
        .iter()
        .filter(|v| v["complianceType"] == "NON_COMPLIANT")
        .count() as u64;
    assert!(
        groups > 0 && !verdicts.is_empty(),
        "{groups} groups, {} verdicts",
        verdicts.len()
    );

    let r = boto(
        port,
        &json!([
            {"op": "SelectAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "org",
                "Expression": format!("SELECT resourceId WHERE resourceType = '{sg}'"),
                "Limit": 100}},
            {"op": "SelectAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "org",
                "Expression": format!("SELECT COUNT(*) WHERE resourceType = '{sg}'")}},
            {"op": "DescribeAggregateComplianceByConfigRules", "params": {
                "ConfigurationAggregatorName": "org"}},
            {"op": "GetAggregateComplianceDetailsByConfigRule", "paginate": "AggregateEvaluationResults", "params": {
                "ConfigurationAggregatorName": "org", "ConfigRuleName": "no-ssh",
                "AccountId": account, "AwsRegion": "eu-west-1"}},
            {"op": "GetAggregateConfigRuleComplianceSummary", "params": {
                "ConfigurationAggregatorName": "org", "GroupByKey": "ACCOUNT_ID"}},
            {"op": "DescribeAggregateComplianceByConformancePacks", "params": {
                "ConfigurationAggregatorName": "org"}},
            {"op": "GetAggregateConformancePackComplianceSummary", "params": {
                "ConfigurationAggregatorName": "org"}},
            {"op": "SelectAggregateResourceConfig", "params": {
                "ConfigurationAggregatorName": "nope", "Expression": "SELECT resourceId"}},
            {"op": "DescribeAggregateComplianceByConfigRules", "params": {
                "ConfigurationAggregatorName": "org", "Filters": {"ComplianceType": "MAYBE"}}},
            {"op": "GetAggregateDiscoveredResourceCounts", "params": {
                "ConfigurationAggregatorName": "org", "Filters": {"ResourceType": sg}}},
        ]),
    );
    let groups = usize::try_from(ok(&r[9])["TotalDiscoveredResources"].as_u64().unwrap()).unwrap();
    let page = ok(&r[0]);
    assert_eq!(
        page["Results"].as_array().unwrap().len(),
        groups.min(100),
        "{page}"
    );
    assert_eq!(page["QueryInfo"]["SelectFields"][0]["Name"], "resourceId");
    let counted: Value = serde_json::from_str(ok(&r[1])["Results"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        counted["COUNT(*)"].as_u64(),
        Some(groups as u64),
        "{counted}"
    );
    let by_rule = ok(&r[2])["AggregateComplianceByConfigRules"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(by_rule.len(), 1, "{by_rule:?}");
    assert_eq!(by_rule[0]["ConfigRuleName"], "no-ssh");
    assert_eq!(by_rule[0]["AccountId"], account);
    let want = if non_compliant > 0 {
        "NON_COMPLIANT"
    } else {
        "COMPLIANT"
    };
    assert_eq!(
        by_rule[0]["Compliance"]["ComplianceType"], want,
        "{by_rule:?}"
    );
    if non_compliant > 0 {
        assert_eq!(
            by_rule[0]["Compliance"]["ComplianceContributorCount"]["CappedCount"].as_u64(),
            Some(non_compliant.min(100))
        );
    }
    let details = ok(&r[3])["items"].as_array().unwrap().clone();
    assert_eq!(details.len(), verdicts.len());
    assert!(details.iter().all(|d| d["AccountId"] == account
        && d["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceType"] == sg));
    let summary = ok(&r[4]);
    assert_eq!(summary["GroupByKey"], "ACCOUNT_ID");
    let s = &summary["AggregateComplianceCounts"][0];
    assert_eq!(s["GroupName"], account);
    let rules = s["ComplianceSummary"]["CompliantResourceCount"]["CappedCount"]
        .as_u64()
        .unwrap()
        + s["ComplianceSummary"]["NonCompliantResourceCount"]["CappedCount"]
            .as_u64()
            .unwrap();
    assert_eq!(rules, 1, "{summary}");
    assert_eq!(
        ok(&r[5])["AggregateComplianceByConformancePacks"],
        json!([])
    );
    assert_eq!(
        ok(&r[6])["AggregateConformancePackComplianceSummaries"],
        json!([])
    );
    assert_eq!(
        r[7]["error"]["code"], "NoSuchConfigurationAggregatorException",
        "{}",
        r[7]
    );
    assert!(r[8].get("error").is_some(), "{}", r[8]);
}

/// An organization aggregator (`OrganizationAggregationSource`): its accounts are the
/// organization's, read from AWS Organizations (moto, the recorder's account its management
/// account) through the aggregator's role, no authorization needed; without an
/// organization, AWS's NoAvailableOrganizationException.
#[test]
fn issue_17_an_organization_aggregator_reads_its_accounts_from_aws_organizations() {
    let dir = tempfile::tempdir().unwrap();
    let account = "111122220007";
    let Some(moto) = crate::support::moto::moto_with_env(&[("MOTO_ACCOUNT_ID", account)]) else {
        return;
    };
    let Some(nats_server) = nats(&dir.path().join("nats")) else {
        return;
    };
    let url = nats_server.url.clone();
    let rec_cfg = dir.path().join("rec.toml");
    std::fs::write(
        &rec_cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
resources = 300
accounts = 1
first_account = 7
regions = ["eu-west-1"]
churn = 0.0
[recorder]
id = "rec-o"
[api]
listen = "off"
[delivery]
enabled = false
[[sinks]]
name = "org"
kind = "nats"
url = "{url}"
format = "item"
heartbeat = "1s"
"#,
            dir.path().join("rec").display()
        ),
    )
    .unwrap();
    let agg_cfg = dir.path().join("agg.toml");
    std::fs::write(
        &agg_cfg,
        format!(
            r#"data_dir = "{}"
[aggregator]
enabled = true
url = "{url}"
account = "{account}"
region = "eu-west-1"
organization_refresh = "1s"
[api]
listen = "127.0.0.1:0"
[delivery]
enabled = false
endpoint_url = "{}"
region = "us-east-1"
"#,
            dir.path().join("agg").display(),
            moto.url
        ),
    )
    .unwrap();
    for (k, v) in crate::support::moto::CREDENTIALS {
        // SAFETY of the test: read by the aggregator process it spawns.
        std::env::set_var(k, v);
    }
    let rec = server::start(&rec_cfg);
    let (_agg, port) = serve_process(&agg_cfg);
    let mut resources = 0;
    wait("the aggregate holds the recorder's resources", 120, || {
        resources = rec.status().unwrap()["resources"].as_u64().unwrap();
        resources > 0
            && running_status(&agg_cfg)
                .is_some_and(|st| st["resources"].as_u64() == Some(resources))
    });
    let put = json!({"op": "PutConfigurationAggregator", "params": {
        "ConfigurationAggregatorName": "orgwide",
        "OrganizationAggregationSource": {
            "RoleArn": format!("arn:aws:iam::{account}:role/ConfigAggregator"),
            "AllAwsRegions": true}}});
    let before = boto(port, &json!([put]));
    assert_eq!(
        before[0]["error"]["code"], "NoAvailableOrganizationException",
        "{}",
        before[0]
    );
    let org = crate::support::moto::run_script(&moto, "organization.py", &["create", "2"]);
    assert_eq!(org["management"], account);
    let members: Vec<String> = org["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(members.len(), 3, "{org}");
    let r = boto(
        port,
        &json!([
            put,
            {"op": "DescribeConfigurationAggregators", "params": {"ConfigurationAggregatorNames": ["orgwide"]}},
            {"op": "GetAggregateDiscoveredResourceCounts", "params": {
                "ConfigurationAggregatorName": "orgwide", "GroupByKey": "ACCOUNT_ID"}},
            {"op": "DescribeConfigurationAggregatorSourcesStatus", "params": {
                "ConfigurationAggregatorName": "orgwide"}},
            {"op": "PutConfigurationAggregator", "params": {
                "ConfigurationAggregatorName": "both",
                "OrganizationAggregationSource": {"RoleArn": "arn:aws:iam::1:role/r", "AllAwsRegions": true},
                "AccountAggregationSources": [{"AccountIds": [account], "AllAwsRegions": true}]}},
        ]),
    );
    let def = &ok(&r[1])["ConfigurationAggregators"][0];
    assert_eq!(
        def["OrganizationAggregationSource"]["RoleArn"],
        format!("arn:aws:iam::{account}:role/ConfigAggregator")
    );
    assert!(def.get("AccountAggregationSources").is_none(), "{def}");
    let counts = ok(&r[2]);
    assert_eq!(
        counts["TotalDiscoveredResources"].as_u64(),
        Some(resources),
        "{counts}"
    );
    assert_eq!(counts["GroupedResourceCounts"][0]["GroupName"], account);
    let rows = ok(&r[3])["AggregatedSourceStatusList"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        rows.iter().all(|row| row["SourceType"] == "ORGANIZATION"),
        "{rows:?}"
    );
    for m in &members {
        assert!(
            rows.iter().any(|row| row["SourceId"] == *m),
            "{m} in {rows:?}"
        );
    }
    assert_eq!(
        r[4]["error"]["code"], "InvalidParameterValueException",
        "{}",
        r[4]
    );
    // An account joins the organization: the aggregator follows it.
    let joined = crate::support::moto::run_script(&moto, "organization.py", &["add", "late"]);
    let late: Vec<String> = joined["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .filter(|a| !members.contains(a))
        .collect();
    assert_eq!(late.len(), 1, "{joined}");
    wait("the aggregator follows the organization", 60, || {
        let r = boto(
            port,
            &json!([{"op": "DescribeConfigurationAggregatorSourcesStatus", "params": {
                "ConfigurationAggregatorName": "orgwide"}}]),
        );
        ok(&r[0])["AggregatedSourceStatusList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["SourceId"] == late[0])
    });
    drop(rec);
}

/// The aggregator is a driftlog: `tail` over gRPC with account and region filters,
/// `history` and `related` of an aggregated resource, and a rule of its own judging every
/// account's resources (org-wide), seen through the AWS Config API.
fn whole_driftlog_on_the_aggregate(
    agg_cfg: &Path,
    port: u16,
    account: &str,
    mine: &BTreeMap<String, Value>,
) {
    let sg = "AWS::EC2::SecurityGroup";
    let out = Command::new(env!("CARGO_BIN_EXE_driftlog"))
        .args(["tail", "--server", &format!("http://127.0.0.1:{port}")])
        .args(["--account", account, "--region", "eu-west-1", "--type", sg])
        .args(["--from", "0", "--limit", "3", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| l["configurationItem"]["awsAccountId"] == account
            && l["configurationItem"]["resourceType"] == sg));
    let (key, conf) = mine
        .iter()
        .find(|(k, _)| k.starts_with(&format!("eu-west-1/{sg}/")))
        .unwrap();
    let full = format!("{account}/{key}");
    let history = json_lines(&driftlog(agg_cfg, &["history", &full, "--json"]));
    assert!(!history.is_empty());
    // Newest first.
    let newest = history[0].get("configurationItem").unwrap_or(&history[0]);
    let mut newest_conf = newest["configuration"].clone();
    if let Some(o) = newest_conf.as_object_mut() {
        o.remove("availableIpAddressCount");
    }
    assert_eq!(&newest_conf, conf, "{full}");
    let related = driftlog(agg_cfg, &["related", &full]);
    assert!(related.status.success(), "{related:?}");
    // An org-wide rule, on the aggregator itself.
    let added = driftlog(
        agg_cfg,
        &[
            "rules",
            "add",
            "org-ssh",
            "--managed",
            "INCOMING_SSH_DISABLED",
            "--type",
            sg,
        ],
    );
    assert!(added.status.success(), "{added:?}");
    wait(
        "the aggregator's own rule judges the aggregated groups",
        120,
        || {
            let r = boto(
                port,
                &json!([{"op": "GetComplianceDetailsByConfigRule", "params": {
                "ConfigRuleName": "org-ssh", "Limit": 100}}]),
            );
            r[0].get("ok").is_some_and(|v| {
                v["EvaluationResults"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
            })
        },
    );
}
