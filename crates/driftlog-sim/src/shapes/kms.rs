//! KMS keys and CloudTrail trails in AWS Config's shape (reference items `AWS_KMS_Key.json`,
//! `AWS_CloudTrail_Trail.json`): bean camelCase (`awsaccountId`, `trailARN`), the key
//! policy as GetKeyPolicy's pretty-printed text, no relationships (a trail names its bucket
//! and key only in its configuration).

use super::svc::Svc;
use super::tmpl::{put, template};
use super::{object_mut, tag_list, Tags, Top};
use crate::ids::iso;
use crate::types;
use driftlog_model::ResourceKey;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

/// The key id (a UUID) at the end of a key ARN.
pub(crate) fn key_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn key_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// A customer-managed symmetric key with ARN `arn`.
pub(crate) fn key(
    at: Svc<'_>,
    arn: &str,
    description: &str,
    created_ms: i64,
    rotation: bool,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let id = key_id(arn);
    let (mut c, mut supp) = template("KMS_Key");
    put(&mut c, "/keyId", id);
    put(&mut c, "/arn", arn);
    put(&mut c, "/creationDate", created_ms);
    put(&mut c, "/description", description);
    put(&mut c, "/awsaccountId", at.account);
    supp.insert("KeyRotationStatus".into(), rotation.into());
    supp.insert("Policy".into(), key_policy(at.account).into());
    let doc = Top {
        arn: arn.to_string(),
        name: None,
        az: "Not Applicable",
        created: Some(iso(created_ms)),
        tags,
        relationships: Vec::new(),
    }
    .build(c, supp);
    (at.key(types::KMS_KEY, id), doc)
}

/// Turns automatic rotation on or off.
pub(crate) fn set_rotation(v: &mut Value, on: bool) -> bool {
    let Some(supp) = object_mut(v, &["supplementaryConfiguration"]) else {
        return false;
    };
    if supp.get("KeyRotationStatus").and_then(Value::as_bool) == Some(on)
        || !supp.contains_key("KeyRotationStatus")
    {
        return false;
    }
    supp.insert("KeyRotationStatus".into(), on.into());
    true
}

/// Schedules the key for deletion in `days` days (`Some`) or cancels a scheduled deletion.
pub(crate) fn schedule_deletion(v: &mut Value, days: Option<i64>, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let pending = c.get("keyState").and_then(Value::as_str) == Some("PendingDeletion");
    if pending == days.is_some() || !c.contains_key("keyState") {
        return false;
    }
    c.insert(
        "keyState".into(),
        json!(if days.is_some() {
            "PendingDeletion"
        } else {
            "Disabled"
        }),
    );
    c.insert("enabled".into(), false.into());
    c.insert("deletionDate".into(), json!(days.map(|d| now_ms + d * DAY)));
    c.insert("pendingDeletionWindowInDays".into(), json!(days));
    true
}

/// What a trail names.
pub(crate) struct TrailSpec<'a> {
    pub name: &'a str,
    pub bucket: &'a str,
    pub kms: &'a str,
    pub topic: Option<(&'a str, &'a str)>,
    pub multi_region: bool,
    pub validation: bool,
}

pub(crate) fn trail(at: Svc<'_>, t: &TrailSpec<'_>, tags: &Tags) -> (ResourceKey, Value) {
    let arn = at.arn("cloudtrail", &format!("trail/{}", t.name));
    let (mut c, mut supp) = template("CloudTrail_Trail");
    put(&mut c, "/name", t.name);
    put(&mut c, "/s3BucketName", t.bucket);
    put(&mut c, "/s3KeyPrefix", t.name);
    put(&mut c, "/snsTopicName", json!(t.topic.map(|(n, _)| n)));
    put(&mut c, "/snsTopicARN", json!(t.topic.map(|(_, a)| a)));
    put(&mut c, "/isMultiRegionTrail", t.multi_region);
    put(&mut c, "/homeRegion", at.region);
    put(&mut c, "/trailARN", arn.clone());
    put(&mut c, "/logFileValidationEnabled", t.validation);
    put(
        &mut c,
        "/cloudWatchLogsLogGroupArn",
        at.arn(
            "logs",
            &format!("log-group:aws-cloudtrail-logs-{}:*", t.name),
        ),
    );
    put(
        &mut c,
        "/cloudWatchLogsRoleArn",
        format!("arn:aws:iam::{}:role/CloudTrail-CloudWatchLogs", at.account),
    );
    put(&mut c, "/kmsKeyId", t.kms);
    supp.insert("Tags".into(), tag_list(tags));
    let doc = Top {
        arn,
        name: None,
        az: "Regional",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(c, supp);
    (at.key(types::TRAIL, t.name), doc)
}

/// Flips log-file validation.
pub(crate) fn toggle_validation(v: &mut Value) -> bool {
    match super::at_mut(v, &["configuration", "logFileValidationEnabled"]) {
        Some(Value::Bool(b)) => {
            *b = !*b;
            true
        }
        _ => false,
    }
}
