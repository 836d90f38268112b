//! SNS topics and SQS queues in AWS Config's shape (reference items `AWS_SNS_Topic.json`,
//! `AWS_SQS_Queue.json`): attribute maps under the service's own PascalCase names, policy
//! documents as JSON text, and no relationships.

use super::svc::{secs_text, Svc};
use super::{object_mut, tag_list, Tags, Top};
use crate::ids::iso;
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const FEEDBACK: &[&str] = &["Application", "HTTP", "Lambda", "SQS", "Firehose"];

/// The ARN of topic `name`, which is also its resource id.
pub(crate) fn topic_arn(at: Svc<'_>, name: &str) -> String {
    at.arn("sns", name)
}

fn topic_policy(at: Svc<'_>, arn: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": at.account}},
        }],
    })
    .to_string()
}

const DELIVERY: &str = "{\"http\":{\"defaultHealthyRetryPolicy\":{\"minDelayTarget\":20,\"maxDelayTarget\":20,\"numRetries\":3,\"numMaxDelayRetries\":0,\"numNoDelayRetries\":0,\"numMinDelayRetries\":0,\"backoffFunction\":\"linear\"},\"disableSubscriptionOverrides\":false}}";

/// A topic; `kms` is its key (`alias/aws/sns` or a key ARN), `None` when unencrypted.
pub(crate) fn topic(
    rng: &mut Rng,
    at: Svc<'_>,
    name: &str,
    kms: Option<&str>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = topic_arn(at, name);
    let fifo = name.ends_with(".fifo");
    let mut c = Map::new();
    c.insert("Policy".into(), topic_policy(at, &arn).into());
    c.insert("Owner".into(), at.account.into());
    c.insert("TopicArn".into(), arn.clone().into());
    c.insert("EffectiveDeliveryPolicy".into(), DELIVERY.into());
    c.insert("DisplayName".into(), name.replace('-', " ").into());
    c.insert("KmsMasterKeyId".into(), json!(kms));
    c.insert("FifoTopic".into(), fifo.to_string().into());
    c.insert("ContentBasedDeduplication".into(), "false".into());
    let feedback = rng.u8(..4) == 0;
    for kind in FEEDBACK {
        let on = feedback && *kind == "SQS";
        let role =
            |what: &str| on.then(|| format!("arn:aws:iam::{}:role/SNS{what}Feedback", at.account));
        c.insert(
            format!("{kind}SuccessFeedbackRoleArn"),
            json!(role("Success")),
        );
        c.insert(
            format!("{kind}FailureFeedbackRoleArn"),
            json!(role("Failure")),
        );
        c.insert(
            format!("{kind}SuccessFeedbackSampleRate"),
            json!(on.then_some(100)),
        );
    }
    let mut supp = Map::new();
    supp.insert("Tags".into(), tag_list(tags));
    let doc = Top {
        arn: arn.clone(),
        name: Some(name),
        az: "Not Applicable",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(Value::Object(c), supp);
    (at.key(types::SNS_TOPIC, &arn), doc)
}

/// Turns a topic's or queue's encryption on (`key`) or off (`None`). False when already so.
pub(crate) fn set_topic_kms(v: &mut Value, key: Option<&str>) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("KmsMasterKeyId").and_then(Value::as_str) == key {
        return false;
    }
    c.insert("KmsMasterKeyId".into(), json!(key));
    true
}

/// What a queue's attributes depend on.
pub(crate) struct QueueSpec<'a> {
    pub name: &'a str,
    /// The dead-letter queue's ARN, when it has one.
    pub dlq: Option<&'a str>,
    /// Its KMS key (`alias/aws/sqs` or a key ARN); `None` for SSE-SQS or no encryption.
    pub kms: Option<&'a str>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// The URL of queue `name`, which is also its resource id.
pub(crate) fn queue_url(at: Svc<'_>, name: &str) -> String {
    format!(
        "https://sqs.{}.amazonaws.com/{}/{name}",
        at.region, at.account
    )
}

pub(crate) fn queue(
    rng: &mut Rng,
    at: Svc<'_>,
    q: &QueueSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let url = queue_url(at, q.name);
    let arn = at.arn("sqs", q.name);
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__owner_statement",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", at.account)},
            "Action": "SQS:*",
            "Resource": arn,
        }],
    })
    .to_string();
    let redrive = q
        .dlq
        .map(|d| json!({"deadLetterTargetArn": d, "maxReceiveCount": 5}).to_string());
    let created = q.created_ms.div_euclid(1000) * 1000;
    let configuration = json!({
        "QueueUrl": url,
        "QueueName": q.name,
        "QueueArn": arn,
        "Policy": policy,
        "VisibilityTimeout": *crate::ids::pick(rng, &[30, 60, 120, 300]).unwrap_or(&30),
        "MaximumMessageSize": 262_144,
        "MessageRetentionPeriod": *crate::ids::pick(rng, &[345_600, 1_209_600, 86_400]).unwrap_or(&345_600),
        "CreatedTimestamp": secs_text(q.created_ms),
        "LastModifiedTimestamp": secs_text(q.modified_ms),
        "DelaySeconds": 0,
        "ReceiveMessageWaitTimeSeconds": if rng.bool() { 20 } else { 0 },
        "RedrivePolicy": redrive,
        "RedriveAllowPolicy": null,
        "FifoQueue": null,
        "ContentBasedDeduplication": null,
        "DeduplicationScope": null,
        "FifoThroughputLimit": null,
        "KmsMasterKeyId": q.kms,
        "KmsDataKeyReusePeriodSeconds": q.kms.map(|_| 300),
        "SqsManagedSseEnabled": (q.kms.is_none() && rng.bool()).to_string(),
    });
    let doc = Top {
        arn,
        name: Some(q.name),
        az: "Regional",
        created: Some(iso(created)),
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::SQS_QUEUE, &url), doc)
}

/// Sets a queue's encryption: a KMS key, or none at all (`None`, SSE-SQS off too). False
/// when nothing changes.
pub(crate) fn set_queue_kms(v: &mut Value, key: Option<&str>, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("KmsMasterKeyId").and_then(Value::as_str) == key {
        return false;
    }
    c.insert("KmsMasterKeyId".into(), json!(key));
    c.insert(
        "KmsDataKeyReusePeriodSeconds".into(),
        json!(key.map(|_| 300)),
    );
    c.insert("SqsManagedSseEnabled".into(), "false".into());
    c.insert("LastModifiedTimestamp".into(), secs_text(now_ms).into());
    true
}

/// Changes a queue's retention period (an ordinary change).
pub(crate) fn set_queue_retention(v: &mut Value, seconds: u32, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("MessageRetentionPeriod").and_then(Value::as_u64) == Some(u64::from(seconds)) {
        return false;
    }
    c.insert("MessageRetentionPeriod".into(), seconds.into());
    c.insert("LastModifiedTimestamp".into(), secs_text(now_ms).into());
    true
}
