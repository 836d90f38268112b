//! Answers queries: the same code for the running server (over its query socket) and for
//! the CLI over the store itself, so the two cannot drift apart. `execute` dispatches; each
//! request has a function of its own.

use crate::error::{bail, Context, Error, Result};
use crate::protocol::{
    item_answer, time_arg, Answer, AtArgs, AuditArgs, DeliverRequest, HistoryArgs, Request,
    StatsArgs,
};
use crate::services::Reach;
use driftlog_diff::text::unified;
use driftlog_log::{HistoryQuery, Log, Order};
use driftlog_model::time::{iso_ms, now_ms, parse_user_time};
use driftlog_model::ResourceKey;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where answers go: one call per NDJSON value; `false` stops the answer (the reader left).
pub type Out<'a> = dyn FnMut(Answer) -> bool + Send + 'a;

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

/// Answers every request but `Tail` (which streams; see the query socket and the CLI),
/// calling `out` per NDJSON value.
///
/// # Errors
/// Bad input (named), a request that needs a running server, or a storage failure.
pub async fn execute(reach: &Reach, req: Request, out: &mut Out<'_>) -> Result<()> {
    let now = now_ms();
    let log = reach.log();
    match req {
        Request::History(h) => history(log, &h, now, out),
        Request::Show { resource, at } => show(log, &resource, time_arg(at.as_deref(), now)?, out),
        Request::At(a) => at(log, a, now, out).await,
        Request::Diff { resource, v1, v2 } => diff(log, &resource, v1, v2, out),
        Request::Related { resource, at, .. } => {
            related(log, &resource, time_arg(at.as_deref(), now)?, out)
        }
        Request::Status { .. } => status(reach, out),
        Request::Refresh { resource } => refresh(reach, &resource, out).await,
        Request::Start => set_recording(reach, true, out).await,
        Request::Stop => set_recording(reach, false, out).await,
        Request::Sinks { .. } => sinks(reach, now, out),
        Request::Deliver(DeliverRequest::Snapshot) => deliver_snapshot(reach, out).await,
        Request::Rules(r) => {
            out(Answer::Value(crate::rules_query::execute(reach, r).await?));
            Ok(())
        }
        Request::Compliance {
            rule, resource, at, ..
        } => {
            let v = crate::rules_query::compliance(reach, rule, resource, at.as_deref()).await?;
            out(Answer::Value(v));
            Ok(())
        }
        Request::Stats(s) => stats_request(reach, &s, now, out).await,
        Request::Audit(a) => audit(log, &a, out),
        Request::Tail(_) => bail!("tail is streamed by the caller"),
    }
}

fn running<'a>(reach: &'a Reach, what: &str) -> Result<&'a std::sync::Arc<crate::Services>> {
    reach.server().ok_or_else(|| {
        Error::NotRunning(format!(
            "{what} needs a running recorder: start `driftlog serve` (with this data dir) and retry"
        ))
    })
}

fn history(log: &Log, h: &HistoryArgs, now: i64, out: &mut Out<'_>) -> Result<()> {
    let key = resolve(log, &h.resource)?;
    let earlier_ms = time_arg(h.since.as_deref(), now)?;
    let later_ms = time_arg(h.until.as_deref(), now)?;
    let mut token = None;
    let mut left = usize::try_from(h.limit).unwrap_or(usize::MAX);
    loop {
        let page = log.history(
            &key,
            &HistoryQuery {
                earlier_ms,
                later_ms,
                order: if h.forward {
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
            _ => return Ok(()),
        }
    }
}

fn show(log: &Log, resource: &str, at_ms: Option<i64>, out: &mut Out<'_>) -> Result<()> {
    let key = resolve(log, resource)?;
    let ci = match at_ms {
        Some(t) => log.at_time(&key, t)?,
        None => log.latest(&key)?,
    };
    match ci {
        Some(ci) => {
            out(Answer::Value(ci.to_event_json()?));
            Ok(())
        }
        None => bail!(
            "{key} had no recorded state at {}",
            at_ms.map_or("that time".into(), iso_ms)
        ),
    }
}

async fn at(log: &std::sync::Arc<Log>, a: AtArgs, now: i64, out: &mut Out<'_>) -> Result<()> {
    let at_ms = parse_user_time(&a.time, now)?;
    let f = a.filter.to_filter()?;
    let log2 = log.clone();
    if a.items {
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
        task.await??;
    } else {
        let counts = tokio::task::spawn_blocking(move || {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            log2.inventory_at(at_ms, &f, |ci| {
                *counts.entry(ci.key.resource_type).or_default() += 1;
                true
            })
            .map(|_| counts)
        })
        .await??;
        let total: u64 = counts.values().sum();
        out(Answer::Value(
            json!({"at": iso_ms(at_ms), "total": total, "counts": counts}),
        ));
    }
    Ok(())
}

fn diff(
    log: &Log,
    resource: &str,
    v1: Option<u64>,
    v2: Option<u64>,
    out: &mut Out<'_>,
) -> Result<()> {
    let key = resolve(log, resource)?;
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
            Error::invalid(format!(
                "{key} has no version {v}; it has 1..={}",
                all.items.last().map_or(0, |i| i.version)
            ))
        })
    };
    let newest = all
        .items
        .last()
        .with_context(|| format!("{key} has no history"))?;
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
    Ok(())
}

