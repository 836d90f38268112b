//! The HTTP face of the API: `POST` on any path with `X-Amz-Target`, AWS's JSON 1.1
//! content type both ways, `x-amzn-RequestId` on every answer, errors as
//! `{"__type", "message"}` with AWS's status and `x-amzn-ErrorType`. Bodies are limited
//! in size and in the time a client may take to send them.

use crate::error::ApiError;
use crate::input::Input;
use crate::ConfigApi;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The largest request body accepted (AWS Config's inputs are far smaller; SQL
/// expressions are at most 4 KB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long a client may take to send its body: a slow client cannot pin a task.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a body over [`MAX_BODY_BYTES`] is read and discarded before the answer: a
/// client writes its whole body before it reads, and a connection closed under it turns
/// the 413 into a broken pipe. Past this, the connection is cut.
const DRAIN_BYTES: usize = 16 << 20;

/// The body, at most [`MAX_BODY_BYTES`]; a larger one (read on, discarded, up to
/// [`DRAIN_BYTES`]) or a cut-off one is `Err`.
async fn read_body(body: axum::body::Body) -> Result<bytes::Bytes, ()> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(()) };
        let Ok(data) = frame.into_data() else {
            continue; // Trailers.
        };
        total += data.len();
        if total <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        } else if total > DRAIN_BYTES {
            return Err(());
        }
    }
    if total > MAX_BODY_BYTES {
        Err(())
    } else {
        Ok(buf.freeze())
    }
}

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "StarlingDoveService.";

/// The API's routes: every `POST` that is not another endpoint's. Merge it last.
pub fn router(api: Arc<ConfigApi>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .fallback(handle)
        .with_state(api)
}

async fn metrics(State(api): State<Arc<ConfigApi>>) -> Response {
    let body = tokio::task::spawn_blocking(move || api.metrics())
        .await
        .unwrap_or_default();
    let mut r = body.into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

fn answer(status: StatusCode, body: &serde_json::Value, error: Option<&str>, id: &str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(id) {
        h.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-amzn-errortype", code);
    }
    r
}

fn error_with(e: &ApiError, id: &str) -> Response {
    answer(
        e.status,
        &json!({"__type": e.code, "message": e.message}),
        Some(e.code),
        id,
    )
}

async fn handle(State(api): State<Arc<ConfigApi>>, req: Request) -> Response {
    let id = crate::uuid_v4();
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (parts, body) = req.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut audit = crate::audit::Call {
        request_id: id.clone(),
        source_ip: source,
        operation: target
            .strip_prefix(TARGET_PREFIX)
            .unwrap_or(&target)
            .to_string(),
        ..Default::default()
    };
    let error = |e: &ApiError| error_with(e, &id);
    let respond =
        |api: &ConfigApi, audit: crate::audit::Call, r: Result<serde_json::Value, ApiError>| {
            api.record(audit, r.as_ref().err());
            match r {
                Ok(v) => answer(StatusCode::OK, &v, None, &id),
                Err(e) => error_with(&e, &id),
            }
        };
    if method != Method::POST {
        return error(&ApiError {
            code: "UnknownOperationException",
            message: format!("{method} is not supported: the AWS Config API takes POST requests with X-Amz-Target."),
            status: StatusCode::NOT_FOUND,
        });
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, read_body(body)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return error(&ApiError {
                code: "RequestEntityTooLargeException",
                message: format!(
                    "Request body is larger than {MAX_BODY_BYTES} bytes (or was cut off)."
                ),
                status: StatusCode::PAYLOAD_TOO_LARGE,
            })
        }
        Err(_) => {
            return error(&ApiError {
                code: "RequestTimeoutException",
                message: format!(
                    "The request body was not received within {} seconds.",
                    BODY_TIMEOUT.as_secs()
                ),
                status: StatusCode::REQUEST_TIMEOUT,
            })
        }
    };
    audit.parameters = crate::audit::parameters(&bytes);
    (audit.access_key, audit.region) = crate::auth::claimed(&headers);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let caller = match api
        .settings
        .auth
        .check("POST", path, &headers, &bytes, SystemTime::now())
    {
        Ok(c) => c,
        // Refused callers are on the trail too.
        Err(e) => return respond(&api, audit, Err(e)),
    };
    if caller.access_key.is_some() {
        audit.access_key.clone_from(&caller.access_key);
        audit.region.clone_from(&caller.region);
    }
    let Some(operation) = target.strip_prefix(TARGET_PREFIX).filter(|o| !o.is_empty()) else {
        let e = ApiError::new(
            "UnknownOperationException",
            format!(
                "Unknown operation: X-Amz-Target '{target}' is not StarlingDoveService.<Operation>"
            ),
        );
        return respond(&api, audit, Err(e));
    };
    let input = match Input::parse(&bytes) {
        Ok(i) => i,
        Err(e) => return respond(&api, audit, Err(e)),
    };
    let r = api.call(&caller, operation, &input).await;
    respond(&api, audit, r)
}
