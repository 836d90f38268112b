//! Back-testing, which AWS Config cannot do: a rule — new or existing — judged over the
//! recorded history. From the inventory as it was at the window's start, then every
//! recorded change in the window in log order, it follows each resource's compliance and
//! reports when each became non-compliant and when it was compliant again. `at` judges the
//! whole inventory as it was at one instant.

use driftlog_log::Log;
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, TypePattern, COMPLIANCE_TYPE};
use driftlog_rules::{Compliance, Judge};
use serde::Serialize;
use std::collections::HashMap;

/// One stretch of non-compliance of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// The resource.
    pub resource: ResourceKey,
    /// When it became non-compliant (the window's start if it already was).
    pub non_compliant_from_ms: i64,
    /// True when it already was non-compliant at the window's start.
    pub already_at_start: bool,
    /// When it was compliant again, was deleted or left the rule's scope; `None` when it
    /// still was non-compliant at the window's end.
    pub until_ms: Option<i64>,
    /// How it ended: `COMPLIANT`, `NOT_APPLICABLE`, `DELETED` or `OUT_OF_SCOPE`.
    pub ended_by: Option<String>,
    /// The rule's annotation when it became non-compliant.
    pub annotation: Option<String>,
}

/// What a back-test found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Window start.
    pub from_ms: i64,
    /// Window end.
    pub to_ms: i64,
    /// Versions judged (inventory at the start + changes in the window).
    pub evaluated: u64,
    /// Resources the rule judged at least once.
    pub resources: u64,
    /// Stretches of non-compliance, by start time.
    pub intervals: Vec<Interval>,
    /// Items the rule failed on: `(resource, time, error)` (no verdict assumed).
    pub errors: Vec<(ResourceKey, i64, String)>,
    /// Resources by compliance at the window's end.
    pub at_end: HashMap<String, u64>,
}

/// One resource's verdict at an instant (`--at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    /// The resource.
    pub resource: ResourceKey,
    /// Its version then.
    pub version: u64,
    /// The verdict (`None`: the rule failed on it, see `error`).
    pub compliance: Option<Compliance>,
    /// Why.
    pub annotation: Option<String>,
    /// The rule's error, if it failed.
    pub error: Option<String>,
}

