//! The one TOML configuration file. Every option has a documented default (see
//! [`DEFAULT_TOML`], printed by `driftlog config`); an unknown key or a bad value is refused
//! with the key, the line and the reason, and nothing starts.

use crate::error::{bail, Context, Error, Result};
use driftlog_model::TypePattern;
use driftlog_poll::SchedulerConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented default configuration, exactly as `driftlog config` prints it.
pub const DEFAULT_TOML: &str = r#"# driftlog configuration. Every key is optional; the values shown are the defaults.

# Where the log lives. One `driftlog serve` per data dir.
data_dir = "./driftlog-data"

[source]
# Where resources come from: "sim" (the built-in simulated AWS estate) or "aws" (real
# accounts through the AWS SDK; see [source.aws] and README "Record your AWS account").
kind = "sim"

[source.sim]
# Same seed, same estate: demos and tests are reproducible.
seed = 42
# Number of AWS accounts and the regions of each.
accounts = 2
regions = ["eu-west-1", "us-east-1"]
# Approximate number of resources in the whole estate (100 .. 1000000+).
resources = 2000
# Fraction of resources changed per tick (rules opened, instances launched, ...).
churn = 0.01
# How often the simulated estate changes.
tick_interval = "30s"

[source.aws]
# Named profile of ~/.aws/config; "" = the standard chain: environment variables, the
# default profile, SSO, web identity, instance or container metadata.
profile = ""
# Regions to record; [] = the region of the profile or AWS_REGION; ["all"] = every region
# enabled for the account. IAM is global and recorded once per account.
regions = []
# Record the account the credentials belong to.
record_own_account = true
# Its 12-digit id; "" = ask STS (GetCallerIdentity) at start.
account_id = ""
# Other accounts, each reached by assuming a read-only role in it, e.g.
# assume_roles = [{ role_arn = "arn:aws:iam::222233334444:role/driftlog-read", external_id = "", session_name = "driftlog" }]
assume_roles = []
# Attempts per API call, the first included: the SDK retries throttling and transient errors
# with exponential backoff.
max_attempts = 5
# Timeout of one API call attempt (a whole poll is bounded by recorder.timeout).
call_timeout = "30s"

[source.aws.endpoints]
# Endpoint URLs for moto, LocalStack or VPC endpoints; "" = AWS's own. `all` applies to
# every service without its own.
all = ""
ec2 = ""
iam = ""
s3 = ""
sts = ""

[source.aws.rate_limits]
# Requests per second, per service: EC2 and S3 per account and region, IAM per account.
# Keeps a large account under AWS's throttling limits; 0 = no limit.
ec2 = 10.0
iam = 5.0
s3 = 100.0

[recorder]
# Start recording when `serve` starts (false: start it later through the API).
start = true
# Time between two polls of the same scope (account, region, resource type).
interval = "60s"
# Random spread of each interval (0.1 = ±10%).
jitter = 0.1
# A poll running longer than this is abandoned and changes nothing.
timeout = "120s"
# Polls running at once.
concurrency = 4
# Retry delay after a failure, doubled per consecutive failure, capped at backoff_max.
backoff_base = "5s"
backoff_max = "10m"
# Re-describe resources related to a changed one in the same cycle.
recheck_related = true
# AWS Config's recordingMode. CONTINUOUS: an item for every change. DAILY: at most one item
# per resource per 24 hours, the state at that time if it changed since the last item
# (deletions too) — far fewer items for types that flap. `driftlog stats` shows the saving.
recording_frequency = "CONTINUOUS"
# Types recorded otherwise than recording_frequency (globs allowed), e.g.
# [[recorder.recording_mode_overrides]]
# resource_types = ["AWS::EC2::Instance", "AWS::EC2::NetworkInterface"]
# recording_frequency = "DAILY"
# description = "instances flap; once a day is enough"

[recording_group]
# Types to record (globs allowed, e.g. "AWS::EC2::*"); empty = all supported types.
include = []
# Types never to record.
exclude = []
# Record IAM and other global types.
include_global = true

[store]
# sled page cache, MiB. Bounds memory; larger speeds up history reads of cold resources.
cache_mb = 64
# Disk space kept in reserve beside the store (a preallocated store.ballast file, at most a
# twentieth of the disk), MiB. When free space runs into it, recording stops cleanly with
# StorageFull and the reserve is released, so the store is never written to a full disk.
# 0 = no reserve.
reserve_mb = 64

