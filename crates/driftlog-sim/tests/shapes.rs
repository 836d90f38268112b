//! Shape conformance: every generated document has the keys, nesting and quirks of the
//! AWS Config reference item of its type (`tests/fixtures/ci-shapes/`, copied from the
//! project's spec so that the test runs without it), and the top-level fields follow the
//! rules of `ci-shapes/README.md`.

// Helpers outside #[test] functions panic on malformed documents on purpose: the panic
// message is the test failure.
#![allow(clippy::unwrap_used)]

use driftlog_sim::{types, Estate, SimConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Reference-item paths the simulator leaves out on purpose, because AWS Config's property
/// schema disagrees with the reference item (which guessed them from the API model).
const REFERENCE_ONLY: &[(&str, &str)] = &[
    (
        types::DYNAMODB_TABLE,
        "localSecondaryIndexes.indexSizeBytes",
    ),
    (types::DYNAMODB_TABLE, "localSecondaryIndexes.itemCount"),
];

/// Maps whose keys are data (tag keys), not schema: key paths stop at them.
const DATA_MAPS: &[&str] = &["BucketTaggingConfiguration.tagSets.tags"];

/// Direct relationship names per type (spec §3, post-2021), with the target type each
/// name points to.
fn allowed_relationships(resource_type: &str) -> &'static [(&'static str, &'static str)] {
    match resource_type {
        types::INSTANCE => &[
            ("Is contained in Vpc", types::VPC),
            ("Is contained in Subnet", types::SUBNET),
            ("Is associated with SecurityGroup", types::SECURITY_GROUP),
            ("Contains NetworkInterface", types::NETWORK_INTERFACE),
            ("Is attached to Volume", types::VOLUME),
        ],
        types::NETWORK_INTERFACE => &[
            ("Is attached to Instance", types::INSTANCE),
            ("Is associated with SecurityGroup", types::SECURITY_GROUP),
            ("Is contained in Subnet", types::SUBNET),
            ("Is contained in Vpc", types::VPC),
        ],
        types::SECURITY_GROUP | types::SUBNET | types::ROUTE_TABLE => {
            &[("Is contained in Vpc", types::VPC)]
        }
        types::NETWORK_ACL => &[
            ("Is attached to Subnet", types::SUBNET),
            ("Is contained in Vpc", types::VPC),
        ],
        types::INTERNET_GATEWAY => &[("Is attached to Vpc", types::VPC)],
        types::VOLUME => &[("Is attached to Instance", types::INSTANCE)],
        types::ROLE | types::USER | types::GROUP => {
            &[("Is attached to CustomerManagedPolicy", types::POLICY)]
        }
        // AWS Config's unqualified names, with their trailing space.
        types::LAMBDA_FUNCTION => &[
            ("Is associated with ", types::ROLE),
            ("Is associated with ", types::SECURITY_GROUP),
            ("Is contained in ", types::SUBNET),
        ],
        types::DB_INSTANCE => &[
            ("Is associated with DBSubnetGroup", types::DB_SUBNET_GROUP),
            ("Is associated with SecurityGroup", types::SECURITY_GROUP),
        ],
        types::DB_CLUSTER => &[
            ("Is associated with ", types::DB_SUBNET_GROUP),
            ("Is associated with ", types::SECURITY_GROUP),
            ("Contains ", types::DB_INSTANCE),
        ],
        types::DB_SUBNET_GROUP => &[
            ("Is contained in Vpc", types::VPC),
            ("Contains Subnet", types::SUBNET),
        ],
        types::DB_SNAPSHOT => &[("Is associated with Vpc", types::VPC)],
        types::LOAD_BALANCER => &[
            ("Is associated with SecurityGroup", types::SECURITY_GROUP),
            ("Is attached to Subnet", types::SUBNET),
            ("Is contained in Vpc", types::VPC),
        ],
        types::NAT_GATEWAY => &[
            ("Is contained in Vpc", types::VPC),
            ("Is attached to Subnet", types::SUBNET),
        ],
        types::EIP => &[
            ("Is attached to Instance", types::INSTANCE),
            ("Is attached to NetworkInterface", types::NETWORK_INTERFACE),
        ],
        types::VPC_ENDPOINT => &[
            ("Is contained in Vpc", types::VPC),
            ("Is contained in Subnet", types::SUBNET),
            ("Is associated with SecurityGroup", types::SECURITY_GROUP),
            ("Is associated with RouteTable", types::ROUTE_TABLE),
        ],
        _ => &[],
    }
}

