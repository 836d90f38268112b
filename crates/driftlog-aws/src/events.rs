//! The AWS event feed: CloudTrail events read from SQS queues, for targeted re-describes
//! seconds after a change instead of at the next poll.
//!
//! [`SqsEventFeed`] long-polls every configured queue at once. A body is read by
//! [`EventMessage::read_body`], the same reader every feed uses; when it is an S3
//! notification of new CloudTrail log files, each file is fetched with `GetObject` and read
//! by [`parse_log_file`]. A message that cannot be read (a body that is not JSON, a log file
//! that cannot be fetched or inflated) comes back as [`Content::Poison`]: the recorder never
//! deletes it, so the queue's redrive policy retries it and finally moves it to the
//! dead-letter queue, where an operator can look at it, while the messages behind it flow.

use crate::error::from_sdk;
use crate::settings::{AwsSettings, EventSettings, Service};
use crate::{load_base, s3_client, AwsError};
use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use driftlog_events::{parse_log_file, LogObjects, S3Object, MAX_LOG_FILE_BYTES};
use driftlog_poll::{BoxFuture, Content, EventFeed, EventMessage, PollError, Receipt};
use futures_util::future::join_all;
use futures_util::stream::{self, FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SQS's longest long poll, in seconds.
const MAX_WAIT_SECONDS: u32 = 20;
/// SQS's most messages per `ReceiveMessage` and per `DeleteMessageBatch`.
const MAX_BATCH: usize = 10;
/// A long poll's request lasts up to its wait; its attempt timeout gets this much more, so
/// a short `call_timeout` cannot cut every quiet long poll short.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);
/// Messages of one batch read at once (each may fetch a log file from S3).
const READ_AT_ONCE: usize = 4;
/// Failed deletes named in one error; the rest are counted.
const FAILURES_SHOWN: usize = 5;

/// An [`EventFeed`] over SQS queues that carry CloudTrail events: EventBridge envelopes
/// (an "AWS API Call via CloudTrail" rule with an SQS target) and S3 notifications of the
/// log files a trail writes (each file is fetched and read).
///
/// Every queue is long-polled at once, and a poll still waiting when [`EventFeed::receive`]
/// returns is kept for the next call rather than cancelled: a quiet queue never delays
/// another's messages, and no message is held invisible by an abandoned request.
pub struct SqsEventFeed {
    shared: Arc<Shared>,
    /// Long polls in flight and answers not yet handed over, kept across `receive` calls
    /// (and across a `receive` that is dropped half-way).
    pending: tokio::sync::Mutex<Pending>,
}

impl std::fmt::Debug for SqsEventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsEventFeed")
            .field("queues", &self.queues())
            .field("wait_seconds", &self.shared.wait_seconds)
            .field("max_messages", &self.shared.max_messages)
            .finish_non_exhaustive()
    }
}

/// What the polls need, shared with the futures in flight (which outlive a `receive` call).
struct Shared {
    queues: Vec<Queue>,
    s3: S3Clients,
    wait_seconds: u32,
    max_messages: u32,
}

struct Queue {
    url: String,
    sqs: aws_sdk_sqs::Client,
}

/// S3 clients per region, built when a log file in that region is first announced: the
/// trail bucket may be in any region, and S3 refuses requests signed for another one.
struct S3Clients {
    base: SdkConfig,
    settings: AwsSettings,
    home: Option<String>,
    by_region: Mutex<BTreeMap<String, aws_sdk_s3::Client>>,
}

/// One queue's answer: its index in [`Shared::queues`] and the messages read.
type Answer = (usize, Result<Vec<EventMessage>, PollError>);

#[derive(Default)]
struct Pending {
    polls: FuturesUnordered<BoxFuture<'static, Answer>>,
    /// Queues with a poll in `polls`.
    polling: BTreeSet<usize>,
    /// Messages received but not yet returned.
    ready: Vec<EventMessage>,
}

