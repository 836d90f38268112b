//! A rule as AWS Config's API defines it (`ConfigRule`: `Source`, `Scope`,
//! `InputParameters`, `MaximumExecutionFrequency`, …), checked the way AWS checks it and
//! turned into what the engine runs: a [`Rule`] and its triggers.

use driftlog_rules::{Evaluator, Judge, Rule, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Why a rule definition was refused, with the AWS error code the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DefError {
    /// `InvalidParameterValueException`, `InsufficientPermissionsException`, …
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> DefError {
    DefError {
        code: "InvalidParameterValueException",
        message: message.into(),
    }
}

/// How often a periodic rule runs (`MaximumExecutionFrequency`).
pub const FREQUENCIES: &[(&str, i64)] = &[
    ("One_Hour", 3_600_000),
    ("Three_Hours", 3 * 3_600_000),
    ("Six_Hours", 6 * 3_600_000),
    ("Twelve_Hours", 12 * 3_600_000),
    ("TwentyFour_Hours", 24 * 3_600_000),
];

/// The period of a `MaximumExecutionFrequency` value.
pub fn frequency_ms(name: &str) -> Option<i64> {
    FREQUENCIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, ms)| *ms)
}

/// When a rule runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggers {
    /// On every recorded change of a resource in scope.
    pub on_change: bool,
    /// Every so often over all resources in scope (`MaximumExecutionFrequency`).
    pub periodic: Option<String>,
}

/// A rule as stored: what the engine runs and what the API echoes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDef {
    /// Name, scope and evaluator.
    pub rule: Rule,
    /// `ConfigRuleId` (`config-rule-xxxxxx`), kept across updates.
    pub id: String,
    /// `ConfigRuleArn`.
    pub arn: String,
    /// When it runs.
    pub triggers: Triggers,
    /// The `ConfigRule` as the API shows it (server fields included).
    pub api: Value,
    /// When it was first put.
    pub created_ms: i64,
}

/// Where rules are put: the ARN's account and region, and the external evaluators the
/// configuration declares (a Lambda ARN names one of them by function name).
#[derive(Debug, Clone, Default)]
pub struct DefContext {
    /// Account for ARNs.
    pub account: String,
    /// Region for ARNs.
    pub region: String,
    /// Names of the declared external evaluators.
    pub evaluators: Vec<String>,
    /// Confine the rule to this account's resources (the API's caller), `None` for all.
    pub scope_account: Option<String>,
    /// Confine the rule to this region's resources (and global ones), `None` for all.
    pub scope_region: Option<String>,
    /// The server's own account: rules confined to it keep their name as their key.
    pub home_account: String,
    /// The server's own region: rules confined to it keep their name as their key.
    pub home_region: String,
}

impl DefContext {
    /// The key a rule named `name` is stored and judged under in this context. AWS's rule
    /// names are unique per account and region, and the same rule is commonly deployed to
    /// every region under one name: a rule of the server's own account and region (or of
    /// the CLI, judging everything) is keyed by its name, one confined elsewhere by
    /// `name@region` (`name@account:region` for another account), so each region has its
    /// own.
    pub fn rule_key(&self, name: &str) -> String {
        let region = self
            .scope_region
            .as_deref()
            .filter(|r| *r != self.home_region);
        let account = self
            .scope_account
            .as_deref()
            .filter(|a| *a != self.home_account);
        match (account, region) {
            (None, None) => name.to_string(),
            (None, Some(r)) => format!("{name}@{r}"),
            (Some(a), r) => format!("{name}@{a}:{}", r.unwrap_or(&self.home_region)),
        }
    }
}

fn str_field<'a>(o: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, DefError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{k} must be a string"))),
    }
}

/// Every managed rule as a `ConfigRule` (named after its identifier, lowercase), with
/// example values for the parameters some require: the benchmarks' "all managed rules on".
pub fn all_managed() -> Vec<Value> {
    driftlog_rules::managed::RULES
        .iter()
        .map(|r| {
            let params = match r.identifier {
                "IAM_ROLE_MANAGED_POLICY_CHECK" => {
                    json!({"managedPolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
                }
                "REQUIRED_TAGS" => json!({"tag1Key": "owner"}),
                _ => json!({}),
            };
            json!({"ConfigRuleName": r.identifier.to_lowercase(),
                   "InputParameters": params.to_string(),
                   "Source": {"Owner": "AWS", "SourceIdentifier": r.identifier}})
        })
        .collect()
}

/// A new rule id, `config-rule-` and six lowercase letters or digits, as AWS makes them.
pub fn new_rule_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 6];
    if getrandom::getrandom(&mut bytes).is_err() {
        let t = driftlog_model::time::now_ms().unsigned_abs();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (i * 8)) as u8;
        }
    }
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("config-rule-{tail}")
}

