//! Event-driven recording on the simulated estate: an event leads to an attributed item in
//! well under a second, coalesces, retries until the change is visible, records a deletion
//! only when the describe vouches for it, and records a redelivered event once.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_log::{Log, LogOptions};
use driftlog_model::{Observed, PartialSnapshot, ResourceKey, Scope, Status};
use driftlog_poll::{BoxFuture, PollError, PollOutcome, SimEventFeed, SimSource, Source};
use driftlog_recorder::{run_events, EventConfig, EventStats, Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimChange, SimChangeKind, SimConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SG: &str = "AWS::EC2::SecurityGroup";

struct Rig {
    _dir: tempfile::TempDir,
    sim: SimSource,
    feed: Arc<SimEventFeed>,
    recorder: Arc<Recorder>,
    stats: Arc<EventStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn cfg() -> EventConfig {
    EventConfig {
        quiet: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        retries: vec![Duration::from_millis(300), Duration::from_millis(600)],
        max_batch: 500,
    }
}

async fn rig_with(source: impl FnOnce(SimSource) -> Arc<dyn Source>, start: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources: 1_000,
        ..SimConfig::default()
    }));
    let recorder = Recorder::new(log, source(sim.clone()), RecorderConfig::default());
    recorder.poll_all_once().await.unwrap();
    let feed = Arc::new(SimEventFeed::new(1, Duration::from_millis(50)));
    let stats = recorder.event_stats().clone();
    let mut rig = Rig {
        _dir: dir,
        sim,
        feed,
        recorder,
        stats,
        stop: None,
    };
    if start {
        rig.start();
    }
    rig
}

async fn rig() -> Rig {
    rig_with(|s| Arc::new(s), true).await
}

