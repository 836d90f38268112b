//! CloudWatch metric alarms in AWS Config's shape (reference item
//! `AWS_CloudWatch_Alarm.json`): the Java bean's camelCase, including Jackson's `okactions`,
//! no state fields (an alarm changing state is not a configuration change), no
//! relationships, tags only at the top level.

use super::svc::{whole_secs, Svc};
use super::{object_mut, Tags, Top};
use crate::ids;
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

/// What an alarm watches.
pub(crate) struct AlarmSpec<'a> {
    pub name: &'a str,
    /// `(namespace, metric, dimension name, dimension value, statistic, threshold)`.
    pub metric: (&'a str, &'a str, &'a str, &'a str, &'a str, f64),
    /// The SNS topic it notifies, if any.
    pub topic: Option<&'a str>,
    pub updated_ms: i64,
}

pub(crate) fn alarm(
    rng: &mut Rng,
    at: Svc<'_>,
    a: &AlarmSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn("cloudwatch", &format!("alarm:{}", a.name));
    let (namespace, metric, dim, dim_value, statistic, threshold) = a.metric;
    let actions: Vec<&str> = a.topic.into_iter().collect();
    let ok: Vec<&str> = if rng.u8(..4) == 0 {
        actions.clone()
    } else {
        Vec::new()
    };
    let periods = rng.u32(1..=5);
    let configuration = json!({
        "alarmName": a.name,
        "alarmArn": arn,
        "alarmDescription": format!("{metric} of {dim_value} above {threshold}"),
        "alarmConfigurationUpdatedTimestamp": a.updated_ms,
        "actionsEnabled": true,
        "okactions": ok,
        "alarmActions": actions,
        "insufficientDataActions": [],
        "metricName": metric,
        "namespace": namespace,
        "statistic": statistic,
        "extendedStatistic": null,
        "dimensions": [{"name": dim, "value": dim_value}],
        "period": *ids::pick(rng, &[60, 300]).unwrap_or(&60),
        "unit": null,
        "evaluationPeriods": periods,
        "datapointsToAlarm": rng.u32(1..=periods),
        "threshold": threshold,
        "comparisonOperator": "GreaterThanThreshold",
        "treatMissingData": ids::word(rng, &["notBreaching", "missing", "breaching"]),
        "evaluateLowSampleCountPercentile": null,
        "metrics": [],
        "thresholdMetricId": null,
        "creationId": null,
    });
    let doc = Top {
        arn,
        name: Some(a.name),
        az: "Not Applicable",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::ALARM, a.name), doc)
}

/// Removes every action (the alarm still fires, nobody hears), or restores `topic` as
/// its alarm action.
pub(crate) fn set_actions(v: &mut Value, topic: Option<&str>, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let had = c
        .get("alarmActions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if had == topic.is_some() {
        return false;
    }
    let actions: Vec<&str> = topic.into_iter().collect();
    c.insert("alarmActions".into(), json!(actions));
    if topic.is_none() {
        c.insert("okactions".into(), json!([]));
    }
    c.insert(
        "alarmConfigurationUpdatedTimestamp".into(),
        whole_secs(now_ms).into(),
    );
    true
}

/// Moves the threshold (an ordinary change).
pub(crate) fn set_threshold(v: &mut Value, factor: f64, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(t) = c.get("threshold").and_then(Value::as_f64) else {
        return false;
    };
    let new = (t * factor).round().max(1.0);
    if new == t {
        return false;
    }
    c.insert("threshold".into(), json!(new));
    c.insert(
        "alarmConfigurationUpdatedTimestamp".into(),
        whole_secs(now_ms).into(),
    );
    true
}
