//! Rules and compliance operations (spec §2.4) over the rules engine: rules are put,
//! described, deleted and started; compliance is read from the engine's index (derived
//! from the compliance items of the log); PutEvaluations takes an external evaluator's
//! late results with its result token.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::ConfigApi;
use driftlog_compliance::item::evaluation_result_json;
use driftlog_compliance::{Engine, EngineError, ResultRecord, RuleStatus, CAP};
use driftlog_rules::Compliance;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const COMPLIANCE_TYPES: &[&str] = &[
    "COMPLIANT",
    "NON_COMPLIANT",
    "NOT_APPLICABLE",
    "INSUFFICIENT_DATA",
];

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Def(d) => ApiError::new(d.code, d.message),
        EngineError::NoSuchRule(_) => ApiError::new("NoSuchConfigRuleException", e.to_string()),
        EngineError::Busy(_) => ApiError::new("LimitExceededException", e.to_string()),
        EngineError::TooMany => {
            ApiError::new("MaxNumberOfConfigRulesExceededException", e.to_string())
        }
        EngineError::InvalidToken => ApiError::new("InvalidResultTokenException", e.to_string()),
        EngineError::Invalid(m) => ApiError::new("InvalidParameterValueException", m),
        EngineError::InUse(_) => ApiError::new("ResourceInUseException", e.to_string()),
        other => ApiError::internal(other),
    }
}

/// True when the caller sees the rule: rules live in the account and region they were put
/// in, as AWS's do (rules put from the CLI or a config, with no place, are seen by all).
fn visible(caller: &Caller, def: &driftlog_compliance::RuleDef) -> bool {
    let sc = &def.rule.scope;
    let same = |mine: &Option<String>, theirs: &Option<String>| match (mine, theirs) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    same(&sc.region, &caller.region) && same(&sc.account, &caller.account)
}

/// True when the caller's account and region hold the resource (global ones, such as IAM,
/// are in every region): a rule of the CLI judges every place, and a caller is told only of
/// its own, as of its resources.
fn place_visible(caller: &Caller, account: &str, region: &str) -> bool {
    caller.account.as_deref().is_none_or(|a| a == account)
        && caller
            .region
            .as_deref()
            .is_none_or(|r| r == region || region == "global")
}

fn result_visible(caller: &Caller, r: &ResultRecord) -> bool {
    place_visible(caller, &r.account, &r.region)
}

/// A resource's compliance as the caller sees it: from the results of the caller's rules
/// (`seen`, by key) for the caller's place.
fn callers_compliance(
    results: &[ResultRecord],
    seen: &std::collections::HashSet<String>,
    caller: &Caller,
) -> (Compliance, u64) {
    let mine: Vec<&ResultRecord> = results
        .iter()
        .filter(|r| seen.contains(&r.rule) && result_visible(caller, r))
        .collect();
    resource_compliance(&mine)
}

/// The rules named, in the order named (`NoSuchConfigRuleException` for a name not among
/// `rules`), or all of `rules` when none is named.
fn named_or_all(
    rules: Vec<driftlog_compliance::RuleDef>,
    names: Option<Vec<String>>,
) -> ApiResult<Vec<driftlog_compliance::RuleDef>> {
    match names.filter(|n| !n.is_empty()) {
        Some(names) => names
            .iter()
            .map(|n| {
                rules
                    .iter()
                    .find(|r| r.display_name() == n)
                    .cloned()
                    .ok_or_else(|| no_such_rule(n))
            })
            .collect(),
        None => Ok(rules),
    }
}

/// Rules by their names, sorted, keeping for a name shared by several the most confined
/// (own account and region before everywhere).
fn one_per_name(rules: Vec<driftlog_compliance::RuleDef>) -> Vec<driftlog_compliance::RuleDef> {
    let confinement = |d: &driftlog_compliance::RuleDef| {
        u8::from(d.rule.scope.region.is_some()) + u8::from(d.rule.scope.account.is_some())
    };
    let mut by_name: std::collections::BTreeMap<String, driftlog_compliance::RuleDef> =
        std::collections::BTreeMap::new();
    for d in rules {
        let keep = by_name
            .get(d.display_name())
            .is_some_and(|prev| confinement(prev) >= confinement(&d));
        if !keep {
            by_name.insert(d.display_name().to_string(), d);
        }
    }
    by_name.into_values().collect()
}

