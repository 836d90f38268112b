//! The vocabulary every other driftlog crate speaks, with no I/O.
//!
//! * [`ResourceKey`] and [`Scope`] name what is recorded and what one poll covers.
//! * [`Observed`] is one resource as a poll saw it, already in canonical JSON so that the
//!   diff stage can compare it by hash alone; [`CompleteSnapshot`] and [`PartialSnapshot`]
//!   carry them, and only a complete snapshot can ever lead to a deletion.
//! * [`ConfigurationItem`] is one recorded version of a resource, with the AWS Config fields
//!   and ours (log sequence, per-resource version, field-level diff).
//! * [`Attribution`] is who made a change (from a CloudTrail event), kept beside the item
//!   in the log, never inside AWS's `configuration`.
//! * [`canonical`] turns any JSON document into the canonical bytes we hash and store, using
//!   the per-type [`TypeSpec`] (set-like arrays, volatile paths).
//! * [`schema`] checks a document against AWS Config's published property schema.
//! * [`Filter`] is the one filter language of subscriptions, `tail` and (later) sinks.

mod attribution;
pub mod canonical;
mod error;
mod filter;
mod item;
mod key;
mod received;
pub mod schema;
mod snapshot;
mod state;
pub mod time;
mod types;

pub use attribution::{Attribution, FOUND_BY_POLL};
pub use error::{Error, Result};
pub use filter::{glob_matches, Filter, TypePattern};
pub use item::{
    epoch_seconds, Change, ChangeType, ConfigurationItem, Document, FieldChange, PathStep,
    Relationship, Status,
};
pub use key::{ResourceKey, ResourceRef, Scope};
pub use received::ReceivedItem;
pub use snapshot::{CompleteSnapshot, Observed, PartialSnapshot};
pub use state::{CurrentState, IdHasher, IdMap, IdSet, ResourceState};
pub use types::{spec_for, PathSeg, TypeSpec, COMPLIANCE_TYPE, KNOWN_TYPES};

/// A position in the append-only log. Sequence numbers start at 1, are dense and strictly
/// increasing; 0 means "before the first record".
pub type Seq = u64;
