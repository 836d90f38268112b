//! The AWS Config API (JSON 1.1, `X-Amz-Target: StarlingDoveService.<Operation>`) over
//! driftlog: the recorder and delivery-channel operations act on the running recorder and
//! channel and are kept in the store (they survive a restart); the inventory and history
//! operations read the log. Wire facts (names, casing, errors, limits) follow
//! `../shared/spec/aws-config-compat.md` §1–§3, so boto3 and the aws CLI work unchanged
//! with `--endpoint-url`.
//!
//! [`router`] gives the axum routes; the binary serves them with its other endpoints on
//! one listener.

mod aggregate_compliance;
mod aggregators;
mod audit;
mod auth;
mod authorizations;
mod control;
mod error;
mod input;
mod inventory;
mod metrics;
mod resource_types;
mod rules;
mod server;
mod sql;
mod token;

pub use audit::{is_read_only, Call};
pub use auth::{AccessKey, Auth, Caller, MAX_SKEW};
pub use control::{stored_channel, ChannelDef, DeliveryControl, Initial, NoDelivery, RecorderDef};
pub use error::{ApiError, ApiResult};
pub use input::Input;
pub use resource_types::RESOURCE_TYPES;
pub use server::{router, MAX_BODY_BYTES};
pub use token::Tokens;

use driftlog_log::Log;
use driftlog_recorder::Recorder;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Server-wide settings of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Who may call.
    pub auth: Auth,
    /// The account named in ARNs when the caller's key has none (the first recorded
    /// account, or the config's).
    pub account: String,
    /// The region named in ARNs when the request carries none.
    pub region: String,
}

/// The AWS Config API of one driftlog process.
pub struct ConfigApi {
    log: Arc<Log>,
    recorder: Option<Arc<Recorder>>,
    delivery: Arc<dyn DeliveryControl>,
    settings: ApiSettings,
    tokens: Tokens,
    control: Mutex<control::Control>,
    /// Serializes the control-plane operations (each reads, acts, then stores).
    writes: tokio::sync::Mutex<()>,
    /// Calls answered, by operation and result, for `/metrics`.
    calls: Mutex<std::collections::BTreeMap<(String, String), u64>>,
    /// SelectResourceConfig results by expression and caller, for their next pages.
    select_cache: Mutex<std::collections::VecDeque<(String, Arc<Vec<String>>)>>,
    /// The rules engine, once the server started it.
    rules: std::sync::OnceLock<Arc<driftlog_compliance::Engine>>,
    /// When StartConfigRulesEvaluation last started each rule (AWS allows one call a minute).
    started: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// On an aggregator: its sources (heartbeats) and after how long (ms) one is outdated.
    aggregator_status: std::sync::OnceLock<(Arc<driftlog_aggregate::AggregatorStatus>, i64)>,
    /// How organization aggregators reach AWS Organizations (the aggregator's role is
    /// assumed on top); the SDK's standard chain when never set.
    organizations: std::sync::OnceLock<driftlog_sinks::AwsAccess>,
}

impl ConfigApi {
    /// The API over a store, its running recorder (none offline) and delivery channel.
    /// The recorder and channel defined through the API earlier are applied to the
    /// recorder now; a store where the API was never used starts from `initial` (the
    /// config file's recorder and channel).
    ///
    /// # Errors
    /// The store could not be read or written.
    pub fn open(
        log: Arc<Log>,
        recorder: Option<Arc<Recorder>>,
        delivery: Arc<dyn DeliveryControl>,
        settings: ApiSettings,
        initial: Initial,
    ) -> Result<Arc<Self>, String> {
        let tokens = Tokens::open(&log)?;
        let control = control::Control::load_or(&log, initial)?;
        if let Some(rec) = &recorder {
            control.apply_to(rec);
        }
        Ok(Arc::new(Self {
            log,
            recorder,
            delivery,
            settings,
            tokens,
            control: Mutex::new(control),
            writes: tokio::sync::Mutex::new(()),
            calls: Mutex::default(),
            select_cache: Mutex::default(),
            rules: std::sync::OnceLock::new(),
            started: Mutex::default(),
            aggregator_status: std::sync::OnceLock::new(),
            organizations: std::sync::OnceLock::new(),
        }))
    }

    /// Serves the rules and compliance operations from `engine` (set once, at start).
    pub fn set_rules(&self, engine: Arc<driftlog_compliance::Engine>) {
        let _ = self.rules.set(engine);
    }

    /// On an aggregator: answers source status from its sources' heartbeats, a source
    /// silent for `outdated_after` being OUTDATED (set once, at start).
    pub fn set_aggregator(
        &self,
        status: Arc<driftlog_aggregate::AggregatorStatus>,
        outdated_after: std::time::Duration,
    ) {
        let ms = i64::try_from(outdated_after.as_millis()).unwrap_or(i64::MAX);
        let _ = self.aggregator_status.set((status, ms));
    }

    /// Reads AWS Organizations for organization aggregators with `access` (credentials,
    /// region, endpoint; each aggregator's `RoleArn` is assumed on top). Set once, at start.
    pub fn set_organization_access(&self, access: driftlog_sinks::AwsAccess) {
        let _ = self.organizations.set(access);
    }