[delivery]
# AWS Config's delivery channel: configuration history files (one per resource type per
# period) and configuration snapshots, gzip JSON under AWS Config's object keys.
enabled = true
# S3 bucket (AWS, or any S3-compatible server via endpoint_url); "" = files in local_dir.
s3_bucket = ""
# Directory used when s3_bucket is ""; "" = <data_dir>/delivery.
local_dir = ""
# Key prefix (AWS Config's s3KeyPrefix), e.g. "org/config".
s3_key_prefix = ""
# KMS key for SSE-KMS on every object (s3KmsKeyArn); "" = the bucket's default encryption.
s3_kms_key_arn = ""
# SNS topic (snsTopicARN): every configuration change and the delivery events, as AWS
# Config's config stream. "off" (or "") = none.
sns_topic_arn = ""
# Periodic snapshots: One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours or
# "off" (on demand only: `driftlog deliver snapshot`).
snapshot_frequency = "TwentyFour_Hours"
# Length of a history delivery period (AWS Config: 6h).
history_period = "6h"
# Items per history file before it is split (_1, _2, ...).
max_items_per_file = 10000
# Credentials for S3 and SNS: "" = the standard chain (as [source.aws]).
profile = ""
# Region of the bucket; "" = the chain's region, else us-east-1. Topics use their ARN's.
region = ""
# S3/SNS/STS endpoint for MinIO, moto or LocalStack; "" = AWS's own.
endpoint_url = ""
# Role assumed for delivery (the recorder's roleARN); "" = the credentials themselves.
role_arn = ""

[api]
# The AWS Config API (boto3, `aws configservice --endpoint-url http://<listen>`) on this
# address; "off" (or "") = no API server. A loopback address by default.
listen = "127.0.0.1:7440"
# "sigv4": every request signed with one of access_keys (AWS's errors otherwise); "off": no
# authentication, refused unless listen is a loopback address.
auth = "off"
# Keys for auth = "sigv4", e.g.
# access_keys = [{ access_key_id = "AKIAEXAMPLE", secret_env = "DRIFTLOG_API_SECRET", account = "111122223333" }]
# (secret_access_key = "..." inline also works; account = "" sees every recorded account).
access_keys = []

# Sinks: the config stream (ConfigurationItemChangeNotification per change), each with its
# own filter and a durable cursor in the store; at least once, in order, every message
# numbered (X-Driftlog-Seq). None by default; repeat the table for each, e.g.
#
# [[sinks]]
# name = "security"                 # letters, digits, - and _; the cursor's name
# kind = "webhook"                  # webhook | sns | nats
# url = "https://hooks.example.com/driftlog"
# secret_env = "DRIFTLOG_WEBHOOK_SECRET"   # HMAC-SHA256 key, from this variable
# types = ["AWS::EC2::SecurityGroup", "AWS::EC2::NetworkAcl", "AWS::IAM::*"]
#
# [[sinks]]
# name = "stream"
# kind = "sns"
# topic_arn = "arn:aws:sns:eu-west-1:111122223333:config-stream"
#
# [[sinks]]
# name = "bus"
# kind = "nats"
# url = "nats://127.0.0.1:4222"     # subjects driftlog.ci.<account>.<region>.<type>
# stream = "DRIFTLOG"
#
# Every sink also takes: accounts = [], regions = [], statuses = [] (filters, as `tail`),
# start = "now" | "beginning" (where a new sink starts), batch = 100, timeout = "30s".

[rules]
# Config rules (PutConfigRule, `driftlog rules add`) are judged on every recorded change;
# periodic ones (MaximumExecutionFrequency) are looked for this often.
periodic_check = "30s"
# External evaluator invocations in flight at once.
concurrency = 4
# A failed external invocation (error, timeout, bad answer) is tried again after retry_after,
# then after twice that, `retries` times in all; the rule's status shows the error meanwhile.
retry_after = "1m"
retries = 2

# External evaluators, the counterpart of custom Lambda rules: a rule with Source.Owner
# CUSTOM_LAMBDA and SourceIdentifier arn:aws:lambda:<region>:<account>:function:<name> is
# judged by the evaluator of that name. Each gets AWS's Lambda event for Config rules
# (invokingEvent, ruleParameters, resultToken, ...) and answers {"evaluations": [...]}, or
# nothing and PutEvaluations later. None by default; repeat the table for each, e.g.
#
# [[evaluators]]
# name = "tag-checker"
# command = ["python3", "/etc/driftlog/tag_checker.py"]   # the event on stdin
# # url = "http://127.0.0.1:9000/evaluate"                # or POSTed here instead
# timeout = "30s"
"#;

/// The whole configuration, after defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Source settings.
    pub source: SourceConfig,
    /// Recorder pacing.
    pub recorder: RecorderSection,
    /// Which types are recorded.
    pub recording_group: GroupSection,
    /// Store tunables.
    pub store: StoreSection,
    /// The delivery channel.
    pub delivery: DeliverySection,
    /// Config-stream sinks.
    pub sinks: Vec<SinkSection>,
    /// The AWS Config API server.
    pub api: ApiSection,
    /// The rules engine.
    pub rules: RulesSection,
    /// External rule evaluators.
    pub evaluators: Vec<EvaluatorSection>,
}