fn fixture(resource_type: &str) -> Value {
    let file = format!("{}.json", resource_type.replace("::", "_"));
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "ci-shapes",
        &file,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Dotted key paths of `v`, array indexes ignored.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                if !DATA_MAPS.contains(&p.as_str()) {
                    paths(child, &p, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| paths(i, prefix, out)),
        _ => {}
    }
}

fn paths_of(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    paths(v, "", &mut out);
    out
}

fn estate() -> Estate {
    Estate::new(SimConfig::default())
}

/// The `configuration` paths AWS Config's property schema lists for `ty`, without the
/// prefix, with every prefix of them: a document may have these beyond its reference item
/// (an HTTPS listener where the reference item is an HTTP one).
fn schema_paths(ty: &str) -> BTreeSet<String> {
    let path = format!(
        "{}/../../tests/fixtures/aws-config-schema/{ty}.properties.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema = driftlog_model::schema::PropertySchema::parse(&text).unwrap();
    let mut out = BTreeSet::new();
    for p in schema
        .configuration_paths()
        .filter_map(|p| p.strip_prefix("configuration."))
    {
        let mut end = 0;
        for part in p.split('.') {
            end += part.len();
            out.insert(p[..end].to_string());
            end += 1;
        }
    }
    out
}

/// Types whose documents may carry schema-listed members their reference item lacks.
const SCHEMA_EXTRAS: &[&str] = &[types::LISTENER];

#[test]
fn configuration_and_supplementary_keys_match_reference() {
    let e = estate();
    for ty in types::all() {
        let reference = fixture(ty);
        let allowed_extra = if SCHEMA_EXTRAS.contains(&ty) {
            schema_paths(ty)
        } else {
            BTreeSet::new()
        };
        let want_conf = paths_of(&reference["configuration"]);
        let want_supp = paths_of(&reference["supplementaryConfiguration"]);
        let mut union_conf = BTreeSet::new();
        let mut union_supp = BTreeSet::new();
        let keys = e.keys_of_type(ty);
        assert!(!keys.is_empty(), "{ty}: none generated");
        for key in &keys {
            let doc = e.document(key).unwrap();
            let conf = paths_of(&doc["configuration"]);
            let supp = paths_of(&doc["supplementaryConfiguration"]);
            let extra: Vec<_> = conf
                .difference(&want_conf)
                .filter(|p| !allowed_extra.contains(p.as_str()))
                .collect();
            assert!(
                extra.is_empty(),
                "{key}: configuration keys not in reference: {extra:?}"
            );
            let extra: Vec<_> = supp.difference(&want_supp).collect();
            assert!(
                extra.is_empty(),
                "{key}: supplementary keys not in reference: {extra:?}"
            );
            union_conf.extend(conf);
            union_supp.extend(supp);
        }
        let missing: Vec<_> = want_conf
            .difference(&union_conf)
            .filter(|p| !REFERENCE_ONLY.contains(&(ty, p.as_str())))
            .collect();
        assert!(
            missing.is_empty(),
            "{ty}: configuration keys never generated: {missing:?}"
        );
        let missing: Vec<_> = want_supp.difference(&union_supp).collect();
        assert!(
            missing.is_empty(),
            "{ty}: supplementary keys never generated: {missing:?}"
        );
    }
}

fn expected_az(ty: &str) -> Option<&'static str> {
    match ty {
        types::SECURITY_GROUP | types::ROUTE_TABLE => Some("Not Applicable"),
        types::ROLE | types::USER | types::GROUP | types::POLICY => Some("Not Applicable"),
        types::VPC | types::NETWORK_ACL | types::INTERNET_GATEWAY => {
            Some("Multiple Availability Zones")
        }
        types::BUCKET => Some("Regional"),
        types::LAMBDA_FUNCTION
        | types::KMS_KEY
        | types::DYNAMODB_TABLE
        | types::SNS_TOPIC
        | types::ALARM
        | types::NAT_GATEWAY
        | types::EIP
        | types::VPC_ENDPOINT
        | types::FLOW_LOG => Some("Not Applicable"),
        types::TRAIL
        | types::LISTENER
        | types::SQS_QUEUE
        | types::ECR_REPOSITORY
        | types::EKS_CLUSTER
        | types::SECRET => Some("Regional"),
        types::DB_CLUSTER | types::DB_SUBNET_GROUP | types::LOAD_BALANCER => {
            Some("Multiple Availability Zones")
        }
        _ => None, // a real zone
    }
}

