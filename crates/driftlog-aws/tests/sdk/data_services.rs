//! The data services (Lambda, RDS, KMS, CloudTrail, DynamoDB) against moto, driven by
//! boto3 (tests/aws/estate_data.py): every type in both security states, shaped as AWS
//! Config records it (checked against AWS Config's property schema and the reference
//! items), one new item per changed resource, and a failing service that deletes nothing.
//!
//! moto is started through tests/aws/moto_unique_db_ids.py, which fixes one moto bug: it
//! gives every DB instance the same DbiResourceId, AWS Config's resourceId of an instance
//! (`support::moto_with_unique_db_ids`).

use driftlog_aws::{AwsSettings, AwsSource, Endpoints, Service};
use driftlog_log::{Log, LogOptions};
use driftlog_model::schema::PropertySchema;
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, Status};
use driftlog_poll::Source;
use driftlog_recorder::{Recorder, RecorderConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::moto::support::{self, Moto};

const ACCOUNT: &str = "123456789012";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// The types of this module.
const TYPES: &[&str] = &[
    "AWS::Lambda::Function",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBSubnetGroup",
    "AWS::RDS::DBSnapshot",
    "AWS::KMS::Key",
    "AWS::CloudTrail::Trail",
    "AWS::DynamoDB::Table",
];

/// Paths that tick in moto on every read (its DB instances' latest restorable time is
/// "now"); AWS Config's type specs mark them volatile, so once those specs are in, such
/// items are not written at all. Items whose only changes are these are left aside.
const TICKING: &[&str] = &["Configuration.LatestRestorableTime"];

/// Runs tests/aws/estate_data.py against the server; returns its JSON answer.
fn estate(m: &Moto, args: &[&str]) -> Value {
    support::run_script(m, "estate_data.py", args)
}

fn settings(url: &str) -> AwsSettings {
    for (k, v) in support::CREDENTIALS {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
    AwsSettings {
        regions: vec![EAST.into(), WEST.into()],
        endpoints: Endpoints::everywhere(url),
        max_attempts: 2,
        call_timeout: Duration::from_secs(10),
        ..AwsSettings::default()
    }
}

fn key(region: &str, t: &str, id: &str) -> ResourceKey {
    ResourceKey::new(ACCOUNT, region, t, id)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}"))
}

struct Rig {
    _dir: tempfile::TempDir,
    log: Arc<Log>,
    recorder: Arc<Recorder>,
}

async fn rig(source: Arc<dyn Source>) -> Rig {
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
    /// Polls every scope once; returns the items written.
    async fn poll(&self) -> Vec<ConfigurationItem> {
        let before = self.log.watermark();
        self.recorder.poll_all_once().await.expect("poll");
        let (items, _) = self
            .log
            .read_range(before, usize::MAX, &Filter::default())
            .expect("read");
        items
    }

    /// [`Rig::poll`] without the items moto's ticking times alone produced.
    async fn poll_changes(&self) -> Vec<ConfigurationItem> {
        self.poll()
            .await
            .into_iter()
            .filter(|ci| {
                ci.status != Status::Ok
                    || !ci
                        .changed_properties()
                        .expect("diff")
                        .keys()
                        .all(|k| TICKING.contains(&k.as_str()))
            })
            .collect()
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

    fn absent(&self, k: &ResourceKey) -> bool {
        self.log.latest(k).expect("read").is_none()
    }
}

/// The edges of `doc` named `name`, as (resourceId, resourceName, resourceType).
fn edges(doc: &Value, name: &str) -> Vec<(String, Value, String)> {
    let mut out: Vec<_> = doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["name"] == name)
        .map(|r| {
            (
                r["resourceId"].as_str().unwrap_or_default().to_string(),
                r["resourceName"].clone(),
                s(&r["resourceType"]).to_string(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn ids(doc: &Value, name: &str) -> Vec<String> {
    edges(doc, name).into_iter().map(|e| e.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_data_services_and_their_changes() {
    let Some(m) = support::moto_with_unique_db_ids() else {
        return;
    };
    let e = estate(&m, &["setup"]);
    let source = Arc::new(
        AwsSource::connect(&settings(&m.url))
            .await
            .expect("connect"),
    );
    for t in TYPES {
        for region in [EAST, WEST] {
            assert!(
                source
                    .scopes()
                    .contains(&driftlog_model::Scope::new(ACCOUNT, region, *t)),
                "{t} in {region}"
            );
        }
    }
    let r = rig(source.clone()).await;
    let first = r.poll().await;
    assert!(first.iter().all(|c| c.status == Status::ResourceDiscovered));
    let errors: Vec<_> = r
        .recorder
        .status()
        .snapshot()
        .into_iter()
        .filter(|s| s.last_error_code.is_some())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // Lambda: the function in the VPC, its policy, tags and concurrency; a plain one.
    let worker = r.doc(&key(EAST, "AWS::Lambda::Function", "orders-worker"));
    assert_eq!(worker["ARN"], e["worker_arn"]);
    assert_eq!(worker["resourceName"], "orders-worker");
    assert_eq!(worker["availabilityZone"], "Not Applicable");
    let conf = &worker["configuration"];
    assert_eq!(conf["runtime"], "python3.12");
    assert_eq!(conf["role"], e["role_arn"]);
    assert_eq!(conf["timeout"], 30);
    assert_eq!(conf["memorySize"], 512);
    assert_eq!(conf["tracingConfig"]["mode"], "Active");
    assert!(conf["lastModified"].is_string());
    let sup = &worker["supplementaryConfiguration"];
    let policy: Value = serde_json::from_str(s(&sup["Policy"])).expect("policy is JSON text");
    assert_eq!(policy["Statement"][0]["Sid"], "AllowEventBridgeNightly");
    assert_eq!(sup["Concurrency"]["reservedConcurrentExecutions"], 50);
    assert_eq!(sup["Tags"], json!({"team": "orders", "env": "prod"}));
    assert_eq!(worker["tags"], json!({"team": "orders", "env": "prod"}));
    assert_eq!(
        edges(&worker, "Is associated with "),
        vec![
            (
                String::new(),
                json!("orders-worker-role"),
                "AWS::IAM::Role".into()
            ),
            (
                s(&e["sg"]).to_string(),
                Value::Null,
                "AWS::EC2::SecurityGroup".into()
            ),
        ]
    );
    let mut subnets: Vec<String> = e["subnets"]
        .as_array()
        .expect("subnets")
        .iter()
        .map(|x| s(x).to_string())
        .collect();
    subnets.sort();
    assert_eq!(ids(&worker, "Is contained in "), subnets);
    let plain_fn = r.doc(&key(EAST, "AWS::Lambda::Function", "plain-fn"));
    let sup = plain_fn["supplementaryConfiguration"]
        .as_object()
        .expect("sup");
    assert!(
        !sup.contains_key("Policy") && !sup.contains_key("Concurrency"),
        "{sup:?}"
    );

    // RDS instances: the dbi resource id, public and private, edges to group and SG.
    let public = r.doc(&key(EAST, "AWS::RDS::DBInstance", s(&e["public_db"])));
    assert_eq!(public["resourceName"], "public-db");
    assert_eq!(
        public["ARN"],
        format!("arn:aws:rds:{EAST}:{ACCOUNT}:db:public-db")
    );
    assert_eq!(public["configuration"]["publiclyAccessible"], true);
    assert_eq!(
        public["configuration"]["dBSubnetGroup"]["dBSubnetGroupArn"],
        Value::Null
    );
    assert_eq!(
        public["availabilityZone"],
        public["configuration"]["availabilityZone"]
    );
    assert_eq!(
        public["resourceCreationTime"],
        public["configuration"]["instanceCreateTime"]
    );
    assert_eq!(public["tags"]["exposure"], "public");
    assert_eq!(
        public["supplementaryConfiguration"]["Tags"],
        public["configuration"]["tagList"]
    );
    assert_eq!(
        ids(&public, "Is associated with DBSubnetGroup"),
        vec!["orders-db-subnets"]
    );
    assert_eq!(
        ids(&public, "Is associated with SecurityGroup"),
        vec![s(&e["sg"])]
    );
    let private = r.doc(&key(EAST, "AWS::RDS::DBInstance", s(&e["private_db"])));
    assert_eq!(private["configuration"]["publiclyAccessible"], false);
    assert_eq!(private["configuration"]["storageEncrypted"], true);

    // The cluster: members and subnet group by name only, as AWS Config records them.
    let cluster = r.doc(&key(EAST, "AWS::RDS::DBCluster", s(&e["cluster"])));
    assert_eq!(cluster["resourceName"], "orders-aurora");
    assert_eq!(cluster["ARN"], e["cluster_arn"]);
    assert_eq!(cluster["availabilityZone"], "Multiple Availability Zones");
    assert_eq!(
        cluster["configuration"]["dbclusterIdentifier"],
        "orders-aurora"
    );
    assert!(cluster["configuration"]["clusterCreateTime"].is_number());
    assert_eq!(
        edges(&cluster, "Contains "),
        vec![(
            String::new(),
            json!("orders-aurora-1"),
            "AWS::RDS::DBInstance".into()
        )]
    );
    assert!(edges(&cluster, "Is associated with ").contains(&(
        String::new(),
        json!("orders-db-subnets"),
        "AWS::RDS::DBSubnetGroup".into()
    )));
    assert_eq!(cluster["tags"]["team"], "orders");

    // The subnet group, with its tags from ListTagsForResource.
    let group = r.doc(&key(EAST, "AWS::RDS::DBSubnetGroup", "orders-db-subnets"));
    assert_eq!(group["resourceName"], "orders-db-subnets");
    assert_eq!(
        group["ARN"],
        format!("arn:aws:rds:{EAST}:{ACCOUNT}:subgrp:orders-db-subnets")
    );
    assert_eq!(ids(&group, "Contains Subnet"), subnets);
    assert_eq!(ids(&group, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    assert_eq!(
        group["supplementaryConfiguration"]["Tags"],
        json!([{"key": "team", "value": "orders"}])
    );

    // Snapshots: who may restore them.
    let public_snap = r.doc(&key(EAST, "AWS::RDS::DBSnapshot", "public-snap"));
    assert_eq!(
        public_snap["supplementaryConfiguration"]["DBSnapshotAttributes"],
        json!([{"attributeName": "restore", "attributeValues": ["all"]}])
    );
    assert_eq!(public_snap["tags"]["purpose"], "share");
    // moto gives snapshots no VpcId (nor AvailabilityZone): the edge follows the field.
    let snap_vpc: Vec<String> = public_snap["configuration"]["vpcId"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    assert_eq!(ids(&public_snap, "Is associated with Vpc"), snap_vpc);
    let private_snap = r.doc(&key(EAST, "AWS::RDS::DBSnapshot", "private-snap"));
    assert_eq!(
        private_snap["supplementaryConfiguration"]["DBSnapshotAttributes"][0]["attributeValues"],
        json!([])
    );

    // KMS keys: rotation, policy text, tags; each region its own keys.
    let rotated = r.doc(&key(EAST, "AWS::KMS::Key", s(&e["rotated_key"])));
    assert_eq!(
        rotated["supplementaryConfiguration"]["KeyRotationStatus"],
        true
    );
    assert!(s(&rotated["supplementaryConfiguration"]["Policy"]).contains("kms:*"));
    assert_eq!(rotated["tags"], json!({"team": "platform"}));
    assert_eq!(rotated["resourceName"], Value::Null);
    assert!(rotated["configuration"]["creationDate"].is_number());
    assert_eq!(rotated["configuration"]["awsaccountId"], ACCOUNT);
    assert_eq!(rotated["configuration"]["keyManager"], "CUSTOMER");
    let unrotated = r.doc(&key(EAST, "AWS::KMS::Key", s(&e["unrotated_key"])));
    assert_eq!(
        unrotated["supplementaryConfiguration"]["KeyRotationStatus"],
        false
    );
    r.doc(&key(WEST, "AWS::KMS::Key", s(&e["other_region_key"])));
    assert!(r.absent(&key(EAST, "AWS::KMS::Key", s(&e["other_region_key"]))));

    // Trails: in their home region only (no shadow copies elsewhere).
    let audit = r.doc(&key(EAST, "AWS::CloudTrail::Trail", "org-audit"));
    assert_eq!(audit["ARN"], e["audit_trail_arn"]);
    assert_eq!(audit["availabilityZone"], "Regional");
    assert_eq!(audit["configuration"]["logFileValidationEnabled"], true);
    assert_eq!(audit["configuration"]["isMultiRegionTrail"], true);
    assert_eq!(audit["configuration"]["trailARN"], e["audit_trail_arn"]);
    assert_eq!(
        audit["supplementaryConfiguration"]["Tags"],
        json!([{"key": "team", "value": "security"}])
    );
    let plain_trail = r.doc(&key(EAST, "AWS::CloudTrail::Trail", "plain-trail"));
    assert_eq!(
        plain_trail["configuration"]["logFileValidationEnabled"],
        false
    );
    assert!(r.absent(&key(WEST, "AWS::CloudTrail::Trail", "org-audit")));
    assert_eq!(
        r.doc(&key(WEST, "AWS::CloudTrail::Trail", "eu-trail"))["ARN"],
        e["eu_trail_arn"]
    );
    assert!(r.absent(&key(EAST, "AWS::CloudTrail::Trail", "eu-trail")));

    // Tables: point-in-time recovery, encryption, index, tags.
    let orders = r.doc(&key(EAST, "AWS::DynamoDB::Table", "orders"));
    assert_eq!(orders["ARN"], e["orders_table_arn"]);
    assert_eq!(orders["resourceName"], "orders");
    let cb = &orders["supplementaryConfiguration"]["ContinuousBackupsDescription"];
    assert_eq!(
        cb["pointInTimeRecoveryDescription"]["pointInTimeRecoveryStatus"],
        "ENABLED"
    );
    assert_eq!(orders["configuration"]["ssedescription"]["ssetype"], "KMS");
    assert_eq!(
        orders["configuration"]["globalSecondaryIndexes"][0]["projection"]["nonKeyAttributes"],
        json!(["status", "total"])
    );
    assert!(orders["configuration"]["creationDateTime"].is_number());
    assert_eq!(
        orders["configuration"]["billingModeSummary"]["billingMode"],
        "PAY_PER_REQUEST"
    );
    assert_eq!(orders["tags"], json!({"team": "orders", "env": "prod"}));
    let plain = r.doc(&key(EAST, "AWS::DynamoDB::Table", "plain"));
    assert_eq!(
        plain["supplementaryConfiguration"]["ContinuousBackupsDescription"]
            ["pointInTimeRecoveryDescription"]["pointInTimeRecoveryStatus"],
        "DISABLED"
    );

    // Edges both ways through the core's index: the SG knows the function and the DBs.
    let on_sg: std::collections::BTreeSet<String> = r
        .log
        .related_to("AWS::EC2::SecurityGroup", s(&e["sg"]), None)
        .expect("related")
        .into_iter()
        .map(|x| x.source.resource_type)
        .collect();
    for t in [
        "AWS::Lambda::Function",
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
    ] {
        assert!(on_sg.contains(t), "{t}: {on_sg:?}");
    }

    // Every item: AWS Config's property schema, and the keys of the reference item.
    let mine: Vec<&ConfigurationItem> = first
        .iter()
        .filter(|c| TYPES.contains(&c.key.resource_type.as_str()))
        .collect();
    assert!(mine.len() >= 20, "{}", mine.len());
    let mut problems = Vec::new();
    for ci in &mine {
        let doc = ci.to_notification_json().expect("json");
        problems.extend(shape_problems(&ci.key, &doc));
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // A steady estate records nothing.
    let again = r.poll_changes().await;
    assert!(
        again.is_empty(),
        "{:?}",
        again.iter().map(|c| &c.key).collect::<Vec<_>>()
    );

    // Change one thing on each of eight resources: one item each, with what changed.
    let ch = estate(&m, &["change"]);
    let items = r.poll_changes().await;
    let expected: Vec<(ResourceKey, &str)> = vec![
        (
            key(EAST, "AWS::RDS::DBInstance", s(&e["private_db"])),
            "Configuration.PubliclyAccessible",
        ),
        (
            key(EAST, "AWS::RDS::DBCluster", s(&e["cluster"])),
            "Configuration.DeletionProtection",
        ),
        (
            key(EAST, "AWS::RDS::DBSnapshot", "private-snap"),
            "SupplementaryConfiguration.DBSnapshotAttributes",
        ),
        (
            key(EAST, "AWS::RDS::DBSubnetGroup", "orders-db-subnets"),
            "SupplementaryConfiguration.Tags",
        ),
        (
            key(EAST, "AWS::KMS::Key", s(&ch["key"])),
            "SupplementaryConfiguration.KeyRotationStatus",
        ),
        (
            key(EAST, "AWS::CloudTrail::Trail", "plain-trail"),
            "Configuration.LogFileValidationEnabled",
        ),
        (
            key(EAST, "AWS::DynamoDB::Table", "plain"),
            "SupplementaryConfiguration.ContinuousBackupsDescription",
        ),
        (
            key(EAST, "AWS::Lambda::Function", "plain-fn"),
            "SupplementaryConfiguration.Policy",
        ),
    ];
    let mut got: Vec<&ResourceKey> = items.iter().map(|c| &c.key).collect();
    got.sort();
    let mut want: Vec<&ResourceKey> = expected.iter().map(|(k, _)| k).collect();
    want.sort();
    assert_eq!(got, want, "one item per changed resource");
    for (k, path) in &expected {
        let ci = items.iter().find(|c| &c.key == k).expect("item");
        assert_eq!(ci.status, Status::Ok);
        let changed = ci.changed_properties().expect("diff");
        assert!(
            changed.keys().any(|p| p.starts_with(path)),
            "{k:?}: {path} not in {changed:?}"
        );
        assert!(
            changed.keys().all(|p| p.starts_with(path)
                || p.starts_with("Tags")
                || TICKING.contains(&p.as_str())
                || (path.ends_with("Tags") && p.starts_with("Configuration.TagList"))),
            "{k:?}: only {path} changed: {changed:?}"
        );
    }
    let db = r.doc(&key(EAST, "AWS::RDS::DBInstance", s(&e["private_db"])));
    assert_eq!(db["configuration"]["publiclyAccessible"], true);
    let k = r.doc(&key(EAST, "AWS::KMS::Key", s(&ch["key"])));
    assert_eq!(k["supplementaryConfiguration"]["KeyRotationStatus"], true);

    // A deleted table: ResourceDeleted.
    estate(&m, &["delete"]);
    let items = r.poll_changes().await;
    assert_eq!(
        items.len(),
        1,
        "{:?}",
        items.iter().map(|c| &c.key).collect::<Vec<_>>()
    );
    assert_eq!(items[0].key, key(EAST, "AWS::DynamoDB::Table", "plain"));
    assert_eq!(items[0].status, Status::ResourceDeleted);

    // A targeted re-describe of some resources of each type: unchanged, nothing written.
    let report = r
        .recorder
        .refresh(&[
            key(EAST, "AWS::Lambda::Function", "orders-worker"),
            key(EAST, "AWS::RDS::DBSnapshot", "public-snap"),
            key(EAST, "AWS::RDS::DBSubnetGroup", "orders-db-subnets"),
            key(EAST, "AWS::RDS::DBCluster", s(&e["cluster"])),
            key(EAST, "AWS::KMS::Key", s(&e["rotated_key"])),
            key(EAST, "AWS::CloudTrail::Trail", "org-audit"),
            key(EAST, "AWS::DynamoDB::Table", "orders"),
        ])
        .await
        .expect("refresh");
    assert_eq!(report.written(), 0);
    let got = source
        .describe(&[
            key(EAST, "AWS::RDS::DBInstance", s(&e["public_db"])),
            key(EAST, "AWS::DynamoDB::Table", "gone"),
            key(
                EAST,
                "AWS::KMS::Key",
                "00000000-0000-0000-0000-000000000000",
            ),
        ])
        .await
        .expect("describe");
    let got: Vec<&str> = got
        .resources
        .iter()
        .map(|o| o.key.resource_id.as_str())
        .collect();
    assert_eq!(
        got,
        vec![s(&e["public_db"])],
        "absent ids are simply absent"
    );
}

/// What is wrong with one item's shape: paths AWS Config's schema spells otherwise, keys
/// the reference item has and ours lacks, and keys ours has that the reference lacks.
fn shape_problems(k: &ResourceKey, doc: &Value) -> Vec<String> {
    let schema_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/aws-config-schema/"
    );
    let text = std::fs::read_to_string(format!("{schema_dir}{}.properties.json", k.resource_type))
        .expect("schema file");
    let schema = PropertySchema::parse(&text).expect("schema");
    let mut out: Vec<String> = schema
        .check(doc)
        .iter()
        .map(|m| format!("{k:?}: {m}"))
        .collect();
    let file = k.resource_type.replace("::", "_");
    let file = file.trim_start_matches("AWS_");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(support::repo().join(format!(
            "crates/driftlog-sim/tests/fixtures/ci-shapes/AWS_{file}.json"
        )))
        .expect("reference item"),
    )
    .expect("reference JSON");
    let name = format!("{}/{}", k.resource_type, k.resource_id);
    walk(&reference, doc, &name, &mut out, false);
    walk(doc, &reference, &name, &mut out, true);
    out
}

/// Keys `a` has and `b` lacks, recursively through objects and into the first element of
/// arrays present on both sides; a null on either side ends the walk (AWS Config keeps
/// nulls, ours or the reference's element shape is then unknown). `extra` says which
/// direction is checked (ours against the reference, or the reference against ours).
fn walk(a: &Value, b: &Value, path: &str, out: &mut Vec<String>, extra: bool) {
    // Set only when the resource has them (reserved concurrency, a resource policy).
    const OPTIONAL: &[&str] = &["Concurrency", "Policy"];
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                // Tag maps hold data, not schema.
                if (k == "tags" || (k == "Tags" && v.is_object())) && v.is_object() {
                    continue;
                }
                match y.get(k) {
                    None if OPTIONAL.contains(&k.as_str()) => {}
                    None if extra => out.push(format!("{path}.{k}: not in the reference item")),
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(w) => walk(v, w, &format!("{path}.{k}"), out, extra),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if let (Some(x0), Some(y0)) = (x.first(), y.first()) {
                walk(x0, y0, &format!("{path}.0"), out, extra);
            }
        }
        (x, y) if !x.is_null() && !y.is_null() && !extra => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(x) != kind(y) {
                out.push(format!(
                    "{path}: {} in the reference, {} in ours",
                    kind(x),
                    kind(y)
                ));
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_deletes_nothing_and_the_rest_records() {
    let Some(m) = support::moto_with_unique_db_ids() else {
        return;
    };
    let e = estate(&m, &["setup"]);
    let good = Arc::new(
        AwsSource::connect(&settings(&m.url))
            .await
            .expect("connect"),
    );
    let r = rig(good).await;
    r.poll().await;

    // RDS now points at a closed port; the other services still reach moto.
    let mut broken = settings(&m.url);
    broken.endpoints.services.insert(
        Service::Rds,
        format!("http://127.0.0.1:{}", support::free_port()),
    );
    let source = Arc::new(AwsSource::connect(&broken).await.expect("connect"));
    let recorder = Recorder::new(r.log.clone(), source, RecorderConfig::default());
    estate(&m, &["change"]);
    estate(&m, &["delete"]);
    let before = r.log.watermark();
    let report = recorder.poll_all_once().await.expect("poll");
    let (items, _) = r
        .log
        .read_range(before, usize::MAX, &Filter::default())
        .expect("read");
    let types: std::collections::BTreeSet<&str> =
        items.iter().map(|c| c.key.resource_type.as_str()).collect();
    assert!(
        !types.iter().any(|t| t.starts_with("AWS::RDS::")),
        "{types:?}"
    );
    // The rest records, the deleted table included.
    for t in [
        "AWS::KMS::Key",
        "AWS::CloudTrail::Trail",
        "AWS::Lambda::Function",
        "AWS::DynamoDB::Table",
    ] {
        assert!(types.contains(t), "{t} still records: {types:?}");
    }
    assert_eq!(report.stats.deleted, 1, "only the deleted table");
    for st in recorder.status().snapshot() {
        if st.resource_type.starts_with("AWS::RDS::") {
            assert_eq!(
                st.last_error_code.as_deref(),
                Some("EndpointConnectionError"),
                "{st:?}"
            );
            assert!(st.last_success_ms.is_none());
        } else {
            assert_eq!(st.last_error_code, None, "{st:?}");
        }
    }
    // The RDS resources recorded before are all still there, as they were.
    let db = r.doc(&key(EAST, "AWS::RDS::DBInstance", s(&e["private_db"])));
    assert_eq!(db["configuration"]["publiclyAccessible"], false);
    assert_eq!(db["configurationItemStatus"], "ResourceDiscovered");
}
