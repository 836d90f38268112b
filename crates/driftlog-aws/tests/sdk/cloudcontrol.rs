//! The generic Cloud Control source against a protocol-level Cloud Control server: moto does
//! not implement the API, so this test runs a small server on 127.0.0.1 that speaks its wire
//! protocol (JSON 1.0, `X-Amz-Target: CloudApiService.ListResources` / `.GetResource`) and
//! answers from fixture files (`fixtures/cloudcontrol/<Type>.json`): pages of 25 items with
//! a `NextToken`, throttling (`ThrottlingException`, which the real SDK client retries),
//! a listing failing mid-way, list handlers returning identifiers only (then `GetResource`),
//! a child type listed per parent (`ResourceModel`), and an unknown type. Everything on the
//! client side is the real SDK and the real source.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use driftlog_aws::{AwsSettings, AwsSource, Endpoints, Service};
use driftlog_model::{PartialSnapshot, Scope};
use driftlog_poll::{PollOutcome, Source};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const PAGE: usize = 25;

/// What the server does besides answering.
#[derive(Default)]
struct Faults {
    /// Every n-th request is refused with `ThrottlingException` (0: never).
    throttle_every: u64,
    /// `ListResources` of this type fails from this page on (1-based).
    fail_from_page: Option<(&'static str, usize)>,
}

struct Server {
    types: BTreeMap<String, Vec<Value>>,
    faults: Faults,
    requests: AtomicU64,
    throttled: AtomicU64,
    gets: AtomicU64,
    /// The `ResourceModel`s child listings were asked with.
    models: Mutex<Vec<String>>,
}

fn fixtures() -> BTreeMap<String, Vec<Value>> {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "sdk",
        "fixtures",
        "cloudcontrol",
    ]
    .iter()
    .collect();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .replace('_', "::");
        let text = std::fs::read_to_string(&path).expect("read");
        let items: Vec<Value> = serde_json::from_str(&text).expect("fixture JSON");
        out.insert(name, items);
    }
    out
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-errortype", code),
        ],
        json!({"__type": code, "Message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(s): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = s.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if s.faults.throttle_every > 0 && n % s.faults.throttle_every == 0 {
        s.throttled.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        );
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let type_name = req["TypeName"].as_str().unwrap_or_default().to_string();
    let Some(items) = s.types.get(&type_name) else {
        return error(
            StatusCode::BAD_REQUEST,
            "TypeNotFoundException",
            &format!("The type {type_name} cannot be found"),
        );
    };
    match target.as_str() {
        "CloudApiService.ListResources" => {
            let model: Option<Value> = req["ResourceModel"]
                .as_str()
                .and_then(|m| serde_json::from_str(m).ok());
            if let Some(m) = &model {
                s.models.lock().expect("lock").push(m.to_string());
            }
            let needs_parent = items.iter().any(|i| i.get("Parent").is_some());
            if needs_parent && model.is_none() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestException",
                    "Missing Or Invalid ResourceModel property in AWS::EKS::Nodegroup list handler request input. Required property: [ClusterName]",
                );
            }
            let chosen: Vec<&Value> = items
                .iter()
                .filter(|i| match (&model, i.get("Parent")) {
                    (Some(m), Some(p)) => p
                        .as_object()
                        .is_some_and(|p| p.iter().all(|(k, v)| m.get(k) == Some(v))),
                    _ => true,
                })
                .collect();
            let start: usize = req["NextToken"]
                .as_str()
                .and_then(|t| t.strip_prefix("page-"))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let page_no = start / PAGE + 1;
            if let Some((t, from)) = s.faults.fail_from_page {
                if t == type_name && page_no >= from {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "HandlerInternalFailureException",
                        "the list handler failed",
                    );
                }
            }
            let page: Vec<Value> = chosen
                .iter()
                .skip(start)
                .take(PAGE)
                .map(|i| {
                    json!({"Identifier": i["Identifier"],
                           "Properties": i["Properties"].to_string()})
                })
                .collect();
            let mut out = json!({"TypeName": type_name, "ResourceDescriptions": page});
            if start + PAGE < chosen.len() {
                out["NextToken"] = json!(format!("page-{}", start + PAGE));
            }
            ok(out)
        }
        "CloudApiService.GetResource" => {
            s.gets.fetch_add(1, Ordering::SeqCst);
            let id = req["Identifier"].as_str().unwrap_or_default();
            match items.iter().find(|i| i["Identifier"] == id) {
                Some(i) => {
                    let props = i.get("Full").unwrap_or(&i["Properties"]);
                    ok(json!({"TypeName": type_name, "ResourceDescription":
                        {"Identifier": id, "Properties": props.to_string()}}))
                }
                None => error(
                    StatusCode::BAD_REQUEST,
                    "ResourceNotFoundException",
                    "Resource not found",
                ),
            }
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("unknown target {other}"),
        ),
    }
}