/// The configuration field `resourceCreationTime` copies, for types that have one.
fn creation_field(ty: &str) -> Option<&'static str> {
    match ty {
        types::INSTANCE => Some("launchTime"),
        types::VOLUME => Some("createTime"),
        types::ROLE | types::USER | types::GROUP | types::POLICY => Some("createDate"),
        types::BUCKET => Some("creationDate"),
        types::DB_INSTANCE => Some("instanceCreateTime"),
        types::DB_SNAPSHOT => Some("snapshotCreateTime"),
        types::LOAD_BALANCER => Some("createdTime"),
        // Epoch milliseconds inside the configuration, ISO at the top.
        types::DB_CLUSTER => Some("clusterCreateTime"),
        types::KMS_KEY => Some("creationDate"),
        types::DYNAMODB_TABLE => Some("creationDateTime"),
        types::SECRET => Some("CreatedDate"),
        types::NAT_GATEWAY => Some("createTime"),
        types::VPC_ENDPOINT => Some("creationTimestamp"),
        types::FLOW_LOG => Some("creationTime"),
        // Epoch seconds as text.
        types::SQS_QUEUE => Some("CreatedTimestamp"),
        _ => None,
    }
}

/// `resourceCreationTime` as the configuration's creation field gives it: ISO text as is,
/// epoch milliseconds and SQS's epoch-seconds text converted.
fn creation_iso(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(driftlog_model::time::iso_ms(n.as_i64().unwrap())),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => Value::String(
            driftlog_model::time::iso_ms(s.parse::<i64>().unwrap() * 1000),
        ),
        other => other.clone(),
    }
}

/// ARN, resource id and name rules of the service types: `(arn prefix, id is the ARN,
/// name as the configuration gives it)`.
fn service_identity(
    ty: &str,
    account: &str,
    region: &str,
    doc: &Value,
) -> Option<(String, bool, Option<String>)> {
    let c = &doc["configuration"];
    let arn = |svc: &str, rest: &str| format!("arn:aws:{svc}:{region}:{account}:{rest}");
    let s = |v: &Value| v.as_str().map(str::to_string);
    Some(match ty {
        types::LAMBDA_FUNCTION => (arn("lambda", "function:"), false, s(&c["functionName"])),
        types::DB_INSTANCE => (arn("rds", "db:"), false, s(&c["dBInstanceIdentifier"])),
        types::DB_CLUSTER => (arn("rds", "cluster:"), false, s(&c["dbclusterIdentifier"])),
        types::DB_SUBNET_GROUP => (arn("rds", "subgrp:"), false, s(&c["dBSubnetGroupName"])),
        types::DB_SNAPSHOT => (
            arn("rds", "snapshot:"),
            false,
            s(&c["dBSnapshotIdentifier"]),
        ),
        types::KMS_KEY => (arn("kms", "key/"), false, None),
        types::TRAIL => (arn("cloudtrail", "trail/"), false, None),
        types::LOAD_BALANCER => (
            arn("elasticloadbalancing", "loadbalancer/app/"),
            true,
            s(&c["loadBalancerName"]),
        ),
        types::LISTENER => (arn("elasticloadbalancing", "listener/app/"), true, None),
        types::DYNAMODB_TABLE => (arn("dynamodb", "table/"), false, s(&c["tableName"])),
        types::SNS_TOPIC => (
            arn("sns", ""),
            true,
            doc["arn"]
                .as_str()
                .and_then(|a| a.rsplit(':').next())
                .map(str::to_string),
        ),
        types::SQS_QUEUE => (arn("sqs", ""), false, s(&c["QueueName"])),
        types::ECR_REPOSITORY => (arn("ecr", "repository/"), false, s(&c["RepositoryName"])),
        types::EKS_CLUSTER => (arn("eks", "cluster/"), false, s(&c["Name"])),
        types::SECRET => (arn("secretsmanager", "secret:"), true, s(&c["Name"])),
        types::ALARM => (arn("cloudwatch", "alarm:"), false, s(&c["alarmName"])),
        types::NAT_GATEWAY => (arn("ec2", "natgateway/"), false, None),
        types::EIP => (arn("ec2", "eip-allocation/"), false, s(&c["publicIp"])),
        types::VPC_ENDPOINT => (arn("ec2", "vpc-endpoint/"), false, None),
        types::FLOW_LOG => (arn("ec2", "flow-log/"), false, None),
        _ => return None,
    })
}

