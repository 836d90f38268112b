//! The edge services of the AWS source (ELBv2, SNS, SQS, ECR, EKS, Secrets Manager,
//! CloudWatch, NAT gateways, EIPs, VPC endpoints, flow logs) against moto, driven by boto3
//! through tests/aws/estate_edge.py: every type in both security states, shaped as the
//! reference items and AWS Config's property schema say, changes recorded once each, and a
//! failing service deleting nothing.
//!
//! moto cannot refuse one call for one resource: a scripted SNS on loopback does that.

use driftlog_aws::{AwsSettings, AwsSource, Endpoints, Service};
use driftlog_log::{Log, LogOptions};
use driftlog_model::schema::PropertySchema;
use driftlog_model::{Filter, ResourceKey, Status};
use driftlog_poll::Source;
use driftlog_recorder::{Recorder, RecorderConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::moto::support::{self, free_port, moto, Moto, CREDENTIALS};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

const LB: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
const LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
const TOPIC: &str = "AWS::SNS::Topic";
const QUEUE: &str = "AWS::SQS::Queue";
const REPO: &str = "AWS::ECR::Repository";
const CLUSTER: &str = "AWS::EKS::Cluster";
const SECRET: &str = "AWS::SecretsManager::Secret";
const ALARM: &str = "AWS::CloudWatch::Alarm";
const NAT: &str = "AWS::EC2::NatGateway";
const EIP: &str = "AWS::EC2::EIP";
const VPCE: &str = "AWS::EC2::VPCEndpoint";
const FLOW_LOG: &str = "AWS::EC2::FlowLog";

/// Runs tests/aws/estate_edge.py against the server; returns its JSON answer.
fn edge(m: &Moto, args: &[&str]) -> Value {
    support::run_script(m, "estate_edge.py", args)
}

fn credentials() {
    for (k, v) in CREDENTIALS {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
}

fn settings(url: &str) -> AwsSettings {
    AwsSettings {
        regions: vec![REGION.into()],
        endpoints: Endpoints::everywhere(url),
        max_attempts: 2,
        call_timeout: Duration::from_secs(10),
        ..AwsSettings::default()
    }
}

fn key(t: &str, id: &str) -> ResourceKey {
    ResourceKey::new(ACCOUNT, REGION, t, id)
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

struct Rig {
    _dir: tempfile::TempDir,
    log: Arc<Log>,
    recorder: Arc<Recorder>,
}

fn rig(source: Arc<dyn Source>) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let log =
        Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).expect("open log"));
    let recorder = Recorder::new(log.clone(), source, RecorderConfig::default());
    Rig {
        _dir: dir,
        log,
        recorder,
    }
}

impl Rig {
    async fn poll(&self) -> Vec<driftlog_model::ConfigurationItem> {
        let before = self.log.watermark();
        self.recorder.poll_all_once().await.expect("poll");
        let (items, _) = self
            .log
            .read_range(before, usize::MAX, &Filter::default())
            .expect("read");
        items
    }

    fn doc(&self, k: &ResourceKey) -> Value {
        let ci = self.log.latest(k).expect("read").unwrap_or_else(|| {
            let errors: Vec<_> = self
                .recorder
                .status()
                .snapshot()
                .into_iter()
                .filter(|s| s.last_error_code.is_some())
                .collect();
            panic!("{k:?} was not recorded; scopes in error: {errors:#?}")
        });
        ci.to_notification_json().expect("json")
    }

    /// The last error code of one type's scope.
    fn error_of(&self, t: &str) -> Option<String> {
        self.recorder
            .status()
            .snapshot()
            .into_iter()
            .find(|st| st.resource_type == t)
            .and_then(|st| st.last_error_code)
    }
}

fn rels(doc: &Value, name: &str) -> Vec<String> {
    let mut v: Vec<String> = doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["name"] == name)
        .map(|r| s(&r["resourceId"]).to_string())
        .collect();
    v.sort();
    v
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| s(x).to_string())
        .collect();
    out.sort();
    out
}

