//! A configured rule: its name, the scope of resources it judges (AWS's `Scope`:
//! resource types, a tag key and optional value, one resource id) and what judges them.

use crate::cel::CelRule;
use crate::{managed, RuleError, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// AWS's rule `Scope`. Empty parts match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `ComplianceResourceTypes`.
    pub resource_types: Vec<String>,
    /// `TagKey`.
    pub tag_key: Option<String>,
    /// `TagValue` (needs `TagKey`).
    pub tag_value: Option<String>,
    /// `ComplianceResourceId` (needs exactly one type).
    pub resource_id: Option<String>,
    /// The account whose resources the rule judges: a rule put through the API lives in
    /// its caller's account and region, as AWS's rules do (`None`: every account).
    #[serde(default)]
    pub account: Option<String>,
    /// The region whose resources the rule judges; global resources (`global`, such as
    /// IAM) are judged by every region's rules (`None`: every region).
    #[serde(default)]
    pub region: Option<String>,
}

fn tag<'a>(tags: &'a Value, key: &str) -> Option<&'a str> {
    match tags {
        Value::Object(m) => m.get(key).and_then(Value::as_str),
        Value::Array(a) => a
            .iter()
            .find(|t| t["key"].as_str() == Some(key))
            .and_then(|t| t["value"].as_str()),
        _ => None,
    }
}

impl Scope {
    /// True when resources of this account and region are the rule's.
    pub fn covers_place(&self, account: &str, region: &str) -> bool {
        self.account.as_ref().is_none_or(|a| a == account)
            && self
                .region
                .as_ref()
                .is_none_or(|r| r == region || region == "global")
    }

    /// Checks AWS's constraints between the parts.
    ///
    /// # Errors
    /// [`RuleError::Scope`] naming the conflict.
    pub fn check(&self) -> Result<(), RuleError> {
        if self.tag_value.is_some() && self.tag_key.is_none() {
            return Err(RuleError::Scope("TagValue needs TagKey".into()));
        }
        if self.resource_id.is_some() && self.resource_types.len() != 1 {
            return Err(RuleError::Scope(
                "ComplianceResourceId needs exactly one ComplianceResourceTypes entry".into(),
            ));
        }
        if self.resource_types.len() > 100 {
            return Err(RuleError::Scope(
                "at most 100 ComplianceResourceTypes".into(),
            ));
        }
        Ok(())
    }

    /// True when the item (notification form) is in scope. A deleted item keeps the tags
    /// of its last version only if the caller passes them; scope by type and id still holds.
    pub fn covers(&self, item: &Value) -> bool {
        if !self.covers_place(
            item["awsAccountId"].as_str().unwrap_or(""),
            item["awsRegion"].as_str().unwrap_or(""),
        ) {
            return false;
        }
        let rtype = item["resourceType"].as_str().unwrap_or("");
        if !self.resource_types.is_empty() && !self.resource_types.iter().any(|t| t == rtype) {
            return false;
        }
        if let Some(id) = &self.resource_id {
            if item["resourceId"].as_str() != Some(id.as_str()) {
                return false;
            }
        }
        if let Some(k) = &self.tag_key {
            match (tag(&item["tags"], k), &self.tag_value) {
                (None, _) => return false,
                (Some(v), Some(want)) if v != want => return false,
                _ => {}
            }
        }
        true
    }
}

/// What judges a rule's resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Evaluator {
    /// An AWS managed rule with its parameters.
    Managed {
        /// `SourceIdentifier`.
        identifier: String,
        /// `InputParameters`.
        parameters: Map<String, Value>,
    },
    /// A CEL expression (see [`crate::cel`]).
    Cel {
        /// The expression.
        expression: String,
        /// `InputParameters`, bound as `ruleParameters`.
        parameters: Map<String, Value>,
    },
    /// An external evaluator declared in the configuration (a command or an HTTP endpoint),
    /// sent AWS's invoking event: judged outside this crate.
    External {
        /// The evaluator's name.
        evaluator: String,
        /// `InputParameters`, sent as `ruleParameters`.
        parameters: Map<String, Value>,
    },
}

