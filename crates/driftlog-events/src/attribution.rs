//! Who made a change: the attribution of a CloudTrail event.

use crate::event::CloudTrailEvent;
pub use driftlog_model::Attribution;

/// The attribution of `event`.
///
/// The principal is chosen by `userIdentity.type`: `AssumedRole` gives the session
/// issuer's ARN and the session name (last segment of
/// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`); `AWSService` gives `invokedBy`; other
/// types (`IAMUser`, `Root`, `FederatedUser`, ...) give `arn`. When those are absent the
/// next best is used (`arn`, `principalId`, `accountId`), and `unknown` when nothing names
/// the caller, so an item never lacks a principal once an event was matched to it.
pub fn attribute(event: &CloudTrailEvent) -> Attribution {
    let ui = &event.user_identity;
    let issuer_arn = ui
        .session_context
        .as_ref()
        .and_then(|sc| sc.session_issuer.as_ref())
        .and_then(|si| si.arn.clone());
    let (principal, session_name) = match ui.identity_type.as_deref() {
        Some("AssumedRole") => {
            let session = ui.arn.as_deref().and_then(assumed_role_session);
            (issuer_arn.or_else(|| ui.arn.clone()), session)
        }
        Some("AWSService") => (ui.invoked_by.clone().or_else(|| ui.arn.clone()), None),
        _ => (ui.arn.clone(), None),
    };
    let principal = principal
        .or_else(|| ui.arn.clone())
        .or_else(|| ui.principal_id.clone())
        .or_else(|| ui.account_id.clone())
        .unwrap_or_else(|| "unknown".to_string());
    Attribution {
        event_id: event.event_id.clone(),
        event_name: event.event_name.clone(),
        event_source: event.event_source.clone(),
        event_time_ms: event.event_time_ms,
        principal,
        session_name,
        source_ip: event.source_ip_address.clone(),
        user_agent: event.user_agent.clone(),
    }
}

/// `SESSION` of `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
fn assumed_role_session(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let rest = resource.strip_prefix("assumed-role/")?;
    let (_role, session) = rest.split_once('/')?;
    (!session.is_empty()).then(|| session.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(identity: serde_json::Value) -> CloudTrailEvent {
        CloudTrailEvent::from_value(&json!({
            "eventID": "e-1",
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.7",
            "userIdentity": identity,
        }))
        .unwrap()
    }

    #[test]
    fn principal_by_identity_type() {
        let cases = [
            (
                json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/ci-run-481",
                       "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/deploy", "userName": "deploy"}}}),
                "arn:aws:iam::111122223333:role/deploy",
                Some("ci-run-481"),
            ),
            (
                json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/ci-run-481"}),
                "arn:aws:sts::111122223333:assumed-role/deploy/ci-run-481",
                Some("ci-run-481"),
            ),
            (
                json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}),
                "arn:aws:iam::111122223333:user/alice",
                None,
            ),
            (
                json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "principalId": "111122223333"}),
                "arn:aws:iam::111122223333:root",
                None,
            ),
            (
                json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}),
                "autoscaling.amazonaws.com",
                None,
            ),
            (
                json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "444455556666"}),
                "AIDAEXAMPLE",
                None,
            ),
            (json!({}), "unknown", None),
        ];
        for (identity, principal, session) in cases {
            let a = attribute(&event(identity.clone()));
            assert_eq!(a.principal, principal, "{identity}");
            assert_eq!(a.session_name.as_deref(), session, "{identity}");
        }
    }

    #[test]
    fn describe_reads_as_one_line() {
        let a = attribute(&event(json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/deploy/ci-run-481",
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/deploy"}}
        })));
        assert_eq!(
            a.describe(),
            "by arn:aws:iam::111122223333:role/deploy (session ci-run-481) via AuthorizeSecurityGroupIngress from 203.0.113.7"
        );
    }
}
