//! AWS Config's managed rules, by identifier: which resource types each judges, the
//! `InputParameters` it takes, and its verdict on one configuration item (AWS Config's
//! notification form: `configuration`, `supplementaryConfiguration`, top-level `tags`).
//! A deleted resource, or one of another type, is `NOT_APPLICABLE`. A rule that judges
//! from other items too ([`ManagedRule::related_types`]) gets them through
//! [`evaluate_with`]; account-level rules judge `AWS::::Account` ([`ACCOUNT`]).

use crate::{RuleError, Verdict};
use serde_json::{json, Map, Value};

mod iam_s3;
mod network;
mod services;

use iam_s3::*;
use network::*;
use services::*;

const SG: &str = "AWS::EC2::SecurityGroup";
const NACL: &str = "AWS::EC2::NetworkAcl";
const INSTANCE: &str = "AWS::EC2::Instance";
const BUCKET: &str = "AWS::S3::Bucket";
const POLICY: &str = "AWS::IAM::Policy";
const ROLE: &str = "AWS::IAM::Role";
const USER: &str = "AWS::IAM::User";
const LAMBDA: &str = "AWS::Lambda::Function";
const DB_INSTANCE: &str = "AWS::RDS::DBInstance";
const DB_SNAPSHOT: &str = "AWS::RDS::DBSnapshot";
const DB_CLUSTER_SNAPSHOT: &str = "AWS::RDS::DBClusterSnapshot";
const KMS_KEY: &str = "AWS::KMS::Key";
const TRAIL: &str = "AWS::CloudTrail::Trail";
/// The account itself, as AWS Config reports account-level rules' results.
pub const ACCOUNT: &str = "AWS::::Account";
const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
const LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
const TABLE: &str = "AWS::DynamoDB::Table";
const TOPIC: &str = "AWS::SNS::Topic";
const QUEUE: &str = "AWS::SQS::Queue";
const REPOSITORY: &str = "AWS::ECR::Repository";
const CLUSTER: &str = "AWS::EKS::Cluster";
const SECRET: &str = "AWS::SecretsManager::Secret";
const ALARM: &str = "AWS::CloudWatch::Alarm";
const VPC: &str = "AWS::EC2::VPC";
const FLOW_LOG: &str = "AWS::EC2::FlowLog";
const EIP: &str = "AWS::EC2::EIP";

/// One managed rule.
#[derive(Debug, Clone, Copy)]
pub struct ManagedRule {
    /// AWS's `SourceIdentifier`.
    pub identifier: &'static str,
    /// Resource types it judges (empty: every type).
    pub resource_types: &'static [&'static str],
    /// Parameter names it accepts, and whether each is required.
    pub parameters: &'static [(&'static str, bool)],
    /// Whether AWS runs it on configuration changes (trigger type "Configuration changes").
    pub change_triggered: bool,
    /// Whether AWS runs it periodically (trigger type "Periodic"; `MaximumExecutionFrequency`
    /// defaults to `TwentyFour_Hours`). A rule only periodic is judged by full runs alone.
    pub periodic: bool,
    /// Other resource types whose current items the rule needs besides the item judged
    /// (a VPC's flow logs, a load balancer's listeners): the caller passes those of the
    /// item's account (and region, unless [`ManagedRule::related_all_regions`]) to
    /// [`evaluate_with`].
    pub related_types: &'static [&'static str],
    /// The related items come from every region of the account (a multi-region trail
    /// lives in its home region but covers them all).
    pub related_all_regions: bool,
}

/// A rule triggered by configuration changes only, with no related types.
const fn on_change(
    identifier: &'static str,
    resource_types: &'static [&'static str],
    parameters: &'static [(&'static str, bool)],
) -> ManagedRule {
    ManagedRule {
        identifier,
        resource_types,
        parameters,
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    }
}

