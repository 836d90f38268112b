//! SNS topics, shaped as AWS Config records them: the GetTopicAttributes map under its own
//! PascalCase names (policies as JSON text, sample rates as numbers, unset attributes
//! null), tags as supplementary `[{key, value}]`.

use crate::reads::{call, fan_out, optional, wanted};
use crate::shape::{for_each_page, tag_pairs, Listing};
use crate::{RegionClients, Service};
use driftlog_model::Document;
use driftlog_poll::PollError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// AWS Config's type name.
pub(crate) const TOPIC: &str = "AWS::SNS::Topic";
pub(crate) const TYPES: &[&str] = &[TOPIC];

/// The attributes AWS Config keeps, in its order; the sample rates are numbers.
const ATTRIBUTES: &[&str] = &[
    "Policy",
    "Owner",
    "TopicArn",
    "EffectiveDeliveryPolicy",
    "DisplayName",
    "KmsMasterKeyId",
    "FifoTopic",
    "ContentBasedDeduplication",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "SQSSuccessFeedbackRoleArn",
    "SQSFailureFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
];

/// A topic deleted between the listing and its read: simply gone.
const GONE: &[&str] = &["NotFound", "NotFoundException"];

/// Lists the region's topics; `ids` (topic ARNs) narrows it.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut arns = Vec::new();
    let err = for_each_page!(
        c.gate(Service::Sns),
        "sns:ListTopics",
        c.sns.list_topics(),
        |page| {
            arns.extend(
                page.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn())
                    .filter(|a| wanted(ids, a))
                    .map(str::to_string),
            );
        }
    );
    let read = fan_out(arns.iter().map(|a| topic(c, a)).collect()).await;
    for r in read {
        match r {
            Ok(Some((arn, doc))) => out.add(&c.account, &c.region, TOPIC, &arn, &doc),
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

async fn topic(c: &RegionClients, arn: &str) -> Result<Option<(String, Document)>, PollError> {
    let gate = c.gate(Service::Sns);
    let Some(attrs) = optional(
        gate,
        "sns:GetTopicAttributes",
        c.sns.get_topic_attributes().topic_arn(arn).send(),
        GONE,
    )
    .await?
    else {
        return Ok(None);
    };
    let tags = call(
        gate,
        "sns:ListTagsForResource",
        c.sns.list_tags_for_resource().resource_arn(arn).send(),
    )
    .await?;
    let empty = HashMap::new();
    let a = attrs.attributes().unwrap_or(&empty);
    let (tag_list, tag_map) = tag_pairs(tags.tags().iter().map(|t| (t.key(), t.value())));
    Ok(Some((arn.to_string(), shape(arn, a, tag_list, tag_map))))
}

/// One topic's document from its attributes and tags.
fn shape(
    arn: &str,
    a: &HashMap<String, String>,
    tag_list: Value,
    tag_map: std::collections::BTreeMap<String, String>,
) -> Document {
    let mut conf = Map::new();
    for k in ATTRIBUTES {
        let v = match a.get(*k) {
            // The API gives numbers as text; AWS Config's schema types them integer.
            Some(v) if k.ends_with("SampleRate") => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
            Some(v) => json!(v),
            None => Value::Null,
        };
        conf.insert((*k).to_string(), v);
    }
    let mut sup = Map::new();
    sup.insert("Tags".into(), tag_list);
    Document {
        arn: Some(arn.to_string()),
        resource_name: arn.rsplit(':').next().map(str::to_string),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: Vec::new(),
        configuration: Value::Object(conf),
        supplementary_configuration: sup,
    }
}