/// One page of rules after the name `after`, in the order given, and the name the next page
/// resumes after (when there is one).
fn page_by_name<'a>(
    rules: &'a [driftlog_compliance::RuleDef],
    after: Option<&str>,
    limit: usize,
) -> (Vec<&'a driftlog_compliance::RuleDef>, Option<String>) {
    let mut rest = rules
        .iter()
        .filter(|r| after.is_none_or(|a| r.display_name() > a));
    let page: Vec<_> = rest.by_ref().take(limit).collect();
    let next = rest
        .next()
        .and(page.last())
        .map(|r| r.display_name().to_string());
    (page, next)
}

fn no_such_rule(name: &str) -> ApiError {
    engine_error(EngineError::NoSuchRule(name.to_string()))
}

fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn compliance_of(s: &str) -> Compliance {
    match s {
        "COMPLIANT" => Compliance::Compliant,
        "NON_COMPLIANT" => Compliance::NonCompliant,
        "NOT_APPLICABLE" => Compliance::NotApplicable,
        _ => Compliance::InsufficientData,
    }
}

/// `ComplianceTypes` as a filter (empty: all), refusing `not_a_filter` with AWS's reason.
fn compliance_filter_without(
    input: &Input,
    max: usize,
    not_a_filter: Compliance,
    why: &str,
) -> ApiResult<Vec<Compliance>> {
    let filter = compliance_filter(input, max)?;
    if filter.contains(&not_a_filter) {
        return Err(ApiError::new(
            "InvalidParameterValueException",
            format!("{} cannot be used to filter {why}.", not_a_filter.as_str()),
        ));
    }
    Ok(filter)
}

/// `ComplianceTypes` as a filter (empty: all).
fn compliance_filter(input: &Input, max: usize) -> ApiResult<Vec<Compliance>> {
    let Some(list) = input.strings("ComplianceTypes", max, 1, usize::MAX)? else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            if COMPLIANCE_TYPES.contains(&s.as_str()) {
                Ok(compliance_of(s))
            } else {
                Err(ApiError::constraint(
                    s,
                    &format!("complianceTypes.{}.member", i + 1),
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        COMPLIANCE_TYPES.join(", ")
                    ),
                ))
            }
        })
        .collect()
}

const FREQUENCIES: &[&str] = &[
    "One_Hour",
    "Three_Hours",
    "Six_Hours",
    "Twelve_Hours",
    "TwentyFour_Hours",
];

/// PutConfigRule's `ConfigRule` against the model's constraints (lengths, enums, list
/// sizes), each a `ValidationException` naming the member as AWS does. What the model allows
/// but the service refuses (no name, Arn on create, state ≠ ACTIVE, …) is left to the rules
/// engine's `InvalidParameterValueException`s.
fn check_config_rule(cr: &Input) -> ApiResult<()> {
    if let Some(name) = cr.string("ConfigRuleName", 1, 128)? {
        if name.trim().is_empty() {
            return Err(ApiError::constraint(
                &name,
                "configRule.configRuleName",
                "Member must satisfy regular expression pattern: .*\\S.*",
            ));
        }
    }
    cr.string("ConfigRuleArn", 1, 256)?;
    cr.string("ConfigRuleId", 1, 64)?;
    cr.string("Description", 0, 256)?;
    cr.string("InputParameters", 1, 1024)?;
    cr.string("CreatedBy", 1, 256)?;
    cr.enumerated("MaximumExecutionFrequency", FREQUENCIES)?;
    cr.enumerated(
        "ConfigRuleState",
        &["ACTIVE", "DELETING", "DELETING_RESULTS", "EVALUATING"],
    )?;
    cr.enumerated("RuleEvaluationVisibility", &["EXTERNAL", "INTERNAL"])?;
    if let Some(modes) = cr.objects("EvaluationModes", usize::MAX)? {
        for m in &modes {
            m.enumerated("Mode", &["DETECTIVE", "PROACTIVE"])?;
        }
    }
    if let Some(scope) = cr.object("Scope")? {
        scope.strings("ComplianceResourceTypes", 100, 1, 256)?;
        scope.string("TagKey", 1, 128)?;
        scope.string("TagValue", 1, 256)?;
        scope.string("ComplianceResourceId", 1, 768)?;
        scope.strings("ServicePrincipals", 100, 1, 128)?;
    }
    let Some(source) = cr.object("Source")? else {
        return Err(cr.missing("Source"));
    };
    if source
        .enumerated("Owner", &["CUSTOM_LAMBDA", "AWS", "CUSTOM_POLICY"])?
        .is_none()
    {
        return Err(source.missing("Owner"));
    }
    source.string("SourceIdentifier", 1, 256)?;
    if let Some(details) = source.objects("SourceDetails", 25)? {
        for d in &details {
            d.enumerated("EventSource", &["aws.config"])?;
            d.enumerated(
                "MessageType",
                &[
                    "ConfigurationItemChangeNotification",
                    "ConfigurationSnapshotDeliveryCompleted",
                    "ScheduledNotification",
                    "OversizedConfigurationItemChangeNotification",
                ],
            )?;
            d.enumerated("MaximumExecutionFrequency", FREQUENCIES)?;
        }
    }
    if let Some(policy) = source.object("CustomPolicyDetails")? {
        // The model's runtime pattern is Guard's; driftlog's runtime is "cel" (the engine
        // says so), so only the length is checked here.
        policy.required_string("PolicyRuntime", 1, 64)?;
        if !policy.has("PolicyText") {
            return Err(policy.missing("PolicyText"));
        }
        policy.string("PolicyText", 0, 10_000)?;
        policy.boolean("EnableDebugLogDelivery")?;
    }
    Ok(())
}