    /// Runs one operation for `caller`.
    ///
    /// # Errors
    /// The operation's AWS error.
    pub async fn call(&self, caller: &Caller, operation: &str, input: &Input) -> ApiResult<Value> {
        match operation {
            "PutConfigurationRecorder" => self.put_recorder(caller, input).await,
            "DescribeConfigurationRecorders" => self.describe_recorders(caller, input),
            "DescribeConfigurationRecorderStatus" => self.describe_recorder_status(caller, input),
            "StartConfigurationRecorder" => self.start_recorder(input, true).await,
            "StopConfigurationRecorder" => self.start_recorder(input, false).await,
            "DeleteConfigurationRecorder" => self.delete_recorder(input).await,
            "PutDeliveryChannel" => self.put_channel(input).await,
            "DescribeDeliveryChannels" => self.describe_channels(input),
            "DescribeDeliveryChannelStatus" => self.describe_channel_status(input),
            "DeleteDeliveryChannel" => self.delete_channel(input).await,
            "DeliverConfigSnapshot" => self.deliver_snapshot(input),
            "GetResourceConfigHistory" => self.history(caller, input).await,
            "ListDiscoveredResources" => self.list_discovered(caller, input).await,
            "BatchGetResourceConfig" => self.batch_get(caller, input).await,
            "GetDiscoveredResourceCounts" => self.counts(caller, input),
            "SelectResourceConfig" => self.select(caller, input).await,
            "PutConfigRule" => self.put_config_rule(caller, input).await,
            "DescribeConfigRules" => self.describe_config_rules(caller, input),
            "DeleteConfigRule" => self.delete_config_rule(caller, input).await,
            "StartConfigRulesEvaluation" => self.start_rules_evaluation(caller, input),
            "PutEvaluations" => self.put_evaluations(caller, input).await,
            "DescribeComplianceByConfigRule" => self.describe_compliance_by_rule(caller, input),
            "DescribeComplianceByResource" => {
                self.describe_compliance_by_resource(caller, input).await
            }
            "GetComplianceDetailsByConfigRule" => {
                self.compliance_details_by_rule(caller, input).await
            }
            "GetComplianceDetailsByResource" => self.compliance_details_by_resource(caller, input),
            "DescribeConfigRuleEvaluationStatus" => {
                self.describe_rule_evaluation_status(caller, input)
            }
            "PutConfigurationAggregator" => self.put_aggregator(caller, input).await,
            "DescribeConfigurationAggregators" => self.describe_aggregators(input),
            "DeleteConfigurationAggregator" => self.delete_aggregator(input).await,
            "DescribeConfigurationAggregatorSourcesStatus" => self.aggregator_sources_status(input),
            "ListAggregateDiscoveredResources" => self.list_aggregate_discovered(input).await,
            "GetAggregateResourceConfig" => self.get_aggregate_config(input),
            "BatchGetAggregateResourceConfig" => self.batch_get_aggregate_config(input),
            "GetAggregateDiscoveredResourceCounts" => self.aggregate_counts(input),
            "SelectAggregateResourceConfig" => self.select_aggregate(input).await,
            "PutAggregationAuthorization" => self.put_authorization(caller, input).await,
            "DescribeAggregationAuthorizations" => self.describe_authorizations(caller, input),
            "DeleteAggregationAuthorization" => self.delete_authorization(caller, input).await,
            "DescribePendingAggregationRequests" => self.describe_pending_requests(caller, input),
            "DeletePendingAggregationRequest" => self.delete_pending_request(caller, input).await,
            "DescribeAggregateComplianceByConfigRules" => {
                self.aggregate_compliance_by_rules(input).await
            }
            "GetAggregateComplianceDetailsByConfigRule" => {
                self.aggregate_compliance_details(input).await
            }
            "GetAggregateConfigRuleComplianceSummary" => {
                self.aggregate_rule_compliance_summary(input).await
            }
            "DescribeAggregateComplianceByConformancePacks" => {
                self.aggregate_conformance_packs(input, "AggregateComplianceByConformancePacks")
            }
            "GetAggregateConformancePackComplianceSummary" => self
                .aggregate_conformance_packs(input, "AggregateConformancePackComplianceSummaries"),
            _ => Err(ApiError::new(
                "UnknownOperationException",
                format!("Unknown operation: StarlingDoveService.{operation}"),
            )),
        }
    }

    /// True when requests are not authenticated (the server says so at start).
    pub fn auth_is_off(&self) -> bool {
        matches!(self.settings.auth, Auth::Off)
    }

    /// Where the page token in `member` resumes `operation` (`None`: the first page);
    /// a token of another operation or other parameters is refused.
    fn resume(
        &self,
        input: &Input,
        member: &str,
        operation: &str,
        fingerprint: &str,
    ) -> ApiResult<Option<String>> {
        input
            .string(member, 0, usize::MAX)?
            .map(|t| self.tokens.position(operation, fingerprint, &t))
            .transpose()
    }

    fn account(&self, caller: &Caller) -> String {
        caller
            .account
            .clone()
            .unwrap_or_else(|| self.settings.account.clone())
    }

    fn region(&self, caller: &Caller) -> String {
        caller
            .region
            .clone()
            .unwrap_or_else(|| self.settings.region.clone())
    }
}

/// A random version-4 UUID (request ids, recorder ids): the generator of snapshot ids.
pub(crate) use driftlog_sinks::new_snapshot_id as uuid_v4;

/// Tests over the whole API (a test binary of their own would link the AWS SDK again).
#[cfg(test)]
mod tests {
    mod rules_regions;
}
