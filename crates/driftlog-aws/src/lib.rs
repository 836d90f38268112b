#![recursion_limit = "512"]
//! The AWS source: records real AWS accounts through the official AWS SDK for Rust.
//!
//! * [`AwsSource::connect`] resolves the credentials (the SDK's standard chain, or a named
//!   profile), the accounts (the credentials' own, and others reached by assume-role), the
//!   regions (a list, or every enabled one) and the endpoint overrides, then builds one set
//!   of clients per account and region.
//! * Each [`Scope`] (account, region, type) is polled with paginators, every request passing
//!   a per-service rate limit; the SDK retries throttling and transient errors with
//!   exponential backoff. A scope whose listing fails or is cut short is reported with the
//!   AWS error code and never yields a [`CompleteSnapshot`], so no deletion can follow.
//! * Resources are shaped as AWS Config records them (`configuration`,
//!   `supplementaryConfiguration`, relationships, ARN, tags): `ec2`, `iam`, `s3`.
//! * IAM types are global: one scope per account with region `global`.
//! * [`SqsEventFeed`] reads CloudTrail events from SQS queues (EventBridge envelopes, and S3
//!   notifications of the trail's log files, fetched from S3), for the recorder's targeted
//!   re-describes; [`EventSettings`] names the queues.

mod cloudcontrol;
mod cloudtrail;
mod cloudwatch;
mod dynamodb;
mod ec2;
mod ec2_network;
mod ecr;
mod eks;
mod elbv2;
mod error;
mod events;
mod gate;
mod iam;
mod kms;
mod lambda;
mod rds;
mod reads;
mod s3;
mod secretsmanager;
mod settings;
mod shape;
mod sns;
mod sqs;

pub use error::AwsError;
pub use events::SqsEventFeed;
pub use settings::{AssumeRole, AwsSettings, Endpoints, EventSettings, RateLimits, Service};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use driftlog_model::{CompleteSnapshot, PartialSnapshot, ResourceKey, Scope};
use driftlog_poll::{BoxFuture, Described, PollError, PollOutcome, Source};
use gate::Gate;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every resource type the AWS source records, under AWS Config's names.
pub fn supported_types() -> Vec<&'static str> {
    let mut t: Vec<&'static str> = regional_types().collect();
    t.extend_from_slice(iam::TYPES);
    t
}

/// The types recorded per account and region, each by the module of its service.
fn regional_types() -> impl Iterator<Item = &'static str> {
    ec2::TYPES
        .iter()
        .copied()
        .chain([s3::BUCKET])
        .chain(data_types())
        .chain(edge_types())
}

