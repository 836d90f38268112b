//! `[aggregator]`: run as the aggregator of many recorders (issue 17).

use super::*;

/// `[aggregator]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSection {
    /// Run as an aggregator: no polls; the source is the stream (also `serve --aggregator`).
    pub enabled: bool,
    /// The NATS server.
    pub url: String,
    /// The JetStream stream the recorders' item sinks publish into.
    pub stream: String,
    /// The durable consumer's name.
    pub consumer: String,
    /// Messages fetched at once.
    pub batch: usize,
    /// A source whose last heartbeat is older than this is OUTDATED.
    #[serde(deserialize_with = "duration")]
    pub outdated_after: Duration,
    /// Timeout of the connection and each request.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// User name (with `password_env`).
    pub user: String,
    /// Variable holding the password.
    pub password_env: String,
    /// Variable holding a token.
    pub token_env: String,
    /// Variable holding an nkey seed.
    pub nkey_seed_env: String,
    /// A `.creds` file.
    pub credentials_file: String,
    /// CA certificates (PEM).
    pub tls_ca: String,
    /// Refuse a connection without TLS.
    pub tls_required: bool,
    /// The aggregator's own account (its aggregators' ARNs; what source accounts
    /// authorize); "" = the first account it holds.
    pub account: String,
    /// Its region; "" = the first region of `[source.sim]`.
    pub region: String,
    /// How often organization aggregators read their organization's accounts again.
    #[serde(deserialize_with = "duration")]
    pub organization_refresh: Duration,
}

impl Default for AggregatorSection {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "nats://127.0.0.1:4222".into(),
            stream: "DRIFTLOG".into(),
            consumer: "driftlog-aggregator".into(),
            batch: 1000,
            outdated_after: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            user: String::new(),
            password_env: String::new(),
            token_env: String::new(),
            nkey_seed_env: String::new(),
            credentials_file: String::new(),
            tls_ca: String::new(),
            tls_required: false,
            account: String::new(),
            region: String::new(),
            organization_refresh: Duration::from_secs(600),
        }
    }
}

impl AggregatorSection {
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

    /// The ingest settings.
    pub fn settings(&self) -> driftlog_aggregate::AggregatorSettings {
        driftlog_aggregate::AggregatorSettings {
            stream: self.stream.clone(),
            consumer: self.consumer.clone(),
            batch: self.batch,
            ..driftlog_aggregate::AggregatorSettings::default()
        }
    }

    pub(super) fn check(&self) -> Result<()> {
        if !self.url.starts_with("nats://") && !self.url.starts_with("tls://") {
            bail!(
                "aggregator.url = {:?} rejected: give the NATS server, e.g. \"nats://127.0.0.1:4222\"",
                self.url
            );
        }
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(&self.stream) {
            bail!(
                "aggregator.stream = {:?} rejected: use letters, digits, '-' and '_'",
                self.stream
            );
        }
        if !name_ok(&self.consumer) {
            bail!(
                "aggregator.consumer = {:?} rejected: use letters, digits, '-' and '_'",
                self.consumer
            );
        }
        if self.batch == 0 || self.batch > 10_000 {
            bail!("aggregator.batch = {} rejected: use 1 .. 10000", self.batch);
        }
        if self.outdated_after.is_zero() || self.timeout.is_zero() {
            bail!("aggregator.outdated_after and aggregator.timeout must be greater than 0");
        }
        Ok(())
    }
}
