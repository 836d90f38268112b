//! The diff stage, pure: the previous state of every resource plus what a poll saw gives the
//! new configuration items, each with the next per-resource version and AWS-style field
//! diffs.
//!
//! * [`diff_complete`] takes a [`CompleteSnapshot`](driftlog_model::CompleteSnapshot) and is the only path to a deletion.
//! * [`diff_partial`] takes a [`PartialSnapshot`](driftlog_model::PartialSnapshot) (targeted refresh, related re-checks) and
//!   can only create or update.
//! * [`structural::diff`] and [`structural::apply`] are the field-level diff and its inverse.
//! * [`text::unified`] renders two versions as a readable unified diff for the CLI.
//!
//! An unchanged resource costs one xxh3-128 of its canonical bytes and one map lookup: no
//! parse, no allocation, no write.

pub mod structural;
mod summary;
pub mod text;

pub use driftlog_model::Change;
pub use summary::{diff_complete, diff_partial, diff_removed, DiffStats, Diffed};
