//! `[delivery]` and `[[sinks]]`: AWS Config's delivery channel and the sinks.

use super::*;

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
    /// NATS: `aws` (AWS Config's notifications) or `item` (driftlog's items, every one in
    /// order, what an aggregator reads).
    #[serde(default = "default_format")]
    pub format: String,
    /// NATS with `format = "item"`: how often the recorder's heartbeat goes out.
    #[serde(default = "default_heartbeat", deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// NATS: user name (with `password_env`).
    #[serde(default)]
    pub user: String,
    /// NATS: variable holding the password.
    #[serde(default)]
    pub password_env: String,
    /// NATS: variable holding a token.
    #[serde(default)]
    pub token_env: String,
    /// NATS: variable holding an nkey seed (`SU…`).
    #[serde(default)]
    pub nkey_seed_env: String,
    /// NATS: a `.creds` file (JWT + nkey seed).
    #[serde(default)]
    pub credentials_file: String,
    /// NATS: CA certificates (PEM) for the server's certificate.
    #[serde(default)]
    pub tls_ca: String,
    /// NATS: refuse a connection without TLS.
    #[serde(default)]
    pub tls_required: bool,
}

impl SinkSection {
    /// Its NATS credentials and TLS settings.
    pub fn nats_auth(&self) -> NatsAuth {
        NatsAuth {
            user: self.user.clone(),
            password_env: self.password_env.clone(),
            token_env: self.token_env.clone(),
            nkey_seed_env: self.nkey_seed_env.clone(),
            credentials_file: self.credentials_file.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_required: self.tls_required,
        }
    }
}

/// How to authenticate to NATS and check its certificate: the keys a NATS sink and
/// `[aggregator]` share. Secrets come from environment variables, never the file.
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    /// User name (with `password_env`).
    pub user: String,
    /// Variable holding the password.
    pub password_env: String,
    /// Variable holding a token.
    pub token_env: String,
    /// Variable holding an nkey seed (`SU…`).
    pub nkey_seed_env: String,
    /// A `.creds` file (JWT + nkey seed).
    pub credentials_file: String,
    /// CA certificates (PEM) for the server's certificate.
    pub tls_ca: String,
    /// Refuse a connection without TLS.
    pub tls_required: bool,
}

impl NatsAuth {
    /// The connection options for `url`, secrets read from their variables.
    ///
    /// # Errors
    /// A variable that is named but not set.
    pub fn connect(
        &self,
        url: &str,
        timeout: Duration,
        at: &str,
    ) -> Result<driftlog_sinks::NatsConnect> {
        let var = |key: &str, name: &str| -> Result<Option<String>> {
            if name.is_empty() {
                return Ok(None);
            }
            std::env::var(name).map(Some).map_err(|_| {
                Error::invalid(format!(
                    "{at}: {key} = {name:?}, but that variable is not set"
                ))
            })
        };
        let mut c = driftlog_sinks::NatsConnect::new(url, timeout);
        if !self.user.is_empty() {
            let pass = var("password_env", &self.password_env)?.unwrap_or_default();
            c.user = Some((self.user.clone(), pass));
        }
        c.token = var("token_env", &self.token_env)?;
        c.nkey_seed = var("nkey_seed_env", &self.nkey_seed_env)?;
        c.credentials_file = opt(&self.credentials_file).map(Into::into);
        c.tls_ca = opt(&self.tls_ca).map(Into::into);
        c.tls_required = self.tls_required || url.starts_with("tls://");
        Ok(c)
    }
}

fn default_format() -> String {
    "aws".into()
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(10)
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

    pub(super) fn check(&self) -> Result<()> {
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
        if self.format != "aws" && self.format != "item" {
            bail!(
                "{at}: format = {:?} rejected: use \"aws\" (AWS Config's notifications) or \"item\" (for an aggregator)",
                self.format
            );
        }
        if self.format == "item" {
            if self.kind != SinkKind::Nats {
                bail!("{at}: format = \"item\" is for NATS sinks (an aggregator reads them)");
            }
            if !(self.types.is_empty()
                && self.accounts.is_empty()
                && self.regions.is_empty()
                && self.statuses.is_empty())
            {
                bail!("{at}: format = \"item\" carries every item (an aggregator detects a missing one as a gap): remove types, accounts, regions and statuses");
            }
            if self.heartbeat.is_zero() {
                bail!("{at}: heartbeat must be greater than 0 (e.g. \"10s\")");
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
