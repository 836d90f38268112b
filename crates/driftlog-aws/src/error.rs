use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use driftlog_poll::PollError;
use thiserror::Error;

/// Why the AWS source could not be set up. Polls never return this: their errors become the
/// status of the scope that failed.
#[derive(Debug, Error)]
pub enum AwsError {
    /// A setting is wrong; the message says which and what to do.
    #[error("{0}")]
    Settings(String),
    /// An AWS call needed at start-up failed (identity of the credentials, region list).
    #[error("{call} failed: {error}")]
    Startup {
        /// `sts:GetCallerIdentity`, `ec2:DescribeRegions`, ...
        call: &'static str,
        /// The error, with code and message.
        error: PollError,
    },
}

/// Turns an SDK error into a scope status: the AWS error code (`AccessDenied`,
/// `Throttling`, ...) when the service answered, else what went wrong on the way.
///
/// The `SdkError` type is the same for every service crate, so one function serves all.
pub(crate) fn from_sdk<E, R>(call: &str, e: &SdkError<E, R>) -> PollError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match e {
        SdkError::ServiceError(_) => (
            e.code().unwrap_or("ServiceError").to_string(),
            e.message()
                .map(str::to_string)
                .unwrap_or_else(|| DisplayErrorContext(e).to_string()),
        ),
        SdkError::TimeoutError(_) => (
            "RequestTimeout".to_string(),
            DisplayErrorContext(e).to_string(),
        ),
        SdkError::DispatchFailure(d) => {
            let code = if d.is_timeout() {
                "RequestTimeout"
            } else if d.is_io() {
                "EndpointConnectionError"
            } else {
                "DispatchFailure"
            };
            (code.to_string(), DisplayErrorContext(e).to_string())
        }
        SdkError::ResponseError(_) => (
            "ResponseError".to_string(),
            DisplayErrorContext(e).to_string(),
        ),
        SdkError::ConstructionFailure(_) => (
            "ConstructionFailure".to_string(),
            DisplayErrorContext(e).to_string(),
        ),
        _ => ("SdkError".to_string(), DisplayErrorContext(e).to_string()),
    };
    PollError::Source {
        code,
        message: format!("{call}: {message}"),
    }
}

/// The error code of an SDK error, when the service gave one (to recognise the "not
/// configured" answers of S3, which are values, not failures).
pub(crate) fn code_of<E, R>(e: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}
