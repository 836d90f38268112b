//! Expression rules in CEL (the Common Expression Language): the counterpart of AWS's custom
//! policy rules, written in a language people already use for policies (Kubernetes
//! admission, Envoy, IAM conditions in GCP) instead of deploying code.
//!
//! The expression sees the item in notification form and the rule's parameters:
//! - `configurationItem` — the whole item (`configurationItem.configuration.groupId`, …),
//! - `configuration`, `supplementaryConfiguration`, `tags` (a map), `resourceType`,
//!   `resourceId`, `awsRegion`, `awsAccountId` — shorthands for its parts,
//! - `ruleParameters` — the rule's `InputParameters` as a map.
//!
//! It answers `true` (compliant) or `false` (non-compliant), a compliance type as a string
//! (`"NOT_APPLICABLE"`), or a map `{"complianceType": …, "annotation": …}`. Anything else,
//! and any evaluation error (a missing field without `has()`, a type mismatch), is an error
//! of the rule for that resource: no verdict is invented.

use crate::{Compliance, RuleError, Verdict};
use serde_json::{Map, Value};
use std::sync::{Arc, LazyLock};

/// The standard environment, built once: every evaluation borrows it.
static ENV: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A compiled CEL rule expression.
pub struct CelRule {
    source: String,
    program: cel::Program,
    /// The variables the expression reads: only those are converted for each item (the
    /// conversion of the item's JSON is most of an evaluation's cost).
    uses: Vec<&'static str>,
}

/// The item's parts bound as variables of their own.
const PARTS: &[&str] = &[
    "configuration",
    "supplementaryConfiguration",
    "tags",
    "resourceType",
    "resourceId",
    "awsRegion",
    "awsAccountId",
];

impl std::fmt::Debug for CelRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelRule")
            .field("source", &self.source)
            .finish()
    }
}

