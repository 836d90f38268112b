//! Judging items with rules: managed and CEL rules here, on a blocking thread; external
//! ones through the invoker. A managed rule that needs other current items besides the one
//! it judges (a VPC's flow logs, a load balancer's listeners, an account's trails) is handed
//! those of the item's account and region ([`RelatedItems`]); account-level rules judge
//! the account itself (`AWS::::Account`) in full runs ([`Engine::judge_accounts`]).

use super::{place_region, Outcome};
use crate::engine::rules::Active;
use crate::engine::Engine;
use crate::item::ResultRecord;
use driftlog_log::Log;
use driftlog_model::time::now_ms;
use driftlog_model::{ConfigurationItem, ResourceKey, Seq, COMPLIANCE_TYPE};
use driftlog_rules::managed::ACCOUNT;
use driftlog_rules::Judge;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The current items of the types a rule needs besides the one it judges, read from the
/// log once per judging pass for each (account, region or every region, types).
pub(super) struct RelatedItems<'a> {
    log: &'a Log,
    #[allow(
        clippy::type_complexity,
        reason = "a cache keyed by account, region and types"
    )]
    cache: HashMap<(String, Option<String>, &'static [&'static str]), Arc<Vec<Value>>>,
}

impl<'a> RelatedItems<'a> {
    pub(super) fn new(log: &'a Log) -> Self {
        Self {
            log,
            cache: HashMap::new(),
        }
    }

    /// The items `judge`'s rule needs to judge an item of `account` and `region` (none for
    /// most rules).
    pub(super) fn of(&mut self, judge: &Judge, account: &str, region: &str) -> Arc<Vec<Value>> {
        let (types, everywhere) = judge.related_types();
        if types.is_empty() {
            return Arc::default();
        }
        let region = (!everywhere).then(|| region.to_string());
        let log = self.log;
        self.cache
            .entry((account.to_string(), region.clone(), types))
            .or_insert_with(|| Arc::new(current_items(log, account, region.as_deref(), types)))
            .clone()
    }
}

/// The live items (notification form) of `types` in `account`, in `region` (global
/// resources included) or in every region. Items that no longer read are left out.
fn current_items(log: &Log, account: &str, region: Option<&str>, types: &[&str]) -> Vec<Value> {
    let seqs: Vec<Seq> = {
        let st = log.state();
        let mut v = Vec::new();
        for (scope, _, _) in st.scopes() {
            if scope.account != account
                || !types.contains(&scope.resource_type.as_str())
                || region.is_some_and(|r| scope.region != r && scope.region != "global")
            {
                continue;
            }
            if let Some(live) = st.live_in(scope) {
                v.extend(live.keys().filter_map(|id| st.get(*id).map(|s| s.seq)));
            }
        }
        v
    };
    seqs.into_iter()
        .filter_map(|s| log.get(s).ok().flatten())
        .filter(|it| !it.status.is_deletion())
        .filter_map(|it| it.to_notification_json().ok())
        .collect()
}

impl Engine {
    /// Judges items with rules. Deleted items, and items that left a rule's scope, end
    /// the rule's result for them (if it had one). The CPU-bound judging runs on a
    /// blocking thread, so a big batch never stalls the server's async workers; external
    /// evaluators are then invoked, a few at a time.
    pub(super) async fn judge_items(
        &self,
        rules: &[Arc<Active>],
        items: Vec<ConfigurationItem>,
        on_demand: bool,
    ) -> Vec<Outcome> {
        let rules_owned: Vec<Arc<Active>> = rules.to_vec();
        let log = self.log.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let (out, external) = judge_sync(&rules_owned, &items, &log);
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
    log: &Log,
) -> (Vec<Outcome>, Vec<(Arc<Active>, usize, Value)>) {
    let invoked = now_ms();
    let mut related = RelatedItems::new(log);
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
            let rel = related.of(&a.judge, &item.key.account, &item.key.region);
            out.push(verdict(a, item, &json, &rel, invoked).unwrap_or_else(|| ended(a)));
        }
    }
    (out, external)
}