/// The resource id the configuration gives, for service types not identified by ARN.
fn service_id(ty: &str, doc: &Value) -> Option<String> {
    let c = &doc["configuration"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    match ty {
        types::LAMBDA_FUNCTION => s(&c["functionName"]),
        types::DB_INSTANCE => s(&c["dbiResourceId"]),
        types::DB_CLUSTER => s(&c["dbClusterResourceId"]),
        types::DB_SUBNET_GROUP => s(&c["dBSubnetGroupName"]),
        types::DB_SNAPSHOT => s(&c["dBSnapshotIdentifier"]),
        types::KMS_KEY => s(&c["keyId"]),
        types::TRAIL => s(&c["name"]),
        types::DYNAMODB_TABLE => s(&c["tableName"]),
        types::SQS_QUEUE => s(&c["QueueUrl"]),
        types::ECR_REPOSITORY => s(&c["RepositoryName"]),
        types::EKS_CLUSTER => s(&c["Name"]),
        types::ALARM => s(&c["alarmName"]),
        types::NAT_GATEWAY => s(&c["natGatewayId"]),
        types::EIP => s(&c["allocationId"]),
        types::VPC_ENDPOINT => s(&c["vpcEndpointId"]),
        types::FLOW_LOG => s(&c["flowLogId"]),
        _ => None,
    }
}

fn arn_prefix(ty: &str, account: &str, region: &str) -> String {
    let ec2 = |kind: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/");
    match ty {
        types::VPC => ec2("vpc"),
        types::SUBNET => ec2("subnet"),
        types::SECURITY_GROUP => ec2("security-group"),
        types::NETWORK_ACL => ec2("network-acl"),
        types::INSTANCE => ec2("instance"),
        types::NETWORK_INTERFACE => ec2("network-interface"),
        types::ROUTE_TABLE => ec2("route-table"),
        types::INTERNET_GATEWAY => ec2("internet-gateway"),
        types::VOLUME => ec2("volume"),
        types::ROLE => format!("arn:aws:iam::{account}:role/"),
        types::USER => format!("arn:aws:iam::{account}:user/"),
        types::GROUP => format!("arn:aws:iam::{account}:group/"),
        types::POLICY => format!("arn:aws:iam::{account}:policy/"),
        types::BUCKET => "arn:aws:s3:::".to_string(),
        other => panic!("unexpected type {other}"),
    }
}

fn iam_prefix(ty: &str) -> Option<&'static str> {
    match ty {
        types::ROLE => Some("AROA"),
        types::USER => Some("AIDA"),
        types::GROUP => Some("AGPA"),
        types::POLICY => Some("ANPA"),
        _ => None,
    }
}

