//! CloudTrail records written from the mapping table: what AWS would send for a change.
//!
//! The simulated estate has no CloudTrail, yet `driftlog serve` should show who changed what
//! out of the box, and `driftlog bench` must measure event → item latency through the same
//! parsing and mapping as real events. So the sim writes the record AWS would have written
//! for each change it makes, by reading a row of the table backwards: the row's path is
//! where the resource is named, its `eventSource`/`eventName` what the call was. A record is
//! only returned if [`crate::map`] reads it back to the same resource (checked here, every
//! time), so a synthetic event can never point at something else.

use crate::event::CloudTrailEvent;
use crate::mapping::{map, Mapped, Ref};
use crate::table::{How, Op, Row, Ty, ROWS};
use driftlog_model::time::iso_ms;
use driftlog_model::{spec_for, ResourceKey};
use serde_json::{json, Map, Value};

/// Who makes a synthetic call: the `userIdentity`, source address and user agent of the
/// record.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// `userIdentity`, as CloudTrail writes it.
    pub user_identity: Value,
    /// `sourceIPAddress`.
    pub source_ip: String,
    /// `userAgent`.
    pub user_agent: String,
}

impl Caller {
    /// A session of an assumed role (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`), the
    /// most common caller in a real account: CI jobs, SSO users, services.
    pub fn assumed_role(account: &str, role: &str, session: &str, ip: &str, agent: &str) -> Self {
        Self {
            user_identity: json!({
                "type": "AssumedRole",
                "principalId": format!("AROAEXAMPLE{}:{session}", role.len()),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                "accountId": account,
                "accessKeyId": "ASIAEXAMPLEKEY",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": format!("AROAEXAMPLE{}", role.len()),
                        "arn": format!("arn:aws:iam::{account}:role/{role}"),
                        "accountId": account,
                        "userName": role,
                    },
                    "attributes": {"creationDate": "2024-05-01T09:00:00Z", "mfaAuthenticated": "false"},
                },
            }),
            source_ip: ip.to_string(),
            user_agent: agent.to_string(),
        }
    }

    /// An IAM user with long-lived keys.
    pub fn iam_user(account: &str, user: &str, ip: &str, agent: &str) -> Self {
        Self {
            user_identity: json!({
                "type": "IAMUser",
                "principalId": format!("AIDAEXAMPLE{}", user.len()),
                "arn": format!("arn:aws:iam::{account}:user/{user}"),
                "accountId": account,
                "accessKeyId": "AKIAEXAMPLEKEY",
                "userName": user,
            }),
            source_ip: ip.to_string(),
            user_agent: agent.to_string(),
        }
    }
}

/// One change to write a record for.
#[derive(Debug, Clone, Copy)]
pub struct Synth<'a> {
    /// The resource changed.
    pub key: &'a ResourceKey,
    /// What happened to it.
    pub op: Op,
    /// Its `resourceName`, for APIs that name it (IAM, RDS).
    pub name: Option<&'a str>,
    /// Its ARN, for APIs that take one.
    pub arn: Option<&'a str>,
    /// `eventID`.
    pub event_id: &'a str,
    /// `eventTime`, epoch ms.
    pub event_time_ms: i64,
    /// Who made the call.
    pub caller: &'a Caller,
}

/// The CloudTrail record AWS would write for `s`, or `None` when no row of the table can
/// name this resource with what is known of it (then only a poll records the change).
///
/// Rows whose op is `s.op` are tried first, then the type's modify rows (a type created
/// only as a side effect still has its changes attributed).
pub fn synthesize(s: &Synth<'_>) -> Option<Value> {
    let wanted = |op: Op| {
        ROWS.iter()
            .filter(move |r| r.op == op && row_types(r, s.key))
    };
    wanted(s.op)
        .chain(wanted(Op::Modify))
        .find_map(|row| record_for(row, s).filter(|r| names_the_resource(r, s)))
}

/// The EventBridge envelope (the body EventBridge puts on an SQS target) around a record.
pub fn eventbridge_envelope(record: &Value, envelope_id: &str) -> Value {
    let get = |k: &str| record.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "version": "0",
        "id": envelope_id,
        "detail-type": crate::API_CALL_DETAIL_TYPE,
        "source": format!("aws.{}", get("eventSource").as_str().unwrap_or_default().trim_end_matches(".amazonaws.com")),
        "account": get("recipientAccountId"),
        "time": get("eventTime"),
        "region": get("awsRegion"),
        "resources": [],
        "detail": record,
    })
}

fn row_types(row: &Row, key: &ResourceKey) -> bool {
    match row.ty {
        Ty::Fixed(t) => t == key.resource_type,
        Ty::ByIdPrefix => crate::table::ID_PREFIXES
            .iter()
            .any(|(p, t)| *t == key.resource_type && key.resource_id.starts_with(p)),
        Ty::ByArn => false,
    }
}

