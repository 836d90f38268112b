//! The HTTP face of the API: `POST` on any path with `X-Amz-Target`, AWS's JSON 1.1
//! content type both ways, `x-amzn-RequestId` on every answer, errors as
//! `{"__type", "message"}` with AWS's status and `x-amzn-ErrorType`. Bodies are limited
//! in size and in the time a client may take to send them.

use crate::error::ApiError;
use crate::input::Input;
use crate::ConfigApi;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The largest request body accepted (AWS Config's inputs are far smaller; SQL
/// expressions are at most 4 KB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long a client may take to send its body: a slow client cannot pin a task.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "StarlingDoveService.";

/// The API's routes: every `POST` that is not another endpoint's. Merge it last.
pub fn router(api: Arc<ConfigApi>) -> Router {
    Router::new().fallback(handle).with_state(api)
}

fn answer(status: StatusCode, body: &serde_json::Value, error: Option<&str>) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&crate::uuid_v4()) {
        h.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-amzn-errortype", code);
    }
    r
}

fn error(e: &ApiError) -> Response {
    answer(
        e.status,
        &json!({"__type": e.code, "message": e.message}),
        Some(e.code),
    )
}

async fn handle(
    State(api): State<Arc<ConfigApi>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method != Method::POST {
        return error(&ApiError {
            code: "UnknownOperationException",
            message: format!("{method} is not supported: the AWS Config API takes POST requests with X-Amz-Target."),
            status: StatusCode::NOT_FOUND,
        });
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
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
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let caller = match api
        .settings
        .auth
        .check("POST", path, &headers, &bytes, SystemTime::now())
    {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(operation) = target.strip_prefix(TARGET_PREFIX).filter(|o| !o.is_empty()) else {
        return error(&ApiError::new(
            "UnknownOperationException",
            format!(
                "Unknown operation: X-Amz-Target '{target}' is not StarlingDoveService.<Operation>"
            ),
        ));
    };
    let input = match Input::parse(&bytes) {
        Ok(i) => i,
        Err(e) => return error(&e),
    };
    match api.call(&caller, operation, &input).await {
        Ok(v) => answer(StatusCode::OK, &v, None),
        Err(e) => error(&e),
    }
}
