use std::time::Duration;
use thiserror::Error;

/// Why a poll did not produce a complete snapshot. Shown in the recorder status with its
/// code, as AWS Config shows `lastErrorCode` / `lastErrorMessage`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PollError {
    /// The poll ran past its timeout and was abandoned.
    #[error("poll timed out after {0:?}")]
    Timeout(Duration),
    /// The source reported an error (AccessDenied, Throttling, a bad file line, ...).
    #[error("{code}: {message}")]
    Source {
        /// Machine-readable code, e.g. `AccessDenied`.
        code: String,
        /// Human-readable message.
        message: String,
    },
}

impl PollError {
    /// The short code for status displays.
    pub fn code(&self) -> &str {
        match self {
            PollError::Timeout(_) => "Timeout",
            PollError::Source { code, .. } => code,
        }
    }
}