/// Why a back-test could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// External rules are judged by their evaluator, live only.
    #[error("rule {0} is judged by an external evaluator; back-tests run managed and CEL rules")]
    External(String),
    /// The window is empty or reversed.
    #[error("the window ends ({to}) before it starts ({from})")]
    Window {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// The log does not hold the window (retention), or failed.
    #[error(transparent)]
    Log(#[from] driftlog_log::Error),
}

fn filter_for(judge: &Judge) -> Filter {
    let types = &judge.rule().scope.resource_types;
    Filter {
        types: types
            .iter()
            .filter_map(|t| TypePattern::parse(t).ok())
            .collect(),
        ..Filter::default()
    }
}

enum Seen {
    Verdict(Compliance, Option<String>),
    Error(String),
    NotJudged,
}

fn judge_item(judge: &Judge, ci: &ConfigurationItem) -> Seen {
    if ci.status.is_deletion() {
        return Seen::NotJudged;
    }
    let Ok(json) = ci.to_notification_json() else {
        return Seen::Error("unreadable item".into());
    };
    match judge.judge(&json) {
        Ok(Some(v)) => Seen::Verdict(v.compliance, v.annotation),
        Ok(None) => Seen::NotJudged,
        Err(e) => Seen::Error(e.to_string()),
    }
}

/// Judges the inventory as it was at `at_ms`.
///
/// # Errors
/// [`BacktestError`].
pub fn judge_at(log: &Log, judge: &Judge, at_ms: i64) -> Result<Vec<Judged>, BacktestError> {
    if judge.external().is_some() {
        return Err(BacktestError::External(judge.rule().name.clone()));
    }
    let mut out = Vec::new();
    log.inventory_at(at_ms, &filter_for(judge), |ci| {
        if ci.key.resource_type == COMPLIANCE_TYPE {
            return true;
        }
        match judge_item(judge, &ci) {
            Seen::Verdict(c, a) => out.push(Judged {
                resource: ci.key.clone(),
                version: ci.version,
                compliance: Some(c),
                annotation: a,
                error: None,
            }),
            Seen::Error(e) => out.push(Judged {
                resource: ci.key.clone(),
                version: ci.version,
                compliance: None,
                annotation: None,
                error: Some(e),
            }),
            Seen::NotJudged => {}
        }
        true
    })?;
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(out)
}

/// Back-tests `judge` over `[from_ms, to_ms]`.
///
/// # Errors
/// [`BacktestError`].
pub fn backtest(
    log: &Log,
    judge: &Judge,
    from_ms: i64,
    to_ms: i64,
) -> Result<Report, BacktestError> {
    if judge.external().is_some() {
        return Err(BacktestError::External(judge.rule().name.clone()));
    }
    if to_ms < from_ms {
        return Err(BacktestError::Window {
            from: from_ms,
            to: to_ms,
        });
    }
    let filter = filter_for(judge);
    let mut report = Report {
        from_ms,
        to_ms,
        ..Report::default()
    };
    // Per resource: its last verdict and the open interval's index, if any.
    let mut now: HashMap<ResourceKey, (Option<Compliance>, Option<usize>)> = HashMap::new();
    let mut judged: std::collections::HashSet<ResourceKey> = std::collections::HashSet::new();
    let mut step = |ci: ConfigurationItem, at_start: bool, report: &mut Report| {
        if ci.key.resource_type == COMPLIANCE_TYPE {
            return;
        }
        let t = if at_start {
            from_ms
        } else {
            ci.capture_time_ms
        };
        let seen = judge_item(judge, &ci);
        let entry = now.entry(ci.key.clone()).or_insert((None, None));
        report.evaluated += u64::from(!matches!(seen, Seen::NotJudged));
        let (verdict, annotation, ended_by) = match seen {
            Seen::Verdict(c, a) => (Some(c), a, c.as_str().to_string()),
            Seen::Error(e) => {
                report.errors.push((ci.key.clone(), t, e));
                return;
            }
            Seen::NotJudged => (
                None,
                None,
                if ci.status.is_deletion() {
                    "DELETED"
                } else {
                    "OUT_OF_SCOPE"
                }
                .to_string(),
            ),
        };
        if verdict.is_some() && judged.insert(ci.key.clone()) {
            report.resources += 1;
        }
        match (verdict, entry.1) {
            (Some(Compliance::NonCompliant), None) => {
                report.intervals.push(Interval {
                    resource: ci.key.clone(),
                    non_compliant_from_ms: t,
                    already_at_start: at_start,
                    until_ms: None,
                    ended_by: None,
                    annotation,
                });
                entry.1 = Some(report.intervals.len() - 1);
            }
            (Some(Compliance::NonCompliant), Some(_)) => {}
            (_, Some(i)) => {
                report.intervals[i].until_ms = Some(t);
                report.intervals[i].ended_by = Some(ended_by);
                entry.1 = None;
            }
            (_, None) => {}
        }
        entry.0 = verdict;
    };
    log.inventory_at(from_ms, &filter, |ci| {
        step(ci, true, &mut report);
        true
    })?;
    log.changes(from_ms.saturating_add(1), to_ms, &filter, |ci| {
        step(ci, false, &mut report);
        true
    })?;
    for (c, _) in now.values() {
        if let Some(c) = c {
            *report.at_end.entry(c.as_str().to_string()).or_default() += 1;
        }
    }
    report.intervals.sort_by(|a, b| {
        (a.non_compliant_from_ms, &a.resource).cmp(&(b.non_compliant_from_ms, &b.resource))
    });
    Ok(report)
}