/// `[rules]`: the rules engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSection {
    /// How often due periodic rules are looked for.
    #[serde(deserialize_with = "duration")]
    pub periodic_check: Duration,
    /// External invocations in flight.
    pub concurrency: usize,
    /// First wait before a failed external invocation is tried again (doubling after).
    #[serde(deserialize_with = "duration")]
    pub retry_after: Duration,
    /// Tries after the first failure before giving up.
    pub retries: u32,
}

impl Default for RulesSection {
    fn default() -> Self {
        Self {
            periodic_check: Duration::from_secs(30),
            concurrency: 4,
            retry_after: Duration::from_secs(60),
            retries: 2,
        }
    }
}

/// One `[[evaluators]]` table: an external rule evaluator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorSection {
    /// Name (a Lambda ARN's function name refers to it).
    pub name: String,
    /// Program and arguments; the event on stdin.
    #[serde(default)]
    pub command: Vec<String>,
    /// Or an HTTP(S) endpoint the event is POSTed to.
    #[serde(default)]
    pub url: String,
    /// Longest wait per invocation.
    #[serde(default = "default_sink_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

impl EvaluatorSection {
    fn check(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("evaluators: name {n:?} rejected: use 1 to 64 letters, digits, '-' and '_' (a Lambda function name)");
        }
        let at = format!("evaluators {n:?}");
        match (self.command.is_empty(), self.url.is_empty()) {
            (true, true) => {
                bail!("{at}: give command = [\"program\", \"arg\", ...] or url = \"http://...\"")
            }
            (false, false) => bail!("{at}: give command or url, not both"),
            (true, false)
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) =>
            {
                bail!(
                    "{at}: url = {:?} rejected: use an http:// or https:// URL",
                    self.url
                )
            }
            _ => {}
        }
        if self.command.first().is_some_and(|p| p.trim().is_empty()) {
            bail!("{at}: command starts with an empty program name");
        }
        if self.timeout.is_zero() {
            bail!("{at}: timeout must be greater than 0");
        }
        Ok(())
    }

    /// The engine's view of it.
    pub fn spec(&self) -> driftlog_compliance::ExternalSpec {
        driftlog_compliance::ExternalSpec {
            name: self.name.clone(),
            kind: if self.command.is_empty() {
                driftlog_compliance::ExternalKind::Url(self.url.clone())
            } else {
                driftlog_compliance::ExternalKind::Command(self.command.clone())
            },
            timeout: self.timeout,
        }
    }
}

/// `[api]`: the AWS Config API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Address to listen on, "" = none.
    pub listen: String,
    /// `off` or `sigv4`.
    pub auth: String,
    /// Accepted keys.
    pub access_keys: Vec<AccessKeyEntry>,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7440".into(),
            auth: "off".into(),
            access_keys: Vec::new(),
        }
    }
}

/// One `[api] access_keys` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyEntry {
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// The secret, inline.
    #[serde(default)]
    pub secret_access_key: String,
    /// Or the variable holding it.
    #[serde(default)]
    pub secret_env: String,
    /// The account the key sees ("" = all).
    #[serde(default)]
    pub account: String,
}

impl ApiSection {
    /// The address, `None` when the API is off.
    ///
    /// # Errors
    /// An address that does not parse, or authentication off on a non-loopback address.
    pub fn address(&self) -> Result<Option<std::net::SocketAddr>> {
        let Some(l) = opt(&self.listen) else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = l.parse().with_context(|| {
            format!("api.listen = {l:?} rejected: use IP:PORT (e.g. 127.0.0.1:7440), or {OFF_FORMS} for no API server")
        })?;
        if self.auth == "off" && !addr.ip().is_loopback() {
            bail!(
                "api.listen = {l:?} with api.auth = \"off\" rejected: without authentication the API may only listen on a loopback address; set auth = \"sigv4\" with access_keys"
            );
        }
        Ok(Some(addr))
    }