/// The Lambda function name of an ARN `arn:aws:lambda:<r>:<a>:function:<name>[:alias]`.
fn lambda_function(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    if parts.next()? != "lambda" {
        return None;
    }
    let _region = parts.next()?;
    let _account = parts.next()?;
    if parts.next()? != "function" {
        return None;
    }
    parts.next().filter(|n| !n.is_empty())
}

impl RuleDef {
    /// Checks a `ConfigRule` as PutConfigRule receives it and builds the stored rule.
    /// `existing` is the rule of the same name, if any: its id, ARN and creation time stay.
    ///
    /// # Errors
    /// [`DefError`] with AWS's code and a message naming the member.
    pub fn from_api(
        cr: &Value,
        existing: Option<&RuleDef>,
        ctx: &DefContext,
        now_ms: i64,
    ) -> Result<Self, DefError> {
        let o = cr
            .as_object()
            .ok_or_else(|| invalid("ConfigRule must be an object"))?;
        let name = str_field(o, "ConfigRuleName")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid("ConfigRuleName is required (1 to 128 characters)"))?
            .to_string();
        if name.chars().any(char::is_control) || name.chars().count() > 128 {
            return Err(invalid(format!(
                "ConfigRuleName {name:?} rejected: 1 to 128 characters, no control characters"
            )));
        }
        if existing.is_none() {
            for k in ["ConfigRuleArn", "ConfigRuleId"] {
                if o.get(k).is_some_and(|v| !v.is_null()) {
                    return Err(invalid(format!(
                        "{k} cannot be set when a rule is created; the service assigns it"
                    )));
                }
            }
        } else if let Some(e) = existing {
            if str_field(o, "ConfigRuleId")?.is_some_and(|id| id != e.id)
                || str_field(o, "ConfigRuleArn")?.is_some_and(|a| a != e.arn)
            {
                return Err(invalid(
                    "ConfigRuleId/ConfigRuleArn do not match the rule of this name",
                ));
            }
        }
        if let Some(st) = str_field(o, "ConfigRuleState")? {
            if st != "ACTIVE" {
                return Err(invalid(format!(
                    "ConfigRuleState {st:?} cannot be set; only ACTIVE (DeleteConfigRule deletes)"
                )));
            }
        }
        if str_field(o, "CreatedBy")?.is_some() {
            return Err(invalid(
                "CreatedBy is set by the service for service-linked rules",
            ));
        }
        if let Some(d) = str_field(o, "Description")? {
            if d.chars().count() > 256 {
                return Err(invalid("Description is longer than 256 characters"));
            }
        }
        let parameters: Map<String, Value> = match str_field(o, "InputParameters")? {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(invalid(format!(
                        "InputParameters must be a JSON object as text, got {text:?}"
                    )))
                }
            },
        };
        let rule_frequency = str_field(o, "MaximumExecutionFrequency")?;
        if let Some(f) = rule_frequency {
            if frequency_ms(f).is_none() {
                return Err(invalid(format!(
                    "MaximumExecutionFrequency {f:?} is not one of One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours"
                )));
            }
        }
        let mut scope = scope_of(o.get("Scope"))?;
        scope.account.clone_from(&ctx.scope_account);
        scope.region.clone_from(&ctx.scope_region);
        let source = o
            .get("Source")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("Source is required"))?;
        let owner =
            str_field(source, "Owner")?.ok_or_else(|| invalid("Source.Owner is required"))?;
        let details = source_details(source.get("SourceDetails"))?;
        let (evaluator, triggers) = match owner {
            "AWS" => {
                let identifier = str_field(source, "SourceIdentifier")?.ok_or_else(|| {
                    invalid("Source.SourceIdentifier is required for AWS managed rules")
                })?;
                if !details.is_empty() {
                    return Err(invalid(
                        "SourceDetails are only for custom rules; AWS managed rules have their own triggers",
                    ));
                }
                // AWS's trigger types: a periodic managed rule runs every
                // MaximumExecutionFrequency (TwentyFour_Hours unless given); one only
                // periodic is not judged on changes.
                let (on_change, periodic) = driftlog_rules::managed::rule(identifier)
                    .map_or((true, false), |r| (r.change_triggered, r.periodic));
                (
                    Evaluator::Managed {
                        identifier: identifier.to_string(),
                        parameters,
                    },
                    Triggers {
                        on_change,
                        periodic: rule_frequency
                            .map(str::to_string)
                            .or_else(|| periodic.then(|| "TwentyFour_Hours".to_string())),
                    },
                )
            }
            "CUSTOM_POLICY" => {
                let cp = source
                    .get("CustomPolicyDetails")
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        invalid("CUSTOM_POLICY rules need Source.CustomPolicyDetails")
                    })?;
                let runtime = str_field(cp, "PolicyRuntime")?.unwrap_or("");
                if !runtime.eq_ignore_ascii_case("cel") {
                    return Err(invalid(format!(
                        "PolicyRuntime {runtime:?} is not supported: driftlog runs CEL policies; set PolicyRuntime to \"cel\" and write PolicyText in CEL"
                    )));
                }
                let text = str_field(cp, "PolicyText")?
                    .ok_or_else(|| invalid("CustomPolicyDetails.PolicyText is required"))?;
                if details.is_empty() {
                    return Err(invalid(
                        "CUSTOM_POLICY rules need Source.SourceDetails (e.g. MessageType ConfigurationItemChangeNotification)",
                    ));
                }
                (
                    Evaluator::Cel {
                        expression: text.to_string(),
                        parameters,
                    },
                    triggers_of(&details, rule_frequency, true)?,
                )
            }
            "CUSTOM_LAMBDA" => {
                let arn = str_field(source, "SourceIdentifier")?.ok_or_else(|| {
                    invalid("Source.SourceIdentifier (the Lambda ARN) is required")
                })?;
                let function = lambda_function(arn).unwrap_or(arn);
                if !ctx.evaluators.iter().any(|e| e == function) {
                    return Err(DefError {
                        code: "InsufficientPermissionsException",
                        message: format!(
                            "The evaluator {function:?} cannot be invoked: declare it in the configuration as [[evaluators]] name = {function:?} with a command or url (known: {})",
                            if ctx.evaluators.is_empty() { "none".to_string() } else { ctx.evaluators.join(", ") }
                        ),
                    });
                }
                if details.is_empty() {
                    return Err(invalid("CUSTOM_LAMBDA rules need Source.SourceDetails (which messages invoke them)"));
                }
                (
                    Evaluator::External {
                        evaluator: function.to_string(),
                        parameters,
                    },
                    triggers_of(&details, rule_frequency, false)?,
                )
            }
            other => {
                return Err(invalid(format!(
                    "Source.Owner {other:?} is not one of AWS, CUSTOM_LAMBDA, CUSTOM_POLICY"
                )))
            }
        };
        let rule = Rule {
            name: ctx.rule_key(&name),
            scope,
            evaluator,
        };
        Judge::new(rule.clone()).map_err(|e| invalid(e.to_string()))?;
        let (id, created_ms) = match existing {
            Some(e) => (e.id.clone(), e.created_ms),
            None => (new_rule_id(), now_ms),
        };
        let arn = format!(
            "arn:aws:config:{}:{}:config-rule/{id}",
            ctx.region, ctx.account
        );
        let mut api = o.clone();
        api.insert("ConfigRuleId".into(), json!(id));
        api.insert("ConfigRuleArn".into(), json!(arn));
        api.insert("ConfigRuleState".into(), json!("ACTIVE"));
        if let (Some(f), true) = (
            &triggers.periodic,
            rule_frequency.is_none() && owner == "AWS",
        ) {
            api.insert("MaximumExecutionFrequency".into(), json!(f));
        }
        api.insert("EvaluationModes".into(), json!([{"Mode": "DETECTIVE"}]));
        // AWS answers each SourceDetail with its event source, given or not.
        if let Some(details) = api
            .get_mut("Source")
            .and_then(|s| s.get_mut("SourceDetails"))
            .and_then(Value::as_array_mut)
        {
            for d in details.iter_mut().filter_map(Value::as_object_mut) {
                d.entry("EventSource")
                    .or_insert_with(|| json!("aws.config"));
            }
        }
        Ok(Self {
            rule,
            id,
            arn,
            triggers,
            api: Value::Object(api),
            created_ms,
        })
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.rule.name
    }

    /// The `ConfigRuleName` its owner gave it, which the API, the Lambda event and the
    /// compliance items show (the key differs for rules of other regions, see
    /// [`DefContext::rule_key`]).
    pub fn display_name(&self) -> &str {
        self.api
            .get("ConfigRuleName")
            .and_then(Value::as_str)
            .unwrap_or(&self.rule.name)
    }
}

