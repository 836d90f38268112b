//! `driftlog rules …` and `driftlog compliance`: the rules engine from the command line.
//! Each command is a request the running `serve` answers (or the store itself when no
//! server runs); the answer is a report — lines for people, data for `--json`.

use crate::error::{bail, Context, Error, Result};
use crate::protocol::{time_arg, RulesRequest};
use crate::services::Reach;
use driftlog_compliance::backtest::{backtest, judge_at};
use driftlog_compliance::{Engine, ResultRecord, RuleDef};
use driftlog_model::time::{iso_ms, now_ms};
use driftlog_model::{Filter, ResourceKey, TypePattern, COMPLIANCE_TYPE};
use driftlog_rules::{Compliance, Judge};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn report(lines: Vec<String>, data: Value) -> Value {
    json!({"lines": lines, "data": data})
}

fn engine(b: &Reach) -> Result<Arc<Engine>> {
    b.rules()
        .cloned()
        .context("the rules engine is not open on this store")
}

fn def_or_named(e: &Engine, name: Option<&str>, definition: Option<&Value>) -> Result<Judge> {
    let rule = match (name, definition) {
        (_, Some(d)) => {
            RuleDef::from_api(d, None, &e.def_context(), now_ms())
                .map_err(|e| Error::invalid(format!("{}: {}", e.code, e.message)))?
                .rule
        }
        (Some(n), None) => match e.rule(n) {
            Some(d) => d.rule,
            None => bail!("no rule named {n:?}: `driftlog rules list` shows the rules, or describe a new one with --managed/--cel"),
        },
        (None, None) => bail!("name a rule, or describe one with --managed, --cel or --from-json"),
    };
    Judge::new(rule).map_err(|e| Error::invalid(format!("{e}")))
}

fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), iso_ms)
}

