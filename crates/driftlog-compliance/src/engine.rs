//! The engine: rules in memory and in the store, the change loop over the log, full runs
//! (new or changed rule, periodic, on demand), and recording of results.

use crate::def::{frequency_ms, DefContext, DefError, RuleDef};
use crate::external::{self, parse_evaluations, Evaluation, ExternalSpec};
use crate::item::{
    by_resource_key, by_resource_prefix, compliance_key, compliance_observed,
    parse_by_resource_key, result_key, rule_prefix, ResultRecord,
};
use crate::token::Tokens;
use driftlog_log::Log;
use driftlog_model::time::{iso_ms, now_ms};
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, Seq, COMPLIANCE_TYPE};
use driftlog_recorder::Recorder;
use driftlog_rules::{Compliance, Judge};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The cursor of the change loop in the store.
const CURSOR: &str = "rules/changes";
/// Items judged per batch of the change loop (one append of results per batch).
const BATCH: usize = 1024;
/// Items judged per batch of a full run: larger, as a full run is throughput, not latency
/// (each batch's results are one append and one flush).
const FULL_RUN_BATCH: usize = 8192;
/// AWS's limit of rules per account and region.
const MAX_RULES: usize = 1000;
/// `ComplianceContributorCount.CappedCount` stops here.
pub const CAP: u64 = 100;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Account of rule ARNs, and of results reported for unknown resources.
    pub account: String,
    /// Region of rule ARNs, and of results reported for unknown resources.
    pub region: String,
    /// External evaluators declared in the configuration.
    pub evaluators: Vec<ExternalSpec>,
    /// How often due periodic rules are looked for.
    pub periodic_check: Duration,
    /// External invocations in flight at once.
    pub concurrency: usize,
    /// A failed external invocation (error, timeout, bad answer) is tried again this long
    /// after, then twice as long after each further failure — as Lambda retries an
    /// asynchronous invocation.
    pub retry_after: Duration,
    /// Tries after the first failed one before giving up (the rule's status keeps the
    /// error; the resource is judged again on its next change or run).
    pub retries: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            evaluators: Vec::new(),
            periodic_check: Duration::from_secs(30),
            concurrency: 4,
            retry_after: Duration::from_secs(60),
            retries: 2,
        }
    }
}

