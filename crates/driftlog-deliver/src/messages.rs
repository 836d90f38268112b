//! Config-stream messages (spec §4.1, §4.2) and the gzip of delivered objects (§4.3).

use crate::{ConfigurationItem, Error, Result};
use driftlog_model::time::iso_ms;
use driftlog_model::Status;
use serde_json::{json, Map, Value};
use std::io::Write;

/// SNS refuses messages above 256 KB: a change message larger than this is delivered as an
/// `OversizedConfigurationItemChangeNotification` pointing at an S3 object instead.
pub const SNS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// What SNS counts beside the message body toward its 256 KB (subject, message attributes
/// such as the sequence): a body larger than `SNS_MAX_MESSAGE_BYTES - SNS_ENVELOPE_BYTES`
/// goes through the bucket, so a message never fails for a few bytes of attributes.
pub const SNS_ENVELOPE_BYTES: usize = 1024;

pub(crate) fn item_error(ci: &ConfigurationItem, source: driftlog_model::Error) -> Error {
    Error::Item {
        resource: ci.key.to_string(),
        seq: ci.seq,
        source,
    }
}

fn common(
    mut body: Map<String, Value>,
    message_type: &str,
    record_version: &str,
    now_ms: i64,
) -> Value {
    body.insert("notificationCreationTime".into(), json!(iso_ms(now_ms)));
    body.insert("messageType".into(), json!(message_type));
    body.insert("recordVersion".into(), json!(record_version));
    Value::Object(body)
}

/// `ConfigurationItemChangeNotification`: the item in notification naming with its
/// `configurationItemDiff` (`{}` and `CREATE` for a discovery).
///
/// # Errors
/// [`Error::Item`] when the stored item is not JSON.
pub fn change_notification(ci: &ConfigurationItem, now_ms: i64) -> Result<Value> {
    let mut body = Map::new();
    body.insert(
        "configurationItemDiff".into(),
        ci.diff_json().map_err(|e| item_error(ci, e))?,
    );
    body.insert(
        "configurationItem".into(),
        ci.to_notification_json().map_err(|e| item_error(ci, e))?,
    );
    Ok(common(
        body,
        "ConfigurationItemChangeNotification",
        "1.3",
        now_ms,
    ))
}

