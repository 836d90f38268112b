//! Delivery end to end: sinks and the delivery channel against real destinations — moto's
//! S3, SNS and SQS, Debian's nats-server, an HTTP receiver in the test — each stopped
//! mid-stream. One test binary: each links the AWS SDK.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;
mod moto;
mod sinks;

#[path = "../../../../tests/support/moto.rs"]
mod moto_support;
#[path = "../../../../tests/support/nats.rs"]
mod nats_support;
