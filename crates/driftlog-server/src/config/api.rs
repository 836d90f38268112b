//! `[api]`, `[rules]` and `[[evaluators]]`: the AWS Config API and the rules engine.

use super::*;

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
    pub(super) fn check(&self) -> Result<()> {
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
