//! Issue 5: the AWS Config API of `driftlog serve`, driven by the real boto3 `config`
//! client and the real `aws configservice` CLI (from the virtualenv `scripts/test.sh`
//! installs), with SigV4 required. Every operation's happy path and named errors (exact
//! `__type`), paginators over 1,000+ resources, the API form of a CI, Stop → no new items
//! → Start, settings that survive a restart, bad input of every kind.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cli as cli_support;
use crate::support::moto as moto_support;
use crate::support::server as server_support;
use cli_support::{http_get, json_lines, wait};
use moto_support::venv_bin;

const KEY: &str = "AKIDRIFTLOGTEST0001";
const SECRET: &str = "driftlog-test-secret";
const REGION: &str = "us-east-1";

struct Server {
    srv: server_support::InProcess,
    url: String,
    cfg: PathBuf,
    data: PathBuf,
}

fn config(dir: &Path, resources: usize) -> PathBuf {
    let data = dir.join("data");
    let cfg = dir.join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{}"
[source.sim]
accounts = 1
regions = ["us-east-1", "eu-west-1"]
resources = {resources}
churn = 0.02
tick_interval = "1s"
[recorder]
interval = "1s"
[delivery]
snapshot_frequency = "off"
[api]
listen = "127.0.0.1:0"
auth = "sigv4"
access_keys = [{{ access_key_id = "{KEY}", secret_access_key = "{SECRET}" }}]
"#,
            data.display()
        ),
    )
    .unwrap();
    cfg
}

/// `serve` in-process on `127.0.0.1:0`.
fn start(cfg: &Path) -> Server {
    let srv = server_support::start(cfg);
    Server {
        url: srv.url.clone(),
        srv,
        cfg: cfg.to_path_buf(),
        data: cfg.parent().unwrap().join("data"),
    }
}

/// Runs calls through boto3 (tests/aws/config_api.py) signed with `secret`.
fn boto_as(s: &Server, secret: &str, calls: &Value) -> Vec<Value> {
    moto_support::config_api_calls(&s.url, (KEY, secret), REGION, calls)
}

fn boto(s: &Server, calls: &Value) -> Vec<Value> {
    boto_as(s, SECRET, calls)
}

/// One call; its result.
fn call(s: &Server, op: &str, params: Value) -> Value {
    boto(s, &json!([{"op": op, "params": params}])).remove(0)
}

fn ok(r: &Value) -> &Value {
    assert!(r.get("ok").is_some(), "expected success, got {r}");
    &r["ok"]
}

fn err_code(r: &Value) -> &str {
    r["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {r}"))
}