impl Rig {
    fn start(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run_events(
            self.recorder.clone(),
            self.feed.clone(),
            cfg(),
            async move {
                let _ = rx.await;
            },
        ));
        self.stop = Some(tx);
    }

    fn sgs(&self) -> Vec<ResourceKey> {
        self.sim.estate().keys_of_type(SG)
    }

    fn observed(&self, key: &ResourceKey) -> Observed {
        self.sim.estate().describe(key).unwrap()
    }

    fn edit(&self, key: &ResourceKey, n: u64) {
        assert!(self.sim.estate().edit(key, |d| {
            d["configuration"]["description"] = json!(format!("edited {n}"));
        }));
    }

    fn publish(&self, key: &ResourceKey, kind: SimChangeKind, observed: Observed) -> usize {
        self.feed.publish(
            &[SimChange {
                key: key.clone(),
                kind,
                observed,
            }],
            driftlog_model::time::now_ms(),
        )
    }

    fn head(&self, key: &ResourceKey) -> driftlog_model::ConfigurationItem {
        self.recorder.log().latest(key).unwrap().unwrap()
    }

    async fn until(&self, what: &str, f: impl Fn(&Rig) -> bool) {
        let t0 = Instant::now();
        while !f(self) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}: {:?}",
                self.stats.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_records_the_change_with_who_made_it() {
    let r = rig().await;
    let key = r.sgs()[0].clone();
    assert_eq!(r.head(&key).version, 1);
    r.edit(&key, 1);
    assert_eq!(
        r.publish(&key, SimChangeKind::Modified, r.observed(&key)),
        1
    );
    r.until("the item", |r| r.stats.snapshot().recorded == 1)
        .await;
    let item = r.head(&key);
    assert_eq!(item.version, 2);
    assert_eq!(item.status, Status::Ok);
    assert_eq!(item.attribution.len(), 1);
    let who = &item.attribution[0];
    assert!(who.principal.starts_with("arn:aws:"), "{who:?}");
    assert_eq!(who.event_source, "ec2.amazonaws.com");
    let n = item.to_notification_json().unwrap();
    assert_eq!(n["relatedEvents"], json!([who.event_id]));
    let s = r.stats.snapshot();
    assert_eq!((s.events, s.mapped, s.recorded, s.describes), (1, 1, 1, 1));
    assert_eq!(s.latency_samples, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_before_the_change_is_visible_is_recorded_after_a_retry() {
    let r = rig().await;
    let key = r.sgs()[1].clone();
    // The event names the resource; the describe still sees the old state.
    r.publish(&key, SimChangeKind::Modified, r.observed(&key));
    r.until("a first describe", |r| r.stats.snapshot().describes >= 1)
        .await;
    assert_eq!(
        r.head(&key).version,
        1,
        "no change visible, nothing recorded"
    );
    r.edit(&key, 2);
    // Counted once the commit returns, a moment after readers see the item.
    r.until("the retry's item", |r| r.stats.snapshot().recorded == 1)
        .await;
    let item = r.head(&key);
    assert_eq!(item.version, 2);
    assert_eq!(item.attribution.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_event_records_the_deletion_the_describe_confirms() {
    let r = rig().await;
    let key = r.sgs()[2].clone();
    let before = r.observed(&key);
    assert!(r.sim.estate().remove(&key));
    r.publish(&key, SimChangeKind::Deleted, before);
    r.until("the deletion", |r| r.stats.snapshot().recorded == 1)
        .await;
    assert_eq!(r.head(&key).status, Status::ResourceDeleted);
    assert_eq!(r.head(&key).attribution.len(), 1);
    assert!(r.head(&key).attribution[0].event_name.starts_with("Delete"));
}

/// A source that cannot tell a failed lookup from a missing resource (the trait's default
/// `describe_exact`): a delete event must then record nothing.
struct Vague(SimSource);

impl Source for Vague {
    fn name(&self) -> &str {
        "vague"
    }
    fn scopes(&self) -> Vec<Scope> {
        self.0.scopes()
    }
    fn poll<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, PollOutcome> {
        self.0.poll(scope)
    }
    fn describe<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<PartialSnapshot, PollError>> {
        self.0.describe(keys)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_deletion_without_a_describe_that_vouches_for_it() {
    let r = rig_with(|s| Arc::new(Vague(s)), true).await;
    let key = r.sgs()[3].clone();
    let before = r.observed(&key);
    assert!(r.sim.estate().remove(&key));
    r.publish(&key, SimChangeKind::Deleted, before);
    r.until("every retry", |r| r.stats.snapshot().left_to_poll == 1)
        .await;
    assert_eq!(r.head(&key).status, Status::ResourceDiscovered);
    assert_eq!(r.head(&key).version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_events_on_fifty_resources_is_fifty_describes() {
    let mut r = rig_with(|s| Arc::new(s), false).await;
    let keys: Vec<ResourceKey> = r.sgs().into_iter().take(50).collect();
    assert_eq!(keys.len(), 50);
    for (i, k) in keys.iter().enumerate() {
        r.edit(k, i as u64);
    }
    for _ in 0..20 {
        for k in &keys {
            r.publish(k, SimChangeKind::Modified, r.observed(k));
        }
    }
    r.start();
    r.until("fifty items", |r| r.stats.snapshot().recorded == 50)
        .await;
    let s = r.stats.snapshot();
    assert_eq!(s.events, 1_000);
    assert!(s.keys_described <= 50, "{s:?}");
    for k in &keys {
        let item = r.head(k);
        assert_eq!(item.version, 2);
        assert_eq!(item.attribution.len(), 20, "every event attributed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_records_one_item_and_poison_is_left_on_the_queue() {
    let r = rig().await;
    let key = r.sgs()[4].clone();
    r.edit(&key, 4);
    let who = driftlog_events::Caller::iam_user("111122223333", "alice", "203.0.113.7", "cli");
    let record = driftlog_events::synthesize(&driftlog_events::Synth {
        key: &key,
        op: driftlog_events::table::Op::Modify,
        name: None,
        arn: None,
        event_id: "11111111-2222-4333-8444-555555555555",
        event_time_ms: driftlog_model::time::now_ms(),
        caller: &who,
    })
    .unwrap();
    let body = driftlog_events::eventbridge_envelope(&record, "env-1").to_string();
    r.feed.push_body(body.clone());
    r.feed.push_body("not json");
    r.until("the item", |r| r.stats.snapshot().acked == 1).await;
    assert_eq!(r.head(&key).version, 2);
    // The same message again, as SQS redelivers one whose delete was lost.
    r.feed.push_body(body);
    // Settled without a describe: found on the item, or covered by the describe that made it.
    r.until("the redelivery", |r| {
        let s = r.stats.snapshot();
        s.already_recorded + s.covered == 1
    })
    .await;
    let s = r.stats.snapshot();
    assert_eq!(r.head(&key).version, 2, "one item in total");
    assert_eq!(s.poison, 1);
    assert_eq!(s.describes, 1);
    assert_eq!(
        s.acked, 2,
        "both deliveries of the good message, not the poison"
    );
    assert_eq!(
        r.head(&key).attribution[0].principal,
        "arn:aws:iam::111122223333:user/alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_recorder_records_no_event_until_started() {
    let r = rig().await;
    let key = r.sgs()[5].clone();
    r.recorder.stop();
    r.edit(&key, 5);
    r.publish(&key, SimChangeKind::Modified, r.observed(&key));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(r.head(&key).version, 1, "nothing recorded while stopped");
    r.recorder.start();
    r.until("the item after start", |r| r.stats.snapshot().recorded == 1)
        .await;
    assert_eq!(r.head(&key).version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_for_a_change_a_describe_already_saw_makes_no_describe() {
    let r = rig().await;
    let key = r.sgs()[6].clone();
    r.edit(&key, 6);
    let changed_at = driftlog_model::time::now_ms() - 3_000;
    let change = |o| SimChange {
        key: key.clone(),
        kind: SimChangeKind::Modified,
        observed: o,
    };
    r.feed.publish(&[change(r.observed(&key))], changed_at);
    r.until("the item", |r| r.stats.snapshot().recorded == 1)
        .await;
    // More events of the same call's burst, arriving after the describe.
    r.feed.publish(
        &[change(r.observed(&key)), change(r.observed(&key))],
        changed_at,
    );
    r.until("both covered", |r| r.stats.snapshot().covered == 2)
        .await;
    let s = r.stats.snapshot();
    assert_eq!(s.describes, 1, "{s:?}");
    assert_eq!(r.head(&key).version, 2);
}
