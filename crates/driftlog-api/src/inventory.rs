//! The inventory and history operations: what was discovered, counts by type, the latest
//! items, and a resource's history — read from the log and its in-memory state, limited to
//! the caller's account and region (plus `global` resources such as IAM).

use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::{Caller, ConfigApi, RESOURCE_TYPES};
use driftlog_log::{HistoryQuery, Order};
use driftlog_model::{epoch_seconds, ConfigurationItem, ResourceKey, Scope};
use driftlog_recorder::RecordingMode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn resource_type(i: &Input, name: &str) -> ApiResult<String> {
    let t = i.required_string(name, 1, 256)?;
    check_type(&t, name)?;
    Ok(t)
}

pub(crate) fn check_type(t: &str, member: &str) -> ApiResult<()> {
    if RESOURCE_TYPES.binary_search(&t).is_ok() {
        Ok(())
    } else {
        Err(ApiError::constraint(
            t,
            member,
            "Member must satisfy enum value set: [the resource types of AWS Config, e.g. AWS::EC2::SecurityGroup, AWS::IAM::Role, AWS::S3::Bucket]",
        ))
    }
}

/// `OK` and friends: what the API shows for an item (ResourceNotRecorded ones excluded
/// from the latest-item operations, as AWS does).
///
/// A type recorded DAILY now carries `recordingFrequency` and
/// `configurationItemDeliveryTime` (when the item was recorded), as AWS shows "when DAILY
/// recording is enabled for a resource type"; continuous types carry neither.
pub(crate) fn api_item(ci: &ConfigurationItem, mode: &RecordingMode) -> ApiResult<Value> {
    let mut v = ci.to_api_json().map_err(ApiError::internal)?;
    if mode.is_daily(&ci.key.resource_type) {
        v["recordingFrequency"] = json!("DAILY");
        v["configurationItemDeliveryTime"] = epoch_seconds(ci.capture_time_ms);
    }
    Ok(v)
}

/// An item as the batch operations answer it (AWS's `BaseConfigurationItem`): the API form
/// without tags, related events, relationships and the MD5 hash.
pub(crate) fn base_item(ci: &ConfigurationItem, mode: &RecordingMode) -> ApiResult<Value> {
    let mut v = api_item(ci, mode)?;
    if let Some(o) = v.as_object_mut() {
        for k in [
            "tags",
            "relatedEvents",
            "relationships",
            "configurationItemMD5Hash",
        ] {
            o.remove(k);
        }
    }
    Ok(v)
}

impl ConfigApi {
    /// The recording mode in force (all continuous without a recorder).
    pub(crate) fn recording_mode(&self) -> RecordingMode {
        self.recorder.as_ref().map(|r| r.mode()).unwrap_or_default()
    }

    fn visible(&self, caller: &Caller, scope: &Scope) -> bool {
        caller.account.as_ref().is_none_or(|a| a == &scope.account)
            && caller
                .region
                .as_ref()
                .is_none_or(|r| r == &scope.region || scope.region == "global")
    }

