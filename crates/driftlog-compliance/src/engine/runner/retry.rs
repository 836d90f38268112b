//! Retries of failed external invocations, as Lambda retries an asynchronous invocation:
//! each failure is marked in the store ([`RETRIES`], so a restart still retries it)
//! and tried again later, waiting twice as long after each further failure.

use crate::engine::rules::Active;
use crate::engine::{Engine, EngineError, Result};
use crate::namespaces::{retry_mark, Lenient, Retry, RETRIES};
use driftlog_log::Batch;
use driftlog_model::time::now_ms;
use driftlog_model::{ConfigurationItem, ResourceKey, Seq};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Due retry marks of one rule: (mark key, the mark as read, the resource's latest item).
type Due = Vec<(String, Lenient<Retry>, ConfigurationItem)>;

impl Engine {
    /// Schedules a failed invocation's next try, or gives up after `retries`; a successful
    /// one clears its pending retry. `retries` holds (rule, resource, the item a failed
    /// try judged — `None` for a success).
    pub(super) fn note_retries(
        &self,
        retries: Vec<(String, ResourceKey, Option<Seq>)>,
        rules: &BTreeMap<String, Arc<Active>>,
    ) -> Result<()> {
        let now = now_ms();
        let mut batch = Batch::default();
        for (rule, key, failed_on) in retries {
            let k = retry_mark(&rule, &key);
            let pending: Option<Retry> = RETRIES.get(&self.log, &k)?.and_then(Lenient::into_value);
            let Some(seq) = failed_on.filter(|_| rules.contains_key(&rule)) else {
                if pending.is_some() {
                    batch.remove(&RETRIES, &k);
                }
                continue;
            };
            let failures = match pending {
                Some(p) if p.seq >= seq => p.failures + 1,
                _ => 1,
            };
            if failures > self.settings.retries {
                tracing::warn!(rule = %rule, resource = %key, failures, "External evaluator failed on every try; giving up until the resource changes or the rule runs again.");
                batch.remove(&RETRIES, &k);
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
            batch.put(&RETRIES, &k, &Lenient::new(r))?;
        }
        batch.apply(&self.log)?;
        Ok(())
    }

    /// Starts a task trying again the failed external invocations that are due (unless one
    /// still runs): per rule, with the resources' latest items, through the same invocation
    /// path as changes (so `concurrency` holds). A retry whose resource is gone, or whose
    /// rule is gone or no longer judges it, is dropped.
    pub(super) fn spawn_due_retries(self: &Arc<Self>) {
        if self.runner.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        self.runner.spawn(async move {
            if let Err(e) = me.retry_due().await {
                tracing::warn!(error = %e, "Retrying failed external evaluations failed; tried again later.");
            }
            me.runner.retrying.store(false, Ordering::Release);
        });
    }

    async fn retry_due(self: &Arc<Self>) -> Result<()> {
        let me = self.clone();
        // Read off the async workers: the marks may be many.
        let due = tokio::task::spawn_blocking(move || me.due_retries())
            .await
            .map_err(|e| EngineError::Record(e.to_string()))??;
        for (rule, marks) in due {
            let Some(active) = self.store.get(&rule) else {
                continue;
            };
            tracing::info!(rule = %rule, resources = marks.len(), "Retrying failed external evaluations.");
            let items: Vec<ConfigurationItem> = marks.iter().map(|(_, _, i)| i.clone()).collect();
            let outcomes = self.judge_items(&[active], items, false).await;
            self.apply(outcomes, false).await?;
            // Neither failed again (rescheduled) nor succeeded (cleared): the rule no longer
            // judges the resource — nothing to retry.
            for (k, mark, _) in marks {
                RETRIES.remove_if(&self.log, &k, &mark)?;
            }
        }
        Ok(())
    }

    /// The due retry marks by rule; marks that cannot be retried (unreadable, rule gone or
    /// no longer external, resource deleted) are removed.
    fn due_retries(&self) -> Result<BTreeMap<String, Due>> {
        let now = now_ms();
        let mut by_rule: BTreeMap<String, Due> = BTreeMap::new();
        for (k, mark) in RETRIES.all(&self.log)? {
            let Some(r) = mark.value().cloned() else {
                RETRIES.remove(&self.log, &k)?;
                continue;
            };
            if r.due_ms > now {
                continue;
            }
            let judged = self
                .store
                .get(&r.rule)
                .is_some_and(|a| a.judge.external().is_some());
            let item = self.log.latest(&r.key)?.filter(|i| !i.status.is_deletion());
            match (judged, item) {
                (true, Some(item)) => by_rule.entry(r.rule).or_default().push((k, mark, item)),
                _ => {
                    RETRIES.remove_if(&self.log, &k, &mark)?;
                }
            }
        }
        Ok(by_rule)
    }
}
