//! AWS Config's configuration aggregators (issue 17): an aggregator names accounts and
//! regions (`AccountAggregationSources`), and the aggregate operations answer over the
//! resources of those accounts and regions that this store holds — on an aggregator
//! (`serve --aggregator`), what every source recorder published. Source status comes
//! from the recorders' heartbeats, or from this recorder's own scopes.

use crate::error::{ApiError, ApiResult};
use crate::input::member;
use crate::input::Input;
use crate::inventory::{api_item, base_item, check_type};
use crate::{Caller, ConfigApi};
use driftlog_model::time::now_ms;
use driftlog_model::{epoch_seconds, ResourceKey, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The aggregators defined through the API, by name.
const AGGREGATORS: driftlog_log::Namespace<BTreeMap<String, AggregatorDef>> =
    driftlog_log::Namespace::new("api/aggregators", 1);

/// AWS's default quota of configuration aggregators per account and region.
const MAX_AGGREGATORS: usize = 50;

/// One account and region as its sources last reported it: the last complete poll, the
/// last error (code, message), and whether a source spoke of it recently.
type PairStatus = (Option<i64>, Option<(String, String)>, bool);

/// One aggregator as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregatorDef {
    name: String,
    arn: String,
    accounts: Vec<String>,
    /// `None`: all regions.
    regions: Option<Vec<String>>,
    /// `AccountAggregationSources` as given (echoed back).
    sources: Value,
    /// `OrganizationAggregationSource` as given, for an organization aggregator: its
    /// `accounts` are the organization's members (no authorization needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization: Option<Value>,
    /// `AggregatorFilters` as given.
    filters: Option<Value>,
    /// Types of an `INCLUDE` resource-type filter (empty: all).
    types: Vec<String>,
    created_ms: i64,
    updated_ms: i64,
    /// Accounts it names that have not authorized it (`accounts` then holds the others):
    /// worked out when it is read, never stored.
    #[serde(skip)]
    unauthorized: Vec<String>,
}

impl AggregatorDef {
    /// The account and region it belongs to (from its ARN): what a source account
    /// authorizes.
    pub(crate) fn owner(&self) -> (String, String) {
        let mut p = self.arn.split(':');
        let region = p.nth(3).unwrap_or_default().to_string();
        let account = p.next().unwrap_or_default().to_string();
        (account, region)
    }

    /// Whether it names `account` as a source (authorized or not).
    pub(crate) fn names_account(&self, account: &str) -> bool {
        self.accounts
            .iter()
            .chain(&self.unauthorized)
            .any(|a| a == account)
    }

    fn includes(&self, scope: &Scope) -> bool {
        self.includes_place(scope)
            && (self.types.is_empty() || self.types.contains(&scope.resource_type))
    }

    /// The scope's account and region are the aggregator's (its type filter aside: rule
    /// compliance is aggregated whatever types the aggregator lists).
    pub(crate) fn includes_place(&self, scope: &Scope) -> bool {
        self.accounts.contains(&scope.account)
            && (scope.region == "global"
                || self
                    .regions
                    .as_ref()
                    .is_none_or(|r| r.contains(&scope.region)))
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "ConfigurationAggregatorName": self.name,
            "ConfigurationAggregatorArn": self.arn,
            "CreationTime": epoch_seconds(self.created_ms),
            "LastUpdatedTime": epoch_seconds(self.updated_ms),
        });
        match &self.organization {
            Some(o) => v["OrganizationAggregationSource"] = o.clone(),
            None => v["AccountAggregationSources"] = self.sources.clone(),
        }
        if let Some(f) = &self.filters {
            v["AggregatorFilters"] = f.clone();
        }
        v
    }
}

fn no_such() -> ApiError {
    ApiError::new(
        "NoSuchConfigurationAggregatorException",
        "The configuration aggregator does not exist. Check the configuration aggregator name and try again.",
    )
}

fn aggregator_name(i: &Input, name_member: &str) -> ApiResult<String> {
    let n = i.required_string(name_member, 1, 256)?;
    if !n
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::constraint(
            &n,
            &member(name_member),
            "Member must satisfy regular expression pattern: [\\w\\-]+",
        ));
    }
    Ok(n)
}