fn contributor(n: u64) -> Value {
    json!({"CappedCount": n.min(CAP), "CapExceeded": n > CAP})
}

/// A resource's compliance over its rules' results, and how many rules it violates.
fn resource_compliance(results: &[&ResultRecord]) -> (Compliance, u64) {
    let nc = results
        .iter()
        .filter(|r| r.compliance == Compliance::NonCompliant)
        .count() as u64;
    let c = if nc > 0 {
        Compliance::NonCompliant
    } else if results
        .iter()
        .any(|r| r.compliance == Compliance::Compliant)
    {
        Compliance::Compliant
    } else {
        // AWS's Compliance type has no NOT_APPLICABLE: a resource no rule applies to is
        // INSUFFICIENT_DATA.
        Compliance::InsufficientData
    };
    (c, nc)
}

fn compliance_json(c: Compliance, non_compliant: u64) -> Value {
    let mut v = json!({"ComplianceType": c.as_str()});
    if c == Compliance::NonCompliant {
        v["ComplianceContributorCount"] = contributor(non_compliant);
    }
    v
}

fn status_json(def: &driftlog_compliance::RuleDef, s: &RuleStatus) -> Value {
    let mut v = Map::new();
    v.insert("ConfigRuleName".into(), json!(def.display_name()));
    v.insert("ConfigRuleArn".into(), json!(def.arn));
    v.insert("ConfigRuleId".into(), json!(def.id));
    let mut t = |k: &str, ms: Option<i64>| {
        if let Some(ms) = ms {
            v.insert(k.into(), secs(ms));
        }
    };
    t("LastSuccessfulInvocationTime", s.last_success_invocation_ms);
    t("LastFailedInvocationTime", s.last_failed_invocation_ms);
    t("LastSuccessfulEvaluationTime", s.last_success_evaluation_ms);
    t("LastFailedEvaluationTime", s.last_failed_evaluation_ms);
    t(
        "FirstActivatedTime",
        Some(if s.first_activated_ms > 0 {
            s.first_activated_ms
        } else {
            def.created_ms
        }),
    );
    if let Some(c) = &s.last_error_code {
        v.insert("LastErrorCode".into(), json!(c));
    }
    if let Some(m) = &s.last_error_message {
        v.insert("LastErrorMessage".into(), json!(m));
    }
    v.insert(
        "FirstEvaluationStarted".into(),
        json!(s.first_evaluation_started),
    );
    Value::Object(v)
}

impl ConfigApi {
    fn engine(&self) -> ApiResult<Arc<Engine>> {
        self.rules
            .get()
            .cloned()
            .ok_or_else(|| ApiError::internal("the rules engine is not running"))
    }

