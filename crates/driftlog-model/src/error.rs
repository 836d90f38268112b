use thiserror::Error;

/// What can go wrong while building or reading model values. Every variant names the input
/// that was refused so that the caller can report it without more context.
#[derive(Debug, Error)]
pub enum Error {
    /// A stored or received document was not valid JSON.
    #[error("{what} is not valid JSON: {source}")]
    Json {
        /// Which document was being read.
        what: String,
        /// The parser's own report.
        #[source]
        source: serde_json::Error,
    },
    /// A time given by a user could not be understood.
    #[error("time {value:?} not understood: use RFC 3339 (2024-05-01T10:00:00Z), epoch seconds, `now`, or a relative form like -2h, -30m, -7d")]
    Time {
        /// The text as given.
        value: String,
    },
    /// A filter term could not be understood.
    #[error("filter {field} = {value:?} rejected: {reason}")]
    Filter {
        /// Which filter field.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource reference given by a user could not be understood.
    #[error("resource {value:?} not understood: {reason}")]
    Resource {
        /// The text as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An item received from another recorder was not what it publishes.
    #[error("received item: {field} {reason}")]
    Received {
        /// The member (JSON path) that was wrong.
        field: String,
        /// What was wrong with it, the value included.
        reason: String,
    },
}

/// The model crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