/// Why an engine call failed; the API maps each to AWS's error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition was refused.
    #[error(transparent)]
    Def(#[from] DefError),
    /// No rule of that name (`NoSuchConfigRuleException`).
    #[error("The ConfigRule '{0}' provided in the request is invalid. Please check the configRule name.")]
    NoSuchRule(String),
    /// An evaluation of the rule is still running (`LimitExceededException`).
    #[error("An evaluation of the rule '{0}' is in progress; start another when it finished.")]
    Busy(String),
    /// The rule of that name is still being deleted (`ResourceInUseException`).
    #[error("The rule '{0}' is being deleted (state DELETING while its results end); retry when DescribeConfigRules no longer lists it.")]
    InUse(String),
    /// 1000 rules already (`MaxNumberOfConfigRulesExceededException`).
    #[error("Failed to put config rule because the maximum number of config rules ({MAX_RULES}) is reached.")]
    TooMany,
    /// The result token is unknown, forged or expired (`InvalidResultTokenException`).
    #[error("The result token is invalid or expired; use the resultToken of a recent invocation.")]
    InvalidToken,
    /// Bad evaluations (`InvalidParameterValueException`).
    #[error("{0}")]
    Invalid(String),
    /// Evaluation needs the running server (the CLI opened the store itself).
    #[error("evaluation runs in `driftlog serve`; start it (the rule is stored and will be evaluated then)")]
    Offline,
    /// The store failed.
    #[error("store: {0}")]
    Log(#[from] driftlog_log::Error),
    /// Recording results failed.
    #[error("recording results: {0}")]
    Record(String),
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

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

struct Active {
    def: RuleDef,
    judge: Judge,
    /// Which definition of the rule this is: a verdict judged by a replaced definition is
    /// dropped, never recorded under the new one.
    generation: u64,
}

/// Source of [`Active::generation`].
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Per rule in one apply: results seen, last failure (message, invocation?), invoked ok.
type Touched = (u64, Option<(String, bool)>, bool);

/// What judging produced, before it is recorded.
enum Outcome {
    /// A verdict, with the generation of the rule definition that gave it.
    Result(ResultRecord, u64),
    Ended {
        rule: String,
        resource_type: String,
        resource_id: String,
        /// Only if the result came from an item at or before this position (a full run's
        /// snapshot): a newer result, from the change loop, stays.
        judged_by: Option<Seq>,
    },
    Failed {
        rule: String,
        message: String,
        invocation: bool,
        /// The resource whose external invocation failed: it is tried again later.
        retry: Option<(ResourceKey, Seq)>,
    },
    Invoked {
        rule: String,
        /// The resource the evaluator was invoked for: a pending retry of it is done.
        key: Option<ResourceKey>,
    },
}

/// A failed external invocation waiting to be tried again (`rules/retry/…`): durable, so a
/// restart still retries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Retry {
    rule: String,
    key: ResourceKey,
    /// The item the last failed try judged: a failure on a newer one starts afresh.
    #[serde(default)]
    seq: Seq,
    /// Failed tries so far.
    failures: u32,
    due_ms: i64,
}

/// Where `rule`'s retry marks are (all of them start with it).
fn retry_prefix(rule: &str) -> String {
    format!("rules/retry/{rule}\u{1}")
}

fn retry_key(rule: &str, key: &ResourceKey) -> String {
    format!(
        "{}{}\u{1}{}\u{1}{}\u{1}{}",
        retry_prefix(rule),
        key.resource_type,
        key.resource_id,
        key.account,
        key.region
    )
}

/// A result's [`ResultRecord::place_region`]: the judging rule's region where it differs
/// from the resource's.
fn place_region(rule_region: Option<&String>, resource_region: &str) -> Option<String> {
    rule_region.filter(|r| *r != resource_region).cloned()
}

/// The rules engine (see the crate docs).
pub struct Engine {
    log: Arc<Log>,
    recorder: Option<Arc<Recorder>>,
    settings: EngineSettings,
    rules: RwLock<BTreeMap<String, Arc<Active>>>,
    /// Per rule, per (account, region) of the resources: a caller of one region is told the
    /// counts of its own place only.
    counts: Mutex<HashMap<String, PlaceCounts>>,
    statuses: Mutex<BTreeMap<String, RuleStatus>>,
    /// Rules queued for or in a full run.
    running: Mutex<HashSet<String>>,
    /// Rules queued for the next round of the runner.
    rerun: Mutex<HashSet<String>>,
    /// True while the full-run runner task exists.
    runner: std::sync::atomic::AtomicBool,
    /// True while a task retries failed external invocations.
    retrying: std::sync::atomic::AtomicBool,
    apply_lock: tokio::sync::Mutex<()>,
    tokens: Tokens,
    http: reqwest::Client,
    /// Where `ConfigRulesEvaluationStarted` goes (the delivery channel's topic).
    notifier: std::sync::OnceLock<Notifier>,
}

/// Sends a message (subject, body) to the delivery channel's topic.
pub type Notifier = Arc<dyn Fn(&str, &Value) + Send + Sync>;

fn kv_json<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Option<T> {
    serde_json::from_slice(v).ok()
}

impl Engine {
    /// Opens the engine on the store: loads the rules, their statuses and the counts of
    /// their results. `recorder` is `None` when the CLI holds the store (rules can be put
    /// and read, evaluation waits for `serve`).
    ///
    /// # Errors
    /// [`EngineError::Log`] when the store cannot be read.
    pub fn open(
        log: Arc<Log>,
        recorder: Option<Arc<Recorder>>,
        settings: EngineSettings,
    ) -> Result<Arc<Self>> {
        let key = match log.get_kv("rules/token_key")? {
            Some(k) => k,
            None => {
                let mut k = vec![0u8; 32];
                getrandom::getrandom(&mut k).map_err(|e| {
                    EngineError::Record(format!("no OS randomness for the token key: {e}"))
                })?;
                log.put_kv("rules/token_key", &k)?;
                k
            }
        };
        let mut rules = BTreeMap::new();
        for (k, v) in log.kv_prefix("rules/def/", usize::MAX)? {
            let Some(def) = kv_json::<RuleDef>(&v) else {
                tracing::error!(key = %k, "Stored rule is unreadable; skipped.");
                continue;
            };
            match Judge::new(def.rule.clone()) {
                Ok(judge) => {
                    rules.insert(
                        def.rule.name.clone(),
                        Arc::new(Active {
                            def,
                            judge,
                            generation: next_generation(),
                        }),
                    );
                }
                Err(e) => {
                    tracing::error!(rule = %def.rule.name, error = %e, "Stored rule no longer compiles; skipped.")
                }
            }
        }
        // Rules put but not yet evaluated over the inventory: their marks name this
        // process's definitions, so the run that finishes them removes them.
        for (k, _) in log.kv_prefix("rules/pending/", usize::MAX)? {
            if let Some(a) = rules.get(k.trim_start_matches("rules/pending/")) {
                log.put_kv(&k, &a.generation.to_be_bytes())?;
            }
        }
        let mut statuses = BTreeMap::new();
        for (k, v) in log.kv_prefix("rules/status/", usize::MAX)? {
            if let Some(s) = kv_json::<RuleStatus>(&v) {
                statuses.insert(k.trim_start_matches("rules/status/").to_string(), s);
            }
        }
        // Counted page by page: millions of results never sit in memory at once.
        let mut counts: HashMap<String, PlaceCounts> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = log.kv_page("rules/res/", after.as_deref(), 10_000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, v) in &page {
                if let Some(r) = kv_json::<ResultRecord>(v) {
                    count(&mut counts, &r, 1);
                }
            }
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| EngineError::Record(e.to_string()))?;
        Ok(Arc::new(Self {
            log,
            recorder,
            settings,
            rules: RwLock::new(rules),
            counts: Mutex::new(counts),
            statuses: Mutex::new(statuses),
            running: Mutex::new(HashSet::new()),
            rerun: Mutex::new(HashSet::new()),
            runner: std::sync::atomic::AtomicBool::new(false),
            retrying: std::sync::atomic::AtomicBool::new(false),
            apply_lock: tokio::sync::Mutex::new(()),
            tokens: Tokens::new(key),
            http,
            notifier: std::sync::OnceLock::new(),
        }))
    }

    /// Where rules are put (account, region, evaluators), for [`RuleDef::from_api`].
    pub fn def_context(&self) -> DefContext {
        DefContext {
            account: self.settings.account.clone(),
            region: self.settings.region.clone(),
            evaluators: self
                .settings
                .evaluators
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            scope_account: None,
            scope_region: None,
            home_account: self.settings.account.clone(),
            home_region: self.settings.region.clone(),
        }
    }

    /// Every rule, by name.
    pub fn rules(&self) -> Vec<RuleDef> {
        self.rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|a| a.def.clone())
            .collect()
    }

    /// Rules deleted whose results are still being ended (AWS's `DELETING` state), by name.
    /// Marks written before definitions were kept in them are left out.
    pub fn deleting_rules(&self) -> Vec<RuleDef> {
        let Ok(marks) = self.log.kv_prefix("rules/deleting/", usize::MAX) else {
            return Vec::new();
        };
        marks
            .iter()
            .filter_map(|(_, v)| serde_json::from_slice::<RuleDef>(v).ok())
            .collect()
    }

    /// One rule.
    pub fn rule(&self, name: &str) -> Option<RuleDef> {
        self.active(name).map(|a| a.def.clone())
    }

    /// The name a rule's owner gave it (its key when the rule is gone).
    fn display_of(&self, key: &str) -> String {
        self.active(key)
            .map_or_else(|| key.to_string(), |a| a.def.display_name().to_string())
    }

    fn active(&self, name: &str) -> Option<Arc<Active>> {
        self.rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Puts a rule (`PutConfigRule`: create or update by name) and evaluates it against
    /// the current inventory in the background. Durable when this returns.
    ///
    /// # Errors
    /// [`EngineError::Def`] for a refused definition, [`EngineError::TooMany`].
    pub fn put_rule(self: &Arc<Self>, config_rule: &Value) -> Result<RuleDef> {
        self.put_rule_in(config_rule, &self.def_context())
    }

    /// [`Engine::put_rule`] in a context: the API's caller's account and region (for the
    /// ARN, and the resources the rule judges).
    ///
    /// # Errors
    /// As [`Engine::put_rule`].
    pub fn put_rule_in(self: &Arc<Self>, config_rule: &Value, ctx: &DefContext) -> Result<RuleDef> {
        let shown = config_rule
            .get("ConfigRuleName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (name, ctx) = self.key_and_place(shown, ctx)?;
        let ctx = &ctx;
        if self
            .log
            .get_kv(&format!("rules/deleting/{name}"))?
            .is_some()
        {
            return Err(EngineError::InUse(shown.to_string()));
        }
        let existing = self.rule(&name);
        let now = now_ms();
        let mut def = RuleDef::from_api(config_rule, existing.as_ref(), ctx, now)?;
        def.rule.name.clone_from(&name);
        if existing.is_none()
            && self.rules.read().unwrap_or_else(|p| p.into_inner()).len() >= MAX_RULES
        {
            return Err(EngineError::TooMany);
        }
        let judge = Judge::new(def.rule.clone()).map_err(|e| DefError {
            code: "InvalidParameterValueException",
            message: e.to_string(),
        })?;
        let body = serde_json::to_vec(&def).map_err(|e| EngineError::Record(e.to_string()))?;
        let name = def.rule.name.clone();
        let generation = next_generation();
        // The pending mark names this definition: a run of an older one leaves it.
        self.log.apply_kv(
            &[
                (format!("rules/def/{name}"), body),
                (
                    format!("rules/pending/{name}"),
                    generation.to_be_bytes().to_vec(),
                ),
            ],
            &[],
        )?;
        {
            let mut st = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            let s = st.entry(name.clone()).or_default();
            if s.first_activated_ms == 0 {
                s.first_activated_ms = now;
            }
            self.save_status(&name, s);
        }
        self.log.flush()?;
        self.rules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name.clone(),
                Arc::new(Active {
                    def: def.clone(),
                    judge,
                    generation,
                }),
            );
        tracing::info!(rule = %name, id = %def.id, "Rule put.");
        if self.recorder.is_some() {
            self.spawn_full_run(name, "put");
        }
        Ok(def)
    }

    /// The key a rule named `shown` is put under from `ctx`, and the place it judges:
    /// * a rule an older store kept under its plain name (before names were per region)
    ///   stays there when the same place puts it again;
    /// * a server-wide rule (the CLI's, judging every region) is seen by every region's
    ///   caller under its name: another region cannot put a rule of that name beside it,
    ///   and the server's own region updates it in place, server-wide still;
    /// * a name that spells another place's key (`ssh@eu-west-1` put in us-east-1) never
    ///   takes that place's rule over (the CLI may widen any rule).
    fn key_and_place(&self, shown: &str, ctx: &DefContext) -> Result<(String, DefContext)> {
        let taken = |by: &RuleDef, what: &str| -> EngineError {
            DefError {
                code: "InvalidParameterValueException",
                message: format!(
                    "The name {shown:?} is taken by {what} ({}); choose another name.",
                    by.arn
                ),
            }
            .into()
        };
        let mut name = ctx.rule_key(shown);
        let mut ctx = ctx.clone();
        let plain = self.rule(shown);
        if name != shown && self.rule(&name).is_none() {
            if let Some(old) = plain.as_ref().filter(|old| {
                old.rule.scope.region == ctx.scope_region
                    && old.rule.scope.account == ctx.scope_account
            }) {
                name = old.rule.name.clone();
            }
        }
        if ctx.scope_region.is_some() {
            if let Some(wide) = plain.as_ref().filter(|d| d.rule.scope.region.is_none()) {
                if name != shown {
                    return Err(taken(
                        wide,
                        &format!(
                            "a server-wide rule (added with `driftlog rules add`, judging every region; update it from {})",
                            self.settings.region
                        ),
                    ));
                }
                ctx.scope_region.clone_from(&wide.rule.scope.region);
                ctx.scope_account.clone_from(&wide.rule.scope.account);
            }
        }
        if let Some(old) = self.rule(&name) {
            let theirs = (&old.rule.scope.region, &old.rule.scope.account);
            let mine = (&ctx.scope_region, &ctx.scope_account);
            if theirs.0.is_some() && mine.0.is_some() && theirs != mine {
                return Err(taken(&old, "a rule of another region or account"));
            }
        }
        Ok((name, ctx))
    }

    /// Deletes a rule (`DeleteConfigRule`); its results end (recorded as deleted) in the
    /// background.
    ///
    /// # Errors
    /// [`EngineError::NoSuchRule`].
    pub fn delete_rule(self: &Arc<Self>, name: &str) -> Result<()> {
        let Some(active) = self.active(name) else {
            if self
                .log
                .get_kv(&format!("rules/deleting/{name}"))?
                .is_some()
            {
                return Err(EngineError::InUse(name.to_string()));
            }
            return Err(EngineError::NoSuchRule(name.to_string()));
        };
        // The mark keeps the definition, so DescribeConfigRules shows the rule DELETING.
        let mark =
            serde_json::to_vec(&active.def).map_err(|e| EngineError::Record(e.to_string()))?;
        self.log.apply_kv(
            &[(format!("rules/deleting/{name}"), mark)],
            &[
                format!("rules/def/{name}"),
                format!("rules/pending/{name}"),
                format!("rules/status/{name}"),
                format!("rules/lastrun/{name}"),
            ],
        )?;
        self.log.flush()?;
        self.rules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        tracing::info!(rule = %name, "Rule deleted.");
        if self.recorder.is_some() {
            let me = self.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                if let Err(e) = me.clean_deleted(&name).await {
                    tracing::warn!(rule = %name, error = %e, "Cleaning a deleted rule's results failed; retried at next start.");
                }
            });
        }
        Ok(())
    }

    /// Starts full evaluations of `names` (`StartConfigRulesEvaluation`).
    ///
    /// # Errors
    /// [`EngineError::NoSuchRule`], [`EngineError::Busy`] while one of them runs,
    /// [`EngineError::Offline`] without a recorder.
    pub fn start_evaluation(self: &Arc<Self>, names: &[String]) -> Result<()> {
        for n in names {
            if self.active(n).is_none() {
                return Err(EngineError::NoSuchRule(n.clone()));
            }
        }
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = names.iter().find(|n| running.contains(*n)) {
                return Err(EngineError::Busy(self.display_of(n)));
            }
        }
        for n in names {
            self.spawn_full_run(n.clone(), "on demand");
        }
        if let Some(notify) = self.notifier.get() {
            let shown: Vec<String> = names.iter().map(|n| self.display_of(n)).collect();
            // The rules' own place (the API starts rules of one region and account).
            let place = names.first().and_then(|n| self.active(n));
            let account = place
                .as_ref()
                .and_then(|a| a.def.rule.scope.account.clone())
                .unwrap_or_else(|| self.settings.account.clone());
            let region = place
                .as_ref()
                .and_then(|a| a.def.rule.scope.region.clone())
                .unwrap_or_else(|| self.settings.region.clone());
            let (subject, body) =
                driftlog_deliver::rules_evaluation_started(&account, &region, &shown, now_ms());
            notify(&subject, &body);
        }
        Ok(())
    }

    /// True while a full evaluation of `name` runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// The live rule a result token was issued for, if the token is genuine and current
    /// (the API checks that the caller sees that rule).
    pub fn token_rule(&self, token: &str) -> Option<RuleDef> {
        let (rule, _) = self.tokens.check(token, now_ms())?;
        self.rule(&rule)
    }

    /// Records evaluations an external evaluator reports later (`PutEvaluations`).
    /// `test_mode` checks them and records nothing. Returns the evaluations not recorded.
    ///
    /// # Errors
    /// [`EngineError::InvalidToken`], [`EngineError::NoSuchRule`], [`EngineError::Invalid`].
    pub async fn put_evaluations(
        &self,
        token: &str,
        evaluations: &[Value],
        test_mode: bool,
    ) -> Result<Vec<Value>> {
        let now = now_ms();
        let evals = parse_evaluations(evaluations, now).map_err(|e| EngineError::Invalid(e.0))?;
        if test_mode {
            return Ok(Vec::new());
        }
        if evals.is_empty() {
            return Err(EngineError::Invalid(
                "Evaluations is empty: report at least one evaluation (or set TestMode)".into(),
            ));
        }
        let (rule, invoked_ms) = self
            .tokens
            .check(token, now)
            .ok_or(EngineError::InvalidToken)?;
        if self.active(&rule).is_none() {
            return Err(EngineError::NoSuchRule(rule));
        }
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        let generation = self.active(&rule).map_or(0, |a| a.generation);
        let outcomes = self.results_of(&rule, generation, &evals, invoked_ms, now, None);
        self.apply(outcomes, false).await?;
        Ok(Vec::new())
    }

    /// The evaluations' results, placed in the account and region where the resource is
    /// recorded (the engine's own for resources driftlog does not record).
    fn results_of(
        &self,
        rule: &str,
        generation: u64,
        evals: &[Evaluation],
        invoked_ms: i64,
        now: i64,
        item: Option<&ConfigurationItem>,
    ) -> Vec<Outcome> {
        let mut places: HashMap<(String, String), (String, String)> = HashMap::new();
        let wanted: HashSet<(&str, &str)> = evals
            .iter()
            .filter(|e| {
                !item.is_some_and(|i| {
                    i.key.resource_type == e.resource_type && i.key.resource_id == e.resource_id
                })
            })
            .map(|e| (e.resource_type.as_str(), e.resource_id.as_str()))
            .collect();
        // Where the rule lives: a rule of one region reports on its own place's resources
        // only (a resource of that id elsewhere is not the one meant), and results for
        // resources not recorded are placed there.
        let scope = self.active(rule).map(|a| a.def.rule.scope.clone());
        if !wanted.is_empty() {
            for k in self.log.state().keys() {
                if wanted.contains(&(k.resource_type.as_str(), k.resource_id.as_str()))
                    && scope
                        .as_ref()
                        .is_none_or(|sc| sc.covers_place(&k.account, &k.region))
                {
                    places.insert((k.resource_type, k.resource_id), (k.account, k.region));
                }
            }
        }
        let rule_region = scope.as_ref().and_then(|s| s.region.clone());
        let rule_account = scope.and_then(|s| s.account);
        evals
            .iter()
            .map(|e| {
                let (account, region, seq) = match item {
                    Some(i)
                        if i.key.resource_type == e.resource_type
                            && i.key.resource_id == e.resource_id =>
                    {
                        (i.key.account.clone(), i.key.region.clone(), i.seq)
                    }
                    _ => {
                        let (a, r) = places
                            .get(&(e.resource_type.clone(), e.resource_id.clone()))
                            .cloned()
                            .unwrap_or_else(|| {
                                (
                                    rule_account
                                        .clone()
                                        .unwrap_or_else(|| self.settings.account.clone()),
                                    rule_region
                                        .clone()
                                        .unwrap_or_else(|| self.settings.region.clone()),
                                )
                            });
                        (a, r, 0)
                    }
                };
                let place_region = place_region(rule_region.as_ref(), &region);
                Outcome::Result(
                    ResultRecord {
                        rule: rule.to_string(),
                        account,
                        region,
                        place_region,
                        resource_type: e.resource_type.clone(),
                        resource_id: e.resource_id.clone(),
                        compliance: e.compliance,
                        annotation: e.annotation.clone(),
                        ordering_ms: e.ordering_ms,
                        recorded_ms: now,
                        invoked_ms,
                        item_seq: seq,
                    },
                    generation,
                )
            })
            .collect()
    }

    /// A rule's results, one page: `(results, next key)`, filtered by compliance types.
    ///
    /// # Errors
    /// [`EngineError::Log`].
    pub fn results_page(
        &self,
        rule: &str,
        types: &[Compliance],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ResultRecord>, Option<String>)> {
        self.results_page_where(rule, types, after, limit, |_| true)
    }

    /// [`Engine::results_page`] of the results `keep` takes (a caller's account and region).
    ///
    /// # Errors
    /// [`EngineError::Log`].
    pub fn results_page_where(
        &self,
        rule: &str,
        types: &[Compliance],
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&ResultRecord) -> bool,
    ) -> Result<(Vec<ResultRecord>, Option<String>)> {
        let prefix = rule_prefix(rule);
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let page = self.log.kv_page(&prefix, cursor.as_deref(), 512)?;
            if page.is_empty() {
                return Ok((out, None));
            }
            for (k, v) in &page {
                cursor = Some(k.clone());
                if let Some(r) = kv_json::<ResultRecord>(v) {
                    if (types.is_empty() || types.contains(&r.compliance)) && keep(&r) {
                        out.push(r);
                        if out.len() == limit {
                            let more = !self.log.kv_page(&prefix, Some(k), 1)?.is_empty();
                            return Ok((out, more.then(|| k.clone())));
                        }
                    }
                }
            }
        }
    }

    /// Every rule's result for one resource.
    ///
    /// # Errors
    /// [`EngineError::Log`].
    pub fn resource_results(
        &self,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Vec<ResultRecord>> {
        let mut out = Vec::new();
        for (k, _) in self.log.kv_prefix(
            &by_resource_prefix(Some(resource_type), Some(resource_id)),
            usize::MAX,
        )? {
            if let Some((t, id, rule)) = parse_by_resource_key(&k) {
                if let Some(v) = self.log.get_kv(&result_key(rule, t, id))? {
                    if let Some(r) = kv_json::<ResultRecord>(&v) {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Evaluated resources in (type, id) order, one page: each with its results, after the
    /// by-resource index key `after`. Returns the page and the key to resume from.
    ///
    /// # Errors
    /// [`EngineError::Log`].
    #[allow(
        clippy::type_complexity,
        reason = "a page of (type, id, results) and a cursor"
    )]
    pub fn resources_page(
        &self,
        resource_type: Option<&str>,
        resource_id: Option<&str>,
        after: Option<&str>,
        mut keep: impl FnMut(&[ResultRecord]) -> bool,
        limit: usize,
    ) -> Result<(Vec<(String, String, Vec<ResultRecord>)>, Option<String>)> {
        let prefix = by_resource_prefix(resource_type, resource_id);
        let mut out: Vec<(String, String, Vec<ResultRecord>)> = Vec::new();
        let mut cursor = after.map(str::to_string);
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
            let page = self.log.kv_page(&prefix, cursor.as_deref(), 512)?;
            if page.is_empty() {
                flush(current.take(), &mut out, &mut keep);
                return Ok((out, None));
            }
            for (k, _) in &page {
                cursor = Some(k.clone());
                let Some((t, id, rule)) = parse_by_resource_key(k) else {
                    continue;
                };
                let same = current.as_ref().is_some_and(|c| c.0 == t && c.1 == id);
                if !same {
                    let last = flush(current.take(), &mut out, &mut keep);
                    if out.len() == limit {
                        return Ok((out, last));
                    }
                    current = Some((t.to_string(), id.to_string(), Vec::new(), k.clone()));
                }
                if let Some(c) = current.as_mut() {
                    if let Some(v) = self.log.get_kv(&result_key(rule, t, id))? {
                        if let Some(r) = kv_json::<ResultRecord>(&v) {
                            c.2.push(r);
                        }
                    }
                    c.3 = k.clone();
                }
            }
        }
    }

    /// A rule's live results by compliance type.
    pub fn counts(&self, rule: &str) -> RuleCounts {
        self.counts_where(rule, |_, _| true)
    }

    /// A rule's live results by compliance type, of the resources whose (account, region)
    /// `place` takes.
    pub fn counts_where(&self, rule: &str, place: impl Fn(&str, &str) -> bool) -> RuleCounts {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
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

    /// A rule's evaluation status.
    pub fn status(&self, rule: &str) -> Option<RuleStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(rule)
            .cloned()
    }

    fn save_status(&self, name: &str, s: &RuleStatus) {
        if let Ok(v) = serde_json::to_vec(s) {
            if let Err(e) = self.log.put_kv(&format!("rules/status/{name}"), &v) {
                tracing::warn!(rule = %name, error = %e, "Saving a rule status failed.");
            }
        }
    }

    /// Runs the change loop, the periodic scheduler and unfinished work of a previous run
    /// (full runs of rules put but not yet evaluated, results of deleted rules) until
    /// `stop` turns true.
    ///
    /// # Errors
    /// [`EngineError::Offline`] without a recorder; store errors of the change loop.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> Result<()> {
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        for (k, _) in self.log.kv_prefix("rules/pending/", usize::MAX)? {
            self.spawn_full_run(
                k.trim_start_matches("rules/pending/").to_string(),
                "put before restart",
            );
        }
        for (k, _) in self.log.kv_prefix("rules/deleting/", usize::MAX)? {
            let name = k.trim_start_matches("rules/deleting/").to_string();
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.clean_deleted(&name).await {
                    tracing::warn!(rule = %name, error = %e, "Cleaning a deleted rule's results failed.");
                }
            });
        }
        let periodic = {
            let me = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                // Periodic rules are looked for every periodic_check, failed invocations
                // retried as soon as due (every retry_after at most).
                let tick = me
                    .settings
                    .periodic_check
                    .min(me.settings.retry_after)
                    .max(Duration::from_millis(50));
                let mut last_periodic: Option<Instant> = None;
                loop {
                    if last_periodic.is_none_or(|t| t.elapsed() >= me.settings.periodic_check) {
                        last_periodic = Some(Instant::now());
                        me.start_due_periodic();
                    }
                    me.spawn_due_retries();
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => {}
                        _ = stop.changed() => break,
                    }
                    if *stop.borrow() {
                        break;
                    }
                }
            })
        };
        // First start: resources recorded so far are judged by each rule's full run. A
        // store that refuses the cursor (a full disk) is retried, never a reason to stop.
        let mut cursor = loop {
            let stored = self.log.cursor(CURSOR).and_then(|c| match c {
                Some(c) => Ok(c),
                None => {
                    let w = self.log.watermark();
                    self.log.set_cursor(CURSOR, w).map(|()| w)
                }
            });
            match stored {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(error = %e, "Rules cursor not stored; retrying in 5 s.");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        periodic.abort();
                        return Ok(());
                    }
                }
            }
        };
        let mut water = self.log.subscribe_watermark();
        let result = loop {
            if *stop.borrow() {
                break Ok(());
            }
            match self.change_step(cursor).await {
                Ok(Some(next)) => {
                    cursor = next;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "Rules change loop failed; retrying in 5 s.");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
            tokio::select! {
                _ = water.changed() => {}
                _ = stop.changed() => {}
            }
        };
        periodic.abort();
        result
    }

    /// Judges the next batch of changes after `cursor` with the change-triggered rules and
    /// records the results, then moves the cursor. `None` when nothing is new.
    async fn change_step(&self, cursor: Seq) -> Result<Option<Seq>> {
        let (items, last) = self.log.read_range(cursor, BATCH, &Filter::default())?;
        if last == cursor {
            return Ok(None);
        }
        let all: Vec<Arc<Active>> = self
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let (rules, others): (Vec<Arc<Active>>, Vec<Arc<Active>>) =
            all.into_iter().partition(|a| a.def.triggers.on_change);
        // A deleted resource's results end under every rule, periodic ones included.
        let mut outcomes: Vec<Outcome> = items
            .iter()
            .filter(|i| i.status.is_deletion() && i.key.resource_type != COMPLIANCE_TYPE)
            .flat_map(|i| {
                others
                    .iter()
                    .filter(|a| {
                        a.def.rule.applies_to_scope(
                            &i.key.account,
                            &i.key.region,
                            &i.key.resource_type,
                        )
                    })
                    .map(|a| Outcome::Ended {
                        rule: a.def.rule.name.clone(),
                        resource_type: i.key.resource_type.clone(),
                        resource_id: i.key.resource_id.clone(),
                        judged_by: Some(i.seq),
                    })
            })
            .collect();
        let relevant = items.iter().any(|i| i.key.resource_type != COMPLIANCE_TYPE);
        if !rules.is_empty() && relevant {
            outcomes.extend(self.judge_items(&rules, items, false).await);
        }
        if !outcomes.is_empty() {
            self.apply(outcomes, false).await?;
        }
        // After the results: a crash in between judges the batch again, and the diff stage
        // finds the recorded results unchanged — so the cursor need not wait for the disk.
        self.log.set_cursor_lazy(CURSOR, last)?;
        Ok(Some(last))
    }

    /// Judges items with rules. Deleted items, and items that left a rule's scope, end
    /// the rule's result for them (if it had one). The CPU-bound judging runs on a
    /// blocking thread, so a big batch never stalls the server's async workers; external
    /// evaluators are then invoked, a few at a time.
    async fn judge_items(
        &self,
        rules: &[Arc<Active>],
        items: Vec<ConfigurationItem>,
        on_demand: bool,
    ) -> Vec<Outcome> {
        let rules_owned: Vec<Arc<Active>> = rules.to_vec();
        let judged = tokio::task::spawn_blocking(move || {
            let (out, external) = judge_sync(&rules_owned, &items);
            (out, external, items)
        })
        .await;
        let (mut out, external, items) = match judged {
            Ok(v) => v,
            Err(e) => {
                return rules
                    .iter()
                    .map(|a| Outcome::Failed {
                        rule: a.def.rule.name.clone(),
                        message: format!("judging failed: {e}"),
                        invocation: false,
                        retry: None,
                    })
                    .collect()
            }
        };
        if !external.is_empty() {
            let calls: Vec<(Arc<Active>, &ConfigurationItem, Value)> = external
                .into_iter()
                .filter_map(|(a, i, json)| items.get(i).map(|it| (a, it, json)))
                .collect();
            out.extend(self.invoke_all(calls, on_demand).await);
        }
        out
    }

    /// Invokes external evaluators, a few at a time, in item order.
    async fn invoke_all(
        &self,
        calls: Vec<(Arc<Active>, &ConfigurationItem, Value)>,
        on_demand: bool,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        for chunk in calls.chunks(self.settings.concurrency.max(1)) {
            let mut futs = Vec::new();
            for (a, item, json) in chunk {
                let invoked = now_ms();
                let diff = if on_demand {
                    Value::Null
                } else {
                    item.diff_json().unwrap_or(Value::Null)
                };
                let invoking = json!({
                    "configurationItemDiff": diff,
                    "configurationItem": json,
                    "notificationCreationTime": iso_ms(invoked),
                    "messageType": "ConfigurationItemChangeNotification",
                    "recordVersion": "1.3",
                });
                futs.push(self.invoke_one(a.clone(), invoking, invoked, Some(*item)));
            }
            for r in join_all(futs).await {
                out.extend(r);
            }
        }
        out
    }

    /// One invocation of a rule's evaluator with an invoking event.
    async fn invoke_one(
        &self,
        a: Arc<Active>,
        invoking: Value,
        invoked: i64,
        item: Option<&ConfigurationItem>,
    ) -> Vec<Outcome> {
        let name = a.def.rule.name.clone();
        let Some(spec) = a
            .judge
            .external()
            .and_then(|n| self.settings.evaluators.iter().find(|e| e.name == n))
        else {
            return vec![Outcome::Failed {
                rule: name,
                message: "the rule's evaluator is no longer declared in the configuration".into(),
                invocation: true,
                retry: None,
            }];
        };
        let event = json!({
            "version": "1.0",
            "invokingEvent": invoking.to_string(),
            "ruleParameters": Value::Object(a.def.rule.evaluator.parameters().clone()).to_string(),
            "resultToken": self.tokens.issue(&name, invoked),
            "eventLeftScope": false,
            "executionRoleArn": format!("arn:aws:iam::{}:role/driftlog", self.settings.account),
            "configRuleArn": a.def.arn,
            "configRuleName": a.def.display_name(),
            "configRuleId": a.def.id,
            "accountId": item.map_or(self.settings.account.as_str(), |i| i.key.account.as_str()),
            "evaluationMode": "DETECTIVE",
        });
        match external::invoke(spec, &self.http, &event, now_ms()).await {
            Ok(evals) => {
                let mut v = self.results_of(&name, a.generation, &evals, invoked, now_ms(), item);
                v.push(Outcome::Invoked {
                    rule: name,
                    key: item.map(|i| i.key.clone()),
                });
                v
            }
            Err(message) => vec![Outcome::Failed {
                rule: name,
                message,
                invocation: true,
                retry: item.map(|i| (i.key.clone(), i.seq)),
            }],
        }
    }

    /// Records outcomes: changed results become compliance items (one append), the index
    /// follows, statuses and counts are updated.
    async fn apply(&self, outcomes: Vec<Outcome>, full_run: bool) -> Result<()> {
        let Some(recorder) = &self.recorder else {
            return Err(EngineError::Offline);
        };
        let _g = self.apply_lock.lock().await;
        enum Action {
            Put(ResultRecord),
            End(ResultRecord),
        }
        // A resource judged twice in one batch (it changed twice before the engine caught
        // up) gets both verdicts recorded, in order: each later verdict for a key already
        // in this round starts the next round (appended after this one).
        let mut rounds: Vec<BTreeMap<String, Action>> = vec![BTreeMap::new()];
        let mut latest: HashMap<String, Option<ResultRecord>> = HashMap::new();
        let mut prev_of: HashMap<String, Option<ResultRecord>> = HashMap::new();
        // Per rule: results seen, the last failure (message, was an invocation), invoked ok.
        let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
        // External invocations per (rule, resource): succeeded (None) or failed on the item
        // at that position (to be retried).
        let mut retries: Vec<(String, ResourceKey, Option<Seq>)> = Vec::new();
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        let place = |k: String, a: Action, rounds: &mut Vec<BTreeMap<String, Action>>| {
            if rounds.last().is_some_and(|r| r.contains_key(&k)) {
                rounds.push(BTreeMap::new());
            }
            if let Some(r) = rounds.last_mut() {
                r.insert(k, a);
            }
        };
        for o in outcomes {
            match o {
                Outcome::Result(r, generation) => {
                    let Some(active) = rules.get(&r.rule) else {
                        continue;
                    };
                    if active.generation != generation {
                        // Judged by a definition replaced since: its own run re-judges.
                        continue;
                    }
                    let t = touched.entry(r.rule.clone()).or_default();
                    t.0 += 1;
                    if full_run && r.item_seq != 0 && active.def.triggers.on_change {
                        // A full run judged an item that has a newer version (or was
                        // deleted) since: the change loop judges that one.
                        let id = ResourceKey::new(
                            &r.account,
                            &r.region,
                            &r.resource_type,
                            &r.resource_id,
                        )
                        .id_hash();
                        if self
                            .log
                            .state()
                            .get(id)
                            .is_some_and(|st| st.seq > r.item_seq)
                        {
                            continue;
                        }
                    }
                    let k = result_key(&r.rule, &r.resource_type, &r.resource_id);
                    let current = match latest.get(&k) {
                        Some(c) => c.clone(),
                        None => self.stored(&k, &mut prev_of)?,
                    };
                    if let Some(c) = &current {
                        if r.item_seq != 0 && c.item_seq > r.item_seq {
                            continue;
                        }
                        if r.item_seq == 0 && c.ordering_ms > r.ordering_ms {
                            // A late report (PutEvaluations) older than the verdict held.
                            continue;
                        }
                        if c.compliance == r.compliance && c.annotation == r.annotation {
                            continue;
                        }
                    }
                    latest.insert(k.clone(), Some(r.clone()));
                    place(k, Action::Put(r), &mut rounds);
                }
                Outcome::Ended {
                    rule,
                    resource_type,
                    resource_id,
                    judged_by,
                } => {
                    let k = result_key(&rule, &resource_type, &resource_id);
                    let current = match latest.get(&k) {
                        Some(c) => c.clone(),
                        None => self.stored(&k, &mut prev_of)?,
                    };
                    if let Some(c) = current {
                        if judged_by.is_some_and(|g| c.item_seq > g) {
                            continue;
                        }
                        latest.insert(k.clone(), None);
                        place(k, Action::End(c), &mut rounds);
                    }
                }
                Outcome::Failed {
                    rule,
                    message,
                    invocation,
                    retry,
                } => {
                    if let Some((key, seq)) = retry {
                        retries.push((rule.clone(), key, Some(seq)));
                    }
                    let t = touched.entry(rule).or_default();
                    t.1 = Some((message, invocation));
                }
                Outcome::Invoked { rule, key } => {
                    if let Some(key) = key {
                        retries.push((rule.clone(), key, None));
                    }
                    touched.entry(rule).or_default().2 = true;
                }
            }
        }
        // What each key held before the round being recorded.
        let mut before_round: HashMap<String, Option<ResultRecord>> = prev_of;
        for actions in rounds.into_iter().filter(|r| !r.is_empty()) {
            let mut upserts = Vec::new();
            let mut ended = Vec::new();
            let mut puts = Vec::new();
            let mut removes = Vec::new();
            // Counts change by the results replaced (-1) and the results put (+1).
            let mut replaced: Vec<ResultRecord> = Vec::new();
            let mut added: Vec<&ResultRecord> = Vec::new();
            for (k, a) in &actions {
                match a {
                    Action::Put(r) => {
                        let (arn, id, shown) = rules
                            .get(&r.rule)
                            .map(|a| {
                                (
                                    a.def.arn.clone(),
                                    a.def.id.clone(),
                                    a.def.display_name().to_string(),
                                )
                            })
                            .unwrap_or_else(|| (String::new(), String::new(), r.rule.clone()));
                        let previous = before_round.insert(k.clone(), Some(r.clone())).flatten();
                        upserts.push(compliance_observed(r, previous.as_ref(), &shown, &arn, &id));
                        replaced.extend(previous);
                        puts.push((
                            k.clone(),
                            serde_json::to_vec(r)
                                .map_err(|e| EngineError::Record(e.to_string()))?,
                        ));
                        puts.push((
                            by_resource_key(&r.resource_type, &r.resource_id, &r.rule),
                            Vec::new(),
                        ));
                        added.push(r);
                    }
                    Action::End(r) => {
                        ended.push(compliance_key(r));
                        removes.push(k.clone());
                        removes.push(by_resource_key(&r.resource_type, &r.resource_id, &r.rule));
                        replaced.extend(before_round.insert(k.clone(), None).flatten());
                    }
                }
            }
            recorder
                .record_derived(upserts, ended)
                .await
                .map_err(|e| EngineError::Record(e.to_string()))?;
            self.log.apply_kv(&puts, &removes)?;
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            for r in &replaced {
                count(&mut counts, r, -1);
            }
            for r in added {
                count(&mut counts, r, 1);
            }
        }
        let now = now_ms();
        let mut st = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        for (rule, (n, failure, invoked)) in touched {
            if !rules.contains_key(&rule) {
                continue;
            }
            let s = st.entry(rule.clone()).or_default();
            s.evaluations += n;
            if invoked {
                s.last_success_invocation_ms = Some(now);
            }
            match failure {
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
                    if n > 0 {
                        s.last_success_evaluation_ms = Some(now);
                        if !invoked {
                            s.last_success_invocation_ms = Some(now);
                        }
                    }
                }
            }
            self.save_status(&rule, s);
        }
        drop(st);
        self.note_retries(retries, &rules)?;
        Ok(())
    }

    /// Schedules a failed invocation's next try (`rules/retry/…`), or gives up after
    /// `retries`; a successful one clears its pending retry.
    fn note_retries(
        &self,
        retries: Vec<(String, ResourceKey, Option<Seq>)>,
        rules: &BTreeMap<String, Arc<Active>>,
    ) -> Result<()> {
        let now = now_ms();
        let mut puts = Vec::new();
        let mut removes = Vec::new();
        for (rule, key, failed_on) in retries {
            let k = retry_key(&rule, &key);
            let pending: Option<Retry> = self.log.get_kv(&k)?.and_then(|v| kv_json(&v));
            let Some(seq) = failed_on.filter(|_| rules.contains_key(&rule)) else {
                if pending.is_some() {
                    removes.push(k);
                }
                continue;
            };
            let failures = match pending {
                Some(p) if p.seq >= seq => p.failures + 1,
                _ => 1,
            };
            if failures > self.settings.retries {
                tracing::warn!(rule = %rule, resource = %key, failures, "External evaluator failed on every try; giving up until the resource changes or the rule runs again.");
                removes.push(k);
                continue;
            }
            let wait = self
                .settings
                .retry_after
                .saturating_mul(1 << (failures - 1).min(16));
            let due_ms = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            let r = Retry {
                rule,
                key,
                seq,
                failures,
                due_ms,
            };
            puts.push((
                k,
                serde_json::to_vec(&r).map_err(|e| EngineError::Record(e.to_string()))?,
            ));
        }
        if !puts.is_empty() || !removes.is_empty() {
            self.log.apply_kv(&puts, &removes)?;
        }
        Ok(())
    }

    /// Starts a task trying again the failed external invocations that are due (unless one
    /// still runs): per rule, with the resources' latest items, through the same invocation
    /// path as changes (so `concurrency` holds). A retry whose resource is gone, or whose
    /// rule is gone or no longer judges it, is dropped.
    fn spawn_due_retries(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.retry_due().await {
                tracing::warn!(error = %e, "Retrying failed external evaluations failed; tried again later.");
            }
            me.retrying.store(false, Ordering::Release);
        });
    }

    async fn retry_due(self: &Arc<Self>) -> Result<()> {
        let me = self.clone();
        // (rule, [(mark key, mark value, latest item)]) of the due marks, read off the workers.
        let due = tokio::task::spawn_blocking(move || -> Result<_> {
            let now = now_ms();
            let mut by_rule: BTreeMap<String, Vec<(String, Vec<u8>, ConfigurationItem)>> =
                BTreeMap::new();
            for (k, v) in me.log.kv_prefix("rules/retry/", usize::MAX)? {
                let Some(r) = kv_json::<Retry>(&v) else {
                    me.log.remove_kv(&k)?;
                    continue;
                };
                if r.due_ms > now {
                    continue;
                }
                let judged = me
                    .active(&r.rule)
                    .is_some_and(|a| a.judge.external().is_some());
                let item = me.log.latest(&r.key)?.filter(|i| !i.status.is_deletion());
                match (judged, item) {
                    (true, Some(item)) => by_rule.entry(r.rule).or_default().push((k, v, item)),
                    _ => {
                        me.log.remove_kv_if(&k, &v)?;
                    }
                }
            }
            Ok(by_rule)
        })
        .await
        .map_err(|e| EngineError::Record(e.to_string()))??;
        for (rule, marks) in due {
            let Some(active) = self.active(&rule) else {
                continue;
            };
            tracing::info!(rule = %rule, resources = marks.len(), "Retrying failed external evaluations.");
            let items: Vec<ConfigurationItem> = marks.iter().map(|(_, _, i)| i.clone()).collect();
            let outcomes = self.judge_items(&[active], items, false).await;
            self.apply(outcomes, false).await?;
            // Neither failed again (rescheduled) nor succeeded (cleared): the rule no longer
            // judges the resource — nothing to retry.
            for (k, v, _) in marks {
                self.log.remove_kv_if(&k, &v)?;
            }
        }
        Ok(())
    }

    fn stored(
        &self,
        k: &str,
        cache: &mut HashMap<String, Option<ResultRecord>>,
    ) -> Result<Option<ResultRecord>> {
        if let Some(v) = cache.get(k) {
            return Ok(v.clone());
        }
        let v = self
            .log
            .get_kv(k)?
            .and_then(|v| kv_json::<ResultRecord>(&v));
        cache.insert(k.to_string(), v.clone());
        Ok(v)
    }

    fn start_due_periodic(self: &Arc<Self>) {
        let now = now_ms();
        let due: Vec<String> = self
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|a| {
                let period = frequency_ms(a.def.triggers.periodic.as_deref()?)?;
                let last = self
                    .log
                    .get_kv(&format!("rules/lastrun/{}", a.def.rule.name))
                    .ok()
                    .flatten()
                    .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<i64>().ok())
                    .unwrap_or(a.def.created_ms);
                (now - last >= period).then(|| a.def.rule.name.clone())
            })
            .collect();
        for name in due {
            if !self.is_running(&name) {
                self.spawn_full_run(name, "periodic");
            }
        }
    }

    /// Queues a full run of `name`. One runner drains the queue: the rules queued together
    /// (a batch of rules put at once, a periodic tick) are judged in one pass over the
    /// inventory, each item read and parsed once for all of them.
    fn spawn_full_run(self: &Arc<Self>, name: String, why: &'static str) {
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.insert(name.clone());
            let mut queue = self.rerun.lock().unwrap_or_else(|p| p.into_inner());
            queue.insert(name);
            if self.runner.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // The runner takes it on its next round.
                return;
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let names: Vec<String> = {
                    let _running = me.running.lock().unwrap_or_else(|p| p.into_inner());
                    let mut queue = me.rerun.lock().unwrap_or_else(|p| p.into_inner());
                    if queue.is_empty() {
                        me.runner.store(false, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                    let mut v: Vec<String> = queue.drain().collect();
                    v.sort();
                    v
                };
                let t0 = std::time::Instant::now();
                // Its own task: a panic in a rule ends this run, not the runner.
                let run = {
                    let (me, names) = (me.clone(), names.clone());
                    tokio::spawn(async move { me.full_run(&names, why).await })
                };
                match run.await {
                    Ok(Ok(n)) => {
                        tracing::info!(rules = ?names, why, items = n, ms = t0.elapsed().as_millis() as u64, "Rules evaluated over the inventory.")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(rules = ?names, why, error = %e, "Full evaluation failed.")
                    }
                    Err(e) => {
                        tracing::error!(rules = ?names, why, error = %e, "Full evaluation panicked.")
                    }
                }
                let mut running = me.running.lock().unwrap_or_else(|p| p.into_inner());
                let queue = me.rerun.lock().unwrap_or_else(|p| p.into_inner());
                for n in &names {
                    if !queue.contains(n) {
                        running.remove(n);
                    }
                }
            }
        });
    }

    /// Evaluates rules over every current resource they could judge, in one pass; results
    /// of resources they no longer judge end. Returns how many items were read.
    async fn full_run(&self, names: &[String], why: &str) -> Result<usize> {
        tracing::debug!(rules = ?names, why, "Full evaluation starts.");
        let actives: Vec<Arc<Active>> = names.iter().filter_map(|n| self.active(n)).collect();
        if actives.is_empty() {
            return Ok(0);
        }
        {
            let mut st = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            for a in &actives {
                let s = st.entry(a.def.rule.name.clone()).or_default();
                s.first_evaluation_started = true;
                self.save_status(&a.def.rule.name, s);
            }
        }
        let started = now_ms();
        // A periodic external rule is told "it is time" and reports what it finds.
        let (scheduled, judged_here): (Vec<Arc<Active>>, Vec<Arc<Active>>) = actives
            .into_iter()
            .partition(|a| a.judge.external().is_some() && !a.def.triggers.on_change);
        for a in &scheduled {
            let invoking = json!({
                "awsAccountId": self.settings.account,
                "notificationCreationTime": iso_ms(started),
                "messageType": "ScheduledNotification",
                "recordVersion": "1.0",
            });
            let outcomes = self.invoke_one(a.clone(), invoking, started, None).await;
            self.apply(outcomes, false).await?;
        }
        let mut read = 0usize;
        if !judged_here.is_empty() {
            let (seqs, snapshot_at): (Vec<Seq>, Seq) = {
                let st = self.log.state();
                // Read under the state lock: the watermark and the state agree.
                let at = self.log.watermark();
                let mut v = Vec::new();
                for (scope, _, _) in st.scopes() {
                    if scope.resource_type == COMPLIANCE_TYPE
                        || !judged_here.iter().any(|a| {
                            a.def.rule.applies_to_scope(
                                &scope.account,
                                &scope.region,
                                &scope.resource_type,
                            )
                        })
                    {
                        continue;
                    }
                    if let Some(live) = st.live_in(scope) {
                        v.extend(live.keys().filter_map(|id| st.get(*id).map(|s| s.seq)));
                    }
                }
                // In log order: items are read frame by frame, not at random.
                v.sort_unstable();
                (v, at)
            };
            let mut seen: HashSet<u128> = HashSet::with_capacity(seqs.len());
            for chunk in seqs.chunks(FULL_RUN_BATCH) {
                let log = self.log.clone();
                let chunk = chunk.to_vec();
                let items = tokio::task::spawn_blocking(
                    move || -> driftlog_log::Result<Vec<ConfigurationItem>> {
                        let mut items = Vec::with_capacity(chunk.len());
                        for s in chunk {
                            if let Some(it) = log.get(s)? {
                                items.push(it);
                            }
                        }
                        Ok(items)
                    },
                )
                .await
                .map_err(|e| EngineError::Record(e.to_string()))??;
                for it in &items {
                    seen.insert(it.key.id_hash());
                }
                read += items.len();
                let outcomes = self.judge_items(&judged_here, items, true).await;
                self.apply(outcomes, true).await?;
            }
            // Results for resources no longer live end.
            for a in &judged_here {
                let name = &a.def.rule.name;
                let prefix = rule_prefix(name);
                let mut after: Option<String> = None;
                loop {
                    let page = self.log.kv_page(&prefix, after.as_deref(), 1024)?;
                    let Some((last, _)) = page.last() else { break };
                    after = Some(last.clone());
                    let gone: Vec<Outcome> = page
                        .iter()
                        .filter_map(|(_, v)| kv_json::<ResultRecord>(v))
                        .filter(|r| {
                            let key = ResourceKey::new(
                                &r.account,
                                &r.region,
                                &r.resource_type,
                                &r.resource_id,
                            );
                            r.item_seq != 0
                                && r.item_seq <= snapshot_at
                                && (!seen.contains(&key.id_hash())
                                    || !a.def.rule.applies_to_scope(
                                        &r.account,
                                        &r.region,
                                        &r.resource_type,
                                    ))
                        })
                        .map(|r| Outcome::Ended {
                            rule: r.rule,
                            resource_type: r.resource_type,
                            resource_id: r.resource_id,
                            judged_by: Some(snapshot_at),
                        })
                        .collect();
                    if !gone.is_empty() {
                        self.apply(gone, true).await?;
                    }
                }
            }
        }
        // Done: when each ran, and the pending marks of the definitions judged (a rule put
        // again meanwhile has a new mark, and its own run queued).
        let mut puts = Vec::new();
        for a in scheduled.iter().chain(judged_here.iter()) {
            let n = &a.def.rule.name;
            if self.active(n).is_some() {
                puts.push((
                    format!("rules/lastrun/{n}"),
                    started.to_string().into_bytes(),
                ));
            }
            self.log
                .remove_kv_if(&format!("rules/pending/{n}"), &a.generation.to_be_bytes())?;
        }
        self.log.apply_kv(&puts, &[])?;
        Ok(read)
    }

    /// Ends every result of a deleted rule, then forgets it.
    async fn clean_deleted(&self, name: &str) -> Result<()> {
        let prefix = rule_prefix(name);
        loop {
            if self.active(name).is_some() {
                // Cannot happen (a rule being deleted cannot be put), but never end a live
                // rule's results.
                return Ok(());
            }
            let page = self.log.kv_page(&prefix, None, 1024)?;
            if page.is_empty() {
                break;
            }
            let mut outcomes = Vec::new();
            for (k, v) in &page {
                match kv_json::<ResultRecord>(v) {
                    Some(r) => outcomes.push(Outcome::Ended {
                        rule: r.rule,
                        resource_type: r.resource_type,
                        resource_id: r.resource_id,
                        judged_by: None,
                    }),
                    None => {
                        tracing::warn!(key = %k, "Unreadable result of a deleted rule; removed.");
                        self.log.remove_kv(k)?;
                    }
                }
            }
            self.apply(outcomes, false).await?;
        }
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        let mut removes: Vec<String> = self
            .log
            .kv_prefix(&retry_prefix(name), usize::MAX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        removes.extend([
            format!("rules/deleting/{name}"),
            format!("rules/status/{name}"),
            format!("rules/lastrun/{name}"),
        ]);
        self.log.apply_kv(&[], &removes)?;
        Ok(())
    }

    /// Sends `ConfigRulesEvaluationStarted` through `notifier` from now on (set once).
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    /// The key of `rule`'s compliance item for the resource `key`.
    pub fn compliance_key_of(rule: &str, key: &ResourceKey) -> ResourceKey {
        crate::item::compliance_key_for(rule, key)
    }
}