    fn rule_names(&self, input: &Input) -> ApiResult<Option<Vec<String>>> {
        input.strings("ConfigRuleNames", 25, 1, 128)
    }

    /// True when the caller is of the server's own region (and account): the place whose
    /// rules keep their plain names, as the CLI's do.
    fn at_home(&self, caller: &Caller) -> bool {
        caller
            .region
            .as_deref()
            .is_none_or(|r| r == self.settings.region)
            && caller
                .account
                .as_deref()
                .is_none_or(|a| a == self.settings.account)
    }

    /// The rules the caller sees, in order of their names, one per name: a rule of the
    /// caller's own account and region hides a CLI rule (judging everything) of that name.
    fn visible_rules(&self, caller: &Caller, engine: &Engine) -> Vec<driftlog_compliance::RuleDef> {
        one_per_name(
            engine
                .rules()
                .into_iter()
                .filter(|d| visible(caller, d))
                .collect(),
        )
    }

    /// The rule of that name, if the caller sees it.
    fn visible_rule(
        &self,
        caller: &Caller,
        engine: &Engine,
        name: &str,
    ) -> ApiResult<driftlog_compliance::RuleDef> {
        self.visible_rules(caller, engine)
            .into_iter()
            .find(|d| d.display_name() == name)
            .ok_or_else(|| no_such_rule(name))
    }

    pub(crate) async fn put_config_rule(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let engine = self.engine()?;
        let Some(cr) = input.object("ConfigRule")? else {
            return Err(input.missing("ConfigRule"));
        };
        check_config_rule(&cr)?;
        if let Some(tags) = input.objects("Tags", 50)? {
            for t in &tags {
                t.required_string("Key", 1, 128)?;
                t.string("Value", 0, 256)?;
            }
        }
        if self.control().recorder.is_none() {
            return Err(ApiError::new(
                "NoAvailableConfigurationRecorderException",
                "No configuration recorder is defined: create one with PutConfigurationRecorder before putting rules.",
            ));
        }
        let mut raw = input.raw("ConfigRule").cloned().unwrap_or(Value::Null);
        // An existing rule may be named by its ConfigRuleName, ConfigRuleId or ConfigRuleArn.
        if raw.get("ConfigRuleName").is_none_or(Value::is_null) {
            let arn = raw.get("ConfigRuleArn").and_then(Value::as_str);
            let id = raw.get("ConfigRuleId").and_then(Value::as_str);
            if arn.is_some() || id.is_some() {
                let found = self
                    .visible_rules(caller, &engine)
                    .into_iter()
                    .find(|d| arn.is_none_or(|a| a == d.arn) && id.is_none_or(|i| i == d.id));
                let Some(found) = found else {
                    return Err(ApiError::new(
                        "InvalidParameterValueException",
                        format!(
                            "No rule has ConfigRuleArn {} / ConfigRuleId {}: name the rule with ConfigRuleName to create it.",
                            arn.unwrap_or("-"),
                            id.unwrap_or("-")
                        ),
                    ));
                };
                raw["ConfigRuleName"] = json!(found.display_name());
            }
        }
        let _w = self.writes.lock().await;
        // The rule lives in the caller's account and region, and judges their resources.
        let mut ctx = engine.def_context();
        ctx.account = self.account(caller);
        ctx.region = self.region(caller);
        ctx.scope_account.clone_from(&caller.account);
        ctx.scope_region = Some(ctx.region.clone());
        engine.put_rule_in(&raw, &ctx).map_err(engine_error)?;
        Ok(json!({}))
    }

