//! What a sink sends and how a transport reports a partial failure.

use driftlog_model::{ResourceKey, Seq};
use std::future::Future;

/// One config-stream message, ready for any transport.
#[derive(Debug, Clone)]
pub struct Message {
    /// Log sequence of the item it is about: receivers drop a sequence they have seen.
    pub seq: Seq,
    /// The resource, for subject routing.
    pub key: ResourceKey,
    /// AWS Config's `messageType`.
    pub message_type: &'static str,
    /// SNS subject (`[AWS Config:<region>] …`).
    pub subject: String,
    /// The message JSON, as AWS Config sends it.
    pub body: String,
}

/// A send that stopped part-way: the first `delivered` messages were acknowledged, the
/// rest must be sent again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SendError {
    /// Messages of the batch acknowledged before the failure, in order.
    pub delivered: usize,
    /// A short code: the service's error code, `HTTP 500`, `Timeout`, `Unreachable`.
    pub code: String,
    /// What happened.
    pub message: String,
}

impl SendError {
    /// A failure of the whole batch.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            delivered: 0,
            code: code.into(),
            message: message.into(),
        }
    }

    /// The same failure with `n` messages acknowledged before it.
    pub fn after(mut self, n: usize) -> Self {
        self.delivered = n;
        self
    }
}

/// A destination of the config stream. `send` delivers a batch in order and returns only
/// when the destination acknowledged all of it (or how much of it, in the error).
pub trait Transport: Send + Sync + 'static {
    /// `sns`, `webhook`, `nats`.
    fn kind(&self) -> &'static str;

    /// Where it sends (topic ARN, URL, server and stream), for `driftlog sinks`.
    fn target(&self) -> String;

    /// Sends the batch, in order.
    fn send<'a>(
        &'a self,
        batch: &'a [Message],
    ) -> impl Future<Output = Result<(), SendError>> + Send + 'a;
}

/// A transport shared with another task (the NATS item sink with its resync responder,
/// which must publish under the same lock).
impl<T: Transport> Transport for std::sync::Arc<T> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn target(&self) -> String {
        (**self).target()
    }

    fn send<'a>(
        &'a self,
        batch: &'a [Message],
    ) -> impl Future<Output = Result<(), SendError>> + Send + 'a {
        (**self).send(batch)
    }
}
