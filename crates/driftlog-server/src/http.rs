//! The HTTP listener of `driftlog serve`: the AWS Config API (and, beside it on the same
//! port, the other HTTP endpoints), bound to loopback unless authentication is on.

use crate::config::Config;
use crate::delivery::{config_channel, Delivery};
use crate::error::{Context, Error, Result};
use driftlog_api::{ApiSettings, ConfigApi, Initial, RecorderDef};
use driftlog_log::Log;
use driftlog_model::KNOWN_TYPES;
use driftlog_recorder::Recorder;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// The config file's recording group in the API's terms (globs expanded to the types
/// driftlog records).
fn config_group(cfg: &Config) -> serde_json::Value {
    let g = &cfg.recording_group;
    let expand = |pats: &[String]| -> Vec<String> {
        let pats: Vec<_> = pats
            .iter()
            .filter_map(|p| driftlog_model::TypePattern::parse(p).ok())
            .collect();
        KNOWN_TYPES
            .iter()
            .map(|t| t.resource_type)
            .filter(|t| pats.iter().any(|p| p.matches(t)))
            .map(str::to_string)
            .collect()
    };
    if !g.include.is_empty() {
        let exclude = expand(&g.exclude);
        let types: Vec<String> = expand(&g.include)
            .into_iter()
            .filter(|t| !exclude.contains(t))
            .collect();
        json!({"allSupported": false, "includeGlobalResourceTypes": false, "resourceTypes": types,
               "exclusionByResourceTypes": {"resourceTypes": []},
               "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}})
    } else if !g.exclude.is_empty() {
        json!({"allSupported": false, "includeGlobalResourceTypes": false, "resourceTypes": [],
               "exclusionByResourceTypes": {"resourceTypes": expand(&g.exclude)},
               "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"}})
    } else {
        json!({"allSupported": true, "includeGlobalResourceTypes": g.include_global, "resourceTypes": [],
               "exclusionByResourceTypes": {"resourceTypes": []},
               "recordingStrategy": {"useOnly": "ALL_SUPPORTED_RESOURCE_TYPES"}})
    }
}

/// The first recorded (or simulated) account and region, named in ARNs.
pub fn home(cfg: &Config, log: &Log, recorder: &Recorder) -> (String, String) {
    let (account, region) = home_of_scopes(cfg, log, recorder);
    if cfg.aggregator.enabled {
        let or = |set: &str, found: String| {
            if set.is_empty() {
                found
            } else {
                set.to_string()
            }
        };
        return (
            or(&cfg.aggregator.account, account),
            or(&cfg.aggregator.region, region),
        );
    }
    (account, region)
}

fn home_of_scopes(cfg: &Config, log: &Log, recorder: &Recorder) -> (String, String) {
    let scopes = recorder.scopes();
    let account = scopes
        .first()
        .map(|s| s.account.clone())
        .or_else(|| log.state().keys().next().map(|k| k.account))
        .unwrap_or_else(|| "000000000000".into());
    let region = scopes
        .iter()
        .map(|s| s.region.clone())
        .find(|r| r != "global")
        .or_else(|| cfg.source.sim.regions.first().cloned())
        .unwrap_or_else(|| "us-east-1".into());
    (account, region)
}

/// Opens the control plane (the recorder and channel the AWS Config API defines, kept in
/// the store) and applies it to the recorder, whether or not the API is served.
///
/// # Errors
/// The stored API settings cannot be read, or a key's secret is missing.
/// The rules engine's settings: the home account and region, and the evaluators.
pub fn rules_settings(
    cfg: &Config,
    account: String,
    region: String,
) -> driftlog_compliance::EngineSettings {
    driftlog_compliance::EngineSettings {
        account,
        region,
        evaluators: cfg.evaluators.iter().map(|e| e.spec()).collect(),
        periodic_check: cfg.rules.periodic_check,
        concurrency: cfg.rules.concurrency,
        retry_after: cfg.rules.retry_after,
        retries: cfg.rules.retries,
    }
}

/// Opens the AWS Config API's control plane over the store.
pub fn open_api(
    cfg: &Config,
    log: &Arc<Log>,
    recorder: &Arc<Recorder>,
    delivery: &Arc<Delivery>,
) -> Result<Arc<ConfigApi>> {
    let auth = cfg.api.auth()?;
    let (account, region) = home(cfg, log, recorder);
    let role = if cfg.delivery.role_arn.trim().is_empty() {
        format!("arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig")
    } else {
        cfg.delivery.role_arn.trim().to_string()
    };
    let initial = Initial {
        recorder: Some(RecorderDef {
            name: "default".into(),
            role_arn: role,
            recording_group: config_group(cfg),
            recording_mode: cfg.recorder.mode_json(),
            arn: format!(
                "arn:aws:config:{region}:{account}:configuration-recorder/default/driftlog"
            ),
        }),
        recording: cfg.recorder.start,
        channel: config_channel(cfg),
    };
    ConfigApi::open(
        log.clone(),
        Some(recorder.clone()),
        delivery.clone(),
        ApiSettings {
            auth,
            account,
            region,
        },
        initial,
    )
    .map_err(Error::invalid)
    .context("opening the AWS Config API settings in the store")
}

/// Serves the AWS Config API (with gRPC, `/v1/changes` and `/metrics` beside it) on
/// `listener` until `stop`, every connection a task on `tracker`.
///
/// # Errors
/// The listener has no local address.
pub fn serve(
    log: Arc<Log>,
    api: Arc<ConfigApi>,
    listener: TcpListener,
    stop: &watch::Receiver<bool>,
    tracker: &TaskTracker,
) -> Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(
        "AWS Config API, gRPC (proto/driftlog.proto), /v1/changes and /metrics on http://{local} — e.g. aws configservice describe-configuration-recorders --endpoint-url http://{local}{}",
        if api.auth_is_off() {
            " (authentication off: loopback only; set [api] auth = \"sigv4\" to require signed requests)"
        } else {
            " (SigV4 signatures required)"
        }
    );
    // gRPC (HTTP/2) and the NDJSON stream first; everything else is the AWS Config API
    // and /metrics.
    let streams = driftlog_grpc::Shutdown {
        stop: stop.clone(),
        tasks: tracker.clone(),
    };
    let app = driftlog_grpc::routes(log, streams).fallback_service(driftlog_api::router(api));
    let mut stop = stop.clone();
    let conns = tracker.clone();
    tracker.spawn(async move {
        accept_loop(listener, app, &mut stop, &conns).await;
    });
    Ok(())
}

/// How long a client may take to send its request headers (a slow client cannot hold a
/// connection open forever), and how long shutdown waits for open requests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 and HTTP/2 (h2c, for gRPC) on `listener` until `stop`, then lets the
/// requests in flight finish (streams end themselves on `stop`). hyper's own server, not
/// `axum::serve`, so the header read timeout takes effect.
async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    stop: &mut watch::Receiver<bool>,
    conns: &TaskTracker,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    loop {
        if *stop.borrow() {
            break;
        }
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "API accept failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            r = stop.changed() => {
                if r.is_err() { break }
                continue;
            }
        };
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                });
        let conn = builder
            .serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(svc),
            )
            .into_owned();
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "API connection ended.");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("API requests still open after the shutdown grace period; closing them.");
    }
}
