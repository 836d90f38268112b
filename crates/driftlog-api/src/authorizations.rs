//! Aggregation authorizations, as AWS Config has them: an account's resources reach an
//! aggregator of another account only once that account authorized the aggregator's
//! account and region (`PutAggregationAuthorization`, called as the source account). Until
//! then the aggregator's request is pending in the source account
//! (`DescribePendingAggregationRequests`), which may also decline it
//! (`DeletePendingAggregationRequest`). The caller's account is its access key's
//! (`[api] access_keys`), or the API's own account.

use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::{Caller, ConfigApi};
use driftlog_model::epoch_seconds;
use driftlog_model::time::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Authorizations by `source|account|region`.
const AUTHORIZATIONS: driftlog_log::Namespace<BTreeMap<String, Authorization>> =
    driftlog_log::Namespace::new("api/aggregation_authorizations", 1);

/// Declined requests, `source|account|region`.
const DECLINED: driftlog_log::Namespace<BTreeSet<String>> =
    driftlog_log::Namespace::new("api/declined_aggregation_requests", 1);

/// One authorization as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Authorization {
    source: String,
    account: String,
    region: String,
    arn: String,
    created_ms: i64,
}

impl Authorization {
    fn to_json(&self) -> Value {
        json!({
            "AggregationAuthorizationArn": self.arn,
            "AuthorizedAccountId": self.account,
            "AuthorizedAwsRegion": self.region,
            "CreationTime": epoch_seconds(self.created_ms),
        })
    }
}

fn key(source: &str, account: &str, region: &str) -> String {
    format!("{source}|{account}|{region}")
}

/// `member` as an account id (12 digits), required.
fn account_member(input: &Input, member: &str, path: &str) -> ApiResult<String> {
    let a = input.required_string(member, 12, 12)?;
    if !a.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::constraint(
            &a,
            path,
            "Member must satisfy regular expression pattern: \\d{12}",
        ));
    }
    Ok(a)
}

impl ConfigApi {
    fn authorizations(&self) -> ApiResult<BTreeMap<String, Authorization>> {
        Ok(AUTHORIZATIONS
            .get(&self.log, "")
            .map_err(ApiError::internal)?
            .unwrap_or_default())
    }

    fn declined(&self) -> ApiResult<BTreeSet<String>> {
        Ok(DECLINED
            .get(&self.log, "")
            .map_err(ApiError::internal)?
            .unwrap_or_default())
    }

    /// Whether `source` lets the aggregator of `account` in `region` read it: its own
    /// account, or an authorization.
    pub(crate) fn authorized(&self, source: &str, account: &str, region: &str) -> ApiResult<bool> {
        Ok(source == account
            || self
                .authorizations()?
                .contains_key(&key(source, account, region)))
    }

    pub(crate) async fn put_authorization(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let account = account_member(input, "AuthorizedAccountId", "authorizedAccountId")?;
        let region = input.required_string("AuthorizedAwsRegion", 1, 64)?;
        if let Some(tags) = input.objects("Tags", 50)? {
            for t in &tags {
                t.required_string("Key", 1, 128)?;
                t.string("Value", 0, 256)?;
            }
        }
        let source = self.account(caller);
        let _w = self.writes.lock().await;
        let mut all = self.authorizations()?;
        let k = key(&source, &account, &region);
        let a = all
            .entry(k.clone())
            .or_insert_with(|| Authorization {
                arn: format!(
                    "arn:aws:config:{}:{source}:aggregation-authorization/{account}/{region}",
                    self.region(caller)
                ),
                source: source.clone(),
                account: account.clone(),
                region: region.clone(),
                created_ms: now_ms(),
            })
            .clone();
        let mut declined = self.declined()?;
        declined.remove(&k);
        AUTHORIZATIONS
            .put(&self.log, "", &all)
            .and_then(|()| DECLINED.put(&self.log, "", &declined))
            .and_then(|()| self.log.flush())
            .map_err(ApiError::internal)?;
        Ok(json!({"AggregationAuthorization": a.to_json()}))
    }

    pub(crate) fn describe_authorizations(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let limit = input.limit("Limit", 100, 100)?;
        let source = self.account(caller);
        let rows: Vec<(String, Value)> = self
            .authorizations()?
            .into_iter()
            .filter(|(_, a)| a.source == source)
            .map(|(k, a)| (k, a.to_json()))
            .collect();
        self.page_rows(
            input,
            "DescribeAggregationAuthorizations",
            &source,
            rows,
            limit,
            "AggregationAuthorizations",
        )
    }

    pub(crate) async fn delete_authorization(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let account = account_member(input, "AuthorizedAccountId", "authorizedAccountId")?;
        let region = input.required_string("AuthorizedAwsRegion", 1, 64)?;
        let source = self.account(caller);
        let _w = self.writes.lock().await;
        let mut all = self.authorizations()?;
        if all.remove(&key(&source, &account, &region)).is_some() {
            AUTHORIZATIONS
                .put(&self.log, "", &all)
                .and_then(|()| self.log.flush())
                .map_err(ApiError::internal)?;
        }
        Ok(json!({}))
    }

    /// The aggregators (account, region) that name the caller's account and that it has
    /// neither authorized nor declined.
    fn pending(&self, source: &str) -> ApiResult<Vec<(String, String)>> {
        let auths = self.authorizations()?;
        let declined = self.declined()?;
        let mut out = BTreeSet::new();
        for def in self.aggregators()?.values() {
            let (account, region) = def.owner();
            if account == source || !def.names_account(source) {
                continue;
            }
            let k = key(source, &account, &region);
            if !auths.contains_key(&k) && !declined.contains(&k) {
                out.insert((account, region));
            }
        }
        Ok(out.into_iter().collect())
    }

    pub(crate) fn describe_pending_requests(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let limit = input.limit("Limit", 20, 20)?;
        let source = self.account(caller);
        let rows: Vec<(String, Value)> = self
            .pending(&source)?
            .into_iter()
            .map(|(a, r)| {
                let row = json!({"RequesterAccountId": a, "RequesterAwsRegion": r});
                (format!("{a}|{r}"), row)
            })
            .collect();
        self.page_rows(
            input,
            "DescribePendingAggregationRequests",
            &source,
            rows,
            limit,
            "PendingAggregationRequests",
        )
    }

    pub(crate) async fn delete_pending_request(
        &self,
        caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let account = account_member(input, "RequesterAccountId", "requesterAccountId")?;
        let region = input.required_string("RequesterAwsRegion", 1, 64)?;
        let source = self.account(caller);
        let _w = self.writes.lock().await;
        let mut declined = self.declined()?;
        if declined.insert(key(&source, &account, &region)) {
            DECLINED
                .put(&self.log, "", &declined)
                .and_then(|()| self.log.flush())
                .map_err(ApiError::internal)?;
        }
        Ok(json!({}))
    }
}