fn supp_attr<'a>(doc: &'a Value, k: &str) -> &'a Value {
    doc["supplementaryConfiguration"]["LoadBalancerAttributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["key"] == k)
        .map(|a| &a["value"])
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_edge_services_and_their_changes() {
    let Some(m) = moto() else { return };
    credentials();
    let e = edge(&m, &["setup"]);
    let source = Arc::new(
        AwsSource::connect(&settings(&m.url))
            .await
            .expect("connect"),
    );
    let scopes: BTreeSet<String> = source
        .scopes()
        .into_iter()
        .map(|s| s.resource_type)
        .collect();
    for t in [
        LB, LISTENER, TOPIC, QUEUE, REPO, CLUSTER, SECRET, ALARM, NAT, EIP, VPCE, FLOW_LOG,
    ] {
        assert!(scopes.contains(t), "{t} is polled");
    }
    let r = rig(source.clone());
    let first = r.poll().await;
    assert!(first
        .iter()
        .all(|ci| ci.status == Status::ResourceDiscovered));
    // Every edge scope records without error.
    for t in [
        LB, LISTENER, TOPIC, QUEUE, REPO, CLUSTER, SECRET, ALARM, NAT, EIP, VPCE, FLOW_LOG,
    ] {
        assert_eq!(r.error_of(t), None, "{t}");
    }

    // Alarms: named by name, camelCase (`okactions` as AWS Config spells it), with and
    // without actions.
    let loud = r.doc(&key(ALARM, "api-5xx-high"));
    assert_eq!(loud["resourceName"], "api-5xx-high");
    assert_eq!(loud["configuration"]["alarmName"], "api-5xx-high");
    assert_eq!(loud["configuration"]["actionsEnabled"], true);
    assert_eq!(
        loud["configuration"]["alarmActions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(loud["configuration"].get("okactions").is_some());
    let silent = r.doc(&key(ALARM, "cpu-high-silent"));
    assert_eq!(silent["configuration"]["actionsEnabled"], false);
    assert_eq!(
        silent["configuration"]["alarmActions"],
        serde_json::json!([])
    );

    // Load balancers: ARN as id, attributes and tags as supplementary lists, edges.
    let public = s(&e["lb_public"]);
    let lb = r.doc(&key(LB, public));
    assert_eq!(lb["ARN"], public);
    assert_eq!(lb["resourceName"], "edge-public");
    assert_eq!(lb["availabilityZone"], "Multiple Availability Zones");
    assert_eq!(lb["configuration"]["scheme"], "internet-facing");
    assert_eq!(lb["configuration"]["type"], "application");
    assert_eq!(lb["configuration"]["state"]["code"], "active");
    assert_eq!(
        lb["resourceCreationTime"],
        lb["configuration"]["createdTime"]
    );
    assert_eq!(lb["tags"]["team"], "web");
    assert!(lb["supplementaryConfiguration"]["Tags"]
        .as_array()
        .expect("tags")
        .contains(&serde_json::json!({"key": "env", "value": "prod"})));
    assert_eq!(supp_attr(&lb, "deletion_protection.enabled"), "false");
    let internal = r.doc(&key(LB, s(&e["lb_internal"])));
    assert_eq!(internal["configuration"]["scheme"], "internal");
    assert_eq!(supp_attr(&internal, "deletion_protection.enabled"), "true");
    assert_eq!(rels(&lb, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    assert_eq!(
        rels(&lb, "Is associated with SecurityGroup"),
        vec![s(&e["sg"])]
    );
    assert_eq!(rels(&lb, "Is attached to Subnet"), sorted(&e["subnets"]));

    // Listeners: PascalCase, redirect in AWS Config's form, no edges.
    let redirect = r.doc(&key(LISTENER, s(&e["listener_redirect"])));
    let c = &redirect["configuration"];
    assert_eq!(c["LoadBalancerArn"], public);
    assert_eq!(c["Port"], 80);
    assert_eq!(c["Protocol"], "HTTP");
    assert_eq!(c["DefaultActions"][0]["Type"], "redirect");
    assert_eq!(
        c["DefaultActions"][0]["RedirectConfig"]["StatusCode"],
        "HTTP_301"
    );
    assert_eq!(c["DefaultActions"][0]["RedirectConfig"]["Port"], "443");
    // (moto gives every listener an SslPolicy, HTTP ones too; AWS gives none there.)
    assert_eq!(redirect["relationships"], serde_json::json!([]));
    assert_eq!(redirect["availabilityZone"], "Regional");
    let forward = r.doc(&key(LISTENER, s(&e["listener_forward"])));
    assert_eq!(
        forward["configuration"]["DefaultActions"][0]["TargetGroupArn"],
        e["target_group"]
    );
    let action = &forward["configuration"]["DefaultActions"][0];
    assert!(
        action.get("RedirectConfig").is_none() && action.get("FixedResponseConfig").is_none(),
        "absent parts are omitted: {action}"
    );

    // SNS: the attribute map, encrypted and plain.
    let enc = r.doc(&key(TOPIC, s(&e["topic_encrypted"])));
    assert_eq!(enc["resourceName"], "edge-events");
    assert_eq!(enc["ARN"], e["topic_encrypted"]);
    assert_eq!(enc["configuration"]["KmsMasterKeyId"], "alias/aws/sns");
    assert_eq!(enc["configuration"]["DisplayName"], "Edge events");
    assert!(enc["configuration"]["Policy"].is_string(), "policy as text");
    assert_eq!(enc["tags"]["env"], "prod");
    let plain = r.doc(&key(TOPIC, s(&e["topic_plain"])));
    assert_eq!(plain["configuration"]["KmsMasterKeyId"], Value::Null);

    // SQS: keyed by URL; numbers as numbers, KMS, redrive as text.
    let q = r.doc(&key(QUEUE, s(&e["queue_encrypted"])));
    assert_eq!(q["resourceName"], "edge-orders");
    assert_eq!(
        q["ARN"],
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:edge-orders")
    );
    assert_eq!(q["configuration"]["KmsMasterKeyId"], "alias/app-queues");
    assert_eq!(q["configuration"]["VisibilityTimeout"], 60);
    assert!(s(&q["configuration"]["RedrivePolicy"]).contains("edge-dlq"));
    assert!(q["configuration"]["CreatedTimestamp"].is_string());
    assert!(q["resourceCreationTime"].is_string());
    assert_eq!(q["tags"]["env"], "prod");
    let dlq = r.doc(&key(QUEUE, s(&e["queue_dlq"])));
    assert_eq!(dlq["configuration"]["KmsMasterKeyId"], Value::Null);

    // ECR: CloudFormation shape, policy as an object, lifecycle policy, unset as {}.
    let repo = r.doc(&key(REPO, "app/api"));
    let c = &repo["configuration"];
    assert_eq!(
        repo["ARN"],
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/app/api")
    );
    assert_eq!(c["ImageTagMutability"], "IMMUTABLE");
    assert_eq!(c["ImageScanningConfiguration"]["ScanOnPush"], true);
    assert_eq!(
        c["RepositoryPolicyText"]["Statement"][0]["Sid"],
        "AllowPull"
    );
    assert!(s(&c["LifecyclePolicy"]["LifecyclePolicyText"]).contains("imageCountMoreThan"));
    assert_eq!(
        c["Tags"],
        serde_json::json!([{"Key": "team", "Value": "platform"}])
    );
    assert_eq!(repo["tags"]["team"], "platform");
    let scratch = r.doc(&key(REPO, "scratch"));
    assert_eq!(
        scratch["configuration"]["RepositoryPolicyText"],
        serde_json::json!({})
    );
    assert_eq!(
        scratch["configuration"]["LifecyclePolicy"],
        serde_json::json!({})
    );
    assert_eq!(scratch["configuration"]["ImageTagMutability"], "MUTABLE");

    // EKS: public and private endpoints, logging, encryption.
    let public_cl = r.doc(&key(CLUSTER, "edge-public"));
    let c = &public_cl["configuration"];
    assert_eq!(c["ResourcesVpcConfig"]["EndpointPublicAccess"], true);
    assert_eq!(
        sorted(&c["ResourcesVpcConfig"]["SubnetIds"]),
        sorted(&e["subnets"])
    );
    assert_eq!(c["Version"], "1.29");
    assert_eq!(public_cl["tags"]["env"], "dev");
    let private_cl = r.doc(&key(CLUSTER, "edge-private"));
    let c = &private_cl["configuration"];
    assert_eq!(c["ResourcesVpcConfig"]["EndpointPublicAccess"], false);
    assert_eq!(
        c["Logging"]["ClusterLogging"]["EnabledTypes"],
        serde_json::json!([{"Type": "api"}, {"Type": "audit"}])
    );
    assert!(s(&c["EncryptionConfigKeyArn"]).starts_with("arn:aws:kms:"));
    assert_eq!(private_cl["relationships"], serde_json::json!([]));

    // Secrets: rotated and not; never the value.
    let rotated = r.doc(&key(SECRET, s(&e["secret_rotated"])));
    let c = &rotated["configuration"];
    assert_eq!(rotated["resourceName"], "prod/app/db-password");
    assert_eq!(c["RotationEnabled"], true);
    assert_eq!(c["RotationRules"]["AutomaticallyAfterDays"], 30);
    assert!(c["LastRotatedDate"].is_number());
    assert_eq!(c["Deleted"], false);
    assert!(!rotated.to_string().contains("s3cret"), "no secret value");
    let unrotated = r.doc(&key(SECRET, s(&e["secret_unrotated"])));
    assert_eq!(unrotated["configuration"]["RotationEnabled"], false);

    // NAT gateway, EIPs, VPC endpoints, flow log.
    let nat = r.doc(&key(NAT, s(&e["nat"])));
    assert_eq!(nat["configuration"]["state"], "available");
    assert!(nat["configuration"]["createTime"].is_number());
    assert_eq!(
        nat["configuration"]["natGatewayAddresses"][0]["allocationId"],
        e["eip_nat"]
    );
    assert_eq!(
        rels(&nat, "Is attached to Subnet"),
        vec![s(&e["subnets"][0])]
    );
    assert_eq!(rels(&nat, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    let eip = r.doc(&key(EIP, s(&e["eip_instance"])));
    assert_eq!(eip["resourceName"], e["eip_instance_ip"]);
    assert_eq!(eip["configuration"]["instanceId"], e["instance"]);
    assert_eq!(
        rels(&eip, "Is attached to Instance"),
        vec![s(&e["instance"])]
    );
    assert_eq!(eip["tags"]["Name"], "bastion-ip");
    let idle = r.doc(&key(EIP, s(&e["eip_idle"])));
    assert_eq!(idle["configuration"]["instanceId"], Value::Null);
    assert_eq!(idle["configuration"]["associationId"], Value::Null);
    assert_eq!(idle["relationships"], serde_json::json!([]));
    let vpce = r.doc(&key(VPCE, s(&e["vpce_interface"])));
    assert_eq!(vpce["configuration"]["vpcEndpointType"], "Interface");
    assert_eq!(rels(&vpce, "Is contained in Subnet"), sorted(&e["subnets"]));
    assert_eq!(
        rels(&vpce, "Is associated with SecurityGroup"),
        vec![s(&e["sg"])]
    );
    assert_eq!(rels(&vpce, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    let gw = r.doc(&key(VPCE, s(&e["vpce_gateway"])));
    assert_eq!(gw["configuration"]["vpcEndpointType"], "Gateway");
    assert_eq!(
        sorted(&gw["configuration"]["routeTableIds"]),
        vec![s(&e["rtb"])]
    );
    let fl = r.doc(&key(FLOW_LOG, s(&e["flow_log"])));
    assert_eq!(fl["configuration"]["resourceId"], e["vpc"]);
    assert_eq!(fl["configuration"]["logDestinationType"], "s3");
    assert!(fl["configuration"]["creationTime"].is_number());
    assert_eq!(fl["relationships"], serde_json::json!([]));

    // Every item against AWS Config's property schema and the reference item's keys.
    let ours = [
        (LB, public.to_string()),
        (LISTENER, s(&e["listener_redirect"]).to_string()),
        (TOPIC, s(&e["topic_encrypted"]).to_string()),
        (QUEUE, s(&e["queue_encrypted"]).to_string()),
        (REPO, "app/api".to_string()),
        (CLUSTER, "edge-private".to_string()),
        (SECRET, s(&e["secret_rotated"]).to_string()),
        (NAT, s(&e["nat"]).to_string()),
        (EIP, s(&e["eip_instance"]).to_string()),
        (VPCE, s(&e["vpce_interface"]).to_string()),
        (FLOW_LOG, s(&e["flow_log"]).to_string()),
    ];
    let mut problems = Vec::new();
    for (t, id) in &ours {
        let doc = r.doc(&key(t, id));
        problems.extend(shape_problems(t, &doc));
    }
    // The other items of these types, against the schema (their reference keys may
    // legitimately be unset: a plain topic, an unassociated EIP).
    for ci in &first {
        let doc = ci.to_notification_json().expect("json");
        problems.extend(schema_problems(&ci.key.resource_type, &doc));
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // A targeted describe returns exactly the resources asked for.
    let keys: Vec<ResourceKey> = ours.iter().map(|(t, id)| key(t, id)).collect();
    let described = source.describe(&keys).await.expect("describe");
    let got: BTreeSet<ResourceKey> = described
        .resources
        .iter()
        .map(|o| (*o.key).clone())
        .collect();
    assert_eq!(got, keys.iter().cloned().collect::<BTreeSet<_>>());

    // Nothing changed: a second poll writes nothing.
    let again = r.poll().await;
    assert!(
        again.is_empty(),
        "a steady estate records nothing: {:?}",
        again.iter().map(|c| &c.key).collect::<Vec<_>>()
    );

    // Six changes, six items, each with its property.
    edge(&m, &["protect-lb", public]);
    edge(&m, &["encrypt-topic", s(&e["topic_plain"])]);
    edge(&m, &["queue-visibility", s(&e["queue_dlq"]), "120"]);
    edge(&m, &["scan-on-push", "scratch"]);
    edge(&m, &["rotate-secret", s(&e["secret_unrotated"])]);
    edge(&m, &["tag-nat", s(&e["nat"]), "cost-center", "net"]);
    let items = r.poll().await;
    let changed: Vec<(&str, &str)> = items
        .iter()
        .map(|c| (c.key.resource_type.as_str(), c.key.resource_id.as_str()))
        .collect();
    let mut expected = vec![
        (LB, public),
        (TOPIC, s(&e["topic_plain"])),
        (QUEUE, s(&e["queue_dlq"])),
        (REPO, "scratch"),
        (SECRET, s(&e["secret_unrotated"])),
        (NAT, s(&e["nat"])),
    ];
    let mut got = changed.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "one item per changed resource");
    // Each item's changed properties: the one that was changed, and nothing outside it.
    let check = |t: &str, must: &[&str], within: &[&str]| {
        let ci = items
            .iter()
            .find(|c| c.key.resource_type == t)
            .expect("item");
        assert_eq!(ci.status, Status::Ok);
        let paths: Vec<String> = ci
            .changed_properties()
            .expect("diff")
            .keys()
            .cloned()
            .collect();
        for m in must {
            assert!(paths.iter().any(|p| p == m), "{t}: {m} not in {paths:?}");
        }
        for p in &paths {
            assert!(
                within.iter().any(|w| p.starts_with(w)),
                "{t}: {p} changed too ({paths:?})"
            );
        }
    };
    check(
        LB,
        &[],
        &["SupplementaryConfiguration.LoadBalancerAttributes."],
    );
    check(
        TOPIC,
        &["Configuration.KmsMasterKeyId"],
        &["Configuration.KmsMasterKeyId"],
    );
    // The modification time moves with the attribute.
    check(
        QUEUE,
        &["Configuration.VisibilityTimeout"],
        &[
            "Configuration.VisibilityTimeout",
            "Configuration.LastModifiedTimestamp",
        ],
    );
    check(
        REPO,
        &["Configuration.ImageScanningConfiguration.ScanOnPush"],
        &["Configuration.ImageScanningConfiguration.ScanOnPush"],
    );
    check(
        SECRET,
        &[
            "Configuration.RotationEnabled",
            "Configuration.RotationRules",
        ],
        &[
            "Configuration.Rotation",
            "Configuration.LastRotatedDate",
            "Configuration.LastChangedDate",
        ],
    );
    check(NAT, &[], &["Configuration.Tags.", "Tags."]);
    let lb = r.doc(&key(LB, public));
    assert_eq!(supp_attr(&lb, "deletion_protection.enabled"), "true");

    // Deleted resources: complete listings without them record their deletion.
    edge(&m, &["delete-topic", s(&e["topic_encrypted"])]);
    edge(&m, &["release-eip", s(&e["eip_idle"])]);
    let items = r.poll().await;
    let mut gone: Vec<(&str, &str, Status)> = items
        .iter()
        .map(|c| {
            (
                c.key.resource_type.as_str(),
                c.key.resource_id.as_str(),
                c.status,
            )
        })
        .collect();
    gone.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    assert_eq!(
        gone,
        vec![
            (EIP, s(&e["eip_idle"]), Status::ResourceDeleted),
            (TOPIC, s(&e["topic_encrypted"]), Status::ResourceDeleted),
        ]
    );
}

/// A service failing (ELBv2 unreachable) records nothing deleted for its scopes, shows its
/// error, and leaves the other services recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_elbv2_deletes_nothing() {
    let Some(m) = moto() else { return };
    credentials();
    let e = edge(&m, &["setup"]);
    let good = Arc::new(
        AwsSource::connect(&settings(&m.url))
            .await
            .expect("connect"),
    );
    let r = rig(good);
    r.poll().await;
    let closed = free_port();
    let mut broken = settings(&m.url);
    broken
        .endpoints
        .services
        .insert(Service::Elbv2, format!("http://127.0.0.1:{closed}"));
    let source = Arc::new(AwsSource::connect(&broken).await.expect("connect"));
    let recorder = Recorder::new(r.log.clone(), source, RecorderConfig::default());
    edge(&m, &["encrypt-topic", s(&e["topic_plain"])]);
    let before = r.log.watermark();
    let report = recorder.poll_all_once().await.expect("poll");
    let (items, _) = r
        .log
        .read_range(before, usize::MAX, &Filter::default())
        .expect("read");
    assert_eq!(report.stats.deleted, 0);
    assert!(items.iter().all(|ci| ci.status != Status::ResourceDeleted));
    assert!(
        items.iter().any(|c| c.key.resource_type == TOPIC),
        "SNS still records"
    );
    for st in recorder.status().snapshot() {
        if st.resource_type == LB || st.resource_type == LISTENER {
            assert_eq!(
                st.last_error_code.as_deref(),
                Some("EndpointConnectionError"),
                "{st:?}"
            );
            let msg = st.last_error_message.as_deref().unwrap_or_default();
            assert!(msg.contains("elasticloadbalancing:Describe"), "{msg}");
        }
    }
    // The load balancers are still recorded as they were.
    let lb = r.doc(&key(LB, s(&e["lb_public"])));
    assert_eq!(lb["configurationItemStatus"], "ResourceDiscovered");
}

fn schema_of(t: &str) -> PropertySchema {
    let path = format!(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/aws-config-schema/{}.properties.json"
        ),
        t
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    PropertySchema::parse(&text).expect("schema JSON")
}

fn schema_problems(t: &str, doc: &Value) -> Vec<String> {
    schema_of(t)
        .check(doc)
        .into_iter()
        .map(|m| format!("{t}: {m}"))
        .collect()
}

/// Schema mismatches, and keys of the reference item ours lacks.
fn shape_problems(t: &str, doc: &Value) -> Vec<String> {
    let mut out = schema_problems(t, doc);
    let file = t.replace("::", "_");
    let path = support::repo()
        .join("crates/driftlog-sim/tests/fixtures/ci-shapes")
        .join(format!("{file}.json"));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    walk(&reference, doc, &file, &mut out);
    out
}

/// Keys the reference has and ours lacks, recursively through objects and into the first
/// element of arrays present on both sides (as moto.rs's check), and JSON types that differ.
fn walk(reference: &Value, ours: &Value, path: &str, missing: &mut Vec<String>) {
    // Unset here, legitimately or by moto: an AES256 repository has no KMS key; moto
    // leaves out the redirect defaults (#{host}, /#{path}, #{query}) that ELB fills in.
    const UNSET: &[&str] = &[
        "AWS_ECR_Repository.configuration.EncryptionConfiguration.KmsKey",
        "AWS_ElasticLoadBalancingV2_Listener.configuration.DefaultActions.0.RedirectConfig.Host",
        "AWS_ElasticLoadBalancingV2_Listener.configuration.DefaultActions.0.RedirectConfig.Path",
        "AWS_ElasticLoadBalancingV2_Listener.configuration.DefaultActions.0.RedirectConfig.Query",
    ];
    if UNSET.contains(&path) {
        return;
    }
    match (reference, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, v) in r {
                if k == "tags" && v.is_object() {
                    continue;
                }
                match o.get(k) {
                    None if UNSET.contains(&format!("{path}.{k}").as_str()) => {}
                    None => missing.push(format!("{path}.{k}")),
                    Some(ov) => walk(v, ov, &format!("{path}.{k}"), missing),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                walk(r0, o0, &format!("{path}.0"), missing);
            }
        }
        (r, o) if !r.is_null() && !o.is_null() => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(r) != kind(o) {
                missing.push(format!(
                    "{path}: {} in the reference, {} in ours",
                    kind(r),
                    kind(o)
                ));
            }
        }
        _ => {}
    }
}

const SNS_NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// A scripted SNS on loopback, answering by the request's action and topic: three topics;
/// `ok` reads whole, `gone` was deleted since the listing (GetTopicAttributes: NotFound),
/// `denied` refuses its tags (AccessDenied). moto cannot refuse one call for one resource.
async fn scripted_sns() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                let (status, reply) = sns_answer(&body);
                let out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = sock.write_all(out.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn sns_answer(form: &str) -> (u16, String) {
    let arn = |name: &str| format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}");
    let error = |status: u16, code: &str| {
        (
            status,
            format!(
                r#"<ErrorResponse xmlns="{SNS_NS}"><Error><Type>Sender</Type><Code>{code}</Code><Message>scripted</Message></Error><RequestId>r</RequestId></ErrorResponse>"#
            ),
        )
    };
    let topic = ["topic-ok", "topic-gone", "topic-denied"]
        .into_iter()
        .find(|t| form.contains(&format!("%3A{t}")));
    if form.contains("Action=ListTopics") {
        let members: String = ["topic-ok", "topic-gone", "topic-denied"]
            .iter()
            .map(|t| format!("<member><TopicArn>{}</TopicArn></member>", arn(t)))
            .collect();
        (
            200,
            format!(
                r#"<ListTopicsResponse xmlns="{SNS_NS}"><ListTopicsResult><Topics>{members}</Topics></ListTopicsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListTopicsResponse>"#
            ),
        )
    } else if form.contains("Action=GetTopicAttributes") {
        match topic {
            Some("topic-gone") | None => error(404, "NotFound"),
            Some(t) => (
                200,
                format!(
                    r#"<GetTopicAttributesResponse xmlns="{SNS_NS}"><GetTopicAttributesResult><Attributes><entry><key>TopicArn</key><value>{}</value></entry><entry><key>Owner</key><value>{ACCOUNT}</value></entry><entry><key>SQSSuccessFeedbackSampleRate</key><value>100</value></entry></Attributes></GetTopicAttributesResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetTopicAttributesResponse>"#,
                    arn(t)
                ),
            ),
        }
    } else if form.contains("Action=ListTagsForResource") {
        match topic {
            Some("topic-ok") => (
                200,
                format!(
                    r#"<ListTagsForResourceResponse xmlns="{SNS_NS}"><ListTagsForResourceResult><Tags><member><Key>env</Key><Value>prod</Value></member></Tags></ListTagsForResourceResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListTagsForResourceResponse>"#
                ),
            ),
            _ => error(403, "AccessDenied"),
        }
    } else {
        error(400, "InvalidAction")
    }
}

/// A per-resource read refused for one resource fails the listing (recorded, but partial:
/// no deletion can follow); a resource deleted since the listing is simply absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_read_of_one_topic_makes_the_listing_partial() {
    credentials();
    let url = scripted_sns().await;
    let mut settings = settings(&format!("http://127.0.0.1:{}", free_port()));
    settings.account_id = Some(ACCOUNT.into());
    settings.endpoints.services.insert(Service::Sns, url);
    let source = AwsSource::connect(&settings).await.expect("connect");
    let scope = driftlog_model::Scope::new(ACCOUNT, REGION, TOPIC);
    match source.poll(&scope).await {
        driftlog_poll::PollOutcome::Partial(snap, err) => {
            let ids: Vec<&str> = snap
                .resources
                .iter()
                .map(|o| o.key.resource_id.as_str())
                .collect();
            assert_eq!(
                ids,
                vec![format!("arn:aws:sns:{REGION}:{ACCOUNT}:topic-ok")]
            );
            let driftlog_poll::PollError::Source { code, message } = err else {
                panic!("{err:?}")
            };
            assert_eq!(code, "AccessDenied");
            assert!(message.contains("sns:ListTagsForResource"), "{message}");
        }
        other => panic!("expected a partial poll: {other:?}"),
    }
}
