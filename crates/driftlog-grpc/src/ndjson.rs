//! `GET /v1/changes?...`: the change stream as NDJSON over plain HTTP, for curl users —
//! the lines of `driftlog tail --json`, one per item, as they are committed.
//!
//! Query parameters (each repeatable where it is a list): `type` (globs), `account`,
//! `region`, `status`, `id`, `prefix` (changed-property path prefix), `from` (`now`, a
//! sequence, or a time: RFC 3339, epoch seconds, `-1h`), `limit` (stop after so many).
//! Resume after a disconnect with `from=<last seq>`.

use crate::{pb, ChangeFilter};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use driftlog_log::Log;
use driftlog_subscribe::{subscribe, Start};
use std::sync::Arc;
use tokio_stream::StreamExt;

fn bad(msg: String) -> Response {
    let body = serde_json::json!({"error": msg}).to_string() + "\n";
    (StatusCode::BAD_REQUEST, body).into_response()
}

/// The handler.
pub async fn changes(
    State((log, shutdown)): State<(Arc<Log>, crate::Shutdown)>,
    RawQuery(q): RawQuery,
) -> Response {
    let mut f = pb::Filter::default();
    let mut start = Start::Now;
    let mut limit: Option<u64> = None;
    for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "type" => f.types.push(v),
            "account" => f.accounts.push(v),
            "region" => f.regions.push(v),
            "status" => f.statuses.push(v),
            "id" => f.resource_ids.push(v),
            "prefix" => f.property_prefixes.push(v),
            "by" => f.changed_by.push(v),
            "limit" => match v.parse() {
                Ok(n) => limit = Some(n),
                Err(_) => return bad(format!("limit={v:?}: give a number")),
            },
            "from" => {
                start = if v == "now" {
                    Start::Now
                } else if let Ok(seq) = v.parse::<u64>().map_err(|_| ()).and_then(|s| {
                    // A bare number below 10^9 is a sequence; above, epoch seconds.
                    if s < 1_000_000_000 { Ok(s) } else { Err(()) }
                }) {
                    Start::After(seq)
                } else {
                    match driftlog_model::time::parse_user_time(&v, driftlog_model::time::now_ms()) {
                        Ok(t) => Start::Time(t),
                        Err(e) => return bad(format!("from={v:?}: {e}; use now, a sequence or a time")),
                    }
                }
            }
            other => {
                return bad(format!(
                    "unknown parameter {other:?}: use type, account, region, status, id, prefix, from, limit"
                ))
            }
        }
    }
    let filter = match ChangeFilter::from_pb(Some(f)) {
        Ok(f) => f,
        Err(e) => return bad(e.message().to_string()),
    };
    let sub = match subscribe(log, filter.filter.clone(), start) {
        Ok(s) => s,
        Err(e @ driftlog_log::Error::SnapshotRequired { .. }) => {
            return (
                StatusCode::GONE,
                serde_json::json!({"error": format!("snapshot required: {e}")}).to_string() + "\n",
            )
                .into_response()
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut sent = 0u64;
    let lines = sub
        .stream
        .filter(move |r| r.as_ref().map_or(true, |ci| filter.passes(ci)))
        .take_while(move |_| {
            sent += 1;
            limit.is_none_or(|l| sent <= l)
        })
        .map(|r| {
            let mut line = Vec::with_capacity(2048);
            match r {
                Ok(ci) => {
                    if let Err(e) = ci.write_event_json(&mut line) {
                        line = serde_json::json!({"error": e.to_string()})
                            .to_string()
                            .into_bytes();
                    }
                }
                Err(e) => {
                    line = serde_json::json!({"error": e.to_string()})
                        .to_string()
                        .into_bytes()
                }
            }
            line.push(b'\n');
            Ok::<_, std::io::Error>(bytes::Bytes::from(line))
        });
    let lines = crate::until_stopped(Box::pin(lines), &shutdown);
    let mut r = Body::from_stream(lines).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}
