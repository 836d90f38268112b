//! Moves what the log holds to the outside world, the way AWS Config does, and loses
//! nothing when the outside is down.
//!
//! - The **delivery channel** ([`DeliveryChannel`]): configuration history files (one per
//!   resource type per delivery period) and configuration snapshots (on demand and
//!   periodically), gzip JSON under AWS Config's exact keys, on a local directory or any
//!   S3-compatible store through `object_store`; delivery events
//!   (`ConfigurationHistoryDeliveryCompleted`, `ConfigurationSnapshotDelivery*`) to its SNS
//!   topic.
//! - **Sinks** ([`run_sink`]): the config stream (`ConfigurationItemChangeNotification`,
//!   oversized ones through an S3 pointer) to an SNS topic, a webhook (HMAC-signed) or NATS
//!   JetStream, each with its own filter and its own durable cursor in the store.
//!
//! Delivery is at least once: a cursor moves only after the sink acknowledged, every
//! message carries its log sequence, a sink that is down makes only its own cursor wait.
//! Files cover recorded sequence ranges, so a delivery redone after a crash writes the same
//! keys with the same bytes.
//!
//! Both read the log through `driftlog-subscribe`'s [`Reader`](driftlog_subscribe::Reader),
//! the one cursor loop of driftlog: its rules (log order, at least once, filtered-out
//! ranges moving the cursor, `SnapshotRequired` instead of a gap) are defined and tested
//! there. What this crate adds is delivery policy: messages and files, retries with
//! backoff, holding while the store has failed, and the status `driftlog sinks` shows.

mod aws;
mod channel;
mod nats;
mod resync;
mod runner;
mod sns;
mod store;
mod transport;
mod webhook;

pub use aws::AwsAccess;
pub use channel::{
    new_snapshot_id, ChannelSettings, DeliveryChannel, DeliveryInfo, DeliveryStatus,
    SnapshotFrequency, SnapshotReport,
};
pub use nats::{run_heartbeats, BodyFormat, NatsConnect, NatsTransport};
pub use resync::{run_resync_responder, ConfiguredPairs, SnapshotReceipt};
pub use runner::{cursor_name, run_sink, SinkBoard, SinkSpec, SinkStart, SinkStatus};
pub use sns::SnsTransport;
pub use store::{error_code, DeliveryStore, StoreLocation};
pub use transport::{Message, SendError, Transport};
pub use webhook::WebhookTransport;

/// The sink that carries the config stream to the delivery channel's SNS topic: its
/// deliveries are the channel's `configStreamDeliveryInfo`.
pub const CONFIG_STREAM_SINK: &str = "config-stream";

use thiserror::Error;

/// Why delivery could not start or a file could not be delivered.
#[derive(Debug, Error)]
pub enum Error {
    /// A setting is wrong (names it and says what is expected).
    #[error("{0}")]
    Settings(String),
    /// The object store refused or failed (S3 error code when there is one).
    #[error("object store {location}: {source}")]
    Store {
        /// Bucket or directory.
        location: String,
        /// What went wrong.
        source: object_store::Error,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] driftlog_log::Error),
    /// A stored item or a file could not be turned into AWS Config's format.
    #[error(transparent)]
    Format(#[from] driftlog_deliver::Error),
    /// A sink refused or could not be reached.
    #[error("{0}")]
    Send(#[from] SendError),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The status values AWS Config reports for a delivery (`DescribeDeliveryChannelStatus`).
pub mod status {
    /// The last delivery worked.
    pub const SUCCESS: &str = "Success";
    /// The last delivery failed.
    pub const FAILURE: &str = "Failure";
    /// Nothing was attempted yet (AWS's spelling for delivery, with the underscore).
    pub const NOT_APPLICABLE: &str = "Not_Applicable";
}

/// The key of a namespace that holds one record (the prefix is the whole key). `len`,
/// `page` and `all` are never used on those: their prefix can be the start of other keys
/// (`delivery_events` of `delivery_events/…`).
pub(crate) const ONE: &str = "";