impl SqsEventFeed {
    /// Builds the feed with the credentials, endpoints, retries and timeouts of `aws` (as
    /// [`crate::AwsSource::connect`] does) over the queues of `events`. Makes no request:
    /// a queue that cannot be read shows as an error of [`EventFeed::receive`].
    ///
    /// # Errors
    /// [`AwsError::Settings`] when there is no queue, a queue URL is not an http(s) URL,
    /// `wait_seconds` is over 20 or `max_messages` not in 1..=10 (SQS's limits), or a
    /// queue's region is neither in its URL nor configured.
    pub async fn connect(aws: &AwsSettings, events: &EventSettings) -> Result<Self, AwsError> {
        let urls = queue_list(events)?;
        if events.wait_seconds > MAX_WAIT_SECONDS {
            return Err(AwsError::Settings(format!(
                "event feed: wait_seconds = {} is longer than SQS allows (0 to {MAX_WAIT_SECONDS})",
                events.wait_seconds
            )));
        }
        if events.max_messages == 0 || events.max_messages as usize > MAX_BATCH {
            return Err(AwsError::Settings(format!(
                "event feed: max_messages = {} is outside what SQS allows (1 to {MAX_BATCH})",
                events.max_messages
            )));
        }
        let (base, home) = load_base(aws).await;
        let attempt = aws
            .call_timeout
            .max(Duration::from_secs(u64::from(events.wait_seconds)) + LONG_POLL_MARGIN);
        let mut by_region: BTreeMap<String, aws_sdk_sqs::Client> = BTreeMap::new();
        let mut queues = Vec::with_capacity(urls.len());
        for url in urls {
            let region = region_of_queue(&url)
                .or_else(|| home.clone())
                .ok_or_else(|| {
                    AwsError::Settings(format!(
                        "event feed: the region of queue {url} is not in its URL: set `regions` in \
                         [source.aws], or AWS_REGION / the profile's region"
                    ))
                })?;
            let sqs = by_region
                .entry(region.clone())
                .or_insert_with(|| sqs_client(&base, aws, &region, attempt))
                .clone();
            queues.push(Queue { url, sqs });
        }
        Ok(Self {
            shared: Arc::new(Shared {
                queues,
                s3: S3Clients {
                    base,
                    settings: aws.clone(),
                    home,
                    by_region: Mutex::default(),
                },
                wait_seconds: events.wait_seconds,
                max_messages: events.max_messages,
            }),
            pending: tokio::sync::Mutex::default(),
        })
    }

    /// The queues read, by URL, each once.
    pub fn queues(&self) -> Vec<&str> {
        self.shared.queues.iter().map(|q| q.url.as_str()).collect()
    }

    /// Deletes the messages of one queue, [`MAX_BATCH`] per request; returns the failures.
    async fn delete(&self, url: &str, receipts: &[&Receipt]) -> Vec<Failure> {
        let Some(q) = self.shared.queues.iter().find(|q| q.url == url) else {
            return receipts
                .iter()
                .map(|r| Failure::of(r, "UnknownQueue", "not a queue of this feed"))
                .collect();
        };
        let mut failed = Vec::new();
        for chunk in receipts.chunks(MAX_BATCH) {
            let mut req = q.sqs.delete_message_batch().queue_url(url);
            for (i, r) in chunk.iter().enumerate() {
                // Entry ids only need to be distinct within the request: its position.
                match DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&r.handle)
                    .build()
                {
                    Ok(e) => req = req.entries(e),
                    Err(e) => failed.push(Failure::of(r, "ConstructionFailure", &e.to_string())),
                }
            }
            match req.send().await {
                Ok(out) => {
                    for f in out.failed() {
                        let message = f.message().unwrap_or_default();
                        match f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                            Some(r) => failed.push(Failure::of(r, f.code(), message)),
                            None => failed.push(Failure {
                                place: format!("{url} entry {:?}", f.id()),
                                code: f.code().to_string(),
                                message: message.to_string(),
                            }),
                        }
                    }
                }
                Err(e) => {
                    let e = from_sdk("sqs:DeleteMessageBatch", &e);
                    let message = match &e {
                        PollError::Source { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    failed.extend(chunk.iter().map(|r| Failure::of(r, e.code(), &message)));
                }
            }
        }
        failed
    }
}

/// The queues of `events`, each once, in the order given (bucket queue last).
fn queue_list(events: &EventSettings) -> Result<Vec<String>, AwsError> {
    let mut urls: Vec<String> = Vec::new();
    for url in events
        .queue_urls
        .iter()
        .chain(events.cloudtrail_bucket_queue.iter())
    {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(AwsError::Settings(format!(
                "event feed: queue {url:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
            )));
        }
        if !urls.contains(url) {
            urls.push(url.clone());
        }
    }
    if urls.is_empty() {
        return Err(AwsError::Settings(
            "event feed: no queue to read: set queue_urls or cloudtrail_bucket_queue".into(),
        ));
    }
    Ok(urls)
}