fn account_id(v: &str, member: &str) -> ApiResult<()> {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::constraint(
            v,
            member,
            "Member must satisfy regular expression pattern: \\d{12}",
        ))
    }
}

/// `AllAwsRegions` and `AwsRegions` of a source: exactly one of them (`None`: all regions).
fn regions_of(src: &Input) -> ApiResult<(bool, Option<Vec<String>>)> {
    let all = src.boolean("AllAwsRegions")?.unwrap_or(false);
    let regions = src.strings("AwsRegions", usize::MAX, 1, 64)?;
    match (all, regions) {
        (true, Some(r)) if !r.is_empty() => Err(ApiError::new(
            "InvalidParameterValueException",
            "Your request specifies both AwsRegions and AllAwsRegions. Specify one of them and try again.",
        )),
        (true, _) => Ok((true, None)),
        (false, Some(r)) if !r.is_empty() => Ok((false, Some(r))),
        (false, _) => Err(ApiError::new(
            "InvalidParameterValueException",
            "Your request does not specify regions. Add AwsRegions or set AllAwsRegions and try again.",
        )),
    }
}

/// A resource as the aggregate operations name it.
fn identifier(i: &Input) -> ApiResult<ResourceKey> {
    let account = i.required_string("SourceAccountId", 12, 12)?;
    account_id(&account, "resourceIdentifier.sourceAccountId")?;
    let region = i.required_string("SourceRegion", 1, 64)?;
    let rid = i.required_string("ResourceId", 1, 768)?;
    let rtype = i.required_string("ResourceType", 1, 256)?;
    check_type(&rtype, "resourceIdentifier.resourceType")?;
    Ok(ResourceKey::new(account, region, rtype, rid))
}

impl ConfigApi {
    pub(crate) fn aggregators(&self) -> ApiResult<BTreeMap<String, AggregatorDef>> {
        Ok(AGGREGATORS
            .get(&self.log, "")
            .map_err(ApiError::internal)?
            .unwrap_or_default())
    }

    /// The aggregator named in the input, its accounts cut to those that authorized it.
    pub(crate) fn aggregator(&self, input: &Input) -> ApiResult<AggregatorDef> {
        let name = aggregator_name(input, "ConfigurationAggregatorName")?;
        let mut def = self.aggregators()?.remove(&name).ok_or_else(no_such)?;
        if def.organization.is_some() {
            return Ok(def);
        }
        let (owner, region) = def.owner();
        let mut authorized = Vec::with_capacity(def.accounts.len());
        for a in std::mem::take(&mut def.accounts) {
            if self.authorized(&a, &owner, &region)? {
                authorized.push(a);
            } else {
                def.unauthorized.push(a);
            }
        }
        def.accounts = authorized;
        Ok(def)
    }

