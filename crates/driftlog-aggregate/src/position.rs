//! How far each source recorder has been applied, and what a new message from it means.

use driftlog_model::Seq;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every source's position: serialized (JSON) as the tag of each batch the aggregator
/// appends, and read back from the log at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    /// By recorder id.
    pub sources: BTreeMap<String, SourcePosition>,
    /// The stream sequence of the last message applied: the stream is read in order, so
    /// everything up to it is handled; a new session reads on from the next one.
    #[serde(default)]
    pub stream_seq: u64,
}

/// One source's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcePosition {
    /// The store its sequences belong to.
    pub log: String,
    /// The last sequence applied.
    pub seq: Seq,
    /// A hole found in its sequences and not yet repaired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
}

/// A hole in a source's sequences: what was expected and what came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// The sequence that should have come next.
    pub expected: Seq,
    /// The sequence that came.
    pub got: Seq,
    /// Whether it came from another store of the recorder (reset or replaced).
    pub new_log: bool,
    /// When it was found, epoch ms.
    pub found_ms: i64,
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The next item of its source.
    Apply,
    /// Already applied (a redelivery, or a duplicate publish).
    Duplicate,
    /// After a hole: items between the last applied and this one never came.
    Gap {
        /// The sequence that should have come.
        expected: Seq,
        /// Whether the source's store changed.
        new_log: bool,
    },
}

impl Positions {
    /// Reads a stored tag; a tag that is not positions (a store that was not an
    /// aggregator's) reads as none.
    pub fn from_tag(tag: &[u8]) -> Option<Self> {
        serde_json::from_slice(tag).ok()
    }

    /// The tag to store.
    pub fn to_tag(&self) -> Vec<u8> {
        // Strings and numbers only: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// What the message `seq` of store `log` of `recorder` is. A source's first message
    /// must be its store's first sequence (1): anything later means the stream no longer
    /// holds its beginning.
    pub fn judge(&self, recorder: &str, log: &str, seq: Seq) -> Verdict {
        match self.sources.get(recorder) {
            None if seq == 1 => Verdict::Apply,
            None => Verdict::Gap {
                expected: 1,
                new_log: false,
            },
            Some(p) if p.log != log => Verdict::Gap {
                expected: 1,
                new_log: true,
            },
            Some(p) if seq <= p.seq => Verdict::Duplicate,
            Some(p) if seq == p.seq + 1 => Verdict::Apply,
            Some(p) => Verdict::Gap {
                expected: p.seq + 1,
                new_log: false,
            },
        }
    }

    /// Moves `recorder` to `seq` of `log`, noting the gap the move crossed, if any (a gap
    /// stays noted until [`Positions::repaired`]).
    pub fn advance(&mut self, recorder: &str, log: &str, seq: Seq, gap: Option<Gap>) {
        // Called for every item: the recorder's id is copied only the first time.
        if !self.sources.contains_key(recorder) {
            self.sources
                .insert(recorder.to_string(), SourcePosition::default());
        }
        let Some(p) = self.sources.get_mut(recorder) else {
            return;
        };
        if p.log != log {
            log.clone_into(&mut p.log);
        }
        p.seq = seq;
        if gap.is_some() {
            p.gap = gap;
        }
    }

    /// Clears `recorder`'s gap (after a resync).
    pub fn repaired(&mut self, recorder: &str) {
        if let Some(p) = self.sources.get_mut(recorder) {
            p.gap = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_duplicates_gaps_and_resets() {
        let mut p = Positions::default();
        assert_eq!(p.judge("a", "L", 1), Verdict::Apply);
        assert_eq!(
            p.judge("a", "L", 5),
            Verdict::Gap {
                expected: 1,
                new_log: false
            }
        );
        p.advance("a", "L", 1, None);
        assert_eq!(p.judge("a", "L", 1), Verdict::Duplicate);
        assert_eq!(p.judge("a", "L", 2), Verdict::Apply);
        assert_eq!(
            p.judge("a", "L", 4),
            Verdict::Gap {
                expected: 2,
                new_log: false
            }
        );
        assert_eq!(
            p.judge("a", "M", 1),
            Verdict::Gap {
                expected: 1,
                new_log: true
            }
        );
        let gap = Gap {
            expected: 2,
            got: 4,
            new_log: false,
            found_ms: 9,
        };
        p.advance("a", "L", 4, Some(gap.clone()));
        assert_eq!(p.sources["a"].gap, Some(gap));
        assert_eq!(Positions::from_tag(&p.to_tag()), Some(p.clone()));
        p.repaired("a");
        assert_eq!(p.sources["a"].gap, None);
        assert_eq!(Positions::from_tag(b"not json"), None);
    }
}
