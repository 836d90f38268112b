use std::collections::BTreeMap;
use std::time::Duration;

/// How to reach AWS: which credentials, accounts, regions and endpoints, and how hard to
/// push the APIs. The binary fills it from the `[source.aws]` section of its TOML file.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// Named profile of the shared config files; `None` uses the standard chain
    /// (environment, `AWS_PROFILE`/default profile, SSO, web identity, instance metadata).
    pub profile: Option<String>,
    /// Regions to record. Empty: the region of the credential chain's configuration.
    /// `["all"]`: every region enabled for the account (DescribeRegions).
    pub regions: Vec<String>,
    /// Record the account the credentials belong to.
    pub record_own_account: bool,
    /// That account's id, when known: saves the STS call at start (and lets `serve` start
    /// while STS is unreachable). `None`: asked from STS GetCallerIdentity.
    pub account_id: Option<String>,
    /// Further accounts, each reached by assuming a role in it.
    pub assume_roles: Vec<AssumeRole>,
    /// Endpoint overrides (moto, LocalStack, VPC endpoints).
    pub endpoints: Endpoints,
    /// Attempts per API call, including the first, for the SDK's standard retry with
    /// exponential backoff (throttling and transient errors are retried).
    pub max_attempts: u32,
    /// Timeout of one API call attempt.
    pub call_timeout: Duration,
    /// Request-rate limits per service, per account and region, so that a large account is
    /// not throttled. 0 = no limit.
    pub rate_limits: RateLimits,
    /// CloudFormation types recorded through the generic Cloud Control source
    /// (`AWS::APS::Workspace`, …), or `"all"`: every type AWS Config records with a
    /// CloudFormation-shaped configuration. Types the hand-shaped pollers record are
    /// always recorded by those.
    pub cloudcontrol_types: Vec<String>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            profile: None,
            regions: Vec::new(),
            record_own_account: true,
            account_id: None,
            assume_roles: Vec::new(),
            endpoints: Endpoints::default(),
            max_attempts: 5,
            call_timeout: Duration::from_secs(30),
            rate_limits: RateLimits::default(),
            cloudcontrol_types: Vec::new(),
        }
    }
}

/// Where the AWS event feed ([`crate::SqsEventFeed`]) reads CloudTrail events, so that a
/// change is recorded seconds after it is made rather than at the next poll. The feed uses
/// the credentials, endpoints, retries and timeouts of [`AwsSettings`].
///
/// AWS delivers CloudTrail events two ways, and the feed reads both from SQS: an EventBridge
/// rule matching "AWS API Call via CloudTrail" with an SQS target (one event per message,
/// within seconds), and S3 notifications of the log files a trail writes (one message per
/// file, every ~5 minutes, but every event of every region, read-only ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// Queues to read, by URL (`https://sqs.eu-west-1.amazonaws.com/111122223333/driftlog`).
    /// A queue's region is read from its URL (else the first of [`AwsSettings::regions`]).
    /// Any queue may carry any kind of message; these are usually EventBridge targets.
    pub queue_urls: Vec<String>,
    /// The queue receiving the trail bucket's S3 notifications of new log files, when the
    /// trail's files are read: each announced file is fetched with `s3:GetObject`.
    pub cloudtrail_bucket_queue: Option<String>,
    /// Long-poll time of one `ReceiveMessage`, in seconds: 0 to 20 (SQS's maximum, and the
    /// default, which costs the fewest requests while a queue is quiet).
    pub wait_seconds: u32,
    /// Messages per `ReceiveMessage`: 1 to 10 (SQS's maximum, the default).
    pub max_messages: u32,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            queue_urls: Vec::new(),
            cloudtrail_bucket_queue: None,
            wait_seconds: 20,
            max_messages: 10,
        }
    }
}

/// One account reached by assume-role (the usual cross-account read-only role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    /// `arn:aws:iam::<account>:role/<name>`; the account id is taken from it.
    pub role_arn: String,
    /// External id, when the role's trust policy requires one.
    pub external_id: Option<String>,
    /// Session name shown in the target account's CloudTrail.
    pub session_name: String,
}

