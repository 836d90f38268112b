//! Each managed rule on real-shaped configuration items (the reference CIs of
//! `ci-shapes`, as AWS Config records them), changed the way people change resources:
//! compliant, non-compliant and not-applicable cases per rule.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_rules::managed::{check_parameters, evaluate, RULES};
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
    assert_eq!(ids.len(), 14);
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