fn scope_of(v: Option<&Value>) -> Result<Scope, DefError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Scope::default());
    };
    let o = v
        .as_object()
        .ok_or_else(|| invalid("Scope must be an object"))?;
    let types = match o.get("ComplianceResourceTypes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("Scope.ComplianceResourceTypes must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("Scope.ComplianceResourceTypes must be a list")),
    };
    let scope = Scope {
        resource_types: types,
        tag_key: str_field(o, "TagKey")?.map(str::to_string),
        tag_value: str_field(o, "TagValue")?.map(str::to_string),
        resource_id: str_field(o, "ComplianceResourceId")?.map(str::to_string),
        account: None,
        region: None,
    };
    scope.check().map_err(|e| invalid(e.to_string()))?;
    Ok(scope)
}

/// One `SourceDetail`: which message invokes the rule, how often for scheduled ones.
struct Detail {
    message_type: String,
    frequency: Option<String>,
}

fn source_details(v: Option<&Value>) -> Result<Vec<Detail>, DefError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let a = v
        .as_array()
        .ok_or_else(|| invalid("Source.SourceDetails must be a list"))?;
    if a.len() > 25 {
        return Err(invalid("Source.SourceDetails holds at most 25 entries"));
    }
    a.iter()
        .map(|d| {
            let o = d
                .as_object()
                .ok_or_else(|| invalid("each SourceDetail must be an object"))?;
            if let Some(es) = str_field(o, "EventSource")? {
                if es != "aws.config" {
                    return Err(invalid(format!("EventSource {es:?} is not aws.config")));
                }
            }
            let mt = str_field(o, "MessageType")?.unwrap_or("ConfigurationItemChangeNotification");
            if ![
                "ConfigurationItemChangeNotification",
                "ConfigurationSnapshotDeliveryCompleted",
                "ScheduledNotification",
                "OversizedConfigurationItemChangeNotification",
            ]
            .contains(&mt)
            {
                return Err(invalid(format!("MessageType {mt:?} is not supported")));
            }
            let f = str_field(o, "MaximumExecutionFrequency")?;
            if let Some(f) = f {
                if frequency_ms(f).is_none() {
                    return Err(invalid(format!(
                        "MaximumExecutionFrequency {f:?} is not a valid frequency"
                    )));
                }
                if mt != "ScheduledNotification" && mt != "ConfigurationSnapshotDeliveryCompleted" {
                    return Err(invalid(format!(
                        "MaximumExecutionFrequency applies to periodic rules only, not to {mt}"
                    )));
                }
            }
            Ok(Detail {
                message_type: mt.to_string(),
                frequency: f.map(str::to_string),
            })
        })
        .collect()
}

