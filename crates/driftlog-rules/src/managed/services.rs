//! The second wave's rules: Lambda, RDS, KMS, CloudTrail, ELBv2, Secrets Manager,
//! CloudWatch and VPC flow logs (the simpler ones are judged inline in `evaluate_more`).

use super::*;

/// Condition keys that tie a wildcard principal to one account, organization or source:
/// a statement conditioned on one of them is not public.
pub(super) const SCOPING_KEYS: &[&str] = &[
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "lambda:eventsourcetoken",
];

/// True when a statement's principal is everyone.
pub(super) fn anyone(principal: &Value) -> bool {
    match principal {
        Value::String(x) => x == "*",
        Value::Object(m) => m.values().any(|a| listed(a).contains(&"*")),
        _ => false,
    }
}

/// True when a condition block names a key that scopes the caller.
pub(super) fn scoped(condition: &Value) -> bool {
    condition.as_object().is_some_and(|ops| {
        ops.values().any(|keys| {
            keys.as_object().is_some_and(|k| {
                k.keys()
                    .any(|k| SCOPING_KEYS.contains(&k.to_ascii_lowercase().as_str()))
            })
        })
    })
}

pub(super) fn lambda_public(policy: &Value) -> Verdict {
    let Some(doc) = json_doc(policy) else {
        return Verdict::compliant();
    };
    for s in statements(&doc) {
        if s["Effect"].as_str() == Some("Allow")
            && anyone(&s["Principal"])
            && !scoped(&s["Condition"])
        {
            return Verdict::non_compliant(format!(
                "the function policy allows anyone to {} (statement {})",
                listed(&s["Action"]).join(", "),
                s["Sid"].as_str().unwrap_or("without Sid")
            ));
        }
    }
    Verdict::compliant()
}

pub(super) fn key_rotation(c: &Value, supp: &Value) -> Verdict {
    // Only symmetric encryption keys that customers manage, with key material KMS made,
    // can rotate automatically: AWS managed keys rotate on their own; asymmetric, HMAC,
    // imported and custom-key-store keys cannot.
    let spec = text(&c["keySpec"])
        .or(text(&c["customerMasterKeySpec"]))
        .unwrap_or("SYMMETRIC_DEFAULT");
    if text(&c["keyManager"]) == Some("AWS")
        || spec != "SYMMETRIC_DEFAULT"
        || text(&c["origin"]).is_some_and(|o| o != "AWS_KMS")
    {
        return Verdict::not_applicable();
    }
    if truthy(&supp["KeyRotationStatus"]) {
        Verdict::compliant()
    } else {
        Verdict::non_compliant("automatic key rotation is not enabled")
    }
}

/// Why a trail does not satisfy MULTI_REGION_CLOUD_TRAIL_ENABLED, or `None` if it does.
pub(super) fn trail_mismatch(params: &Map<String, Value>, t: &Value) -> Option<String> {
    let c = &t["configuration"];
    let supp = &t["supplementaryConfiguration"];
    let name = text(&c["name"])
        .or(t["resourceName"].as_str())
        .unwrap_or("?");
    if !truthy(&c["isMultiRegionTrail"]) {
        return Some(format!("{name} is not multi-region"));
    }
    let status = &supp["TrailStatus"];
    if !status.is_null() && !truthy(&status["isLogging"]) {
        return Some(format!("{name} is not logging"));
    }
    for (p, field) in [
        ("s3BucketName", "s3BucketName"),
        ("snsTopicArn", "snsTopicARN"),
        ("cloudWatchLogsLogGroupArn", "cloudWatchLogsLogGroupArn"),
    ] {
        if let Some(want) = param(params, p) {
            if text(&c[field]) != Some(want.as_str()) {
                return Some(format!("{name}'s {field} is not {want}"));
            }
        }
    }
    // A trail without event selectors logs all management events (CloudTrail's default).
    let default = vec![json!({"readWriteType": "All", "includeManagementEvents": true})];
    let selectors: Vec<Value> = match supp["EventSelectors"].as_array() {
        Some(a) if !a.is_empty() => a.clone(),
        _ => default,
    };
    let rw = |s: &Value| {
        s["readWriteType"]
            .as_str()
            .unwrap_or("All")
            .to_ascii_uppercase()
    };
    let include = param(params, "includeManagementEvents").map(|v| v.eq_ignore_ascii_case("true"));
    let want_rw = param(params, "readWriteType").map(|v| v.to_ascii_uppercase());
    if include.is_some() || want_rw.is_some() {
        let ok = selectors.iter().any(|s| {
            include.is_none_or(|i| truthy(&s["includeManagementEvents"]) == i)
                && want_rw.as_ref().is_none_or(|w| rw(s) == *w)
        });
        if !ok {
            return Some(format!(
                "{name} has no event selector with{}{}",
                include
                    .map(|i| format!(" includeManagementEvents={i}"))
                    .unwrap_or_default(),
                want_rw
                    .map(|w| format!(" readWriteType={w}"))
                    .unwrap_or_default()
            ));
        }
    }
    if selectors.iter().any(|s| {
        s["excludeManagementEventSources"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }) {
        return Some(format!("{name} excludes management event sources"));
    }
    None
}

pub(super) fn multi_region_trail(
    params: &Map<String, Value>,
    related: &[Value],
) -> Result<Verdict, RuleError> {
    let mut why = Vec::new();
    for t in of_type(related, TRAIL) {
        match trail_mismatch(params, t) {
            None => return Ok(Verdict::compliant()),
            Some(w) => why.push(w),
        }
    }
    Ok(Verdict::non_compliant(if why.is_empty() {
        "no CloudTrail trail is recorded in the account".to_string()
    } else {
        format!("no multi-region trail matches: {}", why.join("; "))
    }))
}

pub(super) fn alb_redirection(c: &Value, item: &Value, related: &[Value]) -> Verdict {
    if !text(&c["type"]).is_some_and(|t| t.eq_ignore_ascii_case("application")) {
        return Verdict::not_applicable();
    }
    let arn = text(&c["loadBalancerArn"])
        .or(item["ARN"].as_str())
        .or(item["resourceId"].as_str())
        .unwrap_or("");
    let mut bad = Vec::new();
    for l in of_type(related, LISTENER) {
        let lc = &l["configuration"];
        if lc["LoadBalancerArn"].as_str() != Some(arn)
            || !lc["Protocol"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case("HTTP"))
        {
            continue;
        }
        let redirects = lc["DefaultActions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| {
                a["Type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("redirect"))
                    && a["RedirectConfig"]["Protocol"]
                        .as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case("HTTPS"))
            });
        if !redirects {
            bad.push(format!(
                "HTTP listener on port {} does not redirect to HTTPS",
                lc["Port"]
            ));
        }
    }
    if bad.is_empty() {
        Verdict::compliant()
    } else {
        Verdict::non_compliant(bad.join("; "))
    }
}

