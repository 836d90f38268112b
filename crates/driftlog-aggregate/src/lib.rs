//! The aggregator (issue 17): a driftlog whose source is the stream. Many recorders publish
//! every item of their logs to NATS JetStream (the NATS sink with `format = "item"`), in
//! order, numbered by their own sequences; the aggregator reads the stream through one
//! durable pull consumer and records each item into its own log through the recorder's
//! diff and append, so everything that reads a log — history, inventories, the APIs, rules,
//! sinks — works on the aggregate unchanged.
//!
//! Exactly once: for each source recorder the aggregator keeps how far it applied it
//! ([`Positions`]), stored with every batch it appends ([`driftlog_log::Log::append_tagged`]),
//! so what it applied and where it stands never disagree, whatever crash comes between.
//! A redelivered or duplicated message is dropped; a message after a hole in a source's
//! sequences is a gap, said loudly and kept in the positions until that source is resynced:
//! the aggregator asks the recorder for a snapshot of its inventory, which comes in the
//! stream, and applies it (the `resync` module's rules).
//! A message that is not what a recorder publishes — bad JSON, a subject that does not
//! match its item — is refused, counted and never applied.

mod ingest;
mod organization;
mod position;
mod resync;
mod status;
mod wire;

pub use ingest::{run_aggregator, AggregatorSettings, Connector, OwnRules};
pub use organization::{member_accounts, OrganizationError};
pub use position::{Gap, Positions, SourcePosition, Verdict};
pub use status::{AggregatorStatus, SourceStatus};
pub use wire::{parse_message, Incoming, Parsed, Reassembly};

/// The aggregator's [`driftlog_poll::Source`]: the stream, which nothing polls. It has no
/// scopes and describes nothing (a refresh or re-check on the aggregate finds nothing to
/// record; what its sources record arrives through the stream).
pub struct StreamSource;

impl driftlog_poll::Source for StreamSource {
    fn name(&self) -> &str {
        "stream"
    }

    fn scopes(&self) -> Vec<driftlog_model::Scope> {
        Vec::new()
    }

    fn poll<'a>(
        &'a self,
        _scope: &'a driftlog_model::Scope,
    ) -> driftlog_poll::BoxFuture<'a, driftlog_poll::PollOutcome> {
        Box::pin(async {
            driftlog_poll::PollOutcome::Failed(driftlog_poll::PollError::Source {
                code: "NotPolled".into(),
                message: "an aggregator records what its sources publish; it polls nothing".into(),
            })
        })
    }

    fn describe<'a>(
        &'a self,
        _keys: &'a [driftlog_model::ResourceKey],
    ) -> driftlog_poll::BoxFuture<
        'a,
        Result<driftlog_model::PartialSnapshot, driftlog_poll::PollError>,
    > {
        Box::pin(async { Ok(driftlog_model::PartialSnapshot::default()) })
    }
}
