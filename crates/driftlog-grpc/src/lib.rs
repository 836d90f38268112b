//! driftlog's gRPC API (`proto/driftlog.proto`, tonic + prost, compiled with protox): a
//! change stream filtered by types (globs), accounts, regions, statuses, resource ids and
//! changed-property path prefixes, starting now, after a sequence, at a time or at a
//! durable cursor the client moves with `Ack`; history, inventory at an instant, pages of
//! changes and the API's audit trail. [`routes`] gives an axum router, so the binary serves
//! it on the same port as the AWS Config API.

use driftlog_log::Log;
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, Status, TypePattern};
use driftlog_subscribe::{subscribe, Start};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status as GrpcStatus};

/// The generated messages, server and client.
#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
pub mod pb {
    tonic::include_proto!("driftlog.v1");
}

pub use pb::driftlog_client::DriftlogClient;
pub use pb::driftlog_server::DriftlogServer;
use tokio_util::task::TaskTracker;
/// The tonic this crate is built on (clients connect with its `transport::Endpoint`).
pub use tonic;

/// Pages are at most this long.
const MAX_PAGE: u32 = 1000;

/// How open streams end: the server's stop switch, and the tracker their forwarding tasks
/// run on, so the server's shutdown waits for them.
#[derive(Clone)]
pub struct Shutdown {
    /// Turns true once when the server stops.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Where stream tasks run.
    pub tasks: TaskTracker,
}

impl Shutdown {
    /// Streams that end on `stop`, their tasks on a tracker of their own.
    pub fn on(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            stop,
            tasks: TaskTracker::new(),
        }
    }
}

/// The service over one store.
pub struct DriftlogService {
    log: Arc<Log>,
    shutdown: Shutdown,
}

impl DriftlogService {
    /// The service over `log`; its streams end when `stop` turns true.
    pub fn new(log: Arc<Log>, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self::with_shutdown(log, Shutdown::on(stop))
    }

    /// The service over `log`; its streams end with `shutdown` and run on its tracker.
    pub fn with_shutdown(log: Arc<Log>, shutdown: Shutdown) -> Self {
        Self { log, shutdown }
    }
}