    /// The authentication the server checks.
    ///
    /// # Errors
    /// A key whose secret variable is not set, or `sigv4` without keys.
    pub fn auth(&self) -> Result<driftlog_api::Auth> {
        match self.auth.as_str() {
            "off" => Ok(driftlog_api::Auth::Off),
            "sigv4" => {
                if self.access_keys.is_empty() {
                    bail!("api.auth = \"sigv4\" needs at least one entry in api.access_keys");
                }
                let mut keys = std::collections::HashMap::new();
                for k in &self.access_keys {
                    let secret = match (opt(&k.secret_access_key), opt(&k.secret_env)) {
                        (Some(s), _) => s,
                        (None, Some(var)) => std::env::var(&var).with_context(|| {
                            format!("api.access_keys {:?}: secret_env = {var:?}, but that variable is not set", k.access_key_id)
                        })?,
                        (None, None) => bail!(
                            "api.access_keys {:?}: set secret_access_key or secret_env",
                            k.access_key_id
                        ),
                    };
                    keys.insert(
                        k.access_key_id.clone(),
                        driftlog_api::AccessKey {
                            secret,
                            account: opt(&k.account),
                        },
                    );
                }
                Ok(driftlog_api::Auth::SigV4(keys))
            }
            other => bail!("api.auth = {other:?} rejected: use \"off\" or \"sigv4\""),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        // Kept equal to DEFAULT_TOML by a test.
        Self {
            data_dir: PathBuf::from("./driftlog-data"),
            source: SourceConfig::default(),
            recorder: RecorderSection::default(),
            recording_group: GroupSection::default(),
            store: StoreSection::default(),
            delivery: DeliverySection::default(),
            sinks: Vec::new(),
            api: ApiSection::default(),
            rules: RulesSection::default(),
            evaluators: Vec::new(),
        }
    }
}

/// `[delivery]`: AWS Config's delivery channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySection {
    /// Deliver at all.
    pub enabled: bool,
    /// Bucket, "" = local.
    pub s3_bucket: String,
    /// Local directory, "" = <data_dir>/delivery.
    pub local_dir: String,
    /// Key prefix.
    pub s3_key_prefix: String,
    /// SSE-KMS key.
    pub s3_kms_key_arn: String,
    /// Topic of the config stream.
    pub sns_topic_arn: String,
    /// Snapshot frequency or "off".
    pub snapshot_frequency: String,
    /// History period.
    #[serde(deserialize_with = "duration")]
    pub history_period: Duration,
    /// Items per history file.
    pub max_items_per_file: usize,
    /// Named profile.
    pub profile: String,
    /// Bucket region.
    pub region: String,
    /// Endpoint override.
    pub endpoint_url: String,
    /// Role to assume.
    pub role_arn: String,
}

impl Default for DeliverySection {
    fn default() -> Self {
        Self {
            enabled: true,
            s3_bucket: String::new(),
            local_dir: String::new(),
            s3_key_prefix: String::new(),
            s3_kms_key_arn: String::new(),
            sns_topic_arn: String::new(),
            snapshot_frequency: "TwentyFour_Hours".into(),
            history_period: Duration::from_secs(6 * 3600),
            max_items_per_file: 10_000,
            profile: String::new(),
            region: String::new(),
            endpoint_url: String::new(),
            role_arn: String::new(),
        }
    }
}

/// The spellings of "turned off" for a value that can disable something.
pub const OFF_FORMS: &str = "\"off\", \"none\" or \"\"";

/// True for `off`, `none` or nothing: a value that disables what it configures.
pub fn is_off(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "" | "off" | "none")
}

fn opt(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

impl DeliverySection {
    /// Credentials and endpoint of delivery (also used by SNS sinks).
    pub fn access(&self) -> driftlog_sinks::AwsAccess {
        driftlog_sinks::AwsAccess {
            profile: opt(&self.profile),
            region: opt(&self.region),
            endpoint_url: opt(&self.endpoint_url),
            role_arn: opt(&self.role_arn),
        }
    }

    /// The channel's settings, with `data_dir` for the default directory.
    pub fn channel(&self, data_dir: &Path) -> driftlog_sinks::ChannelSettings {
        driftlog_sinks::ChannelSettings {
            name: "default".into(),
            location: match opt(&self.s3_bucket) {
                Some(bucket) => driftlog_sinks::StoreLocation::S3 { bucket },
                None => driftlog_sinks::StoreLocation::Local(
                    opt(&self.local_dir).map_or_else(|| data_dir.join("delivery"), PathBuf::from),
                ),
            },
            prefix: opt(&self.s3_key_prefix),
            kms_key_arn: opt(&self.s3_kms_key_arn),
            sns_topic_arn: opt(&self.sns_topic_arn),
            snapshot_frequency: driftlog_sinks::SnapshotFrequency::parse(&self.snapshot_frequency)
                .ok(),
            history_period: self.history_period,
            max_items_per_file: self.max_items_per_file,
            access: self.access(),
        }
    }
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// HTTP POST, HMAC-signed.
    Webhook,
    /// An SNS topic.
    Sns,
    /// NATS JetStream.
    Nats,
}

/// One `[[sinks]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// Name (the cursor's).
    pub name: String,
    /// Kind.
    pub kind: SinkKind,
    /// Webhook URL or NATS server URL.
    #[serde(default)]
    pub url: String,
    /// Variable holding the webhook's HMAC key.
    #[serde(default)]
    pub secret_env: String,
    /// SNS topic.
    #[serde(default)]
    pub topic_arn: String,
    /// JetStream stream.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Type globs.
    #[serde(default)]
    pub types: Vec<String>,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Regions.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Statuses.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// `now` or `beginning`.
    #[serde(default = "default_start")]
    pub start: String,
    /// Items per round.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Timeout per request.
    #[serde(default = "default_sink_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_stream() -> String {
    "DRIFTLOG".into()
}
fn default_start() -> String {
    "now".into()
}
fn default_batch() -> usize {
    100
}
fn default_sink_timeout() -> Duration {
    Duration::from_secs(30)
}

