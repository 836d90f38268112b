//! AWS Config's managed rules, by identifier: which resource types each judges, the
//! `InputParameters` it takes, and its verdict on one configuration item (AWS Config's
//! notification form: `configuration`, `supplementaryConfiguration`, top-level `tags`).
//! A deleted resource, or one of another type, is `NOT_APPLICABLE`.

use crate::{RuleError, Verdict};
use serde_json::{Map, Value};

const SG: &str = "AWS::EC2::SecurityGroup";
const NACL: &str = "AWS::EC2::NetworkAcl";
const INSTANCE: &str = "AWS::EC2::Instance";
const BUCKET: &str = "AWS::S3::Bucket";
const POLICY: &str = "AWS::IAM::Policy";
const ROLE: &str = "AWS::IAM::Role";
const USER: &str = "AWS::IAM::User";

/// One managed rule.
#[derive(Debug, Clone, Copy)]
pub struct ManagedRule {
    /// AWS's `SourceIdentifier`.
    pub identifier: &'static str,
    /// Resource types it judges (empty: every type).
    pub resource_types: &'static [&'static str],
    /// Parameter names it accepts, and whether each is required.
    pub parameters: &'static [(&'static str, bool)],
    /// Whether it runs on configuration changes (all of these do) and periodically
    /// (REQUIRED_TAGS and the IAM checks may also be periodic in AWS).
    pub change_triggered: bool,
}

/// Every managed rule driftlog implements.
pub const RULES: &[ManagedRule] = &[
    ManagedRule {
        identifier: "INCOMING_SSH_DISABLED",
        resource_types: &[SG],
        parameters: &[],
        change_triggered: true,
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
    },
    ManagedRule {
        identifier: "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
        resource_types: &[SG],
        parameters: &[("authorizedTcpPorts", false), ("authorizedUdpPorts", false)],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
        resource_types: &[SG],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "NACL_NO_UNRESTRICTED_SSH_RDP",
        resource_types: &[NACL],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
        resource_types: &[POLICY],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "IAM_ROLE_MANAGED_POLICY_CHECK",
        resource_types: &[ROLE],
        parameters: &[("managedPolicyArns", true)],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "IAM_USER_NO_POLICIES_CHECK",
        resource_types: &[USER],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        resource_types: &[BUCKET],
        parameters: &[],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "S3_BUCKET_VERSIONING_ENABLED",
        resource_types: &[BUCKET],
        parameters: &[("isMfaDeleteEnabled", false)],
        change_triggered: true,
    },
    ManagedRule {
        identifier: "EC2_INSTANCE_NO_PUBLIC_IP",
        resource_types: &[INSTANCE],
        parameters: &[],
        change_triggered: true,
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
    },
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
        _ => {}
    }
    Ok(())
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

/// Judges one item (notification form) under a managed rule.
///
/// # Errors
/// An unknown rule, bad parameters, or an item without the fields its type has.
pub fn evaluate(
    identifier: &str,
    params: &Map<String, Value>,
    item: &Value,
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
        _ => Err(RuleError::UnknownRule(identifier.to_string())),
    }
}

const WORLD_V4: &str = "0.0.0.0/0";
const WORLD_V6: &str = "::/0";

/// The sources of a permission open to the whole internet.
fn world_open(p: &Value) -> Option<&'static str> {
    let v4 = p["ipv4Ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["cidrIp"].as_str() == Some(WORLD_V4))
        || p["ipRanges"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r.as_str() == Some(WORLD_V4));
    let v6 = p["ipv6Ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["cidrIpv6"].as_str() == Some(WORLD_V6));
    if v4 {
        Some(WORLD_V4)
    } else if v6 {
        Some(WORLD_V6)
    } else {
        None
    }
}

/// A permission's protocol name and port range (all ports for "-1" or missing ports).
fn proto_ports(p: &Value) -> (String, u16, u16) {
    let proto = match &p["ipProtocol"] {
        Value::String(s) => s.to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        _ => "-1".into(),
    };
    let proto = match proto.as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        _ => proto,
    };
    if proto == "-1" {
        return (proto, 0, u16::MAX);
    }
    let from = p["fromPort"]
        .as_i64()
        .map_or(0, |v| v.clamp(0, 65535) as u16);
    let to = p["toPort"]
        .as_i64()
        .map_or(u16::MAX, |v| v.clamp(0, 65535) as u16);
    (proto, from, to)
}