fn related(log: &Log, resource: &str, at_ms: Option<i64>, out: &mut Out<'_>) -> Result<()> {
    let key = resolve(log, resource)?;
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
    Ok(())
}

fn status(reach: &Reach, out: &mut Out<'_>) -> Result<()> {
    let log = reach.log();
    let recorder = reach.recorder();
    let (scopes, recording): (Value, Option<bool>) = match recorder {
        Some(r) => (
            serde_json::to_value(r.status().snapshot())?,
            Some(r.is_recording()),
        ),
        None => (
            serde_json::to_value(
                driftlog_recorder::STORED_STATUS
                    .get(log, "")?
                    .unwrap_or_default(),
            )?,
            driftlog_recorder::STORED_RUNNING
                .get(log, "")?
                .map(|on| on == 1),
        ),
    };
    // Recording that stopped on its own (a full disk) is said, with why and since.
    let failure = recorder.and_then(|r| r.failure()).map(|f| {
        json!({
            "code": f.code,
            "message": f.message,
            "sinceMs": f.since_ms,
            "remedy": f.remedy(),
        })
    });
    // Event-driven recording, when a feed ever ran (live counters inside serve).
    let events = match recorder {
        Some(r) => Some(r.event_stats().snapshot()).filter(|e| !e.feed.is_empty()),
        None => driftlog_recorder::STORED_EVENT_STATUS.get(log, "")?,
    };
    // The aggregator's stream and sources, inside an aggregator's serve.
    let aggregator = reach
        .server()
        .and_then(|s| s.aggregator.as_ref())
        .map(|a| a.to_json());
    let st = log.state();
    let api = reach
        .server()
        .and_then(|s| s.api_address)
        .map(|a| a.to_string());
    out(Answer::Value(json!({
        "running": recorder.is_some(),
        "apiAddress": api,
        "recording": recording,
        "recordingFailure": failure,
        "watermark": log.watermark(),
        "logId": log.id(),
        "oldestSeq": log.oldest(),
        "resources": st.live_count(),
        "resourcesEverSeen": st.len(),
        "bytesOnDisk": log.size_on_disk(),
        "dataDir": log.path().display().to_string(),
        "now": iso_ms(now_ms()),
        "scopes": scopes,
        "events": events,
        "aggregator": aggregator,
    })));
    Ok(())
}

async fn refresh(reach: &Reach, resource: &str, out: &mut Out<'_>) -> Result<()> {
    // A full ACCOUNT/REGION/TYPE/ID may name a resource not recorded yet (created since the
    // last poll): it is described and, if it exists, discovered.
    let key = match resolve(reach.log(), resource) {
        Ok(k) => k,
        Err(e) => match ResourceKey::parse_user(resource)? {
            driftlog_model::ResourceRef {
                account: Some(account),
                region: Some(region),
                resource_type,
                resource_id,
            } => ResourceKey::new(account, region, resource_type, resource_id),
            _ => {
                return Err(Error::invalid(format!(
                    "{e}; to refresh a resource not recorded yet, give ACCOUNT/REGION/TYPE/ID"
                )))
            }
        },
    };
    let rec = &running(reach, "refresh")?.recorder;
    let report = rec.refresh(std::slice::from_ref(&key)).await?;
    out(Answer::Value(json!({
        "resource": key.to_string(),
        "recorded": report.written(),
        "relatedChecked": report.related_checked,
        "relatedChanged": report.related_changed,
    })));
    Ok(())
}