#[test]
fn top_level_fields_follow_the_rules() {
    let e = estate();
    let mut names_seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in e.iter() {
        let key = &o.key;
        let ty = key.resource_type.as_str();
        let doc = e.document(key).unwrap();
        let conf = &doc["configuration"];
        let members: BTreeSet<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            members,
            BTreeSet::from([
                "arn",
                "resourceName",
                "availabilityZone",
                "resourceCreationTime",
                "tags",
                "relationships",
                "configuration",
                "supplementaryConfiguration"
            ]),
            "{key}"
        );
        // availabilityZone
        let az = doc["availabilityZone"].as_str().unwrap();
        match expected_az(ty) {
            Some(want) => assert_eq!(az, want, "{key}"),
            None => {
                assert!(
                    az.starts_with(&key.region) && az.len() == key.region.len() + 1,
                    "{key}: {az}"
                );
                let inner = conf
                    .get("availabilityZone")
                    .or_else(|| conf["placement"].get("availabilityZone"));
                assert_eq!(inner.and_then(Value::as_str), Some(az), "{key}");
            }
        }
        if let Some((prefix, id_is_arn, name)) =
            service_identity(ty, &key.account, &key.region, &doc)
        {
            let arn = doc["arn"].as_str().unwrap();
            assert!(arn.starts_with(&prefix), "{key}: {arn}");
            if id_is_arn {
                assert_eq!(arn, key.resource_id, "{key}");
            } else {
                assert_eq!(
                    service_id(ty, &doc).as_deref(),
                    Some(key.resource_id.as_str()),
                    "{key}"
                );
            }
            assert_eq!(
                doc["resourceName"].as_str().map(str::to_string),
                name,
                "{key}"
            );
            match creation_field(ty) {
                Some(f) => assert_eq!(doc["resourceCreationTime"], creation_iso(&conf[f]), "{key}"),
                None => assert!(doc["resourceCreationTime"].is_null(), "{key}"),
            }
            check_relationships(key, &doc, &mut names_seen);
            check_service_tags(key, &doc);
            continue;
        }
        // resourceName
        let want_name = match ty {
            types::SECURITY_GROUP => Some(conf["groupName"].as_str().unwrap().to_string()),
            types::ROLE => Some(conf["roleName"].as_str().unwrap().to_string()),
            types::USER => Some(conf["userName"].as_str().unwrap().to_string()),
            types::GROUP => Some(conf["groupName"].as_str().unwrap().to_string()),
            types::POLICY => Some(conf["policyName"].as_str().unwrap().to_string()),
            types::BUCKET => Some(key.resource_id.clone()),
            _ => None,
        };
        assert_eq!(
            doc["resourceName"].as_str().map(str::to_string),
            want_name,
            "{key}"
        );
        // resourceCreationTime
        match creation_field(ty) {
            Some(f) => assert_eq!(doc["resourceCreationTime"], conf[f], "{key}"),
            None => assert!(doc["resourceCreationTime"].is_null(), "{key}"),
        }
        // arn and ids
        let arn = doc["arn"].as_str().unwrap();
        assert!(
            arn.starts_with(&arn_prefix(ty, &key.account, &key.region)),
            "{key}: {arn}"
        );
        if let Some(prefix) = iam_prefix(ty) {
            assert_eq!(key.region, "global", "{key}");
            assert_eq!(key.resource_id.len(), 21, "{key}");
            assert!(key.resource_id.starts_with(prefix), "{key}");
            assert_eq!(conf["arn"].as_str(), Some(arn), "{key}");
            assert!(
                arn.ends_with(&format!("/{}", want_name.clone().unwrap())),
                "{key}"
            );
        } else if ty == types::BUCKET {
            assert_eq!(conf["name"].as_str(), Some(key.resource_id.as_str()));
            assert_eq!(arn, format!("arn:aws:s3:::{}", key.resource_id));
        } else {
            assert!(arn.ends_with(&format!("/{}", key.resource_id)), "{key}");
            let (prefix, hex) = key.resource_id.rsplit_once('-').unwrap();
            assert!(!prefix.is_empty() && hex.len() == 17, "{key}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{key}"
            );
        }
        assert_eq!(key.account.len(), 12);
        check_relationships(key, &doc, &mut names_seen);
        // tags: top-level map mirrors the inner representation
        let top: BTreeMap<String, String> = serde_json::from_value(doc["tags"].clone()).unwrap();
        let inner: Option<BTreeMap<String, String>> = match ty {
            types::NETWORK_INTERFACE => Some(pairs(&conf["tagSet"])),
            types::GROUP | types::POLICY => None,
            types::BUCKET => Some(
                serde_json::from_value(
                    doc["supplementaryConfiguration"]["BucketTaggingConfiguration"]["tagSets"][0]
                        ["tags"]
                        .clone(),
                )
                .unwrap_or_default(),
            ),
            _ => Some(pairs(&conf["tags"])),
        };
        match inner {
            Some(inner) => assert_eq!(top, inner, "{key}"),
            None => assert!(top.is_empty(), "{key}"),
        }
    }
    // Every allowed name shows up somewhere.
    for ty in types::all() {
        let want: BTreeSet<String> = allowed_relationships(ty)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names_seen.remove(ty).unwrap_or_default(), want, "{ty}");
    }
}