/// Answers one rules request.
///
/// # Errors
/// Bad input, named, or a store failure.
pub async fn execute(b: &Reach, req: RulesRequest) -> Result<Value> {
    let e = engine(b)?;
    let online = b.server().is_some();
    let now = driftlog_model::time::now_ms();
    match req {
        RulesRequest::List { .. } => {
            let mut lines = vec![format!(
                "{:<28} {:<14} {:<40} {:>9} {:>13} {:>9}  LAST ERROR",
                "RULE", "COMPLIANCE", "JUDGED BY", "COMPLIANT", "NON_COMPLIANT", "N/A"
            )];
            let mut data = Vec::new();
            for d in e.rules() {
                let c = e.counts(d.name());
                let st = e.status(d.name()).unwrap_or_default();
                let by = match &d.rule.evaluator {
                    driftlog_rules::Evaluator::Managed { identifier, .. } => identifier.clone(),
                    driftlog_rules::Evaluator::Cel { expression, .. } => {
                        format!("CEL {}", expression.chars().take(36).collect::<String>())
                    }
                    driftlog_rules::Evaluator::External { evaluator, .. } => {
                        format!("external {evaluator}")
                    }
                };
                let trig = match (&d.triggers.on_change, &d.triggers.periodic) {
                    (true, Some(p)) => format!("change + {p}"),
                    (true, None) => "change".into(),
                    (false, Some(p)) => p.clone(),
                    (false, None) => "on demand".into(),
                };
                lines.push(format!(
                    "{:<28} {:<14} {:<40} {:>9} {:>13} {:>9}  {}",
                    d.name(),
                    c.compliance().as_str(),
                    format!("{by} ({trig})")
                        .chars()
                        .take(40)
                        .collect::<String>(),
                    c.compliant,
                    c.non_compliant,
                    c.not_applicable,
                    st.last_error_message.as_deref().unwrap_or("")
                ));
                data.push(
                    json!({"rule": d.api, "triggers": d.triggers, "counts": c, "status": st}),
                );
            }
            if data.is_empty() {
                lines = vec!["no rules yet: `driftlog rules add no-ssh --managed INCOMING_SSH_DISABLED --type AWS::EC2::SecurityGroup`".into()];
            }
            Ok(report(lines, json!(data)))
        }
        RulesRequest::Add { name, spec } => {
            let rule = spec.config_rule(name.as_deref())?;
            let d = e
                .put_rule(&rule)
                .map_err(|err| Error::invalid(format!("rule rejected, nothing stored: {err}")))?;
            let mut lines = vec![format!("rule {} stored as {} ({})", d.name(), d.id, d.arn)];
            lines.push(if online {
                "evaluating it over the current inventory now; `driftlog compliance --rule NAME` shows the verdicts".replace("NAME", d.name())
            } else {
                "no `driftlog serve` is running: it is evaluated over the inventory when serve starts".into()
            });
            Ok(report(lines, d.api))
        }
        RulesRequest::Remove { name } => {
            e.delete_rule(&name)
                .map_err(|err| Error::invalid(format!("{err}")))?;
            Ok(report(
                vec![format!(
                    "rule {name} deleted; its results end (recorded as deleted compliance items)"
                )],
                json!({"deleted": name}),
            ))
        }
        RulesRequest::Eval { names, .. } => {
            let names = if names.is_empty() {
                e.rules().iter().map(|d| d.name().to_string()).collect()
            } else {
                names
            };
            if online {
                e.start_evaluation(&names)
                    .map_err(|err| Error::invalid(format!("{err}")))?;
                let t0 = std::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(50)).await;
                while names.iter().any(|n| e.is_running(n)) {
                    if t0.elapsed() > Duration::from_secs(3600) {
                        bail!(
                            "still evaluating after an hour; `driftlog rules list` shows progress"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let mut lines = vec![format!(
                    "evaluated {} rule(s) in {:.1} s",
                    names.len(),
                    t0.elapsed().as_secs_f64()
                )];
                let mut data = Vec::new();
                for n in &names {
                    let c = e.counts(n);
                    let st = e.status(n).unwrap_or_default();
                    lines.push(format!(
                        "{n}: {} ({} compliant, {} non-compliant, {} not applicable){}",
                        c.compliance().as_str(),
                        c.compliant,
                        c.non_compliant,
                        c.not_applicable,
                        st.last_error_message
                            .map(|m| format!("; last error: {m}"))
                            .unwrap_or_default()
                    ));
                    data.push(json!({"rule": n, "counts": c}));
                }
                Ok(report(lines, json!(data)))
            } else {
                // No server: judge the inventory as it is, without recording anything.
                let mut lines = vec!["no `driftlog serve` is running: judging the recorded inventory now, nothing recorded".to_string()];
                let mut data = Vec::new();
                for n in &names {
                    let judge = def_or_named(&e, Some(n), None)?;
                    let log = b.log().clone();
                    let judged =
                        tokio::task::spawn_blocking(move || judge_at(&log, &judge, now_ms()))
                            .await??;
                    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
                    for j in &judged {
                        *by.entry(j.compliance.map_or("ERROR", Compliance::as_str))
                            .or_default() += 1;
                    }
                    lines.push(format!("{n}: {by:?}"));
                    data.push(json!({"rule": n, "counts": by}));
                }
                Ok(report(lines, json!(data)))
            }
        }
        RulesRequest::Backtest {
            name,
            spec,
            from,
            to,
            at,
            ..
        } => {
            let definition = if spec.any() {
                Some(spec.config_rule(Some(name.as_deref().unwrap_or("backtest")))?)
            } else {
                None
            };
            let from_ms = driftlog_model::time::parse_user_time(&from, now)?;
            let to_ms = driftlog_model::time::parse_user_time(&to, now)?;
            let at_ms = time_arg(at.as_deref(), now)?;
            let judge = def_or_named(&e, name.as_deref(), definition.as_ref())?;
            let rule_name = judge.rule().name.clone();
            let log = b.log().clone();
            if let Some(at) = at_ms {
                let judged =
                    tokio::task::spawn_blocking(move || judge_at(&log, &judge, at)).await??;
                let mut by: BTreeMap<&str, u64> = BTreeMap::new();
                let mut lines = vec![format!(
                    "rule {rule_name} over the inventory as it was at {}:",
                    iso_ms(at)
                )];
                for j in &judged {
                    *by.entry(j.compliance.map_or("ERROR", Compliance::as_str))
                        .or_default() += 1;
                    if j.compliance == Some(Compliance::NonCompliant) || j.error.is_some() {
                        lines.push(format!(
                            "  {:<14} {} v{}  {}",
                            j.compliance.map_or("ERROR", Compliance::as_str),
                            j.resource,
                            j.version,
                            j.error.as_deref().or(j.annotation.as_deref()).unwrap_or("")
                        ));
                    }
                }
                lines.push(format!("{} resources judged: {by:?}", judged.len()));
                return Ok(report(
                    lines,
                    json!({"at": iso_ms(at), "rule": rule_name, "counts": by, "resources": judged}),
                ));
            }
            let r = tokio::task::spawn_blocking(move || backtest(&log, &judge, from_ms, to_ms))
                .await??;
            let mut lines = vec![format!(
                "rule {rule_name} from {} to {}: {} versions of {} resources judged, {} stretches of non-compliance",
                iso_ms(from_ms),
                iso_ms(to_ms),
                r.evaluated,
                r.resources,
                r.intervals.len()
            )];
            if !r.intervals.is_empty() {
                lines.push(format!(
                    "  {:<64} {:<26} {:<26} ENDED BY",
                    "RESOURCE", "NON-COMPLIANT FROM", "COMPLIANT AGAIN"
                ));
            }
            for i in &r.intervals {
                lines.push(format!(
                    "  {:<64} {:<26} {:<26} {}",
                    i.resource.to_string(),
                    if i.already_at_start {
                        format!("{} (before)", iso_ms(i.non_compliant_from_ms))
                    } else {
                        iso_ms(i.non_compliant_from_ms)
                    },
                    when(i.until_ms),
                    i.ended_by.as_deref().unwrap_or("still non-compliant")
                ));
            }
            for (k, t, err) in r.errors.iter().take(20) {
                lines.push(format!("  ERROR {k} at {}: {err}", iso_ms(*t)));
            }
            lines.push(format!("at the end: {:?}", r.at_end));
            Ok(report(lines, serde_json::to_value(&r)?))
        }
    }
}

/// `driftlog compliance`: now, or as it was at a time.
///
/// # Errors
/// Bad input, named, or a store failure.
pub async fn compliance(
    b: &Reach,
    rule: Option<String>,
    resource: Option<String>,
    at: Option<&str>,
) -> Result<Value> {
    let e = engine(b)?;
    match time_arg(at, driftlog_model::time::now_ms())? {
        Some(at) => compliance_at(b, rule, resource, at).await,
        None => compliance_now(&e, rule, resource),
    }
}

fn result_line(r: &ResultRecord) -> String {
    format!(
        "  {:<14} {}/{} ({}/{})  judged {}  {}",
        r.compliance.as_str(),
        r.resource_type,
        r.resource_id,
        r.account,
        r.region,
        iso_ms(r.ordering_ms),
        r.annotation.as_deref().unwrap_or("")
    )
}

fn compliance_now(e: &Engine, rule: Option<String>, resource: Option<String>) -> Result<Value> {
    if let Some(res) = resource {
        let (t, id) = split_resource(&res)?;
        let results = e.resource_results(&t, &id)?;
        let mut lines = vec![format!("{t}/{id}: {} rule(s) judge it", results.len())];
        for r in &results {
            lines.push(format!(
                "  {:<28} {:<14} {}",
                r.rule,
                r.compliance.as_str(),
                r.annotation.as_deref().unwrap_or("")
            ));
        }
        return Ok(report(lines, serde_json::to_value(&results)?));
    }
    let rules: Vec<RuleDef> = match &rule {
        Some(n) => vec![e.rule(n).with_context(|| {
            format!("no rule named {n:?}; `driftlog rules list` shows the rules")
        })?],
        None => e.rules(),
    };
    let mut lines = vec![format!(
        "{:<28} {:<16} {:>10} {:>14} {:>15}",
        "RULE", "COMPLIANCE", "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"
    )];
    let mut data = Vec::new();
    for d in &rules {
        let c = e.counts(d.name());
        lines.push(format!(
            "{:<28} {:<16} {:>10} {:>14} {:>15}",
            d.name(),
            c.compliance().as_str(),
            c.compliant,
            c.non_compliant,
            c.not_applicable
        ));
        data.push(json!({"rule": d.name(), "compliance": c.compliance().as_str(), "counts": c}));
    }
    if let Some(n) = &rule {
        let (nc, _) = e.results_page(n, &[Compliance::NonCompliant], None, 50)?;
        if !nc.is_empty() {
            lines.push("non-compliant resources:".into());
            lines.extend(nc.iter().map(result_line));
            let total = e.counts(n).non_compliant;
            if total > nc.len() as u64 {
                lines.push(format!(
                    "  … and {} more (`--json` lists the first 50)",
                    total - nc.len() as u64
                ));
            }
        }
        data.push(json!({"nonCompliant": nc}));
    }
    if rules.is_empty() {
        lines = vec!["no rules yet: `driftlog rules add --help` shows how to add one".into()];
    }
    Ok(report(lines, json!(data)))
}

fn split_resource(res: &str) -> Result<(String, String)> {
    let r = ResourceKey::parse_user(res)?;
    Ok((r.resource_type, r.resource_id))
}

/// Compliance as it was at `at`: the compliance items of the log replayed to that instant.
async fn compliance_at(
    b: &Reach,
    rule: Option<String>,
    resource: Option<String>,
    at: i64,
) -> Result<Value> {
    let log = b.log().clone();
    let want = resource.as_deref().map(split_resource).transpose()?;
    let only_rule = rule.clone();
    let filter = Filter {
        types: vec![TypePattern::parse(COMPLIANCE_TYPE)?],
        ..Filter::default()
    };
    let rows = tokio::task::spawn_blocking(move || -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        log.inventory_at(at, &filter, |ci| {
            if let Ok(doc) = ci.document() {
                let c = &doc["configuration"];
                // The item's id is `<rule key>/<type>/<id>`: the key tells apart rules of one
                // name in several regions (`name@region`), as `rules list` shows them.
                let key = driftlog_compliance::item::rule_of_compliance_id(
                    &ci.key.resource_id,
                    c["resourceType"].as_str().unwrap_or(""),
                    c["resourceId"].as_str().unwrap_or(""),
                )
                .or(c["configRuleName"].as_str())
                .unwrap_or("")
                .to_string();
                let ok_rule = only_rule.as_ref().is_none_or(|r| *r == key);
                let ok_res = want.as_ref().is_none_or(|(t, id)| {
                    c["resourceType"].as_str() == Some(t) && c["resourceId"].as_str() == Some(id)
                });
                if ok_rule && ok_res {
                    let mut row = c.clone();
                    row["rule"] = json!(key);
                    rows.push(row);
                }
            }
            true
        })?;
        Ok(rows)
    })
    .await??;
    let mut per_rule: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in &rows {
        *per_rule
            .entry(r["rule"].as_str().unwrap_or("").to_string())
            .or_default()
            .entry(r["complianceType"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let mut lines = vec![format!(
        "compliance as recorded at {} (replayed from the log):",
        iso_ms(at)
    )];
    lines.push(format!(
        "{:<28} {:>10} {:>14} {:>15}",
        "RULE", "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"
    ));
    for (r, by) in &per_rule {
        let g = |k: &str| by.get(k).copied().unwrap_or(0);
        lines.push(format!(
            "{:<28} {:>10} {:>14} {:>15}",
            r,
            g("COMPLIANT"),
            g("NON_COMPLIANT"),
            g("NOT_APPLICABLE")
        ));
    }
    if resource.is_some() || rule.is_some() {
        for r in rows
            .iter()
            .filter(|r| r["complianceType"] == "NON_COMPLIANT")
            .take(50)
        {
            lines.push(format!(
                "  NON_COMPLIANT  {} {}/{}  {}",
                r["rule"].as_str().unwrap_or(""),
                r["resourceType"].as_str().unwrap_or(""),
                r["resourceId"].as_str().unwrap_or(""),
                r["annotation"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(report(
        lines,
        json!({"at": iso_ms(at), "byRule": per_rule, "results": rows}),
    ))
}