async fn start(faults: Faults) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        types: fixtures(),
        faults,
        requests: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        gets: AtomicU64::new(0),
        models: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/", post(handle))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), server)
}

async fn source(url: &str, types: &[&str], max_attempts: u32) -> AwsSource {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    AwsSource::connect(&AwsSettings {
        regions: vec![REGION.into()],
        account_id: Some(ACCOUNT.into()),
        endpoints: Endpoints {
            services: [(Service::CloudControl, url.to_string())].into(),
            ..Endpoints::default()
        },
        max_attempts,
        call_timeout: Duration::from_secs(10),
        cloudcontrol_types: types.iter().map(|t| t.to_string()).collect(),
        ..AwsSettings::default()
    })
    .await
    .expect("connect")
}

fn scope(t: &str) -> Scope {
    Scope::new(ACCOUNT, REGION, t)
}

fn doc_of(p: &PartialSnapshot, id: &str) -> Value {
    let o = p
        .resources
        .iter()
        .find(|o| o.key.resource_id == id)
        .unwrap_or_else(|| panic!("{id} not recorded"));
    serde_json::from_slice(o.doc.as_ref()).expect("document JSON")
}

const RECORDED: &[&str] = &[
    "AWS::Athena::WorkGroup",
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupVault",
    "AWS::ECS::Cluster",
    "AWS::ECS::TaskDefinition",
    "AWS::EFS::FileSystem",
    "AWS::EKS::Nodegroup",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
    "AWS::GuardDuty::Detector",
    "AWS::Kinesis::Stream",
    "AWS::Route53::HealthCheck",
];

