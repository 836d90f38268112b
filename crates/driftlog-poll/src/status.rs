use driftlog_model::Scope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The recorder status of one scope, as `driftlog status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeStatus {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Resource type.
    pub resource_type: String,
    /// Start of the last poll, epoch ms.
    pub last_attempt_ms: Option<i64>,
    /// End of the last poll that produced a complete snapshot.
    pub last_success_ms: Option<i64>,
    /// Code of the last error, cleared by a success.
    pub last_error_code: Option<String>,
    /// Message of the last error.
    pub last_error_message: Option<String>,
    /// Failures since the last success (drives backoff).
    pub consecutive_failures: u32,
    /// Resources in the last snapshot (complete or partial).
    pub resources_seen: u64,
    /// Items written for this scope by the last poll.
    pub last_changes: u64,
    /// Volatile-only ticks seen by the last poll.
    pub last_volatile_ticks: u64,
    /// Duration of the last poll in ms.
    pub last_duration_ms: u64,
    /// When the scheduler will poll next.
    pub next_poll_ms: Option<i64>,
    /// Polls since the process started (for `/metrics`).
    #[serde(default)]
    pub polls: u64,
    /// Of them, polls that failed or were partial.
    #[serde(default)]
    pub poll_errors: u64,
    /// Items written for this scope since the process started.
    #[serde(default)]
    pub total_changes: u64,
    /// Volatile-only ticks suppressed (no item written) since the process started.
    #[serde(default)]
    pub total_volatile_ticks: u64,
}

/// Shared, cheap-to-clone status of every scope.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<Scope, ScopeStatus>>>,
}

impl StatusBoard {
    /// Updates one scope's status in place.
    pub fn update(&self, scope: &Scope, f: impl FnOnce(&mut ScopeStatus)) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(scope.clone()).or_insert_with(|| ScopeStatus {
            account: scope.account.clone(),
            region: scope.region.clone(),
            resource_type: scope.resource_type.clone(),
            ..ScopeStatus::default()
        });
        f(s);
    }

    /// A copy of every scope's status, in scope order.
    pub fn snapshot(&self) -> Vec<ScopeStatus> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// One scope's status.
    pub fn get(&self, scope: &Scope) -> Option<ScopeStatus> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(scope)
            .cloned()
    }
}
