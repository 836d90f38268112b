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
    /// EC2.
    pub ec2: Option<String>,
    /// IAM.
    pub iam: Option<String>,
    /// S3 (path-style addressing is used whenever an S3 endpoint is overridden).
    pub s3: Option<String>,
    /// STS (account discovery and assume-role).
    pub sts: Option<String>,
}

impl Endpoints {
    /// The endpoint for `service`: its own override, else the common one.
    pub fn for_service(&self, service: Service) -> Option<&str> {
        let own = match service {
            Service::Ec2 => &self.ec2,
            Service::Iam => &self.iam,
            Service::S3 => &self.s3,
            Service::Sts => &self.sts,
        };
        own.as_deref().or(self.all.as_deref())
    }
}

/// Requests per second per service; 0 = unlimited.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// EC2 Describe calls, per account and region.
    pub ec2: f64,
    /// IAM calls, per account (IAM's limits are account-wide).
    pub iam: f64,
    /// S3 calls, per account and region.
    pub s3: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        // Below the documented EC2 Describe bucket refill (20/s) and IAM's read quota, so the
        // recorder leaves headroom for the account's other users.
        Self {
            ec2: 10.0,
            iam: 5.0,
            s3: 100.0,
        }
    }
}

/// The AWS services the source calls.
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
}
