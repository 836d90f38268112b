use driftlog_model::Seq;
use std::path::PathBuf;
use thiserror::Error;

/// Everything the log can refuse or fail at. Storage failures name the operation; data
/// problems name the sequence number they were found at.
#[derive(Debug, Error)]
pub enum Error {
    /// sled could not open the store (often: another process holds it).
    #[error("cannot open store at {path}: {source} (is another `driftlog serve` using this data dir? stop it, or query it through its API)")]
    Open {
        /// Data directory.
        path: PathBuf,
        /// sled's report.
        #[source]
        source: sled::Error,
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
    #[error("storage error during {op}: {source}")]
    Storage {
        /// What we were doing.
        op: &'static str,
        /// sled's report.
        #[source]
        source: sled::Error,
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
    #[error("the log writer is poisoned by an earlier storage failure; restart driftlog (acknowledged items are safe)")]
    Poisoned,
    /// A reader asked for history the log no longer holds.
    #[error("snapshot required: seq {requested} is older than the oldest seq the log holds ({oldest}); start from a snapshot (`driftlog at`) and resume from seq {oldest}")]
    SnapshotRequired {
        /// Position asked for.
        requested: Seq,
        /// Oldest position held.
        oldest: Seq,
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
    move |source| Error::Storage { op, source }
}
