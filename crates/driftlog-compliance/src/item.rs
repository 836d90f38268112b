//! Compliance as items of the log, and the side index the compliance API reads.
//!
//! Every (rule, evaluated resource) pair is one resource of type
//! `AWS::Config::ResourceCompliance`, id `<rule>/<resource type>/<resource id>`: each change
//! of its compliance is one new version, so it tails, notifies (one
//! `ComplianceChangeNotification` per item), replays and answers "as of T" like any CI, and
//! a result that ends (resource deleted or out of scope, rule deleted) is a deletion. The
//! times of the evaluation are volatile: a re-evaluation with the same verdict records
//! nothing.
//!
//! The index (each rule's latest [`ResultRecord`] per resource, and which rules judged
//! each resource; its keys and records are declared in the crate's `namespaces` module) is
//! derived: written after the item is appended, and compared with each new verdict, so a
//! replay after a crash writes what was missing.

use driftlog_model::time::iso_ms;
use driftlog_model::{Observed, ResourceKey, COMPLIANCE_TYPE};
use driftlog_rules::Compliance;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Separator of the index keys' parts (never in a name, type or id that AWS allows).
pub const SEP: char = '\u{1}';

/// The latest result of one rule for one resource, as the compliance API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// `ConfigRuleName`.
    pub rule: String,
    /// Evaluated resource's account.
    pub account: String,
    /// Evaluated resource's region.
    pub region: String,
    /// Evaluated resource's type.
    pub resource_type: String,
    /// Evaluated resource's id.
    pub resource_id: String,
    /// The verdict.
    pub compliance: Compliance,
    /// Why.
    pub annotation: Option<String>,
    /// Capture time of the item judged (`OrderingTimestamp`).
    pub ordering_ms: i64,
    /// When the result was recorded (`ResultRecordedTime`).
    pub recorded_ms: i64,
    /// When the evaluator was invoked (`ConfigRuleInvokedTime`).
    pub invoked_ms: i64,
    /// Log position of the item judged (0 for results reported through PutEvaluations):
    /// a result from an older item never replaces one from a newer item.
    pub item_seq: u64,
    /// The region of the rule that judged, where it differs from the resource's (a global
    /// resource such as an IAM role judged by a rule of one region): the compliance item is
    /// recorded there, as AWS records it in the rule's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_region: Option<String>,
}

/// The log key of `rule`'s compliance item for the resource `key`: in the resource's
/// account and region, id `<rule>/<type>/<id>`.
pub fn compliance_key_for(rule: &str, key: &ResourceKey) -> ResourceKey {
    ResourceKey::new(
        &key.account,
        &key.region,
        COMPLIANCE_TYPE,
        format!("{rule}/{}/{}", key.resource_type, key.resource_id),
    )
}

/// The rule key in a compliance item's id (`<rule>/<type>/<id>`, see
/// [`compliance_key_for`]) for the resource `resource_type`/`resource_id` it judges.
pub fn rule_of_compliance_id<'a>(
    item_id: &'a str,
    resource_type: &str,
    resource_id: &str,
) -> Option<&'a str> {
    item_id
        .strip_suffix(resource_id)?
        .strip_suffix('/')?
        .strip_suffix(resource_type)?
        .strip_suffix('/')
}

/// The log key of a result's compliance item.
pub fn compliance_key(r: &ResultRecord) -> ResourceKey {
    compliance_key_for(
        &r.rule,
        &ResourceKey::new(
            &r.account,
            r.place_region.as_deref().unwrap_or(&r.region),
            &r.resource_type,
            &r.resource_id,
        ),
    )
}