    /// The caller's scopes of one type, in a stable order.
    fn scopes_of(&self, caller: &Caller, resource_type: &str) -> Vec<Scope> {
        let state = self.log.state();
        let mut v: Vec<Scope> = state
            .scopes()
            .map(|(s, _, _)| s)
            .filter(|s| s.resource_type == resource_type && self.visible(caller, s))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// The key of `resource_type`/`resource_id` the caller sees, if recorded.
    fn find(&self, caller: &Caller, resource_type: &str, resource_id: &str) -> Option<ResourceKey> {
        let scopes = self.scopes_of(caller, resource_type);
        let state = self.log.state();
        scopes
            .into_iter()
            .map(|s| ResourceKey::new(s.account, s.region, s.resource_type, resource_id))
            .find(|k| state.get(k.id_hash()).is_some())
    }

    pub(crate) async fn history(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let mode = self.recording_mode();
        let rtype = resource_type(input, "resourceType")?;
        let rid = input.required_string("resourceId", 1, 768)?;
        let later = input.time("laterTime")?;
        let earlier = input.time("earlierTime")?;
        let order = input
            .enumerated("chronologicalOrder", &["Reverse", "Forward"])?
            .unwrap_or_else(|| "Reverse".into());
        let limit = input.limit("limit", 100, 10)?;
        if let (Some(e), Some(l)) = (earlier, later) {
            if e > l {
                return Err(ApiError::new(
                    "InvalidTimeRangeException",
                    "The earlierTime must be less than or equal to the laterTime.",
                ));
            }
        }
        let fingerprint = format!("{rtype}|{rid}|{earlier:?}|{later:?}|{order}");
        let token = self
            .resume(input, "nextToken", "GetResourceConfigHistory", &fingerprint)?
            .map(|p| p.parse::<u64>().map_err(|_| ApiError::bad_token()))
            .transpose()?;
        let Some(key) = self.find(caller, &rtype, &rid) else {
            return Err(ApiError::new(
                "ResourceNotDiscoveredException",
                format!(
                    "Resource {rid} of resourceType:{rtype} is unknown or has not been discovered"
                ),
            ));
        };
        let q = HistoryQuery {
            earlier_ms: earlier,
            later_ms: later,
            order: if order == "Forward" {
                Order::Forward
            } else {
                Order::Reverse
            },
            limit,
            token,
        };
        let log = self.log.clone();
        let page = tokio::task::spawn_blocking(move || log.history(&key, &q))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        let items = page
            .items
            .iter()
            .map(|ci| api_item(ci, &mode))
            .collect::<ApiResult<Vec<_>>>()?;
        let mut out = json!({"configurationItems": items});
        if let Some(next) = page.next {
            out["nextToken"] = json!(self.tokens.issue(
                "GetResourceConfigHistory",
                &fingerprint,
                &next.to_string()
            ));
        }
        Ok(out)
    }

    pub(crate) async fn list_discovered(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let mode = self.recording_mode();
        let rtype = resource_type(input, "resourceType")?;
        let ids = input.strings("resourceIds", 20, 1, 768)?;
        let name = input.string("resourceName", 0, usize::MAX)?;
        if ids.as_ref().is_some_and(|i| !i.is_empty()) && name.is_some() {
            return Err(ApiError::validation(
                "Both Resource ID and Resource Name cannot be specified in the request",
            ));
        }
        let limit = input.limit("limit", 100, 100)?;
        let deleted = input.boolean("includeDeletedResources")?.unwrap_or(false);
        let fingerprint = format!("{rtype}|{ids:?}|{name:?}|{deleted}");
        let after = self.resume(input, "nextToken", "ListDiscoveredResources", &fingerprint)?;
        // Candidates in a stable order (resource id, then account and region), resumed
        // after the token's position.
        let mut candidates: Vec<(String, ResourceKey)> = {
            let state = self.log.state();
            let mut v = Vec::new();
            for scope in self.scopes_of(caller, &rtype) {
                let mut add = |map: Option<&driftlog_model::IdMap<String>>| {
                    for rid in map.into_iter().flat_map(|m| m.values()) {
                        let key = ResourceKey::new(
                            scope.account.clone(),
                            scope.region.clone(),
                            rtype.clone(),
                            rid.clone(),
                        );
                        let pos = format!("{rid}\u{1}{}\u{1}{}", scope.account, scope.region);
                        v.push((pos, key));
                    }
                };
                add(state.live_in(&scope));
                if deleted {
                    add(state.gone_in(&scope));
                }
            }
            v
        };
        if let Some(ids) = ids.as_ref().filter(|i| !i.is_empty()) {
            candidates.retain(|(_, k)| ids.contains(&k.resource_id));
        }
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(after) = &after {
            candidates.retain(|(pos, _)| pos > after);
        }
        // Read the latest items (names, deletion times) page by page: a name filter may
        // skip many.
        let log = self.log.clone();
        let want_name = name.clone();
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
                if ci.status == driftlog_model::Status::ResourceNotRecorded
                    || ci.status == driftlog_model::Status::ResourceDeletedNotRecorded
                {
                    continue;
                }
                let v = api_item(&ci, &mode)?;
                let rname = v
                    .get("resourceName")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if want_name
                    .as_ref()
                    .is_some_and(|n| rname.as_deref() != Some(n.as_str()))
                {
                    continue;
                }
                let mut r =
                    json!({"resourceType": key.resource_type, "resourceId": key.resource_id});
                if let Some(n) = rname {
                    r["resourceName"] = json!(n);
                }
                if ci.status.is_deletion() {
                    r["resourceDeletionTime"] = epoch_seconds(ci.capture_time_ms);
                }
                found.push(r);
                next = Some(pos);
            }
            Ok::<_, ApiError>((found, next))
        })
        .await
        .map_err(ApiError::internal)??;
        // A full page may be followed by more; the last page has no token.
        let full = found.len() == limit;
        let mut out = json!({"resourceIdentifiers": found});
        if full {
            if let Some(pos) = next {
                out["nextToken"] =
                    json!(self
                        .tokens
                        .issue("ListDiscoveredResources", &fingerprint, &pos));
            }
        }
        Ok(out)
    }

    pub(crate) async fn batch_get(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let mode = self.recording_mode();
        let keys = input
            .objects("resourceKeys", 100)?
            .ok_or_else(|| input.missing("resourceKeys"))?;
        if keys.is_empty() {
            return Err(ApiError::constraint(
                "[]",
                "resourceKeys",
                "Member must have length greater than or equal to 1",
            ));
        }
        let mut wanted = Vec::with_capacity(keys.len());
        for k in &keys {
            let t = k.required_string("resourceType", 1, 256)?;
            check_type(&t, "resourceKeys.member.resourceType")?;
            let id = k.required_string("resourceId", 1, 768)?;
            wanted.push((t, id));
        }
        let found: Vec<Option<ResourceKey>> = wanted
            .iter()
            .map(|(t, id)| self.find(caller, t, id))
            .collect();
        let log = self.log.clone();
        let items = tokio::task::spawn_blocking(move || {
            let mut items = Vec::new();
            for key in found.into_iter().flatten() {
                let Some(ci) = log.latest(&key).map_err(ApiError::internal)? else {
                    continue;
                };
                // Deleted and unrecorded resources are left out, as AWS does.
                if ci.status.is_deletion()
                    || ci.status == driftlog_model::Status::ResourceNotRecorded
                {
                    continue;
                }
                items.push(base_item(&ci, &mode)?);
            }
            Ok::<_, ApiError>(items)
        })
        .await
        .map_err(ApiError::internal)??;
        Ok(json!({"baseConfigurationItems": items, "unprocessedResourceKeys": []}))
    }

    pub(crate) fn counts(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let types = input
            .strings("resourceTypes", 20, 1, 256)?
            .unwrap_or_default();
        let limit = input.limit("limit", 100, 100)?;
        let fingerprint = format!("{types:?}");
        let after = self.resume(
            input,
            "nextToken",
            "GetDiscoveredResourceCounts",
            &fingerprint,
        )?;
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        {
            let state = self.log.state();
            for (scope, live, _) in state.scopes() {
                if live == 0 || !self.visible(caller, scope) {
                    continue;
                }
                if !types.is_empty() && !types.contains(&scope.resource_type) {
                    continue;
                }
                *by_type.entry(scope.resource_type.clone()).or_default() += live as u64;
            }
        }
        let total: u64 = by_type.values().sum();
        let rest: Vec<(String, u64)> = by_type
            .into_iter()
            .filter(|(t, _)| after.as_ref().is_none_or(|a| t > a))
            .collect();
        let page: Vec<Value> = rest
            .iter()
            .take(limit)
            .map(|(t, n)| json!({"resourceType": t, "count": n}))
            .collect();
        let mut out = json!({"totalDiscoveredResources": total, "resourceCounts": page});
        if rest.len() > limit {
            out["nextToken"] = json!(self.tokens.issue(
                "GetDiscoveredResourceCounts",
                &fingerprint,
                &rest[limit - 1].0
            ));
        }
        Ok(out)
    }
}

