//! A seeded, deterministic simulated AWS estate, shaped exactly as AWS Config records it.
//!
//! It is driftlog's embedded default source: the demo, the tests and the benchmarks poll it
//! instead of a real account. [`Estate::new`] builds VPCs with their subnets, security
//! groups, network ACLs, route tables, internet gateways and instances (each with one
//! network interface and one volume), IAM roles, users, groups and customer-managed
//! policies per account, and S3 buckets per account and region, all from
//! [`SimConfig::seed`]. On top of those it builds the services of each VPC and region
//! (about a fifth of the estate): Lambda functions, RDS instances, Aurora clusters, subnet
//! groups and snapshots, KMS keys, CloudTrail trails, load balancers and listeners,
//! DynamoDB tables, SNS topics, SQS queues, ECR repositories, EKS clusters, Secrets
//! Manager secrets, CloudWatch alarms, NAT gateways, EIPs, VPC endpoints and flow logs.
//! [`Estate::tick`] then advances a simulated clock and changes a fraction of the estate
//! the way real estates drift: security-group rules opened to the world and closed again,
//! instances launched and terminated, policies edited, policies attached and detached,
//! databases made public, keys losing rotation or scheduled for deletion, trails losing
//! log-file validation, queues and topics losing encryption, alarms losing their actions,
//! EIPs moving, flow logs deleted, tags changed, and volatile fields (`roleLastUsed`,
//! `availableIpAddressCount`, table sizes) ticking without being configuration changes.
//!
//! Every document has AWS Config's notification shape (the reference items in
//! `tests/fixtures/ci-shapes/`), relationships use AWS Config's names with direct edges
//! only, and every relationship target exists in the estate. Per resource the estate keeps
//! only its [`Observed`] (canonical bytes, about 1 KB) and its id, so it scales to a million
//! resources; a change parses the one document it touches and canonicalizes it again.
//!
//! Same seed and same configuration give byte-identical estates and tick results, whatever
//! the number of threads used to build them.
//!
//! ```
//! use driftlog_sim::{Estate, SimChangeKind, SimConfig};
//!
//! let mut estate = Estate::new(SimConfig { resources: 300, ..SimConfig::default() });
//! // A poller walks every scope and takes a complete snapshot of each.
//! let polled: usize = estate.scopes().iter().map(|s| estate.snapshot(s).len()).sum();
//! assert_eq!(polled, estate.len());
//! // Time passes; the estate drifts.
//! for change in estate.tick() {
//!     if change.kind != SimChangeKind::Deleted {
//!         assert!(estate.describe(&change.key).is_some());
//!     }
//! }
//! ```

mod churn;
mod config;
mod estate;
mod gen;
mod ids;
mod plan;
mod service_churn;
mod services;
mod shapes;
mod store;
mod topology;
pub mod types;

pub use config::SimConfig;
pub use estate::Estate;

use driftlog_model::ResourceKey;

#[doc(no_inline)]
pub use driftlog_model::{Observed, Scope};

/// One resource's net change over one [`Estate::tick`]: what a poller comparing the state
/// before and after the tick should find. Tests use it as the expected output of the diff
/// stage, the demo prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimChange {
    /// Which resource changed.
    pub key: ResourceKey,
    /// How it changed.
    pub kind: SimChangeKind,
    /// The resource as it is after the tick, or as it was before it for a deletion: what
    /// CloudTrail-shaped events for this change name it by (its `resourceName`, `arn`).
    pub observed: Observed,
}

/// How a resource changed over one tick, judged on its canonical bytes, so it matches what
/// driftlog's diff stage decides from the same [`Observed`] values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimChangeKind {
    /// The resource did not exist before the tick (an instance and its parts launched).
    Created,
    /// Its canonical document changed: a configuration item is due.
    Modified,
    /// It existed before the tick and is gone (an instance and its parts terminated).
    Deleted,
    /// Only its volatile values changed (`Observed::volatile`); `Observed::doc` is
    /// byte-identical, so no configuration item is due.
    VolatileOnly,
}
