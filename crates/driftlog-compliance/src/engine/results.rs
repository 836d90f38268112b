//! The result index and what is derived from it: the results by rule ([`RESULTS`]) and by
//! resource ([`BY_RESOURCE`]), the live counts per rule and place, and each rule's
//! evaluation status ([`STATUSES`]). The index is written by the runner's recording only;
//! this part reads it, and keeps the counts and statuses in memory so the API never scans
//! the index to answer.

use super::Result;
use crate::item::ResultRecord;
use crate::namespaces::{
    key_in, parse_resource_rule, resource_rules, rule_result, rule_results, store_key, Lenient,
    BY_RESOURCE, RESULTS, STATUSES,
};
use driftlog_log::Log;
use driftlog_rules::Compliance;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// `ComplianceContributorCount.CappedCount` stops here.
pub const CAP: u64 = 100;

/// A rule's evaluation status (`DescribeConfigRuleEvaluationStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStatus {
    /// When the rule was first put.
    pub first_activated_ms: i64,
    /// A full evaluation has started at least once.
    pub first_evaluation_started: bool,
    /// Last invocation without error.
    pub last_success_invocation_ms: Option<i64>,
    /// Last invocation with an error.
    pub last_failed_invocation_ms: Option<i64>,
    /// Last results recorded without error.
    pub last_success_evaluation_ms: Option<i64>,
    /// Last evaluation that failed.
    pub last_failed_evaluation_ms: Option<i64>,
    /// Error code of the last failure.
    pub last_error_code: Option<String>,
    /// Error message of the last failure (names the resource).
    pub last_error_message: Option<String>,
    /// Evaluations done.
    pub evaluations: u64,
    /// Evaluations that failed.
    pub errors: u64,
}

/// Results of one rule by compliance type (live, from the index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounts {
    /// COMPLIANT resources.
    pub compliant: u64,
    /// NON_COMPLIANT resources.
    pub non_compliant: u64,
    /// NOT_APPLICABLE resources.
    pub not_applicable: u64,
}

impl RuleCounts {
    fn add(&mut self, c: Compliance, d: i64) {
        let n = match c {
            Compliance::Compliant => &mut self.compliant,
            Compliance::NonCompliant => &mut self.non_compliant,
            Compliance::NotApplicable => &mut self.not_applicable,
            Compliance::InsufficientData => return,
        };
        *n = n.saturating_add_signed(d);
    }

    /// The rule's compliance as AWS summarizes it.
    pub fn compliance(&self) -> Compliance {
        if self.non_compliant > 0 {
            Compliance::NonCompliant
        } else if self.compliant > 0 {
            Compliance::Compliant
        } else {
            Compliance::InsufficientData
        }
    }
}

/// A rule's counts by the (account, region) of the resources judged.
/// Nested (account, then region) so that counting a result looks keys up by reference and
/// allocates only for a new place.
type PlaceCounts = HashMap<String, HashMap<String, RuleCounts>>;

/// Adds `d` results of `r`'s compliance to `r`'s rule and place.
fn count(counts: &mut HashMap<String, PlaceCounts>, r: &ResultRecord, d: i64) {
    if !counts.contains_key(&r.rule) {
        counts.insert(r.rule.clone(), PlaceCounts::new());
    }
    let Some(by_account) = counts.get_mut(&r.rule) else {
        return;
    };
    if !by_account.contains_key(&r.account) {
        by_account.insert(r.account.clone(), HashMap::new());
    }
    let Some(by_region) = by_account.get_mut(&r.account) else {
        return;
    };
    match by_region.get_mut(&r.region) {
        Some(c) => c.add(r.compliance, d),
        None => by_region
            .entry(r.region.clone())
            .or_default()
            .add(r.compliance, d),
    }
}

/// What one recording saw of a rule, for its status.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Results judged (recorded or unchanged).
    pub(super) results: u64,
    /// The last failure: its message, and whether it was an external invocation's.
    pub(super) failure: Option<(String, bool)>,
    /// An external evaluator answered.
    pub(super) invoked: bool,
}

/// The index's readers, the counts and the statuses. Two locks, never held together:
/// counts change per recorded round, statuses once per recording.
pub(super) struct Results {
    log: Arc<Log>,
    /// Per rule, per (account, region) of the resources: a caller of one region is told the
    /// counts of its own place only.
    counts: Mutex<HashMap<String, PlaceCounts>>,
    statuses: Mutex<BTreeMap<String, RuleStatus>>,
}