/// The document SelectResourceConfig queries: the top-level scalars (times in ISO 8601),
/// `configuration` and `supplementaryConfiguration` as objects, `tags` as `[{key,value}]`,
/// `relationships` with `relationshipName`.
fn query_doc(ci: &ConfigurationItem) -> ApiResult<Value> {
    let n = ci.to_notification_json().map_err(ApiError::internal)?;
    let mut d = serde_json::Map::new();
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            d.insert(k.to_string(), v.clone());
        }
    };
    put("accountId", &n["awsAccountId"]);
    put("arn", &n["ARN"]);
    put("availabilityZone", &n["availabilityZone"]);
    put("awsRegion", &n["awsRegion"]);
    put(
        "configurationItemCaptureTime",
        &n["configurationItemCaptureTime"],
    );
    put("resourceCreationTime", &n["resourceCreationTime"]);
    put("resourceId", &n["resourceId"]);
    put("resourceName", &n["resourceName"]);
    put("resourceType", &n["resourceType"]);
    put("version", &n["configurationItemVersion"]);
    put("configuration", &n["configuration"]);
    if let Some(m) = n["supplementaryConfiguration"].as_object() {
        let supp: serde_json::Map<String, Value> = m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
                    v => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        put("supplementaryConfiguration", &Value::Object(supp));
    }
    if let Some(m) = n["tags"].as_object() {
        let tags: Vec<Value> = m
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        put("tags", &Value::Array(tags));
    }
    if let Some(rs) = n["relationships"].as_array() {
        let rels: Vec<Value> = rs
            .iter()
            .map(|r| {
                let mut o =
                    json!({"resourceType": r["resourceType"], "relationshipName": r["name"]});
                if !r["resourceId"].is_null() {
                    o["resourceId"] = r["resourceId"].clone();
                }
                if !r["resourceName"].is_null() {
                    o["resourceName"] = r["resourceName"].clone();
                }
                o
            })
            .collect();
        put("relationships", &Value::Array(rels));
    }
    Ok(Value::Object(d))
}