/// A secret's rotation interval in hours, when its rotation rules say it.
pub(super) fn rotation_hours(rules: &Value) -> Option<u64> {
    if let Some(d) = rules["AutomaticallyAfterDays"].as_u64().filter(|d| *d > 0) {
        return Some(d * 24);
    }
    if let Some(h) = rules["AutomaticallyAfterHours"].as_u64().filter(|h| *h > 0) {
        return Some(h);
    }
    let expr = text(&rules["RotationScheduleExpression"]).or(text(&rules["ScheduleExpression"]))?;
    let inner = expr.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    match unit.trim() {
        "day" | "days" => Some(n * 24),
        "hour" | "hours" => Some(n),
        _ => None,
    }
}

pub(super) fn secret_rotation(params: &Map<String, Value>, c: &Value) -> Verdict {
    if !truthy(&c["RotationEnabled"]) {
        return Verdict::non_compliant("rotation is not enabled");
    }
    let days = param(params, "maximumAllowedRotationFrequency").and_then(|v| v.parse::<u64>().ok());
    let hours =
        param(params, "maximumAllowedRotationFrequencyInHours").and_then(|v| v.parse::<u64>().ok());
    let limit = match (days.map(|d| d * 24), hours) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match (limit, rotation_hours(&c["RotationRules"])) {
        (Some(max), Some(every)) if every > max => Verdict::non_compliant(format!(
            "the secret rotates every {every} hours, more than the {max} allowed"
        )),
        _ => Verdict::compliant(),
    }
}

pub(super) fn alarm_actions(params: &Map<String, Value>, c: &Value) -> Result<Verdict, RuleError> {
    let actions = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .find_map(|k| c[*k].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let states = [
        (
            "alarmActionRequired",
            true,
            "ALARM",
            actions(&["alarmActions"]),
        ),
        (
            "insufficientDataActionRequired",
            true,
            "INSUFFICIENT_DATA",
            actions(&["insufficientDataActions"]),
        ),
        (
            "okActionRequired",
            false,
            "OK",
            actions(&["okactions", "okActions", "OKActions"]),
        ),
    ];
    let mut missing = Vec::new();
    for (p, default, state, list) in &states {
        if boolean_param(params, p, *default)? && list.is_empty() {
            missing.push(format!("no action for the {state} state"));
        }
    }
    if !missing.is_empty() {
        return Ok(Verdict::non_compliant(missing.join("; ")));
    }
    let named: Vec<String> = (1..=5)
        .filter_map(|i| param(params, &format!("action{i}")))
        .collect();
    if !named.is_empty()
        && !states
            .iter()
            .any(|(_, _, _, list)| list.iter().any(|a| named.contains(a)))
    {
        return Ok(Verdict::non_compliant(format!(
            "none of the alarm's actions is one of {}",
            named.join(", ")
        )));
    }
    Ok(Verdict::compliant())
}

pub(super) fn vpc_flow_logs(
    params: &Map<String, Value>,
    c: &Value,
    item: &Value,
    related: &[Value],
) -> Verdict {
    let vpc = text(&c["vpcId"])
        .or(item["resourceId"].as_str())
        .unwrap_or("");
    let want = param(params, "trafficType").map(|t| t.to_ascii_uppercase());
    let logs: Vec<&Value> = of_type(related, FLOW_LOG)
        .filter(|f| f["configuration"]["resourceId"].as_str() == Some(vpc))
        .collect();
    let active: Vec<&&Value> = logs
        .iter()
        .filter(|f| {
            f["configuration"]["flowLogStatus"]
                .as_str()
                .is_none_or(|s| s == "ACTIVE")
        })
        .collect();
    if active.is_empty() {
        return Verdict::non_compliant(if logs.is_empty() {
            format!("no flow log is recorded for {vpc}")
        } else {
            format!("no flow log of {vpc} is active")
        });
    }
    match want {
        Some(w)
            if !active.iter().any(|f| {
                f["configuration"]["trafficType"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(&w))
            }) =>
        {
            Verdict::non_compliant(format!("no active flow log of {vpc} logs {w} traffic"))
        }
        _ => Verdict::compliant(),
    }
}