impl CelRule {
    /// Compiles `source`, so a syntax error is reported when the rule is put, not when it
    /// first runs.
    ///
    /// # Errors
    /// [`RuleError::Expression`] with the parser's message (line and column).
    pub fn compile(source: &str) -> Result<Self, RuleError> {
        if source.trim().is_empty() {
            return Err(RuleError::Expression("the expression is empty".into()));
        }
        let program = ENV
            .compile(source)
            .map_err(|e| RuleError::Expression(e.to_string()))?;
        let refs = program.references();
        let uses = PARTS
            .iter()
            .chain(["configurationItem", "ruleParameters"].iter())
            .copied()
            .filter(|v| refs.has_variable(v))
            .collect();
        Ok(Self {
            source: source.to_string(),
            program,
            uses,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Judges one item (notification form) with the rule's parameters.
    ///
    /// # Errors
    /// [`RuleError::Evaluation`] when the expression fails or answers something that is not
    /// a verdict.
    pub fn evaluate(
        &self,
        item: &Value,
        parameters: &Map<String, Value>,
    ) -> Result<Verdict, RuleError> {
        let mut ctx = cel::Context::with_env(ENV.clone());
        let convert = |name: &str, v: &Value| -> Result<cel::Value, RuleError> {
            cel::to_value(v).map_err(|e| RuleError::Evaluation(format!("{name}: {e}")))
        };
        // The whole item is converted once when the expression reads it; its parts are
        // then taken from the converted map.
        let whole = if self.uses.contains(&"configurationItem") {
            let w = convert("configurationItem", item)?;
            ctx.add_variable_from_value("configurationItem", w.clone());
            Some(w)
        } else {
            None
        };
        for part in PARTS.iter().filter(|p| self.uses.contains(p)) {
            let v = match &whole {
                Some(cel::Value::Map(m)) => m
                    .get(&cel::objects::Key::String(std::sync::Arc::new(
                        (*part).to_string(),
                    )))
                    .cloned()
                    .unwrap_or(cel::Value::Null),
                _ => convert(part, item.get(*part).unwrap_or(&Value::Null))?,
            };
            ctx.add_variable_from_value(*part, v);
        }
        if self.uses.contains(&"ruleParameters") {
            let p = convert("ruleParameters", &Value::Object(parameters.clone()))?;
            ctx.add_variable_from_value("ruleParameters", p);
        }
        let out = self
            .program
            .execute(&ctx)
            .map_err(|e| RuleError::Evaluation(e.to_string()))?;
        verdict_of(&out)
    }
}

fn compliance_named(s: &str) -> Result<Compliance, RuleError> {
    match s {
        "COMPLIANT" => Ok(Compliance::Compliant),
        "NON_COMPLIANT" => Ok(Compliance::NonCompliant),
        "NOT_APPLICABLE" => Ok(Compliance::NotApplicable),
        other => Err(RuleError::Evaluation(format!(
            "the expression answered {other:?}; a rule answers true, false, \"COMPLIANT\", \"NON_COMPLIANT\" or \"NOT_APPLICABLE\""
        ))),
    }
}

fn verdict_of(v: &cel::Value) -> Result<Verdict, RuleError> {
    match v {
        cel::Value::Bool(true) => Ok(Verdict::compliant()),
        cel::Value::Bool(false) => Ok(Verdict::non_compliant("The CEL expression is false.")),
        cel::Value::String(s) => Ok(Verdict {
            compliance: compliance_named(s)?,
            annotation: None,
        }),
        cel::Value::Map(_) => {
            let j = v.json().map_err(|e| RuleError::Evaluation(e.to_string()))?;
            let c = j["complianceType"].as_str().ok_or_else(|| {
                RuleError::Evaluation("the answer map has no complianceType string".into())
            })?;
            let compliance = compliance_named(c)?;
            let annotation = j["annotation"]
                .as_str()
                .map(|a| a.chars().take(256).collect());
            Ok(Verdict {
                compliance,
                annotation,
            })
        }
        other => Err(RuleError::Evaluation(format!(
            "the expression answered {other:?}; a rule answers a bool, a compliance type or a map"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;

    fn sg(cidr: &str, port: i64) -> Value {
        json!({"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1", "tags": {"env": "prod"},
               "configuration": {"ipPermissions": [{"fromPort": port, "toPort": port, "ipProtocol": "tcp",
               "ipv4Ranges": [{"cidrIp": cidr}]}]}})
    }

    const NO_SSH: &str = "!configuration.ipPermissions.exists(p, has(p.fromPort) && p.fromPort <= 22 && p.toPort >= 22 && p.ipv4Ranges.exists(r, r.cidrIp == '0.0.0.0/0'))";

    #[test]
    fn bool_answers_are_verdicts() {
        let r = CelRule::compile(NO_SSH).unwrap();
        let p = Map::new();
        assert_eq!(
            r.evaluate(&sg("0.0.0.0/0", 22), &p).unwrap().compliance,
            Compliance::NonCompliant
        );
        assert_eq!(
            r.evaluate(&sg("10.0.0.0/8", 22), &p).unwrap().compliance,
            Compliance::Compliant
        );
        assert_eq!(
            r.evaluate(&sg("0.0.0.0/0", 443), &p).unwrap().compliance,
            Compliance::Compliant
        );
    }

    #[test]
    fn maps_strings_and_parameters() {
        let r = CelRule::compile(
            "tags[ruleParameters.tag] == 'prod' ? {'complianceType': 'NON_COMPLIANT', 'annotation': 'prod is frozen'} : 'NOT_APPLICABLE'",
        )
        .unwrap();
        let mut p = Map::new();
        p.insert("tag".into(), json!("env"));
        let v = r.evaluate(&sg("0.0.0.0/0", 22), &p).unwrap();
        assert_eq!(v.compliance, Compliance::NonCompliant);
        assert_eq!(v.annotation.as_deref(), Some("prod is frozen"));
        let mut item = sg("0.0.0.0/0", 22);
        item["tags"] = json!({"env": "dev"});
        assert_eq!(
            r.evaluate(&item, &p).unwrap().compliance,
            Compliance::NotApplicable
        );
    }

    #[test]
    fn the_whole_item_and_its_parts_agree() {
        let r = CelRule::compile(
            "configurationItem.resourceType == resourceType && configurationItem.configuration == configuration && size(configuration.ipPermissions) == 1 && tags.env == 'prod'",
        )
        .unwrap();
        let v = r.evaluate(&sg("0.0.0.0/0", 22), &Map::new()).unwrap();
        assert_eq!(v.compliance, Compliance::Compliant);
    }

    #[test]
    fn errors_are_errors_not_verdicts() {
        assert!(matches!(
            CelRule::compile("configuration.("),
            Err(RuleError::Expression(_))
        ));
        assert!(matches!(
            CelRule::compile("  "),
            Err(RuleError::Expression(_))
        ));
        let r = CelRule::compile("configuration.missing == 1").unwrap();
        assert!(matches!(
            r.evaluate(&sg("0.0.0.0/0", 22), &Map::new()),
            Err(RuleError::Evaluation(_))
        ));
        let r = CelRule::compile("42").unwrap();
        assert!(matches!(
            r.evaluate(&sg("0.0.0.0/0", 22), &Map::new()),
            Err(RuleError::Evaluation(_))
        ));
        let r = CelRule::compile("'MAYBE'").unwrap();
        assert!(matches!(
            r.evaluate(&sg("0.0.0.0/0", 22), &Map::new()),
            Err(RuleError::Evaluation(_))
        ));
    }

    #[test]
    fn compiled_rules_are_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CelRule>();
    }
}
