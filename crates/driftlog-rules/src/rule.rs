//! A configured rule: its name, the scope of resources it judges (AWS's `Scope`:
//! resource types, a tag key and optional value, one resource id) and what judges them.

use crate::{managed, RuleError, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Checks AWS's constraints between the parts.
    ///
    /// # Errors
    /// [`RuleError::Parameter`] naming the conflict.
    pub fn check(&self) -> Result<(), RuleError> {
        if self.tag_value.is_some() && self.tag_key.is_none() {
            return Err(RuleError::Parameter("Scope: TagValue needs TagKey".into()));
        }
        if self.resource_id.is_some() && self.resource_types.len() != 1 {
            return Err(RuleError::Parameter(
                "Scope: ComplianceResourceId needs exactly one ComplianceResourceTypes entry"
                    .into(),
            ));
        }
        if self.resource_types.len() > 100 {
            return Err(RuleError::Parameter(
                "Scope: at most 100 ComplianceResourceTypes".into(),
            ));
        }
        Ok(())
    }

    /// True when the item (notification form) is in scope. A deleted item keeps the tags
    /// of its last version only if the caller passes them; scope by type and id still holds.
    pub fn covers(&self, item: &Value) -> bool {
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
        }
    }

    /// The rule's verdict on one item, or `None` when the item is outside its scope (or of
    /// a type the rule does not judge), as AWS Config does not evaluate those.
    ///
    /// # Errors
    /// The evaluator failed: the rule's status shows the error; no verdict is invented.
    pub fn judge(&self, item: &Value) -> Result<Option<Verdict>, RuleError> {
        if !self.scope.covers(item) {
            return Ok(None);
        }
        match &self.evaluator {
            Evaluator::Managed {
                identifier,
                parameters,
            } => {
                let r = managed::rule(identifier)?;
                let rtype = item["resourceType"].as_str().unwrap_or("");
                if !r.resource_types.is_empty() && !r.resource_types.contains(&rtype) {
                    return Ok(None);
                }
                managed::evaluate(identifier, parameters, item).map(Some)
            }
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