/// Relationship names and targets are the type's, with AWS Config's four members.
fn check_relationships(
    key: &driftlog_model::ResourceKey,
    doc: &Value,
    names_seen: &mut BTreeMap<String, BTreeSet<String>>,
) {
    let ty = key.resource_type.as_str();
    let allowed = allowed_relationships(ty);
    for r in doc["relationships"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let target = r["resourceType"].as_str().unwrap();
        assert!(
            allowed.contains(&(name, target)),
            "{key}: relationship {name} -> {target}"
        );
        let members: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            members,
            BTreeSet::from(["name", "resourceId", "resourceName", "resourceType"])
        );
        assert!(
            r["resourceId"].is_string() || r["resourceName"].is_string(),
            "{key}: an edge names its target"
        );
        names_seen
            .entry(ty.to_string())
            .or_default()
            .insert(name.to_string());
    }
}

/// The top-level tag map mirrors the service type's own tag field.
fn check_service_tags(key: &driftlog_model::ResourceKey, doc: &Value) {
    let top: BTreeMap<String, String> = serde_json::from_value(doc["tags"].clone()).unwrap();
    let conf = &doc["configuration"];
    let supp = &doc["supplementaryConfiguration"];
    let cfn = |v: &Value| -> BTreeMap<String, String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap().to_string(),
                    t["Value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    match key.resource_type.as_str() {
        types::LAMBDA_FUNCTION => {
            assert_eq!(
                top,
                serde_json::from_value::<BTreeMap<String, String>>(supp["Tags"].clone()).unwrap(),
                "{key}"
            )
        }
        types::DB_INSTANCE | types::DB_CLUSTER | types::DB_SNAPSHOT => {
            assert_eq!(top, pairs(&conf["tagList"]), "{key}");
            assert_eq!(top, pairs(&supp["Tags"]), "{key}");
        }
        types::DB_SUBNET_GROUP
        | types::TRAIL
        | types::LOAD_BALANCER
        | types::DYNAMODB_TABLE
        | types::SNS_TOPIC => {
            assert_eq!(top, pairs(&supp["Tags"]), "{key}")
        }
        types::ECR_REPOSITORY | types::EKS_CLUSTER | types::SECRET => {
            assert_eq!(top, cfn(&conf["Tags"]), "{key}")
        }
        types::NAT_GATEWAY | types::EIP | types::VPC_ENDPOINT | types::FLOW_LOG => {
            assert_eq!(top, pairs(&conf["tags"]), "{key}")
        }
        types::LISTENER => assert!(top.is_empty(), "{key}"),
        _ => {}
    }
}

fn pairs(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let m = t.as_object().unwrap();
            assert_eq!(m.len(), 2, "inner tags are {{key, value}}");
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
        "not percent-encoded: {text}"
    );
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            assert_eq!(hex, hex.to_ascii_uppercase(), "lowercase escape in {text}");
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn assert_policy_text(encoded: &Value) {
    let text = percent_decode(encoded.as_str().unwrap());
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    assert!(doc["Statement"].is_array());
}