impl Evaluator {
    /// The rule's `InputParameters`.
    pub fn parameters(&self) -> &Map<String, Value> {
        match self {
            Evaluator::Managed { parameters, .. }
            | Evaluator::Cel { parameters, .. }
            | Evaluator::External { parameters, .. } => parameters,
        }
    }
}

/// A rule as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// `ConfigRuleName`.
    pub name: String,
    /// Which resources it judges.
    pub scope: Scope,
    /// How.
    pub evaluator: Evaluator,
}

impl Rule {
    /// Checks the rule's scope and parameters.
    ///
    /// # Errors
    /// [`RuleError`] naming what is wrong.
    pub fn check(&self) -> Result<(), RuleError> {
        self.scope.check()?;
        match &self.evaluator {
            Evaluator::Managed {
                identifier,
                parameters,
            } => managed::check_parameters(identifier, parameters),
            Evaluator::Cel { expression, .. } => CelRule::compile(expression).map(|_| ()),
            Evaluator::External { evaluator, .. } if evaluator.is_empty() => Err(
                RuleError::Parameter("an external rule needs an evaluator name".into()),
            ),
            Evaluator::External { .. } => Ok(()),
        }
    }

    /// True when the rule would judge this item: in scope, and of a type its managed rule
    /// judges. External and CEL rules judge every type their scope lets through.
    pub fn applies_to(&self, item: &Value) -> bool {
        if !self.scope.covers(item) {
            return false;
        }
        match &self.evaluator {
            Evaluator::Managed { identifier, .. } => managed::rule(identifier).is_ok_and(|r| {
                let rtype = item["resourceType"].as_str().unwrap_or("");
                r.resource_types.is_empty() || r.resource_types.contains(&rtype)
            }),
            _ => true,
        }
    }

    /// True when the rule could judge resources of this scope (account, region, type) at
    /// all, so runs read only those.
    pub fn applies_to_scope(&self, account: &str, region: &str, resource_type: &str) -> bool {
        self.scope.covers_place(account, region) && self.applies_to_type(resource_type)
    }

    /// True when the rule could judge resources of this type at all (scope and managed
    /// rule types), so a periodic run reads only those.
    pub fn applies_to_type(&self, resource_type: &str) -> bool {
        if !self.scope.resource_types.is_empty()
            && !self.scope.resource_types.iter().any(|t| t == resource_type)
        {
            return false;
        }
        match &self.evaluator {
            Evaluator::Managed { identifier, .. } => managed::rule(identifier).is_ok_and(|r| {
                r.resource_types.is_empty() || r.resource_types.contains(&resource_type)
            }),
            _ => true,
        }
    }

    /// The rule's verdict on one item, or `None` when the item is outside its scope (or of
    /// a type the rule does not judge), as AWS Config does not evaluate those. Compiles a CEL
    /// expression on each call: judge many items with a [`Judge`].
    ///
    /// # Errors
    /// The evaluator failed: the rule's status shows the error; no verdict is invented.
    pub fn judge(&self, item: &Value) -> Result<Option<Verdict>, RuleError> {
        Judge::new(self.clone())?.judge(item)
    }
}

/// A rule ready to judge many items: its CEL expression compiled once.
#[derive(Debug, Clone)]
pub struct Judge {
    rule: Rule,
    cel: Option<Arc<CelRule>>,
}

impl Judge {
    /// Checks and compiles `rule`.
    ///
    /// # Errors
    /// [`RuleError`] naming what is wrong with the rule.
    pub fn new(rule: Rule) -> Result<Self, RuleError> {
        rule.check()?;
        let cel = match &rule.evaluator {
            Evaluator::Cel { expression, .. } => Some(Arc::new(CelRule::compile(expression)?)),
            _ => None,
        };
        Ok(Self { rule, cel })
    }

    /// The rule as configured.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The external evaluator's name, for rules judged outside.
    pub fn external(&self) -> Option<&str> {
        match &self.rule.evaluator {
            Evaluator::External { evaluator, .. } => Some(evaluator),
            _ => None,
        }
    }

