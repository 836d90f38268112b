use driftlog_model::Seq;
use std::path::PathBuf;
use thiserror::Error;

/// Everything the log can refuse or fail at. Storage failures name the operation; data
/// problems name the sequence number they were found at.
#[derive(Debug, Error)]
pub enum Error {
    /// sled could not open the store (often: another process holds it).
    #[error("cannot open store at {path}: {} (is another `driftlog serve` using this data dir? stop it, or query it through its API)", describe(cause))]
    Open {
        /// Data directory.
        path: PathBuf,
        /// sled's report: shown in the message, not chained, so a report prints it once.
        cause: sled::Error,
    },
    /// The store was written by a format this build does not read.
    #[error("store at {path} has format {found:?}, this driftlog reads {expected:?}; use the driftlog version that wrote it, or start a new data dir")]
    UnknownFormat {
        /// Data directory.
        path: PathBuf,
        /// Format found on disk.
        found: String,
        /// Format this build reads.
        expected: &'static str,
    },
    /// A storage operation failed.
    #[error("storage error during {op}: {}", describe(cause))]
    Storage {
        /// What we were doing.
        op: &'static str,
        /// sled's report: shown in the message, not chained, so a report prints it once.
        cause: sled::Error,
    },
    /// A frame failed its checksum or could not be decoded.
    #[error("corrupt log frame starting at seq {first_seq}: {reason}")]
    Corrupt {
        /// First sequence of the frame.
        first_seq: Seq,
        /// What was wrong.
        reason: String,
    },
    /// An earlier flush failed, so nothing more is accepted: what was acknowledged is safe,
    /// what was not cannot be promised.
    #[error("the store takes no more writes since a storage failure ({cause}); restart driftlog (acknowledged items are safe)")]
    Poisoned {
        /// The failure that poisoned it, as first reported.
        cause: String,
    },
    /// A reader asked for history the log no longer holds.
    #[error("snapshot required: seq {requested} is older than the oldest seq the log holds ({oldest}); start from a snapshot (`driftlog at`) and resume from seq {oldest}")]
    SnapshotRequired {
        /// Position asked for.
        requested: Seq,
        /// Oldest position held.
        oldest: Seq,
    },
    /// A side record of a namespace could not be encoded or decoded.
    #[error("side record {namespace}{key} rejected: {reason}")]
    BadRecord {
        /// The namespace (its key prefix).
        namespace: &'static str,
        /// The key within it.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A record that must exist does not.
    #[error("seq {seq} is not in the log")]
    Missing {
        /// The sequence asked for.
        seq: Seq,
    },
}

/// The log crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn storage(op: &'static str) -> impl FnOnce(sled::Error) -> Error {
    move |cause| Error::Storage { op, cause }
}

/// Why the store stopped taking writes, and since when: what `driftlog status`, `/metrics`
/// and DescribeConfigurationRecorderStatus report while recording is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    /// When the first write failed (epoch ms).
    pub since_ms: i64,
    /// `StorageFull` (no space or quota left on the device) or `StorageError`.
    pub code: &'static str,
    /// The failed operation and the system's reason.
    pub message: String,
}

impl StorageFailure {
    /// What a user does about it.
    pub fn remedy(&self) -> &'static str {
        if self.code == "StorageFull" {
            "free space on the data dir's disk, then restart driftlog; what was recorded is safe"
        } else {
            "fix the storage problem, then restart driftlog; what was recorded is safe"
        }
    }
}

impl Error {
    /// A short, stable code for reports and the API's `lastErrorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Storage { cause, .. } | Error::Open { cause, .. } if is_full(cause) => {
                "StorageFull"
            }
            Error::Storage { .. } | Error::Open { .. } | Error::Poisoned { .. } => "StorageError",
            Error::UnknownFormat { .. } => "UnknownStoreFormat",
            Error::Corrupt { .. } => "CorruptLog",
            Error::SnapshotRequired { .. } => "SnapshotRequired",
            Error::Missing { .. } => "MissingItem",
            Error::BadRecord { .. } => "BadSideRecord",
        }
    }
}

/// ENOSPC or EDQUOT, however sled carried it: its errors are cloned by re-wrapping the
/// `io::Error`'s debug text, which keeps the kind but loses the OS code.
fn is_full(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(io.raw_os_error(), Some(28 | 122))
        }
        _ => false,
    }
}

/// sled's report in words: I/O errors by the system's text rather than sled's debug dump
/// of a cloned error.
fn describe(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => format!("I/O error: {}", io_words(io)),
        other => other.to_string(),
    }
}

/// The system's text of an I/O error; for one sled cloned (`Os { code, kind, message }`
/// as text), its message and code.
fn io_words(io: &std::io::Error) -> String {
    let text = io.to_string();
    match (text.find("message: \""), text.find("code: ")) {
        (Some(m), Some(c)) if text.starts_with("Os {") => {
            let msg = text[m + 10..].split('"').next().unwrap_or_default();
            let code: String = text[c + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("{msg} (os error {code})")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_said_once_and_plainly_even_through_sleds_clone() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = Error::Storage {
            op: "flush",
            cause: sled::Error::Io(io),
        };
        #[allow(clippy::redundant_clone, reason = "the clone is what sled hands back")]
        let cloned = match &e {
            Error::Storage { cause, .. } => cause.clone(),
            _ => unreachable!(),
        };
        let e2 = Error::Storage {
            op: "flush",
            cause: cloned,
        };
        for e in [e, e2] {
            assert_eq!(e.code(), "StorageFull");
            let text = e.to_string();
            assert_eq!(
                text,
                "storage error during flush: I/O error: No space left on device (os error 28)"
            );
            assert!(
                std::error::Error::source(&e).is_none(),
                "the cause is in the message, not chained again"
            );
        }
    }
}
