//! The rules engine. Rules are kept in the store; every recorded change is judged by the
//! change-triggered rules from the log stream (a durable cursor: a restart neither skips
//! nor re-records); periodic rules run on their `MaximumExecutionFrequency`; any rule runs
//! on demand. Each change of a resource's compliance under a rule is recorded in the log as
//! an `AWS::Config::ResourceCompliance` item ([`item`]), so compliance tails, notifies and
//! replays like any configuration; the compliance API reads a side index derived from it.
//! [`backtest`] runs a rule, new or existing, over recorded history.

pub mod backtest;
pub mod def;
mod engine;
pub mod external;
pub mod item;
mod namespaces;
mod token;

pub use def::{DefContext, DefError, RuleDef, Triggers};
pub use engine::{Engine, EngineError, EngineSettings, RuleCounts, RuleStatus, CAP};
pub use external::{Evaluation, ExternalKind, ExternalSpec};
pub use item::ResultRecord;