async fn set_recording(reach: &Reach, on: bool, out: &mut Out<'_>) -> Result<()> {
    let s = running(reach, if on { "start" } else { "stop" })?;
    // Through the control plane, so the API shows it and a restart keeps it.
    s.api
        .set_recording(on)
        .await
        .map_err(|e| Error::invalid(e.message))?;
    out(Answer::Value(
        json!({"recording": s.recorder.is_recording()}),
    ));
    Ok(())
}

fn sinks(reach: &Reach, now: i64, out: &mut Out<'_>) -> Result<()> {
    let log = reach.log();
    let (sinks, channel) = match reach.server() {
        Some(s) => (
            s.delivery.board.snapshot(),
            s.delivery.channel().map(|c| c.status()),
        ),
        None => (
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
        "running": reach.server().is_some(),
        "watermark": w,
        "sinks": list,
        "deliveryChannel": channel,
    })));
    Ok(())
}

async fn deliver_snapshot(reach: &Reach, out: &mut Out<'_>) -> Result<()> {
    let ch = reach
        .delivery()
        .and_then(|d| d.channel())
        .context("no delivery channel: set [delivery] enabled = true in the config")?;
    let r = ch.deliver_snapshot(None).await?;
    if reach.server().is_none() {
        // No server runs to publish the queued delivery events: publish them now (they stay
        // queued for the next server if the topic is unreachable).
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
    Ok(())
}

async fn stats_request(reach: &Reach, s: &StatsArgs, now: i64, out: &mut Out<'_>) -> Result<()> {
    let since_ms = parse_user_time(&s.since, now)?;
    let log2 = reach.log().clone();
    let top = s.top;
    let mut v = tokio::task::spawn_blocking(move || stats(&log2, since_ms, top)).await??;
    // Volatile changes suppressed (no item written), from the running recorder.
    if let Some(rec) = reach.recorder() {
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        for s in rec.status().snapshot() {
            *by_type.entry(s.resource_type).or_default() += s.total_volatile_ticks;
        }
        v["volatileSuppressedSinceStart"] = json!(by_type);
        // Items DAILY recording saved (changes continuous recording would have written).
        if !rec.mode().all_continuous() {
            v["dailySavedSinceStart"] = json!(rec.daily_saved());
        }
    }
    out(Answer::Value(v));
    Ok(())
}

fn audit(log: &Log, a: &AuditArgs, out: &mut Out<'_>) -> Result<()> {
    // Newest first, scanning back page by page until `limit` records match.
    let mut before = u64::MAX;
    let mut shown = 0;
    loop {
        let page = log.audit_records(before, 1000, true)?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        before = *last;
        for (seq, bytes) in page {
            let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            if a.operation
                .as_ref()
                .is_some_and(|o| v["operation"] != o.as_str())
                || (a.errors && v["errorCode"].is_null())
            {
                continue;
            }
            v["seq"] = json!(seq);
            if shown == a.limit || !out(Answer::Value(v)) {
                return Ok(());
            }
            shown += 1;
        }
    }
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
    let mut by_principal: HashMap<String, u64> = HashMap::new();
    let mut by_poll = 0u64;
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
            // Who changes the most: each item counts once per principal that made it.
            let mut who: Vec<&str> = ci
                .attribution
                .iter()
                .map(|a| a.principal.as_str())
                .collect();
            who.sort_unstable();
            who.dedup();
            if who.is_empty() {
                by_poll += 1;
            }
            for p in who {
                *by_principal.entry(p.to_string()).or_default() += 1;
            }
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
    let mut principals: Vec<(String, u64)> = by_principal.into_iter().collect();
    principals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    principals.truncate(top);
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
        "principals": principals.iter().map(|(p, n)| json!({"principal": p, "items": n, "perHour": per_hour(*n), "percent": share(*n)})).collect::<Vec<_>>(),
        "itemsFoundByPoll": by_poll,
    }))
}
