use thiserror::Error;

/// Why a message body, log file or event was refused. Every variant names the carrier being
/// read and, where one is to blame, the field (as a dotted path from the top of that carrier)
/// and the value found there, so a poison message can be reported without re-reading it.
#[derive(Debug, Error)]
pub enum Error {
    /// The bytes are not JSON at all.
    #[error("{carrier} is not valid JSON: {source}")]
    Json {
        /// What was being read: `EventBridge envelope`, `CloudTrail log file`, ...
        carrier: &'static str,
        /// The parser's report (line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A field the carrier cannot do without is absent (or null).
    #[error("{carrier}: field {field} is missing")]
    MissingField {
        /// What was being read.
        carrier: &'static str,
        /// Dotted path of the field, e.g. `detail.eventTime` or `Records[3].eventName`.
        field: String,
    },
    /// A field is present but its value cannot be used.
    #[error("{carrier}: field {field} = {value} rejected: {reason}")]
    InvalidField {
        /// What was being read.
        carrier: &'static str,
        /// Dotted path of the field.
        field: String,
        /// The value found, as JSON text, cut to 120 characters.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A gzip-compressed log file could not be inflated.
    #[error("{carrier}: gzip stream unreadable after {n_read} bytes: {source}")]
    Gzip {
        /// What was being read.
        carrier: &'static str,
        /// Bytes inflated before the failure.
        n_read: usize,
        /// The decoder's report.
        #[source]
        source: std::io::Error,
    },
    /// A log file inflated past the limit we accept (a gzip bomb, or not a CloudTrail file).
    #[error("{carrier}: inflates to more than {limit} bytes; refused")]
    TooLarge {
        /// What was being read.
        carrier: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A queue message has none of the shapes driftlog reads.
    #[error("queue message is neither an EventBridge envelope, an S3 or SNS notification nor a CloudTrail record (top-level keys: {keys})")]
    UnknownMessage {
        /// The top-level keys found, comma-separated (at most 10).
        keys: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Cuts the JSON text of `value` to a length fit for an error message.
pub(crate) fn shown(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 120 {
        return text;
    }
    let mut cut: String = text.chars().take(117).collect();
    cut.push_str("...");
    cut
}