/// A periodic rule (only), with no related types.
const fn periodic(
    identifier: &'static str,
    resource_types: &'static [&'static str],
    parameters: &'static [(&'static str, bool)],
) -> ManagedRule {
    ManagedRule {
        identifier,
        resource_types,
        parameters,
        change_triggered: false,
        periodic: true,
        related_types: &[],
        related_all_regions: false,
    }
}

/// Every managed rule driftlog implements.
pub const RULES: &[ManagedRule] = &[
    ManagedRule {
        identifier: "INCOMING_SSH_DISABLED",
        resource_types: &[SG],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "RESTRICTED_INCOMING_TRAFFIC",
        resource_types: &[SG],
        parameters: &[
            ("blockedPort1", false),
            ("blockedPort2", false),
            ("blockedPort3", false),
            ("blockedPort4", false),
            ("blockedPort5", false),
        ],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
        resource_types: &[SG],
        parameters: &[("authorizedTcpPorts", false), ("authorizedUdpPorts", false)],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
        resource_types: &[SG],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "NACL_NO_UNRESTRICTED_SSH_RDP",
        resource_types: &[NACL],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
        resource_types: &[POLICY],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "IAM_ROLE_MANAGED_POLICY_CHECK",
        resource_types: &[ROLE],
        parameters: &[("managedPolicyArns", true)],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "IAM_USER_NO_POLICIES_CHECK",
        resource_types: &[USER],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "S3_BUCKET_VERSIONING_ENABLED",
        resource_types: &[BUCKET],
        parameters: &[("isMfaDeleteEnabled", false)],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "EC2_INSTANCE_NO_PUBLIC_IP",
        resource_types: &[INSTANCE],
        parameters: &[],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    ManagedRule {
        identifier: "REQUIRED_TAGS",
        resource_types: &[],
        parameters: &[
            ("tag1Key", true),
            ("tag1Value", false),
            ("tag2Key", false),
            ("tag2Value", false),
            ("tag3Key", false),
            ("tag3Value", false),
            ("tag4Key", false),
            ("tag4Value", false),
            ("tag5Key", false),
            ("tag5Value", false),
            ("tag6Key", false),
            ("tag6Value", false),
        ],
        change_triggered: true,
        periodic: false,
        related_types: &[],
        related_all_regions: false,
    },
    on_change("LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED", &[LAMBDA], &[]),
    on_change("RDS_INSTANCE_PUBLIC_ACCESS_CHECK", &[DB_INSTANCE], &[]),
    on_change(
        "RDS_STORAGE_ENCRYPTED",
        &[DB_INSTANCE],
        &[("kmsKeyId", false)],
    ),
    on_change(
        "RDS_SNAPSHOTS_PUBLIC_PROHIBITED",
        &[DB_SNAPSHOT, DB_CLUSTER_SNAPSHOT],
        &[],
    ),
    periodic("CMK_BACKING_KEY_ROTATION_ENABLED", &[KMS_KEY], &[]),
    on_change(
        "KMS_CMK_NOT_SCHEDULED_FOR_DELETION",
        &[KMS_KEY],
        &[("kmsKeyIds", false)],
    ),
    periodic("CLOUD_TRAIL_ENCRYPTION_ENABLED", &[TRAIL], &[]),
    periodic("CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED", &[TRAIL], &[]),
    ManagedRule {
        identifier: "MULTI_REGION_CLOUD_TRAIL_ENABLED",
        resource_types: &[ACCOUNT],
        parameters: &[
            ("s3BucketName", false),
            ("snsTopicArn", false),
            ("cloudWatchLogsLogGroupArn", false),
            ("includeManagementEvents", false),
            ("readWriteType", false),
        ],
        change_triggered: false,
        periodic: true,
        related_types: &[TRAIL],
        related_all_regions: true,
    },
    ManagedRule {
        identifier: "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK",
        resource_types: &[LOAD_BALANCER],
        parameters: &[],
        change_triggered: false,
        periodic: true,
        related_types: &[LISTENER],
        related_all_regions: false,
    },
    on_change("DYNAMODB_PITR_ENABLED", &[TABLE], &[]),
    on_change("SNS_ENCRYPTED_KMS", &[TOPIC], &[("kmsKeyIds", false)]),
    on_change("SQS_QUEUE_ENCRYPTED", &[QUEUE], &[]),
    periodic("ECR_PRIVATE_IMAGE_SCANNING_ENABLED", &[REPOSITORY], &[]),
    periodic("EKS_ENDPOINT_NO_PUBLIC_ACCESS", &[CLUSTER], &[]),
    on_change(
        "SECRETSMANAGER_ROTATION_ENABLED_CHECK",
        &[SECRET],
        &[
            ("maximumAllowedRotationFrequency", false),
            ("maximumAllowedRotationFrequencyInHours", false),
        ],
    ),
    // AWS lists the three "…Required" parameters without "(Optional)" but with defaults
    // (true, true, false): an absent one takes its default.
    on_change(
        "CLOUDWATCH_ALARM_ACTION_CHECK",
        &[ALARM],
        &[
            ("alarmActionRequired", false),
            ("insufficientDataActionRequired", false),
            ("okActionRequired", false),
            ("action1", false),
            ("action2", false),
            ("action3", false),
            ("action4", false),
            ("action5", false),
        ],
    ),
    ManagedRule {
        identifier: "VPC_FLOW_LOGS_ENABLED",
        resource_types: &[VPC],
        parameters: &[("trafficType", false)],
        change_triggered: false,
        periodic: true,
        related_types: &[FLOW_LOG],
        related_all_regions: false,
    },
    on_change("EIP_ATTACHED", &[EIP], &[]),
];

/// The rule of `identifier`.
///
/// # Errors
/// [`RuleError::UnknownRule`].
pub fn rule(identifier: &str) -> Result<&'static ManagedRule, RuleError> {
    RULES
        .iter()
        .find(|r| r.identifier == identifier)
        .ok_or_else(|| RuleError::UnknownRule(identifier.to_string()))
}

