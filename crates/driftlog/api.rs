//! The query protocol shared by local execution (the CLI opening the store itself) and the
//! running server (the CLI talking to `serve` over its Unix socket): one JSON request, an
//! NDJSON answer. One code path answers both, so the two cannot drift apart.

use anyhow::{anyhow, bail, Context, Result};
use driftlog_diff::text::unified;
use driftlog_log::{HistoryQuery, Log, Order};
use driftlog_model::time::{iso_ms, now_ms};
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, Status, TypePattern};
use driftlog_recorder::Recorder;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Filter terms as typed on the command line (`tail`, `at`) and sent to the server as they
/// are; one type serves both, so the options and the wire cannot drift apart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
pub struct FilterSpec {
    /// Resource type or glob (repeatable): AWS::EC2::SecurityGroup, 'AWS::IAM::*'.
    #[serde(default)]
    #[arg(long = "type", short = 't')]
    pub types: Vec<String>,
    /// Account id (repeatable).
    #[serde(default)]
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    /// Region (repeatable; `global` for IAM).
    #[serde(default)]
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Status (repeatable): OK, ResourceDiscovered, ResourceDeleted.
    #[serde(default)]
    #[arg(long = "status")]
    pub statuses: Vec<String>,
    /// Resource id (repeatable).
    #[serde(default)]
    #[arg(long = "id")]
    pub ids: Vec<String>,
}

impl FilterSpec {
    /// The model filter.
    ///
    /// # Errors
    /// A bad type pattern or status, named.
    pub fn to_filter(&self) -> Result<Filter> {
        Ok(Filter {
            types: self
                .types
                .iter()
                .map(|t| TypePattern::parse(t))
                .collect::<Result<_, _>>()?,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            statuses: self
                .statuses
                .iter()
                .map(|s| Status::parse(s))
                .collect::<Result<_, _>>()?,
            resource_ids: self.ids.clone(),
        })
    }
}

/// Where `tail` starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailFrom {
    /// New items only.
    Now,
    /// After this sequence number.
    Seq(u64),
    /// From this time (epoch ms).
    Time(i64),
}

/// One request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A resource's history.
    History {
        /// `TYPE/ID` or `ACCOUNT/REGION/TYPE/ID`.
        resource: String,
        /// Oldest capture time.
        earlier_ms: Option<i64>,
        /// Newest capture time.
        later_ms: Option<i64>,
        /// Oldest first.
        forward: bool,
        /// Items at most.
        limit: usize,
    },
    /// One resource as of now or a time.
    Show {
        /// Resource.
        resource: String,
        /// Time.
        at_ms: Option<i64>,
    },
    /// The inventory at a time.
    At {
        /// Time.
        at_ms: i64,
        /// Filter.
        filter: FilterSpec,
        /// Items (NDJSON) instead of counts.
        items: bool,
    },
    /// Text diff of two versions.
    Diff {
        /// Resource.
        resource: String,
        /// Older version (default: the one before `v2`).
        v1: Option<u64>,
        /// Newer version (default: latest).
        v2: Option<u64>,
    },
    /// Who points at a resource.
    Related {
        /// Resource.
        resource: String,
        /// Time.
        at_ms: Option<i64>,
    },
    /// Recorder status.
    Status,
    /// Follow the log.
    Tail {
        /// Filter.
        filter: FilterSpec,
        /// Start.
        from: TailFrom,
        /// Durable cursor name.
        durable: Option<String>,
        /// Stop after this many items.
        limit: Option<u64>,
    },
    /// Re-describe one resource now.
    Refresh {
        /// Resource.
        resource: String,
    },
    /// Status of the sinks and the delivery channel.
    Sinks,
    /// Deliver a configuration snapshot now.
    DeliverSnapshot,
    /// Items per hour by type and by resource since a time.
    Stats {
        /// Window start.
        since_ms: i64,
        /// Resources to list.
        top: usize,
    },
    /// The API's audit trail, newest first.
    Audit {
        /// Records at most.
        limit: usize,
        /// One operation only.
        operation: Option<String>,
        /// Failed calls only.
        errors: bool,
    },
    /// Start or stop scheduled recording (StartConfigurationRecorder / Stop...).
    SetRecording {
        /// On or off.
        on: bool,
    },
    /// Rules and compliance.
    Rules(crate::rules_cli::RulesRequest),
}