/// The region in a queue URL's host: `sqs.REGION.amazonaws.com`, `sqs-fips.REGION...`,
/// VPC endpoints (`vpce-….sqs.REGION.vpce.amazonaws.com`) and the legacy
/// `REGION.queue.amazonaws.com` (`queue.amazonaws.com` is us-east-1). `None` for other
/// hosts (an AWS-compatible server on localhost).
fn region_of_queue(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let region_like = |s: &str| s.contains('-') && s.ends_with(|c: char| c.is_ascii_digit());
    if let Some(i) = labels.iter().position(|l| *l == "sqs" || *l == "sqs-fips") {
        return labels
            .get(i + 1)
            .filter(|r| region_like(r))
            .map(|r| r.to_string());
    }
    match labels.as_slice() {
        ["queue", "amazonaws", "com"] => Some("us-east-1".into()),
        [region, "queue", "amazonaws", ..] if region_like(region) => Some(region.to_string()),
        _ => None,
    }
}

/// The SQS client of one region: the base configuration with an attempt timeout that
/// outlasts a long poll.
fn sqs_client(
    base: &SdkConfig,
    settings: &AwsSettings,
    region: &str,
    attempt: Duration,
) -> aws_sdk_sqs::Client {
    let conf = base
        .to_builder()
        .region(Region::new(region.to_string()))
        .build();
    let mut b = aws_sdk_sqs::config::Builder::from(&conf).timeout_config(
        TimeoutConfig::builder()
            .operation_attempt_timeout(attempt)
            .build(),
    );
    if let Some(url) = settings.endpoints.for_service(Service::Sqs) {
        b = b.endpoint_url(url);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// A receive of queue `i`, owning what it needs so that it can stay in flight across calls.
fn poll_queue(shared: Arc<Shared>, i: usize) -> BoxFuture<'static, Answer> {
    Box::pin(async move {
        let answer = shared.receive_from(i).await;
        (i, answer)
    })
}

impl Shared {
    /// One long poll of queue `i`, its messages read (log files fetched).
    async fn receive_from(&self, i: usize) -> Result<Vec<EventMessage>, PollError> {
        let Some(q) = self.queues.get(i) else {
            return Ok(Vec::new());
        };
        let out = q
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .wait_time_seconds(self.wait_seconds as i32)
            .max_number_of_messages(self.max_messages as i32)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| from_sdk(&format!("sqs:ReceiveMessage {}", q.url), &e))?;
        // The reads are built first (a `Vec`), which keeps the future `Send`.
        let reads: Vec<_> = out.messages().iter().map(|m| self.read(q, m)).collect();
        let read: Vec<Option<EventMessage>> =
            stream::iter(reads).buffered(READ_AT_ONCE).collect().await;
        Ok(read.into_iter().flatten().collect())
    }

    /// One message as an [`EventMessage`]; `None` for one without a receipt handle, which
    /// could never be deleted (SQS always sends one).
    async fn read(&self, q: &Queue, m: &Message) -> Option<EventMessage> {
        let Some(handle) = m.receipt_handle() else {
            tracing::warn!(queue = %q.url, message_id = ?m.message_id(), "message without a receipt handle skipped");
            return None;
        };
        let attribute = |name: MessageSystemAttributeName| {
            m.attributes()
                .and_then(|a| a.get(&name))
                .map(String::as_str)
        };
        let sent_ms = attribute(MessageSystemAttributeName::SentTimestamp)
            .and_then(|v| v.parse::<i64>().ok());
        let receive_count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1);
        let content = match m.body() {
            None => Content::Poison("message has no body".into()),
            Some(body) => match EventMessage::read_body(body) {
                Ok(content) => content,
                Err(objects) => self.s3.read_logs(objects).await,
            },
        };
        Some(EventMessage {
            receipt: Receipt {
                queue: q.url.clone(),
                handle: handle.to_string(),
            },
            sent_ms,
            receive_count,
            content,
        })
    }
}