#[test]
fn aws_config_quirks() {
    let e = estate();
    let mut world_open = 0;
    for o in e.iter() {
        let doc = e.document(&o.key).unwrap();
        let conf = &doc["configuration"];
        match o.key.resource_type.as_str() {
            types::SECURITY_GROUP => {
                for perm in conf["ipPermissions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .chain(conf["ipPermissionsEgress"].as_array().unwrap())
                {
                    let flat: Vec<&str> = perm["ipRanges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap())
                        .collect();
                    let objects: Vec<&str> = perm["ipv4Ranges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["cidrIp"].as_str().unwrap())
                        .collect();
                    assert_eq!(flat, objects, "{}", o.key);
                    let all = perm["ipProtocol"] == "-1";
                    assert_eq!(perm.get("fromPort").is_none(), all, "{}", o.key);
                    assert_eq!(perm.get("toPort").is_none(), all, "{}", o.key);
                    world_open += usize::from(flat.contains(&"0.0.0.0/0") && !all);
                }
            }
            types::NETWORK_ACL => {
                for entry in conf["entries"].as_array().unwrap() {
                    let p = entry["protocol"].as_str().unwrap();
                    assert!(p == "-1" || p.parse::<u8>().is_ok(), "{p}");
                }
            }
            types::ROLE => {
                assert_policy_text(&conf["assumeRolePolicyDocument"]);
                for p in conf["rolePolicyList"].as_array().unwrap() {
                    assert_policy_text(&p["policyDocument"]);
                }
                for ip in conf["instanceProfileList"].as_array().unwrap() {
                    assert!(ip["instanceProfileId"]
                        .as_str()
                        .unwrap()
                        .starts_with("AIPA"));
                    assert_eq!(
                        ip["roles"][0]["roleId"].as_str(),
                        Some(o.key.resource_id.as_str())
                    );
                }
            }
            types::USER => {
                for p in conf["userPolicyList"].as_array().unwrap() {
                    assert_policy_text(&p["policyDocument"]);
                }
            }
            types::GROUP => {
                for p in conf["groupPolicyList"].as_array().unwrap() {
                    assert_policy_text(&p["policyDocument"]);
                }
            }
            types::POLICY => {
                let versions = conf["policyVersionList"].as_array().unwrap();
                for v in versions {
                    assert_policy_text(&v["document"]);
                }
                assert_eq!(
                    versions[0]["isDefaultVersion"], true,
                    "newest first, default"
                );
                assert_eq!(versions[0]["versionId"], conf["defaultVersionId"]);
                assert_eq!(
                    versions
                        .iter()
                        .filter(|v| v["isDefaultVersion"] == true)
                        .count(),
                    1
                );
            }
            types::BUCKET => {
                let supp = doc["supplementaryConfiguration"].as_object().unwrap();
                for (k, v) in supp {
                    match k.as_str() {
                        "AccessControlList" => {
                            let acl: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
                            assert!(acl["grantList"].is_array());
                        }
                        "IsRequesterPaysEnabled" => assert!(v.is_boolean()),
                        _ => assert!(v.is_object(), "{k}"),
                    }
                }
                if let Some(text) = supp["BucketPolicy"]["policyText"].as_str() {
                    serde_json::from_str::<Value>(text).unwrap();
                }
            }
            _ => {}
        }
    }
    assert!(world_open > 0, "some web tiers are open to the world");
}

#[test]
fn every_scope_is_listed_and_iam_is_global() {
    let cfg = SimConfig::default();
    let e = Estate::new(cfg.clone());
    let scopes = e.scopes();
    let mut sorted = scopes.clone();
    sorted.sort();
    assert_eq!(scopes, sorted);
    assert_eq!(
        scopes.len(),
        cfg.accounts
            * (cfg.regions.len() * types::REGIONAL_TYPES.len() + types::GLOBAL_TYPES.len())
    );
    for s in &scopes {
        let global = types::GLOBAL_TYPES.contains(&s.resource_type.as_str());
        assert_eq!(s.region == "global", global, "{s}");
    }
}

/// Every generated document, of every type, before and after churn, has nothing AWS
/// Config's published property schema would call a casing, spelling or nesting mistake.
#[test]
fn documents_fit_aws_config_property_schema() {
    use driftlog_model::schema::PropertySchema;
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/aws-config-schema/"
    );
    let schemas: BTreeMap<&str, PropertySchema> = types::all()
        .map(|ty| {
            let path = format!("{dir}{ty}.properties.json");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            (ty, PropertySchema::parse(&text).unwrap())
        })
        .collect();
    let mut e = Estate::new(SimConfig {
        churn: 0.05,
        ..SimConfig::default()
    });
    let mut problems: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for round in 0..2 {
        for o in e.iter() {
            let ty = o.key.resource_type.as_str();
            let doc = e.document(&o.key).unwrap();
            for m in schemas[ty].check(&doc) {
                problems
                    .entry(ty.to_string())
                    .or_default()
                    .insert(m.to_string());
            }
        }
        if round == 0 {
            for _ in 0..20 {
                e.tick();
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
