//! The invoker of external evaluators: the invoking events AWS's Lambda rules receive,
//! sent a few at a time, the result tokens that let an evaluator report later
//! (`PutEvaluations`), and the placing of what evaluators report.

use super::rules::Active;
use super::runner::{place_region, Outcome};
use super::{Engine, EngineError, EngineSettings, Result};
use crate::external::{self, parse_evaluations, Evaluation, ExternalSpec};
use crate::item::ResultRecord;
use crate::namespaces::TOKEN_KEY;
use crate::token::Tokens;
use driftlog_log::Log;
use driftlog_model::time::{iso_ms, now_ms};
use driftlog_model::ConfigurationItem;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Length of the result tokens' key.
const TOKEN_KEY_LEN: usize = 32;

/// The result tokens' key, made once per store: tokens issued before a restart stay good.
/// A stored key this version cannot read is replaced, never a reason not to start: a key
/// of an earlier release is 32 random bytes, which may begin as a namespace header does
/// (one store in 256) and then no longer reads back whole. Tokens signed with it are
/// refused; evaluators get new ones at their next invocation.
pub(super) fn token_key(log: &Log) -> Result<Vec<u8>> {
    match TOKEN_KEY.get(log, "") {
        Ok(Some(k)) if k.len() == TOKEN_KEY_LEN => return Ok(k),
        Ok(None) => {}
        Ok(Some(_)) | Err(driftlog_log::Error::BadRecord { .. }) => {
            tracing::warn!("The result tokens' key is unreadable; a new one is made (result tokens issued before are refused).");
        }
        Err(e) => return Err(e.into()),
    }
    let mut k = vec![0u8; TOKEN_KEY_LEN];
    getrandom::getrandom(&mut k)
        .map_err(|e| EngineError::Record(format!("no OS randomness for the token key: {e}")))?;
    TOKEN_KEY.put(log, "", &k)?;
    Ok(k)
}

/// What calling evaluators needs, and nothing the rest of the engine shares: no lock, so
/// invocations in flight never hold up judging or the API.
pub(super) struct Invoker {
    tokens: Tokens,
    http: reqwest::Client,
    /// The evaluators declared in the configuration (a rule names one).
    evaluators: Vec<ExternalSpec>,
    /// The server's account, for an invocation of no resource's account.
    account: String,
    /// Invocations in flight at once.
    concurrency: usize,
}

impl Invoker {
    /// One HTTP client for every invocation: connections to an evaluator are reused.
    pub(super) fn new(settings: &EngineSettings, token_key: Vec<u8>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| EngineError::Record(e.to_string()))?;
        Ok(Self {
            tokens: Tokens::new(token_key),
            http,
            evaluators: settings.evaluators.clone(),
            account: settings.account.clone(),
            concurrency: settings.concurrency,
        })
    }

    /// The rule and invocation time a genuine, current token was issued for.
    pub(super) fn check(&self, token: &str, now: i64) -> Option<(String, i64)> {
        self.tokens.check(token, now)
    }

    /// The evaluator `a` names, if the configuration still declares it.
    fn spec_of(&self, a: &Active) -> Option<&ExternalSpec> {
        let name = a.judge.external()?;
        self.evaluators.iter().find(|e| e.name == name)
    }

    /// Sends `spec` the event AWS sends a Lambda rule, with a token for reporting later.
    async fn call(
        &self,
        spec: &ExternalSpec,
        a: &Active,
        invoking: &Value,
        invoked: i64,
        account: Option<&str>,
    ) -> std::result::Result<Vec<Evaluation>, String> {
        let event = json!({
            "version": "1.0",
            "invokingEvent": invoking.to_string(),
            "ruleParameters": Value::Object(a.def.rule.evaluator.parameters().clone()).to_string(),
            "resultToken": self.tokens.issue(&a.def.rule.name, invoked),
            "eventLeftScope": false,
            "executionRoleArn": format!("arn:aws:iam::{}:role/driftlog", self.account),
            "configRuleArn": a.def.arn,
            "configRuleName": a.def.display_name(),
            "configRuleId": a.def.id,
            "accountId": account.unwrap_or(self.account.as_str()),
            "evaluationMode": "DETECTIVE",
        });
        external::invoke(spec, &self.http, &event, now_ms()).await
    }
}

