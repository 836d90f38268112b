//! Each managed rule on real-shaped configuration items (the reference CIs of
//! `ci-shapes`, as AWS Config records them), changed the way people change resources:
//! compliant, non-compliant and not-applicable cases per rule.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_rules::managed::{check_parameters, evaluate, evaluate_with, rule, RULES};
use driftlog_rules::{Compliance, RuleError};
use serde_json::{json, Map, Value};

fn shape(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driftlog-sim/tests/fixtures/ci-shapes")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn judge(rule: &str, p: Value, item: &Value) -> Compliance {
    evaluate(rule, &params(p), item).unwrap().compliance
}

/// Replaces the SG's ingress with one rule.
fn sg_with(ingress: Value) -> Value {
    let mut sg = shape("AWS_EC2_SecurityGroup");
    sg["configuration"]["ipPermissions"] = ingress;
    sg
}

fn perm(proto: &str, from: i64, to: i64, cidr: &str) -> Value {
    json!({"fromPort": from, "toPort": to, "ipProtocol": proto, "ipv6Ranges": [], "prefixListIds": [],
           "userIdGroupPairs": [], "ipv4Ranges": [{"cidrIp": cidr}], "ipRanges": [cidr]})
}

use Compliance::{Compliant as C, NonCompliant as N, NotApplicable as NA};

#[test]
fn every_rule_is_listed_once_and_refuses_unknown_parameters() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.identifier).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 33);
    assert!(matches!(
        check_parameters("INCOMING_SSH_DISABLED", &params(json!({"port": "22"}))),
        Err(RuleError::Parameter(_))
    ));
    assert!(matches!(
        check_parameters("IAM_ROLE_MANAGED_POLICY_CHECK", &params(json!({}))),
        Err(RuleError::Parameter(_))
    ));
    assert!(matches!(
        check_parameters(
            "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
            &params(json!({"authorizedTcpPorts": "443,90-80"}))
        ),
        Err(RuleError::Parameter(_))
    ));
    assert!(matches!(
        evaluate("NO_SUCH_RULE", &Map::new(), &json!({})),
        Err(RuleError::UnknownRule(_))
    ));
}

#[test]
fn incoming_ssh_disabled() {
    let r = "INCOMING_SSH_DISABLED";
    // The reference SG allows 22 only from an office range: compliant.
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_SecurityGroup")), C);
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("tcp", 22, 22, "0.0.0.0/0")]))
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("tcp", 0, 1024, "0.0.0.0/0")]))
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(
                json!([{"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipRanges": ["0.0.0.0/0"]}])
            )
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(
                json!([{"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "ipv6Ranges": [{"cidrIpv6": "::/0"}], "ipv4Ranges": []}])
            )
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("udp", 22, 22, "0.0.0.0/0")]))
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("tcp", 23, 80, "0.0.0.0/0")]))
        ),
        C
    );
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_VPC")), NA);
    let mut gone = sg_with(json!([perm("tcp", 22, 22, "0.0.0.0/0")]));
    gone["configurationItemStatus"] = json!("ResourceDeleted");
    assert_eq!(judge(r, json!({}), &gone), NA);
    let v = evaluate(
        r,
        &Map::new(),
        &sg_with(json!([perm("tcp", 22, 22, "0.0.0.0/0")])),
    )
    .unwrap();
    assert!(v.annotation.unwrap().contains("0.0.0.0/0"));
}

#[test]
fn restricted_incoming_traffic() {
    let r = "RESTRICTED_INCOMING_TRAFFIC";
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_SecurityGroup")), C);
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("tcp", 3389, 3389, "0.0.0.0/0")]))
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({}),
            &sg_with(json!([perm("tcp", 3306, 3306, "10.0.0.0/8")]))
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"blockedPort1": "443"}),
            &shape("AWS_EC2_SecurityGroup")
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({"blockedPort1": "8443"}),
            &sg_with(json!([perm("tcp", 3389, 3389, "0.0.0.0/0")]))
        ),
        C
    );
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_NetworkAcl")), NA);
}