/// The data services' types (Lambda, RDS, KMS, CloudTrail, DynamoDB).
fn data_types() -> impl Iterator<Item = &'static str> {
    [
        lambda::TYPES,
        rds::TYPES,
        kms::TYPES,
        cloudtrail::TYPES,
        dynamodb::TYPES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// The second wave's edge services (load balancing, messaging, containers, secrets,
/// alarms, the EC2 network types).
fn edge_types() -> impl Iterator<Item = &'static str> {
    [
        elbv2::TYPES,
        sns::TYPES,
        sqs::TYPES,
        ecr::TYPES,
        eks::TYPES,
        secretsmanager::TYPES,
        cloudwatch::TYPES,
        ec2_network::TYPES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// Every IAM action the source needs: the read-only policy README gives, kept here so that
/// it cannot drift from the code (a test checks both). `sts:AssumeRole` only matters with
/// `assume_roles`; `sts:GetCallerIdentity` needs no permission.
pub const REQUIRED_ACTIONS: &[&str] = &[
    "cloudformation:GetResource",
    "cloudformation:ListResources",
    "cloudtrail:DescribeTrails",
    "cloudtrail:ListTags",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeTable",
    "dynamodb:ListTables",
    "dynamodb:ListTagsOfResource",
    "ec2:DescribeAddresses",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRegions",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "eks:DescribeCluster",
    "eks:ListClusters",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListPolicies",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListKeys",
    "kms:ListResourceTags",
    "lambda:GetFunctionConcurrency",
    "lambda:GetPolicy",
    "lambda:ListFunctions",
    "lambda:ListTags",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBSnapshotAttributes",
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBSubnetGroups",
    "rds:ListTagsForResource",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:ListAllMyBuckets",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecrets",
    "sns:GetTopicAttributes",
    "sns:ListTagsForResource",
    "sns:ListTopics",
    "sqs:GetQueueAttributes",
    "sqs:ListQueueTags",
    "sqs:ListQueues",
    "sts:AssumeRole",
];

/// What the event feed ([`SqsEventFeed`]) needs in addition to [`REQUIRED_ACTIONS`]: read and
/// delete messages on its queues (`DeleteMessageBatch` is authorized as `sqs:DeleteMessage`),
/// their backlog, and the trail bucket's log files. Kept apart because the feed is optional
/// and its statement is best scoped to the queue and bucket ARNs rather than `*`, so it also
/// lists `sqs:GetQueueAttributes`. A queue or trail encrypted with a customer managed KMS key
/// also needs `kms:Decrypt` on that key.
pub const EVENT_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];

/// Builds one service's client from the shared config, with its endpoint override.
macro_rules! client {
    ($krate:ident, $conf:expr, $settings:expr, $service:expr) => {{
        let mut b = $krate::config::Builder::from($conf);
        if let Some(url) = $settings.endpoints.for_service($service) {
            b = b.endpoint_url(url);
        }
        $krate::Client::from_conf(b.build())
    }};
}

/// Clients of one account in one region, with their gates.
#[derive(Debug)]
pub(crate) struct RegionClients {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) lambda: aws_sdk_lambda::Client,
    pub(crate) rds: aws_sdk_rds::Client,
    pub(crate) kms: aws_sdk_kms::Client,
    pub(crate) cloudtrail: aws_sdk_cloudtrail::Client,
    pub(crate) elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) sns: aws_sdk_sns::Client,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) eks: aws_sdk_eks::Client,
    pub(crate) secretsmanager: aws_sdk_secretsmanager::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    pub(crate) cloudcontrol: aws_sdk_cloudcontrol::Client,
    /// One rate-limited door per regional service.
    gates: BTreeMap<Service, Gate>,
    /// Bucket (name, creation time) → region, shared by the account's regions: every S3
    /// scope lists all buckets, and a bucket's region never changes.
    pub(crate) bucket_regions: s3::RegionCache,
}

impl RegionClients {
    fn new(
        account: &str,
        region: &str,
        conf: &SdkConfig,
        settings: &AwsSettings,
        calls: &Calls,
        bucket_regions: s3::RegionCache,
    ) -> Self {
        let gates = Service::ALL
            .iter()
            .filter(|s| !matches!(s, Service::Iam | Service::Sts))
            .map(|&s| (s, Gate::new(settings.rate_limits.of(s), calls.of(s))))
            .collect();
        Self {
            account: account.to_string(),
            region: region.to_string(),
            ec2: ec2_client(conf, settings),
            s3: s3_client(conf, settings),
            lambda: client!(aws_sdk_lambda, conf, settings, Service::Lambda),
            rds: client!(aws_sdk_rds, conf, settings, Service::Rds),
            kms: client!(aws_sdk_kms, conf, settings, Service::Kms),
            cloudtrail: client!(aws_sdk_cloudtrail, conf, settings, Service::CloudTrail),
            elbv2: client!(
                aws_sdk_elasticloadbalancingv2,
                conf,
                settings,
                Service::Elbv2
            ),
            dynamodb: client!(aws_sdk_dynamodb, conf, settings, Service::DynamoDb),
            sns: client!(aws_sdk_sns, conf, settings, Service::Sns),
            sqs: client!(aws_sdk_sqs, conf, settings, Service::Sqs),
            ecr: client!(aws_sdk_ecr, conf, settings, Service::Ecr),
            eks: client!(aws_sdk_eks, conf, settings, Service::Eks),
            secretsmanager: client!(
                aws_sdk_secretsmanager,
                conf,
                settings,
                Service::SecretsManager
            ),
            cloudwatch: client!(aws_sdk_cloudwatch, conf, settings, Service::CloudWatch),
            cloudcontrol: client!(aws_sdk_cloudcontrol, conf, settings, Service::CloudControl),
            gates,
            bucket_regions,
        }
    }

    /// The gate of a regional service (every request of it in this account and region).
    pub(crate) fn gate(&self, service: Service) -> &Gate {
        // Every regional service has a gate (built in `new`); IAM and STS are not regional.
        static UNLIMITED: std::sync::OnceLock<Gate> = std::sync::OnceLock::new();
        self.gates
            .get(&service)
            .unwrap_or_else(|| UNLIMITED.get_or_init(|| Gate::new(0.0, Arc::default())))
    }
}

