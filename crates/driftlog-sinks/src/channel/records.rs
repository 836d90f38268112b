//! Every side record the delivery channel keeps in the store, declared once: what it
//! remembers between runs. (The sink board is the runner's; sinks' cursors are the log's
//! cursor tree, `sink/<name>`, not side records.)
//!
//! The keys are the ones earlier versions wrote, byte for byte, and each encoding reads the
//! records those versions wrote without a header (JSON as JSON, times as 8 big-endian
//! bytes), so a store keeps working across the upgrade. A singleton record is its
//! namespace's prefix alone, under the key [`ONE`]; only the outbox holds many records.

use super::{DeliveryStatus, Event, HistoryDone, HistoryRun};
use driftlog_log::namespace::BigEndian;
use driftlog_log::Namespace;

/// The delivery channel's `DescribeDeliveryChannelStatus` (JSON [`DeliveryStatus`]), saved
/// at every change so `driftlog sinks` shows it without a server and a restart continues
/// its times. A view of the deliveries: a refused write is counted, not returned.
pub(crate) const DELIVERY_STATUS: Namespace<DeliveryStatus> = Namespace::new("delivery_status", 1);

/// How far history files have been delivered (JSON [`HistoryDone`]): the position of
/// history delivery, and the end of the last window, before which no later window starts
/// (so a file's key is never written twice with different contents).
pub(crate) const HISTORY_DONE: Namespace<HistoryDone> =
    Namespace::new("delivery_history_through", 1);

/// The history window being delivered (JSON [`HistoryRun`], `null` once it is done), stored
/// before its first file is written so a crash is followed by the same window: same keys,
/// same bytes.
pub(crate) const HISTORY_RUN: Namespace<Option<HistoryRun>> =
    Namespace::new("delivery_history_run", 1);

/// When the last periodic snapshot was taken (epoch ms, `i64` as 8 big-endian bytes, as
/// stored before namespaces): the next one is due a full interval later, across restarts.
pub(crate) const SNAPSHOT_LAST: Namespace<i64, BigEndian> =
    Namespace::new("delivery_snapshot_last_ms", 1);

/// Delivery events waiting for the channel's SNS topic (JSON [`Event`]), one record each
/// under a 20-digit number ([`super::event_key`]) so they sort in queueing order
/// and queueing or publishing one never rewrites the rest.
pub(crate) const OUTBOX: Namespace<Event> = Namespace::new("delivery_events/", 1);

/// The queue as versions before per-event records kept it: one JSON list of [`Event`]s.
/// Only read (and removed) when the channel opens, which moves it into [`OUTBOX`]; never
/// written.
pub(crate) const OLD_OUTBOX: Namespace<Vec<Event>> = Namespace::new("delivery_events", 1);