impl SinkSection {
    /// The filter, as `tail`'s.
    ///
    /// # Errors
    /// A bad type pattern or status, named.
    pub fn filter(&self) -> Result<driftlog_model::Filter> {
        crate::protocol::FilterSpec {
            types: self.types.clone(),
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            statuses: self.statuses.clone(),
            ids: Vec::new(),
        }
        .to_filter()
    }

    fn check(&self) -> Result<()> {
        let n = &self.name;
        let at = format!("sinks {n:?}");
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("sinks: name {n:?} rejected: use letters, digits, '-' and '_'");
        }
        match self.kind {
            SinkKind::Webhook => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    bail!(
                        "{at}: url = {:?} rejected: a webhook needs an http:// or https:// URL",
                        self.url
                    );
                }
            }
            SinkKind::Nats => {
                if !self.url.starts_with("nats://") && !self.url.starts_with("tls://") {
                    bail!(
                        "{at}: url = {:?} rejected: a NATS sink needs a nats://host:4222 URL",
                        self.url
                    );
                }
            }
            SinkKind::Sns => {
                if !(self.topic_arn.starts_with("arn:") && self.topic_arn.contains(":sns:")) {
                    bail!("{at}: topic_arn = {:?} rejected: use arn:aws:sns:<region>:<account>:<topic>", self.topic_arn);
                }
            }
        }
        if self.start != "now" && self.start != "beginning" {
            bail!(
                "{at}: start = {:?} rejected: use \"now\" or \"beginning\"",
                self.start
            );
        }
        if self.batch == 0 || self.batch > 10_000 {
            bail!("{at}: batch = {} rejected: use 1 .. 10000", self.batch);
        }
        if self.timeout.is_zero() {
            bail!("{at}: timeout must be greater than 0");
        }
        self.filter()
            .with_context(|| format!("{at}: filter rejected"))?;
        Ok(())
    }
}

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

/// `[source.aws.endpoints]`; "" = AWS's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointsSection {
    /// Every service.
    pub all: String,
    /// EC2.
    pub ec2: String,
    /// IAM.
    pub iam: String,
    /// S3.
    pub s3: String,
    /// STS.
    pub sts: String,
}

/// `[source.aws.rate_limits]`, requests per second.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsSection {
    /// EC2, per account and region.
    pub ec2: f64,
    /// IAM, per account.
    pub iam: f64,
    /// S3, per account and region.
    pub s3: f64,
}

impl Default for RateLimitsSection {
    fn default() -> Self {
        let d = driftlog_aws::RateLimits::default();
        Self {
            ec2: d.ec2,
            iam: d.iam,
            s3: d.s3,
        }
    }
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
                all: opt(&self.endpoints.all),
                ec2: opt(&self.endpoints.ec2),
                iam: opt(&self.endpoints.iam),
                s3: opt(&self.endpoints.s3),
                sts: opt(&self.endpoints.sts),
            },
            max_attempts: self.max_attempts,
            call_timeout: self.call_timeout,
            rate_limits: driftlog_aws::RateLimits {
                ec2: self.rate_limits.ec2,
                iam: self.rate_limits.iam,
                s3: self.rate_limits.s3,
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
    /// Regions.
    pub regions: Vec<String>,
    /// Approximate resource count.
    pub resources: usize,
    /// Churn per tick.
    pub churn: f64,
    /// Tick interval.
    #[serde(deserialize_with = "duration")]
    pub tick_interval: Duration,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts: 2,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            resources: 2000,
            churn: 0.01,
            tick_interval: Duration::from_secs(30),
        }
    }
}

/// `[recorder]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderSection {
    /// Start recording at once.
    pub start: bool,
    /// Poll interval.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Jitter fraction.
    pub jitter: f64,
    /// Poll timeout.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Concurrent polls.
    pub concurrency: usize,
    /// First backoff.
    #[serde(deserialize_with = "duration")]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// Related re-checks.
    pub recheck_related: bool,
    /// AWS Config's recordingFrequency: `CONTINUOUS` or `DAILY`.
    pub recording_frequency: String,
    /// AWS Config's recordingModeOverrides.
    pub recording_mode_overrides: Vec<ModeOverride>,
}

/// `[[recorder.recording_mode_overrides]]`: types recorded at another frequency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeOverride {
    /// Types (or globs).
    pub resource_types: Vec<String>,
    /// `CONTINUOUS` or `DAILY`.
    pub recording_frequency: String,
    /// Free text, echoed by DescribeConfigurationRecorders.
    #[serde(default)]
    pub description: String,
}

