//! Sources and the poll scheduler.
//!
//! * A [`Source`] answers, per [`Scope`], with a [`PollOutcome`]: a complete snapshot, a
//!   partial one with the error that cut it short, or an error. Only the first can lead to a
//!   deletion, and the types make it so.
//! * [`SimSource`] wraps the simulated estate (with fault injection for tests and demos).
//! * An [`EventFeed`] delivers CloudTrail events (SQS queues, the simulated estate's
//!   [`SimEventFeed`]); the recorder turns them into targeted describes through
//!   [`Source::describe_exact`], which says which absences it can vouch for.
//! * [`Scheduler`] runs every scope on its interval with jitter, a per-poll timeout, bounded
//!   concurrency and exponential backoff, honours the [`RecordingGroup`] and the
//!   started/stopped switch, and keeps the recorder status per scope in a [`StatusBoard`].

mod error;
mod events;
mod group;
mod scheduler;
mod sim;
mod status;

pub use error::PollError;
pub use events::{Content, EventFeed, EventMessage, Receipt, SharedFeed, SimEventFeed};
pub use group::RecordingGroup;
pub use scheduler::{next_delay, PollResult, Position, Scheduler, SchedulerConfig};
pub use sim::{Fault, SimSource};
pub use status::{ScopeStatus, StatusBoard};

use driftlog_model::{CompleteSnapshot, PartialSnapshot, ResourceKey, Scope};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so sources can be used as `Arc<dyn Source>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one poll of one scope produced.
#[derive(Debug)]
pub enum PollOutcome {
    /// The listing finished: this is everything in the scope.
    Complete(CompleteSnapshot),
    /// Some resources were read before the error; they may be recorded, nothing may be
    /// deleted.
    Partial(PartialSnapshot, PollError),
    /// Nothing usable.
    Failed(PollError),
}

/// Where resources come from: the simulated estate, AWS, files.
pub trait Source: Send + Sync {
    /// Short name for logs and status (`sim`, `aws`).
    fn name(&self) -> &str;

    /// Every scope this source can poll now.
    fn scopes(&self) -> Vec<Scope>;

    /// Lists one scope.
    fn poll<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, PollOutcome>;

    /// Re-describes some resources now (targeted refresh, re-check of related resources).
    /// Resources that no longer exist are simply absent: a describe never proves a deletion.
    fn describe<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<PartialSnapshot, PollError>>;

    /// Re-describes `keys`, saying which absences prove nothing: an event-driven delete is
    /// recorded only for a key the source looked for, without error, and did not find.
    ///
    /// The default vouches for no absence (every requested key missing from the snapshot
    /// is [`Described::unsure`]), so a source that cannot tell a failed lookup from a
    /// missing resource never causes a deletion; sources that can, override it.
    fn describe_exact<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<Described, PollError>> {
        Box::pin(async move {
            let snapshot = self.describe(keys).await?;
            let found: std::collections::HashSet<&ResourceKey> =
                snapshot.resources.iter().map(|o| &*o.key).collect();
            let unsure = keys
                .iter()
                .filter(|k| !found.contains(k))
                .cloned()
                .collect();
            Ok(Described { snapshot, unsure })
        })
    }
}

/// A targeted describe, and which of the keys it was asked about it could not vouch for.
#[derive(Debug, Default)]
pub struct Described {
    /// What was found.
    pub snapshot: PartialSnapshot,
    /// Keys whose lookup failed (or could not be told apart from a failure): their absence
    /// from `snapshot` proves nothing.
    pub unsure: Vec<ResourceKey>,
}
