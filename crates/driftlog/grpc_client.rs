//! `driftlog tail --server URL`: the change stream of a running driftlog through its gRPC
//! API, printed as the local `tail` prints it; a durable name's cursor is acknowledged on
//! that server after each item is printed.

use crate::render::Printer;
use anyhow::{Context, Result};
use driftlog_grpc::pb;
use driftlog_grpc::tonic;
use driftlog_server::protocol::{TailArgs, TailFrom};
use serde_json::{json, Map, Value};

/// The `tail --json` line of a change.
fn event(c: &pb::Change) -> Result<Value> {
    let item = c.item.as_ref().context("a change without its item")?;
    let ci: Value = serde_json::from_str(&item.configuration_item_json)
        .context("the server sent an item that is not JSON")?;
    let mut props = Map::new();
    for p in &c.changed_properties {
        props.insert(
            p.path.clone(),
            json!({
                "previousValue": serde_json::from_str::<Value>(&p.previous_value_json).unwrap_or(Value::Null),
                "updatedValue": serde_json::from_str::<Value>(&p.updated_value_json).unwrap_or(Value::Null),
                "changeType": p.change_type,
            }),
        );
    }
    let mut v = json!({
        "seq": item.seq,
        "version": item.version,
        "configurationItem": ci,
        "configurationItemDiff": {"changedProperties": props, "changeType": c.change_type},
    });
    if !item.changed_by.is_empty() {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let by: Vec<driftlog_model::Attribution> = item
            .changed_by
            .iter()
            .map(|a| driftlog_model::Attribution {
                event_id: a.event_id.clone(),
                event_name: a.event_name.clone(),
                event_source: a.event_source.clone(),
                event_time_ms: a.event_time_ms,
                principal: a.principal.clone(),
                session_name: opt(&a.session_name),
                source_ip: opt(&a.source_ip),
                user_agent: opt(&a.user_agent),
            })
            .collect();
        v["changedBy"] = serde_json::to_value(by)?;
    }
    Ok(v)
}

/// Follows the server's stream until the limit, the end of the stream or Ctrl-C.
///
/// # Errors
/// The server cannot be reached or refuses the request (its status is shown).
pub async fn tail(url: &str, a: TailArgs, from: TailFrom, printer: &mut Printer) -> Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .with_context(|| format!("--server {url:?} is not a URL (e.g. http://127.0.0.1:7440)"))?
        .connect()
        .await
        .with_context(|| format!("connecting to the gRPC API at {url}"))?;
    let mut client = driftlog_grpc::DriftlogClient::new(channel);
    let start = match from {
        TailFrom::Now => pb::subscribe_request::Start::Now(true),
        TailFrom::Seq(s) => pb::subscribe_request::Start::AfterSeq(s),
        TailFrom::Time(t) => pb::subscribe_request::Start::FromTimeMs(t),
    };
    let durable = a.durable.unwrap_or_default();
    let req = pb::SubscribeRequest {
        filter: Some(pb::Filter {
            types: a.filter.types,
            accounts: a.filter.accounts,
            regions: a.filter.regions,
            statuses: a.filter.statuses,
            resource_ids: a.filter.ids,
            property_prefixes: a.properties,
            changed_by: a.by,
        }),
        start: Some(start),
        durable_name: durable.clone(),
    };
    let mut stream = client
        .subscribe(req)
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let mut printed = 0u64;
    loop {
        let next = tokio::select! {
            n = stream.message() => n,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(change) = next.map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        else {
            anyhow::bail!(
                "the server ended the stream after {printed} items (it stopped or restarted); run tail again — with --durable NAME it resumes right after the last item printed"
            );
        };
        printer.print(&event(&change)?)?;
        printed += 1;
        if !durable.is_empty() {
            if let Some(item) = &change.item {
                client
                    .ack(pb::AckRequest {
                        durable_name: durable.clone(),
                        seq: item.seq,
                    })
                    .await
                    .map_err(|s| anyhow::anyhow!("ack: {}: {}", s.code(), s.message()))?;
            }
        }
        if a.limit.is_some_and(|l| printed >= l) {
            return Ok(());
        }
    }
}