/// The synchronous part of judging: verdicts of managed and CEL rules, ended results, and
/// the (rule, item index, item JSON) of each external invocation to make.
#[allow(
    clippy::type_complexity,
    reason = "outcomes and the external calls to make"
)]
fn judge_sync(
    rules: &[Arc<Active>],
    items: &[ConfigurationItem],
) -> (Vec<Outcome>, Vec<(Arc<Active>, usize, Value)>) {
    let invoked = now_ms();
    let mut out = Vec::new();
    let mut external = Vec::new();
    for (idx, item) in items.iter().enumerate() {
        let rtype = item.key.resource_type.as_str();
        if rtype == COMPLIANCE_TYPE {
            continue;
        }
        let relevant: Vec<&Arc<Active>> = rules
            .iter()
            .filter(|a| {
                a.def
                    .rule
                    .applies_to_scope(&item.key.account, &item.key.region, rtype)
            })
            .collect();
        if relevant.is_empty() {
            continue;
        }
        // Ends only a result judged from this item or an older one: a newer result (a
        // full run ahead of a lagging change loop, or the reverse) stays.
        let ended = |a: &Arc<Active>| Outcome::Ended {
            rule: a.def.rule.name.clone(),
            resource_type: item.key.resource_type.clone(),
            resource_id: item.key.resource_id.clone(),
            judged_by: Some(item.seq),
        };
        if item.status.is_deletion() {
            out.extend(relevant.into_iter().map(ended));
            continue;
        }
        let json = match item.to_notification_json() {
            Ok(j) => j,
            Err(e) => {
                for a in relevant {
                    out.push(Outcome::Failed {
                        rule: a.def.rule.name.clone(),
                        message: format!(
                            "{} {}: unreadable item: {e}",
                            rtype, item.key.resource_id
                        ),
                        invocation: false,
                        retry: None,
                    });
                }
                continue;
            }
        };
        for a in relevant {
            if !a.def.rule.applies_to(&json) {
                out.push(ended(a));
                continue;
            }
            if a.judge.external().is_some() {
                external.push((a.clone(), idx, json.clone()));
                continue;
            }
            match a.judge.judge(&json) {
                Ok(Some(v)) => out.push(Outcome::Result(
                    ResultRecord {
                        rule: a.def.rule.name.clone(),
                        account: item.key.account.clone(),
                        region: item.key.region.clone(),
                        resource_type: item.key.resource_type.clone(),
                        resource_id: item.key.resource_id.clone(),
                        compliance: v.compliance,
                        annotation: v.annotation,
                        ordering_ms: item.capture_time_ms,
                        recorded_ms: invoked,
                        invoked_ms: invoked,
                        item_seq: item.seq,
                        place_region: place_region(
                            a.def.rule.scope.region.as_ref(),
                            &item.key.region,
                        ),
                    },
                    a.generation,
                )),
                Ok(None) => out.push(ended(a)),
                Err(e) => out.push(Outcome::Failed {
                    rule: a.def.rule.name.clone(),
                    message: format!("{} {}: {e}", rtype, item.key.resource_id),
                    invocation: false,
                    retry: None,
                }),
            }
        }
    }
    (out, external)
}

/// Awaits futures together (a handful at a time), in order.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outs.into_iter().flatten().collect()
}