/// Why the SG's ingress opens a TCP port in `ports` (or `udp`) to the world, if it does.
fn open_ports(c: &Value, ports: &[(u16, u16)], _udp: &[(u16, u16)]) -> Option<String> {
    for p in c["ipPermissions"].as_array().into_iter().flatten() {
        let Some(src) = world_open(p) else { continue };
        let (proto, from, to) = proto_ports(p);
        if proto != "tcp" && proto != "-1" {
            continue;
        }
        if let Some((a, _)) = ports.iter().find(|(a, b)| from <= *b && *a <= to) {
            return Some(format!("{a} is open to {src} (rule {proto} {from}-{to})"));
        }
    }
    None
}

/// Why the SG opens a port beyond the authorized ones to the world, if it does.
fn unauthorized_open(c: &Value, tcp: &[(u16, u16)], udp: &[(u16, u16)]) -> Option<String> {
    for p in c["ipPermissions"].as_array().into_iter().flatten() {
        let Some(src) = world_open(p) else { continue };
        let (proto, from, to) = proto_ports(p);
        let allowed = match proto.as_str() {
            "tcp" => tcp,
            "udp" => udp,
            "-1" => {
                return Some(format!("all traffic is open to {src}"));
            }
            _ => continue,
        };
        if !allowed.iter().any(|(a, b)| *a <= from && to <= *b) {
            return Some(format!(
                "{proto} {from}-{to} is open to {src} and not among the authorized ports"
            ));
        }
    }
    None
}