/// The compliance item's document: the rule (by the name its owner gave it), the resource,
/// the verdict (hashed) and the evaluation's times (volatile). The times of the result it
/// replaces (`previous`) ride along, volatile too, in
/// `supplementaryConfiguration.previousEvaluationResult`, so a ComplianceChangeNotification
/// built from this version alone carries the old result whole.
pub fn compliance_observed(
    r: &ResultRecord,
    previous: Option<&ResultRecord>,
    rule_name: &str,
    rule_arn: &str,
    rule_id: &str,
) -> Observed {
    let mut configuration = json!({
        "configRuleName": rule_name,
        "configRuleArn": rule_arn,
        "configRuleId": rule_id,
        "resourceType": r.resource_type,
        "resourceId": r.resource_id,
        "complianceType": r.compliance.as_str(),
        "orderingTimestamp": iso_ms(r.ordering_ms),
        "resultRecordedTime": iso_ms(r.recorded_ms),
        "configRuleInvokedTime": iso_ms(r.invoked_ms),
    });
    if let Some(a) = &r.annotation {
        configuration["annotation"] = json!(a);
    }
    let doc = json!({
        "arn": Value::Null,
        "resourceName": format!("{}/{}", r.resource_type, r.resource_id),
        "availabilityZone": "Not Applicable",
        "resourceCreationTime": Value::Null,
        "tags": {},
        "relationships": [],
        "configuration": configuration,
        "supplementaryConfiguration": {},
    });
    let mut doc = doc;
    if let Some(p) = previous {
        doc["supplementaryConfiguration"]["previousEvaluationResult"] = json!({
            "orderingTimestamp": iso_ms(p.ordering_ms),
            "resultRecordedTime": iso_ms(p.recorded_ms),
            "configRuleInvokedTime": iso_ms(p.invoked_ms),
        });
    }
    Observed::from_value(compliance_key(r), doc)
}

/// AWS's `EvaluationResult` (PascalCase, epoch-second times) of a record, under the rule's
/// name as its owner gave it.
pub fn evaluation_result_json(r: &ResultRecord, rule_name: &str) -> Value {
    let secs = |ms: i64| json!(ms as f64 / 1000.0);
    let mut v = json!({
        "EvaluationResultIdentifier": {
            "EvaluationResultQualifier": {
                "ConfigRuleName": rule_name,
                "ResourceType": r.resource_type,
                "ResourceId": r.resource_id,
                "EvaluationMode": "DETECTIVE",
            },
            "OrderingTimestamp": secs(r.ordering_ms),
        },
        "ComplianceType": r.compliance.as_str(),
        "ResultRecordedTime": secs(r.recorded_ms),
        "ConfigRuleInvokedTime": secs(r.invoked_ms),
    });
    if let Some(a) = &r.annotation {
        v["Annotation"] = json!(a);
    }
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn rec(c: Compliance, t: i64) -> ResultRecord {
        ResultRecord {
            rule: "ssh".into(),
            account: "1".into(),
            region: "r".into(),
            resource_type: "AWS::EC2::SecurityGroup".into(),
            resource_id: "sg-1".into(),
            compliance: c,
            annotation: None,
            ordering_ms: t,
            recorded_ms: t,
            invoked_ms: t,
            item_seq: 1,
            place_region: None,
        }
    }

    #[test]
    fn times_alone_do_not_change_the_item() {
        let a = compliance_observed(&rec(Compliance::Compliant, 1_000), None, "ssh", "arn", "id");
        let b = compliance_observed(
            &rec(Compliance::Compliant, 9_000),
            Some(&rec(Compliance::Compliant, 1_000)),
            "ssh",
            "arn",
            "id",
        );
        let c = compliance_observed(
            &rec(Compliance::NonCompliant, 9_000),
            None,
            "ssh",
            "arn",
            "id",
        );
        assert_eq!(a.doc, b.doc);
        assert_ne!(a.volatile, b.volatile);
        assert_ne!(a.doc, c.doc);
        assert_eq!(a.key.resource_id, "ssh/AWS::EC2::SecurityGroup/sg-1");
        assert_eq!(
            rule_of_compliance_id(&a.key.resource_id, "AWS::EC2::SecurityGroup", "sg-1"),
            Some("ssh")
        );
    }

    #[test]
    fn index_keys_round_trip() {
        use crate::namespaces::{parse_resource_rule, resource_rule, rule_result, rule_results};
        let k = resource_rule("AWS::S3::Bucket", "b", "rule one");
        assert_eq!(
            parse_resource_rule(&k),
            Some(("AWS::S3::Bucket", "b", "rule one"))
        );
        assert!(rule_result("r", "t", "i").starts_with(&rule_results("r")));
    }
}
