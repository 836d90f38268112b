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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    use driftlog_model::schema::PropertySchema;

    const REFERENCE: &str =
        include_str!("../../driftlog-sim/tests/fixtures/ci-shapes/AWS_CloudWatch_Alarm.json");
    const SCHEMA: &str = include_str!(
        "../../../tests/fixtures/aws-config-schema/AWS::CloudWatch::Alarm.properties.json"
    );

    /// The reference item's alarm, as DescribeAlarms gives it.
    fn alarm(actions: bool) -> MetricAlarm {
        let mut b = MetricAlarm::builder()
            .alarm_name("api-5xx-high")
            .alarm_arn("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:api-5xx-high")
            .alarm_description("5xx responses on the public ALB above 10 per minute")
            .alarm_configuration_updated_timestamp(DateTime::from_millis(1_713_945_600_123))
            .actions_enabled(actions)
            .metric_name("HTTPCode_Target_5XX_Count")
            .namespace("AWS/ApplicationELB")
            .statistic(Statistic::Sum)
            .dimensions(
                Dimension::builder()
                    .name("LoadBalancer")
                    .value("app/public-alb/0a1b2c3d4e5f6071")
                    .build(),
            )
            .period(60)
            .evaluation_periods(5)
            .datapoints_to_alarm(3)
            .threshold(10.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching");
        if actions {
            b = b.alarm_actions("arn:aws:sns:eu-west-1:111122223333:app-events");
        }
        b.build()
    }

    /// Keys of the reference's configuration that ours lacks, or whose JSON type differs.
    fn differences(reference: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
        match (reference, ours) {
            (Value::Object(r), Value::Object(o)) => {
                for (k, v) in r {
                    match o.get(k) {
                        None => out.push(format!("{path}.{k} missing")),
                        Some(ov) => differences(v, ov, &format!("{path}.{k}"), out),
                    }
                }
            }
            (Value::Array(r), Value::Array(o)) => {
                if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                    differences(r0, o0, &format!("{path}.0"), out);
                }
            }
            (r, o)
                if !r.is_null()
                    && !o.is_null()
                    && std::mem::discriminant(r) != std::mem::discriminant(o) =>
            {
                out.push(format!("{path}: {r} vs {o}"));
            }
            _ => {}
        }
    }

    /// moto cannot answer the SDK's CloudWatch protocol (CBOR), so the alarm's shape is
    /// checked here, from SDK values, against the reference item and AWS Config's schema.
    #[test]
    fn alarms_are_shaped_as_the_reference_item() {
        let reference: Value = serde_json::from_str(REFERENCE).expect("reference");
        let doc = shape(&alarm(true), &[("team".into(), "web".into())]).to_value();
        assert_eq!(doc["configuration"], reference["configuration"]);
        assert_eq!(doc["availabilityZone"], "Not Applicable");
        assert_eq!(doc["arn"], reference["ARN"]);
        assert_eq!(doc["resourceName"], "api-5xx-high");
        assert_eq!(doc["tags"]["team"], "web");
        let schema = PropertySchema::parse(SCHEMA).expect("schema");
        assert!(schema.check(&doc).is_empty(), "{:?}", schema.check(&doc));

        // Without actions: empty lists, not nulls, and actions off.
        let silent = shape(&alarm(false), &[]).to_value();
        let mut diffs = Vec::new();
        differences(
            &reference["configuration"],
            &silent["configuration"],
            "configuration",
            &mut diffs,
        );
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(
            silent["configuration"]["alarmActions"],
            serde_json::json!([])
        );
        assert_eq!(silent["configuration"]["actionsEnabled"], false);
    }
}
