//! Recording what judging produced, in three steps: plan (which results change, against
//! what is stored), record (compliance items appended to the log, then the index and the
//! counts follow, round by round), and note (statuses and retries).

use super::Outcome;
use crate::engine::results::Tally;
use crate::engine::rules::Active;
use crate::engine::{Engine, EngineError, Result};
use crate::item::{compliance_key, compliance_observed, ResultRecord};
use crate::namespaces::{resource_rule, rule_result, Lenient, BY_RESOURCE, RESULTS};
use driftlog_log::Batch;
use driftlog_model::time::now_ms;
use driftlog_model::{Observed, ResourceKey, Seq};
use driftlog_recorder::Recorder;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The rules as one recording sees them from start to end.
type Rules = BTreeMap<String, Arc<Active>>;

/// What a recording does to one result.
enum Action {
    Put(ResultRecord),
    End(ResultRecord),
}

/// What a batch of outcomes comes to, before anything is written.
#[derive(Default)]
struct Plan {
    /// The changes by result key (in [`RESULTS`]), in recording order. A resource judged twice in one
    /// batch (it changed twice before the engine caught up) gets both verdicts recorded,
    /// in order: each later verdict for a key already in a round starts the next round
    /// (appended after this one).
    rounds: Vec<BTreeMap<String, Action>>,
    /// Each key's result as the rounds so far leave it (`None`: ended).
    latest: HashMap<String, Option<ResultRecord>>,
    /// Each key's stored result, read once per recording.
    stored: HashMap<String, Option<ResultRecord>>,
    /// Per rule, for its status.
    tallies: BTreeMap<String, Tally>,
    /// External invocations per (rule, resource): succeeded (`None`) or failed on the
    /// item at that position (to be retried).
    retries: Vec<(String, ResourceKey, Option<Seq>)>,
}

impl Plan {
    /// The result `k` holds at this point of the plan.
    fn current(&mut self, engine: &Engine, k: &str) -> Result<Option<ResultRecord>> {
        if let Some(c) = self.latest.get(k) {
            return Ok(c.clone());
        }
        if let Some(c) = self.stored.get(k) {
            return Ok(c.clone());
        }
        let c = engine.results.stored(k)?;
        self.stored.insert(k.to_string(), c.clone());
        Ok(c)
    }

    /// Adds `a` to the last round, or to a new one if that already changes `k`.
    fn place(&mut self, k: String, a: Action) {
        match self.rounds.last_mut() {
            Some(round) if !round.contains_key(&k) => {
                round.insert(k, a);
            }
            _ => self.rounds.push(BTreeMap::from([(k, a)])),
        }
    }
}

/// One round's writes.
#[derive(Default)]
struct RoundWrites<'a> {
    /// Compliance items changed.
    upserts: Vec<Observed>,
    /// Compliance items ended.
    ended: Vec<ResourceKey>,
    /// The index entries put and removed, written at once: the two indexes never
    /// disagree after a crash.
    index: Batch,
    /// Results replaced or ended: they no longer count.
    replaced: Vec<ResultRecord>,
    /// Results put: they count now.
    added: Vec<&'a ResultRecord>,
}

impl Engine {
    /// Records outcomes: changed results become compliance items (one append per round),
    /// the index follows, statuses and counts are updated. One recording at a time, as
    /// each plans against what the one before stored.
    pub(in crate::engine) async fn apply(
        &self,
        outcomes: Vec<Outcome>,
        full_run: bool,
    ) -> Result<()> {
        let Some(recorder) = &self.recorder else {
            return Err(EngineError::Offline);
        };
        let _g = self.runner.apply_lock.lock().await;
        let rules = self.store.snapshot();
        let mut plan = Plan::default();
        for o in outcomes {
            self.plan_outcome(&mut plan, o, &rules, full_run)?;
        }
        let Plan {
            rounds,
            stored,
            mut tallies,
            retries,
            ..
        } = plan;
        self.record_rounds(recorder, rounds, stored, &rules).await?;
        // A rule deleted meanwhile has no status to keep.
        tallies.retain(|rule, _| rules.contains_key(rule));
        self.results.note_tallies(tallies, now_ms());
        self.note_retries(retries, &rules)?;
        Ok(())
    }

