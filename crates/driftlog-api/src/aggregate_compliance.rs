//! Compliance across an aggregator's accounts and regions (issue 17): the compliance items
//! (`AWS::Config::ResourceCompliance`, one per rule and evaluated resource) travel from the
//! recorders like any item, so an aggregator answers from the ones it holds — the same
//! items a recorder's own compliance API is derived from. Conformance packs are not
//! recorded: their operations answer as AWS does for an aggregator without any.

use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::ConfigApi;
use driftlog_compliance::CAP;
use driftlog_model::time::parse_rfc3339_ms;
use driftlog_model::{ResourceKey, COMPLIANCE_TYPE};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const COMPLIANCE_TYPES: &[&str] = &[
    "COMPLIANT",
    "NON_COMPLIANT",
    "NOT_APPLICABLE",
    "INSUFFICIENT_DATA",
];

/// One rule's verdict on one resource, as an aggregator holds it.
#[derive(Debug, Clone)]
struct Verdict {
    account: String,
    region: String,
    rule: String,
    resource_type: String,
    resource_id: String,
    compliance: String,
    annotation: Option<String>,
    ordering_ms: i64,
    recorded_ms: i64,
    invoked_ms: i64,
}

impl Verdict {
    fn from_item(key: &ResourceKey, doc: &Value) -> Option<Self> {
        let c = &doc["configuration"];
        let s = |k: &str| c[k].as_str().map(str::to_string);
        let t = |k: &str| {
            c[k].as_str()
                .and_then(|v| parse_rfc3339_ms(v).ok())
                .unwrap_or(0)
        };
        Some(Self {
            account: key.account.clone(),
            region: key.region.clone(),
            rule: s("configRuleName")?,
            resource_type: s("resourceType")?,
            resource_id: s("resourceId")?,
            compliance: s("complianceType")?,
            annotation: s("annotation"),
            ordering_ms: t("orderingTimestamp"),
            recorded_ms: t("resultRecordedTime"),
            invoked_ms: t("configRuleInvokedTime"),
        })
    }
}

fn secs(ms: i64) -> Value {
    driftlog_model::epoch_seconds(ms)
}

fn count(n: u64) -> Value {
    json!({"CappedCount": n.min(CAP), "CapExceeded": n > CAP})
}

/// `AccountId` and `AwsRegion` of a filter object, checked.
fn account_region(f: &Input) -> ApiResult<(Option<String>, Option<String>)> {
    let account = f.string("AccountId", 12, 12)?;
    if let Some(a) = &account {
        if !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::constraint(
                a,
                "filters.accountId",
                "Member must satisfy regular expression pattern: \\d{12}",
            ));
        }
    }
    Ok((account, f.string("AwsRegion", 1, 64)?))
}

