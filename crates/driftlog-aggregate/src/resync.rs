//! Repairing a gap: the aggregator asks the source recorder for a snapshot of its
//! inventory and applies it (the wire is `driftlog_deliver`'s resync module).
//!
//! From the begin marker on, the source's position is the snapshot's sequence: its stream
//! items up to it are dropped as duplicates (the snapshot holds their resources' states as
//! of then), the ones after it are applied as usual and noted, so that a snapshot item of
//! the same resource, older, never overwrites them. At the end marker the resources of the
//! source's accounts and regions that the snapshot did not hold are recorded as deleted,
//! and the gap is closed — in one batch with the positions, like every other.

use driftlog_model::time::now_ms;
use driftlog_model::{ResourceKey, Seq};
use std::collections::{HashMap, HashSet};

/// How long after asking for a snapshot that did not begin the aggregator asks again (at
/// the soonest: also not before it read what the stream held when it asked), doubled after
/// each snapshot that failed, up to [`ASK_AGAIN_MAX_MS`].
pub(crate) const ASK_AGAIN_MS: i64 = 30_000;

/// The longest wait between two requests.
pub(crate) const ASK_AGAIN_MAX_MS: i64 = 600_000;

/// How long a snapshot may go without a message before it is given up and asked again
/// (its recorder stopped half-way).
pub(crate) const STALLED_MS: i64 = 120_000;

/// The resyncs under way, by recorder: what this session asked and is receiving. Lost
/// with the session (the positions in the log keep the gap, so a new session asks again).
#[derive(Debug, Default)]
pub(crate) struct Resyncs {
    pub(crate) sources: HashMap<String, Resync>,
}

/// One source's resync.
#[derive(Debug, Default)]
pub(crate) struct Resync {
    /// When the last request went out, epoch ms.
    pub(crate) asked_ms: Option<i64>,
    /// Requests sent.
    pub(crate) asks: u64,
    /// The stream's last sequence when the last request went out.
    pub(crate) asked_at_stream: u64,
    /// Snapshots that came incomplete or overtaken by another gap, in a row.
    pub(crate) failures: u32,
    /// The snapshot being received.
    pub(crate) taking: Option<Taking>,
}

/// A snapshot being received.
#[derive(Debug)]
pub(crate) struct Taking {
    /// Its id.
    pub(crate) snapshot: String,
    /// The source's store.
    pub(crate) log: String,
    /// The sequence it is the inventory at.
    pub(crate) seq: Seq,
    /// Resources it held so far.
    pub(crate) seen: HashSet<ResourceKey>,
    /// Resources whose stream item after `seq` was applied while it came.
    pub(crate) newer: HashSet<ResourceKey>,
    /// Another gap opened while it came: it cannot close the source's gap.
    pub(crate) spoiled: bool,
    /// When its last message came, epoch ms.
    pub(crate) last_ms: i64,
}

impl Taking {
    pub(crate) fn new(snapshot: &str, log: &str, seq: Seq) -> Self {
        Self {
            snapshot: snapshot.to_string(),
            log: log.to_string(),
            seq,
            seen: HashSet::new(),
            newer: HashSet::new(),
            spoiled: false,
            last_ms: now_ms(),
        }
    }
}

impl Resyncs {
    /// The snapshot being received from `recorder`, if it is `snapshot` of `log`.
    pub(crate) fn taking(
        &mut self,
        recorder: &str,
        snapshot: &str,
        log: &str,
    ) -> Option<&mut Taking> {
        self.sources
            .get_mut(recorder)?
            .taking
            .as_mut()
            .filter(|t| t.snapshot == snapshot && t.log == log)
    }

    /// Notes a stream item of `recorder` applied: newer than the snapshot being received,
    /// if one is.
    pub(crate) fn applied(&mut self, recorder: &str, key: &ResourceKey, seq: Seq) {
        if let Some(t) = self
            .sources
            .get_mut(recorder)
            .and_then(|r| r.taking.as_mut())
        {
            if seq > t.seq {
                t.newer.insert(key.clone());
            }
        }
    }

    /// Whether to ask `recorder` for a snapshot now: none is coming, the aggregator has read
    /// (`stream_seq`) past what the stream held when it last asked, and that request is old
    /// enough (or none was sent). A snapshot stalled for [`STALLED_MS`] is dropped.
    pub(crate) fn should_ask(&mut self, recorder: &str, now: i64, stream_seq: u64) -> bool {
        let r = self.sources.entry(recorder.to_string()).or_default();
        if let Some(t) = &r.taking {
            if now - t.last_ms < STALLED_MS {
                return false;
            }
            r.taking = None;
        }
        let wait = ASK_AGAIN_MS
            .saturating_mul(1_i64 << r.failures.min(10))
            .min(ASK_AGAIN_MAX_MS);
        r.asked_ms
            .is_none_or(|t| now - t >= wait && stream_seq >= r.asked_at_stream)
    }

    /// A gap opened in `recorder`'s items: a snapshot being received cannot close it.
    pub(crate) fn spoil(&mut self, recorder: &str) {
        if let Some(t) = self
            .sources
            .get_mut(recorder)
            .and_then(|r| r.taking.as_mut())
        {
            t.spoiled = true;
        }
    }

    /// A snapshot of `recorder` failed (incomplete, overtaken): ask again, later each time.
    pub(crate) fn failed(&mut self, recorder: &str) {
        let r = self.sources.entry(recorder.to_string()).or_default();
        r.failures = r.failures.saturating_add(1);
    }

    /// `recorder` was resynced.
    pub(crate) fn succeeded(&mut self, recorder: &str) {
        self.sources.remove(recorder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_once_per_period_and_not_while_receiving() {
        let mut r = Resyncs::default();
        assert!(r.should_ask("a", 1_000, 0));
        let e = r.sources.get_mut("a").unwrap();
        e.asked_ms = Some(1_000);
        e.asked_at_stream = 500;
        assert!(!r.should_ask("a", 1_000 + ASK_AGAIN_MS - 1, 600));
        // Not before the stream was read past where it stood when asked.
        assert!(!r.should_ask("a", 1_000 + ASK_AGAIN_MS, 499));
        assert!(r.should_ask("a", 1_000 + ASK_AGAIN_MS, 500));
        // After a failed snapshot, twice as long.
        r.failed("a");
        assert!(!r.should_ask("a", 1_000 + ASK_AGAIN_MS, 500));
        assert!(r.should_ask("a", 1_000 + 2 * ASK_AGAIN_MS, 500));
        let mut t = Taking::new("s", "L", 10);
        t.last_ms = 50_000;
        r.sources.get_mut("a").unwrap().taking = Some(t);
        assert!(!r.should_ask("a", 60_000, 1_000));
        let k = ResourceKey::new("1", "r", "T", "x");
        r.applied("a", &k, 10);
        r.applied("a", &ResourceKey::new("1", "r", "T", "y"), 11);
        let t = r.taking("a", "s", "L").unwrap();
        assert!(!t.newer.contains(&k) && t.newer.len() == 1);
        assert!(r.taking("a", "other", "L").is_none());
        r.spoil("a");
        assert!(r.taking("a", "s", "L").unwrap().spoiled);
        // Stalled: dropped, and asked again.
        assert!(r.should_ask("a", 50_000 + STALLED_MS, 1_000));
        assert!(r.sources["a"].taking.is_none());
        r.succeeded("a");
        assert!(!r.sources.contains_key("a"));
    }
}
