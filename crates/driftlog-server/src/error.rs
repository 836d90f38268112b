//! The server's errors: bad input named (a request, a config key, a command-line value), a
//! step that failed with its cause, or a request that needs a running server.

use std::fmt::Display;

/// Any cause a step of the server can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the server or a query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input, named: a request, a config key or a command-line value, and what to do.
    #[error("{0}")]
    Invalid(String),
    /// A request that needs `driftlog serve` running (refresh, start, stop) reached the
    /// store alone.
    #[error("{0}")]
    NotRunning(String),
    /// A step that failed: what was being done, then its cause.
    #[error("{context}")]
    Failed {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        cause: BoxError,
    },
}

/// The server's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input, with what to do about it.
    pub fn invalid(message: impl Display) -> Self {
        Self::Invalid(message.to_string())
    }

    /// True when the request needed a running server.
    pub fn is_not_running(&self) -> bool {
        matches!(self, Self::NotRunning(_))
    }

    /// The kind, as sent over the query socket so the CLI can exit with its code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "Invalid",
            Self::NotRunning(_) => "NotRunning",
            Self::Failed { .. } => "Failed",
        }
    }
}

/// An error and its causes, each said once: a library error that shows its cause in its
/// own message and also chains it would otherwise print the cause twice.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(text.as_str()) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// Causes that reach `?` without a context of their own: each says what it is.
macro_rules! caused_by {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Self::Failed { context: $what.to_string(), cause: Box::new(e) }
            }
        }
    )*};
}

caused_by!(
    driftlog_log::Error => "store",
    driftlog_recorder::Error => "recorder",
    driftlog_compliance::EngineError => "rules",
    driftlog_compliance::backtest::BacktestError => "backtest",
    driftlog_aws::AwsError => "AWS",
    driftlog_sinks::Error => "delivery",
    serde_json::Error => "JSON",
    std::io::Error => "I/O",
    tokio::task::JoinError => "worker task",
);

impl From<driftlog_model::Error> for Error {
    /// The model refuses input (a type pattern, a time, a resource name): named as it is.
    fn from(e: driftlog_model::Error) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// `.context(...)` on results and options: the step that failed, said once.
pub trait Context<T> {
    /// Wraps a failure in what was being done.
    ///
    /// # Errors
    /// The failure, wrapped.
    fn context<C: Display>(self, context: C) -> Result<T>;

    /// As [`Context::context`], the message made only on failure.
    ///
    /// # Errors
    /// The failure, wrapped.
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<BoxError>> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.map_err(|e| Error::Failed {
            context: context.to_string(),
            cause: e.into(),
        })
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::Failed {
            context: f().to_string(),
            cause: e.into(),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| Error::invalid(context))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.ok_or_else(|| Error::invalid(f()))
    }
}

/// Returns bad input, named (`bail!("--churn {c} rejected: use 0.0..1.0")`).
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::invalid(format!($($arg)*))) };
}

pub(crate) use bail;