impl ConfigApi {
    /// Every verdict the aggregator `name`'s accounts and regions hold.
    async fn aggregate_verdicts(&self, input: &Input) -> ApiResult<Vec<Verdict>> {
        let def = self.aggregator(input)?;
        let keys: Vec<ResourceKey> = {
            let st = self.log.state();
            st.scopes()
                .filter(|(s, live, _)| {
                    *live > 0 && s.resource_type == COMPLIANCE_TYPE && def.includes_place(s)
                })
                .flat_map(|(s, _, _)| {
                    st.live_in(s).into_iter().flat_map(move |m| {
                        m.values().map(move |id| {
                            ResourceKey::new(&s.account, &s.region, &s.resource_type, id)
                        })
                    })
                })
                .collect()
        };
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let Some(ci) = log.latest(&k).map_err(ApiError::internal)? else {
                    continue;
                };
                if ci.status.is_deletion() {
                    continue;
                }
                let doc: Value = serde_json::from_slice(&ci.doc).map_err(ApiError::internal)?;
                out.extend(Verdict::from_item(&k, &doc));
            }
            out.sort_by(|a, b| {
                (
                    &a.rule,
                    &a.account,
                    &a.region,
                    &a.resource_type,
                    &a.resource_id,
                )
                    .cmp(&(
                        &b.rule,
                        &b.account,
                        &b.region,
                        &b.resource_type,
                        &b.resource_id,
                    ))
            });
            Ok(out)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// DescribeAggregateComplianceByConfigRules: per rule, account and region, NON_COMPLIANT
    /// (with how many resources) when any resource is, else COMPLIANT when any is, else
    /// what the results say.
    pub(crate) async fn aggregate_compliance_by_rules(&self, input: &Input) -> ApiResult<Value> {
        let limit = input.limit("Limit", 1000, 1000)?;
        let filters = input.object("Filters")?;
        let (mut rule, mut ctype, mut account, mut region) = (None, None, None, None);
        if let Some(f) = &filters {
            rule = f.string("ConfigRuleName", 1, 128)?;
            ctype = f.enumerated("ComplianceType", COMPLIANCE_TYPES)?;
            (account, region) = account_region(f)?;
        }
        let verdicts = self.aggregate_verdicts(input).await?;
        let mut groups: BTreeMap<(String, String, String), (u64, u64, u64)> = BTreeMap::new();
        for v in verdicts.iter().filter(|v| {
            rule.as_ref().is_none_or(|r| *r == v.rule)
                && account.as_ref().is_none_or(|a| *a == v.account)
                && region.as_ref().is_none_or(|r| *r == v.region)
        }) {
            let g = groups
                .entry((v.rule.clone(), v.account.clone(), v.region.clone()))
                .or_default();
            match v.compliance.as_str() {
                "NON_COMPLIANT" => g.0 += 1,
                "COMPLIANT" => g.1 += 1,
                _ => g.2 += 1,
            }
        }
        let rows: Vec<(String, Value)> = groups
            .into_iter()
            .filter_map(|((r, a, reg), (non, comp, _))| {
                let compliance = if non > 0 {
                    json!({"ComplianceType": "NON_COMPLIANT", "ComplianceContributorCount": count(non)})
                } else if comp > 0 {
                    json!({"ComplianceType": "COMPLIANT"})
                } else {
                    json!({"ComplianceType": "INSUFFICIENT_DATA"})
                };
                if ctype
                    .as_ref()
                    .is_some_and(|c| compliance["ComplianceType"] != json!(c))
                {
                    return None;
                }
                let id = format!("{r}\u{1}{a}\u{1}{reg}");
                Some((
                    id,
                    json!({"ConfigRuleName": r, "Compliance": compliance, "AccountId": a, "AwsRegion": reg}),
                ))
            })
            .collect();
        let fingerprint = format!(
            "{}|{:?}",
            input
                .string("ConfigurationAggregatorName", 0, 256)?
                .unwrap_or_default(),
            filters.map(|f| Value::Object(f.raw_map()))
        );
        self.page_rows(
            input,
            "DescribeAggregateComplianceByConfigRules",
            &fingerprint,
            rows,
            limit,
            "AggregateComplianceByConfigRules",
        )
    }

    /// GetAggregateComplianceDetailsByConfigRule: one rule's results in one account and
    /// region.
    pub(crate) async fn aggregate_compliance_details(&self, input: &Input) -> ApiResult<Value> {
        let rule = input.required_string("ConfigRuleName", 1, 64)?;
        let account = input.required_string("AccountId", 12, 12)?;
        let region = input.required_string("AwsRegion", 1, 64)?;
        let ctype = input.enumerated("ComplianceType", COMPLIANCE_TYPES)?;
        let limit = input.limit("Limit", 100, 50)?;
        let verdicts = self.aggregate_verdicts(input).await?;
        let rows: Vec<(String, Value)> = verdicts
            .into_iter()
            .filter(|v| {
                v.rule == rule
                    && v.account == account
                    && v.region == region
                    && ctype.as_ref().is_none_or(|c| *c == v.compliance)
            })
            .map(|v| {
                let mut r = json!({
                    "EvaluationResultIdentifier": {
                        "EvaluationResultQualifier": {
                            "ConfigRuleName": v.rule,
                            "ResourceType": v.resource_type,
                            "ResourceId": v.resource_id,
                            "EvaluationMode": "DETECTIVE",
                        },
                        "OrderingTimestamp": secs(v.ordering_ms),
                    },
                    "ComplianceType": v.compliance,
                    "ResultRecordedTime": secs(v.recorded_ms),
                    "ConfigRuleInvokedTime": secs(v.invoked_ms),
                    "AccountId": v.account,
                    "AwsRegion": v.region,
                });
                if let Some(a) = &v.annotation {
                    r["Annotation"] = json!(a);
                }
                (format!("{}\u{1}{}", v.resource_type, v.resource_id), r)
            })
            .collect();
        let fingerprint = format!(
            "{}|{rule}|{account}|{region}|{ctype:?}",
            input
                .string("ConfigurationAggregatorName", 0, 256)?
                .unwrap_or_default()
        );
        self.page_rows(
            input,
            "GetAggregateComplianceDetailsByConfigRule",
            &fingerprint,
            rows,
            limit,
            "AggregateEvaluationResults",
        )
    }