impl Engine {
    /// [`Engine::put_evaluations`].
    pub(super) async fn record_reported(
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
            .invoker
            .check(token, now)
            .ok_or(EngineError::InvalidToken)?;
        if self.store.get(&rule).is_none() {
            return Err(EngineError::NoSuchRule(rule));
        }
        if self.recorder.is_none() {
            return Err(EngineError::Offline);
        }
        // The token names the rule, not its definition: the report goes to the one current.
        let generation = self.store.get(&rule).map_or(0, |a| a.generation);
        let outcomes = self.results_of(&rule, generation, &evals, invoked_ms, now, None);
        self.apply(outcomes, false).await?;
        Ok(Vec::new())
    }

    /// Tells a periodic external rule "it is time" (AWS's `ScheduledNotification`): it
    /// finds its resources itself and reports on them.
    pub(super) async fn invoke_scheduled(&self, a: Arc<Active>, at: i64) -> Vec<Outcome> {
        let invoking = json!({
            "awsAccountId": self.settings.account,
            "notificationCreationTime": iso_ms(at),
            "messageType": "ScheduledNotification",
            "recordVersion": "1.0",
        });
        self.invoke_one(a, invoking, at, None).await
    }

    /// Invokes external evaluators, a few at a time, in item order.
    pub(super) async fn invoke_all(
        &self,
        calls: Vec<(Arc<Active>, &ConfigurationItem, Value)>,
        on_demand: bool,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        for chunk in calls.chunks(self.invoker.concurrency.max(1)) {
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

    /// One invocation of a rule's evaluator with an invoking event. A failed invocation
    /// for an item is marked for a retry; one the configuration no longer allows is not.
    async fn invoke_one(
        &self,
        a: Arc<Active>,
        invoking: Value,
        invoked: i64,
        item: Option<&ConfigurationItem>,
    ) -> Vec<Outcome> {
        let name = a.def.rule.name.clone();
        let Some(spec) = self.invoker.spec_of(&a) else {
            return vec![Outcome::Failed {
                rule: name,
                message: "the rule's evaluator is no longer declared in the configuration".into(),
                invocation: true,
                retry: None,
            }];
        };
        let account = item.map(|i| i.key.account.as_str());
        match self
            .invoker
            .call(spec, &a, &invoking, invoked, account)
            .await
        {
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

    /// The evaluations' results, placed in the account and region where the resource is
    /// recorded (the engine's own for resources driftlog does not record): an evaluator
    /// names a resource by type and id only.
    fn results_of(
        &self,
        rule: &str,
        generation: u64,
        evals: &[Evaluation],
        invoked_ms: i64,
        now: i64,
        item: Option<&ConfigurationItem>,
    ) -> Vec<Outcome> {
        let is_item = |e: &Evaluation| {
            item.is_some_and(|i| {
                i.key.resource_type == e.resource_type && i.key.resource_id == e.resource_id
            })
        };
        let wanted: HashSet<(&str, &str)> = evals
            .iter()
            .filter(|e| !is_item(e))
            .map(|e| (e.resource_type.as_str(), e.resource_id.as_str()))
            .collect();
        // Where the rule lives: a rule of one region reports on its own place's resources
        // only (a resource of that id elsewhere is not the one meant), and results for
        // resources not recorded are placed there.
        let scope = self.store.get(rule).map(|a| a.def.rule.scope.clone());
        let mut places: HashMap<(String, String), (String, String)> = HashMap::new();
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
                let (account, region, seq) = match item.filter(|_| is_item(e)) {
                    Some(i) => (i.key.account.clone(), i.key.region.clone(), i.seq),
                    None => {
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
}

/// Awaits futures together (a handful at a time), in order: no extra dependency for
/// `futures::join_all`.
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