/// Clients of one account.
#[derive(Debug)]
pub(crate) struct AccountClients {
    pub(crate) account: String,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) iam_gate: Gate,
    pub(crate) iam_shared: iam::Shared,
    pub(crate) regions: BTreeMap<String, RegionClients>,
}

/// Requests made so far, per service.
#[derive(Debug)]
struct Calls(BTreeMap<Service, Arc<AtomicU64>>);

impl Default for Calls {
    fn default() -> Self {
        Self(Service::ALL.iter().map(|&s| (s, Arc::default())).collect())
    }
}

impl Calls {
    fn of(&self, service: Service) -> Arc<AtomicU64> {
        self.0.get(&service).cloned().unwrap_or_default()
    }

    fn count(&self, service: Service) {
        if let Some(c) = self.0.get(&service) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A [`Source`] over real AWS accounts (or an AWS-compatible server).
#[derive(Debug)]
pub struct AwsSource {
    accounts: BTreeMap<String, AccountClients>,
    /// Types recorded through Cloud Control (none recorded by a hand-shaped poller).
    cloudcontrol_types: Vec<String>,
    scopes: Vec<Scope>,
    calls: Calls,
}

impl AwsSource {
    /// Resolves credentials, accounts and regions and builds the clients. Fails (with what
    /// to do) when no region is configured, the credentials cannot be resolved, or an
    /// account or region list cannot be read: recording half an estate silently would hide
    /// the problem.
    pub async fn connect(settings: &AwsSettings) -> Result<Self, AwsError> {
        let calls = Calls::default();
        if let Some(bad) = settings
            .cloudcontrol_types
            .iter()
            .find(|t| *t != "all" && !cloudcontrol::is_type_name(t))
        {
            return Err(AwsError::Settings(format!(
                "cloudcontrol_types: `{bad}` is not a CloudFormation type name (AWS::Service::Type), nor \"all\""
            )));
        }
        let cloudcontrol_types =
            cloudcontrol::resolve_types(&settings.cloudcontrol_types, &supported_types());
        let (base, resolved) = load_base(settings).await;
        let home_region = match (resolved, settings.regions.first()) {
            (Some(r), _) => r,
            (None, Some(r)) if r != "all" => r.clone(),
            _ => "us-east-1".to_string(),
        };
        if settings.regions.is_empty() && base.region().is_none() {
            return Err(AwsError::Settings(
                "no AWS region: set `regions = [\"eu-west-1\", ...]` (or [\"all\"]) in [source.aws], \
                 or AWS_REGION / the profile's region"
                    .into(),
            ));
        }
        let base = base
            .to_builder()
            .region(Region::new(home_region.clone()))
            .build();

        // (account id, its SDK config)
        let mut plans: Vec<(String, SdkConfig)> = Vec::new();
        if let (true, Some(id)) = (settings.record_own_account, &settings.account_id) {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AwsError::Settings(format!(
                    "account_id = {id:?} is not a 12-digit AWS account id"
                )));
            }
            plans.push((id.clone(), base.clone()));
        } else if settings.record_own_account {
            let sts = sts_client(&base, settings);
            calls.count(Service::Sts);
            let me = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| AwsError::Startup {
                    call: "sts:GetCallerIdentity",
                    error: error::from_sdk("sts:GetCallerIdentity", &e),
                })?;
            let account = me
                .account()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| AwsError::Startup {
                    call: "sts:GetCallerIdentity",
                    error: PollError::Source {
                        code: "MissingAccount".into(),
                        message: "the answer named no account; set account_id in [source.aws]"
                            .into(),
                    },
                })?
                .to_string();
            plans.push((account, base.clone()));
        }
        for role in &settings.assume_roles {
            let account = account_of_role(&role.role_arn).ok_or_else(|| {
                AwsError::Settings(format!(
                    "assume_roles: `{}` is not a role ARN (arn:aws:iam::<12-digit account>:role/<name>)",
                    role.role_arn
                ))
            })?;
            let mut sts_conf = base.to_builder();
            if let Some(url) = settings.endpoints.for_service(Service::Sts) {
                sts_conf = sts_conf.endpoint_url(url);
            }
            let sts_conf = sts_conf.build();
            let mut b = aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone())
                .session_name(role.session_name.clone())
                .configure(&sts_conf);
            if let Some(x) = &role.external_id {
                b = b.external_id(x.clone());
            }
            let provider = b.build().await;
            let conf = base
                .to_builder()
                .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                    provider,
                ))
                .build();
            plans.push((account, conf));
        }
        if plans.is_empty() {
            return Err(AwsError::Settings(
                "no account to record: set record_own_account = true or list assume_roles in [source.aws]".into(),
            ));
        }

        let mut accounts = BTreeMap::new();
        let mut scopes = Vec::new();
        for (account, conf) in plans {
            let regions = if settings.regions.iter().any(|r| r == "all") {
                let ec2 = ec2_client(&conf, settings);
                calls.count(Service::Ec2);
                let out = ec2
                    .describe_regions()
                    .send()
                    .await
                    .map_err(|e| AwsError::Startup {
                        call: "ec2:DescribeRegions",
                        error: error::from_sdk("ec2:DescribeRegions", &e),
                    })?;
                let mut r: Vec<String> = out
                    .regions()
                    .iter()
                    .filter_map(|r| r.region_name().map(str::to_string))
                    .collect();
                r.sort();
                r
            } else if settings.regions.is_empty() {
                vec![home_region.clone()]
            } else {
                settings.regions.clone()
            };
            let mut per_region = BTreeMap::new();
            let bucket_regions = s3::RegionCache::default();
            for region in regions {
                let rc = conf
                    .to_builder()
                    .region(Region::new(region.clone()))
                    .build();
                per_region.insert(
                    region.clone(),
                    RegionClients::new(
                        &account,
                        &region,
                        &rc,
                        settings,
                        &calls,
                        bucket_regions.clone(),
                    ),
                );
                for t in regional_types() {
                    scopes.push(Scope::new(&account, &region, t));
                }
                for t in cloudcontrol_types
                    .iter()
                    .filter(|t| !cloudcontrol::is_global(t))
                {
                    scopes.push(Scope::new(&account, &region, t));
                }
            }
            for t in iam::TYPES {
                scopes.push(Scope::new(&account, "global", *t));
            }
            for t in cloudcontrol_types
                .iter()
                .filter(|t| cloudcontrol::is_global(t))
            {
                scopes.push(Scope::new(&account, "global", t));
            }
            accounts.insert(
                account.clone(),
                AccountClients {
                    account: account.clone(),
                    iam: iam_client(&conf, settings),
                    iam_gate: Gate::new(
                        settings.rate_limits.of(Service::Iam),
                        calls.of(Service::Iam),
                    ),
                    iam_shared: iam::Shared::default(),
                    regions: per_region,
                },
            );
        }
        scopes.sort();
        scopes.dedup();
        Ok(Self {
            accounts,
            cloudcontrol_types,
            scopes,
            calls,
        })
    }

    /// The types recorded through Cloud Control (`cloudcontrol_types` resolved: `"all"`
    /// expanded, hand-shaped types dropped).
    pub fn cloudcontrol_types(&self) -> &[String] {
        &self.cloudcontrol_types
    }

    /// The accounts being recorded.
    pub fn accounts(&self) -> Vec<String> {
        self.accounts.keys().cloned().collect()
    }

    /// Requests made so far per service (`ec2`, `iam`, `s3`, `sts`, and every other service
    /// called at least once), retries not counted:
    /// the "API calls per poll" of the benchmark and the cost of a recording interval.
    pub fn api_calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls
            .0
            .iter()
            .map(|(s, n)| (s.name(), n.load(Ordering::Relaxed)))
            .filter(|(name, n)| *n > 0 || ["ec2", "iam", "s3", "sts"].contains(name))
            .collect()
    }

    /// [`Self::list_scope`], refusing resources without an id: a key `""` would merge
    /// different resources, and a listing missing one is not complete.
    async fn listing(&self, scope: &Scope, ids: Option<&[String]>) -> shape::Listing {
        let mut l = self.list_scope(scope, ids).await;
        let before = l.resources.len();
        l.resources.retain(|r| !r.key.resource_id.is_empty());
        if l.resources.len() != before {
            l.fail(PollError::Source {
                code: "MissingResourceId".into(),
                message: format!(
                    "{}: {} resource(s) came without an id and were not recorded",
                    scope.resource_type,
                    before - l.resources.len()
                ),
            });
        }
        l
    }

    async fn list_scope(&self, scope: &Scope, ids: Option<&[String]>) -> shape::Listing {
        let Some(acct) = self.accounts.get(&scope.account) else {
            return failed(format!("account {} is not configured", scope.account));
        };
        let t = scope.resource_type.as_str();
        if iam::TYPES.contains(&t) {
            return match acct.iam_shared.get(acct).await {
                Ok(d) => iam::shape(acct, &d, t, ids),
                Err(e) => {
                    let mut l = shape::Listing::default();
                    l.fail(e);
                    l
                }
            };
        }
        // A global Cloud Control type is read through any of the account's regions.
        let region_clients = if scope.region == "global" {
            acct.regions.values().next()
        } else {
            acct.regions.get(&scope.region)
        };
        let Some(rc) = region_clients else {
            return failed(format!(
                "region {} is not configured for account {}",
                scope.region, scope.account
            ));
        };
        match t {
            s3::BUCKET => s3::list(rc, ids).await,
            _ if ec2::TYPES.contains(&t) => ec2::list(rc, t, ids).await,
            _ if lambda::TYPES.contains(&t) => lambda::list(rc, ids).await,
            _ if rds::TYPES.contains(&t) => rds::list(rc, t, ids).await,
            _ if kms::TYPES.contains(&t) => kms::list(rc, ids).await,
            _ if cloudtrail::TYPES.contains(&t) => cloudtrail::list(rc, ids).await,
            _ if dynamodb::TYPES.contains(&t) => dynamodb::list(rc, ids).await,
            _ if ec2_network::TYPES.contains(&t) => ec2_network::list(rc, t, ids).await,
            _ if elbv2::TYPES.contains(&t) => elbv2::list(rc, t, ids).await,
            sns::TOPIC => sns::list(rc, ids).await,
            sqs::QUEUE => sqs::list(rc, ids).await,
            ecr::REPOSITORY => ecr::list(rc, ids).await,
            eks::CLUSTER => eks::list(rc, ids).await,
            secretsmanager::SECRET => secretsmanager::list(rc, ids).await,
            cloudwatch::ALARM => cloudwatch::list(rc, ids).await,
            _ if self.cloudcontrol_types.iter().any(|c| c == t) => {
                cloudcontrol::list(rc, &scope.region, t, ids).await
            }
            _ => failed(format!("the AWS source does not record {t}")),
        }
    }
}

