//! CloudWatch metric alarms, shaped as AWS Config records them: Java-bean camelCase of the
//! SDK v1 members (hence `okactions`), `alarmConfigurationUpdatedTimestamp` in epoch
//! milliseconds, the alarm state left out (a state change is not a configuration change).

use crate::reads::{call, epoch_ms, fan_out, opt_str};
use crate::shape::{for_each_page, tag_pairs, Listing};
use crate::{RegionClients, Service};
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, MetricAlarm};
use driftlog_model::Document;
use driftlog_poll::PollError;
use serde_json::{json, Map, Value};

/// AWS Config's type name.
pub(crate) const ALARM: &str = "AWS::CloudWatch::Alarm";
pub(crate) const TYPES: &[&str] = &[ALARM];

/// DescribeAlarms takes at most 100 names.
const MAX_NAMES: usize = 100;

/// Lists the region's metric alarms; `ids` (alarm names) narrows the request itself.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    match ids {
        Some(ids) if ids.len() > MAX_NAMES => {
            let mut out = Listing::default();
            for chunk in ids.chunks(MAX_NAMES) {
                let l = list_some(c, Some(chunk)).await;
                out.resources.extend(l.resources);
                if let Some(e) = l.error {
                    out.fail(e);
                }
            }
            out
        }
        _ => list_some(c, ids).await,
    }
}

async fn list_some(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut alarms = Vec::new();
    let req = c
        .cloudwatch
        .describe_alarms()
        .alarm_types(AlarmType::MetricAlarm)
        .set_alarm_names(ids.map(<[String]>::to_vec))
        .max_records(100);
    let err = for_each_page!(
        c.gate(Service::CloudWatch),
        "cloudwatch:DescribeAlarms",
        req,
        |page| {
            alarms.extend(page.metric_alarms().iter().cloned());
        }
    );
    let read = fan_out(alarms.iter().map(|a| with_tags(c, a)).collect()).await;
    for r in read {
        match r {
            Ok((a, tags)) => {
                let doc = shape(a, &tags);
                out.add(
                    &c.account,
                    &c.region,
                    ALARM,
                    a.alarm_name().unwrap_or_default(),
                    &doc,
                );
            }
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

/// An alarm with its tags.
async fn with_tags<'a>(
    c: &RegionClients,
    a: &'a MetricAlarm,
) -> Result<(&'a MetricAlarm, Vec<(String, String)>), PollError> {
    let tags = call(
        c.gate(Service::CloudWatch),
        "cloudwatch:ListTagsForResource",
        c.cloudwatch
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap_or_default())
            .send(),
    )
    .await?;
    let pairs = tags
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok((a, pairs))
}

fn dimensions(d: &[Dimension]) -> Value {
    d.iter()
        .map(|d| json!({"name": d.name(), "value": d.value()}))
        .collect()
}

/// One alarm's document.
pub(crate) fn shape(a: &MetricAlarm, tags: &[(String, String)]) -> Document {
    let (_, tag_map) = tag_pairs(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let metrics: Value = a
        .metrics()
        .iter()
        .map(|m| {
            json!({
                "id": m.id(),
                "metricStat": m.metric_stat().map(|s| json!({
                    "metric": s.metric().map(|x| json!({
                        "namespace": x.namespace(),
                        "metricName": x.metric_name(),
                        "dimensions": dimensions(x.dimensions()),
                    })),
                    "period": s.period(),
                    "stat": s.stat(),
                    "unit": opt_str(s.unit().map(|u| u.as_str())),
                })),
                "expression": m.expression(),
                "label": m.label(),
                "returnData": m.return_data(),
                "period": m.period(),
                "accountId": m.account_id(),
            })
        })
        .collect();
    let configuration = json!({
        "alarmName": a.alarm_name(),
        "alarmArn": a.alarm_arn(),
        "alarmDescription": a.alarm_description(),
        "alarmConfigurationUpdatedTimestamp": epoch_ms(a.alarm_configuration_updated_timestamp()),
        "actionsEnabled": a.actions_enabled(),
        "okactions": a.ok_actions(),
        "alarmActions": a.alarm_actions(),
        "insufficientDataActions": a.insufficient_data_actions(),
        "metricName": a.metric_name(),
        "namespace": a.namespace(),
        "statistic": opt_str(a.statistic().map(|s| s.as_str())),
        "extendedStatistic": a.extended_statistic(),
        "dimensions": dimensions(a.dimensions()),
        "period": a.period(),
        "unit": opt_str(a.unit().map(|u| u.as_str())),
        "evaluationPeriods": a.evaluation_periods(),
        "datapointsToAlarm": a.datapoints_to_alarm(),
        "threshold": a.threshold(),
        "comparisonOperator": opt_str(a.comparison_operator().map(|o| o.as_str())),
        "treatMissingData": a.treat_missing_data(),
        "evaluateLowSampleCountPercentile": a.evaluate_low_sample_count_percentile(),
        "metrics": metrics,
        "thresholdMetricId": a.threshold_metric_id(),
        // In AWS Config's schema, with no API member behind it: unknown, so null.
        "creationId": Value::Null,
    });
    Document {
        arn: a.alarm_arn().map(str::to_string),
        resource_name: a.alarm_name().map(str::to_string),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: Map::new(),
    }
}