impl ConfigApi {
    pub(crate) async fn select(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let limit = input.limit("Limit", 100, 100)?;
        let seen_by = format!("{:?}\u{1}{:?}", caller.account, caller.region);
        let visible = |s: &Scope| self.visible(caller, s);
        self.select_over(input, "SelectResourceConfig", limit, &seen_by, &visible)
            .await
    }

    /// SelectResourceConfig's answer over the scopes `visible` lets through (a caller's,
    /// or an aggregator's accounts and regions), `seen_by` naming them in the cache and page
    /// tokens of `operation`.
    pub(crate) async fn select_over(
        &self,
        input: &Input,
        operation: &str,
        limit: usize,
        seen_by: &str,
        visible: &(dyn Fn(&Scope) -> bool + Sync),
    ) -> ApiResult<Value> {
        let expr = input.required_string("Expression", 1, 4096)?;
        let query = crate::sql::parse(&expr)?;
        let fingerprint = format!("{expr}\u{1}{seen_by}");
        let offset = self
            .resume(input, "NextToken", operation, &fingerprint)?
            .map(|p| p.parse::<usize>().map_err(|_| ApiError::bad_token()))
            .transpose()?
            .unwrap_or(0);
        // Later pages come from the result the first page computed (one consistent answer
        // across pages, and no rescan per page); a result no longer cached is recomputed.
        let cache_key = format!("{operation}\u{1}{fingerprint}");
        let cached = if offset > 0 {
            self.select_cache.lock().ok().and_then(|c| {
                c.iter()
                    .find(|(k, _)| *k == cache_key)
                    .map(|(_, r)| r.clone())
            })
        } else {
            None
        };
        let rows: std::sync::Arc<Vec<String>> = match cached {
            Some(r) => r,
            None => {
                let rows = self.select_rows(visible, &query).await?;
                let rows = std::sync::Arc::new(rows);
                let bytes: usize = rows.iter().map(String::len).sum();
                if bytes <= SELECT_CACHE_BYTES {
                    if let Ok(mut c) = self.select_cache.lock() {
                        c.retain(|(k, _)| *k != cache_key);
                        c.push_back((cache_key, rows.clone()));
                        while c.len() > SELECT_CACHE_ENTRIES {
                            c.pop_front();
                        }
                    }
                }
                rows
            }
        };
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| Value::String(r.clone()))
            .collect();
        let fields: Vec<Value> = query
            .field_names()
            .into_iter()
            .map(|n| json!({"Name": n}))
            .collect();
        let mut out = json!({"Results": page, "QueryInfo": {"SelectFields": fields}});
        if rows.len() > offset + limit {
            out["NextToken"] =
                json!(self
                    .tokens
                    .issue(operation, &fingerprint, &(offset + limit).to_string()));
        }
        Ok(out)
    }

    /// Every result row of `query` over the scopes `visible` lets through, as JSON text.
    async fn select_rows(
        &self,
        visible: &(dyn Fn(&Scope) -> bool + Sync),
        query: &crate::sql::Query,
    ) -> ApiResult<Vec<String>> {
        // The caller's scopes in a stable order (type, account, region); those the WHERE
        // clause rules out are never read (`resourceType = …` is how most queries start).
        let (types, accounts, regions) = (query.types(), query.accounts(), query.regions());
        let allowed = |list: &Option<Vec<String>>, v: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
        };
        let keys = {
            let state = self.log.state();
            let mut scopes: Vec<(Scope, usize)> = state
                .scopes()
                .filter(|(s, live, _)| {
                    *live > 0
                        && visible(s)
                        && allowed(&types, &s.resource_type)
                        && allowed(&accounts, &s.account)
                        && allowed(&regions, &s.region)
                })
                .map(|(s, live, _)| (s.clone(), live))
                .collect();
            scopes.sort();
            if query.counts_scopes() {
                // Counting by type, account and region needs no item: the state knows how many
                // resources each scope holds.
                let docs: Vec<Value> = scopes
                .iter()
                .map(|(s, _)| json!({"resourceType": s.resource_type, "accountId": s.account, "awsRegion": s.region}))
                .collect();
                let weights: Vec<u64> = scopes.iter().map(|(_, n)| *n as u64).collect();
                return Ok(as_text(&query.rows_weighted(&docs, Some(&weights))));
            }
            // Every current item of those scopes, by id; unrecorded and deleted ones left out.
            let mut keys: Vec<ResourceKey> = Vec::new();
            for (s, _) in &scopes {
                let mut ids: Vec<&String> = state
                    .live_in(s)
                    .into_iter()
                    .flat_map(|m| m.values())
                    .collect();
                ids.sort();
                keys.extend(ids.into_iter().map(|id| {
                    ResourceKey::new(
                        s.account.clone(),
                        s.region.clone(),
                        s.resource_type.clone(),
                        id.clone(),
                    )
                }));
            }
            keys
        };
        let log = self.log.clone();
        let q = query.clone();
        tokio::task::spawn_blocking(move || {
            let mut docs = Vec::new();
            for key in keys {
                let Some(ci) = log.latest(&key).map_err(ApiError::internal)? else {
                    continue;
                };
                if ci.status.is_deletion()
                    || ci.status == driftlog_model::Status::ResourceNotRecorded
                {
                    continue;
                }
                let d = query_doc(&ci)?;
                if q.matches(&d) {
                    docs.push(q.reduce(&d));
                }
            }
            Ok::<_, ApiError>(as_text(&q.rows(&docs)))
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// SelectResourceConfig results kept for their next pages: a few, each at most this big.
pub(crate) const SELECT_CACHE_ENTRIES: usize = 8;
const SELECT_CACHE_BYTES: usize = 64 << 20;

/// Result rows as the JSON text SelectResourceConfig returns.
fn as_text(rows: &[Value]) -> Vec<String> {
    rows.iter().map(Value::to_string).collect()
}