/// The SDK configuration every client starts from, the source's and the event feed's:
/// the credential chain (or `profile`), retries and timeouts of `settings`, and the first
/// configured region, so that the two read AWS the same way. Also returns the region the
/// chain resolved, if any (`None` when neither the settings nor the environment name one).
async fn load_base(settings: &AwsSettings) -> (SdkConfig, Option<String>) {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(settings.call_timeout)
                .connect_timeout(settings.call_timeout.min(Duration::from_secs(10)))
                .build(),
        );
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    // Regions named in the settings: no need to look for one (which may ask the
    // instance metadata service and wait for its timeout off EC2).
    if let Some(r) = settings.regions.first().filter(|r| *r != "all") {
        loader = loader.region(Region::new(r.clone()));
    }
    let base = loader.load().await;
    let region = base.region().map(|r| r.to_string());
    (base, region)
}

fn failed(message: String) -> shape::Listing {
    let mut l = shape::Listing::default();
    l.fail(PollError::Source {
        code: "UnknownScope".into(),
        message,
    });
    l
}

fn account_of_role(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with("role/")
    {
        Some(parts[4].to_string())
    } else {
        None
    }
}

fn ec2_client(conf: &SdkConfig, s: &AwsSettings) -> aws_sdk_ec2::Client {
    let mut b = aws_sdk_ec2::config::Builder::from(conf);
    if let Some(url) = s.endpoints.for_service(Service::Ec2) {
        b = b.endpoint_url(url);
    }
    aws_sdk_ec2::Client::from_conf(b.build())
}