/// `ComplianceChangeNotification` (spec §4.2, version 1.0) of a compliance item (type
/// `AWS::Config::ResourceCompliance`, one per rule and resource): the new result from the
/// item, the old one from its diff (`null` when the result is new). An ended result
/// (resource deleted, out of scope, rule deleted) is reported as `NOT_APPLICABLE`.
///
/// # Errors
/// [`Error::Item`] when the stored item is not JSON.
pub fn compliance_change_notification(ci: &ConfigurationItem, now_ms: i64) -> Result<Value> {
    let doc = ci.document().map_err(|e| item_error(ci, e))?;
    let changed = ci.changed_properties().map_err(|e| item_error(ci, e))?;
    let deleted = ci.status.is_deletion();
    let new_cfg = if deleted {
        changed
            .get("Configuration")
            .map(|c| c["previousValue"].clone())
            .unwrap_or(Value::Null)
    } else {
        doc["configuration"].clone()
    };
    let s = |k: &str| new_cfg.get(k).cloned().unwrap_or(Value::Null);
    let rule = s("configRuleName");
    let result =
        |compliance: Value, annotation: Value, ordering: Value, recorded: Value, invoked: Value| {
            json!({
                "evaluationResultIdentifier": {
                    "evaluationResultQualifier": {
                        "configRuleName": rule,
                        "resourceType": s("resourceType"),
                        "resourceId": s("resourceId"),
                    },
                    "orderingTimestamp": ordering,
                },
                "complianceType": compliance,
                "resultRecordedTime": recorded,
                "configRuleInvokedTime": invoked,
                "annotation": annotation,
                "resultToken": Value::Null,
            })
        };
    let at = json!(iso_ms(ci.capture_time_ms));
    let (new, old) = if deleted {
        (
            result(
                json!("NOT_APPLICABLE"),
                json!("The result ended: the resource was deleted or left the rule's scope, or the rule was deleted."),
                at.clone(),
                at.clone(),
                at,
            ),
            result(
                s("complianceType"),
                s("annotation"),
                s("orderingTimestamp"),
                s("resultRecordedTime"),
                s("configRuleInvokedTime"),
            ),
        )
    } else {
        let new = result(
            s("complianceType"),
            s("annotation"),
            s("orderingTimestamp"),
            s("resultRecordedTime"),
            s("configRuleInvokedTime"),
        );
        let old = if ci.status == Status::ResourceDiscovered {
            Value::Null
        } else {
            let prev = |k: &str, path: &str| match changed.get(path) {
                Some(c) => c["previousValue"].clone(),
                None => s(k),
            };
            // Its times ride along with this version (the diff leaves volatile fields out).
            let times = &doc["supplementaryConfiguration"]["previousEvaluationResult"];
            let t = |k: &str| times.get(k).cloned().unwrap_or(Value::Null);
            result(
                prev("complianceType", "Configuration.ComplianceType"),
                prev("annotation", "Configuration.Annotation"),
                t("orderingTimestamp"),
                t("resultRecordedTime"),
                t("configRuleInvokedTime"),
            )
        };
        (new, old)
    };
    let mut body = Map::new();
    body.insert("awsAccountId".into(), json!(ci.key.account));
    body.insert("configRuleName".into(), rule.clone());
    body.insert("configRuleARN".into(), s("configRuleArn"));
    body.insert("resourceType".into(), s("resourceType"));
    body.insert("resourceId".into(), s("resourceId"));
    body.insert("awsRegion".into(), json!(ci.key.region));
    body.insert("newEvaluationResult".into(), new);
    body.insert("oldEvaluationResult".into(), old);
    Ok(common(body, "ComplianceChangeNotification", "1.0", now_ms))
}

/// `ConfigRulesEvaluationStarted` (spec §4.2, version 1.0), sent when rules are evaluated
/// on demand, and its SNS subject.
pub fn rules_evaluation_started(
    account: &str,
    region: &str,
    rules: &[String],
    now_ms: i64,
) -> (String, Value) {
    let mut body = Map::new();
    body.insert("awsAccountId".into(), json!(account));
    body.insert("awsRegion".into(), json!(region));
    body.insert("configRuleNames".into(), json!(rules));
    let subject: String =
        format!("[AWS Config:{region}] Config Rules Evaluation Started for Account {account}")
            .chars()
            .take(100)
            .collect();
    (
        subject,
        common(body, "ConfigRulesEvaluationStarted", "1.0", now_ms),
    )
}

/// The SNS subject of a compliance change: `[AWS Config:<region>] <type> <id> is <TYPE>
/// with <rule> in Account <acct>`, cut to SNS's 100 characters.
pub fn compliance_subject(message: &Value) -> String {
    let q =
        &message["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"];
    let s = format!(
        "[AWS Config:{}] {} {} is {} with {} in Account {}",
        message["awsRegion"].as_str().unwrap_or(""),
        q["resourceType"].as_str().unwrap_or(""),
        q["resourceId"].as_str().unwrap_or(""),
        message["newEvaluationResult"]["complianceType"]
            .as_str()
            .unwrap_or(""),
        q["configRuleName"].as_str().unwrap_or(""),
        message["awsAccountId"].as_str().unwrap_or("")
    );
    s.chars().take(100).collect()
}

/// The SNS subject of a change: `[AWS Config:<region>] <type> <id> Created|Updated|Deleted
/// in Account <acct>`, cut to SNS's 100 characters.
pub fn change_subject(ci: &ConfigurationItem) -> String {
    let verb = match ci.status {
        Status::ResourceDiscovered => "Created",
        Status::ResourceDeleted | Status::ResourceDeletedNotRecorded => "Deleted",
        _ => "Updated",
    };
    let s = format!(
        "[AWS Config:{}] {} {} {verb} in Account {}",
        ci.key.region, ci.key.resource_type, ci.key.resource_id, ci.key.account
    );
    s.chars().take(100).collect()
}