/// The aws CLI against the server; its stdout (JSON or text).
fn aws(s: &Server, args: &[&str]) -> String {
    let aws = venv_bin("aws").expect("the aws CLI in the virtualenv (scripts/test.sh installs it)");
    let out = Command::new(aws)
        .args([
            "configservice",
            "--endpoint-url",
            &s.url,
            "--region",
            REGION,
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The largest recorded type of the caller's region, and its count.
fn biggest_type(s: &Server) -> (String, u64) {
    let r = call(s, "GetDiscoveredResourceCounts", json!({}));
    ok(&r)["resourceCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resourceType"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .max_by_key(|(_, n)| *n)
        .unwrap()
}

fn watermark(s: &Server) -> u64 {
    let out = driftlog_json(&s.cfg, &["status", "--json"]);
    out[0]["watermark"].as_u64().unwrap()
}

#[test]
fn boto3_and_the_aws_cli_drive_the_recorder_channel_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 12_000);
    let s = start(&cfg);
    wait("first discovery", 180, || {
        call(&s, "GetDiscoveredResourceCounts", json!({}))["ok"]["totalDiscoveredResources"]
            .as_u64()
            .unwrap_or(0)
            > 1000
    });

    // The recorder the config file defines, as AWS shows it.
    let r = ok(&call(&s, "DescribeConfigurationRecorders", json!({}))).clone();
    let rec = &r["ConfigurationRecorders"][0];
    assert_eq!(rec["name"], "default");
    assert!(rec["roleARN"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    assert_eq!(rec["recordingGroup"]["allSupported"], true);
    let st = ok(&call(&s, "DescribeConfigurationRecorderStatus", json!({}))).clone();
    assert_eq!(st["ConfigurationRecordersStatus"][0]["recording"], true);
    assert_eq!(st["ConfigurationRecordersStatus"][0]["name"], "default");

    // Named errors, with AWS's exact codes.
    let rs = boto(
        &s,
        &json!([
            {"op": "PutConfigurationRecorder", "params": {"ConfigurationRecorder": {"name": "second", "roleARN": "arn:aws:iam::123456789012:role/config"}}},
            {"op": "PutConfigurationRecorder", "params": {"ConfigurationRecorder": {"name": "default", "roleARN": "not-an-arn"}}},
            {"op": "PutConfigurationRecorder", "params": {"ConfigurationRecorder": {"name": "default", "roleARN": "arn:aws:iam::123456789012:role/config",
                "recordingGroup": {"allSupported": true, "resourceTypes": ["AWS::EC2::VPC"]}}}},
            {"op": "PutConfigurationRecorder", "params": {"ConfigurationRecorder": {"name": "default", "roleARN": "arn:aws:iam::123456789012:role/config",
                "recordingGroup": {"allSupported": false, "resourceTypes": ["AWS::Bogus::Thing"]}}}},
            {"op": "DescribeConfigurationRecorders", "params": {"ConfigurationRecorderNames": ["nope"]}},
            {"op": "StartConfigurationRecorder", "params": {"ConfigurationRecorderName": "nope"}},
            {"op": "DescribeDeliveryChannels", "params": {"DeliveryChannelNames": ["nope"]}},
            {"op": "DeleteDeliveryChannel", "params": {"DeliveryChannelName": "default"}},
            {"op": "DeliverConfigSnapshot", "params": {"deliveryChannelName": "nope"}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "other", "s3BucketName": "b"}}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "b", "snsTopicARN": "topic"}}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "b", "s3KeyPrefix": "x/AWSLogs"}}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "b",
                "configSnapshotDeliveryProperties": {"deliveryFrequency": "Weekly"}}}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "../escape"}}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::VPC", "resourceId": "vpc-none"}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::Bogus::X", "resourceId": "x"}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::VPC", "resourceId": "x", "limit": 101}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::VPC", "resourceId": "x", "earlierTime": 2000000000, "laterTime": 1000000000}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::VPC", "resourceId": "x", "nextToken": "forged"}},
            {"op": "ListDiscoveredResources", "params": {"resourceType": "AWS::EC2::VPC", "nextToken": "forged"}},
            {"op": "ListDiscoveredResources", "params": {"resourceType": "AWS::EC2::VPC", "resourceIds": ["a"], "resourceName": "b"}},
            {"op": "BatchGetResourceConfig", "params": {"resourceKeys": (0..101).map(|i| json!({"resourceType": "AWS::EC2::VPC", "resourceId": format!("vpc-{i}")})).collect::<Vec<_>>()}},
            {"op": "GetDiscoveredResourceCounts", "params": {"resourceTypes": ["AWS::EC2::VPC"], "nextToken": "forged"}},
        ]),
    );
    let codes: Vec<&str> = rs.iter().map(err_code).collect();
    assert_eq!(
        codes,
        [
            "MaxNumberOfConfigurationRecordersExceededException",
            "InvalidRoleException",
            "InvalidRecordingGroupException",
            "InvalidRecordingGroupException",
            "NoSuchConfigurationRecorderException",
            "NoSuchConfigurationRecorderException",
            "NoSuchDeliveryChannelException",
            "LastDeliveryChannelDeleteFailedException",
            "NoSuchDeliveryChannelException",
            "MaxNumberOfDeliveryChannelsExceededException",
            "InvalidSNSTopicARNException",
            "InvalidS3KeyPrefixException",
            "ValidationException",
            "NoSuchBucketException",
            "ResourceNotDiscoveredException",
            "ValidationException",
            "ValidationException",
            "InvalidTimeRangeException",
            "InvalidNextTokenException",
            "InvalidNextTokenException",
            "ValidationException",
            "ValidationException",
            "InvalidNextTokenException",
        ]
    );
    assert!(rs.iter().all(|r| r["error"]["status"] == 400), "{rs:?}");
    assert_eq!(
        rs[4]["error"]["message"],
        "Cannot find configuration recorder with the specified name 'nope'."
    );

    // Paginators over 1,000+ resources: every one exactly once, agreeing with the counts.
    let (ty, n) = biggest_type(&s);
    assert!(
        n >= 1000,
        "{ty}: {n} resources, want 1000+ for the paginator"
    );
    let r = boto(
        &s,
        &json!([{"op": "ListDiscoveredResources", "params": {"resourceType": ty}, "paginate": "resourceIdentifiers"}]),
    );
    let items = ok(&r[0])["items"].as_array().unwrap();
    let pages = ok(&r[0])["pages"].as_u64().unwrap();
    let mut ids: Vec<&str> = items
        .iter()
        .map(|i| i["resourceId"].as_str().unwrap())
        .collect();
    let listed = ids.len() as u64;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, listed, "no resource listed twice");
    // The estate keeps changing: the listing is within a tick's churn of the count.
    let n2 = biggest_type(&s).1;
    assert!(
        listed.abs_diff(n2) * 20 < n2 && pages >= 10,
        "listed {listed} in {pages} pages, counted {n2}"
    );
    assert!(items.iter().all(|i| i["resourceType"] == ty.as_str()));

    // A CI in the API's form (spec §3), from GetResourceConfigHistory and BatchGet.
    let sg = call(
        &s,
        "ListDiscoveredResources",
        json!({"resourceType": "AWS::EC2::SecurityGroup", "limit": 5}),
    );
    let sg_id = ok(&sg)["resourceIdentifiers"][0]["resourceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ok(&sg)["resourceIdentifiers"][0]["resourceName"].is_string());
    let h = call(
        &s,
        "GetResourceConfigHistory",
        json!({"resourceType": "AWS::EC2::SecurityGroup", "resourceId": sg_id}),
    );
    let ci = &ok(&h)["configurationItems"][0];
    for k in [
        "version",
        "accountId",
        "configurationItemCaptureTime",
        "configurationItemStatus",
        "configurationStateId",
        "configurationItemMD5Hash",
        "arn",
        "resourceType",
        "resourceId",
        "resourceName",
        "awsRegion",
        "availabilityZone",
        "tags",
        "relatedEvents",
        "relationships",
        "configuration",
        "supplementaryConfiguration",
    ] {
        assert!(ci.get(k).is_some(), "{k} in {ci}");
    }
    for k in [
        "configurationItemVersion",
        "awsAccountId",
        "ARN",
        "configurationStateMd5Hash",
    ] {
        assert!(ci.get(k).is_none(), "notification-only {k} in {ci}");
    }
    assert_eq!(ci["version"], "1.3");
    assert_eq!(ci["awsRegion"], REGION);
    assert!(ci["configurationItemCaptureTime"].is_number());
    assert!(ci["configurationStateId"].is_string());
    let conf: Value = serde_json::from_str(ci["configuration"].as_str().unwrap()).unwrap();
    assert_eq!(conf["groupId"], sg_id.as_str());
    assert!(ci["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("relationshipName").is_some()));
    let b = call(
        &s,
        "BatchGetResourceConfig",
        json!({"resourceKeys": [
        {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": sg_id},
        {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-not-there"}]}),
    );
    let items = ok(&b)["baseConfigurationItems"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("tags").is_none() && items[0].get("relationships").is_none());
    assert_eq!(ok(&b)["unprocessedResourceKeys"], json!([]));

    // History pages: limit 1, resumed by token, newest first, no item twice.
    let mut busiest = None;
    wait("a resource with 3 versions", 120, || {
        let r = call(
            &s,
            "ListDiscoveredResources",
            json!({"resourceType": "AWS::EC2::SecurityGroup", "limit": 100}),
        );
        for i in ok(&r)["resourceIdentifiers"].as_array().unwrap() {
            let id = i["resourceId"].as_str().unwrap();
            let h = call(
                &s,
                "GetResourceConfigHistory",
                json!({"resourceType": "AWS::EC2::SecurityGroup", "resourceId": id, "limit": 3}),
            );
            if ok(&h)["configurationItems"].as_array().unwrap().len() == 3 {
                busiest = Some(id.to_string());
                return true;
            }
        }
        false
    });
    let id = busiest.unwrap();
    let r = boto(
        &s,
        &json!([
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": id, "limit": 1}, "paginate": "configurationItems"},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": id, "chronologicalOrder": "Forward"}, "paginate": "configurationItems"},
        ]),
    );
    let rev: Vec<String> = ok(&r[0])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["configurationStateId"].as_str().unwrap().to_string())
        .collect();
    let fwd: Vec<String> = ok(&r[1])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["configurationStateId"].as_str().unwrap().to_string())
        .collect();
    assert!(rev.len() >= 3);
    assert!(ok(&r[0])["pages"].as_u64().unwrap() >= 3);
    let mut back = fwd.clone();
    back.reverse();
    assert_eq!(
        &back[..rev.len().min(back.len())],
        &rev[..rev.len().min(back.len())]
    );
    assert_eq!(
        ok(&r[0])["items"][0]["configurationItemStatus"] == "ResourceDiscovered",
        rev.len() == 1
    );

    // The aws CLI: get-status and get-resource-config-history.
    let status = aws(&s, &["get-status"]);
    assert!(
        status.contains("Configuration Recorders:") && status.contains("name: default"),
        "{status}"
    );
    assert!(status.contains("recorder: ON"), "{status}");
    assert!(status.contains("Delivery Channels:"), "{status}");
    let hist: Value = serde_json::from_str(&aws(
        &s,
        &[
            "get-resource-config-history",
            "--resource-type",
            "AWS::EC2::SecurityGroup",
            "--resource-id",
            &id,
            "--limit",
            "2",
        ],
    ))
    .unwrap();
    assert_eq!(hist["configurationItems"].as_array().unwrap().len(), 2);
    assert_eq!(hist["configurationItems"][0]["resourceId"], id.as_str());

    // Stop → no new items → Start → recording resumes.
    ok(&call(
        &s,
        "StopConfigurationRecorder",
        json!({"ConfigurationRecorderName": "default"}),
    ));
    let st = ok(&call(&s, "DescribeConfigurationRecorderStatus", json!({}))).clone();
    assert_eq!(st["ConfigurationRecordersStatus"][0]["recording"], false);
    assert!(st["ConfigurationRecordersStatus"][0]["lastStopTime"].is_number());
    std::thread::sleep(Duration::from_secs(3));
    let w0 = watermark(&s);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(watermark(&s), w0, "nothing recorded while stopped");

    // The delivery channel, replaced through the API, delivers a snapshot on demand.
    let rs = boto(
        &s,
        &json!([
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "audit-bucket",
                "s3KeyPrefix": "org", "configSnapshotDeliveryProperties": {"deliveryFrequency": "Six_Hours"}}}},
            {"op": "DescribeDeliveryChannels", "params": {}},
            {"op": "DeliverConfigSnapshot", "params": {"deliveryChannelName": "default"}},
            {"op": "DeleteConfigurationRecorder", "params": {"ConfigurationRecorderName": "nope"}},
        ]),
    );
    ok(&rs[0]);
    assert_eq!(
        ok(&rs[1])["DeliveryChannels"][0]["s3BucketName"],
        "audit-bucket"
    );
    assert_eq!(
        ok(&rs[1])["DeliveryChannels"][0]["configSnapshotDeliveryProperties"]["deliveryFrequency"],
        "Six_Hours"
    );
    assert_eq!(err_code(&rs[2]), "NoRunningConfigurationRecorderException");
    assert_eq!(err_code(&rs[3]), "NoSuchConfigurationRecorderException");
    ok(&call(
        &s,
        "StartConfigurationRecorder",
        json!({"ConfigurationRecorderName": "default"}),
    ));
    wait("recording resumed", 60, || watermark(&s) > w0);
    let snap = call(
        &s,
        "DeliverConfigSnapshot",
        json!({"deliveryChannelName": "default"}),
    );
    let snap_id = ok(&snap)["configSnapshotId"].as_str().unwrap().to_string();
    assert_eq!(snap_id.len(), 36);
    let bucket = s.data.join("delivery").join("audit-bucket");
    wait("the snapshot file", 60, || {
        find_files(&bucket)
            .iter()
            .any(|p| p.to_string_lossy().contains(&snap_id))
    });
    assert!(find_files(&bucket)
        .iter()
        .all(|p| p.strip_prefix(&bucket).unwrap().starts_with("org/AWSLogs")));
    let ds = ok(&call(&s, "DescribeDeliveryChannelStatus", json!({}))).clone();
    let d = &ds["DeliveryChannelsStatus"][0];
    for k in [
        "configSnapshotDeliveryInfo",
        "configHistoryDeliveryInfo",
        "configStreamDeliveryInfo",
    ] {
        assert!(d[k]["lastStatus"].is_string(), "{k} in {d}");
    }
    wait("snapshot status", 30, || {
        ok(&call(&s, "DescribeDeliveryChannelStatus", json!({})))["DeliveryChannelsStatus"][0]
            ["configSnapshotDeliveryInfo"]["lastStatus"]
            == "Success"
    });

    // A new recording group takes effect and, with the channel and a stop, survives a
    // restart (kill -9: only what the API acknowledged counts).
    ok(&call(
        &s,
        "PutConfigurationRecorder",
        json!({"ConfigurationRecorder": {"name": "default",
        "roleARN": "arn:aws:iam::123456789012:role/config-recorder",
        "recordingGroup": {"allSupported": false, "includeGlobalResourceTypes": false,
            "resourceTypes": ["AWS::EC2::SecurityGroup"],
            "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}}}}),
    ));
    ok(&call(
        &s,
        "StopConfigurationRecorder",
        json!({"ConfigurationRecorderName": "default"}),
    ));
    drop(s);
    let s = start(&cfg);
    let rs = boto(
        &s,
        &json!([
            {"op": "DescribeConfigurationRecorders", "params": {}},
            {"op": "DescribeConfigurationRecorderStatus", "params": {}},
            {"op": "DescribeDeliveryChannels", "params": {}},
        ]),
    );
    let rec = &ok(&rs[0])["ConfigurationRecorders"][0];
    assert_eq!(
        rec["roleARN"],
        "arn:aws:iam::123456789012:role/config-recorder"
    );
    assert_eq!(
        rec["recordingGroup"]["resourceTypes"],
        json!(["AWS::EC2::SecurityGroup"])
    );
    assert_eq!(
        ok(&rs[1])["ConfigurationRecordersStatus"][0]["recording"],
        false
    );
    assert_eq!(
        ok(&rs[2])["DeliveryChannels"][0]["s3BucketName"],
        "audit-bucket"
    );
    let w1 = watermark(&s);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(watermark(&s), w1, "still stopped after the restart");
    ok(&call(
        &s,
        "StartConfigurationRecorder",
        json!({"ConfigurationRecorderName": "default"}),
    ));
    wait("recording resumed after the restart", 60, || {
        watermark(&s) > w1 + 20
    });
    // Only security groups are recorded now, as the recording group says.
    let out = driftlog_json(
        &s.cfg,
        &["tail", "--json", "--limit", "20", "--from", &w1.to_string()],
    );
    let types: BTreeSet<String> = out
        .iter()
        .map(|v| {
            v["configurationItem"]["resourceType"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["AWS::EC2::SecurityGroup".to_string()])
    );
}

/// A `driftlog` command with `--config cfg`: its JSON output lines.
fn driftlog_json(cfg: &Path, args: &[&str]) -> Vec<Value> {
    json_lines(
        &Command::new(env!("CARGO_BIN_EXE_driftlog"))
            .args(args)
            .arg("--config")
            .arg(cfg)
            .output()
            .unwrap(),
    )
}

fn find_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn signatures_and_malformed_requests_get_aws_errors_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 300);
    let s = start(&cfg);
    let port = s.srv.port;
    // A wrong secret: InvalidSignatureException, 403.
    let r = boto_as(
        &s,
        "not-the-secret",
        &json!([{"op": "DescribeConfigurationRecorders"}]),
    )
    .remove(0);
    assert_eq!(err_code(&r), "InvalidSignatureException");
    assert_eq!(r["error"]["status"], 403);
    let big = "x".repeat(2 << 20);
    let rs = boto(
        &s,
        &json!([
            {"raw": {"target": "StarlingDoveService.DescribeConfigurationRecorders", "body": "{}"}},
            {"raw": {"target": "StarlingDoveService.DescribeConfigurationRecorders", "body": "{}",
                     "headers": {"Authorization": format!("AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20260101/us-east-1/config/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
                                 "X-Amz-Date": "20260101T000000Z"}}},
        ]),
    );
    assert_eq!(err_code(&rs[0]), "MissingAuthenticationTokenException");
    assert_eq!(rs[0]["error"]["status"], 403);
    assert_eq!(
        rs[0]["error"]["errortype"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(err_code(&rs[1]), "UnrecognizedClientException");

    // A client that never finishes its headers is cut off (30 s), and blocks nobody.
    let slow = std::thread::spawn(move || {
        use std::io::Read;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
            .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let t = Instant::now();
        let mut buf = [0u8; 256];
        let closed = matches!(c.read(&mut buf), Ok(_) | Err(_));
        (closed, t.elapsed())
    });
    let r = boto(&s, &json!([{"op": "DescribeConfigurationRecorders"}])).remove(0);
    ok(&r);
    let (closed, after) = slow.join().unwrap();
    assert!(
        closed && after < Duration::from_secs(45),
        "slow client cut after {after:?}"
    );

    // With authentication off (loopback), the same malformed requests, unsigned.
    drop(s);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("auth = \"sigv4\"", "auth = \"off\"");
    std::fs::write(&cfg, text).unwrap();
    let s = start(&cfg);
    let port = s.srv.port;
    let rs = boto(
        &s,
        &json!([
            {"raw": {"target": "StarlingDoveService.NoSuchOperation", "body": "{}"}},
            {"raw": {"target": null, "body": "{}"}},
            {"raw": {"target": "StarlingDoveService.DescribeConfigurationRecorders", "body": "{not json"}},
            {"raw": {"target": "StarlingDoveService.DescribeConfigurationRecorders", "body": "[1,2]"}},
            {"raw": {"target": "StarlingDoveService.GetResourceConfigHistory", "body": "{\"resourceType\": 5, \"resourceId\": \"x\"}"}},
            {"raw": {"target": "StarlingDoveService.GetResourceConfigHistory", "body": "{\"resourceId\": \"x\"}"}},
            {"raw": {"target": "StarlingDoveService.ListDiscoveredResources", "body": format!("{{\"resourceType\": \"{big}\"}}")}},
            {"raw": {"target": "StarlingDoveService.DescribeConfigurationRecorders", "body": "{}"}},
        ]),
    );
    assert_eq!(err_code(&rs[0]), "UnknownOperationException");
    assert_eq!(err_code(&rs[1]), "UnknownOperationException");
    assert_eq!(err_code(&rs[2]), "SerializationException");
    assert_eq!(err_code(&rs[3]), "SerializationException");
    assert_eq!(err_code(&rs[4]), "SerializationException");
    assert_eq!(err_code(&rs[5]), "ValidationException");
    assert_eq!(rs[5]["error"]["message"], "1 validation error detected: Value null at 'resourceType' failed to satisfy constraint: Member must not be null");
    assert_eq!(rs[6]["error"]["status"], 413);
    // Still serving, nothing changed.
    assert_eq!(ok(&rs[7])["ConfigurationRecorders"][0]["name"], "default");

    // SelectResourceConfig: the SQL subset, paginated by boto3, agreeing with the counts.
    wait("discovery", 60, || {
        call(&s, "GetDiscoveredResourceCounts", json!({}))["ok"]["totalDiscoveredResources"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    // Stop recording so both answers see the same inventory.
    ok(&call(
        &s,
        "StopConfigurationRecorder",
        json!({"ConfigurationRecorderName": "default"}),
    ));
    std::thread::sleep(Duration::from_secs(2));
    let rs = boto(
        &s,
        &json!([
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceId, configuration.groupName WHERE resourceType = 'AWS::EC2::SecurityGroup'", "Limit": 7}, "paginate": "Results"},
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceType, COUNT(*) GROUP BY resourceType ORDER BY COUNT(*) DESC"}},
            {"op": "GetDiscoveredResourceCounts", "params": {}},
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceId FROM resources"}},
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceId", "Limit": 101}},
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceId", "NextToken": "forged"}},
            {"op": "SelectResourceConfig", "params": {"Expression": "SELECT resourceId, awsRegion WHERE awsRegion = 'eu-west-1'"}},
        ]),
    );
    let counts: std::collections::BTreeMap<String, u64> = ok(&rs[2])["resourceCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resourceType"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let sgs = ok(&rs[0])["items"].as_array().unwrap();
    assert_eq!(sgs.len() as u64, counts["AWS::EC2::SecurityGroup"]);
    assert!(ok(&rs[0])["pages"].as_u64().unwrap() >= 2);
    let row: Value = serde_json::from_str(sgs[0].as_str().unwrap()).unwrap();
    assert!(row["resourceId"].as_str().unwrap().starts_with("sg-"));
    assert!(row["configuration"]["groupName"].is_string(), "{row}");
    let grouped: std::collections::BTreeMap<String, u64> = ok(&rs[1])["Results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r.as_str().unwrap()).unwrap();
            (
                v["resourceType"].as_str().unwrap().to_string(),
                v["COUNT(*)"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(grouped, counts);
    assert_eq!(
        ok(&rs[1])["QueryInfo"]["SelectFields"],
        json!([{"Name": "resourceType"}, {"Name": "COUNT(*)"}])
    );
    assert_eq!(err_code(&rs[3]), "InvalidExpressionException");
    assert_eq!(err_code(&rs[4]), "ValidationException");
    assert_eq!(err_code(&rs[5]), "InvalidNextTokenException");
    // The caller's region (us-east-1) only: no eu-west-1 rows.
    assert_eq!(ok(&rs[6])["Results"], json!([]));

    // Deleting the channel, then the recorder: happy paths, and what they leave behind.
    let sg_id = {
        let r = call(
            &s,
            "ListDiscoveredResources",
            json!({"resourceType": "AWS::EC2::SecurityGroup", "limit": 1}),
        );
        ok(&r)["resourceIdentifiers"][0]["resourceId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let rs = boto(
        &s,
        &json!([
            {"op": "DeleteDeliveryChannel", "params": {"DeliveryChannelName": "default"}},
            {"op": "DescribeDeliveryChannels", "params": {}},
            {"op": "DescribeDeliveryChannelStatus", "params": {}},
            {"op": "StartConfigurationRecorder", "params": {"ConfigurationRecorderName": "default"}},
            {"op": "DeleteConfigurationRecorder", "params": {"ConfigurationRecorderName": "default"}},
            {"op": "DescribeConfigurationRecorders", "params": {}},
            {"op": "DescribeConfigurationRecorderStatus", "params": {}},
            {"op": "PutDeliveryChannel", "params": {"DeliveryChannel": {"name": "default", "s3BucketName": "b"}}},
            {"op": "GetResourceConfigHistory", "params": {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": sg_id}},
            {"op": "PutConfigurationRecorder", "params": {"ConfigurationRecorder": {"name": "fresh", "roleARN": "arn:aws:iam::123456789012:role/config"}}},
            {"op": "DescribeConfigurationRecorders", "params": {}},
            {"op": "DescribeConfigurationRecorderStatus", "params": {"ConfigurationRecorderNames": ["fresh"]}},
        ]),
    );
    assert_eq!(ok(&rs[0]), &json!({}));
    assert_eq!(ok(&rs[1])["DeliveryChannels"], json!([]));
    assert_eq!(ok(&rs[2])["DeliveryChannelsStatus"], json!([]));
    assert_eq!(err_code(&rs[3]), "NoAvailableDeliveryChannelException");
    assert_eq!(ok(&rs[4]), &json!({}));
    assert_eq!(ok(&rs[5])["ConfigurationRecorders"], json!([]));
    assert_eq!(ok(&rs[6])["ConfigurationRecordersStatus"], json!([]));
    assert_eq!(
        err_code(&rs[7]),
        "NoAvailableConfigurationRecorderException"
    );
    assert!(
        !ok(&rs[8])["configurationItems"]
            .as_array()
            .unwrap()
            .is_empty(),
        "history stays readable"
    );
    assert_eq!(ok(&rs[10])["ConfigurationRecorders"][0]["name"], "fresh");
    // AWS's default recording group: all supported types, global ones left out.
    assert_eq!(
        ok(&rs[10])["ConfigurationRecorders"][0]["recordingGroup"]["includeGlobalResourceTypes"],
        false
    );
    assert_eq!(
        ok(&rs[11])["ConfigurationRecordersStatus"][0]["recording"],
        false
    );

    // The audit trail: every call above, refused ones included, newest first.
    let out = driftlog_json(&cfg, &["audit", "--json", "--limit", "1000"]);
    let trail = out;
    let stop = trail
        .iter()
        .find(|c| c["operation"] == "StopConfigurationRecorder")
        .expect("the stop is on the trail");
    assert_eq!(stop["parameters"]["ConfigurationRecorderName"], "default");
    assert_eq!(stop["sourceIp"], "127.0.0.1");
    assert_eq!(stop["readOnly"], false);
    assert!(stop["errorCode"].is_null());
    let refused = trail
        .iter()
        .find(|c| c["errorCode"] == "InvalidSignatureException")
        .expect("the badly signed call is on the trail");
    assert_eq!(refused["accessKey"], KEY);
    assert_eq!(refused["operation"], "DescribeConfigurationRecorders");
    assert!(trail
        .iter()
        .any(|c| c["operation"] == "SelectResourceConfig"
            && c["errorCode"] == "InvalidExpressionException"));
    let seqs: Vec<u64> = trail.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let errors = Command::new(env!("CARGO_BIN_EXE_driftlog"))
        .args(["audit", "--errors", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&errors.stdout);
    assert!(
        text.contains("InvalidSignatureException") && !text.contains(" OK\n"),
        "{text}"
    );

    // /metrics in the Prometheus text format.
    let m = http_get(port, "/metrics");
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    for needle in [
        "driftlog_items_recorded_total{resource_type=\"AWS::EC2::SecurityGroup\"}",
        "driftlog_volatile_changes_suppressed_total{",
        "driftlog_polls_total{account=",
        "driftlog_poll_duration_seconds{",
        "driftlog_resources{resource_type=\"AWS::EC2::VPC\",state=\"live\"}",
        "driftlog_log_size_bytes ",
        "driftlog_log_watermark ",
        "driftlog_api_calls_total{operation=\"SelectResourceConfig\",result=\"InvalidExpressionException\"} 1",
    ] {
        assert!(m.contains(needle), "{needle} in /metrics:\n{m}");
    }

    // driftlog stats: items per hour by type and the busiest resources.
    let out = driftlog_json(&cfg, &["stats", "--json", "--top", "3"]);
    let st = &out[0];
    let items = st["items"].as_u64().unwrap();
    assert!(items > 0);
    let by_type: u64 = st["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["items"].as_u64().unwrap())
        .sum();
    assert_eq!(by_type, items);
    assert_eq!(st["resources"].as_array().unwrap().len(), 3);
    assert!(st["resources"][0]["items"].as_u64() >= st["resources"][2]["items"].as_u64());
}

/// The config stream's status (`configStreamDeliveryInfo`) follows the SNS deliveries of
/// configuration changes, not only the channel's own notifications: `Success` once changes
/// reached the topic on moto, with the time of the last one.
#[test]
fn config_stream_status_follows_the_sns_deliveries() {
    let Some(m) = moto_support::moto() else {
        return;
    };
    for (k, v) in moto_support::CREDENTIALS {
        std::env::set_var(k, v);
    }
    let r = moto_support::delivery(&m, &["topics", "stream-topic", "stream-queue", "us-east-1"]);
    let topic = r["topics"]["us-east-1"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 200);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[delivery]\n",
        &format!(
            "[delivery]\nsns_topic_arn = \"{topic}\"\nendpoint_url = \"{}\"\nregion = \"us-east-1\"\n",
            m.url
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let s = start(&cfg);
    let status = || {
        ok(&call(&s, "DescribeDeliveryChannelStatus", json!({})))["DeliveryChannelsStatus"][0]
            ["configStreamDeliveryInfo"]
            .clone()
    };
    wait("the config stream to report Success", 60, || {
        status()["lastStatus"] == "Success"
    });
    let st = status();
    assert!(st["lastStatusChangeTime"].is_number(), "{st}");
    assert!(st.get("lastErrorCode").is_none(), "{st}");
}
