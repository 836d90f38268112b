//! Publishing to an SNS topic, to which users subscribe SQS queues, e-mail or their tools.

use crate::aws::arn_region;
use crate::{AwsAccess, Message, SendError, Transport};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use driftlog_deliver::{SNS_ENVELOPE_BYTES, SNS_MAX_MESSAGE_BYTES};

/// The message attribute carrying the log sequence (SQS subscribers see it in the SNS
/// envelope's `MessageAttributes`).
pub const SEQ_ATTRIBUTE: &str = "driftlog.seq";

/// An SNS topic. Messages go out with `PublishBatch` (up to 10 and 256 KB per request, in
/// order); a failed entry stops the batch there.
pub struct SnsTransport {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTransport {
    /// A client for `topic_arn`, in the topic's own region (so one recorder can publish to
    /// the topics of several regions).
    ///
    /// # Errors
    /// A topic that is not an SNS ARN.
    pub async fn new(topic_arn: &str, access: &AwsAccess) -> Result<Self, String> {
        if !topic_arn.starts_with("arn:") || !topic_arn.contains(":sns:") {
            return Err(format!(
                "sns topic {topic_arn:?} is not a topic ARN (arn:aws:sns:<region>:<account>:<name>)"
            ));
        }
        let mut access = access.clone();
        if let Some(r) = arn_region(topic_arn) {
            access.region = Some(r.to_string());
        }
        let conf = access.sdk_config().await;
        Ok(Self {
            client: aws_sdk_sns::Client::new(&conf),
            topic_arn: topic_arn.to_string(),
        })
    }

    /// Publishes one message outside the config stream (delivery events).
    ///
    /// # Errors
    /// SNS's error code and message.
    pub async fn publish(&self, subject: &str, body: &str) -> Result<(), SendError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(body)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }
}

fn sdk_error<E, R>(e: &aws_sdk_sns::error::SdkError<E, R>) -> SendError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sns::error::SdkError;
    let code = match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("ServiceError").to_string(),
        SdkError::TimeoutError(_) => "Timeout".into(),
        SdkError::DispatchFailure(_) => "Unreachable".into(),
        _ => "SnsError".into(),
    };
    let mut message = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message = format!("{message}: {s}");
        src = s.source();
    }
    let message: String = message.chars().take(300).collect();
    SendError::new(code, message)
}

fn seq_attribute(seq: u64) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(seq.to_string())
        .build()
        .ok()
}

impl Transport for SnsTransport {
    fn kind(&self) -> &'static str {
        "sns"
    }

    fn target(&self) -> String {
        self.topic_arn.clone()
    }

    async fn send<'a>(&'a self, batch: &'a [Message]) -> Result<(), SendError> {
        let mut done = 0;
        while done < batch.len() {
            // Up to 10 entries and 256 KB per request.
            let mut end = done;
            let mut bytes = 0;
            while end < batch.len() && end - done < 10 {
                // Attributes and subject count toward the request's size too.
                let len = batch[end].body.len() + SNS_ENVELOPE_BYTES;
                if end > done && bytes + len > SNS_MAX_MESSAGE_BYTES {
                    break;
                }
                bytes += len;
                end += 1;
            }
            let chunk = &batch[done..end];
            let mut entries = Vec::with_capacity(chunk.len());
            for m in chunk {
                let mut e = PublishBatchRequestEntry::builder()
                    .id(m.seq.to_string())
                    .subject(&m.subject)
                    .message(&m.body);
                if let Some(a) = seq_attribute(m.seq) {
                    e = e.message_attributes(SEQ_ATTRIBUTE, a);
                }
                entries.push(
                    e.build().map_err(|e| {
                        SendError::new("InvalidParameter", e.to_string()).after(done)
                    })?,
                );
            }
            let out = self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error(&e).after(done))?;
            let failed = out.failed();
            if let Some(first) = chunk
                .iter()
                .position(|m| failed.iter().any(|f| f.id() == m.seq.to_string()))
            {
                let f = failed
                    .iter()
                    .find(|f| f.id() == chunk[first].seq.to_string());
                return Err(SendError::new(
                    f.map_or("Failed", |f| f.code()).to_string(),
                    f.and_then(|f| f.message())
                        .unwrap_or("the topic refused the message")
                        .to_string(),
                )
                .after(done + first));
            }
            done = end;
        }
        Ok(())
    }
}
