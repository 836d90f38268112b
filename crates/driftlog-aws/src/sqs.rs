//! SQS queues, shaped as AWS Config records them: the GetQueueAttributes(All) map under its
//! own PascalCase names plus `QueueUrl` and `QueueName` (numbers as numbers, the two
//! timestamps as the epoch-seconds text the API gives, policies as JSON text), keyed by
//! queue URL; tags only as the top-level map.

use crate::reads::{call, fan_out, optional, wanted};
use crate::shape::{for_each_page, Listing};
use crate::{RegionClients, Service};
use aws_sdk_sqs::types::QueueAttributeName;
use driftlog_model::Document;
use driftlog_poll::PollError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// AWS Config's type name.
pub(crate) const QUEUE: &str = "AWS::SQS::Queue";
pub(crate) const TYPES: &[&str] = &[QUEUE];

/// The attributes AWS Config keeps, in its order, and whether each is a number. The
/// message counters are left out: they move without any configuration change.
const ATTRIBUTES: &[(&str, bool)] = &[
    ("QueueArn", false),
    ("Policy", false),
    ("VisibilityTimeout", true),
    ("MaximumMessageSize", true),
    ("MessageRetentionPeriod", true),
    ("CreatedTimestamp", false),
    ("LastModifiedTimestamp", false),
    ("DelaySeconds", true),
    ("ReceiveMessageWaitTimeSeconds", true),
    ("RedrivePolicy", false),
    ("RedriveAllowPolicy", false),
    ("FifoQueue", false),
    ("ContentBasedDeduplication", false),
    ("DeduplicationScope", false),
    ("FifoThroughputLimit", false),
    ("KmsMasterKeyId", false),
    ("KmsDataKeyReusePeriodSeconds", true),
    ("SqsManagedSseEnabled", false),
];

/// A queue deleted between the listing and its read: simply gone.
const GONE: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Lists the region's queues; `ids` (queue URLs) narrows it.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut urls = Vec::new();
    // Without MaxResults SQS returns at most 1000 queues and no token.
    let req = c.sqs.list_queues().max_results(1000);
    let err = for_each_page!(c.gate(Service::Sqs), "sqs:ListQueues", req, |page| {
        urls.extend(page.queue_urls().iter().filter(|u| wanted(ids, u)).cloned());
    });
    let read = fan_out(urls.iter().map(|u| queue(c, u)).collect()).await;
    for r in read {
        match r {
            Ok(Some(doc)) => out.add(&c.account, &c.region, QUEUE, &doc.0, &doc.1),
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

async fn queue(c: &RegionClients, url: &str) -> Result<Option<(String, Document)>, PollError> {
    let gate = c.gate(Service::Sqs);
    let Some(attrs) = optional(
        gate,
        "sqs:GetQueueAttributes",
        c.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send(),
        GONE,
    )
    .await?
    else {
        return Ok(None);
    };
    let tags = call(
        gate,
        "sqs:ListQueueTags",
        c.sqs.list_queue_tags().queue_url(url).send(),
    )
    .await?;
    let a: HashMap<&str, &str> = attrs
        .attributes()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    let tags: BTreeMap<String, String> = tags
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Some((url.to_string(), shape(url, &a, tags))))
}

fn shape(url: &str, a: &HashMap<&str, &str>, tags: BTreeMap<String, String>) -> Document {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let mut conf = Map::new();
    conf.insert("QueueUrl".into(), json!(url));
    conf.insert("QueueName".into(), json!(name));
    for (k, number) in ATTRIBUTES {
        let v = match a.get(k) {
            Some(v) if *number => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
            Some(v) => json!(v),
            None => Value::Null,
        };
        conf.insert((*k).to_string(), v);
    }
    let created = a
        .get("CreatedTimestamp")
        // Whole seconds from AWS; moto adds a fraction.
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| driftlog_model::time::iso_ms((s * 1000.0) as i64));
    Document {
        arn: a.get("QueueArn").map(|s| s.to_string()),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Regional".into()),
        resource_creation_time: created,
        tags,
        relationships: Vec::new(),
        configuration: Value::Object(conf),
        supplementary_configuration: Map::new(),
    }
}
