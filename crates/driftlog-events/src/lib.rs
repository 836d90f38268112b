//! CloudTrail events, turned into the resources they touched and into who touched them.
//!
//! driftlog polls; with the interval a real account can afford, a change stays unrecorded for
//! minutes and no item says who made it. AWS Config closes both gaps with CloudTrail: every
//! write API call names the resources it changed and the principal that made it. This crate
//! is the pure half of that (no I/O, no AWS SDK): the recorder receives messages, this crate
//! says what they mean, the recorder re-describes and records.
//!
//! * [`parse_queue_message`] reads any body found on driftlog's queues:
//!   an EventBridge envelope ([`parse_eventbridge`], only "AWS API Call via CloudTrail"
//!   is an event, anything else is [`Envelope::NotApiCall`] to count), an S3 notification of a
//!   new CloudTrail log file, bare or SNS-wrapped ([`parse_s3_notification`], giving
//!   [`S3Object`]s to fetch), or a bare record. [`parse_log_file`] reads the fetched file
//!   (plain or gzip) and keeps the good records beside the errors of the bad ones.
//! * [`CloudTrailEvent`] is one record, read field by field: a refusal names the field and
//!   the value ([`Error`]).
//! * [`map`] looks an event up in a declarative table ([`table::ROWS`], one row per write API
//!   and place where it names a resource) and gives [`Mapped`]: the [`Target`]s to
//!   re-describe, or why there are none (read-only, failed, unmapped). A target names its
//!   resource by AWS Config id when the event carries it, else by name or ARN ([`Ref`]) for
//!   the recorder to resolve against its current state.
//! * [`attribute`] gives an event's [`Attribution`]: who made the change, when and from
//!   where. The type lives in `driftlog-model` because it is stored beside the configuration
//!   item, so its serialized form is a stable boundary.
//! * [`synthesize`] writes the record AWS would send for a change, from a row of the
//!   table read backwards: the simulated estate's events, for the demo and the benchmarks.
//!
//! What this crate must never do: decide that a resource is gone. A delete event only asks
//! for a describe ([`table::Op::Delete`]); the describe decides.

mod attribution;
mod envelope;
mod error;
mod event;
mod mapping;
mod synth;
pub mod table;

pub use attribution::{attribute, Attribution};
pub use envelope::{
    is_cloudtrail_log_key, parse_eventbridge, parse_log_file, parse_queue_message,
    parse_s3_notification, Envelope, LogObjects, QueueMessage, S3Object, API_CALL_DETAIL_TYPE,
    MAX_LOG_FILE_BYTES,
};
pub use error::{Error, Result};
pub use event::{CloudTrailEvent, EventResource, SessionContext, SessionIssuer, UserIdentity};
pub use mapping::{classify_arn, lookup_name, map, rows, rows_for, Mapped, Ref, Target};
pub use synth::{eventbridge_envelope, synthesize, Caller, Synth};

#[cfg(test)]
mod tests;
