//! From a CloudTrail event to the resources to re-describe, by the rows of [`crate::table`].

use crate::event::CloudTrailEvent;
use crate::table::{
    How, Op, Row, Ty, ID_PREFIXES, ROWS, T_BUCKET, T_DBCLUSTER, T_DBINSTANCE, T_DBSNAPSHOT,
    T_DBSUBNETGROUP, T_EKS, T_FUNCTION, T_GROUP, T_KEY, T_LB, T_LISTENER, T_POLICY, T_QUEUE,
    T_REPO, T_ROLE, T_SECRET, T_TABLE, T_TOPIC, T_TRAIL, T_USER,
};
use driftlog_model::{spec_for, ResourceKey};
use serde_json::Value;
use std::fmt;

/// How an event names a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    /// The AWS Config `resourceId`: a key can be built at once.
    Id(String),
    /// The AWS Config `resourceName` (an IAM role name, an RDS instance identifier, an EIP's
    /// public IP, a KMS alias): the recorder resolves it from its current state.
    Name(String),
    /// An ARN whose id cannot be read from it (IAM ARNs, whose ids are `AROA…`): the recorder
    /// resolves it from its current state.
    Arn(String),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Id(v) => write!(f, "id {v}"),
            Ref::Name(v) => write!(f, "name {v}"),
            Ref::Arn(v) => write!(f, "arn {v}"),
        }
    }
}

/// One resource an event touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The account that owns it: `recipientAccountId`, else the caller's account.
    pub account: String,
    /// Its region as AWS Config records it: the event's `awsRegion`, `global` for IAM.
    pub region: String,
    /// AWS Config type.
    pub resource_type: &'static str,
    /// How the event names it.
    pub reference: Ref,
    /// What the call did to it (a delete still needs a describe to confirm it is gone).
    pub op: Op,
}

impl Target {
    /// The resource key, when the event gave the id; `None` for a name or an ARN, which the
    /// caller resolves against its current state.
    pub fn resource_key(&self) -> Option<ResourceKey> {
        match &self.reference {
            Ref::Id(id) => Some(ResourceKey::new(
                self.account.clone(),
                self.region.clone(),
                self.resource_type,
                id.clone(),
            )),
            Ref::Name(_) | Ref::Arn(_) => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} in {}/{}",
            self.resource_type, self.reference, self.account, self.region
        )
    }
}

/// What an event means for the recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Re-describe these resources (at least one; duplicates removed, table order kept).
    Resources(Vec<Target>),
    /// Changes no recorded configuration: `readOnly` is true, the name reads
    /// (`Describe*`, `Get*`, `List*`, `Head*`), the event is a data event
    /// (`eventCategory` `Data`: object reads and writes) or a console sign-in.
    ReadOnly,
    /// The call failed (`errorCode` present), so it changed nothing.
    Failed {
        /// `errorCode`, e.g. `Client.UnauthorizedOperation`.
        error_code: String,
    },
    /// A write the table cannot place: no row for it, or rows whose paths are absent from
    /// this record (a classic ELB call, an association id only). Counted per name by the
    /// caller and left to the next poll.
    Unmapped {
        /// `eventSource`.
        source: String,
        /// `eventName`, as used for lookup (Lambda's without the version suffix).
        name: String,
    },
}

/// Maps an event to the resources it touched.
///
/// Never fails: a record that names nothing usable is [`Mapped::Unmapped`], so the caller
/// counts it and the next poll records what changed.
pub fn map(event: &CloudTrailEvent) -> Mapped {
    if let Some(code) = &event.error_code {
        return Mapped::Failed {
            error_code: code.clone(),
        };
    }
    let name = lookup_name(&event.event_source, &event.event_name);
    if event.read_only == Some(true)
        || is_read_name(name)
        || event.event_category.as_deref() == Some("Data")
        || event.event_type.as_deref() == Some("AwsConsoleSignIn")
    {
        return Mapped::ReadOnly;
    }
    let mut targets: Vec<Target> = Vec::new();
    for row in rows_for(&event.event_source, name) {
        for value in values_at(event, row.path) {
            if let Some(t) = target(event, row, value) {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
    }
    if targets.is_empty() {
        return Mapped::Unmapped {
            source: event.event_source.clone(),
            name: name.to_string(),
        };
    }
    Mapped::Resources(targets)
}

/// Every row of the table, for `driftlog status` and for tests.
pub fn rows() -> &'static [Row] {
    ROWS
}

/// The rows of one API.
pub fn rows_for<'a>(source: &'a str, name: &'a str) -> impl Iterator<Item = &'static Row> + 'a {
    ROWS.iter()
        .filter(move |r| r.source == source && r.event == name)
}