    pub(crate) async fn put_aggregator(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let name = aggregator_name(input, "ConfigurationAggregatorName")?;
        if input.has("OrganizationAggregationSource") && input.has("AccountAggregationSources") {
            return Err(ApiError::new(
                "InvalidParameterValueException",
                "Your request specifies both AccountAggregationSources and OrganizationAggregationSource. Specify one of them and try again.",
            ));
        }
        if let Some(org) = input.object("OrganizationAggregationSource")? {
            let role = org.required_string("RoleArn", 1, 2048)?;
            let (all, regions) = regions_of(&org)?;
            let accounts = self.organization_accounts(&role).await?;
            let mut echo = org.raw_map();
            if all {
                echo.remove("AwsRegions");
            }
            return self
                .store_aggregator(
                    caller,
                    input,
                    name,
                    accounts,
                    regions,
                    Value::Array(Vec::new()),
                    Some(Value::Object(echo)),
                )
                .await;
        }
        let sources = input
            .objects("AccountAggregationSources", 1)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    "InvalidParameterValueException",
                    "Your request does not specify a source. Add AccountAggregationSources and try again.",
                )
            })?;
        let src = &sources[0];
        let accounts = src
            .strings("AccountIds", usize::MAX, 12, 12)?
            .ok_or_else(|| src.missing("AccountIds"))?;
        if accounts.is_empty() {
            return Err(ApiError::constraint(
                "[]",
                "accountAggregationSources.1.member.accountIds",
                "Member must have length greater than or equal to 1",
            ));
        }
        for a in &accounts {
            account_id(a, "accountAggregationSources.1.member.accountIds.member")?;
        }
        let (all, regions) = regions_of(src)?;
        let mut sources_echo = src.raw_map();
        if all {
            sources_echo.remove("AwsRegions");
        }
        self.store_aggregator(
            caller,
            input,
            name,
            accounts,
            regions,
            json!([Value::Object(sources_echo)]),
            None,
        )
        .await
    }

    /// Reads the organization of every organization aggregator again and stores the
    /// aggregators whose member accounts changed (accounts join and leave an organization;
    /// AWS Config follows them). One that cannot be read keeps its accounts, and the error
    /// is logged. Returns how many changed.
    pub async fn refresh_organization_aggregators(&self) -> usize {
        let Ok(defs) = self.aggregators() else {
            return 0;
        };
        let mut changed = Vec::new();
        for def in defs.values() {
            let Some(role) = def
                .organization
                .as_ref()
                .and_then(|o| o["RoleArn"].as_str())
            else {
                continue;
            };
            match self.organization_accounts(role).await {
                Ok(accounts) if accounts != def.accounts => {
                    changed.push((def.name.clone(), accounts));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    aggregator = %def.name, error = %e.message,
                    "The organization of an aggregator could not be read; its accounts stay as they were."
                ),
            }
        }
        if changed.is_empty() {
            return 0;
        }
        let _w = self.writes.lock().await;
        let Ok(mut all) = self.aggregators() else {
            return 0;
        };
        let n = changed.len();
        for (name, accounts) in changed {
            if let Some(d) = all.get_mut(&name) {
                tracing::info!(aggregator = %name, accounts = accounts.len(), "The organization's member accounts changed.");
                d.accounts = accounts;
                d.updated_ms = now_ms();
            }
        }
        if let Err(e) = AGGREGATORS.put(&self.log, "", &all) {
            tracing::warn!(error = %e, "The refreshed organization aggregators could not be stored.");
        }
        n
    }

    /// The ACTIVE member accounts of the organization, read through `role`.
    async fn organization_accounts(&self, role: &str) -> ApiResult<Vec<String>> {
        let mut access = self.organizations.get().cloned().unwrap_or_default();
        access.role_arn = Some(role.to_string());
        let sdk = access.sdk_config().await;
        driftlog_aggregate::member_accounts(&sdk).await.map_err(|e| {
            match e.code.as_str() {
                "AWSOrganizationsNotInUseException" => ApiError::new(
                    "NoAvailableOrganizationException",
                    format!("Organization is not available, or the role {role} cannot read it: {}", e.message),
                ),
                "AccessDeniedException" | "AccessDenied" => ApiError::new(
                    "OrganizationAccessDeniedException",
                    format!("The role {role} may not list the organization's accounts (the management account or a delegated administrator can): {}", e.message),
                ),
                _ => ApiError::new(
                    "InvalidRoleException",
                    format!("Reading AWS Organizations through the role {role} failed: {e}"),
                ),
            }
        })
    }

    /// Validates the rest of a PutConfigurationAggregator and stores it.
    #[allow(clippy::too_many_arguments, reason = "the parts of one request, named")]
    async fn store_aggregator(
        &self,
        caller: &Caller,
        input: &Input,
        name: String,
        accounts: Vec<String>,
        regions: Option<Vec<String>>,
        sources: Value,
        organization: Option<Value>,
    ) -> ApiResult<Value> {
        let (filters, types) = match input.object("AggregatorFilters")? {
            None => (None, Vec::new()),
            Some(f) => {
                let types = match f.object("ResourceType")? {
                    Some(rt) => {
                        rt.enumerated("Type", &["INCLUDE"])?;
                        let v = rt.strings("Value", 100, 1, 256)?.unwrap_or_default();
                        for t in &v {
                            check_type(t, "aggregatorFilters.resourceType.value.member")?;
                        }
                        v
                    }
                    None => Vec::new(),
                };
                (input.raw("AggregatorFilters").cloned(), types)
            }
        };
        let _w = self.writes.lock().await;
        let mut all_defs = self.aggregators()?;
        if !all_defs.contains_key(&name) && all_defs.len() >= MAX_AGGREGATORS {
            return Err(ApiError::new(
                "LimitExceededException",
                format!("You have reached the limit ({MAX_AGGREGATORS}) on the number of configuration aggregators."),
            ));
        }
        let now = now_ms();
        let (arn, created) = match all_defs.get(&name) {
            Some(old) => (old.arn.clone(), old.created_ms),
            None => {
                let id: String = crate::uuid_v4()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(8)
                    .collect::<String>()
                    .to_ascii_lowercase();
                (
                    format!(
                        "arn:aws:config:{}:{}:config-aggregator/config-aggregator-{id}",
                        self.region(caller),
                        self.account(caller)
                    ),
                    now,
                )
            }
        };
        let def = AggregatorDef {
            name: name.clone(),
            arn,
            accounts,
            regions,
            sources,
            organization,
            filters,
            types,
            created_ms: created,
            updated_ms: now,
            unauthorized: Vec::new(),
        };
        all_defs.insert(name, def.clone());
        AGGREGATORS
            .put(&self.log, "", &all_defs)
            .and_then(|()| self.log.flush())
            .map_err(ApiError::internal)?;
        Ok(json!({"ConfigurationAggregator": def.to_json()}))
    }

    pub(crate) fn describe_aggregators(&self, input: &Input) -> ApiResult<Value> {
        let names = input
            .strings("ConfigurationAggregatorNames", 10, 1, 256)?
            .unwrap_or_default();
        let limit = input.limit("Limit", 100, 100)?;
        let all = self.aggregators()?;
        let mut list: Vec<&AggregatorDef> = Vec::new();
        if names.is_empty() {
            list.extend(all.values());
        } else {
            for n in &names {
                list.push(all.get(n).ok_or_else(no_such)?);
            }
        }
        let fingerprint = format!("{names:?}");
        let after = self.resume(
            input,
            "NextToken",
            "DescribeConfigurationAggregators",
            &fingerprint,
        )?;
        let rest: Vec<&AggregatorDef> = list
            .into_iter()
            .filter(|d| after.as_ref().is_none_or(|a| &d.name > a))
            .collect();
        let mut out = json!({
            "ConfigurationAggregators": rest.iter().take(limit).map(|d| d.to_json()).collect::<Vec<_>>()
        });
        if rest.len() > limit {
            out["NextToken"] = json!(self.tokens.issue(
                "DescribeConfigurationAggregators",
                &fingerprint,
                &rest[limit - 1].name
            ));
        }
        Ok(out)
    }

    pub(crate) async fn delete_aggregator(&self, input: &Input) -> ApiResult<Value> {
        let name = aggregator_name(input, "ConfigurationAggregatorName")?;
        let _w = self.writes.lock().await;
        let mut all = self.aggregators()?;
        if all.remove(&name).is_none() {
            return Err(no_such());
        }
        AGGREGATORS
            .put(&self.log, "", &all)
            .and_then(|()| self.log.flush())
            .map_err(ApiError::internal)?;
        Ok(json!({}))
    }

    /// Per account and region of the aggregator: the last update of its sources (the
    /// recorders' heartbeats on an aggregator, this recorder's own scopes otherwise).
    pub(crate) fn aggregator_sources_status(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let wanted = input.strings("UpdateStatus", 3, 1, 16)?.unwrap_or_default();
        for w in &wanted {
            if !["FAILED", "SUCCEEDED", "OUTDATED"].contains(&w.as_str()) {
                return Err(ApiError::constraint(
                    w,
                    "updateStatus.member",
                    "Member must satisfy enum value set: [FAILED, SUCCEEDED, OUTDATED]",
                ));
            }
        }
        let limit = input.limit("Limit", 100, 100)?;
        // (account, region) → (last success, last error, fresh)
        let now = now_ms();
        let mut seen: BTreeMap<(String, String), PairStatus> = BTreeMap::new();
        let mut note = |account: &str,
                        region: &str,
                        success: Option<i64>,
                        error: Option<(String, String)>,
                        fresh: bool| {
            let e = seen
                .entry((account.to_string(), region.to_string()))
                .or_insert((None, None, false));
            e.0 = e.0.max(success);
            if error.is_some() {
                e.1 = error;
            }
            e.2 |= fresh;
        };
        match self.aggregator_status.get() {
            Some((status, outdated_ms)) => {
                for src in status.sources() {
                    let Some(hb) = src.heartbeat else { continue };
                    let fresh = now - hb.time_ms <= *outdated_ms;
                    // Items lost on the way: FAILED until a resync repaired the gap.
                    let gap = src.gap.as_ref().map(|g| {
                        (
                            "ResyncInProgress".to_string(),
                            format!(
                                "the aggregator lost items of recorder {}: {g}{}",
                                src.recorder,
                                src.resync
                                    .as_ref()
                                    .map(|r| format!("; resync: {r}"))
                                    .unwrap_or_default()
                            ),
                        )
                    });
                    for s in &hb.scopes {
                        let err = gap.clone().or_else(|| {
                            s.last_error_code
                                .clone()
                                .map(|c| (c, s.last_error_message.clone().unwrap_or_default()))
                        });
                        note(&s.account, &s.region, s.last_success_ms, err, fresh);
                    }
                }
            }
            None => {
                if let Some(rec) = &self.recorder {
                    for s in rec.status().snapshot() {
                        let err = s
                            .last_error_code
                            .clone()
                            .map(|c| (c, s.last_error_message.clone().unwrap_or_default()));
                        note(&s.account, &s.region, s.last_success_ms, err, true);
                    }
                }
            }
        }
        let regions: BTreeSet<String> = match &def.regions {
            Some(r) => r.iter().cloned().collect(),
            None => seen
                .keys()
                .map(|(_, r)| r.clone())
                .filter(|r| r != "global")
                .collect(),
        };
        let mut rows = Vec::new();
        for a in &def.accounts {
            for r in &regions {
                let kind = if def.organization.is_some() {
                    "ORGANIZATION"
                } else {
                    "ACCOUNT"
                };
                let mut row = json!({"SourceId": a, "SourceType": kind, "AwsRegion": r});
                let status = match seen.get(&(a.clone(), r.clone())) {
                    None => "OUTDATED",
                    Some((_, _, false)) => "OUTDATED",
                    Some((_, Some((code, msg)), true)) => {
                        row["LastErrorCode"] = json!(code);
                        row["LastErrorMessage"] = json!(msg);
                        "FAILED"
                    }
                    Some((_, None, true)) => "SUCCEEDED",
                };
                if let Some(Some(t)) = seen.get(&(a.clone(), r.clone())).map(|s| s.0) {
                    row["LastUpdateTime"] = epoch_seconds(t);
                }
                row["LastUpdateStatus"] = json!(status);
                if wanted.is_empty() || wanted.iter().any(|w| w == status) {
                    rows.push(row);
                }
            }
        }
        // Named but not authorized: nothing of theirs is aggregated, and the status says why.
        let (owner, owner_region) = def.owner();
        for a in &def.unauthorized {
            for r in &regions {
                if wanted.is_empty() || wanted.iter().any(|w| w == "FAILED") {
                    rows.push(json!({
                        "SourceId": a, "SourceType": "ACCOUNT", "AwsRegion": r,
                        "LastUpdateStatus": "FAILED",
                        "LastErrorCode": "AggregationAuthorizationNotFound",
                        "LastErrorMessage": format!(
                            "Account {a} has not authorized aggregator account {owner} in {owner_region}: call PutAggregationAuthorization as {a}."
                        ),
                    }));
                }
            }
        }
        let fingerprint = format!("{}|{wanted:?}", def.name);
        let after: usize = self
            .resume(
                input,
                "NextToken",
                "DescribeConfigurationAggregatorSourcesStatus",
                &fingerprint,
            )?
            .map(|p| p.parse().map_err(|_| ApiError::bad_token()))
            .transpose()?
            .unwrap_or(0);
        let page: Vec<Value> = rows.iter().skip(after).take(limit).cloned().collect();
        let mut out = json!({"AggregatedSourceStatusList": page});
        if rows.len() > after + limit {
            out["NextToken"] = json!(self.tokens.issue(
                "DescribeConfigurationAggregatorSourcesStatus",
                &fingerprint,
                &(after + limit).to_string()
            ));
        }
        Ok(out)
    }

    pub(crate) async fn list_aggregate_discovered(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let rtype = input.required_string("ResourceType", 1, 256)?;
        check_type(&rtype, "resourceType")?;
        let f = input.object("Filters")?.unwrap_or_default();
        let account = f.string("AccountId", 12, 12)?;
        if let Some(a) = &account {
            account_id(a, "filters.accountId")?;
        }
        let rid = f.string("ResourceId", 1, 768)?;
        let rname = f.string("ResourceName", 0, usize::MAX)?;
        let region = f.string("Region", 1, 64)?;
        let limit = input.limit("Limit", 100, 100)?;
        let fingerprint = format!(
            "{}|{rtype}|{account:?}|{rid:?}|{rname:?}|{region:?}",
            def.name
        );
        let after = self.resume(
            input,
            "NextToken",
            "ListAggregateDiscoveredResources",
            &fingerprint,
        )?;
        let mut candidates: Vec<(String, ResourceKey)> = {
            let state = self.log.state();
            let mut v = Vec::new();
            for (scope, _, _) in state.scopes() {
                if scope.resource_type != rtype
                    || !def.includes(scope)
                    || account.as_ref().is_some_and(|a| a != &scope.account)
                    || region.as_ref().is_some_and(|r| r != &scope.region)
                {
                    continue;
                }
                for id in state.live_in(scope).into_iter().flat_map(|m| m.values()) {
                    if rid.as_ref().is_some_and(|r| r != id) {
                        continue;
                    }
                    let pos = format!("{}\u{1}{}\u{1}{id}", scope.account, scope.region);
                    v.push((
                        pos,
                        ResourceKey::new(&scope.account, &scope.region, &rtype, id),
                    ));
                }
            }
            v
        };
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(after) = &after {
            candidates.retain(|(p, _)| p > after);
        }
        let log = self.log.clone();
        let (found, next) = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            let mut next = None;
            for (pos, key) in candidates {
                if found.len() == limit {
                    break;
                }
                let Some(ci) = log.latest(&key).map_err(ApiError::internal)? else {
                    continue;
                };
                let name = ci.document().ok().and_then(|d| {
                    d.get("resourceName")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                if rname
                    .as_ref()
                    .is_some_and(|n| name.as_deref() != Some(n.as_str()))
                {
                    continue;
                }
                let mut r = json!({
                    "SourceAccountId": key.account,
                    "SourceRegion": key.region,
                    "ResourceId": key.resource_id,
                    "ResourceType": key.resource_type,
                });
                if let Some(n) = name {
                    r["ResourceName"] = json!(n);
                }
                found.push(r);
                next = Some(pos);
            }
            Ok::<_, ApiError>((found, next))
        })
        .await
        .map_err(ApiError::internal)??;
        let full = found.len() == limit;
        let mut out = json!({"ResourceIdentifiers": found});
        if full {
            if let Some(pos) = next {
                out["NextToken"] = json!(self.tokens.issue(
                    "ListAggregateDiscoveredResources",
                    &fingerprint,
                    &pos
                ));
            }
        }
        Ok(out)
    }

    /// The latest live item of `key` if the aggregator includes it.
    fn aggregate_item(
        &self,
        def: &AggregatorDef,
        key: &ResourceKey,
    ) -> ApiResult<Option<driftlog_model::ConfigurationItem>> {
        if !def.includes(&key.scope()) {
            return Ok(None);
        }
        let ci = self.log.latest(key).map_err(ApiError::internal)?;
        Ok(ci.filter(|c| {
            !c.status.is_deletion() && c.status != driftlog_model::Status::ResourceNotRecorded
        }))
    }

    pub(crate) fn get_aggregate_config(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let id = input
            .object("ResourceIdentifier")?
            .ok_or_else(|| input.missing("ResourceIdentifier"))?;
        let key = identifier(&id)?;
        let mode = self.recording_mode();
        match self.aggregate_item(&def, &key)? {
            Some(ci) => Ok(json!({"ConfigurationItem": api_item(&ci, &mode)?})),
            None => Err(ApiError::new(
                "ResourceNotDiscoveredException",
                format!(
                    "Resource {} of resourceType:{} is unknown or has not been discovered",
                    key.resource_id, key.resource_type
                ),
            )),
        }
    }

    pub(crate) fn batch_get_aggregate_config(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let ids = input
            .objects("ResourceIdentifiers", 100)?
            .ok_or_else(|| input.missing("ResourceIdentifiers"))?;
        if ids.is_empty() {
            return Err(ApiError::constraint(
                "[]",
                "resourceIdentifiers",
                "Member must have length greater than or equal to 1",
            ));
        }
        let keys = ids.iter().map(identifier).collect::<ApiResult<Vec<_>>>()?;
        let mode = self.recording_mode();
        let mut items = Vec::new();
        for key in &keys {
            if let Some(ci) = self.aggregate_item(&def, key)? {
                items.push(base_item(&ci, &mode)?);
            }
        }
        Ok(json!({"BaseConfigurationItems": items, "UnprocessedResourceIdentifiers": []}))
    }

    pub(crate) fn aggregate_counts(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let f = input.object("Filters")?.unwrap_or_default();
        let rtype = f.string("ResourceType", 1, 256)?;
        if let Some(t) = &rtype {
            check_type(t, "filters.resourceType")?;
        }
        let account = f.string("AccountId", 12, 12)?;
        if let Some(a) = &account {
            account_id(a, "filters.accountId")?;
        }
        let region = f.string("Region", 1, 64)?;
        let group =
            input.enumerated("GroupByKey", &["RESOURCE_TYPE", "ACCOUNT_ID", "AWS_REGION"])?;
        let limit = input.limit("Limit", 1000, 1000)?;
        let mut groups: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0u64;
        {
            let state = self.log.state();
            for (scope, live, _) in state.scopes() {
                if live == 0
                    || !def.includes(scope)
                    || rtype.as_ref().is_some_and(|t| t != &scope.resource_type)
                    || account.as_ref().is_some_and(|a| a != &scope.account)
                    || region.as_ref().is_some_and(|r| r != &scope.region)
                {
                    continue;
                }
                total += live as u64;
                if let Some(g) = &group {
                    let name = match g.as_str() {
                        "RESOURCE_TYPE" => &scope.resource_type,
                        "ACCOUNT_ID" => &scope.account,
                        _ => &scope.region,
                    };
                    *groups.entry(name.clone()).or_default() += live as u64;
                }
            }
        }
        let fingerprint = format!("{}|{rtype:?}|{account:?}|{region:?}|{group:?}", def.name);
        let after = self.resume(
            input,
            "NextToken",
            "GetAggregateDiscoveredResourceCounts",
            &fingerprint,
        )?;
        let rest: Vec<(String, u64)> = groups
            .into_iter()
            .filter(|(g, _)| after.as_ref().is_none_or(|a| g > a))
            .collect();
        let mut out = json!({"TotalDiscoveredResources": total});
        if let Some(g) = &group {
            out["GroupByKey"] = json!(g);
            out["GroupedResourceCounts"] = json!(rest
                .iter()
                .take(limit)
                .map(|(n, c)| json!({"GroupName": n, "ResourceCount": c}))
                .collect::<Vec<_>>());
            if rest.len() > limit {
                out["NextToken"] = json!(self.tokens.issue(
                    "GetAggregateDiscoveredResourceCounts",
                    &fingerprint,
                    &rest[limit - 1].0
                ));
            }
        }
        Ok(out)
    }

    /// SelectAggregateResourceConfig: SelectResourceConfig's query over the aggregator's
    /// accounts, regions and types.
    pub(crate) async fn select_aggregate(&self, input: &Input) -> ApiResult<Value> {
        let def = self.aggregator(input)?;
        let limit = if input.has("Limit") {
            input.limit("Limit", 100, 100)?
        } else {
            input.limit("MaxResults", 100, 100)?
        };
        let visible = |s: &Scope| def.includes(s);
        let seen_by = format!("{}\u{1}{}", def.name, def.updated_ms);
        self.select_over(
            input,
            "SelectAggregateResourceConfig",
            limit,
            &seen_by,
            &visible,
        )
        .await
    }
}
