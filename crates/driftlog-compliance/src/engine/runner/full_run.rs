//! Full runs: rules judged over the whole current inventory — a rule just put, a periodic
//! rule due, a run asked for. One task drains the queue of them.

use super::Outcome;
use crate::engine::rules::Active;
use crate::engine::{Engine, EngineError, Result};
use crate::namespaces::{rule_results, LAST_RUN, PENDING, RESULTS};
use driftlog_log::Batch;
use driftlog_model::time::now_ms;
use driftlog_model::{ConfigurationItem, ResourceKey, Seq, COMPLIANCE_TYPE};
use std::collections::HashSet;
use std::sync::Arc;

/// Items judged per batch of a full run: larger, as a full run is throughput, not latency
/// (each batch's results are one append and one flush).
const FULL_RUN_BATCH: usize = 8192;

impl Engine {
    /// Queues a full run of `name`. One runner drains the queue: the rules queued together
    /// (a batch of rules put at once, a periodic tick) are judged in one pass over the
    /// inventory, each item read and parsed once for all of them.
    pub(in crate::engine) fn spawn_full_run(self: &Arc<Self>, name: String, why: &'static str) {
        if !self.runner.queue(name) {
            // The runner takes it on its next round.
            return;
        }
        let me = self.clone();
        self.runner.spawn(async move {
            while let Some(names) = me.runner.next_round() {
                let t0 = std::time::Instant::now();
                // Its own task: a panic in a rule ends this run, not the runner.
                let run = {
                    let (run_me, names) = (me.clone(), names.clone());
                    me.runner
                        .spawn(async move { run_me.full_run(&names, why).await })
                };
                match run.await {
                    Ok(None) => {
                        tracing::debug!(rules = ?names, why, "Full evaluation stopped with the server; resumed at the next start.")
                    }
                    Ok(Some(Ok(n))) => {
                        tracing::info!(rules = ?names, why, items = n, ms = t0.elapsed().as_millis() as u64, "Rules evaluated over the inventory.")
                    }
                    Ok(Some(Err(e))) => {
                        tracing::warn!(rules = ?names, why, error = %e, "Full evaluation failed.")
                    }
                    Err(e) => {
                        tracing::error!(rules = ?names, why, error = %e, "Full evaluation panicked.")
                    }
                }
                me.runner.round_done(&names);
            }
        });
    }

    /// Evaluates rules over every current resource they could judge, in one pass; results
    /// of resources they no longer judge end. Returns how many items were read.
    async fn full_run(&self, names: &[String], why: &str) -> Result<usize> {
        tracing::debug!(rules = ?names, why, "Full evaluation starts.");
        let actives: Vec<Arc<Active>> = names.iter().filter_map(|n| self.store.get(n)).collect();
        if actives.is_empty() {
            return Ok(0);
        }
        self.results
            .evaluation_started(actives.iter().map(|a| a.def.rule.name.as_str()));
        let started = now_ms();
        // A periodic external rule is told "it is time" and reports what it finds.
        let (scheduled, judged_here): (Vec<Arc<Active>>, Vec<Arc<Active>>) = actives
            .into_iter()
            .partition(|a| a.judge.external().is_some() && !a.def.triggers.on_change);
        for a in &scheduled {
            let outcomes = self.invoke_scheduled(a.clone(), started).await;
            self.apply(outcomes, false).await?;
        }
        let read = if judged_here.is_empty() {
            0
        } else {
            let (seqs, snapshot_at) = self.live_items(&judged_here);
            let (read, mut seen) = self.judge_inventory(&judged_here, &seqs).await?;
            let (accounts, judged) = self.judge_accounts(&judged_here, snapshot_at).await;
            seen.extend(judged);
            if !accounts.is_empty() {
                self.apply(accounts, true).await?;
            }
            for a in &judged_here {
                self.end_unseen(a, &seen, snapshot_at).await?;
            }
            read
        };
        self.finish_run(scheduled.iter().chain(judged_here.iter()), started)?;
        Ok(read)
    }

    /// The positions of the live items `rules` could judge, in log order (items are then
    /// read frame by frame, not at random), and the log position they were taken at.
    fn live_items(&self, rules: &[Arc<Active>]) -> (Vec<Seq>, Seq) {
        let st = self.log.state();
        // Read under the state lock: the watermark and the state agree.
        let at = self.log.watermark();
        let mut v = Vec::new();
        for (scope, _, _) in st.scopes() {
            if scope.resource_type == COMPLIANCE_TYPE
                || !rules.iter().any(|a| {
                    a.def
                        .rule
                        .applies_to_scope(&scope.account, &scope.region, &scope.resource_type)
                })
            {
                continue;
            }
            if let Some(live) = st.live_in(scope) {
                v.extend(live.keys().filter_map(|id| st.get(*id).map(|s| s.seq)));
            }
        }
        v.sort_unstable();
        (v, at)
    }

    /// Judges the items at `seqs` in batches, recording each batch's results. Returns how
    /// many items were read and which resources they were.
    async fn judge_inventory(
        &self,
        rules: &[Arc<Active>],
        seqs: &[Seq],
    ) -> Result<(usize, HashSet<u128>)> {
        let mut read = 0usize;
        let mut seen: HashSet<u128> = HashSet::with_capacity(seqs.len());
        for chunk in seqs.chunks(FULL_RUN_BATCH) {
            let log = self.log.clone();
            let chunk = chunk.to_vec();
            // Off the async workers: a batch is thousands of reads.
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
            let outcomes = self.judge_items(rules, items, true).await;
            self.apply(outcomes, true).await?;
        }
        Ok((read, seen))
    }

    /// Ends `a`'s results for resources no longer live (not `seen`) or no longer in its
    /// scope — only results judged from items up to the snapshot: newer ones came from
    /// the change loop meanwhile and stand.
    async fn end_unseen(&self, a: &Active, seen: &HashSet<u128>, snapshot_at: Seq) -> Result<()> {
        let under = rule_results(&a.def.rule.name);
        let mut after: Option<String> = None;
        loop {
            let page = RESULTS.page_under(&self.log, &under, after.as_deref(), 1024)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let gone: Vec<Outcome> = page
                .into_iter()
                .filter_map(|(_, stored)| stored.into_value())
                .filter(|r| {
                    let key =
                        ResourceKey::new(&r.account, &r.region, &r.resource_type, &r.resource_id);
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
        Ok(())
    }

    /// Records when each rule ran (the periodic clock) and removes the pending marks of
    /// the definitions judged: a rule put again meanwhile has a new mark, and its own run
    /// queued.
    fn finish_run<'a>(
        &self,
        ran: impl Iterator<Item = &'a Arc<Active>>,
        started: i64,
    ) -> Result<()> {
        let mut last_runs = Batch::default();
        for a in ran {
            let n = &a.def.rule.name;
            if self.store.get(n).is_some() {
                last_runs.put(&LAST_RUN, n, &started)?;
            }
            PENDING.remove_if(&self.log, n, &a.generation)?;
        }
        last_runs.apply(&self.log)?;
        Ok(())
    }
}