/// `OversizedConfigurationItemChangeNotification` (the full message went to
/// `Ok(("bucket", "key"))`) or `OversizedConfigurationItemChangeDeliveryFailed`
/// (`Err((code, message))`): the item's scalar fields and the S3 delivery summary.
///
/// # Errors
/// [`Error::Item`] when the stored item is not JSON.
pub fn oversized_notification(
    ci: &ConfigurationItem,
    s3: std::result::Result<(&str, &str), (&str, &str)>,
    now_ms: i64,
) -> Result<Value> {
    let full = ci.to_notification_json().map_err(|e| item_error(ci, e))?;
    let mut summary = Map::new();
    summary.insert("changeType".into(), json!(ci.change_type()));
    if let Value::Object(m) = full {
        for (k, v) in m {
            let dropped = matches!(
                k.as_str(),
                "configuration"
                    | "supplementaryConfiguration"
                    | "relationships"
                    | "tags"
                    | "relatedEvents"
            );
            if !dropped {
                summary.insert(k, v);
            }
        }
    }
    let (message_type, delivery) = match s3 {
        Ok((bucket, key)) => (
            "OversizedConfigurationItemChangeNotification",
            json!({"s3BucketLocation": format!("{bucket}/{key}"), "errorCode": null, "errorMessage": null}),
        ),
        Err((code, message)) => (
            "OversizedConfigurationItemChangeDeliveryFailed",
            json!({"s3BucketLocation": null, "errorCode": code, "errorMessage": message}),
        ),
    };
    let mut body = Map::new();
    body.insert("configurationItemSummary".into(), Value::Object(summary));
    body.insert("s3DeliverySummary".into(), delivery);
    Ok(common(body, message_type, "1.0", now_ms))
}

/// `ConfigurationHistoryDeliveryCompleted`.
pub fn history_delivery_completed(bucket: &str, key: &str, now_ms: i64) -> Value {
    let mut body = Map::new();
    body.insert("s3ObjectKey".into(), json!(key));
    body.insert("s3Bucket".into(), json!(bucket));
    common(body, "ConfigurationHistoryDeliveryCompleted", "1.1", now_ms)
}

/// `ConfigurationSnapshotDeliveryStarted`.
pub fn snapshot_delivery_started(snapshot_id: &str, now_ms: i64) -> Value {
    let mut body = Map::new();
    body.insert("configSnapshotId".into(), json!(snapshot_id));
    common(body, "ConfigurationSnapshotDeliveryStarted", "1.1", now_ms)
}

/// `ConfigurationSnapshotDeliveryCompleted`.
pub fn snapshot_delivery_completed(
    snapshot_id: &str,
    bucket: &str,
    key: &str,
    now_ms: i64,
) -> Value {
    let mut body = Map::new();
    body.insert("configSnapshotId".into(), json!(snapshot_id));
    body.insert("s3ObjectKey".into(), json!(key));
    body.insert("s3Bucket".into(), json!(bucket));
    common(
        body,
        "ConfigurationSnapshotDeliveryCompleted",
        "1.1",
        now_ms,
    )
}

/// `ConfigurationSnapshotDeliveryFailed` (AWS does not document its failure fields; these
/// follow the oversized-failure message: `s3Bucket`, `errorCode`, `errorMessage`).
pub fn snapshot_delivery_failed(
    snapshot_id: &str,
    bucket: &str,
    error_code: &str,
    error_message: &str,
    now_ms: i64,
) -> Value {
    let mut body = Map::new();
    body.insert("configSnapshotId".into(), json!(snapshot_id));
    body.insert("s3Bucket".into(), json!(bucket));
    body.insert("errorCode".into(), json!(error_code));
    body.insert("errorMessage".into(), json!(error_message));
    common(body, "ConfigurationSnapshotDeliveryFailed", "1.1", now_ms)
}

