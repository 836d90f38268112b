//! CloudTrail trails, shaped as AWS Config records them (ci-shapes `AWS_CloudTrail_Trail`):
//! DescribeTrails' members in bean camelCase (`snsTopicARN`, `trailARN`) and the tags as
//! `[{key, value}]` in `supplementaryConfiguration`.
//!
//! A trail is recorded in its home region only: the shadow copies a multi-region trail
//! shows in the other regions are not resources of their own. Logging status and event
//! selectors are not part of AWS Config's item (not in its schema nor in real items), so
//! GetTrailStatus and GetEventSelectors are not called.

use crate::reads::{call, tags_of, AT_ONCE};
use crate::shape::{observe, repeated_token, Listing};
use crate::{RegionClients, Service};
use aws_sdk_cloudtrail::types::Trail;
use driftlog_model::{Document, Observed};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map};

/// AWS Config's type name.
pub(crate) const TRAIL: &str = "AWS::CloudTrail::Trail";

/// Every CloudTrail type.
pub(crate) const TYPES: &[&str] = &[TRAIL];

/// Lists the trails whose home is this region (one request: DescribeTrails is not paged);
/// `ids` (trail names) narrows it.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let trails = match call(
        c.gate(Service::CloudTrail),
        "cloudtrail:DescribeTrails",
        c.cloudtrail
            .describe_trails()
            .include_shadow_trails(false)
            .send(),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    let here: Vec<&Trail> = trails
        .trail_list()
        .iter()
        .filter(|t| t.home_region() == Some(c.region.as_str()))
        // An organization trail seen from a member account belongs to the management
        // account, which records it.
        .filter(|t| {
            t.trail_arn()
                .is_none_or(|a| a.split(':').nth(4) == Some(c.account.as_str()))
        })
        .filter(|t| {
            let n = t.name().unwrap_or_default();
            ids.is_none_or(|ids| ids.iter().any(|i| i == n))
        })
        .collect();
    let results: Vec<Result<Observed, PollError>> =
        stream::iter(here.into_iter().map(|t| read(c, t)).collect::<Vec<_>>())
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
    for r in results {
        match r {
            Ok(o) => out.resources.push(o),
            Err(e) => out.fail(e),
        }
    }
    out
}

// `snsTopicName` is deprecated in the API but still part of AWS Config's item.
#[allow(deprecated)]
async fn read(c: &RegionClients, t: &Trail) -> Result<Observed, PollError> {
    let name = t.name().unwrap_or_default();
    let arn = t.trail_arn().map(str::to_string).unwrap_or_else(|| {
        format!(
            "arn:{}:cloudtrail:{}:{}:trail/{name}",
            crate::shape::partition(&c.region),
            c.region,
            c.account
        )
    });
    let tags = trail_tags(c, &arn).await?;
    let (tag_list, tag_map) = tags_of(tags.iter().map(|t| (Some(t.key()), t.value())));
    let mut sup = Map::new();
    sup.insert("Tags".into(), tag_list);
    let configuration = json!({
        "name": t.name(),
        "s3BucketName": t.s3_bucket_name(),
        "s3KeyPrefix": t.s3_key_prefix(),
        "snsTopicName": t.sns_topic_name(),
        "snsTopicARN": t.sns_topic_arn(),
        "includeGlobalServiceEvents": t.include_global_service_events(),
        "isMultiRegionTrail": t.is_multi_region_trail(),
        "homeRegion": t.home_region(),
        "trailARN": t.trail_arn(),
        "logFileValidationEnabled": t.log_file_validation_enabled(),
        "cloudWatchLogsLogGroupArn": t.cloud_watch_logs_log_group_arn(),
        "cloudWatchLogsRoleArn": t.cloud_watch_logs_role_arn(),
        "kmsKeyId": t.kms_key_id(),
        "hasCustomEventSelectors": t.has_custom_event_selectors(),
        "hasInsightSelectors": t.has_insight_selectors(),
        "isOrganizationTrail": t.is_organization_trail(),
    });
    let doc = Document {
        arn: Some(arn),
        resource_name: None,
        availability_zone: Some("Regional".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: sup,
    };
    Ok(observe(&c.account, &c.region, TRAIL, name, &doc))
}

/// Every tag of one trail, page by page.
async fn trail_tags(
    c: &RegionClients,
    arn: &str,
) -> Result<Vec<aws_sdk_cloudtrail::types::Tag>, PollError> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let sent = token.take();
        let page = call(
            c.gate(Service::CloudTrail),
            "cloudtrail:ListTags",
            c.cloudtrail
                .list_tags()
                .resource_id_list(arn)
                .set_next_token(sent.clone())
                .send(),
        )
        .await?;
        for r in page.resource_tag_list() {
            tags.extend(r.tags_list().iter().cloned());
        }
        match page.next_token() {
            Some(t) if sent.as_deref() == Some(t) => {
                return Err(repeated_token("cloudtrail:ListTags"))
            }
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(tags)
}