impl Results {
    /// Loads the statuses and counts the stored results, page by page: millions of
    /// results never sit in memory at once.
    pub(super) fn open(log: Arc<Log>) -> Result<Self> {
        let mut statuses = BTreeMap::new();
        for (name, stored) in STATUSES.all(&log)? {
            if let Some(s) = stored.into_value() {
                statuses.insert(name, s);
            }
        }
        let mut counts: HashMap<String, PlaceCounts> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = RESULTS.page(&log, after.as_deref(), 10_000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, stored) in &page {
                if let Some(r) = stored.value() {
                    count(&mut counts, r, 1);
                }
            }
        }
        Ok(Self {
            log,
            counts: Mutex::new(counts),
            statuses: Mutex::new(statuses),
        })
    }

    /// A rule's results of `types` that `keep` takes, one page: `(results, next key)`.
    /// The keys are whole index keys (`rules/res/<rule>␁<type>␁<id>`), as the API's page
    /// tokens have always carried them; one that is not a result's ends the pages.
    pub(super) fn page_where(
        &self,
        rule: &str,
        types: &[Compliance],
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&ResultRecord) -> bool,
    ) -> Result<(Vec<ResultRecord>, Option<String>)> {
        let under = rule_results(rule);
        let mut out = Vec::new();
        let mut cursor = match after {
            Some(a) => match key_in(&RESULTS, a) {
                Some(k) => Some(k.to_string()),
                None => return Ok((out, None)),
            },
            None => None,
        };
        loop {
            let page = RESULTS.page_under(&self.log, &under, cursor.as_deref(), 512)?;
            if page.is_empty() {
                return Ok((out, None));
            }
            for (k, stored) in page {
                if let Some(r) = stored.into_value() {
                    if (types.is_empty() || types.contains(&r.compliance)) && keep(&r) {
                        out.push(r);
                        if out.len() == limit {
                            let more = !RESULTS
                                .page_under(&self.log, &under, Some(&k), 1)?
                                .is_empty();
                            return Ok((out, more.then(|| store_key(&RESULTS, &k))));
                        }
                    }
                }
                cursor = Some(k);
            }
        }
    }

    /// Every rule's result for one resource.
    pub(super) fn of_resource(
        &self,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Vec<ResultRecord>> {
        let mut out = Vec::new();
        let under = resource_rules(Some(resource_type), Some(resource_id));
        for (k, _) in BY_RESOURCE.page_under(&self.log, &under, None, usize::MAX)? {
            if let Some((t, id, rule)) = parse_resource_rule(&k) {
                if let Some(r) = self.stored(&rule_result(rule, t, id))? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Evaluated resources in (type, id) order, one page, each with its results; the
    /// by-resource index is walked so a resource's results come together. The keys are
    /// whole index keys (`rules/byres/<type>␁<id>␁<rule>`), as the API's page tokens have
    /// always carried them; one that is not of the index ends the pages.
    #[allow(
        clippy::type_complexity,
        reason = "a page of (type, id, results) and a cursor"
    )]
    pub(super) fn resources_page(
        &self,
        resource_type: Option<&str>,
        resource_id: Option<&str>,
        after: Option<&str>,
        mut keep: impl FnMut(&[ResultRecord]) -> bool,
        limit: usize,
    ) -> Result<(Vec<(String, String, Vec<ResultRecord>)>, Option<String>)> {
        let under = resource_rules(resource_type, resource_id);
        let mut out: Vec<(String, String, Vec<ResultRecord>)> = Vec::new();
        let mut cursor = match after {
            Some(a) => match key_in(&BY_RESOURCE, a) {
                Some(k) => Some(k.to_string()),
                None => return Ok((out, None)),
            },
            None => None,
        };
        let mut current: Option<(String, String, Vec<ResultRecord>, String)> = None;
        let flush = |cur: Option<(String, String, Vec<ResultRecord>, String)>,
                     out: &mut Vec<(String, String, Vec<ResultRecord>)>,
                     keep: &mut dyn FnMut(&[ResultRecord]) -> bool|
         -> Option<String> {
            let (t, id, rs, last) = cur?;
            if keep(&rs) {
                out.push((t, id, rs));
            }
            Some(last)
        };
        loop {
            let page = BY_RESOURCE.page_under(&self.log, &under, cursor.as_deref(), 512)?;
            if page.is_empty() {
                flush(current.take(), &mut out, &mut keep);
                return Ok((out, None));
            }
            for (k, _) in &page {
                cursor = Some(k.clone());
                let Some((t, id, rule)) = parse_resource_rule(k) else {
                    continue;
                };
                let same = current.as_ref().is_some_and(|c| c.0 == t && c.1 == id);
                if !same {
                    let last = flush(current.take(), &mut out, &mut keep);
                    if out.len() == limit {
                        return Ok((out, last.map(|k| store_key(&BY_RESOURCE, &k))));
                    }
                    current = Some((t.to_string(), id.to_string(), Vec::new(), k.clone()));
                }
                if let Some(c) = current.as_mut() {
                    if let Some(r) = self.stored(&rule_result(rule, t, id))? {
                        c.2.push(r);
                    }
                    c.3 = k.clone();
                }
            }
        }
    }

    /// The result stored under key `k` of [`RESULTS`] (an unreadable one counts as none).
    pub(super) fn stored(&self, k: &str) -> Result<Option<ResultRecord>> {
        Ok(RESULTS.get(&self.log, k)?.and_then(Lenient::into_value))
    }

    /// A rule's live results by compliance type, of the resources whose (account, region)
    /// `place` takes.
    pub(super) fn counts_where(
        &self,
        rule: &str,
        place: impl Fn(&str, &str) -> bool,
    ) -> RuleCounts {
        let counts = self.counts();
        let mut sum = RuleCounts::default();
        let places = counts.get(rule).into_iter().flatten();
        for ((account, region), c) in
            places.flat_map(|(a, by_region)| by_region.iter().map(move |(r, c)| ((a, r), c)))
        {
            if place(account, region) {
                sum.compliant += c.compliant;
                sum.non_compliant += c.non_compliant;
                sum.not_applicable += c.not_applicable;
            }
        }
        sum
    }

    /// Follows one recorded round: the results it replaced or ended no longer count, the
    /// results it put do.
    pub(super) fn recount(&self, replaced: &[ResultRecord], added: &[&ResultRecord]) {
        let mut counts = self.counts();
        for r in replaced {
            count(&mut counts, r, -1);
        }
        for r in added {
            count(&mut counts, r, 1);
        }
    }

    /// Forgets a deleted rule's counts once its last result has ended: all zero by then,
    /// but the entry would otherwise outlive the rule.
    pub(super) fn forget_counts(&self, rule: &str) {
        self.counts().remove(rule);
    }

    /// A rule's evaluation status.
    pub(super) fn status(&self, rule: &str) -> Option<RuleStatus> {
        self.statuses().get(rule).cloned()
    }

    /// Notes that a rule was put (the first put only: an update keeps the rule's age).
    /// Unflushed, as the definition it goes with.
    pub(super) fn activated(&self, rule: &str, now: i64) {
        let mut st = self.statuses();
        let s = st.entry(rule.to_string()).or_default();
        if s.first_activated_ms == 0 {
            s.first_activated_ms = now;
        }
        self.save_status(rule, s);
    }

    /// Notes that full runs of `rules` started.
    pub(super) fn evaluation_started<'a>(&self, rules: impl IntoIterator<Item = &'a str>) {
        let mut st = self.statuses();
        for rule in rules {
            let s = st.entry(rule.to_string()).or_default();
            s.first_evaluation_started = true;
            self.save_status(rule, s);
        }
    }

    /// Forgets a deleted rule's status (the store's copy went with its definition).
    pub(super) fn forget_status(&self, rule: &str) {
        self.statuses().remove(rule);
    }

    /// Adds one recording's tallies to the rules' statuses; a failure is also logged, as
    /// it leaves a resource without a verdict.
    pub(super) fn note_tallies(&self, tallies: BTreeMap<String, Tally>, now: i64) {
        let mut st = self.statuses();
        for (rule, t) in tallies {
            let s = st.entry(rule.clone()).or_default();
            s.evaluations += t.results;
            if t.invoked {
                s.last_success_invocation_ms = Some(now);
            }
            match t.failure {
                Some((message, invocation)) => {
                    s.errors += 1;
                    s.last_failed_evaluation_ms = Some(now);
                    if invocation {
                        s.last_failed_invocation_ms = Some(now);
                    }
                    s.last_error_code = Some(
                        if invocation {
                            "EvaluatorError"
                        } else {
                            "EvaluationError"
                        }
                        .into(),
                    );
                    s.last_error_message = Some(message.chars().take(1000).collect());
                    tracing::warn!(rule = %rule, error = %s.last_error_message.as_deref().unwrap_or(""), "Rule evaluation failed; no verdict recorded for it.");
                }
                None => {
                    if t.results > 0 {
                        s.last_success_evaluation_ms = Some(now);
                        if !t.invoked {
                            s.last_success_invocation_ms = Some(now);
                        }
                    }
                }
            }
            self.save_status(&rule, s);
        }
    }

    /// Persists a status. A failure is counted and logged, not returned: the results the
    /// status describes are recorded already, refusing them for it would lose more, and
    /// the status is written again at its next change.
    fn save_status(&self, name: &str, s: &RuleStatus) {
        STATUSES.put_or_count(&self.log, name, &Lenient::new(s.clone()));
    }

    /// A panic elsewhere must not stop the API from answering: a poisoned lock is used
    /// as is.
    fn counts(&self) -> MutexGuard<'_, HashMap<String, PlaceCounts>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn statuses(&self) -> MutexGuard<'_, BTreeMap<String, RuleStatus>> {
        self.statuses.lock().unwrap_or_else(|p| p.into_inner())
    }
}
