//! Judging items with rules: managed and CEL rules here, on a blocking thread; external
//! ones through the invoker.

use super::{place_region, Outcome};
use crate::engine::rules::Active;
use crate::engine::Engine;
use crate::item::ResultRecord;
use driftlog_model::time::now_ms;
use driftlog_model::{ConfigurationItem, COMPLIANCE_TYPE};
use serde_json::Value;
use std::sync::Arc;

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
            out.push(verdict(a, item, &json, invoked).unwrap_or_else(|| ended(a)));
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
    invoked: i64,
) -> Option<Outcome> {
    match a.judge.judge(json) {
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