impl Default for RecorderSection {
    fn default() -> Self {
        let s = SchedulerConfig::default();
        Self {
            start: true,
            interval: s.interval,
            jitter: s.jitter,
            timeout: s.timeout,
            concurrency: s.concurrency,
            backoff_base: s.backoff_base,
            backoff_max: s.backoff_max,
            recheck_related: true,
            recording_frequency: "CONTINUOUS".into(),
            recording_mode_overrides: Vec::new(),
        }
    }
}

impl RecorderSection {
    /// The recording mode of this section (checked by [`Config::check`]).
    pub fn mode(&self) -> driftlog_recorder::RecordingMode {
        driftlog_recorder::RecordingMode {
            daily: self.recording_frequency == "DAILY",
            overrides: self
                .recording_mode_overrides
                .iter()
                .map(|o| {
                    (
                        o.resource_types
                            .iter()
                            .filter_map(|t| TypePattern::parse(t).ok())
                            .collect(),
                        o.recording_frequency == "DAILY",
                    )
                })
                .collect(),
        }
    }

    /// The recording mode as AWS Config's API shows it (`recordingMode`).
    pub fn mode_json(&self) -> serde_json::Value {
        let overrides: Vec<serde_json::Value> = self
            .recording_mode_overrides
            .iter()
            .map(|o| {
                let mut v = serde_json::json!({
                    "resourceTypes": o.resource_types,
                    "recordingFrequency": o.recording_frequency,
                });
                if !o.description.is_empty() {
                    v["description"] = serde_json::json!(o.description);
                }
                v
            })
            .collect();
        serde_json::json!({
            "recordingFrequency": self.recording_frequency,
            "recordingModeOverrides": overrides,
        })
    }

    /// The scheduler settings of this section.
    pub fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            interval: self.interval,
            jitter: self.jitter,
            timeout: self.timeout,
            concurrency: self.concurrency,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
        }
    }
}

/// `[recording_group]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupSection {
    /// Include globs.
    pub include: Vec<String>,
    /// Exclude globs.
    pub exclude: Vec<String>,
    /// Global types.
    pub include_global: bool,
}

impl Default for GroupSection {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            include_global: true,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// sled cache in MiB.
    pub cache_mb: u64,
    /// Disk reserve in MiB.
    pub reserve_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            cache_mb: 64,
            reserve_mb: 64,
        }
    }
}

/// The sink that carries the config stream to `delivery.sns_topic_arn`.
pub const CONFIG_STREAM_SINK: &str = driftlog_sinks::CONFIG_STREAM_SINK;