/// What a request can reach: the log always, the recorder only inside `serve`.
pub struct Backend {
    /// The store.
    pub log: Arc<Log>,
    /// The running recorder, if any.
    pub recorder: Option<Arc<Recorder>>,
    /// The delivery channel and sinks (running in `serve`; the channel alone offline).
    pub delivery: Option<Arc<crate::delivery::Delivery>>,
    /// The control plane (recorder and channel as the AWS Config API defines them).
    pub api: Option<Arc<driftlog_api::ConfigApi>>,
    /// The rules engine (running in `serve`; over the store alone offline).
    pub rules: Option<Arc<driftlog_compliance::Engine>>,
}

/// One answer of a query: a JSON value, or an item already written as its NDJSON line.
pub enum Answer {
    /// A value to print or send.
    Value(Value),
    /// An item's event JSON, written straight from the stored bytes (no tree).
    Line(Vec<u8>),
}

impl Answer {
    /// The answer as a value (parsing a line).
    ///
    /// # Errors
    /// A line that is not JSON (cannot happen for lines this module made).
    pub fn into_value(self) -> Result<Value> {
        match self {
            Answer::Value(v) => Ok(v),
            Answer::Line(b) => Ok(serde_json::from_slice(&b)?),
        }
    }

    /// The answer as one NDJSON line, without the newline.
    ///
    /// # Errors
    /// A value that cannot be serialized (cannot happen for JSON values).
    pub fn into_line(self) -> Result<Vec<u8>> {
        match self {
            Answer::Value(v) => Ok(serde_json::to_vec(&v)?),
            Answer::Line(b) => Ok(b),
        }
    }
}

/// The NDJSON line of one item.
pub fn item_answer(ci: &ConfigurationItem) -> Result<Answer> {
    let mut b = Vec::with_capacity(ci.doc.len() + 1024);
    ci.write_event_json(&mut b)?;
    Ok(Answer::Line(b))
}

