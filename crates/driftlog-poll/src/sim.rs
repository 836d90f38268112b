use crate::{BoxFuture, Described, PollError, PollOutcome, Source};
use driftlog_model::{CompleteSnapshot, PartialSnapshot, ResourceKey, Scope};
use driftlog_sim::{Estate, SimConfig};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// A fault to inject into the next poll of a scope: how tests and demos show that a failed,
/// partial or hung poll deletes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The poll fails with this code and message (e.g. `AccessDenied`).
    Fail {
        /// Error code.
        code: String,
        /// Error message.
        message: String,
    },
    /// The poll returns the first half of the scope, then fails.
    Partial,
    /// The poll never answers (the scheduler's timeout must fire).
    Hang,
}

/// The simulated estate as a [`Source`]: the embedded default of `driftlog serve`.
#[derive(Clone)]
pub struct SimSource {
    estate: Arc<Mutex<Estate>>,
    faults: Arc<Mutex<HashMap<Scope, VecDeque<Fault>>>>,
}

impl SimSource {
    /// A source over a new estate built from `cfg`.
    pub fn new(cfg: SimConfig) -> Self {
        Self::from_estate(Estate::new(cfg))
    }

    /// A source over an existing estate.
    pub fn from_estate(estate: Estate) -> Self {
        Self {
            estate: Arc::new(Mutex::new(estate)),
            faults: Arc::default(),
        }
    }

    /// The estate, to tick it, edit it in tests, or compare with what was recorded.
    pub fn estate(&self) -> MutexGuard<'_, Estate> {
        self.estate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the next poll of `scope` misbehave as `fault` (faults queue up).
    pub fn inject(&self, scope: &Scope, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(scope.clone())
            .or_default()
            .push_back(fault);
    }

    fn next_fault(&self, scope: &Scope) -> Option<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(scope)
            .and_then(VecDeque::pop_front)
    }
}

impl Source for SimSource {
    fn name(&self) -> &str {
        "sim"
    }

    fn scopes(&self) -> Vec<Scope> {
        self.estate().scopes()
    }

    fn poll<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let fault = self.next_fault(scope);
            if fault == Some(Fault::Hang) {
                std::future::pending::<()>().await;
            }
            let resources = self.estate().snapshot(scope);
            match fault {
                Some(Fault::Fail { code, message }) => {
                    PollOutcome::Failed(PollError::Source { code, message })
                }
                Some(Fault::Partial) => {
                    let half = resources.len() / 2;
                    let mut resources = resources;
                    resources.truncate(half);
                    PollOutcome::Partial(
                        PartialSnapshot { resources },
                        PollError::Source {
                            code: "PartialListing".into(),
                            message: format!(
                                "listing of {scope} stopped after {half} resources (injected)"
                            ),
                        },
                    )
                }
                _ => {
                    let (snap, _) = CompleteSnapshot::new(scope.clone(), resources);
                    PollOutcome::Complete(snap)
                }
            }
        })
    }

    fn describe<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<PartialSnapshot, PollError>> {
        Box::pin(async move {
            let estate = self.estate();
            Ok(PartialSnapshot {
                resources: keys.iter().filter_map(|k| estate.describe(k)).collect(),
            })
        })
    }

    /// The estate is in memory: a missing key is gone, never a failed lookup.
    fn describe_exact<'a>(
        &'a self,
        keys: &'a [ResourceKey],
    ) -> BoxFuture<'a, Result<Described, PollError>> {
        Box::pin(async move {
            Ok(Described {
                snapshot: self.describe(keys).await?,
                unsure: Vec::new(),
            })
        })
    }
}
