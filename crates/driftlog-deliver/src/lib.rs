//! AWS Config's delivery formats, byte for byte where AWS defines them
//! (`../shared/spec/aws-config-compat.md` §4): the S3 object keys of configuration history
//! files, snapshots, oversized change notifications and the writability probe; the gzip
//! JSON file bodies; and the config-stream messages (ConfigurationItemChangeNotification,
//! its oversized form, history and snapshot delivery events) with their SNS subjects.
//!
//! Pure functions over [`ConfigurationItem`]s: the delivery channel and the sinks that
//! move these bytes (object_store, SNS, webhooks, NATS) build on them.

mod heartbeat;
mod history;
mod keys;
mod messages;
mod resync;
mod routing;
mod signature;

pub use heartbeat::{Heartbeat, ScopeBeat};
pub use resync::{
    parse_snapshot_subject, snapshot_marker_id, snapshot_message_id, snapshot_subject,
    ResyncRequest, SnapshotMarker, SnapshotPhase, SNAPSHOT_HEADER,
};
pub use routing::{
    chunk_message_id, heartbeat_subject, message_id, nats_subject, parse_item_subject,
    resync_subject, valid_recorder_id, CHUNK_HEADER, HEARTBEAT_SUBJECTS, LOG_HEADER,
    NATS_MSG_ID_HEADER, RECORDER_HEADER, SEQ_HEADER,
};

pub use signature::{sign, verify, SignatureError, SIGNATURE_HEADER};

pub use history::{period_of, FileWriter, HistoryBatcher, HistoryFile, HISTORY_PERIOD_MS};
pub use keys::{
    day_path, history_key, oversized_key, snapshot_key, stamp, writability_check_key, KeyParts,
};
pub use messages::{
    change_notification, change_subject, compliance_change_notification, compliance_subject, gzip,
    history_delivery_completed, oversized_notification, rules_evaluation_started,
    snapshot_delivery_completed, snapshot_delivery_failed, snapshot_delivery_started,
    SNS_ENVELOPE_BYTES, SNS_MAX_MESSAGE_BYTES,
};

use thiserror::Error;

/// Why a message or file could not be built.
#[derive(Debug, Error)]
pub enum Error {
    /// A stored item is not valid JSON (names the resource).
    #[error("item {resource} (seq {seq}): {source}")]
    Item {
        /// The resource key.
        resource: String,
        /// Its log sequence.
        seq: u64,
        /// What was wrong.
        source: driftlog_model::Error,
    },
    /// Compression failed (out of memory, in practice).
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub use driftlog_model::ConfigurationItem;
