//! The engine: rules in memory and in the store, the change loop over the log, full runs
//! (new or changed rule, periodic, on demand), and recording of results.
//!
//! [`Engine`] is the one face the API and the server see, so the jobs behind it can change
//! without them. Each job is a part of its own that holds the locks it needs and takes
//! them only in its own methods, so which lock guards what is read in one place:
//! * [`rules`]: the rule store — the active definitions and their durable copies;
//! * [`results`]: the result index, the live counts and the rules' statuses;
//! * [`runner`]: judging — the change loop, full runs, periodic rules, retries, and the
//!   recording of what was judged;
//! * [`invoker`]: external evaluators — invocations, their result tokens, and the
//!   evaluations they report later.

mod invoker;
mod results;
mod rules;
mod runner;

use crate::def::{DefContext, DefError, RuleDef};
use crate::external::ExternalSpec;
use crate::item::ResultRecord;
use driftlog_log::Log;
use driftlog_model::time::now_ms;
use driftlog_model::ResourceKey;
use driftlog_recorder::Recorder;
use driftlog_rules::Compliance;
use invoker::Invoker;
use results::Results;
use rules::{RuleStore, MAX_RULES};
use runner::Runner;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use results::{RuleCounts, RuleStatus, CAP};

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

/// Sends a message (subject, body) to the delivery channel's topic.
pub type Notifier = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// The rules engine (see the crate docs).
pub struct Engine {
    log: Arc<Log>,
    /// `None` when the CLI holds the store: rules are kept, judging waits for `serve`.
    recorder: Option<Arc<Recorder>>,
    settings: EngineSettings,
    store: RuleStore,
    results: Results,
    runner: Runner,
    invoker: Invoker,
    /// Where `ConfigRulesEvaluationStarted` goes (the delivery channel's topic).
    notifier: std::sync::OnceLock<Notifier>,
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
        let token_key = invoker::token_key(&log)?;
        let store = RuleStore::open(log.clone(), home_context(&settings))?;
        let results = Results::open(log.clone())?;
        let invoker = Invoker::new(&settings, token_key)?;
        Ok(Arc::new(Self {
            log,
            recorder,
            settings,
            store,
            results,
            runner: Runner::new(),
            invoker,
            notifier: std::sync::OnceLock::new(),
        }))
    }

    /// Where rules are put (account, region, evaluators), for [`RuleDef::from_api`].
    pub fn def_context(&self) -> DefContext {
        self.store.def_context()
    }

    /// Every rule, by name.
    pub fn rules(&self) -> Vec<RuleDef> {
        self.store.defs()
    }

    /// Rules deleted whose results are still being ended (AWS's `DELETING` state), by name.
    /// Marks written before definitions were kept in them are left out.
    pub fn deleting_rules(&self) -> Vec<RuleDef> {
        self.store.deleting()
    }

    /// One rule.
    pub fn rule(&self, name: &str) -> Option<RuleDef> {
        self.store.def(name)
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
        let now = now_ms();
        let staged = self.store.stage(config_rule, ctx, now)?;
        self.results.activated(staged.name(), now);
        // One flush makes the definition, its pending run and its status durable together,
        // before any judging can see the rule.
        self.log.flush()?;
        let def = self.store.activate(staged);
        let name = def.rule.name.clone();
        tracing::info!(rule = %name, id = %def.id, "Rule put.");
        if self.recorder.is_some() {
            self.spawn_full_run(name, "put");
        }
        Ok(def)
    }

    /// Deletes a rule (`DeleteConfigRule`); its results end (recorded as deleted) in the
    /// background.
    ///
    /// # Errors
    /// [`EngineError::NoSuchRule`].
    pub fn delete_rule(self: &Arc<Self>, name: &str) -> Result<()> {
        self.store.delete(name)?;
        self.results.forget_status(name);
        tracing::info!(rule = %name, "Rule deleted.");
        if self.recorder.is_some() {
            self.spawn_clean_deleted(name.to_string(), true);
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
            if self.store.get(n).is_none() {
                return Err(EngineError::NoSuchRule(n.clone()));
            }
        }
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        if let Some(n) = self.runner.first_running(names) {
            return Err(EngineError::Busy(self.store.display_of(&n)));
        }
        for n in names {
            self.spawn_full_run(n.clone(), "on demand");
        }
        self.notify_started(names);
        Ok(())
    }

    /// Tells the delivery channel's topic that `names` started, as AWS does.
    fn notify_started(&self, names: &[String]) {
        let Some(notify) = self.notifier.get() else {
            return;
        };
        let shown: Vec<String> = names.iter().map(|n| self.store.display_of(n)).collect();
        // The rules' own place (the API starts rules of one region and account).
        let place = names.first().and_then(|n| self.store.get(n));
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

    /// True while a full evaluation of `name` runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.runner.is_running(name)
    }

    /// The live rule a result token was issued for, if the token is genuine and current
    /// (the API checks that the caller sees that rule).
    pub fn token_rule(&self, token: &str) -> Option<RuleDef> {
        let (rule, _) = self.invoker.check(token, now_ms())?;
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
        self.record_reported(token, evaluations, test_mode).await
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
        self.results.page_where(rule, types, after, limit, keep)
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
        self.results.of_resource(resource_type, resource_id)
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
        keep: impl FnMut(&[ResultRecord]) -> bool,
        limit: usize,
    ) -> Result<(Vec<(String, String, Vec<ResultRecord>)>, Option<String>)> {
        self.results
            .resources_page(resource_type, resource_id, after, keep, limit)
    }

    /// A rule's live results by compliance type.
    pub fn counts(&self, rule: &str) -> RuleCounts {
        self.counts_where(rule, |_, _| true)
    }

    /// A rule's live results by compliance type, of the resources whose (account, region)
    /// `place` takes.
    pub fn counts_where(&self, rule: &str, place: impl Fn(&str, &str) -> bool) -> RuleCounts {
        self.results.counts_where(rule, place)
    }

    /// A rule's evaluation status.
    pub fn status(&self, rule: &str) -> Option<RuleStatus> {
        self.results.status(rule)
    }

    /// Runs the change loop, the periodic scheduler and unfinished work of a previous run
    /// (full runs of rules put but not yet evaluated, results of deleted rules) until
    /// `stop` turns true.
    ///
    /// # Errors
    /// [`EngineError::Offline`] without a recorder; store errors of the change loop.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        self.run_until(stop).await
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

/// The context of rules the server itself puts (the CLI's, judging every region): its own
/// account and region, every declared evaluator.
fn home_context(settings: &EngineSettings) -> DefContext {
    DefContext {
        account: settings.account.clone(),
        region: settings.region.clone(),
        evaluators: settings.evaluators.iter().map(|e| e.name.clone()).collect(),
        scope_account: None,
        scope_region: None,
        home_account: settings.account.clone(),
        home_region: settings.region.clone(),
    }
}