/// NACL: for SSH and RDP, the first inbound entry (by rule number) from the whole internet
/// that covers the port decides; an allow is unrestricted access.
fn nacl_open(c: &Value) -> Verdict {
    let mut entries: Vec<&Value> = c["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["egress"] == Value::Bool(false))
        .collect();
    entries.sort_by_key(|e| e["ruleNumber"].as_i64().unwrap_or(i64::MAX));
    for port in [22u16, 3389] {
        for e in &entries {
            let world = e["cidrBlock"].as_str() == Some(WORLD_V4)
                || e["ipv6CidrBlock"].as_str() == Some(WORLD_V6);
            if !world {
                continue;
            }
            let proto = e["protocol"].as_str().unwrap_or("-1");
            let covers = match proto {
                "-1" => true,
                "6" | "17" | "tcp" | "udp" => {
                    let r = &e["portRange"];
                    match (r["from"].as_i64(), r["to"].as_i64()) {
                        (Some(a), Some(b)) => a <= i64::from(port) && i64::from(port) <= b,
                        _ => true,
                    }
                }
                _ => false,
            };
            if !covers {
                continue;
            }
            if e["ruleAction"].as_str() == Some("allow") {
                return Verdict::non_compliant(format!(
                    "inbound rule {} allows port {port} from {}",
                    e["ruleNumber"],
                    e["cidrBlock"]
                        .as_str()
                        .or(e["ipv6CidrBlock"].as_str())
                        .unwrap_or("?")
                ));
            }
            break; // denied before any allow
        }
    }
    Verdict::compliant()
}

/// A percent-encoded (as IAM returns them) or plain policy document.
fn policy_document(text: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

fn listed(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

fn admin_policy(c: &Value) -> Result<Verdict, RuleError> {
    let versions = c["policyVersionList"].as_array();
    let default = versions
        .into_iter()
        .flatten()
        .find(|v| v["isDefaultVersion"] == Value::Bool(true))
        .ok_or_else(|| RuleError::Item("policyVersionList has no default version".into()))?;
    let doc = default["document"]
        .as_str()
        .and_then(policy_document)
        .ok_or_else(|| RuleError::Item("the default version's document is not a policy".into()))?;
    for s in statements(&doc) {
        if s["Effect"].as_str() == Some("Allow")
            && listed(&s["Action"]).contains(&"*")
            && listed(&s["Resource"]).contains(&"*")
        {
            return Ok(Verdict::non_compliant(format!(
                "version {} allows Action \"*\" on Resource \"*\"",
                default["versionId"].as_str().unwrap_or("?")
            )));
        }
    }
    Ok(Verdict::compliant())
}

#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

fn public_bucket(supp: &Value, access: Access) -> Verdict {
    let pab = &supp["PublicAccessBlockConfiguration"];
    let on = |k: &str| pab[k] == Value::Bool(true);
    let acl_blocked = on("ignorePublicAcls");
    let policy_blocked = on("restrictPublicBuckets");
    let word = match access {
        Access::Read => "read",
        Access::Write => "write",
    };
    if !acl_blocked {
        let acl: Value = match &supp["AccessControlList"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
        for g in acl["grantList"].as_array().into_iter().flatten() {
            let grantee = match &g["grantee"] {
                Value::String(s) => s.clone(),
                v => v["uri"]
                    .as_str()
                    .or(v["id"].as_str())
                    .unwrap_or("")
                    .to_string(),
            };
            let public = grantee.ends_with("AllUsers") || grantee.ends_with("AuthenticatedUsers");
            let perm = g["permission"].as_str().unwrap_or("");
            let grants = match access {
                Access::Read => matches!(perm, "Read" | "FullControl" | "READ" | "FULL_CONTROL"),
                Access::Write => matches!(perm, "Write" | "FullControl" | "WRITE" | "FULL_CONTROL"),
            };
            if public && grants {
                return Verdict::non_compliant(format!(
                    "the bucket ACL grants {perm} to {grantee}"
                ));
            }
        }
    }
    if !policy_blocked {
        let policy = supp["BucketPolicy"]["policyText"]
            .as_str()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        if let Some(p) = policy {
            for s in statements(&p) {
                let anyone = match &s["Principal"] {
                    Value::String(x) => x == "*",
                    Value::Object(m) => m.get("AWS").is_some_and(|a| listed(a).contains(&"*")),
                    _ => false,
                };
                if s["Effect"].as_str() != Some("Allow") || !anyone || s.get("Condition").is_some()
                {
                    continue;
                }
                let actions = listed(&s["Action"]);
                let hit = actions.iter().any(|a| {
                    let a = a.to_ascii_lowercase();
                    a == "*"
                        || a == "s3:*"
                        || match access {
                            Access::Read => {
                                a == "s3:getobject" || a == "s3:get*" || a == "s3:listbucket"
                            }
                            Access::Write => {
                                a == "s3:putobject" || a == "s3:put*" || a == "s3:deleteobject"
                            }
                        }
                });
                if hit {
                    return Verdict::non_compliant(format!(
                        "the bucket policy allows public {word} ({})",
                        actions.join(", ")
                    ));
                }
            }
        }
    }
    Verdict::compliant()
}

fn required_tags(params: &Map<String, Value>, tags: &Value) -> Verdict {
    let mut missing = Vec::new();
    for i in 1..=6 {
        let Some(key) = param(params, &format!("tag{i}Key")) else {
            continue;
        };
        let allowed: Vec<String> = param(params, &format!("tag{i}Value"))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let value = match tags {
            Value::Object(m) => m.get(&key).and_then(Value::as_str).map(str::to_string),
            Value::Array(a) => a
                .iter()
                .find(|t| t["key"].as_str() == Some(key.as_str()))
                .and_then(|t| t["value"].as_str().map(str::to_string)),
            _ => None,
        };
        match value {
            None => missing.push(format!("{key} is missing")),
            Some(v) if !allowed.is_empty() && !allowed.contains(&v) => {
                missing.push(format!("{key}={v} is not one of {}", allowed.join(",")));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        Verdict::compliant()
    } else {
        Verdict::non_compliant(missing.join("; "))
    }
}
