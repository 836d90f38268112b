//! AWS's error shapes: `{"__type": "<Code>", "message": "..."}` with the HTTP status AWS
//! uses for each code (spec §1), so botocore raises the same exception class.

use axum::http::StatusCode;

/// One error answer of the AWS Config API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// AWS's error code, the exception name boto3 raises (`ValidationException`, …).
    pub code: &'static str,
    /// The human message, in AWS's wording where AWS's is known.
    pub message: String,
    /// HTTP status: 400 for every modeled exception, 403 for authentication, 5xx for ours.
    pub status: StatusCode,
}

impl ApiError {
    /// A modeled exception (HTTP 400).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// `ValidationException` in AWS's one-error form.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// AWS's wording for a value failing a constraint.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// An authentication failure (HTTP 403).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::FORBIDDEN,
        }
    }

    /// A failure on our side (HTTP 500, retried by SDKs); the detail goes to our log, not
    /// the caller.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "AWS Config API request failed on the server.");
        Self {
            code: "InternalFailure",
            message: "The request processing has failed because of an unknown error, exception or failure.".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A store that refuses writes (a full disk): `InternalFailure` as AWS answers a
    /// failure on its side, but saying what failed and what to do, since the operator
    /// reading it runs the server.
    pub fn storage(e: &driftlog_log::Error) -> Self {
        tracing::error!(error = %e, "AWS Config API request failed: the store refused it.");
        Self {
            code: "InternalFailure",
            message: format!(
                "The request could not be stored: {e}. Recording has stopped; free space on the data dir's disk and restart driftlog."
            ),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `InvalidNextTokenException`.
    pub fn bad_token() -> Self {
        Self::new(
            "InvalidNextTokenException",
            "The nextToken provided is invalid",
        )
    }

    /// `InvalidLimitException`.
    pub fn bad_limit(limit: i64, max: i64) -> Self {
        Self::new(
            "InvalidLimitException",
            format!("Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max}"),
        )
    }
}

/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;
