//! `/metrics`: what an operator watches, in the Prometheus text format (OpenMetrics, as
//! the `prometheus-client` crate writes it) — items recorded and volatile changes
//! suppressed per type, polls, their durations and errors per scope, subscriber and sink
//! lag, the log's size, and the API's calls.

use crate::ConfigApi;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

fn counter(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge<f64, AtomicU64>> {
    let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    reg.register(name, help, f.clone());
    f
}

/// A gauge without labels that is 0 or 1: `driftlog_recorder_up 1`, what alerts match on.
fn flag(reg: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    reg.register(name, help, g.clone());
    g
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[allow(clippy::cast_precision_loss, reason = "gauges are f64 by nature")]
fn f(n: u64) -> f64 {
    n as f64
}

impl ConfigApi {
    /// Counts one answered API call for `/metrics`.
    pub(crate) fn count_call(&self, operation: &str, code: &str) {
        if let Ok(mut m) = self.calls.lock() {
            *m.entry((operation.to_string(), code.to_string()))
                .or_default() += 1;
        }
    }

    /// The metrics page.
    pub fn metrics(&self) -> String {
        let mut reg = Registry::with_prefix("driftlog");
        let recorded = counter(
            &mut reg,
            "items_recorded",
            "Configuration items recorded since start, by resource type",
        );
        let volatile = counter(
            &mut reg,
            "volatile_changes_suppressed",
            "Changes of volatile fields only (no item written) since start, by resource type",
        );
        let polls = counter(&mut reg, "polls", "Polls since start, by scope");
        let poll_errors = counter(
            &mut reg,
            "poll_errors",
            "Failed or partial polls since start, by scope and error code",
        );
        let poll_seconds = gauge(
            &mut reg,
            "poll_duration_seconds",
            "Duration of the last poll, by scope",
        );
        let resources = gauge(
            &mut reg,
            "resources",
            "Resources recorded, by type and state (live, deleted)",
        );
        let watermark = gauge(&mut reg, "log_watermark", "Last published log sequence");
        let size = gauge(
            &mut reg,
            "log_size_bytes",
            "Bytes the store occupies on disk",
        );
        let cursor_lag = gauge(
            &mut reg,
            "cursor_lag_items",
            "Items a durable cursor (subscriber, sink) is behind the log",
        );
        let sink_delivered = counter(
            &mut reg,
            "sink_messages_delivered",
            "Messages a sink delivered since start",
        );
        let sink_failures = counter(
            &mut reg,
            "sink_failures",
            "Failed delivery attempts of a sink since start",
        );
        let sink_lag_seconds = gauge(
            &mut reg,
            "sink_lag_seconds",
            "Seconds since a sink's last acknowledged delivery, while it is behind",
        );
        let recorder_up = flag(
            &mut reg,
            "recorder_up",
            "1 while the recorder is switched on and recording; 0 when it is off or stopped by a failure",
        );
        let recorder_failed = gauge(
            &mut reg,
            "recorder_failed",
            "1 once recording stopped on its own (a commit the store refused), by error code; a restart clears it",
        );
        let poisoned = flag(
            &mut reg,
            "log_writer_poisoned",
            "1 once a storage failure (a full disk) made the store refuse writes; a restart clears it",
        );
        let side_write_failures = counter(
            &mut reg,
            "store_side_write_failures",
            "Side records (statuses) the store refused since start: counted and logged, rewritten at the next change",
        );
        let api_calls = counter(
            &mut reg,
            "api_calls",
            "AWS Config API calls answered since start, by operation and result",
        );
        let events = counter(
            &mut reg,
            "events",
            "CloudTrail events since start, by outcome: received, mapped, read_only, failed_call, unmapped, not_recorded, unresolved, poison",
        );
        let events_unmapped = counter(
            &mut reg,
            "events_unmapped",
            "Write events the mapping table cannot place (left to the poll), by event source and name",
        );
        let event_resources = counter(
            &mut reg,
            "event_resources",
            "Resources named by events since start, by outcome: described, recorded, already_recorded, recorded_by_poll, left_to_poll",
        );
        let event_describes = counter(
            &mut reg,
            "event_describes",
            "Describe calls made for events since start (coalesced per resource)",
        );
        let event_backlog = gauge(
            &mut reg,
            "event_queue_backlog",
            "Messages waiting in the event queues",
        );
        let event_latency = gauge(
            &mut reg,
            "event_to_item_seconds",
            "Event received to item committed, recent events, by quantile",
        );

        if let Some(rec) = &self.recorder {
            let mut by_type: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for s in rec.status().snapshot() {
                let e = by_type.entry(s.resource_type.clone()).or_default();
                e.0 += s.total_changes;
                e.1 += s.total_volatile_ticks;
                let scope = [
                    ("account", s.account.as_str()),
                    ("region", s.region.as_str()),
                    ("resource_type", s.resource_type.as_str()),
                ];
                polls.get_or_create(&l(&scope)).inc_by(s.polls);
                let mut with_code = l(&scope);
                with_code.push(("code".into(), s.last_error_code.clone().unwrap_or_default()));
                if s.poll_errors > 0 {
                    poll_errors.get_or_create(&with_code).inc_by(s.poll_errors);
                }
                poll_seconds
                    .get_or_create(&l(&scope))
                    .set(f(s.last_duration_ms) / 1000.0);
            }
            let e = rec.event_stats().snapshot();
            if !e.feed.is_empty() {
                for (k, n) in [
                    ("received", e.events),
                    ("mapped", e.mapped),
                    ("read_only", e.read_only),
                    ("failed_call", e.failed_calls),
                    ("unmapped", e.unmapped),
                    ("not_recorded", e.not_recorded),
                    ("unresolved", e.unresolved),
                    ("poison", e.poison),
                ] {
                    events.get_or_create(&l(&[("outcome", k)])).inc_by(n);
                }
                for (name, n) in &e.unmapped_by_name {
                    events_unmapped
                        .get_or_create(&l(&[("event", name)]))
                        .inc_by(*n);
                }
                for (k, n) in [
                    ("described", e.keys_described),
                    ("recorded", e.recorded),
                    ("already_recorded", e.already_recorded),
                    ("recorded_by_poll", e.recorded_elsewhere),
                    ("left_to_poll", e.left_to_poll),
                ] {
                    event_resources
                        .get_or_create(&l(&[("outcome", k)]))
                        .inc_by(n);
                }
                event_describes
                    .get_or_create(&Vec::new())
                    .inc_by(e.describes);
                if let Some(b) = e.backlog {
                    event_backlog.get_or_create(&Vec::new()).set(f(b));
                }
                for (q, v) in [("0.5", e.latency_p50_ms), ("0.99", e.latency_p99_ms)] {
                    if let Some(ms) = v {
                        event_latency
                            .get_or_create(&l(&[("quantile", q)]))
                            .set(ms / 1000.0);
                    }
                }
            }
            for (t, (n, v)) in by_type {
                recorded
                    .get_or_create(&l(&[("resource_type", &t)]))
                    .inc_by(n);
                volatile
                    .get_or_create(&l(&[("resource_type", &t)]))
                    .inc_by(v);
            }
        }
        {
            let state = self.log.state();
            let mut by_type: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for (scope, live, gone) in state.scopes() {
                let e = by_type.entry(scope.resource_type.clone()).or_default();
                e.0 += live as u64;
                e.1 += gone as u64;
            }
            for (t, (live, gone)) in by_type {
                resources
                    .get_or_create(&l(&[("resource_type", &t), ("state", "live")]))
                    .set(f(live));
                resources
                    .get_or_create(&l(&[("resource_type", &t), ("state", "deleted")]))
                    .set(f(gone));
            }
        }
        {
            let failure = self.recorder.as_ref().and_then(|r| r.failure());
            let up = self.recorder.as_ref().is_some_and(|r| r.is_recording());
            recorder_up.set(i64::from(up));
            let code = failure.as_ref().map_or("", |f| f.code);
            recorder_failed
                .get_or_create(&l(&[("code", code)]))
                .set(if failure.is_some() { 1.0 } else { 0.0 });
            poisoned.set(i64::from(self.log.is_poisoned()));
            side_write_failures
                .get_or_create(&Vec::new())
                .inc_by(self.log.side_write_failures());
        }
        let w = self.log.watermark();
        watermark.get_or_create(&Vec::new()).set(f(w));
        size.get_or_create(&Vec::new())
            .set(f(self.log.size_on_disk()));
        for (name, c) in self.log.cursors().unwrap_or_default() {
            cursor_lag
                .get_or_create(&l(&[("cursor", &name)]))
                .set(f(w.saturating_sub(c)));
        }
        let now = driftlog_model::time::now_ms();
        for s in self.delivery.sinks() {
            let labels = l(&[("sink", &s.name), ("kind", &s.kind)]);
            sink_delivered.get_or_create(&labels).inc_by(s.delivered);
            sink_failures.get_or_create(&labels).inc_by(s.failures);
            let behind = s.cursor < w;
            let since = s.last_success_ms.map_or(0, |t| now.saturating_sub(t));
            #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
            sink_lag_seconds.get_or_create(&labels).set(if behind {
                since as f64 / 1000.0
            } else {
                0.0
            });
        }
        if let Some((agg, outdated_ms)) = self.aggregator_status.get() {
            let messages = counter(
                &mut reg,
                "aggregator_messages",
                "Aggregator: stream messages since start, by outcome: received, applied, duplicate, recorded (items written), gap, resynced (gaps repaired from a snapshot)",
            );
            for (outcome, n) in agg.counters() {
                messages
                    .get_or_create(&l(&[("outcome", outcome)]))
                    .inc_by(n);
            }
            let refused = counter(
                &mut reg,
                "aggregator_refused",
                "Aggregator: messages refused (never applied) since start, by reason",
            );
            for (reason, n) in agg.refused_counts() {
                refused.get_or_create(&l(&[("reason", &reason)])).inc_by(n);
            }
            let applied = gauge(
                &mut reg,
                "aggregator_source_applied_seq",
                "Aggregator: the last sequence of each source recorder applied",
            );
            let behind = gauge(
                &mut reg,
                "aggregator_source_behind",
                "Aggregator: items a source recorder had recorded (its last heartbeat) and the aggregator had not applied",
            );
            let up = gauge(
                &mut reg,
                "aggregator_source_up",
                "Aggregator: 1 while a source's heartbeats are current (younger than outdated_after), 0 when OUTDATED",
            );
            let open_gap = gauge(
                &mut reg,
                "aggregator_source_gap",
                "Aggregator: 1 while a source has a gap in its items not yet repaired by a resync",
            );
            let now = driftlog_model::time::now_ms();
            for src in agg.sources() {
                let labels = l(&[("recorder", &src.recorder)]);
                applied.get_or_create(&labels).set(f(src.applied_seq));
                open_gap
                    .get_or_create(&labels)
                    .set(if src.gap.is_some() { 1.0 } else { 0.0 });
                if let Some(hb) = &src.heartbeat {
                    behind
                        .get_or_create(&labels)
                        .set(f(hb.watermark.saturating_sub(src.applied_seq)));
                    up.get_or_create(&labels)
                        .set(if now - hb.time_ms <= *outdated_ms {
                            1.0
                        } else {
                            0.0
                        });
                } else {
                    up.get_or_create(&labels).set(0.0);
                }
            }
        }
        if let Ok(m) = self.calls.lock() {
            for ((op, code), n) in m.iter() {
                api_calls
                    .get_or_create(&l(&[("operation", op), ("result", code)]))
                    .inc_by(*n);
            }
        }
        let mut out = String::new();
        if encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}
