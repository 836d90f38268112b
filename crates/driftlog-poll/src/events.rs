//! Event feeds: where CloudTrail events come from (SQS queues, the simulated estate).
//!
//! A feed only carries: it receives messages, reads them into [`CloudTrailEvent`]s (fetching
//! a CloudTrail log file when a message announces one) and deletes a message when told. What
//! an event means, when to describe and what to record is the recorder's business, so that
//! every feed behaves the same after the message is read.

use crate::{BoxFuture, PollError};
use driftlog_events::{
    eventbridge_envelope, parse_queue_message, synthesize, Caller, CloudTrailEvent, Envelope,
    QueueMessage, Synth,
};
use driftlog_model::time::now_ms;
use driftlog_sim::{SimChange, SimChangeKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How a feed names a message to delete: the queue and its receipt handle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Receipt {
    /// The queue (its URL for SQS).
    pub queue: String,
    /// The receipt handle of this delivery.
    pub handle: String,
}

/// What one message held, once read.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// CloudTrail events (one for an EventBridge envelope, many for a log file), with the
    /// errors of records that could not be read (kept out, named, counted).
    Events(Vec<CloudTrailEvent>, Vec<String>),
    /// A message that is valid but carries no API call (another EventBridge event, S3's test
    /// event): deleted and counted.
    Ignored(String),
    /// A message that cannot be read at all. It is never deleted, so the queue's redrive
    /// policy moves it to the dead-letter queue after its `maxReceiveCount`, and the queue
    /// keeps flowing.
    Poison(String),
}

/// One message received from a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage {
    /// How to delete it once handled.
    pub receipt: Receipt,
    /// When the queue received it, epoch ms (SQS `SentTimestamp`): the queue lag.
    pub sent_ms: Option<i64>,
    /// How many times it was received, this time included (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
    /// What it held.
    pub content: Content,
}

impl EventMessage {
    /// Reads a queue message body, as every feed does: an EventBridge envelope or a bare
    /// record gives its event; an S3 notification gives `Err` with the objects to fetch.
    ///
    /// # Errors
    /// The announced CloudTrail log objects, for the feed to fetch and read.
    pub fn read_body(body: &str) -> Result<Content, driftlog_events::LogObjects> {
        match parse_queue_message(body) {
            Ok(QueueMessage::EventBridge(Envelope::ApiCall(e))) => {
                Ok(Content::Events(vec![*e], Vec::new()))
            }
            Ok(QueueMessage::EventBridge(Envelope::NotApiCall {
                detail_type,
                source,
            })) => Ok(Content::Ignored(format!(
                "EventBridge event {detail_type:?} from {source} is not an API call"
            ))),
            Ok(QueueMessage::Record(e)) => Ok(Content::Events(vec![*e], Vec::new())),
            Ok(QueueMessage::LogObjects(objects)) => Err(objects),
            Ok(QueueMessage::S3TestEvent) => Ok(Content::Ignored("s3:TestEvent".into())),
            Err(e) => Ok(Content::Poison(e.to_string())),
        }
    }
}

/// Where events come from.
pub trait EventFeed: Send + Sync {
    /// Short name for logs and status (`sqs`, `sim`).
    fn name(&self) -> &str;

    /// Waits for messages (a long poll: returns an empty list after a while with none).
    fn receive(&self) -> BoxFuture<'_, Result<Vec<EventMessage>, PollError>>;

    /// Deletes handled messages.
    fn ack<'a>(&'a self, receipts: &'a [Receipt]) -> BoxFuture<'a, Result<(), PollError>>;

    /// Messages waiting in the queues, when the feed can tell.
    fn backlog(&self) -> BoxFuture<'_, Option<u64>>;
}

/// The simulated estate's CloudTrail: every change a tick makes becomes the event AWS would
/// have sent (see [`driftlog_events::synthesize`]), as an EventBridge envelope read back by
/// the same parser as real messages. Callers are drawn from a fixed cast (CI roles, people,
/// an autoscaler) by a generator of their own, so the estate's own output is unchanged.
pub struct SimEventFeed {
    queue: Mutex<SimQueue>,
    ready: Notify,
    wait: Duration,
}

struct SimQueue {
    messages: VecDeque<(i64, String)>,
    rng: fastrand::Rng,
    next_id: u64,
}

/// Most messages one `receive` hands over, as SQS's ten per call, but larger: the sim has no
/// per-call cost to amortize, only latency to keep low.
const SIM_BATCH: usize = 1_000;
/// At most this many events wait in the sim's queue; older ones are dropped (and only the
/// next poll records their changes), so a stopped consumer cannot grow memory without bound.
const SIM_QUEUE_MAX: usize = 100_000;

impl SimEventFeed {
    /// A feed whose callers are drawn from `seed`; `wait` is the long-poll time.
    pub fn new(seed: u64, wait: Duration) -> Self {
        Self {
            queue: Mutex::new(SimQueue {
                messages: VecDeque::new(),
                rng: fastrand::Rng::with_seed(seed ^ 0x5eed_c10d_7a11),
                next_id: 0,
            }),
            ready: Notify::new(),
            wait,
        }
    }