fn resolve(log: &Log, resource: &str) -> Result<ResourceKey> {
    let r = ResourceKey::parse_user(resource)?;
    let mut keys = log.resolve(&r);
    match keys.len() {
        0 => bail!("no recorded resource matches {resource:?}; `driftlog at now --items` lists what is recorded"),
        1 => Ok(keys.remove(0)),
        _ => bail!(
            "{resource:?} is ambiguous: {}; give ACCOUNT/REGION/TYPE/ID",
            keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Answers every request but `Tail` (which streams; see the server and `main`), calling
/// `out` per NDJSON value.
///
/// # Errors
/// Bad input (named) or a storage failure.
pub async fn execute(
    b: &Backend,
    req: Request,
    out: &mut (dyn FnMut(Answer) -> bool + Send),
) -> Result<()> {
    let log = &b.log;
    match req {
        Request::History {
            resource,
            earlier_ms,
            later_ms,
            forward,
            limit,
        } => {
            let key = resolve(log, &resource)?;
            let mut token = None;
            let mut left = limit;
            loop {
                let page = log.history(
                    &key,
                    &HistoryQuery {
                        earlier_ms,
                        later_ms,
                        order: if forward {
                            Order::Forward
                        } else {
                            Order::Reverse
                        },
                        limit: left.min(100),
                        token,
                    },
                )?;
                for ci in &page.items {
                    if !out(item_answer(ci)?) {
                        return Ok(());
                    }
                }
                left = left.saturating_sub(page.items.len());
                match page.next {
                    Some(t) if left > 0 => token = Some(t),
                    _ => break,
                }
            }
        }
        Request::Show { resource, at_ms } => {
            let key = resolve(log, &resource)?;
            let ci = match at_ms {
                Some(t) => log.at_time(&key, t)?,
                None => log.latest(&key)?,
            };
            match ci {
                Some(ci) => {
                    out(Answer::Value(ci.to_event_json()?));
                }
                None => bail!(
                    "{key} had no recorded state at {}",
                    at_ms.map_or("that time".into(), iso_ms)
                ),
            }
        }
        Request::At {
            at_ms,
            filter,
            items,
        } => {
            let f = filter.to_filter()?;
            let log2 = log.clone();
            if items {
                // Stream through a bounded channel so memory stays flat on a huge estate.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Answer>(1024);
                let task = tokio::task::spawn_blocking(move || {
                    log2.inventory_at(at_ms, &f, |ci| match item_answer(&ci) {
                        Ok(a) => tx.blocking_send(a).is_ok(),
                        Err(e) => {
                            tracing::error!(seq = ci.seq, error = %e, "Item cannot be rendered; skipped.");
                            true
                        }
                    })
                });
                while let Some(v) = rx.recv().await {
                    if !out(v) {
                        break;
                    }
                }
                drop(rx);
                task.await.map_err(|e| anyhow!("{e}"))??;
            } else {
                let counts = tokio::task::spawn_blocking(move || {
                    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                    log2.inventory_at(at_ms, &f, |ci| {
                        *counts.entry(ci.key.resource_type).or_default() += 1;
                        true
                    })
                    .map(|_| counts)
                })
                .await
                .map_err(|e| anyhow!("{e}"))??;
                let total: u64 = counts.values().sum();
                out(Answer::Value(
                    json!({"at": iso_ms(at_ms), "total": total, "counts": counts}),
                ));
            }
        }
        Request::Diff { resource, v1, v2 } => {
            let key = resolve(log, &resource)?;
            let all = log.history(
                &key,
                &HistoryQuery {
                    order: Order::Forward,
                    limit: usize::MAX,
                    ..HistoryQuery::default()
                },
            )?;
            let by_version = |v: u64| {
                all.items.iter().find(|i| i.version == v).ok_or_else(|| {
                    anyhow!(
                        "{key} has no version {v}; it has 1..={}",
                        all.items.last().map_or(0, |i| i.version)
                    )
                })
            };
            let newest = all
                .items
                .last()
                .ok_or_else(|| anyhow!("{key} has no history"))?;
            let b_item = by_version(v2.unwrap_or(newest.version))?;
            let a_item = match v1 {
                Some(v) => by_version(v)?,
                None => by_version(b_item.version.saturating_sub(1).max(1))?,
            };
            let text = unified(
                &a_item.to_notification_json()?,
                &b_item.to_notification_json()?,
                &format!(
                    "{key} v{} ({})",
                    a_item.version,
                    iso_ms(a_item.capture_time_ms)
                ),
                &format!(
                    "{key} v{} ({})",
                    b_item.version,
                    iso_ms(b_item.capture_time_ms)
                ),
            );
            // The field changes between the two versions asked for (not only the last step).
            let spec = driftlog_model::spec_for(&key.resource_type);
            let a_doc: Value = serde_json::from_slice(&a_item.doc)?;
            let b_doc: Value = serde_json::from_slice(&b_item.doc)?;
            let mut props = serde_json::Map::new();
            for c in driftlog_diff::structural::diff(spec, &a_doc, &b_doc) {
                props.insert(
                    c.aws_path(),
                    json!({
                        "previousValue": c.previous_value,
                        "updatedValue": c.updated_value,
                        "changeType": c.change_type,
                    }),
                );
            }
            out(Answer::Value(json!({
                "resource": key.to_string(),
                "v1": a_item.version,
                "v2": b_item.version,
                "changedProperties": props,
                "unifiedDiff": text,
            })));
        }
        Request::Related { resource, at_ms } => {
            let key = resolve(log, &resource)?;
            let at = match at_ms {
                Some(t) => Some(log.seq_at_time(t)?),
                None => None,
            };
            for r in log.related_to(&key.resource_type, &key.resource_id, at)? {
                if !out(Answer::Value(json!({
                    "resourceType": r.source.resource_type,
                    "resourceId": r.source.resource_id,
                    "accountId": r.source.account,
                    "awsRegion": r.source.region,
                    "relationshipName": r.relationship,
                    "sinceSeq": r.since_seq,
                }))) {
                    break;
                }
            }
        }
        Request::Status => {
            let (scopes, recording): (Value, Option<bool>) = match &b.recorder {
                Some(r) => (
                    serde_json::to_value(r.status().snapshot())?,
                    Some(r.is_recording()),
                ),
                None => (
                    log.get_kv("recorder_status")?
                        .and_then(|v| serde_json::from_slice(&v).ok())
                        .unwrap_or(json!([])),
                    log.get_kv("recorder_running")?.map(|v| v == b"1"),
                ),
            };
            // Recording that stopped on its own (a full disk) is said, with why and since.
            let failure = b.recorder.as_ref().and_then(|r| r.failure()).map(|f| {
                json!({
                    "code": f.code,
                    "message": f.message,
                    "sinceMs": f.since_ms,
                    "remedy": f.remedy(),
                })
            });
            let st = log.state();
            out(Answer::Value(json!({
                "running": b.recorder.is_some(),
                "recording": recording,
                "recordingFailure": failure,
                "watermark": log.watermark(),
                "oldestSeq": log.oldest(),
                "resources": st.live_count(),
                "resourcesEverSeen": st.len(),
                "bytesOnDisk": log.size_on_disk(),
                "dataDir": log.path().display().to_string(),
                "now": iso_ms(now_ms()),
                "scopes": scopes,
            })));
        }
        Request::Refresh { resource } => {
            // A full ACCOUNT/REGION/TYPE/ID may name a resource not recorded yet (created
            // since the last poll): it is described and, if it exists, discovered.
            let key =
                match resolve(log, &resource) {
                    Ok(k) => k,
                    Err(e) => match ResourceKey::parse_user(&resource)? {
                        driftlog_model::ResourceRef {
                            account: Some(account),
                            region: Some(region),
                            resource_type,
                            resource_id,
                        } => ResourceKey::new(account, region, resource_type, resource_id),
                        _ => return Err(e.context(
                            "to refresh a resource not recorded yet, give ACCOUNT/REGION/TYPE/ID",
                        )),
                    },
                };
            let rec = b
                .recorder
                .as_ref()
                .context("refresh needs a source: run it while `driftlog serve` is running")?;
            let report = rec.refresh(std::slice::from_ref(&key)).await?;
            out(Answer::Value(json!({
                "resource": key.to_string(),
                "recorded": report.written(),
                "relatedChecked": report.related_checked,
                "relatedChanged": report.related_changed,
            })));
        }
        Request::SetRecording { on } => {
            let (Some(rec), Some(api)) = (b.recorder.as_ref(), b.api.as_ref()) else {
                anyhow::bail!(
                    "no recorder is running: start one with `driftlog serve` (or set recorder.start)"
                );
            };
            // Through the control plane, so the API shows it and a restart keeps it.
            api.set_recording(on)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            out(Answer::Value(json!({"recording": rec.is_recording()})));
        }
        Request::Sinks => {
            let now = now_ms();
            let (sinks, channel) = match &b.delivery {
                Some(d) if b.recorder.is_some() => {
                    (d.board.snapshot(), d.channel().map(|c| c.status()))
                }
                _ => (
                    driftlog_sinks::SinkBoard::stored(log),
                    driftlog_sinks::DeliveryChannel::stored_status(log),
                ),
            };
            let w = log.watermark();
            let mut list = Vec::new();
            for s in sinks {
                // How far behind: log positions, and the age of the oldest undelivered item.
                let behind = w.saturating_sub(s.cursor);
                let age = if behind > 0 {
                    log.get(s.cursor + 1)?.map(|c| now - c.capture_time_ms)
                } else {
                    None
                };
                let mut v = serde_json::to_value(&s)?;
                v["lag"] = json!(behind);
                v["lagMs"] = json!(age);
                list.push(v);
            }
            out(Answer::Value(json!({
                "running": b.recorder.is_some(),
                "watermark": w,
                "sinks": list,
                "deliveryChannel": channel,
            })));
        }
        Request::DeliverSnapshot => {
            let ch = b
                .delivery
                .as_ref()
                .and_then(|d| d.channel())
                .context("no delivery channel: set [delivery] enabled = true in the config")?;
            let r = ch.deliver_snapshot(None).await?;
            if b.recorder.is_none() {
                // No server runs to publish the queued delivery events: publish them now
                // (they stay queued for the next server if the topic is unreachable).
                if let Err(e) = ch.publish_events().await {
                    tracing::warn!(error = %e, "Delivery events stay queued: the topic is unreachable.");
                }
            }
            out(Answer::Value(json!({
                "configSnapshotId": r.config_snapshot_id,
                "s3Bucket": r.s3_bucket,
                "items": r.items,
                "at": iso_ms(r.at_ms),
                "files": r.files.iter().map(|(k, n)| json!({"s3ObjectKey": k, "items": n})).collect::<Vec<_>>(),
            })));
        }
        Request::Rules(r) => {
            let v = crate::rules_cli::execute(b, r).await?;
            out(Answer::Value(v));
        }
        Request::Stats { since_ms, top } => {
            let log2 = log.clone();
            let v = tokio::task::spawn_blocking(move || stats(&log2, since_ms, top))
                .await
                .context("stats reader")??;
            let mut v = v;
            // Volatile changes suppressed (no item written), from the running recorder.
            if let Some(rec) = &b.recorder {
                let mut by_type: std::collections::BTreeMap<String, u64> = Default::default();
                for s in rec.status().snapshot() {
                    *by_type.entry(s.resource_type).or_default() += s.total_volatile_ticks;
                }
                v["volatileSuppressedSinceStart"] = json!(by_type);
                // Items DAILY recording saved (changes continuous recording would have written).
                let mode = rec.mode();
                if !mode.all_continuous() {
                    v["dailySavedSinceStart"] = json!(rec.daily_saved());
                }
            }
            out(Answer::Value(v));
        }
        Request::Audit {
            limit,
            operation,
            errors,
        } => {
            // Newest first, scanning back page by page until `limit` records match.
            let mut before = u64::MAX;
            let mut shown = 0;
            'scan: loop {
                let page = log.audit_records(before, 1000, true)?;
                let Some((last, _)) = page.last() else { break };
                before = *last;
                for (seq, bytes) in page {
                    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
                        continue;
                    };
                    if operation
                        .as_ref()
                        .is_some_and(|o| v["operation"] != o.as_str())
                        || (errors && v["errorCode"].is_null())
                    {
                        continue;
                    }
                    v["seq"] = json!(seq);
                    if shown == limit || !out(Answer::Value(v)) {
                        break 'scan;
                    }
                    shown += 1;
                }
            }
        }
        Request::Tail { .. } => bail!("tail is streamed by the caller"),
    }
    Ok(())
}

/// Items per hour in `[since_ms, now]`: by type, and the `top` resources.
fn stats(log: &Log, since_ms: i64, top: usize) -> Result<Value> {
    use std::collections::HashMap;
    let now = now_ms();
    let since_ms = since_ms.min(now - 1);
    let after = log
        .seq_at_time(since_ms)?
        .max(log.oldest().saturating_sub(1));
    let end = log.watermark();
    let mut by_type: HashMap<String, u64> = HashMap::new();
    let mut by_resource: HashMap<driftlog_model::ResourceKey, u64> = HashMap::new();
    let mut first_ms = None;
    let mut cursor = after;
    let mut total = 0u64;
    while cursor < end {
        let (items, last) = log.read_range(cursor, 10_000, &driftlog_model::Filter::default())?;
        if last == cursor {
            break;
        }
        for ci in items {
            if ci.capture_time_ms < since_ms {
                continue;
            }
            first_ms.get_or_insert(ci.capture_time_ms);
            total += 1;
            *by_type.entry(ci.key.resource_type.clone()).or_default() += 1;
            *by_resource.entry(ci.key).or_default() += 1;
        }
        cursor = last;
    }
    #[allow(clippy::cast_precision_loss, reason = "counts and hours")]
    let hours = ((now - since_ms) as f64 / 3_600_000.0).max(1.0 / 3600.0);
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let per_hour = |n: u64| (n as f64 / hours * 10.0).round() / 10.0;
    let mut types: Vec<(String, u64)> = by_type.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut res: Vec<(driftlog_model::ResourceKey, u64)> = by_resource.into_iter().collect();
    res.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    res.truncate(top);
    #[allow(clippy::cast_precision_loss, reason = "shares")]
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    Ok(json!({
        "since": iso_ms(since_ms),
        "until": iso_ms(now),
        "hours": (hours * 100.0).round() / 100.0,
        "items": total,
        "itemsPerHour": per_hour(total),
        "types": types.iter().map(|(t, n)| json!({"resourceType": t, "items": n, "perHour": per_hour(*n), "percent": share(*n)})).collect::<Vec<_>>(),
        "resources": res.iter().map(|(k, n)| json!({"resource": k.to_string(), "items": n, "perHour": per_hour(*n)})).collect::<Vec<_>>(),
    }))
}