#[tokio::test]
async fn records_a_fixture_account_with_paging_throttling_and_partial_lists() {
    let (url, server) = start(Faults {
        throttle_every: 9,
        fail_from_page: None,
    })
    .await;
    let s = source(&url, RECORDED, 5).await;
    let want = fixtures();
    for t in RECORDED {
        let outcome = s.poll(&scope(t)).await;
        let PollOutcome::Complete(snap) = outcome else {
            panic!("{t}: expected a complete snapshot, got {outcome:?}");
        };
        let got: Vec<&str> = snap
            .resources()
            .iter()
            .map(|o| o.key.resource_id.as_str())
            .collect();
        assert_eq!(got.len(), want[*t].len(), "{t}: every item of every page");
        let partial = PartialSnapshot {
            resources: snap.resources().to_vec(),
        };
        for item in &want[*t] {
            let id = item["Identifier"].as_str().expect("id");
            let doc = doc_of(&partial, id);
            let props = item.get("Full").unwrap_or(&item["Properties"]);
            assert_eq!(
                &doc["configuration"], props,
                "{t} {id}: the properties, as they are"
            );
            assert_eq!(doc["availabilityZone"], "Regional");
            assert_eq!(doc["relationships"], json!([]));
        }
    }
    assert!(
        server.throttled.load(Ordering::SeqCst) > 0,
        "the server throttled some requests, and the SDK retried them"
    );
    // Identifier-only listings were completed with GetResource, once per file system.
    assert_eq!(server.gets.load(Ordering::SeqCst), 4);
    // Names, ARNs and tags derived from the properties.
    let PollOutcome::Complete(ws) = s.poll(&scope("AWS::Athena::WorkGroup")).await else {
        panic!("workgroups")
    };
    let ws = PartialSnapshot {
        resources: ws.resources().to_vec(),
    };
    let d = doc_of(&ws, "wg-001");
    assert_eq!(d["resourceName"], "wg-001");
    assert_eq!(d["tags"], json!({"team": "web", "env": "prod"}));
    let PollOutcome::Complete(vaults) = s.poll(&scope("AWS::Backup::BackupVault")).await else {
        panic!("vaults")
    };
    let vaults = PartialSnapshot {
        resources: vaults.resources().to_vec(),
    };
    let d = doc_of(&vaults, "vault-1");
    assert_eq!(
        d["arn"],
        format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:vault-1")
    );
    assert_eq!(d["resourceName"], "vault-1");
    // Node groups were listed per cluster, with the cluster as the ResourceModel.
    let models = server.models.lock().expect("lock").clone();
    assert!(
        models.contains(&json!({"ClusterName": "prod"}).to_string()),
        "{models:?}"
    );
    assert!(
        models.contains(&json!({"ClusterName": "staging"}).to_string()),
        "{models:?}"
    );
}

#[tokio::test]
async fn a_listing_failing_mid_way_is_partial_and_unknown_types_say_so() {
    let (url, _server) = start(Faults {
        throttle_every: 0,
        fail_from_page: Some(("AWS::Kinesis::Stream", 2)),
    })
    .await;
    let s = source(&url, &["AWS::Kinesis::Stream", "AWS::Nope::Thing"], 2).await;
    match s.poll(&scope("AWS::Kinesis::Stream")).await {
        PollOutcome::Partial(p, e) => {
            assert_eq!(p.resources.len(), PAGE, "the first page is recorded");
            assert_eq!(e.code(), "HandlerInternalFailureException", "{e}");
        }
        other => panic!("expected a partial poll (no deletion can follow), got {other:?}"),
    }
    match s.poll(&scope("AWS::Nope::Thing")).await {
        PollOutcome::Failed(e) => assert_eq!(e.code(), "TypeNotFoundException", "{e}"),
        other => panic!("expected a failed poll, got {other:?}"),
    }
    // A targeted re-describe reads the named resources only.
    let got = s
        .describe(&[driftlog_model::ResourceKey::new(
            ACCOUNT,
            REGION,
            "AWS::Kinesis::Stream",
            "stream-33",
        )])
        .await
        .expect("describe");
    assert_eq!(got.resources.len(), 1);
    assert_eq!(doc_of(&got, "stream-33")["configuration"]["ShardCount"], 2);
}

#[tokio::test]
async fn hand_shaped_types_win_and_bad_names_are_refused() {
    let (url, _server) = start(Faults::default()).await;
    let s = source(&url, &["all", "AWS::S3::Bucket"], 1).await;
    let types = s.cloudcontrol_types();
    assert!(types.len() > 250, "all: {}", types.len());
    assert!(!types
        .iter()
        .any(|t| t == "AWS::S3::Bucket" || t == "AWS::EC2::SecurityGroup"));
    let buckets = s
        .scopes()
        .into_iter()
        .filter(|sc| sc.resource_type == "AWS::S3::Bucket")
        .count();
    assert_eq!(buckets, 1, "one S3 scope, the hand-shaped one");
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    let err = AwsSource::connect(&AwsSettings {
        regions: vec![REGION.into()],
        account_id: Some(ACCOUNT.into()),
        cloudcontrol_types: vec!["S3 buckets".into()],
        ..AwsSettings::default()
    })
    .await
    .expect_err("a bad type name");
    assert!(err.to_string().contains("S3 buckets"), "{err}");
}