/// A parameter's text (AWS sends strings; numbers and booleans are accepted too).
fn param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks `params` against the rule: unknown names, missing required ones, bad values.
///
/// # Errors
/// [`RuleError::Parameter`] naming the parameter.
pub fn check_parameters(identifier: &str, params: &Map<String, Value>) -> Result<(), RuleError> {
    let r = rule(identifier)?;
    for k in params.keys() {
        if !r.parameters.iter().any(|(n, _)| n == k) {
            return Err(RuleError::Parameter(format!(
                "{identifier} takes no parameter {k:?} (it takes: {})",
                if r.parameters.is_empty() {
                    "none".to_string()
                } else {
                    r.parameters
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    for (n, required) in r.parameters {
        if *required && param(params, n).is_none() {
            return Err(RuleError::Parameter(format!("{identifier} needs {n}")));
        }
    }
    match identifier {
        "RESTRICTED_INCOMING_TRAFFIC" => {
            for i in 1..=5 {
                if let Some(p) = param(params, &format!("blockedPort{i}")) {
                    p.parse::<u16>().map_err(|_| {
                        RuleError::Parameter(format!("blockedPort{i} = {p:?} is not a port"))
                    })?;
                }
            }
        }
        "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS" => {
            for n in ["authorizedTcpPorts", "authorizedUdpPorts"] {
                if let Some(p) = param(params, n) {
                    port_ranges(&p).map_err(|e| RuleError::Parameter(format!("{n}: {e}")))?;
                }
            }
        }
        "S3_BUCKET_VERSIONING_ENABLED" => {
            if let Some(v) = param(params, "isMfaDeleteEnabled") {
                if v != "true" && v != "false" {
                    return Err(RuleError::Parameter(format!(
                        "isMfaDeleteEnabled = {v:?}: use true or false"
                    )));
                }
            }
        }
        "CLOUDWATCH_ALARM_ACTION_CHECK" => {
            for n in [
                "alarmActionRequired",
                "insufficientDataActionRequired",
                "okActionRequired",
            ] {
                boolean_param(params, n, false)?;
            }
        }
        "MULTI_REGION_CLOUD_TRAIL_ENABLED" => {
            boolean_param(params, "includeManagementEvents", false)?;
            if let Some(v) = param(params, "readWriteType") {
                if !["ReadOnly", "WriteOnly", "ALL"].contains(&v.as_str()) {
                    return Err(RuleError::Parameter(format!(
                        "readWriteType = {v:?}: use ReadOnly, WriteOnly or ALL"
                    )));
                }
            }
        }
        "VPC_FLOW_LOGS_ENABLED" => {
            if let Some(v) = param(params, "trafficType") {
                if !["ACCEPT", "REJECT", "ALL"].contains(&v.to_ascii_uppercase().as_str()) {
                    return Err(RuleError::Parameter(format!(
                        "trafficType = {v:?}: use ACCEPT, REJECT or ALL"
                    )));
                }
            }
        }
        "SECRETSMANAGER_ROTATION_ENABLED_CHECK" => {
            for n in [
                "maximumAllowedRotationFrequency",
                "maximumAllowedRotationFrequencyInHours",
            ] {
                if let Some(v) = param(params, n) {
                    match v.parse::<u32>() {
                        Ok(x) if x > 0 => {}
                        _ => {
                            return Err(RuleError::Parameter(format!(
                                "{n} = {v:?} is not a positive whole number"
                            )))
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `"true"`/`"false"` parameter (any case), `default` when absent.
fn boolean_param(
    params: &Map<String, Value>,
    name: &str,
    default: bool,
) -> Result<bool, RuleError> {
    match param(params, name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(RuleError::Parameter(format!(
            "{name} = {v:?}: use true or false"
        ))),
    }
}

/// A comma-separated list parameter, trimmed, empty entries dropped.
fn list_param(params: &Map<String, Value>, name: &str) -> Vec<String> {
    param(params, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `"443,1020-1025"` → ranges.
fn port_ranges(text: &str) -> Result<Vec<(u16, u16)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (a, b) = p.split_once('-').unwrap_or((p, p));
            let a: u16 = a
                .trim()
                .parse()
                .map_err(|_| format!("{p:?} is not a port or range"))?;
            let b: u16 = b
                .trim()
                .parse()
                .map_err(|_| format!("{p:?} is not a port or range"))?;
            if a > b {
                return Err(format!("{p:?}: the range is reversed"));
            }
            Ok((a, b))
        })
        .collect()
}

/// Judges one item (notification form) under a managed rule. A rule with
/// [`ManagedRule::related_types`] sees none: use [`evaluate_with`].
///
/// # Errors
/// An unknown rule, bad parameters, or an item without the fields its type has.
pub fn evaluate(
    identifier: &str,
    params: &Map<String, Value>,
    item: &Value,
) -> Result<Verdict, RuleError> {
    evaluate_with(identifier, params, item, &[])
}

/// Judges one item (notification form) under a managed rule, with `related`: the current
/// items (notification form) of the rule's [`ManagedRule::related_types`] in the item's
/// account (and region, unless [`ManagedRule::related_all_regions`]). Items of other types
/// among them are ignored.
///
/// # Errors
/// An unknown rule, bad parameters, or an item without the fields its type has.
pub fn evaluate_with(
    identifier: &str,
    params: &Map<String, Value>,
    item: &Value,
    related: &[Value],
) -> Result<Verdict, RuleError> {
    let r = rule(identifier)?;
    check_parameters(identifier, params)?;
    let status = item["configurationItemStatus"].as_str().unwrap_or("");
    if status.starts_with("ResourceDeleted") || status == "ResourceNotRecorded" {
        return Ok(Verdict::not_applicable());
    }
    let rtype = item["resourceType"].as_str().unwrap_or("");
    if !r.resource_types.is_empty() && !r.resource_types.contains(&rtype) {
        return Ok(Verdict::not_applicable());
    }
    let c = &item["configuration"];
    let supp = &item["supplementaryConfiguration"];
    match identifier {
        "INCOMING_SSH_DISABLED" => Ok(open_ports(c, &[(22, 22)], &[])
            .map_or_else(Verdict::compliant, |why| {
                Verdict::non_compliant(format!("SSH (22) {why}"))
            })),
        "RESTRICTED_INCOMING_TRAFFIC" => {
            let mut ports: Vec<u16> = (1..=5)
                .filter_map(|i| param(params, &format!("blockedPort{i}")))
                .filter_map(|p| p.parse().ok())
                .collect();
            if ports.is_empty() {
                ports = vec![20, 21, 3389, 3306, 4333];
            }
            let ranges: Vec<(u16, u16)> = ports.iter().map(|p| (*p, *p)).collect();
            Ok(
                open_ports(c, &ranges, &[]).map_or_else(Verdict::compliant, |why| {
                    Verdict::non_compliant(format!("blocked port {why}"))
                }),
            )
        }
        "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS" => {
            let tcp = param(params, "authorizedTcpPorts")
                .map(|p| port_ranges(&p))
                .transpose()
                .map_err(RuleError::Parameter)?
                .unwrap_or_default();
            let udp = param(params, "authorizedUdpPorts")
                .map(|p| port_ranges(&p))
                .transpose()
                .map_err(RuleError::Parameter)?
                .unwrap_or_default();
            Ok(unauthorized_open(c, &tcp, &udp)
                .map_or_else(Verdict::compliant, Verdict::non_compliant))
        }
        "VPC_DEFAULT_SECURITY_GROUP_CLOSED" => {
            if c["groupName"].as_str() != Some("default") {
                return Ok(Verdict::not_applicable());
            }
            let ingress = c["ipPermissions"].as_array().map_or(0, Vec::len);
            let egress = c["ipPermissionsEgress"].as_array().map_or(0, Vec::len);
            Ok(if ingress + egress == 0 {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(format!(
                    "the default security group has {ingress} inbound and {egress} outbound rules"
                ))
            })
        }
        "NACL_NO_UNRESTRICTED_SSH_RDP" => Ok(nacl_open(c)),
        "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS" => admin_policy(c),
        "IAM_ROLE_MANAGED_POLICY_CHECK" => {
            let wanted: Vec<String> = param(params, "managedPolicyArns")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let attached: Vec<&str> = c["attachedManagedPolicies"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["policyArn"].as_str()).collect())
                .unwrap_or_default();
            let missing: Vec<&String> = wanted
                .iter()
                .filter(|w| !attached.contains(&w.as_str()))
                .collect();
            Ok(if missing.is_empty() {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(format!(
                    "managed policies not attached: {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        }
        "IAM_USER_NO_POLICIES_CHECK" => {
            let inline = c["userPolicyList"].as_array().map_or(0, Vec::len);
            let managed = c["attachedManagedPolicies"].as_array().map_or(0, Vec::len);
            Ok(if inline + managed == 0 {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(format!(
                    "the user has {inline} inline and {managed} attached policies (grant through groups or roles)"
                ))
            })
        }
        "S3_BUCKET_PUBLIC_READ_PROHIBITED" => Ok(public_bucket(supp, Access::Read)),
        "S3_BUCKET_PUBLIC_WRITE_PROHIBITED" => Ok(public_bucket(supp, Access::Write)),
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED" => {
            let rules = supp["ServerSideEncryptionConfiguration"]["rules"].as_array();
            let algo = rules.and_then(|r| {
                r.iter()
                    .find_map(|x| x["applyServerSideEncryptionByDefault"]["sseAlgorithm"].as_str())
            });
            Ok(match algo {
                Some(_) => Verdict::compliant(),
                None => Verdict::non_compliant("no default server-side encryption is configured"),
            })
        }
        "S3_BUCKET_VERSIONING_ENABLED" => {
            let v = &supp["BucketVersioningConfiguration"];
            if v["status"].as_str() != Some("Enabled") {
                return Ok(Verdict::non_compliant(format!(
                    "versioning is {}",
                    v["status"].as_str().unwrap_or("Off")
                )));
            }
            if param(params, "isMfaDeleteEnabled").as_deref() == Some("true")
                && v["isMfaDeleteEnabled"] != Value::Bool(true)
            {
                return Ok(Verdict::non_compliant(
                    "versioning is enabled but MFA delete is not",
                ));
            }
            Ok(Verdict::compliant())
        }
        "EC2_INSTANCE_NO_PUBLIC_IP" => Ok(match c["publicIpAddress"].as_str() {
            Some(ip) if !ip.is_empty() => Verdict::non_compliant(format!("public IP address {ip}")),
            _ => Verdict::compliant(),
        }),
        "REQUIRED_TAGS" => Ok(required_tags(params, &item["tags"])),
        _ => evaluate_more(identifier, params, item, related),
    }
}

/// Items of `rtype` among `related`, not deleted.
fn of_type<'a>(related: &'a [Value], rtype: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    related.iter().filter(move |r| {
        r["resourceType"].as_str() == Some(rtype)
            && !r["configurationItemStatus"]
                .as_str()
                .unwrap_or("")
                .starts_with("ResourceDeleted")
    })
}

/// A non-empty string.
fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// `true`, or `"true"` (attribute maps record booleans as text).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A JSON document recorded as text or as JSON.
fn json_doc(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => policy_document(s),
        Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// The rules added with issue 15.
fn evaluate_more(
    identifier: &str,
    params: &Map<String, Value>,
    item: &Value,
    related: &[Value],
) -> Result<Verdict, RuleError> {
    let c = &item["configuration"];
    let supp = &item["supplementaryConfiguration"];
    match identifier {
        "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED" => Ok(lambda_public(&supp["Policy"])),
        "RDS_INSTANCE_PUBLIC_ACCESS_CHECK" => Ok(if c["publiclyAccessible"] == Value::Bool(true) {
            Verdict::non_compliant("the DB instance is publicly accessible")
        } else {
            Verdict::compliant()
        }),
        "RDS_STORAGE_ENCRYPTED" => {
            if c["storageEncrypted"] != Value::Bool(true) {
                return Ok(Verdict::non_compliant(
                    "the DB instance's storage is not encrypted",
                ));
            }
            match param(params, "kmsKeyId") {
                Some(want) if text(&c["kmsKeyId"]) != Some(want.as_str()) => {
                    Ok(Verdict::non_compliant(format!(
                        "the storage is encrypted with {}, not {want}",
                        text(&c["kmsKeyId"]).unwrap_or("no KMS key")
                    )))
                }
                _ => Ok(Verdict::compliant()),
            }
        }
        "RDS_SNAPSHOTS_PUBLIC_PROHIBITED" => {
            let attrs = if item["resourceType"].as_str() == Some(DB_CLUSTER_SNAPSHOT) {
                &supp["DBClusterSnapshotAttributes"]
            } else {
                &supp["DBSnapshotAttributes"]
            };
            let public = attrs.as_array().into_iter().flatten().any(|a| {
                a["attributeName"].as_str() == Some("restore")
                    && listed(&a["attributeValues"]).contains(&"all")
            });
            Ok(if public {
                Verdict::non_compliant(
                    "the snapshot can be restored by all AWS accounts (restore: all)",
                )
            } else {
                Verdict::compliant()
            })
        }
        "CMK_BACKING_KEY_ROTATION_ENABLED" => Ok(key_rotation(c, supp)),
        "KMS_CMK_NOT_SCHEDULED_FOR_DELETION" => {
            let wanted = list_param(params, "kmsKeyIds");
            if !wanted.is_empty() {
                let id = text(&c["keyId"]).unwrap_or("");
                let arn = text(&c["arn"]).unwrap_or("");
                if !wanted.iter().any(|w| w == id || w == arn) {
                    return Ok(Verdict::not_applicable());
                }
            }
            Ok(if c["keyState"].as_str() == Some("PendingDeletion") {
                Verdict::non_compliant(match &c["deletionDate"] {
                    Value::Null => "the key is scheduled for deletion".to_string(),
                    d => format!("the key is scheduled for deletion on {d}"),
                })
            } else {
                Verdict::compliant()
            })
        }
        "CLOUD_TRAIL_ENCRYPTION_ENABLED" => Ok(match text(&c["kmsKeyId"]) {
            Some(_) => Verdict::compliant(),
            None => Verdict::non_compliant(
                "the trail's log files are not encrypted with a KMS key (SSE-KMS)",
            ),
        }),
        "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED" => {
            Ok(if truthy(&c["logFileValidationEnabled"]) {
                Verdict::compliant()
            } else {
                Verdict::non_compliant("log file validation is not enabled")
            })
        }
        "MULTI_REGION_CLOUD_TRAIL_ENABLED" => multi_region_trail(params, related),
        "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK" => Ok(alb_redirection(c, item, related)),
        "DYNAMODB_PITR_ENABLED" => {
            let status = supp["ContinuousBackupsDescription"]["pointInTimeRecoveryDescription"]
                ["pointInTimeRecoveryStatus"]
                .as_str();
            Ok(if status == Some("ENABLED") {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(format!(
                    "point-in-time recovery is {}",
                    status.unwrap_or("not enabled")
                ))
            })
        }
        "SNS_ENCRYPTED_KMS" => {
            let Some(key) = text(&c["KmsMasterKeyId"]) else {
                return Ok(Verdict::non_compliant(
                    "the topic is not encrypted with a KMS key",
                ));
            };
            let wanted = list_param(params, "kmsKeyIds");
            Ok(if wanted.is_empty() || wanted.iter().any(|w| w == key) {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(format!("the topic's KMS key {key} is not among kmsKeyIds"))
            })
        }
        "SQS_QUEUE_ENCRYPTED" => Ok(
            if text(&c["KmsMasterKeyId"]).is_some() || truthy(&c["SqsManagedSseEnabled"]) {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(
                    "the queue is not encrypted at rest (neither SSE-SQS nor SSE-KMS)",
                )
            },
        ),
        "ECR_PRIVATE_IMAGE_SCANNING_ENABLED" => {
            Ok(if truthy(&c["ImageScanningConfiguration"]["ScanOnPush"]) {
                Verdict::compliant()
            } else {
                Verdict::non_compliant("images are not scanned on push")
            })
        }
        "EKS_ENDPOINT_NO_PUBLIC_ACCESS" => Ok(
            if truthy(&c["ResourcesVpcConfig"]["EndpointPublicAccess"]) {
                Verdict::non_compliant("the cluster's API server endpoint is publicly accessible")
            } else {
                Verdict::compliant()
            },
        ),
        "SECRETSMANAGER_ROTATION_ENABLED_CHECK" => Ok(secret_rotation(params, c)),
        "CLOUDWATCH_ALARM_ACTION_CHECK" => alarm_actions(params, c),
        "VPC_FLOW_LOGS_ENABLED" => Ok(vpc_flow_logs(params, c, item, related)),
        "EIP_ATTACHED" => Ok(
            if text(&c["associationId"]).is_some()
                || text(&c["instanceId"]).is_some()
                || text(&c["networkInterfaceId"]).is_some()
            {
                Verdict::compliant()
            } else {
                Verdict::non_compliant(
                    "the Elastic IP is not attached to an instance or network interface",
                )
            },
        ),
        _ => Err(RuleError::UnknownRule(identifier.to_string())),
    }
}