#[test]
fn vpc_sg_open_only_to_authorized_ports() {
    let r = "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS";
    // The reference SG opens 443 to the world.
    assert_eq!(
        judge(
            r,
            json!({"authorizedTcpPorts": "443"}),
            &shape("AWS_EC2_SecurityGroup")
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"authorizedTcpPorts": "80"}),
            &shape("AWS_EC2_SecurityGroup")
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({"authorizedTcpPorts": "1000-2000"}),
            &sg_with(json!([perm("tcp", 1020, 1025, "0.0.0.0/0")]))
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"authorizedTcpPorts": "1000-1021"}),
            &sg_with(json!([perm("tcp", 1020, 1025, "0.0.0.0/0")]))
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({"authorizedUdpPorts": "53"}),
            &sg_with(json!([perm("udp", 53, 53, "0.0.0.0/0")]))
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"authorizedTcpPorts": "443"}),
            &sg_with(json!([{"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}]}]))
        ),
        N
    );
    assert_eq!(judge(r, json!({}), &shape("AWS_IAM_Role")), NA);
}

#[test]
fn vpc_default_security_group_closed() {
    let r = "VPC_DEFAULT_SECURITY_GROUP_CLOSED";
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_SecurityGroup")), NA);
    let mut d = shape("AWS_EC2_SecurityGroup");
    d["configuration"]["groupName"] = json!("default");
    assert_eq!(judge(r, json!({}), &d), N);
    d["configuration"]["ipPermissions"] = json!([]);
    d["configuration"]["ipPermissionsEgress"] = json!([]);
    assert_eq!(judge(r, json!({}), &d), C);
}

#[test]
fn nacl_no_unrestricted_ssh_rdp() {
    let r = "NACL_NO_UNRESTRICTED_SSH_RDP";
    let mut n = shape("AWS_EC2_NetworkAcl");
    // Reference: SSH denied at rule 90, everything else allowed at 100 → RDP is open.
    assert_eq!(judge(r, json!({}), &n), N);
    n["configuration"]["entries"].as_array_mut().unwrap().push(json!(
        {"cidrBlock": "0.0.0.0/0", "egress": false, "icmpTypeCode": null, "ipv6CidrBlock": null,
         "portRange": {"from": 3389, "to": 3389}, "protocol": "6", "ruleAction": "deny", "ruleNumber": 80}));
    assert_eq!(judge(r, json!({}), &n), C);
    // Only narrower sources allowed: compliant.
    let mut m = shape("AWS_EC2_NetworkAcl");
    for e in m["configuration"]["entries"].as_array_mut().unwrap() {
        if e["egress"] == json!(false) && e["ruleAction"] == json!("allow") {
            e["cidrBlock"] = json!("10.0.0.0/8");
        }
    }
    assert_eq!(judge(r, json!({}), &m), C);
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_SecurityGroup")), NA);
}

fn encoded(doc: &Value) -> String {
    percent_encoding::utf8_percent_encode(&doc.to_string(), percent_encoding::NON_ALPHANUMERIC)
        .to_string()
}

#[test]
fn iam_policy_no_statements_with_admin_access() {
    let r = "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS";
    let mut p = shape("AWS_IAM_Policy");
    assert_eq!(judge(r, json!({}), &p), C);
    let admin = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    p["configuration"]["policyVersionList"][0]["document"] = json!(encoded(&admin));
    assert_eq!(judge(r, json!({}), &p), N);
    // Only the default version counts.
    p["configuration"]["policyVersionList"][0]["isDefaultVersion"] = json!(false);
    p["configuration"]["policyVersionList"][1]["isDefaultVersion"] = json!(true);
    assert_eq!(judge(r, json!({}), &p), C);
    // Deny with * is fine; Allow * on one resource is fine.
    let deny = json!({"Statement": {"Effect": "Deny", "Action": ["*"], "Resource": "*"}});
    p["configuration"]["policyVersionList"][1]["document"] = json!(encoded(&deny));
    assert_eq!(judge(r, json!({}), &p), C);
    assert_eq!(judge(r, json!({}), &shape("AWS_IAM_Role")), NA);
}

#[test]
fn iam_role_managed_policy_check() {
    let r = "IAM_ROLE_MANAGED_POLICY_CHECK";
    let role = shape("AWS_IAM_Role");
    let attached: Vec<String> = role["configuration"]["attachedManagedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policyArn"].as_str().unwrap().to_string())
        .collect();
    assert!(!attached.is_empty());
    assert_eq!(
        judge(r, json!({"managedPolicyArns": attached.join(",")}), &role),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"managedPolicyArns": format!("{},arn:aws:iam::aws:policy/ReadOnlyAccess", attached[0])}),
            &role
        ),
        N
    );
    assert_eq!(
        judge(
            r,
            json!({"managedPolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
            &shape("AWS_IAM_User")
        ),
        NA
    );
}

#[test]
fn iam_user_no_policies_check() {
    let r = "IAM_USER_NO_POLICIES_CHECK";
    let mut u = shape("AWS_IAM_User");
    assert_eq!(judge(r, json!({}), &u), N);
    u["configuration"]["userPolicyList"] = json!([]);
    assert_eq!(judge(r, json!({}), &u), N);
    u["configuration"]["attachedManagedPolicies"] = json!([]);
    assert_eq!(judge(r, json!({}), &u), C);
    assert_eq!(judge(r, json!({}), &shape("AWS_IAM_Group")), NA);
}

fn bucket_with_acl(grants: Value) -> Value {
    let mut b = shape("AWS_S3_Bucket");
    let mut acl: Value = serde_json::from_str(
        b["supplementaryConfiguration"]["AccessControlList"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    acl["grantList"] = grants;
    b["supplementaryConfiguration"]["AccessControlList"] = json!(acl.to_string());
    b
}

#[test]
fn s3_bucket_public_read_and_write_prohibited() {
    let (read, write) = (
        "S3_BUCKET_PUBLIC_READ_PROHIBITED",
        "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
    );
    let b = shape("AWS_S3_Bucket");
    assert_eq!(judge(read, json!({}), &b), C);
    assert_eq!(judge(write, json!({}), &b), C);
    let mut public_read = bucket_with_acl(json!([{"grantee": "AllUsers", "permission": "Read"}]));
    public_read["supplementaryConfiguration"]["PublicAccessBlockConfiguration"] = json!({"blockPublicAcls": false, "ignorePublicAcls": false, "blockPublicPolicy": false, "restrictPublicBuckets": false});
    assert_eq!(judge(read, json!({}), &public_read), N);
    assert_eq!(judge(write, json!({}), &public_read), C);
    let mut public_write =
        bucket_with_acl(json!([{"grantee": "AuthenticatedUsers", "permission": "Write"}]));
    public_write["supplementaryConfiguration"]["PublicAccessBlockConfiguration"] = json!(null);
    assert_eq!(judge(write, json!({}), &public_write), N);
    // The public access block ignores public ACLs: compliant again.
    let blocked = bucket_with_acl(json!([{"grantee": "AllUsers", "permission": "FullControl"}]));
    assert_eq!(judge(read, json!({}), &blocked), C);
    // A policy open to everyone, without a condition.
    let mut pol = shape("AWS_S3_Bucket");
    pol["supplementaryConfiguration"]["PublicAccessBlockConfiguration"] = json!(null);
    pol["supplementaryConfiguration"]["BucketPolicy"]["policyText"] = json!(json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-app-data/*"}]}).to_string());
    assert_eq!(judge(read, json!({}), &pol), N);
    assert_eq!(judge(write, json!({}), &pol), C);
    assert_eq!(judge(read, json!({}), &shape("AWS_EC2_Instance")), NA);
}

#[test]
fn s3_bucket_encryption_and_versioning() {
    let (sse, ver) = (
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        "S3_BUCKET_VERSIONING_ENABLED",
    );
    let mut b = shape("AWS_S3_Bucket");
    assert_eq!(judge(sse, json!({}), &b), C);
    assert_eq!(judge(ver, json!({}), &b), C);
    assert_eq!(judge(ver, json!({"isMfaDeleteEnabled": "true"}), &b), N);
    b["supplementaryConfiguration"]["ServerSideEncryptionConfiguration"] = json!(null);
    b["supplementaryConfiguration"]["BucketVersioningConfiguration"] =
        json!({"status": "Suspended", "isMfaDeleteEnabled": null});
    assert_eq!(judge(sse, json!({}), &b), N);
    assert_eq!(judge(ver, json!({}), &b), N);
    b["supplementaryConfiguration"]["BucketVersioningConfiguration"] = json!({"status": "Off"});
    assert_eq!(judge(ver, json!({}), &b), N);
    assert_eq!(judge(ver, json!({}), &shape("AWS_EC2_Volume")), NA);
}

#[test]
fn ec2_instance_no_public_ip() {
    let r = "EC2_INSTANCE_NO_PUBLIC_IP";
    let mut i = shape("AWS_EC2_Instance");
    assert_eq!(judge(r, json!({}), &i), N);
    i["configuration"]["publicIpAddress"] = json!(null);
    assert_eq!(judge(r, json!({}), &i), C);
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_NetworkInterface")), NA);
}

#[test]
fn required_tags() {
    let r = "REQUIRED_TAGS";
    let sg = shape("AWS_EC2_SecurityGroup"); // tags: Name=web-sg, env=prod
    assert_eq!(judge(r, json!({"tag1Key": "env"}), &sg), C);
    assert_eq!(
        judge(
            r,
            json!({"tag1Key": "env", "tag1Value": "prod,staging"}),
            &sg
        ),
        C
    );
    assert_eq!(
        judge(r, json!({"tag1Key": "env", "tag1Value": "dev"}), &sg),
        N
    );
    assert_eq!(
        judge(r, json!({"tag1Key": "env", "tag2Key": "owner"}), &sg),
        N
    );
    let v = evaluate(r, &params(json!({"tag1Key": "owner"})), &sg).unwrap();
    assert_eq!(v.annotation.as_deref(), Some("owner is missing"));
}

/// The verdict's annotation.
fn why(rule: &str, p: Value, item: &Value) -> String {
    evaluate(rule, &params(p), item)
        .unwrap()
        .annotation
        .unwrap_or_default()
}

fn deleted(mut item: Value) -> Value {
    item["configurationItemStatus"] = json!("ResourceDeleted");
    item
}

#[test]
fn triggers_and_related_types_are_aws_s() {
    let periodic_only = [
        "CMK_BACKING_KEY_ROTATION_ENABLED",
        "CLOUD_TRAIL_ENCRYPTION_ENABLED",
        "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
        "MULTI_REGION_CLOUD_TRAIL_ENABLED",
        "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK",
        "ECR_PRIVATE_IMAGE_SCANNING_ENABLED",
        "EKS_ENDPOINT_NO_PUBLIC_ACCESS",
        "VPC_FLOW_LOGS_ENABLED",
    ];
    for r in RULES {
        let p = periodic_only.contains(&r.identifier);
        assert_eq!(r.periodic, p, "{}", r.identifier);
        assert_eq!(r.change_triggered, !p, "{}", r.identifier);
    }
    let m = rule("MULTI_REGION_CLOUD_TRAIL_ENABLED").unwrap();
    assert_eq!(m.resource_types, &["AWS::::Account"]);
    assert_eq!(m.related_types, &["AWS::CloudTrail::Trail"]);
    assert!(m.related_all_regions);
    let v = rule("VPC_FLOW_LOGS_ENABLED").unwrap();
    assert_eq!(v.related_types, &["AWS::EC2::FlowLog"]);
    assert!(!v.related_all_regions);
    assert_eq!(
        rule("ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK")
            .unwrap()
            .related_types,
        &["AWS::ElasticLoadBalancingV2::Listener"]
    );
    for (r, bad) in [
        (
            "CLOUDWATCH_ALARM_ACTION_CHECK",
            json!({"okActionRequired": "yes"}),
        ),
        ("VPC_FLOW_LOGS_ENABLED", json!({"trafficType": "SOME"})),
        (
            "MULTI_REGION_CLOUD_TRAIL_ENABLED",
            json!({"readWriteType": "All"}),
        ),
        (
            "MULTI_REGION_CLOUD_TRAIL_ENABLED",
            json!({"includeManagementEvents": "1"}),
        ),
        (
            "SECRETSMANAGER_ROTATION_ENABLED_CHECK",
            json!({"maximumAllowedRotationFrequency": "ten"}),
        ),
        ("SNS_ENCRYPTED_KMS", json!({"kmsKeyId": "k"})),
        ("EIP_ATTACHED", json!({"x": "1"})),
    ] {
        assert!(
            matches!(
                check_parameters(r, &params(bad)),
                Err(RuleError::Parameter(_))
            ),
            "{r}"
        );
    }
}

#[test]
fn lambda_function_public_access_prohibited() {
    let r = "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED";
    let f = shape("AWS_Lambda_Function");
    // The reference policy lets EventBridge invoke it, for one rule: not public.
    assert_eq!(judge(r, json!({}), &f), C);
    let mut policy: Value =
        serde_json::from_str(f["supplementaryConfiguration"]["Policy"].as_str().unwrap()).unwrap();
    policy["Statement"][0]["Principal"] = json!("*");
    let mut open = f.clone();
    open["supplementaryConfiguration"]["Policy"] = json!(policy.to_string());
    // Anyone, but only from that rule's ARN: still not public.
    assert_eq!(judge(r, json!({}), &open), C);
    policy["Statement"][0]
        .as_object_mut()
        .unwrap()
        .remove("Condition");
    open["supplementaryConfiguration"]["Policy"] = json!(policy.to_string());
    assert_eq!(judge(r, json!({}), &open), N);
    assert!(why(r, json!({}), &open).contains("AllowEventBridgeNightly"));
    policy["Statement"][0]["Principal"] = json!({"AWS": "*"});
    open["supplementaryConfiguration"]["Policy"] = json!(policy.to_string());
    assert_eq!(judge(r, json!({}), &open), N);
    // No policy at all: nobody else may invoke it.
    let mut none = f.clone();
    none["supplementaryConfiguration"]
        .as_object_mut()
        .unwrap()
        .remove("Policy");
    assert_eq!(judge(r, json!({}), &none), C);
    assert_eq!(judge(r, json!({}), &deleted(open)), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_IAM_Role")), NA);
}

#[test]
fn rds_instance_public_access_check() {
    let r = "RDS_INSTANCE_PUBLIC_ACCESS_CHECK";
    let mut db = shape("AWS_RDS_DBInstance");
    assert_eq!(judge(r, json!({}), &db), C);
    db["configuration"]["publiclyAccessible"] = json!(true);
    assert_eq!(judge(r, json!({}), &db), N);
    assert_eq!(
        why(r, json!({}), &db),
        "the DB instance is publicly accessible"
    );
    assert_eq!(judge(r, json!({}), &deleted(db)), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_RDS_DBCluster")), NA);
}

#[test]
fn rds_storage_encrypted() {
    let r = "RDS_STORAGE_ENCRYPTED";
    let mut db = shape("AWS_RDS_DBInstance");
    let key = db["configuration"]["kmsKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(judge(r, json!({}), &db), C);
    assert_eq!(judge(r, json!({"kmsKeyId": key}), &db), C);
    assert_eq!(
        judge(
            r,
            json!({"kmsKeyId": "arn:aws:kms:eu-west-1:111122223333:key/other"}),
            &db
        ),
        N
    );
    db["configuration"]["storageEncrypted"] = json!(false);
    db["configuration"]["kmsKeyId"] = json!(null);
    assert_eq!(judge(r, json!({}), &db), N);
    assert_eq!(judge(r, json!({}), &shape("AWS_RDS_DBSnapshot")), NA);
}

#[test]
fn rds_snapshots_public_prohibited() {
    let r = "RDS_SNAPSHOTS_PUBLIC_PROHIBITED";
    let mut s = shape("AWS_RDS_DBSnapshot");
    assert_eq!(judge(r, json!({}), &s), C);
    // Shared with one account: not public.
    s["supplementaryConfiguration"]["DBSnapshotAttributes"] =
        json!([{"attributeName": "restore", "attributeValues": ["444455556666"]}]);
    assert_eq!(judge(r, json!({}), &s), C);
    s["supplementaryConfiguration"]["DBSnapshotAttributes"] =
        json!([{"attributeName": "restore", "attributeValues": ["all"]}]);
    assert_eq!(judge(r, json!({}), &s), N);
    // A cluster snapshot keeps its attributes under its own key.
    let mut cs = shape("AWS_RDS_DBSnapshot");
    cs["resourceType"] = json!("AWS::RDS::DBClusterSnapshot");
    cs["supplementaryConfiguration"] = json!({"DBClusterSnapshotAttributes":
        [{"attributeName": "restore", "attributeValues": ["all"]}]});
    assert_eq!(judge(r, json!({}), &cs), N);
    assert_eq!(judge(r, json!({}), &deleted(s)), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_RDS_DBInstance")), NA);
}

#[test]
fn cmk_backing_key_rotation_enabled() {
    let r = "CMK_BACKING_KEY_ROTATION_ENABLED";
    let mut k = shape("AWS_KMS_Key");
    assert_eq!(judge(r, json!({}), &k), C);
    k["supplementaryConfiguration"]["KeyRotationStatus"] = json!(false);
    assert_eq!(judge(r, json!({}), &k), N);
    assert_eq!(
        why(r, json!({}), &k),
        "automatic key rotation is not enabled"
    );
    // AWS managed keys rotate by themselves; asymmetric and imported keys cannot.
    let mut aws = k.clone();
    aws["configuration"]["keyManager"] = json!("AWS");
    assert_eq!(judge(r, json!({}), &aws), NA);
    let mut rsa = k.clone();
    rsa["configuration"]["keySpec"] = json!("RSA_2048");
    assert_eq!(judge(r, json!({}), &rsa), NA);
    let mut imported = k.clone();
    imported["configuration"]["origin"] = json!("EXTERNAL");
    assert_eq!(judge(r, json!({}), &imported), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_SecretsManager_Secret")), NA);
}

#[test]
fn kms_cmk_not_scheduled_for_deletion() {
    let r = "KMS_CMK_NOT_SCHEDULED_FOR_DELETION";
    let mut k = shape("AWS_KMS_Key");
    let id = k["configuration"]["keyId"].as_str().unwrap().to_string();
    assert_eq!(judge(r, json!({}), &k), C);
    k["configuration"]["keyState"] = json!("PendingDeletion");
    k["configuration"]["deletionDate"] = json!(1_717_200_000_000_i64);
    assert_eq!(judge(r, json!({}), &k), N);
    assert!(why(r, json!({}), &k).contains("1717200000000"));
    assert_eq!(
        judge(r, json!({"kmsKeyIds": format!("other, {id}")}), &k),
        N
    );
    // Keys not listed in kmsKeyIds are not judged.
    assert_eq!(judge(r, json!({"kmsKeyIds": "other-key"}), &k), NA);
    assert_eq!(judge(r, json!({}), &deleted(k)), NA);
}

#[test]
fn cloud_trail_encryption_and_log_file_validation() {
    let (enc, val) = (
        "CLOUD_TRAIL_ENCRYPTION_ENABLED",
        "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
    );
    let mut t = shape("AWS_CloudTrail_Trail");
    assert_eq!(judge(enc, json!({}), &t), C);
    assert_eq!(judge(val, json!({}), &t), C);
    t["configuration"]["kmsKeyId"] = json!(null);
    t["configuration"]["logFileValidationEnabled"] = json!(false);
    assert_eq!(judge(enc, json!({}), &t), N);
    assert_eq!(judge(val, json!({}), &t), N);
    assert_eq!(
        why(val, json!({}), &t),
        "log file validation is not enabled"
    );
    assert_eq!(judge(enc, json!({}), &deleted(t)), NA);
    assert_eq!(judge(val, json!({}), &shape("AWS_S3_Bucket")), NA);
}

fn account() -> Value {
    json!({"resourceType": "AWS::::Account", "resourceId": "111122223333", "awsAccountId": "111122223333",
           "awsRegion": "us-east-1", "configurationItemStatus": "OK", "configuration": {}})
}

fn with_related(rule: &str, p: Value, item: &Value, related: &[Value]) -> (Compliance, String) {
    let v = evaluate_with(rule, &params(p), item, related).unwrap();
    (v.compliance, v.annotation.unwrap_or_default())
}

#[test]
fn multi_region_cloud_trail_enabled() {
    let r = "MULTI_REGION_CLOUD_TRAIL_ENABLED";
    let trail = shape("AWS_CloudTrail_Trail");
    let acct = account();
    // The account is judged from its trails, of any region (the trail is in eu-west-1).
    assert_eq!(
        with_related(r, json!({}), &acct, std::slice::from_ref(&trail)).0,
        C
    );
    let (c, why) = with_related(r, json!({}), &acct, &[]);
    assert_eq!(c, N);
    assert_eq!(why, "no CloudTrail trail is recorded in the account");
    let mut single = trail.clone();
    single["configuration"]["isMultiRegionTrail"] = json!(false);
    let (c, why) = with_related(r, json!({}), &acct, std::slice::from_ref(&single));
    assert_eq!(c, N);
    assert!(why.contains("org-audit is not multi-region"), "{why}");
    // One matching trail among others is enough; a deleted one does not count.
    assert_eq!(
        with_related(r, json!({}), &acct, &[single, trail.clone()]).0,
        C
    );
    assert_eq!(
        with_related(r, json!({}), &acct, &[deleted(trail.clone())]).0,
        N
    );
    // Parameters name what the trail must deliver to.
    let p = json!({"s3BucketName": "example-cloudtrail-logs",
                   "cloudWatchLogsLogGroupArn": trail["configuration"]["cloudWatchLogsLogGroupArn"]});
    assert_eq!(with_related(r, p, &acct, std::slice::from_ref(&trail)).0, C);
    assert_eq!(
        with_related(
            r,
            json!({"s3BucketName": "other"}),
            &acct,
            std::slice::from_ref(&trail)
        )
        .0,
        N
    );
    assert_eq!(
        with_related(
            r,
            json!({"snsTopicArn": "arn:aws:sns:eu-west-1:111122223333:t"}),
            &acct,
            std::slice::from_ref(&trail)
        )
        .0,
        N
    );
    // Without recorded event selectors, a trail logs all management events (CloudTrail's
    // default); recorded ones are read when present.
    let all = json!({"includeManagementEvents": "true", "readWriteType": "ALL"});
    assert_eq!(
        with_related(r, all.clone(), &acct, std::slice::from_ref(&trail)).0,
        C
    );
    assert_eq!(
        with_related(
            r,
            json!({"readWriteType": "WriteOnly"}),
            &acct,
            std::slice::from_ref(&trail)
        )
        .0,
        N
    );
    let mut sel = trail.clone();
    sel["supplementaryConfiguration"]["EventSelectors"] = json!([{"readWriteType": "WriteOnly", "includeManagementEvents": true, "excludeManagementEventSources": []}]);
    assert_eq!(
        with_related(r, all.clone(), &acct, std::slice::from_ref(&sel)).0,
        N
    );
    assert_eq!(
        with_related(
            r,
            json!({"readWriteType": "WriteOnly"}),
            &acct,
            std::slice::from_ref(&sel)
        )
        .0,
        C
    );
    sel["supplementaryConfiguration"]["EventSelectors"] = json!([{"readWriteType": "All", "includeManagementEvents": true, "excludeManagementEventSources": ["kms.amazonaws.com"]}]);
    assert_eq!(with_related(r, json!({}), &acct, &[sel]).0, N);
    let mut stopped = trail.clone();
    stopped["supplementaryConfiguration"]["TrailStatus"] = json!({"isLogging": false});
    assert_eq!(with_related(r, json!({}), &acct, &[stopped]).0, N);
    // Only the account is judged.
    assert_eq!(
        with_related(r, json!({}), &trail, std::slice::from_ref(&trail)).0,
        NA
    );
}

#[test]
fn alb_http_to_https_redirection_check() {
    let r = "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK";
    let lb = shape("AWS_ElasticLoadBalancingV2_LoadBalancer");
    let redirect = shape("AWS_ElasticLoadBalancingV2_Listener");
    // The reference HTTP:80 listener redirects to HTTPS.
    assert_eq!(
        with_related(r, json!({}), &lb, std::slice::from_ref(&redirect)).0,
        C
    );
    // No listener at all: no HTTP listener to fail.
    assert_eq!(with_related(r, json!({}), &lb, &[]).0, C);
    let mut forward = redirect.clone();
    forward["configuration"]["DefaultActions"] = json!([{"Type": "forward", "Order": 1,
        "TargetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef"}]);
    let (c, why) = with_related(r, json!({}), &lb, &[redirect.clone(), forward.clone()]);
    assert_eq!(c, N);
    assert_eq!(why, "HTTP listener on port 80 does not redirect to HTTPS");
    // Redirecting to HTTP is no redirection to HTTPS.
    let mut to_http = redirect.clone();
    to_http["configuration"]["DefaultActions"][0]["RedirectConfig"]["Protocol"] = json!("HTTP");
    assert_eq!(with_related(r, json!({}), &lb, &[to_http]).0, N);
    // An HTTPS listener forwarding is fine; another load balancer's listener is not ours.
    let mut https = forward.clone();
    https["configuration"]["Protocol"] = json!("HTTPS");
    https["configuration"]["Port"] = json!(443);
    let mut other = forward.clone();
    other["configuration"]["LoadBalancerArn"] = json!("arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/other/0000000000000000");
    assert_eq!(with_related(r, json!({}), &lb, &[https, other]).0, C);
    // Network load balancers are not judged.
    let mut nlb = lb.clone();
    nlb["configuration"]["type"] = json!("network");
    assert_eq!(with_related(r, json!({}), &nlb, &[forward]).0, NA);
    assert_eq!(with_related(r, json!({}), &redirect, &[]).0, NA);
}

#[test]
fn dynamodb_pitr_enabled() {
    let r = "DYNAMODB_PITR_ENABLED";
    let mut t = shape("AWS_DynamoDB_Table");
    assert_eq!(judge(r, json!({}), &t), C);
    t["supplementaryConfiguration"]["ContinuousBackupsDescription"]
        ["pointInTimeRecoveryDescription"]["pointInTimeRecoveryStatus"] = json!("DISABLED");
    assert_eq!(judge(r, json!({}), &t), N);
    assert_eq!(why(r, json!({}), &t), "point-in-time recovery is DISABLED");
    t["supplementaryConfiguration"] = json!({});
    assert_eq!(judge(r, json!({}), &t), N);
    assert_eq!(judge(r, json!({}), &deleted(t)), NA);
}

#[test]
fn sns_encrypted_kms() {
    let r = "SNS_ENCRYPTED_KMS";
    let mut t = shape("AWS_SNS_Topic"); // KmsMasterKeyId alias/aws/sns
    assert_eq!(judge(r, json!({}), &t), C);
    assert_eq!(
        judge(r, json!({"kmsKeyIds": "alias/app, alias/aws/sns"}), &t),
        C
    );
    assert_eq!(judge(r, json!({"kmsKeyIds": "alias/app"}), &t), N);
    t["configuration"]["KmsMasterKeyId"] = json!(null);
    assert_eq!(judge(r, json!({}), &t), N);
    assert_eq!(judge(r, json!({}), &shape("AWS_SQS_Queue")), NA);
}

#[test]
fn sqs_queue_encrypted() {
    let r = "SQS_QUEUE_ENCRYPTED";
    let mut q = shape("AWS_SQS_Queue"); // SSE-KMS with alias/app-queues
    assert_eq!(judge(r, json!({}), &q), C);
    q["configuration"]["KmsMasterKeyId"] = json!(null);
    assert_eq!(judge(r, json!({}), &q), N);
    q["configuration"]["SqsManagedSseEnabled"] = json!("true");
    assert_eq!(judge(r, json!({}), &q), C);
    assert_eq!(judge(r, json!({}), &deleted(q)), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_SNS_Topic")), NA);
}

#[test]
fn ecr_private_image_scanning_enabled() {
    let r = "ECR_PRIVATE_IMAGE_SCANNING_ENABLED";
    let mut repo = shape("AWS_ECR_Repository");
    assert_eq!(judge(r, json!({}), &repo), C);
    repo["configuration"]["ImageScanningConfiguration"]["ScanOnPush"] = json!(false);
    assert_eq!(judge(r, json!({}), &repo), N);
    assert_eq!(judge(r, json!({}), &shape("AWS_EKS_Cluster")), NA);
}

#[test]
fn eks_endpoint_no_public_access() {
    let r = "EKS_ENDPOINT_NO_PUBLIC_ACCESS";
    let mut c = shape("AWS_EKS_Cluster");
    // Public, even if only to one range.
    assert_eq!(judge(r, json!({}), &c), N);
    c["configuration"]["ResourcesVpcConfig"]["EndpointPublicAccess"] = json!(false);
    assert_eq!(judge(r, json!({}), &c), C);
    assert_eq!(judge(r, json!({}), &deleted(c)), NA);
}

#[test]
fn secretsmanager_rotation_enabled_check() {
    let r = "SECRETSMANAGER_ROTATION_ENABLED_CHECK";
    let mut s = shape("AWS_SecretsManager_Secret"); // every 30 days
    assert_eq!(judge(r, json!({}), &s), C);
    assert_eq!(
        judge(r, json!({"maximumAllowedRotationFrequency": "30"}), &s),
        C
    );
    assert_eq!(
        judge(r, json!({"maximumAllowedRotationFrequency": "7"}), &s),
        N
    );
    assert_eq!(
        why(r, json!({"maximumAllowedRotationFrequency": "7"}), &s),
        "the secret rotates every 720 hours, more than the 168 allowed"
    );
    assert_eq!(
        judge(
            r,
            json!({"maximumAllowedRotationFrequencyInHours": "720"}),
            &s
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"maximumAllowedRotationFrequencyInHours": "24"}),
            &s
        ),
        N
    );
    // A schedule expression in hours.
    s["configuration"]["RotationRules"] = json!({"AutomaticallyAfterDays": null, "AutomaticallyAfterHours": null, "RotationDuration": "2h", "RotationScheduleExpression": "rate(4 hours)"});
    assert_eq!(
        judge(
            r,
            json!({"maximumAllowedRotationFrequencyInHours": "6"}),
            &s
        ),
        C
    );
    s["configuration"]["RotationEnabled"] = json!(false);
    assert_eq!(judge(r, json!({}), &s), N);
    assert_eq!(why(r, json!({}), &s), "rotation is not enabled");
    assert_eq!(judge(r, json!({}), &shape("AWS_KMS_Key")), NA);
}

#[test]
fn cloudwatch_alarm_action_check() {
    let r = "CLOUDWATCH_ALARM_ACTION_CHECK";
    let mut a = shape("AWS_CloudWatch_Alarm"); // an ALARM action only
                                               // By default an INSUFFICIENT_DATA action is required too.
    assert_eq!(judge(r, json!({}), &a), N);
    assert_eq!(
        why(r, json!({}), &a),
        "no action for the INSUFFICIENT_DATA state"
    );
    assert_eq!(
        judge(r, json!({"insufficientDataActionRequired": "false"}), &a),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"insufficientDataActionRequired": "false", "okActionRequired": "true"}),
            &a
        ),
        N
    );
    let topic = a["configuration"]["alarmActions"][0].clone();
    a["configuration"]["insufficientDataActions"] = json!([topic]);
    a["configuration"]["okactions"] = json!([topic]);
    assert_eq!(judge(r, json!({"okActionRequired": "true"}), &a), C);
    assert_eq!(judge(r, json!({"action1": topic}), &a), C);
    assert_eq!(
        judge(
            r,
            json!({"action1": "arn:aws:sns:eu-west-1:111122223333:other", "action2": topic}),
            &a
        ),
        C
    );
    assert_eq!(
        judge(
            r,
            json!({"action1": "arn:aws:sns:eu-west-1:111122223333:other"}),
            &a
        ),
        N
    );
    a["configuration"]["alarmActions"] = json!([]);
    assert_eq!(judge(r, json!({}), &a), N);
    assert_eq!(judge(r, json!({"alarmActionRequired": "false"}), &a), C);
    assert_eq!(judge(r, json!({}), &deleted(a)), NA);
}

#[test]
fn vpc_flow_logs_enabled() {
    let r = "VPC_FLOW_LOGS_ENABLED";
    let vpc = shape("AWS_EC2_VPC");
    let log = shape("AWS_EC2_FlowLog"); // ALL traffic of the reference VPC
    assert_eq!(
        log["configuration"]["resourceId"], vpc["resourceId"],
        "the reference flow log is the reference VPC's"
    );
    assert_eq!(
        with_related(r, json!({}), &vpc, std::slice::from_ref(&log)).0,
        C
    );
    assert_eq!(
        with_related(
            r,
            json!({"trafficType": "ALL"}),
            &vpc,
            std::slice::from_ref(&log)
        )
        .0,
        C
    );
    let (c, why) = with_related(
        r,
        json!({"trafficType": "REJECT"}),
        &vpc,
        std::slice::from_ref(&log),
    );
    assert_eq!(c, N);
    assert!(why.contains("REJECT"), "{why}");
    let (c, why) = with_related(r, json!({}), &vpc, &[]);
    assert_eq!(c, N);
    assert!(why.starts_with("no flow log is recorded for vpc-"), "{why}");
    let mut other = log.clone();
    other["configuration"]["resourceId"] = json!("vpc-00000000000000000");
    assert_eq!(with_related(r, json!({}), &vpc, &[other]).0, N);
    let mut inactive = log.clone();
    inactive["configuration"]["flowLogStatus"] = json!("INACTIVE");
    assert_eq!(with_related(r, json!({}), &vpc, &[inactive]).0, N);
    assert_eq!(
        with_related(r, json!({}), &vpc, &[deleted(log.clone())]).0,
        N
    );
    assert_eq!(
        with_related(r, json!({}), &deleted(vpc), std::slice::from_ref(&log)).0,
        NA
    );
    assert_eq!(with_related(r, json!({}), &log, &[]).0, NA);
}

#[test]
fn eip_attached() {
    let r = "EIP_ATTACHED";
    let mut e = shape("AWS_EC2_EIP");
    assert_eq!(judge(r, json!({}), &e), C);
    for k in [
        "instanceId",
        "associationId",
        "networkInterfaceId",
        "networkInterfaceOwnerId",
        "privateIpAddress",
    ] {
        e["configuration"][k] = json!(null);
    }
    assert_eq!(judge(r, json!({}), &e), N);
    assert_eq!(judge(r, json!({}), &deleted(e)), NA);
    assert_eq!(judge(r, json!({}), &shape("AWS_EC2_NatGateway")), NA);
}