impl S3Clients {
    /// The client for a bucket in `region` (the notification's), else the home region.
    fn client(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let region = region
            .or(self.home.as_deref())
            .unwrap_or("us-east-1")
            .to_string();
        let mut clients = self.by_region.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let conf = self.base.to_builder().region(Region::new(region)).build();
                s3_client(&conf, &self.settings)
            })
            .clone()
    }

    /// The events of every announced log file. A file that cannot be fetched or read whole
    /// makes the message [`Content::Poison`] (never deleted: SQS redelivers it and finally
    /// dead-letters it); bad records only cost themselves.
    async fn read_logs(&self, objects: LogObjects) -> Content {
        if objects.objects.is_empty() {
            return Content::Ignored(format!(
                "S3 notification of no CloudTrail log file ({} record(s) skipped: other events, digest files or other keys)",
                objects.skipped
            ));
        }
        let mut events = Vec::new();
        let mut errors = Vec::new();
        for o in &objects.objects {
            let place = format!("s3://{}/{}", o.bucket, o.key);
            let bytes = match self.fetch(o).await {
                Ok(b) => b,
                Err(e) => return Content::Poison(format!("{place}: {e}")),
            };
            match parse_log_file(&bytes) {
                Ok((read, bad)) => {
                    events.extend(read);
                    errors.extend(bad.iter().map(|e| format!("{place}: {e}")));
                }
                Err(e) => return Content::Poison(format!("{place}: {e}")),
            }
        }
        Content::Events(events, errors)
    }

    /// The bytes of one log file, refused unread when S3 says it is larger than
    /// [`MAX_LOG_FILE_BYTES`] (a CloudTrail file inflates to at most that, so its
    /// compressed size is smaller still), and cut off if the body runs past it anyway.
    async fn fetch(&self, o: &S3Object) -> Result<Vec<u8>, PollError> {
        let limit = MAX_LOG_FILE_BYTES as u64;
        let too_large = |n: u64| {
            PollError::Source {
            code: "LogFileTooLarge".into(),
            message: format!(
                "{n} bytes, more than the {MAX_LOG_FILE_BYTES} a CloudTrail log file may have; not read"
            ),
        }
        };
        if let Some(n) = o.size.filter(|n| *n > limit) {
            return Err(too_large(n));
        }
        let out = self
            .client(o.region.as_deref())
            .get_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .send()
            .await
            .map_err(|e| from_sdk("s3:GetObject", &e))?;
        let declared = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(n) = declared.filter(|n| *n > limit) {
            return Err(too_large(n));
        }
        let mut body = out.body;
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = body.try_next().await.map_err(|e| PollError::Source {
            code: "ResponseError".into(),
            message: format!("s3:GetObject: reading the body: {e}"),
        })? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large((bytes.len() + chunk.len()) as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// One message that could not be deleted.
struct Failure {
    /// Queue and (shortened) receipt handle.
    place: String,
    code: String,
    message: String,
}

impl Failure {
    fn of(r: &Receipt, code: &str, message: &str) -> Self {
        Self {
            place: format!("{} receipt {}", r.queue, short(&r.handle)),
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// The start of a receipt handle (hundreds of characters long), enough to tell it apart in
/// a status line.
fn short(handle: &str) -> String {
    const SHOWN: usize = 24;
    if handle.chars().count() <= SHOWN {
        return handle.to_string();
    }
    let mut s: String = handle.chars().take(SHOWN).collect();
    s.push('…');
    s
}

impl EventFeed for SqsEventFeed {
    fn name(&self) -> &str {
        "sqs"
    }

    /// Returns as soon as any queue answers with messages (with every other answer already
    /// in), or empty after `wait_seconds` with none. A queue that answers empty is polled
    /// again at once. A failed receive is returned as the error when no queue had messages;
    /// otherwise it is logged and the messages are returned.
    fn receive(&self) -> BoxFuture<'_, Result<Vec<EventMessage>, PollError>> {
        Box::pin(async move {
            let mut guard = self.pending.lock().await;
            let p = &mut *guard;
            for i in 0..self.shared.queues.len() {
                if p.polling.insert(i) {
                    p.polls.push(poll_queue(self.shared.clone(), i));
                }
            }
            let deadline = tokio::time::Instant::now()
                + Duration::from_secs(u64::from(self.shared.wait_seconds));
            let mut first_error: Option<PollError> = None;
            loop {
                let next = if p.ready.is_empty() && first_error.is_none() {
                    match tokio::time::timeout_at(deadline, p.polls.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                } else {
                    // Something to return: only collect answers that are already in.
                    match p.polls.next().now_or_never() {
                        Some(next) => next,
                        None => break,
                    }
                };
                let Some((i, answer)) = next else {
                    break;
                };
                p.polling.remove(&i);
                match answer {
                    Ok(messages) if messages.is_empty() => {
                        p.polling.insert(i);
                        p.polls.push(poll_queue(self.shared.clone(), i));
                    }
                    Ok(messages) => p.ready.extend(messages),
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                Some(e) if p.ready.is_empty() => Err(e),
                _ => Ok(std::mem::take(&mut p.ready)),
            }
        })
    }

    /// Deletes with `DeleteMessageBatch`, per queue and ten at a time. Every receipt is
    /// tried; the error names each one that was not deleted, with SQS's code.
    fn ack<'a>(&'a self, receipts: &'a [Receipt]) -> BoxFuture<'a, Result<(), PollError>> {
        Box::pin(async move {
            let mut by_queue: BTreeMap<&str, Vec<&Receipt>> = BTreeMap::new();
            for r in receipts {
                by_queue.entry(r.queue.as_str()).or_default().push(r);
            }
            let failures: Vec<Failure> = join_all(
                by_queue
                    .iter()
                    .map(|(url, receipts)| self.delete(url, receipts)),
            )
            .await
            .into_iter()
            .flatten()
            .collect();
            let Some(first) = failures.first() else {
                return Ok(());
            };
            let mut named: Vec<String> = failures
                .iter()
                .take(FAILURES_SHOWN)
                .map(|f| format!("{}: {}: {}", f.place, f.code, f.message))
                .collect();
            if failures.len() > FAILURES_SHOWN {
                named.push(format!("and {} more", failures.len() - FAILURES_SHOWN));
            }
            Err(PollError::Source {
                code: first.code.clone(),
                message: format!(
                    "sqs:DeleteMessageBatch: {} of {} message(s) not deleted: {}",
                    failures.len(),
                    receipts.len(),
                    named.join("; ")
                ),
            })
        })
    }

    /// `ApproximateNumberOfMessages` summed over the queues; `None` when any is unknown.
    fn backlog(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move {
            let counts = join_all(self.shared.queues.iter().map(|q| async move {
                let out = q
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&q.url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send()
                    .await
                    .map_err(|e| from_sdk("sqs:GetQueueAttributes", &e))?;
                out.attributes()
                    .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| PollError::Source {
                        code: "MissingAttribute".into(),
                        message: format!("{}: no ApproximateNumberOfMessages", q.url),
                    })
            }))
            .await;
            let mut total = 0u64;
            for c in counts {
                match c {
                    Ok(n) => total += n,
                    Err(e) => {
                        tracing::debug!(error = %e, "queue backlog unknown");
                        return None;
                    }
                }
            }
            Some(total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_their_region() {
        let cases = [
            (
                "https://sqs.eu-west-1.amazonaws.com/111122223333/q",
                Some("eu-west-1"),
            ),
            (
                "https://sqs-fips.us-gov-west-1.amazonaws.com/111122223333/q",
                Some("us-gov-west-1"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q",
                Some("cn-north-1"),
            ),
            (
                "https://vpce-0abc-xyz.sqs.ap-south-1.vpce.amazonaws.com/111122223333/q",
                Some("ap-south-1"),
            ),
            (
                "https://eu-central-1.queue.amazonaws.com/111122223333/q",
                Some("eu-central-1"),
            ),
            (
                "https://queue.amazonaws.com/111122223333/q",
                Some("us-east-1"),
            ),
            ("http://127.0.0.1:5000/123456789012/q", None),
            ("http://localhost:4566/000000000000/q", None),
        ];
        for (url, region) in cases {
            assert_eq!(region_of_queue(url).as_deref(), region, "{url}");
        }
    }

    #[test]
    fn settings_are_checked_before_any_request() {
        let ok = EventSettings {
            queue_urls: vec!["https://sqs.eu-west-1.amazonaws.com/111122223333/a".into()],
            cloudtrail_bucket_queue: Some(
                "https://sqs.eu-west-1.amazonaws.com/111122223333/a".into(),
            ),
            ..EventSettings::default()
        };
        assert_eq!(
            queue_list(&ok).map_err(|e| e.to_string()).map(|q| q.len()),
            Ok(1)
        );
        let none = EventSettings::default();
        assert!(queue_list(&none).is_err());
        let bad = EventSettings {
            queue_urls: vec!["driftlog-events".into()],
            ..EventSettings::default()
        };
        assert!(
            matches!(queue_list(&bad), Err(AwsError::Settings(m)) if m.contains("driftlog-events"))
        );
    }

    #[test]
    fn receipts_are_shortened_for_status_lines() {
        assert_eq!(short("abc"), "abc");
        let long = "x".repeat(400);
        assert_eq!(short(&long).chars().count(), 25);
    }
}