    /// The types of the other current items a managed rule needs to judge one (see
    /// [`managed::ManagedRule::related_types`]), and whether they come from every region
    /// of the item's account; empty for the others.
    pub fn related_types(&self) -> (&'static [&'static str], bool) {
        match &self.rule.evaluator {
            Evaluator::Managed { identifier, .. } => managed::rule(identifier)
                .map_or((&[][..], false), |r| {
                    (r.related_types, r.related_all_regions)
                }),
            _ => (&[], false),
        }
    }

    /// The verdict on one item (notification form), `None` when the rule does not judge it.
    ///
    /// # Errors
    /// The evaluator failed (or is external: [`RuleError::Evaluation`]); no verdict.
    pub fn judge(&self, item: &Value) -> Result<Option<Verdict>, RuleError> {
        self.judge_with(item, &[])
    }

    /// [`Judge::judge`] with the current items of the rule's [`Judge::related_types`] in
    /// the item's account (and region).
    ///
    /// # Errors
    /// As [`Judge::judge`].
    pub fn judge_with(
        &self,
        item: &Value,
        related: &[Value],
    ) -> Result<Option<Verdict>, RuleError> {
        if !self.rule.applies_to(item) {
            return Ok(None);
        }
        match &self.rule.evaluator {
            Evaluator::Managed {
                identifier,
                parameters,
            } => managed::evaluate_with(identifier, parameters, item, related).map(Some),
            Evaluator::Cel { parameters, .. } => match &self.cel {
                Some(c) => c.evaluate(item, parameters).map(Some),
                None => Err(RuleError::Evaluation("the CEL rule is not compiled".into())),
            },
            Evaluator::External { evaluator, .. } => Err(RuleError::Evaluation(format!(
                "rule {} is judged by the external evaluator {evaluator}",
                self.rule.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use crate::Compliance;
    use serde_json::json;

    fn sg(id: &str, port: i64, tags: Value) -> Value {
        json!({"resourceType": "AWS::EC2::SecurityGroup", "resourceId": id, "configurationItemStatus": "OK",
               "tags": tags, "configuration": {"groupName": id, "ipPermissions": [
                   {"fromPort": port, "toPort": port, "ipProtocol": "tcp", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}]}]}})
    }

    fn ssh_rule(scope: Scope) -> Rule {
        Rule {
            name: "no-ssh".into(),
            scope,
            evaluator: Evaluator::Managed {
                identifier: "INCOMING_SSH_DISABLED".into(),
                parameters: Map::new(),
            },
        }
    }

    #[test]
    fn scope_by_type_tag_and_id() {
        let open = sg("sg-1", 22, json!({"env": "prod"}));
        let all = ssh_rule(Scope::default());
        assert_eq!(
            all.judge(&open).unwrap().unwrap().compliance,
            Compliance::NonCompliant
        );
        let tagged = ssh_rule(Scope {
            tag_key: Some("env".into()),
            tag_value: Some("dev".into()),
            ..Scope::default()
        });
        assert_eq!(tagged.judge(&open).unwrap(), None);
        let one = ssh_rule(Scope {
            resource_types: vec!["AWS::EC2::SecurityGroup".into()],
            resource_id: Some("sg-2".into()),
            ..Scope::default()
        });
        assert_eq!(one.judge(&open).unwrap(), None);
        assert_eq!(
            one.judge(&sg("sg-2", 443, json!({})))
                .unwrap()
                .unwrap()
                .compliance,
            Compliance::Compliant
        );
        // A type the managed rule does not judge is not evaluated at all.
        assert_eq!(
            all.judge(&json!({"resourceType": "AWS::S3::Bucket"}))
                .unwrap(),
            None
        );
    }

    #[test]
    fn scope_constraints_are_checked() {
        let bad = ssh_rule(Scope {
            tag_value: Some("x".into()),
            ..Scope::default()
        });
        assert!(bad.check().is_err());
        let bad = ssh_rule(Scope {
            resource_id: Some("sg-1".into()),
            ..Scope::default()
        });
        assert!(bad.check().is_err());
        assert!(ssh_rule(Scope::default()).check().is_ok());
    }
}