/// Endpoint URLs; `None` uses AWS's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// For every service, unless a service-specific one is set.
    pub all: Option<String>,
    /// Per service (S3's path-style addressing is used whenever its endpoint is overridden).
    pub services: BTreeMap<Service, String>,
}

impl Endpoints {
    /// One endpoint for every service (moto, LocalStack).
    pub fn everywhere(url: impl Into<String>) -> Self {
        Self {
            all: Some(url.into()),
            services: BTreeMap::new(),
        }
    }

    /// The endpoint for `service`: its own override, else the common one.
    pub fn for_service(&self, service: Service) -> Option<&str> {
        self.services
            .get(&service)
            .map(String::as_str)
            .or(self.all.as_deref())
    }
}

/// Requests per second per service; 0 = unlimited. A service without an entry gets its
/// [`Service::default_rate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimits {
    /// Per service: per account and region, or per account for IAM (its limits are
    /// account-wide).
    pub services: BTreeMap<Service, f64>,
}

impl RateLimits {
    /// The limit of `service`.
    pub fn of(&self, service: Service) -> f64 {
        self.services
            .get(&service)
            .copied()
            .unwrap_or_else(|| service.default_rate())
    }
}

/// The AWS services the source calls, named as in `[source.aws.endpoints]` and
/// `[source.aws.rate_limits]` (the SDK's service names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Amazon EC2.
    Ec2,
    /// AWS IAM.
    Iam,
    /// Amazon S3.
    S3,
    /// AWS STS.
    Sts,
    /// AWS Lambda.
    Lambda,
    /// Amazon RDS.
    Rds,
    /// AWS KMS.
    Kms,
    /// AWS CloudTrail.
    CloudTrail,
    /// Elastic Load Balancing v2 (application and network load balancers).
    Elbv2,
    /// Amazon DynamoDB.
    DynamoDb,
    /// Amazon SNS.
    Sns,
    /// Amazon SQS.
    Sqs,
    /// Amazon ECR.
    Ecr,
    /// Amazon EKS.
    Eks,
    /// AWS Secrets Manager.
    SecretsManager,
    /// Amazon CloudWatch.
    CloudWatch,
    /// AWS Cloud Control API (the generic source).
    CloudControl,
}

impl Service {
    /// Every service, in a stable order.
    pub const ALL: &'static [Service] = &[
        Service::Ec2,
        Service::Iam,
        Service::S3,
        Service::Sts,
        Service::Lambda,
        Service::Rds,
        Service::Kms,
        Service::CloudTrail,
        Service::Elbv2,
        Service::DynamoDb,
        Service::Sns,
        Service::Sqs,
        Service::Ecr,
        Service::Eks,
        Service::SecretsManager,
        Service::CloudWatch,
        Service::CloudControl,
    ];

    /// The name used in the config file and in IAM actions (`lambda`, `elasticloadbalancing`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Iam => "iam",
            Service::S3 => "s3",
            Service::Sts => "sts",
            Service::Lambda => "lambda",
            Service::Rds => "rds",
            Service::Kms => "kms",
            Service::CloudTrail => "cloudtrail",
            Service::Elbv2 => "elasticloadbalancing",
            Service::DynamoDb => "dynamodb",
            Service::Sns => "sns",
            Service::Sqs => "sqs",
            Service::Ecr => "ecr",
            Service::Eks => "eks",
            Service::SecretsManager => "secretsmanager",
            Service::CloudWatch => "cloudwatch",
            Service::CloudControl => "cloudcontrol",
        }
    }

    /// The service named `name` (as [`Self::name`] spells it).
    pub fn from_name(name: &str) -> Option<Service> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Requests per second when the config sets none: below each service's documented (or,
    /// for Cloud Control, measured by peers) throttling rate, so the recorder leaves
    /// headroom for the account's other users.
    pub fn default_rate(self) -> f64 {
        match self {
            // EC2's Describe bucket refills at 20/s.
            Service::Ec2 => 10.0,
            // IAM's read quota is account-wide and low.
            Service::Iam => 5.0,
            Service::S3 => 100.0,
            // Peers were throttled at ~30/s and settled on 25/s.
            Service::CloudControl => 25.0,
            _ => 10.0,
        }
    }
}