    pub(crate) fn describe_config_rules(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let engine = self.engine()?;
        let names = self.rule_names(input)?;
        if let Some(f) = input.object("Filters")? {
            f.enumerated("RuleEvaluationVisibility", &["EXTERNAL", "INTERNAL"])?;
            if f.enumerated("EvaluationMode", &["DETECTIVE", "PROACTIVE"])?
                .as_deref()
                == Some("PROACTIVE")
            {
                return Ok(json!({"ConfigRules": []}));
            }
        }
        // Rules being deleted are listed DELETING until their results have ended, as AWS's.
        let mut rules = self.visible_rules(caller, &engine);
        let deleting = one_per_name(
            engine
                .deleting_rules()
                .into_iter()
                .filter(|d| visible(caller, d))
                .collect(),
        );
        for mut d in deleting {
            if !rules.iter().any(|r| r.display_name() == d.display_name()) {
                d.api["ConfigRuleState"] = json!("DELETING");
                rules.push(d);
            }
        }
        rules.sort_by(|a, b| a.display_name().cmp(b.display_name()));
        if names.as_ref().is_some_and(|n| !n.is_empty()) {
            let out: Vec<Value> = named_or_all(rules, names)?
                .into_iter()
                .map(|r| r.api)
                .collect();
            return Ok(json!({ "ConfigRules": out }));
        }
        let after = self.resume(input, "NextToken", "DescribeConfigRules", "")?;
        let (page, next) = page_by_name(&rules, after.as_deref(), 25);
        let page: Vec<Value> = page.iter().map(|r| r.api.clone()).collect();
        let mut out = json!({"ConfigRules": page});
        if let Some(n) = next {
            out["NextToken"] = json!(self.tokens.issue("DescribeConfigRules", "", &n));
        }
        Ok(out)
    }

    pub(crate) async fn delete_config_rule(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let name = input.required_string("ConfigRuleName", 1, 128)?;
        let key = match self.visible_rule(caller, &engine, &name) {
            Ok(d) if d.rule.scope.region.is_none() && !self.at_home(caller) => {
                // A rule of the CLI judges every region: one region's caller cannot take it
                // from all the others.
                return Err(ApiError::new(
                    "InvalidParameterValueException",
                    format!(
                        "The rule {name:?} is server-wide (added with `driftlog rules add`, judging every region); delete it with `driftlog rules remove {name}` or from {}.",
                        self.settings.region
                    ),
                ));
            }
            Ok(d) => d.rule.name,
            Err(e) => {
                // Deleted already and still ending its results: in use, as AWS answers.
                if engine
                    .deleting_rules()
                    .iter()
                    .any(|d| d.display_name() == name && visible(caller, d))
                {
                    return Err(engine_error(EngineError::InUse(name)));
                }
                return Err(e);
            }
        };
        let _w = self.writes.lock().await;
        engine.delete_rule(&key).map_err(engine_error)?;
        Ok(json!({}))
    }