fn iam_client(conf: &SdkConfig, s: &AwsSettings) -> aws_sdk_iam::Client {
    let mut b = aws_sdk_iam::config::Builder::from(conf);
    if let Some(url) = s.endpoints.for_service(Service::Iam) {
        b = b.endpoint_url(url);
    }
    aws_sdk_iam::Client::from_conf(b.build())
}

pub(crate) fn s3_client(conf: &SdkConfig, s: &AwsSettings) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf);
    if let Some(url) = s.endpoints.for_service(Service::S3) {
        b = b.endpoint_url(url);
    }
    // Private and emulated endpoints (set here, or by AWS_ENDPOINT_URL[_S3] in the
    // environment) rarely resolve bucket subdomains.
    if s.endpoints.for_service(Service::S3).is_some()
        || conf.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn sts_client(conf: &SdkConfig, s: &AwsSettings) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::config::Builder::from(conf);
    if let Some(url) = s.endpoints.for_service(Service::Sts) {
        b = b.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

impl Source for AwsSource {
    fn name(&self) -> &str {
        "aws"
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes.clone()
    }

    fn poll<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let listing = self.listing(scope, None).await;
            match listing.error {
                None => {
                    let (snap, rejected) = CompleteSnapshot::new(scope.clone(), listing.resources);
                    if !rejected.is_empty() {
                        tracing::warn!(scope = ?scope, rejected = rejected.len(), "resources outside the scope or listed twice were not kept");
                    }
                    PollOutcome::Complete(snap)
                }
                Some(e) if listing.resources.is_empty() => PollOutcome::Failed(e),
                Some(e) => PollOutcome::Partial(
                    PartialSnapshot {
                        resources: listing.resources,
                    },
                    e,
                ),
            }
        })
    }

    fn describe<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<PartialSnapshot, PollError>> {
        Box::pin(async move {
            let mut groups: BTreeMap<Scope, Vec<String>> = BTreeMap::new();
            for k in keys {
                groups
                    .entry(Scope::new(&k.account, &k.region, &k.resource_type))
                    .or_default()
                    .push(k.resource_id.clone());
            }
            let mut out = PartialSnapshot::default();
            let mut first_error = None;
            for (scope, ids) in groups {
                let l = self.listing(&scope, Some(&ids)).await;
                out.resources.extend(l.resources);
                if let Some(e) = l.error {
                    tracing::warn!(scope = ?scope, error = %e, "describe failed");
                    first_error.get_or_insert(e);
                }
            }
            match first_error {
                Some(e) if out.resources.is_empty() => Err(e),
                _ => Ok(out),
            }
        })
    }

    /// Per scope group: a listing that ended without error vouches for the absence of
    /// every id it was asked for (EC2 and the others filter by id, so a gone id is simply
    /// not listed); a group with any error vouches for none of its keys.
    fn describe_exact<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<Described, PollError>> {
        Box::pin(async move {
            let mut groups: BTreeMap<Scope, Vec<String>> = BTreeMap::new();
            for k in keys {
                groups
                    .entry(Scope::new(&k.account, &k.region, &k.resource_type))
                    .or_default()
                    .push(k.resource_id.clone());
            }
            let mut out = Described::default();
            let mut first_error = None;
            let mut all_failed = true;
            for (scope, ids) in groups {
                let l = self.listing(&scope, Some(&ids)).await;
                out.snapshot.resources.extend(l.resources);
                if let Some(e) = l.error {
                    tracing::warn!(scope = ?scope, error = %e, "describe failed");
                    first_error.get_or_insert(e);
                    out.unsure.extend(ids.iter().map(|id| {
                        ResourceKey::new(
                            &scope.account,
                            &scope.region,
                            &scope.resource_type,
                            id.clone(),
                        )
                    }));
                } else {
                    all_failed = false;
                }
            }
            match first_error {
                Some(e) if all_failed && out.snapshot.resources.is_empty() => Err(e),
                _ => Ok(out),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account() {
        assert_eq!(
            account_of_role("arn:aws:iam::222233334444:role/driftlog-read").as_deref(),
            Some("222233334444")
        );
        assert_eq!(account_of_role("arn:aws:iam::2222:role/x"), None);
        assert_eq!(account_of_role("arn:aws:s3:::bucket"), None);
    }

    /// README's least-privilege policy lists exactly the calls the source makes.
    #[test]
    fn readme_policy_is_the_required_actions() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("\"DriftlogRecorderReadOnly\"")
            .expect("README has the policy");
        let block = &readme[start..];
        let block = &block[block.find('[').expect("Action list")..];
        let block = &block[..=block.find(']').expect("end of list")];
        let listed: Vec<String> = serde_json::from_str(block).expect("JSON list");
        assert_eq!(listed, REQUIRED_ACTIONS);
    }

    #[test]
    fn action_lists_are_sorted_and_distinct() {
        for list in [REQUIRED_ACTIONS, EVENT_ACTIONS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    #[test]
    fn every_type_has_a_type_spec() {
        for t in supported_types() {
            assert_eq!(driftlog_model::spec_for(t).resource_type, t, "{t}");
        }
        assert_eq!(supported_types().len(), 34);
    }
}