    /// GetAggregateConfigRuleComplianceSummary: how many rules are compliant and
    /// non-compliant, in all or grouped by account or region (a rule counts once per group:
    /// non-compliant when any of its resources there is).
    pub(crate) async fn aggregate_rule_compliance_summary(
        &self,
        input: &Input,
    ) -> ApiResult<Value> {
        let group = input.enumerated("GroupByKey", &["ACCOUNT_ID", "AWS_REGION"])?;
        let limit = input.limit("Limit", 1000, 1000)?;
        let (account, region) = match input.object("Filters")? {
            Some(f) => account_region(&f)?,
            None => (None, None),
        };
        let verdicts = self.aggregate_verdicts(input).await?;
        // Per group, per rule: (any non-compliant, any compliant).
        let mut per: BTreeMap<String, BTreeMap<String, (bool, bool)>> = BTreeMap::new();
        for v in verdicts.iter().filter(|v| {
            account.as_ref().is_none_or(|a| *a == v.account)
                && region.as_ref().is_none_or(|r| *r == v.region)
        }) {
            let g = match group.as_deref() {
                Some("ACCOUNT_ID") => v.account.clone(),
                Some(_) => v.region.clone(),
                None => String::new(),
            };
            let e = per.entry(g).or_default().entry(v.rule.clone()).or_default();
            e.0 |= v.compliance == "NON_COMPLIANT";
            e.1 |= v.compliance == "COMPLIANT";
        }
        if group.is_none() && per.is_empty() {
            per.insert(String::new(), BTreeMap::new());
        }
        let now = secs(driftlog_model::time::now_ms());
        let rows: Vec<(String, Value)> = per
            .into_iter()
            .map(|(g, rules)| {
                let non = rules.values().filter(|(n, _)| *n).count() as u64;
                let comp = rules.values().filter(|(n, c)| !*n && *c).count() as u64;
                let mut row = json!({"ComplianceSummary": {
                    "CompliantResourceCount": count(comp),
                    "NonCompliantResourceCount": count(non),
                    "ComplianceSummaryTimestamp": now,
                }});
                if group.is_some() {
                    row["GroupName"] = json!(g);
                }
                (g, row)
            })
            .collect();
        let fingerprint = format!(
            "{}|{group:?}|{account:?}|{region:?}",
            input
                .string("ConfigurationAggregatorName", 0, 256)?
                .unwrap_or_default()
        );
        let mut out = self.page_rows(
            input,
            "GetAggregateConfigRuleComplianceSummary",
            &fingerprint,
            rows,
            limit,
            "AggregateComplianceCounts",
        )?;
        if let Some(g) = group {
            out["GroupByKey"] = json!(g);
        }
        Ok(out)
    }

    /// DescribeAggregateComplianceByConformancePacks and
    /// GetAggregateConformancePackComplianceSummary: no conformance pack is recorded, so an
    /// existing aggregator has none (a missing one is still an error, as in AWS).
    pub(crate) fn aggregate_conformance_packs(
        &self,
        input: &Input,
        list: &str,
    ) -> ApiResult<Value> {
        self.aggregator(input)?;
        input.limit("Limit", 100, 100)?;
        if list == "AggregateConformancePackComplianceSummaries" {
            let g = input.enumerated("GroupByKey", &["ACCOUNT_ID", "AWS_REGION"])?;
            let mut out = json!({list: []});
            if let Some(g) = g {
                out["GroupByKey"] = json!(g);
            }
            return Ok(out);
        }
        Ok(json!({list: []}))
    }

    /// One page of `rows` (sorted by their ids) after the token's id, `limit` long, under
    /// `member`, with the next token when more follow.
    pub(crate) fn page_rows(
        &self,
        input: &Input,
        operation: &str,
        fingerprint: &str,
        rows: Vec<(String, Value)>,
        limit: usize,
        member: &str,
    ) -> ApiResult<Value> {
        let after = self.resume(input, "NextToken", operation, fingerprint)?;
        let rest: Vec<(String, Value)> = rows
            .into_iter()
            .filter(|(id, _)| after.as_ref().is_none_or(|a| id > a))
            .collect();
        let mut out =
            json!({member: rest.iter().take(limit).map(|(_, v)| v.clone()).collect::<Vec<_>>()});
        if rest.len() > limit {
            out["NextToken"] = json!(self
                .tokens
                .issue(operation, fingerprint, &rest[limit - 1].0));
        }
        Ok(out)
    }
}