    pub(crate) fn start_rules_evaluation(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let Some(names) = self.rule_names(input)? else {
            return Err(ApiError::new(
                "InvalidParameterValueException",
                "ConfigRuleNames is required: name 1 to 25 rules to evaluate.",
            ));
        };
        if names.is_empty() {
            return Err(ApiError::constraint(
                "[]",
                "configRuleNames",
                "Member must have length greater than or equal to 1",
            ));
        }
        let keys = names
            .iter()
            .map(|n| Ok(self.visible_rule(caller, &engine, n)?.rule.name))
            .collect::<ApiResult<Vec<String>>>()?;
        // AWS: "more than once per minute" is LimitExceededException, as is a running one.
        {
            let started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((n, _)) = names.iter().zip(&keys).find(|(_, k)| {
                started
                    .get(*k)
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(60))
            }) {
                return Err(ApiError::new(
                    "LimitExceededException",
                    format!("The rule '{n}' was started less than a minute ago; StartConfigRulesEvaluation takes each rule once a minute."),
                ));
            }
        }
        engine.start_evaluation(&keys).map_err(engine_error)?;
        let now = std::time::Instant::now();
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started.retain(|_, t| t.elapsed() < std::time::Duration::from_secs(60));
        for k in keys {
            started.insert(k, now);
        }
        Ok(json!({}))
    }

    pub(crate) async fn put_evaluations(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let engine = self.engine()?;
        let token = input.required_string("ResultToken", 0, usize::MAX)?;
        let test_mode = input.boolean("TestMode")?.unwrap_or(false);
        let evals = input.objects("Evaluations", 100)?;
        if let Some(evals) = &evals {
            for e in evals {
                e.required_string("ComplianceResourceType", 1, 256)?;
                e.required_string("ComplianceResourceId", 1, 768)?;
                if e.enumerated("ComplianceType", COMPLIANCE_TYPES)?.is_none() {
                    return Err(e.missing("ComplianceType"));
                }
                e.string("Annotation", 1, 256)?;
                if !e.has("OrderingTimestamp") {
                    return Err(e.missing("OrderingTimestamp"));
                }
                e.time("OrderingTimestamp")?;
            }
        }
        let raw: Vec<Value> = input
            .raw("Evaluations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // A token names a rule of one region (and account): another's caller cannot use it.
        if !test_mode
            && engine
                .token_rule(&token)
                .is_some_and(|d| !visible(caller, &d))
        {
            return Err(engine_error(EngineError::InvalidToken));
        }
        let failed = engine
            .put_evaluations(&token, &raw, test_mode)
            .await
            .map_err(engine_error)?;
        Ok(json!({"FailedEvaluations": failed}))
    }

    pub(crate) fn describe_compliance_by_rule(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let names = self.rule_names(input)?;
        let filter = compliance_filter_without(
            input,
            3,
            Compliance::NotApplicable,
            "a rule's compliance (a rule is COMPLIANT, NON_COMPLIANT or INSUFFICIENT_DATA)",
        )?;
        // One page holds every rule: a token was never issued, so any is refused.
        self.resume(input, "NextToken", "DescribeComplianceByConfigRule", "")?;
        let rules = self.visible_rules(caller, &engine);
        let out: Vec<Value> = named_or_all(rules, names)?
            .iter()
            .filter_map(|d| {
                let n = d.display_name();
                let counts =
                    engine.counts_where(&d.rule.name, |a, r| place_visible(caller, a, r));
                let c = counts.compliance();
                (filter.is_empty() || filter.contains(&c)).then(|| {
                    json!({"ConfigRuleName": n, "Compliance": compliance_json(c, counts.non_compliant)})
                })
            })
            .collect();
        Ok(json!({"ComplianceByConfigRules": out}))
    }

    pub(crate) async fn describe_compliance_by_resource(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let rtype = input.string("ResourceType", 1, 256)?;
        let rid = input.string("ResourceId", 1, 768)?;
        if rid.is_some() && rtype.is_none() {
            return Err(ApiError::new(
                "InvalidParameterValueException",
                "ResourceId needs ResourceType: name the resource's type too.",
            ));
        }
        let filter = compliance_filter_without(
            input,
            3,
            Compliance::NotApplicable,
            "a resource's compliance (a resource is COMPLIANT, NON_COMPLIANT or INSUFFICIENT_DATA)",
        )?;
        let limit = input.limit("Limit", 100, 10)?;
        let fingerprint = format!("{rtype:?}|{rid:?}|{filter:?}");
        let after = self.resume(
            input,
            "NextToken",
            "DescribeComplianceByResource",
            &fingerprint,
        )?;
        let seen: std::collections::HashSet<String> = self
            .visible_rules(caller, &engine)
            .into_iter()
            .map(|d| d.rule.name)
            .collect();
        if let (Some(t), Some(id)) = (&rtype, &rid) {
            // One resource: AWS answers INSUFFICIENT_DATA for a resource no rule judged.
            let results = engine.resource_results(t, id).map_err(engine_error)?;
            let (c, nc) = callers_compliance(&results, &seen, caller);
            let list = if filter.is_empty() || filter.contains(&c) {
                vec![
                    json!({"ResourceType": t, "ResourceId": id, "Compliance": compliance_json(c, nc)}),
                ]
            } else {
                Vec::new()
            };
            return Ok(json!({"ComplianceByResources": list}));
        }
        let seen2 = seen.clone();
        let who = caller.clone();
        let (page, next) = tokio::task::spawn_blocking(move || {
            engine.resources_page(
                rtype.as_deref(),
                None,
                after.as_deref(),
                |rs| {
                    rs.iter()
                        .any(|r| seen2.contains(&r.rule) && result_visible(&who, r))
                        && (filter.is_empty()
                            || filter.contains(&callers_compliance(rs, &seen2, &who).0))
                },
                limit,
            )
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(engine_error)?;
        let list: Vec<Value> = page
            .iter()
            .map(|(t, id, rs)| {
                let (c, nc) = callers_compliance(rs, &seen, caller);
                json!({"ResourceType": t, "ResourceId": id, "Compliance": compliance_json(c, nc)})
            })
            .collect();
        let mut out = json!({"ComplianceByResources": list});
        if let Some(n) = next {
            out["NextToken"] =
                json!(self
                    .tokens
                    .issue("DescribeComplianceByResource", &fingerprint, &n));
        }
        Ok(out)
    }

    pub(crate) async fn compliance_details_by_rule(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let name = input.required_string("ConfigRuleName", 1, 64)?;
        let filter = compliance_filter_without(
            input,
            3,
            Compliance::InsufficientData,
            "evaluation results; use COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE",
        )?;
        let limit = input.limit("Limit", 100, 10)?;
        let key = self.visible_rule(caller, &engine, &name)?.rule.name;
        // The cursor is a position among this rule key's results.
        let fingerprint = format!("{key}|{filter:?}");
        let after = self.resume(
            input,
            "NextToken",
            "GetComplianceDetailsByConfigRule",
            &fingerprint,
        )?;
        let who = caller.clone();
        let (page, next) = tokio::task::spawn_blocking(move || {
            engine.results_page_where(&key, &filter, after.as_deref(), limit, |r| {
                result_visible(&who, r)
            })
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(engine_error)?;
        let results: Vec<Value> = page
            .iter()
            .map(|r| evaluation_result_json(r, &name))
            .collect();
        let mut out = json!({ "EvaluationResults": results });
        if let Some(n) = next {
            out["NextToken"] =
                json!(self
                    .tokens
                    .issue("GetComplianceDetailsByConfigRule", &fingerprint, &n));
        }
        Ok(out)
    }

    pub(crate) fn compliance_details_by_resource(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let rtype = input.string("ResourceType", 1, 256)?;
        let rid = input.string("ResourceId", 1, 768)?;
        let eval_id = input.string("ResourceEvaluationId", 1, 128)?;
        let filter = compliance_filter_without(
            input,
            3,
            Compliance::InsufficientData,
            "evaluation results; use COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE",
        )?;
        input.string("NextToken", 0, usize::MAX)?;
        let (Some(t), Some(id)) = (rtype, rid) else {
            if eval_id.is_some() {
                // Proactive evaluations are not run here: nothing to report.
                return Ok(json!({"EvaluationResults": []}));
            }
            return Err(ApiError::new(
                "InvalidParameterValueException",
                "Name the resource with ResourceType and ResourceId (or a ResourceEvaluationId).",
            ));
        };
        let results = engine.resource_results(&t, &id).map_err(engine_error)?;
        // The caller's rules: key → the name shown.
        let seen: std::collections::HashMap<String, String> = self
            .visible_rules(caller, &engine)
            .into_iter()
            .map(|d| (d.rule.name.clone(), d.display_name().to_string()))
            .collect();
        let list: Vec<Value> = results
            .iter()
            .filter(|r| filter.is_empty() || filter.contains(&r.compliance))
            .filter(|r| result_visible(caller, r))
            .filter_map(|r| seen.get(&r.rule).map(|n| evaluation_result_json(r, n)))
            .collect();
        Ok(json!({"EvaluationResults": list}))
    }

    pub(crate) fn describe_rule_evaluation_status(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let engine = self.engine()?;
        let names = self.rule_names(input)?;
        let limit = input.limit("Limit", 50, 50)?;
        let rules = self.visible_rules(caller, &engine);
        // Pages resume after a name, so they walk the names in order.
        let mut chosen = named_or_all(rules, names)?;
        chosen.sort_by(|a, b| a.display_name().cmp(b.display_name()));
        chosen.dedup_by(|a, b| a.rule.name == b.rule.name);
        let after = self.resume(input, "NextToken", "DescribeConfigRuleEvaluationStatus", "")?;
        let (page, next) = page_by_name(&chosen, after.as_deref(), limit);
        let page: Vec<Value> = page
            .iter()
            .map(|d| status_json(d, &engine.status(&d.rule.name).unwrap_or_default()))
            .collect();
        let mut out = json!({"ConfigRulesEvaluationStatus": page});
        if let Some(n) = next {
            out["NextToken"] =
                json!(self
                    .tokens
                    .issue("DescribeConfigRuleEvaluationStatus", "", &n));
        }
        Ok(out)
    }
}