/// A managed or CEL rule's verdict on one item; `None` when the rule does not judge it
/// (its result, if any, ends).
fn verdict(
    a: &Arc<Active>,
    item: &ConfigurationItem,
    json: &Value,
    related: &[Value],
    invoked: i64,
) -> Option<Outcome> {
    match a.judge.judge_with(json, related) {
        Ok(Some(v)) => Some(Outcome::Result(
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
                place_region: place_region(a.def.rule.scope.region.as_ref(), &item.key.region),
            },
            a.generation,
        )),
        Ok(None) => None,
        Err(e) => Some(Outcome::Failed {
            rule: a.def.rule.name.clone(),
            message: format!("{} {}: {e}", item.key.resource_type, item.key.resource_id),
            invocation: false,
            retry: None,
        }),
    }
}

impl Engine {
    /// Judges the accounts themselves (`AWS::::Account`) with the account-level rules among
    /// `rules`, as of the log position `at`: one item per account and region the rule
    /// covers and the log holds resources of, judged from the related items there.
    /// Returns the outcomes and the accounts' keys (hashed), which a full run counts as seen.
    pub(in crate::engine) async fn judge_accounts(
        &self,
        rules: &[Arc<Active>],
        at: Seq,
    ) -> (Vec<Outcome>, Vec<u128>) {
        let rules: Vec<Arc<Active>> = rules
            .iter()
            .filter(|a| a.judge.external().is_none() && a.def.rule.applies_to_type(ACCOUNT))
            .cloned()
            .collect();
        if rules.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let log = self.log.clone();
        let names: Vec<String> = rules.iter().map(|a| a.def.rule.name.clone()).collect();
        let home = self.settings.region.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let places: BTreeSet<(String, String)> = log
                .state()
                .scopes()
                .filter(|(s, _, _)| s.resource_type != COMPLIANCE_TYPE && s.region != "global")
                .map(|(s, _, _)| (s.account.clone(), s.region.clone()))
                .collect();
            let invoked = now_ms();
            let mut related = RelatedItems::new(&log);
            let mut out = Vec::new();
            let mut seen = Vec::new();
            for a in &rules {
                let scope = &a.def.rule.scope;
                // A rule of one account and region judges that account there, resources
                // recorded or not. A rule of every region (the server's own) judges each
                // account once, in the server's region: an account's result has one key.
                let mine: BTreeSet<(String, String)> = match (&scope.account, &scope.region) {
                    (Some(acc), Some(reg)) => BTreeSet::from([(acc.clone(), reg.clone())]),
                    (_, Some(_)) => places
                        .iter()
                        .filter(|(acc, reg)| scope.covers_place(acc, reg))
                        .cloned()
                        .collect(),
                    (_, None) => places
                        .iter()
                        .filter(|(acc, reg)| scope.covers_place(acc, reg))
                        .map(|(acc, _)| (acc.clone(), home.clone()))
                        .collect(),
                };
                for (account, region) in mine {
                    let key = ResourceKey::new(&account, &region, ACCOUNT, &account);
                    let item = ConfigurationItem {
                        seq: at.max(1),
                        version: 1,
                        key: key.clone(),
                        status: driftlog_model::Status::Ok,
                        capture_time_ms: invoked,
                        doc: Default::default(),
                        volatile: Default::default(),
                        diff: Default::default(),
                        attribution: Vec::new(),
                    };
                    let json = json!({
                        "resourceType": ACCOUNT, "resourceId": account, "awsAccountId": account,
                        "awsRegion": region, "configurationItemStatus": "OK",
                        "configurationItemCaptureTime": null, "configuration": {},
                        "supplementaryConfiguration": {}, "tags": {}, "relationships": [],
                    });
                    if !a.def.rule.applies_to(&json) {
                        continue;
                    }
                    let rel = related.of(&a.judge, &account, &region);
                    if let Some(o) = verdict(a, &item, &json, &rel, invoked) {
                        seen.push(key.id_hash());
                        out.push(o);
                    }
                }
            }
            (out, seen)
        })
        .await;
        judged.unwrap_or_else(|e| {
            (
                names
                    .into_iter()
                    .map(|rule| Outcome::Failed {
                        rule,
                        message: format!("judging the account failed: {e}"),
                        invocation: false,
                        retry: None,
                    })
                    .collect(),
                Vec::new(),
            )
        })
    }
}