/// Gzips a file body, as every delivered object is.
///
/// # Errors
/// [`Error::Gzip`] when the encoder fails.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes_of::item;

    mod bytes_of {
        use driftlog_model::{ConfigurationItem, Document, Observed, ResourceKey, Status};
        use serde_json::json;

        pub(super) fn item(status: Status, version: u64) -> ConfigurationItem {
            let key = ResourceKey::new(
                "111122223333",
                "eu-west-1",
                "AWS::EC2::SecurityGroup",
                "sg-1",
            );
            let doc = Document {
                arn: Some("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1".into()),
                resource_name: Some("web".into()),
                availability_zone: Some("Not Applicable".into()),
                configuration: json!({"groupId": "sg-1", "ipPermissions": []}),
                ..Document::default()
            };
            let o = Observed::new(key.clone(), &doc);
            ConfigurationItem {
                seq: 7,
                version,
                key,
                status,
                capture_time_ms: 1_714_557_600_123,
                doc: o.doc,
                volatile: o.volatile,
                diff: bytes::Bytes::from_static(b"[]"),
                attribution: Vec::new(),
            }
        }
    }

    #[test]
    fn change_notification_has_aws_fields() {
        let ci = item(Status::ResourceDiscovered, 1);
        let m = change_notification(&ci, 1_714_557_601_456).expect("message");
        assert_eq!(m["messageType"], "ConfigurationItemChangeNotification");
        assert_eq!(m["recordVersion"], "1.3");
        assert_eq!(m["notificationCreationTime"], "2024-05-01T10:00:01.456Z");
        assert_eq!(m["configurationItemDiff"]["changeType"], "CREATE");
        assert_eq!(m["configurationItemDiff"]["changedProperties"], json!({}));
        assert_eq!(
            m["configurationItem"]["configurationStateId"],
            1_714_557_600_123_i64
        );
        assert_eq!(
            m["configurationItem"]["ARN"],
            "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1"
        );
        assert_eq!(
            change_subject(&ci),
            "[AWS Config:eu-west-1] AWS::EC2::SecurityGroup sg-1 Created in Account 111122223333"
        );
        assert!(change_subject(&item(Status::ResourceDeleted, 2)).contains(" Deleted "));
    }

    #[test]
    fn oversized_keeps_scalars_only() {
        let ci = item(Status::Ok, 2);
        let m = oversized_notification(&ci, Ok(("b", "k")), 0).expect("message");
        assert_eq!(
            m["messageType"],
            "OversizedConfigurationItemChangeNotification"
        );
        assert_eq!(m["recordVersion"], "1.0");
        let s = &m["configurationItemSummary"];
        assert_eq!(s["changeType"], "UPDATE");
        assert_eq!(s["resourceId"], "sg-1");
        assert!(s.get("configuration").is_none() && s.get("tags").is_none());
        assert_eq!(m["s3DeliverySummary"]["s3BucketLocation"], "b/k");
        let f = oversized_notification(&ci, Err(("NoSuchBucket", "gone")), 0).expect("message");
        assert_eq!(
            f["messageType"],
            "OversizedConfigurationItemChangeDeliveryFailed"
        );
        assert_eq!(f["s3DeliverySummary"]["s3BucketLocation"], Value::Null);
        assert_eq!(f["s3DeliverySummary"]["errorCode"], "NoSuchBucket");
    }

    #[test]
    fn gzip_round_trips_and_delivery_events_have_their_fields() {
        let gz = gzip(b"{\"a\":1}").expect("gzip");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .expect("gunzip");
        assert_eq!(text, "{\"a\":1}");
        let e = history_delivery_completed("bucket", "key", 0);
        assert_eq!(e["messageType"], "ConfigurationHistoryDeliveryCompleted");
        assert_eq!(e["recordVersion"], "1.1");
        assert_eq!(snapshot_delivery_started("id", 0)["configSnapshotId"], "id");
        assert_eq!(
            snapshot_delivery_completed("id", "b", "k", 0)["s3ObjectKey"],
            "k"
        );
        assert_eq!(
            snapshot_delivery_failed("id", "b", "AccessDenied", "no", 0)["errorCode"],
            "AccessDenied"
        );
    }
}
