//! HTTP POST of each message, signed with HMAC-SHA256 when a secret is set.

use crate::{Message, SendError, Transport};
use driftlog_deliver::{sign, SEQ_HEADER, SIGNATURE_HEADER};
use std::time::Duration;

/// A webhook receiver. A 2xx answer acknowledges a message; anything else (or no answer
/// within the timeout) stops the batch there, to be retried.
pub struct WebhookTransport {
    client: reqwest::Client,
    url: String,
    secret: Option<Vec<u8>>,
}

impl WebhookTransport {
    /// A webhook to `url`, signing with `secret` if given, each POST bounded by `timeout`.
    ///
    /// # Errors
    /// A URL that is not http(s).
    pub fn new(url: &str, secret: Option<Vec<u8>>, timeout: Duration) -> Result<Self, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "webhook url {url:?} must start with http:// or https://"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Self {
            client,
            url: url.to_string(),
            secret,
        })
    }
}

/// The header naming the message type, so receivers can route without parsing the body.
pub const MESSAGE_TYPE_HEADER: &str = "X-Driftlog-Message-Type";

impl Transport for WebhookTransport {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn target(&self) -> String {
        self.url.clone()
    }

    async fn send<'a>(&'a self, batch: &'a [Message]) -> Result<(), SendError> {
        for (i, m) in batch.iter().enumerate() {
            let mut req = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header(SEQ_HEADER, m.seq.to_string())
                .header(MESSAGE_TYPE_HEADER, m.message_type);
            if let Some(secret) = &self.secret {
                let sig = sign(secret, chrono::Utc::now().timestamp(), m.body.as_bytes())
                    .map_err(|e| SendError::new("Signature", e.to_string()).after(i))?;
                req = req.header(SIGNATURE_HEADER, sig);
            }
            let resp = req.body(m.body.clone()).send().await.map_err(|e| {
                let code = if e.is_timeout() {
                    "Timeout"
                } else if e.is_connect() {
                    "Unreachable"
                } else {
                    "HttpError"
                };
                SendError::new(code, format!("POST {}: {e}", self.url)).after(i)
            })?;
            let status = resp.status();
            if !status.is_success() {
                let text: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                return Err(SendError::new(
                    format!("HTTP {}", status.as_u16()),
                    format!("POST {} answered {status}: {text}", self.url),
                )
                .after(i));
            }
        }
        Ok(())
    }
}
