//! What the aggregator knows of itself and of each source, for `driftlog status`,
//! `/metrics` and AWS Config's aggregator API.

use crate::position::Positions;
use driftlog_deliver::Heartbeat;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The aggregator's counters and its sources, shared by the ingest task and the readers.
#[derive(Debug, Default)]
pub struct AggregatorStatus {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    connected: bool,
    stream: String,
    consumer: String,
    last_error: Option<String>,
    received: u64,
    applied: u64,
    duplicates: u64,
    recorded: u64,
    refused: BTreeMap<String, u64>,
    last_refused: Option<String>,
    gaps: u64,
    resyncs: u64,
    sources: BTreeMap<String, SourceStatus>,
}

/// One source recorder as the aggregator sees it.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The recorder's id.
    pub recorder: String,
    /// Its store's id.
    pub log: String,
    /// The last of its sequences applied.
    pub applied_seq: u64,
    /// When its last item was applied, epoch ms.
    pub last_item_ms: Option<i64>,
    /// Its last heartbeat, if one came.
    pub heartbeat: Option<Heartbeat>,
    /// A hole in its sequences not yet repaired, in words.
    pub gap: Option<String>,
    /// Where the repair of that hole stands, in words (asked, receiving a snapshot).
    pub resync: Option<String>,
    /// Resyncs completed since the aggregator started.
    pub resyncs: u64,
    /// The last completed resync, in words (when, what it applied).
    pub last_resync: Option<String>,
}

impl AggregatorStatus {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub(crate) fn set_connection(
        &self,
        stream: &str,
        consumer: &str,
        connected: bool,
        error: Option<String>,
    ) {
        self.with(|s| {
            stream.clone_into(&mut s.stream);
            consumer.clone_into(&mut s.consumer);
            s.connected = connected;
            if error.is_some() || connected {
                s.last_error = error;
            }
        });
    }

    pub(crate) fn count(&self, received: u64, applied: u64, duplicates: u64, recorded: u64) {
        self.with(|s| {
            s.received += received;
            s.applied += applied;
            s.duplicates += duplicates;
            s.recorded += recorded;
        });
    }

    pub(crate) fn refused(&self, reason: &str, detail: &str) {
        self.with(|s| {
            *s.refused.entry(reason.to_string()).or_default() += 1;
            s.last_refused = Some(detail.to_string());
        });
    }

    pub(crate) fn gap(&self) {
        self.with(|s| s.gaps += 1);
    }

    /// Where `recorder`'s resync stands (`None` once none is under way).
    pub(crate) fn resync_state(&self, recorder: &str, state: Option<String>) {
        self.with(|s| {
            let st = s.sources.entry(recorder.to_string()).or_default();
            recorder.clone_into(&mut st.recorder);
            st.resync = state;
        });
    }

    /// `recorder` was resynced.
    pub(crate) fn resynced(&self, recorder: &str, what: String) {
        self.with(|s| {
            s.resyncs += 1;
            let st = s.sources.entry(recorder.to_string()).or_default();
            st.resync = None;
            st.resyncs += 1;
            st.last_resync = Some(what);
        });
    }

    /// Takes the sources' positions (after a batch was recorded).
    pub(crate) fn positions(&self, p: &Positions, now_ms: i64, touched: &[String]) {
        self.with(|s| {
            for (id, pos) in &p.sources {
                let st = s.sources.entry(id.clone()).or_default();
                id.clone_into(&mut st.recorder);
                pos.log.clone_into(&mut st.log);
                st.applied_seq = pos.seq;
                st.gap = pos.gap.as_ref().map(|g| {
                    format!(
                        "expected seq {}, got {}{}: items between were never received; the source needs a resync",
                        g.expected,
                        g.got,
                        if g.new_log { " of a new store" } else { "" }
                    )
                });
                if touched.contains(id) {
                    st.last_item_ms = Some(now_ms);
                }
            }
        });
    }

    pub(crate) fn heartbeat(&self, h: Heartbeat) {
        self.with(|s| {
            let st = s.sources.entry(h.recorder.clone()).or_default();
            h.recorder.clone_into(&mut st.recorder);
            st.heartbeat = Some(h);
        });
    }

    /// Every source, by recorder id.
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.with(|s| s.sources.values().cloned().collect())
    }

    /// Messages received, items applied, duplicates dropped, items recorded, gaps found,
    /// resyncs completed.
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        self.with(|s| {
            [
                ("received", s.received),
                ("applied", s.applied),
                ("duplicate", s.duplicates),
                ("recorded", s.recorded),
                ("gap", s.gaps),
                ("resynced", s.resyncs),
            ]
        })
    }

    /// Messages refused, by reason.
    pub fn refused_counts(&self) -> BTreeMap<String, u64> {
        self.with(|s| s.refused.clone())
    }

    /// Everything, as `driftlog status` shows it (`sources` a list, by recorder id).
    pub fn to_json(&self) -> serde_json::Value {
        self.with(|s| {
            let mut v = serde_json::to_value(&*s).unwrap_or_default();
            v["sources"] =
                serde_json::to_value(s.sources.values().collect::<Vec<_>>()).unwrap_or_default();
            v
        })
    }
}