    /// Adds one outcome to the plan.
    fn plan_outcome(
        &self,
        plan: &mut Plan,
        outcome: Outcome,
        rules: &Rules,
        full_run: bool,
    ) -> Result<()> {
        match outcome {
            Outcome::Result(r, generation) => {
                self.plan_result(plan, r, generation, rules, full_run)
            }
            Outcome::Ended {
                rule,
                resource_type,
                resource_id,
                judged_by,
            } => {
                let k = rule_result(&rule, &resource_type, &resource_id);
                if let Some(c) = plan.current(self, &k)? {
                    if judged_by.is_some_and(|g| c.item_seq > g) {
                        return Ok(());
                    }
                    plan.latest.insert(k.clone(), None);
                    plan.place(k, Action::End(c));
                }
                Ok(())
            }
            Outcome::Failed {
                rule,
                message,
                invocation,
                retry,
            } => {
                if let Some((key, seq)) = retry {
                    plan.retries.push((rule.clone(), key, Some(seq)));
                }
                plan.tallies.entry(rule).or_default().failure = Some((message, invocation));
                Ok(())
            }
            Outcome::Invoked { rule, key } => {
                if let Some(key) = key {
                    plan.retries.push((rule.clone(), key, None));
                }
                plan.tallies.entry(rule).or_default().invoked = true;
                Ok(())
            }
        }
    }

    /// Adds a verdict to the plan unless a result it must not replace is held: a newer
    /// item's, a later report's, or the same verdict (nothing to record).
    fn plan_result(
        &self,
        plan: &mut Plan,
        r: ResultRecord,
        generation: u64,
        rules: &Rules,
        full_run: bool,
    ) -> Result<()> {
        let Some(active) = rules.get(&r.rule) else {
            return Ok(());
        };
        if active.generation != generation {
            // Judged by a definition replaced since: its own run re-judges.
            return Ok(());
        }
        plan.tallies.entry(r.rule.clone()).or_default().results += 1;
        if full_run && r.item_seq != 0 && active.def.triggers.on_change && self.superseded(&r) {
            return Ok(());
        }
        let k = rule_result(&r.rule, &r.resource_type, &r.resource_id);
        if let Some(c) = plan.current(self, &k)? {
            if r.item_seq != 0 && c.item_seq > r.item_seq {
                return Ok(());
            }
            if r.item_seq == 0 && c.ordering_ms > r.ordering_ms {
                // A late report (PutEvaluations) older than the verdict held.
                return Ok(());
            }
            if c.compliance == r.compliance && c.annotation == r.annotation {
                return Ok(());
            }
        }
        plan.latest.insert(k.clone(), Some(r.clone()));
        plan.place(k, Action::Put(r));
        Ok(())
    }

    /// A full run judged an item that has a newer version (or was deleted) since: the
    /// change loop judges that one, so the full run's verdict is not recorded.
    fn superseded(&self, r: &ResultRecord) -> bool {
        let id =
            ResourceKey::new(&r.account, &r.region, &r.resource_type, &r.resource_id).id_hash();
        self.log
            .state()
            .get(id)
            .is_some_and(|st| st.seq > r.item_seq)
    }

    /// Records the rounds in order: each round's compliance items first, then the index
    /// and counts, which are derived from them and never ahead of the log.
    async fn record_rounds(
        &self,
        recorder: &Recorder,
        rounds: Vec<BTreeMap<String, Action>>,
        stored: HashMap<String, Option<ResultRecord>>,
        rules: &Rules,
    ) -> Result<()> {
        // What each key held before the round being recorded.
        let mut before = stored;
        for actions in rounds.into_iter().filter(|r| !r.is_empty()) {
            let w = round_writes(&actions, &mut before, rules)?;
            recorder
                .record_derived(w.upserts, w.ended)
                .await
                .map_err(|e| EngineError::Record(e.to_string()))?;
            w.index.apply(&self.log)?;
            self.results.recount(&w.replaced, &w.added);
        }
        Ok(())
    }
}

/// The writes of one round; `before` moves on to what the round leaves.
fn round_writes<'a>(
    actions: &'a BTreeMap<String, Action>,
    before: &mut HashMap<String, Option<ResultRecord>>,
    rules: &Rules,
) -> Result<RoundWrites<'a>> {
    let mut w = RoundWrites::default();
    for (k, a) in actions {
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
                let previous = before.insert(k.clone(), Some(r.clone())).flatten();
                w.upserts
                    .push(compliance_observed(r, previous.as_ref(), &shown, &arn, &id));
                w.replaced.extend(previous);
                w.index.put(&RESULTS, k, &Lenient::new(r.clone()))?;
                w.index.put(
                    &BY_RESOURCE,
                    &resource_rule(&r.resource_type, &r.resource_id, &r.rule),
                    &Vec::new(),
                )?;
                w.added.push(r);
            }
            Action::End(r) => {
                w.ended.push(compliance_key(r));
                w.index.remove(&RESULTS, k);
                w.index.remove(
                    &BY_RESOURCE,
                    &resource_rule(&r.resource_type, &r.resource_id, &r.rule),
                );
                w.replaced.extend(before.insert(k.clone(), None).flatten());
            }
        }
    }
    Ok(w)
}
