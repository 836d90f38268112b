//! NATS JetStream: each change published on `driftlog.ci.<account>.<region>.<type>` into a
//! stream, acknowledged by JetStream before the cursor moves.

use crate::{Message, SendError, Transport};
use async_nats::jetstream::{self, stream};
use driftlog_deliver::{message_id, nats_subject, NATS_MSG_ID_HEADER, SEQ_HEADER};
use std::time::Duration;
use tokio::sync::Mutex;

/// How many publishes may wait for their acknowledgement at once, well under the client's
/// in-flight limit.
const ACK_CHUNK: usize = 512;

/// The subjects driftlog's stream captures.
pub const STREAM_SUBJECTS: &str = "driftlog.ci.>";

/// A JetStream stream on a NATS server. Connects on first use and again after any failure,
/// and creates the stream if it is missing (file storage, de-duplication on
/// `Nats-Msg-Id` = the log sequence). Consumers filter by subject; with a 2.9 server, one
/// `filter_subject` per consumer (`filter_subjects` is silently ignored there).
pub struct NatsTransport {
    url: String,
    stream: String,
    timeout: Duration,
    context: Mutex<Option<jetstream::Context>>,
}

impl NatsTransport {
    /// A sink to `url` (`nats://host:4222`) into the stream `stream`; `timeout` bounds the
    /// connection and each acknowledgement.
    ///
    /// # Errors
    /// A stream name NATS would refuse.
    pub fn new(url: &str, stream: &str, timeout: Duration) -> Result<Self, String> {
        if stream.is_empty()
            || stream
                .chars()
                .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
        {
            return Err(format!(
                "nats stream name {stream:?} must be non-empty without '.', '*', '>' or spaces"
            ));
        }
        Ok(Self {
            url: url.to_string(),
            stream: stream.to_string(),
            timeout,
            context: Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<jetstream::Context, SendError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.timeout)
            .connect(self.url.as_str())
            .await
            .map_err(|e| SendError::new("Unreachable", format!("nats {}: {e}", self.url)))?;
        let mut js = jetstream::new(client);
        js.set_timeout(self.timeout);
        js.get_or_create_stream(stream::Config {
            name: self.stream.clone(),
            subjects: vec![STREAM_SUBJECTS.to_string()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            SendError::new(
                "StreamUnavailable",
                format!("nats {} stream {}: {e}", self.url, self.stream),
            )
        })?;
        Ok(js)
    }
}

impl Transport for NatsTransport {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn target(&self) -> String {
        format!("{} stream {}", self.url, self.stream)
    }

    async fn send<'a>(&'a self, batch: &'a [Message]) -> Result<(), SendError> {
        let mut guard = self.context.lock().await;
        let js = match guard.as_ref() {
            Some(js) => js.clone(),
            None => {
                let js = self.connect().await?;
                *guard = Some(js.clone());
                js
            }
        };
        // Publish a chunk, then wait for its acknowledgements in order: one round trip per
        // chunk, not per message, and never more acknowledgements in flight than JetStream's
        // client allows (it blocks publishing past its limit, which would never resolve
        // while we hold the acks unawaited).
        let mut done = 0;
        for chunk in batch.chunks(ACK_CHUNK) {
            let mut acks = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for m in chunk {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(NATS_MSG_ID_HEADER, message_id(m.seq).as_str());
                headers.insert(SEQ_HEADER, m.seq.to_string().as_str());
                match js
                    .publish_with_headers(nats_subject(&m.key), headers, m.body.clone().into())
                    .await
                {
                    Ok(ack) => acks.push(ack),
                    Err(e) => {
                        failure = Some(SendError::new("PublishFailed", format!("nats: {e}")));
                        break;
                    }
                }
            }
            // Even after a failed publish, the messages already published may be
            // acknowledged: count the consecutive acknowledged ones so the cursor moves
            // exactly past them, never past one JetStream did not confirm.
            for ack in acks {
                match ack.await {
                    Ok(_) => done += 1,
                    Err(e) => {
                        *guard = None;
                        return Err(
                            SendError::new("NotAcknowledged", format!("nats: {e}")).after(done)
                        );
                    }
                }
            }
            if let Some(e) = failure {
                *guard = None;
                return Err(e.after(done));
            }
        }
        Ok(())
    }
}
