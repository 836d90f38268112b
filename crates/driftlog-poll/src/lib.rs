//! Sources and the poll scheduler.
//!
//! * A [`Source`] answers, per [`Scope`], with a [`PollOutcome`]: a complete snapshot, a
//!   partial one with the error that cut it short, or an error. Only the first can lead to a
//!   deletion, and the types make it so.
//! * [`SimSource`] wraps the simulated estate (with fault injection for tests and demos).
//! * [`Scheduler`] runs every scope on its interval with jitter, a per-poll timeout, bounded
//!   concurrency and exponential backoff, honours the [`RecordingGroup`] and the
//!   started/stopped switch, and keeps the recorder status per scope in a [`StatusBoard`].

mod error;
mod group;
mod scheduler;
mod sim;
mod status;

pub use error::PollError;
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
}
