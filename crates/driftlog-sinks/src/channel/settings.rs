//! What a channel is set to (`ChannelSettings`, `SnapshotFrequency`) and what it reports
//! (`DeliveryStatus`, `DeliveryInfo`, `SnapshotReport`), in AWS Config's terms.

use crate::store::StoreLocation;
use crate::{status, AwsAccess};
use driftlog_model::Seq;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `configSnapshotDeliveryProperties.deliveryFrequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFrequency {
    /// `One_Hour`.
    OneHour,
    /// `Three_Hours`.
    ThreeHours,
    /// `Six_Hours`.
    SixHours,
    /// `Twelve_Hours`.
    TwelveHours,
    /// `TwentyFour_Hours`, AWS's default.
    TwentyFourHours,
}

impl SnapshotFrequency {
    const ALL: [(SnapshotFrequency, &'static str, u64); 5] = [
        (Self::OneHour, "One_Hour", 1),
        (Self::ThreeHours, "Three_Hours", 3),
        (Self::SixHours, "Six_Hours", 6),
        (Self::TwelveHours, "Twelve_Hours", 12),
        (Self::TwentyFourHours, "TwentyFour_Hours", 24),
    ];

    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("TwentyFour_Hours", |(_, s, _)| s)
    }

    /// Parses AWS's spelling.
    ///
    /// # Errors
    /// Any other text, with the valid values.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, s, _)| *s == text)
            .map(|(f, _, _)| *f)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a delivery frequency: use One_Hour, Three_Hours, Six_Hours, Twelve_Hours or TwentyFour_Hours"
                )
            })
    }

    /// The interval.
    pub fn every(self) -> Duration {
        let h = Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or(24, |(_, _, h)| *h);
        Duration::from_secs(h * 3600)
    }
}

/// The delivery channel's settings (`PutDeliveryChannel`, or `[delivery]` in the config).
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// Channel name (`default`).
    pub name: String,
    /// Bucket or directory.
    pub location: StoreLocation,
    /// `s3KeyPrefix`.
    pub prefix: Option<String>,
    /// `s3KmsKeyArn`: objects written with SSE-KMS under this key.
    pub kms_key_arn: Option<String>,
    /// `snsTopicARN`: delivery events (and, through its sink, the config stream).
    pub sns_topic_arn: Option<String>,
    /// Periodic snapshots; `None` = on demand only.
    pub snapshot_frequency: Option<SnapshotFrequency>,
    /// Length of a history delivery period (AWS: 6 hours).
    pub history_period: Duration,
    /// Items per history file before it is split (`_1`, `_2`, …).
    pub max_items_per_file: usize,
    /// Credentials, region, endpoint, role.
    pub access: AwsAccess,
}

/// One delivery kind's status, in AWS Config's `ConfigExportDeliveryInfo` /
/// `ConfigStreamDeliveryInfo` terms (epoch ms; the API layer formats them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryInfo {
    /// `Success`, `Failure` or `Not_Applicable`.
    pub last_status: String,
    /// AWS error code of the last failure.
    pub last_error_code: Option<String>,
    /// Its message.
    pub last_error_message: Option<String>,
    /// Last attempt.
    pub last_attempt_time: Option<i64>,
    /// Last success.
    pub last_successful_time: Option<i64>,
    /// When the next periodic delivery is due.
    pub next_delivery_time: Option<i64>,
    /// When `last_status` last changed (the stream's `lastStatusChangeTime`).
    pub last_status_change_time: Option<i64>,
}

impl Default for DeliveryInfo {
    fn default() -> Self {
        Self {
            last_status: status::NOT_APPLICABLE.into(),
            last_error_code: None,
            last_error_message: None,
            last_attempt_time: None,
            last_successful_time: None,
            next_delivery_time: None,
            last_status_change_time: None,
        }
    }
}

impl DeliveryInfo {
    pub(crate) fn attempt(&mut self, at: i64) {
        self.last_attempt_time = Some(at);
    }

    pub(crate) fn outcome(&mut self, at: i64, err: Option<(String, String)>) {
        let new = if err.is_some() {
            status::FAILURE
        } else {
            status::SUCCESS
        };
        if self.last_status != new {
            self.last_status = new.into();
            self.last_status_change_time = Some(at);
        }
        match err {
            Some((code, msg)) => {
                self.last_error_code = Some(code);
                self.last_error_message = Some(msg);
            }
            None => {
                self.last_successful_time = Some(at);
                self.last_error_code = None;
                self.last_error_message = None;
            }
        }
    }
}

/// `DescribeDeliveryChannelStatus` of the channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// Channel name.
    pub name: String,
    /// History files.
    pub config_history_delivery_info: DeliveryInfo,
    /// Snapshots.
    pub config_snapshot_delivery_info: DeliveryInfo,
    /// The SNS topic (delivery events).
    pub config_stream_delivery_info: DeliveryInfo,
    /// Last log sequence delivered in history files.
    pub history_through_seq: Seq,
    /// Delivery events queued for the topic (it was unreachable).
    #[serde(default)]
    pub pending_events: usize,
}

/// What one snapshot delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReport {
    /// `configSnapshotId`.
    pub config_snapshot_id: String,
    /// Bucket (or directory).
    pub s3_bucket: String,
    /// One object per account and region, with its item count.
    pub files: Vec<(String, u64)>,
    /// Items in all files.
    pub items: u64,
    /// The instant the snapshot shows, epoch ms.
    pub at_ms: i64,
}