/// Parses `90s`, `5m`, `2h`, `1d`, `250ms`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{text:?} has no unit; write e.g. \"90s\", \"5m\", \"2h\""))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use ms, s, m, h or d"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a valid duration"))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads and checks a config file.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML, has an unknown key or a bad value: the message
    /// names the key, the line and the reason.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("config file {} rejected; nothing started", path.display()))
    }

    /// Parses config text.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let mut cfg: Config = toml::from_str(text).map_err(Error::invalid)?;
        cfg.normalize();
        cfg.check()?;
        Ok(cfg)
    }

    /// One spelling per meaning: a value that turns something off may be written `"off"`,
    /// `"none"` or `""` in the file as on the command line (`serve --listen off`).
    pub fn normalize(&mut self) {
        for v in [&mut self.api.listen, &mut self.delivery.sns_topic_arn] {
            if is_off(v) {
                v.clear();
            }
        }
        if is_off(&self.delivery.snapshot_frequency) {
            self.delivery.snapshot_frequency = "off".into();
        }
    }

    /// Checks values serde cannot (ranges, patterns); also run after command-line overrides.
    ///
    /// # Errors
    /// The first bad value, named.
    pub fn check(&self) -> Result<()> {
        let s = &self.source.sim;
        if !(0.0..=1.0).contains(&s.churn) {
            bail!(
                "source.sim.churn = {} rejected: must be between 0.0 and 1.0",
                s.churn
            );
        }
        if s.accounts == 0 || s.regions.is_empty() {
            bail!("source.sim: accounts and regions must not be empty");
        }
        if !(0.0..=1.0).contains(&self.recorder.jitter) {
            bail!(
                "recorder.jitter = {} rejected: must be between 0.0 and 1.0",
                self.recorder.jitter
            );
        }
        if self.recorder.concurrency == 0 {
            bail!("recorder.concurrency = 0 rejected: at least 1 poll must run");
        }
        if self.recorder.interval.is_zero() || self.recorder.timeout.is_zero() {
            bail!("recorder.interval and recorder.timeout must be greater than 0");
        }
        let a = &self.source.aws;
        if a.max_attempts == 0 || a.max_attempts > 20 {
            bail!(
                "source.aws.max_attempts = {} rejected: use 1 .. 20",
                a.max_attempts
            );
        }
        if a.call_timeout.is_zero() {
            bail!("source.aws.call_timeout must be greater than 0");
        }
        for (k, v) in [
            ("ec2", a.rate_limits.ec2),
            ("iam", a.rate_limits.iam),
            ("s3", a.rate_limits.s3),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("source.aws.rate_limits.{k} = {v} rejected: use 0 (no limit) or a positive rate");
            }
        }
        for (k, v) in [
            ("all", &a.endpoints.all),
            ("ec2", &a.endpoints.ec2),
            ("iam", &a.endpoints.iam),
            ("s3", &a.endpoints.s3),
            ("sts", &a.endpoints.sts),
        ] {
            let v = v.trim();
            if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
                bail!("source.aws.endpoints.{k} = {v:?} rejected: an endpoint is a URL, e.g. \"http://127.0.0.1:5000\"");
            }
        }
        for r in &a.regions {
            if r != "all"
                && (r.is_empty()
                    || !r
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
            {
                bail!("source.aws.regions: {r:?} rejected: a region looks like \"eu-west-1\", or use [\"all\"]");
            }
        }
        if s.tick_interval.is_zero() {
            bail!("source.sim.tick_interval must be greater than 0");
        }
        if self.store.cache_mb == 0 || self.store.cache_mb > 1 << 20 {
            bail!(
                "store.cache_mb = {} rejected: use 1 .. 1048576 (MiB)",
                self.store.cache_mb
            );
        }
        let freq = |k: &str, v: &str| -> Result<()> {
            if matches!(v, "CONTINUOUS" | "DAILY") {
                Ok(())
            } else {
                bail!("{k} = {v:?} rejected: use \"CONTINUOUS\" or \"DAILY\"")
            }
        };
        freq(
            "recorder.recording_frequency",
            &self.recorder.recording_frequency,
        )?;
        for (i, o) in self.recorder.recording_mode_overrides.iter().enumerate() {
            let at = format!("recorder.recording_mode_overrides[{i}]");
            freq(&format!("{at}.recording_frequency"), &o.recording_frequency)?;
            if o.resource_types.is_empty() {
                bail!("{at}.resource_types is empty: name the types it applies to");
            }
            for t in &o.resource_types {
                TypePattern::parse(t)
                    .with_context(|| format!("{at}.resource_types: {t:?} rejected"))?;
                if o.recording_frequency == "DAILY"
                    && driftlog_recorder::ALWAYS_CONTINUOUS.contains(&t.as_str())
                {
                    bail!(
                        "{at}: {t} cannot be recorded DAILY (AWS Config records it continuously)"
                    );
                }
            }
        }
        let d = &self.delivery;
        if d.snapshot_frequency != "off" {
            driftlog_sinks::SnapshotFrequency::parse(&d.snapshot_frequency).map_err(|e| {
                Error::invalid(format!(
                    "delivery.snapshot_frequency: {e}, or {OFF_FORMS} for on demand only"
                ))
            })?;
        }
        if d.history_period < Duration::from_secs(1) {
            bail!("delivery.history_period must be at least 1s (AWS Config: 6h)");
        }
        if d.max_items_per_file == 0 {
            bail!("delivery.max_items_per_file must be at least 1");
        }
        let e = d.endpoint_url.trim();
        if !(e.is_empty() || e.starts_with("http://") || e.starts_with("https://")) {
            bail!("delivery.endpoint_url = {e:?} rejected: an endpoint is a URL, e.g. \"http://127.0.0.1:5000\"");
        }
        let t = d.sns_topic_arn.trim();
        if !(t.is_empty() || (t.starts_with("arn:") && t.contains(":sns:"))) {
            bail!("delivery.sns_topic_arn = {t:?} rejected: use arn:aws:sns:<region>:<account>:<topic>, or {OFF_FORMS} for no config stream");
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.sinks {
            s.check()?;
            if !names.insert(s.name.as_str()) || s.name == CONFIG_STREAM_SINK {
                bail!(
                    "sinks: name {:?} used twice (or reserved for delivery.sns_topic_arn)",
                    s.name
                );
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for e in &self.evaluators {
            e.check()?;
            if !names.insert(e.name.as_str()) {
                bail!("evaluators: name {:?} used twice", e.name);
            }
        }
        if self.rules.periodic_check.is_zero() {
            bail!("rules.periodic_check must be greater than 0");
        }
        if self.rules.concurrency == 0 || self.rules.concurrency > 256 {
            bail!(
                "rules.concurrency = {} rejected: use 1 .. 256",
                self.rules.concurrency
            );
        }
        for (k, list) in [
            ("recording_group.include", &self.recording_group.include),
            ("recording_group.exclude", &self.recording_group.exclude),
        ] {
            for p in list {
                TypePattern::parse(p).with_context(|| format!("{k} = {p:?} rejected"))?;
            }
        }
        self.api.address()?;
        if !matches!(self.api.auth.as_str(), "off" | "sigv4") {
            bail!(
                "api.auth = {:?} rejected: use \"off\" or \"sigv4\"",
                self.api.auth
            );
        }
        Ok(())
    }

    /// The recording group as the recorder takes it.
    pub fn group(&self) -> driftlog_poll::RecordingGroup {
        let pats = |v: &[String]| {
            v.iter()
                .filter_map(|p| TypePattern::parse(p).ok())
                .collect()
        };
        driftlog_poll::RecordingGroup {
            include: pats(&self.recording_group.include),
            exclude: pats(&self.recording_group.exclude),
            include_global: self.recording_group.include_global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_to_default() {
        let c = Config::parse(DEFAULT_TOML).unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
        assert_eq!(
            format!("{:?}", Config::parse("").unwrap()),
            format!("{:?}", Config::default())
        );
        assert_eq!(c.recorder.interval, Duration::from_secs(60));
        assert_eq!(c.source.sim.resources, 2000);
        assert_eq!(c.store.cache_mb, 64);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Config::parse("data_dir = \"x\"\n[recorder]\nintervall = \"5s\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("intervall"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn bad_value_names_key_and_reason() {
        let e = Config::parse("[recorder]\ninterval = \"5 parsecs\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("line 2") && msg.contains("unit"), "{msg}");
        let e = Config::parse("[source.sim]\nchurn = 7.0\n").unwrap_err();
        assert!(format!("{e:#}").contains("churn"));
    }

    #[test]
    fn sinks_are_checked_with_their_name() {
        let ok = "[[sinks]]\nname = \"sec\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\ntypes = [\"AWS::EC2::*\"]\n";
        let c = Config::parse(ok).unwrap();
        assert_eq!(c.sinks.len(), 1);
        assert_eq!(c.sinks[0].stream, "DRIFTLOG");
        let e = Config::parse(&ok.replace("webhook", "smtp")).unwrap_err();
        assert!(format!("{e:#}").contains("line 3"), "{e:#}");
        let e = Config::parse(&ok.replace("http://127.0.0.1:9/h", "ftp://x")).unwrap_err();
        assert!(format!("{e:#}").contains("sinks \"sec\": url"), "{e:#}");
        let e = Config::parse(&format!("{ok}{ok}")).unwrap_err();
        assert!(format!("{e:#}").contains("used twice"), "{e:#}");
        let e = Config::parse("[delivery]\nsnapshot_frequency = \"Daily\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("TwentyFour_Hours"), "{e:#}");
    }

    /// Issue 13.6: `off` turns things off in the file as on the command line.
    #[test]
    fn off_is_spelled_the_same_in_the_file_and_on_the_command_line() {
        for off in ["off", "none", "", "OFF"] {
            let c = Config::parse(&format!("[api]\nlisten = \"{off}\"\n")).unwrap();
            assert_eq!(c.api.address().unwrap(), None, "listen = {off:?}");
            let c = Config::parse(&format!(
                "[delivery]\nsns_topic_arn = \"{off}\"\nsnapshot_frequency = \"{off}\"\n"
            ))
            .unwrap();
            let ch = c.delivery.channel(Path::new("d"));
            assert_eq!(ch.sns_topic_arn, None);
            assert_eq!(ch.snapshot_frequency, None);
        }
        let e = Config::parse("[api]\nlisten = \"of\"\n")
            .and_then(|c| c.api.address().map(|_| c))
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("IP:PORT") && msg.contains("\"off\""), "{msg}");
        let e = Config::parse("[delivery]\nsns_topic_arn = \"nope\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("\"off\""), "{e:#}");
    }

    /// Issue 13.7: `[recorder]` takes AWS Config's recordingMode.
    #[test]
    fn recording_mode_in_the_file() {
        let c = Config::parse(
            "[recorder]\nrecording_frequency = \"DAILY\"\n[[recorder.recording_mode_overrides]]\nresource_types = [\"AWS::EC2::SecurityGroup\"]\nrecording_frequency = \"CONTINUOUS\"\n",
        )
        .unwrap();
        let m = c.recorder.mode();
        assert!(m.is_daily("AWS::EC2::Instance"));
        assert!(!m.is_daily("AWS::EC2::SecurityGroup"));
        assert!(!m.is_daily("AWS::Config::ResourceCompliance"));
        assert_eq!(c.recorder.mode_json()["recordingFrequency"], "DAILY");
        let e = Config::parse("[recorder]\nrecording_frequency = \"HOURLY\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("CONTINUOUS"), "{e:#}");
        let e = Config::parse("[[recorder.recording_mode_overrides]]\nresource_types = [\"AWS::Config::ResourceCompliance\"]\nrecording_frequency = \"DAILY\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("continuously"), "{e:#}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("100000000000000000000000s").is_err());
    }
}
