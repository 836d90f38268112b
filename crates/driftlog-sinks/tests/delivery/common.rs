//! Shared by the sink tests: the real recorder over the simulated estate, and the checks
//! of an at-least-once delivery.

#![allow(dead_code, reason = "each test binary uses a different part")]

use driftlog_log::{Log, LogOptions};
use driftlog_model::{ConfigurationItem, Filter};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct World {
    pub _dir: tempfile::TempDir,
    pub sim: SimSource,
    pub log: Arc<Log>,
    pub rec: Arc<Recorder>,
}

pub fn world(resources: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources,
        churn: 0.05,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
    World {
        _dir: dir,
        sim,
        log,
        rec,
    }
}

impl World {
    /// `n` ticks of the estate, each followed by a poll of every scope.
    pub async fn churn(&self, n: usize) {
        for _ in 0..n {
            self.sim.estate().tick();
            self.rec.poll_all_once().await.unwrap();
        }
    }

    pub fn items(&self, filter: &Filter) -> Vec<ConfigurationItem> {
        self.log.read_range(0, usize::MAX, filter).unwrap().0
    }
}

/// What identifies one CI in AWS Config's notification form.
pub fn ci_id(v: &Value) -> String {
    format!(
        "{}/{}/{}/{}@{}",
        v["awsAccountId"].as_str().unwrap(),
        v["awsRegion"].as_str().unwrap(),
        v["resourceType"].as_str().unwrap(),
        v["resourceId"].as_str().unwrap(),
        v["configurationStateId"]
    )
}

pub fn log_ids(items: &[ConfigurationItem]) -> Vec<String> {
    items
        .iter()
        .map(|c| ci_id(&c.to_notification_json().unwrap()))
        .collect()
}

/// Drops repeats of an at-least-once delivery: the sequence numbers kept, in arrival order.
pub fn dedup(seqs: &[u64]) -> Vec<u64> {
    let mut last = 0;
    let mut out = Vec::new();
    for &s in seqs {
        if s > last {
            out.push(s);
            last = s;
        }
    }
    out
}

pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