/// Forwards `stream` until it ends or `stop` turns true, so open streams end cleanly when
/// the server shuts down (graceful shutdown waits for them).
pub fn until_stopped<T: Send + 'static>(
    mut stream: Pin<Box<dyn Stream<Item = T> + Send>>,
    shutdown: &Shutdown,
) -> Pin<Box<dyn Stream<Item = T> + Send>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut stop = shutdown.stop.clone();
    shutdown.tasks.spawn(async move {
        let mut watching = true;
        loop {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                r = stop.changed(), if watching => watching = r.is_ok(),
                item = stream.next() => match item {
                    Some(item) => if tx.send(item).await.is_err() { break },
                    None => break,
                },
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

mod ndjson;

/// The gRPC service and `GET /v1/changes` (NDJSON) over `log`. Other requests go to the
/// router's fallback: give the server's other routes with `fallback_service`.
pub fn routes(log: Arc<Log>, shutdown: Shutdown) -> axum::Router {
    tonic::service::Routes::new(DriftlogServer::new(DriftlogService {
        log: log.clone(),
        shutdown: shutdown.clone(),
    }))
    .into_axum_router()
    .route(
        "/v1/changes",
        axum::routing::get(ndjson::changes).with_state((log, shutdown)),
    )
}

/// A request's filter: the parts the log filters itself, and property prefixes checked
/// on the item's diff.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// Types, accounts, regions, statuses, ids.
    pub filter: Filter,
    /// `changedProperties` path prefixes (`Configuration.IpPermissions`).
    pub property_prefixes: Vec<String>,
    /// Globs of the principals who made the change.
    pub changed_by: Vec<String>,
}

impl ChangeFilter {
    /// From the protobuf form.
    ///
    /// # Errors
    /// INVALID_ARGUMENT naming a bad type pattern or status.
    pub fn from_pb(f: Option<pb::Filter>) -> Result<Self, GrpcStatus> {
        let f = f.unwrap_or_default();
        let types = f
            .types
            .iter()
            .map(|t| TypePattern::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| GrpcStatus::invalid_argument(format!("filter.types: {e}")))?;
        let statuses = f
            .statuses
            .iter()
            .map(|s| Status::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| GrpcStatus::invalid_argument(format!("filter.statuses: {e}")))?;
        Ok(Self {
            filter: Filter {
                types,
                accounts: f.accounts,
                regions: f.regions,
                statuses,
                resource_ids: f.resource_ids,
            },
            property_prefixes: f.property_prefixes,
            changed_by: f.changed_by,
        })
    }

    /// True when the item passes the property prefixes (the log checked the rest).
    pub fn passes(&self, ci: &ConfigurationItem) -> bool {
        let by_ok = self.changed_by.is_empty()
            || ci.attribution.iter().any(|a| {
                self.changed_by
                    .iter()
                    .any(|g| driftlog_model::glob_matches(g.trim(), &a.principal))
            });
        if !by_ok {
            return false;
        }
        if self.property_prefixes.is_empty() {
            return true;
        }
        ci.changed_properties().is_ok_and(|props| {
            props.keys().any(|k| {
                self.property_prefixes.iter().any(|p| {
                    k.starts_with(p.as_str())
                        && (k.len() == p.len() || k[p.len()..].starts_with('.'))
                })
            })
        })
    }
}

fn internal(e: impl std::fmt::Display) -> GrpcStatus {
    GrpcStatus::internal(e.to_string())
}

fn log_error(e: driftlog_log::Error) -> GrpcStatus {
    match e {
        driftlog_log::Error::SnapshotRequired { .. } => GrpcStatus::failed_precondition(format!(
            "snapshot required: {e}; start from GetInventoryAt (or a later sequence)"
        )),
        e => internal(e),
    }
}

/// The protobuf form of an item.
///
/// # Errors
/// INTERNAL when the stored item is not JSON.
pub fn item(ci: &ConfigurationItem) -> Result<pb::ConfigurationItem, GrpcStatus> {
    Ok(pb::ConfigurationItem {
        seq: ci.seq,
        account: ci.key.account.clone(),
        region: ci.key.region.clone(),
        resource_type: ci.key.resource_type.clone(),
        resource_id: ci.key.resource_id.clone(),
        version: ci.version,
        status: ci.status.as_str().to_string(),
        capture_time_ms: ci.capture_time_ms,
        configuration_item_json: ci.to_notification_json().map_err(internal)?.to_string(),
        changed_by: ci
            .attribution
            .iter()
            .map(|a| pb::ChangedBy {
                event_id: a.event_id.clone(),
                event_name: a.event_name.clone(),
                event_source: a.event_source.clone(),
                event_time_ms: a.event_time_ms,
                principal: a.principal.clone(),
                session_name: a.session_name.clone().unwrap_or_default(),
                source_ip: a.source_ip.clone().unwrap_or_default(),
                user_agent: a.user_agent.clone().unwrap_or_default(),
            })
            .collect(),
    })
}

/// The protobuf form of a change (an item with its diff).
///
/// # Errors
/// INTERNAL when the stored item is not JSON.
pub fn change(ci: &ConfigurationItem) -> Result<pb::Change, GrpcStatus> {
    let diff = ci.diff_json().map_err(internal)?;
    let props = ci.changed_properties().map_err(internal)?;
    Ok(pb::Change {
        item: Some(item(ci)?),
        change_type: diff["changeType"].as_str().unwrap_or_default().to_string(),
        changed_properties: props
            .into_iter()
            .map(|(path, v)| pb::PropertyChange {
                path,
                change_type: v["changeType"].as_str().unwrap_or_default().to_string(),
                previous_value_json: v["previousValue"].to_string(),
                updated_value_json: v["updatedValue"].to_string(),
            })
            .collect(),
    })
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<pb::Change, GrpcStatus>> + Send>>;
type ItemStream = Pin<Box<dyn Stream<Item = Result<pb::ConfigurationItem, GrpcStatus>> + Send>>;

fn durable_name_ok(name: &str) -> Result<(), GrpcStatus> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(GrpcStatus::invalid_argument(format!(
            "durable_name {name:?}: use 1..200 letters, digits, '-', '_', '.', ':'"
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::driftlog_server::Driftlog for DriftlogService {
    type SubscribeStream = ChangeStream;
    type GetInventoryAtStream = ItemStream;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, GrpcStatus> {
        let r = req.into_inner();
        let f = ChangeFilter::from_pb(r.filter)?;
        let initial = match r.start {
            None | Some(pb::subscribe_request::Start::Now(_)) => Start::Now,
            Some(pb::subscribe_request::Start::AfterSeq(s)) => Start::After(s),
            Some(pb::subscribe_request::Start::FromTimeMs(t)) => Start::Time(t),
        };
        let start = if r.durable_name.is_empty() {
            initial
        } else {
            durable_name_ok(&r.durable_name)?;
            Start::Durable {
                name: format!("grpc/{}", r.durable_name),
                initial: Box::new(initial),
            }
        };
        let sub = subscribe(self.log.clone(), f.filter.clone(), start).map_err(log_error)?;
        let stream = sub.stream.filter_map(move |item| match item {
            Ok(ci) if f.passes(&ci) => Some(change(&ci)),
            Ok(_) => None,
            Err(e) => Some(Err(log_error(e))),
        });
        Ok(Response::new(until_stopped(
            Box::pin(stream),
            &self.shutdown,
        )))
    }

    async fn ack(
        &self,
        req: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, GrpcStatus> {
        let r = req.into_inner();
        durable_name_ok(&r.durable_name)?;
        let name = format!("grpc/{}", r.durable_name);
        if self.log.cursor(&name).map_err(internal)?.is_none() {
            return Err(GrpcStatus::not_found(format!(
                "no durable subscription {:?}: subscribe with this durable_name first",
                r.durable_name
            )));
        }
        // Never past what was published: an ack from the future would skip items.
        let seq = r.seq.min(self.log.watermark());
        self.log.set_cursor(&name, seq).map_err(internal)?;
        self.log.flush().map_err(internal)?;
        Ok(Response::new(pb::AckResponse { cursor: seq }))
    }

    async fn get_history(
        &self,
        req: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, GrpcStatus> {
        let r = req.into_inner();
        if r.resource_type.is_empty() || r.resource_id.is_empty() {
            return Err(GrpcStatus::invalid_argument(
                "resource_type and resource_id are required",
            ));
        }
        let key =
            {
                let state = self.log.state();
                let mut found: Vec<ResourceKey> = state
                    .scopes()
                    .map(|(s, _, _)| s)
                    .filter(|s| {
                        s.resource_type == r.resource_type
                            && (r.account.is_empty() || s.account == r.account)
                            && (r.region.is_empty() || s.region == r.region)
                    })
                    .map(|s| {
                        ResourceKey::new(
                            s.account.clone(),
                            s.region.clone(),
                            s.resource_type.clone(),
                            r.resource_id.clone(),
                        )
                    })
                    .filter(|k| state.get(k.id_hash()).is_some())
                    .collect();
                found.sort();
                match found.len() {
                    0 => {
                        return Err(GrpcStatus::not_found(format!(
                            "{}/{} was never recorded",
                            r.resource_type, r.resource_id
                        )))
                    }
                    1 => found.remove(0),
                    _ => {
                        return Err(GrpcStatus::invalid_argument(format!(
                        "{}/{} exists in several accounts or regions ({}); set account and region",
                        r.resource_type,
                        r.resource_id,
                        found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    )))
                    }
                }
            };
        let token = if r.page_token.is_empty() {
            None
        } else {
            Some(
                r.page_token
                    .parse::<u64>()
                    .map_err(|_| GrpcStatus::invalid_argument("bad page_token"))?,
            )
        };
        let q = driftlog_log::HistoryQuery {
            earlier_ms: (r.earlier_time_ms != 0).then_some(r.earlier_time_ms),
            later_ms: (r.later_time_ms != 0).then_some(r.later_time_ms),
            order: if r.chronological {
                driftlog_log::Order::Forward
            } else {
                driftlog_log::Order::Reverse
            },
            limit: if r.limit == 0 {
                100
            } else {
                r.limit.min(MAX_PAGE) as usize
            },
            token,
        };
        let log = self.log.clone();
        let page = tokio::task::spawn_blocking(move || log.history(&key, &q))
            .await
            .map_err(internal)?
            .map_err(log_error)?;
        Ok(Response::new(pb::GetHistoryResponse {
            items: page.items.iter().map(item).collect::<Result<_, _>>()?,
            next_page_token: page.next.map(|s| s.to_string()).unwrap_or_default(),
        }))
    }

    async fn get_inventory_at(
        &self,
        req: Request<pb::GetInventoryAtRequest>,
    ) -> Result<Response<Self::GetInventoryAtStream>, GrpcStatus> {
        let r = req.into_inner();
        let f = ChangeFilter::from_pb(r.filter)?;
        let at = if r.at_time_ms == 0 {
            driftlog_model::time::now_ms()
        } else {
            r.at_time_ms
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            let r = log.inventory_at(at, &f.filter, |ci| tx.blocking_send(item(&ci)).is_ok());
            if let Err(e) = r {
                let _ = tx.blocking_send(Err(log_error(e)));
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn list_changes(
        &self,
        req: Request<pb::ListChangesRequest>,
    ) -> Result<Response<pb::ListChangesResponse>, GrpcStatus> {
        let r = req.into_inner();
        let f = ChangeFilter::from_pb(r.filter)?;
        let limit = if r.limit == 0 {
            100
        } else {
            r.limit.min(MAX_PAGE) as usize
        };
        let log = self.log.clone();
        let after = r.after_seq;
        let (items, last) = tokio::task::spawn_blocking(move || {
            log.read_range(after, limit, &f.filter)
                .map(|(i, l)| (i, l, f))
        })
        .await
        .map_err(internal)?
        .map(|(i, l, f)| (i.into_iter().filter(|c| f.passes(c)).collect::<Vec<_>>(), l))
        .map_err(log_error)?;
        Ok(Response::new(pb::ListChangesResponse {
            changes: items.iter().map(change).collect::<Result<_, _>>()?,
            last_seq: last,
            watermark: self.log.watermark(),
        }))
    }

    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, GrpcStatus> {
        let r = req.into_inner();
        let before = if r.before == 0 { u64::MAX } else { r.before };
        let limit = if r.limit == 0 {
            100
        } else {
            r.limit.min(MAX_PAGE) as usize
        };
        let events = self
            .log
            .audit_records(before, limit, true)
            .map_err(internal)?
            .into_iter()
            .map(|(seq, bytes)| pb::AuditEvent {
                seq,
                json: String::from_utf8_lossy(&bytes).into_owned(),
            })
            .collect();
        Ok(Response::new(pb::ListAuditEventsResponse { events }))
    }
}
