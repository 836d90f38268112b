//! `[source]`, `[source.aws]` and `[source.sim]`: where resources come from.

use super::*;

/// `[source]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Source kind.
    pub kind: SourceKind,
    /// `[source.sim]`.
    pub sim: SimSection,
    /// `[source.aws]`.
    pub aws: AwsSection,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Sim,
            sim: SimSection::default(),
            aws: AwsSection::default(),
        }
    }
}

/// `[source.aws]`: how to reach AWS; see [`driftlog_aws::AwsSettings`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSection {
    /// Named profile, "" for the standard chain.
    pub profile: String,
    /// Regions, `["all"]`, or empty for the chain's region.
    pub regions: Vec<String>,
    /// Record the credentials' own account.
    pub record_own_account: bool,
    /// Its id, "" to ask STS.
    pub account_id: String,
    /// Accounts reached by assume-role.
    pub assume_roles: Vec<AssumeRoleEntry>,
    /// Attempts per call.
    pub max_attempts: u32,
    /// Timeout per call attempt.
    #[serde(deserialize_with = "duration")]
    pub call_timeout: Duration,
    /// `[source.aws.endpoints]`.
    pub endpoints: EndpointsSection,
    /// `[source.aws.rate_limits]`.
    pub rate_limits: RateLimitsSection,
    /// CloudFormation types recorded through Cloud Control, or `["all"]`.
    pub cloudcontrol_types: Vec<String>,
    /// `[source.aws.events]`.
    pub events: AwsEventsSection,
}

/// `[source.aws.events]`: the SQS queues CloudTrail events arrive on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsEventsSection {
    /// Queues behind an EventBridge rule for "AWS API Call via CloudTrail".
    pub queue_urls: Vec<String>,
    /// A queue of S3 notifications of a trail bucket's new log files, "" for none.
    pub cloudtrail_bucket_queue: String,
    /// Long-poll time of one ReceiveMessage, seconds (1..=20).
    pub wait_seconds: u32,
}

impl Default for AwsEventsSection {
    fn default() -> Self {
        Self {
            queue_urls: Vec::new(),
            cloudtrail_bucket_queue: String::new(),
            wait_seconds: 20,
        }
    }
}

impl AwsEventsSection {
    /// True when any queue is configured.
    pub fn enabled(&self) -> bool {
        !self.queue_urls.is_empty() || !self.cloudtrail_bucket_queue.trim().is_empty()
    }

    /// The settings the SQS event feed takes.
    pub fn settings(&self) -> driftlog_aws::EventSettings {
        let bucket = self.cloudtrail_bucket_queue.trim();
        driftlog_aws::EventSettings {
            queue_urls: self
                .queue_urls
                .iter()
                .map(|u| u.trim().to_string())
                .collect(),
            cloudtrail_bucket_queue: (!bucket.is_empty()).then(|| bucket.to_string()),
            wait_seconds: self.wait_seconds,
            ..driftlog_aws::EventSettings::default()
        }
    }
}

impl Default for AwsSection {
    fn default() -> Self {
        Self {
            profile: String::new(),
            regions: Vec::new(),
            record_own_account: true,
            account_id: String::new(),
            assume_roles: Vec::new(),
            max_attempts: 5,
            call_timeout: Duration::from_secs(30),
            endpoints: EndpointsSection::default(),
            rate_limits: RateLimitsSection::default(),
            cloudcontrol_types: Vec::new(),
            events: AwsEventsSection::default(),
        }
    }
}

/// One entry of `source.aws.assume_roles`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRoleEntry {
    /// The role in the other account.
    pub role_arn: String,
    /// External id, "" for none.
    #[serde(default)]
    pub external_id: String,
    /// Session name.
    #[serde(default = "default_session_name")]
    pub session_name: String,
}

fn default_session_name() -> String {
    "driftlog".to_string()
}

/// `[source.aws.endpoints]`: `all`, or a service's name ([`driftlog_aws::Service::name`]),
/// to a URL; "" = AWS's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct EndpointsSection(pub BTreeMap<String, String>);

impl Default for EndpointsSection {
    /// `all = ""`, as `driftlog config` prints it.
    fn default() -> Self {
        Self(BTreeMap::from([("all".to_string(), String::new())]))
    }
}

/// `[source.aws.rate_limits]`: a service's name to requests per second (0 = no limit).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RateLimitsSection(pub BTreeMap<String, f64>);

impl Default for RateLimitsSection {
    fn default() -> Self {
        Self(
            driftlog_aws::Service::ALL
                .iter()
                .filter(|s| **s != driftlog_aws::Service::Sts)
                .map(|s| (s.name().to_string(), s.default_rate()))
                .collect(),
        )
    }
}

/// The names `[source.aws.endpoints]` and `[source.aws.rate_limits]` accept, for errors.
pub(crate) fn service_names() -> String {
    driftlog_aws::Service::ALL
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl AwsSection {
    /// The settings the AWS source takes.
    pub fn settings(&self) -> driftlog_aws::AwsSettings {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        driftlog_aws::AwsSettings {
            profile: opt(&self.profile),
            regions: self.regions.clone(),
            record_own_account: self.record_own_account,
            account_id: opt(&self.account_id),
            assume_roles: self
                .assume_roles
                .iter()
                .map(|r| driftlog_aws::AssumeRole {
                    role_arn: r.role_arn.clone(),
                    external_id: opt(&r.external_id),
                    session_name: r.session_name.clone(),
                })
                .collect(),
            endpoints: driftlog_aws::Endpoints {
                all: self.endpoints.0.get("all").and_then(|u| opt(u)),
                services: self
                    .endpoints
                    .0
                    .iter()
                    .filter_map(|(k, u)| Some((driftlog_aws::Service::from_name(k)?, opt(u)?)))
                    .collect(),
            },
            cloudcontrol_types: self.cloudcontrol_types.clone(),
            max_attempts: self.max_attempts,
            call_timeout: self.call_timeout,
            rate_limits: driftlog_aws::RateLimits {
                services: self
                    .rate_limits
                    .0
                    .iter()
                    .filter_map(|(k, r)| Some((driftlog_aws::Service::from_name(k)?, *r)))
                    .collect(),
            },
        }
    }
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The simulated estate.
    Sim,
    /// Real AWS accounts (or an AWS-compatible server) through the SDK.
    Aws,
}

/// `[source.sim]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    /// Seed.
    pub seed: u64,
    /// Accounts.
    pub accounts: usize,
    /// Number of the first account (1 = 111122220001): recorders of one organization
    /// simulate distinct accounts.
    pub first_account: u64,
    /// Regions.
    pub regions: Vec<String>,
    /// Approximate resource count.
    pub resources: usize,
    /// Churn per tick.
    pub churn: f64,
    /// Tick interval.
    #[serde(deserialize_with = "duration")]
    pub tick_interval: Duration,
    /// Emit CloudTrail-shaped events for the churn.
    pub events: bool,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts: 2,
            first_account: 1,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            resources: 2000,
            churn: 0.01,
            tick_interval: Duration::from_secs(30),
            events: true,
        }
    }
}