fn record_for(row: &Row, s: &Synth<'_>) -> Option<Value> {
    let value = match (row.ty, row.how) {
        (Ty::ByIdPrefix, _) | (_, How::Id | How::IdOrArn) => s.key.resource_id.as_str(),
        (_, How::Name) => s.name?,
        (_, How::Arn) => s.arn?,
        (_, How::NameOrArn) => s.name.or(s.arn)?,
    };
    if value.is_empty() {
        return None;
    }
    let region = if spec_for(&s.key.resource_type).global {
        // IAM's events are recorded in us-east-1.
        "us-east-1"
    } else {
        s.key.region.as_str()
    };
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": s.caller.user_identity,
        "eventTime": iso_seconds(s.event_time_ms),
        "eventSource": row.source,
        "eventName": row.event,
        "awsRegion": region,
        "sourceIPAddress": s.caller.source_ip,
        "userAgent": s.caller.user_agent,
        "requestParameters": null,
        "responseElements": null,
        "requestID": format!("req-{}", s.event_id),
        "eventID": s.event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": s.key.account,
        "eventCategory": "Management",
    });
    let mut segs = row.path.split('.');
    let root = segs.next()?;
    let rest: Vec<&str> = segs.collect();
    if root == "resources[]" {
        record["resources"] = json!([{"ARN": value, "accountId": s.key.account}]);
    } else {
        let slot = record.get_mut(root)?;
        *slot = Value::Object(Map::new());
        place(slot, &rest, value);
    }
    Some(record)
}

/// Writes `value` at the dotted path under `at`, `[]` segments as one-element arrays.
fn place(at: &mut Value, path: &[&str], value: &str) {
    let Some((first, rest)) = path.split_first() else {
        *at = Value::String(value.to_string());
        return;
    };
    let (name, array) = match first.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (*first, false),
    };
    let mut child = if rest.is_empty() {
        Value::Null
    } else {
        Value::Object(Map::new())
    };
    place(&mut child, rest, value);
    if array {
        child = Value::Array(vec![child]);
    }
    if let Value::Object(m) = at {
        m.insert(name.to_string(), child);
    }
}

fn names_the_resource(record: &Value, s: &Synth<'_>) -> bool {
    let Ok(event) = CloudTrailEvent::from_value(record) else {
        return false;
    };
    let Mapped::Resources(targets) = map(&event) else {
        return false;
    };
    targets.iter().any(|t| {
        t.resource_type == s.key.resource_type
            && t.account == s.key.account
            && t.region == s.key.region
            && match &t.reference {
                Ref::Id(id) => *id == s.key.resource_id,
                Ref::Name(n) => Some(n.as_str()) == s.name,
                Ref::Arn(a) => Some(a.as_str()) == s.arn,
            }
    })
}

/// CloudTrail writes `eventTime` to the second.
fn iso_seconds(ms: i64) -> String {
    let s = iso_ms(ms.div_euclid(1000) * 1000);
    s.strip_suffix(".000Z")
        .map_or(s.clone(), |p| format!("{p}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_queue_message, QueueMessage};
    use driftlog_model::KNOWN_TYPES;

    fn caller() -> Caller {
        Caller::assumed_role(
            "111122223333",
            "deploy",
            "ci-run-481",
            "203.0.113.7",
            "aws-cli/2.15.0",
        )
    }

    /// A plausible id per type: EC2 types need their prefix.
    fn id_for(ty: &str) -> String {
        crate::table::ID_PREFIXES
            .iter()
            .find(|(_, t)| *t == ty)
            .map_or_else(
                || "res-1".to_string(),
                |(p, _)| format!("{p}0123456789abcdef0"),
            )
    }

    /// Every recorded type, and every op, can be written as an event that maps back to the
    /// same resource: the sim attributes all its churn, and the round trip holds.
    #[test]
    fn every_type_and_op_round_trips_through_map() {
        for spec in KNOWN_TYPES {
            let ty = spec.resource_type;
            let region = if spec.global { "global" } else { "eu-west-1" };
            let key = ResourceKey::new("111122223333", region, ty, id_for(ty));
            let arn = match ty.strip_prefix("AWS::IAM::") {
                Some(kind) => format!(
                    "arn:aws:iam::111122223333:{}/thing-name",
                    kind.to_lowercase()
                ),
                None => format!("arn:aws:x:{region}:111122223333:thing/{}", key.resource_id),
            };
            for op in [Op::Create, Op::Modify, Op::Delete] {
                let s = Synth {
                    key: &key,
                    op,
                    name: Some("thing-name"),
                    arn: Some(&arn),
                    event_id: "e-1",
                    event_time_ms: 1_714_557_600_000,
                    caller: &caller(),
                };
                let record = synthesize(&s).unwrap_or_else(|| panic!("{ty} {op:?}"));
                // Through the envelope and the queue-message parser, as the sim feed does.
                let body = eventbridge_envelope(&record, "env-1").to_string();
                let QueueMessage::EventBridge(crate::Envelope::ApiCall(event)) =
                    parse_queue_message(&body).unwrap()
                else {
                    panic!("{ty} {op:?}: not an API call");
                };
                assert!(names_the_resource(&record, &s), "{ty} {op:?}");
                let a = crate::attribute(&event);
                assert_eq!(a.principal, "arn:aws:iam::111122223333:role/deploy");
                assert_eq!(a.session_name.as_deref(), Some("ci-run-481"));
                assert_eq!(a.event_time_ms, 1_714_557_600_000);
            }
        }
    }

    #[test]
    fn paths_with_arrays_are_written_as_aws_does() {
        let key = ResourceKey::new("111122223333", "eu-west-1", "AWS::EC2::Instance", "i-0abc");
        let r = synthesize(&Synth {
            key: &key,
            op: Op::Create,
            name: None,
            arn: None,
            event_id: "e-2",
            event_time_ms: 1_714_557_600_123,
            caller: &Caller::iam_user("111122223333", "alice", "198.51.100.1", "console"),
        })
        .unwrap();
        assert_eq!(r["eventName"], "RunInstances");
        assert_eq!(
            r["responseElements"]["instancesSet"]["items"][0]["instanceId"],
            "i-0abc"
        );
        assert_eq!(r["eventTime"], "2024-05-01T10:00:00Z");
    }
}
