//! The AWS source against a real AWS-compatible server: moto, started on 127.0.0.1 at a
//! free port, driven by boto3 (tests/aws/estate.py). Needs the virtualenv that
//! `scripts/test.sh` installs; with `CI=true` a missing moto fails the test.

use driftlog_aws::{AwsSettings, AwsSource, Endpoints, Service};
use driftlog_log::{Log, LogOptions};
use driftlog_model::{Filter, ResourceKey, Status};
use driftlog_poll::Source;
use driftlog_recorder::{Recorder, RecorderConfig};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[path = "../../../../tests/support/moto.rs"]
pub(crate) mod support;
use support::{estate, free_port, moto};

fn credentials() {
    // The SDK's standard chain reads these; moto accepts any key.
    for (k, v) in support::CREDENTIALS {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
}

/// The test estate built through boto3, and a source connected to it.
async fn set_up(m: &support::Moto) -> (Value, Arc<AwsSource>) {
    credentials();
    let e = estate(m, &["setup"]);
    let source = AwsSource::connect(&settings(&m.url))
        .await
        .expect("connect");
    (e, Arc::new(source))
}

fn settings(url: &str) -> AwsSettings {
    AwsSettings {
        regions: vec!["us-east-1".into()],
        endpoints: Endpoints::everywhere(url),
        max_attempts: 2,
        call_timeout: Duration::from_secs(10),
        ..AwsSettings::default()
    }
}

const ACCOUNT: &str = "123456789012";

fn key(region: &str, t: &str, id: &str) -> ResourceKey {
    ResourceKey::new(ACCOUNT, region, t, id)
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
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
}

fn rel_ids(doc: &Value, name: &str) -> Vec<String> {
    doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["name"] == name)
        .map(|r| s(&r["resourceId"]).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_an_estate_and_its_changes() {
    let Some(m) = moto() else { return };
    let (e, source) = set_up(&m).await;
    assert_eq!(source.accounts(), vec![ACCOUNT.to_string()]);
    assert_eq!(
        source.scopes().len(),
        driftlog_aws::supported_types().len(),
        "one scope per type: the region's and the 4 IAM ones"
    );
    let r = rig(source.clone()).await;
    let first = r.poll().await;
    assert!(first
        .iter()
        .all(|ci| ci.status == Status::ResourceDiscovered));
    let region = "us-east-1";

    // Security group: ARN, name, rules in AWS Config's form, edge to its VPC.
    let web = s(&e["web_sg"]);
    let sg = r.doc(&key(region, "AWS::EC2::SecurityGroup", web));
    assert_eq!(
        sg["ARN"],
        format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{web}")
    );
    assert_eq!(sg["resourceName"], "web-sg");
    assert_eq!(sg["availabilityZone"], "Not Applicable");
    assert_eq!(sg["tags"]["env"], "prod");
    assert_eq!(sg["configuration"]["groupId"], web);
    assert_eq!(sg["configuration"]["vpcId"], e["vpc"]);
    let perms = sg["configuration"]["ipPermissions"]
        .as_array()
        .expect("perms");
    let https = perms
        .iter()
        .find(|p| p["fromPort"] == 443)
        .expect("443 rule");
    assert_eq!(https["ipRanges"], serde_json::json!(["0.0.0.0/0"]));
    assert_eq!(https["ipv4Ranges"][0]["cidrIp"], "0.0.0.0/0");
    let from_lb = perms
        .iter()
        .find(|p| p["fromPort"] == 8080)
        .expect("8080 rule");
    assert_eq!(from_lb["userIdGroupPairs"][0]["groupId"], e["lb_sg"]);
    let office = perms.iter().find(|p| p["fromPort"] == 22).expect("22 rule");
    assert_eq!(office["ipv4Ranges"][0]["description"], "office");
    let egress = &sg["configuration"]["ipPermissionsEgress"][0];
    assert_eq!(egress["ipProtocol"], "-1");
    assert!(
        egress.get("fromPort").is_none(),
        "no ports on an all-protocols rule"
    );
    assert_eq!(rel_ids(&sg, "Is contained in Vpc"), vec![s(&e["vpc"])]);

    // Instances: placement AZ, launch time, edges to VPC, subnet, SG, ENI, volume.
    let i0 = s(&e["instances"][0]);
    let inst = r.doc(&key(region, "AWS::EC2::Instance", i0));
    assert_eq!(inst["availabilityZone"], "us-east-1a");
    assert_eq!(
        inst["resourceCreationTime"],
        inst["configuration"]["launchTime"]
    );
    assert_eq!(inst["configuration"]["state"]["name"], "running");
    assert_eq!(inst["tags"]["Name"], "app");
    assert_eq!(rel_ids(&inst, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    assert_eq!(
        rel_ids(&inst, "Is contained in Subnet"),
        vec![s(&e["subnets"][0])]
    );
    assert_eq!(
        rel_ids(&inst, "Is associated with SecurityGroup"),
        vec![web]
    );
    assert_eq!(
        rel_ids(&inst, "Is attached to Volume").len(),
        2,
        "root and /dev/sdf"
    );
    assert!(rel_ids(&inst, "Is attached to Volume").contains(&s(&e["volume"]).to_string()));
    let enis = rel_ids(&inst, "Contains NetworkInterface");
    assert_eq!(enis.len(), 1);
    let eni = r.doc(&key(region, "AWS::EC2::NetworkInterface", &enis[0]));
    assert_eq!(rel_ids(&eni, "Is attached to Instance"), vec![i0]);
    assert_eq!(eni["configuration"]["attachment"]["instanceId"], i0);

    // Volume, VPC, subnet, NACL, route table, IGW.
    let vol = r.doc(&key(region, "AWS::EC2::Volume", s(&e["volume"])));
    assert_eq!(rel_ids(&vol, "Is attached to Instance"), vec![i0]);
    assert_eq!(vol["configuration"]["size"], 20);
    let vpc = r.doc(&key(region, "AWS::EC2::VPC", s(&e["vpc"])));
    assert_eq!(vpc["configuration"]["cidrBlock"], "10.20.0.0/16");
    assert_eq!(vpc["availabilityZone"], "Multiple Availability Zones");
    let sub = r.doc(&key(region, "AWS::EC2::Subnet", s(&e["subnets"][1])));
    assert_eq!(sub["availabilityZone"], "us-east-1b");
    assert_eq!(rel_ids(&sub, "Is contained in Vpc"), vec![s(&e["vpc"])]);
    let acl = r.doc(&key(region, "AWS::EC2::NetworkAcl", s(&e["acl"])));
    let deny22 = acl["configuration"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|x| x["ruleNumber"] == 90)
        .expect("rule 90");
    assert_eq!(deny22["protocol"], "6");
    assert_eq!(deny22["ruleAction"], "deny");
    assert_eq!(
        deny22["portRange"],
        serde_json::json!({"from": 22, "to": 22})
    );
    let rtb = r.doc(&key(region, "AWS::EC2::RouteTable", s(&e["rtb"])));
    assert!(rtb["configuration"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .any(|x| x["gatewayId"] == e["igw"] && x["destinationCidrBlock"] == "0.0.0.0/0"));
    assert_eq!(rel_ids(&rtb, "Contains Subnet"), vec![s(&e["subnets"][0])]);
    let igw = r.doc(&key(region, "AWS::EC2::InternetGateway", s(&e["igw"])));
    assert_eq!(rel_ids(&igw, "Is attached to Vpc"), vec![s(&e["vpc"])]);

    // IAM: global, unique ids, encoded documents, policy edges both ways.
    let role = r.doc(&key("global", "AWS::IAM::Role", s(&e["role"])));
    assert_eq!(role["awsRegion"], "global");
    assert_eq!(role["resourceName"], "app-server");
    assert_eq!(
        role["ARN"],
        format!("arn:aws:iam::{ACCOUNT}:role/app-server")
    );
    assert!(s(&role["configuration"]["assumeRolePolicyDocument"]).starts_with("%7B"));
    assert_eq!(
        role["configuration"]["rolePolicyList"][0]["policyName"],
        "read-app-data"
    );
    assert!(s(&role["configuration"]["rolePolicyList"][0]["policyDocument"]).starts_with("%7B"));
    assert_eq!(role["tags"]["team"], "platform");
    assert_eq!(
        rel_ids(&role, "Is attached to CustomerManagedPolicy"),
        vec![s(&e["policy"])]
    );
    let policy = r.doc(&key("global", "AWS::IAM::Policy", s(&e["policy"])));
    assert_eq!(policy["configuration"]["path"], "/app/");
    assert_eq!(policy["configuration"]["defaultVersionId"], "v1");
    assert!(s(&policy["configuration"]["policyVersionList"][0]["document"]).starts_with("%7B"));
    assert_eq!(rel_ids(&policy, "Is attached to Role"), vec![s(&e["role"])]);
    assert_eq!(
        rel_ids(&policy, "Is attached to Group"),
        vec![s(&e["group"])]
    );
    let user = r.doc(&key("global", "AWS::IAM::User", s(&e["user"])));
    assert_eq!(
        user["configuration"]["groupList"],
        serde_json::json!(["developers"])
    );
    assert_eq!(rel_ids(&user, "Is attached to Group"), vec![s(&e["group"])]);
    let group = r.doc(&key("global", "AWS::IAM::Group", s(&e["group"])));
    assert_eq!(rel_ids(&group, "Contains User"), vec![s(&e["user"])]);

    // S3: regional, supplementary configuration with AWS Config's quirks.
    let bucket = r.doc(&key(region, "AWS::S3::Bucket", "example-app-data"));
    assert_eq!(bucket["ARN"], "arn:aws:s3:::example-app-data");
    assert_eq!(bucket["availabilityZone"], "Regional");
    // The creation date is volatile (S3 moves it) but still part of every item.
    assert!(bucket["resourceCreationTime"].is_string(), "{bucket}");
    assert_eq!(
        bucket["resourceCreationTime"],
        bucket["configuration"]["creationDate"]
    );
    let sup = &bucket["supplementaryConfiguration"];
    assert!(
        sup["AccessControlList"].is_string(),
        "the ACL is a JSON string"
    );
    let acl_doc: Value = serde_json::from_str(s(&sup["AccessControlList"])).expect("ACL JSON");
    assert_eq!(acl_doc["grantList"][0]["permission"], "FullControl");
    assert_eq!(sup["BucketVersioningConfiguration"]["status"], "Enabled");
    assert_eq!(sup["BucketPolicy"]["policyText"], Value::Null);
    assert_eq!(
        sup["PublicAccessBlockConfiguration"]["blockPublicAcls"],
        true
    );
    assert_eq!(bucket["tags"]["env"], "prod");
    let logs = r.doc(&key(region, "AWS::S3::Bucket", "example-logs"));
    assert_eq!(
        logs["supplementaryConfiguration"]["BucketVersioningConfiguration"]["status"],
        "Off"
    );

    // Reverse lookups come from the core's index.
    let in_vpc = r
        .log
        .related_to("AWS::EC2::VPC", s(&e["vpc"]), None)
        .expect("related");
    let types: std::collections::BTreeSet<_> = in_vpc
        .iter()
        .map(|x| x.source.resource_type.as_str())
        .collect();
    for t in [
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::Subnet",
        "AWS::EC2::Instance",
        "AWS::EC2::NetworkInterface",
        "AWS::EC2::NetworkAcl",
        "AWS::EC2::RouteTable",
        "AWS::EC2::InternetGateway",
    ] {
        assert!(types.contains(t), "{t} points at the VPC: {types:?}");
    }
    let on_sg = r
        .log
        .related_to("AWS::EC2::SecurityGroup", web, None)
        .expect("related");
    assert!(on_sg.iter().any(|x| x.source.resource_id == i0));

    // Nothing changed: a second poll writes nothing.
    assert!(r.poll().await.is_empty(), "a steady estate records nothing");

    // Open SSH to the world: one CI, for that group, with the changed rule. Polled alone
    // (as the scheduler does), so its related instances and ENIs are re-described in the
    // same cycle and, unchanged, not recorded.
    estate(&m, &["open-ssh", web]);
    let before = r.log.watermark();
    let report = r
        .recorder
        .poll_once(&driftlog_model::Scope::new(
            ACCOUNT,
            region,
            "AWS::EC2::SecurityGroup",
        ))
        .await
        .expect("poll");
    assert!(
        report.related_checked >= 2,
        "instances re-described: {report:?}"
    );
    assert_eq!(report.related_changed, 0);
    let (items, _) = r
        .log
        .read_range(before, usize::MAX, &Filter::default())
        .expect("read");
    assert_eq!(
        items.len(),
        1,
        "{:?}",
        items.iter().map(|c| &c.key).collect::<Vec<_>>()
    );
    assert_eq!(items[0].key.resource_id, web);
    assert_eq!(items[0].status, Status::Ok);
    let changed = items[0].changed_properties().expect("diff");
    // As AWS Config shows it: the port-22 permission UPDATEd, previous and updated values.
    assert_eq!(changed.len(), 1, "{changed:?}");
    let (path, change) = changed.iter().next().expect("one change");
    assert!(path.starts_with("Configuration.IpPermissions."), "{path}");
    assert_eq!(change["changeType"], "UPDATE");
    assert_eq!(change["previousValue"]["fromPort"], 22);
    assert_eq!(
        change["previousValue"]["ipRanges"],
        serde_json::json!(["198.51.100.0/24"])
    );
    assert_eq!(
        change["updatedValue"]["ipRanges"],
        serde_json::json!(["0.0.0.0/0", "198.51.100.0/24"])
    );
    assert!(
        changed
            .keys()
            .all(|k| k.starts_with("Configuration.IpPermissions")),
        "{changed:?}"
    );
    let doc = r.doc(&key(region, "AWS::EC2::SecurityGroup", web));
    assert!(doc["configuration"]["ipPermissions"]
        .as_array()
        .expect("perms")
        .iter()
        .any(|p| p["fromPort"] == 22
            && p["ipRanges"]
                .as_array()
                .expect("ranges")
                .contains(&"0.0.0.0/0".into())));

    // Attach a policy to the role: the role and the policy (new edge) change.
    estate(
        &m,
        &["attach-policy", "app-server", s(&e["extra_policy_arn"])],
    );
    let items = r.poll().await;
    let ids: Vec<&str> = items.iter().map(|c| c.key.resource_id.as_str()).collect();
    assert!(ids.contains(&s(&e["role"])), "{ids:?}");
    assert!(ids.contains(&s(&e["extra_policy"])), "{ids:?}");
    let role = r.doc(&key("global", "AWS::IAM::Role", s(&e["role"])));
    assert_eq!(
        rel_ids(&role, "Is attached to CustomerManagedPolicy").len(),
        2
    );
    let role_ci = items
        .iter()
        .find(|c| c.key.resource_id == s(&e["role"]))
        .expect("role CI");
    let changed = role_ci.changed_properties().expect("diff");
    assert!(
        changed
            .keys()
            .any(|k| k.starts_with("Configuration.AttachedManagedPolicies")),
        "{changed:?}"
    );

    // Put a bucket policy.
    estate(&m, &["put-bucket-policy", "example-app-data"]);
    let items = r.poll().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].key.resource_id, "example-app-data");
    let doc = r.doc(&key(region, "AWS::S3::Bucket", "example-app-data"));
    let text = s(&doc["supplementaryConfiguration"]["BucketPolicy"]["policyText"]);
    assert!(text.contains("DenyInsecureTransport"));

    // Terminate an instance: ResourceDeleted.
    let i1 = s(&e["instances"][1]);
    estate(&m, &["terminate", i1]);
    let items = r.poll().await;
    let del = items
        .iter()
        .find(|c| c.key.resource_id == i1)
        .expect("instance deleted");
    assert_eq!(del.status, Status::ResourceDeleted);

    // Delete a security group: ResourceDeleted.
    estate(&m, &["delete-sg", s(&e["spare_sg"])]);
    let items = r.poll().await;
    let del = items
        .iter()
        .find(|c| c.key.resource_id == s(&e["spare_sg"]))
        .expect("group deleted");
    assert_eq!(del.status, Status::ResourceDeleted);

    // Targeted refresh: re-describes one resource; unchanged → nothing written.
    let report = r
        .recorder
        .refresh(&[key(region, "AWS::EC2::SecurityGroup", web)])
        .await
        .expect("refresh");
    assert_eq!(report.written(), 0);

    // A describe of many ids goes in chunks of 200 (EC2's filter limit); absent ids are
    // simply absent.
    let mut many: Vec<ResourceKey> = (0..250)
        .map(|n| key(region, "AWS::EC2::SecurityGroup", &format!("sg-{n:017x}")))
        .collect();
    many.push(key(region, "AWS::EC2::SecurityGroup", web));
    let before = source.api_calls()["ec2"];
    let got = source.describe(&many).await.expect("describe");
    assert_eq!(got.resources.len(), 1);
    assert_eq!(got.resources[0].key.resource_id, web);
    assert_eq!(
        source.api_calls()["ec2"] - before,
        2,
        "two requests of <= 200 ids"
    );

    // IAM polls that overlap share listings fetched after they asked: one poll alone costs
    // one listing; four at once cost two (the first, and one the other three waited for).
    let iam_scope = |t: &str| driftlog_model::Scope::new(ACCOUNT, "global", t);
    let before = source.api_calls()["iam"];
    assert!(matches!(
        source.poll(&iam_scope("AWS::IAM::Role")).await,
        driftlog_poll::PollOutcome::Complete(_)
    ));
    let one = source.api_calls()["iam"] - before;
    let before = source.api_calls()["iam"];
    let scopes = [
        iam_scope("AWS::IAM::Role"),
        iam_scope("AWS::IAM::User"),
        iam_scope("AWS::IAM::Group"),
        iam_scope("AWS::IAM::Policy"),
    ];
    let (a, b, c, d) = tokio::join!(
        source.poll(&scopes[0]),
        source.poll(&scopes[1]),
        source.poll(&scopes[2]),
        source.poll(&scopes[3]),
    );
    for o in [a, b, c, d] {
        assert!(
            matches!(o, driftlog_poll::PollOutcome::Complete(_)),
            "{o:?}"
        );
    }
    assert_eq!(source.api_calls()["iam"] - before, 2 * one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_deletes_nothing_and_shows_its_error() {
    let Some(m) = moto() else { return };
    let (e, good) = set_up(&m).await;
    let r = rig(good).await;
    let discovered = r.poll().await.len();
    assert!(discovered > 20, "{discovered}");

    // EC2 now points at a closed port; IAM and S3 still reach moto.
    let closed = free_port();
    let mut broken = settings(&m.url);
    broken
        .endpoints
        .services
        .insert(Service::Ec2, format!("http://127.0.0.1:{closed}"));
    let source = Arc::new(AwsSource::connect(&broken).await.expect("connect"));
    let recorder = Recorder::new(r.log.clone(), source, RecorderConfig::default());
    estate(&m, &["put-bucket-policy", "example-logs"]);
    estate(
        &m,
        &["attach-policy", "app-server", s(&e["extra_policy_arn"])],
    );
    let before = r.log.watermark();
    let report = recorder.poll_all_once().await.expect("poll");
    let (items, _) = r
        .log
        .read_range(before, usize::MAX, &Filter::default())
        .expect("read");
    assert!(
        items.iter().all(|ci| ci.status != Status::ResourceDeleted),
        "nothing is deleted by a failed scope"
    );
    assert_eq!(report.stats.deleted, 0);
    let types: std::collections::BTreeSet<_> =
        items.iter().map(|c| c.key.resource_type.as_str()).collect();
    assert!(
        types.contains("AWS::S3::Bucket"),
        "S3 still records: {types:?}"
    );
    assert!(
        types.contains("AWS::IAM::Role"),
        "IAM still records: {types:?}"
    );
    assert!(
        !types.iter().any(|t| t.starts_with("AWS::EC2::")),
        "{types:?}"
    );

    let status = recorder.status().snapshot();
    for st in &status {
        if st.resource_type.starts_with("AWS::EC2::") {
            assert_eq!(
                st.last_error_code.as_deref(),
                Some("EndpointConnectionError"),
                "{st:?}"
            );
            let msg = st.last_error_message.as_deref().unwrap_or_default();
            assert!(msg.contains("ec2:Describe"), "{msg}");
            assert!(msg.len() < 400, "a status line, not a debug dump: {msg}");
            assert!(st.last_success_ms.is_none());
        } else {
            assert_eq!(st.last_error_code, None, "{st:?}");
            assert!(st.last_success_ms.is_some());
        }
    }
    // The recorded EC2 resources are all still there, as they were.
    let sg = r.doc(&key(
        "us-east-1",
        "AWS::EC2::SecurityGroup",
        s(&e["web_sg"]),
    ));
    assert_eq!(sg["configurationItemStatus"], "ResourceDiscovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_settings_accounts_and_all_regions() {
    let Some(m) = moto() else { return };
    credentials();
    // No account to record at all is refused with what to do.
    let mut none = settings(&m.url);
    none.record_own_account = false;
    let err = AwsSource::connect(&none).await.expect_err("no account");
    assert!(err.to_string().contains("assume_roles"), "{err}");
    // A malformed role ARN names itself.
    let mut bad = settings(&m.url);
    bad.assume_roles.push(driftlog_aws::AssumeRole {
        role_arn: "arn:aws:iam::12:role/x".into(),
        external_id: None,
        session_name: "driftlog".into(),
    });
    let err = AwsSource::connect(&bad).await.expect_err("bad arn");
    assert!(err.to_string().contains("arn:aws:iam::12:role/x"), "{err}");
    // A known account id needs no STS call; a malformed one is refused.
    let mut known = settings(&m.url);
    known.account_id = Some("111122223333".into());
    known
        .endpoints
        .services
        .insert(Service::Sts, format!("http://127.0.0.1:{}", free_port()));
    let source = AwsSource::connect(&known).await.expect("no STS needed");
    assert_eq!(source.accounts(), vec!["111122223333".to_string()]);
    known.account_id = Some("1111".into());
    let err = AwsSource::connect(&known).await.expect_err("bad id");
    assert!(err.to_string().contains("12-digit"), "{err}");
    // STS unreachable and no id: a startup error that says what to check.
    known.account_id = None;
    let err = AwsSource::connect(&known).await.expect_err("sts down");
    let text = err.to_string();
    assert!(
        text.contains("sts:GetCallerIdentity") && text.contains("endpoints"),
        "{text}"
    );
    // "all" regions: every region the account has enabled (DescribeRegions).
    let mut all = settings(&m.url);
    all.regions = vec!["all".into()];
    let source = AwsSource::connect(&all).await.expect("connect");
    let regions: std::collections::BTreeSet<_> =
        source.scopes().into_iter().map(|s| s.region).collect();
    assert!(regions.len() > 10, "{regions:?}");
    assert!(regions.contains("eu-west-1") && regions.contains("global"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_second_account_through_assume_role() {
    let Some(m) = moto() else { return };
    credentials();
    estate(&m, &["setup"]);
    // moto answers AssumeRole for any account; the assumed account's resources live in
    // moto's per-account backend, so the other account starts empty but is polled.
    let mut two = settings(&m.url);
    two.assume_roles.push(driftlog_aws::AssumeRole {
        role_arn: "arn:aws:iam::222233334444:role/driftlog-read".into(),
        external_id: Some("x-1".into()),
        session_name: "driftlog".into(),
    });
    let source = Arc::new(AwsSource::connect(&two).await.expect("connect"));
    assert_eq!(
        source.accounts(),
        vec![ACCOUNT.to_string(), "222233334444".to_string()]
    );
    assert_eq!(
        source.scopes().len(),
        2 * driftlog_aws::supported_types().len()
    );
    let r = rig(source).await;
    let items = r.poll().await;
    // The other account's own default VPC, under its own account id: the assumed
    // credentials were used.
    assert!(items
        .iter()
        .any(|c| c.key.account == "222233334444" && c.key.resource_type == "AWS::EC2::VPC"));
    assert!(!items.iter().any(|c| c.key.account == "222233334444"
        && c.key.resource_type == "AWS::IAM::Role"
        && c.document().expect("doc")["resourceName"] == "app-server"));
    let status = r.recorder.status().snapshot();
    assert!(
        status.iter().all(|s| s.last_error_code.is_none()),
        "{status:#?}"
    );
    assert!(status
        .iter()
        .any(|s| s.account == "222233334444" && s.last_success_ms.is_some()));
}

/// Every key of the reference CI (../shared/spec/ci-shapes, copied into driftlog-sim's
/// fixtures) is present in ours, at the top level and in `configuration`, per type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_carry_every_key_of_the_reference_shapes() {
    let Some(m) = moto() else { return };
    let (e, source) = set_up(&m).await;
    let r = rig(source).await;
    r.poll().await;
    let fixtures = support::repo().join("crates/driftlog-sim/tests/fixtures/ci-shapes");
    let region = "us-east-1";
    // The ENI of an instance, so that its attachment is compared too.
    let inst = r.doc(&key(region, "AWS::EC2::Instance", s(&e["instances"][0])));
    let attached_eni = rel_ids(&inst, "Contains NetworkInterface").remove(0);
    let ours = [
        (
            "AWS_EC2_SecurityGroup",
            key(region, "AWS::EC2::SecurityGroup", s(&e["web_sg"])),
        ),
        (
            "AWS_EC2_NetworkAcl",
            key(region, "AWS::EC2::NetworkAcl", s(&e["acl"])),
        ),
        ("AWS_EC2_VPC", key(region, "AWS::EC2::VPC", s(&e["vpc"]))),
        (
            "AWS_EC2_Subnet",
            key(region, "AWS::EC2::Subnet", s(&e["subnets"][0])),
        ),
        (
            "AWS_EC2_Instance",
            key(region, "AWS::EC2::Instance", s(&e["instances"][0])),
        ),
        (
            "AWS_EC2_NetworkInterface",
            key(region, "AWS::EC2::NetworkInterface", &attached_eni),
        ),
        (
            "AWS_EC2_RouteTable",
            key(region, "AWS::EC2::RouteTable", s(&e["rtb"])),
        ),
        (
            "AWS_EC2_InternetGateway",
            key(region, "AWS::EC2::InternetGateway", s(&e["igw"])),
        ),
        (
            "AWS_EC2_Volume",
            key(region, "AWS::EC2::Volume", s(&e["volume"])),
        ),
        (
            "AWS_IAM_Role",
            key("global", "AWS::IAM::Role", s(&e["role"])),
        ),
        (
            "AWS_IAM_User",
            key("global", "AWS::IAM::User", s(&e["user"])),
        ),
        (
            "AWS_IAM_Group",
            key("global", "AWS::IAM::Group", s(&e["group"])),
        ),
        (
            "AWS_IAM_Policy",
            key("global", "AWS::IAM::Policy", s(&e["policy"])),
        ),
        (
            "AWS_S3_Bucket",
            key(region, "AWS::S3::Bucket", "example-app-data"),
        ),
    ];
    let mut missing = Vec::new();
    for (file, k) in ours {
        let text = std::fs::read_to_string(fixtures.join(format!("{file}.json"))).expect("fixture");
        let reference: Value = serde_json::from_str(&text).expect("fixture JSON");
        let doc = r.doc(&k);
        walk(&reference, &doc, file, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "keys missing from our items: {missing:#?}"
    );
}

/// Keys the reference has and ours lacks, recursively through objects and into the first
/// element of arrays present on both sides. Keys AWS itself omits when unset (the ports of
/// an all-protocols rule, descriptions) are not required.
fn walk(reference: &Value, ours: &Value, path: &str, missing: &mut Vec<String>) {
    // AWS omits these when unset; moto sets no default bucket encryption.
    const OPTIONAL: &[&str] = &[
        "fromPort",
        "toPort",
        "description",
        "ServerSideEncryptionConfiguration",
        // moto does not implement GetBucketRequestPayment: left out, not guessed.
        "IsRequesterPaysEnabled",
    ];
    match (reference, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, v) in r {
                // Tag maps hold data, not schema.
                if k == "tags" && v.is_object() {
                    continue;
                }
                match o.get(k) {
                    None if OPTIONAL.contains(&k.as_str()) => {}
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
        // Both set: the JSON types must agree (a number string stays a string, a state a
        // plain string, a flag a boolean).
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
