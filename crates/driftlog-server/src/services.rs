//! What a query can reach: the services of a running `serve` (built once, all of them), or
//! the store alone when the CLI opens it itself because no server runs.

use crate::delivery::Delivery;
use driftlog_api::ConfigApi;
use driftlog_compliance::Engine;
use driftlog_log::Log;
use driftlog_recorder::Recorder;
use std::sync::Arc;

/// The services of one `serve`: built once by [`crate::serve`], shared by the query
/// socket, the HTTP API and the background tasks.
pub struct Services {
    /// The store.
    pub log: Arc<Log>,
    /// The recorder on its source.
    pub recorder: Arc<Recorder>,
    /// The delivery channel and the sinks.
    pub delivery: Arc<Delivery>,
    /// The AWS Config API's control plane (recorder and channel as AWS defines them).
    pub api: Arc<ConfigApi>,
    /// The rules engine.
    pub rules: Arc<Engine>,
    /// Where the API listens (the address bound, so `127.0.0.1:0` shows its real port).
    pub api_address: Option<std::net::SocketAddr>,
    /// The aggregator's view of its sources, when this `serve` is an aggregator.
    pub aggregator: Option<Arc<driftlog_aggregate::AggregatorStatus>>,
}

/// The store opened by the CLI itself (no server runs): what was recorded can be read,
/// rules put and back-tested, a snapshot delivered; nothing polls.
pub struct Offline {
    /// The store.
    pub log: Arc<Log>,
    /// The delivery channel, opened for `deliver snapshot` only.
    pub delivery: Option<Arc<Delivery>>,
    /// The rules over the store, opened for rules requests only.
    pub rules: Option<Arc<Engine>>,
}

/// Where a query is answered.
pub enum Reach {
    /// Inside a running `serve`.
    Server(Arc<Services>),
    /// Over the store alone.
    Offline(Offline),
}

impl Reach {
    /// The store.
    pub fn log(&self) -> &Arc<Log> {
        match self {
            Reach::Server(s) => &s.log,
            Reach::Offline(o) => &o.log,
        }
    }

    /// The running recorder, inside `serve` only.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        match self {
            Reach::Server(s) => Some(&s.recorder),
            Reach::Offline(_) => None,
        }
    }

    /// The running services, inside `serve` only.
    pub fn server(&self) -> Option<&Arc<Services>> {
        match self {
            Reach::Server(s) => Some(s),
            Reach::Offline(_) => None,
        }
    }

    /// The delivery side, if open.
    pub fn delivery(&self) -> Option<&Arc<Delivery>> {
        match self {
            Reach::Server(s) => Some(&s.delivery),
            Reach::Offline(o) => o.delivery.as_ref(),
        }
    }

    /// The rules engine, if open.
    pub fn rules(&self) -> Option<&Arc<Engine>> {
        match self {
            Reach::Server(s) => Some(&s.rules),
            Reach::Offline(o) => o.rules.as_ref(),
        }
    }
}