/// The name used for lookup: Lambda records its API version in the name
/// (`UpdateFunctionConfiguration20150331v2`), which is stripped.
pub fn lookup_name<'a>(source: &str, name: &'a str) -> &'a str {
    if source != "lambda.amazonaws.com" {
        return name;
    }
    let b = name.as_bytes();
    let mut end = b.len();
    // An optional `v<digits>` after the date.
    let digits_from = b
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    if digits_from < end && digits_from > 0 && b[digits_from - 1] == b'v' {
        let before_v = digits_from - 1;
        if before_v >= 8 && b[before_v - 8..before_v].iter().all(u8::is_ascii_digit) {
            end = before_v;
        }
    }
    if end > 8 && b[end - 8..end].iter().all(u8::is_ascii_digit) {
        return &name[..end - 8];
    }
    name
}

fn is_read_name(name: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The strings at `path` in `event`. `[]` iterates an array; an array met without `[]` is
/// iterated too, and a `{"content": "…"}` leaf (EC2's wrapped lists) gives its content, so
/// singletons and lists read alike.
pub(crate) fn values_at<'a>(event: &'a CloudTrailEvent, path: &str) -> Vec<&'a str> {
    let mut segs = path.split('.');
    let root: &Value = match segs.next() {
        Some("requestParameters") => &event.request_parameters,
        Some("responseElements") => &event.response_elements,
        // `resources[].ARN` (and `.type`, `.accountId`): the typed list, read directly.
        Some("resources[]") => {
            let field = segs.next();
            return event
                .resources
                .iter()
                .filter_map(|r| match field {
                    Some("ARN") => r.arn.as_deref(),
                    Some("type") => r.resource_type.as_deref(),
                    Some("accountId") => r.account_id.as_deref(),
                    _ => None,
                })
                .collect();
        }
        _ => return Vec::new(),
    };
    let mut current: Vec<&Value> = vec![root];
    for seg in segs {
        let key = seg.trim_end_matches("[]");
        let mut next = Vec::new();
        for v in current {
            step(v, key, &mut next);
        }
        current = next;
    }
    let mut out = Vec::new();
    for v in current {
        leaves(v, &mut out);
    }
    out
}

fn step<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            if let Some(child) = map.get(key) {
                out.push(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                step(item, key, out);
            }
        }
        _ => {}
    }
}

fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        Value::Object(map) => {
            if let Some(Value::String(s)) = map.get("content") {
                if !s.is_empty() {
                    out.push(s);
                }
            }
        }
        _ => {}
    }
}

fn target(event: &CloudTrailEvent, row: &Row, value: &str) -> Option<Target> {
    let (resource_type, reference) = match (row.ty, row.how) {
        (Ty::ByIdPrefix, _) => (type_by_prefix(value)?, Ref::Id(value.to_string())),
        (Ty::ByArn, _) => classify_arn(value)?,
        (Ty::Fixed(ty), how) => (ty, reference(ty, how, value)?),
    };
    let account = event
        .account()
        .map(str::to_string)
        .or_else(|| arn_account(value))?;
    let region = if spec_for(resource_type).global {
        "global".to_string()
    } else {
        event.aws_region.clone()
    };
    Some(Target {
        account,
        region,
        resource_type,
        reference,
        op: row.op,
    })
}

fn reference(ty: &'static str, how: How, value: &str) -> Option<Ref> {
    let is_arn = value.starts_with("arn:");
    match how {
        How::Id => Some(Ref::Id(value.to_string())),
        How::Name => Some(Ref::Name(value.to_string())),
        How::Arn | How::IdOrArn | How::NameOrArn if is_arn => {
            let (found, r) = classify_arn(value)?;
            (found == ty).then_some(r)
        }
        How::Arn => None,
        How::IdOrArn => Some(plain_id(ty, value)),
        How::NameOrArn => Some(Ref::Name(value.to_string())),
    }
}

/// A value that is not an ARN, for APIs that take an id or an ARN.
fn plain_id(ty: &str, value: &str) -> Ref {
    match ty {
        // `123456789012:function:name` (partial ARN) or `name:qualifier`.
        T_FUNCTION => {
            let rest = value
                .split_once(":function:")
                .map_or(value, |(_, rest)| rest);
            Ref::Id(rest.split(':').next().unwrap_or(rest).to_string())
        }
        // An alias names a key but is not recorded on it: resolved by the caller (KMS
        // DescribeKey accepts it).
        T_KEY if value.starts_with("alias/") => Ref::Name(value.to_string()),
        _ => Ref::Id(value.to_string()),
    }
}

fn type_by_prefix(id: &str) -> Option<&'static str> {
    ID_PREFIXES
        .iter()
        .find(|(prefix, _)| id.starts_with(prefix))
        .map(|(_, ty)| *ty)
}

fn arn_account(arn: &str) -> Option<String> {
    let account = arn.strip_prefix("arn:")?.split(':').nth(3)?;
    (!account.is_empty()).then(|| account.to_string())
}