    /// Writes the events of one tick's changes (volatile-only ones are not API calls).
    /// Returns how many events were queued.
    pub fn publish(&self, changes: &[SimChange], at_ms: i64) -> usize {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for c in changes {
            let op = match c.kind {
                SimChangeKind::Created => driftlog_events::table::Op::Create,
                SimChangeKind::Modified => driftlog_events::table::Op::Modify,
                SimChangeKind::Deleted => driftlog_events::table::Op::Delete,
                SimChangeKind::VolatileOnly => continue,
            };
            let (name, arn) = name_and_arn(&c.observed.doc);
            q.next_id += 1;
            let id = q.next_id;
            let event_id = uuid_like(&mut q.rng, id);
            let caller = cast(&mut q.rng, &c.key.account);
            let s = Synth {
                key: &c.key,
                op,
                name: name.as_deref(),
                arn: arn.as_deref(),
                event_id: &event_id,
                event_time_ms: at_ms,
                caller: &caller,
            };
            let Some(record) = synthesize(&s) else {
                continue;
            };
            let body = eventbridge_envelope(&record, &uuid_like(&mut q.rng, id)).to_string();
            if q.messages.len() >= SIM_QUEUE_MAX {
                q.messages.pop_front();
            }
            q.messages.push_back((now_ms(), body));
            n += 1;
        }
        drop(q);
        if n > 0 {
            self.ready.notify_one();
        }
        n
    }

    /// Puts one raw message body on the queue, as a producer would: tests send AWS's exact
    /// envelopes (or broken ones) through the same reader as the sim's own events.
    pub fn push_body(&self, body: impl Into<String>) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.messages.push_back((now_ms(), body.into()));
        drop(q);
        self.ready.notify_one();
    }

    fn take(&self) -> Vec<EventMessage> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = q.messages.len().min(SIM_BATCH);
        q.messages
            .drain(..n)
            .enumerate()
            .map(|(i, (sent, body))| EventMessage {
                receipt: Receipt {
                    queue: "sim".into(),
                    handle: format!("{sent}-{i}"),
                },
                sent_ms: Some(sent),
                receive_count: 1,
                content: EventMessage::read_body(&body)
                    .unwrap_or_else(|_| Content::Ignored("log file".into())),
            })
            .collect()
    }
}

impl EventFeed for SimEventFeed {
    fn name(&self) -> &str {
        "sim"
    }

    fn receive(&self) -> BoxFuture<'_, Result<Vec<EventMessage>, PollError>> {
        Box::pin(async move {
            let got = self.take();
            if !got.is_empty() {
                return Ok(got);
            }
            let _ = tokio::time::timeout(self.wait, self.ready.notified()).await;
            Ok(self.take())
        })
    }

    fn ack<'a>(&'a self, _receipts: &'a [Receipt]) -> BoxFuture<'a, Result<(), PollError>> {
        // Taken messages are gone already: the sim's queue is in memory, and a restart
        // replays no events (the poll records what they would have).
        Box::pin(async { Ok(()) })
    }

    fn backlog(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move {
            let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            Some(q.messages.len() as u64)
        })
    }
}

/// `resourceName` and `arn` of a canonical document, without building the whole tree.
fn name_and_arn(doc: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Names {
        #[serde(rename = "resourceName")]
        name: Option<String>,
        arn: Option<String>,
    }
    serde_json::from_slice::<Names>(doc).map_or((None, None), |n| (n.name, n.arn))
}

/// A UUID-shaped id (CloudTrail's `eventID` form), unique by `n`.
fn uuid_like(rng: &mut fastrand::Rng, n: u64) -> String {
    let a = rng.u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a as u16) & 0xfff,
        0x8000 | ((n >> 48) as u16 & 0x3fff),
        n & 0xffff_ffff_ffff
    )
}

/// Who changes the simulated estate: mostly CI roles, some people, an autoscaler.
fn cast(rng: &mut fastrand::Rng, account: &str) -> Caller {
    const IPS: [&str; 4] = [
        "203.0.113.7",
        "198.51.100.23",
        "192.0.2.140",
        "203.0.113.61",
    ];
    let ip = IPS[rng.usize(..IPS.len())];
    match rng.u8(..10) {
        0..=4 => Caller::assumed_role(
            account,
            "deploy",
            &format!("ci-run-{}", rng.u32(100..1000)),
            ip,
            "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22 api/ec2#1.150.0",
        ),
        5..=6 => Caller::assumed_role(
            account,
            "AWSReservedSSO_PowerUser_0123456789abcdef",
            ["alice@example.com", "bob@example.com"][rng.usize(..2)],
            ip,
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        ),
        7..=8 => Caller::iam_user(account, "terraform", ip, "Terraform/1.7.4"),
        _ => Caller::assumed_role(
            account,
            "AWSServiceRoleForAutoScaling",
            "AutoScaling",
            "autoscaling.amazonaws.com",
            "autoscaling.amazonaws.com",
        ),
    }
}

/// Shared handle to a feed.
pub type SharedFeed = Arc<dyn EventFeed>;

#[cfg(test)]
mod tests {
    use super::*;
    use driftlog_sim::{Estate, SimConfig};

    #[tokio::test]
    async fn a_tick_becomes_attributed_events_for_every_change() {
        let mut e = Estate::new(SimConfig {
            resources: 2_000,
            ..SimConfig::default()
        });
        let feed = SimEventFeed::new(7, Duration::from_millis(10));
        let changes = e.tick();
        let real: Vec<_> = changes
            .iter()
            .filter(|c| c.kind != SimChangeKind::VolatileOnly)
            .collect();
        assert!(!real.is_empty());
        let n = feed.publish(&changes, 1_714_557_600_000);
        assert_eq!(n, real.len(), "every change has an event");
        let got = feed.receive().await.unwrap();
        assert_eq!(got.len(), n);
        for (m, c) in got.iter().zip(&real) {
            let Content::Events(events, errors) = &m.content else {
                panic!("{:?}", m.content);
            };
            assert!(errors.is_empty());
            let driftlog_events::Mapped::Resources(targets) = driftlog_events::map(&events[0])
            else {
                panic!("unmapped {:?}", events[0].event_name);
            };
            assert!(targets
                .iter()
                .any(|t| t.resource_type == c.key.resource_type));
        }
        assert_eq!(feed.backlog().await, Some(0));
    }
}