fn triggers_of(
    details: &[Detail],
    rule_frequency: Option<&str>,
    change_by_default: bool,
) -> Result<Triggers, DefError> {
    if details.is_empty() {
        if let Some(f) = rule_frequency {
            return Ok(Triggers {
                on_change: false,
                periodic: Some(f.to_string()),
            });
        }
        return Ok(Triggers {
            on_change: change_by_default,
            periodic: None,
        });
    }
    let on_change = details.iter().any(|d| {
        d.message_type == "ConfigurationItemChangeNotification"
            || d.message_type == "OversizedConfigurationItemChangeNotification"
    });
    let scheduled: Vec<&Detail> = details
        .iter()
        .filter(|d| {
            d.message_type == "ScheduledNotification"
                || d.message_type == "ConfigurationSnapshotDeliveryCompleted"
        })
        .collect();
    if scheduled.is_empty() && rule_frequency.is_some() {
        return Err(invalid(
            "MaximumExecutionFrequency is set but no SourceDetail is periodic (ScheduledNotification)",
        ));
    }
    let periodic = if scheduled.is_empty() {
        None
    } else {
        Some(
            scheduled
                .iter()
                .find_map(|d| d.frequency.clone())
                .or(rule_frequency.map(str::to_string))
                .unwrap_or_else(|| "TwentyFour_Hours".to_string()),
        )
    };
    Ok(Triggers {
        on_change,
        periodic,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn ctx() -> DefContext {
        DefContext {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            evaluators: vec!["checker".into()],
            ..DefContext::default()
        }
    }

    #[test]
    fn rule_keys_are_names_at_home_and_carry_the_place_elsewhere() {
        let mut c = DefContext {
            home_account: "111111111111".into(),
            home_region: "us-east-1".into(),
            ..ctx()
        };
        assert_eq!(c.rule_key("ssh"), "ssh");
        c.scope_region = Some("us-east-1".into());
        assert_eq!(c.rule_key("ssh"), "ssh");
        c.scope_account = Some("111111111111".into());
        assert_eq!(c.rule_key("ssh"), "ssh");
        c.scope_region = Some("eu-west-1".into());
        assert_eq!(c.rule_key("ssh"), "ssh@eu-west-1");
        c.scope_account = Some("222222222222".into());
        assert_eq!(c.rule_key("ssh"), "ssh@222222222222:eu-west-1");
        c.scope_region = None;
        assert_eq!(c.rule_key("ssh"), "ssh@222222222222:us-east-1");
        let d = RuleDef::from_api(
            &json!({"ConfigRuleName": "ssh", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
            None,
            &c,
            1,
        )
        .unwrap();
        assert_eq!(d.name(), "ssh@222222222222:us-east-1");
        assert_eq!(d.display_name(), "ssh");
    }

    #[test]
    fn managed_rule_gets_server_fields() {
        let d = RuleDef::from_api(
            &json!({"ConfigRuleName": "ssh", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"},
                    "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]}}),
            None,
            &ctx(),
            1,
        )
        .unwrap();
        assert!(d.id.starts_with("config-rule-") && d.id.len() == 18);
        assert_eq!(
            d.arn,
            format!("arn:aws:config:us-east-1:123456789012:config-rule/{}", d.id)
        );
        assert_eq!(d.api["ConfigRuleState"], "ACTIVE");
        assert!(d.triggers.on_change && d.triggers.periodic.is_none());
        // An update keeps the id.
        let d2 = RuleDef::from_api(&json!({"ConfigRuleName": "ssh", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}), Some(&d), &ctx(), 2).unwrap();
        assert_eq!(d2.id, d.id);
        assert_eq!(d2.created_ms, 1);
    }

    #[test]
    fn refusals_name_the_member() {
        let cases = [
            (
                json!({"ConfigRuleName": "x", "ConfigRuleId": "config-rule-abcdef", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
                "InvalidParameterValueException",
                "ConfigRuleId",
            ),
            (
                json!({"ConfigRuleName": "x", "Source": {"Owner": "AWS", "SourceIdentifier": "NOPE"}}),
                "InvalidParameterValueException",
                "NOPE",
            ),
            (
                json!({"ConfigRuleName": "x", "InputParameters": "[1]", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
                "InvalidParameterValueException",
                "InputParameters",
            ),
            (
                json!({"ConfigRuleName": "x", "Source": {"Owner": "CUSTOM_POLICY", "CustomPolicyDetails": {"PolicyRuntime": "guard-2.x.x", "PolicyText": "rule x {}"}}}),
                "InvalidParameterValueException",
                "cel",
            ),
            (
                json!({"ConfigRuleName": "x", "Source": {"Owner": "CUSTOM_POLICY", "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}], "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": "a.("}}}),
                "InvalidParameterValueException",
                "CEL",
            ),
            (
                json!({"ConfigRuleName": "x", "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": "arn:aws:lambda:us-east-1:1:function:other", "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}]}}),
                "InsufficientPermissionsException",
                "other",
            ),
            (
                json!({"ConfigRuleName": "x", "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": "arn:aws:lambda:us-east-1:1:function:checker", "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification", "MaximumExecutionFrequency": "One_Hour"}]}}),
                "InvalidParameterValueException",
                "periodic",
            ),
            (
                json!({"ConfigRuleName": "x", "Scope": {"TagValue": "v"}, "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
                "InvalidParameterValueException",
                "TagKey",
            ),
            (
                json!({"ConfigRuleName": "x", "ConfigRuleState": "DELETING", "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
                "InvalidParameterValueException",
                "ACTIVE",
            ),
        ];
        for (cr, code, word) in cases {
            let e = RuleDef::from_api(&cr, None, &ctx(), 1).unwrap_err();
            assert_eq!(e.code, code, "{cr}");
            assert!(e.message.contains(word), "{} lacks {word}", e.message);
        }
    }

    #[test]
    fn custom_rule_triggers() {
        let d = RuleDef::from_api(
            &json!({"ConfigRuleName": "ext", "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": "arn:aws:lambda:us-east-1:1:function:checker",
                "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}, {"MessageType": "ScheduledNotification", "MaximumExecutionFrequency": "Six_Hours"}]}}),
            None, &ctx(), 1).unwrap();
        assert_eq!(
            d.triggers,
            Triggers {
                on_change: true,
                periodic: Some("Six_Hours".into())
            }
        );
        assert_eq!(
            d.rule.evaluator,
            Evaluator::External {
                evaluator: "checker".into(),
                parameters: Map::new()
            }
        );
    }
}