/// The recorded type an ARN names and how AWS Config identifies it; `None` for resources
/// driftlog does not record (target groups, AWS-managed policies, AMIs).
pub fn classify_arn(arn: &str) -> Option<(&'static str, Ref)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(_region), Some(account), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let id = |s: &str| Some(Ref::Id(s.to_string()));
    let first_segment = |s: &str| s.split(['/', ':']).next().unwrap_or(s).to_string();
    let (ty, r) = match service {
        "lambda" => (
            T_FUNCTION,
            id(&first_segment(res.strip_prefix("function:")?)),
        ),
        "kms" => match res.split_once('/')? {
            ("key", key) => (T_KEY, id(key)),
            ("alias", _) => (T_KEY, Some(Ref::Name(res.to_string()))),
            _ => return None,
        },
        "dynamodb" => (T_TABLE, id(&first_segment(res.strip_prefix("table/")?))),
        "cloudtrail" => (T_TRAIL, id(res.strip_prefix("trail/")?)),
        "ecr" => (T_REPO, id(res.strip_prefix("repository/")?)),
        "eks" => (T_EKS, id(&first_segment(res.strip_prefix("cluster/")?))),
        "sns" => (T_TOPIC, id(arn)),
        // The queue URL (the id) has more than one form; the caller resolves the ARN.
        "sqs" => (T_QUEUE, Some(Ref::Arn(arn.to_string()))),
        "secretsmanager" if res.starts_with("secret:") => (T_SECRET, id(arn)),
        "cloudwatch" => (crate::table::T_ALARM, id(res.strip_prefix("alarm:")?)),
        "elasticloadbalancing" if res.starts_with("loadbalancer/") => (T_LB, id(arn)),
        "elasticloadbalancing" if res.starts_with("listener/") => (T_LISTENER, id(arn)),
        "rds" => match res.split_once(':')? {
            ("db", name) => (T_DBINSTANCE, Some(Ref::Name(name.to_string()))),
            ("cluster", name) => (T_DBCLUSTER, Some(Ref::Name(name.to_string()))),
            ("subgrp", name) => (T_DBSUBNETGROUP, id(name)),
            ("snapshot", name) => (T_DBSNAPSHOT, id(name)),
            _ => return None,
        },
        "iam" if account == "aws" => return None,
        "iam" => {
            let ty = match res.split('/').next()? {
                "role" => T_ROLE,
                "user" => T_USER,
                "group" => T_GROUP,
                "policy" => T_POLICY,
                _ => return None,
            };
            (ty, Some(Ref::Arn(arn.to_string())))
        }
        "s3" if !res.is_empty() && !res.contains('/') => (T_BUCKET, id(res)),
        "ec2" => {
            let ec2_id = res.split_once('/')?.1;
            (type_by_prefix(ec2_id)?, id(ec2_id))
        }
        _ => return None,
    };
    Some((ty, r?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_names_lose_their_version() {
        let cases = [
            (
                "UpdateFunctionConfiguration20150331v2",
                "UpdateFunctionConfiguration",
            ),
            ("CreateFunction20150331", "CreateFunction"),
            ("TagResource20170331v2", "TagResource"),
            ("PutFunctionConcurrency20171031", "PutFunctionConcurrency"),
            ("Invoke", "Invoke"),
            ("Foov2", "Foov2"),
        ];
        for (raw, expected) in cases {
            assert_eq!(lookup_name("lambda.amazonaws.com", raw), expected);
        }
        assert_eq!(lookup_name("ec2.amazonaws.com", "X20150331"), "X20150331");
    }

    #[test]
    fn arns_are_typed() {
        let cases: &[(&str, Option<(&str, Ref)>)] = &[
            ("arn:aws:lambda:eu-west-1:111122223333:function:orders-worker:PROD", Some((T_FUNCTION, Ref::Id("orders-worker".into())))),
            ("arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d", Some((T_KEY, Ref::Id("0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d".into())))),
            ("arn:aws:kms:eu-west-1:111122223333:alias/app", Some((T_KEY, Ref::Name("alias/app".into())))),
            ("arn:aws:rds:eu-west-1:111122223333:db:orders-db", Some((T_DBINSTANCE, Ref::Name("orders-db".into())))),
            ("arn:aws:rds:eu-west-1:111122223333:subgrp:orders-db-subnets", Some((T_DBSUBNETGROUP, Ref::Id("orders-db-subnets".into())))),
            ("arn:aws:iam::aws:policy/ReadOnlyAccess", None),
            ("arn:aws:iam::111122223333:role/app-server", Some((T_ROLE, Ref::Arn("arn:aws:iam::111122223333:role/app-server".into())))),
            ("arn:aws:s3:::example-app-data", Some((T_BUCKET, Ref::Id("example-app-data".into())))),
            ("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b2c3d4e5f6a7b8", Some((crate::table::T_SG, Ref::Id("sg-0a1b2c3d4e5f6a7b8".into())))),
            ("arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef", None),
            ("arn:aws:ecr:eu-west-1:111122223333:repository/app/api", Some((T_REPO, Ref::Id("app/api".into())))),
            ("not-an-arn", None),
        ];
        for (arn, expected) in cases {
            assert_eq!(&classify_arn(arn), expected, "{arn}");
        }
    }
}
